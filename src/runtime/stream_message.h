// StreamMessage: what travels through a channel between two tasks. Records travel in batches;
// watermarks, end-of-input and (with checkpoints) barriers travel in-band between batches, so
// they stay ordered with the records around them.
#pragma once

#include <cstdint>

#include "serde/record_batch.h"
#include "sched/channel.h"

namespace weir::runtime {

struct StreamMessage {
  enum class Kind : uint8_t { kRecords, kWatermark, kWatermarkStatus, kEndOfInput, kBarrier };

  Kind kind = Kind::kRecords;
  // The watermark for kWatermark; 1 = idle, 0 = active for kWatermarkStatus; the checkpoint id
  // for kBarrier.
  int64_t value = 0;
  serde::RecordBatch batch;  // for kRecords

  static StreamMessage Records(serde::RecordBatch batch) {
    StreamMessage message;
    message.batch = std::move(batch);
    return message;
  }
  static StreamMessage Watermark(int64_t watermark) {
    StreamMessage message;
    message.kind = Kind::kWatermark;
    message.value = watermark;
    return message;
  }
  static StreamMessage WatermarkStatus(bool idle) {
    StreamMessage message;
    message.kind = Kind::kWatermarkStatus;
    message.value = idle ? 1 : 0;
    return message;
  }
  // A checkpoint barrier (Chandy-Lamport): every record before it belongs to checkpoint `id`'s
  // state, every record after it does not. It travels as a message of its own (the writer flushes
  // the open batch first), so a consumer aligning its inputs stops reading a channel exactly at it.
  static StreamMessage Barrier(int64_t id) {
    StreamMessage message;
    message.kind = Kind::kBarrier;
    message.value = id;
    return message;
  }
  static StreamMessage EndOfInput() {
    StreamMessage message;
    message.kind = Kind::kEndOfInput;
    return message;
  }
};

using StreamChannel = sched::Channel<StreamMessage>;

}  // namespace weir::runtime
