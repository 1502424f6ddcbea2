// Compile-time facts about user functions: what a flatMap emits, what a process function
// outputs, what a key selector returns.
#pragma once

#include <tuple>
#include <type_traits>

#include "operators/output.h"
#include "operators/process_operator.h"

namespace weir::api::internal {

template <typename F>
struct CallTraits : CallTraits<decltype(&std::decay_t<F>::operator())> {};
template <typename R, typename... A>
struct CallTraits<R (*)(A...)> {
  using Args = std::tuple<A...>;
};
template <typename C, typename R, typename... A>
struct CallTraits<R (C::*)(A...) const> {
  using Args = std::tuple<A...>;
};
template <typename C, typename R, typename... A>
struct CallTraits<R (C::*)(A...)> {
  using Args = std::tuple<A...>;
};

template <typename T>
struct CollectorElement;
template <typename U>
struct CollectorElement<operators::Collector<U>&> {
  using type = U;
};

// The U of a flatMap function `void(const In&, Collector<U>&)` (not for generic lambdas: give
// FlatMap<U> explicitly for those).
template <typename F>
using FlatMapOutput =
    typename CollectorElement<std::tuple_element_t<1, typename CallTraits<F>::Args>>::type;

template <typename In, typename Out>
Out ProcessOutputOf(const operators::ProcessFunction<In, Out>*);
template <typename In, typename Out>
In ProcessInputOf(const operators::ProcessFunction<In, Out>*);

template <typename Fn>
using ProcessOutput = decltype(ProcessOutputOf(static_cast<const Fn*>(nullptr)));

template <typename F, typename T>
using KeyOf = std::decay_t<std::invoke_result_t<F, const T&>>;

}  // namespace weir::api::internal
