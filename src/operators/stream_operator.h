// StreamOperator: one operator instance of one parallel subtask (Flink's StreamOperator).
//
// Lifecycle, all on the task's worker thread: Open(context) once, then records, watermarks and at
// most one EndInput through its Output<In> side, then Close() once -- also after a failure. An
// operator never throws on purpose and never blocks; a failure the world caused (an exhausted
// memory budget, a bad record) is reported with context.Fail(status), which fails the task after
// the current batch. A user function that throws fails the task too (the task catches it).
//
// Wiring: the runtime creates one instance per subtask from an OperatorFactory, then connects it
// with SetOutput() to the next operator of its chain or to the record writers of its exchanges.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/check.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/status.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "operators/output.h"
#include "state/snapshot.h"

namespace weir::operators {

// What an operator instance knows about where it runs.
class OperatorContext {
 public:
  std::string task_name;        // "Map (2/4)"
  int subtask_index = 0;        // 0-based
  int parallelism = 1;
  int max_parallelism = 128;    // number of key groups
  const Configuration* config = nullptr;
  memory::SegmentPool* state_pool = nullptr;      // segments for keyed state and sorting
  memory::MemoryBudget* managed_memory = nullptr; // accounts for them

  // Records the first failure; the task fails after the current batch.
  void Fail(Status status) {
    if (status_.ok() && !status.ok()) status_ = status.WithContext(task_name);
  }
  bool failed() const { return !status_.ok(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

class StreamOperator {
 public:
  virtual ~StreamOperator() = default;

  virtual Status Open(OperatorContext* context) {
    context_ = context;
    return Status::Ok();
  }
  virtual void Close() {}
  // The task has no input right now: a buffering operator (a sink) pushes out what it holds, so
  // a quiet stream's results do not wait for more input. Also called before EndInput completes.
  virtual void Flush() {}
  // Called once after the whole job ended: `success` tells whether it finished (a sink commits
  // what it wrote) or failed or was cancelled (a sink discards uncommitted output).
  virtual Status Finalize(bool success) { return Status::Ok(); }

  // This operator's input side as an Output<In> for its predecessor; nullptr for sources.
  virtual OutputBase* input() = 0;
  // Connects this operator's output. REQUIRES: `output` is an Output<Out> of this operator's Out.
  virtual void SetOutput(OutputBase* output) = 0;
  // Connects the side output named `tag` (an OutputTag id) to its consumers: an Output<U> of the
  // tag's type U. Called before Open, only for tags some stream consumes; an operator emits
  // nothing into a tag nobody consumes. Watermarks, watermark status and end of input reach side
  // outputs through the main output (the runtime forwards them), so an operator only emits
  // records into a side output. The default rejects tags: only operators with side outputs
  // override it.
  virtual void SetSideOutput(const std::string& tag, OutputBase* output) {
    WEIR_CHECK_MSG(false, "operator has no side output '{}'", tag);
  }

  // Processing time. An operator with processing-time timers (processing-time windows, periodic
  // watermarks) returns the earliest wall-clock time in milliseconds at which it wants
  // OnProcessingTime; kMaxTimestamp means none. Its task checks this between batches, calls
  // OnProcessingTime(now) once now >= it (on the task's thread, so the operator needs no locks),
  // and never lets its worker park past it. Queried often: keep it a field read.
  virtual Timestamp NextProcessingTime() const { return kMaxTimestamp; }
  virtual void OnProcessingTime(Timestamp now) {}

  // Checkpoints (Flink's CheckpointedFunction / CheckpointListener), all on the task's thread.
  //
  // SnapshotState: the synchronous part of checkpoint `writer.checkpoint_id()`, called when the
  // barrier reaches this operator (after every record before the barrier, before any after it).
  // Pin tables, copy small state; never copy a table. A sink closes what it has written so far
  // into pending (hidden) files here. A non-OK status declines the checkpoint (the job goes on).
  virtual Status SnapshotState(state::SnapshotWriter& writer) { return Status::Ok(); }
  // RestoreState: the job starts from a checkpoint; called after Open, before the first record.
  // The operator refills the tables it created in Open and rebuilds what derives from them.
  virtual Status RestoreState(state::RestoreReader& reader) { return Status::Ok(); }
  // Checkpoint `checkpoint_id` is complete (its _metadata is durable): a sink commits the files
  // pending up to it. Called for completed checkpoints in increasing order, possibly skipping ids
  // (a later completion covers earlier ones).
  virtual void NotifyCheckpointComplete(int64_t checkpoint_id) {}
  // Checkpoint `checkpoint_id` failed or timed out: its pending work will be covered by a later
  // one (a sink keeps its pending files).
  virtual void NotifyCheckpointAborted(int64_t checkpoint_id) {}

 protected:
  OperatorContext* context() const { return context_; }

 private:
  OperatorContext* context_ = nullptr;
};

// Base of operators with one typed input and one typed output.
template <typename In, typename Out>
class OneInputOperator : public StreamOperator, public Output<In> {
 public:
  OutputBase* input() override { return this; }
  void SetOutput(OutputBase* output) override {
    output_ = dynamic_cast<Output<Out>*>(output);
    WEIR_CHECK_MSG(output_ != nullptr, "operator output type mismatch: expected Output<{}>",
                   typeid(Out).name());
  }
  void EmitWatermark(Timestamp watermark) override { output_->EmitWatermark(watermark); }
  void EmitWatermarkStatus(bool idle) override { output_->EmitWatermarkStatus(idle); }
  void EndInput() override { output_->EndInput(); }

 protected:
  Output<Out>* output() const { return output_; }

 private:
  Output<Out>* output_ = nullptr;
};

// Creates the operator instance of one subtask.
class OperatorFactory {
 public:
  virtual ~OperatorFactory() = default;
  virtual std::unique_ptr<StreamOperator> Create(int subtask_index) const = 0;
};

// An OperatorFactory from a callable `int subtask -> std::unique_ptr<StreamOperator>`.
template <typename Make>
class LambdaOperatorFactory final : public OperatorFactory {
 public:
  explicit LambdaOperatorFactory(Make make) : make_(std::move(make)) {}
  std::unique_ptr<StreamOperator> Create(int subtask_index) const override {
    return make_(subtask_index);
  }

 private:
  Make make_;
};

template <typename Make>
std::unique_ptr<OperatorFactory> MakeOperatorFactory(Make make) {
  return std::make_unique<LambdaOperatorFactory<Make>>(std::move(make));
}

}  // namespace weir::operators
