#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/data_stream.h"
#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

using std::chrono::milliseconds;

struct Event {
  int64_t key;
  int64_t value;
  Timestamp time;
};

struct Fired {
  int64_t key;
  Timestamp time;    // a window end or a timer's time
  int64_t count;
  int64_t domain;    // TimeDomain as a number
};

// Collects what every subtask of a sink receives, with timestamps (test only: takes a lock).
template <typename T>
struct Collected {
  std::mutex mutex;
  std::vector<T> values;
  std::vector<Timestamp> timestamps;
  // Called with the lock held after each record; e.g. to end a test's sources.
  std::function<void(const Collected&)> on_record;
};

template <typename T>
class CollectSink final : public operators::SinkOperator<T> {
 public:
  explicit CollectSink(std::shared_ptr<Collected<T>> target) : target_(std::move(target)) {}
  void Collect(const T& value, Timestamp timestamp) override {
    std::lock_guard lock(target_->mutex);
    target_->values.push_back(value);
    target_->timestamps.push_back(timestamp);
    if (target_->on_record) target_->on_record(*target_);
  }

 private:
  std::shared_ptr<Collected<T>> target_;
};

template <typename T>
std::shared_ptr<Collected<T>> CollectInto(DataStream<T> stream) {
  auto target = std::make_shared<Collected<T>>();
  stream.SinkTo("Collect", [target](int) { return std::make_unique<CollectSink<T>>(target); });
  return target;
}

Configuration TestConfig(int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "64mb").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  EXPECT_TRUE(config.Set("pipeline.auto-watermark-interval", "10 ms").ok());
  return config;
}

const OutputTag<Event> kSpecial("special");
constexpr Timestamp kWindow = 100;

// Counts each key's events per tumbling window of kWindow ms in map state and emits the count
// when the window's end-of-window timer fires; events with value % 97 == 0 also go to "special".
class WindowCount final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  Status Open(RuntimeContext& context) override {
    counts_ = context.GetMapState<Timestamp, int64_t>("counts");
    return Status::Ok();
  }
  void ProcessElement(const Event& event, Context& context, Collector<Fired>& out) override {
    if (context.timestamp() != event.time) throw std::runtime_error("timestamp not assigned");
    const Timestamp end = event.time - event.time % kWindow + kWindow - 1;
    counts_->Put(end, counts_->Get(end).value_or(0) + 1);
    context.TimerService().RegisterEventTimeTimer(end);
    if (event.value % 97 == 0) context.Output(kSpecial, event);
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<Fired>& out) override {
    out.Collect(Fired{context.GetCurrentKey(), time, counts_->Get(time).value_or(0),
                       static_cast<int64_t>(context.TimeDomain())});
    counts_->Remove(time);
  }

 private:
  state::MapState<Timestamp, int64_t>* counts_ = nullptr;
};

// Event i: key i % 13, time 2i plus a jitter below 50 -- never more than 60 ms out of order.
Event MakeEvent(int64_t index) {
  return Event{index % 13, index, 2 * index + static_cast<Timestamp>((index * 7919) % 50)};
}

auto EventStrategy() {
  return WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(60))
      .WithTimestampAssigner([](const Event& event, Timestamp) { return event.time; });
}

class EventTimeTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(EventTimeTest, WindowCountsByTimersMatchAReference) {
  const auto [parallelism, in_source] = GetParam();
  constexpr int64_t kEvents = 20000;
  StreamExecutionEnvironment env(TestConfig(parallelism));
  DataStream<Event> timed =
      in_source ? env.FromGenerator(kEvents, MakeEvent, EventStrategy())
                : env.FromGenerator(kEvents, MakeEvent).AssignTimestampsAndWatermarks(EventStrategy());
  DataStream<Fired> counts = timed.KeyBy([](const Event& event) { return event.key; }).Process(WindowCount());
  auto results = CollectInto(counts);
  auto special = CollectInto(counts.GetSideOutput(kSpecial));
  auto job = env.Execute("event time windows");
  ASSERT_TRUE(job.ok()) << job.status().ToString();

  std::map<std::pair<int64_t, Timestamp>, int64_t> expected;
  std::multiset<int64_t> expected_special;
  for (int64_t i = 0; i < kEvents; ++i) {
    const Event event = MakeEvent(i);
    ++expected[{event.key, event.time - event.time % kWindow + kWindow - 1}];
    if (event.value % 97 == 0) expected_special.insert(event.value);
  }
  std::map<std::pair<int64_t, Timestamp>, int64_t> got;
  for (size_t k = 0; k < results->values.size(); ++k) {
    const Fired& result = results->values[k];
    EXPECT_TRUE(got.emplace(std::make_pair(result.key, result.time), result.count).second)
        << "each (key, window) fires once";
    EXPECT_EQ(results->timestamps[k], result.time) << "timer output at the timer's time";
    EXPECT_EQ(result.domain, static_cast<int64_t>(TimeDomain::kEventTime));
  }
  EXPECT_EQ(got, expected);
  std::multiset<int64_t> got_special;
  for (size_t k = 0; k < special->values.size(); ++k) {
    got_special.insert(special->values[k].value);
    EXPECT_EQ(special->timestamps[k], special->values[k].time);
  }
  EXPECT_EQ(got_special, expected_special);
}

INSTANTIATE_TEST_SUITE_P(ParallelismAndPlace, EventTimeTest,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool()));

// An unbounded source: emits its events, then has nothing until `done` is set (or a deadline
// passes, so a failing test ends; then it sets `done` itself first), then ends.
class QuietSource final : public operators::SourceOperator<Event> {
 public:
  QuietSource(std::vector<Event> events, std::shared_ptr<std::atomic<bool>> done,
              int64_t deadline_millis = 10'000)
      : events_(std::move(events)), done_(std::move(done)), deadline_millis_(deadline_millis) {}
  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator::Open(context));
    deadline_ = MonotonicNanos() + deadline_millis_ * 1'000'000;
    return Status::Ok();
  }
  Result<operators::SourceStatus> Poll(int max_records) override {
    if (next_ < events_.size()) {
      for (int i = 0; i < max_records && next_ < events_.size(); ++i) {
        ++records_emitted_;
        output()->Collect(events_[next_++], kMinTimestamp);
      }
      return operators::SourceStatus::kMoreAvailable;
    }
    if (done_->load()) return operators::SourceStatus::kEndOfInput;
    if (MonotonicNanos() > deadline_) {
      done_->store(true);
      return operators::SourceStatus::kEndOfInput;
    }
    return operators::SourceStatus::kNothingNow;
  }

 private:
  std::vector<Event> events_;
  std::shared_ptr<std::atomic<bool>> done_;
  int64_t deadline_millis_;
  size_t next_ = 0;
  int64_t deadline_ = 0;
};

// Registers an event-time timer at each record's timestamp; a timer emits its key and time.
class TimerAtEventTime final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  void ProcessElement(const Event& event, Context& context, Collector<Fired>& out) override {
    context.TimerService().RegisterEventTimeTimer(context.timestamp());
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<Fired>& out) override {
    out.Collect(Fired{context.GetCurrentKey(), time, 0, static_cast<int64_t>(context.TimeDomain())});
  }
};

// Runs a union of a busy source (events at 0..999, then quiet but active) and a source that emits
// a few early events and then goes quiet, with or without idleness. Returns whether every timer
// up to the busy source's watermark fired while both sources were still running.
// The sources end by themselves after `deadline_millis`.
bool TimersFireWhileQuietSourceRuns(int parallelism, bool quiet_source_idles, int64_t deadline_millis) {
  StreamExecutionEnvironment env(TestConfig(parallelism));
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::vector<Event> busy_events;
  for (int64_t t = 0; t < 1000; ++t) busy_events.push_back(Event{t % 5, t, t});
  const std::vector<Event> quiet_events = {Event{100, 0, 3}, Event{101, 1, 4}};
  auto strategy = WatermarkStrategy<Event>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const Event& event) { return event.time; });
  auto busy = env.FromSource<Event>("Busy", [busy_events, done, deadline_millis](int) {
    return std::make_unique<QuietSource>(busy_events, done, deadline_millis);
  }, strategy, 1);
  auto quiet_make = [quiet_events, done, deadline_millis](int) {
    return std::make_unique<QuietSource>(quiet_events, done, deadline_millis);
  };
  auto quiet = quiet_source_idles ? env.FromSource<Event>("Quiet", quiet_make, strategy.WithIdleness(milliseconds(50)), 1)
                                  : env.FromSource<Event>("Quiet", quiet_make, strategy, 1);
  auto fired = busy.Union(quiet).KeyBy([](const Event& event) { return event.key; }).Process(TimerAtEventTime());
  auto results = std::make_shared<Collected<Fired>>();
  // The busy source's watermark settles at 999 - 1: timers at 0..998 of its events and the quiet
  // source's two fire while both run.
  const size_t expected = 999 + quiet_events.size();
  auto fired_in_time = std::make_shared<std::atomic<bool>>(false);
  results->on_record = [done, expected, fired_in_time](const Collected<Fired>& collected) {
    // `done` is still false while both sources run: no deadline passed, nothing ended.
    if (collected.values.size() == expected && !done->exchange(true)) fired_in_time->store(true);
  };
  fired.SinkTo("Collect", [results](int) { return std::make_unique<CollectSink<Fired>>(results); });
  auto job = env.Execute("idle union");
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  std::set<std::pair<int64_t, Timestamp>> got;
  for (const Fired& result : results->values) got.emplace(result.key, result.time);
  EXPECT_EQ(got.size(), 1000 + quiet_events.size()) << "at the end every timer fired once";
  return fired_in_time->load();
}

class EventTimeUnionTest : public ::testing::TestWithParam<int> {};

TEST_P(EventTimeUnionTest, IdleSourceDoesNotHoldBackTheUnionsWatermark) {
  EXPECT_TRUE(TimersFireWhileQuietSourceRuns(GetParam(), true, 10'000));
  // The control: without idleness the quiet source holds the watermark until the end.
  EXPECT_FALSE(TimersFireWhileQuietSourceRuns(GetParam(), false, 300));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, EventTimeUnionTest, ::testing::Values(1, 2));

// Registers a processing-time timer 20 ms after each event arrives; a timer emits its key.
class ProcessingTimeTimer final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  void ProcessElement(const Event& event, Context& context, Collector<Fired>& out) override {
    context.TimerService().RegisterProcessingTimeTimer(context.TimerService().CurrentProcessingTime() + 20);
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<Fired>& out) override {
    out.Collect(Fired{context.GetCurrentKey(), time, 0, static_cast<int64_t>(context.TimeDomain())});
  }
};

TEST_P(EventTimeUnionTest, ProcessingTimeTimersFireInARunningJob) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::vector<Event> events;
  for (int64_t key = 0; key < 10; ++key) events.push_back(Event{key, key, key});
  auto source = env.AddSource<Event>("Quiet", [events, done](int) {
    return std::make_unique<QuietSource>(events, done);
  }, 1);
  auto fired = source.KeyBy([](const Event& event) { return event.key; }).Process(ProcessingTimeTimer());
  auto results = std::make_shared<Collected<Fired>>();
  results->on_record = [done](const Collected<Fired>& collected) {
    if (collected.values.size() == 10) done->store(true);
  };
  fired.SinkTo("Collect", [results](int) { return std::make_unique<CollectSink<Fired>>(results); });
  const int64_t start = WallMillis();
  auto job = env.Execute("processing time");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(results->values.size(), 10u) << "timers fired before the source's deadline";
  std::set<int64_t> keys;
  for (size_t k = 0; k < results->values.size(); ++k) {
    keys.insert(results->values[k].key);
    EXPECT_EQ(results->values[k].domain, static_cast<int64_t>(TimeDomain::kProcessingTime));
    EXPECT_EQ(results->timestamps[k], kMinTimestamp);
    EXPECT_GE(results->values[k].time, start + 20);
  }
  EXPECT_EQ(keys.size(), 10u);
}

TEST(EventTimeFileTest, TextFilesWithAStrategyGetTimestampsPerSplit) {
  // Three files of "key,time" lines; each file is one split at parallelism 1 and 2.
  const std::string dir = ::testing::TempDir();
  std::vector<std::string> paths;
  std::set<std::pair<int64_t, Timestamp>> expected;
  for (int f = 0; f < 3; ++f) {
    paths.push_back(dir + "/weir_event_time_" + std::to_string(f) + ".txt");
    std::FILE* file = std::fopen(paths.back().c_str(), "w");
    ASSERT_NE(file, nullptr);
    for (int64_t t = 0; t < 500; ++t) {
      const int64_t key = (t * 31 + f) % 7;
      const Timestamp time = f * 1000 + t;
      std::fprintf(file, "%lld,%lld\n", static_cast<long long>(key), static_cast<long long>(time));
      expected.emplace(key, time);
    }
    std::fclose(file);
  }
  for (int parallelism : {1, 2}) {
    StreamExecutionEnvironment env(TestConfig(parallelism));
    auto strategy = WatermarkStrategy<std::string_view>::ForMonotonousTimestamps().WithTimestampAssigner(
        [](std::string_view line) {
          return static_cast<Timestamp>(std::stoll(std::string(line.substr(line.find(',') + 1))));
        });
    auto fired = env.ReadTextFiles(paths, strategy)
                     .Map([](const std::string_view& line) {
                       const size_t comma = line.find(',');
                       return Event{std::stoll(std::string(line.substr(0, comma))), 0, 0};
                     })
                     .KeyBy([](const Event& event) { return event.key; })
                     .Process(TimerAtEventTime());
    auto results = CollectInto(fired);
    auto job = env.Execute("files");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    std::set<std::pair<int64_t, Timestamp>> got;
    for (size_t k = 0; k < results->values.size(); ++k) {
      EXPECT_TRUE(got.emplace(results->values[k].key, results->values[k].time).second);
      EXPECT_EQ(results->timestamps[k], results->values[k].time);
    }
    EXPECT_EQ(got, expected) << "parallelism " << parallelism;
  }
  for (const std::string& path : paths) std::remove(path.c_str());
}

}  // namespace
}  // namespace weir::api
