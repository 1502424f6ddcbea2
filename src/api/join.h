// Joins of two streams: Flink's window join and coGroup (DataStream.join / coGroup ... where ...
// equalTo ... window ... apply) and interval join (KeyedStream.intervalJoin). Both inputs are
// turned into TaggedUnion records, unioned and keyed by their key selectors, so one keyed operator
// sees both streams with one watermark (the minimum of both) -- see operators/tagged_union.h.
// Window joins are Flink's exactly: a window over the union whose function splits the window's
// elements by side and calls the coGroup function with both lists, or the join function for
// every pair (for each left element in arrival order, each right element in arrival order); a
// window with elements on one side only produces no join output.
#pragma once

#include <chrono>
#include <span>
#include <vector>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "api/data_stream.h"
#include "operators/interval_join_operator.h"
#include "operators/tagged_union.h"

namespace weir::api {

using operators::ProcessJoinContext;

// Flink's ProcessJoinFunction<L, R, Out>: subclass it, or pass a callable with the same
// signature as ProcessElement to IntervalJoined::Process<Out>.
template <typename L, typename R, typename Out>
class ProcessJoinFunction {
 public:
  using OutputType = Out;
  virtual ~ProcessJoinFunction() = default;
  virtual void ProcessElement(const L& left, const R& right, ProcessJoinContext& context,
                              Collector<Out>& out) = 0;
};

namespace internal {

// The key of a union record: the left or the right key selector, which must agree on the type.
template <typename L, typename R, typename LeftKeySelector, typename RightKeySelector>
struct UnionKeySelector {
  LeftKeySelector left;
  RightKeySelector right;
  auto operator()(const operators::TaggedUnion<L, R>& value) const {
    using LeftKey = std::decay_t<std::invoke_result_t<const LeftKeySelector&, const L&>>;
    using RightKey = std::decay_t<std::invoke_result_t<const RightKeySelector&, const R&>>;
    static_assert(std::is_same_v<LeftKey, RightKey>, "both inputs of a join need the same key type");
    return value.is_left ? left(value.left) : right(value.right);
  }
};

// Calls a ProcessJoinFunction subclass or a plain callable.
template <typename F>
struct JoinCaller {
  F function;
  template <typename L, typename R, typename Out>
  void operator()(const L& left, const R& right, ProcessJoinContext& context, Collector<Out>& out) {
    if constexpr (requires { function.ProcessElement(left, right, context, out); }) {
      function.ProcessElement(left, right, context, out);
    } else {
      function(left, right, context, out);
    }
  }
};

// The join's output type: given explicitly, or a ProcessJoinFunction's OutputType.
template <typename Out, typename Function>
struct JoinOutput {
  using type = Out;
};
template <typename Function>
struct JoinOutput<void, Function> {
  using type = typename Function::OutputType;
};

// left.Map(Left) union right.Map(Right), as a stream of TaggedUnion<L, R>.
template <typename L, typename R>
DataStream<operators::TaggedUnion<L, R>> TagAndUnion(const DataStream<L>& left, const DataStream<R>& right) {
  using Tagged = operators::TaggedUnion<L, R>;
  auto tagged_left = left.Map([](const L& value) { return Tagged::Left(value); }, "Map (left side)");
  auto tagged_right = right.Map([](const R& value) { return Tagged::Right(value); }, "Map (right side)");
  return tagged_left.Union(tagged_right);
}

}  // namespace internal

template <typename L, typename R, typename LeftKeySelector, typename RightKeySelector>
class IntervalJoined {
 public:
  IntervalJoined(KeyedStream<L, LeftKeySelector> left, KeyedStream<R, RightKeySelector> right,
                 Timestamp lower, Timestamp upper)
      : left_(std::move(left)), right_(std::move(right)), lower_(lower), upper_(upper) {}

  // Flink's lowerBoundExclusive / upperBoundExclusive.
  IntervalJoined& LowerBoundExclusive() {
    lower_inclusive_ = false;
    return *this;
  }
  IntervalJoined& UpperBoundExclusive() {
    upper_inclusive_ = false;
    return *this;
  }
  // Elements behind the watermark go to these side outputs instead of being dropped.
  IntervalJoined& SideOutputLeftLateData(const OutputTag<L>& tag) {
    left_late_tag_ = tag.id();
    return *this;
  }
  IntervalJoined& SideOutputRightLateData(const OutputTag<R>& tag) {
    right_late_tag_ = tag.id();
    return *this;
  }

  // `function`: a ProcessJoinFunction<L, R, Out> subclass (Out deduced) or a callable
  // void(const L&, const R&, ProcessJoinContext&, Collector<Out>&) with Out given explicitly.
  template <typename Out = void, typename Function>
  auto Process(Function function, std::string name = "IntervalJoin") const {
    using Result = typename internal::JoinOutput<Out, Function>::type;
    using Tagged = operators::TaggedUnion<L, R>;
    using KeySelector = internal::UnionKeySelector<L, R, LeftKeySelector, RightKeySelector>;
    using Caller = internal::JoinCaller<Function>;
    operators::IntervalJoinOptions options;
    options.lower = lower_inclusive_ ? lower_ : lower_ + 1;
    options.upper = upper_inclusive_ ? upper_ : upper_ - 1;
    options.left_late_tag = left_late_tag_;
    options.right_late_tag = right_late_tag_;
    KeySelector key_selector{left_.key_selector(), right_.key_selector()};
    auto unioned = internal::TagAndUnion(left_.input(), right_.input());
    return unioned.template Then<Result>(
        std::move(name),
        [key_selector, function, options](int) {
          return std::make_unique<operators::IntervalJoinOperator<L, R, Result, KeySelector, Caller>>(
              key_selector, Caller{function}, options);
        },
        runtime::Partitioning::kKeyGroups, internal::MakeKeyedExchange<Tagged>(key_selector));
  }

 private:
  KeyedStream<L, LeftKeySelector> left_;
  KeyedStream<R, RightKeySelector> right_;
  Timestamp lower_;
  Timestamp upper_;
  bool lower_inclusive_ = true;
  bool upper_inclusive_ = true;
  std::optional<std::string> left_late_tag_;
  std::optional<std::string> right_late_tag_;
};

template <typename L, typename R, typename LeftKeySelector, typename RightKeySelector>
class IntervalJoin {
 public:
  IntervalJoin(KeyedStream<L, LeftKeySelector> left, KeyedStream<R, RightKeySelector> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  // Joins pairs with left.ts + lower <= right.ts <= left.ts + upper. REQUIRES: lower <= upper
  // (checked: Flink rejects it too).
  IntervalJoined<L, R, LeftKeySelector, RightKeySelector> Between(std::chrono::milliseconds lower,
                                                                  std::chrono::milliseconds upper) const {
    WEIR_CHECK_MSG(lower <= upper, "interval join: lower bound {} ms is after upper bound {} ms",
                   lower.count(), upper.count());
    return {left_, right_, lower.count(), upper.count()};
  }

 private:
  KeyedStream<L, LeftKeySelector> left_;
  KeyedStream<R, RightKeySelector> right_;
};

namespace internal {

// The window function of a join or coGroup over a window of TaggedUnion<L, R> elements: splits
// them by side into reused scratch lists and calls `function` (with Out, see below).
template <typename L, typename R, typename Out, typename Function, bool kJoin>
struct TwoInputWindowFunction {
  Function function;
  std::vector<L> left;
  std::vector<R> right;

  template <typename Key, typename W>
  void operator()(const Key&, const W&, std::span<const operators::TaggedUnion<L, R>> elements,
                  Collector<Out>& out) {
    left.clear();
    right.clear();
    for (const auto& element : elements) {
      if (element.is_left) {
        left.push_back(element.left);
      } else {
        right.push_back(element.right);
      }
    }
    if constexpr (kJoin) {
      for (const L& l : left) {
        for (const R& r : right) {
          if constexpr (requires { function(l, r, out); }) {
            function(l, r, out);  // Flink's FlatJoinFunction
          } else {
            out.Collect(function(l, r));  // Flink's JoinFunction
          }
        }
      }
    } else {
      function(std::span<const L>(left), std::span<const R>(right), out);
    }
  }
};

}  // namespace internal

// The windowed stage of a join or coGroup: window configuration, then Apply.
template <typename L, typename R, typename Windowed, bool kJoin>
class TwoInputWindowedStream {
 public:
  explicit TwoInputWindowedStream(Windowed windowed) : windowed_(std::move(windowed)) {}

  // The trigger and evictor see TaggedUnion<L, R> elements, as Flink's see TaggedUnion<T1, T2>.
  template <typename NewTrigger>
  auto Trigger(NewTrigger trigger) const {
    auto windowed = windowed_.Trigger(std::move(trigger));
    return TwoInputWindowedStream<L, R, decltype(windowed), kJoin>(std::move(windowed));
  }
  template <typename NewEvictor>
  auto Evictor(NewEvictor evictor) const {
    auto windowed = windowed_.Evictor(std::move(evictor));
    return TwoInputWindowedStream<L, R, decltype(windowed), kJoin>(std::move(windowed));
  }
  TwoInputWindowedStream AllowedLateness(std::chrono::milliseconds lateness) const {
    return TwoInputWindowedStream(windowed_.AllowedLateness(lateness));
  }

  // Join: `Out f(const L&, const R&)` (JoinFunction) or `void f(const L&, const R&,
  // Collector<Out>&)` (FlatJoinFunction), called for every pair of the window.
  // CoGroup: `void f(std::span<const L>, std::span<const R>, Collector<Out>&)`, called once per
  // window and key with both sides' elements in arrival order (one side may be empty).
  // Results carry the window's MaxTimestamp().
  template <typename Out, typename Function>
  DataStream<Out> Apply(Function function, std::string name = kJoin ? "Window Join" : "Window CoGroup") const {
    return windowed_.template Apply<Out>(
        internal::TwoInputWindowFunction<L, R, Out, Function, kJoin>{std::move(function), {}, {}},
        std::move(name));
  }

 private:
  Windowed windowed_;
};

// Flink's JoinedStreams / CoGroupedStreams: Where(left key).EqualTo(right key).Window(assigner).
template <typename L, typename R, bool kJoin>
class TwoInputStreams {
 public:
  TwoInputStreams(DataStream<L> left, DataStream<R> right) : left_(std::move(left)), right_(std::move(right)) {}

  template <typename LeftKeySelector>
  auto Where(LeftKeySelector left_key) const {
    return WhereClause<LeftKeySelector>{left_, right_, std::move(left_key)};
  }

 private:
  template <typename LeftKeySelector>
  struct WhereClause {
    DataStream<L> left;
    DataStream<R> right;
    LeftKeySelector left_key;

    template <typename RightKeySelector>
    auto EqualTo(RightKeySelector right_key) const {
      return EqualToClause<RightKeySelector>{left, right, left_key, std::move(right_key)};
    }

    template <typename RightKeySelector>
    struct EqualToClause {
      DataStream<L> left;
      DataStream<R> right;
      LeftKeySelector left_key;
      RightKeySelector right_key;

      template <typename Assigner>
      auto Window(Assigner assigner) const {
        using KeySelector = internal::UnionKeySelector<L, R, LeftKeySelector, RightKeySelector>;
        auto windowed = internal::TagAndUnion(left, right)
                            .KeyBy(KeySelector{left_key, right_key})
                            .Window(std::move(assigner));
        return TwoInputWindowedStream<L, R, decltype(windowed), kJoin>(std::move(windowed));
      }
    };
  };

  DataStream<L> left_;
  DataStream<R> right_;
};

template <typename L, typename R>
using JoinedStreams = TwoInputStreams<L, R, true>;
template <typename L, typename R>
using CoGroupedStreams = TwoInputStreams<L, R, false>;

template <typename T>
template <typename U>
JoinedStreams<T, U> DataStream<T>::Join(const DataStream<U>& other) const {
  return JoinedStreams<T, U>(*this, other);
}
template <typename T>
template <typename U>
CoGroupedStreams<T, U> DataStream<T>::CoGroup(const DataStream<U>& other) const {
  return CoGroupedStreams<T, U>(*this, other);
}

template <typename T, typename KeySelector>
template <typename U, typename OtherKeySelector>
auto KeyedStream<T, KeySelector>::IntervalJoin(const KeyedStream<U, OtherKeySelector>& other) const {
  return api::IntervalJoin<T, U, KeySelector, OtherKeySelector>(*this, other);
}

}  // namespace weir::api
