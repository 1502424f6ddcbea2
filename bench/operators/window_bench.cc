// Window benchmarks of the slicing fast path (operators/window/slicing_window_operator.h), driven
// at the operator level as a chained pipeline drives it: one virtual Collect per record into the
// operator, a watermark every 1 000 records, results into a counting sink.
//
// Workload: 32-byte typed events {key, ts, value, pad}, 10 000 keys, timestamps advancing 1 ms
// per 1 000 events (1 M events per second of event time), so windows fire during the run and the
// cost of firing (10 000 results per window end) is part of the measured rate.
//   BM_TumblingWindow_Sum           10 s tumbling sum                 target >= 50 M/s
//   BM_SlidingWindow_Sum/10000      10 s / 1 s sliding sum            target >= 20 M/s
//   BM_SlidingWindow_Sum/60000      60 s / 1 s: about the same per event
//   BM_TumblingWindow_SumBatched, BM_SlidingWindow_SumBatched/...  the same, 64 records per
//                                   CollectBatch call (as a source's poll hands them over)
//   BM_TumblingWindow_OutOfOrder 10% of events up to 100 ms late (watermark bound 100 ms)
//                                          target within 20% of in-order
//   BM_WindowResultLatency         paced at ~50% of the measured max rate; counters: p50/p99/
//                                          max microseconds from the watermark passing a window end
//                                          to each result leaving the operator (target p99 <= 1 ms)
// Baselines in the same binary: a hand-written loop summing into one std::unordered_map per open
// window (tumbling), and per window of a sliding assigner (what a non-slicing operator does).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "operators/window/slicing_window_operator.h"

namespace weir::operators::window {
namespace {

struct Event32 {
  int64_t key;
  int64_t ts;
  int64_t value;
  int64_t pad;
};
static_assert(sizeof(Event32) == 32);

constexpr int64_t kKeys = 10'000;
constexpr int64_t kEventsPerMilli = 1'000;
constexpr int64_t kWatermarkInterval = 1'000;
constexpr int64_t kBatch = 1'000'000;  // events per benchmark iteration

// The i-th event of the in-order stream: keys spread by a multiplicative hash, 1 ms per 1 000.
inline Event32 MakeEvent(int64_t i) {
  const uint64_t mixed = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  return {static_cast<int64_t>((mixed >> 32) % kKeys), i / kEventsPerMilli, i & 1023, 0};
}

struct KeyOf {
  int64_t operator()(const Event32& event) const { return event.key; }
};
struct SumAggregate {
  int64_t CreateAccumulator() const { return 0; }
  void Add(const Event32& event, int64_t& sum) const { sum += event.value; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
  int64_t GetResult(const int64_t& sum) const { return sum; }
};
using SumOperator = SlicingWindowOperator<Event32, int64_t, KeyOf, SumAggregate>;

// Counts results; optionally records each result's latency from the last watermark.
class CountingSink final : public Output<int64_t> {
 public:
  void Collect(const int64_t& value, Timestamp) override {
    ++results;
    checksum += value;
    if (record_latency) latencies.push_back(MonotonicNanos() - watermark_nanos);
  }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}

  int64_t results = 0;
  int64_t checksum = 0;
  bool record_latency = false;
  int64_t watermark_nanos = 0;
  std::vector<int64_t> latencies;
};

// An operator with its managed memory, pool and sink, opened.
class Harness {
 public:
  explicit Harness(const SlicingWindowOptions& options) {
    memory::SegmentPool::Options pool_options;
    pool_options.segment_size = 32 * 1024;
    pool_options.segment_count = 32 * 1024;  // 1 GiB, touched only as state grows
    pool_options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(pool_options));
    context_.task_name = "SlicingWindow (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
    op_ = std::make_unique<SumOperator>(KeyOf(), SumAggregate(), options);
    op_->SetOutput(&sink_);
    WEIR_CHECK_OK(op_->Open(&context_));
  }
  ~Harness() { op_->Close(); }

  // The operator as its predecessor in a chain sees it.
  Output<Event32>* input() { return op_.get(); }
  SumOperator& op() { return *op_; }
  CountingSink& sink() { return sink_; }
  void CheckOk() const { WEIR_CHECK_OK(context_.status()); }

 private:
  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{int64_t{1} << 30};
  OperatorContext context_;
  std::unique_ptr<SumOperator> op_;
  CountingSink sink_;
};

// Feeds events [*next, *next + kBatch) with a watermark every kWatermarkInterval events;
// `out_of_order` delays 10% of events by up to `bound` ms (the watermark's bound). kBatched hands
// the events over 64 at a time with CollectBatch, as a source's poll does in a job.
template <bool kOutOfOrder, bool kBatched = false>
void Feed(Output<Event32>* input, int64_t* next, int64_t bound) {
  constexpr size_t kGroup = 64;
  Event32 group[kGroup];
  Timestamp times[kGroup];
  size_t grouped = 0;
  const auto flush = [&] {
    input->CollectBatch(std::span<const Event32>(group, grouped), std::span<const Timestamp>(times, grouped));
    grouped = 0;
  };
  int64_t max_ts = kMinTimestamp;
  const int64_t end = *next + kBatch;
  for (int64_t i = *next; i < end; ++i) {
    Event32 event = MakeEvent(i);
    if constexpr (kOutOfOrder) {
      const uint64_t mixed = static_cast<uint64_t>(i) * 0xD6E8FEB86659FD93ull;
      if ((mixed >> 60) < 2 && ((mixed >> 40) & 0xff) < 205) {  // 10% (2/16 * 205/256)
        event.ts -= static_cast<int64_t>((mixed >> 8) % static_cast<uint64_t>(bound));
      }
    }
    if constexpr (kBatched) {
      group[grouped] = event;
      times[grouped++] = event.ts;
      if (grouped == kGroup) flush();
    } else {
      input->Collect(event, event.ts);
    }
    max_ts = std::max(max_ts, i / kEventsPerMilli);
    if ((i + 1) % kWatermarkInterval == 0) {
      if (kBatched && grouped > 0) flush();
      input->EmitWatermark(max_ts - bound - 1);
    }
  }
  if (kBatched && grouped > 0) flush();
  *next = end;
}

void ReportWindows(benchmark::State& state, Harness& harness, int64_t events) {
  harness.CheckOk();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["results"] = static_cast<double>(harness.sink().results);
  state.counters["event_seconds"] = static_cast<double>(events / kEventsPerMilli) / 1000.0;
  state.counters["slices"] = static_cast<double>(harness.op().slice_count());
  benchmark::DoNotOptimize(harness.sink().checksum);
}

void BM_TumblingWindow_Sum(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Tumbling(10'000));
  int64_t next = 0;
  for (auto _ : state) Feed<false>(harness.input(), &next, 0);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_TumblingWindow_Sum)->MinTime(3.0);

// The same stream in CollectBatch calls of 64: the probes' cache misses overlap.
void BM_TumblingWindow_SumBatched(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Tumbling(10'000));
  int64_t next = 0;
  for (auto _ : state) Feed<false, true>(harness.input(), &next, 0);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_TumblingWindow_SumBatched)->MinTime(3.0);

void BM_SlidingWindow_SumBatched(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Sliding(state.range(0), 1'000));
  int64_t next = 0;
  for (auto _ : state) Feed<false, true>(harness.input(), &next, 0);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_SlidingWindow_SumBatched)->Arg(10'000)->Arg(60'000)->MinTime(3.0);

void BM_SlidingWindow_Sum(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Sliding(state.range(0), 1'000));
  int64_t next = 0;
  for (auto _ : state) Feed<false>(harness.input(), &next, 0);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_SlidingWindow_Sum)->Arg(10'000)->Arg(60'000)->MinTime(3.0);

void BM_TumblingWindow_OutOfOrder(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Tumbling(10'000));
  int64_t next = 0;
  for (auto _ : state) Feed<true>(harness.input(), &next, 100);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_TumblingWindow_OutOfOrder)->MinTime(3.0);

// The in-order stream with the same watermark bound, so the two differ only by the disorder.
void BM_TumblingWindow_InOrderBound100(benchmark::State& state) {
  Harness harness(SlicingWindowOptions::Tumbling(10'000));
  int64_t next = 0;
  for (auto _ : state) Feed<false>(harness.input(), &next, 100);
  ReportWindows(state, harness, next);
}
BENCHMARK(BM_TumblingWindow_InOrderBound100)->MinTime(3.0);

// Latency: 30 s of event time (3 tumbling windows of 10 s firing 10 000 results each), fed at half
// the rate an unpaced warm-up reached (in CollectBatch calls, the faster way), in batches of one
// watermark interval.
void BM_WindowResultLatency(benchmark::State& state) {
  for (auto _ : state) {
    Harness warmup(SlicingWindowOptions::Tumbling(10'000));
    int64_t next = 0;
    const int64_t warm_start = MonotonicNanos();
    for (int i = 0; i < 20; ++i) Feed<false, /*kBatched=*/true>(warmup.input(), &next, 0);
    const double max_rate = 20.0 * kBatch * 1e9 / static_cast<double>(MonotonicNanos() - warm_start);
    const double nanos_per_event = 1e9 / (max_rate / 2);

    Harness harness(SlicingWindowOptions::Tumbling(10'000));
    CountingSink& sink = harness.sink();
    sink.record_latency = true;
    sink.latencies.reserve(64 * 1024);
    Output<Event32>* input = harness.input();
    constexpr int64_t kEvents = 30'500'000;
    const int64_t start = MonotonicNanos();
    for (int64_t i = 0; i < kEvents; ++i) {
      const Event32 event = MakeEvent(i);
      input->Collect(event, event.ts);
      if ((i + 1) % kWatermarkInterval == 0) {
        const int64_t due = start + static_cast<int64_t>(static_cast<double>(i + 1) * nanos_per_event);
        while (MonotonicNanos() < due) {
        }
        sink.watermark_nanos = MonotonicNanos();
        input->EmitWatermark(i / kEventsPerMilli - 1);
      }
    }
    harness.CheckOk();
    std::vector<int64_t>& latencies = sink.latencies;
    WEIR_CHECK(latencies.size() == 3 * kKeys);
    std::sort(latencies.begin(), latencies.end());
    auto percentile = [&](double p) {
      return static_cast<double>(latencies[static_cast<size_t>(p * (latencies.size() - 1))]) / 1e3;
    };
    state.counters["p50_us"] = percentile(0.50);
    state.counters["p99_us"] = percentile(0.99);
    state.counters["max_us"] = percentile(1.0);
    state.counters["paced_rate_M"] = max_rate / 2 / 1e6;
  }
}
BENCHMARK(BM_WindowResultLatency)->Iterations(1)->Unit(benchmark::kMillisecond);

// The firing alone: 10 000 keys (one tumbling 10 s window each, filled by 1 M events), then one
// watermark fires them; the time of that watermark per key. This bounds the result latency above:
// the last result of a firing leaves about keys * (time per key) after the watermark.
void BM_TumblingWindow_FirePerKey(benchmark::State& state) {
  int64_t fired = 0;
  std::vector<int64_t> sweep(static_cast<size_t>(state.range(0)) << 20, 1);
  std::unique_ptr<Harness> harness;
  for (auto _ : state) {
    state.PauseTiming();
    harness.reset();
    harness = std::make_unique<Harness>(SlicingWindowOptions::Tumbling(10'000));
    Output<Event32>* input = harness->input();
    for (int64_t i = 0; i < 1'000'000; ++i) {
      Event32 event = MakeEvent(i);
      event.ts = i % 10'000;
      input->Collect(event, event.ts);
    }
    // Evict the state from the caches, as 10 s of other windows' records would.
    int64_t sink = 0;
    for (int64_t v : sweep) sink += v;
    benchmark::DoNotOptimize(sink);
    state.ResumeTiming();
    input->EmitWatermark(9'999);
    state.PauseTiming();
    harness->CheckOk();
    fired += harness->sink().results;
    WEIR_CHECK(harness->sink().results == kKeys);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_TumblingWindow_FirePerKey)->Arg(0)->Arg(8)->Iterations(20)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Baseline: the same stream summed by a hand-written loop into one std::unordered_map per open
// tumbling window, each map emitted and cleared when the watermark passes its end.
void BM_Baseline_UnorderedMapTumblingSum(benchmark::State& state) {
  constexpr int64_t kSize = 10'000;
  std::unordered_map<int64_t, std::unordered_map<int64_t, int64_t>> windows;  // end -> key -> sum
  int64_t next = 0;
  int64_t results = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    const int64_t end = next + kBatch;
    for (int64_t i = next; i < end; ++i) {
      const Event32 event = MakeEvent(i);
      benchmark::DoNotOptimize(&event);
      const int64_t window_end = event.ts - event.ts % kSize + kSize;
      windows[window_end][event.key] += event.value;
      if ((i + 1) % kWatermarkInterval == 0) {
        const int64_t watermark = i / kEventsPerMilli - 1;
        for (auto it = windows.begin(); it != windows.end();) {
          if (it->first - 1 > watermark) {
            ++it;
            continue;
          }
          for (const auto& [key, sum] : it->second) {
            ++results;
            checksum += sum;
          }
          it = windows.erase(it);
        }
      }
    }
    next = end;
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["results"] = static_cast<double>(results);
}
BENCHMARK(BM_Baseline_UnorderedMapTumblingSum)->MinTime(3.0);

// Baseline: sliding windows without slices, each event summed into the map of every window
// containing it (size / slide maps), as a per-window operator does.
void BM_Baseline_UnorderedMapSlidingSum(benchmark::State& state) {
  const int64_t size = state.range(0);
  constexpr int64_t kSlide = 1'000;
  std::unordered_map<int64_t, std::unordered_map<int64_t, int64_t>> windows;
  int64_t next = 0;
  int64_t results = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    const int64_t end = next + kBatch;
    for (int64_t i = next; i < end; ++i) {
      const Event32 event = MakeEvent(i);
      benchmark::DoNotOptimize(&event);
      const int64_t last_start = event.ts - event.ts % kSlide;
      for (int64_t start = last_start; start > event.ts - size; start -= kSlide) {
        windows[start + size][event.key] += event.value;
      }
      if ((i + 1) % kWatermarkInterval == 0) {
        const int64_t watermark = i / kEventsPerMilli - 1;
        for (auto it = windows.begin(); it != windows.end();) {
          if (it->first - 1 > watermark) {
            ++it;
            continue;
          }
          for (const auto& [key, sum] : it->second) {
            ++results;
            checksum += sum;
          }
          it = windows.erase(it);
        }
      }
    }
    next = end;
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["results"] = static_cast<double>(results);
}
BENCHMARK(BM_Baseline_UnorderedMapSlidingSum)->Arg(10'000)->Arg(60'000)->MinTime(3.0);

}  // namespace
}  // namespace weir::operators::window

// ---------------------------------------------------------------------------------------------
// Session windows: the fast path (operators/window/session_window_operator.h) against Flink's
// generic WindowOperator with EventTimeSessionWindows.withGap + EventTimeTrigger + aggregate, in
// the same binary, on the same stream.
//
// Workload: the 32-byte events above, 1 M events per second of event time, in order, a watermark
// (max timestamp - 1) every 1 000 events, gap 1 s, 10 000 keys in pairs (2j, 2j + 1) that take
// turns every 2 s (staggered over the pairs), so each key is active for 2 s (about 200 events)
// and idle for 2 s, longer than the gap: sessions close and fire during the run (about 2 500
// results per second of event time, spread out).
//   BM_SessionWindow_Sum          fast path                     target >= 10 M/s
//   BM_Baseline_GenericSessionSum generic WindowOperator         the baseline (~470 ns/event)
#include <chrono>

#include "operators/window/assigners.h"
#include "operators/window/session_window_operator.h"
#include "operators/window/triggers.h"
#include "operators/window/window_functions.h"
#include "operators/window/window_operator.h"

namespace weir::operators::window {
namespace {

constexpr int64_t kSessionGap = 1'000;
constexpr int64_t kKeyPairs = kKeys / 2;

inline Event32 MakeSessionEvent(int64_t i) {
  const uint64_t mixed = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  const int64_t pair = static_cast<int64_t>((mixed >> 32) % kKeyPairs);
  const int64_t ts = i / kEventsPerMilli;
  const int64_t turn = ((ts + pair * 4'000 / kKeyPairs) / 2'000) & 1;
  return {2 * pair + turn, ts, i & 1023, 0};
}

using SessionSumOperator = SessionWindowOperator<Event32, int64_t, KeyOf, SumAggregate>;
using GenericSessionAssigner =
    decltype(EventTimeSessionWindows::WithGap(std::chrono::milliseconds(kSessionGap)));
using GenericSessionContents =
    internal::AggregateContents<Event32, int64_t, TimeWindow, SumAggregate,
                                internal::PassThroughFunction<int64_t, int64_t, TimeWindow>>;
using GenericSessionOperator =
    WindowOperator<Event32, KeyOf, GenericSessionAssigner, EventTimeTrigger, GenericSessionContents>;

// One opened session operator (fast or generic) with its managed memory and sink.
template <typename Operator>
class SessionHarness {
 public:
  SessionHarness() {
    memory::SegmentPool::Options pool_options;
    pool_options.segment_size = 32 * 1024;
    pool_options.segment_count = 32 * 1024;
    pool_options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(pool_options));
    context_.task_name = "SessionWindow (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
    if constexpr (std::is_same_v<Operator, SessionSumOperator>) {
      op_ = std::make_unique<Operator>(KeyOf(), SumAggregate(),
                                       SessionWindowOptions::WithGap(kSessionGap));
    } else {
      op_ = std::make_unique<Operator>(
          KeyOf(), EventTimeSessionWindows::WithGap(std::chrono::milliseconds(kSessionGap)),
          EventTimeTrigger(), GenericSessionContents(SumAggregate(), {}), NoEvictor(),
          WindowOptions<Event32>());
    }
    op_->SetOutput(&sink_);
    WEIR_CHECK_OK(op_->Open(&context_));
  }
  ~SessionHarness() { op_->Close(); }

  Output<Event32>* input() { return op_.get(); }
  CountingSink& sink() { return sink_; }
  void CheckOk() const { WEIR_CHECK_OK(context_.status()); }

 private:
  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{int64_t{1} << 30};
  OperatorContext context_;
  std::unique_ptr<Operator> op_;
  CountingSink sink_;
};

void FeedSessions(Output<Event32>* input, int64_t* next) {
  const int64_t end = *next + kBatch;
  for (int64_t i = *next; i < end; ++i) {
    const Event32 event = MakeSessionEvent(i);
    input->Collect(event, event.ts);
    if ((i + 1) % kWatermarkInterval == 0) input->EmitWatermark(event.ts - 1);
  }
  *next = end;
}

template <typename Operator>
void RunSessionBenchmark(benchmark::State& state) {
  SessionHarness<Operator> harness;
  int64_t next = 0;
  for (auto _ : state) FeedSessions(harness.input(), &next);
  harness.CheckOk();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["results"] = static_cast<double>(harness.sink().results);
  state.counters["event_seconds"] = static_cast<double>(next / kEventsPerMilli) / 1000.0;
  benchmark::DoNotOptimize(harness.sink().checksum);
}

void BM_SessionWindow_Sum(benchmark::State& state) { RunSessionBenchmark<SessionSumOperator>(state); }
BENCHMARK(BM_SessionWindow_Sum)->MinTime(3.0);

void BM_Baseline_GenericSessionSum(benchmark::State& state) {
  RunSessionBenchmark<GenericSessionOperator>(state);
}
BENCHMARK(BM_Baseline_GenericSessionSum)->MinTime(3.0);

}  // namespace
}  // namespace weir::operators::window
