// Issue 4's checkpoint targets, measured end to end through the public API on one keyed
// event-time window job that holds about 1 GB of state (docs/checkpoints.md, "Performance"):
//
//   source -> timestamps/watermarks -> keyBy(key) -> 1 h tumbling window, Aggregate(count, sum)
//
// at parallelism 1, with `keys` distinct keys (the benchmark's argument, 20 M by default), each
// holding one window: a 48-byte entry of the slicing window operator's state table, 0.96 GB in a
// full checkpoint at 20 M keys. All event times fall into the first hour, so no window fires before
// the end of input and the state stays whole.
//
// BM_CheckpointJob_Targets runs, in one process and in this order:
//   1. base:        insert every key once, wait for a checkpoint taken after the last insert; its
//                   directory is the 1 GB checkpoint every later run restores.
//   2. disk:        1 GiB of O_DIRECT 4 MiB pwrite()s + fsync into the same file system (the method
//                   of bench/io/checkpoint_storage_bench.cc), 3 times around the runs below.
//   3. restore:     a run restored from the base checkpoint (execution.savepoint.path); its first
//                   record is emitted at once. Restore time = Execute() to that record's Add into
//                   the window state. The run then waits for its first checkpoint (full: a run's
//                   first checkpoint writes everything), changes 1% of the keys, and waits for the
//                   checkpoint that holds the change: incremental bytes / full bytes; full bytes /
//                   the time from the end of the restore (or the trigger, if later) to completion =
//                   the full checkpoint's bandwidth (vs the disk's).
//   4. throughput:  `keys` records (each key once, in an order spread over the key space) over the
//                   restored state, as fast as possible, with checkpoints every 1 s and without,
//                   alternating, 3 runs each: with checkpoints, a run holds its first (full)
//                   checkpoint and several incremental ones. Rate = records / (the last
//                   record's Add - the first record's Add): restore and the final firing of every
//                   window are outside the measured span.
//   5. latency:     a restored run paced, once its first (full) checkpoint has completed, at 50% of
//                   the lower of the two median rates, checkpoints every 1 s, 10 s. A record's latency = the instant its Add runs minus its due instant on the
//                   pacing schedule, so a stall anywhere before the window state (source, chain,
//                   exchange, the synchronous part of a checkpoint) counts, including the backlog it
//                   leaves. Records due while a checkpoint was in progress ([completion - duration,
//                   completion], from the coordinator's log) are reported separately.
//
// The table of targets (measured, target, PASS/FAIL) goes to stdout; the coordinator's and the
// runner's log lines go to stderr as usual (they are captured and parsed for per-checkpoint bytes
// and durations). Checkpoints go to $WEIR_BENCH_DIR (default /tmp) and are removed at the end.
//
//   build/bench/weir_runtime_bench --benchmark_filter=CheckpointJob
// (WEIR_CHECKPOINT_BENCH_KEYS=<n> runs it with another key count.)
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/stream_execution_environment.h"
#include "base/clock.h"
#include "operators/record_group.h"
#include "operators/source_operator.h"

namespace weir::api {
namespace {

namespace fs = std::filesystem;

// 32 bytes: `seq` numbers the records of one run (0, 1, ...) for the probes in the aggregate.
struct Event {
  int64_t key;
  int64_t time;
  int64_t seq;
  int64_t value;
};
static_assert(sizeof(Event) == 32);

// What the window's aggregate observes, set up by the benchmark before each run. The aggregate's
// Add is the moment a record is applied to the window state.
struct Probe {
  std::atomic<int64_t> first_apply_nanos{0};  // Add of seq 0
  std::atomic<int64_t> last_apply_nanos{0};   // Add of seq last_seq
  int64_t last_seq = -1;
  // Paced runs: latency_nanos[seq] = Add instant - due instant (saturated); null otherwise.
  uint32_t* latency_nanos = nullptr;
  int64_t latency_count = 0;
  std::atomic<int64_t> paced_start_nanos{0};
  double paced_nanos_per_record = 0;
  // Add instant of every kMilestone-th record (seq / kMilestone indexes it); null when unused.
  static constexpr int64_t kMilestone = 1 << 16;
  std::atomic<int64_t>* milestones = nullptr;
  int64_t milestone_count = 0;
  void Reset() {
    milestones = nullptr;
    milestone_count = 0;
    first_apply_nanos.store(0);
    last_apply_nanos.store(0);
    last_seq = -1;
    latency_nanos = nullptr;
    latency_count = 0;
    paced_start_nanos.store(0);
    paced_nanos_per_record = 0;
  }
};
Probe g_probe;

struct CountSum {
  static constexpr bool kOrderInsensitive = true;
  struct Acc {
    int64_t count;
    int64_t sum;
  };
  Acc CreateAccumulator() const { return {0, 0}; }
  void Add(const Event& event, Acc& acc) const {
    ++acc.count;
    acc.sum += event.value;
    if (event.seq % Probe::kMilestone == 0 || event.seq == g_probe.last_seq || g_probe.latency_nanos != nullptr) {
      Observe(event);
    }
  }
  Acc GetResult(const Acc& acc) const { return acc; }
  Acc Merge(const Acc& a, const Acc& b) const { return {a.count + b.count, a.sum + b.sum}; }

  static void Observe(const Event& event) {
    const int64_t now = MonotonicNanos();
    if (event.seq == 0) g_probe.first_apply_nanos.store(now, std::memory_order_relaxed);
    if (event.seq == g_probe.last_seq) g_probe.last_apply_nanos.store(now, std::memory_order_relaxed);
    const int64_t milestone = event.seq / Probe::kMilestone;
    if (event.seq % Probe::kMilestone == 0 && milestone < g_probe.milestone_count) {
      g_probe.milestones[milestone].store(now, std::memory_order_relaxed);
    }
    if (g_probe.latency_nanos != nullptr && event.seq < g_probe.latency_count) {
      const int64_t due = g_probe.paced_start_nanos.load(std::memory_order_relaxed) +
                          static_cast<int64_t>(static_cast<double>(event.seq) * g_probe.paced_nanos_per_record);
      g_probe.latency_nanos[event.seq] =
          static_cast<uint32_t>(std::clamp<int64_t>(now - due, 0, std::numeric_limits<uint32_t>::max()));
    }
  }
};

// The job's input, as a list of steps. Emitting steps run as fast as the chain takes records (or
// on a pacing schedule); a wait step idles (kNothingNow) until a checkpoint whose snapshot was
// taken after the step began has completed, so "the checkpoint after X" is exact.
struct Step {
  enum Kind { kInsert, kChange, kCycle, kPaced, kWaitForCheckpoint } kind;
  int64_t count = 0;             // records to emit
  double records_per_second = 0;  // kPaced
};

class StepSource final : public operators::SourceOperator<Event> {
 public:
  StepSource(std::vector<Step> steps, int64_t keys) : steps_(std::move(steps)), keys_(keys) {}

  Result<operators::SourceStatus> Poll(int max_records) override {
    next_ready_nanos_ = kMaxTimestamp;
    while (step_ < steps_.size()) {
      const Step& step = steps_[step_];
      if (step.kind == Step::kWaitForCheckpoint) {
        if (wait_completed_) {
          NextStep();
          continue;
        }
        next_ready_nanos_ = MonotonicNanos() + 1'000'000;
        return operators::SourceStatus::kNothingNow;
      }
      if (emitted_in_step_ >= step.count) {
        NextStep();
        continue;
      }
      int64_t limit = std::min<int64_t>(step.count, emitted_in_step_ + max_records);
      if (step.kind == Step::kPaced) {
        const double nanos_per_record = 1e9 / step.records_per_second;
        const int64_t now = MonotonicNanos();
        if (paced_start_nanos_ == 0) {
          paced_start_nanos_ = now;
          g_probe.paced_start_nanos.store(now - static_cast<int64_t>(static_cast<double>(seq_) * nanos_per_record));
        }
        const int64_t due = static_cast<int64_t>(static_cast<double>(now - paced_start_nanos_) / nanos_per_record) + 1;
        limit = std::min(limit, due);
        if (limit <= emitted_in_step_) {
          next_ready_nanos_ =
              paced_start_nanos_ + static_cast<int64_t>(static_cast<double>(emitted_in_step_) * nanos_per_record);
          return operators::SourceStatus::kNothingNow;
        }
      }
      operators::Output<Event>* out = output();
      records_emitted_ += limit - emitted_in_step_;
      // 64 records per CollectBatch, as weir's generator source hands them over.
      size_t grouped = 0;
      for (; emitted_in_step_ < limit; ++emitted_in_step_) {
        group_.Set(grouped, Event{KeyOf(step.kind, emitted_in_step_, step.count), 0, seq_, seq_ & 1023},
                   kMinTimestamp);
        ++seq_;
        if (++grouped == operators::RecordGroup<Event>::kCapacity) {
          group_.FlushTo(*out, grouped);
          grouped = 0;
        }
      }
      group_.FlushTo(*out, grouped);
      return operators::SourceStatus::kMoreAvailable;
    }
    return operators::SourceStatus::kEndOfInput;
  }

  int64_t NextReadyNanos() const override { return next_ready_nanos_; }

  // The source's position is not checkpointed: every run of this benchmark is told its steps.
  Status SnapshotState(state::SnapshotWriter& writer) override {
    if (step_ < steps_.size() && steps_[step_].kind == Step::kWaitForCheckpoint && wait_id_ == 0) {
      wait_id_ = writer.checkpoint_id();
    }
    return Status::Ok();
  }
  void NotifyCheckpointComplete(int64_t checkpoint_id) override {
    if (wait_id_ != 0 && checkpoint_id >= wait_id_) wait_completed_ = true;
  }

 private:
  operators::RecordGroup<Event> group_;

  // Inserts visit the keys in order; changes and cycles spread over the key space (a stride
  // coprime to any key count that is not a multiple of 1 000 003).
  int64_t KeyOf(Step::Kind kind, int64_t i, int64_t count) const {
    switch (kind) {
      case Step::kInsert:
        return i % keys_;
      case Step::kChange:
        return (i * (keys_ / std::max<int64_t>(count, 1))) % keys_;
      default:
        return static_cast<int64_t>((static_cast<unsigned __int128>(i) * 1'000'003) % static_cast<uint64_t>(keys_));
    }
  }
  void NextStep() {
    ++step_;
    emitted_in_step_ = 0;
    wait_id_ = 0;
    wait_completed_ = false;
    paced_start_nanos_ = 0;
  }

  std::vector<Step> steps_;
  int64_t keys_;
  size_t step_ = 0;
  int64_t emitted_in_step_ = 0;
  int64_t seq_ = 0;
  int64_t wait_id_ = 0;
  bool wait_completed_ = false;
  int64_t paced_start_nanos_ = 0;
  int64_t next_ready_nanos_ = kMaxTimestamp;
};

// Copies stderr (fd 2) through a pipe while alive, timestamping each line as it arrives and
// passing it on to the real stderr. The coordinator logs a line when a checkpoint completes.
class StderrCapture {
 public:
  StderrCapture() {
    WEIR_CHECK(::pipe2(pipe_, O_CLOEXEC) == 0);
    saved_ = ::dup(2);
    WEIR_CHECK(saved_ >= 0);
    std::fflush(stderr);
    WEIR_CHECK(::dup2(pipe_[1], 2) == 2);
    reader_ = std::thread([this] { Read(); });
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(pipe_[1]);
    reader_.join();
    ::close(pipe_[0]);
    ::close(saved_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  struct Line {
    int64_t nanos;
    std::string text;
  };
  std::vector<Line> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void Read() {
    std::string partial;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(pipe_[0], buffer, sizeof(buffer));
      if (n <= 0) break;
      const int64_t now = MonotonicNanos();
      [[maybe_unused]] const ssize_t echoed = ::write(saved_, buffer, static_cast<size_t>(n));
      partial.append(buffer, static_cast<size_t>(n));
      for (size_t end; (end = partial.find('\n')) != std::string::npos;) {
        std::lock_guard lock(mutex_);
        lines_.push_back({now, partial.substr(0, end)});
        partial.erase(0, end + 1);
      }
    }
  }

  int pipe_[2];
  int saved_;
  std::thread reader_;
  std::mutex mutex_;
  std::vector<Line> lines_;
};

struct CheckpointLog {
  int64_t id;
  double seconds;
  int64_t bytes;
  bool full;
  int64_t completed_nanos;
};

std::vector<CheckpointLog> ParseCheckpoints(const std::vector<StderrCapture::Line>& lines) {
  std::vector<CheckpointLog> checkpoints;
  for (const auto& line : lines) {
    CheckpointLog c{};
    long long id = 0;
    long long bytes = 0;
    if (std::sscanf(line.text.c_str(), "weir: checkpoint %lld completed in %lf s (%lld bytes written", &id, &c.seconds,
                    &bytes) == 3) {
      c.id = id;
      c.bytes = bytes;
      c.full = line.text.find(", full)") != std::string::npos;
      c.completed_nanos = line.nanos;
      checkpoints.push_back(c);
    }
  }
  return checkpoints;
}

// The share of one core a busy thread gets over `seconds` (1.0 on an idle machine): the other
// engineers' builds on a shared machine bound every CPU-bound number below.
double CpuShare(double seconds) {
  timespec cpu_start{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start);
  const int64_t start = MonotonicNanos();
  volatile uint64_t sink = 0;
  while (MonotonicNanos() - start < static_cast<int64_t>(seconds * 1e9)) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
  timespec cpu_end{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
  const double cpu = static_cast<double>(cpu_end.tv_sec - cpu_start.tv_sec) +
                     1e-9 * static_cast<double>(cpu_end.tv_nsec - cpu_start.tv_nsec);
  return cpu / (1e-9 * static_cast<double>(MonotonicNanos() - start));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  if (values.empty()) return 0;
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct Run {
  double execute_seconds = 0;
  double rate = 0;             // records / (last Add - first Add)
  double rate_after_full = 0;  // the same from the first full checkpoint's completion on
  double restore_seconds = 0;  // Execute() -> the first record's Add
  int64_t first_apply_nanos = 0;
  double load_seconds = 0;  // of restore_seconds: reading and verifying the files (the runner's log)
  int64_t state_bytes = 0;     // from the restore log line (the restored checkpoint's size)
  std::vector<CheckpointLog> checkpoints;
  std::string last_checkpoint;  // directory of the newest completed checkpoint
  int64_t start_nanos = 0;
  int aborted = 0;  // checkpoints aborted (logged by the coordinator)
  double cpu_seconds = 0;
};

// A restored run's first checkpoint is triggered 1 s after the start, while the window task may
// still be restoring, and its barrier waits behind the restore: its persist time is counted from
// the later of its trigger and `ready_nanos` (the first record's Add, right after the restore).
double PersistSeconds(const CheckpointLog& c, int64_t ready_nanos) {
  const int64_t triggered = c.completed_nanos - static_cast<int64_t>(c.seconds * 1e9);
  return 1e-9 * static_cast<double>(c.completed_nanos - std::max(triggered, ready_nanos));
}

struct JobOptions {
  int64_t keys = 0;
  std::vector<Step> steps;
  bool checkpoints = true;
  std::string checkpoints_dir;
  std::string restore_from;  // "" = a fresh start
  std::string interval = "1 s";
};

Run RunJob(const JobOptions& options) {
  Configuration config;
  WEIR_CHECK_OK(config.Set("parallelism.default", "1"));
  WEIR_CHECK_OK(config.Set("weir.worker.pin-cpus", "false"));
  // The state (accumulators, window index, one timer per key) plus what copy-on-write relocates
  // while a checkpoint pins the tables.
  WEIR_CHECK_OK(config.Set("taskmanager.memory.managed.size", fmt::format("{}mb", 512 + options.keys / 4000)));
  WEIR_CHECK_OK(config.Set("state.checkpoints.dir", options.checkpoints_dir));
  WEIR_CHECK_OK(config.Set("state.checkpoints.num-retained", "1"));
  WEIR_CHECK_OK(config.Set("execution.checkpointing.incremental", "true"));
  if (options.checkpoints) WEIR_CHECK_OK(config.Set("execution.checkpointing.interval", options.interval));
  // The coordinator counts a checkpoint aborted because a task reached its end of input as a
  // failure, which would fail a bounded run that ends while one is in flight; aborts are counted
  // and reported instead.
  WEIR_CHECK_OK(config.Set("execution.checkpointing.tolerable-failed-checkpoints", "1000"));
  if (!options.restore_from.empty()) WEIR_CHECK_OK(config.Set("execution.savepoint.path", options.restore_from));

  StreamExecutionEnvironment env(config);
  const int64_t keys = options.keys;
  const std::vector<Step> steps = options.steps;
  env.AddSource<Event>("Step Source", [steps, keys](int) { return std::make_unique<StepSource>(steps, keys); }, 1)
      .AssignTimestampsAndWatermarks(
          WatermarkStrategy<Event>::ForBoundedOutOfOrderness(std::chrono::milliseconds(0))
              .WithTimestampAssigner([](const Event& event, Timestamp) { return event.time; }))
      .KeyBy([](const Event& event) { return event.key; })
      .Window(TumblingEventTimeWindows::Of(std::chrono::hours(1)))
      .Aggregate(CountSum())
      .Discard();

  Run run;
  std::vector<StderrCapture::Line> lines;
  Result<JobResult> job = Internal("not run");
  {
    StderrCapture capture;
    run.start_nanos = MonotonicNanos();
    job = env.Execute("checkpointed window job");
    lines = capture.lines();
  }
  WEIR_CHECK_OK(job.status());
  run.execute_seconds = job->seconds;
  run.cpu_seconds = job->cpu_seconds;
  for (const auto& line : lines) run.aborted += line.text.find("aborted:") != std::string::npos ? 1 : 0;
  const int64_t first = g_probe.first_apply_nanos.load();
  const int64_t last = g_probe.last_apply_nanos.load();
  if (first != 0 && last > first) run.rate = static_cast<double>(g_probe.last_seq) / (1e-9 * static_cast<double>(last - first));
  run.first_apply_nanos = first;
  if (first != 0) run.restore_seconds = 1e-9 * static_cast<double>(first - run.start_nanos);
  run.checkpoints = ParseCheckpoints(lines);
  // Steady state: from the first milestone after the first full checkpoint completed.
  for (const CheckpointLog& c : run.checkpoints) {
    if (!c.full || g_probe.milestones == nullptr) continue;
    for (int64_t m = 0; m < g_probe.milestone_count; ++m) {
      const int64_t at = g_probe.milestones[m].load();
      if (at >= c.completed_nanos && last > at) {
        run.rate_after_full = static_cast<double>(g_probe.last_seq - m * Probe::kMilestone) / (1e-9 * static_cast<double>(last - at));
        break;
      }
    }
    break;
  }
  for (const auto& line : lines) {
    const size_t at = line.text.find("restoring from ");
    long long bytes = 0;
    const size_t paren = line.text.find("(checkpoint ");
    if (at != std::string::npos && paren != std::string::npos &&
        std::sscanf(line.text.c_str() + paren, "(checkpoint %*[0-9], %lld bytes, read and verified in %lf s", &bytes,
                    &run.load_seconds) >= 1) {
      run.state_bytes = bytes;
    }
  }
  // The newest chk-<n> holding a _metadata under <dir>/<job-id>/.
  int64_t newest = -1;
  for (const auto& job_dir : fs::directory_iterator(options.checkpoints_dir)) {
    if (!job_dir.is_directory()) continue;
    for (const auto& entry : fs::directory_iterator(job_dir.path())) {
      const std::string name = entry.path().filename().string();
      long long id = 0;
      if (std::sscanf(name.c_str(), "chk-%lld", &id) == 1 && fs::exists(entry.path() / "_metadata") && id > newest) {
        newest = id;
        run.last_checkpoint = entry.path().string();
      }
    }
  }
  return run;
}

// Seconds to write `bytes` with 4 MiB O_DIRECT pwrite()s of `buffer` then fsync (the page cache
// when O_DIRECT is refused); the file is removed.
double TimeDiskWrite(const std::string& path, const std::byte* buffer, size_t chunk, size_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  if (fd < 0) fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  WEIR_CHECK_MSG(fd >= 0, "cannot open the disk baseline file");
  const auto start = std::chrono::steady_clock::now();
  for (size_t offset = 0; offset < bytes; offset += chunk) {
    WEIR_CHECK(::pwrite(fd, buffer, chunk, static_cast<off_t>(offset)) == static_cast<ssize_t>(chunk));
  }
  WEIR_CHECK(::fsync(fd) == 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  fs::remove(path);
  return seconds;
}

struct LatencySummary {
  int64_t count = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};
LatencySummary Summarize(std::vector<uint32_t> nanos) {
  LatencySummary s;
  s.count = static_cast<int64_t>(nanos.size());
  if (nanos.empty()) return s;
  std::sort(nanos.begin(), nanos.end());
  auto at = [&](double q) { return 1e-6 * nanos[std::min(nanos.size() - 1, static_cast<size_t>(q * nanos.size()))]; };
  s.p50_ms = at(0.5);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.max_ms = 1e-6 * nanos.back();
  return s;
}

// One throughput run: `keys` records (each key once, spread over the key space) over the state
// restored from `base`, as fast as the job goes, with or without checkpoints every 1 s.
// `milestones` holds the Add instants of every Probe::kMilestone-th record (rate_after_full).
Run ThroughputRun(int64_t keys, bool checkpoints, const std::string& dir, const std::string& base,
                  std::vector<std::atomic<int64_t>>& milestones) {
  g_probe.Reset();
  g_probe.last_seq = keys - 1;
  for (auto& m : milestones) m.store(0);
  g_probe.milestones = milestones.data();
  g_probe.milestone_count = static_cast<int64_t>(milestones.size());
  Run run = RunJob({keys, {{Step::kCycle, keys}}, checkpoints, dir, base});
  fs::remove_all(dir);
  return run;
}

// The paced run of step 5: restored from `base`, pacing `rate` records/s for 10 s from the
// completion of its first (full) checkpoint on, checkpoints every 1 s.
struct PacedRun {
  Run run;
  double rate = 0;
  int64_t start_nanos = 0;         // the due instant of seq 0 (CLOCK_MONOTONIC)
  std::vector<uint32_t> latency;   // of seq 1, 2, ...: Add instant - due instant
  LatencySummary all, during;      // during: records due while a checkpoint was in progress
};
PacedRun RunPaced(int64_t keys, double rate, const std::string& dir, const std::string& base) {
  PacedRun paced;
  paced.rate = rate;
  const int64_t records = static_cast<int64_t>(rate * 10);
  // seq 0 is a probe emitted at once; pacing (seq 1 on) starts when the checkpoint taken after
  // the restore (the run's full one) has completed, so a restore backlog is not counted.
  paced.latency.assign(static_cast<size_t>(records + 1), 0);
  g_probe.Reset();
  g_probe.latency_nanos = paced.latency.data();
  g_probe.latency_count = records + 1;
  g_probe.paced_nanos_per_record = 1e9 / rate;
  paced.run = RunJob({keys,
                      {{Step::kChange, 1}, {Step::kWaitForCheckpoint}, {Step::kPaced, records, rate}},
                      true,
                      dir,
                      base});
  fs::remove_all(dir);
  paced.start_nanos = g_probe.paced_start_nanos.load();
  g_probe.Reset();
  paced.latency.erase(paced.latency.begin());  // the probe
  std::vector<uint32_t> during;
  for (int64_t seq = 1; seq <= records; ++seq) {
    const int64_t due = paced.start_nanos + static_cast<int64_t>(static_cast<double>(seq) * 1e9 / rate);
    for (const auto& c : paced.run.checkpoints) {
      if (due >= c.completed_nanos - static_cast<int64_t>(c.seconds * 1e9) && due <= c.completed_nanos) {
        during.push_back(paced.latency[static_cast<size_t>(seq - 1)]);
        break;
      }
    }
  }
  paced.all = Summarize(paced.latency);
  paced.during = Summarize(std::move(during));
  return paced;
}

struct Row {
  std::string name;
  std::string measured;
  std::string target;
  bool pass;
};

// The key count (the benchmark's argument, or WEIR_CHECKPOINT_BENCH_KEYS) and a fresh working
// directory named `name` under $WEIR_BENCH_DIR (default /tmp).
int64_t BenchKeys(const benchmark::State& state) {
  const char* keys_override = std::getenv("WEIR_CHECKPOINT_BENCH_KEYS");
  const int64_t keys = keys_override != nullptr ? std::atoll(keys_override) : state.range(0);
  WEIR_CHECK_MSG(keys >= 1000, "WEIR_CHECKPOINT_BENCH_KEYS must be at least 1000");
  return keys;
}
fs::path FreshBenchRoot(std::string_view name) {
  const char* env_dir = std::getenv("WEIR_BENCH_DIR");
  const fs::path root = fs::path(env_dir != nullptr ? env_dir : "/tmp") / fmt::format("{}_{}", name, ::getpid());
  fs::remove_all(root);
  fs::create_directories(root);
  return root;
}
// Where the base checkpoint of `keys` keys lives: under WEIR_CHECKPOINT_BENCH_BASE when set (kept
// between invocations), else under `root` (removed with it).
fs::path BaseDir(const fs::path& root, int64_t keys) {
  const char* kept_base = std::getenv("WEIR_CHECKPOINT_BENCH_BASE");
  return kept_base != nullptr ? fs::path(kept_base) / fmt::format("keys-{}", keys) : root / "base";
}

void BM_CheckpointJob_Targets(benchmark::State& state) {
  // WEIR_CHECKPOINT_BENCH_KEYS overrides the key count (a quick run with a smaller state).
  const int64_t keys = BenchKeys(state);
  const fs::path root = FreshBenchRoot("weir_checkpoint_job_bench");
  auto fresh_dir = [&root, n = 0]() mutable {
    const fs::path dir = root / fmt::format("run-{}", n++);
    fs::create_directories(dir);
    return dir.string();
  };

  for (auto _ : state) {
    const int64_t iteration_start = MonotonicNanos();
    std::vector<Row> rows;
    std::vector<double> cpu_shares = {CpuShare(1.0)};
    // 1. The base checkpoint: every key inserted, then the checkpoint taken after the last insert.
    g_probe.Reset();
    const std::string base_dir = fresh_dir();
    // Not a measured run: checkpoints every 5 s only to insert faster.
    Run base = RunJob({keys, {{Step::kInsert, keys}, {Step::kWaitForCheckpoint}}, true, base_dir, "", "5 s"});
    WEIR_CHECK_MSG(!base.last_checkpoint.empty(), "the base run completed no checkpoint");
    fmt::print(stderr, "[bench] base: {} keys inserted in {:.2f} s, checkpoint {}\n", keys, base.execute_seconds,
               base.last_checkpoint);

    // 2. Disk baseline (median of 3, interleaved with the runs below).
    constexpr size_t kChunk = size_t{4} << 20;
    constexpr size_t kDiskBytes = size_t{1} << 30;
    std::byte* buffer = static_cast<std::byte*>(std::aligned_alloc(4096, kChunk));
    for (size_t i = 0; i < kChunk; ++i) buffer[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
    std::vector<double> disk_gbps;
    auto measure_disk = [&] {
      disk_gbps.push_back(1e-9 * kDiskBytes / TimeDiskWrite((root / "disk-baseline").string(), buffer, kChunk, kDiskBytes));
    };
    measure_disk();

    // 3. Restore, full and incremental checkpoints.
    const int64_t changed = std::max<int64_t>(1, keys / 100);
    g_probe.Reset();
    const std::string incremental_dir = fresh_dir();
    Run restored = RunJob({keys,
                           {{Step::kChange, 1},
                            {Step::kWaitForCheckpoint},
                            {Step::kChange, changed},
                            {Step::kWaitForCheckpoint}},
                           true,
                           incremental_dir,
                           base.last_checkpoint});
    fs::remove_all(incremental_dir);
    measure_disk();
    WEIR_CHECK_MSG(restored.checkpoints.size() >= 2 && restored.checkpoints[0].full,
                   "the restored run did not complete a full and then an incremental checkpoint");
    CheckpointLog full = restored.checkpoints[0];
    full.seconds = PersistSeconds(full, restored.first_apply_nanos);
    int64_t incremental_bytes = 0;
    for (size_t i = 1; i < restored.checkpoints.size(); ++i) incremental_bytes += restored.checkpoints[i].bytes;

    // 4. Throughput with and without checkpoints, alternating, over the restored 1 GB state.
    // As many records as keys: at 2-3 M records/s with checkpoints, keys / 4 records (this run's
    // length until 2026-12-07) ended before the first incremental checkpoint completed, so the
    // ratio measured only the full checkpoint every run starts with after its restore.
    const int64_t records = keys;
    std::vector<std::atomic<int64_t>> milestones(static_cast<size_t>(records / Probe::kMilestone + 1));
    std::vector<double> with_rates, without_rates, after_full_rates;
    std::vector<CheckpointLog> throughput_fulls, throughput_incrementals;
    for (int i = 0; i < 3; ++i) {
      for (const bool checkpoints : {true, false}) {
        Run run = ThroughputRun(keys, checkpoints, fresh_dir(), base.last_checkpoint, milestones);
        (checkpoints ? with_rates : without_rates).push_back(run.rate);
        if (checkpoints) after_full_rates.push_back(run.rate_after_full);
        for (CheckpointLog c : run.checkpoints) {
          if (c.full) c.seconds = PersistSeconds(c, run.first_apply_nanos);
          (c.full ? throughput_fulls : throughput_incrementals).push_back(c);
        }
        fmt::print(stderr, "[bench] throughput {} checkpoints: {:.2f} M records/s, after the full one {:.2f} ({} "
                   "checkpoints, {} aborted; {:.1f} s, {:.1f} CPU s)\n", checkpoints ? "with" : "without",
                   1e-6 * run.rate, 1e-6 * run.rate_after_full,
                   run.checkpoints.size(), run.aborted, run.execute_seconds, run.cpu_seconds);
      }
    }
    measure_disk();
    const double with_rate = Median(with_rates);
    const double without_rate = Median(without_rates);

    // 5. Latency at 50% of the job's max rate with checkpoints every 1 s (the lower of the two
    // medians: paced above what the job sustains, latency would measure a growing queue), 10 s.
    const double paced_rate = 0.5 * std::min(with_rate, without_rate);
    const PacedRun paced_run = RunPaced(keys, paced_rate, fresh_dir(), base.last_checkpoint);
    const Run& paced = paced_run.run;
    const LatencySummary& all_latency = paced_run.all;
    const LatencySummary& during_latency = paced_run.during;

    fs::remove_all(root);
    std::free(buffer);
    cpu_shares.push_back(CpuShare(1.0));

    // The report.
    const double disk = Median(disk_gbps);
    const double full_gbps = 1e-9 * static_cast<double>(full.bytes) / full.seconds;
    std::vector<double> all_full_gbps = {full_gbps};
    for (const auto& c : throughput_fulls) all_full_gbps.push_back(1e-9 * static_cast<double>(c.bytes) / c.seconds);
    const double throughput_ratio = with_rate / without_rate;
    const double incremental_ratio = static_cast<double>(incremental_bytes) / static_cast<double>(full.bytes);
    rows.push_back({"throughput with / without checkpoints",
                    fmt::format("{:.1f}% ({:.2f} / {:.2f} M rec/s)", 100 * throughput_ratio, 1e-6 * with_rate,
                                1e-6 * without_rate),
                    ">= 95%", throughput_ratio >= 0.95});
    rows.push_back({"p99.9 latency during checkpoints",
                    fmt::format("{:.3f} ms ({} records)", during_latency.p999_ms, during_latency.count), "<= 2 ms",
                    during_latency.count > 0 && during_latency.p999_ms <= 2.0});
    // The target is judged on the restored run's full checkpoint, taken while the job is idle; the
    // throughput runs' full checkpoints share the CPU with the job at full speed (in the details).
    rows.push_back({"full checkpoint / disk bandwidth",
                    fmt::format("{:.1f}% ({:.2f} / {:.2f} GB/s)", 100 * full_gbps / disk, full_gbps, disk), ">= 70%",
                    full_gbps >= 0.7 * disk});
    rows.push_back({"incremental (1% keys) / full bytes",
                    fmt::format("{:.2f}% ({} / {} bytes)", 100 * incremental_ratio, incremental_bytes, full.bytes),
                    "<= 5%", incremental_ratio <= 0.05});
    rows.push_back({"restore (Execute -> first record applied)",
                    fmt::format("{:.3f} s ({} bytes)", restored.restore_seconds, restored.state_bytes), "<= 3 s",
                    restored.restore_seconds <= 3.0});

    fmt::print("\nCheckpoint targets (issue 4): {} keys, state {:.2f} GB (full checkpoint), parallelism 1\n", keys,
               1e-9 * static_cast<double>(full.bytes));
    fmt::print("  {:<44} {:<40} {:<8} {}\n", "target", "measured", "target", "result");
    for (const Row& row : rows) {
      fmt::print("  {:<44} {:<40} {:<8} {}\n", row.name, row.measured, row.target, row.pass ? "PASS" : "FAIL");
    }
    auto list = [](const std::vector<double>& values, double scale) {
      std::string text;
      for (double v : values) text += fmt::format("{}{:.2f}", text.empty() ? "" : " ", v * scale);
      return text;
    };
    fmt::print("details:\n");
    fmt::print("  rates with checkpoints (M rec/s): {}; without: {} (3 runs each, medians above)\n",
               list(with_rates, 1e-6), list(without_rates, 1e-6));
    fmt::print("  with checkpoints, from the first (full) checkpoint's completion on (M rec/s): {}; median {:.1f}% of"
               " without\n", list(after_full_rates, 1e-6), 100 * Median(after_full_rates) / without_rate);
    fmt::print("  disk O_DIRECT 1 GiB + fsync (GB/s): {}; full checkpoints (GB/s): {} (the first while the job is"
               " idle, the others during the throughput runs: median {:.1f}% of the disk)\n",
               list(disk_gbps, 1), list(all_full_gbps, 1), 100 * Median(all_full_gbps) / disk);
    fmt::print("  CPU share of one busy thread at the start and the end: {} (1.00 = an idle core)\n",
               list(cpu_shares, 1));
    fmt::print("  full checkpoint: {} bytes in {:.3f} s; incremental after {} changed keys: {} bytes in {} checkpoint(s)\n",
               full.bytes, full.seconds, changed, incremental_bytes, restored.checkpoints.size() - 1);
    std::vector<double> inc_bytes, inc_seconds;
    for (const auto& c : throughput_incrementals) {
      inc_bytes.push_back(static_cast<double>(c.bytes));
      inc_seconds.push_back(c.seconds);
    }
    fmt::print("  throughput runs: {} full checkpoints, {} incremental (median {:.1f} MB in {:.3f} s)\n",
               throughput_fulls.size(), throughput_incrementals.size(), 1e-6 * Median(inc_bytes), Median(inc_seconds));
    fmt::print("  latency at {:.2f} M rec/s ({} records, {} checkpoints): all p50 {:.3f} p99 {:.3f} p99.9 {:.3f} max {:.3f} ms;"
               " during checkpoints ({} records) p50 {:.3f} p99 {:.3f} p99.9 {:.3f} max {:.3f} ms\n",
               1e-6 * paced_rate, all_latency.count, paced.checkpoints.size(), all_latency.p50_ms, all_latency.p99_ms,
               all_latency.p999_ms, all_latency.max_ms, during_latency.count, during_latency.p50_ms,
               during_latency.p99_ms, during_latency.p999_ms, during_latency.max_ms);
    fmt::print("  restore: {:.3f} s from Execute() to the first record's Add into the window state, of which {:.3f} s"
               " reading and verifying the files\n\n", restored.restore_seconds, restored.load_seconds);
    std::fflush(stdout);

    state.counters["throughput_ratio"] = throughput_ratio;
    state.counters["p999_during_ms"] = during_latency.p999_ms;
    state.counters["full_vs_disk"] = full_gbps / disk;
    state.counters["incremental_ratio"] = incremental_ratio;
    state.counters["restore_s"] = restored.restore_seconds;
    state.counters["state_GB"] = 1e-9 * static_cast<double>(full.bytes);
    state.SetIterationTime(1e-9 * static_cast<double>(MonotonicNanos() - iteration_start));
  }
}
BENCHMARK(BM_CheckpointJob_Targets)
    ->Arg(20'000'000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

// The newest complete chk-<n> under base_dir (a base checkpoint kept by an earlier invocation),
// or a new one made there: every key inserted, then the checkpoint taken after the last insert.
std::string KeptOrNewBase(int64_t keys, const fs::path& base_dir) {
  std::string base;
  if (fs::is_directory(base_dir)) {
    for (const auto& job_dir : fs::directory_iterator(base_dir)) {
      if (!job_dir.is_directory()) continue;
      for (const auto& entry : fs::directory_iterator(job_dir.path())) {
        if (fs::exists(entry.path() / "_metadata")) base = entry.path().string();
      }
    }
  }
  if (!base.empty()) return base;
  fs::remove_all(base_dir);
  fs::create_directories(base_dir);
  g_probe.Reset();
  Run run = RunJob({keys, {{Step::kInsert, keys}, {Step::kWaitForCheckpoint}}, true, base_dir.string(), "", "5 s"});
  WEIR_CHECK_MSG(!run.last_checkpoint.empty(), "the base run completed no checkpoint");
  fmt::print(stderr, "[bench] base: {} keys inserted in {:.2f} s, checkpoint {}\n", keys, run.execute_seconds,
             run.last_checkpoint);
  return run.last_checkpoint;
}

// The restore alone, repeated: what the Targets run measures once in its step 3, for working on
// restore. WEIR_CHECKPOINT_BENCH_BASE=<dir> keeps the base checkpoint in <dir> (made there on the
// first use, reused by later invocations of the same key count), so a profile of an invocation
// covers restores only; WEIR_CHECKPOINT_BENCH_RESTORES=<n> sets the number of restores (default 3).
// The base checkpoint's files are dropped from the page cache before each restore.
void BM_CheckpointRestore_Repeated(benchmark::State& state) {
  const int64_t keys = BenchKeys(state);
  const char* restores_override = std::getenv("WEIR_CHECKPOINT_BENCH_RESTORES");
  const int restores = restores_override != nullptr ? std::atoi(restores_override) : 3;
  const fs::path root = FreshBenchRoot("weir_checkpoint_restore_bench");
  const fs::path base_dir = BaseDir(root, keys);
  for (auto _ : state) {
    const std::string base = KeptOrNewBase(keys, base_dir);
    std::vector<double> restore_seconds, load_seconds;
    int64_t state_bytes = 0;
    for (int i = 0; i < restores; ++i) {
      // Every restore reads the files from the disk, as the Targets run's does (its base checkpoint
      // was just written with O_DIRECT, so none of it is in the page cache).
      for (const auto& entry : fs::recursive_directory_iterator(base_dir)) {
        if (!entry.is_regular_file()) continue;
        const int fd = ::open(entry.path().c_str(), O_RDONLY);
        if (fd < 0) continue;
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
      }
      g_probe.Reset();
      const std::string dir = (root / fmt::format("run-{}", i)).string();
      fs::create_directories(dir);
      Run run = RunJob({keys, {{Step::kChange, 1}}, false, dir, base});
      fs::remove_all(dir);
      restore_seconds.push_back(run.restore_seconds);
      load_seconds.push_back(run.load_seconds);
      state_bytes = run.state_bytes;
      fmt::print(stderr, "[bench] restore {}: {:.3f} s, of which {:.3f} s reading and verifying the files\n", i,
                 run.restore_seconds, run.load_seconds);
    }
    fs::remove_all(root);
    std::string runs;
    for (double s : restore_seconds) runs += fmt::format("{}{:.3f}", runs.empty() ? "" : " ", s);
    fmt::print("\nRestore of {} keys ({} bytes): median {:.3f} s (runs: {}), of which reading and verifying the files "
               "{:.3f} s (median)\n\n", keys, state_bytes, Median(restore_seconds), runs, Median(load_seconds));
    std::fflush(stdout);
    state.counters["restore_s"] = Median(restore_seconds);
    state.counters["load_s"] = Median(load_seconds);
  }
}
BENCHMARK(BM_CheckpointRestore_Repeated)
    ->Arg(20'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// The throughput and latency steps of the Targets run alone, for working on what a checkpoint
// costs the job: WEIR_CHECKPOINT_BENCH_PAIRS=<n> alternating runs with and without checkpoints
// (default 3) over the restored base checkpoint, then one paced run at 50% of the lower median as
// in step 5. WEIR_CHECKPOINT_BENCH_BASE=<dir> keeps the base checkpoint between invocations (see
// BM_CheckpointRestore_Repeated), so an invocation costs about 20 s per pair.
void BM_CheckpointThroughput_Repeated(benchmark::State& state) {
  const int64_t keys = BenchKeys(state);
  const char* pairs_override = std::getenv("WEIR_CHECKPOINT_BENCH_PAIRS");
  const int pairs = pairs_override != nullptr ? std::atoi(pairs_override) : 3;
  const fs::path root = FreshBenchRoot("weir_checkpoint_throughput_bench");
  const fs::path base_dir = BaseDir(root, keys);
  int run_number = 0;
  auto fresh_dir = [&] {
    const fs::path dir = root / fmt::format("run-{}", run_number++);
    fs::create_directories(dir);
    return dir.string();
  };
  for (auto _ : state) {
    const std::string base = KeptOrNewBase(keys, base_dir);
    const int64_t records = keys;
    std::vector<std::atomic<int64_t>> milestones(static_cast<size_t>(records / Probe::kMilestone + 1));
    std::vector<double> with_rates, without_rates, ratios;
    for (int i = 0; i < pairs; ++i) {
      double pair[2] = {0, 0};
      for (const bool checkpoints : {true, false}) {
        const Run run = ThroughputRun(keys, checkpoints, fresh_dir(), base, milestones);
        pair[checkpoints ? 0 : 1] = run.rate;
        fmt::print(stderr, "[bench] pair {} {} checkpoints: {:.2f} M records/s, after the full one {:.2f} ({} checkpoints; "
                   "{:.1f} s, {:.1f} CPU s)\n", i, checkpoints ? "with" : "without", 1e-6 * run.rate,
                   1e-6 * run.rate_after_full, run.checkpoints.size(), run.execute_seconds, run.cpu_seconds);
      }
      with_rates.push_back(pair[0]);
      without_rates.push_back(pair[1]);
      ratios.push_back(pair[0] / pair[1]);
    }
    const double paced_rate = 0.5 * std::min(Median(with_rates), Median(without_rates));
    const PacedRun paced_run = RunPaced(keys, paced_rate, fresh_dir(), base);
    const Run& paced = paced_run.run;
    const std::vector<uint32_t>& latency = paced_run.latency;
    const auto paced_records = static_cast<int64_t>(latency.size());
    const int64_t paced_start = paced_run.start_nanos;
    // WEIR_CHECKPOINT_BENCH_TRACE=<file>: the worst latency of each 10 ms of due time, and the
    // checkpoints' spans, for finding where a tail comes from.
    if (const char* trace = std::getenv("WEIR_CHECKPOINT_BENCH_TRACE"); trace != nullptr) {
      std::FILE* out = std::fopen(trace, "w");
      WEIR_CHECK_MSG(out != nullptr, "cannot open WEIR_CHECKPOINT_BENCH_TRACE");
      fmt::print(out, "paced_start {:.6f} (CLOCK_MONOTONIC, s)\n", 1e-9 * static_cast<double>(paced_start));
      for (const auto& c : paced.checkpoints) {
        fmt::print(out, "checkpoint {} {:.3f} {:.3f} {}{}\n", c.id,
                   1e-9 * static_cast<double>(c.completed_nanos - paced_start) - c.seconds,
                   1e-9 * static_cast<double>(c.completed_nanos - paced_start), c.bytes, c.full ? " full" : "");
      }
      // Pauses: consecutive records (applied in order) whose Adds are more than 0.5 ms apart.
      int64_t previous_apply = 0;
      for (int64_t i = 0; i < paced_records; ++i) {
        const int64_t apply = static_cast<int64_t>(static_cast<double>(i + 1) * 1e9 / paced_rate) + latency[i];
        if (i > 0 && apply - previous_apply > 500'000) {
          fmt::print(out, "pause {:.4f} {:.3f} ms before record {}\n", 1e-9 * static_cast<double>(previous_apply),
                     1e-6 * static_cast<double>(apply - previous_apply), i);
        }
        previous_apply = apply;
      }
      const int64_t per_bucket = std::max<int64_t>(1, static_cast<int64_t>(paced_rate / 100));
      for (int64_t first = 0; first < paced_records; first += per_bucket) {
        uint32_t worst = 0;
        for (int64_t i = first; i < std::min(paced_records, first + per_bucket); ++i) worst = std::max(worst, latency[i]);
        fmt::print(out, "{:.2f} {:.3f}\n", static_cast<double>(first) / paced_rate, 1e-6 * worst);
      }
      std::fclose(out);
    }
    const LatencySummary& all_latency = paced_run.all;
    const LatencySummary& during_latency = paced_run.during;
    auto list = [](const std::vector<double>& values, double scale) {
      std::string text;
      for (double v : values) text += fmt::format("{}{:.3f}", text.empty() ? "" : " ", v * scale);
      return text;
    };
    fmt::print("\nThroughput over {} keys, {} pairs: with checkpoints {} M rec/s, without {}; ratios {} (median "
               "{:.1f}%)\n", keys, pairs, list(with_rates, 1e-6), list(without_rates, 1e-6), list(ratios, 100),
               100 * Median(ratios));
    fmt::print("Latency at {:.2f} M rec/s ({} checkpoints): all p50 {:.3f} p99 {:.3f} p99.9 {:.3f} max {:.3f} ms; during "
               "checkpoints ({} records) p50 {:.3f} p99 {:.3f} p99.9 {:.3f} max {:.3f} ms\n\n",
               1e-6 * paced_rate, paced.checkpoints.size(), all_latency.p50_ms, all_latency.p99_ms, all_latency.p999_ms,
               all_latency.max_ms, during_latency.count, during_latency.p50_ms, during_latency.p99_ms,
               during_latency.p999_ms, during_latency.max_ms);
    std::fflush(stdout);
    state.counters["throughput_ratio"] = Median(ratios);
    state.counters["p999_during_ms"] = during_latency.p999_ms;
  }
  fs::remove_all(root);
}
BENCHMARK(BM_CheckpointThroughput_Repeated)
    ->Arg(20'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace weir::api
