// ProcessFunction (Flink's ProcessFunction on a non-keyed stream): the lowest-level user function,
// seeing each record with its timestamp and the current watermark and processing time. Keyed
// process functions with timers come with the window and timer layer.
//
// A function object is copied once per subtask (so it may keep per-subtask fields); Open() runs
// before the first record, Close() after the last.
#pragma once

#include <memory>
#include <utility>

#include "operators/stream_operator.h"

namespace weir::operators {

template <typename In, typename Out>
class ProcessFunction {
 public:
  class Context {
   public:
    // The event timestamp of the current record (kMinTimestamp when it has none).
    Timestamp timestamp() const { return timestamp_; }
    Timestamp CurrentWatermark() const { return watermark_; }
    Timestamp CurrentProcessingTime() const { return WallMillis(); }
    int subtask_index() const { return subtask_index_; }
    // Emits `value` into the side output `tag` with the current record's timestamp.
    template <typename U>
    void Output(const OutputTag<U>& tag, const U& value) {
      side_outputs_->Emit(tag, value, timestamp_);
    }

   private:
    template <typename, typename, typename>
    friend class ProcessOperator;
    Timestamp timestamp_ = kMinTimestamp;
    Timestamp watermark_ = kMinTimestamp;
    int subtask_index_ = 0;
    const SideOutputs* side_outputs_ = nullptr;
  };

  virtual ~ProcessFunction() = default;
  virtual Status Open(const OperatorContext& context) { return Status::Ok(); }
  virtual void ProcessElement(const In& value, Context& context, Collector<Out>& out) = 0;
  virtual void Close() {}
};

// Runs a ProcessFunction subclass `Function` (held by value: its ProcessElement call is direct).
template <typename In, typename Out, typename Function>
class ProcessOperator final : public OneInputOperator<In, Out> {
 public:
  explicit ProcessOperator(Function function) : function_(std::move(function)) {
    process_context_.side_outputs_ = &side_outputs_;
  }
  ProcessOperator(const ProcessOperator&) = delete;
  ProcessOperator& operator=(const ProcessOperator&) = delete;
  void SetSideOutput(const std::string& tag, OutputBase* output) override {
    side_outputs_.Set(tag, output);
  }

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(OneInputOperator<In, Out>::Open(context));
    process_context_.subtask_index_ = context->subtask_index;
    return function_.Open(*context);
  }
  void Close() override { function_.Close(); }
  void SetOutput(OutputBase* output) override {
    OneInputOperator<In, Out>::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }
  void Collect(const In& value, Timestamp timestamp) override {
    process_context_.timestamp_ = timestamp;
    collector_.set_timestamp(timestamp);
    function_.ProcessElement(value, process_context_, collector_);
  }
  void EmitWatermark(Timestamp watermark) override {
    process_context_.watermark_ = watermark;
    this->output()->EmitWatermark(watermark);
  }

 private:
  Function function_;
  SideOutputs side_outputs_;
  typename ProcessFunction<In, Out>::Context process_context_;
  Collector<Out> collector_{nullptr};
};

}  // namespace weir::operators
