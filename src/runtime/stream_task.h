// StreamTask: one parallel subtask of one operator chain, run cooperatively by a worker.
//
// Each RunOnce() does a bounded amount of work and returns: it first pushes output that waits for
// credit (and takes no input while any does -- that is how backpressure reaches the sources), then
// polls its source or takes one message from one input channel (round-robin), then flushes
// output buffers older than the buffer timeout.
//
// Watermarks: a task's watermark is the minimum over its input channels that have not ended and
// are not idle (Flink's StatusWatermarkValve); it is forwarded into the chain when it advances. A
// channel that becomes active again counts once its watermark has caught up; when every remaining
// channel is idle the task passes the maximum of their watermarks, then idleness, downstream.
//
// Processing time: between batches the task asks its operators for their earliest
// processing-time timer and calls OnProcessingTime on those that are due; the worker never parks
// past the earliest one (NextWakeupMillis). End of input:
// when every input channel ended (or the source is exhausted or asked to stop), the task sends the
// maximum watermark and EndInput down its chain, which flushes the writers and puts end-of-input
// into every output channel; the task finishes once all of that has been delivered.
//
// A user function that throws, or an operator that reports a failure, fails the task with a
// message naming it; the executor then cancels the job.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "operators/source_operator.h"
#include "operators/stream_operator.h"
#include "runtime/job_graph.h"
#include "sched/task.h"
#include "state/snapshot.h"

namespace weir::runtime {

class CheckpointCoordinator;

class StreamTask final : public sched::Task {
 public:
  struct InputGate {
    StreamChannel* channel = nullptr;
    BatchDecoder* decoder = nullptr;
    Timestamp watermark = kMinTimestamp;
    bool ended = false;
    bool idle = false;     // the producer announced WatermarkStatus idle
    bool aligned = true;   // counts towards the minimum (false after idleness until caught up)
    int64_t barrier = 0;   // the newest checkpoint barrier received on this input
    bool blocked = false;  // EXACTLY_ONCE alignment: not read until the other inputs' barriers came
  };

  StreamTask(std::string name, const std::atomic<bool>* stop_requested);

  // Building (by the JobRunner, before the task runs). The first added operator is the head.
  void AddOperator(std::unique_ptr<operators::StreamOperator> op,
                   std::unique_ptr<operators::OperatorContext> context);
  void AddWriter(std::unique_ptr<ChannelWriter> writer) { writers_.push_back(std::move(writer)); }
  void AddFanOut(std::unique_ptr<operators::OutputBase> fan_out) {
    fan_outs_.push_back(std::move(fan_out));
  }
  BatchDecoder* AddDecoder(std::unique_ptr<BatchDecoder> decoder);
  void AddInput(StreamChannel* channel, BatchDecoder* decoder) {
    inputs_.push_back(InputGate{channel, decoder});
  }
  const std::vector<std::unique_ptr<operators::StreamOperator>>& operators() const {
    return operators_;
  }
  // Checkpointing: `coordinator` triggers and collects this task's snapshots; `operator_ids` is
  // the (vertex, subtask) of each operator of the chain, in chain order.
  void SetCheckpointing(CheckpointCoordinator* coordinator, int task_index,
                        std::vector<std::pair<int, int>> operator_ids) {
    coordinator_ = coordinator;
    task_index_ = task_index;
    operator_ids_ = std::move(operator_ids);
  }
  // After the run: tells the operators of checkpoint `id` if the task has not seen it complete.
  void NotifyCompletedUpTo(int64_t id) {
    if (id <= notified_complete_) return;
    notified_complete_ = id;
    for (auto& op : operators_) op->NotifyCheckpointComplete(id);
  }
  // Restore: one reader per operator of the chain (null: nothing to restore), used once by Open.
  void SetRestore(std::vector<std::unique_ptr<state::RestoreReader>> readers) {
    restore_readers_ = std::move(readers);
  }

  // sched::Task
  Status Open() override;
  Progress RunOnce(int64_t now_nanos) override;
  void Close() override;
  Status status() const override { return status_; }
  std::string_view name() const override { return name_; }
  // The earliest processing-time timer of the chain's operators.
  Timestamp NextWakeupMillis() const override;
  int64_t NextWakeupNanos() const override;

 private:
  Progress Step(int64_t now_nanos);
  bool ProcessInput();
  void HandleMessage(InputGate& gate, StreamMessage& message);
  // Applies the in-band events of a batch to the gate it came from.
  class GateEvents final : public BatchEventHandler {
   public:
    GateEvents(StreamTask* task, InputGate* gate) : task_(task), gate_(gate) {}
    void OnEvent(serde::BatchEvent event, int64_t value) override;

   private:
    StreamTask* task_;
    InputGate* gate_;
  };

  void AdvanceWatermark();
  void OnGateWatermark(InputGate& gate, Timestamp watermark);
  void SetGateIdle(InputGate& gate, bool idle);
  // Recomputes whether every remaining input is idle, telling the chain when that changes;
  // returns whether the task is idle.
  bool UpdateIdleness();
  // Calls OnProcessingTime on the operators whose timers are due; returns whether any were.
  bool FireProcessingTimers();
  void EndChainInput();
  Progress Fail(Status status);

  // Checkpoints (see checkpoint_coordinator.h).
  void PollCheckpointSignals();
  void OnBarrier(InputGate& gate, int64_t id);
  // Snapshots when every input that has not ended delivered the barrier being aligned.
  void MaybeCompleteAlignment();
  void TakeCheckpoint(int64_t id);
  void CancelAlignment();

  std::string name_;
  const std::atomic<bool>* stop_requested_;
  std::vector<std::unique_ptr<operators::StreamOperator>> operators_;
  std::vector<std::unique_ptr<operators::OperatorContext>> contexts_;
  std::vector<std::unique_ptr<ChannelWriter>> writers_;
  std::vector<std::unique_ptr<operators::OutputBase>> fan_outs_;
  std::vector<std::unique_ptr<BatchDecoder>> decoders_;
  std::vector<InputGate> inputs_;
  operators::SourceOperatorBase* source_ = nullptr;
  size_t next_input_ = 0;
  size_t ended_inputs_ = 0;
  Timestamp watermark_ = kMinTimestamp;
  bool input_ended_ = false;
  bool idle_ = false;
  bool opened_ = false;
  Status status_;

  CheckpointCoordinator* coordinator_ = nullptr;
  int task_index_ = 0;
  std::vector<std::pair<int, int>> operator_ids_;
  std::vector<std::unique_ptr<state::RestoreReader>> restore_readers_;
  int64_t last_checkpoint_ = 0;  // the newest checkpoint this task took (or declined)
  int64_t aligning_ = 0;         // the checkpoint whose barriers are being collected, 0: none
  int64_t notified_complete_ = 0;
  int64_t notified_aborted_ = 0;
  bool reported_finished_ = false;
};

}  // namespace weir::runtime
