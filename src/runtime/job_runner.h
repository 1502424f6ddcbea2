// JobRunner: runs a JobGraph to completion on this machine.
//
// It chains forward edges between vertices of equal parallelism (same slot-sharing group, single
// input), creates one StreamTask per chain and subtask, one channel per (exchange, producer
// subtask, consumer subtask), one network SegmentPool and one managed-memory pool per NUMA node
// in use, and one pinned worker per core. Subtask i of a chain runs on worker
// (group offset + i) % workers, so the subtasks of one slot-sharing group spread over the workers
// and different groups start on different workers (Flink's slot sharing, on cores).
//
// Run() returns when the job finished, failed, or was stopped with RequestStop(). After the run
// every operator is finalized: on success sinks commit their output, otherwise they discard it.
//
// Checkpoints and recovery (docs/checkpoints.md): with execution.checkpointing.interval set, a
// CheckpointCoordinator takes periodic checkpoints into state.checkpoints.dir. With
// execution.savepoint.path set ("latest" or a path), the job first restores from it. When a task
// fails and restart-strategy.type allows it (fixed-delay, exponential-delay), the job is rebuilt
// in this process and restored from its latest completed checkpoint (or from where it started, if
// none completed yet), so sinks with two-phase commit neither lose nor duplicate output.
//
// Stopping: RequestStop() on a job that can take a savepoint (a checkpoint or savepoint directory
// is configured) takes one (Flink's stop-with-savepoint): the job ends right after it, without
// draining, and Run() returns OK with JobResult::savepoint_path. Otherwise the sources end their
// input and the job drains and finishes cleanly.
//
// Threads: Run() on one control thread; RequestStop() from any thread or a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "memory/topology.h"
#include "runtime/job_graph.h"

namespace weir::runtime {

struct JobResult {
  int64_t records_in = 0;  // records the sources emitted
  int64_t bytes_in = 0;    // bytes the sources read
  int64_t records_skipped = 0;  // malformed input records skipped (ignore-parse-errors options)
  double seconds = 0;      // wall time of the run (after set-up)
  double cpu_seconds = 0;  // process CPU time during the run
  bool stopped = false;    // ended by RequestStop() rather than by the end of input
  int tasks = 0;
  int workers = 0;
  int64_t checkpoints = 0;     // checkpoints completed during the run (all attempts)
  int restarts = 0;            // in-process restarts after failures
  std::string savepoint_path;  // the savepoint a stop took, if any
  std::string restored_from;   // the checkpoint the (first) attempt restored, if any
};

class JobRunner {
 public:
  // `topology`: the machine to place workers and memory on; null = this machine (hwloc). A
  // synthetic topology (tests) places as on that machine but pins no thread.
  explicit JobRunner(Configuration config, const memory::Topology* topology = nullptr)
      : config_(std::move(config)), topology_(topology) {}

  Result<JobResult> Run(const JobGraph& graph);

  // Asks the sources to stop: they end their input, the job drains and finishes cleanly.
  // Async-signal-safe.
  void RequestStop() { stop_requested_.store(true, std::memory_order_relaxed); }

 private:
  struct Attempt;
  // Builds and runs the job once, restoring from `restore` when it is not null.
  Status RunAttempt(const JobGraph& graph, Attempt& attempt);

  Configuration config_;
  const memory::Topology* topology_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace weir::runtime
