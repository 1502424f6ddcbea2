// Nexmark's `datagen` table as a weir source: generated (NexmarkSource) or read from an event file
// (NexmarkFileSource, see event_csv.h).
//
// Event time as nexmark's ddl_gen.sql declares it: each event's timestamp is its dateTime, and
// `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`, which Flink SQL runs as a watermark
// of (max dateTime seen) - 4000 ms exactly, emitted periodically (pipeline.auto-watermark-interval)
// and after each poll batch. weir's bounded-out-of-orderness generator emits max - bound - 1, so
// the sources use a bound of 3999 ms (kNexmarkWatermarkBoundMillis).
//
// Splitting. Generated events are a pure function of their number (generator.h), so subtask i of
// p takes event numbers i, i + p, i + 2p, ...: all subtasks advance through event time together,
// and the job sees the same multiset of events at every parallelism. (nexmark-flink instead gives
// each subtask a contiguous block of event ids on its own timeline, with the inter-event delay
// multiplied by p, so its streams change with the parallelism.) Both sources can be replayed from
// any position (an event number, a file offset).
#pragma once

#include <cstdint>
#include <string>

#include "api/data_stream.h"
#include "api/stream_execution_environment.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/model.h"
#include "harness/run_context.h"

namespace weir::harness::nexmark {

// ForBoundedOutOfOrderness(kNexmarkWatermarkBoundMillis) emits max dateTime - 4000.
inline constexpr int64_t kNexmarkWatermarkBoundMillis = 3999;

// The watermark strategy of both sources: timestamps from dateTime, Flink SQL's watermark of
// ddl_gen.sql.
inline auto NexmarkWatermarkStrategy() {
  return operators::WatermarkStrategy<Event>::ForBoundedOutOfOrderness(
             std::chrono::milliseconds(kNexmarkWatermarkBoundMillis))
      .WithTimestampAssigner([](const Event& event, Timestamp) { return event.date_time(); });
}

// Events 0 .. config.max_events-1 of `config`'s generator at the environment's parallelism.
// Unpaced (context.rate == 0): as fast as the job takes them. Paced (context.rate > 0): calls
// context.pacer->Pace(config.base_time, 1'000'000) and emits each event once its due instant
// pacer->DueNanos(dateTime) has passed (all events of one millisecond together); a subtask ahead of
// the schedule returns kNothingNow and never sleeps. Adds the number of events emitted to
// *context.events_emitted once per poll batch.
// REQUIRES: config.Validate().ok(); when context.rate > 0, config.first_event_rate == context.rate
// (the caller sets it: the rate is what spaces the dateTimes).
api::DataStream<Event> NexmarkSource(api::StreamExecutionEnvironment& env,
                                     const GeneratorConfig& config, const RunContext& context);

// The events of an event file in file order, with parallelism 1. Events may be out of order; late
// ones are late downstream, as in Flink. A malformed line fails the job with
// "<path>:<line>:<column>: <what>"; a missing file fails it with the path. Blank lines are skipped.
// Unpaced, whatever context.rate says (the file's own dateTimes need no schedule); adds to
// *context.events_emitted like NexmarkSource.
api::DataStream<Event> NexmarkFileSource(api::StreamExecutionEnvironment& env, std::string path,
                                         const RunContext& context);

}  // namespace weir::harness::nexmark
