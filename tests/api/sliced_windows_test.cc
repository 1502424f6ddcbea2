// The slicing fast path behind WindowedStream::Reduce / Aggregate must compute exactly what the
// generic WindowOperator computes: both run in the same job over the same keyed stream (so they
// see the same records and watermarks, lateness included) and their outputs are compared.
#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <set>
#include <tuple>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

struct Event {
  int64_t key;
  int64_t time;
  int64_t value;
};

struct SumAggregate {
  static constexpr bool kOrderInsensitive = true;
  struct Acc {
    int64_t count;
    int64_t sum;
  };
  Acc CreateAccumulator() const { return {0, 0}; }
  void Add(const Event& event, Acc& acc) const {
    ++acc.count;
    acc.sum += event.value;
  }
  Acc GetResult(const Acc& acc) const { return acc; }
  Acc Merge(const Acc& a, const Acc& b) const { return {a.count + b.count, a.sum + b.sum}; }
};

// Passes the single aggregate through: combined with a process function the window takes the
// generic operator, which is the reference here.
struct PassThrough : ProcessWindowFunction<SumAggregate::Acc, SumAggregate::Acc, int64_t, TimeWindow> {
  void Process(const int64_t&, Context&, std::span<const SumAggregate::Acc> results,
               Collector<SumAggregate::Acc>& out) override {
    for (const auto& result : results) out.Collect(result);
  }
};

// (key or count, value or sum, output timestamp)
using Row = std::tuple<int64_t, int64_t, Timestamp>;

class RowSink final : public operators::SinkOperator<Row> {
 public:
  RowSink(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::multiset<Row>> rows)
      : mutex_(std::move(mutex)), rows_(std::move(rows)) {}
  void Collect(const Row& row, Timestamp) override {
    std::lock_guard lock(*mutex_);
    rows_->insert(row);
  }

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::multiset<Row>> rows_;
};

std::vector<Event> RandomEvents() {
  std::mt19937_64 random(31);
  std::vector<Event> events;
  for (int64_t i = 0; i < 60'000; ++i) {
    // Mostly within the 30 ms bound; every 50th event far behind (late, or late but allowed).
    int64_t time = i / 20 - static_cast<int64_t>(random() % 30);
    if (i % 50 == 0) time -= 40 + static_cast<int64_t>(random() % 200);
    events.push_back({static_cast<int64_t>(random() % 50), time, static_cast<int64_t>(random() % 1000)});
  }
  return events;
}

// The collection source generates the watermarks (at the end of each batch it emits), so time
// advances while it reads and some events arrive late.
DataStream<Event> Source(StreamExecutionEnvironment& env, const std::vector<Event>& events) {
  return env.FromCollection(events, WatermarkStrategy<Event>::ForBoundedOutOfOrderness(std::chrono::milliseconds(30))
                                        .WithTimestampAssigner([](const Event& event, Timestamp) { return event.time; }));
}

TEST(SlicedWindowsTest, FastPathEqualsTheGenericOperator) {
  const std::vector<Event> events = RandomEvents();
  using Tumbling = decltype(TumblingEventTimeWindows::Of(std::chrono::milliseconds(1)));
  using Sliding = decltype(SlidingEventTimeWindows::Of(std::chrono::milliseconds(2), std::chrono::milliseconds(1)));
  static_assert(internal::CanSlice<Tumbling, EventTimeTrigger, NoEvictor, SumAggregate::Acc>());
  static_assert(internal::CanSlice<Sliding, EventTimeTrigger, NoEvictor, SumAggregate::Acc>());
  for (int parallelism : {1, 2}) {
    for (auto [size, slide, lateness] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {100, 100, 0}, {100, 100, 80}, {100, 20, 0}, {90, 40, 50}}) {
      Configuration config;
      ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
      ASSERT_TRUE(config.Set("taskmanager.memory.network.max", "64mb").ok());
      StreamExecutionEnvironment env(config);
      auto keyed = Source(env, events).KeyBy([](const Event& event) { return event.key; });
      auto assigner = SlidingEventTimeWindows::Of(std::chrono::milliseconds(size), std::chrono::milliseconds(slide));
      const OutputTag<Event> fast_late("fast-late");
      const OutputTag<Event> generic_late("generic-late");
      auto mutex = std::make_shared<std::mutex>();
      std::array<std::shared_ptr<std::multiset<Row>>, 4> rows;
      for (auto& r : rows) r = std::make_shared<std::multiset<Row>>();
      auto to_row = [](const SumAggregate::Acc& acc, auto& context, Collector<Row>& out) {
        out.Collect(Row{acc.count, acc.sum, context.timestamp()});
      };
      auto late_row = [](const Event& event, auto&, Collector<Row>& out) {
        out.Collect(Row{event.key, event.value, event.time});
      };
      auto sink = [mutex](std::shared_ptr<std::multiset<Row>> into) {
        return [mutex, into](int) { return std::make_unique<RowSink>(mutex, into); };
      };
      auto windowed = keyed.Window(assigner).AllowedLateness(std::chrono::milliseconds(lateness));
      auto fast = windowed.SideOutputLateData(fast_late).Aggregate(SumAggregate());
      auto generic = windowed.SideOutputLateData(generic_late).Aggregate(SumAggregate(), PassThrough());
      fast.Process<Row>(to_row).SinkTo("fast", sink(rows[0]));
      generic.Process<Row>(to_row).SinkTo("generic", sink(rows[1]));
      fast.GetSideOutput(fast_late).Process<Row>(late_row).SinkTo("fast late", sink(rows[2]));
      generic.GetSideOutput(generic_late).Process<Row>(late_row).SinkTo("generic late", sink(rows[3]));
      auto result = env.Execute("sliced windows");
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      const std::string where = fmt::format("p={} size={} slide={} lateness={}", parallelism, size, slide, lateness);
      ASSERT_GT(rows[1]->size(), 1000u) << where;
      EXPECT_EQ(*rows[0], *rows[1]) << where;
      EXPECT_EQ(*rows[2], *rows[3]) << where;
      EXPECT_FALSE(rows[3]->empty()) << where;
    }
  }
}

TEST(SlicedWindowsTest, TumblingReduceOfStructsEqualsTheGenericOperator) {
  const std::vector<Event> events = RandomEvents();
  Configuration config;
  ASSERT_TRUE(config.Set("parallelism.default", "2").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.network.max", "64mb").ok());
  StreamExecutionEnvironment env(config);
  auto keyed = Source(env, events).KeyBy([](const Event& event) { return event.key; });
  // Keeps the first element's time and key (order-dependent: exact only in arrival order).
  auto reduce = [](const Event& a, const Event& b) { return Event{a.key, a.time, a.value + b.value}; };
  struct Identity : ProcessWindowFunction<Event, Event, int64_t, TimeWindow> {
    void Process(const int64_t&, Context&, std::span<const Event> events, Collector<Event>& out) override {
      for (const Event& event : events) out.Collect(event);
    }
  };
  auto windowed = keyed.Window(TumblingEventTimeWindows::Of(std::chrono::milliseconds(70)))
                      .AllowedLateness(std::chrono::milliseconds(40));
  auto mutex = std::make_shared<std::mutex>();
  auto fast_rows = std::make_shared<std::multiset<Row>>();
  auto generic_rows = std::make_shared<std::multiset<Row>>();
  auto to_row = [](const Event& event, auto&, Collector<Row>& out) {
    out.Collect(Row{event.key * 1'000'000 + event.time, event.value, 0});
  };
  windowed.Reduce(reduce).Process<Row>(to_row).SinkTo("fast", [mutex, fast_rows](int) {
    return std::make_unique<RowSink>(mutex, fast_rows);
  });
  windowed.Reduce(reduce, Identity()).Process<Row>(to_row).SinkTo("generic", [mutex, generic_rows](int) {
    return std::make_unique<RowSink>(mutex, generic_rows);
  });
  auto result = env.Execute("sliced reduce");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_GT(generic_rows->size(), 1000u);
  EXPECT_EQ(*fast_rows, *generic_rows);
}

TEST(SlicedWindowsTest, SessionFastPathEqualsTheGenericOperator) {
  const std::vector<Event> events = RandomEvents();
  using Sessions = decltype(EventTimeSessionWindows::WithGap(std::chrono::milliseconds(1)));
  static_assert(internal::CanUseSessionPath<Sessions, EventTimeTrigger, NoEvictor, SumAggregate::Acc>());
  for (int parallelism : {1, 2}) {
    for (auto [gap, lateness] : std::vector<std::pair<int64_t, int64_t>>{{5, 0}, {3, 40}, {20, 10}}) {
      Configuration config;
      ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
      StreamExecutionEnvironment env(config);
      // Sparse keys so that sessions close: key k is active in its own periods.
      std::vector<Event> sparse = events;
      for (Event& event : sparse) event.key = (event.time / 37 + event.key) % 400;
      auto keyed = Source(env, sparse).KeyBy([](const Event& event) { return event.key; });
      const OutputTag<Event> fast_late("fast-late");
      const OutputTag<Event> generic_late("generic-late");
      auto mutex = std::make_shared<std::mutex>();
      std::array<std::shared_ptr<std::multiset<Row>>, 4> rows;
      for (auto& r : rows) r = std::make_shared<std::multiset<Row>>();
      auto to_row = [](const SumAggregate::Acc& acc, auto& context, Collector<Row>& out) {
        out.Collect(Row{acc.count, acc.sum, context.timestamp()});
      };
      auto late_row = [](const Event& event, auto&, Collector<Row>& out) {
        out.Collect(Row{event.key, event.value, event.time});
      };
      auto sink = [mutex](std::shared_ptr<std::multiset<Row>> into) {
        return [mutex, into](int) { return std::make_unique<RowSink>(mutex, into); };
      };
      auto windowed = keyed.Window(EventTimeSessionWindows::WithGap(std::chrono::milliseconds(gap)))
                          .AllowedLateness(std::chrono::milliseconds(lateness));
      auto fast = windowed.SideOutputLateData(fast_late).Aggregate(SumAggregate());
      auto generic = windowed.SideOutputLateData(generic_late).Aggregate(SumAggregate(), PassThrough());
      fast.Process<Row>(to_row).SinkTo("fast", sink(rows[0]));
      generic.Process<Row>(to_row).SinkTo("generic", sink(rows[1]));
      fast.GetSideOutput(fast_late).Process<Row>(late_row).SinkTo("fast late", sink(rows[2]));
      generic.GetSideOutput(generic_late).Process<Row>(late_row).SinkTo("generic late", sink(rows[3]));
      auto result = env.Execute("session windows");
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      const std::string where = fmt::format("p={} gap={} lateness={}", parallelism, gap, lateness);
      ASSERT_GT(rows[1]->size(), 100u) << where;
      EXPECT_EQ(*rows[0], *rows[1]) << where;
      EXPECT_EQ(*rows[2], *rows[3]) << where;
    }
  }
}

}  // namespace
}  // namespace weir::api
