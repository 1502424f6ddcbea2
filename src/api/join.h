// Joins of two streams: Flink's interval join (KeyedStream.intervalJoin). Both inputs are turned
// into TaggedUnion records, unioned and keyed by their key selectors, so one keyed operator sees
// both streams with one watermark (the minimum of both) -- see operators/tagged_union.h.
#pragma once

#include <chrono>
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

template <typename T, typename KeySelector>
template <typename U, typename OtherKeySelector>
auto KeyedStream<T, KeySelector>::IntervalJoin(const KeyedStream<U, OtherKeySelector>& other) const {
  return api::IntervalJoin<T, U, KeySelector, OtherKeySelector>(*this, other);
}

}  // namespace weir::api
