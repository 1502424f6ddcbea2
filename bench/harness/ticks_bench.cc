// The market-ticks workload (harness/ticks/ticks.h) as whole jobs:
//   BM_Tick_Generator                     the feed generator alone: what the source costs per
//                                         message, the ceiling of every query (the baseline)
//   BM_Tick_Throughput/<query>/<msgs>/<p> T1 (1), T2 (2), T3 (3) unpaced at parallelism p
//   BM_Tick_T3Latency/<msgs>/<p>/<rate>   T3 paced at `rate` messages/s with
//                                         execution.buffer-timeout 0 (busy-polling workers):
//                                         p50/p99/p99.9/max latency from each message's due
//                                         instant to its row leaving the sink. Target at 1 M/s:
//                                         p99 <= 20 us, p99.9 <= 100 us. A lower rate shows the
//                                         latency of a run that the machine can keep up with.
// Each runs 3 times and reports the median (and mean, stddev) of the 3:
//   build-ticks/bench/weir_harness_bench --benchmark_filter=Tick
#include <benchmark/benchmark.h>

#include <string>

#include "api/stream_execution_environment.h"
#include "harness/ticks/generator.h"
#include "harness/ticks/ticks.h"

namespace weir::harness::ticks {
namespace {

Configuration BenchConfig(int parallelism) {
  Configuration config;
  WEIR_CHECK_OK(config.Set("parallelism.default", std::to_string(parallelism)));
  WEIR_CHECK_OK(config.Set("taskmanager.memory.managed.size", "2gb"));
  return config;
}

void BM_Tick_Generator(benchmark::State& state) {
  const TickConfig config;
  TickGenerator generator(config, 1);
  itch::TickMessage message;
  for (auto _ : state) {
    generator.Next(message);
    benchmark::DoNotOptimize(message);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tick_Generator)->Repetitions(3)->ReportAggregatesOnly(true);

void BM_Tick_Throughput(benchmark::State& state) {
  const TickQuery query = static_cast<TickQuery>(state.range(0) - 1);
  TickConfig config;
  config.messages = state.range(1);
  const int parallelism = static_cast<int>(state.range(2));
  int64_t rows = 0;
  double cpu_seconds = 0;
  for (auto _ : state) {
    api::StreamExecutionEnvironment env(BenchConfig(parallelism));
    RunContext context;
    context.seed = 1;
    BuildTickQuery(env, query, config, context);
    auto job = env.Execute(std::string("ticks ") + std::string(TickQueryName(query)));
    WEIR_CHECK_OK(job.status());
    rows = context.results->rows();
    WEIR_CHECK_MSG(rows > 0, "the query emitted no rows");
    state.SetIterationTime(job->seconds);
    cpu_seconds += job->cpu_seconds;
  }
  state.SetItemsProcessed(state.iterations() * config.messages);
  state.counters["rows"] = static_cast<double>(rows);
  // Messages per second of the job's CPU time (all its threads): on a shared machine the wall
  // time also counts the time other processes held the cores.
  state.counters["msgs_per_cpu_s"] = static_cast<double>(state.iterations() * config.messages) / cpu_seconds;
}
BENCHMARK(BM_Tick_Throughput)
    ->ArgNames({"query", "messages", "p"})
    ->Args({1, 5'000'000, 1})
    ->Args({1, 5'000'000, 2})
    ->Args({2, 5'000'000, 1})
    ->Args({2, 5'000'000, 2})
    ->Args({3, 5'000'000, 1})
    ->Args({3, 5'000'000, 2})
    ->UseManualTime()
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

void BM_Tick_T3Latency(benchmark::State& state) {
  TickConfig config;
  config.messages = state.range(0);
  const int parallelism = static_cast<int>(state.range(1));
  const double rate = static_cast<double>(state.range(2));
  LatencyHistogram latency;
  for (auto _ : state) {
    Configuration job_config = BenchConfig(parallelism);
    WEIR_CHECK_OK(job_config.Set("execution.buffer-timeout", "0"));
    api::StreamExecutionEnvironment env(job_config);
    RunContext context;
    context.seed = 1;
    context.rate = rate;
    context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.measure_latency = true});
    BuildTickQuery(env, TickQuery::kT3, config, context);
    auto job = env.Execute("ticks T3 paced");
    WEIR_CHECK_OK(job.status());
    latency = context.results->MergedLatency();
    WEIR_CHECK_MSG(latency.count() > 0, "no latency was recorded");
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * config.messages);
  state.counters["p50_us"] = static_cast<double>(latency.ValueAtPercentile(50)) / 1e3;
  state.counters["p99_us"] = static_cast<double>(latency.ValueAtPercentile(99)) / 1e3;
  state.counters["p99.9_us"] = static_cast<double>(latency.ValueAtPercentile(99.9)) / 1e3;
  state.counters["max_us"] = static_cast<double>(latency.max()) / 1e3;
}
BENCHMARK(BM_Tick_T3Latency)
    ->ArgNames({"messages", "p", "rate"})
    ->Args({3'000'000, 1, 1'000'000})
    ->Args({3'000'000, 2, 1'000'000})
    ->Args({1'000'000, 1, 200'000})
    ->Args({1'000'000, 2, 200'000})
    ->Args({500'000, 1, 50'000})
    ->UseManualTime()
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::harness::ticks
