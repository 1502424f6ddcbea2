#include "harness/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace weir::harness {
namespace {

// The p-th percentile by definition: the smallest sample with at least p% of the samples <= it.
int64_t SortedPercentile(const std::vector<int64_t>& sorted, double percentile) {
  const auto wanted = static_cast<size_t>(std::ceil(percentile / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(wanted, 1) - 1];
}

QueryRun MakeRun(std::string name, int64_t events, double seconds, double cpu_seconds) {
  QueryRun run;
  run.name = std::move(name);
  run.events = events;
  run.seconds = seconds;
  run.cpu_seconds = cpu_seconds;
  run.rows = events / 2;
  run.parallelism = 2;
  return run;
}

// Latencies below 2048 ns land in unit-wide buckets, so every reported value is exact.
std::vector<int64_t> SmallLatencies(size_t count, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<int64_t> values;
  for (size_t i = 0; i < count; ++i) values.push_back(static_cast<int64_t>(random() % 2000) + 3);
  return values;
}

struct HgrmLine {
  double value_us;
  double percentile;
  int64_t total_count;
};

std::vector<HgrmLine> ParseHgrm(const std::string& text, std::map<std::string, double>* footer) {
  std::vector<HgrmLine> lines;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_NE(line.find("Value"), std::string::npos);
  EXPECT_NE(line.find("1/(1-Percentile)"), std::string::npos);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      // "#[Mean    =      864.857, StdDeviation   =     1137.641]"
      std::string cleaned;
      for (char c : line) cleaned += (c == '#' || c == '[' || c == ']' || c == ',') ? ' ' : c;
      std::istringstream fields(cleaned);
      std::string name, equals, second_name, second_equals;
      double first = 0, second = 0;
      fields >> name >> equals >> first;
      fields >> second_name;
      if (second_name == "Total") {
        std::string count_word;
        fields >> count_word;
        second_name += " " + count_word;
      }
      fields >> second_equals >> second;
      (*footer)[name] = first;
      (*footer)[second_name] = second;
      continue;
    }
    std::istringstream fields(line);
    HgrmLine parsed{};
    fields >> parsed.value_us >> parsed.percentile >> parsed.total_count;
    EXPECT_FALSE(fields.fail()) << line;
    lines.push_back(parsed);
  }
  return lines;
}

TEST(ReportTest, JsonHasEveryFieldWithConsistentValues) {
  QueryRun paced = MakeRun("q1", 1'000'000, 2.0, 3.0);
  const std::vector<int64_t> latencies = SmallLatencies(10'000, 1);
  for (int64_t value : latencies) paced.latency.Record(value);
  paced.throughput = {{0.1, 5e5}, {0.2, 6e5}};
  QueryRun unpaced = MakeRun("q5", 500, 0.5, 0.25);
  const std::vector<QueryRun> runs = {paced, unpaced};
  const nlohmann::json config{{"workload", "nexmark"}, {"events", 1'000'000}};
  const nlohmann::json host{{"hostname", "test"}};

  const nlohmann::json json = nlohmann::json::parse(ReportJson(runs, config, host).dump());
  EXPECT_EQ(json["config"], config);
  EXPECT_EQ(json["host"], host);
  ASSERT_EQ(json["queries"].size(), 2u);
  const nlohmann::json& q1 = json["queries"][0];
  EXPECT_EQ(q1["query"], "q1");
  EXPECT_EQ(q1["events"], 1'000'000);
  EXPECT_DOUBLE_EQ(q1["seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(q1["cpu_seconds"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(q1["cores"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(q1["throughput"].get<double>(), 500'000.0);
  EXPECT_DOUBLE_EQ(q1["throughput_per_core"].get<double>(), 1'000'000.0 / 3.0);
  ASSERT_TRUE(q1["latency_us"].is_object());
  std::vector<int64_t> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, percentile] : std::vector<std::pair<std::string, double>>{
           {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}}) {
    EXPECT_DOUBLE_EQ(q1["latency_us"][name].get<double>(), SortedPercentile(sorted, percentile) / 1000.0) << name;
  }
  EXPECT_DOUBLE_EQ(q1["latency_us"]["max"].get<double>(), sorted.back() / 1000.0);
  EXPECT_EQ(q1["latency_us"]["count"], 10'000);
  ASSERT_EQ(q1["throughput_over_time"].size(), 2u);
  EXPECT_DOUBLE_EQ(q1["throughput_over_time"][1][1].get<double>(), 6e5);

  const nlohmann::json& q5 = json["queries"][1];
  EXPECT_EQ(q5["query"], "q5");
  EXPECT_TRUE(q5["latency_us"].is_null());
  EXPECT_DOUBLE_EQ(q5["throughput_per_core"].get<double>(), 2000.0);
}

TEST(ReportTest, HgrmStepsAreTheExactPercentilesOfTheSamples) {
  const std::vector<int64_t> latencies = SmallLatencies(100'000, 2);
  LatencyHistogram histogram;
  for (int64_t value : latencies) histogram.Record(value);
  std::vector<int64_t> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  const auto total = static_cast<double>(sorted.size());

  std::map<std::string, double> footer;
  const std::vector<HgrmLine> lines = ParseHgrm(PercentileDistribution(histogram), &footer);
  ASSERT_GT(lines.size(), 20u);
  // HdrHistogram's percentile levels with 5 ticks per half distance: 0, 10%, ..., 50%, then
  // 55%, ..., 75%, then 77.5%, ... (halving the step at every halving of the distance to 100%).
  const double expected_levels[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.775, 0.8};
  for (size_t i = 0; i < std::size(expected_levels); ++i) {
    EXPECT_NEAR(lines[i].percentile, expected_levels[i], 1e-12) << i;
  }
  for (const HgrmLine& line : lines) {
    const auto value = static_cast<int64_t>(std::llround(line.value_us * 1000));
    const auto at_or_below = std::upper_bound(sorted.begin(), sorted.end(), value) - sorted.begin();
    const auto below = std::lower_bound(sorted.begin(), sorted.end(), value) - sorted.begin();
    // TotalCount is the number of samples <= Value, the value is a sample, and it is the first
    // one whose cumulative share reaches the percentile.
    EXPECT_EQ(line.total_count, at_or_below) << line.value_us;
    EXPECT_TRUE(std::binary_search(sorted.begin(), sorted.end(), value)) << line.value_us;
    EXPECT_GE(static_cast<double>(at_or_below) / total, line.percentile - 1e-9) << line.value_us;
    EXPECT_LT(static_cast<double>(below) / total, line.percentile + 1e-9) << line.value_us;
  }
  EXPECT_EQ(lines.back().percentile, 1.0);
  EXPECT_EQ(lines.back().total_count, static_cast<int64_t>(sorted.size()));
  EXPECT_NEAR(lines.back().value_us, sorted.back() / 1000.0, 1e-9);
  double sum = 0;
  for (int64_t value : sorted) sum += static_cast<double>(value);
  double squares = 0;
  for (int64_t value : sorted) squares += std::pow(static_cast<double>(value) - sum / total, 2);
  EXPECT_NEAR(footer["Mean"], sum / total / 1000.0, 0.0005);
  EXPECT_NEAR(footer["StdDeviation"], std::sqrt(squares / total) / 1000.0, 0.0005);
  EXPECT_NEAR(footer["Max"], sorted.back() / 1000.0, 1e-9);
  EXPECT_EQ(footer["Total count"], total);
}

TEST(ReportTest, HgrmOfWideBucketsMatchesTheHistogram) {
  // Latencies up to seconds: values fall in buckets many nanoseconds wide, reported (as by
  // HdrHistogram) at the bucket's highest equivalent value, capped by the exact maximum.
  std::mt19937_64 random(3);
  std::lognormal_distribution<double> distribution(11, 2);
  LatencyHistogram histogram;
  std::vector<int64_t> values;
  for (int i = 0; i < 49'999; ++i) {  // not a round number: no percentile lands on an exact count
    values.push_back(static_cast<int64_t>(distribution(random)));
    histogram.Record(values.back());
  }
  std::sort(values.begin(), values.end());
  const std::vector<PercentileStep> steps = PercentileSteps(histogram);
  ASSERT_FALSE(steps.empty());
  for (const PercentileStep& step : steps) {
    // The samples at or below the reported value are exactly the cumulative count.
    EXPECT_EQ(step.total_count, std::upper_bound(values.begin(), values.end(), step.value) - values.begin());
    EXPECT_GE(100.0 * static_cast<double>(step.total_count) / static_cast<double>(values.size()),
              step.percentile - 1e-9);
    EXPECT_EQ(step.value, histogram.ValueAtPercentile(step.percentile)) << step.percentile;
  }
  EXPECT_EQ(steps.back().value, values.back());
  EXPECT_TRUE(PercentileSteps(LatencyHistogram()).empty());
}

TEST(ReportTest, SummaryTableFollowsNexmarkFlinksLayout) {
  const std::vector<QueryRun> runs = {MakeRun("q0", 1'234'567, 2.0, 3.0), MakeRun("q5", 100, 1.0, 0.5)};
  const std::string table = FormatSummaryTable("Nexmark", runs);
  std::istringstream in(table);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 9u) << table;
  EXPECT_EQ(lines[0], "-------------------------------- Nexmark Results --------------------------------");
  EXPECT_EQ(lines[1], "");
  const std::string rule = "+" + std::string(19, '-');
  std::string expected_rule;
  for (int i = 0; i < 6; ++i) expected_rule += rule;
  EXPECT_EQ(lines[2], expected_rule + "+");
  auto row = [](std::vector<std::string> items) {
    std::string line;
    for (const std::string& item : items) line += "|" + item + std::string(19 - item.size(), ' ');
    return line + "|";
  };
  EXPECT_EQ(lines[3], row({" Nexmark Query", " Events Num", " Cores", " Time(s)", " Cores * Time(s)",
                           " Throughput/Cores"}));
  // Cores = 3 / 2; Throughput/Cores = 1234567 / 3 events per CPU second.
  EXPECT_EQ(lines[5], row({"q0", "1,234,567", "1.5", "2.000", "3.000", "411.52 K/s"}));
  EXPECT_EQ(lines[6], row({"q5", "100", "0.5", "1.000", "0.500", "200/s"}));
  EXPECT_EQ(lines[7], row({"Total", "1,234,667", "2.000", "3.000", "3.500", "411.72 K/s"}));
  EXPECT_EQ(lines[8], lines[2]);
}

TEST(ReportTest, LatencyTableOnlyForPacedRuns) {
  QueryRun paced = MakeRun("q1", 1000, 1, 1);
  for (int64_t value : {1000, 2000, 3000}) paced.latency.Record(value);
  const QueryRun unpaced = MakeRun("q2", 1000, 1, 1);
  EXPECT_EQ(FormatLatencyTable(std::vector<QueryRun>{unpaced}), "");
  const std::string table = FormatLatencyTable(std::vector<QueryRun>{paced, unpaced});
  EXPECT_NE(table.find("|q1 "), std::string::npos) << table;
  EXPECT_EQ(table.find("|q2 "), std::string::npos) << table;
  EXPECT_NE(table.find("|2.0 "), std::string::npos) << table;  // p50 of 1, 2, 3 us
  EXPECT_NE(table.find("|3.0 "), std::string::npos) << table;  // max
}

TEST(ReportTest, HtmlIsSelfContainedWithItsCharts) {
  QueryRun paced = MakeRun("q<1>", 1'000'000, 2.0, 3.0);
  for (int64_t value : SmallLatencies(1000, 4)) paced.latency.Record(value * 1000);
  paced.throughput = {{0.1, 4e5}, {0.2, 5e5}, {0.3, 6e5}};
  QueryRun other = MakeRun("q5", 2'000'000, 4.0, 4.0);
  other.throughput = {{0.1, 1e5}, {0.2, 2e5}};
  const std::string html = HtmlReport("Nexmark", std::vector<QueryRun>{paced, other},
                                      nlohmann::json{{"url", "<script>"}}, nlohmann::json{{"hostname", "h"}});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  for (const char* forbidden : {"http://", "https://", "<script", "<link", " src=", "@import", "url("}) {
    EXPECT_EQ(html.find(forbidden), std::string::npos) << forbidden;
  }
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);
  EXPECT_NE(html.find("Throughput over time"), std::string::npos);
  EXPECT_NE(html.find("Latency by percentile"), std::string::npos);
  EXPECT_NE(html.find("Throughput per query"), std::string::npos);
  // Two throughput lines and one latency line (only q<1> is paced), names escaped.
  size_t polylines = 0;
  for (size_t at = html.find("<polyline"); at != std::string::npos; at = html.find("<polyline", at + 1)) ++polylines;
  EXPECT_EQ(polylines, 3u);
  EXPECT_NE(html.find("q&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("q<1>"), std::string::npos);
}

TEST(ReportTest, WriteTextFileNamesThePathOnFailure) {
  const std::string path = ::testing::TempDir() + "/report_test_output.txt";
  ASSERT_TRUE(WriteTextFile(path, "hello\n").ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "hello\n");
  const Status status = WriteTextFile("/nonexistent-dir/out.json", "x");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("/nonexistent-dir/out.json"), std::string::npos);
}

}  // namespace
}  // namespace weir::harness
