// Executor: owns the job's Workers (worker.h), runs them, and turns their ends into one Status.
//
// Use: construct with Options, add tasks to worker(i) and bind channels to workers, then Run()
// once on a control thread. Run() starts every worker thread and returns when
//   - every task finished: OK;
//   - a task failed (RunOnce returned kFailed, or Open failed) or a worker could not be pinned:
//     the first such Status, prefixed with "task <name>" (or "worker <i>"). The failing worker
//     sets the stop flag and wakes every worker, so the others stop at their next pass;
//   - RequestStop() was called: Cancelled, unless a failure came first.
// In every case each worker has called Close() on every task it opened before Run() returns.
//
// Threads: the constructor, worker() and Run() on one control thread; RequestStop() from any
// thread, and from a signal handler (it only stores an atomic and makes futex_wake syscalls).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/status.h"
#include "sched/worker.h"

namespace weir::sched {

class Executor {
 public:
  struct Options {
    int workers = 1;
    // OS cpu ids, one per worker, to pin worker i to cpus[i]; empty = no pinning.
    std::vector<int> cpus;
    // Never park (execution.buffer-timeout = 0): lowest latency, every worker burns its core.
    bool busy_poll = false;
    // Longest park of an idle worker (the runtime passes the buffer timeout). > 0.
    int64_t park_timeout_nanos = 1'000'000;
    // Idle polling before parking; >= 0.
    int64_t spin_nanos = 20'000;
  };

  // REQUIRES: options.workers >= 1; options.cpus is empty or has one entry per worker.
  explicit Executor(const Options& options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // REQUIRES: 0 <= index < num_workers().
  Worker& worker(int index);
  int num_workers() const { return static_cast<int>(workers_.size()); }

  // Runs every worker to the end (see above). REQUIRES: called once.
  [[nodiscard]] Status Run();

  // Asks every worker to stop at its next pass; parked workers are woken.
  void RequestStop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_relaxed); }

 private:
  void OnFailure(const Status& status);
  void StopAll();

  std::vector<std::unique_ptr<Worker>> workers_;
  // Read by every worker at the top of every pass; written once, when the run ends early.
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_requested_{false};
  std::mutex failure_mutex_;  // guards first_failure_; taken once per failing worker
  Status first_failure_;
  bool ran_ = false;
};

}  // namespace weir::sched
