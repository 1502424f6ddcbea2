// Event time in the DataStream API: DataStream::AssignTimestampsAndWatermarks (Flink's
// assignTimestampsAndWatermarks) and the strategy types users build (Flink's WatermarkStrategy;
// see operators/watermark_strategy.h for the semantics and operators/timestamps_and_watermarks.h
// for the operator and per-split source generation).
//
//   auto timed = env.FromCollection(events).AssignTimestampsAndWatermarks(
//       WatermarkStrategy<Event>::ForBoundedOutOfOrderness(std::chrono::seconds(5))
//           .WithTimestampAssigner([](const Event& e, Timestamp) { return e.time; }));
//
// Sources take a strategy directly (Flink's env.fromSource(source, strategy, name)), which runs a
// generator per source split: env.ReadTextFile(path, strategy), env.FromSource(name, make,
// strategy), ... (see api/stream_execution_environment.h).
#pragma once

#include <memory>
#include <utility>

#include "api/data_stream.h"
#include "operators/timestamps_and_watermarks.h"
#include "operators/watermark_strategy.h"

namespace weir::api {

using operators::RelativeClock;
using operators::WatermarkGenerator;
using operators::WatermarkGeneratorContext;
using operators::WatermarkOutput;
using operators::WatermarkStrategy;

template <typename T>
template <typename Strategy>
DataStream<T> DataStream<T>::AssignTimestampsAndWatermarks(Strategy strategy) const {
  static_assert(operators::WatermarkStrategyFor<Strategy, T>,
                "AssignTimestampsAndWatermarks takes a WatermarkStrategy<T> of the stream's type");
  return Then<T>("Timestamps/Watermarks", [strategy](int) {
    return std::make_unique<operators::TimestampsAndWatermarksOperator<T, Strategy>>(strategy);
  });
}

}  // namespace weir::api
