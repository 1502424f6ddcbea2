#include "harness/runner.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <thread>

#include "connectors/generated_text_source.h"
#include "harness/wordcount.h"

namespace weir::harness {
namespace {

// Word counts of lines 0..lines-1 of the run (line i is line i mod N of the generated block),
// tokenized the simplest way: lower-case, split on anything but [A-Za-z0-9_].
std::map<std::string, int64_t> BruteForceCounts(const WordCountConfig& config, uint64_t seed, int64_t* tokens) {
  const std::string text = connectors::GenerateText(config.text_bytes, seed);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::map<std::string, int64_t> counts;
  *tokens = 0;
  for (int64_t i = 0; i < config.lines; ++i) {
    std::string word;
    for (char c : lines[static_cast<size_t>(i) % lines.size()] + " ") {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
        word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      } else if (!word.empty()) {
        ++counts[word];
        ++*tokens;
        word.clear();
      }
    }
  }
  return counts;
}

std::map<std::string, int64_t> ParseCounts(const std::string& csv) {
  std::map<std::string, int64_t> counts;
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    const size_t comma = line.rfind(',');
    EXPECT_NE(comma, std::string::npos) << line;
    EXPECT_TRUE(counts.emplace(line.substr(0, comma), std::stoll(line.substr(comma + 1))).second) << line;
  }
  return counts;
}

JobBuilder WordCountJob(WordCountConfig config) {
  return [config](api::StreamExecutionEnvironment& env, const RunContext& context) {
    BuildWordCount(env, config, context);
    return Status::Ok();
  };
}

TEST(RunnerTest, WordCountCountsEveryWordOfTheGeneratedText) {
  // 3000 lines replayed from a block of about 800: the replay wraps around several times.
  const WordCountConfig config{.lines = 3000, .text_bytes = 64 << 10};
  for (int parallelism : {1, 3}) {
    RunOptions options;
    options.parallelism = parallelism;
    options.keep_rows = true;
    options.seed = 7;
    Result<QueryRun> run = RunQuery("wordcount", WordCountJob(config), options);
    ASSERT_TRUE(run.ok()) << run.status();
    int64_t tokens = 0;
    const std::map<std::string, int64_t> expected = BruteForceCounts(config, 7, &tokens);
    EXPECT_EQ(ParseCounts(run->csv), expected) << "parallelism " << parallelism;
    EXPECT_EQ(run->name, "wordcount");
    EXPECT_EQ(run->events, 3000);
    EXPECT_EQ(run->rows, tokens);  // every token updates its word's count
    EXPECT_EQ(run->parallelism, parallelism);
    EXPECT_FALSE(run->stopped);
    EXPECT_GT(run->seconds, 0);
    EXPECT_GE(run->cpu_seconds, 0);
    EXPECT_FALSE(run->measured_latency());  // unpaced
    EXPECT_DOUBLE_EQ(run->cores(), run->cpu_seconds / run->seconds);
    EXPECT_DOUBLE_EQ(run->events_per_second(), 3000 / run->seconds);
  }
}

TEST(RunnerTest, DifferentSeedsCountDifferentText) {
  const WordCountConfig config{.lines = 500, .text_bytes = 16 << 10};
  RunOptions options;
  options.keep_rows = true;
  options.seed = 1;
  Result<QueryRun> first = RunQuery("wordcount", WordCountJob(config), options);
  options.seed = 2;
  Result<QueryRun> second = RunQuery("wordcount", WordCountJob(config), options);
  ASSERT_TRUE(first.ok() && second.ok());
  int64_t tokens = 0;
  EXPECT_EQ(ParseCounts(second->csv), BruteForceCounts(config, 2, &tokens));
  EXPECT_NE(first->csv, second->csv);
}

TEST(RunnerTest, PacedRunRecordsALatencyPerRowAndFollowsTheSchedule) {
  // 4000 lines at 20 000 lines/s: the last one is due 0.19995 s after the first.
  const WordCountConfig config{.lines = 4000, .text_bytes = 32 << 10};
  RunOptions options;
  options.rate = 20'000;
  options.parallelism = 2;
  options.sample_interval = std::chrono::milliseconds(20);
  Result<QueryRun> run = RunQuery("wordcount", WordCountJob(config), options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->events, 4000);
  EXPECT_GT(run->rows, 4000);
  EXPECT_EQ(run->latency.count(), run->rows);
  EXPECT_TRUE(run->measured_latency());
  EXPECT_DOUBLE_EQ(run->rate, 20'000);
  EXPECT_GE(run->seconds, 0.19);  // a paced source cannot finish before its last event is due
  EXPECT_LE(run->latency.ValueAtPercentile(50), run->latency.max());
  // The sampler saw the run: samples in time order, and they add up to about the events.
  ASSERT_GE(run->throughput.size(), 3u);
  double previous = 0;
  for (const ThroughputSample& sample : run->throughput) {
    EXPECT_GT(sample.seconds, previous);
    EXPECT_GE(sample.events_per_second, 0);
    previous = sample.seconds;
  }
}

TEST(RunnerTest, StopEndsTheRunEarly) {
  const WordCountConfig config{.lines = int64_t{1} << 40, .text_bytes = 16 << 10};
  std::atomic<bool> stop{false};
  RunOptions options;
  options.stop = &stop;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.store(true);
  });
  Result<QueryRun> run = RunQuery("wordcount", WordCountJob(config), options);
  stopper.join();
  ASSERT_TRUE(run.ok()) << run.status();
  // Ended by the request (possibly before the source's first poll, on a slow machine), not by
  // the end of its input, which would take hours.
  EXPECT_TRUE(run->stopped);
  EXPECT_LT(run->events, int64_t{1} << 40);
}

TEST(RunnerTest, BuilderErrorsAndUnpacedWorkloadsAreReported) {
  Result<QueryRun> failed = RunQuery(
      "broken", [](api::StreamExecutionEnvironment&, const RunContext&) { return InvalidArgument("no such thing"); },
      RunOptions{});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().ToString().find("broken"), std::string::npos) << failed.status();
  EXPECT_NE(failed.status().ToString().find("no such thing"), std::string::npos) << failed.status();

  // A workload that ignores RunContext::rate cannot give a paced run.
  RunOptions paced;
  paced.rate = 1000;
  Result<QueryRun> unpaced = RunQuery(
      "sequence",
      [](api::StreamExecutionEnvironment& env, const RunContext&) {
        env.FromSequence(1, 10).Discard();
        return Status::Ok();
      },
      paced);
  ASSERT_FALSE(unpaced.ok());
  EXPECT_NE(unpaced.status().ToString().find("--rate"), std::string::npos) << unpaced.status();
}

}  // namespace
}  // namespace weir::harness
