#include "sched/executor.h"

#include <utility>

#include "base/check.h"

namespace weir::sched {

Executor::Executor(const Options& options) {
  WEIR_CHECK_MSG(options.workers >= 1, "an executor needs at least one worker, got {}",
                 options.workers);
  WEIR_CHECK_MSG(
      options.cpus.empty() || options.cpus.size() == static_cast<size_t>(options.workers),
      "{} cpus given for {} workers", options.cpus.size(), options.workers);
  workers_.reserve(options.workers);
  for (int i = 0; i < options.workers; ++i) {
    Worker::Options worker_options;
    worker_options.index = i;
    worker_options.cpu = options.cpus.empty() ? -1 : options.cpus[i];
    worker_options.busy_poll = options.busy_poll;
    worker_options.park_timeout_nanos = options.park_timeout_nanos;
    worker_options.spin_nanos = options.spin_nanos;
    workers_.push_back(std::make_unique<Worker>(
        worker_options, &stop_, [this](Worker&, const Status& status) { OnFailure(status); }));
  }
}

Executor::~Executor() {
  // Workers join in their destructors; make sure none is left waiting for work that never comes.
  StopAll();
  workers_.clear();
}

Worker& Executor::worker(int index) {
  WEIR_CHECK_MSG(index >= 0 && index < num_workers(), "worker {} of {}", index, num_workers());
  return *workers_[index];
}

Status Executor::Run() {
  WEIR_CHECK_MSG(!ran_, "Executor::Run() called twice");
  ran_ = true;
  if (stop_requested()) StopAll();
  for (auto& worker : workers_) worker->Start();
  for (auto& worker : workers_) worker->Join();
  {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    if (!first_failure_.ok()) return first_failure_;
  }
  if (stop_requested()) return Cancelled("the job was stopped by a request");
  return Status::Ok();
}

void Executor::RequestStop() {
  stop_requested_.store(true, std::memory_order_relaxed);
  StopAll();
}

void Executor::OnFailure(const Status& status) {
  {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    if (first_failure_.ok()) first_failure_ = status;
  }
  StopAll();
}

void Executor::StopAll() {
  stop_.store(true, std::memory_order_relaxed);
  // Wake() begins with a seq_cst fence, which orders the store above before its parked_ check.
  for (auto& worker : workers_) worker->Wake();
}

}  // namespace weir::sched
