// ProcessingTimeService: the processing-time timers of one worker, e.g. processing-time windows
// and output-buffer timeouts. A timer is (time, callback); the owning Worker polls the service on
// every pass with the wall clock (WallMillis) and fires the timers that are due, and never parks
// longer than the time left until the earliest timer.
//
// Threads: single-threaded. Register may be called before the worker starts (on the thread that
// builds the job) or, once it runs, only by tasks of the owning worker (from RunOnce, Open, or a
// timer callback); Poll is called only by the owning worker. No locks, no atomics.
//
// Order: one Poll fires the due timers in order of time, timers with equal time in registration
// order. A timer registered by a callback fires no earlier than the next Poll, even when it is
// already due, so a callback that re-registers itself cannot starve the worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/clock.h"

namespace weir::sched {

class ProcessingTimeService {
 public:
  // Receives the time the timer was registered for (not the time it fired), as Flink's
  // ProcessingTimeCallback does.
  using Callback = std::function<void(Timestamp time)>;

  ProcessingTimeService() = default;
  ProcessingTimeService(const ProcessingTimeService&) = delete;
  ProcessingTimeService& operator=(const ProcessingTimeService&) = delete;

  // Fires `callback` once, at the first Poll whose `now` is >= `time` (milliseconds since the
  // epoch). A time already in the past fires at the next Poll.
  void Register(Timestamp time, Callback callback);

  // Fires the timers with time <= `now` that were registered before this call began, in order;
  // returns how many fired. When a callback registers a timer that sorts before the remaining due
  // ones, Poll stops there: the new timer and those after it fire, in order, at the next Poll.
  size_t Poll(Timestamp now);

  bool empty() const { return timers_.empty(); }
  size_t size() const { return timers_.size(); }
  // The earliest registered time. REQUIRES: !empty().
  Timestamp next_time() const;

 private:
  struct Timer {
    Timestamp time;
    uint64_t sequence;  // registration order, breaks ties between equal times
    Callback callback;
  };
  // std::push_heap builds a max-heap; "greater" puts the earliest (time, sequence) on top.
  static bool Later(const Timer& a, const Timer& b) {
    return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
  }

  std::vector<Timer> timers_;
  uint64_t next_sequence_ = 0;
};

}  // namespace weir::sched
