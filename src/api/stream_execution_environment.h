// StreamExecutionEnvironment: where a job is assembled and run (Flink's class of that name).
//
//   StreamExecutionEnvironment env(config);   // config: Flink keys, e.g. from -D options
//   env.SetParallelism(2);
//   env.ReadTextFile("in.txt").FlatMap(...).KeyBy(...).Sum<1>().Print();
//   Result<JobResult> result = env.Execute("WordCount");
//
// Execute() blocks until the job ends. RequestStop() (any thread, or a signal handler) makes the
// running job's sources end their input, so it drains and ends cleanly.
#pragma once

#include <atomic>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "api/data_stream.h"
#include "connectors/collection_source.h"
#include "connectors/generator_source.h"
#include "connectors/row_file_source.h"
#include "connectors/socket_text_source.h"
#include "connectors/text_file_source.h"
#include "operators/timestamps_and_watermarks.h"
#include "runtime/job_runner.h"

namespace weir::api {

using runtime::JobResult;

class StreamExecutionEnvironment {
 public:
  explicit StreamExecutionEnvironment(Configuration config = {});

  // --- Settings (Flink's setters; each is also a configuration key).
  StreamExecutionEnvironment& SetParallelism(int parallelism);
  int GetParallelism() const { return builder_->default_parallelism(); }
  StreamExecutionEnvironment& SetMaxParallelism(int max_parallelism);
  // execution.buffer-timeout in milliseconds; 0 flushes every record (low latency).
  StreamExecutionEnvironment& SetBufferTimeout(int64_t millis);
  const Configuration& GetConfig() const { return config_; }
  // Sets a configuration key (as -D key=value would).
  Status Configure(std::string_view key, std::string_view value);

  // --- Sources.
  // The lines of the files, split over the parallel readers.
  DataStream<std::string_view> ReadTextFile(std::string path) {
    return ReadTextFiles({std::move(path)});
  }
  DataStream<std::string_view> ReadTextFiles(std::vector<std::string> paths);
  // Rows of `schema` from CSV files (RFC 4180; Flink's 'csv' format) or JSON-lines files (one
  // object per line; Flink's 'json' format). A malformed line fails the job with its path, line
  // and column, unless csv.ignore-parse-errors / json.ignore-parse-errors is set: then it is
  // skipped and counted.
  DataStream<serde::RowView> ReadCsvFile(std::vector<std::string> paths, serde::Schema schema);
  DataStream<serde::RowView> ReadJsonLines(std::vector<std::string> paths, serde::Schema schema);
  // Lines from a TCP server; non-parallel; ends when the server closes the connection.
  DataStream<std::string_view> SocketTextStream(std::string host, int port);
  // from, from+1, ..., to (inclusive), split over the parallel readers.
  DataStream<int64_t> FromSequence(int64_t from, int64_t to);

  // The elements in order; non-parallel.
  template <typename T>
  DataStream<T> FromCollection(std::vector<T> elements) {
    auto shared = std::make_shared<const std::vector<T>>(std::move(elements));
    return AddSource<T>("Collection Source", [shared](int) {
      return std::make_unique<connectors::CollectionSource<T>>(shared);
    }, 1);
  }
  template <typename T>
  DataStream<T> FromElements(std::initializer_list<T> elements) {
    return FromCollection(std::vector<T>(elements));
  }

  // `count` records made by `generator(int64_t index)`, optionally paced to
  // `records_per_second` for the whole source (Flink's DataGeneratorSource).
  template <typename Generator>
  auto FromGenerator(int64_t count, Generator generator, double records_per_second = 0,
                     std::string name = "Generator Source") {
    using T = std::decay_t<std::invoke_result_t<Generator&, int64_t>>;
    return AddSource<T>(std::move(name), [generator, count, records_per_second](int) {
      return std::make_unique<connectors::GeneratorSource<T, Generator>>(generator, count,
                                                                          records_per_second);
    });
  }

  // --- Sources with event time (Flink's env.fromSource(source, watermarkStrategy, name)).
  // The source's records get timestamps from `strategy`'s assigner and its watermarks come from
  // one generator per source split (file splits; other sources are one split per subtask), the
  // minimum over the splits being read; see operators/timestamps_and_watermarks.h.
  template <typename T, typename Make, operators::WatermarkStrategyFor<T> Strategy>
  DataStream<T> FromSource(std::string name, Make make, Strategy strategy, int parallelism = 0) {
    return AddSource<T>(std::move(name), [make, strategy](int subtask) {
      return std::make_unique<operators::SourceWithWatermarks<T, Strategy>>(make(subtask), strategy);
    }, parallelism);
  }
  template <operators::WatermarkStrategyFor<std::string_view> Strategy>
  DataStream<std::string_view> ReadTextFile(std::string path, Strategy strategy) {
    return ReadTextFiles({std::move(path)}, std::move(strategy));
  }
  template <operators::WatermarkStrategyFor<std::string_view> Strategy>
  DataStream<std::string_view> ReadTextFiles(std::vector<std::string> paths, Strategy strategy) {
    return FromSource<std::string_view>("Source: Text File", [paths](int) {
      return std::make_unique<connectors::TextFileSource>(paths);
    }, std::move(strategy));
  }
  template <operators::WatermarkStrategyFor<serde::RowView> Strategy>
  DataStream<serde::RowView> ReadCsvFile(std::vector<std::string> paths, serde::Schema schema,
                                         Strategy strategy) {
    const bool ignore = config_.GetBool(options::kCsvIgnoreParseErrors);
    return FromSource<serde::RowView>("Source: CSV File", [paths, schema, ignore](int) {
      return std::make_unique<connectors::RowFileSource<serde::CsvRowDecoder>>(paths, schema, ignore);
    }, std::move(strategy));
  }
  template <operators::WatermarkStrategyFor<serde::RowView> Strategy>
  DataStream<serde::RowView> ReadJsonLines(std::vector<std::string> paths, serde::Schema schema,
                                           Strategy strategy) {
    const bool ignore = config_.GetBool(options::kJsonIgnoreParseErrors);
    return FromSource<serde::RowView>("Source: JSON File", [paths, schema, ignore](int) {
      return std::make_unique<connectors::RowFileSource<serde::JsonRowDecoder>>(paths, schema, ignore);
    }, std::move(strategy));
  }
  template <operators::WatermarkStrategyFor<int64_t> Strategy>
  DataStream<int64_t> FromSequence(int64_t from, int64_t to, Strategy strategy) {
    return FromGenerator(to >= from ? to - from + 1 : 0, [from](int64_t index) { return from + index; },
                         std::move(strategy), 0, "Source: Sequence");
  }
  template <typename T, operators::WatermarkStrategyFor<T> Strategy>
  DataStream<T> FromCollection(std::vector<T> elements, Strategy strategy) {
    auto shared = std::make_shared<const std::vector<T>>(std::move(elements));
    return FromSource<T>("Collection Source", [shared](int) {
      return std::make_unique<connectors::CollectionSource<T>>(shared);
    }, std::move(strategy), 1);
  }
  template <typename Generator,
            operators::WatermarkStrategyFor<std::decay_t<std::invoke_result_t<Generator&, int64_t>>> Strategy>
  auto FromGenerator(int64_t count, Generator generator, Strategy strategy, double records_per_second = 0,
                     std::string name = "Generator Source") {
    using T = std::decay_t<std::invoke_result_t<Generator&, int64_t>>;
    return FromSource<T>(std::move(name), [generator, count, records_per_second](int) {
      return std::make_unique<connectors::GeneratorSource<T, Generator>>(generator, count,
                                                                          records_per_second);
    }, std::move(strategy));
  }

  // A custom source: `make(subtask) -> std::unique_ptr<operators::SourceOperator<T>>`;
  // `parallelism` 0 = the default.
  template <typename T, typename Make>
  DataStream<T> AddSource(std::string name, Make make, int parallelism = 0) {
    const int vertex = builder_->AddVertex(std::move(name), internal::Factory<T>(std::move(make)),
                                           std::make_shared<runtime::TypedFanOutFactory<T>>(), true,
                                           parallelism);
    return DataStream<T>(builder_, vertex);
  }

  // --- Running.
  Result<runtime::JobGraph> GetJobGraph(std::string job_name) const;
  Result<JobResult> Execute(std::string job_name = "");
  void RequestStop();

 private:
  Configuration config_;
  std::shared_ptr<internal::JobBuilder> builder_;
  std::atomic<runtime::JobRunner*> running_{nullptr};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace weir::api
