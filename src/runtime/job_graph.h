// JobGraph: the logical job the API builds -- operators (vertices) with their parallelism, and
// the edges between them with how records are partitioned. The runtime turns it into tasks:
// forward edges between vertices of equal parallelism are chained (direct calls in one task),
// every other edge becomes an exchange (channels between tasks).
//
// Types are erased here and restored by the factories the API created where the types were
// known: an ExchangeFactory makes the record writer and decoder of its edge's record type, a
// vertex's FanOutFactory makes the Output<T> that feeds several consumers.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "operators/record_group.h"
#include "operators/stream_operator.h"
#include "runtime/channel_writer.h"

namespace weir::runtime {

enum class Partitioning { kForward, kRebalance, kBroadcast, kKeyGroups, kGlobal };

std::string_view PartitioningName(Partitioning partitioning);

// Receives the in-band events of a batch (watermarks, watermark status) at their place among the
// records: the task applies them to the input gate the batch came from.
class BatchEventHandler {
 public:
  virtual ~BatchEventHandler() = default;
  virtual void OnEvent(serde::BatchEvent event, int64_t value) = 0;
};

// Decodes the records of a batch and pushes them into the head of a chain.
class BatchDecoder {
 public:
  virtual ~BatchDecoder() = default;
  virtual void Decode(const serde::RecordBatch& batch, BatchEventHandler& events) = 0;
};

// Records of a plain type (operators::kGroupable) reach the head in CollectBatch calls of up to
// 64 (a RecordGroup, copied out of the batch, which also aligns them); an event first hands over
// the records before it, so the head sees records and events in batch order. Other types go one
// Collect per record, read in place.
template <typename T>
class TypedBatchDecoder final : public BatchDecoder {
 public:
  explicit TypedBatchDecoder(operators::Output<T>* head) : head_(head) {}
  void Decode(const serde::RecordBatch& batch, BatchEventHandler& events) override {
    size_t grouped = 0;  // records set in group_, not yet handed over
    batch.ForEach([&](const serde::RecordEnvelope& envelope, const std::byte* payload) {
      if (envelope.flags & serde::kEventFlag) [[unlikely]] {
        if constexpr (kGrouped) {
          group_.FlushTo(*head_, grouped);
          grouped = 0;
        }
        events.OnEvent(static_cast<serde::BatchEvent>(envelope.row_kind), envelope.timestamp);
        return;
      }
      if constexpr (kGrouped) {
        group_.Set(grouped, serde::Codec<T>::Read(payload), envelope.timestamp);
        if (++grouped == operators::RecordGroup<T>::kCapacity) {
          group_.FlushTo(*head_, grouped);
          grouped = 0;
        }
      } else {
        head_->Collect(serde::Codec<T>::Read(payload), envelope.timestamp);
      }
    });
    if constexpr (kGrouped) group_.FlushTo(*head_, grouped);
  }

 private:
  // Plain records the codec reads in place (its bytes are the value's).
  static constexpr bool kGrouped =
      operators::kGroupable<T> && std::is_same_v<decltype(serde::Codec<T>::Read(nullptr)), const T&>;

  operators::Output<T>* head_;
  [[no_unique_address]] std::conditional_t<kGrouped, operators::RecordGroup<T>,
                                           operators::NoRecordGroup> group_;
};

class ExchangeFactory {
 public:
  virtual ~ExchangeFactory() = default;
  // The writer of one producer subtask into `channels` (one per consumer subtask it reaches).
  virtual std::unique_ptr<ChannelWriter> CreateWriter(int producer_subtask,
                                                      std::vector<StreamChannel*> channels,
                                                      const ChannelWriter::Options& options,
                                                      int max_parallelism) const = 0;
  // A decoder feeding `head`, an Output<T> of the consumer's head operator.
  virtual std::unique_ptr<BatchDecoder> CreateDecoder(operators::OutputBase* head) const = 0;
};

// Output<T> that passes everything to several outputs (a vertex with several consumers), and its
// events (not its records) to `followers`: the outputs of the same operator's side outputs.
class FanOutFactory {
 public:
  virtual ~FanOutFactory() = default;
  virtual std::unique_ptr<operators::OutputBase> Create(
      std::vector<operators::OutputBase*> outputs,
      std::vector<operators::OutputBase*> followers = {}) const = 0;
};

struct JobVertex {
  int id = 0;
  std::string name;
  int parallelism = 1;
  std::string slot_sharing_group = "default";
  std::shared_ptr<const operators::OperatorFactory> factory;
  std::shared_ptr<const FanOutFactory> fan_out;  // null for sinks
  // Side outputs consumed by some edge: tag id -> the fan-out of the tag's record type.
  std::map<std::string, std::shared_ptr<const FanOutFactory>> side_fan_outs;
  bool is_source = false;
};

struct JobEdge {
  int source = 0;
  int target = 0;
  Partitioning partitioning = Partitioning::kForward;
  std::shared_ptr<const ExchangeFactory> exchange;
  // Empty: the source's main output. Otherwise the id of the source's side output (OutputTag)
  // this edge carries.
  std::string side_output;
};

struct JobGraph {
  std::string name = "weir job";
  int max_parallelism = 128;
  std::vector<JobVertex> vertices;  // vertices[i].id == i
  std::vector<JobEdge> edges;

  // Checks ids, edge ends, parallelism bounds, and that forward edges connect equal parallelism.
  Status Validate() const;
};

}  // namespace weir::runtime
