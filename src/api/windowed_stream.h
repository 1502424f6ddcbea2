// WindowedStream and AllWindowedStream: Flink's windowed DataStream API.
//
//   stream.KeyBy([](const Trade& t) { return t.symbol; })
//       .Window(TumblingEventTimeWindows::Of(std::chrono::seconds(5)))
//       .AllowedLateness(std::chrono::seconds(1))
//       .SideOutputLateData(late_tag)
//       .Aggregate(AverageOf());
//
// KeyedStream::Window(assigner) starts a WindowedStream with the assigner's default trigger and no
// evictor; Trigger(t), Evictor(e), AllowedLateness(d) and SideOutputLateData(tag) return a
// configured copy; a window function (Reduce, Aggregate, Process, Apply, Sum/Min/Max/MinBy/MaxBy)
// ends it with a DataStream of the results, each carrying its window's MaxTimestamp(). Late data
// comes from result.GetSideOutput(tag). Every choice is a template parameter of the one
// operators::window::WindowOperator that runs it (see window_operator.h for the semantics).
//
// CountWindow(size) is GlobalWindows with PurgingTrigger(CountTrigger(size)); CountWindow(size,
// slide) is GlobalWindows with CountEvictor(size) and CountTrigger(slide), as in Flink.
// DataStream::WindowAll / CountWindowAll do the same on the whole stream: keyed by a constant and
// run at parallelism 1; their Process takes a ProcessAllWindowFunction (no key).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "api/data_stream.h"
#include "operators/window/assigners.h"
#include "operators/window/evictors.h"
#include "operators/window/session_window_operator.h"
#include "operators/window/slicing_window_operator.h"
#include "operators/window/time_window.h"
#include "operators/window/triggers.h"
#include "operators/window/window_functions.h"
#include "operators/window/window_operator.h"

namespace weir::api {

using operators::window::ContinuousEventTimeTrigger;
using operators::window::ContinuousProcessingTimeTrigger;
using operators::window::CountEvictor;
using operators::window::CountTrigger;
using operators::window::DeltaEvictor;
using operators::window::DeltaTrigger;
using operators::window::EventTimeSessionWindows;
using operators::window::EventTimeTrigger;
using operators::window::GlobalWindow;
using operators::window::GlobalWindows;
using operators::window::NeverTrigger;
using operators::window::NoEvictor;
using operators::window::ProcessAllWindowFunction;
using operators::window::ProcessingTimeSessionWindows;
using operators::window::ProcessingTimeTrigger;
using operators::window::ProcessWindowFunction;
using operators::window::PurgingTrigger;
using operators::window::SlidingEventTimeWindows;
using operators::window::SlidingProcessingTimeWindows;
using operators::window::TimeEvictor;
using operators::window::TimestampedValue;
using operators::window::TimeWindow;
using operators::window::TriggerResult;
using operators::window::TumblingEventTimeWindows;
using operators::window::TumblingProcessingTimeWindows;

namespace internal {

// The key of non-keyed (all) windows: every record has it.
template <typename T>
struct ConstantKey {
  int32_t operator()(const T&) const { return 0; }
};

template <typename Function>
using ProcessWindowOutput = typename Function::OutputType;

// Which assigners the slicing fast path (operators/window/slicing_window_operator.h) computes.
template <typename Assigner>
struct SlicedAssigner {
  static constexpr bool kTumbling = false;
  static constexpr bool kSliding = false;
};
template <bool kEventTime>
struct SlicedAssigner<operators::window::internal::TumblingWindows<kEventTime>> {
  static constexpr bool kTumbling = true;
  static constexpr bool kSliding = false;
};
template <bool kEventTime>
struct SlicedAssigner<operators::window::internal::SlidingWindows<kEventTime>> {
  static constexpr bool kTumbling = false;
  static constexpr bool kSliding = kEventTime;
};

// Event-time sessions with a fixed gap: the session fast path (session_window_operator.h).
template <typename Assigner>
struct IsFixedGapEventTimeSessions : std::false_type {};
template <>
struct IsFixedGapEventTimeSessions<
    operators::window::internal::SessionWindows<true, operators::window::internal::StaticGap>>
    : std::true_type {};

// An AggregateFunction whose result does not depend on the order of its inputs (sum, count,
// min, max, average...) declares `static constexpr bool kOrderInsensitive = true`; sliding windows
// then combine per-slice accumulators with Merge instead of adding each element to every window.
template <typename Aggregate>
constexpr bool IsOrderInsensitive() {
  if constexpr (requires { Aggregate::kOrderInsensitive; }) {
    return Aggregate::kOrderInsensitive;
  } else {
    return false;
  }
}

// The slicing fast path applies when the window has the assigner's default trigger and no
// evictor, and its accumulator is plain bytes: then it computes exactly what the generic
// WindowOperator computes (a tumbling window is one slice, elements added in arrival order).
template <typename Assigner, typename TriggerT, typename EvictorT, typename Acc>
constexpr bool CanUseSessionPath() {
  return IsFixedGapEventTimeSessions<Assigner>::value &&
         std::is_same_v<TriggerT, decltype(std::declval<const Assigner&>().DefaultTrigger())> &&
         std::is_same_v<EvictorT, operators::window::NoEvictor> && std::is_trivially_copyable_v<Acc> &&
         alignof(Acc) <= 8;
}

template <typename Assigner, typename TriggerT, typename EvictorT, typename Acc>
constexpr bool CanSlice() {
  return (SlicedAssigner<Assigner>::kTumbling || SlicedAssigner<Assigner>::kSliding) &&
         std::is_same_v<TriggerT, decltype(std::declval<const Assigner&>().DefaultTrigger())> &&
         std::is_same_v<EvictorT, operators::window::NoEvictor> && std::is_trivially_copyable_v<Acc> &&
         alignof(Acc) <= 8;
}

}  // namespace internal

template <typename T, typename KeySelector, typename Assigner, typename TriggerT, typename EvictorT>
class WindowedStream {
 public:
  using Key = internal::KeyOf<KeySelector, T>;
  using W = typename Assigner::Window;

  WindowedStream(KeyedStream<T, KeySelector> input, Assigner assigner, TriggerT trigger,
                 EvictorT evictor, operators::window::WindowOptions<T> options, bool non_keyed)
      : input_(std::move(input)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)),
        options_(std::move(options)),
        non_keyed_(non_keyed) {}

  // --- Configuration (each returns a configured copy).

  // Replaces the assigner's default trigger. REQUIRES: with sessions, a trigger that can merge.
  template <typename NewTrigger>
  WindowedStream<T, KeySelector, Assigner, NewTrigger, EvictorT> Trigger(NewTrigger trigger) const {
    if constexpr (Assigner::kMerging) {
      WEIR_CHECK_MSG(trigger.CanMerge(),
                     "a merging window assigner cannot be used with a trigger that does not support merging");
    }
    return {input_, assigner_, std::move(trigger), evictor_, options_, non_keyed_};
  }
  // Keeps every element and evicts before/after the function (no incremental aggregation).
  template <typename NewEvictor>
  WindowedStream<T, KeySelector, Assigner, TriggerT, NewEvictor> Evictor(NewEvictor evictor) const {
    return {input_, assigner_, trigger_, std::move(evictor), options_, non_keyed_};
  }
  // How long after a window's end late elements still update (and fire) it. Event time only.
  WindowedStream AllowedLateness(std::chrono::milliseconds lateness) const {
    WEIR_CHECK_MSG(lateness.count() >= 0, "the allowed lateness cannot be negative ({} ms)", lateness.count());
    WindowedStream copy = *this;
    copy.options_.allowed_lateness = lateness.count();
    return copy;
  }
  // Elements too late for every window go to `tag` (result.GetSideOutput(tag)) instead of being
  // dropped.
  WindowedStream SideOutputLateData(OutputTag<T> tag) const {
    WindowedStream copy = *this;
    copy.options_.late_data_tag.emplace(std::move(tag));
    return copy;
  }

  // --- Window functions.

  // `T reduce(const T&, const T&)`, applied incrementally.
  template <typename F>
  DataStream<T> Reduce(F reducer, std::string name = "Window(Reduce)") const {
    using Sliced = operators::window::ReduceAggregate<T, F>;
    if constexpr (internal::CanSlice<Assigner, TriggerT, EvictorT, typename Sliced::Accumulator>() &&
                  internal::SlicedAssigner<Assigner>::kTumbling) {
      // A reduce depends on arrival order: only tumbling windows (one slice each) keep it.
      return BuildSliced<T>(Sliced(std::move(reducer)), std::move(name));
    } else if constexpr (internal::CanUseSessionPath<Assigner, TriggerT, EvictorT,
                                                     typename Sliced::Accumulator>()) {
      return BuildSessions<T>(Sliced(std::move(reducer)), std::move(name));
    } else {
      return Reduce(std::move(reducer), operators::window::internal::PassThroughFunction<T, Key, W>(),
                    std::move(name));
    }
  }
  // Reduce, then a ProcessWindowFunction<T, Out, Key, W> sees the single reduced value.
  template <typename F, typename ProcessF>
    requires std::is_class_v<ProcessF>
  auto Reduce(F reducer, ProcessF process, std::string name = "Window(Reduce)") const {
    return Build(operators::window::internal::ReduceContents<T, Key, W, F, ProcessF>(std::move(reducer),
                                                                                   std::move(process)),
                 std::move(name));
  }
  // An AggregateFunction (CreateAccumulator / Add / GetResult / Merge), applied incrementally.
  template <typename AggregateF>
  auto Aggregate(AggregateF aggregate, std::string name = "Window(Aggregate)") const {
    using Acc = std::decay_t<decltype(aggregate.CreateAccumulator())>;
    using Result = std::decay_t<decltype(aggregate.GetResult(std::declval<const Acc&>()))>;
    if constexpr (internal::CanSlice<Assigner, TriggerT, EvictorT, Acc>() &&
                  (internal::SlicedAssigner<Assigner>::kTumbling ||
                   internal::IsOrderInsensitive<AggregateF>())) {
      return BuildSliced<Result>(std::move(aggregate), std::move(name));
    } else if constexpr (internal::CanUseSessionPath<Assigner, TriggerT, EvictorT, Acc>()) {
      return BuildSessions<Result>(std::move(aggregate), std::move(name));
    } else {
      return Aggregate(std::move(aggregate), operators::window::internal::PassThroughFunction<Result, Key, W>(),
                       std::move(name));
    }
  }
  // Aggregate, then a ProcessWindowFunction<Result, Out, Key, W> sees the single result.
  template <typename AggregateF, typename ProcessF>
    requires std::is_class_v<ProcessF>
  auto Aggregate(AggregateF aggregate, ProcessF process, std::string name = "Window(Aggregate)") const {
    return Build(operators::window::internal::AggregateContents<T, Key, W, AggregateF, ProcessF>(
                     std::move(aggregate), std::move(process)),
                 std::move(name));
  }
  // A ProcessWindowFunction<T, Out, Key, W> over all elements of the window.
  template <typename ProcessF>
  auto Process(ProcessF process, std::string name = "Window(Process)") const {
    return Build(operators::window::internal::ProcessContents<T, Key, W, ProcessF>(std::move(process)),
                 std::move(name));
  }
  // Flink's WindowFunction: `void f(const Key&, const W&, std::span<const T>, Collector<Out>&)`.
  template <typename Out, typename F>
  DataStream<Out> Apply(F function, std::string name = "Window(Apply)") const {
    return Process(operators::window::internal::ApplyFunctionAdapter<T, Out, Key, W, F>(std::move(function)),
                   std::move(name));
  }

  // Flink's sum / min / max (field aggregated, other fields from the window's first element) and
  // minBy / maxBy (the element holding the extreme, the first on ties), on tuple field `Field`
  // or a struct member.
  template <size_t Field>
  DataStream<T> Sum() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::SumOf>(), "Window(Sum)");
  }
  template <size_t Field>
  DataStream<T> Min() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::MinOf>(), "Window(Min)");
  }
  template <size_t Field>
  DataStream<T> Max() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::MaxOf>(), "Window(Max)");
  }
  template <size_t Field>
  DataStream<T> MinBy() const {
    return Reduce(internal::FieldSelector<T, Field, false>(), "Window(MinBy)");
  }
  template <size_t Field>
  DataStream<T> MaxBy() const {
    return Reduce(internal::FieldSelector<T, Field, true>(), "Window(MaxBy)");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Sum(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::SumOf>{field}, "Window(Sum)");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Min(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::MinOf>{field}, "Window(Min)");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Max(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::MaxOf>{field}, "Window(Max)");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MinBy(M U::*field) const {
    return Reduce(internal::MemberSelector<T, M, false>{field}, "Window(MinBy)");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MaxBy(M U::*field) const {
    return Reduce(internal::MemberSelector<T, M, true>{field}, "Window(MaxBy)");
  }

  const Assigner& assigner() const { return assigner_; }
  const TriggerT& trigger() const { return trigger_; }
  const operators::window::WindowOptions<T>& options() const { return options_; }

 private:
  template <typename Contents>
  DataStream<typename Contents::Out> Build(Contents contents, std::string name) const {
    using Operator =
        operators::window::WindowOperator<T, KeySelector, Assigner, TriggerT, Contents, EvictorT>;
    return AddKeyedOperator<typename Contents::Out>(
        std::move(name), [assigner = assigner_, trigger = trigger_, contents = std::move(contents),
                          evictor = evictor_, options = options_](const KeySelector& key_selector) {
          return std::make_unique<Operator>(key_selector, assigner, trigger, contents, evictor, options);
        });
  }

  // The slicing fast path for an incremental aggregate (see internal::CanSlice).
  template <typename Out, typename AggregateF>
  DataStream<Out> BuildSliced(AggregateF aggregate, std::string name) const {
    using Operator = operators::window::SlicingWindowOperator<T, Out, KeySelector, AggregateF>;
    auto options = operators::window::SlicingWindowOptions::Sliding(
        assigner_.size(), assigner_.slide(), assigner_.offset(),
        Assigner::kIsEventTime ? operators::window::WindowTimeDomain::kEventTime
                               : operators::window::WindowTimeDomain::kProcessingTime);
    options.allowed_lateness_ms = options_.allowed_lateness;
    if (options_.late_data_tag) options.late_data_tag = options_.late_data_tag->id();
    return AddKeyedOperator<Out>(std::move(name),
                                 [aggregate = std::move(aggregate), options](const KeySelector& key_selector) {
                                   return std::make_unique<Operator>(key_selector, aggregate, options);
                                 });
  }

  // The session fast path for an incremental aggregate (see internal::CanUseSessionPath).
  template <typename Out, typename AggregateF>
  DataStream<Out> BuildSessions(AggregateF aggregate, std::string name) const {
    using Operator = operators::window::SessionWindowOperator<T, Out, KeySelector, AggregateF>;
    auto options = operators::window::SessionWindowOptions::WithGap(assigner_.gap());
    options.allowed_lateness_ms = options_.allowed_lateness;
    if (options_.late_data_tag) options.late_data_tag = options_.late_data_tag->id();
    return AddKeyedOperator<Out>(std::move(name),
                                 [aggregate = std::move(aggregate), options](const KeySelector& key_selector) {
                                   return std::make_unique<Operator>(key_selector, aggregate, options);
                                 });
  }

  // Adds the window operator made by `make(key_selector)` behind the keyed exchange (at
  // parallelism 1 for non-keyed windows).
  template <typename Out, typename Make>
  DataStream<Out> AddKeyedOperator(std::string name, Make make) const {
    const KeySelector key_selector = input_.key_selector();
    DataStream<Out> result = input_.input().template Then<Out>(
        std::move(name), [key_selector, make = std::move(make)](int) { return make(key_selector); },
        runtime::Partitioning::kKeyGroups, internal::MakeKeyedExchange<T>(key_selector));
    if (non_keyed_) result.SetParallelism(1);
    return result;
  }

  KeyedStream<T, KeySelector> input_;
  Assigner assigner_;
  TriggerT trigger_;
  EvictorT evictor_;
  operators::window::WindowOptions<T> options_;
  bool non_keyed_;
};

// Windows over the whole stream (Flink's AllWindowedStream): the same operations without a key.
template <typename T, typename Assigner, typename TriggerT, typename EvictorT>
class AllWindowedStream {
 public:
  using Keyed = WindowedStream<T, internal::ConstantKey<T>, Assigner, TriggerT, EvictorT>;
  using W = typename Assigner::Window;

  explicit AllWindowedStream(Keyed windowed) : windowed_(std::move(windowed)) {}

  template <typename NewTrigger>
  AllWindowedStream<T, Assigner, NewTrigger, EvictorT> Trigger(NewTrigger trigger) const {
    return AllWindowedStream<T, Assigner, NewTrigger, EvictorT>(windowed_.Trigger(std::move(trigger)));
  }
  template <typename NewEvictor>
  AllWindowedStream<T, Assigner, TriggerT, NewEvictor> Evictor(NewEvictor evictor) const {
    return AllWindowedStream<T, Assigner, TriggerT, NewEvictor>(windowed_.Evictor(std::move(evictor)));
  }
  AllWindowedStream AllowedLateness(std::chrono::milliseconds lateness) const {
    return AllWindowedStream(windowed_.AllowedLateness(lateness));
  }
  AllWindowedStream SideOutputLateData(OutputTag<T> tag) const {
    return AllWindowedStream(windowed_.SideOutputLateData(std::move(tag)));
  }

  template <typename F>
  DataStream<T> Reduce(F reducer, std::string name = "Window(Reduce)") const {
    return windowed_.Reduce(std::move(reducer), std::move(name));
  }
  // Reduce, then a ProcessAllWindowFunction<T, Out, W> sees the single reduced value.
  template <typename F, typename ProcessF>
    requires std::is_class_v<ProcessF>
  auto Reduce(F reducer, ProcessF process, std::string name = "Window(Reduce)") const {
    return windowed_.Reduce(std::move(reducer), Adapt(std::move(process)), std::move(name));
  }
  template <typename AggregateF>
  auto Aggregate(AggregateF aggregate, std::string name = "Window(Aggregate)") const {
    return windowed_.Aggregate(std::move(aggregate), std::move(name));
  }
  template <typename AggregateF, typename ProcessF>
    requires std::is_class_v<ProcessF>
  auto Aggregate(AggregateF aggregate, ProcessF process, std::string name = "Window(Aggregate)") const {
    return windowed_.Aggregate(std::move(aggregate), Adapt(std::move(process)), std::move(name));
  }
  // A ProcessAllWindowFunction<T, Out, W>.
  template <typename ProcessF>
  auto Process(ProcessF process, std::string name = "Window(Process)") const {
    return windowed_.Process(Adapt(std::move(process)), std::move(name));
  }
  // Flink's AllWindowFunction: `void f(const W&, std::span<const T>, Collector<Out>&)`.
  template <typename Out, typename F>
  DataStream<Out> Apply(F function, std::string name = "Window(Apply)") const {
    return windowed_.template Apply<Out>(
        [function](const int32_t&, const W& window, std::span<const T> elements, Collector<Out>& out) mutable {
          function(window, elements, out);
        },
        std::move(name));
  }

  template <size_t Field>
  DataStream<T> Sum() const { return windowed_.template Sum<Field>(); }
  template <size_t Field>
  DataStream<T> Min() const { return windowed_.template Min<Field>(); }
  template <size_t Field>
  DataStream<T> Max() const { return windowed_.template Max<Field>(); }
  template <size_t Field>
  DataStream<T> MinBy() const { return windowed_.template MinBy<Field>(); }
  template <size_t Field>
  DataStream<T> MaxBy() const { return windowed_.template MaxBy<Field>(); }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Sum(M U::*field) const { return windowed_.Sum(field); }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Min(M U::*field) const { return windowed_.Min(field); }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Max(M U::*field) const { return windowed_.Max(field); }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MinBy(M U::*field) const { return windowed_.MinBy(field); }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MaxBy(M U::*field) const { return windowed_.MaxBy(field); }

 private:
  template <typename ProcessF>
  static auto Adapt(ProcessF process) {
    return operators::window::internal::AllWindowFunctionAdapter<ProcessF, int32_t>(std::move(process));
  }

  Keyed windowed_;
};

// --- The window transformations declared in data_stream.h.

template <typename T, typename KeySelector>
template <typename Assigner>
auto KeyedStream<T, KeySelector>::Window(Assigner assigner) const {
  auto trigger = assigner.DefaultTrigger();
  return WindowedStream<T, KeySelector, Assigner, decltype(trigger), NoEvictor>(
      *this, std::move(assigner), std::move(trigger), NoEvictor(), {}, /*non_keyed=*/false);
}

template <typename T, typename KeySelector>
auto KeyedStream<T, KeySelector>::CountWindow(int64_t size) const {
  return Window(GlobalWindows::Create()).Trigger(PurgingTrigger<CountTrigger>::Of(CountTrigger::Of(size)));
}

template <typename T, typename KeySelector>
auto KeyedStream<T, KeySelector>::CountWindow(int64_t size, int64_t slide) const {
  return Window(GlobalWindows::Create()).Evictor(CountEvictor::Of(size)).Trigger(CountTrigger::Of(slide));
}

template <typename T>
template <typename Assigner>
auto DataStream<T>::WindowAll(Assigner assigner) const {
  auto trigger = assigner.DefaultTrigger();
  using Keyed = WindowedStream<T, internal::ConstantKey<T>, Assigner, decltype(trigger), NoEvictor>;
  return AllWindowedStream<T, Assigner, decltype(trigger), NoEvictor>(
      Keyed(KeyBy(internal::ConstantKey<T>()), std::move(assigner), std::move(trigger), NoEvictor(), {},
            /*non_keyed=*/true));
}

template <typename T>
auto DataStream<T>::CountWindowAll(int64_t size) const {
  return WindowAll(GlobalWindows::Create()).Trigger(PurgingTrigger<CountTrigger>::Of(CountTrigger::Of(size)));
}

template <typename T>
auto DataStream<T>::CountWindowAll(int64_t size, int64_t slide) const {
  return WindowAll(GlobalWindows::Create()).Evictor(CountEvictor::Of(size)).Trigger(CountTrigger::Of(slide));
}

}  // namespace weir::api
