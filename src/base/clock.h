// Clocks. Event and processing times in weir are int64 milliseconds since the Unix epoch (Flink's
// convention); latency measurement uses a monotonic nanosecond clock.
#pragma once

#include <cstdint>
#include <ctime>
#include <limits>

namespace weir {

// Milliseconds since the epoch. Flink's Long.MIN_VALUE / MAX_VALUE watermark bounds.
using Timestamp = int64_t;
inline constexpr Timestamp kMinTimestamp = std::numeric_limits<int64_t>::min();
inline constexpr Timestamp kMaxTimestamp = std::numeric_limits<int64_t>::max();

// Monotonic nanoseconds (CLOCK_MONOTONIC); for durations and latency, never for event time.
inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Wall-clock milliseconds since the epoch: processing time.
inline Timestamp WallMillis() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Timestamp{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

// Process CPU time (all threads) in nanoseconds.
inline int64_t ProcessCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace weir
