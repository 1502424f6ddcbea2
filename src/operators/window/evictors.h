// Evictors (Flink's Evictor family): remove elements from a window's contents before and/or after
// the window function sees them, when a trigger fires. A window with an evictor keeps every element
// with its timestamp (no incremental aggregation), because any of them may be evicted.
//
// An evictor provides
//   void EvictBefore(std::vector<TimestampedValue<T>>& elements, size_t size, const W& window,
//                    const EvictorContext& ctx);
//   void EvictAfter(...same...);
// and removes elements by erasing them from `elements` (which holds the window's elements in
// insertion order; `size` is elements.size() at the call, as Flink passes it). What remains after
// EvictAfter is written back as the window's contents. Built-in evictors are plain classes with
// member templates; a user evictor may derive from Evictor<T, W>.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "base/clock.h"

namespace weir::operators::window {

// An element of a window and its event timestamp (kMinTimestamp: it has none).
template <typename T>
struct TimestampedValue {
  T value;
  Timestamp timestamp = kMinTimestamp;
  bool HasTimestamp() const { return timestamp != kMinTimestamp; }
};

// What an evictor may ask of the operator (Flink's Evictor.EvictorContext).
struct EvictorContext {
  Timestamp current_processing_time = kMinTimestamp;
  Timestamp current_watermark = kMinTimestamp;
  Timestamp CurrentProcessingTime() const { return current_processing_time; }
  Timestamp CurrentWatermark() const { return current_watermark; }
};

template <typename T, typename W>
class Evictor {
 public:
  virtual ~Evictor() = default;
  virtual void EvictBefore(std::vector<TimestampedValue<T>>& elements, size_t size, const W& window,
                           const EvictorContext& ctx) = 0;
  virtual void EvictAfter(std::vector<TimestampedValue<T>>& elements, size_t size, const W& window,
                          const EvictorContext& ctx) = 0;
};

// The absence of an evictor: the window operator then aggregates incrementally.
struct NoEvictor {};

namespace internal {

// Shared shape of the built-in evictors: `Evict` runs before or after the function.
template <typename Derived>
class EvictorBase {
 public:
  template <typename T, typename W>
  void EvictBefore(std::vector<TimestampedValue<T>>& elements, size_t size, const W&,
                   const EvictorContext&) {
    if (!evict_after_) static_cast<Derived*>(this)->Evict(elements, size);
  }
  template <typename T, typename W>
  void EvictAfter(std::vector<TimestampedValue<T>>& elements, size_t size, const W&,
                  const EvictorContext&) {
    if (evict_after_) static_cast<Derived*>(this)->Evict(elements, size);
  }
  bool evict_after() const { return evict_after_; }

 protected:
  explicit EvictorBase(bool evict_after) : evict_after_(evict_after) {}

 private:
  bool evict_after_;
};

}  // namespace internal

// Keeps at most `max_count` elements: evicts the oldest (first added) ones.
class CountEvictor : public internal::EvictorBase<CountEvictor> {
 public:
  static CountEvictor Of(int64_t max_count, bool evict_after = false) {
    WEIR_CHECK_MSG(max_count >= 0, "CountEvictor needs a count >= 0, got {}", max_count);
    return CountEvictor(static_cast<size_t>(max_count), evict_after);
  }
  template <typename T>
  void Evict(std::vector<TimestampedValue<T>>& elements, size_t size) const {
    if (size <= max_count_) return;
    elements.erase(elements.begin(), elements.begin() + static_cast<std::ptrdiff_t>(size - max_count_));
  }
  int64_t max_count() const { return static_cast<int64_t>(max_count_); }

 private:
  CountEvictor(size_t max_count, bool evict_after)
      : EvictorBase(evict_after), max_count_(max_count) {}
  size_t max_count_;
};

// Keeps the elements whose timestamp is within `window_size` of the newest element's: evicts those
// with timestamp <= max timestamp - window_size. Does nothing when the elements have no timestamps
// (judged by the first, as Flink does).
class TimeEvictor : public internal::EvictorBase<TimeEvictor> {
 public:
  static TimeEvictor Of(std::chrono::milliseconds window_size, bool evict_after = false) {
    WEIR_CHECK_MSG(window_size.count() >= 0, "TimeEvictor needs a size >= 0 ms, got {}",
                   window_size.count());
    return TimeEvictor(window_size.count(), evict_after);
  }
  template <typename T>
  void Evict(std::vector<TimestampedValue<T>>& elements, size_t) const {
    if (elements.empty() || !elements.front().HasTimestamp()) return;
    Timestamp newest = kMinTimestamp;
    for (const TimestampedValue<T>& element : elements) newest = std::max(newest, element.timestamp);
    const Timestamp cutoff = newest - window_size_;
    std::erase_if(elements, [cutoff](const TimestampedValue<T>& element) { return element.timestamp <= cutoff; });
  }
  Timestamp window_size() const { return window_size_; }

 private:
  TimeEvictor(Timestamp window_size, bool evict_after)
      : EvictorBase(evict_after), window_size_(window_size) {}
  Timestamp window_size_;
};

// Evicts the elements whose `delta(element, last element)` is >= threshold, where the last element
// is the newest one. `Delta` is `double(const T& element, const T& last)`.
template <typename Delta>
class DeltaEvictor : public internal::EvictorBase<DeltaEvictor<Delta>> {
 public:
  static DeltaEvictor Of(double threshold, Delta delta, bool evict_after = false) {
    return DeltaEvictor(threshold, std::move(delta), evict_after);
  }
  template <typename T>
  void Evict(std::vector<TimestampedValue<T>>& elements, size_t) const {
    if (elements.empty()) return;
    const T last = elements.back().value;
    std::erase_if(elements, [&](const TimestampedValue<T>& element) {
      return delta_(element.value, last) >= threshold_;
    });
  }

 private:
  DeltaEvictor(double threshold, Delta delta, bool evict_after)
      : internal::EvictorBase<DeltaEvictor<Delta>>(evict_after),
        threshold_(threshold),
        delta_(std::move(delta)) {}
  double threshold_;
  Delta delta_;
};

}  // namespace weir::operators::window
