// The stateless operators: map, filter, flatMap, and the pass-through identity (union, explicit
// exchanges). Each holds the user function by value, so the compiler inlines it into the
// operator's Collect: per record one virtual call into the operator and the function's own work.
#pragma once

#include <utility>

#include "operators/stream_operator.h"

namespace weir::operators {

// Map: one output per input, `Out f(const In&)`.
template <typename In, typename Out, typename F>
class MapOperator final : public OneInputOperator<In, Out> {
 public:
  explicit MapOperator(F function) : function_(std::move(function)) {}
  void Collect(const In& value, Timestamp timestamp) override {
    this->output()->Collect(function_(value), timestamp);
  }

 private:
  F function_;
};

// Filter: keeps the inputs for which `bool f(const In&)` is true.
template <typename T, typename F>
class FilterOperator final : public OneInputOperator<T, T> {
 public:
  explicit FilterOperator(F function) : function_(std::move(function)) {}
  void Collect(const T& value, Timestamp timestamp) override {
    if (function_(value)) this->output()->Collect(value, timestamp);
  }

 private:
  F function_;
};

// FlatMap: zero or more outputs per input, `void f(const In&, Collector<Out>&)`; outputs carry
// the input's timestamp.
template <typename In, typename Out, typename F>
class FlatMapOperator final : public OneInputOperator<In, Out> {
 public:
  explicit FlatMapOperator(F function) : function_(std::move(function)) {}
  void SetOutput(OutputBase* output) override {
    OneInputOperator<In, Out>::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }
  void Collect(const In& value, Timestamp timestamp) override {
    collector_.set_timestamp(timestamp);
    function_(value, collector_);
  }

 private:
  F function_;
  Collector<Out> collector_{nullptr};
};

// Passes records through unchanged (the receiving side of union and explicit repartitioning).
template <typename T>
class IdentityOperator final : public OneInputOperator<T, T> {
 public:
  void Collect(const T& value, Timestamp timestamp) override { this->output()->Collect(value, timestamp); }
};

}  // namespace weir::operators
