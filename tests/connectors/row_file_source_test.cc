// CSV and JSON-lines file sources and sinks through the API, against rows generated here.
#include "connectors/row_file_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <random>
#include <set>

#include "api/stream_execution_environment.h"

namespace weir::connectors {
namespace {

namespace fs = std::filesystem;

struct Expected {
  int64_t id;
  std::string name;
  double score;
};

class RowCollector final : public operators::SinkOperator<serde::RowView> {
 public:
  RowCollector(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::multiset<std::string>> rows)
      : mutex_(std::move(mutex)), rows_(std::move(rows)) {}
  void Collect(const serde::RowView& row, Timestamp) override {
    std::lock_guard lock(*mutex_);
    rows_->insert(std::to_string(row.GetBigInt(0)) + "|" + std::string(row.GetVarchar(1)) + "|" +
                  std::to_string(row.GetDouble(2)));
  }
  void EndInput() override {}

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::multiset<std::string>> rows_;
};

class RowFileSourceTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weir-rows-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::mt19937_64 random(23);
    std::ofstream csv(dir_ / "in.csv");
    std::ofstream json(dir_ / "in.jsonl");
    csv << std::setprecision(17);
    json << std::setprecision(17);
    for (int64_t i = 0; i < 20000; ++i) {
      Expected row{i, "name \"" + std::to_string(random() % 1000) + "\", x", static_cast<double>(random() % 10000) / 8};
      csv << row.id << ",\"" << "name \"\"" << row.name.substr(6, row.name.size() - 10) << "\"\", x\"," << row.score << "\n";
      json << "{\"id\": " << row.id << ", \"name\": \"name \\\"" << row.name.substr(6, row.name.size() - 10)
           << "\\\", x\", \"score\": " << row.score << "}\n";
      expected_.insert(std::to_string(row.id) + "|" + row.name + "|" + std::to_string(row.score));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  Configuration Config(int parallelism) {
    Configuration config;
    EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
    EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
    EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "16mb").ok());
    return config;
  }

  std::multiset<std::string> Collect(api::DataStream<serde::RowView> stream) {
    auto mutex = std::make_shared<std::mutex>();
    auto rows = std::make_shared<std::multiset<std::string>>();
    stream.SinkTo("Collect", [mutex, rows](int) { return std::make_unique<RowCollector>(mutex, rows); });
    collected_ = rows;
    return {};
  }

  fs::path dir_;
  std::multiset<std::string> expected_;
  std::shared_ptr<std::multiset<std::string>> collected_;
  serde::Schema schema_ = *serde::ParseSchema("id BIGINT, name VARCHAR, score DOUBLE");
};

TEST_P(RowFileSourceTest, CsvAndJsonLinesReadEveryRowOnce) {
  for (const char* format : {"csv", "json"}) {
    api::StreamExecutionEnvironment env(Config(GetParam()));
    Collect(std::string(format) == "csv" ? env.ReadCsvFile({dir_ / "in.csv"}, schema_)
                                         : env.ReadJsonLines({dir_ / "in.jsonl"}, schema_));
    auto job = env.Execute(format);
    ASSERT_TRUE(job.ok()) << format << ": " << job.status().ToString();
    EXPECT_EQ(*collected_, expected_) << format;
  }
}

TEST_P(RowFileSourceTest, CsvSinkRoundTrips) {
  const fs::path out = dir_ / "out.csv";
  {
    api::StreamExecutionEnvironment env(Config(1));
    env.ReadCsvFile({dir_ / "in.csv"}, schema_).WriteAsCsv(out, schema_);
    ASSERT_TRUE(env.Execute("write").ok());
  }
  api::StreamExecutionEnvironment env(Config(GetParam()));
  Collect(env.ReadCsvFile({out}, schema_));
  ASSERT_TRUE(env.Execute("read back").ok());
  EXPECT_EQ(*collected_, expected_);
}

TEST_P(RowFileSourceTest, MalformedLineNamesPathLineAndColumnOrIsSkipped) {
  // Line 15000 gets a bad number in its third field; at parallelism 2 it lies in the second split.
  std::ifstream in(dir_ / "in.csv");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  for (int line = 1; line < 15000; ++line) start = text.find('\n', start) + 1;
  const size_t comma = text.rfind(',', text.find('\n', start));
  text.replace(comma + 1, text.find('\n', start) - comma - 1, "12x");
  std::ofstream(dir_ / "bad.csv") << text;
  {
    api::StreamExecutionEnvironment env(Config(GetParam()));
    env.ReadCsvFile({dir_ / "bad.csv"}, schema_).Discard();
    auto job = env.Execute("bad");
    ASSERT_FALSE(job.ok());
    const std::string message(job.status().message());
    EXPECT_NE(message.find((dir_ / "bad.csv").string()), std::string::npos) << message;
    EXPECT_NE(message.find("line 15000"), std::string::npos) << message;
    EXPECT_NE(message.find("column " + std::to_string(comma + 2 - start)), std::string::npos) << message;
  }
  Configuration config = Config(GetParam());
  ASSERT_TRUE(config.Set("csv.ignore-parse-errors", "true").ok());
  api::StreamExecutionEnvironment env(config);
  Collect(env.ReadCsvFile({dir_ / "bad.csv"}, schema_));
  auto job = env.Execute("skip");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->records_skipped, 1);
  EXPECT_EQ(collected_->size(), expected_.size() - 1);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, RowFileSourceTest, ::testing::Values(1, 2));

}  // namespace
}  // namespace weir::connectors
