// What `weir bench` gives a workload's job, and how the job's results come back.
//
// A workload (a Nexmark query, YSB, a tick query, WordCount) is an ordinary weir job written with
// the public API. The harness adds three things around it:
//   - a Pacer: with --rate, every event has an intended emit instant (its due time), fixed by the
//     schedule and not by the engine's progress; sources emit an event once it is due, and
//     latency is measured from the due time (open loop, so coordinated omission is corrected);
//   - a counter of emitted events (progress bar, throughput over time);
//   - EmitResults(): the sink every workload ends in. It counts rows, records each row's latency
//     (now - due time of the event the row was waiting for), and keeps the rows as CSV when the
//     run writes a result file.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "api/data_stream.h"
#include "base/clock.h"
#include "harness/latency_histogram.h"
#include "operators/source_operator.h"

namespace weir::harness {

// The schedule of a paced run. Event times of the workload are in units of `unit_nanos`
// nanoseconds (1'000'000 for millisecond event times, 1 for nanosecond ticks); the event with
// event time `base_event_time` is due at the run's origin, and an event with event time t at
// origin + (t - base_event_time) * unit_nanos. The origin is fixed by the first call of Origin()
// (from any thread: the first source subtask to poll).
class Pacer {
 public:
  Pacer() = default;  // unpaced: as fast as possible, no latency measurement
  Pacer(int64_t base_event_time, int64_t unit_nanos)
      : paced_(true), base_event_time_(base_event_time), unit_nanos_(unit_nanos) {}

  // Makes the run paced (before the job starts): the workload calls this when RunContext::rate
  // is set, with its own event-time base and unit.
  void Pace(int64_t base_event_time, int64_t unit_nanos) {
    paced_ = true;
    base_event_time_ = base_event_time;
    unit_nanos_ = unit_nanos;
  }

  bool paced() const { return paced_; }
  int64_t base_event_time() const { return base_event_time_; }
  int64_t unit_nanos() const { return unit_nanos_; }

  int64_t Origin() {
    int64_t origin = origin_.load(std::memory_order_acquire);
    if (origin != 0) return origin;
    int64_t expected = 0;
    const int64_t now = MonotonicNanos();
    return origin_.compare_exchange_strong(expected, now, std::memory_order_acq_rel) ? now : expected;
  }
  // The instant (MonotonicNanos) an event with event time `event_time` is due.
  int64_t DueNanos(int64_t event_time) { return Origin() + (event_time - base_event_time_) * unit_nanos_; }

 private:
  bool paced_ = false;
  int64_t base_event_time_ = 0;
  int64_t unit_nanos_ = 1;
  std::atomic<int64_t> origin_{0};
};

// Where the rows of a run go. One Part per sink subtask (no sharing on the hot path); the runner
// reads them after the job has ended.
class ResultCollector {
 public:
  struct Options {
    bool keep_rows = false;        // keep CSV lines for a result file (--output)
    bool measure_latency = false;  // record each row's latency (paced runs)
  };
  struct Part {
    int64_t rows = 0;
    LatencyHistogram latency;
    std::string csv;                             // appended rows, one CSV line each
    std::map<std::string, std::string> upserts;  // updating results: key -> its latest CSV line
  };

  ResultCollector() = default;
  explicit ResultCollector(Options options) : options_(options) {}

  const Options& options() const { return options_; }

  Part* OpenPart() {
    std::lock_guard lock(mutex_);
    return &parts_.emplace_back();
  }

  // After the job.
  int64_t rows() const {
    std::lock_guard lock(mutex_);
    int64_t total = 0;
    for (const Part& part : parts_) total += part.rows;
    return total;
  }
  LatencyHistogram MergedLatency() const {
    std::lock_guard lock(mutex_);
    LatencyHistogram merged;
    for (const Part& part : parts_) merged.Merge(part.latency);
    return merged;
  }
  // The result table as CSV lines: appended rows in arrival order (per sink subtask), then the
  // final row of every key of an updating result, in key order.
  std::string Csv() const {
    std::lock_guard lock(mutex_);
    std::string out;
    std::map<std::string, std::string> finals;
    for (const Part& part : parts_) {
      out += part.csv;
      for (const auto& [key, line] : part.upserts) finals[key] = line;
    }
    for (const auto& [key, line] : finals) {
      out += line;
      out += '\n';
    }
    return out;
  }

 private:
  Options options_;
  mutable std::mutex mutex_;
  std::deque<Part> parts_;
};

// Everything a workload's job needs from the harness. Never null.
struct RunContext {
  std::shared_ptr<Pacer> pacer = std::make_shared<Pacer>();
  std::shared_ptr<ResultCollector> results = std::make_shared<ResultCollector>();
  std::shared_ptr<std::atomic<int64_t>> events_emitted = std::make_shared<std::atomic<int64_t>>(0);
  double rate = 0;    // events per second of the whole run (--rate); 0 = as fast as possible
  uint64_t seed = 0;  // --seed
};

// How a workload describes its result rows to EmitResults:
//   struct MyRowTraits {
//     static constexpr bool kUpdating = false;            // true: a later row with the same Key()
//                                                         // replaces the earlier one
//     void Csv(std::string& out, const Row& row) const;   // appends one CSV line, without '\n'
//     int64_t DueEventTime(const Row& row) const;         // event time whose due instant the row
//                                                         // waited for (the latency anchor)
//     void Key(std::string& out, const Row& row) const;   // only when kUpdating
//   };
template <typename Traits, typename Row>
concept ResultRowTraits = requires(const Traits& traits, const Row& row, std::string& out) {
  { Traits::kUpdating } -> std::convertible_to<bool>;
  traits.Csv(out, row);
  { traits.DueEventTime(row) } -> std::convertible_to<int64_t>;
};

template <typename Row, typename Traits>
class ResultSink final : public operators::SinkOperator<Row> {
 public:
  ResultSink(Traits traits, std::shared_ptr<Pacer> pacer, std::shared_ptr<ResultCollector> results)
      : traits_(std::move(traits)), pacer_(std::move(pacer)), results_(std::move(results)) {}

  Status Open(operators::OperatorContext* context) override {
    part_ = results_->OpenPart();
    measure_ = results_->options().measure_latency && pacer_->paced();
    keep_ = results_->options().keep_rows;
    return Status::Ok();
  }

  void Collect(const Row& row, Timestamp) override {
    ++part_->rows;
    if (measure_) part_->latency.Record(MonotonicNanos() - pacer_->DueNanos(traits_.DueEventTime(row)));
    if (keep_) {
      if constexpr (Traits::kUpdating) {
        key_.clear();
        traits_.Key(key_, row);
        std::string& line = part_->upserts[key_];
        line.clear();
        traits_.Csv(line, row);
      } else {
        traits_.Csv(part_->csv, row);
        part_->csv += '\n';
      }
    }
  }

 private:
  Traits traits_;
  std::shared_ptr<Pacer> pacer_;
  std::shared_ptr<ResultCollector> results_;
  ResultCollector::Part* part_ = nullptr;
  bool measure_ = false;
  bool keep_ = false;
  std::string key_;
};

// Ends a workload's job: its rows go into `context.results`. When the run keeps rows for a result
// file the sink runs with parallelism 1 (one ordered table); otherwise it runs beside its input.
template <typename Row, typename Traits>
  requires ResultRowTraits<Traits, Row>
api::DataStreamSink EmitResults(api::DataStream<Row> rows, Traits traits, const RunContext& context,
                                std::string name = "Sink: Results") {
  auto pacer = context.pacer;
  auto results = context.results;
  api::DataStreamSink sink = rows.SinkTo(std::move(name), [traits, pacer, results](int) {
    return std::make_unique<ResultSink<Row, Traits>>(traits, pacer, results);
  });
  if (results->options().keep_rows) sink.SetParallelism(1);
  return sink;
}

}  // namespace weir::harness
