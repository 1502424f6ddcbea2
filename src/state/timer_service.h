// TimerService: the event-time and processing-time timers of one keyed operator subtask, per
// (key, namespace), as Flink's InternalTimerServiceImpl keeps them.
//
// Semantics (Flink's):
// * A timer is (timestamp, key, namespace). Registering a timer that exists is a no-op
//   (deduplicated); deleting one that does not exist is a no-op.
// * AdvanceWatermark(w) fires every event-time timer with timestamp <= w in timestamp order
//   (timers with equal timestamps in unspecified order), removing each before its callback runs.
//   A callback may register or delete timers; a timer it registers with timestamp <= w fires in
//   the same call (Flink's advanceWatermark loop re-reads the queue head), one it deletes that has
//   not fired yet does not fire.
// * AdvanceProcessingTime(now) does the same for processing-time timers with timestamp <= now.
// * current_watermark() is the last watermark passed to AdvanceWatermark (kMinTimestamp before).
//
// Storage. The timers themselves are entries of StateTables (managed memory): key = the timer's
// key, namespace = 8-byte big-endian timestamp followed by the timer's namespace, empty value.
// That table is the set used for deduplication and deletion, and what a snapshot writes. The
// order is kept separately, as a min-heap of distinct timestamps, each timestamp with a bucket of
// the (key, namespace) byte strings registered for it (appended in segments or a byte arena,
// never one heap object per timer). A deleted timer is removed from the table at once and skipped
// when its bucket is drained (the table is checked before firing), so deletion is O(1) and a
// re-registered timer still fires exactly once. Window operators register the same timer for
// every key of a window: one heap entry per distinct time, one bucket append per timer.
//
// Failures: a registration the memory budget cannot hold records the first failure (status())
// and is dropped; the operator fails the task with it after the current record.
//
// Threads: one service belongs to one task thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/keyed_state.h"

namespace weir::state {

// What a firing timer tells its callback. The views are valid during the callback only.
struct FiredTimer {
  Timestamp timestamp;
  CurrentKey key;
  std::string_view ns;
};

class TimerService {
 public:
  TimerService(memory::SegmentPool* pool, memory::MemoryBudget* budget, std::string owner);
  ~TimerService();
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  void RegisterEventTimeTimer(const CurrentKey& key, std::string_view ns, Timestamp time);
  void DeleteEventTimeTimer(const CurrentKey& key, std::string_view ns, Timestamp time);
  void RegisterProcessingTimeTimer(const CurrentKey& key, std::string_view ns, Timestamp time);
  void DeleteProcessingTimeTimer(const CurrentKey& key, std::string_view ns, Timestamp time);

  // Fires due event-time timers as described above: on_timer(const FiredTimer&).
  template <typename F>
  void AdvanceWatermark(Timestamp watermark, F&& on_timer);
  // Fires due processing-time timers: on_timer(const FiredTimer&).
  template <typename F>
  void AdvanceProcessingTime(Timestamp now, F&& on_timer);

  Timestamp current_watermark() const { return watermark_; }
  // The earliest pending processing-time timer (kMaxTimestamp when none): the operator asks its
  // task to call it back then.
  Timestamp next_processing_time() const;
  Timestamp next_event_time() const;

  size_t event_timer_count() const;
  size_t processing_timer_count() const;
  // The tables holding the timers (for snapshots, issue 4).
  const StateTable& event_timers() const;
  const StateTable& processing_timers() const;

  const Status& status() const { return status_; }
  int64_t memory_bytes() const;

 private:
  Timestamp watermark_ = kMinTimestamp;
  Status status_;
  // Implementation-defined members follow (heaps of timestamps, buckets, the two tables).
};

}  // namespace weir::state
