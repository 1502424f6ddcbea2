// Nexmark's generator, its event files and its source:
//   BM_JavaRandom_NextInt12           the floor: a per-event Random and 12 bounded draws
//   BM_NexmarkGenerator_Generate      the default 1:3:46 stream, event by event
//   BM_NexmarkGenerator_Bid / _Person / _Auction   one kind only
//   BM_NexmarkEventCsv_Append / _Parse             event-file lines
//   BM_NexmarkEventCsv_WriteDevNull   WriteEventsCsv into /dev/null (bytes/s)
//   BM_NexmarkSource_Discard          NexmarkSource -> Discard, p=1: the q0 budget (>= 5 M events/s
//                                     per core including the generator)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "api/stream_execution_environment.h"
#include "harness/nexmark/event_csv.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/java_random.h"
#include "harness/nexmark/source.h"

namespace weir::harness::nexmark {
namespace {

void BM_JavaRandom_NextInt12(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    JavaRandom random(n++);
    int32_t sum = 0;
    for (int i = 0; i < 12; ++i) sum += random.NextInt(26);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JavaRandom_NextInt12);

void BM_NexmarkGenerator_Generate(benchmark::State& state) {
  NexmarkGenerator generator(GeneratorConfig{});
  int64_t n = 0;
  for (auto _ : state) {
    const Event& event = generator.Generate(n++);
    benchmark::DoNotOptimize(&event);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NexmarkGenerator_Generate);

// Event numbers of one kind: event n has nexmark id n + 2, its kind id % 50.
template <EventType kType>
void BM_NexmarkGenerator_Kind(benchmark::State& state) {
  NexmarkGenerator generator(GeneratorConfig{});
  std::vector<int64_t> numbers;
  for (int64_t n = 0; numbers.size() < 4096; ++n) {
    const int64_t offset = generator.EventIdOf(n) % 50;
    const EventType type = offset < 1   ? EventType::kPerson
                           : offset < 4 ? EventType::kAuction
                                        : EventType::kBid;
    if (type == kType) numbers.push_back(n);
  }
  size_t i = 0;
  int64_t epoch = 0;
  for (auto _ : state) {
    const Event& event = generator.Generate(numbers[i] + epoch);
    benchmark::DoNotOptimize(&event);
    if (++i == numbers.size()) {
      i = 0;
      epoch += 50 * 4096;  // later events of the same kinds
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NexmarkGenerator_Kind<EventType::kBid>)->Name("BM_NexmarkGenerator_Bid");
BENCHMARK(BM_NexmarkGenerator_Kind<EventType::kPerson>)->Name("BM_NexmarkGenerator_Person");
BENCHMARK(BM_NexmarkGenerator_Kind<EventType::kAuction>)->Name("BM_NexmarkGenerator_Auction");

void BM_NexmarkEventCsv_Append(benchmark::State& state) {
  NexmarkGenerator generator(GeneratorConfig{});
  std::vector<std::string> lines;
  std::string line;
  int64_t n = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    line.clear();
    AppendEventCsv(line, generator.Generate(n++));
    bytes += static_cast<int64_t>(line.size());
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_NexmarkEventCsv_Append);

void BM_NexmarkEventCsv_Parse(benchmark::State& state) {
  NexmarkGenerator generator(GeneratorConfig{});
  std::vector<std::string> lines;
  for (int64_t n = 0; n < 10'000; ++n) {
    std::string line;
    AppendEventCsv(line, generator.Generate(n));
    lines.push_back(std::move(line));
  }
  EventCsvParser parser;
  Event event;
  EventCsvError error;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const bool parsed = parser.Parse(lines[i], &event, &error);
    benchmark::DoNotOptimize(parsed);
    bytes += static_cast<int64_t>(lines[i].size());
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_NexmarkEventCsv_Parse);

void BM_NexmarkEventCsv_WriteDevNull(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) WEIR_CHECK_OK(WriteEventsCsv(GeneratorConfig{}, count, "/dev/null"));
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_NexmarkEventCsv_WriteDevNull)->Arg(2'000'000)->Unit(benchmark::kMillisecond);

void BM_NexmarkSource_Discard(benchmark::State& state) {
  GeneratorConfig config;
  config.max_events = state.range(0);
  double cpu_seconds = 0;
  for (auto _ : state) {
    Configuration flink_config;
    WEIR_CHECK_OK(flink_config.Set("parallelism.default", "1"));
    api::StreamExecutionEnvironment env(flink_config);
    RunContext context;
    NexmarkSource(env, config, context).Discard();
    auto job = env.Execute("nexmark-source-discard");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
    cpu_seconds += job->cpu_seconds;
  }
  state.SetItemsProcessed(state.iterations() * config.max_events);
  // The machine may be shared: CPU time per event is the number to hold against the budget.
  state.counters["cpu_ns_per_event"] =
      cpu_seconds * 1e9 / static_cast<double>(state.iterations() * config.max_events);
}
BENCHMARK(BM_NexmarkSource_Discard)
    ->Arg(20'000'000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::harness::nexmark
