#include "sched/worker.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>
#include <string>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "memory/topology.h"

namespace weir::sched {
namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the futex word must be a plain 32-bit integer");

// A hint to the core that this is a spin loop (frees pipeline resources for a sibling hyperthread).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Returns true when the wait ended by timeout. EAGAIN (the word already changed), EINTR and
// spurious returns count as wake-ups: the worker simply makes another pass.
bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_nanos) {
  timespec timeout{static_cast<time_t>(timeout_nanos / 1'000'000'000),
                   static_cast<long>(timeout_nanos % 1'000'000'000)};
  const long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
                          expected, &timeout, nullptr, 0);
  return rc != 0 && errno == ETIMEDOUT;
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

// Wall-clock nanoseconds, to sleep exactly until a processing-time timer (which is in wall ms).
int64_t WallNanos() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Status PinCurrentThread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return InvalidArgument("cpu id {} is out of range", cpu);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (rc != 0) return ErrnoStatus(rc, fmt::format("pin thread to cpu {}", cpu));
  return Status::Ok();
}

}  // namespace

Worker::Worker(const Options& options, const std::atomic<bool>* stop, FailureCallback on_failure)
    : options_(options), stop_(stop), on_failure_(std::move(on_failure)) {
  WEIR_CHECK(stop_ != nullptr);
  WEIR_CHECK_MSG(options_.park_timeout_nanos > 0, "park_timeout_nanos must be > 0, got {}",
                 options_.park_timeout_nanos);
  WEIR_CHECK_MSG(options_.spin_nanos >= 0, "spin_nanos must be >= 0, got {}", options_.spin_nanos);
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
}

void Worker::AddTask(Task* task) {
  WEIR_CHECK(task != nullptr);
  WEIR_CHECK_MSG(!started_, "Worker {}: tasks must be added before Start()", options_.index);
  tasks_.push_back(task);
}

void Worker::Start() {
  WEIR_CHECK_MSG(!started_, "Worker {} started twice", options_.index);
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void Worker::Join() {
  WEIR_CHECK(started_);
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!parked_.load(std::memory_order_acquire)) return;
  wake_epoch_.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&wake_epoch_);
  wake_syscalls_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::Loop() {
  const std::string thread_name = fmt::format("weir-w{}", options_.index);
  pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
  // Timed parks end at their deadline, not up to the default 50 us slack later.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (options_.cpu >= 0) {
    Status pinned = PinCurrentThread(options_.cpu);
    if (!pinned.ok()) {
      status_ = pinned.WithContext(fmt::format("worker {}", options_.index));
      on_failure_(*this, status_);
      return;
    }
    // A busy-polling worker never leaves its CPU idle: the process's other threads leave it to
    // this worker (see memory/topology.h). A worker that parks keeps sharing its CPU, which the
    // checkpoint writer and the helpers use while it is parked (reserved, the checkpoint job's
    // p99.9 during checkpoints went from 27-30 ms to 39-60 ms in 4 runs against 3).
    memory::RegisterPinnedWorker(options_.cpu, /*exclusive=*/options_.busy_poll);
  }
  if (OpenTasks().ok()) {
    int64_t idle_since = -1;  // start of the current run of passes without progress
    bool armed = false;       // parked_ is set and one re-check pass is under way
    uint32_t epoch = 0;
    while (!stop_->load(std::memory_order_relaxed)) {
      const int64_t now = MonotonicNanos();
      const PassResult result = RunPass(now);
      if (result == PassResult::kDone) break;
      if (result == PassResult::kProgress) {
        idle_since = -1;
        if (armed) {
          parked_.store(false, std::memory_order_relaxed);
          armed = false;
        }
        continue;
      }
      if (options_.busy_poll) {
        CpuRelax();
        continue;
      }
      if (idle_since < 0) idle_since = now;
      if (now - idle_since < options_.spin_nanos) {
        CpuRelax();
        continue;
      }
      if (!armed) {
        // Announce the park, then make the re-check pass (the next iteration) after the fence.
        epoch = wake_epoch_.load(std::memory_order_relaxed);
        parked_.store(true, std::memory_order_release);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        armed = true;
        continue;
      }
      Park(epoch);
      parked_.store(false, std::memory_order_relaxed);
      armed = false;
    }
    if (armed) parked_.store(false, std::memory_order_relaxed);
  }
  CloseTasks();
  if (options_.cpu >= 0) memory::UnregisterPinnedWorker();
}

Status Worker::OpenTasks() {
  for (Task* task : tasks_) {
    Status opened = task->Open();
    if (!opened.ok()) {
      Fail(*task, opened);
      return status_;
    }
    opened_.push_back(task);
  }
  active_ = tasks_;
  return Status::Ok();
}

Worker::PassResult Worker::RunPass(int64_t now_nanos) {
  passes_.store(passes_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  bool progress = false;
  if (!timers_.empty()) progress = timers_.Poll(WallMillis()) > 0;
  size_t kept = 0;
  for (size_t i = 0; i < active_.size(); ++i) {
    Task* task = active_[i];
    switch (task->RunOnce(now_nanos)) {
      case Task::Progress::kDidWork:
        progress = true;
        active_[kept++] = task;
        break;
      case Task::Progress::kIdle:
        active_[kept++] = task;
        break;
      case Task::Progress::kFinished:
        progress = true;
        break;
      case Task::Progress::kFailed: {
        Status failure = task->status();
        if (failure.ok()) failure = Internal("returned kFailed with an OK status");
        Fail(*task, failure);
        return PassResult::kDone;
      }
    }
  }
  active_.resize(kept);
  if (active_.empty()) return PassResult::kDone;
  return progress ? PassResult::kProgress : PassResult::kIdle;
}

void Worker::Fail(Task& task, const Status& status) {
  if (status_.ok()) status_ = status.WithContext(fmt::format("task {}", task.name()));
  on_failure_(*this, status_);
}

void Worker::CloseTasks() {
  for (auto it = opened_.rbegin(); it != opened_.rend(); ++it) (*it)->Close();
  opened_.clear();
  active_.clear();
}

// How long before a source's next due instant a parked worker wakes to poll (Park).
constexpr int64_t kWakeLeadNanos = 200'000;

void Worker::Park(uint32_t epoch) {
  int64_t timeout = options_.park_timeout_nanos;
  Timestamp next = timers_.empty() ? kMaxTimestamp : timers_.next_time();
  for (const Task* task : active_) next = std::min(next, task->NextWakeupMillis());
  if (next != kMaxTimestamp) {
    if (next <= WallMillis()) return;  // due: the next pass fires it
    if (next < kMaxTimestamp / 1'000'000) {
      timeout = std::clamp<int64_t>(next * 1'000'000 - WallNanos(), 1, timeout);
    }
  }
  int64_t ready = kMaxTimestamp;
  for (const Task* task : active_) ready = std::min(ready, task->NextWakeupNanos());
  if (ready != kMaxTimestamp) {
    const int64_t wait = ready - MonotonicNanos();
    // Work due within kWakeLeadNanos: keep polling. Otherwise sleep until that long before it and
    // poll the rest: a parked worker's wake-up is late by tens of microseconds on bare metal and by
    // hundreds on a VM whose idle vCPU the host has descheduled, and a source's due instant is a
    // latency measurement's zero.
    if (wait <= kWakeLeadNanos) return;
    timeout = std::min(timeout, wait - kWakeLeadNanos);
  }
  parks_.store(parks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (FutexWait(&wake_epoch_, epoch, timeout)) {
    park_timeouts_.store(park_timeouts_.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
  }
}

}  // namespace weir::sched
