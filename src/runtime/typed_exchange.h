// The typed factories behind JobGraph's erased ones, instantiated by the API for a record type T.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "base/check.h"
#include "runtime/job_graph.h"

namespace weir::runtime {

// Records to every output; events (watermarks, status, end of input) to every output and to every
// follower -- the side outputs of the same operator, which receive only the records the operator
// emits into them but must see its watermarks and its end of input.
template <typename T>
class FanOutOutput final : public operators::Output<T> {
 public:
  FanOutOutput(std::vector<operators::Output<T>*> outputs,
               std::vector<operators::OutputBase*> followers)
      : outputs_(std::move(outputs)), followers_(std::move(followers)) {}
  void Collect(const T& value, Timestamp timestamp) override {
    for (operators::Output<T>* output : outputs_) output->Collect(value, timestamp);
  }
  void EmitWatermark(Timestamp watermark) override {
    for (operators::Output<T>* output : outputs_) output->EmitWatermark(watermark);
    for (operators::OutputBase* follower : followers_) follower->EmitWatermark(watermark);
  }
  void EmitWatermarkStatus(bool idle) override {
    for (operators::Output<T>* output : outputs_) output->EmitWatermarkStatus(idle);
    for (operators::OutputBase* follower : followers_) follower->EmitWatermarkStatus(idle);
  }
  void EndInput() override {
    for (operators::Output<T>* output : outputs_) output->EndInput();
    for (operators::OutputBase* follower : followers_) follower->EndInput();
  }

 private:
  std::vector<operators::Output<T>*> outputs_;
  std::vector<operators::OutputBase*> followers_;
};

template <typename T>
class TypedFanOutFactory final : public FanOutFactory {
 public:
  std::unique_ptr<operators::OutputBase> Create(
      std::vector<operators::OutputBase*> outputs,
      std::vector<operators::OutputBase*> followers) const override {
    std::vector<operators::Output<T>*> typed;
    for (operators::OutputBase* output : outputs) {
      auto* cast = dynamic_cast<operators::Output<T>*>(output);
      WEIR_CHECK_MSG(cast != nullptr, "fan-out type mismatch");
      typed.push_back(cast);
    }
    return std::make_unique<FanOutOutput<T>>(std::move(typed), std::move(followers));
  }
};

// Exchange of T records with the given partitioning; `KeySelector` is used for kKeyGroups.
template <typename T, typename KeySelector = std::nullptr_t>
class TypedExchangeFactory final : public ExchangeFactory {
 public:
  explicit TypedExchangeFactory(Partitioning partitioning, KeySelector key_selector = {})
      : partitioning_(partitioning), key_selector_(std::move(key_selector)) {}

  std::unique_ptr<ChannelWriter> CreateWriter(int producer_subtask,
                                              std::vector<StreamChannel*> channels,
                                              const ChannelWriter::Options& options,
                                              int max_parallelism) const override {
    const int count = static_cast<int>(channels.size());
    switch (partitioning_) {
      case Partitioning::kForward:
      case Partitioning::kGlobal:
        return std::make_unique<RecordWriter<T, ForwardPartitioner>>(std::move(channels), options,
                                                                     ForwardPartitioner());
      case Partitioning::kRebalance:
        return std::make_unique<RecordWriter<T, RebalancePartitioner>>(
            std::move(channels), options, RebalancePartitioner(count, producer_subtask));
      case Partitioning::kBroadcast:
        return std::make_unique<BroadcastRecordWriter<T>>(std::move(channels), options);
      case Partitioning::kKeyGroups:
        if constexpr (!std::is_same_v<KeySelector, std::nullptr_t>) {
          return std::make_unique<RecordWriter<T, KeyGroupPartitioner<KeySelector>>>(
              std::move(channels), options,
              KeyGroupPartitioner<KeySelector>(key_selector_, count, max_parallelism));
        }
        break;
    }
    WEIR_CHECK_MSG(false, "exchange {} has no key selector", PartitioningName(partitioning_));
    return nullptr;
  }

  std::unique_ptr<BatchDecoder> CreateDecoder(operators::OutputBase* head) const override {
    auto* typed = dynamic_cast<operators::Output<T>*>(head);
    WEIR_CHECK_MSG(typed != nullptr, "exchange decoder type mismatch");
    return std::make_unique<TypedBatchDecoder<T>>(typed);
  }

 private:
  Partitioning partitioning_;
  KeySelector key_selector_;
};

}  // namespace weir::runtime
