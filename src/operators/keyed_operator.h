// KeyedOneInputOperator: the base of operators on a keyed stream that keep keyed state and timers
// (windows, KeyedProcessFunction, interval joins) -- what Flink's AbstractStreamOperator gives
// such operators: a keyed state backend, an internal timer service, the current key, side outputs.
//
// A subclass implements
//   void Collect(const In& value, Timestamp timestamp)   (calls SetCurrentKeyOf(value) first),
//   void OnEventTime(const state::FiredTimer& timer)      (the key is already set), and
//   void OnProcessingTimer(const state::FiredTimer& timer) when it uses processing time.
// The base turns watermarks into event-time timer firings and then forwards the watermark (Flink:
// timers fire before the watermark is passed on, so downstream sees results first), turns the
// task's processing-time callbacks into processing-time timer firings, and reports state and
// timer failures (an exhausted memory budget) to the task after every record and timer.
//
// Keys: the key selector's result is encoded by a KeyEncoder (string keys are their own bytes),
// hashed with xxh3 and assigned a key group exactly as the keyed exchange did, so the state of a
// key lives in the subtask that receives its records. DecodeKey<K> turns stored key bytes back
// into the key (for ctx.getCurrentKey() in timers).
//
// End of input: the task sends the maximum watermark first, which fires every event-time timer;
// pending processing-time timers do not fire (Flink quiesces the processing-time service when an
// input ends).
//
// Checkpoints: the base snapshots every table of the keyed state backend as "keyed/<state name>"
// and the timers as "timers/event" and "timers/processing" (pinned, not copied); a subclass with
// state of its own overrides SnapshotState/RestoreState and calls the base's first. The watermark
// is not restored (Flink's is not): timers at or before the first watermark after a restore fire
// then. RestoreCounter/SnapshotCounter keep a subtask's late-data counters (operator state) so
// that their sum over the subtasks survives a restore at any parallelism.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "operators/key_encoder.h"
#include "operators/stream_operator.h"
#include "serde/codec.h"
#include "state/keyed_state.h"
#include "state/timer_service.h"

namespace weir::operators {

// The key whose encoding is `bytes` (see KeyEncoder).
template <typename K>
K DecodeKey(std::string_view bytes) {
  if constexpr (std::is_constructible_v<K, std::string_view> &&
                std::is_convertible_v<const K&, std::string_view>) {
    return K(bytes);  // string keys are their own bytes (std::string_view, std::string)
  } else {
    return serde::Codec<K>::Read(reinterpret_cast<const std::byte*>(bytes.data()));
  }
}

template <typename In, typename Out, typename KeySelector>
class KeyedOneInputOperator : public OneInputOperator<In, Out> {
 public:
  using Key = std::decay_t<std::invoke_result_t<const KeySelector&, const In&>>;

  explicit KeyedOneInputOperator(KeySelector key_selector)
      : key_selector_(std::move(key_selector)) {}

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(OneInputOperator<In, Out>::Open(context));
    if (context->state_pool == nullptr || context->managed_memory == nullptr) {
      return FailedPrecondition("{} needs managed memory for keyed state", context->task_name);
    }
    backend_ = std::make_unique<state::KeyedStateBackend>(
        context->state_pool, context->managed_memory, context->task_name, context->max_parallelism);
    timers_ = std::make_unique<state::TimerService>(context->state_pool, context->managed_memory,
                                                    context->task_name);
    return Status::Ok();
  }
  void Close() override {
    timers_.reset();
    backend_.reset();
  }

  void SetSideOutput(const std::string& tag, OutputBase* output) override {
    side_outputs_.Set(tag, output);
  }

  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(backend_->SnapshotTables(writer, "keyed/"));
    return timers_->SnapshotTables(writer, "timers/");
  }
  Status RestoreState(state::RestoreReader& reader) override {
    RETURN_IF_ERROR(backend_->RestoreTables(reader, "keyed/"));
    return timers_->RestoreTables(reader, "timers/");
  }

  void EmitWatermark(Timestamp watermark) override {
    timers_->AdvanceWatermark(watermark, [this](const state::FiredTimer& timer) {
      backend_->SetCurrentKey(timer.key);
      OnEventTime(timer);
    });
    CheckState();
    this->output()->EmitWatermark(watermark);
  }

  Timestamp NextProcessingTime() const override {
    return timers_ ? timers_->next_processing_time() : kMaxTimestamp;
  }
  void OnProcessingTime(Timestamp now) override {
    timers_->AdvanceProcessingTime(now, [this](const state::FiredTimer& timer) {
      backend_->SetCurrentKey(timer.key);
      OnProcessingTimer(timer);
    });
    CheckState();
  }

 protected:
  virtual void OnEventTime(const state::FiredTimer& timer) = 0;
  virtual void OnProcessingTimer(const state::FiredTimer& timer) {}

  // Makes `value`'s key the current key of the state backend; returns it.
  const state::CurrentKey& SetCurrentKeyOf(const In& value) {
    const EncodedKey key = key_encoder_.Encode(key_selector_(value));
    backend_->SetCurrentKey(key.bytes, key.hash);
    return backend_->current_key();
  }
  // The current key, decoded.
  Key GetCurrentKey() const { return DecodeKey<Key>(backend_->current_key().bytes); }

  // Fails the task with the first state or timer failure; call after each record.
  void CheckState() {
    if (!backend_->ok()) [[unlikely]] this->context()->Fail(backend_->status());
    if (!timers_->status().ok()) [[unlikely]] this->context()->Fail(timers_->status());
  }

  // A subtask's counter (operator state) as the blob `name`: 8 bytes, native endian.
  static void SnapshotCounter(state::SnapshotWriter& writer, std::string_view name, int64_t value) {
    std::string bytes(sizeof(value), '\0');
    std::memcpy(bytes.data(), &value, sizeof(value));
    writer.AddBlob(name, std::move(bytes));
  }
  // The restored value of a counter written by SnapshotCounter. At the same parallelism a subtask
  // gets its own count; at another one every subtask receives every old subtask's blob, and old
  // subtask j's count goes to new subtask j % parallelism, so the sum over the subtasks is kept.
  Result<int64_t> RestoreCounter(state::RestoreReader& reader, std::string_view name) const {
    const std::vector<std::string> blobs = reader.Blobs(name);
    const bool rescaled = reader.old_parallelism() != this->context()->parallelism;
    int64_t sum = 0;
    for (size_t old = 0; old < blobs.size(); ++old) {
      if (rescaled && static_cast<int>(old) % this->context()->parallelism !=
                          this->context()->subtask_index) {
        continue;
      }
      int64_t value;
      if (blobs[old].size() != sizeof(value)) {
        return DataLoss("counter '{}' of {} restored from {} bytes (8 expected)", name,
                        this->context()->task_name, blobs[old].size());
      }
      std::memcpy(&value, blobs[old].data(), sizeof(value));
      sum += value;
    }
    return sum;
  }

  state::KeyedStateBackend& backend() { return *backend_; }
  state::TimerService& timers() { return *timers_; }
  const SideOutputs& side_outputs() const { return side_outputs_; }
  const KeySelector& key_selector() const { return key_selector_; }

 private:
  KeySelector key_selector_;
  KeyEncoder key_encoder_;
  std::unique_ptr<state::KeyedStateBackend> backend_;
  std::unique_ptr<state::TimerService> timers_;
  SideOutputs side_outputs_;
};

}  // namespace weir::operators
