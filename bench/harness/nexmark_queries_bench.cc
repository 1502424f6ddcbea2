// The Nexmark queries (harness/nexmark/queries.h) as whole jobs over nexmark's generator, unpaced,
// at parallelism 1: BM_NexmarkQuery/<query>/<events>. Targets per core, generator included:
// q0 >= 5 M, q1 >= 4 M, q2 >= 8 M, q3 >= 3 M, q5 >= 1 M, q7 >= 1 M, q8 >= 2 M, q11 >= 1 M events/s.
// Reported:
//   events_per_s      events / the job's wall time (the iteration time)
//   events_per_cpu_s  events / the process CPU time during the run (per core)
// The baseline in the same binary, BM_NexmarkQuery_GeneratorOnly, is the generator alone in a
// loop (what a query's source costs before any record moves): a query's time is that plus the
// engine's work.
#include <benchmark/benchmark.h>

#include <string>

#include "api/stream_execution_environment.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/queries.h"
#include "harness/nexmark/source.h"

namespace weir::harness::nexmark {
namespace {

void BM_NexmarkQuery(benchmark::State& state) {
  const NexmarkQuery& query = NexmarkQueries()[static_cast<size_t>(state.range(0))];
  const int64_t events = state.range(1);
  state.SetLabel(std::string(query.name));
  double cpu_seconds = 0;
  for (auto _ : state) {
    Configuration config;
    WEIR_CHECK_OK(config.Set("parallelism.default", "1"));
    api::StreamExecutionEnvironment env(config);
    GeneratorConfig generator;
    generator.max_events = events;
    RunContext context;
    query.build(NexmarkSource(env, generator, context), context);
    auto job = env.Execute(std::string(query.name));
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
    cpu_seconds += job->cpu_seconds;
  }
  const double total = static_cast<double>(state.iterations() * events);
  state.SetItemsProcessed(state.iterations() * events);
  state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["events_per_cpu_s"] = total / cpu_seconds;
}

void QueryArgs(benchmark::internal::Benchmark* benchmark) {
  for (size_t i = 0; i < NexmarkQueries().size(); ++i) {
    if (NexmarkQueries()[i].name == "q12")
      continue;  // processing-time windows: not a throughput query
    benchmark->Args({static_cast<int64_t>(i), 20'000'000});
  }
}
BENCHMARK(BM_NexmarkQuery)->Apply(QueryArgs)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_NexmarkQuery_GeneratorOnly(benchmark::State& state) {
  const int64_t events = state.range(0);
  GeneratorConfig config;
  config.max_events = events;
  NexmarkGenerator generator(config);
  int64_t checksum = 0;
  for (auto _ : state) {
    for (int64_t n = 0; n < events; ++n) checksum += generator.Generate(n).date_time();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * events);
}
BENCHMARK(BM_NexmarkQuery_GeneratorOnly)->Arg(20'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::harness::nexmark
