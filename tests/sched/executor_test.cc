#include "sched/executor.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "base/clock.h"

namespace weir::sched {
namespace {

// Records its lifecycle and the threads it was called on. Finishes after `runs` calls to RunOnce,
// fails on call number `fail_at` (1-based), never ends when both are 0.
class ScriptedTask final : public Task {
 public:
  struct Script {
    std::string name = "task";
    int runs = 0;
    int fail_at = 0;
    bool busy = false;  // kDidWork instead of kIdle while running
    Status open_status;
  };
  explicit ScriptedTask(Script script) : script_(std::move(script)) {}

  Status Open() override {
    ++opens;
    open_thread = std::this_thread::get_id();
    return script_.open_status;
  }
  Progress RunOnce(int64_t) override {
    run_calls.fetch_add(1, std::memory_order_relaxed);
    run_cpu = sched_getcpu();
    if (std::this_thread::get_id() != open_thread) wrong_thread = true;
    if (closes > 0) run_after_close = true;
    if (script_.fail_at > 0 && run_calls == script_.fail_at) {
      status_ = IoError("disk on fire");
      return Progress::kFailed;
    }
    if (script_.runs > 0 && run_calls == script_.runs) return Progress::kFinished;
    return script_.busy ? Progress::kDidWork : Progress::kIdle;
  }
  void Close() override {
    ++closes;
    if (std::this_thread::get_id() != open_thread) wrong_thread = true;
  }
  Status status() const override { return status_; }
  std::string_view name() const override { return script_.name; }

  int opens = 0;
  std::atomic<int> run_calls{0};  // read by the stopper thread while the worker runs
  int closes = 0;
  int run_cpu = -1;
  bool wrong_thread = false;
  bool run_after_close = false;
  std::thread::id open_thread;

 private:
  Script script_;
  Status status_;
};

ScriptedTask::Script Runs(std::string name, int runs) {
  ScriptedTask::Script script;
  script.name = std::move(name);
  script.runs = runs;
  return script;
}

ScriptedTask::Script Forever(std::string name, bool busy) {
  ScriptedTask::Script script;
  script.name = std::move(name);
  script.busy = busy;
  return script;
}

TEST(ExecutorTest, RunsEveryTaskToTheEndOnItsWorkerThread) {
  Executor::Options options;
  options.workers = 3;
  Executor executor(options);
  std::vector<std::unique_ptr<ScriptedTask>> tasks;
  for (int i = 0; i < 9; ++i) {
    tasks.push_back(std::make_unique<ScriptedTask>(Runs(fmt::format("t{}", i), 1 + i * 50)));
    executor.worker(i % 3).AddTask(tasks.back().get());
  }
  Status status = executor.Run();
  ASSERT_TRUE(status.ok()) << status.ToString();
  for (int i = 0; i < 9; ++i) {
    const ScriptedTask& task = *tasks[i];
    EXPECT_EQ(task.opens, 1);
    EXPECT_EQ(task.run_calls, 1 + i * 50) << "a finished task is never polled again";
    EXPECT_EQ(task.closes, 1);
    EXPECT_FALSE(task.wrong_thread);
    EXPECT_FALSE(task.run_after_close);
    EXPECT_NE(task.open_thread, std::this_thread::get_id());
  }
  EXPECT_EQ(tasks[0]->open_thread, tasks[3]->open_thread);
  EXPECT_NE(tasks[0]->open_thread, tasks[1]->open_thread);
}

TEST(ExecutorTest, FailureStopsTheOtherTasksAndReturnsTheStatusWithTheTaskName) {
  Executor::Options options;
  options.workers = 2;
  options.park_timeout_nanos = 10'000'000'000;  // the stop must wake the parked worker
  Executor executor(options);
  ScriptedTask idle(Forever("idle-forever", false));
  ScriptedTask busy(Forever("busy-forever", true));
  ScriptedTask::Script failing_script = Forever("failing", false);
  failing_script.fail_at = 100;
  ScriptedTask failing(failing_script);
  executor.worker(0).AddTask(&idle);
  executor.worker(1).AddTask(&busy);
  executor.worker(1).AddTask(&failing);
  const int64_t start = MonotonicNanos();
  Status status = executor.Run();
  EXPECT_LT(MonotonicNanos() - start, 5'000'000'000);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find("task failing"), std::string_view::npos) << status.ToString();
  EXPECT_NE(status.message().find("disk on fire"), std::string_view::npos) << status.ToString();
  EXPECT_EQ(failing.run_calls, 100);
  for (const ScriptedTask* task : {&idle, &busy, &failing}) {
    EXPECT_EQ(task->closes, 1) << task->name();
  }
}

TEST(ExecutorTest, FailedOpenFailsTheRunAndClosesOnlyOpenedTasks) {
  Executor::Options options;
  Executor executor(options);
  ScriptedTask first(Forever("first", true));
  ScriptedTask::Script broken_script = Runs("broken", 1);
  broken_script.open_status = NotFound("no such file 'in.csv'");
  ScriptedTask broken(broken_script);
  ScriptedTask never_opened(Runs("never-opened", 1));
  executor.worker(0).AddTask(&first);
  executor.worker(0).AddTask(&broken);
  executor.worker(0).AddTask(&never_opened);
  Status status = executor.Run();
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("task broken"), std::string_view::npos) << status.ToString();
  EXPECT_EQ(first.closes, 1);
  EXPECT_EQ(broken.closes, 0);
  EXPECT_EQ(never_opened.opens, 0);
  EXPECT_EQ(first.run_calls + broken.run_calls + never_opened.run_calls, 0);
}

TEST(ExecutorTest, FailedStatusWithoutAnErrorBecomesInternal) {
  class Broken final : public Task {
   public:
    Progress RunOnce(int64_t) override { return Progress::kFailed; }
    std::string_view name() const override { return "broken"; }
  } broken;
  Executor executor(Executor::Options{});
  executor.worker(0).AddTask(&broken);
  EXPECT_EQ(executor.Run().code(), StatusCode::kInternal);
}

void ExpectRequestStopEndsTheRun(bool busy_poll, bool busy_tasks) {
  Executor::Options options;
  options.workers = 2;
  options.busy_poll = busy_poll;
  options.park_timeout_nanos = 10'000'000'000;
  Executor executor(options);
  ScriptedTask a(Forever("a", busy_tasks));
  ScriptedTask b(Forever("b", busy_tasks));
  executor.worker(0).AddTask(&a);
  executor.worker(1).AddTask(&b);
  std::thread stopper([&] {
    while (a.run_calls == 0 || b.run_calls == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    executor.RequestStop();
  });
  const int64_t start = MonotonicNanos();
  Status status = executor.Run();
  stopper.join();
  EXPECT_LT(MonotonicNanos() - start, 5'000'000'000);
  EXPECT_EQ(status.code(), StatusCode::kCancelled) << status.ToString();
  EXPECT_EQ(a.closes, 1);
  EXPECT_EQ(b.closes, 1);
}

TEST(ExecutorTest, RequestStopFromAnotherThreadWakesParkedWorkers) {
  ExpectRequestStopEndsTheRun(/*busy_poll=*/false, /*busy_tasks=*/false);
}

TEST(ExecutorTest, RequestStopEndsBusyWorkers) {
  ExpectRequestStopEndsTheRun(/*busy_poll=*/false, /*busy_tasks=*/true);
}

TEST(ExecutorTest, RequestStopEndsBusyPollingWorkers) {
  ExpectRequestStopEndsTheRun(/*busy_poll=*/true, /*busy_tasks=*/false);
}

TEST(ExecutorTest, PinsEachWorkerToItsCpu) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed)) ++cpu;
  ASSERT_LT(cpu, CPU_SETSIZE);
  Executor::Options options;
  options.cpus = {cpu};
  Executor executor(options);
  ScriptedTask::Script script = Runs("pinned", 1000);
  script.busy = true;
  ScriptedTask task(script);
  executor.worker(0).AddTask(&task);
  ASSERT_TRUE(executor.Run().ok());
  EXPECT_EQ(task.run_cpu, cpu);
}

TEST(ExecutorTest, UnusableCpuFailsTheRunWithTheWorkerIndex) {
  Executor::Options options;
  options.workers = 2;
  options.cpus = {0, CPU_SETSIZE - 1};  // no test machine has 1024 cpus
  Executor executor(options);
  ScriptedTask a(Forever("a", false));
  ScriptedTask b(Forever("b", false));
  executor.worker(0).AddTask(&a);
  executor.worker(1).AddTask(&b);
  Status status = executor.Run();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("worker 1"), std::string_view::npos) << status.ToString();
  EXPECT_EQ(b.opens, 0);
  EXPECT_EQ(a.closes, a.opens);
}

}  // namespace
}  // namespace weir::sched
