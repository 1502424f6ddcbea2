// Channel<T>: the bounded queue between a producer task on one worker and a consumer task on
// another (or the same) worker, with credit-based backpressure.
//
// Credits are free slots. A producer whose TryPush fails keeps its value (TryPush takes it by
// rvalue reference but leaves it untouched on failure) and returns kIdle from RunOnce; it runs
// again when the consumer frees a slot. So a slow consumer stops its producer, which stops its
// own producers, back to the sources: backpressure end to end with bounded memory.
//
// Wake-ups. Worker::Wake() of the other side follows every successful push (the consumer may be
// parked waiting for input) and every successful pop (the producer may be parked waiting for
// credit). Wake() is a fence plus one load of a line the other worker writes only when it parks,
// so while both workers are busy a push or pop makes no syscall and transfers no extra cache
// line; the futex_wake syscall happens only when the other worker is actually parked. The
// protocol that makes lost wake-ups impossible is described in worker.h. When both ends are on
// the same worker no wake-up is needed (the worker polls all its tasks every pass) and none is
// made.
//
// Threads: Bind before the workers start. TryPush and credits() only on the producer's worker;
// TryPop, Front and PopFront only on the consumer's worker; the rest anywhere (approximate).
#pragma once

#include <cstddef>
#include <utility>

#include "sched/spsc_queue.h"
#include "sched/worker.h"

namespace weir::sched {

template <typename T>
class Channel {
 public:
  // REQUIRES: capacity is a power of two and >= 1.
  explicit Channel(size_t capacity) : queue_(capacity) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sets the workers that run the producer and the consumer task, so each side can wake the
  // other. A null worker is never woken (e.g. a test thread that polls on its own).
  // REQUIRES: neither worker has started.
  void Bind(Worker* producer, Worker* consumer) {
    const bool same = producer != nullptr && producer == consumer;
    producer_ = same ? nullptr : producer;
    consumer_ = same ? nullptr : consumer;
  }

  // Producer. Moves `value` in and wakes the consumer's worker if it is parked; false (value
  // untouched) when there is no credit.
  bool TryPush(T&& value) {
    if (!queue_.TryPush(std::move(value))) return false;
    if (consumer_ != nullptr) consumer_->Wake();
    return true;
  }

  // Producer. Free slots: a lower bound, since the consumer may free more concurrently.
  size_t credits() const { return capacity() - queue_.SizeApprox(); }

  // Consumer. Moves the oldest value into `out` and wakes the producer's worker if it is parked;
  // false when the channel is empty.
  bool TryPop(T& out) {
    if (!queue_.TryPop(out)) return false;
    if (producer_ != nullptr) producer_->Wake();
    return true;
  }

  // Consumer. The oldest value, in place, or nullptr when empty; valid until PopFront().
  T* Front() { return queue_.Front(); }
  // Consumer. Drops the oldest value and wakes the producer's worker if it is parked.
  // REQUIRES: Front() returned non-null since the last PopFront().
  void PopFront() {
    queue_.PopFront();
    if (producer_ != nullptr) producer_->Wake();
  }

  size_t SizeApprox() const { return queue_.SizeApprox(); }
  bool EmptyApprox() const { return queue_.EmptyApprox(); }
  size_t capacity() const { return queue_.capacity(); }

 private:
  SpscQueue<T> queue_;
  Worker* producer_ = nullptr;
  Worker* consumer_ = nullptr;
};

}  // namespace weir::sched
