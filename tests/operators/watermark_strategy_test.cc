#include "operators/watermark_strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace weir::operators
