// Whole-pipeline benchmarks of issue 2's targets, through the public API:
//   BM_Pipeline_FilterMapBlackhole_Chained   32-byte records, p=1, one chained task (>= 100 M/s)
//   BM_Pipeline_KeyedExchange_P2             the same with a keyed exchange, p=2 (>= 30 M/s total)
//   BM_Pipeline_LowLatencyKeyedExchange      buffer timeout 0, one paced record at a time across a
//                                            keyed exchange between two pinned workers (p99 <= 10 us)
// and the baseline the first is read against: the same work as a hand-written loop.
// Throughput is records / the job's run time (set-up excluded), reported as items_per_second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <mutex>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

struct Record32 {
  int64_t key;
  int64_t value;
  int64_t timestamp;
  double price;
};
static_assert(sizeof(Record32) == 32);

Record32 MakeRecord(int64_t i) { return {i & 1023, i, i, static_cast<double>(i & 0xffff) * 0.5}; }
bool Keep(const Record32& r) { return (r.value & 7) != 0; }
Record32 Transform(const Record32& r) { return {r.key, r.value * 3, r.timestamp, r.price * 1.01}; }

Configuration BenchConfig(int parallelism) {
  Configuration config;
  WEIR_CHECK_OK(config.Set("parallelism.default", std::to_string(parallelism)));
  return config;
}

void BM_Loop_FilterMapBlackhole(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    int64_t kept = 0;
    for (int64_t i = 0; i < count; ++i) {
      Record32 record = MakeRecord(i);
      if (!Keep(record)) continue;
      Record32 out = Transform(record);
      benchmark::DoNotOptimize(out);
      ++kept;
    }
    benchmark::DoNotOptimize(kept);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_Loop_FilterMapBlackhole)->Arg(100'000'000)->Unit(benchmark::kMillisecond);

void BM_Pipeline_FilterMapBlackhole_Chained(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    StreamExecutionEnvironment env(BenchConfig(1));
    env.FromGenerator(count, MakeRecord).Filter(Keep).Map(Transform).Discard();
    auto job = env.Execute("filter-map-blackhole");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_Pipeline_FilterMapBlackhole_Chained)->Arg(100'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_Pipeline_KeyedExchange_P2(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    StreamExecutionEnvironment env(BenchConfig(2));
    env.FromGenerator(count, MakeRecord)
        .Filter(Keep)
        .Map(Transform)
        .KeyBy([](const Record32& r) { return r.key; })
        .Reduce([](const Record32&, const Record32& r) { return r; })
        .Discard();
    auto job = env.Execute("keyed-exchange");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_Pipeline_KeyedExchange_P2)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

// Raw exchange cost without keyed state: keyBy into a pass-through, p=2.
void BM_Pipeline_KeyedExchangeNoState_P2(benchmark::State& state) {
  const int64_t count = state.range(0);
  for (auto _ : state) {
    StreamExecutionEnvironment env(BenchConfig(2));
    auto keyed = env.FromGenerator(count, MakeRecord).Filter(Keep).Map(Transform);
    keyed.Then<Record32>("Keyed Pass", [](int) { return std::make_unique<operators::IdentityOperator<Record32>>(); },
                         runtime::Partitioning::kKeyGroups,
                         internal::MakeKeyedExchange<Record32>([](const Record32& r) { return r.key; }))
        .Discard();
    auto job = env.Execute("keyed-exchange-no-state");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_Pipeline_KeyedExchangeNoState_P2)->Arg(50'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

struct LatencyRecord {
  int64_t key;
  int64_t emitted_nanos;
};

class LatencySink final : public operators::SinkOperator<LatencyRecord> {
 public:
  explicit LatencySink(std::shared_ptr<std::vector<int64_t>> latencies) : latencies_(std::move(latencies)) {}
  void Collect(const LatencyRecord& record, Timestamp) override {
    latencies_->push_back(MonotonicNanos() - record.emitted_nanos);
  }
  void EndInput() override {}

 private:
  std::shared_ptr<std::vector<int64_t>> latencies_;
};

void BM_Pipeline_LowLatencyKeyedExchange(benchmark::State& state) {
  const int64_t count = state.range(0);
  const double rate = static_cast<double>(state.range(1));
  std::vector<int64_t> all;
  for (auto _ : state) {
    Configuration config = BenchConfig(1);
    WEIR_CHECK_OK(config.Set("execution.buffer-timeout", "0"));
    StreamExecutionEnvironment env(config);
    auto latencies = std::make_shared<std::vector<int64_t>>();
    latencies->reserve(count);
    auto source = env.FromGenerator(
        count, [](int64_t i) { return LatencyRecord{i & 63, MonotonicNanos()}; }, rate);
    source.SlotSharingGroup("source");
    auto keyed = source.KeyBy([](const LatencyRecord& r) { return r.key; })
                     .Reduce([](const LatencyRecord&, const LatencyRecord& r) { return r; });
    keyed.SlotSharingGroup("sink");
    keyed.SinkTo("Latency Sink", [latencies](int) { return std::make_unique<LatencySink>(latencies); });
    auto job = env.Execute("low-latency");
    WEIR_CHECK_OK(job.status());
    state.SetIterationTime(job->seconds);
    all.insert(all.end(), latencies->begin(), latencies->end());
  }
  std::sort(all.begin(), all.end());
  auto percentile = [&](double p) {
    return all.empty() ? 0.0 : static_cast<double>(all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]) / 1000.0;
  };
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);
  state.counters["p99.9_us"] = percentile(0.999);
  state.counters["max_us"] = all.empty() ? 0.0 : all.back() / 1000.0;
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_Pipeline_LowLatencyKeyedExchange)->Args({200'000, 100'000})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::api
