// The host's noise floor for latency measurements: a thread pinned to one CPU does nothing but
// read the monotonic clock for 5 s and counts the gaps between consecutive reads. On bare metal
// with an idle CPU the gaps are the clock read (tens of ns) and the odd interrupt; on a shared VM
// they include the time the hypervisor runs other work on the vCPU, which the guest's scheduler
// does not see. No engine can show a latency tail below what this thread sees, so read a
// `--latency-mode` run's p99/p99.9 (docs/bench.md) against these counters:
//   gaps_over_10us   gaps longer than 10 us
//   stolen_ms        their total length
//   max_gap_us       the longest
//   gaps_over_100us, gaps_over_1ms
//
//   build/bench/weir_sched_bench --benchmark_filter=HostJitter
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "base/clock.h"

namespace weir::sched {
namespace {

void BM_HostJitter(benchmark::State& state) {
  const auto cpu = static_cast<int>(state.range(0));
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !CPU_ISSET(cpu, &allowed)) {
    state.SkipWithError("this process may not run on that CPU");
    return;
  }
  cpu_set_t own;
  CPU_ZERO(&own);
  CPU_SET(cpu, &own);
  sched_setaffinity(0, sizeof(own), &own);
  constexpr int64_t kSpanNanos = 5'000'000'000;
  int64_t over_10us = 0;
  int64_t over_100us = 0;
  int64_t over_1ms = 0;
  int64_t stolen = 0;
  int64_t max_gap = 0;
  for (auto _ : state) {
    const int64_t start = MonotonicNanos();
    int64_t last = start;
    while (last - start < kSpanNanos) {
      const int64_t now = MonotonicNanos();
      const int64_t gap = now - last;
      if (gap > 10'000) [[unlikely]] {
        ++over_10us;
        stolen += gap;
        max_gap = std::max(max_gap, gap);
        if (gap > 100'000) ++over_100us;
        if (gap > 1'000'000) ++over_1ms;
      }
      last = now;
    }
  }
  sched_setaffinity(0, sizeof(allowed), &allowed);
  state.counters["gaps_over_10us"] = static_cast<double>(over_10us);
  state.counters["gaps_over_100us"] = static_cast<double>(over_100us);
  state.counters["gaps_over_1ms"] = static_cast<double>(over_1ms);
  state.counters["stolen_ms"] = static_cast<double>(stolen) / 1e6;
  state.counters["max_gap_us"] = static_cast<double>(max_gap) / 1e3;
}
// One run per CPU this machine has (a CPU the process may not use is skipped with an error).
BENCHMARK(BM_HostJitter)
    ->Apply([](benchmark::internal::Benchmark* bench) {
      const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
      for (long cpu = 0; cpu < std::max(1L, cpus); ++cpu) bench->Arg(cpu);
    })
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::sched
