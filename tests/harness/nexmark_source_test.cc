#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "api/stream_execution_environment.h"
#include "harness/nexmark/event_csv.h"
#include "harness/nexmark/source.h"
#include "harness/run_context.h"

namespace weir::harness::nexmark {
namespace {

struct EventLineTraits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Event& event) const { AppendEventCsv(out, event); }
  int64_t DueEventTime(const Event& event) const { return event.date_time(); }
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The events a job with `parallelism` sees, as lines (in arrival order at the single sink).
std::vector<std::string> RunGenerated(int parallelism, const GeneratorConfig& config) {
  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env;
  env.SetParallelism(parallelism);
  EmitResults(NexmarkSource(env, config, context), EventLineTraits{}, context);
  Result<api::JobResult> result = env.Execute("nexmark source");
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(context.events_emitted->load(), config.max_events);
  return Lines(context.results->Csv());
}

TEST(NexmarkSourceTest, EveryParallelismEmitsTheSameEvents) {
  GeneratorConfig config;
  config.max_events = 30'001;
  config.seed = 3;
  NexmarkGenerator generator(config);
  std::vector<std::string> expected;
  for (int64_t n = 0; n < config.max_events; ++n) {
    std::string line;
    AppendEventCsv(line, generator.Generate(n));
    expected.push_back(line);
  }
  std::vector<std::string> sequential = RunGenerated(1, config);
  EXPECT_EQ(sequential, expected);  // one subtask: in event-number order
  std::sort(expected.begin(), expected.end());
  for (int parallelism : {2, 3}) {
    std::vector<std::string> lines = RunGenerated(parallelism, config);
    std::sort(lines.begin(), lines.end());
    EXPECT_EQ(lines, expected) << "parallelism " << parallelism;
  }
}

class RecordingOutput final : public operators::WatermarkOutput {
 public:
  void EmitWatermark(Timestamp watermark) override { watermarks.push_back(watermark); }
  void MarkIdle() override {}
  void MarkActive() override {}
  std::vector<Timestamp> watermarks;
};

TEST(NexmarkSourceTest, WatermarkIsMaxDateTimeMinusFourSeconds) {
  auto strategy = NexmarkWatermarkStrategy();
  auto generator = strategy.CreateWatermarkGenerator(operators::WatermarkGeneratorContext{});
  RecordingOutput output;
  Event event;
  event.type = EventType::kBid;
  Timestamp max = kMinTimestamp;
  for (int64_t time : {100'000, 99'000, 104'000, 90'000, 104'001, 50'000}) {
    event.bid.date_time = time;
    const Timestamp timestamp = strategy.ExtractTimestamp(event, kMinTimestamp);
    EXPECT_EQ(timestamp, time);
    generator.OnEvent(event, timestamp, output);
    generator.OnPeriodicEmit(output);
    max = std::max<Timestamp>(max, time);
    ASSERT_FALSE(output.watermarks.empty());
    EXPECT_EQ(output.watermarks.back(), max - 4000);  // Flink SQL: dateTime - INTERVAL '4' SECOND
  }
  event.type = EventType::kPerson;
  event.person.date_time = 7;
  EXPECT_EQ(strategy.ExtractTimestamp(event, 0), 7);
}

struct Observation {
  int64_t date_time;
  Timestamp timestamp;
  Timestamp watermark;
  int64_t lateness_nanos;  // now - due instant (paced runs)
};

// Runs `events` into a process function that records what each record sees.
std::vector<Observation> Observe(api::StreamExecutionEnvironment& env,
                                 api::DataStream<Event> events, std::shared_ptr<Pacer> pacer,
                                 Status* status = nullptr) {
  auto observations = std::make_shared<std::vector<Observation>>();
  auto mutex = std::make_shared<std::mutex>();
  events
      .Process<int64_t>(
          [observations, mutex, pacer](const Event& event,
                                       api::ProcessFunction<Event, int64_t>::Context& context,
                                       api::Collector<int64_t>&) {
            const int64_t now = MonotonicNanos();
            const int64_t lateness = pacer->paced() ? now - pacer->DueNanos(event.date_time()) : 0;
            std::lock_guard lock(*mutex);
            observations->push_back(
                {event.date_time(), context.timestamp(), context.CurrentWatermark(), lateness});
          })
      .Discard();
  Result<api::JobResult> result = env.Execute("observe");
  if (status != nullptr) {
    *status = result.ok() ? Status::Ok() : result.status();
  } else {
    EXPECT_TRUE(result.ok()) << result.status();
  }
  return *observations;
}

// Each record sees a watermark that is max dateTime - 4000 of some prefix of the records before it
// (watermarks follow poll batches), and never more.
void ExpectWatermarksOfPrefixes(const std::vector<Observation>& observations) {
  std::vector<Timestamp> prefix_max;  // prefix_max[j]: max over records 0..j
  int distinct = 0;
  Timestamp previous = kMinTimestamp;
  for (size_t i = 0; i < observations.size(); ++i) {
    const Observation& o = observations[i];
    ASSERT_EQ(o.timestamp, o.date_time);
    if (o.watermark != kMinTimestamp) {
      ASSERT_GT(i, 0u);
      EXPECT_LE(o.watermark, prefix_max[i - 1] - 4000) << i;
      EXPECT_TRUE(std::binary_search(
          prefix_max.begin(), prefix_max.begin() + static_cast<ptrdiff_t>(i), o.watermark + 4000))
          << "record " << i << " sees watermark " << o.watermark;
      if (o.watermark != previous) ++distinct;
      previous = o.watermark;
    }
    prefix_max.push_back(i == 0 ? o.date_time : std::max(prefix_max.back(), o.date_time));
  }
  EXPECT_GT(distinct, 3);
}

TEST(NexmarkSourceTest, GeneratedStreamCarriesTheDdlWatermark) {
  GeneratorConfig config;
  config.first_event_rate = 100;  // 10 ms apart: a watermark off by one would match no prefix
  config.max_events = 100'000;
  api::StreamExecutionEnvironment env;
  env.SetParallelism(1);
  RunContext context;
  std::vector<Observation> observations =
      Observe(env, NexmarkSource(env, config, context), context.pacer);
  ASSERT_EQ(observations.size(), 100'000u);
  ExpectWatermarksOfPrefixes(observations);
}

TEST(NexmarkSourceTest, PacedSourceNeverEmitsBeforeTheDueTime) {
  for (int parallelism : {1, 2}) {
    GeneratorConfig config;
    config.first_event_rate = 20'000;
    config.max_events = 6'000;  // 0.3 s of event time
    RunContext context;
    context.rate = 20'000;
    api::StreamExecutionEnvironment env;
    env.SetParallelism(parallelism);
    const int64_t start = MonotonicNanos();
    std::vector<Observation> observations =
        Observe(env, NexmarkSource(env, config, context), context.pacer);
    const int64_t elapsed = MonotonicNanos() - start;
    ASSERT_TRUE(context.pacer->paced());
    EXPECT_EQ(context.pacer->base_event_time(), config.base_time);
    EXPECT_EQ(context.pacer->unit_nanos(), 1'000'000);
    ASSERT_EQ(observations.size(), 6'000u);
    for (const Observation& o : observations) ASSERT_GE(o.lateness_nanos, 0) << o.date_time;
    EXPECT_GE(elapsed, 290'000'000);  // the last event is due 300 ms after the first
    EXPECT_EQ(context.events_emitted->load(), 6'000);
  }
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid())))
      .string();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(NexmarkSourceTest, FileSourceReadsTheFileInOrderWithTheDdlWatermark) {
  GeneratorConfig config;
  config.first_event_rate = 100;
  NexmarkGenerator generator(config);
  // Out of order: each block of 5 events reversed.
  std::string text;
  std::vector<int64_t> expected_times;
  for (int64_t block = 0; block < 4'000; ++block) {
    for (int64_t n = block * 5 + 4; n >= block * 5; --n) {
      const Event& event = generator.Generate(n);
      AppendEventCsv(text, event);
      text += '\n';
      expected_times.push_back(event.date_time());
    }
    if (block % 100 == 0) text += "\n";  // blank lines are skipped
  }
  const std::string path = TempPath("nexmark-source-events.csv");
  WriteText(path, text);

  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  {
    api::StreamExecutionEnvironment env;
    env.SetParallelism(2);
    EmitResults(NexmarkFileSource(env, path, context), EventLineTraits{}, context);
    Result<api::JobResult> result = env.Execute("file");
    ASSERT_TRUE(result.ok()) << result.status();
    std::vector<std::string> expected_lines;
    for (const std::string& line : Lines(text)) {
      if (!line.empty()) expected_lines.push_back(line);
    }
    EXPECT_EQ(Lines(context.results->Csv()), expected_lines);
    EXPECT_EQ(context.events_emitted->load(), 20'000);
  }
  api::StreamExecutionEnvironment env;
  std::vector<Observation> observations =
      Observe(env, NexmarkFileSource(env, path, context), context.pacer);
  ASSERT_EQ(observations.size(), expected_times.size());
  for (size_t i = 0; i < observations.size(); ++i)
    ASSERT_EQ(observations[i].date_time, expected_times[i]);
  ExpectWatermarksOfPrefixes(observations);
  std::filesystem::remove(path);
}

TEST(NexmarkSourceTest, FileSourceErrorsNamePathLineAndColumn) {
  const std::string path = TempPath("nexmark-malformed.csv");
  WriteText(path,
            "2,1000,2001,5,Google,u,2015-07-15 00:00:00.000,x\n"
            "\n"
            "2,1000,2001,5,Google,u,2015-07-15 00:00:00.001,x\n"
            "2,1000,2001,five,Google,u,2015-07-15 00:00:00.002,x\n");
  RunContext context;
  api::StreamExecutionEnvironment env;
  Status status;
  Observe(env, NexmarkFileSource(env, path, context), context.pacer, &status);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path + ":4:13: bid.price: expected a 64-bit integer, got 'five'"),
            std::string_view::npos)
      << status;
  std::filesystem::remove(path);

  api::StreamExecutionEnvironment missing_env;
  const std::string missing = TempPath("nexmark-missing.csv");
  Observe(missing_env, NexmarkFileSource(missing_env, missing, context), context.pacer, &status);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(missing), std::string_view::npos) << status;
}

}  // namespace
}  // namespace weir::harness::nexmark
