#include "operators/watermark_strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/config.h"
#include "operators/timestamps_and_watermarks.h"

namespace weir::operators {
namespace {

using std::chrono::milliseconds;

// Every call a generator makes, unfiltered.
class RecordingWatermarkOutput final : public WatermarkOutput {
 public:
  void EmitWatermark(Timestamp watermark) override { watermarks.push_back(watermark); }
  void MarkIdle() override { events.push_back("idle"); }
  void MarkActive() override { events.push_back("active"); }
  std::vector<Timestamp> watermarks;
  std::vector<std::string> events;
};

class ManualClock final : public RelativeClock {
 public:
  int64_t RelativeTimeNanos() const override { return now; }
  void AdvanceMillis(int64_t millis) { now += millis * 1'000'000; }
  int64_t now = 1'000'000'000;
};

struct Event {
  int64_t id;
  Timestamp time;
};

template <typename Strategy>
typename Strategy::Generator Create(const Strategy& strategy, const RelativeClock* clock) {
  return strategy.CreateWatermarkGenerator(WatermarkGeneratorContext{clock});
}

TEST(WatermarkStrategyTest, BoundedOutOfOrdernessEmitsMaxTimestampMinusBoundMinusOne) {
  std::mt19937_64 random(42);
  for (int64_t bound : {0, 1, 7, 5000}) {
    auto strategy = WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(bound));
    auto generator = Create(strategy, &SystemRelativeClock::Get());
    RecordingWatermarkOutput output;
    generator.OnPeriodicEmit(output);
    ASSERT_EQ(output.watermarks.size(), 1u);
    EXPECT_EQ(output.watermarks.back(), kMinTimestamp) << "before any event";
    Timestamp maximum = kMinTimestamp;
    for (int i = 0; i < 2000; ++i) {
      const Timestamp time = static_cast<Timestamp>(random() % 1'000'000) - 500'000;
      maximum = std::max(maximum, time);
      generator.OnEvent(Event{i, time}, time, output);
      EXPECT_EQ(output.watermarks.size(), static_cast<size_t>(i + 1)) << "periodic: no emission per event";
      generator.OnPeriodicEmit(output);
      ASSERT_EQ(output.watermarks.back(), maximum - bound - 1);
    }
  }
}

TEST(WatermarkStrategyTest, MonotonousTimestampsIsBoundedWithZero) {
  auto monotonous = Create(WatermarkStrategy<Event>::ForMonotonousTimestamps(), &SystemRelativeClock::Get());
  RecordingWatermarkOutput output;
  for (Timestamp time : {10, 20, 20, 35}) {
    monotonous.OnEvent(Event{0, time}, time, output);
    monotonous.OnPeriodicEmit(output);
    EXPECT_EQ(output.watermarks.back(), time - 1);
  }
}

TEST(WatermarkStrategyTest, NoWatermarksNeverEmitsAndKeepsRecordTimestamps) {
  auto strategy = WatermarkStrategy<Event>::NoWatermarks();
  auto generator = Create(strategy, &SystemRelativeClock::Get());
  RecordingWatermarkOutput output;
  for (Timestamp time : {1, 100, 5}) {
    generator.OnEvent(Event{0, time}, time, output);
    generator.OnPeriodicEmit(output);
    EXPECT_EQ(strategy.ExtractTimestamp(Event{0, time}, 777), 777) << "the record's own timestamp";
  }
  EXPECT_TRUE(output.watermarks.empty());
  EXPECT_TRUE(output.events.empty());
}

TEST(WatermarkStrategyTest, TimestampAssignerTakesEitherSignature) {
  auto with_record = WatermarkStrategy<Event>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const Event& event, Timestamp record) { return event.time + record; });
  auto value_only = WatermarkStrategy<Event>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const Event& event) { return event.time * 2; });
  EXPECT_EQ(with_record.ExtractTimestamp(Event{1, 40}, 2), 42);
  EXPECT_EQ(value_only.ExtractTimestamp(Event{1, 40}, 2), 80);
  // The assigner survives WithIdleness, and WithIdleness survives a later assigner.
  auto idle_then_assign = WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(3))
                              .WithIdleness(milliseconds(10))
                              .WithTimestampAssigner([](const Event& event) { return event.time; });
  EXPECT_EQ(idle_then_assign.ExtractTimestamp(Event{1, 99}, 0), 99);
  auto assign_then_idle = value_only.WithIdleness(milliseconds(10));
  EXPECT_EQ(assign_then_idle.ExtractTimestamp(Event{1, 40}, 0), 80);
}

// A punctuated generator: a watermark at every event whose id is a multiple of 10.
class PunctuatedGenerator final : public WatermarkGenerator<Event> {
 public:
  void OnEvent(const Event& event, Timestamp timestamp, WatermarkOutput& output) override {
    if (event.id % 10 == 0) output.EmitWatermark(timestamp);
  }
  void OnPeriodicEmit(WatermarkOutput&) override {}
};

TEST(WatermarkStrategyTest, ForGeneratorRunsPunctuatedGeneratorsByValueOrPointer) {
  auto by_pointer = WatermarkStrategy<Event>::ForGenerator(
      [] { return std::unique_ptr<WatermarkGenerator<Event>>(new PunctuatedGenerator()); });
  auto by_value = WatermarkStrategy<Event>::ForGenerator(
      [](const WatermarkGeneratorContext&) { return PunctuatedGenerator(); });
  auto pointer_generator = Create(by_pointer, &SystemRelativeClock::Get());
  auto value_generator = Create(by_value, &SystemRelativeClock::Get());
  RecordingWatermarkOutput pointer_output;
  RecordingWatermarkOutput value_output;
  std::vector<Timestamp> expected;
  for (int64_t id = 0; id < 95; ++id) {
    const Event event{id, id * 3};
    pointer_generator.OnEvent(event, event.time, pointer_output);
    value_generator.OnEvent(event, event.time, value_output);
    if (id % 10 == 0) expected.push_back(event.time);
  }
  EXPECT_EQ(pointer_output.watermarks, expected);
  EXPECT_EQ(value_output.watermarks, expected);
}

TEST(WatermarkStrategyTest, IdlenessMarksIdleOnlyAfterMoreThanTheTimeoutWithoutEvents) {
  ManualClock clock;
  auto generator = Create(
      WatermarkStrategy<Event>::ForMonotonousTimestamps().WithIdleness(milliseconds(100)), &clock);
  RecordingWatermarkOutput output;
  generator.OnEvent(Event{0, 50}, 50, output);
  generator.OnPeriodicEmit(output);  // saw an event: resets, asks the inner generator
  EXPECT_EQ(output.watermarks, std::vector<Timestamp>{49});
  generator.OnPeriodicEmit(output);  // no event since: the countdown starts now
  clock.AdvanceMillis(100);
  generator.OnPeriodicEmit(output);  // exactly the timeout: not yet (strictly more is needed)
  EXPECT_TRUE(output.events.empty());
  EXPECT_EQ(output.watermarks.size(), 3u) << "the inner generator is asked while not idle";
  clock.now += 1;
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.events, std::vector<std::string>{"idle"});
  clock.AdvanceMillis(1000);
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.events.size(), 1u) << "idle is announced once";
  EXPECT_EQ(output.watermarks.size(), 3u) << "an idle generator does not ask the inner one";
  // An event ends idleness: the next periodic call asks the inner generator again.
  generator.OnEvent(Event{1, 80}, 80, output);
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.watermarks.back(), 79);
  // ... and a new quiet period is measured from its own start.
  generator.OnPeriodicEmit(output);
  clock.AdvanceMillis(50);
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.events.size(), 1u);
  clock.AdvanceMillis(51);
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.events, (std::vector<std::string>{"idle", "idle"}));
}

TEST(WatermarkStrategyTest, IdlenessPropertiesUnderRandomSchedules) {
  constexpr int64_t kTimeoutMillis = 40;
  constexpr int64_t kPeriodMillis = 7;
  std::mt19937_64 random(7);
  for (int round = 0; round < 50; ++round) {
    ManualClock clock;
    auto generator = Create(
        WatermarkStrategy<Event>::ForMonotonousTimestamps().WithIdleness(milliseconds(kTimeoutMillis)),
        &clock);
    RecordingWatermarkOutput output;
    int64_t last_event_nanos = clock.now;
    bool idle = false;
    generator.OnEvent(Event{0, 0}, 0, output);
    for (int step = 0; step < 300; ++step) {
      clock.AdvanceMillis(kPeriodMillis);
      // Bursts of events, then quiet stretches longer than the timeout.
      const bool quiet_phase = (step / 20) % 2 == 1;
      if (!quiet_phase && random() % 3 != 0) {
        generator.OnEvent(Event{step, step}, step, output);
        last_event_nanos = clock.now;
        idle = false;
      }
      const size_t idle_marks = output.events.size();
      generator.OnPeriodicEmit(output);
      if (output.events.size() > idle_marks) {
        EXPECT_FALSE(idle) << "marked idle twice without an event between";
        EXPECT_GT(clock.now - last_event_nanos, kTimeoutMillis * 1'000'000)
            << "idle no earlier than the timeout after the last event";
        idle = true;
      }
      // Flink's bound: idle at the latest the timeout plus three periods after the last event.
      if (clock.now - last_event_nanos > (kTimeoutMillis + 3 * kPeriodMillis) * 1'000'000) {
        EXPECT_TRUE(idle) << "step " << step;
      }
    }
  }
}

TEST(WatermarkStrategyTest, PausableClockExcludesPausedTime) {
  ManualClock base;
  PausableRelativeClock clock(&base);
  const int64_t start = clock.RelativeTimeNanos();
  base.AdvanceMillis(10);
  clock.Pause();
  clock.Pause();
  base.AdvanceMillis(1000);
  EXPECT_EQ(clock.RelativeTimeNanos() - start, 10'000'000);
  clock.Unpause();
  clock.Unpause();
  base.AdvanceMillis(5);
  EXPECT_EQ(clock.RelativeTimeNanos() - start, 15'000'000);
}

TEST(WatermarkStrategyTest, IdlenessIsMeasuredOnTheGivenClock) {
  ManualClock base;
  PausableRelativeClock clock(&base);
  auto generator = Create(
      WatermarkStrategy<Event>::NoWatermarks().WithIdleness(milliseconds(10)), &clock);
  RecordingWatermarkOutput output;
  generator.OnPeriodicEmit(output);  // countdown starts
  clock.Pause();                     // e.g. backpressure
  base.AdvanceMillis(1000);
  generator.OnPeriodicEmit(output);
  EXPECT_TRUE(output.events.empty()) << "paused time is not idle time";
  clock.Unpause();
  base.AdvanceMillis(11);
  generator.OnPeriodicEmit(output);
  EXPECT_EQ(output.events, std::vector<std::string>{"idle"});
}

// What reaches an operator's output, in order: records, watermarks and status changes.
template <typename T>
class EventLog final : public Output<T> {
 public:
  struct Entry {
    enum Kind { kRecord, kWatermark, kIdle, kActive, kEnd } kind;
    T value{};
    Timestamp timestamp = 0;
  };
  void Collect(const T& value, Timestamp timestamp) override {
    entries.push_back({Entry::kRecord, value, timestamp});
  }
  void EmitWatermark(Timestamp watermark) override {
    entries.push_back({Entry::kWatermark, T{}, watermark});
  }
  void EmitWatermarkStatus(bool idle) override {
    entries.push_back({idle ? Entry::kIdle : Entry::kActive, T{}, 0});
  }
  void EndInput() override { entries.push_back({Entry::kEnd, T{}, 0}); }

  std::vector<Timestamp> Watermarks() const {
    std::vector<Timestamp> out;
    for (const Entry& entry : entries) {
      if (entry.kind == Entry::kWatermark) out.push_back(entry.timestamp);
    }
    return out;
  }
  int Count(typename Entry::Kind kind) const {
    return static_cast<int>(std::count_if(entries.begin(), entries.end(),
                                          [kind](const Entry& entry) { return entry.kind == kind; }));
  }
  std::vector<Entry> entries;
};

Configuration IntervalConfig(int64_t millis) {
  Configuration config;
  EXPECT_TRUE(config.Set(options::kAutoWatermarkInterval.key, std::to_string(millis) + " ms").ok());
  return config;
}

TEST(WatermarkEmitterTest, WatermarksRiseAndStatusChangesAreSentOnce) {
  EventLog<int> log;
  WatermarkEmitter emitter;
  emitter.set_output(&log);
  emitter.EmitWatermark(kMinTimestamp);
  emitter.EmitWatermark(5);
  emitter.EmitWatermark(5);
  emitter.EmitWatermark(3);
  emitter.MarkIdle();
  emitter.MarkIdle();
  emitter.EmitWatermark(4);  // not a rise: stays idle
  emitter.EmitWatermark(9);  // a rise: active again, then the watermark
  emitter.MarkActive();
  using E = EventLog<int>::Entry;
  ASSERT_EQ(log.entries.size(), 4u);
  EXPECT_EQ(log.entries[0].kind, E::kWatermark);
  EXPECT_EQ(log.entries[0].timestamp, 5);
  EXPECT_EQ(log.entries[1].kind, E::kIdle);
  EXPECT_EQ(log.entries[2].kind, E::kActive);
  EXPECT_EQ(log.entries[3].kind, E::kWatermark);
  EXPECT_EQ(log.entries[3].timestamp, 9);
}

class TimestampsAndWatermarksOperatorTest : public ::testing::Test {
 protected:
  template <typename Strategy>
  auto Make(Strategy strategy, int64_t interval_millis, const RelativeClock* clock = nullptr) {
    config_ = IntervalConfig(interval_millis);
    context_.config = &config_;
    context_.task_name = "Timestamps/Watermarks (1/1)";
    auto op = std::make_unique<TimestampsAndWatermarksOperator<Event, Strategy>>(std::move(strategy), clock);
    op->SetOutput(&log_);
    EXPECT_TRUE(op->Open(&context_).ok());
    return op;
  }
  Configuration config_;
  OperatorContext context_;
  EventLog<Event> log_;
};

TEST_F(TimestampsAndWatermarksOperatorTest, AssignsTimestampsAndEmitsPeriodically) {
  auto op = Make(WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(10))
                     .WithTimestampAssigner([](const Event& event) { return event.time; }),
                 200);
  const Timestamp first_due = op->NextProcessingTime();
  EXPECT_GE(first_due, WallMillis());
  EXPECT_LE(first_due, WallMillis() + 200);
  std::mt19937_64 random(3);
  Timestamp maximum = kMinTimestamp;
  Timestamp now = first_due;
  std::vector<Timestamp> expected_watermarks;
  for (int i = 0; i < 500; ++i) {
    const Timestamp time = static_cast<Timestamp>(random() % 10'000);
    maximum = std::max(maximum, time);
    op->Collect(Event{i, time}, kMinTimestamp);
    ASSERT_EQ(log_.entries.back().timestamp, time) << "the record carries its assigned timestamp";
    if (i % 50 == 49) {
      op->OnProcessingTime(now - 1);  // not due yet: nothing
      op->OnProcessingTime(now);
      EXPECT_EQ(op->NextProcessingTime(), now + 200);
      now += 200;
      if (expected_watermarks.empty() || maximum - 11 > expected_watermarks.back()) {
        expected_watermarks.push_back(maximum - 11);
      }
    }
  }
  EXPECT_EQ(log_.Watermarks(), expected_watermarks);
}

TEST_F(TimestampsAndWatermarksOperatorTest, PunctuatedWatermarkFollowsItsRecordAndZeroIntervalDisablesPeriodic) {
  struct EveryTenth {
    void OnEvent(const Event& event, Timestamp timestamp, WatermarkOutput& output) {
      if (event.id % 10 == 0) output.EmitWatermark(timestamp);
    }
    void OnPeriodicEmit(WatermarkOutput& output) { output.EmitWatermark(kMaxTimestamp - 1); }
  };
  auto op = Make(WatermarkStrategy<Event>::ForGenerator([] { return EveryTenth(); })
                     .WithTimestampAssigner([](const Event& event) { return event.time; }),
                 0);
  EXPECT_EQ(op->NextProcessingTime(), kMaxTimestamp) << "interval 0: no periodic calls";
  for (int64_t id = 1; id <= 30; ++id) op->Collect(Event{id, id * 2}, kMinTimestamp);
  op->Flush();  // periodic emission is off: Flush does not call it either
  using E = EventLog<Event>::Entry;
  std::vector<Timestamp> expected;
  for (size_t i = 0; i < log_.entries.size(); ++i) {
    if (log_.entries[i].kind != E::kWatermark) continue;
    ASSERT_GT(i, 0u);
    EXPECT_EQ(log_.entries[i - 1].kind, E::kRecord);
    EXPECT_EQ(log_.entries[i - 1].timestamp, log_.entries[i].timestamp) << "the record, then its watermark";
    expected.push_back(log_.entries[i].timestamp);
  }
  EXPECT_EQ(expected, (std::vector<Timestamp>{20, 40, 60}));
}

// A batch (CollectBatch) reaches the output as the same records, in order, with their assigned
// timestamps; a periodic generator has seen all of them afterwards, and a punctuated one still
// emits each watermark right after the record that caused it.
TEST_F(TimestampsAndWatermarksOperatorTest, BatchesKeepRecordsTimestampsAndPunctuatedWatermarksInOrder) {
  std::vector<Event> events;
  std::vector<Timestamp> none;
  for (int64_t id = 1; id <= 150; ++id) {
    events.push_back(Event{id, (id * 37) % 500});
    none.push_back(kMinTimestamp);
  }
  using E = EventLog<Event>::Entry;
  {
    auto op = Make(WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(10))
                       .WithTimestampAssigner([](const Event& event) { return event.time; }),
                   1'000'000);
    op->CollectBatch(events, none);
    ASSERT_EQ(log_.entries.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(log_.entries[i].kind, E::kRecord);
      EXPECT_EQ(log_.entries[i].value.id, events[i].id);
      EXPECT_EQ(log_.entries[i].timestamp, events[i].time);
    }
    op->Flush();
    EXPECT_EQ(log_.Watermarks(), (std::vector<Timestamp>{499 - 11}));
  }
  log_.entries.clear();
  struct EveryTenth {
    void OnEvent(const Event& event, Timestamp timestamp, WatermarkOutput& output) {
      if (event.id % 10 == 0) output.EmitWatermark(timestamp + 1000 * event.id);
    }
    void OnPeriodicEmit(WatermarkOutput&) {}
  };
  auto op = Make(WatermarkStrategy<Event>::ForGenerator([] { return EveryTenth(); })
                     .WithTimestampAssigner([](const Event& event) { return event.time; }),
                 0);
  op->CollectBatch(events, none);
  ASSERT_EQ(log_.entries.size(), events.size() + 15);
  size_t record = 0;
  for (size_t i = 0; i < log_.entries.size(); ++i) {
    if (log_.entries[i].kind == E::kRecord) {
      EXPECT_EQ(log_.entries[i].value.id, events[record++].id);
      continue;
    }
    ASSERT_EQ(log_.entries[i].kind, E::kWatermark);
    const Event& cause = log_.entries[i - 1].value;
    EXPECT_EQ(cause.id % 10, 0);
    EXPECT_EQ(log_.entries[i].timestamp, cause.time + 1000 * cause.id);
  }
}

TEST_F(TimestampsAndWatermarksOperatorTest, DropsUpstreamWatermarksExceptTheFinalOneAndEmitsOnFlush) {
  auto op = Make(WatermarkStrategy<Event>::ForMonotonousTimestamps().WithTimestampAssigner(
                     [](const Event& event) { return event.time; }),
                 1'000'000);
  op->EmitWatermark(1000);
  op->EmitWatermarkStatus(true);
  EXPECT_TRUE(log_.entries.empty());
  op->Collect(Event{0, 7}, 12345);
  op->Flush();  // the task ran out of input: the burst's watermark goes out now
  EXPECT_EQ(log_.Watermarks(), std::vector<Timestamp>{6});
  op->EmitWatermark(kMaxTimestamp);
  op->EndInput();
  EXPECT_EQ(log_.Watermarks(), (std::vector<Timestamp>{6, kMaxTimestamp}));
  EXPECT_EQ(log_.entries.back().kind, EventLog<Event>::Entry::kEnd);
}

TEST_F(TimestampsAndWatermarksOperatorTest, AnnouncesIdlenessAndActivity) {
  ManualClock clock;
  auto op = Make(WatermarkStrategy<Event>::ForMonotonousTimestamps()
                     .WithTimestampAssigner([](const Event& event) { return event.time; })
                     .WithIdleness(milliseconds(50)),
                 10, &clock);
  op->Collect(Event{0, 100}, kMinTimestamp);
  Timestamp now = op->NextProcessingTime();
  for (int i = 0; i < 10; ++i, now += 10) {
    clock.AdvanceMillis(10);
    op->OnProcessingTime(now);
  }
  using E = EventLog<Event>::Entry;
  EXPECT_EQ(log_.Count(E::kIdle), 1);
  EXPECT_EQ(log_.Count(E::kActive), 0);
  op->Collect(Event{1, 200}, kMinTimestamp);
  clock.AdvanceMillis(10);
  op->OnProcessingTime(now);
  EXPECT_EQ(log_.Count(E::kActive), 1);
  EXPECT_EQ(log_.entries.back().kind, E::kWatermark);
  EXPECT_EQ(log_.entries.back().timestamp, 199);
  EXPECT_EQ(log_.entries[log_.entries.size() - 2].kind, E::kActive) << "active before the watermark";
}

TEST(WatermarkOutputMultiplexerTest, CombinedWatermarkIsTheRisingMinimumOverActiveSplits) {
  std::mt19937_64 random(11);
  for (int round = 0; round < 20; ++round) {
    EventLog<int> log;
    WatermarkEmitter emitter;
    emitter.set_output(&log);
    WatermarkOutputMultiplexer multiplexer(&emitter);
    struct Reference {
      Timestamp watermark = kMinTimestamp;
      bool idle = false;
    };
    std::map<int64_t, Reference> reference;
    std::map<int64_t, WatermarkOutput*> outputs;
    Timestamp combined = kMinTimestamp;
    bool idle = false;
    int64_t next_id = 0;
    for (int step = 0; step < 400; ++step) {
      const int action = static_cast<int>(random() % 10);
      if (outputs.empty() || action == 0) {
        outputs[next_id] = multiplexer.Register(next_id);
        reference[next_id] = {};
        ++next_id;
      } else {
        auto it = std::next(outputs.begin(), static_cast<long>(random() % outputs.size()));
        const int64_t id = it->first;
        if (action == 1) {
          multiplexer.Unregister(id);
          outputs.erase(id);
          reference.erase(id);
        } else if (action == 2) {
          it->second->MarkIdle();
          reference[id].idle = true;
        } else {
          const Timestamp w = static_cast<Timestamp>(random() % 1000) + step * 5;
          it->second->EmitWatermark(w);
          reference[id].watermark = std::max(reference[id].watermark, w);
          reference[id].idle = false;
        }
      }
      if (reference.empty()) continue;
      Timestamp minimum = kMaxTimestamp;
      bool all_idle = true;
      for (const auto& [id, split] : reference) {
        if (split.idle) continue;
        all_idle = false;
        minimum = std::min(minimum, split.watermark);
      }
      if (all_idle) {
        idle = true;
      } else if (minimum > combined) {
        combined = minimum;
        idle = false;
      }
      ASSERT_EQ(multiplexer.combined_watermark(), combined) << "step " << step;
      ASSERT_EQ(emitter.idle(), idle) << "step " << step;
      ASSERT_EQ(emitter.current_watermark(), combined);
    }
    const std::vector<Timestamp> emitted = log.Watermarks();
    EXPECT_TRUE(std::is_sorted(emitted.begin(), emitted.end()));
    EXPECT_EQ(std::adjacent_find(emitted.begin(), emitted.end()), emitted.end()) << "strictly rising";
  }
}

// A source that reads scripted splits one record per Poll, reporting split boundaries.
class ScriptedSplitSource final : public SourceOperator<Event> {
 public:
  // Each step: {split, event} or a split end {split, nullopt}.
  struct Step {
    int64_t split;
    std::optional<Event> event;
  };
  explicit ScriptedSplitSource(std::vector<Step> steps) : steps_(std::move(steps)) {}
  Result<SourceStatus> Poll(int) override {
    if (next_ == steps_.size()) return SourceStatus::kEndOfInput;
    const Step& step = steps_[next_++];
    if (step.event) {
      split_listener()->SplitStarted(step.split);
      ++records_emitted_;
      output()->Collect(*step.event, kMinTimestamp);
    } else {
      split_listener()->SplitFinished(step.split);
    }
    return SourceStatus::kMoreAvailable;
  }

 private:
  std::vector<Step> steps_;
  size_t next_ = 0;
};

class SourceWithWatermarksTest : public ::testing::Test {
 protected:
  template <typename Strategy>
  auto Wrap(std::unique_ptr<SourceOperator<Event>> inner, Strategy strategy, int64_t interval,
            const RelativeClock* clock = nullptr) {
    config_ = IntervalConfig(interval);
    context_.config = &config_;
    auto source = std::make_unique<SourceWithWatermarks<Event, Strategy>>(std::move(inner),
                                                                           std::move(strategy), clock);
    source->SetOutput(&log_);
    EXPECT_TRUE(source->Open(&context_).ok());
    return source;
  }
  static auto Strategy(int64_t bound) {
    return WatermarkStrategy<Event>::ForBoundedOutOfOrderness(milliseconds(bound))
        .WithTimestampAssigner([](const Event& event) { return event.time; });
  }
  Configuration config_;
  OperatorContext context_;
  EventLog<Event> log_;
};

TEST_F(SourceWithWatermarksTest, WatermarkIsTheMinimumOverActiveSplitsAndFinishedSplitsLetGo) {
  std::mt19937_64 random(5);
  std::vector<ScriptedSplitSource::Step> steps;
  // Three interleaved splits with their own clocks; split 2 ends early, split 0 late.
  std::map<int64_t, Timestamp> next_time = {{0, 0}, {1, 5000}, {2, 100}};
  for (int i = 0; i < 300; ++i) {
    int64_t split = static_cast<int64_t>(random() % 3);
    if (split == 2 && i >= 100) split = 1;
    next_time[split] += static_cast<Timestamp>(random() % 20);
    steps.push_back({split, Event{i, next_time[split]}});
    if (i == 100) steps.push_back({2, std::nullopt});
    if (i == 250) steps.push_back({1, std::nullopt});
  }
  auto source = Wrap(std::make_unique<ScriptedSplitSource>(steps), Strategy(3), 1'000'000);
  std::map<int64_t, Timestamp> maximum;
  std::set<int64_t> active;
  Timestamp expected = kMinTimestamp;
  for (const auto& step : steps) {
    ASSERT_TRUE(source->Poll(1).ok());
    if (step.event) {
      active.insert(step.split);
      maximum[step.split] = std::max(maximum.count(step.split) ? maximum[step.split] : kMinTimestamp,
                                     step.event->time);
    } else {
      active.erase(step.split);
    }
    // Each split's watermark is its maximum - 3 - 1; the source's is the minimum over active
    // splits, never going back. (A finishing split's final watermark counts before it leaves.)
    Timestamp minimum = kMaxTimestamp;
    for (int64_t split : active) minimum = std::min(minimum, maximum[split] - 4);
    if (!active.empty() && minimum > expected) expected = minimum;
    ASSERT_EQ(source->emitter().current_watermark(), expected);
    ASSERT_EQ(source->active_splits(), active.size());
  }
  EXPECT_EQ(source->records_emitted(), 300);
  EXPECT_EQ(source->Poll(1).value(), SourceStatus::kEndOfInput);
  source->EmitEndOfInput();
  EXPECT_EQ(log_.Watermarks().back(), kMaxTimestamp);
  EXPECT_EQ(log_.entries.back().kind, EventLog<Event>::Entry::kEnd);
}

// Emits a vector in order, up to max_records per poll, reporting no splits; one Collect per
// record, or (batched) one CollectBatch per poll.
class VectorSource final : public SourceOperator<Event> {
 public:
  explicit VectorSource(std::vector<Event> events, bool batched = false)
      : events_(std::move(events)), batched_(batched) {}
  Result<SourceStatus> Poll(int max_records) override {
    const size_t n = std::min(static_cast<size_t>(max_records), events_.size() - next_);
    if (batched_) {
      const std::vector<Timestamp> none(n, kMinTimestamp);
      output()->CollectBatch(std::span<const Event>(events_.data() + next_, n), none);
      next_ += n;
      records_emitted_ += static_cast<int64_t>(n);
    } else {
      for (size_t i = 0; i < n; ++i) {
        ++records_emitted_;
        output()->Collect(events_[next_++], kMinTimestamp);
      }
    }
    return next_ == events_.size() ? SourceStatus::kEndOfInput : SourceStatus::kMoreAvailable;
  }

 private:
  std::vector<Event> events_;
  bool batched_;
  size_t next_ = 0;
};

TEST_F(SourceWithWatermarksTest, SourceWithoutSplitsIsOneSplitWithTimestampsAssigned) {
  for (const bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "CollectBatch" : "Collect");
    log_.entries.clear();
    std::vector<Event> events;
    for (int i = 0; i < 2500; ++i) events.push_back(Event{i, (i * 37) % 1000});
    auto inner = std::make_unique<VectorSource>(events, batched);
    auto source = Wrap(std::move(inner), Strategy(0), 200);
    Timestamp maximum = kMinTimestamp;
    size_t consumed = 0;
    while (true) {
      Result<SourceStatus> polled = source->Poll(1000);
      ASSERT_TRUE(polled.ok());
      for (; consumed < static_cast<size_t>(source->records_emitted()); ++consumed) {
        maximum = std::max(maximum, events[consumed].time);
      }
      // At the end of each Poll batch the watermark covers the batch.
      EXPECT_EQ(source->emitter().current_watermark(), maximum - 1);
      if (*polled == SourceStatus::kEndOfInput) break;
    }
    EXPECT_EQ(source->active_splits(), 1u);
    int records = 0;
    for (const auto& entry : log_.entries) {
      if (entry.kind != EventLog<Event>::Entry::kRecord) continue;
      EXPECT_EQ(entry.timestamp, entry.value.time);
      EXPECT_EQ(entry.value.id, records);
      ++records;
    }
    EXPECT_EQ(records, 2500);
  }
}

// A source that has data only when told, to show idleness and backpressure.
class TapSource final : public SourceOperator<Event> {
 public:
  Result<SourceStatus> Poll(int) override {
    if (pending.empty()) return SourceStatus::kNothingNow;
    output()->Collect(pending.back(), kMinTimestamp);
    pending.pop_back();
    return SourceStatus::kMoreAvailable;
  }
  std::vector<Event> pending;
};

TEST_F(SourceWithWatermarksTest, IdleSourceIsMarkedIdleButBackpressureIsNotIdleness) {
  ManualClock clock;
  auto tap = std::make_unique<TapSource>();
  TapSource* tap_ptr = tap.get();
  auto source = Wrap(std::move(tap), Strategy(0).WithIdleness(milliseconds(30)), 10, &clock);
  using E = EventLog<Event>::Entry;
  tap_ptr->pending = {Event{1, 10}, Event{0, 5}};
  ASSERT_EQ(source->Poll(1).value(), SourceStatus::kMoreAvailable);
  // Backpressure: the task does not poll; periodic calls keep coming for a long time.
  Timestamp now = source->NextProcessingTime();
  for (int i = 0; i < 20; ++i, now += 10) {
    clock.AdvanceMillis(10);
    source->OnProcessingTime(now);
  }
  EXPECT_EQ(log_.Count(E::kIdle), 0) << "blocked with data is not idle";
  ASSERT_EQ(source->Poll(1).value(), SourceStatus::kMoreAvailable);
  ASSERT_EQ(source->Poll(1).value(), SourceStatus::kNothingNow);
  for (int i = 0; i < 10; ++i, now += 10) {
    clock.AdvanceMillis(10);
    source->OnProcessingTime(now);
  }
  EXPECT_EQ(log_.Count(E::kIdle), 1) << "no data for longer than the timeout";
  tap_ptr->pending = {Event{2, 50}};
  ASSERT_EQ(source->Poll(1).value(), SourceStatus::kMoreAvailable);
  EXPECT_EQ(log_.Count(E::kActive), 1);
  EXPECT_EQ(log_.Watermarks().back(), 49);
}

}  // namespace
}  // namespace weir::operators
