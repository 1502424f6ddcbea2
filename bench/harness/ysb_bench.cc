// The YSB workload (harness/ysb/ysb.h) as a whole job, unpaced, at parallelism 1 and 2:
//   BM_Ysb/<events>/<parallelism>
// Target: >= 30 M events/s per core (the fastest native engines reach 70-90 M). Reported:
//   events_per_s      events / the job's wall time (the iteration time)
//   events_per_cpu_s  events / the process CPU time during the run (per core, whatever the
//                     parallelism: idle workers do not count)
// Run with --benchmark_repetitions=3 --benchmark_report_aggregates_only=true for the median of 3.
// The baseline in the same binary, BM_Ysb_HandWritten, is the query as one hand-written loop over
// the same replayed events (filter, lookup, count per campaign and window in a flat array): what
// the engine's records, operators and state cost on top of the query's own work.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "api/stream_execution_environment.h"
#include "harness/ysb/ysb.h"

namespace weir::harness::ysb {
namespace {

void BM_Ysb(benchmark::State& state) {
  const int64_t events = state.range(0);
  const int parallelism = static_cast<int>(state.range(1));
  double cpu_seconds = 0;
  for (auto _ : state) {
    Configuration config;
    WEIR_CHECK_OK(config.Set("parallelism.default", std::to_string(parallelism)));
    api::StreamExecutionEnvironment env(config);
    YsbConfig ysb;
    ysb.events = events;
    RunContext context;
    BuildYsb(env, ysb, context);
    auto job = env.Execute("YSB");
    WEIR_CHECK_OK(job.status());
    WEIR_CHECK_MSG(context.results->rows() > 0, "YSB emitted no rows");
    state.SetIterationTime(job->seconds);
    cpu_seconds += job->cpu_seconds;
  }
  const double total = static_cast<double>(state.iterations() * events);
  state.SetItemsProcessed(state.iterations() * events);
  state.counters["events_per_s"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["events_per_cpu_s"] = total / cpu_seconds;
}
BENCHMARK(BM_Ysb)
    ->Args({100'000'000, 1})
    ->Args({100'000'000, 2})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The same query over the same events without the engine: one loop, the current window's counts in
// a linear-probing table keyed by campaign id (LightSaber's insert_or_modify), cleared when event
// time leaves the window (the events are in order).
void BM_Ysb_HandWritten(benchmark::State& state) {
  const int64_t events = state.range(0);
  const YsbConfig ysb;
  const EventClock clock{ysb.start_time_ms, ysb.events_per_second};
  const CampaignTable table(ysb.campaigns, ysb.ads_per_campaign, 0);
  const std::vector<AdEvent> replay = GenerateAdEvents(table, ysb.replay_events, clock, 0);
  constexpr size_t kSlots = 256;  // >= 2 * campaigns
  struct Slot {
    Uuid campaign;
    int64_t count;
  };
  std::vector<Slot> slots(kSlots);
  int64_t windows = 0;
  for (auto _ : state) {
    int64_t window_end = ysb.start_time_ms + ysb.window_ms;
    // Event time advanced per event as the source advances it (no division per event).
    int64_t time = ysb.start_time_ms;
    int64_t remainder = 0;
    size_t slot = 0;
    for (int64_t i = 0; i < events; ++i) {
      AdEvent event = replay[slot];
      if (++slot == replay.size()) slot = 0;
      event.event_time = time;
      remainder += 1000;
      if (remainder >= ysb.events_per_second) {
        remainder -= ysb.events_per_second;
        ++time;
      }
      if (event.event_type != EventType::kView) continue;
      const Uuid* campaign = table.CampaignOf(event.ad_id);
      if (campaign == nullptr) continue;
      if (event.event_time >= window_end) {
        benchmark::DoNotOptimize(slots.data());
        std::fill(slots.begin(), slots.end(), Slot{});
        window_end += ysb.window_ms;
        ++windows;
      }
      size_t slot = campaign->low & (kSlots - 1);
      while (slots[slot].count != 0 && !(slots[slot].campaign == *campaign)) slot = (slot + 1) & (kSlots - 1);
      slots[slot].campaign = *campaign;
      ++slots[slot].count;
    }
    benchmark::DoNotOptimize(slots.data());
  }
  benchmark::DoNotOptimize(windows);
  state.SetItemsProcessed(state.iterations() * events);
}
BENCHMARK(BM_Ysb_HandWritten)->Arg(100'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::harness::ysb
