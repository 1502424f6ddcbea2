#include "runtime/stream_task.h"

#include <algorithm>
#include <exception>

#include "runtime/checkpoint_coordinator.h"
#include "runtime/task_snapshot.h"

namespace weir::runtime {
namespace {
// Records a source may emit per poll: large enough to amortize the task switch, small enough that
// output buffers, pending queues and timers are serviced often.
constexpr int kSourceRecordsPerPoll = 1024;
}  // namespace

StreamTask::StreamTask(std::string name, const std::atomic<bool>* stop_requested)
    : name_(std::move(name)), stop_requested_(stop_requested) {}

void StreamTask::AddOperator(std::unique_ptr<operators::StreamOperator> op,
                             std::unique_ptr<operators::OperatorContext> context) {
  if (operators_.empty()) source_ = dynamic_cast<operators::SourceOperatorBase*>(op.get());
  operators_.push_back(std::move(op));
  contexts_.push_back(std::move(context));
}

BatchDecoder* StreamTask::AddDecoder(std::unique_ptr<BatchDecoder> decoder) {
  decoders_.push_back(std::move(decoder));
  return decoders_.back().get();
}

Status StreamTask::Open() {
  // Tail first, as Flink opens a chain: an operator may emit while opening only into opened ones.
  for (size_t i = operators_.size(); i-- > 0;) {
    Status status;
    try {
      status = operators_[i]->Open(contexts_[i].get());
    } catch (const std::exception& e) {
      status = Internal("user function threw while opening: {}", e.what());
    }
    if (!status.ok()) return status.WithContext(contexts_[i]->task_name);
  }
  opened_ = true;
  // Restore after every operator opened (they create their tables in Open), before any record.
  for (size_t i = 0; i < restore_readers_.size() && i < operators_.size(); ++i) {
    if (restore_readers_[i] == nullptr) continue;
    Status status;
    try {
      status = operators_[i]->RestoreState(*restore_readers_[i]);
    } catch (const std::exception& e) {
      status = Internal("user function threw while restoring state: {}", e.what());
    }
    if (!status.ok()) return status.WithContext(contexts_[i]->task_name);
  }
  restore_readers_.clear();
  return Status::Ok();
}

void StreamTask::Close() {
  if (!opened_) return;
  for (auto& op : operators_) {
    try {
      op->Close();
    } catch (const std::exception&) {
      // A throwing close of a user function must not hide the job's outcome.
    }
  }
  opened_ = false;
}

sched::Task::Progress StreamTask::Fail(Status status) {
  if (status_.ok()) status_ = std::move(status);
  return Progress::kFailed;
}

sched::Task::Progress StreamTask::RunOnce(int64_t now_nanos) {
  try {
    const Progress progress = Step(now_nanos);
    if (progress == Progress::kFinished && coordinator_ != nullptr && !reported_finished_) {
      reported_finished_ = true;
      coordinator_->TaskFinished(task_index_);
    }
    return progress;
  } catch (const std::exception& e) {
    return Fail(Internal("user function threw: {}", e.what()));
  } catch (...) {
    return Fail(Internal("user function threw a non-standard exception"));
  }
}

Timestamp StreamTask::NextWakeupMillis() const {
  Timestamp next = kMaxTimestamp;
  for (const auto& op : operators_) next = std::min(next, op->NextProcessingTime());
  return next;
}

int64_t StreamTask::NextWakeupNanos() const {
  return source_ != nullptr && !input_ended_ ? source_->NextReadyNanos() : kMaxTimestamp;
}

bool StreamTask::FireProcessingTimers() {
  const Timestamp next = NextWakeupMillis();
  if (next == kMaxTimestamp) return false;
  const Timestamp now = WallMillis();
  if (now < next) return false;
  for (auto& op : operators_) {
    if (op->NextProcessingTime() <= now) op->OnProcessingTime(now);
  }
  return true;
}

sched::Task::Progress StreamTask::Step(int64_t now_nanos) {
  if (!status_.ok()) return Progress::kFailed;
  if (coordinator_ != nullptr) PollCheckpointSignals();
  bool did_work = false;
  if (!input_ended_) did_work |= FireProcessingTimers();
  for (auto& writer : writers_) did_work |= writer->DrainPending();
  bool blocked = false;
  for (auto& writer : writers_) blocked |= writer->has_pending();

  if (!blocked) {
    if (input_ended_) return Progress::kFinished;
    did_work |= ProcessInput();
  }

  // Batches fill while input keeps coming and go as soon as it pauses ("smart batching"): a task
  // that found no input this step sends its open batches now rather than when the buffer timeout
  // passes. A busy task never idles, so its batches still fill; a paced or bursty stream's last
  // records do not wait up to a timeout for records that are not coming. A task held back by
  // backpressure is not idle: flushing then would only send smaller batches into the congestion.
  // The timeout stays the bound for a task that is busy but writes a lane rarely.
  const bool idle = !did_work && !blocked;
  for (auto& writer : writers_) {
    writer->FlushTimedOut(now_nanos, idle);
    if (!writer->status().ok()) return Fail(writer->status());
  }
  for (auto& context : contexts_) {
    if (context->failed()) return Fail(context->status());
  }
  if (!status_.ok()) return Progress::kFailed;
  if (!did_work || input_ended_) {
    for (auto& op : operators_) op->Flush();
  }
  if (input_ended_) {
    bool pending = false;
    for (auto& writer : writers_) pending |= writer->has_pending();
    if (!pending) return Progress::kFinished;
  }
  return did_work ? Progress::kDidWork : Progress::kIdle;
}

bool StreamTask::ProcessInput() {
  if (source_ != nullptr) {
    if (stop_requested_ != nullptr && stop_requested_->load(std::memory_order_relaxed)) {
      EndChainInput();
      return true;
    }
    Result<operators::SourceStatus> polled = source_->Poll(kSourceRecordsPerPoll);
    if (!polled.ok()) {
      Fail(polled.status());
      return false;
    }
    switch (*polled) {
      case operators::SourceStatus::kMoreAvailable: return true;
      case operators::SourceStatus::kNothingNow: return false;
      case operators::SourceStatus::kEndOfInput: EndChainInput(); return true;
    }
    return false;
  }
  const size_t count = inputs_.size();
  for (size_t k = 0; k < count; ++k) {
    InputGate& gate = inputs_[next_input_];
    next_input_ = next_input_ + 1 == count ? 0 : next_input_ + 1;
    if (gate.ended || gate.blocked) continue;
    StreamMessage message;
    if (gate.channel->TryPop(message)) {
      HandleMessage(gate, message);
      return true;
    }
  }
  return false;
}

void StreamTask::HandleMessage(InputGate& gate, StreamMessage& message) {
  switch (message.kind) {
    case StreamMessage::Kind::kRecords: {
      GateEvents events(this, &gate);
      gate.decoder->Decode(message.batch, events);
      break;
    }
    case StreamMessage::Kind::kWatermark:
      OnGateWatermark(gate, message.value);
      break;
    case StreamMessage::Kind::kWatermarkStatus:
      SetGateIdle(gate, message.value != 0);
      break;
    case StreamMessage::Kind::kBarrier:
      OnBarrier(gate, message.value);
      break;
    case StreamMessage::Kind::kEndOfInput:
      gate.ended = true;
      gate.blocked = false;
      ++ended_inputs_;
      // An input that ended has nothing more to deliver before any barrier.
      if (aligning_ != 0) MaybeCompleteAlignment();
      if (ended_inputs_ == inputs_.size()) {
        EndChainInput();
      } else {
        AdvanceWatermark();
        UpdateIdleness();
      }
      break;
  }
}

void StreamTask::GateEvents::OnEvent(serde::BatchEvent event, int64_t value) {
  switch (event) {
    case serde::BatchEvent::kWatermark: task_->OnGateWatermark(*gate_, value); break;
    case serde::BatchEvent::kIdle: task_->SetGateIdle(*gate_, true); break;
    case serde::BatchEvent::kActive: task_->SetGateIdle(*gate_, false); break;
  }
}

void StreamTask::OnGateWatermark(InputGate& gate, Timestamp watermark) {
  // An idle channel's watermarks are ignored (Flink's StatusWatermarkValve): it announced it has
  // nothing to say, and a late-arriving watermark from it must not move time.
  if (gate.idle || watermark <= gate.watermark) return;
  gate.watermark = watermark;
  if (!gate.aligned && gate.watermark >= watermark_) gate.aligned = true;
  AdvanceWatermark();
}

void StreamTask::SetGateIdle(InputGate& gate, bool idle) {
  if (idle == gate.idle || gate.ended) return;
  gate.idle = idle;
  if (idle) {
    gate.aligned = false;
    if (!UpdateIdleness()) AdvanceWatermark();
  } else {
    // A channel that comes back joins the minimum only once it has caught up with the task's
    // watermark, so its return never moves the watermark backwards.
    gate.aligned = gate.watermark >= watermark_;
    UpdateIdleness();
  }
}

bool StreamTask::UpdateIdleness() {
  bool any_active = false;
  for (const InputGate& gate : inputs_) any_active |= !gate.ended && !gate.idle;
  const bool idle = !any_active && ended_inputs_ < inputs_.size();
  if (idle == idle_) return idle;
  if (idle) {
    // Every remaining input is idle: none will hold time back, so time moves to the furthest
    // watermark any of them reached (Flink flushes the maximum across channels).
    Timestamp maximum = kMinTimestamp;
    for (const InputGate& gate : inputs_) {
      if (!gate.ended && gate.watermark > maximum) maximum = gate.watermark;
    }
    if (maximum > watermark_ && maximum != kMaxTimestamp) {
      watermark_ = maximum;
      operators_.front()->input()->EmitWatermark(watermark_);
    }
  }
  idle_ = idle;
  operators_.front()->input()->EmitWatermarkStatus(idle);
  return idle;
}

void StreamTask::AdvanceWatermark() {
  Timestamp minimum = kMaxTimestamp;
  bool any = false;
  for (const InputGate& gate : inputs_) {
    if (gate.ended || gate.idle || !gate.aligned) continue;
    any = true;
    if (gate.watermark < minimum) minimum = gate.watermark;
  }
  if (any && minimum > watermark_ && minimum != kMaxTimestamp) {
    watermark_ = minimum;
    operators_.front()->input()->EmitWatermark(watermark_);
  }
}

void StreamTask::EndChainInput() {
  input_ended_ = true;
  if (source_ != nullptr) {
    source_->EmitEndOfInput();
    return;
  }
  operators::OutputBase* head = operators_.front()->input();
  if (watermark_ != kMaxTimestamp) {
    watermark_ = kMaxTimestamp;
    head->EmitWatermark(kMaxTimestamp);
  }
  head->EndInput();
}

void StreamTask::PollCheckpointSignals() {
  const int64_t completed = coordinator_->completed();
  if (completed > notified_complete_) {
    notified_complete_ = completed;
    for (auto& op : operators_) op->NotifyCheckpointComplete(completed);
  }
  const int64_t aborted = coordinator_->aborted();
  if (aborted > notified_aborted_) {
    notified_aborted_ = aborted;
    for (auto& op : operators_) op->NotifyCheckpointAborted(aborted);
    // Barriers of an aborted checkpoint may never all arrive (a source finished first): stop
    // holding inputs back for it.
    if (aligning_ != 0 && aligning_ <= aborted) CancelAlignment();
  }
  if (source_ != nullptr && !input_ended_) {
    const int64_t triggered = coordinator_->triggered();
    if (triggered > last_checkpoint_) TakeCheckpoint(triggered);
  }
}

void StreamTask::OnBarrier(InputGate& gate, int64_t id) {
  gate.barrier = std::max(gate.barrier, id);
  if (coordinator_ == nullptr || id <= last_checkpoint_) return;  // stale: taken or given up
  if (id > aligning_) {
    // A newer checkpoint's barrier: an older one still aligning can no longer complete (its
    // barrier on this input was overtaken), so it is given up for this one (Flink does the same).
    if (aligning_ != 0) CancelAlignment();
    aligning_ = id;
  } else if (id < aligning_) {
    return;
  }
  if (coordinator_->exactly_once()) gate.blocked = true;
  MaybeCompleteAlignment();
}

void StreamTask::MaybeCompleteAlignment() {
  for (const InputGate& gate : inputs_) {
    if (!gate.ended && gate.barrier < aligning_) return;
  }
  const int64_t id = aligning_;
  CancelAlignment();
  TakeCheckpoint(id);
}

void StreamTask::CancelAlignment() {
  aligning_ = 0;
  for (InputGate& gate : inputs_) gate.blocked = false;
}

void StreamTask::TakeCheckpoint(int64_t id) {
  last_checkpoint_ = id;
  TaskSnapshot snapshot;
  snapshot.checkpoint_id = id;
  snapshot.task = task_index_;
  const bool full = coordinator_->full();
  Status status;
  for (size_t i = 0; i < operators_.size() && status.ok(); ++i) {
    OperatorSnapshot op;
    op.vertex = operator_ids_[i].first;
    op.subtask = operator_ids_[i].second;
    OperatorSnapshotWriter writer(id, full, &op);
    try {
      status = operators_[i]->SnapshotState(writer);
    } catch (const std::exception& e) {
      status = Internal("user function threw while snapshotting state: {}", e.what());
    }
    if (!status.ok()) status = status.WithContext(contexts_[i]->task_name);
    if (!op.empty()) snapshot.operators.push_back(std::move(op));
  }
  // The barrier follows every record emitted before the snapshot, also when the snapshot failed,
  // so the tasks downstream never wait for it.
  for (auto& writer : writers_) writer->BroadcastBarrier(id);
  if (status.ok()) {
    coordinator_->Acknowledge(std::move(snapshot));
  } else {
    coordinator_->Decline(id, task_index_, status);
  }
}

}  // namespace weir::runtime
