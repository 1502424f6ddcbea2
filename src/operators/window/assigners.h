// Window assigners (Flink's WindowAssigner family): which windows an element belongs to.
//
//   TumblingEventTimeWindows::Of(std::chrono::seconds(5))
//   SlidingEventTimeWindows::Of(std::chrono::minutes(1), std::chrono::seconds(10))
//   EventTimeSessionWindows::WithGap(std::chrono::seconds(30))
//   GlobalWindows::Create()
//
// An assigner is a small value held by the window operator as a template parameter (its calls are
// direct). It provides
//   using Window = TimeWindow | GlobalWindow;
//   static constexpr bool kIsEventTime;   whether windows end by watermarks (Flink's isEventTime)
//   static constexpr bool kMerging;       whether windows merge (sessions; Flink's
//                                         MergingWindowAssigner), then also
//   void MergeWindows(std::span<Window> windows, merge) const  (see TimeWindow::MergeWindows)
//   Status AssignWindows(const T& element, Timestamp timestamp, const WindowAssignerContext& ctx,
//                        std::vector<Window>& out) const  appends the element's windows to `out`
//   DefaultTrigger() const                the trigger used when the user sets none.
// AssignWindows fails (the operator fails its task) where Flink throws: an event-time tumbling or
// sliding assigner given an element without timestamp (kMinTimestamp: no timestamps were
// assigned), or a dynamic session gap <= 0.
//
// Durations are std::chrono::milliseconds, so seconds and minutes convert implicitly. Invalid
// parameters (size <= 0, |offset| >= size or slide) are programming errors: CHECKed when the
// assigner is made, as Flink throws IllegalArgumentException at job construction.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "base/status.h"
#include "operators/window/time_window.h"
#include "operators/window/triggers.h"

namespace weir::operators::window {

// What assigners may ask of the operator (Flink's WindowAssignerContext).
class WindowAssignerContext {
 public:
  explicit WindowAssignerContext(std::function<Timestamp()> clock) : clock_(std::move(clock)) {}
  Timestamp CurrentProcessingTime() const { return clock_(); }

 private:
  std::function<Timestamp()> clock_;
};

namespace internal {

inline Status MissingTimestamp() {
  return InvalidArgument(
      "record has no timestamp (Long.MIN_VALUE): did you forget AssignTimestampsAndWatermarks "
      "before an event-time window?");
}

// Tumbling windows of `size` aligned to `offset`, over event or processing time.
template <bool kEventTime>
class TumblingWindows {
 public:
  using Window = TimeWindow;
  static constexpr bool kIsEventTime = kEventTime;
  static constexpr bool kMerging = false;

  static TumblingWindows Of(std::chrono::milliseconds size,
                            std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    WEIR_CHECK_MSG(size.count() > 0 && std::abs(offset.count()) < size.count(),
                   "tumbling windows need size > 0 and |offset| < size (size {} ms, offset {} ms)",
                   size.count(), offset.count());
    return TumblingWindows(size.count(), offset.count());
  }

  template <typename T>
  Status AssignWindows(const T&, Timestamp timestamp, const WindowAssignerContext& context,
                       std::vector<Window>& out) const {
    if constexpr (kEventTime) {
      if (timestamp == kMinTimestamp) [[unlikely]] return MissingTimestamp();
    } else {
      timestamp = context.CurrentProcessingTime();
    }
    const Timestamp start = TimeWindow::WindowStartWithOffset(timestamp, offset_, size_);
    out.push_back(TimeWindow{start, start + size_});
    return Status::Ok();
  }

  auto DefaultTrigger() const {
    if constexpr (kEventTime) {
      return EventTimeTrigger();
    } else {
      return ProcessingTimeTrigger();
    }
  }

  Timestamp size() const { return size_; }
  Timestamp slide() const { return size_; }
  Timestamp offset() const { return offset_; }

 private:
  TumblingWindows(Timestamp size, Timestamp offset) : size_(size), offset_(offset) {}
  Timestamp size_;
  Timestamp offset_;
};

// Overlapping windows of `size` starting every `slide`, aligned to `offset`.
template <bool kEventTime>
class SlidingWindows {
 public:
  using Window = TimeWindow;
  static constexpr bool kIsEventTime = kEventTime;
  static constexpr bool kMerging = false;

  static SlidingWindows Of(std::chrono::milliseconds size, std::chrono::milliseconds slide,
                           std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    WEIR_CHECK_MSG(size.count() > 0 && slide.count() > 0 && std::abs(offset.count()) < slide.count(),
                   "sliding windows need size > 0, slide > 0 and |offset| < slide (size {} ms, "
                   "slide {} ms, offset {} ms)",
                   size.count(), slide.count(), offset.count());
    return SlidingWindows(size.count(), slide.count(), offset.count());
  }

  // The windows from the latest start down, as Flink lists them.
  template <typename T>
  Status AssignWindows(const T&, Timestamp timestamp, const WindowAssignerContext& context,
                       std::vector<Window>& out) const {
    if constexpr (kEventTime) {
      if (timestamp == kMinTimestamp) [[unlikely]] return MissingTimestamp();
    } else {
      timestamp = context.CurrentProcessingTime();
    }
    const Timestamp last_start = TimeWindow::WindowStartWithOffset(timestamp, offset_, slide_);
    for (Timestamp start = last_start; start > timestamp - size_; start -= slide_) {
      out.push_back(TimeWindow{start, start + size_});
    }
    return Status::Ok();
  }

  auto DefaultTrigger() const {
    if constexpr (kEventTime) {
      return EventTimeTrigger();
    } else {
      return ProcessingTimeTrigger();
    }
  }

  Timestamp size() const { return size_; }
  Timestamp slide() const { return slide_; }
  Timestamp offset() const { return offset_; }

 private:
  SlidingWindows(Timestamp size, Timestamp slide, Timestamp offset)
      : size_(size), slide_(slide), offset_(offset) {}
  Timestamp size_;
  Timestamp slide_;
  Timestamp offset_;
};

// The gap of every session: a fixed one.
struct StaticGap {
  Timestamp gap;
  template <typename T>
  Timestamp operator()(const T&) const { return gap; }
};

// Session windows: an element opens [timestamp, timestamp + gap); windows that overlap or touch
// merge. `GapOf` returns the gap of an element in milliseconds (Flink's
// SessionWindowTimeGapExtractor): a StaticGap or the user's function.
template <bool kEventTime, typename GapOf>
class SessionWindows {
 public:
  using Window = TimeWindow;
  static constexpr bool kIsEventTime = kEventTime;
  static constexpr bool kMerging = true;

  explicit SessionWindows(GapOf gap_of) : gap_of_(std::move(gap_of)) {}

  template <typename T>
  Status AssignWindows(const T& element, Timestamp timestamp, const WindowAssignerContext& context,
                       std::vector<Window>& out) const {
    if constexpr (!kEventTime) timestamp = context.CurrentProcessingTime();
    const Timestamp gap = static_cast<Timestamp>(gap_of_(element));
    if (gap <= 0) [[unlikely]] {
      return InvalidArgument("session window gap must be > 0, the gap function returned {} ms", gap);
    }
    out.push_back(TimeWindow{timestamp, timestamp + gap});
    return Status::Ok();
  }

  template <typename Merge>
  void MergeWindows(std::span<Window> windows, Merge&& merge) const {
    TimeWindow::MergeWindows(windows, std::forward<Merge>(merge));
  }

  auto DefaultTrigger() const {
    if constexpr (kEventTime) {
      return EventTimeTrigger();
    } else {
      return ProcessingTimeTrigger();
    }
  }

  // The gap of sessions with a static gap.
  Timestamp gap() const
    requires std::is_same_v<GapOf, StaticGap>
  {
    return gap_of_.gap;
  }

 private:
  GapOf gap_of_;
};

template <bool kEventTime>
struct SessionFactory {
  static SessionWindows<kEventTime, StaticGap> WithGap(std::chrono::milliseconds gap) {
    WEIR_CHECK_MSG(gap.count() > 0, "session windows need a gap > 0 ms, got {}", gap.count());
    return SessionWindows<kEventTime, StaticGap>(StaticGap{gap.count()});
  }
  // `int64_t gap_of(const T&)`: the gap in milliseconds after each element.
  template <typename GapOf>
  static SessionWindows<kEventTime, GapOf> WithDynamicGap(GapOf gap_of) {
    return SessionWindows<kEventTime, GapOf>(std::move(gap_of));
  }
};

}  // namespace internal

using TumblingEventTimeWindows = internal::TumblingWindows<true>;
using TumblingProcessingTimeWindows = internal::TumblingWindows<false>;
using SlidingEventTimeWindows = internal::SlidingWindows<true>;
using SlidingProcessingTimeWindows = internal::SlidingWindows<false>;
using EventTimeSessionWindows = internal::SessionFactory<true>;
using ProcessingTimeSessionWindows = internal::SessionFactory<false>;

// Every element of a key in one window (Flink's GlobalWindows); fires only with a custom trigger
// (the default, NeverTrigger, never fires). Not event time: its window is never late.
class GlobalWindows {
 public:
  using Window = GlobalWindow;
  static constexpr bool kIsEventTime = false;
  static constexpr bool kMerging = false;

  static GlobalWindows Create() { return GlobalWindows(); }

  template <typename T>
  Status AssignWindows(const T&, Timestamp, const WindowAssignerContext&,
                       std::vector<Window>& out) const {
    out.push_back(GlobalWindow{});
    return Status::Ok();
  }
  NeverTrigger DefaultTrigger() const { return NeverTrigger(); }
};

}  // namespace weir::operators::window
