// ChannelWriter: the producer end of an exchange. It keeps one open RecordBatch per target channel
// ("lane"), appends records to it, and flushes a lane's batch into its channel when the batch is
// full, when execution.buffer-timeout has passed since the batch was started, or at once for every
// record when the timeout is 0 (the low-latency mode).
//
// Watermarks and watermark status are appended to the lanes' batches as in-band events (see
// serde::kEventFlag), in order with the records; end of input is a message of its own.
//
// Backpressure: a flush into a channel with no credit (its ring is full) parks the message in the
// lane's pending queue. The task asks has_pending() before it takes more input and stays idle until
// DrainPending() has moved everything; so a slow consumer stops its producers, which stop their
// sources, and memory stays bounded: at most one input batch's worth of output is pending.
//
// Threads: owned and called by the producing task only.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "base/status.h"
#include "memory/segment_pool.h"
#include "operators/key_encoder.h"
#include "operators/output.h"
#include "runtime/stream_message.h"
#include "state/key_groups.h"

namespace weir::runtime {

class ChannelWriter {
 public:
  struct Options {
    memory::SegmentPool* pool = nullptr;
    int64_t buffer_timeout_nanos = 1'000'000;
  };

  ChannelWriter(std::vector<StreamChannel*> channels, const Options& options);
  virtual ~ChannelWriter() = default;
  ChannelWriter(const ChannelWriter&) = delete;
  ChannelWriter& operator=(const ChannelWriter&) = delete;

  // The Output<T> the chain writes into.
  virtual operators::OutputBase* output() = 0;

  // Moves pending messages into their channels while they have credit; true if any moved.
  bool DrainPending();
  bool has_pending() const { return pending_count_ > 0; }
  // Flushes the lanes whose open batch is older than the buffer timeout; with `idle` (the task
  // found no input this step), every lane with an open batch (see StreamTask::Step).
  void FlushTimedOut(int64_t now_nanos, bool idle = false);
  // Flushes every lane and sends checkpoint barrier `id` down each, after the records before it.
  void BroadcastBarrier(int64_t id) { BroadcastEvent(StreamMessage::Barrier(id)); }
  // OK unless the writer could not get memory for a batch.
  const Status& status() const { return status_; }

 protected:
  struct Lane {
    StreamChannel* channel = nullptr;
    serde::RecordBatch batch;
    int64_t opened_nanos = 0;
    std::deque<StreamMessage> pending;
  };

  template <typename T>
  void Append(Lane& lane, const T& value, Timestamp timestamp) {
    if (!lane.batch.has_memory() && !OpenBatch(lane)) return;
    if (!lane.batch.TryAppend(value, timestamp)) [[unlikely]] {
      AppendSlow(lane, serde::Codec<T>::Size(value));
      if (!lane.batch.has_memory()) return;
      bool appended = lane.batch.TryAppend(value, timestamp);
      WEIR_CHECK(appended);
    }
    // (Low-latency mode sends each record as soon as the channel takes it: while the lane has
    // messages waiting for credit, records gather in its batch instead, or a fast producer would
    // turn every record into a pending segment and run out of network buffers.)
    if (flush_every_record_ && lane.pending.empty()) Flush(lane);
  }

  // Flushes every lane, then sends `event` (end of input, a barrier) down every lane as its own
  // message.
  void BroadcastEvent(const StreamMessage& event);
  // Appends an in-band event (watermark, status) to every lane's open batch: it travels with the
  // records and is flushed with them (at once when the buffer timeout is 0), so a stream with
  // frequent watermarks does not turn each into a flush of every lane.
  void BroadcastInBand(serde::BatchEvent event, int64_t value);
  void Flush(Lane& lane);

  std::vector<Lane> lanes_;

 private:
  bool OpenBatch(Lane& lane);
  // Makes room for a record of `payload` bytes that did not fit: flushes, then opens a fresh
  // batch, or an oversized one when the record is larger than a segment.
  void AppendSlow(Lane& lane, size_t payload);
  void Enqueue(Lane& lane, StreamMessage message);

  memory::SegmentPool* pool_;
  const int64_t buffer_timeout_nanos_;
  const bool flush_every_record_;
  size_t pending_count_ = 0;
  Status status_;
};

// One lane per channel; `Partitioner` maps a record to a lane index: `int operator()(const T&)`.
template <typename T, typename Partitioner>
class RecordWriter final : public ChannelWriter, public operators::Output<T> {
 public:
  RecordWriter(std::vector<StreamChannel*> channels, const Options& options, Partitioner partitioner)
      : ChannelWriter(std::move(channels), options), partitioner_(std::move(partitioner)) {}

  operators::OutputBase* output() override { return this; }
  void Collect(const T& value, Timestamp timestamp) override {
    Append(lanes_[partitioner_(value)], value, timestamp);
  }
  void EmitWatermark(Timestamp watermark) override {
    BroadcastInBand(serde::BatchEvent::kWatermark, watermark);
  }
  void EmitWatermarkStatus(bool idle) override {
    BroadcastInBand(idle ? serde::BatchEvent::kIdle : serde::BatchEvent::kActive, 0);
  }
  void EndInput() override { BroadcastEvent(StreamMessage::EndOfInput()); }

 private:
  Partitioner partitioner_;
};

// Every record to every lane (Flink's broadcast()).
template <typename T>
class BroadcastRecordWriter final : public ChannelWriter, public operators::Output<T> {
 public:
  using ChannelWriter::ChannelWriter;
  operators::OutputBase* output() override { return this; }
  void Collect(const T& value, Timestamp timestamp) override {
    for (Lane& lane : lanes_) Append(lane, value, timestamp);
  }
  void EmitWatermark(Timestamp watermark) override {
    BroadcastInBand(serde::BatchEvent::kWatermark, watermark);
  }
  void EmitWatermarkStatus(bool idle) override {
    BroadcastInBand(idle ? serde::BatchEvent::kIdle : serde::BatchEvent::kActive, 0);
  }
  void EndInput() override { BroadcastEvent(StreamMessage::EndOfInput()); }
};

// Partitioners (Flink's StreamPartitioner family).
struct ForwardPartitioner {
  template <typename T>
  int operator()(const T&) const { return 0; }
};

class RebalancePartitioner {
 public:
  RebalancePartitioner(int channels, int start) : channels_(channels), next_(start % channels) {}
  template <typename T>
  int operator()(const T&) {
    int channel = next_;
    next_ = next_ + 1 == channels_ ? 0 : next_ + 1;
    return channel;
  }

 private:
  int channels_;
  int next_;
};

// Key -> key group -> consumer subtask, as Flink's KeyGroupStreamPartitioner. The two divisions of
// KeyGroupForHash and OperatorIndexForKeyGroup are paid once per key group when the partitioner is
// made: a record's group is a mask of its hash (the usual power-of-two max parallelism) and its
// subtask a lookup in a table of max_parallelism entries (256 bytes at the default 128).
template <typename KeySelector>
class KeyGroupPartitioner {
 public:
  KeyGroupPartitioner(KeySelector key_selector, int channels, int max_parallelism)
      : key_selector_(std::move(key_selector)),
        max_parallelism_(max_parallelism),
        power_of_two_((max_parallelism & (max_parallelism - 1)) == 0),
        group_mask_(static_cast<uint64_t>(max_parallelism - 1)),
        channel_of_group_(static_cast<size_t>(max_parallelism)) {
    for (int group = 0; group < max_parallelism; ++group) {
      channel_of_group_[static_cast<size_t>(group)] =
          static_cast<uint16_t>(state::OperatorIndexForKeyGroup(max_parallelism, channels, group));
    }
  }
  template <typename T>
  int operator()(const T& value) {
    const operators::EncodedKey key = encoder_.Encode(key_selector_(value));
    const size_t key_group = power_of_two_ ? static_cast<size_t>(key.hash & group_mask_)
                                           : static_cast<size_t>(state::KeyGroupForHash(key.hash, max_parallelism_));
    return channel_of_group_[key_group];
  }

 private:
  KeySelector key_selector_;
  operators::KeyEncoder encoder_;
  int max_parallelism_;
  bool power_of_two_;
  uint64_t group_mask_;
  std::vector<uint16_t> channel_of_group_;  // subtask of each key group (< 2^15 subtasks)
};

}  // namespace weir::runtime
