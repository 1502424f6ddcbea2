#include "api/stream_execution_environment.h"

namespace weir::api {

StreamExecutionEnvironment::StreamExecutionEnvironment(Configuration config)
    : config_(std::move(config)),
      builder_(std::make_shared<internal::JobBuilder>(
          static_cast<int>(config_.GetInt(options::kParallelism)))) {
  builder_->set_max_parallelism(static_cast<int>(config_.GetInt(options::kMaxParallelism)));
}

StreamExecutionEnvironment& StreamExecutionEnvironment::SetParallelism(int parallelism) {
  builder_->set_default_parallelism(parallelism);
  WEIR_CHECK_OK(config_.Set(options::kParallelism.key, std::to_string(parallelism)));
  return *this;
}

StreamExecutionEnvironment& StreamExecutionEnvironment::SetMaxParallelism(int max_parallelism) {
  builder_->set_max_parallelism(max_parallelism);
  return *this;
}

StreamExecutionEnvironment& StreamExecutionEnvironment::SetBufferTimeout(int64_t millis) {
  WEIR_CHECK_OK(config_.Set(options::kBufferTimeout.key, fmt::format("{} ms", millis)));
  return *this;
}

Status StreamExecutionEnvironment::Configure(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(config_.Set(key, value));
  if (key == options::kParallelism.key) {
    builder_->set_default_parallelism(static_cast<int>(config_.GetInt(options::kParallelism)));
  }
  if (key == options::kMaxParallelism.key) {
    builder_->set_max_parallelism(static_cast<int>(config_.GetInt(options::kMaxParallelism)));
  }
  return Status::Ok();
}

DataStream<std::string_view> StreamExecutionEnvironment::ReadTextFiles(std::vector<std::string> paths) {
  return AddSource<std::string_view>("Source: Text File", [paths](int) {
    return std::make_unique<connectors::TextFileSource>(paths);
  });
}

DataStream<serde::RowView> StreamExecutionEnvironment::ReadCsvFile(std::vector<std::string> paths,
                                                                  serde::Schema schema) {
  const bool ignore = config_.GetBool(options::kCsvIgnoreParseErrors);
  return AddSource<serde::RowView>("Source: CSV File", [paths, schema, ignore](int) {
    return std::make_unique<connectors::RowFileSource<serde::CsvRowDecoder>>(paths, schema, ignore);
  });
}

DataStream<serde::RowView> StreamExecutionEnvironment::ReadJsonLines(std::vector<std::string> paths,
                                                                    serde::Schema schema) {
  const bool ignore = config_.GetBool(options::kJsonIgnoreParseErrors);
  return AddSource<serde::RowView>("Source: JSON File", [paths, schema, ignore](int) {
    return std::make_unique<connectors::RowFileSource<serde::JsonRowDecoder>>(paths, schema, ignore);
  });
}

DataStream<std::string_view> StreamExecutionEnvironment::SocketTextStream(std::string host, int port) {
  return AddSource<std::string_view>("Source: Socket Stream", [host, port](int) {
    return std::make_unique<connectors::SocketTextSource>(host, port);
  }, 1);
}

DataStream<int64_t> StreamExecutionEnvironment::FromSequence(int64_t from, int64_t to) {
  return FromGenerator(to >= from ? to - from + 1 : 0, [from](int64_t index) { return from + index; }, 0,
                       "Source: Sequence");
}

Result<runtime::JobGraph> StreamExecutionEnvironment::GetJobGraph(std::string job_name) const {
  if (job_name.empty()) job_name = config_.GetString(options::kPipelineName);
  if (job_name.empty()) job_name = "weir job";
  return builder_->Build(std::move(job_name));
}

Result<JobResult> StreamExecutionEnvironment::Execute(std::string job_name) {
  ASSIGN_OR_RETURN(runtime::JobGraph graph, GetJobGraph(std::move(job_name)));
  runtime::JobRunner runner(config_);
  running_.store(&runner);
  if (stop_requested_.load()) runner.RequestStop();
  Result<JobResult> result = runner.Run(graph);
  running_.store(nullptr);
  return result;
}

void StreamExecutionEnvironment::RequestStop() {
  stop_requested_.store(true);
  if (runtime::JobRunner* runner = running_.load()) runner->RequestStop();
}

}  // namespace weir::api
