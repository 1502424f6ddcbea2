#include "operators/window/slicing_window_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "operators/collecting_output.h"

namespace weir::operators::window {
namespace {

using operators::testing::CollectingOutput;

struct Event {
  int64_t key;
  int64_t value;
};

// One step of an input stream: an element with its timestamp, or a watermark.
struct Step {
  bool is_watermark;
  Event event;
  Timestamp time;
};

// A window result with its key and window, as the WindowFunction below emits it.
template <typename R>
struct Emitted {
  int64_t key;
  Timestamp start;
  Timestamp end;
  R value;
  Timestamp timestamp;  // filled from the output's record timestamp
  friend bool operator==(const Emitted&, const Emitted&) = default;
};

template <typename R>
std::ostream& operator<<(std::ostream& out, const Emitted<R>& e) {
  return out << "{key " << e.key << " [" << e.start << "," << e.end << ") value " << e.value
             << " ts " << e.timestamp << "}";
}

struct KeyOf {
  int64_t operator()(const Event& event) const { return event.key; }
};

struct WithWindow {
  template <typename R>
  void operator()(const int64_t& key, const TimeWindow& window, const R& result,
                  Collector<Emitted<R>>& out) const {
    out.Collect({key, window.start, window.end, result, 0});
  }
};

// The aggregates under test, in both of the accepted shapes of Add and Merge.
struct SumAggregate {  // in-place Add, value-returning Merge
  int64_t CreateAccumulator() const { return 0; }
  void Add(const Event& event, int64_t& sum) const { sum += event.value; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
  int64_t GetResult(const int64_t& sum) const { return sum; }
};
struct CountAggregate {  // Flink's shape: Add returns the new accumulator
  int64_t CreateAccumulator() const { return 0; }
  int64_t Add(const Event&, int64_t count) const { return count + 1; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
  int64_t GetResult(const int64_t& count) const { return count; }
};
struct MinAggregate {
  int64_t CreateAccumulator() const { return std::numeric_limits<int64_t>::max(); }
  int64_t Add(const Event& event, int64_t min) const { return std::min(min, event.value); }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return std::min(a, b); }
  int64_t GetResult(const int64_t& min) const { return min; }
};
struct MaxAggregate {
  int64_t CreateAccumulator() const { return std::numeric_limits<int64_t>::min(); }
  void Add(const Event& event, int64_t& max) const { max = std::max(max, event.value); }
  void Merge(const int64_t& from, int64_t& into) const { into = std::max(into, from); }
  int64_t GetResult(const int64_t& max) const { return max; }
};
struct AverageAggregate {  // a two-field accumulator, in-place Merge
  struct Acc {
    int64_t sum;
    int64_t count;
  };
  Acc CreateAccumulator() const { return {0, 0}; }
  void Add(const Event& event, Acc& acc) const {
    acc.sum += event.value;
    ++acc.count;
  }
  void Merge(const Acc& from, Acc& into) const {
    into.sum += from.sum;
    into.count += from.count;
  }
  double GetResult(const Acc& acc) const { return static_cast<double>(acc.sum) / acc.count; }
};

// The same aggregates computed from their definition over a window's element values.
int64_t ReferenceSum(const std::vector<int64_t>& values) {
  int64_t sum = 0;
  for (int64_t v : values) sum += v;
  return sum;
}
int64_t ReferenceCount(const std::vector<int64_t>& values) {
  return static_cast<int64_t>(values.size());
}
int64_t ReferenceMin(const std::vector<int64_t>& values) {
  return *std::min_element(values.begin(), values.end());
}
int64_t ReferenceMax(const std::vector<int64_t>& values) {
  return *std::max_element(values.begin(), values.end());
}
double ReferenceAverage(const std::vector<int64_t>& values) {
  return static_cast<double>(ReferenceSum(values)) / static_cast<double>(values.size());
}

int64_t FloorMod(int64_t value, int64_t divisor) { return ((value % divisor) + divisor) % divisor; }

// Flink's WindowOperator with the default trigger, written from its definition: every window an
// element falls into keeps the element's value; windows fire at the watermark in order of end,
// again at once for an element that reaches a fired window before its cleanup; an element no
// window takes and behind the watermark by more than the lateness is late.
template <typename R>
class ReferenceWindows {
 public:
  using Function = R (*)(const std::vector<int64_t>&);
  ReferenceWindows(const SlicingWindowOptions& options, Function function)
      : size_(options.size_ms),
        slide_(options.slide_ms),
        offset_(options.offset_ms),
        lateness_(options.time_domain == WindowTimeDomain::kEventTime ? options.allowed_lateness_ms
                                                                      : 0),
        function_(function) {}

  void Element(const Event& event, Timestamp time) {
    bool added = false;
    // Flink's SlidingEventTimeWindows.assignWindows: latest start first.
    const Timestamp last_start = time - FloorMod(time - offset_, slide_);
    for (Timestamp start = last_start; start > time - size_; start -= slide_) {
      const Timestamp max_timestamp = start + size_ - 1;
      if (watermark_ != kMinTimestamp && max_timestamp + lateness_ <= watermark_) continue;
      windows_[{event.key, start}].push_back(event.value);
      added = true;
      if (max_timestamp <= watermark_) Emit(event.key, start);
    }
    if (!added && watermark_ != kMinTimestamp && time + lateness_ <= watermark_) {
      late.emplace_back(event.key, event.value, time);
    }
  }

  void Advance(Timestamp watermark) {
    std::vector<std::tuple<Timestamp, int64_t, Timestamp>> due;  // (end, key, start)
    for (const auto& [window, values] : windows_) {
      const Timestamp max_timestamp = window.second + size_ - 1;
      if (max_timestamp > watermark_ && max_timestamp <= watermark) {
        due.emplace_back(window.second + size_, window.first, window.second);
      }
    }
    std::sort(due.begin(), due.end());
    for (const auto& [end, key, start] : due) Emit(key, start);
    watermark_ = watermark;
    std::erase_if(windows_, [&](const auto& entry) {
      const Timestamp max_timestamp = entry.first.second + size_ - 1;
      return max_timestamp + lateness_ <= watermark;
    });
  }

  std::map<int64_t, std::vector<Emitted<R>>> per_key;
  std::vector<std::tuple<int64_t, int64_t, Timestamp>> late;  // (key, value, timestamp)

 private:
  void Emit(int64_t key, Timestamp start) {
    const Timestamp end = start + size_;
    per_key[key].push_back({key, start, end, function_(windows_.at({key, start})), end - 1});
  }

  const int64_t size_, slide_, offset_, lateness_;
  const Function function_;
  Timestamp watermark_ = kMinTimestamp;
  std::map<std::pair<int64_t, Timestamp>, std::vector<int64_t>> windows_;
};

// A seeded out-of-order stream: times advance by 0..2 ms per element, each element is delayed by
// up to `bound` ms, a `late_fraction` of them by up to `late_extra` ms more; the watermark follows
// Flink's bounded out-of-orderness (max timestamp - bound - 1) every 10 elements and ends at
// kMaxTimestamp.
std::vector<Step> RandomStream(uint64_t seed, int count, int keys, Timestamp start, Timestamp bound,
                               double late_fraction, Timestamp late_extra) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Step> steps;
  Timestamp now = start;
  Timestamp max_time = kMinTimestamp;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    now += static_cast<Timestamp>(rng() % 3);
    Timestamp time = now - static_cast<Timestamp>(rng() % (bound + 1));
    if (unit(rng) < late_fraction) time -= static_cast<Timestamp>(rng() % (late_extra + 1));
    const Event event{static_cast<int64_t>(rng() % keys), static_cast<int64_t>(rng() % 2001) - 1000};
    steps.push_back({false, event, time});
    max_time = std::max(max_time, time);
    if (i % 10 == 9 && max_time - bound - 1 > watermark) {
      watermark = max_time - bound - 1;
      steps.push_back({true, {}, watermark});
    }
  }
  steps.push_back({true, {}, kMaxTimestamp});
  return steps;
}

// Collects the late elements.
class LateCollector final : public Output<Event> {
 public:
  void Collect(const Event& value, Timestamp timestamp) override {
    late.emplace_back(value.key, value.value, timestamp);
  }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}
  std::vector<std::tuple<int64_t, int64_t, Timestamp>> late;
};

// Processing time of the processing-time tests.
Timestamp g_now = 0;
Timestamp TestClock() { return g_now; }

class SlicingWindowOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 1024;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "SlicingWindow (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  template <typename Aggregate, typename R>
  using Operator = SlicingWindowOperator<Event, Emitted<R>, KeyOf, Aggregate, WithWindow>;

  // What a stream exercised, so tests can check that their streams reach the cases they target.
  struct Coverage {
    size_t late = 0;          // elements late for every window
    size_t late_firings = 0;  // results of windows that had fired already
  };

  // Runs `steps` through the operator and the reference and compares: per key, the same results
  // in the same order, with timestamp end - 1; the same late elements; all state freed at the end.
  // The operator runs twice: a record per Collect, then the records between watermarks in
  // CollectBatch calls of random sizes (what a source's poll sends).
  template <typename Aggregate, typename R>
  Coverage CheckAgainstReference(const SlicingWindowOptions& options, const std::vector<Step>& steps,
                             R (*reference_function)(const std::vector<int64_t>&)) {
    SCOPED_TRACE(::testing::Message() << "size " << options.size_ms << " slide " << options.slide_ms
                                      << " offset " << options.offset_ms << " lateness "
                                      << options.allowed_lateness_ms << " late tag "
                                      << options.late_data_tag.has_value());
    ReferenceWindows<R> reference(options, reference_function);
    for (const Step& step : steps) {
      if (step.is_watermark) {
        reference.Advance(step.time);
      } else {
        reference.Element(step.event, step.time);
      }
    }
    for (const bool batched : {false, true}) {
      SCOPED_TRACE(batched ? "CollectBatch" : "Collect");
      OperatorContext context = context_;
      Operator<Aggregate, R> op(KeyOf(), Aggregate(), options);
      CollectingOutput<Emitted<R>> sink;
      LateCollector late;
      op.SetOutput(&sink);
      if (options.late_data_tag) op.SetSideOutput(*options.late_data_tag, &late);
      EXPECT_TRUE(op.Open(&context).ok());
      std::mt19937_64 rng(steps.size());
      std::vector<Event> batch;
      std::vector<Timestamp> times;
      const auto flush = [&] {
        op.CollectBatch(batch, times);
        batch.clear();
        times.clear();
      };
      for (const Step& step : steps) {
        if (step.is_watermark) {
          if (batched) flush();
          op.EmitWatermark(step.time);
        } else if (batched) {
          batch.push_back(step.event);
          times.push_back(step.time);
          if (rng() % 40 == 0) flush();
        } else {
          op.Collect(step.event, step.time);
        }
      }
      EXPECT_FALSE(context.failed()) << context.status();
      EXPECT_EQ(operators::testing::ValuesPerKey(sink), reference.per_key);
      if (options.late_data_tag) {
        EXPECT_EQ(late.late, reference.late);
        EXPECT_EQ(op.late_dropped(), 0);
      } else {
        EXPECT_EQ(op.late_dropped(), static_cast<int64_t>(reference.late.size()));
      }
      EXPECT_GT(sink.values.size(), 0u);
      // The maximum watermark fired and cleaned up every window.
      EXPECT_EQ(op.slice_count(), 0u);
      EXPECT_EQ(op.sliding_aggregate_count(), 0u);
      op.Close();
    }
    Coverage coverage;
    coverage.late = reference.late.size();
    for (const auto& [key, results] : reference.per_key) {
      std::set<Timestamp> fired;
      for (const Emitted<R>& result : results) coverage.late_firings += !fired.insert(result.start).second;
    }
    return coverage;
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{256 << 20};
  OperatorContext context_;
};

std::vector<SlicingWindowOptions> WindowShapes() {
  return {
      SlicingWindowOptions::Tumbling(100),
      SlicingWindowOptions::Tumbling(100, 30),
      SlicingWindowOptions::Tumbling(70, -20),
      SlicingWindowOptions::Sliding(100, 20),
      SlicingWindowOptions::Sliding(100, 30),      // size not a multiple of the slide
      SlicingWindowOptions::Sliding(90, 40, 7),    // gcd 10, with an offset
      SlicingWindowOptions::Sliding(60, 25, -11),  // gcd 5, negative offset
      SlicingWindowOptions::Sliding(30, 50, 10),   // slide > size: gaps in no window
  };
}

TEST_F(SlicingWindowOperatorTest, InOrderSumMatchesReference) {
  uint64_t seed = 1;
  for (const SlicingWindowOptions& options : WindowShapes()) {
    const auto steps = RandomStream(seed++, 3000, 7, -400, 0, 0, 0);
    CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
  }
}

TEST_F(SlicingWindowOperatorTest, OutOfOrderStreamsMatchReference) {
  uint64_t seed = 100;
  for (const SlicingWindowOptions& options : WindowShapes()) {
    const auto steps = RandomStream(seed++, 4000, 11, -1000, 40, 0, 0);
    CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
    CheckAgainstReference<CountAggregate, int64_t>(options, steps, &ReferenceCount);
    CheckAgainstReference<MinAggregate, int64_t>(options, steps, &ReferenceMin);
    CheckAgainstReference<MaxAggregate, int64_t>(options, steps, &ReferenceMax);
    CheckAgainstReference<AverageAggregate, double>(options, steps, &ReferenceAverage);
  }
}

TEST_F(SlicingWindowOperatorTest, LateElementsWithoutLatenessAreDroppedOrSentToTheLateOutput) {
  uint64_t seed = 200;
  for (SlicingWindowOptions options : WindowShapes()) {
    const auto steps = RandomStream(seed++, 4000, 5, 0, 20, 0.1, 150);
    const Coverage coverage = CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
    EXPECT_GT(coverage.late, 50u);
    EXPECT_EQ(coverage.late_firings, 0u);
    options.late_data_tag = "late";
    CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
  }
}

TEST_F(SlicingWindowOperatorTest, AllowedLatenessFiresLateWindowsAgainUntilCleanup) {
  uint64_t seed = 300;
  for (const int64_t lateness : {10, 50, 100, 130}) {
    for (SlicingWindowOptions options : WindowShapes()) {
      options.allowed_lateness_ms = lateness;
      const auto steps = RandomStream(seed++, 3000, 5, -300, 20, 0.15, 250);
      const Coverage coverage =
          CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
      EXPECT_GT(coverage.late_firings, 0u);
      if (lateness < 100) EXPECT_GT(coverage.late, 10u);
      options.late_data_tag = "late";
      CheckAgainstReference<AverageAggregate, double>(options, steps, &ReferenceAverage);
    }
  }
}

TEST_F(SlicingWindowOperatorTest, LongSlidingWindowsOfKeysFallingSilentMatchReference) {
  // 60 slices per window, keys silent for stretches longer than a window: each key's sliding
  // aggregate is built, extended across windows that do not fire, rebuilt when its front runs
  // out, dropped when a key's windows end and by late elements, and freed at the end.
  uint64_t seed = 400;
  for (const int64_t lateness : {0, 150}) {
    for (SlicingWindowOptions options :
         {SlicingWindowOptions::Sliding(600, 10), SlicingWindowOptions::Sliding(600, 40, 5),
          SlicingWindowOptions::Sliding(330, 30, -7)}) {
      options.allowed_lateness_ms = lateness;
      std::vector<Step> steps;
      for (const Step& step : RandomStream(seed++, 6000, 7, -2000, 30, 0.05, 1200)) {
        if (step.is_watermark || FloorMod(step.time / 900 + step.event.key, 3) != 0) {
          steps.push_back(step);
        }
      }
      const Coverage coverage =
          CheckAgainstReference<SumAggregate, int64_t>(options, steps, &ReferenceSum);
      EXPECT_GT(coverage.late, 10u);
      if (lateness > 0) EXPECT_GT(coverage.late_firings, 0u);
      CheckAgainstReference<MinAggregate, int64_t>(options, steps, &ReferenceMin);
      CheckAgainstReference<AverageAggregate, double>(options, steps, &ReferenceAverage);
    }
  }
}

TEST_F(SlicingWindowOperatorTest, MaximumWatermarkFiresEverythingInOrderOfEnd) {
  // No watermark before the end: every window fires at the maximum watermark, per key in order.
  std::vector<Step> steps;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    steps.push_back({false, {static_cast<int64_t>(rng() % 3), 1}, static_cast<Timestamp>(rng() % 5000)});
  }
  steps.push_back({true, {}, kMaxTimestamp});
  CheckAgainstReference<CountAggregate, int64_t>(SlicingWindowOptions::Sliding(500, 100), steps,
                                                 &ReferenceCount);
}

TEST_F(SlicingWindowOperatorTest, TumblingWindowsPastTheSliceTableLimitTakeTheGeneralPathInOrder) {
  // Tumbling windows keep a table per window, at most 128 at once; here 10 ms windows over 5 s of
  // out-of-order time (and all of it before a single maximum watermark) need hundreds: the later
  // windows go through the per-key timers, and every key's windows must still fire in order of
  // end, with the lateness rules, as the reference says.
  std::vector<Step> steps;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 3000; ++i) {
    steps.push_back({false, {static_cast<int64_t>(rng() % 4), 1}, static_cast<Timestamp>(rng() % 5000)});
  }
  steps.push_back({true, {}, kMaxTimestamp});
  CheckAgainstReference<CountAggregate, int64_t>(SlicingWindowOptions::Tumbling(10), steps, &ReferenceCount);
  for (const int64_t lateness : {0, 40}) {
    SlicingWindowOptions options = SlicingWindowOptions::Tumbling(10, 3);
    options.allowed_lateness_ms = lateness;
    const auto ooo = RandomStream(500 + lateness, 6000, 5, 0, 1500, 0.1, 300);
    const Coverage coverage = CheckAgainstReference<SumAggregate, int64_t>(options, ooo, &ReferenceSum);
    EXPECT_GT(coverage.late, 10u);
    if (lateness > 0) EXPECT_GT(coverage.late_firings, 0u);
  }
}

TEST_F(SlicingWindowOperatorTest, ProcessingTimeWindowsFireWhenProcessingTimeReachesTheirEnd) {
  for (const SlicingWindowOptions& shape : WindowShapes()) {
    SlicingWindowOptions options = shape;
    options.time_domain = WindowTimeDomain::kProcessingTime;
    options.processing_clock = &TestClock;
    options.allowed_lateness_ms = 1000;  // ignored in processing time, as in Flink
    SCOPED_TRACE(::testing::Message() << "size " << options.size_ms << " slide " << options.slide_ms);
    OperatorContext context = context_;
    Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), options);
    CollectingOutput<Emitted<int64_t>> sink;
    op.SetOutput(&sink);
    ASSERT_TRUE(op.Open(&context).ok());
    ReferenceWindows<int64_t> reference(options, &ReferenceSum);
    std::mt19937_64 rng(options.size_ms * 31 + options.slide_ms);
    g_now = 1'000'000 + options.offset_ms;
    for (int i = 0; i < 4000; ++i) {
      g_now += static_cast<Timestamp>(rng() % 3);
      // Record timestamps are ignored in processing time.
      const Event event{static_cast<int64_t>(rng() % 6), static_cast<int64_t>(rng() % 100)};
      op.Collect(event, kMinTimestamp);
      reference.Element(event, g_now);
      if (rng() % 16 == 0 && op.NextProcessingTime() <= g_now) {
        op.OnProcessingTime(g_now);
        reference.Advance(g_now);
        ++g_now;  // later records arrive after the callback's time
      }
    }
    // Elements are never late in processing time, however far the clock jumps.
    g_now += 10'000;
    op.OnProcessingTime(g_now);
    reference.Advance(g_now);
    ASSERT_FALSE(context.failed()) << context.status();
    EXPECT_EQ(operators::testing::ValuesPerKey(sink), reference.per_key);
    EXPECT_TRUE(reference.late.empty());
    EXPECT_EQ(op.slice_count(), 0u);
    EXPECT_EQ(op.NextProcessingTime(), kMaxTimestamp);
  }
}

TEST_F(SlicingWindowOperatorTest, EmptyWindowsEmitNothingAndStateIsFreedAsWindowsClose) {
  // One element per key every 10 s in 1 s tumbling windows: one result per element, and at most
  // one live slice per key while the watermark follows the stream.
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SlicingWindowOptions::Tumbling(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  size_t max_slices = 0;
  for (int64_t second = 0; second < 100; second += 10) {
    for (int64_t key = 0; key < 50; ++key) op.Collect({key, key}, second * 1000 + key);
    max_slices = std::max(max_slices, op.slice_count());
    op.EmitWatermark(second * 1000 + 999);
  }
  EXPECT_EQ(sink.values.size(), 10u * 50u);
  EXPECT_EQ(max_slices, 50u);
  EXPECT_EQ(op.slice_count(), 0u);
  for (size_t i = 0; i < sink.values.size(); ++i) {
    EXPECT_EQ(sink.values[i].value, sink.values[i].key);
    EXPECT_EQ(sink.timestamps[i], sink.values[i].end - 1);
  }
  // Watermarks are forwarded after the windows they fired.
  EXPECT_EQ(sink.watermarks.size(), 10u);
}

TEST_F(SlicingWindowOperatorTest, DefaultWindowFunctionEmitsTheResult) {
  SlicingWindowOperator<Event, int64_t, KeyOf, SumAggregate> op(KeyOf(), SumAggregate(),
                                                                SlicingWindowOptions::Tumbling(10));
  CollectingOutput<int64_t> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 5}, 3);
  op.Collect({1, 6}, 9);
  op.Collect({1, 7}, 10);
  op.EmitWatermark(9);
  EXPECT_EQ(sink.values, std::vector<int64_t>({11}));
  EXPECT_EQ(sink.timestamps, std::vector<Timestamp>({9}));
}

TEST_F(SlicingWindowOperatorTest, ReduceAggregateReducesInArrivalOrderInTumblingWindows) {
  // "Keep the latest by arrival" is not commutative; in tumbling windows (one slice per window)
  // the result is what Flink's reducing state gives: the last element to arrive.
  auto last = [](const Event&, const Event& b) { return b; };
  using Reduce = ReduceAggregate<Event, decltype(last)>;
  SlicingWindowOperator<Event, Event, KeyOf, Reduce> op(KeyOf(), Reduce(last),
                                                        SlicingWindowOptions::Tumbling(100));
  CollectingOutput<Event> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 10}, 50);
  op.Collect({1, 20}, 5);
  op.Collect({2, 30}, 99);
  op.EmitWatermark(kMaxTimestamp);
  ASSERT_EQ(sink.values.size(), 2u);
  std::map<int64_t, int64_t> by_key;
  for (const Event& e : sink.values) by_key[e.key] = e.value;
  EXPECT_EQ(by_key, (std::map<int64_t, int64_t>{{1, 20}, {2, 30}}));
}

TEST_F(SlicingWindowOperatorTest, RejectsInvalidOptions) {
  for (const SlicingWindowOptions& options :
       {SlicingWindowOptions::Tumbling(0), SlicingWindowOptions::Sliding(100, 0),
        SlicingWindowOptions::Sliding(100, 20, 20), SlicingWindowOptions::Tumbling(100, -100)}) {
    Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), options);
    CollectingOutput<Emitted<int64_t>> sink;
    op.SetOutput(&sink);
    const Status status = op.Open(&context_);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    op.Close();
  }
  SlicingWindowOptions negative = SlicingWindowOptions::Tumbling(100);
  negative.allowed_lateness_ms = -1;
  EXPECT_EQ(negative.Validate().code(), StatusCode::kInvalidArgument);
}

TEST_F(SlicingWindowOperatorTest, EventTimeElementWithoutTimestampFailsTheTask) {
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SlicingWindowOptions::Tumbling(100));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 1}, kMinTimestamp);
  ASSERT_TRUE(context_.failed());
  EXPECT_EQ(context_.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(context_.status().ToString().find("timestamp"), std::string::npos);
}

TEST_F(SlicingWindowOperatorTest, TenMillionKeysFailWithResourceExhaustedNamingTheBudget) {
  memory::MemoryBudget small(16 << 20);
  context_.managed_memory = &small;
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SlicingWindowOptions::Tumbling(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  int64_t key = 0;
  for (; key < 10'000'000 && !context_.failed(); ++key) op.Collect({key, 1}, 500);
  ASSERT_TRUE(context_.failed()) << "10 M keys fit in 16 MiB";
  EXPECT_LT(key, 10'000'000);
  EXPECT_EQ(context_.status().code(), StatusCode::kResourceExhausted);
  const std::string message = context_.status().ToString();
  EXPECT_NE(message.find("SlicingWindow (1/1)"), std::string::npos) << message;
  EXPECT_NE(message.find("taskmanager.memory.managed.size"), std::string::npos) << message;
  EXPECT_LE(small.used(), small.total());
  op.Close();
  EXPECT_EQ(small.used(), 0);
}

TEST_F(SlicingWindowOperatorTest, KeysWithinTheBudgetFitAndFire) {
  // 200 000 keys, one slice and one timer each, in a budget sized from their measured cost.
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SlicingWindowOptions::Tumbling(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  constexpr int64_t kKeys = 200'000;
  for (int64_t key = 0; key < kKeys; ++key) op.Collect({key, key}, 500);
  ASSERT_FALSE(context_.failed()) << context_.status();
  EXPECT_EQ(op.slice_count(), static_cast<size_t>(kKeys));
  EXPECT_LE(op.memory_bytes(), budget_.used());
  op.EmitWatermark(999);
  EXPECT_EQ(sink.values.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(op.slice_count(), 0u);
}

// The operator's key encoder hashes 8-byte keys without the generic path; the hash must stay the
// xxh3 of the key's bytes, which the keyed exchange and the timers compute.
TEST(KeyEncoderTest, EightByteKeysHashAsXxh3OfTheirBytes) {
  KeyEncoder encoder;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 1000; ++i) {
    const int64_t key = i < 10 ? i - 5 : static_cast<int64_t>(rng());
    const EncodedKey encoded = encoder.Encode(key);
    ASSERT_EQ(encoded.bytes.size(), sizeof(key));
    EXPECT_EQ(std::memcmp(encoded.bytes.data(), &key, sizeof(key)), 0);
    EXPECT_EQ(encoded.hash, Hash64(&key, sizeof(key)));
    const double number = static_cast<double>(key) / 3;
    EXPECT_EQ(encoder.Encode(number).hash, Hash64(&number, sizeof(number)));
  }
}

// A key selector may return an owning string by value; the temporary dies before the encoded
// bytes are used, so they must be a copy (ASan reports the read otherwise). A string_view key is
// used in place.
TEST(KeyEncoderTest, OwningStringKeysAreCopiedAndViewsUsedInPlace) {
  KeyEncoder encoder;
  const std::string expected(100, 'k');
  const EncodedKey encoded = encoder.Encode(std::string(expected));
  EXPECT_EQ(encoded.bytes, expected);
  EXPECT_EQ(encoded.hash, Hash64(expected.data(), expected.size()));
  EXPECT_EQ(encoder.Bytes(std::string(expected)), expected);
  const std::string_view view(expected);
  EXPECT_EQ(encoder.Encode(view).bytes.data(), expected.data());
  EXPECT_EQ(encoder.Encode(view).hash, encoded.hash);
  EXPECT_EQ(encoder.Encode(std::string()).bytes, "");
}

}  // namespace
}  // namespace weir::operators::window
