// SourceOperator<T>: the head of a source chain (Flink's SourceReader, polled rather than run in
// its own thread). The task polls it when its outputs have credit; a poll emits at most
// `max_records` records into the chain and returns at once -- it never blocks, so a source with
// nothing to read right now (a quiet socket) returns kNothingNow and the worker runs other tasks.
#pragma once

#include <cstdint>

#include "operators/stream_operator.h"

namespace weir::operators {

enum class SourceStatus {
  kMoreAvailable,  // emitted records; poll again
  kNothingNow,     // nothing to read at the moment; poll again later
  kEndOfInput,     // the bounded input is exhausted
};

// Told where a source's splits begin and end, for per-split watermark generation (Flink's
// SourceOutput createOutputForSplit / releaseOutputForSplit; see SourceWithWatermarks). A source
// that reads splits calls SplitStarted(id) before the first record of a split and whenever it
// switches back to one (the records that follow belong to it), and SplitFinished(id) after its
// last record. Ids are unique within one source instance. A source that never calls it is read
// as one split.
class SourceSplitListener {
 public:
  virtual ~SourceSplitListener() = default;
  virtual void SplitStarted(int64_t split) = 0;
  virtual void SplitFinished(int64_t split) = 0;
};

class SourceOperatorBase : public StreamOperator {
 public:
  OutputBase* input() override { return nullptr; }
  virtual Result<SourceStatus> Poll(int max_records) = 0;

  // After a Poll that returned kNothingNow: the MonotonicNanos instant its next record becomes
  // ready, when the source knows it (a paced source's next due time), so the worker parks exactly
  // until then instead of up to its park timeout; kMaxTimestamp when unknown (a socket).
  virtual int64_t NextReadyNanos() const { return kMaxTimestamp; }

  // The bounded input ended (or the job is stopping): the maximum watermark, then end-of-input.
  void EmitEndOfInput() {
    downstream_->EmitWatermark(kMaxTimestamp);
    downstream_->EndInput();
  }

  // What the source consumed, for the job's throughput report.
  int64_t records_emitted() const { return records_emitted_; }
  int64_t bytes_read() const { return bytes_read_; }
  // Malformed records skipped because an ignore-parse-errors option allowed it.
  int64_t records_skipped() const { return records_skipped_; }

  // Who hears of split boundaries (nullptr: nobody). Set before Open; not owned.
  void set_split_listener(SourceSplitListener* listener) { split_listener_ = listener; }
  SourceSplitListener* split_listener() const { return split_listener_; }

 protected:
  int64_t records_emitted_ = 0;
  int64_t records_skipped_ = 0;
  int64_t bytes_read_ = 0;
  OutputBase* downstream_ = nullptr;
  SourceSplitListener* split_listener_ = nullptr;
};

template <typename T>
class SourceOperator : public SourceOperatorBase {
 public:
  void SetOutput(OutputBase* output) override {
    output_ = dynamic_cast<Output<T>*>(output);
    WEIR_CHECK_MSG(output_ != nullptr, "source output type mismatch");
    downstream_ = output;
  }

 protected:
  Output<T>* output() const { return output_; }

 private:
  Output<T>* output_ = nullptr;
};

// Base of sinks: an operator with an input and no output.
template <typename T>
class SinkOperator : public StreamOperator, public Output<T> {
 public:
  OutputBase* input() override { return this; }
  void SetOutput(OutputBase* output) override {
    WEIR_CHECK_MSG(false, "a sink has no output");
  }
  void EmitWatermark(Timestamp watermark) override {}
  void EndInput() override {}
};

}  // namespace weir::operators
