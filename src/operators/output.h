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

#include <cstddef>
#include <span>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/clock.h"

namespace weir::operators {

// The untyped part: events that carry no record, so a task can drive any chain's head; the
// runtime also checks record types through it once, when it wires operators.
class OutputBase {
 public:
  virtual ~OutputBase() = default;
  // The event-time clock advanced to `watermark`: no later record has a timestamp <= it.
  virtual void EmitWatermark(Timestamp watermark) = 0;
  // The producer became idle (true) or active again (false): Flink's WatermarkStatus. An idle
  // input (a source split with no data for `withIdleness`) does not hold back the watermark of
  // the tasks downstream. Forwarders pass it on; consumers that do not care (sinks) ignore it.
  virtual void EmitWatermarkStatus(bool idle) {}
  // No more input will come (a bounded input ended): flush, emit final results, pass it on.
  virtual void EndInput() = 0;
};

template <typename T>
class Output : public OutputBase {
 public:
  // One record with its event timestamp (kMinTimestamp when it has none). `value` and the views
  // inside it are valid only during the call.
  virtual void Collect(const T& value, Timestamp timestamp) = 0;
  // Records handed over together (a source's poll), in order: the same as Collect for each, one
  // after another. An operator that gains from seeing the records ahead overrides it (a keyed
  // window starts loading the state of the next records while it updates the current one); the
  // default calls Collect. REQUIRES: timestamps.size() == values.size().
  virtual void CollectBatch(std::span<const T> values, std::span<const Timestamp> timestamps) {
    for (size_t i = 0; i < values.size(); ++i) Collect(values[i], timestamps[i]);
  }
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

// Flink's OutputTag<T>: names a side output of an operator (late window data, a process
// function's extra outputs). Two tags are the same side output when their ids are equal; the
// consumer's DataStream comes from GetSideOutput(tag) on the producing stream.
template <typename T>
class OutputTag {
 public:
  using ValueType = T;
  explicit OutputTag(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

// The side outputs an operator's consumers asked for, by tag id. Emitting into a tag nobody
// consumes drops the record (Flink does the same); operators that must not lose records silently
// (late window data) count them instead.
class SideOutputs {
 public:
  void Set(const std::string& tag, OutputBase* output) { outputs_.emplace_back(tag, output); }
  // The consumer of `tag`, or nullptr. REQUIRES: a consumer of `tag` takes records of type T.
  template <typename T>
  Output<T>* Find(const OutputTag<T>& tag) const {
    for (const auto& [id, output] : outputs_) {
      if (id == tag.id()) {
        auto* typed = dynamic_cast<Output<T>*>(output);
        WEIR_CHECK_MSG(typed != nullptr, "side output '{}' has consumers of another type", id);
        return typed;
      }
    }
    return nullptr;
  }
  template <typename T>
  bool Emit(const OutputTag<T>& tag, const T& value, Timestamp timestamp) const {
    Output<T>* output = Find(tag);
    if (output == nullptr) return false;
    output->Collect(value, timestamp);
    return true;
  }
  bool empty() const { return outputs_.empty(); }

 private:
  std::vector<std::pair<std::string, OutputBase*>> outputs_;
};

}  // namespace weir::operators
