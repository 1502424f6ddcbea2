// Running a WatermarkStrategy (see watermark_strategy.h) in a job, in the two places Flink runs
// one:
//
// * TimestampsAndWatermarksOperator (Flink's operator of that name, what
//   DataStream::AssignTimestampsAndWatermarks adds): for each record, assigns its timestamp,
//   forwards it with that timestamp, then shows it to the generator (so a punctuated watermark
//   follows the record that caused it). Asks the generator for its periodic watermark every
//   pipeline.auto-watermark-interval (through the task's processing-time hook; an interval of 0
//   disables periodic calls, leaving only punctuated watermarks) and also whenever its task runs
//   out of input (Flush), so the watermark of a burst is not held until the next period.
//   Watermarks and watermark status from upstream are dropped, except the final kMaxTimestamp
//   (end of input), which passes: the operator is the stream's new source of event time.
//
// * SourceWithWatermarks (Flink's ProgressiveTimestampsAndWatermarks in its SourceOperator): a
//   source given a strategy runs one generator per split it reads (file splits; a source that
//   reports no splits is one split). Its watermark is the minimum over its active splits, idle
//   splits excluded; when every active split is idle the source is marked idle. A split is active
//   from its first record (SplitStarted) until it finishes, when its generator is asked for a last
//   periodic watermark and the split stops holding the source back (Flink creates a split's
//   output when reading it starts and releases it when the split ends; a file reader reads its
//   splits one after another, so at most one is active). Generators are asked periodically and at
//   the end of each Poll batch; the source's watermark never goes back. Idleness is measured on a
//   clock that stands still while the source is blocked by backpressure (its last poll had more
//   data), so backpressure is not idleness. End of input still sends kMaxTimestamp.
//
// A batch of records (CollectBatch) keeps its batch when the generator is periodic only (see
// EmitsOnEvent): the timestamps of up to 64 records are assigned, the records go downstream
// together, then the generator sees them. A punctuated generator sees each record right after it
// is forwarded, as above.
//
// The emitted watermark is monotonic: a generator's watermark not above the last one emitted is
// dropped (Flink's WatermarkEmitter). Emitting a watermark marks an idle output active again.
//
// Threads: everything here runs on its task's thread.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/config.h"
#include "operators/source_operator.h"
#include "operators/stream_operator.h"
#include "operators/watermark_strategy.h"

namespace weir::operators {

// A WatermarkOutput into an operator's output events (Flink's WatermarkEmitter): monotonic
// watermarks, idle/active status changes sent once each.
class WatermarkEmitter final : public WatermarkOutput {
 public:
  void set_output(OutputBase* output) { output_ = output; }

  void EmitWatermark(Timestamp watermark) override {
    if (watermark <= current_) return;
    current_ = watermark;
    MarkActive();
    output_->EmitWatermark(watermark);
  }
  void MarkIdle() override {
    if (idle_) return;
    idle_ = true;
    output_->EmitWatermarkStatus(true);
  }
  void MarkActive() override {
    if (!idle_) return;
    idle_ = false;
    output_->EmitWatermarkStatus(false);
  }

  Timestamp current_watermark() const { return current_; }
  bool idle() const { return idle_; }

 private:
  OutputBase* output_ = nullptr;
  Timestamp current_ = kMinTimestamp;
  bool idle_ = false;
};

// pipeline.auto-watermark-interval of `context` in milliseconds (its default without a config).
inline int64_t AutoWatermarkIntervalMillis(const OperatorContext& context) {
  return context.config != nullptr ? context.config->GetDurationMillis(options::kAutoWatermarkInterval)
                                   : Configuration().GetDurationMillis(options::kAutoWatermarkInterval);
}

// Assigns the timestamps of a batch, in parts of up to 64 records, and calls
// `emit(records, assigned timestamps)` for each part.
template <typename Strategy, typename T, typename Emit>
void ForEachAssignedBatch(const Strategy& strategy, std::span<const T> values,
                          std::span<const Timestamp> timestamps, Emit&& emit) {
  constexpr size_t kPart = 64;
  Timestamp assigned[kPart];
  for (size_t begin = 0; begin < values.size(); begin += kPart) {
    const size_t n = std::min(kPart, values.size() - begin);
    for (size_t i = 0; i < n; ++i) {
      assigned[i] = strategy.ExtractTimestamp(values[begin + i], timestamps[begin + i]);
    }
    emit(values.subspan(begin, n), std::span<const Timestamp>(assigned, n));
  }
}

template <typename T, typename Strategy>
class TimestampsAndWatermarksOperator final : public OneInputOperator<T, T> {
 public:
  using Generator = typename Strategy::Generator;

  // `clock`: the input-activity clock of idleness (nullptr: the system clock); not owned.
  explicit TimestampsAndWatermarksOperator(Strategy strategy, const RelativeClock* clock = nullptr)
      : strategy_(std::move(strategy)),
        clock_(clock != nullptr ? clock : &SystemRelativeClock::Get()) {}
  TimestampsAndWatermarksOperator(const TimestampsAndWatermarksOperator&) = delete;
  TimestampsAndWatermarksOperator& operator=(const TimestampsAndWatermarksOperator&) = delete;

  void SetOutput(OutputBase* output) override {
    OneInputOperator<T, T>::SetOutput(output);
    emitter_.set_output(output);
  }
  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(OneInputOperator<T, T>::Open(context));
    generator_.emplace(strategy_.CreateWatermarkGenerator(WatermarkGeneratorContext{clock_}));
    interval_ = AutoWatermarkIntervalMillis(*context);
    next_emit_ = interval_ > 0 ? WallMillis() + interval_ : kMaxTimestamp;
    return Status::Ok();
  }

  void Collect(const T& value, Timestamp timestamp) override {
    const Timestamp assigned = strategy_.ExtractTimestamp(value, timestamp);
    this->output()->Collect(value, assigned);
    generator_->OnEvent(value, assigned, emitter_);
  }
  void CollectBatch(std::span<const T> values, std::span<const Timestamp> timestamps) override {
    if constexpr (EmitsOnEvent<Generator>()) {
      OneInputOperator<T, T>::CollectBatch(values, timestamps);
    } else {
      ForEachAssignedBatch(strategy_, values, timestamps,
                           [&](std::span<const T> part, std::span<const Timestamp> assigned) {
                             this->output()->CollectBatch(part, assigned);
                             for (size_t i = 0; i < part.size(); ++i) {
                               generator_->OnEvent(part[i], assigned[i], emitter_);
                             }
                           });
    }
  }
  void EmitWatermark(Timestamp watermark) override {
    if (watermark == kMaxTimestamp) emitter_.EmitWatermark(kMaxTimestamp);
  }
  void EmitWatermarkStatus(bool idle) override {}

  Timestamp NextProcessingTime() const override { return next_emit_; }
  void OnProcessingTime(Timestamp now) override {
    if (now < next_emit_) return;
    generator_->OnPeriodicEmit(emitter_);
    next_emit_ = now + interval_;
  }
  void Flush() override {
    if (interval_ > 0 && generator_) generator_->OnPeriodicEmit(emitter_);
  }

  const WatermarkEmitter& emitter() const { return emitter_; }

 private:
  Strategy strategy_;
  const RelativeClock* clock_;
  std::optional<Generator> generator_;
  WatermarkEmitter emitter_;
  int64_t interval_ = 0;
  Timestamp next_emit_ = kMaxTimestamp;
};

// Combines the watermark outputs of several splits into one (Flink's WatermarkOutputMultiplexer
// with CombinedWatermarkStatus): the combined watermark is the minimum over the registered
// outputs that are not idle, emitted into `underlying` when it rises; when every registered
// output is idle, `underlying` is marked idle. With no output registered nothing changes. A split
// output's watermark only rises; emitting into it marks it active.
//
// Updates are immediate (a split's emission recomputes the combined watermark at once, for
// punctuated generators), or deferred between BeginDeferred() and EndDeferred(), which recomputes
// once (for a periodic pass over all splits).
class WatermarkOutputMultiplexer {
 public:
  // `underlying` must outlive the multiplexer.
  explicit WatermarkOutputMultiplexer(WatermarkOutput* underlying) : underlying_(underlying) {}
  WatermarkOutputMultiplexer(const WatermarkOutputMultiplexer&) = delete;
  WatermarkOutputMultiplexer& operator=(const WatermarkOutputMultiplexer&) = delete;

  // The output of a new split `id` (active, at kMinTimestamp), valid until Unregister(id).
  // REQUIRES: `id` is not registered.
  WatermarkOutput* Register(int64_t id) {
    WEIR_CHECK_MSG(Find(id) == nullptr, "split {} registered twice", id);
    outputs_.push_back(std::make_unique<SplitOutput>(this, id));
    return outputs_.back().get();
  }
  // The split no longer holds the combined watermark back. REQUIRES: `id` is registered.
  void Unregister(int64_t id) {
    auto it = std::find_if(outputs_.begin(), outputs_.end(),
                           [id](const auto& output) { return output->id == id; });
    WEIR_CHECK_MSG(it != outputs_.end(), "split {} is not registered", id);
    outputs_.erase(it);
    Update();
  }

  void BeginDeferred() { deferred_ = true; }
  void EndDeferred() {
    deferred_ = false;
    Update();
  }

  size_t size() const { return outputs_.size(); }
  Timestamp combined_watermark() const { return combined_; }

 private:
  struct SplitOutput final : WatermarkOutput {
    SplitOutput(WatermarkOutputMultiplexer* owner, int64_t id) : owner(owner), id(id) {}
    void EmitWatermark(Timestamp timestamp) override {
      const bool changed = timestamp > watermark || idle;
      idle = false;
      watermark = std::max(watermark, timestamp);
      if (changed) owner->Changed();
    }
    void MarkIdle() override {
      if (idle) return;
      idle = true;
      owner->Changed();
    }
    void MarkActive() override {
      if (!idle) return;
      idle = false;
      owner->Changed();
    }
    WatermarkOutputMultiplexer* owner;
    int64_t id;
    Timestamp watermark = kMinTimestamp;
    bool idle = false;
  };

  SplitOutput* Find(int64_t id) const {
    for (const auto& output : outputs_) {
      if (output->id == id) return output.get();
    }
    return nullptr;
  }
  void Changed() {
    if (!deferred_) Update();
  }
  void Update() {
    if (outputs_.empty()) return;
    Timestamp minimum = kMaxTimestamp;
    bool all_idle = true;
    for (const auto& output : outputs_) {
      if (output->idle) continue;
      all_idle = false;
      minimum = std::min(minimum, output->watermark);
    }
    if (all_idle) {
      underlying_->MarkIdle();
    } else if (minimum > combined_) {
      combined_ = minimum;
      underlying_->EmitWatermark(minimum);
    }
  }

  WatermarkOutput* underlying_;
  std::vector<std::unique_ptr<SplitOutput>> outputs_;
  Timestamp combined_ = kMinTimestamp;
  bool deferred_ = false;
};

// A source with per-split watermark generation around the source `inner` (see the file comment).
// Owns `inner`; forwards its lifecycle, its processing-time hook and its counters.
template <typename T, typename Strategy>
class SourceWithWatermarks final : public SourceOperator<T>, private SourceSplitListener {
 public:
  using Generator = typename Strategy::Generator;
  // The split of a source that reports none.
  static constexpr int64_t kWholeSource = -1;

  // `base_clock`: the clock idleness is measured on while the source is not blocked (nullptr:
  // the system clock); not owned.
  SourceWithWatermarks(std::unique_ptr<SourceOperator<T>> inner, Strategy strategy,
                       const RelativeClock* base_clock = nullptr)
      : inner_(std::move(inner)),
        strategy_(std::move(strategy)),
        clock_(base_clock != nullptr ? base_clock : &SystemRelativeClock::Get()),
        records_(this) {
    inner_->set_split_listener(this);
  }
  SourceWithWatermarks(const SourceWithWatermarks&) = delete;
  SourceWithWatermarks& operator=(const SourceWithWatermarks&) = delete;

  void SetOutput(OutputBase* output) override {
    SourceOperator<T>::SetOutput(output);
    emitter_.set_output(output);
    inner_->SetOutput(&records_);
  }
  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator<T>::Open(context));
    interval_ = AutoWatermarkIntervalMillis(*context);
    next_emit_ = interval_ > 0 ? WallMillis() + interval_ : kMaxTimestamp;
    return inner_->Open(context);
  }
  void Close() override { inner_->Close(); }
  void Flush() override { inner_->Flush(); }
  int64_t NextReadyNanos() const override { return inner_->NextReadyNanos(); }
  Status Finalize(bool success) override { return inner_->Finalize(success); }
  // Checkpoints are the wrapped source's: its read position. The watermark generators are not
  // checkpointed (Flink does not either): they start again from the restored position.
  Status SnapshotState(state::SnapshotWriter& writer) override { return inner_->SnapshotState(writer); }
  Status RestoreState(state::RestoreReader& reader) override { return inner_->RestoreState(reader); }
  void NotifyCheckpointComplete(int64_t id) override { inner_->NotifyCheckpointComplete(id); }
  void NotifyCheckpointAborted(int64_t id) override { inner_->NotifyCheckpointAborted(id); }

  Result<SourceStatus> Poll(int max_records) override {
    Result<SourceStatus> polled = inner_->Poll(max_records);
    this->records_emitted_ = inner_->records_emitted();
    this->records_skipped_ = inner_->records_skipped();
    this->bytes_read_ = inner_->bytes_read();
    if (!polled.ok()) return polled;
    // Nothing to read: idleness may be counting. More to read: if the task does not poll again
    // soon, it is blocked by backpressure, which must not count as idleness.
    if (*polled == SourceStatus::kNothingNow) {
      clock_.Unpause();
    } else {
      clock_.Pause();
    }
    if (interval_ > 0) EmitPeriodic();
    return polled;
  }

  Timestamp NextProcessingTime() const override {
    return std::min(next_emit_, inner_->NextProcessingTime());
  }
  void OnProcessingTime(Timestamp now) override {
    if (inner_->NextProcessingTime() <= now) inner_->OnProcessingTime(now);
    if (now >= next_emit_) {
      EmitPeriodic();
      next_emit_ = now + interval_;
    }
  }

  const WatermarkEmitter& emitter() const { return emitter_; }
  // Splits currently holding the watermark (started, not finished).
  size_t active_splits() const { return splits_.size(); }

 private:
  struct Split {
    int64_t id;
    Generator generator;
    WatermarkOutput* output;
  };

  // Between the inner source and the chain: assigns timestamps and feeds the current split's
  // generator.
  class RecordOutput final : public Output<T> {
   public:
    explicit RecordOutput(SourceWithWatermarks* owner) : owner_(owner) {}
    void Collect(const T& value, Timestamp timestamp) override { owner_->OnRecord(value, timestamp); }
    void CollectBatch(std::span<const T> values, std::span<const Timestamp> timestamps) override {
      owner_->OnRecords(values, timestamps);
    }
    void EmitWatermark(Timestamp watermark) override {
      if (watermark == kMaxTimestamp) owner_->emitter_.EmitWatermark(kMaxTimestamp);
    }
    void EmitWatermarkStatus(bool idle) override {}
    void EndInput() override { owner_->downstream_->EndInput(); }

   private:
    SourceWithWatermarks* owner_;
  };

  void OnRecord(const T& value, Timestamp timestamp) {
    if (current_ == nullptr) [[unlikely]] SplitStarted(kWholeSource);
    const Timestamp assigned = strategy_.ExtractTimestamp(value, timestamp);
    this->output()->Collect(value, assigned);
    current_->generator.OnEvent(value, assigned, *current_->output);
  }

  void OnRecords(std::span<const T> values, std::span<const Timestamp> timestamps) {
    if constexpr (EmitsOnEvent<Generator>()) {
      for (size_t i = 0; i < values.size(); ++i) OnRecord(values[i], timestamps[i]);
    } else {
      if (values.empty()) return;
      if (current_ == nullptr) [[unlikely]] SplitStarted(kWholeSource);
      ForEachAssignedBatch(strategy_, values, timestamps,
                           [&](std::span<const T> part, std::span<const Timestamp> assigned) {
                             this->output()->CollectBatch(part, assigned);
                             for (size_t i = 0; i < part.size(); ++i) {
                               current_->generator.OnEvent(part[i], assigned[i], *current_->output);
                             }
                           });
    }
  }

  void SplitStarted(int64_t id) override {
    for (const auto& split : splits_) {
      if (split->id == id) {
        current_ = split.get();
        return;
      }
    }
    WatermarkOutput* output = multiplexer_.Register(id);
    splits_.push_back(std::make_unique<Split>(
        Split{id, strategy_.CreateWatermarkGenerator(WatermarkGeneratorContext{&clock_}), output}));
    current_ = splits_.back().get();
  }
  void SplitFinished(int64_t id) override {
    auto it = std::find_if(splits_.begin(), splits_.end(),
                           [id](const auto& split) { return split->id == id; });
    if (it == splits_.end()) return;
    if (interval_ > 0) (*it)->generator.OnPeriodicEmit(*(*it)->output);
    if (current_ == it->get()) current_ = nullptr;
    splits_.erase(it);
    multiplexer_.Unregister(id);
  }

  void EmitPeriodic() {
    multiplexer_.BeginDeferred();
    for (const auto& split : splits_) split->generator.OnPeriodicEmit(*split->output);
    multiplexer_.EndDeferred();
  }

  std::unique_ptr<SourceOperator<T>> inner_;
  Strategy strategy_;
  PausableRelativeClock clock_;
  RecordOutput records_;
  WatermarkEmitter emitter_;
  WatermarkOutputMultiplexer multiplexer_{&emitter_};
  std::vector<std::unique_ptr<Split>> splits_;
  Split* current_ = nullptr;
  int64_t interval_ = 0;
  Timestamp next_emit_ = kMaxTimestamp;
};

}  // namespace weir::operators
