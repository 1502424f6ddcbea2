// Output<T>: where an operator sends what it produces (Flink's Output). In a chain the next
// operator is the Output of the previous one, so a record passes down a chain as direct calls with
// a reference to the value, never copied or serialized; at the end of a chain the Output is a
// record writer that encodes the value into a segment for an exchange.
//
// Collector<T> is the user-facing side (Flink's Collector): a flatMap or process function calls
// out.Collect(value), and the record carries the timestamp of the input it came from.
//
// Threads: an Output is called only by the task that owns it.
#pragma once

#include <typeinfo>

#include "base/clock.h"

namespace weir::operators {

// The untyped part: events that carry no record, so a task can drive any chain's head; the
// runtime also checks record types through it once, when it wires operators.
class OutputBase {
 public:
  virtual ~OutputBase() = default;
  // The event-time clock advanced to `watermark`: no later record has a timestamp <= it.
  virtual void EmitWatermark(Timestamp watermark) = 0;
  // No more input will come (a bounded input ended): flush, emit final results, pass it on.
  virtual void EndInput() = 0;
};

template <typename T>
class Output : public OutputBase {
 public:
  // One record with its event timestamp (kMinTimestamp when it has none). `value` and the views
  // inside it are valid only during the call.
  virtual void Collect(const T& value, Timestamp timestamp) = 0;
};

template <typename T>
class Collector {
 public:
  explicit Collector(Output<T>* output) : output_(output) {}
  void Collect(const T& value) { output_->Collect(value, timestamp_); }
  void CollectWithTimestamp(const T& value, Timestamp timestamp) { output_->Collect(value, timestamp); }
  void set_timestamp(Timestamp timestamp) { timestamp_ = timestamp; }

 private:
  Output<T>* output_;
  Timestamp timestamp_ = kMinTimestamp;
};

}  // namespace weir::operators
