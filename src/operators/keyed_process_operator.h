// KeyedProcessFunction and KeyedProcessOperator (Flink's): the lowest-level function on a keyed
// stream, with keyed state and event- and processing-time timers.
//
//   class CountWithTimeout : public KeyedProcessFunction<std::string, Event, Alert> {
//     Status Open(RuntimeContext& context) override {
//       count_ = context.GetState<int64_t>("count");
//       return Status::Ok();
//     }
//     void ProcessElement(const Event& e, Context& ctx, Collector<Alert>& out) override {
//       count_->Update(count_->Value().value_or(0) + 1);
//       ctx.TimerService().RegisterEventTimeTimer(ctx.timestamp() + 60'000);
//     }
//     void OnTimer(Timestamp time, OnTimerContext& ctx, Collector<Alert>& out) override {...}
//     ValueState<int64_t>* count_ = nullptr;
//   };
//   stream.KeyBy(...).Process(CountWithTimeout());
//
// Semantics (Flink's KeyedProcessOperator):
// * State handles obtained in Open() are scoped to the current key: in ProcessElement the key of
//   the record, in OnTimer the key of the timer.
// * Timers are per key: registering one that exists (same key, same time, same domain) is a
//   no-op; deleting one that does not exist is a no-op. Event-time timers fire when the watermark
//   reaches their time (all of them before the watermark is passed on), in timestamp order;
//   processing-time timers fire when the wall clock reaches their time, while the job runs
//   (pending ones do not fire at end of input).
// * Outputs: a record emitted in ProcessElement carries the input record's timestamp; in OnTimer
//   an event-time timer's output carries the timer's time and a processing-time timer's output
//   has no timestamp (kMinTimestamp). Side outputs (ctx.Output(tag, value)) carry the record's
//   timestamp, or the timer's time in OnTimer (both domains).
// * ctx.timestamp() is the record's timestamp (kMinTimestamp when it has none), or the timer's
//   time in OnTimer.
//
// The function is copied into each parallel subtask and held by value: its calls are direct.
// Everything runs on the subtask's task thread.
//
// Prefetching (weir's, not Flink's): a function whose state outgrows the CPU caches waits for
// each record's state twice, for the index slot and then for the entry it names (about 100 ns
// each from memory). A function may declare, next to ProcessElement,
//   void PrefetchElement(const In& value, PrefetchContext& context) {
//     context.Prefetch(*count_);                      // under the value's key, current namespace
//     context.Prefetch(*orders_, OrderBytes(value));  // or an explicit namespace
//   }
// naming the entries ProcessElement(value) will read or write. For the records of a batch (a
// source's or an exchange's group of up to 64) the operator then calls PrefetchElement twice
// per record, with the record's key current and ahead of its ProcessElement: the slots stage
// 2 * kPrefetchDistance records ahead, the entries stage kPrefetchDistance records ahead, so
// the loads arrive while earlier records are processed. It is a hint: it must not change state
// (reading is allowed, and sees the state before the records between), and naming an entry the
// element does not touch costs only the load. Not virtual, found at compile time: a function
// without it pays nothing, and its records take Collect one at a time as before.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "operators/keyed_operator.h"

namespace weir::operators {

enum class TimeDomain { kEventTime, kProcessingTime };

// What a keyed function sees of its subtask in Open(): where it runs and its keyed state
// (Flink's RuntimeContext with getState & co.). State objects live as long as the operator and
// are scoped to the current key when used. A name asked again returns the same state; asking a
// name again with another kind or type is a programming error (CHECK).
class RuntimeContext {
 public:
  RuntimeContext(const OperatorContext* context, state::KeyedStateBackend* backend)
      : context_(context), backend_(backend) {}

  int subtask_index() const { return context_->subtask_index; }
  int parallelism() const { return context_->parallelism; }
  int max_parallelism() const { return context_->max_parallelism; }
  const std::string& task_name() const { return context_->task_name; }

  template <typename T>
  state::ValueState<T>* GetState(const std::string& name) {
    return backend_->GetValueState<T>(name);
  }
  template <typename T>
  state::ListState<T>* GetListState(const std::string& name) {
    return backend_->GetListState<T>(name);
  }
  template <typename K, typename V>
  state::MapState<K, V>* GetMapState(const std::string& name) {
    return backend_->GetMapState<K, V>(name);
  }
  // `T reduce(const T& accumulated, const T& value)`.
  template <typename T, typename Reduce>
  state::ReducingState<T, Reduce>* GetReducingState(const std::string& name, Reduce reduce) {
    return backend_->GetReducingState<T>(name, std::move(reduce));
  }
  // `aggregate`: see state::AggregatingState (CreateAccumulator / Add / GetResult / Merge).
  template <typename In, typename Acc, typename Out, typename Aggregate>
  state::AggregatingState<In, Acc, Out, Aggregate>* GetAggregatingState(const std::string& name,
                                                                         Aggregate aggregate) {
    return backend_->GetAggregatingState<In, Acc, Out>(name, std::move(aggregate));
  }

 private:
  const OperatorContext* context_;
  state::KeyedStateBackend* backend_;
};

// The timers of the current key (Flink's TimerService), handed out by the contexts.
class KeyedTimerService {
 public:
  void RegisterEventTimeTimer(Timestamp time) { timers_->RegisterEventTimeTimer(Key(), {}, time); }
  void DeleteEventTimeTimer(Timestamp time) { timers_->DeleteEventTimeTimer(Key(), {}, time); }
  void RegisterProcessingTimeTimer(Timestamp time) {
    timers_->RegisterProcessingTimeTimer(Key(), {}, time);
  }
  void DeleteProcessingTimeTimer(Timestamp time) {
    timers_->DeleteProcessingTimeTimer(Key(), {}, time);
  }
  Timestamp CurrentWatermark() const { return timers_->current_watermark(); }
  Timestamp CurrentProcessingTime() const { return WallMillis(); }

 private:
  template <typename, typename, typename, typename>
  friend class KeyedProcessOperator;
  const state::CurrentKey& Key() const { return backend_->current_key(); }
  state::TimerService* timers_ = nullptr;
  const state::KeyedStateBackend* backend_ = nullptr;
};

template <typename K, typename In, typename Out>
class KeyedProcessFunction {
 public:
  using KeyType = K;
  using InputType = In;
  using OutputType = Out;

  class Context {
   public:
    // The current record's timestamp (kMinTimestamp when it has none); the timer's time in OnTimer.
    Timestamp timestamp() const { return timestamp_; }
    K GetCurrentKey() const {
      const std::string_view bytes = backend_->current_key().bytes;
      // A string key is its own bytes (KeyEncoder); std::string converts only explicitly.
      if constexpr (std::is_constructible_v<K, std::string_view> &&
                    std::is_convertible_v<const K&, std::string_view>) {
        return K(bytes);
      } else {
        return DecodeKey<K>(bytes);
      }
    }
    KeyedTimerService& TimerService() { return *timer_service_; }
    // Emits `value` into the side output `tag` with timestamp(). Dropped when nobody consumes it.
    template <typename U>
    void Output(const OutputTag<U>& tag, const U& value) {
      side_outputs_->Emit(tag, value, timestamp_);
    }

   private:
    template <typename, typename, typename, typename>
    friend class KeyedProcessOperator;
    Timestamp timestamp_ = kMinTimestamp;
    const state::KeyedStateBackend* backend_ = nullptr;
    KeyedTimerService* timer_service_ = nullptr;
    const SideOutputs* side_outputs_ = nullptr;
  };

  class OnTimerContext : public Context {
   public:
    enum TimeDomain TimeDomain() const { return domain_; }

   private:
    template <typename, typename, typename, typename>
    friend class KeyedProcessOperator;
    enum TimeDomain domain_ = TimeDomain::kEventTime;
  };

  // What PrefetchElement names the element's state with (see the top of this file).
  class PrefetchContext {
   public:
    // ProcessElement will touch `state` under the element's key and the state's current
    // namespace, or `ns`. The namespace's bytes are read during the call only.
    void Prefetch(const state::StateBase& state) const { state.Prefetch(stage_, state.current_namespace()); }
    void Prefetch(const state::StateBase& state, std::string_view ns) const { state.Prefetch(stage_, ns); }

   private:
    template <typename, typename, typename, typename>
    friend class KeyedProcessOperator;
    int stage_ = 0;
  };

  virtual ~KeyedProcessFunction() = default;
  virtual Status Open(RuntimeContext& context) { return Status::Ok(); }
  virtual void ProcessElement(const In& value, Context& context, Collector<Out>& out) = 0;
  virtual void OnTimer(Timestamp timestamp, OnTimerContext& context, Collector<Out>& out) {}
  virtual void Close() {}
};

// Runs the KeyedProcessFunction<K, In, Out> subclass `Function` on records keyed by
// `KeySelector`. REQUIRES: the selector's key and K encode alike (the same type, or both strings).
template <typename In, typename Out, typename KeySelector, typename Function>
class KeyedProcessOperator final : public KeyedOneInputOperator<In, Out, KeySelector> {
  using Base = KeyedOneInputOperator<In, Out, KeySelector>;
  using K = typename Function::KeyType;
  using SelectedKey = typename Base::Key;
  static_assert(std::is_same_v<K, SelectedKey> ||
                    (std::is_convertible_v<const K&, std::string_view> &&
                     std::is_convertible_v<const SelectedKey&, std::string_view>),
                "the function's key type must be the key selector's");
  static_assert(std::is_base_of_v<KeyedProcessFunction<K, In, Out>, Function>,
                "Function must derive from KeyedProcessFunction<K, In, Out>");

 public:
  // How many records ahead of the one processed PrefetchElement's entry stage runs (its slot
  // stage twice as far): the processing of that many records covers a load from memory.
  static constexpr size_t kPrefetchDistance = 4;

  KeyedProcessOperator(KeySelector key_selector, Function function)
      : Base(std::move(key_selector)), function_(std::move(function)) {}
  KeyedProcessOperator(const KeyedProcessOperator&) = delete;
  KeyedProcessOperator& operator=(const KeyedProcessOperator&) = delete;

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(Base::Open(context));
    timer_service_.timers_ = &this->timers();
    timer_service_.backend_ = &this->backend();
    for (auto* ctx : {static_cast<typename Fn::Context*>(&context_),
                      static_cast<typename Fn::Context*>(&timer_context_)}) {
      ctx->backend_ = &this->backend();
      ctx->timer_service_ = &timer_service_;
      ctx->side_outputs_ = &this->side_outputs();
    }
    RuntimeContext runtime_context(context, &this->backend());
    RETURN_IF_ERROR(function_.Open(runtime_context));
    this->CheckState();
    return Status::Ok();
  }
  void Close() override {
    function_.Close();
    Base::Close();
  }
  void SetOutput(OutputBase* output) override {
    Base::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }

  void Collect(const In& value, Timestamp timestamp) override {
    this->SetCurrentKeyOf(value);
    context_.timestamp_ = timestamp;
    collector_.set_timestamp(timestamp);
    function_.ProcessElement(value, context_, collector_);
    this->CheckState();
  }

  // A batch: Collect for each record in order, with the state prefetched ahead when the function
  // declares PrefetchElement (see the top of this file): a software pipeline over the batch that
  // starts record i + 2 * kPrefetchDistance's slots and record i + kPrefetchDistance's entries
  // before it processes record i, so each load has the processing of kPrefetchDistance records
  // to arrive in. (Stages within a small group, as the window operator's are, proved too close
  // for a record costing a few hundred nanoseconds: the entry stage waited for the slots.)
  void CollectBatch(std::span<const In> values, std::span<const Timestamp> timestamps) override {
    if constexpr (!kPrefetches) {
      for (size_t i = 0; i < values.size(); ++i) Collect(values[i], timestamps[i]);
    } else {
      const size_t n = values.size();
      typename Fn::PrefetchContext prefetch;
      const auto stage = [&](int which, size_t i) {
        prefetch.stage_ = which;
        this->SetCurrentKeyOf(values[i]);
        function_.PrefetchElement(values[i], prefetch);
      };
      constexpr size_t d = kPrefetchDistance;
      for (size_t i = 0; i < std::min(n, 2 * d); ++i) stage(0, i);
      for (size_t i = 0; i < std::min(n, d); ++i) stage(1, i);
      for (size_t i = 0; i < n; ++i) {
        if (i + 2 * d < n) stage(0, i + 2 * d);
        if (i + d < n) stage(1, i + d);
        Collect(values[i], timestamps[i]);
      }
    }
  }

 protected:
  void OnEventTime(const state::FiredTimer& timer) override {
    collector_.set_timestamp(timer.timestamp);
    Fire(timer.timestamp, TimeDomain::kEventTime);
  }
  void OnProcessingTimer(const state::FiredTimer& timer) override {
    collector_.set_timestamp(kMinTimestamp);
    Fire(timer.timestamp, TimeDomain::kProcessingTime);
  }

 private:
  using Fn = KeyedProcessFunction<K, In, Out>;
  static constexpr bool kPrefetches =
      requires(Function& f, const In& value, typename Fn::PrefetchContext& context) {
        f.PrefetchElement(value, context);
      };

  void Fire(Timestamp time, TimeDomain domain) {
    timer_context_.timestamp_ = time;
    timer_context_.domain_ = domain;
    function_.OnTimer(time, timer_context_, collector_);
  }

  Function function_;
  KeyedTimerService timer_service_;
  typename Fn::Context context_;
  typename Fn::OnTimerContext timer_context_;
  Collector<Out> collector_{nullptr};
};

}  // namespace weir::operators
