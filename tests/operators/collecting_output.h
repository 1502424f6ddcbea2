// Test helper: an Output<T> that keeps copies of what it receives.
#pragma once

#include <string>
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

}  // namespace weir::operators::testing
