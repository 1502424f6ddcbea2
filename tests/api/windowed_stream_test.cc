#include "api/windowed_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

using std::chrono::milliseconds;
// (key, id): ids are unique.
using Event = std::pair<int64_t, int64_t>;
// (key, window start, window end, sorted ids) and the record timestamp.
using WindowResult = std::tuple<int64_t, int64_t, int64_t, std::string>;
using Timed = std::pair<WindowResult, Timestamp>;

std::string Join(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string out;
  for (int64_t id : ids) out += std::to_string(id) + ",";
  return out;
}

struct Step {
  bool is_watermark = false;
  Event event;
  Timestamp timestamp = 0;
};

// Out-of-order timestamps with a bounded-delay watermark every few elements and stragglers (one
// in ten) far behind it; the source ends with the maximum watermark.
std::vector<Step> RandomSteps(uint64_t seed, int count, int keys, Timestamp max_delay) {
  std::mt19937_64 random(seed);
  std::vector<Step> steps;
  Timestamp clock = 0;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    clock += static_cast<Timestamp>(random() % 4);
    Timestamp delay = static_cast<Timestamp>(random() % (max_delay + 1));
    if (random() % 10 == 0) delay += 2 * max_delay;
    steps.push_back({false, Event{static_cast<int64_t>(random() % keys), i}, clock - delay});
    if (random() % 5 == 0 && clock - max_delay / 2 > watermark) {
      watermark = clock - max_delay / 2;
      steps.push_back({true, {}, watermark});
    }
  }
  return steps;
}

// Emits the steps in order: records with their timestamps and the watermarks between them.
class StepSource final : public operators::SourceOperator<Event> {
 public:
  explicit StepSource(std::shared_ptr<const std::vector<Step>> steps) : steps_(std::move(steps)) {}
  weir::Result<operators::SourceStatus> Poll(int max_records) override {
    for (int i = 0; i < max_records && next_ < steps_->size(); ++i) {
      const Step& step = (*steps_)[next_++];
      if (step.is_watermark) {
        output()->EmitWatermark(step.timestamp);
      } else {
        ++records_emitted_;
        output()->Collect(step.event, step.timestamp);
      }
    }
    return next_ == steps_->size() ? operators::SourceStatus::kEndOfInput
                                   : operators::SourceStatus::kMoreAvailable;
  }

 private:
  std::shared_ptr<const std::vector<Step>> steps_;
  size_t next_ = 0;
};

template <typename T>
struct Collected {
  std::mutex mutex;
  std::vector<std::pair<T, Timestamp>> values;
};

template <typename T>
class CollectSink final : public operators::SinkOperator<T> {
 public:
  explicit CollectSink(std::shared_ptr<Collected<T>> target) : target_(std::move(target)) {}
  void Collect(const T& value, Timestamp timestamp) override {
    std::lock_guard lock(target_->mutex);
    target_->values.emplace_back(value, timestamp);
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

template <typename T>
std::multiset<std::pair<T, Timestamp>> AsMultiset(const Collected<T>& collected) {
  return {collected.values.begin(), collected.values.end()};
}

Configuration TestConfig(int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "64mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "64mb").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  return config;
}

DataStream<Event> Source(StreamExecutionEnvironment& env, const std::vector<Step>& steps) {
  auto shared = std::make_shared<const std::vector<Step>>(steps);
  return env.AddSource<Event>("Steps", [shared](int) { return std::make_unique<StepSource>(shared); }, 1);
}

// Tumbling event-time windows with allowed lateness, from the definitions: a window takes an
// element while watermark < window end - 1 + lateness; it fires when the watermark reaches its end
// - 1 and again for every element it takes after that; an element no window takes is late.
struct TumblingReference {
  TumblingReference(Timestamp size, Timestamp lateness, bool all = false)
      : size(size), lateness(lateness), all(all) {}
  Timestamp size, lateness;
  bool all;  // one window for every key (WindowAll), reported under key 0
  std::multiset<Timed> fired;
  std::multiset<Event> late;

  void Run(const std::vector<Step>& steps) {
    std::map<std::pair<int64_t, Timestamp>, std::vector<int64_t>> windows;  // (key, start) -> ids
    Timestamp watermark = kMinTimestamp;
    auto fire = [&](int64_t key, Timestamp start, const std::vector<int64_t>& ids) {
      fired.insert(Timed{WindowResult{key, start, start + size, Join(ids)}, start + size - 1});
    };
    for (const Step& step : steps) {
      if (step.is_watermark) {
        for (auto it = windows.begin(); it != windows.end();) {
          const Timestamp max = it->first.second + size - 1;
          if (max > watermark && max <= step.timestamp) fire(it->first.first, it->first.second, it->second);
          it = max + lateness <= step.timestamp ? windows.erase(it) : std::next(it);
        }
        watermark = step.timestamp;
        continue;
      }
      const Timestamp ts = step.timestamp;
      const Timestamp start = ts - ((ts % size) + size) % size;
      const int64_t key = all ? 0 : step.event.first;
      if (start + size - 1 + lateness <= watermark) {
        late.insert(step.event);
        continue;
      }
      std::vector<int64_t>& ids = windows[{key, start}];
      ids.push_back(step.event.second);
      if (start + size - 1 <= watermark) fire(key, start, ids);
    }
    for (auto& [window, ids] : windows) {
      const Timestamp max = window.second + size - 1;
      if (max > watermark) fire(window.first, window.second, ids);
    }
  }
};

class IdsOfWindow final : public ProcessWindowFunction<Event, WindowResult, int64_t, TimeWindow> {
 public:
  void Process(const int64_t& key, Context& context, std::span<const Event> elements,
               Collector<WindowResult>& out) override {
    std::vector<int64_t> ids;
    for (const Event& event : elements) ids.push_back(event.second);
    out.Collect(WindowResult{key, context.window().start, context.window().end, Join(ids)});
  }
};

class IdsOfAllWindow final : public ProcessAllWindowFunction<Event, WindowResult, TimeWindow> {
 public:
  void Process(Context& context, std::span<const Event> elements, Collector<WindowResult>& out) override {
    std::vector<int64_t> ids;
    for (const Event& event : elements) ids.push_back(event.second);
    out.Collect(WindowResult{0, context.window().start, context.window().end, Join(ids)});
  }
};

class WindowedStreamTest : public ::testing::TestWithParam<int> {};

TEST_P(WindowedStreamTest, TumblingEventTimeWithLatenessAndLateSideOutputMatchReference) {
  const auto steps = RandomSteps(17, 20000, 13, 40);
  TumblingReference reference(25, 30);
  reference.Run(steps);
  ASSERT_FALSE(reference.late.empty());

  StreamExecutionEnvironment env(TestConfig(GetParam()));
  const OutputTag<Event> late_tag("late");
  auto windowed = Source(env, steps)
                      .KeyBy([](const Event& event) { return event.first; })
                      .Window(TumblingEventTimeWindows::Of(milliseconds(25)))
                      .AllowedLateness(milliseconds(30))
                      .SideOutputLateData(late_tag)
                      .Process(IdsOfWindow());
  auto results = CollectInto(windowed);
  auto late = CollectInto(windowed.GetSideOutput(late_tag));
  auto job = env.Execute("tumbling");
  ASSERT_TRUE(job.ok()) << job.status().ToString();

  EXPECT_EQ(AsMultiset(*results), reference.fired);
  std::multiset<Event> late_events;
  for (const auto& [event, ts] : late->values) late_events.insert(event);
  EXPECT_EQ(late_events, reference.late);
}

TEST_P(WindowedStreamTest, WindowAllRunsAtParallelismOneOverEveryKey) {
  const auto steps = RandomSteps(23, 5000, 13, 40);
  TumblingReference reference(50, 0, /*all=*/true);
  reference.Run(steps);
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto windowed = Source(env, steps).WindowAll(TumblingEventTimeWindows::Of(milliseconds(50))).Process(IdsOfAllWindow());
  EXPECT_EQ(windowed.GetParallelism(), 1);
  auto results = CollectInto(windowed);
  ASSERT_TRUE(env.Execute("window all").ok());
  EXPECT_EQ(AsMultiset(*results), reference.fired);
}

TEST_P(WindowedStreamTest, SumReduceAndAggregateAgreeWithTheProcessedWindows) {
  const auto steps = RandomSteps(29, 10000, 7, 40);
  TumblingReference reference(30, 0);
  reference.Run(steps);
  // The sum of each fired window's ids, keyed as the reference reports it.
  std::multiset<std::pair<Event, Timestamp>> sums;
  for (const auto& [result, ts] : reference.fired) {
    int64_t sum = 0;
    const std::string& ids = std::get<3>(result);
    for (size_t start = 0; start < ids.size();) {
      const size_t comma = ids.find(',', start);
      sum += std::stoll(ids.substr(start, comma - start));
      start = comma + 1;
    }
    sums.emplace(Event{std::get<0>(result), sum}, ts);
  }

  struct SumAggregate {
    Event CreateAccumulator() const { return {0, 0}; }
    Event Add(const Event& event, const Event& acc) const { return {event.first, acc.second + event.second}; }
    Event GetResult(const Event& acc) const { return acc; }
    Event Merge(const Event& a, const Event& b) const { return {a.first, a.second + b.second}; }
  };
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto windowed = Source(env, steps)
                      .KeyBy([](const Event& event) { return event.first; })
                      .Window(TumblingEventTimeWindows::Of(milliseconds(30)));
  auto summed = CollectInto(windowed.Sum<1>());
  auto reduced = CollectInto(
      windowed.Reduce([](const Event& a, const Event& b) { return Event{a.first, a.second + b.second}; }));
  auto aggregated = CollectInto(windowed.Aggregate(SumAggregate()));
  auto job = env.Execute("sums");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(AsMultiset(*summed), sums);
  EXPECT_EQ(AsMultiset(*reduced), sums);
  EXPECT_EQ(AsMultiset(*aggregated), sums);
}

TEST_P(WindowedStreamTest, CountWindowsFireEverySizeOrSlideElementsOfAKey) {
  const auto steps = RandomSteps(31, 10000, 11, 10);
  // Per key in arrival order: tumbling count windows of 3 (sums of ids) and sliding count
  // windows of 4 every 2 (the last up to 4 ids).
  std::multiset<std::pair<Event, Timestamp>> tumbling;
  std::multiset<std::pair<WindowResult, Timestamp>> sliding;
  std::map<int64_t, std::vector<int64_t>> ids_of;
  for (const Step& step : steps) {
    if (step.is_watermark) continue;
    std::vector<int64_t>& ids = ids_of[step.event.first];
    ids.push_back(step.event.second);
    if (ids.size() % 3 == 0) {
      tumbling.emplace(Event{step.event.first, ids[ids.size() - 3] + ids[ids.size() - 2] + ids.back()},
                       kMaxTimestamp);
    }
    if (ids.size() % 2 == 0) {
      std::vector<int64_t> last(ids.end() - static_cast<std::ptrdiff_t>(std::min<size_t>(4, ids.size())), ids.end());
      sliding.emplace(WindowResult{step.event.first, 0, 0, Join(last)}, kMaxTimestamp);
    }
  }

  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto keyed = Source(env, steps).KeyBy([](const Event& event) { return event.first; });
  auto tumbled = CollectInto(keyed.CountWindow(3).Reduce(
      [](const Event& a, const Event& b) { return Event{a.first, a.second + b.second}; }));
  auto slid = CollectInto(keyed.CountWindow(4, 2).template Apply<WindowResult>(
      [](const int64_t& key, const GlobalWindow&, std::span<const Event> elements, Collector<WindowResult>& out) {
        std::vector<int64_t> ids;
        for (const Event& event : elements) ids.push_back(event.second);
        out.Collect(WindowResult{key, 0, 0, Join(ids)});
      }));
  auto job = env.Execute("count windows");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(AsMultiset(*tumbled), tumbling);
  EXPECT_EQ(AsMultiset(*slid), sliding);
}

TEST_P(WindowedStreamTest, SessionWindowsCoverEveryElementOnce) {
  // Without lateness and with the watermark at the end only, sessions are the maximal runs of a
  // key's timestamps with gaps of at most `gap` (touching windows merge).
  std::vector<Step> steps;
  std::mt19937_64 random(41);
  for (int i = 0; i < 5000; ++i) {
    steps.push_back({false, Event{static_cast<int64_t>(random() % 9), i}, static_cast<Timestamp>(random() % 20000)});
  }
  const Timestamp gap = 12;
  std::multiset<std::pair<WindowResult, Timestamp>> expected;
  std::map<int64_t, std::vector<std::pair<Timestamp, int64_t>>> by_key;
  for (const Step& step : steps) by_key[step.event.first].emplace_back(step.timestamp, step.event.second);
  for (auto& [key, elements] : by_key) {
    std::sort(elements.begin(), elements.end());
    size_t first = 0;
    while (first < elements.size()) {
      size_t last = first + 1;
      while (last < elements.size() && elements[last].first <= elements[last - 1].first + gap) ++last;
      std::vector<int64_t> ids;
      for (size_t i = first; i < last; ++i) ids.push_back(elements[i].second);
      const Timestamp end = elements[last - 1].first + gap;
      expected.emplace(WindowResult{key, elements[first].first, end, Join(ids)}, end - 1);
      first = last;
    }
  }
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto results = CollectInto(Source(env, steps)
                                 .KeyBy([](const Event& event) { return event.first; })
                                 .Window(EventTimeSessionWindows::WithGap(milliseconds(gap)))
                                 .Process(IdsOfWindow()));
  ASSERT_TRUE(env.Execute("sessions").ok());
  EXPECT_EQ(AsMultiset(*results), expected);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, WindowedStreamTest, ::testing::Values(1, 2));

}  // namespace
}  // namespace weir::api
