#include "harness/runner.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/clock.h"

namespace weir::harness {
namespace {

// Reads the emitted-events counter every interval while the job runs: throughput samples, the
// progress bar, and the stop request. Runs on its own thread between Start() and Finish().
class Sampler {
 public:
  Sampler(const std::string& name, const RunContext& context, const RunOptions& options,
          api::StreamExecutionEnvironment& env)
      : name_(name),
        events_(context.events_emitted),
        options_(options),
        env_(env),
        draw_(options.progress && ::isatty(STDERR_FILENO) == 1) {}

  void Start() {
    start_nanos_ = MonotonicNanos();
    thread_ = std::thread([this] { Loop(); });
  }

  // Stops the thread; returns the samples.
  std::vector<ThroughputSample> Finish() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (drawn_) std::fputs("\r\033[K", stderr);
    return std::move(samples_);
  }

 private:
  void Loop() {
    int64_t last_nanos = start_nanos_;
    int64_t last_events = events_->load(std::memory_order_relaxed);
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, options_.sample_interval, [this] { return done_; })) {
      if (options_.stop != nullptr && options_.stop->load(std::memory_order_relaxed)) env_.RequestStop();
      const int64_t now = MonotonicNanos();
      const int64_t events = events_->load(std::memory_order_relaxed);
      const double interval = static_cast<double>(now - last_nanos) * 1e-9;
      const double rate = interval > 0 ? static_cast<double>(events - last_events) / interval : 0;
      samples_.push_back({static_cast<double>(now - start_nanos_) * 1e-9, rate});
      last_nanos = now;
      last_events = events;
      if (draw_) Draw(events, rate, static_cast<double>(now - start_nanos_) * 1e-9);
    }
  }

  void Draw(int64_t events, double rate, double seconds) {
    constexpr int kWidth = 30;
    char bar[kWidth + 1];
    double fraction = 0;
    if (options_.expected_events > 0) {
      fraction = std::clamp(static_cast<double>(events) / static_cast<double>(options_.expected_events), 0.0, 1.0);
    }
    const int filled = static_cast<int>(fraction * kWidth);
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '-';
    bar[kWidth] = '\0';
    if (options_.expected_events > 0) {
      std::fprintf(stderr, "\r\033[K%-10s [%s] %5.1f%%  %lld events  %.2f M events/s  %.1f s", name_.c_str(), bar,
                   fraction * 100, static_cast<long long>(events), rate / 1e6, seconds);
    } else {
      std::fprintf(stderr, "\r\033[K%-10s %lld events  %.2f M events/s  %.1f s", name_.c_str(),
                   static_cast<long long>(events), rate / 1e6, seconds);
    }
    std::fflush(stderr);
    drawn_ = true;
  }

  const std::string& name_;
  std::shared_ptr<std::atomic<int64_t>> events_;
  const RunOptions& options_;
  api::StreamExecutionEnvironment& env_;
  const bool draw_;
  bool drawn_ = false;
  int64_t start_nanos_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::vector<ThroughputSample> samples_;
};

}  // namespace

Result<QueryRun> RunQuery(std::string name, const JobBuilder& build, const RunOptions& options) {
  RunContext context;
  context.rate = options.rate;
  context.seed = options.seed;
  context.results = std::make_shared<ResultCollector>(
      ResultCollector::Options{.keep_rows = options.keep_rows, .measure_latency = options.rate > 0});

  api::StreamExecutionEnvironment env(options.config);
  if (options.parallelism > 0) env.SetParallelism(options.parallelism);
  if (options.latency_mode) env.SetBufferTimeout(0);
  if (Status status = build(env, context); !status.ok()) return status.WithContext(name);
  if (options.rate > 0 && !context.pacer->paced()) {
    return FailedPrecondition("{}: the workload does not pace itself, so --rate cannot be honoured", name);
  }

  QueryRun run;
  run.name = name;
  run.parallelism = env.GetParallelism();
  run.rate = options.rate;
  if (options.stop != nullptr && options.stop->load(std::memory_order_relaxed)) env.RequestStop();
  Sampler sampler(name, context, options, env);
  sampler.Start();
  Result<api::JobResult> result = env.Execute(name);
  run.throughput = sampler.Finish();
  if (!result.ok()) return result.status().WithContext(name);

  run.events = context.events_emitted->load(std::memory_order_relaxed);
  run.rows = context.results->rows();
  run.seconds = result->seconds;
  run.cpu_seconds = result->cpu_seconds;
  run.stopped = result->stopped;
  run.latency = context.results->MergedLatency();
  if (options.keep_rows) run.csv = context.results->Csv();
  return run;
}

}  // namespace weir::harness
