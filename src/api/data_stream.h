// DataStream<T> and KeyedStream<T, KeySelector>: Flink's DataStream API in C++.
//
//   auto counts = env.ReadTextFile(path)
//       .FlatMap([](std::string_view line, Collector<std::pair<std::string_view, int64_t>>& out) {...})
//       .KeyBy([](const auto& pair) { return pair.first; })
//       .Sum<1>();
//   counts.Print();
//   env.Execute("WordCount");
//
// A stream is a handle on one vertex of the job under construction; transformations add vertices
// and return new handles, and nothing runs until the environment's Execute(). User functions are
// copied into each parallel subtask. Records are passed to them by const reference and, with views
// inside (std::string_view), are valid only during the call -- Flink's object-reuse contract.
// A record type that crosses an exchange (keyBy, rebalance, a parallelism change) needs a
// serde::Codec: plain structs, strings, pairs and tuples of them have one.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "api/function_traits.h"
#include "api/job_builder.h"
#include "connectors/file_sink.h"
#include "connectors/print_sink.h"
#include "connectors/text_file_sink.h"
#include "operators/process_operator.h"
#include "operators/rolling_aggregate.h"
#include "operators/stateless.h"
#include "runtime/typed_exchange.h"
#include "serde/csv.h"
#include "serde/json.h"
#include "serde/row_codec.h"

namespace weir::api {

using operators::Collector;
using operators::OutputTag;
using operators::ProcessFunction;

template <typename T, typename KeySelector>
class KeyedStream;
template <typename L, typename R, bool kJoin>
class TwoInputStreams;

namespace internal {

template <typename T>
ExchangeMaker MakeExchange() {
  return [](runtime::Partitioning partitioning) -> std::shared_ptr<const runtime::ExchangeFactory> {
    if constexpr (serde::Encodable<T>) {
      return std::make_shared<runtime::TypedExchangeFactory<T>>(partitioning);
    } else {
      return nullptr;
    }
  };
}

template <typename T, typename KeySelector>
ExchangeMaker MakeKeyedExchange(KeySelector key_selector) {
  return [key_selector](runtime::Partitioning) -> std::shared_ptr<const runtime::ExchangeFactory> {
    return std::make_shared<runtime::TypedExchangeFactory<T, KeySelector>>(
        runtime::Partitioning::kKeyGroups, key_selector);
  };
}

template <typename T, typename Make>
std::shared_ptr<const operators::OperatorFactory> Factory(Make make) {
  return std::shared_ptr<const operators::OperatorFactory>(operators::MakeOperatorFactory(std::move(make)));
}

// A callable as a ProcessFunction<In, Out>.
template <typename In, typename Out, typename F>
class CallableProcessFunction final : public ProcessFunction<In, Out> {
 public:
  explicit CallableProcessFunction(F function) : function_(std::move(function)) {}
  void ProcessElement(const In& value, typename ProcessFunction<In, Out>::Context& context,
                      Collector<Out>& out) override {
    function_(value, context, out);
  }

 private:
  F function_;
};

struct SumOf {
  template <typename V>
  V operator()(const V& accumulated, const V& value) const { return accumulated + value; }
};
struct MinOf {
  template <typename V>
  V operator()(const V& accumulated, const V& value) const { return value < accumulated ? value : accumulated; }
};
struct MaxOf {
  template <typename V>
  V operator()(const V& accumulated, const V& value) const { return accumulated < value ? value : accumulated; }
};

// Flink's sum/min/max(field) on a tuple: field `Field` aggregated with `Combine`, the other
// fields kept from the key's first record. When the field is a plain number it is updated in
// place in the stored bytes (RollingAggregateOperator's ApplyInPlace hook).
template <typename T, size_t Field, typename Combine>
struct FieldAggregator {
  using FieldType = std::tuple_element_t<Field, T>;

  T operator()(const T& accumulated, const T& value) const {
    T out = accumulated;
    std::get<Field>(out) = Combine()(std::get<Field>(accumulated), std::get<Field>(value));
    return out;
  }
  void ApplyInPlace(std::byte* stored, const T& value) const
    requires std::is_arithmetic_v<FieldType>
  {
    std::byte* field = stored + serde::MemberOffset<T, Field>(stored);
    FieldType current;
    std::memcpy(&current, field, sizeof(current));
    current = Combine()(current, std::get<Field>(value));
    std::memcpy(field, &current, sizeof(current));
  }
};

// Flink's sum / min / max on a struct member: the member combined with `Combine`, the other
// members kept from the first record.
template <typename T, typename M, typename Combine>
struct MemberAggregator {
  M T::*field;
  T operator()(const T& accumulated, const T& value) const {
    T out = accumulated;
    out.*field = Combine()(accumulated.*field, value.*field);
    return out;
  }
};

// Flink's minBy / maxBy on a struct member: the record holding the extreme, the first on ties.
template <typename T, typename M, bool kMax>
struct MemberSelector {
  M T::*field;
  T operator()(const T& accumulated, const T& value) const {
    if constexpr (kMax) {
      return accumulated.*field < value.*field ? value : accumulated;
    } else {
      return value.*field < accumulated.*field ? value : accumulated;
    }
  }
};

// The same on tuple field `Field`.
template <typename T, size_t Field, bool kMax>
struct FieldSelector {
  T operator()(const T& accumulated, const T& value) const {
    if constexpr (kMax) {
      return std::get<Field>(accumulated) < std::get<Field>(value) ? value : accumulated;
    } else {
      return std::get<Field>(value) < std::get<Field>(accumulated) ? value : accumulated;
    }
  }
};

}  // namespace internal

// The sink end of a stream (Flink's DataStreamSink): its own parallelism, name and slot group.
class DataStreamSink {
 public:
  DataStreamSink(std::shared_ptr<internal::JobBuilder> builder, int vertex)
      : builder_(std::move(builder)), vertex_(vertex) {}
  DataStreamSink& SetParallelism(int parallelism) {
    builder_->vertex(vertex_).parallelism = parallelism;
    builder_->set_parallelism_fixed(vertex_);
    return *this;
  }
  DataStreamSink& Name(std::string name) {
    builder_->vertex(vertex_).name = std::move(name);
    return *this;
  }
  DataStreamSink& SlotSharingGroup(std::string group) {
    builder_->vertex(vertex_).slot_sharing_group = std::move(group);
    return *this;
  }
  int vertex_id() const { return vertex_; }

 private:
  std::shared_ptr<internal::JobBuilder> builder_;
  int vertex_;
};

template <typename T>
class DataStream {
 public:
  using ValueType = T;

  DataStream(std::shared_ptr<internal::JobBuilder> builder, int vertex)
      : builder_(std::move(builder)), vertex_(vertex) {}

  // --- Transformations.

  // `U f(const T&)`: one output per input.
  template <typename F>
  auto Map(F function, std::string name = "Map") const {
    using U = std::decay_t<std::invoke_result_t<F&, const T&>>;
    return Then<U>(std::move(name), [function](int) {
      return std::make_unique<operators::MapOperator<T, U, F>>(function);
    });
  }

  // `bool f(const T&)`: keeps the records for which it is true.
  template <typename F>
  DataStream<T> Filter(F function, std::string name = "Filter") const {
    return Then<T>(std::move(name), [function](int) {
      return std::make_unique<operators::FilterOperator<T, F>>(function);
    });
  }

  // `void f(const T&, Collector<U>&)`: zero or more outputs per input. U is deduced from a
  // non-generic function; give it explicitly (FlatMap<U>(...)) for a generic lambda.
  template <typename U = void, typename F>
  auto FlatMap(F function, std::string name = "Flat Map") const {
    using Out = std::conditional_t<std::is_void_v<U>, internal::FlatMapOutput<F>, U>;
    return Then<Out>(std::move(name), [function](int) {
      return std::make_unique<operators::FlatMapOperator<T, Out, F>>(function);
    });
  }

  // A ProcessFunction<T, U> subclass, copied into each subtask; or a callable
  // `void(const T&, ProcessFunction<T, U>::Context&, Collector<U>&)` with U given explicitly
  // (Process<U>(...)).
  template <typename U = void, typename Function>
  auto Process(Function function, std::string name = "Process") const {
    if constexpr (std::is_void_v<U>) {
      using Out = internal::ProcessOutput<Function>;
      return Then<Out>(std::move(name), [function](int) {
        return std::make_unique<operators::ProcessOperator<T, Out, Function>>(function);
      });
    } else {
      using Adapter = internal::CallableProcessFunction<T, U, Function>;
      return Then<U>(std::move(name), [function](int) {
        return std::make_unique<operators::ProcessOperator<T, U, Adapter>>(Adapter(function));
      });
    }
  }

  // Flink's project(fields...) on tuples: a tuple of the chosen fields, in the given order.
  template <size_t... Fields>
  auto Project(std::string name = "Projection") const {
    return Map([](const T& value) { return std::make_tuple(std::get<Fields>(value)...); },
               std::move(name));
  }

  // Event time: assigns timestamps and generates watermarks with a WatermarkStrategy<T> (Flink's
  // assignTimestampsAndWatermarks). Defined in api/watermarks.h.
  template <typename Strategy>
  DataStream<T> AssignTimestampsAndWatermarks(Strategy strategy) const;

  // Non-keyed windows over the whole stream, evaluated at parallelism 1 (Flink's windowAll /
  // countWindowAll). Defined in api/windowed_stream.h.
  template <typename Assigner>
  auto WindowAll(Assigner assigner) const;
  auto CountWindowAll(int64_t size) const;
  auto CountWindowAll(int64_t size, int64_t slide) const;

  // Flink's window join and coGroup with another stream:
  //   a.Join(b).Where(ka).EqualTo(kb).Window(assigner).Apply<Out>(f). Defined in api/join.h.
  template <typename U>
  TwoInputStreams<T, U, true> Join(const DataStream<U>& other) const;
  template <typename U>
  TwoInputStreams<T, U, false> CoGroup(const DataStream<U>& other) const;

  // Partitions by key: `K f(const T&)` where K has a serde::Codec.
  template <typename F>
  KeyedStream<T, F> KeyBy(F key_selector) const {
    return KeyedStream<T, F>(*this, std::move(key_selector));
  }
  // Partitions by tuple field `Field` (Flink's keyBy(int)).
  template <size_t Field>
  auto KeyBy() const {
    return KeyBy([](const T& value) { return std::get<Field>(value); });
  }

  // Explicit partitioning (Flink's rebalance / broadcast / forward / global).
  DataStream<T> Rebalance() const { return Exchange(runtime::Partitioning::kRebalance, "Rebalance"); }
  DataStream<T> Broadcast() const { return Exchange(runtime::Partitioning::kBroadcast, "Broadcast"); }
  DataStream<T> Forward() const { return Exchange(runtime::Partitioning::kForward, "Forward"); }
  DataStream<T> Global() const {
    DataStream<T> result = Exchange(runtime::Partitioning::kGlobal, "Global");
    return result.SetParallelism(1);
  }

  // The records of this stream and of `others`, in no particular order across them.
  template <typename... Others>
  DataStream<T> Union(const Others&... others) const {
    const int vertex = builder_->AddVertex(
        "Union", internal::Factory<T>([](int) { return std::make_unique<operators::IdentityOperator<T>>(); }),
        std::make_shared<runtime::TypedFanOutFactory<T>>(), false);
    builder_->AddEdge(vertex_, vertex, std::nullopt, internal::MakeExchange<T>());
    (builder_->AddEdge(others.vertex_id(), vertex, std::nullopt, internal::MakeExchange<T>()), ...);
    return DataStream<T>(builder_, vertex);
  }

  // The records the producing operator emitted into the side output `tag` (late window data,
  // a process function's ctx.Output(tag, value)), as a stream at the producer's parallelism.
  template <typename U>
  DataStream<U> GetSideOutput(const operators::OutputTag<U>& tag) const {
    builder_->AddSideOutput(vertex_, tag.id(), std::make_shared<runtime::TypedFanOutFactory<U>>());
    const int vertex = builder_->AddVertex(
        "Side Output " + tag.id(),
        internal::Factory<U>([](int) { return std::make_unique<operators::IdentityOperator<U>>(); }),
        std::make_shared<runtime::TypedFanOutFactory<U>>(), false);
    builder_->set_follows(vertex, vertex_);
    builder_->AddEdge(vertex_, vertex, std::nullopt, internal::MakeExchange<U>(), tag.id());
    return DataStream<U>(builder_, vertex);
  }

  // --- Settings of the operator that produces this stream.
  DataStream<T>& SetParallelism(int parallelism) {
    builder_->vertex(vertex_).parallelism = parallelism;
    builder_->set_parallelism_fixed(vertex_);
    return *this;
  }
  DataStream<T>& Name(std::string name) {
    builder_->vertex(vertex_).name = std::move(name);
    return *this;
  }
  // Operators in different slot-sharing groups start on different workers (cores).
  DataStream<T>& SlotSharingGroup(std::string group) {
    builder_->vertex(vertex_).slot_sharing_group = std::move(group);
    return *this;
  }
  int GetParallelism() const { return builder_->vertex(vertex_).parallelism; }

  // --- Sinks. Each returns the sink (Flink's DataStreamSink) for its own settings, e.g.
  // stream.Print().SetParallelism(1).
  DataStreamSink Print(std::string identifier = "") { return AddPrint(false, std::move(identifier)); }
  DataStreamSink PrintToErr(std::string identifier = "") { return AddPrint(true, std::move(identifier)); }
  // Text lines (Flink's toString of each record) into `path`; see connectors::TextFileSink.
  DataStreamSink WriteAsText(std::string path) {
    return WriteAsText(std::move(path), connectors::ToStringFormat());
  }
  // The same with a custom line format `void(std::string& out, const T&)`.
  template <typename Format>
  DataStreamSink WriteAsText(std::string path, Format format) {
    return Sink("Sink: Text File", [path, format](int) {
      return std::make_unique<connectors::TextFileSink<T, Format>>(path, format);
    });
  }
  // Rows as CSV lines (Flink's 'csv' format) or JSON objects, one per line.
  DataStreamSink WriteAsCsv(std::string path, serde::Schema schema, serde::CsvOptions options = {})
    requires std::is_same_v<T, serde::RowView>
  {
    auto encoder = std::make_shared<const serde::CsvRowEncoder>(std::move(schema), std::move(options));
    return WriteAsText(std::move(path), [encoder](std::string& out, const serde::RowView& row) {
      encoder->Encode(row, out);
    });
  }
  DataStreamSink WriteAsJson(std::string path, serde::Schema schema)
    requires std::is_same_v<T, serde::RowView>
  {
    auto encoder = std::make_shared<const serde::JsonRowEncoder>(std::move(schema));
    return WriteAsText(std::move(path), [encoder](std::string& out, const serde::RowView& row) {
      encoder->Encode(row, out);
    });
  }
  // Exactly-once part files in directory `dir` (Flink's FileSink.forRowFormat(dir, encoder) +
  // sinkTo): visible files are committed when a checkpoint completes, and at the end of a bounded
  // job; see connectors::FileSink. The default format is Flink's toString of each record.
  DataStreamSink SinkToFiles(std::string dir) { return SinkToFiles(std::move(dir), connectors::ToStringFormat()); }
  // The same with a custom line format `void(std::string& out, const T&)`, and the size at which
  // a part file is closed and the next one started.
  template <typename Format>
  DataStreamSink SinkToFiles(std::string dir, Format format,
                             int64_t rolling_bytes = connectors::PartFileWriter::kDefaultRollingBytes) {
    return Sink("Sink: File Sink", [dir, format, rolling_bytes](int) {
      return std::make_unique<connectors::FileSink<T, Format>>(dir, format, rolling_bytes);
    });
  }
  // Discards every record (Flink's DiscardingSink), e.g. for benchmarks.
  DataStreamSink Discard() {
    return Sink("Sink: Blackhole", [](int) { return std::make_unique<connectors::BlackholeSink<T>>(); });
  }
  // A custom sink: `make(subtask) -> std::unique_ptr<operators::SinkOperator<T>>`.
  template <typename Make>
  DataStreamSink SinkTo(std::string name, Make make) {
    return Sink(std::move(name), std::move(make));
  }

  int vertex_id() const { return vertex_; }
  const std::shared_ptr<internal::JobBuilder>& builder() const { return builder_; }

  // Adds an operator made by `make(subtask)` that consumes this stream and produces U.
  template <typename U, typename Make>
  DataStream<U> Then(std::string name, Make make,
                     std::optional<runtime::Partitioning> partitioning = std::nullopt,
                     internal::ExchangeMaker exchange = nullptr) const {
    const int vertex = builder_->AddVertex(std::move(name), internal::Factory<U>(std::move(make)),
                                           std::make_shared<runtime::TypedFanOutFactory<U>>(), false);
    builder_->AddEdge(vertex_, vertex, partitioning,
                      exchange ? std::move(exchange) : internal::MakeExchange<T>());
    return DataStream<U>(builder_, vertex);
  }

 private:
  DataStream<T> Exchange(runtime::Partitioning partitioning, std::string name) const {
    return Then<T>(std::move(name), [](int) { return std::make_unique<operators::IdentityOperator<T>>(); },
                   partitioning);
  }

  template <typename Make>
  DataStreamSink Sink(std::string name, Make make) const {
    const int vertex = builder_->AddVertex(std::move(name), internal::Factory<T>(std::move(make)),
                                           nullptr, false);
    builder_->AddEdge(vertex_, vertex, std::nullopt, internal::MakeExchange<T>());
    return DataStreamSink(builder_, vertex);
  }

  DataStreamSink AddPrint(bool to_stderr, std::string identifier) {
    return Sink(to_stderr ? "Sink: Print to Std. Err" : "Sink: Print to Std. Out",
                [to_stderr, identifier](int) {
                  return std::make_unique<connectors::PrintSink<T>>(to_stderr, identifier);
                });
  }

  std::shared_ptr<internal::JobBuilder> builder_;
  int vertex_;
};

// A stream partitioned by key. Rolling aggregations keep one value per key in keyed state and
// emit the updated value for every record, as Flink's KeyedStream does.
template <typename T, typename KeySelector>
class KeyedStream {
 public:
  KeyedStream(DataStream<T> input, KeySelector key_selector)
      : input_(std::move(input)), key_selector_(std::move(key_selector)) {}

  // Windows per key (Flink's window / countWindow). Defined in api/windowed_stream.h.
  template <typename Assigner>
  auto Window(Assigner assigner) const;
  auto CountWindow(int64_t size) const;
  auto CountWindow(int64_t size, int64_t slide) const;

  // Flink's interval join with another keyed stream of the same key type:
  //   left.IntervalJoin(right).Between(-2ms, 1s).Process<Out>(f). Defined in api/join.h.
  template <typename U, typename OtherKeySelector>
  auto IntervalJoin(const KeyedStream<U, OtherKeySelector>& other) const;

  // A KeyedProcessFunction subclass with keyed state and timers. Defined in api/keyed_process.h.
  template <typename Function>
  auto Process(Function function, std::string name = "KeyedProcess") const;

  // `T reduce(const T& accumulated, const T& value)`.
  template <typename F>
  DataStream<T> Reduce(F reducer, std::string name = "Keyed Reduce") const {
    KeySelector key_selector = key_selector_;
    return input_.template Then<T>(
        std::move(name),
        [key_selector, reducer, name](int) {
          return std::make_unique<operators::RollingAggregateOperator<T, KeySelector, F>>(
              key_selector, reducer, name);
        },
        runtime::Partitioning::kKeyGroups, internal::MakeKeyedExchange<T>(key_selector_));
  }

  // Flink's sum / min / max (the field aggregated, other fields from the key's first record) and
  // minBy / maxBy (the whole record holding the extreme; the first one on ties), for tuple field
  // `Field`.
  template <size_t Field>
  DataStream<T> Sum() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::SumOf>(), "Keyed Aggregation");
  }
  template <size_t Field>
  DataStream<T> Min() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::MinOf>(), "Keyed Aggregation");
  }
  template <size_t Field>
  DataStream<T> Max() const {
    return Reduce(internal::FieldAggregator<T, Field, internal::MaxOf>(), "Keyed Aggregation");
  }
  template <size_t Field>
  DataStream<T> MinBy() const {
    return Reduce(internal::FieldSelector<T, Field, false>(), "Keyed Aggregation");
  }
  template <size_t Field>
  DataStream<T> MaxBy() const {
    return Reduce(internal::FieldSelector<T, Field, true>(), "Keyed Aggregation");
  }

  // The same for a member of a struct record: Sum(&Tick::volume).
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Sum(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::SumOf>{field}, "Keyed Aggregation");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Min(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::MinOf>{field}, "Keyed Aggregation");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> Max(M U::*field) const {
    return Reduce(internal::MemberAggregator<T, M, internal::MaxOf>{field}, "Keyed Aggregation");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MinBy(M U::*field) const {
    return Reduce(internal::MemberSelector<T, M, false>{field}, "Keyed Aggregation");
  }
  template <typename M, typename U = T>
    requires std::is_class_v<U>
  DataStream<T> MaxBy(M U::*field) const {
    return Reduce(internal::MemberSelector<T, M, true>{field}, "Keyed Aggregation");
  }

  const KeySelector& key_selector() const { return key_selector_; }
  const DataStream<T>& input() const { return input_; }

 private:
  DataStream<T> input_;
  KeySelector key_selector_;
};

}  // namespace weir::api

// The definitions of the window, join, event-time and keyed-process transformations declared above.
#include "api/join.h"
#include "api/keyed_process.h"
#include "api/watermarks.h"
#include "api/windowed_stream.h"
