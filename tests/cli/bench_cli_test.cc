// End-to-end tests of `weir bench`: flags, errors, exit codes, report files, event-file replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "weir_process.h"

namespace weir {
namespace {

using testing::ReadFile;
using testing::RunWeir;

class BenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("weir-bench-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// RFC 4180 fields of one line.
std::vector<std::string> CsvFields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::string CsvLine(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    const std::string& field = fields[i];
    const bool quote = field.empty() || field.find_first_of(",\"\r\n") != std::string::npos || field.front() == ' ' ||
                       field.back() == ' ';
    if (!quote) {
      line += field;
      continue;
    }
    line += '"';
    for (char c : field) line += c == '"' ? std::string("\"\"") : std::string(1, c);
    line += '"';
  }
  return line;
}

TEST_F(BenchCliTest, WordCountPrintsNexmarkFlinksTable) {
  auto result = RunWeir({"bench", "wordcount", "--events", "20000", "--parallelism", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("-------------------------------- WordCount Results"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("| Events Num        | Cores"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("|wordcount          |20,000 "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("|Total              |20,000 "), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("Latency"), std::string::npos) << "unpaced runs measure no latency";
  // stderr is a file here: no progress bar redraws.
  EXPECT_EQ(result.err.find('\r'), std::string::npos) << result.err;
}

TEST_F(BenchCliTest, HelpListsTheFlags) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"bench", "--help"}, std::vector<std::string>{"bench", "nexmark", "--help"}}) {
    auto result = RunWeir(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    for (const char* flag : {"--query", "--events", "--rate", "--latency-mode", "--json", "--hgrm", "--report",
                             "--generate", "--input", "--output"}) {
      EXPECT_NE(result.out.find(flag), std::string::npos) << flag << "\n" << result.out;
    }
  }
  EXPECT_NE(RunWeir({"--help"}).out.find("bench"), std::string::npos);
}

TEST_F(BenchCliTest, UsageErrorsAreOneLineWithExitCode2) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"bench"},
           {"bench", "tpch"},
           {"bench", "nexmark"},
           {"bench", "nexmark", "--query", "q6"},
           {"bench", "nexmark", "--query", "q1,qq"},
           {"bench", "nexmark", "--query", "q1", "--events", "many"},
           {"bench", "nexmark", "--query", "q1", "--events", "0"},
           {"bench", "nexmark", "--query", "q1", "--rate", "-5"},
           {"bench", "nexmark", "--query", "q1", "--no-such-flag"},
           {"bench", "nexmark", "--query", "q1,q2", "--output", "/tmp/x.csv"},
           {"bench", "nexmark", "--query", "q1", "--hgrm", "/tmp/x.hgrm"},
           {"bench", "nexmark", "--generate", "100"},
           {"bench", "ysb", "--query", "q1"},
           {"bench", "ysb", "--input", "/tmp/x.csv"},
           {"bench", "ticks", "--query", "T9"},
           {"bench", "wordcount", "--parallelism", "-1"},
       }) {
    auto result = RunWeir(args);
    std::string joined;
    for (const std::string& arg : args) joined += arg + " ";
    EXPECT_EQ(result.exit_code, 2) << joined << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("weir: error: ", 0), 0u) << joined << "\n" << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << joined << "\n" << result.err;
    EXPECT_EQ(result.out, "") << joined;
  }
  EXPECT_NE(RunWeir({"bench", "nexmark", "--query", "q6"}).err.find("'q6'"), std::string::npos);
  EXPECT_NE(RunWeir({"bench", "ticks", "--query", "T9"}).err.find("T9"), std::string::npos);
  EXPECT_NE(RunWeir({"bench", "tpch"}).err.find("'tpch'"), std::string::npos);
}

TEST_F(BenchCliTest, MissingInputAndUnwritableOutputsAreNamed) {
  auto missing = RunWeir({"bench", "nexmark", "--query", "q1", "--input", "/nonexistent/events.csv"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/events.csv"), std::string::npos) << missing.err;
  for (const std::string& flag : {"--json", "--output"}) {
    auto result = RunWeir({"bench", "nexmark", "--query", "q1", "--events", "1000", flag, "/nonexistent/dir/out"});
    EXPECT_EQ(result.exit_code, 2) << flag << "\n" << result.err;
    EXPECT_NE(result.err.find("/nonexistent/dir/out"), std::string::npos) << result.err;
  }
  auto report = RunWeir({"bench", "wordcount", "--events", "100", "--report", "/proc/weir-report"});
  EXPECT_EQ(report.exit_code, 2) << report.err;
  EXPECT_NE(report.err.find("/proc/weir-report"), std::string::npos) << report.err;
  auto generate = RunWeir({"bench", "nexmark", "--generate", "10", "--output", dir_.string()});
  EXPECT_EQ(generate.exit_code, 2) << generate.err;
  EXPECT_NE(generate.err.find("is a directory"), std::string::npos) << generate.err;
}

TEST_F(BenchCliTest, PacedRunWritesJsonHgrmAndReport) {
  const std::string json_path = Path("bench.json");
  const std::string hgrm_path = Path("bench.hgrm");
  const std::string report_dir = Path("report");
  auto result = RunWeir({"-D", "parallelism.default=2", "bench", "wordcount", "--events", "4000", "--rate", "20000",
                         "--json", json_path, "--hgrm", hgrm_path, "--report", report_dir});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Latency (microseconds"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("| p99.99"), std::string::npos) << result.out;

  const nlohmann::json json = nlohmann::json::parse(ReadFile(json_path));
  ASSERT_EQ(json["queries"].size(), 1u);
  const nlohmann::json& run = json["queries"][0];
  EXPECT_EQ(run["query"], "wordcount");
  EXPECT_EQ(run["events"], 4000);
  EXPECT_EQ(run["parallelism"], 2);
  EXPECT_GE(run["seconds"].get<double>(), 0.19);  // the last of 4000 lines at 20000/s is due at 0.19995 s
  EXPECT_NEAR(run["throughput"].get<double>(), 4000 / run["seconds"].get<double>(), 1e-6);
  const nlohmann::json& latency = run["latency_us"];
  ASSERT_TRUE(latency.is_object()) << run;
  EXPECT_LE(latency["p50"].get<double>(), latency["p90"].get<double>());
  EXPECT_LE(latency["p90"].get<double>(), latency["p99"].get<double>());
  EXPECT_LE(latency["p99"].get<double>(), latency["p99.9"].get<double>());
  EXPECT_LE(latency["p99.9"].get<double>(), latency["p99.99"].get<double>());
  EXPECT_LE(latency["p99.99"].get<double>(), latency["max"].get<double>());
  EXPECT_EQ(latency["count"], run["rows"]);
  EXPECT_EQ(json["config"]["workload"], "wordcount");
  EXPECT_EQ(json["config"]["configuration"]["parallelism.default"], "2");
  EXPECT_EQ(json["config"]["latency_mode"], false);
  EXPECT_TRUE(json["host"].contains("logical_cpus"));

  const std::vector<std::string> hgrm = Lines(ReadFile(hgrm_path));
  ASSERT_GT(hgrm.size(), 5u);
  EXPECT_NE(hgrm[0].find("Value"), std::string::npos);
  EXPECT_EQ(hgrm.back().rfind("#[Buckets", 0), 0u);
  EXPECT_NE(hgrm[hgrm.size() - 2].find(std::to_string(run["rows"].get<int64_t>())), std::string::npos);

  const std::string html = ReadFile(report_dir + "/index.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);

  // --latency-mode (buffer timeout 0) at parallelism 1; --parallelism overrides -D.
  auto low_latency = RunWeir({"-D", "parallelism.default=2", "bench", "wordcount", "--events", "2000", "--rate",
                              "20000", "--latency-mode", "--parallelism", "1", "--json", json_path});
  ASSERT_EQ(low_latency.exit_code, 0) << low_latency.err;
  const nlohmann::json low = nlohmann::json::parse(ReadFile(json_path));
  EXPECT_EQ(low["config"]["latency_mode"], true);
  EXPECT_EQ(low["queries"][0]["parallelism"], 1);
  EXPECT_TRUE(low["queries"][0]["latency_us"].is_object());
}

TEST_F(BenchCliTest, GeneratedEventFileReplaysToTheSameResults) {
  const std::string events = Path("events.csv");
  auto generate = RunWeir({"bench", "nexmark", "--generate", "3000", "--output", events});
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  const std::vector<std::string> event_lines = Lines(ReadFile(events));
  ASSERT_EQ(event_lines.size(), 3000u);

  // q0 passes every bid through: auction, bidder, price, dateTime, extra (q0.sql's sink columns).
  const std::string replayed = Path("q0-replayed.csv");
  auto replay = RunWeir({"bench", "nexmark", "--query", "q0", "--input", events, "--output", replayed});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("|q0                 |3,000 "), std::string::npos) << replay.out;
  std::vector<std::string> expected;
  for (const std::string& line : event_lines) {
    const std::vector<std::string> fields = CsvFields(line);
    if (fields[0] != "2") continue;
    ASSERT_EQ(fields.size(), 8u) << line;
    expected.push_back(CsvLine({fields[1], fields[2], fields[3], fields[6], fields[7]}));
  }
  std::vector<std::string> actual = Lines(ReadFile(replayed));
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_EQ(actual, expected);

  // The same query on the same events generated in the job gives the same rows.
  const std::string generated = Path("q0-generated.csv");
  auto direct = RunWeir({"bench", "nexmark", "--query", "q0", "--events", "3000", "--output", generated});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  std::vector<std::string> direct_rows = Lines(ReadFile(generated));
  std::sort(direct_rows.begin(), direct_rows.end());
  EXPECT_EQ(direct_rows, actual);

  // "-" writes the rows to stdout and moves the table to stderr.
  auto to_stdout = RunWeir({"bench", "nexmark", "--query", "q0", "--input", events, "--output", "-"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  std::vector<std::string> stdout_rows = Lines(to_stdout.out);
  std::sort(stdout_rows.begin(), stdout_rows.end());
  EXPECT_EQ(stdout_rows, actual);
  EXPECT_NE(to_stdout.err.find("|q0 "), std::string::npos) << to_stdout.err;
}

TEST_F(BenchCliTest, EveryWorkloadRuns) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"bench", "nexmark", "--query", "q1,q2", "--events", "20000"},
           {"bench", "ysb", "--events", "50000"},
           {"bench", "ticks", "--query", "T1,T3", "--events", "20000"},
       }) {
    auto result = RunWeir(args);
    EXPECT_EQ(result.exit_code, 0) << args[1] << "\n" << result.err;
    EXPECT_NE(result.out.find("|Total "), std::string::npos) << result.out;
  }
  const std::string json_path = Path("ticks.json");
  auto ticks = RunWeir({"bench", "ticks", "--query", "t2", "--events", "5000", "--json", json_path});
  ASSERT_EQ(ticks.exit_code, 0) << ticks.err;
  const nlohmann::json json = nlohmann::json::parse(ReadFile(json_path));
  EXPECT_EQ(json["queries"][0]["query"], "T2");
  EXPECT_EQ(json["queries"][0]["events"], 5000);
}

TEST_F(BenchCliTest, SigintStopsTheBenchCleanly) {
  auto result = RunWeir({"bench", "wordcount", "--events", "1000000000000"}, "/dev/null", 1500, SIGINT);
  EXPECT_EQ(result.exit_code, 128 + SIGINT) << result.err;
  EXPECT_NE(result.err.find("stopped by SIGINT"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("|wordcount (stopped)"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace weir
