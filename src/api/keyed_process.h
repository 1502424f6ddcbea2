// KeyedStream::Process with a KeyedProcessFunction (Flink's keyBy(...).process(...)): keyed
// state and timers per key; see operators/keyed_process_operator.h for the semantics.
//
//   class Alerts : public KeyedProcessFunction<int64_t, Event, Alert> {...};
//   DataStream<Alert> alerts = events.KeyBy([](const Event& e) { return e.user; }).Process(Alerts());
//   DataStream<Event> odd = alerts.GetSideOutput(kOddTag);   // what it emitted with ctx.Output
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "api/data_stream.h"
#include "operators/keyed_process_operator.h"

namespace weir::api {

using operators::KeyedProcessFunction;
using operators::KeyedTimerService;
using operators::RuntimeContext;
using operators::TimeDomain;

template <typename T, typename KeySelector>
template <typename Function>
auto KeyedStream<T, KeySelector>::Process(Function function, std::string name) const {
  using Out = typename Function::OutputType;
  static_assert(std::is_same_v<typename Function::InputType, T>,
                "the KeyedProcessFunction's input type must be the stream's");
  KeySelector key_selector = key_selector_;
  return input_.template Then<Out>(
      std::move(name),
      [key_selector, function](int) {
        return std::make_unique<operators::KeyedProcessOperator<T, Out, KeySelector, Function>>(
            key_selector, function);
      },
      runtime::Partitioning::kKeyGroups, internal::MakeKeyedExchange<T>(key_selector_));
}

}  // namespace weir::api
