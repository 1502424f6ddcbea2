// Checkpoint and restore of the keyed operators that are not windows: rolling aggregates,
// KeyedProcessOperator (every state kind, event- and processing-time timers) and the interval
// join. Each test runs a seeded out-of-order stream uninterrupted, then again with a checkpoint
// after several step indexes, a fresh operator restored from it (at the same and at other
// parallelisms) processing the rest; every run must emit what the uninterrupted one emitted.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "operators/interval_join_operator.h"
#include "operators/key_encoder.h"
#include "operators/keyed_process_operator.h"
#include "operators/rolling_aggregate.h"
#include "restore_harness.h"
#include "state/key_groups.h"

namespace weir::operators {
namespace {

using testing::ExpectRestoresMatchUninterrupted;
using testing::RestoreHarness;
using testing::Step;

// (key, value).
using Event = std::pair<int64_t, int64_t>;
struct KeyOf {
  int64_t operator()(const Event& event) const { return event.first; }
};

int KeyGroupOf(int64_t key) {
  KeyEncoder encoder;
  return state::KeyGroupForHash(encoder.Encode(key).hash, 128);
}

// A seeded out-of-order stream: timestamps advance with jitter and a bounded delay (one record in
// ten is a straggler behind the watermark), a watermark every few records, processing time
// advancing with the records when `processing_time`, the maximum watermark last. Key 0 takes
// about half the records (long lists, many timers), the others share the rest.
std::vector<Step<Event>> RandomSteps(uint64_t seed, int count, int keys, Timestamp max_delay,
                                     bool processing_time = false) {
  std::mt19937_64 random(seed);
  std::vector<Step<Event>> steps;
  Timestamp clock = 1000;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    clock += static_cast<Timestamp>(random() % 4);
    Timestamp delay = static_cast<Timestamp>(random() % (max_delay + 1));
    if (random() % 10 == 0) delay += 2 * max_delay;
    const int64_t key = random() % 2 == 0 ? 0 : static_cast<int64_t>(random() % keys);
    const int64_t value = static_cast<int64_t>(random() % 1000) - 100;
    steps.push_back(Step<Event>::Record(Event{key, value}, clock - delay));
    if (random() % 5 == 0 && clock - max_delay / 2 > watermark) {
      watermark = clock - max_delay / 2;
      steps.push_back(Step<Event>::Watermark(watermark));
    }
    // Processing time trails every record's timestamp + 25 (where the function registers its
    // processing-time timers), so no timer is registered in the past.
    if (processing_time && random() % 7 == 0) steps.push_back(Step<Event>::ProcessingTime(clock - 3 * max_delay - 10));
  }
  steps.push_back(Step<Event>::Watermark(kMaxTimestamp));
  return steps;
}

// Checkpoints at a few places: early, middle, late, and two seeded ones.
std::vector<size_t> Cuts(size_t steps, uint64_t seed) {
  std::mt19937_64 random(seed);
  return {steps / 7, steps / 2, steps - steps / 9, 1 + random() % (steps - 1), 1 + random() % (steps - 1)};
}

std::string Render(const Event& event, Timestamp timestamp) {
  return std::to_string(event.first) + ":" + std::to_string(event.second) + "@" + std::to_string(timestamp);
}

// --- Rolling aggregate --------------------------------------------------------------------------

struct SumValues {
  Event operator()(const Event& a, const Event& b) const { return {a.first, a.second + b.second}; }
};

TEST(KeyedRestoreTest, RollingAggregateContinuesFromRestoredValues) {
  using Operator = RollingAggregateOperator<Event, KeyOf, SumValues>;
  RestoreHarness<Event, Event> harness({
      .make = [] { return std::make_unique<Operator>(KeyOf(), SumValues(), "Sum"); },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = Render,
  });
  const auto steps = RandomSteps(1, 3000, 50, 20);
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 2));
}

// The comparison detects lost state: a run whose operators do not restore differs.
TEST(KeyedRestoreTest, SkippingTheRestoreIsDetected) {
  using Operator = RollingAggregateOperator<Event, KeyOf, SumValues>;
  RestoreHarness<Event, Event> harness({
      .make = [] { return std::make_unique<Operator>(KeyOf(), SumValues(), "Sum"); },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = Render,
  });
  const auto steps = RandomSteps(3, 500, 10, 20);
  const auto reference = harness.Run(steps, steps.size(), 1, 1);
  const auto restored = harness.Run(steps, steps.size() / 2, 1, 1, /*restore=*/false);
  EXPECT_NE(restored.steps, reference.steps);
}

// --- KeyedProcessFunction with every state kind and both timer domains -----------------------

struct MaxOf {
  int64_t operator()(int64_t a, int64_t b) const { return std::max(a, b); }
};
struct Average {
  struct Acc {
    int64_t sum;
    int64_t count;
  };
  Acc CreateAccumulator() const { return {0, 0}; }
  Acc Add(const int64_t& value, const Acc& acc) const { return {acc.sum + value, acc.count + 1}; }
  int64_t GetResult(const Acc& acc) const { return acc.count == 0 ? 0 : acc.sum / acc.count; }
  Acc Merge(const Acc& a, const Acc& b) const { return {a.sum + b.sum, a.count + b.count}; }
};

// Keeps a count (Value), every value (List: key 0's list outgrows a segment, so its chunks are
// state too), a histogram of value % 5 (Map, with removals), the maximum (Reducing) and the mean
// (Aggregating) per key; registers an event-time timer per record (deleting one now and then) and
// a processing-time timer for some. Every record and timer emits a digest of the key's state.
class AllStates final : public KeyedProcessFunction<int64_t, Event, std::string> {
 public:
  Status Open(RuntimeContext& context) override {
    count_ = context.GetState<int64_t>("count");
    values_ = context.GetListState<int64_t>("values");
    histogram_ = context.GetMapState<int64_t, int64_t>("histogram");
    max_ = context.GetReducingState<int64_t>("max", MaxOf());
    mean_ = context.GetAggregatingState<int64_t, Average::Acc, int64_t>("mean", Average());
    return Status::Ok();
  }
  void ProcessElement(const Event& event, Context& context, Collector<std::string>& out) override {
    count_->Update(count_->Value().value_or(0) + 1);
    values_->Add(event.second);
    const int64_t bucket = event.second % 5;
    if (bucket == 4 && histogram_->Contains(3)) {
      histogram_->Remove(3);
    } else {
      histogram_->Put(bucket, histogram_->Get(bucket).value_or(0) + 1);
    }
    max_->Add(event.second);
    mean_->Add(event.second);
    // Timers behind the watermark would fire at the first watermark after a restore rather than
    // at the next one (Flink's semantics too: the watermark is not restored), so none is.
    const Timestamp base = std::max(context.timestamp(), context.TimerService().CurrentWatermark() + 1);
    const Timestamp at = base + 10 * (event.second % 4 + 1);
    context.TimerService().RegisterEventTimeTimer(at);
    if (event.second % 11 == 0) context.TimerService().DeleteEventTimeTimer(at - 10);
    if (event.second % 3 == 0) context.TimerService().RegisterProcessingTimeTimer(context.timestamp() + 25);
    out.Collect("e" + Digest(context.GetCurrentKey()));
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<std::string>& out) override {
    const bool event_time = context.TimeDomain() == TimeDomain::kEventTime;
    // A firing clears part of the state now and then, and chains a timer.
    if (time % 13 == 0) values_->Clear();
    if (event_time && time % 5 == 0) context.TimerService().RegisterEventTimeTimer(time + 7);
    out.Collect((event_time ? "t" : "p") + std::to_string(time) + Digest(context.GetCurrentKey()));
  }

 private:
  std::string Digest(int64_t key) const {
    int64_t list_sum = 0;
    const size_t list_size = values_->ForEach([&](int64_t value) { list_sum += value; });
    int64_t map_digest = 0;
    histogram_->ForEach([&](int64_t bucket, int64_t n) { map_digest += (bucket + 7) * n * n; });
    return "/" + std::to_string(key) + "/" + std::to_string(count_->Value().value_or(-1)) + "/" +
           std::to_string(list_size) + "/" + std::to_string(list_sum) + "/" + std::to_string(histogram_->Size()) +
           "/" + std::to_string(map_digest) + "/" + std::to_string(max_->Get().value_or(-1)) + "/" +
           std::to_string(mean_->Get().value_or(-1));
  }

  state::ValueState<int64_t>* count_ = nullptr;
  state::ListState<int64_t>* values_ = nullptr;
  state::MapState<int64_t, int64_t>* histogram_ = nullptr;
  state::ReducingState<int64_t, MaxOf>* max_ = nullptr;
  state::AggregatingState<int64_t, Average::Acc, int64_t, Average>* mean_ = nullptr;
};

TEST(KeyedRestoreTest, KeyedProcessFunctionKeepsEveryStateKindAndBothTimerDomains) {
  using Operator = KeyedProcessOperator<Event, std::string, KeyOf, AllStates>;
  RestoreHarness<Event, std::string> harness({
      .make = [] { return std::make_unique<Operator>(KeyOf(), AllStates()); },
      .key_group = [](const Event& event) { return KeyGroupOf(event.first); },
      .render = [](const std::string& value, Timestamp timestamp) { return value + "@" + std::to_string(timestamp); },
  });
  const auto steps = RandomSteps(5, 6000, 30, 40, /*processing_time=*/true);
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 6));
}

// --- Interval join ----------------------------------------------------------------------------

using Tagged = TaggedUnion<Event, Event>;
struct TaggedKeyOf {
  int64_t operator()(const Tagged& value) const { return value.is_left ? value.left.first : value.right.first; }
};
struct JoinPairs {
  void operator()(const Event& left, const Event& right, ProcessJoinContext& context,
                  Collector<std::string>& out) const {
    out.Collect(std::to_string(left.first) + ":" + std::to_string(left.second) + "x" + std::to_string(right.second) +
                "[" + std::to_string(context.LeftTimestamp()) + "," + std::to_string(context.RightTimestamp()) + "]");
  }
};

TEST(KeyedRestoreTest, IntervalJoinKeepsBuffersCleanupTimersAndLateCounters) {
  using Operator = IntervalJoinOperator<Event, Event, std::string, TaggedKeyOf, JoinPairs>;
  RestoreHarness<Tagged, std::string> harness({
      .make =
          [] {
            IntervalJoinOptions options;
            options.lower = -15;
            options.upper = 10;
            return std::make_unique<Operator>(TaggedKeyOf(), JoinPairs(), options);
          },
      .key_group = [](const Tagged& value) { return KeyGroupOf(TaggedKeyOf()(value)); },
      .render = [](const std::string& value, Timestamp timestamp) { return value + "@" + std::to_string(timestamp); },
      .counter =
          [](OneInputOperator<Tagged, std::string>& op) {
            auto& join = dynamic_cast<Operator&>(op);
            return join.left_late_dropped() * 1000 + join.right_late_dropped();
          },
  });
  // Odd values go left, even right.
  std::vector<Step<Tagged>> steps;
  for (const Step<Event>& step : RandomSteps(7, 4000, 20, 30)) {
    if (step.kind != testing::StepKind::kRecord) {
      steps.push_back({step.kind, Tagged{}, step.time});
    } else if (step.value.second % 2 != 0) {
      steps.push_back(Step<Tagged>::Record(Tagged::Left(step.value), step.time));
    } else {
      steps.push_back(Step<Tagged>::Record(Tagged::Right(step.value), step.time));
    }
  }
  ExpectRestoresMatchUninterrupted(harness, steps, Cuts(steps.size(), 8));
  EXPECT_GT(harness.Run(steps, steps.size(), 1, 1).counter, 0) << "the input has late elements";
}

}  // namespace
}  // namespace weir::operators
