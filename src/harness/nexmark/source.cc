#include "harness/nexmark/source.h"

#include <atomic>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "connectors/file_lines.h"
#include "harness/nexmark/event_csv.h"
#include "operators/source_operator.h"

namespace weir::harness::nexmark {

namespace {

// Subtask i of p emits event numbers i, i + p, ... below config.max_events.
class GeneratedEventSource final : public operators::SourceOperator<Event> {
 public:
  // `pacer`: null when unpaced.
  GeneratedEventSource(GeneratorConfig config, std::shared_ptr<Pacer> pacer,
                       std::shared_ptr<std::atomic<int64_t>> events_emitted)
      : config_(config), pacer_(std::move(pacer)), events_emitted_(std::move(events_emitted)) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator::Open(context));
    next_ = context->subtask_index;
    stride_ = context->parallelism;
    generator_.emplace(config_);
    return Status::Ok();
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    if (next_ >= config_.max_events) return operators::SourceStatus::kEndOfInput;
    next_ready_nanos_ = kMaxTimestamp;  // set again below when nothing is due
    // Paced: the events due now are those with dateTime <= due_until, since
    // DueNanos(t) = origin + (t - base) * unit <= now  <=>  t <= base + floor((now - origin) /
    // unit).
    int64_t due_until = kMaxTimestamp;
    if (pacer_ != nullptr) {
      const int64_t origin = pacer_->Origin();
      const int64_t elapsed = MonotonicNanos() - origin;
      due_until = pacer_->base_event_time() + elapsed / pacer_->unit_nanos();
      if (generator_->TimestampOf(next_) > due_until) {
        next_ready_nanos_ = pacer_->DueNanos(generator_->TimestampOf(next_));
        return operators::SourceStatus::kNothingNow;
      }
    }
    operators::Output<Event>* out = output();
    int64_t emitted = 0;
    while (emitted < max_records && next_ < config_.max_events) {
      if (pacer_ != nullptr && generator_->TimestampOf(next_) > due_until) break;
      const Event& event = generator_->Generate(next_);
      out->Collect(event, event.date_time());
      ++emitted;
      next_ += stride_;
    }
    records_emitted_ += emitted;
    events_emitted_->fetch_add(emitted, std::memory_order_relaxed);
    return operators::SourceStatus::kMoreAvailable;
  }

  int64_t NextReadyNanos() const override { return next_ready_nanos_; }

 private:
  GeneratorConfig config_;
  std::shared_ptr<Pacer> pacer_;
  std::shared_ptr<std::atomic<int64_t>> events_emitted_;
  std::optional<NexmarkGenerator> generator_;
  int64_t next_ = 0;
  int64_t stride_ = 1;
  int64_t next_ready_nanos_ = kMaxTimestamp;
};

// The lines of one event file, parsed in order.
class EventFileSource final : public operators::SourceOperator<Event> {
 public:
  EventFileSource(std::string path, std::shared_ptr<std::atomic<int64_t>> events_emitted)
      : path_(std::move(path)), events_emitted_(std::move(events_emitted)) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator::Open(context));
    // One reader and no split listener: the file is one split with one watermark generator, as
    // Flink SQL's watermark assigner sees one stream.
    return lines_.Open({path_}, 0, 1, nullptr);
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    operators::Output<Event>* out = output();
    int64_t emitted = 0;
    operators::SourceStatus status = operators::SourceStatus::kMoreAvailable;
    while (emitted < max_records) {
      std::string_view line;
      ASSIGN_OR_RETURN(bool has_line, lines_.Next(&line));
      if (!has_line) {
        status = operators::SourceStatus::kEndOfInput;
        break;
      }
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      if (!parser_.Parse(line, &event_, &error_)) [[unlikely]] {
        return Malformed();
      }
      out->Collect(event_, event_.date_time());
      ++emitted;
    }
    bytes_read_ = lines_.bytes_read();
    records_emitted_ += emitted;
    events_emitted_->fetch_add(emitted, std::memory_order_relaxed);
    return status;
  }

  void Close() override { lines_.Close(); }

 private:
  Status Malformed() const {
    int64_t line_number = lines_.line_number();
    if (!lines_.exact_line_numbers()) {
      ASSIGN_OR_RETURN(line_number, lines_.ExactLineNumber());
    }
    return InvalidArgument("{}:{}:{}: {}", path_, line_number, error_.column, error_.what);
  }

  std::string path_;
  std::shared_ptr<std::atomic<int64_t>> events_emitted_;
  connectors::FileLines lines_;
  EventCsvParser parser_;
  Event event_;
  EventCsvError error_;
};

}  // namespace

api::DataStream<Event> NexmarkSource(api::StreamExecutionEnvironment& env,
                                     const GeneratorConfig& config, const RunContext& context) {
  const Status valid = config.Validate();
  WEIR_CHECK_MSG(valid.ok(), "invalid Nexmark generator config: {}", valid.ToString());
  std::shared_ptr<Pacer> pacer;
  if (context.rate > 0) {
    WEIR_CHECK_MSG(
        config.first_event_rate == context.rate,
        "a paced Nexmark source needs first-event.rate ({}) equal to the run's rate ({})",
        config.first_event_rate, context.rate);
    context.pacer->Pace(config.base_time, 1'000'000);
    pacer = context.pacer;
  }
  auto events_emitted = context.events_emitted;
  return env.FromSource<Event>(
      "Source: Nexmark",
      [config, pacer, events_emitted](int) {
        return std::make_unique<GeneratedEventSource>(config, pacer, events_emitted);
      },
      NexmarkWatermarkStrategy());
}

api::DataStream<Event> NexmarkFileSource(api::StreamExecutionEnvironment& env, std::string path,
                                         const RunContext& context) {
  auto events_emitted = context.events_emitted;
  return env.FromSource<Event>(
      "Source: Nexmark File",
      [path, events_emitted](int) {
        return std::make_unique<EventFileSource>(path, events_emitted);
      },
      NexmarkWatermarkStrategy(), 1);
}

}  // namespace weir::harness::nexmark
