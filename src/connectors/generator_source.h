// GeneratorSource: records made by a function of their index (Flink's DataGeneratorSource and
// fromSequence). `count` records in all, split into contiguous index ranges over the subtasks;
// an optional rate limit (records per second for the whole source, shared evenly) turns it into
// a paced stream for latency measurements: a subtask that is ahead of its schedule returns
// kNothingNow instead of sleeping, so the worker keeps serving other tasks.
//
// Records that are plain values (operators::kGroupable) are passed on 64 at a time with one
// CollectBatch (a RecordGroup), which lets a keyed operator downstream prefetch their state; the
// records, their order and the positions are the same.
//
// Replayable: the position (the next index of this subtask's range) is the checkpoint blob
// "sequence-position"; a restore resumes at that index (a paced source restarts its schedule
// there). Restoring at another parallelism is refused with FailedPrecondition: the ranges are cut
// by the parallelism, so an old subtask's position means nothing to a new one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "base/clock.h"
#include "connectors/checkpoint_blob.h"
#include "operators/record_group.h"
#include "operators/source_operator.h"

namespace weir::connectors {

template <typename T, typename Generator>
class GeneratorSource final : public operators::SourceOperator<T> {
 public:
  // `generator(int64_t index) -> T`; `records_per_second` <= 0 means as fast as possible.
  GeneratorSource(Generator generator, int64_t count, double records_per_second)
      : generator_(std::move(generator)), count_(count), records_per_second_(records_per_second) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(operators::SourceOperator<T>::Open(context));
    const int64_t parallelism = context->parallelism;
    const int64_t subtask = context->subtask_index;
    next_ = RangeStart(subtask, parallelism);
    end_ = RangeStart(subtask + 1, parallelism);
    first_ = next_;
    if (records_per_second_ > 0) nanos_per_record_ = 1e9 * parallelism / records_per_second_;
    return Status::Ok();
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    if (next_ >= end_) return operators::SourceStatus::kEndOfInput;
    next_ready_nanos_ = kMaxTimestamp;  // set again below when nothing is due
    int64_t limit = std::min<int64_t>(end_, next_ + max_records);
    if (nanos_per_record_ > 0) {
      const int64_t now = MonotonicNanos();
      if (start_nanos_ == 0) start_nanos_ = now;
      const int64_t due = first_ + static_cast<int64_t>((now - start_nanos_) / nanos_per_record_) + 1;
      limit = std::min(limit, due);
      if (limit <= next_) {
        next_ready_nanos_ = start_nanos_ + static_cast<int64_t>(static_cast<double>(next_ - first_) * nanos_per_record_);
        return operators::SourceStatus::kNothingNow;
      }
    }
    operators::Output<T>* out = this->output();
    this->records_emitted_ += limit - next_;
    if constexpr (operators::kGroupable<T>) {
      // Handed over a group at a time (see the file comment).
      using Group = operators::RecordGroup<T>;
      while (next_ < limit) {
        const auto n = static_cast<size_t>(std::min<int64_t>(limit - next_, Group::kCapacity));
        const int64_t first = next_;
        for (size_t i = 0; i < n; ++i) {
          group_.Emplace(i, [&] { return generator_(first + static_cast<int64_t>(i)); }, kMinTimestamp);
        }
        next_ += static_cast<int64_t>(n);
        group_.FlushTo(*out, n);
      }
    } else {
      for (; next_ < limit; ++next_) out->Collect(generator_(next_), kMinTimestamp);
    }
    return operators::SourceStatus::kMoreAvailable;
  }

  int64_t NextReadyNanos() const override { return next_ready_nanos_; }

  Status SnapshotState(state::SnapshotWriter& writer) override {
    BlobWriter blob(kTag);
    blob.PutInt64(count_);
    blob.PutInt64(next_);
    blob.PutInt64(end_);
    writer.AddBlob(kState, std::move(blob).Finish());
    return Status::Ok();
  }

  Status RestoreState(state::RestoreReader& reader) override {
    const operators::OperatorContext& context = *this->context();
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     OwnPositionBlob(reader, context, kState, "a generator source", "its index ranges are cut by the parallelism"));
    if (!bytes.has_value()) return Status::Ok();
    BlobReader blob(*bytes, context.task_name);
    RETURN_IF_ERROR(blob.ExpectTag(kTag));
    ASSIGN_OR_RETURN(int64_t count, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t next, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t end, blob.GetInt64());
    RETURN_IF_ERROR(blob.ExpectEnd());
    if (count != count_ || end != end_ || next < first_ || next > end_) {
      return FailedPrecondition(
          "{}: checkpointed position {} of range end {} (of {} records) does not fit this source's range "
          "[{}, {}) of {} records",
          context.task_name, next, end, count, first_, end_, count_);
    }
    next_ = next;
    first_ = next;
    return Status::Ok();
  }

 private:
  int64_t RangeStart(int64_t subtask, int64_t parallelism) const {
    return static_cast<int64_t>((static_cast<__int128>(count_) * subtask) / parallelism);
  }

  static constexpr std::string_view kTag = "GEN1";
  static constexpr std::string_view kState = "sequence-position";

  Generator generator_;
  int64_t count_;
  double records_per_second_;
  double nanos_per_record_ = 0;
  int64_t first_ = 0;
  int64_t next_ = 0;
  int64_t end_ = 0;
  int64_t start_nanos_ = 0;
  int64_t next_ready_nanos_ = kMaxTimestamp;
  [[no_unique_address]] operators::RecordGroupIfGroupable<T> group_;
};

}  // namespace weir::connectors
