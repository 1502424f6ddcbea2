// IntervalJoinOperator: Flink's interval join (KeyedStream.intervalJoin(other).between(lower,
// upper).process(f)) -- for two keyed streams, every pair (left, right) of the same key with
//     left.timestamp + lower <= right.timestamp <= left.timestamp + upper
// is passed to the join function once, with the result timestamp max(left, right).
//
// It runs on the union of both streams (TaggedUnion, see tagged_union.h) as Flink's
// IntervalJoinOperator runs on two inputs: each element is buffered in its side's keyed list
// state (timestamp, value) and joined with the buffered elements of the other side whose
// timestamps fall in its relative interval (for a right element: [ts - upper, ts - lower]); a
// cleanup timer at ts + upper (left; ts when upper <= 0) or ts - lower (right; ts when lower >= 0)
// removes it once no future element can join it. An element behind the watermark (ts < watermark)
// is late: it goes to the side's late output tag when one is set, else it is counted as dropped,
// exactly when Flink drops it. Exclusive bounds are turned into inclusive ones (lower + 1,
// upper - 1) as Flink's IntervalJoined does.
//
// Elements without a timestamp (kMinTimestamp) cannot be placed in time: the task fails with a
// message saying to assign timestamps, as Flink throws.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operators/keyed_operator.h"
#include "operators/tagged_union.h"

namespace weir::operators {

// What the join function sees besides the pair (Flink's ProcessJoinFunction.Context).
class ProcessJoinContext {
 public:
  Timestamp LeftTimestamp() const { return left_timestamp_; }
  Timestamp RightTimestamp() const { return right_timestamp_; }
  // The result's timestamp: max(left, right).
  Timestamp timestamp() const { return std::max(left_timestamp_, right_timestamp_); }
  template <typename U>
  void Output(const OutputTag<U>& tag, const U& value) {
    side_outputs_->Emit(tag, value, timestamp());
  }

 private:
  template <typename, typename, typename, typename, typename>
  friend class IntervalJoinOperator;
  Timestamp left_timestamp_ = kMinTimestamp;
  Timestamp right_timestamp_ = kMinTimestamp;
  const SideOutputs* side_outputs_ = nullptr;
};

struct IntervalJoinOptions {
  Timestamp lower = 0;  // inclusive
  Timestamp upper = 0;  // inclusive
  std::optional<std::string> left_late_tag;
  std::optional<std::string> right_late_tag;
};

// `Function`: void(const L&, const R&, ProcessJoinContext&, Collector<Out>&).
template <typename L, typename R, typename Out, typename KeySelector, typename Function>
class IntervalJoinOperator final
    : public KeyedOneInputOperator<TaggedUnion<L, R>, Out, KeySelector> {
  using Base = KeyedOneInputOperator<TaggedUnion<L, R>, Out, KeySelector>;

 public:
  IntervalJoinOperator(KeySelector key_selector, Function function, IntervalJoinOptions options)
      : Base(std::move(key_selector)), function_(std::move(function)), options_(std::move(options)) {
    join_context_.side_outputs_ = &this->side_outputs();
  }

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(Base::Open(context));
    left_buffer_ = this->backend().template GetListState<std::pair<Timestamp, L>>("left-buffer");
    right_buffer_ = this->backend().template GetListState<std::pair<Timestamp, R>>("right-buffer");
    return Status::Ok();
  }
  void SetOutput(OutputBase* output) override {
    Base::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }

  void Collect(const TaggedUnion<L, R>& value, Timestamp timestamp) override {
    if (timestamp == kMinTimestamp) [[unlikely]] {
      this->context()->Fail(InvalidArgument(
          "an interval join needs event timestamps on both inputs; assign them with "
          "AssignTimestampsAndWatermarks or a source watermark strategy"));
      return;
    }
    const state::CurrentKey& key = this->SetCurrentKeyOf(value);
    const Timestamp watermark = this->timers().current_watermark();
    if (watermark != kMinTimestamp && timestamp < watermark) {
      EmitLate(value, timestamp);
      return;
    }
    if (value.is_left) {
      right_buffer_->ForEach([&](const std::pair<Timestamp, R>& other) {
        if (other.first < timestamp + options_.lower || other.first > timestamp + options_.upper) return;
        Join(value.left, timestamp, other.second, other.first);
      });
      left_buffer_->Add({timestamp, value.left});
      const Timestamp cleanup = options_.upper > 0 ? timestamp + options_.upper : timestamp;
      this->timers().RegisterEventTimeTimer(key, kLeftNamespace, cleanup);
    } else {
      // The right element's interval relative to itself is [-upper, -lower].
      left_buffer_->ForEach([&](const std::pair<Timestamp, L>& other) {
        if (other.first < timestamp - options_.upper || other.first > timestamp - options_.lower) return;
        Join(other.second, other.first, value.right, timestamp);
      });
      right_buffer_->Add({timestamp, value.right});
      const Timestamp cleanup = -options_.lower > 0 ? timestamp - options_.lower : timestamp;
      this->timers().RegisterEventTimeTimer(key, kRightNamespace, cleanup);
    }
    this->CheckState();
  }

  // Checkpoints: the buffers (keyed list state) and cleanup timers are pinned by the base; the
  // late-data counters are operator state.
  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(Base::SnapshotState(writer));
    this->SnapshotCounter(writer, "left-late-dropped", left_late_dropped_);
    this->SnapshotCounter(writer, "right-late-dropped", right_late_dropped_);
    return Status::Ok();
  }
  Status RestoreState(state::RestoreReader& reader) override {
    RETURN_IF_ERROR(Base::RestoreState(reader));
    ASSIGN_OR_RETURN(left_late_dropped_, this->RestoreCounter(reader, "left-late-dropped"));
    ASSIGN_OR_RETURN(right_late_dropped_, this->RestoreCounter(reader, "right-late-dropped"));
    return Status::Ok();
  }

  // Late elements dropped because no late output tag was set, per side.
  int64_t left_late_dropped() const { return left_late_dropped_; }
  int64_t right_late_dropped() const { return right_late_dropped_; }

 protected:
  void OnEventTime(const state::FiredTimer& timer) override {
    if (timer.ns == kLeftNamespace) {
      const Timestamp expired = options_.upper <= 0 ? timer.timestamp : timer.timestamp - options_.upper;
      Prune(left_buffer_, left_kept_, expired);
    } else {
      const Timestamp expired = options_.lower <= 0 ? timer.timestamp + options_.lower : timer.timestamp;
      Prune(right_buffer_, right_kept_, expired);
    }
  }

 private:
  static constexpr std::string_view kLeftNamespace = "L";
  static constexpr std::string_view kRightNamespace = "R";

  void Join(const L& left, Timestamp left_timestamp, const R& right, Timestamp right_timestamp) {
    join_context_.left_timestamp_ = left_timestamp;
    join_context_.right_timestamp_ = right_timestamp;
    collector_.set_timestamp(join_context_.timestamp());
    function_(left, right, join_context_, collector_);
  }

  void EmitLate(const TaggedUnion<L, R>& value, Timestamp timestamp) {
    const std::optional<std::string>& tag = value.is_left ? options_.left_late_tag : options_.right_late_tag;
    bool emitted = false;
    if (tag) {
      if (value.is_left) {
        emitted = this->side_outputs().Emit(OutputTag<L>(*tag), value.left, timestamp);
      } else {
        emitted = this->side_outputs().Emit(OutputTag<R>(*tag), value.right, timestamp);
      }
    }
    if (!emitted) ++(value.is_left ? left_late_dropped_ : right_late_dropped_);
  }

  // Removes the buffered elements with timestamp <= `expired`. Cleanup timers fire in timestamp
  // order and an element's cleanup time grows with its timestamp, so every element at or before
  // `expired` is due (Flink removes exactly the bucket `expired`; the earlier ones are gone).
  template <typename T>
  void Prune(state::ListState<std::pair<Timestamp, T>>* buffer,
             std::vector<std::pair<Timestamp, T>>& kept, Timestamp expired) {
    kept.clear();
    size_t total = 0;
    buffer->ForEach([&](const std::pair<Timestamp, T>& entry) {
      ++total;
      if (entry.first > expired) kept.push_back(entry);
    });
    if (kept.size() == total) return;
    if (kept.empty()) {
      buffer->Clear();
    } else {
      // The views inside `kept` may point into the buffer: Update encodes them before it writes.
      buffer->Update(std::span<const std::pair<Timestamp, T>>(kept));
    }
  }

  Function function_;
  IntervalJoinOptions options_;
  state::ListState<std::pair<Timestamp, L>>* left_buffer_ = nullptr;
  state::ListState<std::pair<Timestamp, R>>* right_buffer_ = nullptr;
  ProcessJoinContext join_context_;
  Collector<Out> collector_{nullptr};
  std::vector<std::pair<Timestamp, L>> left_kept_;  // scratch of Prune, reused
  std::vector<std::pair<Timestamp, R>> right_kept_;
  int64_t left_late_dropped_ = 0;
  int64_t right_late_dropped_ = 0;
};

}  // namespace weir::operators
