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
// Layout details. The table namespace's timestamp is the int64 in two's complement, big-endian. A
// bucket record is 18 header bytes (key hash u64, key size u32, namespace size u32, key group
// u16, native endian) followed by the key and namespace bytes. Each bucket is one byte vector
// with a read cursor; drained buckets are recycled with their capacity (small ones always, large
// ones up to a bounded total), so a steady state of registrations and firings allocates nothing
// (the heap, index and free list keep their peak capacity). A timestamp -> bucket index (open
// addressing, plus a one-entry cache for the window operator's run of equal timestamps) finds
// the bucket of a new timer. Every byte of these structures is reserved in the memory
// budget before it is allocated (memory_bytes() includes them and the tables).
// Deleted timers leave their bucket records behind until drained; when such stale records
// outnumber the live timers of a domain (and exceed a few thousand), the buckets are rebuilt
// from the table (amortized O(1) per deletion, no memory needed: a rebuilt bucket is never
// larger than before). A rebuild recomputes key hashes as Hash64(key bytes), which is why
// REQUIRES: every CurrentKey passed here has hash == Hash64(bytes) (what CurrentKey promises).
// next_event_time() and next_processing_time() are exact outside callbacks: the bucket at the
// top of each heap is kept pruned of stale records (inside a callback they may name a timestamp
// whose timers were all deleted by callbacks, which is harmless for scheduling).
//
// Failures: a registration the memory budget cannot hold records the first failure (status())
// and is dropped (the service is unchanged by it); the operator fails the task with it after the
// current record. A timer whose key and namespace do not fit a table entry fails the same way
// (InvalidArgument).
//
// Re-entrancy: callbacks may register and delete timers of both domains, but must not call
// AdvanceWatermark or AdvanceProcessingTime (CHECKed). FiredTimer views point into a scratch
// buffer of the service that the next fired timer overwrites.
//
// Threads: one service belongs to one task thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "base/status.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/keyed_state.h"
#include "state/snapshot.h"

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

  // Firing many timers is a run of hash probes (the timer's own entry, then the operator's state
  // for its key); the service reads its buckets ahead and calls `hook(context, key, ns, time,
  // stage)` for timers about to fire: stage 1 about kPrefetchSlotBytes ahead (prefetch index
  // slots), stage 2 about kPrefetchEntryBytes ahead (prefetch entries), so the misses of a dozen
  // timers overlap. The hook must only prefetch (it must not change state).
  using PrefetchHook = void (*)(void* context, const CurrentKey& key, std::string_view ns, Timestamp time,
                                int stage);
  void SetPrefetchHook(PrefetchHook hook, void* context) {
    prefetch_hook_ = hook;
    prefetch_context_ = context;
  }
  static constexpr size_t kPrefetchSlotBytes = 1024;
  static constexpr size_t kPrefetchEntryBytes = 512;

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

  // Checkpoints. SnapshotTables pins the two timer tables as "<prefix>event" and
  // "<prefix>processing" (copying nothing: the heaps, buckets and index derive from the tables).
  // REQUIRES: not inside a timer callback.
  [[nodiscard]] Status SnapshotTables(SnapshotWriter& writer, std::string_view prefix);
  // Refills both tables from a checkpoint (the timers of this subtask's key groups) and rebuilds
  // the heaps, buckets and index from them. The watermark is not restored (Flink's is not
  // either): event-time timers at or before the first watermark after the restore fire then, and
  // processing-time timers already due fire at the next OnProcessingTime.
  // REQUIRES: called once, before any timer is registered.
  [[nodiscard]] Status RestoreTables(RestoreReader& reader, std::string_view prefix);

 private:
  // One time domain: its table, heap of distinct timestamps, buckets and timestamp index
  // (defined in timer_service.cc).
  struct Queue;

  void Register(Queue& queue, const CurrentKey& key, std::string_view ns, Timestamp time);
  void Delete(Queue& queue, const CurrentKey& key, std::string_view ns, Timestamp time);
  // Fires every due timer of `queue` (timestamp <= limit), re-reading the heap after each
  // callback so timers registered by callbacks are seen.
  template <typename F>
  void Fire(Queue& queue, Timestamp limit, F& on_timer);
  // Takes the earliest due timer (timestamp <= limit) that is still registered out of the table
  // and returns it in *timer (views into fired_scratch_); false when none is due.
  bool PopDue(Queue& queue, Timestamp limit, FiredTimer* timer);
  // Issues the prefetches for the records of `bucket` (of timestamp `time`) within the look-ahead
  // distances of its cursor.
  void PrefetchAhead(Queue& queue, Timestamp time, uint32_t bucket);
  // After firing: prunes the top buckets and compacts stale records if due (of both domains:
  // callbacks may delete timers of either).
  void FinishFiring();
  // Appends the timer's record to the bucket of `time`, creating the bucket when needed; on
  // failure nothing changed but memory reserved for later use.
  [[nodiscard]] Status Append(Queue& queue, Timestamp time, const CurrentKey& key,
                              std::string_view ns);
  [[nodiscard]] Result<uint32_t> NewBucket(Queue& queue, Timestamp time, size_t record_size);
  // Pops the top heap entry and recycles its bucket.
  void PopTop(Queue& queue);
  // Puts an emptied bucket (already out of the heap and index) on the free list, keeping or
  // releasing its bytes.
  void RecycleBucket(Queue& queue, uint32_t bucket);
  // Skips stale records at the top of the heap, so the top timestamp has a registered timer.
  void Prune(Queue& queue);
  void MaybeCompact(Queue& queue);
  // Appends a bucket record for every timer of the queue's table (after a restore).
  [[nodiscard]] Status IndexRestored(Queue& queue);
  // Rebuilds every bucket from the table, dropping stale records and duplicates.
  void Rebuild(Queue& queue);
  // Makes room for `extra` more elements of `vector`, reserving the growth in the budget first.
  template <typename T>
  [[nodiscard]] Status GrowFor(std::vector<T>& vector, size_t extra);
  [[nodiscard]] Status GrowIndex(Queue& queue);
  [[nodiscard]] Status Reserve(int64_t bytes);
  void Unreserve(int64_t bytes);
  // 8-byte big-endian `time` followed by `ns`, in ns_scratch_ (valid until the next call).
  std::string_view TableNamespace(Timestamp time, std::string_view ns);
  void Fail(Status status) {
    if (status_.ok()) status_ = std::move(status);
  }

  memory::MemoryBudget* const budget_;
  const std::string owner_;
  Timestamp watermark_ = kMinTimestamp;
  Status status_;
  std::unique_ptr<Queue> event_queue_;
  std::unique_ptr<Queue> processing_queue_;
  std::string ns_scratch_;
  std::string fired_scratch_;
  PrefetchHook prefetch_hook_ = nullptr;
  void* prefetch_context_ = nullptr;
  bool firing_ = false;

  // Bytes of buckets, heaps, indexes and free lists, reserved in the budget.
  memory::MemoryBudget::Reservation reservation_;
  bool has_reservation_ = false;
  int64_t reserved_bytes_ = 0;
};

template <typename F>
void TimerService::AdvanceWatermark(Timestamp watermark, F&& on_timer) {
  watermark_ = watermark;
  Fire(*event_queue_, watermark, on_timer);
}

template <typename F>
void TimerService::AdvanceProcessingTime(Timestamp now, F&& on_timer) {
  Fire(*processing_queue_, now, on_timer);
}

template <typename F>
void TimerService::Fire(Queue& queue, Timestamp limit, F& on_timer) {
  WEIR_CHECK_MSG(!firing_, "a timer callback must not advance time");
  firing_ = true;
  FiredTimer timer;
  while (PopDue(queue, limit, &timer)) {
    const FiredTimer& fired = timer;
    on_timer(fired);
  }
  firing_ = false;
  FinishFiring();
}

}  // namespace weir::state
