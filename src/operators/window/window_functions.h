// Window functions: what a window operator computes when a trigger fires.
//
// User-facing (Flink's shapes):
// * ProcessWindowFunction<In, Out, Key, W>: Process(key, ctx, elements, out) sees all elements of
//   the window (or the single pre-aggregated value when combined with Reduce/Aggregate), the
//   window, the watermark and processing time, per-window and per-key state, and side outputs;
//   Clear(ctx) runs when the window is dropped (clean up its per-window state there).
// * Reduce functions `T(const T&, const T&)` and AggregateFunctions (CreateAccumulator / Add /
//   GetResult / Merge, as state::AggregatingState documents) are applied incrementally: the window
//   keeps one accumulator, not its elements.
//
// Internal: the *Contents classes below are the operator's "internal window function" (Flink's
// InternalWindowFunction together with the window state descriptor): each owns the window-contents
// state ("window-contents") and calls the user's function(s). The operator holds one by value as a
// template parameter, so every call is direct.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "operators/output.h"
#include "state/keyed_state.h"

namespace weir::operators::window {

// State of the current key under one namespace: a window's (WindowState) or the key's
// (GlobalState, Flink's VoidNamespace ""). Returned state objects are scoped to that namespace
// until the next call into this store.
class KeyedStateStore {
 public:
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

  // Operator side.
  void Bind(state::KeyedStateBackend* backend) { backend_ = backend; }
  void SetNamespace(std::string_view ns) { namespace_ = ns; }

 private:
  template <typename S>
  S* Scoped(S* state) {
    state->SetCurrentNamespace(namespace_);
    return state;
  }
  state::KeyedStateBackend* backend_ = nullptr;
  std::string_view namespace_;
};

// What a ProcessWindowFunction sees besides the elements (Flink's ProcessWindowFunction.Context).
template <typename W>
class WindowContext {
 public:
  const W& window() const { return window_; }
  Timestamp CurrentProcessingTime() const { return (*clock_)(); }
  Timestamp CurrentWatermark() const { return *watermark_; }
  // State of the current key and window; cleared by the user in Clear().
  KeyedStateStore& WindowState() { return window_state_; }
  // State of the current key across windows.
  KeyedStateStore& GlobalState() { return global_state_; }
  // Emits `value` into the side output `tag` with the window's timestamp (its MaxTimestamp()).
  template <typename U>
  void Output(const OutputTag<U>& tag, const U& value) {
    side_outputs_->Emit(tag, value, window_.MaxTimestamp());
  }

  // Operator side.
  void Bind(state::KeyedStateBackend* backend, const std::function<Timestamp()>* clock,
            const Timestamp* watermark, const SideOutputs* side_outputs) {
    window_state_.Bind(backend);
    global_state_.Bind(backend);
    global_state_.SetNamespace({});
    clock_ = clock;
    watermark_ = watermark;
    side_outputs_ = side_outputs;
  }
  void SetWindow(const W& window, std::string_view ns) {
    window_ = window;
    window_state_.SetNamespace(ns);
  }

 private:
  W window_{};
  KeyedStateStore window_state_;
  KeyedStateStore global_state_;
  const std::function<Timestamp()>* clock_ = nullptr;
  const Timestamp* watermark_ = nullptr;
  const SideOutputs* side_outputs_ = nullptr;
};

template <typename In, typename Out, typename Key, typename W>
class ProcessWindowFunction {
 public:
  using Context = WindowContext<W>;
  using InputType = In;
  using OutputType = Out;
  using KeyType = Key;
  using WindowType = W;

  virtual ~ProcessWindowFunction() = default;
  // `elements` (and views inside them) are valid only during the call. Results collected into
  // `out` carry the window's MaxTimestamp().
  virtual void Process(const Key& key, Context& context, std::span<const In> elements,
                       Collector<Out>& out) = 0;
  // The window is being dropped (end of its allowed lateness): clear its per-window state.
  virtual void Clear(Context& context) {}
};

// Flink's ProcessAllWindowFunction (non-keyed windows): no key.
template <typename In, typename Out, typename W>
class ProcessAllWindowFunction {
 public:
  using Context = WindowContext<W>;
  using InputType = In;
  using OutputType = Out;
  using WindowType = W;

  virtual ~ProcessAllWindowFunction() = default;
  virtual void Process(Context& context, std::span<const In> elements, Collector<Out>& out) = 0;
  virtual void Clear(Context& context) {}
};

namespace internal {

// Emits the (single, pre-aggregated) value as the window's result.
template <typename T, typename Key, typename W>
class PassThroughFunction final : public ProcessWindowFunction<T, T, Key, W> {
 public:
  void Process(const Key&, WindowContext<W>&, std::span<const T> elements, Collector<T>& out) override {
    for (const T& element : elements) out.Collect(element);
  }
};

// A ProcessAllWindowFunction seen as a keyed one (the key of a non-keyed window is a constant).
template <typename Function, typename Key>
class AllWindowFunctionAdapter final
    : public ProcessWindowFunction<typename Function::InputType, typename Function::OutputType, Key,
                                   typename Function::WindowType> {
 public:
  using In = typename Function::InputType;
  using Out = typename Function::OutputType;
  using W = typename Function::WindowType;
  explicit AllWindowFunctionAdapter(Function function) : function_(std::move(function)) {}
  void Process(const Key&, WindowContext<W>& context, std::span<const In> elements,
               Collector<Out>& out) override {
    function_.Process(context, elements, out);
  }
  void Clear(WindowContext<W>& context) override { function_.Clear(context); }

 private:
  Function function_;
};

// Flink's WindowFunction (apply): `void(const Key&, const W&, std::span<const In>, Collector<Out>&)`.
template <typename In, typename Out, typename Key, typename W, typename F>
class ApplyFunctionAdapter final : public ProcessWindowFunction<In, Out, Key, W> {
 public:
  explicit ApplyFunctionAdapter(F function) : function_(std::move(function)) {}
  void Process(const Key& key, WindowContext<W>& context, std::span<const In> elements,
               Collector<Out>& out) override {
    function_(key, context.window(), elements, out);
  }

 private:
  F function_;
};

template <typename Aggregate, typename In, typename Acc>
void AddToAccumulator(const Aggregate& aggregate, const In& value, Acc& accumulator) {
  if constexpr (requires(const Aggregate& function, const In& in, const Acc& acc) {
                  { function.Add(in, acc) } -> std::convertible_to<Acc>;
                }) {
    accumulator = aggregate.Add(value, std::as_const(accumulator));
  } else {
    aggregate.Add(value, accumulator);
  }
}

inline constexpr char kContentsStateName[] = "window-contents";

// Reduce(f[, process]): one ReducingState value per window.
template <typename In, typename Key, typename W, typename Reduce, typename Process>
class ReduceContents {
 public:
  using Out = typename Process::OutputType;

  ReduceContents(Reduce reduce, Process process) : reduce_(std::move(reduce)), process_(std::move(process)) {}

  void Open(state::KeyedStateBackend& backend) {
    state_ = backend.GetReducingState<In>(kContentsStateName, reduce_);
  }
  void SetNamespace(std::string_view ns) { state_->SetCurrentNamespace(ns); }
  void Add(const In& value) { state_->Add(value); }
  // Evaluates the window; false when it has no contents.
  bool Fire(const Key& key, WindowContext<W>& context, Collector<Out>& out) {
    const std::optional<In> value = state_->Get();
    if (!value.has_value()) return false;
    process_.Process(key, context, std::span<const In>(&*value, 1), out);
    return true;
  }
  // The evicting path: reduce the remaining elements (none: no result).
  void FireElements(const Key& key, WindowContext<W>& context, std::span<const In> elements,
                    Collector<Out>& out) {
    if (elements.empty()) return;
    std::optional<In> reduced(elements[0]);
    for (size_t i = 1; i < elements.size(); ++i) reduced.emplace(reduce_(*reduced, elements[i]));
    process_.Process(key, context, std::span<const In>(&*reduced, 1), out);
  }
  void Clear() { state_->Clear(); }
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources) {
    state_->MergeNamespaces(target, sources);
  }
  void ClearFunction(WindowContext<W>& context) { process_.Clear(context); }

 private:
  Reduce reduce_;
  Process process_;
  state::ReducingState<In, Reduce>* state_ = nullptr;
};

// Aggregate(aggregate[, process]): one accumulator per window.
template <typename In, typename Key, typename W, typename Aggregate, typename Process>
class AggregateContents {
 public:
  using Acc = std::decay_t<decltype(std::declval<const Aggregate&>().CreateAccumulator())>;
  using Result = std::decay_t<decltype(std::declval<const Aggregate&>().GetResult(std::declval<const Acc&>()))>;
  using Out = typename Process::OutputType;

  AggregateContents(Aggregate aggregate, Process process)
      : aggregate_(std::move(aggregate)), process_(std::move(process)) {}

  void Open(state::KeyedStateBackend& backend) {
    state_ = backend.GetAggregatingState<In, Acc, Result>(kContentsStateName, aggregate_);
  }
  void SetNamespace(std::string_view ns) { state_->SetCurrentNamespace(ns); }
  void Add(const In& value) { state_->Add(value); }
  bool Fire(const Key& key, WindowContext<W>& context, Collector<Out>& out) {
    const std::optional<Result> result = state_->Get();
    if (!result.has_value()) return false;
    process_.Process(key, context, std::span<const Result>(&*result, 1), out);
    return true;
  }
  // The evicting path: aggregate the remaining elements (as Flink, also when none remain).
  void FireElements(const Key& key, WindowContext<W>& context, std::span<const In> elements,
                    Collector<Out>& out) {
    Acc accumulator = aggregate_.CreateAccumulator();
    for (const In& element : elements) AddToAccumulator(aggregate_, element, accumulator);
    const Result result = aggregate_.GetResult(accumulator);
    process_.Process(key, context, std::span<const Result>(&result, 1), out);
  }
  void Clear() { state_->Clear(); }
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources) {
    state_->MergeNamespaces(target, sources);
  }
  void ClearFunction(WindowContext<W>& context) { process_.Clear(context); }

 private:
  Aggregate aggregate_;
  Process process_;
  state::AggregatingState<In, Acc, Result, Aggregate>* state_ = nullptr;
};

// Process(function): every element of the window in a ListState.
template <typename In, typename Key, typename W, typename Process>
class ProcessContents {
 public:
  using Out = typename Process::OutputType;

  explicit ProcessContents(Process process) : process_(std::move(process)) {}

  void Open(state::KeyedStateBackend& backend) { state_ = backend.GetListState<In>(kContentsStateName); }
  void SetNamespace(std::string_view ns) { state_->SetCurrentNamespace(ns); }
  void Add(const In& value) { state_->Add(value); }
  bool Fire(const Key& key, WindowContext<W>& context, Collector<Out>& out) {
    elements_.clear();
    state_->ForEach([this](const In& value) { elements_.push_back(value); });
    if (elements_.empty()) return false;
    process_.Process(key, context, std::span<const In>(elements_), out);
    return true;
  }
  void FireElements(const Key& key, WindowContext<W>& context, std::span<const In> elements,
                    Collector<Out>& out) {
    process_.Process(key, context, elements, out);
  }
  void Clear() { state_->Clear(); }
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources) {
    state_->MergeNamespaces(target, sources);
  }
  void ClearFunction(WindowContext<W>& context) { process_.Clear(context); }

 private:
  Process process_;
  state::ListState<In>* state_ = nullptr;
  std::vector<In> elements_;  // reused: no allocation per firing once grown
};

}  // namespace internal
}  // namespace weir::operators::window
