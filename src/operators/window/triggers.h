// Triggers (Flink's Trigger family): when a window's contents are evaluated (fired) and when they
// are dropped (purged).
//
// The window operator calls, for the current key and one window at a time:
//   OnElement(element, timestamp, window, ctx)   for every element added to the window;
//   OnEventTime(time, window, ctx)               when an event-time timer of the window fires;
//   OnProcessingTime(time, window, ctx)          the same for processing time;
//   OnMerge(window, merge_ctx)                   when windows merged into `window` (sessions);
//   Clear(window, ctx)                           when the window is dropped: remove the trigger's
//                                                state and timers of that window;
//   CanMerge()                                   whether OnMerge is supported.
// Each returns a TriggerResult (Flink's CONTINUE, FIRE, PURGE, FIRE_AND_PURGE). A trigger keeps
// nothing per window in its fields: what it remembers per window lives in the partitioned state
// the context hands out (scoped to the current key and window), so it is checkpointed and merged
// like any state.
//
// Two ways to write one:
// * derive from Trigger<T, W> (virtual methods; the operator holds the trigger by its concrete
//   type, so a `final` class is called directly), or
// * a plain class with those member functions (templates over the element and window types,
//   like the built-in triggers below, which therefore work with any element type).
//
// Threads: a trigger object belongs to one operator subtask (it is copied into each).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "state/keyed_state.h"
#include "state/timer_service.h"

namespace weir::operators::window {

enum class TriggerResult : uint8_t {
  kContinue,      // nothing happens
  kFire,          // evaluate the window, keep its contents
  kPurge,         // drop the window's contents without evaluating them
  kFireAndPurge,  // evaluate, then drop the contents
};
inline bool IsFire(TriggerResult result) {
  return result == TriggerResult::kFire || result == TriggerResult::kFireAndPurge;
}
inline bool IsPurge(TriggerResult result) {
  return result == TriggerResult::kPurge || result == TriggerResult::kFireAndPurge;
}

// What a trigger may do (Flink's Trigger.TriggerContext): timers and state of the current key and
// window. The operator points it at the window before every call; the state objects it returns
// have their namespace set to that window (valid until the next call into the context).
class TriggerContext {
 public:
  TriggerContext(state::KeyedStateBackend* backend, state::TimerService* timers,
                 const std::function<Timestamp()>* clock)
      : backend_(backend), timers_(timers), clock_(clock) {}
  TriggerContext(const TriggerContext&) = delete;
  TriggerContext& operator=(const TriggerContext&) = delete;

  Timestamp GetCurrentWatermark() const { return timers_->current_watermark(); }
  Timestamp GetCurrentProcessingTime() const { return (*clock_)(); }

  // Timers of the current key and window; the operator calls the trigger back with the window.
  void RegisterEventTimeTimer(Timestamp time) {
    timers_->RegisterEventTimeTimer(backend_->current_key(), window_, time);
  }
  void DeleteEventTimeTimer(Timestamp time) {
    timers_->DeleteEventTimeTimer(backend_->current_key(), window_, time);
  }
  void RegisterProcessingTimeTimer(Timestamp time) {
    timers_->RegisterProcessingTimeTimer(backend_->current_key(), window_, time);
  }
  void DeleteProcessingTimeTimer(Timestamp time) {
    timers_->DeleteProcessingTimeTimer(backend_->current_key(), window_, time);
  }

  // Partitioned state of the current key and window (Flink's getPartitionedState), by name.
  template <typename T>
  state::ValueState<T>* GetValueState(const std::string& name) {
    return Scoped(backend_->GetValueState<T>(name));
  }
  template <typename T>
  state::ListState<T>* GetListState(const std::string& name) {
    return Scoped(backend_->GetListState<T>(name));
  }
  template <typename K, typename V>
  state::MapState<K, V>* GetMapState(const std::string& name) {
    return Scoped(backend_->GetMapState<K, V>(name));
  }
  template <typename T, typename Reduce>
  state::ReducingState<T, Reduce>* GetReducingState(const std::string& name, Reduce reduce) {
    return Scoped(backend_->GetReducingState<T>(name, std::move(reduce)));
  }
  template <typename In, typename Acc, typename Out, typename Aggregate>
  state::AggregatingState<In, Acc, Out, Aggregate>* GetAggregatingState(const std::string& name,
                                                                         Aggregate aggregate) {
    return Scoped(backend_->GetAggregatingState<In, Acc, Out>(name, std::move(aggregate)));
  }
  // Points `state` (obtained before, e.g. cached by a trigger) at the current window.
  template <typename S>
  S* Scoped(S* state) {
    state->SetCurrentNamespace(window_);
    return state;
  }

  // The current window's namespace bytes.
  std::string_view window_namespace() const { return window_; }
  state::KeyedStateBackend* backend() const { return backend_; }

  // Operator side: the window of the following calls (bytes must stay valid while used).
  void SetWindow(std::string_view window) { window_ = window; }

 private:
  state::KeyedStateBackend* backend_;
  state::TimerService* timers_;
  const std::function<Timestamp()>* clock_;
  std::string_view window_;
};

// The context of OnMerge (Flink's OnMergeContext): the current window is the merge result.
class OnMergeContext : public TriggerContext {
 public:
  using TriggerContext::TriggerContext;
  // Merges the values `state` holds for the merged windows into the merge result's (the state
  // must be a List, Reducing or Aggregating state).
  template <typename S>
  void MergePartitionedState(S* state) {
    state->MergeNamespaces(window_namespace(), merged_windows_);
  }
  // Operator side: the namespaces of the windows that merged.
  void SetMergedWindows(std::span<const std::string_view> merged) { merged_windows_ = merged; }

 private:
  std::span<const std::string_view> merged_windows_;
};

// The base of user triggers in Flink's shape (see the file comment).
template <typename T, typename W>
class Trigger {
 public:
  virtual ~Trigger() = default;
  virtual TriggerResult OnElement(const T& element, Timestamp timestamp, const W& window,
                                  TriggerContext& ctx) = 0;
  virtual TriggerResult OnEventTime(Timestamp time, const W& window, TriggerContext& ctx) = 0;
  virtual TriggerResult OnProcessingTime(Timestamp time, const W& window, TriggerContext& ctx) = 0;
  virtual bool CanMerge() const { return false; }
  // Only called when CanMerge(); the window operator rejects merging windows otherwise.
  virtual void OnMerge(const W& window, OnMergeContext& ctx) {
    WEIR_CHECK_MSG(false, "this trigger does not support merging windows");
  }
  virtual void Clear(const W& window, TriggerContext& ctx) = 0;
};

namespace internal {

struct MinInt64 {
  int64_t operator()(int64_t a, int64_t b) const { return std::min(a, b); }
};
struct SumInt64 {
  int64_t operator()(int64_t a, int64_t b) const { return a + b; }
};

// A state object a trigger looked up once per operator subtask (a trigger is copied into each
// subtask, so the cache is keyed by the backend it came from).
template <typename S>
class CachedState {
 public:
  template <typename Lookup>
  S* Get(TriggerContext& ctx, Lookup&& lookup) {
    if (backend_ != ctx.backend()) [[unlikely]] {
      state_ = lookup();
      backend_ = ctx.backend();
    }
    return ctx.Scoped(state_);
  }

 private:
  const state::KeyedStateBackend* backend_ = nullptr;
  S* state_ = nullptr;
};

}  // namespace internal

// Fires when the watermark passes the window's end (the default of event-time windows); an element
// arriving after that (within the allowed lateness) fires the window again at once.
class EventTimeTrigger {
 public:
  static EventTimeTrigger Create() { return EventTimeTrigger(); }
  template <typename T, typename W>
  TriggerResult OnElement(const T&, Timestamp, const W& window, TriggerContext& ctx) {
    if (window.MaxTimestamp() <= ctx.GetCurrentWatermark()) return TriggerResult::kFire;
    ctx.RegisterEventTimeTimer(window.MaxTimestamp());
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp time, const W& window, TriggerContext&) {
    return time == window.MaxTimestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  bool CanMerge() const { return true; }
  template <typename W>
  void OnMerge(const W& window, OnMergeContext& ctx) {
    // Only if the merged window has not already been fired by the watermark.
    if (window.MaxTimestamp() > ctx.GetCurrentWatermark()) ctx.RegisterEventTimeTimer(window.MaxTimestamp());
  }
  template <typename W>
  void Clear(const W& window, TriggerContext& ctx) {
    ctx.DeleteEventTimeTimer(window.MaxTimestamp());
  }
};

// Fires when the processing-time clock passes the window's end (processing-time windows).
class ProcessingTimeTrigger {
 public:
  static ProcessingTimeTrigger Create() { return ProcessingTimeTrigger(); }
  template <typename T, typename W>
  TriggerResult OnElement(const T&, Timestamp, const W& window, TriggerContext& ctx) {
    ctx.RegisterProcessingTimeTimer(window.MaxTimestamp());
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kFire;
  }
  bool CanMerge() const { return true; }
  template <typename W>
  void OnMerge(const W& window, OnMergeContext& ctx) {
    if (window.MaxTimestamp() > ctx.GetCurrentProcessingTime()) {
      ctx.RegisterProcessingTimeTimer(window.MaxTimestamp());
    }
  }
  template <typename W>
  void Clear(const W& window, TriggerContext& ctx) {
    ctx.DeleteProcessingTimeTimer(window.MaxTimestamp());
  }
};

// Never fires (the default of GlobalWindows).
class NeverTrigger {
 public:
  template <typename T, typename W>
  TriggerResult OnElement(const T&, Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  bool CanMerge() const { return true; }
  template <typename W>
  void OnMerge(const W&, OnMergeContext&) {}
  template <typename W>
  void Clear(const W&, TriggerContext&) {}
};

// Fires once the window holds `max_count` elements since the last firing (state "count", summed
// when windows merge).
class CountTrigger {
 public:
  using CountState = state::ReducingState<int64_t, internal::SumInt64>;

  static CountTrigger Of(int64_t max_count) {
    WEIR_CHECK_MSG(max_count > 0, "CountTrigger needs a count > 0, got {}", max_count);
    return CountTrigger(max_count);
  }
  template <typename T, typename W>
  TriggerResult OnElement(const T&, Timestamp, const W&, TriggerContext& ctx) {
    CountState* count = Count(ctx);
    count->Add(1);
    if (count->Get().value_or(0) >= max_count_) {
      count->Clear();
      return TriggerResult::kFire;
    }
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  bool CanMerge() const { return true; }
  template <typename W>
  void OnMerge(const W&, OnMergeContext& ctx) {
    ctx.MergePartitionedState(Count(ctx));
  }
  template <typename W>
  void Clear(const W&, TriggerContext& ctx) {
    Count(ctx)->Clear();
  }
  int64_t max_count() const { return max_count_; }

 private:
  explicit CountTrigger(int64_t max_count) : max_count_(max_count) {}
  CountState* Count(TriggerContext& ctx) {
    return count_.Get(ctx, [&] {
      return ctx.backend()->GetReducingState<int64_t>("count", internal::SumInt64());
    });
  }
  int64_t max_count_;
  internal::CachedState<CountState> count_;
};

// Fires when `delta(last_fired_element, element) > threshold` (Flink's DeltaTrigger): the first
// element is remembered (state "last-element"), and each firing element replaces it. `Delta` is
// `double(const T& old_element, const T& new_element)`. Does not support merging windows.
template <typename Delta>
class DeltaTrigger {
 public:
  static DeltaTrigger Of(double threshold, Delta delta) { return DeltaTrigger(threshold, std::move(delta)); }
  template <typename T, typename W>
  TriggerResult OnElement(const T& element, Timestamp, const W&, TriggerContext& ctx) {
    state::ValueState<T>* last = ctx.GetValueState<T>("last-element");
    const std::optional<T> previous = last->Value();
    if (!previous.has_value()) {
      last->Update(element);
      return TriggerResult::kContinue;
    }
    if (delta_(*previous, element) > threshold_) {
      last->Update(element);
      return TriggerResult::kFire;
    }
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp, const W&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  bool CanMerge() const { return false; }
  template <typename W>
  void OnMerge(const W&, OnMergeContext&) {
    WEIR_CHECK_MSG(false, "DeltaTrigger does not support merging windows");
  }
  // The element type is not known here: the state is cleared through its untyped base.
  template <typename W>
  void Clear(const W&, TriggerContext& ctx) {
    auto it = ctx.backend()->states().find("last-element");
    if (it != ctx.backend()->states().end()) {
      ctx.Scoped(it->second.get())->Clear();
    } else {
      // Restored from a checkpoint and not used since: the state is not registered yet.
      ctx.backend()->RemovePendingEntry("last-element", ctx.window_namespace());
    }
  }

 private:
  DeltaTrigger(double threshold, Delta delta) : threshold_(threshold), delta_(std::move(delta)) {}
  double threshold_;
  Delta delta_;
};

namespace internal {

// Flink's ContinuousEventTimeTrigger / ContinuousProcessingTimeTrigger: fires every `interval`
// (aligned to multiples of it) and at the window's end; the next firing time is state
// "fire-time" (the minimum when windows merge).
template <bool kEventTime>
class ContinuousTrigger {
 public:
  using FireTimeState = state::ReducingState<int64_t, MinInt64>;

  static ContinuousTrigger Of(std::chrono::milliseconds interval) {
    WEIR_CHECK_MSG(interval.count() > 0, "continuous trigger needs an interval > 0, got {} ms",
                   interval.count());
    return ContinuousTrigger(interval.count());
  }

  template <typename T, typename W>
  TriggerResult OnElement(const T&, Timestamp timestamp, const W& window, TriggerContext& ctx) {
    if constexpr (kEventTime) {
      // The watermark already passed the window: fire at once.
      if (window.MaxTimestamp() <= ctx.GetCurrentWatermark()) return TriggerResult::kFire;
      ctx.RegisterEventTimeTimer(window.MaxTimestamp());
    } else {
      timestamp = ctx.GetCurrentProcessingTime();
    }
    FireTimeState* fire_time = FireTime(ctx);
    if (!fire_time->Get().has_value()) {
      RegisterNextFireTime(timestamp - (timestamp % interval_), window, ctx, fire_time);
    }
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp time, const W& window, TriggerContext& ctx) {
    if constexpr (kEventTime) {
      if (time == window.MaxTimestamp()) return TriggerResult::kFire;
      return OnFireTime(time, window, ctx);
    } else {
      return TriggerResult::kContinue;
    }
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp time, const W& window, TriggerContext& ctx) {
    if constexpr (kEventTime) {
      return TriggerResult::kContinue;
    } else {
      return OnFireTime(time, window, ctx);
    }
  }
  bool CanMerge() const { return true; }
  template <typename W>
  void OnMerge(const W&, OnMergeContext& ctx) {
    FireTimeState* fire_time = FireTime(ctx);
    ctx.MergePartitionedState(fire_time);
    if (const std::optional<int64_t> next = fire_time->Get(); next.has_value()) Register(ctx, *next);
  }
  template <typename W>
  void Clear(const W&, TriggerContext& ctx) {
    FireTimeState* fire_time = FireTime(ctx);
    if (const std::optional<int64_t> time = fire_time->Get(); time.has_value()) {
      if constexpr (kEventTime) {
        ctx.DeleteEventTimeTimer(*time);
      } else {
        ctx.DeleteProcessingTimeTimer(*time);
      }
      fire_time->Clear();
    }
  }
  Timestamp interval() const { return interval_; }

 private:
  explicit ContinuousTrigger(Timestamp interval) : interval_(interval) {}

  template <typename W>
  TriggerResult OnFireTime(Timestamp time, const W& window, TriggerContext& ctx) {
    FireTimeState* fire_time = FireTime(ctx);
    const std::optional<int64_t> scheduled = fire_time->Get();
    if (scheduled.has_value() && *scheduled == time) {
      fire_time->Clear();
      RegisterNextFireTime(time, window, ctx, fire_time);
      return TriggerResult::kFire;
    }
    return TriggerResult::kContinue;
  }
  template <typename W>
  void RegisterNextFireTime(Timestamp time, const W& window, TriggerContext& ctx,
                            FireTimeState* fire_time) {
    const Timestamp next = std::min(time + interval_, window.MaxTimestamp());
    fire_time->Add(next);
    Register(ctx, next);
  }
  void Register(TriggerContext& ctx, Timestamp time) {
    if constexpr (kEventTime) {
      ctx.RegisterEventTimeTimer(time);
    } else {
      ctx.RegisterProcessingTimeTimer(time);
    }
  }
  FireTimeState* FireTime(TriggerContext& ctx) {
    return fire_time_.Get(ctx, [&] {
      return ctx.backend()->GetReducingState<int64_t>("fire-time", MinInt64());
    });
  }

  Timestamp interval_;
  CachedState<FireTimeState> fire_time_;
};

}  // namespace internal

using ContinuousEventTimeTrigger = internal::ContinuousTrigger<true>;
using ContinuousProcessingTimeTrigger = internal::ContinuousTrigger<false>;

// Turns every firing of `Nested` into fire-and-purge (Flink's PurgingTrigger).
template <typename Nested>
class PurgingTrigger {
 public:
  static PurgingTrigger Of(Nested nested) { return PurgingTrigger(std::move(nested)); }
  template <typename T, typename W>
  TriggerResult OnElement(const T& element, Timestamp timestamp, const W& window, TriggerContext& ctx) {
    return Purging(nested_.OnElement(element, timestamp, window, ctx));
  }
  template <typename W>
  TriggerResult OnEventTime(Timestamp time, const W& window, TriggerContext& ctx) {
    return Purging(nested_.OnEventTime(time, window, ctx));
  }
  template <typename W>
  TriggerResult OnProcessingTime(Timestamp time, const W& window, TriggerContext& ctx) {
    return Purging(nested_.OnProcessingTime(time, window, ctx));
  }
  bool CanMerge() const { return nested_.CanMerge(); }
  template <typename W>
  void OnMerge(const W& window, OnMergeContext& ctx) {
    nested_.OnMerge(window, ctx);
  }
  template <typename W>
  void Clear(const W& window, TriggerContext& ctx) {
    nested_.Clear(window, ctx);
  }
  const Nested& nested() const { return nested_; }

 private:
  explicit PurgingTrigger(Nested nested) : nested_(std::move(nested)) {}
  static TriggerResult Purging(TriggerResult result) {
    return IsFire(result) ? TriggerResult::kFireAndPurge : result;
  }
  Nested nested_;
};

}  // namespace weir::operators::window
