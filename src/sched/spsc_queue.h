// SpscQueue<T>: a bounded, lock-free ring between exactly one producer thread and one consumer
// thread. It is the storage of a Channel (channel.h) and moves opaque values (segment handles,
// stream messages) between pinned workers without locks or system calls.
//
// Threads: TryPush is called only by the producer; TryPop, Front and PopFront only by the
// consumer; SizeApprox, EmptyApprox and capacity by either (the first two are a snapshot that may
// be stale by the time it is read). Which thread is "the producer" may change only across a
// happens-before edge (e.g. a thread join or the start of a worker thread).
//
// Layout and memory ordering. `tail_` (the next slot to write) is written only by the producer,
// `head_` (the next slot to read) only by the consumer; both count up without wrapping modulo the
// capacity (64-bit counters do not overflow in practice) and index the ring with `& mask_`.
//   - Push: construct the value in slot tail, then tail_.store(tail + 1, release). The release
//     publishes the constructed value: a consumer that loads tail_ with acquire and sees tail + 1
//     sees the value.
//   - Pop: move the value out and destroy it, then head_.store(head + 1, release). The release
//     publishes "the slot is free again": a producer that loads head_ with acquire and sees
//     head + 1 will not construct into the slot before the consumer is done with it.
// Each side keeps a private cached copy of the other side's index on its own cache line and
// re-reads the shared index only when the cached one says the ring is full (producer) or empty
// (consumer). While the ring is neither, a push or pop touches no cache line the other thread
// writes, so the two cores do not ping-pong lines on every operation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "base/check.h"

namespace weir::sched {

// The cache-line size assumed for padding (x86-64 and most AArch64 cores). A constant rather than
// std::hardware_destructive_interference_size, whose value GCC warns may change between builds.
inline constexpr size_t kCacheLineSize = 64;

template <typename T>
class SpscQueue {
 public:
  static_assert(std::is_nothrow_move_constructible_v<T>, "T must be nothrow move-constructible");
  static_assert(std::is_nothrow_destructible_v<T>, "T must be nothrow destructible");

  // REQUIRES: capacity is a power of two and >= 1.
  explicit SpscQueue(size_t capacity)
      : mask_(CheckedMask(capacity)), slots_(std::make_unique<Slot[]>(capacity)) {}
  // Destroys the values still in the ring. REQUIRES: neither side is in use concurrently.
  ~SpscQueue() {
    const size_t tail = tail_.load(std::memory_order_acquire);
    for (size_t head = head_.load(std::memory_order_relaxed); head != tail; ++head) {
      SlotValue(head)->~T();
    }
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer. Moves `value` into the ring and returns true, or returns false (leaving `value`
  // untouched) when the ring is full.
  bool TryPush(T&& value) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - producer_cached_head_ == capacity()) {
      producer_cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - producer_cached_head_ == capacity()) return false;
    }
    ::new (static_cast<void*>(SlotValue(tail))) T(std::move(value));
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer. Moves the oldest value into `out` and returns true, or returns false (leaving `out`
  // untouched) when the ring is empty.
  bool TryPop(T& out) {
    T* front = Front();
    if (front == nullptr) return false;
    out = std::move(*front);
    PopFront();
    return true;
  }

  // Consumer. The oldest value, still in the ring, or nullptr when the ring is empty. The pointer
  // stays valid until PopFront(); the consumer may read or modify the value in place.
  T* Front() {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == consumer_cached_tail_) {
      consumer_cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head == consumer_cached_tail_) return nullptr;
    }
    return SlotValue(head);
  }

  // Consumer. Destroys the oldest value and frees its slot. REQUIRES: Front() returned non-null
  // since the last PopFront().
  void PopFront() {
    const size_t head = head_.load(std::memory_order_relaxed);
    WEIR_DCHECK(head != consumer_cached_tail_);
    SlotValue(head)->~T();
    head_.store(head + 1, std::memory_order_release);
  }

  // Either side. The number of values in the ring at some instant during the call.
  size_t SizeApprox() const {
    // Load head first: tail only grows, so tail loaded afterwards is >= the head we saw, and the
    // difference never exceeds the capacity by more than the pushes in between; clamp it.
    const size_t head = head_.load(std::memory_order_acquire);
    const size_t tail = tail_.load(std::memory_order_acquire);
    const size_t size = tail - head;
    return size > capacity() ? capacity() : size;
  }
  bool EmptyApprox() const { return SizeApprox() == 0; }
  size_t capacity() const { return mask_ + 1; }

 private:
  struct Slot {
    alignas(T) std::byte bytes[sizeof(T)];
  };

  static size_t CheckedMask(size_t capacity) {
    WEIR_CHECK_MSG(capacity >= 1 && (capacity & (capacity - 1)) == 0,
                   "SpscQueue capacity must be a power of two, got {}", capacity);
    return capacity - 1;
  }

  T* SlotValue(size_t index) {
    return std::launder(reinterpret_cast<T*>(slots_[index & mask_].bytes));
  }

  // Read-only after construction, read by both sides.
  const size_t mask_;
  const std::unique_ptr<Slot[]> slots_;

  // Producer's line: its index (read by the consumer only when the consumer's cache runs dry) and
  // its private cache of the consumer's index.
  alignas(kCacheLineSize) std::atomic<size_t> tail_{0};
  size_t producer_cached_head_ = 0;

  // Consumer's line.
  alignas(kCacheLineSize) std::atomic<size_t> head_{0};
  size_t consumer_cached_tail_ = 0;
  // sizeof(SpscQueue) is a multiple of kCacheLineSize (its alignment), so whatever follows the
  // queue in memory does not share the consumer's line.
};

}  // namespace weir::sched
