// The runner of `weir bench`: runs one workload's job (one Nexmark query, YSB, a tick query,
// WordCount) on a fresh StreamExecutionEnvironment and measures it.
//
// What a run measures:
//   - seconds: wall time of the job (JobResult::seconds, from the start of execution, after
//     set-up, to the end of the last task);
//   - cpu_seconds: CPU time of the whole process over the same span (JobResult::cpu_seconds,
//     getrusage), so cores = cpu_seconds / seconds is the number of cores the job kept busy;
//   - events: what the workload's sources emitted (RunContext::events_emitted);
//   - rows: result rows that reached EmitResults;
//   - latency: with a rate, every row's latency from the due instant of the event it waited for
//     (merged over the sink subtasks, nanoseconds);
//   - throughput over time: a sampler thread reads the emitted-events counter every
//     `sample_interval` and records events/s per interval. When `progress` is set and stderr is a
//     terminal it also redraws a one-line progress bar there (never into a file or pipe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/stream_execution_environment.h"
#include "base/status.h"
#include "harness/latency_histogram.h"
#include "harness/run_context.h"

namespace weir::harness {

// Builds a workload's job on `env` (sources, operators, EmitResults) for one run.
using JobBuilder = std::function<Status(api::StreamExecutionEnvironment& env, const RunContext& context)>;

struct RunOptions {
  Configuration config;       // -D options; parallelism and latency mode are applied on top
  int parallelism = 0;        // > 0: parallelism.default of the job
  bool latency_mode = false;  // execution.buffer-timeout 0: every record is flushed at once
  double rate = 0;            // events/s of a paced run (latency measured); 0 = as fast as possible
  uint64_t seed = 42;
  bool keep_rows = false;          // keep the result rows (QueryRun::csv) for a result file
  int64_t expected_events = 0;     // for the progress bar's percentage; 0 = unknown
  bool progress = true;            // draw a progress bar on stderr when it is a terminal
  std::chrono::milliseconds sample_interval{100};
  // When set, the run is stopped (cleanly: sources end, the job drains) once this becomes true;
  // polled by the sampler thread, so a signal handler may set it.
  const std::atomic<bool>* stop = nullptr;
};

// Events per second over one sampling interval, ending `seconds` after the run started.
struct ThroughputSample {
  double seconds = 0;
  double events_per_second = 0;
};

// The measurements of one run.
struct QueryRun {
  std::string name;  // "q5", "ysb", "T1", "wordcount"
  int64_t events = 0;
  int64_t rows = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  int parallelism = 0;
  double rate = 0;       // the run's --rate (0: unpaced)
  bool stopped = false;  // ended early by `RunOptions::stop`
  LatencyHistogram latency;  // nanoseconds; empty unless paced
  std::vector<ThroughputSample> throughput;
  std::string csv;  // result rows (RunOptions::keep_rows), ResultCollector::Csv()

  bool measured_latency() const { return latency.count() > 0; }
  double cores() const { return seconds > 0 ? cpu_seconds / seconds : 0; }
  double events_per_second() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double events_per_core_second() const {
    return cpu_seconds > 0 ? static_cast<double>(events) / cpu_seconds : 0;
  }
};

// Runs one job built by `build` and measures it. A builder error, or a job that fails, returns
// that Status (with `name` in its message).
Result<QueryRun> RunQuery(std::string name, const JobBuilder& build, const RunOptions& options);

}  // namespace weir::harness
