// Whole-job window benchmarks through the public API (issue 3's targets, per core at p=1: the
// generator, the watermark strategy, the window and the sink are one chained task):
//   BM_WindowJob_Tumbling       10 s tumbling sum                       (>= 50 M events/s)
//   BM_WindowJob_Sliding/10000  10 s / 1 s sliding sum, via slices      (>= 20 M events/s)
//   BM_WindowJob_Sliding/60000  60 s / 1 s: must cost about the same per event
//   BM_WindowJob_Session        sessions with a 1 s gap                 (>= 10 M events/s)
//   BM_WindowJob_TumblingParallel2   the tumbling job at parallelism 2 (keyBy is an exchange)
//   BM_WindowJob_TumblingOutOfOrder  10% of events out of order within the watermark bound
//                               (within 20% of BM_WindowJob_Tumbling)
// Events are 32 bytes ({key, time, value, pad}), 10 000 keys, 1 000 events per millisecond of
// event time, so windows fire during the run. Throughput is events / the job's run time.
#include <benchmark/benchmark.h>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

struct Event {
  int64_t key;
  int64_t time;
  int64_t value;
  int64_t pad;
};
static_assert(sizeof(Event) == 32);

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

constexpr int64_t kKeys = 10'000;
constexpr int64_t kEventsPerMilli = 1'000;

Event InOrder(int64_t i) { return {i % kKeys, i / kEventsPerMilli, i, 0}; }
// Every 10th event 0..99 ms behind: inside the 100 ms watermark bound.
Event OutOfOrder(int64_t i) {
  Event event = InOrder(i);
  if (i % 10 == 3) event.time = std::max<int64_t>(0, event.time - (i * 7919) % 100);
  return event;
}
// Sessions that close: key k is active for 2 s then silent for 2 s (pairs of keys alternate).
Event Sessions(int64_t i) {
  Event event = InOrder(i);
  const int64_t period = (event.time / 2000) % 2;
  event.key = (i % (kKeys / 2)) * 2 + period;
  return event;
}

auto Strategy(int64_t bound_ms) {
  return WatermarkStrategy<Event>::ForBoundedOutOfOrderness(std::chrono::milliseconds(bound_ms))
      .WithTimestampAssigner([](const Event& event, Timestamp) { return event.time; });
}

template <typename Generator, typename Window>
void RunJob(benchmark::State& state, Generator generator, int64_t bound_ms, Window window,
            int parallelism = 1) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    Configuration config;
    WEIR_CHECK_OK(config.Set("parallelism.default", std::to_string(parallelism)));
    WEIR_CHECK_OK(config.Set("taskmanager.memory.managed.size", "1gb"));
    StreamExecutionEnvironment env(config);
    auto keyed = env.FromGenerator(count, generator, Strategy(bound_ms)).KeyBy([](const Event& e) { return e.key; });
    window(keyed).Discard();
    auto job = env.Execute("window job");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * count);
}

void BM_WindowJob_Tumbling(benchmark::State& state) {
  RunJob(state, InOrder, 100, [](auto keyed) {
    return keyed.Window(TumblingEventTimeWindows::Of(std::chrono::seconds(10))).Aggregate(SumAggregate());
  });
}
BENCHMARK(BM_WindowJob_Tumbling)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

// At parallelism 2 the keyBy is an exchange: the windows read their records from channels (and
// the two subtasks share this machine's two cores with the sources), so this is per job, not per
// core.
void BM_WindowJob_TumblingParallel2(benchmark::State& state) {
  RunJob(
      state, InOrder, 100,
      [](auto keyed) {
        return keyed.Window(TumblingEventTimeWindows::Of(std::chrono::seconds(10))).Aggregate(SumAggregate());
      },
      2);
}
BENCHMARK(BM_WindowJob_TumblingParallel2)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_WindowJob_TumblingOutOfOrder(benchmark::State& state) {
  RunJob(state, OutOfOrder, 100, [](auto keyed) {
    return keyed.Window(TumblingEventTimeWindows::Of(std::chrono::seconds(10))).Aggregate(SumAggregate());
  });
}
BENCHMARK(BM_WindowJob_TumblingOutOfOrder)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_WindowJob_Sliding(benchmark::State& state) {
  const int64_t size = state.range(1);
  RunJob(state, InOrder, 100, [size](auto keyed) {
    return keyed.Window(SlidingEventTimeWindows::Of(std::chrono::milliseconds(size), std::chrono::seconds(1)))
        .Aggregate(SumAggregate());
  });
}
BENCHMARK(BM_WindowJob_Sliding)
    ->Args({50'000'000, 10'000})
    ->Args({50'000'000, 60'000})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_WindowJob_Session(benchmark::State& state) {
  RunJob(state, Sessions, 100, [](auto keyed) {
    return keyed.Window(EventTimeSessionWindows::WithGap(std::chrono::seconds(1))).Aggregate(SumAggregate());
  });
}
BENCHMARK(BM_WindowJob_Session)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

// State for 10 M keys within its budget: 20 M events over 10 M keys into 10 s tumbling windows,
// with 3 GB of managed memory (state and timers of 10 M keys take about 1.5 GB). At parallelism
// 1 and 2 (the second argument; at 2 the keyBy is an exchange).
void BM_WindowJob_TenMillionKeys(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    Configuration config;
    WEIR_CHECK_OK(config.Set("parallelism.default", std::to_string(state.range(1))));
    WEIR_CHECK_OK(config.Set("taskmanager.memory.managed.size", "3gb"));
    StreamExecutionEnvironment env(config);
    auto generator = [](int64_t i) { return Event{i % 10'000'000, i / kEventsPerMilli, i, 0}; };
    env.FromGenerator(count, generator, Strategy(100))
        .KeyBy([](const Event& e) { return e.key; })
        .Window(TumblingEventTimeWindows::Of(std::chrono::seconds(10)))
        .Aggregate(SumAggregate())
        .Discard();
    auto job = env.Execute("ten million keys");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_WindowJob_TenMillionKeys)->Args({20'000'000, 1})->Args({20'000'000, 2})->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::api
