#include "sched/processing_time_service.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace weir::sched {

void ProcessingTimeService::Register(Timestamp time, Callback callback) {
  WEIR_CHECK(callback != nullptr);
  timers_.push_back(Timer{time, next_sequence_++, std::move(callback)});
  std::push_heap(timers_.begin(), timers_.end(), Later);
}

size_t ProcessingTimeService::Poll(Timestamp now) {
  // Timers registered by the callbacks below get a sequence >= limit and wait for the next Poll.
  // Stopping at such a timer keeps the order: it is the earliest, so every timer still due after
  // it has a time >= its time.
  const uint64_t limit = next_sequence_;
  size_t fired = 0;
  while (!timers_.empty() && timers_.front().time <= now && timers_.front().sequence < limit) {
    std::pop_heap(timers_.begin(), timers_.end(), Later);
    Timer timer = std::move(timers_.back());
    timers_.pop_back();
    timer.callback(timer.time);
    ++fired;
  }
  return fired;
}

Timestamp ProcessingTimeService::next_time() const {
  WEIR_CHECK(!timers_.empty());
  return timers_.front().time;
}

}  // namespace weir::sched
