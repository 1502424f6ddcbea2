// Worker: one thread, optionally pinned to one CPU, that runs a fixed set of Tasks (task.h)
// cooperatively. Workers are created and run by an Executor (executor.h).
//
// The loop. Each pass reads MonotonicNanos() once, fires the due timers of the worker's
// ProcessingTimeService, then calls RunOnce() on every unfinished task in the order they were
// added. A pass in which some task returned kDidWork (or a timer fired) is followed at once by
// another. After passes without progress the worker
//   - in busy-poll mode keeps polling (a pause instruction between passes) and never parks: the
//     low-latency mode for execution.buffer-timeout = 0;
//   - otherwise keeps polling for `spin_nanos`, then parks on a futex until Wake() is called, the
//     park timeout passes (the runtime sets it to the buffer timeout, so partly filled output
//     buffers are flushed in time), the earliest timer of its ProcessingTimeService is due, or
//     the earliest NextWakeupMillis() of its tasks (their operators' processing-time timers).
// The worker exits when every task finished, a task failed, or the executor's stop flag was set
// (checked at the top of every pass); before exiting it calls Close() on every opened task.
//
// Wake-up protocol (no lost wake-ups, no syscall while the worker is running):
//   sleeper (the worker):  epoch = wake_epoch_.load();
//                          parked_.store(true, release); fence(seq_cst);
//                          one more full pass over the tasks (and the stop flag);
//                          if it made no progress: futex_wait(&wake_epoch_, epoch, timeout);
//                          parked_.store(false)
//   waker (any thread):    make the awaited condition true (push a value, free a slot, set stop);
//                          fence(seq_cst); if (parked_.load(acquire)) {
//                            wake_epoch_.fetch_add(1); futex_wake(&wake_epoch_) }
// The two seq_cst fences order "waker's condition store" and "sleeper's parked_ store" so that at
// least one side sees the other's: either the waker sees parked_ and bumps the epoch (then the
// futex_wait either finds the epoch changed and returns at once, or is already queued in the
// kernel and is woken), or the sleeper's re-check pass sees the condition and does not sleep.
// The release/acquire on parked_ also orders the sleeper's epoch read before the waker's bump.
// While the worker is not parked, Wake() costs a fence and one load of a line the worker does not
// write, i.e. no cache-line transfer and no syscall.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "sched/processing_time_service.h"
#include "sched/spsc_queue.h"
#include "sched/task.h"

namespace weir::sched {

class Worker {
 public:
  struct Options {
    int index = 0;                           // position in the executor, for names and errors
    int cpu = -1;                            // OS cpu id to pin the thread to; -1 = not pinned
    bool busy_poll = false;                  // never park (see above)
    int64_t park_timeout_nanos = 1'000'000;  // longest park; > 0
    int64_t spin_nanos = 20'000;             // idle polling before parking; >= 0
  };
  // Called on the worker thread when a task fails (RunOnce returned kFailed or Open failed), with
  // the task's status prefixed by "task <name>". Must be cheap and must not call back into this
  // worker except Wake().
  using FailureCallback = std::function<void(Worker& worker, const Status& status)>;

  // `stop` is read at the top of every pass; whoever sets it must then call Wake(). Both `stop`
  // and the callback must outlive the worker thread.
  Worker(const Options& options, const std::atomic<bool>* stop, FailureCallback on_failure);
  // Joins the thread if it was started.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Adds a task, not owned; it must outlive Join(). REQUIRES: Start() not called yet.
  void AddTask(Task* task);

  // Starts the thread. REQUIRES: called once.
  void Start();
  // Waits for the thread to exit. REQUIRES: Start() was called.
  void Join();

  // Makes a parked worker run a pass soon; a no-op (a fence and one load) when it is not parked.
  // Callable from any thread, including other workers and signal handlers.
  void Wake();

  // The timers of this worker; see processing_time_service.h for which thread may use it.
  ProcessingTimeService& processing_time_service() { return timers_; }

  int index() const { return options_.index; }
  const Options& options() const { return options_; }
  size_t num_tasks() const { return tasks_.size(); }

  // The first failure of this worker's tasks, or of pinning its thread; OK otherwise.
  // REQUIRES: Join() returned.
  const Status& status() const { return status_; }

  // Counters for tests and diagnostics; exact after Join(), approximate while running.
  uint64_t passes() const { return passes_.load(std::memory_order_relaxed); }
  // Times the worker went to sleep in the kernel, and how many of those ended by timeout.
  uint64_t parks() const { return parks_.load(std::memory_order_relaxed); }
  uint64_t park_timeouts() const { return park_timeouts_.load(std::memory_order_relaxed); }
  // Wake() calls that found the worker parked and made a futex_wake syscall.
  uint64_t wake_syscalls() const { return wake_syscalls_.load(std::memory_order_relaxed); }

 private:
  enum class PassResult { kProgress, kIdle, kDone };

  void Loop();
  Status OpenTasks();
  PassResult RunPass(int64_t now_nanos);
  void Fail(Task& task, const Status& status);
  void CloseTasks();
  // Sleeps on wake_epoch_ while it equals `epoch`, for at most the park timeout or until the next
  // timer is due.
  void Park(uint32_t epoch);

  const Options options_;
  const std::atomic<bool>* const stop_;
  const FailureCallback on_failure_;

  // Worker-thread state.
  std::vector<Task*> tasks_;
  std::vector<Task*> active_;  // opened and not finished, in the order added
  std::vector<Task*> opened_;
  ProcessingTimeService timers_;
  Status status_;
  std::thread thread_;
  bool started_ = false;
  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> parks_{0};
  std::atomic<uint64_t> park_timeouts_{0};

  // The wake-up words, on their own line: written only when the worker parks or is woken, read by
  // every Wake(), so while the worker runs the line stays shared in the wakers' caches.
  alignas(kCacheLineSize) std::atomic<uint32_t> wake_epoch_{0};
  std::atomic<bool> parked_{false};
  std::atomic<uint64_t> wake_syscalls_{0};
};

}  // namespace weir::sched
