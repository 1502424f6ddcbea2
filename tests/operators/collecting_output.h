// Test helper: an Output<T> that keeps copies of what it receives.
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "operators/output.h"

namespace weir::operators::testing {

template <typename T, typename Stored = T>
class CollectingOutput final : public Output<T> {
 public:
  void Collect(const T& value, Timestamp timestamp) override {
    values.push_back(Stored(value));
    timestamps.push_back(timestamp);
  }
  void EmitWatermark(Timestamp watermark) override { watermarks.push_back(watermark); }
  void EndInput() override { ++end_inputs; }

  std::vector<Stored> values;
  std::vector<Timestamp> timestamps;
  std::vector<Timestamp> watermarks;
  int end_inputs = 0;
};

// The values `sink` received, grouped by their `key` field, each group in arrival order and each
// value with its record timestamp written into its `timestamp` field.
template <typename T>
auto ValuesPerKey(const CollectingOutput<T>& sink) {
  std::map<std::decay_t<decltype(std::declval<const T&>().key)>, std::vector<T>> per_key;
  for (size_t i = 0; i < sink.values.size(); ++i) {
    T value = sink.values[i];
    value.timestamp = sink.timestamps[i];
    per_key[value.key].push_back(std::move(value));
  }
  return per_key;
}

}  // namespace weir::operators::testing
