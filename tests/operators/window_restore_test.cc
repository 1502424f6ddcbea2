// Checkpoint and restore of the window operators: the generic WindowOperator (tumbling, sliding and
// session windows; count, purging, continuous and delta triggers; count, time and delta
// evictors; count windows; allowed lateness; a window join), the slicing fast path (per-window
// tables, more than kMaxSliceTables live windows, sliding aggregates) and the session fast path.
// Each test runs a seeded out-of-order stream uninterrupted, then again with a checkpoint after
// several step indexes, fresh operators restored from it (at the same and at other parallelisms)
// processing the rest; every run must emit what the uninterrupted one emitted, step by step.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "operators/key_encoder.h"
#include "operators/tagged_union.h"
#include "operators/window/session_window_operator.h"
#include "operators/window/slicing_window_operator.h"
#include "operators/window/window_operator.h"
#include "restore_harness.h"
#include "state/key_groups.h"

namespace weir::operators::window {
namespace {

using operators::testing::ExpectRestoresMatchUninterrupted;
using operators::testing::RestoreHarness;
using operators::testing::Step;
using operators::testing::StepKind;
using std::chrono::milliseconds;

// (key, id): ids are unique, so a window's contents are identified by its ids.
using Event = std::pair<int64_t, int64_t>;
struct KeyOf {
  int64_t operator()(const Event& event) const { return event.first; }
};

int KeyGroupOf(int64_t key) {
  KeyEncoder encoder;
  return state::KeyGroupForHash(encoder.Encode(key).hash, 128);
}

// A seeded out-of-order stream: timestamps advance with jitter and a bounded delay, one record in
// ten a straggler (often late), a watermark every few records trailing by `watermark_lag`, the
// maximum watermark last.
std::vector<Step<Event>> RandomSteps(uint64_t seed, int count, int keys, Timestamp max_delay,
                                     Timestamp watermark_lag = -1) {
  if (watermark_lag < 0) watermark_lag = max_delay / 2;
  std::mt19937_64 random(seed);
  std::vector<Step<Event>> steps;
  Timestamp clock = 1000;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    clock += static_cast<Timestamp>(random() % 4);
    Timestamp delay = static_cast<Timestamp>(random() % (max_delay + 1));
    if (random() % 10 == 0) delay += 2 * max_delay;
    steps.push_back(Step<Event>::Record(Event{static_cast<int64_t>(random() % keys), i}, clock - delay));
    if (random() % 5 == 0 && clock - watermark_lag > watermark) {
      watermark = clock - watermark_lag;
      steps.push_back(Step<Event>::Watermark(watermark));
    }
  }
  steps.push_back(Step<Event>::Watermark(kMaxTimestamp));
  return steps;
}

std::vector<size_t> Cuts(size_t steps, uint64_t seed) {
  std::mt19937_64 random(seed);
  return {steps / 6, steps / 2, steps - steps / 8, 1 + random() % (steps - 1)};
}

std::string RenderString(const std::string& value, Timestamp timestamp) {
  return value + "@" + std::to_string(timestamp);
}

template <typename W>
std::string Describe(int64_t key, const W& window) {
  if constexpr (std::is_same_v<W, TimeWindow>) {
    return std::to_string(key) + "[" + std::to_string(window.start) + "," + std::to_string(window.end) + ")";
  } else {
    return std::to_string(key) + "[global]";
  }
}

// Lists the window's ids in the order the function sees them, and how often this key fired
// before (global keyed state of the function, registered on first use).
template <typename W>
class ListIds final : public ProcessWindowFunction<Event, std::string, int64_t, W> {
 public:
  void Process(const int64_t& key, WindowContext<W>& context, std::span<const Event> elements,
               Collector<std::string>& out) override {
    state::ValueState<int64_t>* firings = context.GlobalState().template GetValueState<int64_t>("firings");
    const int64_t before = firings->Value().value_or(0);
    firings->Update(before + 1);
    std::string ids;
    for (const Event& event : elements) ids += std::to_string(event.second) + ",";
    out.Collect(Describe(key, context.window()) + ids + "#" + std::to_string(before));
  }
};

template <typename W>
using ProcessIds = internal::ProcessContents<Event, int64_t, W, ListIds<W>>;

struct SumAggregate {
  int64_t CreateAccumulator() const { return 0; }
  int64_t Add(const Event& event, const int64_t& sum) const { return sum + event.second; }
  int64_t GetResult(const int64_t& sum) const { return sum; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
};
class EmitSum final : public ProcessWindowFunction<int64_t, std::string, int64_t, TimeWindow> {
 public:
  void Process(const int64_t& key, WindowContext<TimeWindow>& context, std::span<const int64_t> sums,
               Collector<std::string>& out) override {
    out.Collect(Describe(key, context.window()) + "=" + std::to_string(sums[0]));
  }
};
struct IdDelta {
  double operator()(const Event& a, const Event& b) const { return static_cast<double>(std::abs(a.second - b.second)); }
};

// Runs the generic WindowOperator with these parts through the harness.
template <typename Assigner, typename TriggerT, typename Contents, typename EvictorT = NoEvictor>
void ExpectWindowOperatorRestores(const std::vector<Step<Event>>& steps, uint64_t seed, Assigner assigner,
                                  TriggerT trigger, Contents contents, EvictorT evictor = {},
                                  Timestamp lateness = 0) {
  using Operator = WindowOperator<Event, KeyOf, Assigner, TriggerT, Contents, EvictorT>;
  RestoreHarness<Event, std::string> harness({
      .make =
          [=] {
            WindowOptions<Event> options;
            options.allowed_lateness = lateness;
            return std::make_unique<Operator>(KeyOf(), assigner, trigger, contents, evictor, options);
          },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = RenderString,
      .counter = [](OneInputOperator<Event, std::string>& op) {
        return dynamic_cast<Operator&>(op).num_late_records_dropped();
      },
  });
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), seed));
}

TEST(WindowRestoreTest, TumblingWindowsWithLatenessAndLateCounter) {
  const auto steps = RandomSteps(1, 3000, 12, 30);
  ExpectWindowOperatorRestores(steps, 1, TumblingEventTimeWindows::Of(milliseconds(20)), EventTimeTrigger(),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), NoEvictor(), 15);
}

TEST(WindowRestoreTest, SlidingWindowsWithAnIncrementalAggregate) {
  const auto steps = RandomSteps(2, 3000, 12, 30);
  ExpectWindowOperatorRestores(
      steps, 2, SlidingEventTimeWindows::Of(milliseconds(30), milliseconds(10)), EventTimeTrigger(),
      internal::AggregateContents<Event, int64_t, TimeWindow, SumAggregate, EmitSum>(SumAggregate(), EmitSum()),
      NoEvictor(), 10);
}

TEST(WindowRestoreTest, SessionWindowsKeepTheirMergingWindowSets) {
  const auto steps = RandomSteps(3, 3000, 10, 30);
  ExpectWindowOperatorRestores(steps, 3, EventTimeSessionWindows::WithGap(milliseconds(8)), EventTimeTrigger(),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), NoEvictor(), 10);
}

TEST(WindowRestoreTest, SessionWindowsWithACountTriggerMergeRestoredCounts) {
  const auto steps = RandomSteps(4, 3000, 10, 30);
  ExpectWindowOperatorRestores(steps, 4, EventTimeSessionWindows::WithGap(milliseconds(8)), CountTrigger::Of(3),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), NoEvictor(), 5);
}

TEST(WindowRestoreTest, PurgingCountTriggerKeepsItsCounts) {
  const auto steps = RandomSteps(5, 3000, 8, 30);
  ExpectWindowOperatorRestores(steps, 5, TumblingEventTimeWindows::Of(milliseconds(25)),
                               PurgingTrigger<CountTrigger>::Of(CountTrigger::Of(3)),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), NoEvictor(), 5);
}

TEST(WindowRestoreTest, ContinuousTriggerKeepsItsFireTimes) {
  const auto steps = RandomSteps(6, 3000, 8, 20);
  ExpectWindowOperatorRestores(steps, 6, TumblingEventTimeWindows::Of(milliseconds(30)),
                               ContinuousEventTimeTrigger::Of(milliseconds(7)),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()));
}

// Flink's countWindow(5, 2): global windows, a count trigger and a count evictor.
TEST(WindowRestoreTest, CountWindowsWithACountEvictor) {
  const auto steps = RandomSteps(7, 3000, 8, 20);
  ExpectWindowOperatorRestores(steps, 7, GlobalWindows::Create(), CountTrigger::Of(2),
                               ProcessIds<GlobalWindow>(ListIds<GlobalWindow>()), CountEvictor::Of(5));
}

TEST(WindowRestoreTest, TimeAndDeltaEvictors) {
  const auto steps = RandomSteps(8, 2000, 6, 40);
  ExpectWindowOperatorRestores(steps, 8, TumblingEventTimeWindows::Of(milliseconds(40)), EventTimeTrigger(),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), TimeEvictor::Of(milliseconds(10)), 10);
  ExpectWindowOperatorRestores(steps, 9, TumblingEventTimeWindows::Of(milliseconds(40)), EventTimeTrigger(),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()),
                               DeltaEvictor<IdDelta>::Of(150, IdDelta(), /*evict_after=*/true), 10);
}

// The delta trigger's last element per window is lazily registered trigger state.
TEST(WindowRestoreTest, DeltaTriggerKeepsTheLastElement) {
  const auto steps = RandomSteps(10, 3000, 8, 20);
  ExpectWindowOperatorRestores(steps, 10, GlobalWindows::Create(), DeltaTrigger<IdDelta>::Of(15, IdDelta()),
                               ProcessIds<GlobalWindow>(ListIds<GlobalWindow>()), CountEvictor::Of(4));
  ExpectWindowOperatorRestores(steps, 11, TumblingEventTimeWindows::Of(milliseconds(30)),
                               DeltaTrigger<IdDelta>::Of(15, IdDelta()),
                               ProcessIds<TimeWindow>(ListIds<TimeWindow>()), NoEvictor(), 10);
}

// A window join (DataStream.join(...).window(...)): both sides in one keyed window operator over
// their tagged union, every pair of the window's left and right elements joined when it fires.
using Tagged = TaggedUnion<Event, Event>;
struct TaggedKeyOf {
  int64_t operator()(const Tagged& value) const { return value.is_left ? value.left.first : value.right.first; }
};
class JoinWindow final : public ProcessWindowFunction<Tagged, std::string, int64_t, TimeWindow> {
 public:
  void Process(const int64_t& key, WindowContext<TimeWindow>& context, std::span<const Tagged> elements,
               Collector<std::string>& out) override {
    for (const Tagged& left : elements) {
      if (!left.is_left) continue;
      for (const Tagged& right : elements) {
        if (right.is_left) continue;
        out.Collect(Describe(key, context.window()) + std::to_string(left.left.second) + "x" +
                    std::to_string(right.right.second));
      }
    }
  }
};

TEST(WindowRestoreTest, WindowJoinKeepsBothSides) {
  using Contents = internal::ProcessContents<Tagged, int64_t, TimeWindow, JoinWindow>;
  using Operator = WindowOperator<Tagged, TaggedKeyOf, TumblingEventTimeWindows, EventTimeTrigger, Contents>;
  RestoreHarness<Tagged, std::string> harness({
      .make =
          [] {
            return std::make_unique<Operator>(TaggedKeyOf(), TumblingEventTimeWindows::Of(milliseconds(20)),
                                              EventTimeTrigger(), Contents(JoinWindow()), NoEvictor(),
                                              WindowOptions<Tagged>());
          },
      .key_group = [](const Tagged& value) { return KeyGroupOf(TaggedKeyOf()(value)); },
      .render = RenderString,
  });
  std::vector<Step<Tagged>> steps;
  for (const Step<Event>& step : RandomSteps(12, 3000, 10, 20)) {
    if (step.kind != StepKind::kRecord) {
      steps.push_back({step.kind, Tagged{}, step.time});
    } else if (step.value.second % 3 != 0) {
      steps.push_back(Step<Tagged>::Record(Tagged::Left(step.value), step.time));
    } else {
      steps.push_back(Step<Tagged>::Record(Tagged::Right(step.value), step.time));
    }
  }
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 12));
}

// --- The slicing fast path ----------------------------------------------------------------------

struct DescribeSum {
  void operator()(const int64_t& key, const TimeWindow& window, const int64_t& sum, Collector<std::string>& out) const {
    out.Collect(Describe(key, window) + "=" + std::to_string(sum));
  }
};
using Slicing = SlicingWindowOperator<Event, std::string, KeyOf, SumAggregate, DescribeSum>;

RestoreHarness<Event, std::string>::Hooks SlicingHooks(SlicingWindowOptions options) {
  return {
      .make = [=] { return std::make_unique<Slicing>(KeyOf(), SumAggregate(), options, DescribeSum()); },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = RenderString,
      .counter = [](OneInputOperator<Event, std::string>& op) { return dynamic_cast<Slicing&>(op).late_dropped(); },
  };
}

TEST(WindowRestoreTest, SlicingTumblingWindowTablesWithLateness) {
  SlicingWindowOptions options = SlicingWindowOptions::Tumbling(20);
  options.allowed_lateness_ms = 15;
  RestoreHarness<Event, std::string> harness(SlicingHooks(options));
  const auto steps = RandomSteps(20, 4000, 30, 30);
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 20));
}

TEST(WindowRestoreTest, SlicingSlidingWindowsWithSlidingAggregates) {
  SlicingWindowOptions options = SlicingWindowOptions::Sliding(60, 10);
  options.allowed_lateness_ms = 10;
  RestoreHarness<Event, std::string> harness(SlicingHooks(options));
  const auto steps = RandomSteps(21, 4000, 30, 30);
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 21));
}

// Windows of 2 ms with the watermark 600 ms behind: far more than kMaxSliceTables windows are
// live, so part of them are per-window tables and the rest take the general path (slices and
// timers); both are restored, and the general path stays on after a restore.
TEST(WindowRestoreTest, SlicingBeyondTheWindowTableLimit) {
  SlicingWindowOptions options = SlicingWindowOptions::Tumbling(2);
  options.allowed_lateness_ms = 50;
  const auto steps = RandomSteps(22, 4000, 20, 100, /*watermark_lag=*/600);
  {
    // The input does exceed the table limit before the checkpoints below.
    RestoreHarness<Event, std::string>::Hooks hooks = SlicingHooks(options);
    memory::SegmentPool::Options pool_options;
    pool_options.segment_size = 16 * 1024;
    pool_options.segment_count = 4096;
    pool_options.prefault = false;
    auto pool = std::move(*memory::SegmentPool::Create(pool_options));
    memory::MemoryBudget budget(1LL << 30);
    OperatorContext context;
    context.task_name = "Window (1/1)";
    context.state_pool = pool.get();
    context.managed_memory = &budget;
    operators::testing::CollectingOutput<std::string> out;
    auto op = hooks.make();
    op->SetOutput(&out);
    ASSERT_TRUE(op->Open(&context).ok());
    size_t most_tables = 0;
    for (size_t i = 0; i < steps.size() / 6; ++i) {
      if (steps[i].kind == StepKind::kWatermark) {
        op->EmitWatermark(steps[i].time);
      } else {
        op->Collect(steps[i].value, steps[i].time);
      }
      most_tables = std::max(most_tables, dynamic_cast<Slicing&>(*op).slice_table_count());
    }
    EXPECT_EQ(most_tables, 128u);
    EXPECT_GT(dynamic_cast<Slicing&>(*op).slice_count(), 0u);
    op->Close();
  }
  RestoreHarness<Event, std::string> harness(SlicingHooks(options));
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 22));
}

// Rescaling 2 -> 1 when the old subtasks disagree: subtask 0's keys spread over many windows (it
// passes kMaxSliceTables and keeps later windows in slices and timers), subtask 1's keys arrive
// later in a narrow band (their windows are tables). The restored subtask holds both kinds for the
// same windows; every (key, window) must still fire once with all its elements.
TEST(WindowRestoreTest, SlicingRescaleMergesTablesAndSlicesOfTheSameWindow) {
  SlicingWindowOptions options = SlicingWindowOptions::Tumbling(2);
  options.allowed_lateness_ms = 20;
  std::vector<int64_t> spread_keys;  // owned by subtask 0 of 2
  std::vector<int64_t> band_keys;    // owned by subtask 1 of 2
  for (int64_t key = 0; spread_keys.size() < 8 || band_keys.size() < 8; ++key) {
    (state::OperatorIndexForKeyGroup(128, 2, KeyGroupOf(key)) == 0 ? spread_keys : band_keys).push_back(key);
  }
  // Records 0..1499: subtask 0's keys over 500 ms (about 250 live windows). 1500..1699: both
  // subtasks' keys within 30 ms of the clock (subtask 1 stays under the limit). Then subtask 0's
  // keys only, within 30 ms. The checkpoints fall in the second phase.
  std::mt19937_64 random(40);
  std::vector<Step<Event>> steps;
  std::vector<size_t> cuts;
  Timestamp clock = 1000;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < 3000; ++i) {
    if (i == 1530 || i == 1580 || i == 1630 || i == 1690) cuts.push_back(steps.size());
    clock += static_cast<Timestamp>(random() % 3);
    const bool band = i >= 1500 && i < 1700 && random() % 2 == 0;
    const int64_t key = band ? band_keys[random() % band_keys.size()] : spread_keys[random() % spread_keys.size()];
    const Timestamp timestamp = clock - static_cast<Timestamp>(random() % (i < 1500 ? 500 : 30));
    steps.push_back(Step<Event>::Record(Event{key, i}, timestamp));
    if (random() % 5 == 0 && clock - 550 > watermark) {
      watermark = clock - 550;
      steps.push_back(Step<Event>::Watermark(watermark));
    }
  }
  steps.push_back(Step<Event>::Watermark(kMaxTimestamp));
  RestoreHarness<Event, std::string> harness(SlicingHooks(options));
  ExpectRestoresMatchUninterrupted(harness, steps, cuts,
                                   {{2, 1}, {2, 2}, {2, 3}});
}

// --- The session fast path ----------------------------------------------------------------------

TEST(WindowRestoreTest, SessionOperatorKeepsSessionsAndTimers) {
  using Session = SessionWindowOperator<Event, std::string, KeyOf, SumAggregate, DescribeSum>;
  SessionWindowOptions options = SessionWindowOptions::WithGap(8);
  options.allowed_lateness_ms = 10;
  RestoreHarness<Event, std::string> harness({
      .make = [=] { return std::make_unique<Session>(KeyOf(), SumAggregate(), options, DescribeSum()); },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = RenderString,
      .counter = [](OneInputOperator<Event, std::string>& op) { return dynamic_cast<Session&>(op).late_dropped(); },
  });
  const auto steps = RandomSteps(30, 4000, 15, 30);
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 30));
}

}  // namespace
}  // namespace weir::operators::window
