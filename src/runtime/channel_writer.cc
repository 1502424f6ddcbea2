#include "runtime/channel_writer.h"

#include "base/clock.h"

namespace weir::runtime {

ChannelWriter::ChannelWriter(std::vector<StreamChannel*> channels, const Options& options)
    : pool_(options.pool),
      buffer_timeout_nanos_(options.buffer_timeout_nanos),
      flush_every_record_(options.buffer_timeout_nanos == 0) {
  WEIR_CHECK(pool_ != nullptr);
  lanes_.resize(channels.size());
  for (size_t i = 0; i < channels.size(); ++i) lanes_[i].channel = channels[i];
}

bool ChannelWriter::OpenBatch(Lane& lane) {
  memory::Segment segment = pool_->TryAcquire();
  if (!segment) {
    if (status_.ok()) {
      status_ = ResourceExhausted(
          "no free network buffer: all {} segments of {} bytes are in flight; raise "
          "taskmanager.memory.network.max",
          pool_->capacity(), pool_->segment_size());
    }
    return false;
  }
  lane.batch = serde::RecordBatch(std::move(segment));
  lane.opened_nanos = MonotonicNanos();
  return true;
}

void ChannelWriter::AppendSlow(Lane& lane, size_t payload) {
  Flush(lane);
  const size_t footprint = serde::RecordFootprint(payload);
  if (footprint > pool_->segment_size()) {
    lane.batch = serde::RecordBatch::Oversized(footprint);
    lane.opened_nanos = MonotonicNanos();
  } else {
    OpenBatch(lane);
  }
}

void ChannelWriter::Flush(Lane& lane) {
  if (!lane.batch.has_memory()) return;
  if (lane.batch.empty()) return;  // keep the empty segment for the next record
  Enqueue(lane, StreamMessage::Records(std::move(lane.batch)));
  lane.batch = serde::RecordBatch();
}

void ChannelWriter::Enqueue(Lane& lane, StreamMessage message) {
  if (lane.pending.empty() && lane.channel->TryPush(std::move(message))) return;
  lane.pending.push_back(std::move(message));
  ++pending_count_;
}

bool ChannelWriter::DrainPending() {
  if (pending_count_ == 0) return false;
  bool moved = false;
  for (Lane& lane : lanes_) {
    while (!lane.pending.empty() && lane.channel->TryPush(std::move(lane.pending.front()))) {
      lane.pending.pop_front();
      --pending_count_;
      moved = true;
    }
  }
  return moved;
}

void ChannelWriter::FlushTimedOut(int64_t now_nanos, bool idle) {
  for (Lane& lane : lanes_) {
    // A lane still waiting for credit keeps its batch open: it goes once the pending messages
    // have (the next call after DrainPending), so waiting output stays bounded.
    if (lane.batch.has_memory() && !lane.batch.empty() && lane.pending.empty() &&
        (idle || now_nanos - lane.opened_nanos >= buffer_timeout_nanos_)) {
      Flush(lane);
    }
  }
}

void ChannelWriter::BroadcastInBand(serde::BatchEvent event, int64_t value) {
  for (Lane& lane : lanes_) {
    if (!lane.batch.has_memory() && !OpenBatch(lane)) return;
    if (!lane.batch.TryAppendEvent(event, value)) {
      Flush(lane);
      if (!lane.batch.has_memory() && !OpenBatch(lane)) return;
      bool appended = lane.batch.TryAppendEvent(event, value);
      WEIR_CHECK(appended);
    }
    if (flush_every_record_ && lane.pending.empty()) Flush(lane);
  }
}

void ChannelWriter::BroadcastEvent(const StreamMessage& event) {
  for (Lane& lane : lanes_) {
    Flush(lane);
    StreamMessage copy;
    copy.kind = event.kind;
    copy.value = event.value;
    Enqueue(lane, std::move(copy));
  }
}

}  // namespace weir::runtime
