#include "sched/worker.h"

#include <gtest/gtest.h>

#include <vector>

#include <cstdint>

#include "base/clock.h"
#include "ping_pong_tasks.h"
#include "sched/channel.h"
#include "sched/executor.h"

namespace weir::sched {
namespace {

struct PingPongRun {
  Status status;
  uint64_t completed = 0;
  uint64_t parks = 0;
  uint64_t park_timeouts = 0;
  uint64_t wake_syscalls = 0;
  double seconds = 0;
};

PingPongRun RunPingPong(Executor::Options options, uint64_t rounds) {
  options.workers = 2;
  Executor executor(options);
  Channel<uint64_t> to_ponger(1);
  Channel<uint64_t> to_pinger(1);
  to_ponger.Bind(&executor.worker(0), &executor.worker(1));
  to_pinger.Bind(&executor.worker(1), &executor.worker(0));
  PingerTask pinger(&to_ponger, &to_pinger, rounds);
  PongerTask ponger(&to_ponger, &to_pinger, rounds);
  executor.worker(0).AddTask(&pinger);
  executor.worker(1).AddTask(&ponger);
  const int64_t start = MonotonicNanos();
  PingPongRun run;
  run.status = executor.Run();
  run.seconds = (MonotonicNanos() - start) / 1e9;
  run.completed = pinger.completed();
  for (int i = 0; i < 2; ++i) {
    run.parks += executor.worker(i).parks();
    run.park_timeouts += executor.worker(i).park_timeouts();
    run.wake_syscalls += executor.worker(i).wake_syscalls();
  }
  return run;
}

// Every round trip parks both workers (no spinning) and needs two wake-ups through channels. A
// lost wake-up would leave a worker asleep until its 2 s park timeout: it shows up as a timed-out
// park (no park can legitimately time out here, each always has a wake-up coming) and a slow run.
TEST(WorkerTest, PingPongWithParkingLosesNoWakeUps) {
  Executor::Options options;
  options.spin_nanos = 0;
  options.park_timeout_nanos = 2'000'000'000;
  constexpr uint64_t kRounds = 5'000;
  const PingPongRun run = RunPingPong(options, kRounds);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.completed, kRounds);
  EXPECT_EQ(run.park_timeouts, 0u);
  EXPECT_GT(run.parks, 0u) << "the test must exercise the parking path";
  EXPECT_GT(run.wake_syscalls, 0u);
  EXPECT_LT(run.seconds, 20.0);
}

TEST(WorkerTest, BusyPollNeverParksNorMakesWakeSyscalls) {
  Executor::Options options;
  options.busy_poll = true;
  options.park_timeout_nanos = 2'000'000'000;
  constexpr uint64_t kRounds = 500;
  const PingPongRun run = RunPingPong(options, kRounds);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.completed, kRounds);
  EXPECT_EQ(run.parks, 0u);
  EXPECT_EQ(run.wake_syscalls, 0u);
}

// Waits for a processing-time timer of its worker; the worker must sleep only until the timer.
class TimerTask final : public Task {
 public:
  explicit TimerTask(ProcessingTimeService* timers) : timers_(timers) {}
  Status Open() override {
    registered_for_ = WallMillis() + 30;
    timers_->Register(registered_for_, [this](Timestamp time) {
      fired_for_ = time;
      fired_at_ = WallMillis();
    });
    return Status::Ok();
  }
  Progress RunOnce(int64_t) override {
    return fired_for_ >= 0 ? Progress::kFinished : Progress::kIdle;
  }
  std::string_view name() const override { return "timer"; }

  Timestamp registered_for_ = -1;
  Timestamp fired_for_ = -1;
  Timestamp fired_at_ = -1;

 private:
  ProcessingTimeService* timers_;
};

TEST(WorkerTest, ParksNoLongerThanTheNextProcessingTimeTimer) {
  Executor::Options options;
  options.park_timeout_nanos = 10'000'000'000;  // far longer than the timer
  Executor executor(options);
  TimerTask task(&executor.worker(0).processing_time_service());
  executor.worker(0).AddTask(&task);
  const int64_t start = MonotonicNanos();
  ASSERT_TRUE(executor.Run().ok());
  EXPECT_LT(MonotonicNanos() - start, 5'000'000'000);
  EXPECT_EQ(task.fired_for_, task.registered_for_);
  EXPECT_GE(task.fired_at_, task.registered_for_);
  EXPECT_GT(executor.worker(0).parks(), 0u);
}

// A task whose input becomes ready at known instants (a paced source): idle until each one, then
// one unit of work. The worker must wake at those instants, not at its (here 10 s) park timeout.
class PacedTask final : public Task {
 public:
  Progress RunOnce(int64_t) override {
    if (next_ready_ == 0) next_ready_ = MonotonicNanos() + kStep;
    if (MonotonicNanos() < next_ready_) return Progress::kIdle;
    lateness_.push_back(MonotonicNanos() - next_ready_);
    next_ready_ += kStep;
    return lateness_.size() == kUnits ? Progress::kFinished : Progress::kDidWork;
  }
  int64_t NextWakeupNanos() const override { return next_ready_ == 0 ? kMaxTimestamp : next_ready_; }
  std::string_view name() const override { return "paced"; }

  static constexpr int64_t kStep = 2'000'000;  // 2 ms
  static constexpr size_t kUnits = 20;
  int64_t next_ready_ = 0;
  std::vector<int64_t> lateness_;
};

TEST(WorkerTest, ParksNoLongerThanATasksNextReadyInstant) {
  Executor::Options options;
  options.park_timeout_nanos = 10'000'000'000;
  Executor executor(options);
  PacedTask task;
  executor.worker(0).AddTask(&task);
  const int64_t start = MonotonicNanos();
  ASSERT_TRUE(executor.Run().ok());
  // 20 units 2 ms apart: about 40 ms, nowhere near one 10 s park.
  EXPECT_LT(MonotonicNanos() - start, 2'000'000'000);
  ASSERT_EQ(task.lateness_.size(), PacedTask::kUnits);
  EXPECT_GT(executor.worker(0).parks(), 0u);
}

}  // namespace
}  // namespace weir::sched
