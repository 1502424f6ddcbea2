// Task: the unit of work a Worker (worker.h) runs cooperatively. A worker thread runs many tasks
// round-robin; each call to RunOnce processes at most one batch and returns, so one slow or
// backpressured task never holds the core away from the others.
//
// Threads: every method is called on the thread of the one worker the task was added to: Open()
// once before the first RunOnce(), RunOnce() repeatedly, Close() once after the last RunOnce()
// (also after a failure or a stop, but only if Open() returned OK). status() is called on the
// same thread right after RunOnce() returned kFailed.
//
// Wake-ups: a task that returns kIdle is not polled again until its worker makes another pass;
// a worker that made no progress parks until someone calls Worker::Wake() or its park timeout
// passes. So whatever a task waits for must wake the task's worker when it becomes available:
// Channel (channel.h) does so for input and for output credit; a task waiting for something else
// (a socket, a clock) relies on the park timeout or a ProcessingTimeService timer.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"

namespace weir::sched {

class Task {
 public:
  enum class Progress {
    kDidWork,   // consumed input or produced output; the worker polls again without parking
    kIdle,      // no input, or no output credit, right now
    kFinished,  // done for good: the worker closes the task and never polls it again
    kFailed,    // done with an error: see status(); the executor stops every task
  };

  virtual ~Task() = default;

  // Processes at most one batch of input and returns. Never blocks: no waiting on locks, sleeps
  // or I/O that can block. `now_nanos` is MonotonicNanos() taken once per worker pass, so tasks
  // can check timeouts (e.g. flushing a partly filled output buffer) without reading the clock.
  virtual Progress RunOnce(int64_t now_nanos) = 0;

  // The error after RunOnce() returned kFailed; OK otherwise.
  virtual Status status() const { return Status::Ok(); }

  // A name for errors and diagnostics ("Map (2/4)"). The view must stay valid while the task lives.
  virtual std::string_view name() const = 0;

  // Resource setup and teardown, on the worker thread (so per-thread pools and NUMA-local memory
  // are set up where they are used). A failed Open() fails the job and Close() is not called.
  [[nodiscard]] virtual Status Open() { return Status::Ok(); }
  // The wall-clock time (WallMillis) at which this task wants to run even without input (its
  // processing-time timers); the worker does not park past it. kMaxTimestamp: no such time.
  virtual Timestamp NextWakeupMillis() const { return kMaxTimestamp; }
  // A MonotonicNanos instant by which the task has work again (a paced source's next due
  // record), or kMaxTimestamp; the worker parks no longer than this either.
  virtual int64_t NextWakeupNanos() const { return kMaxTimestamp; }
  virtual void Close() {}
};

}  // namespace weir::sched
