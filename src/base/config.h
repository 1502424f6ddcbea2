// Configuration by Apache Flink's keys and value formats.
//
// A Configuration is a map from Flink option keys ("parallelism.default") to their string values,
// as given with `-D key=value` on the command line. Typed reads parse Flink's formats: durations
// ("100ms", "5 s", "1 min"; a bare number is milliseconds), memory sizes ("64mb", "1 gb",
// 1024-based; a bare number is bytes), booleans, integers and enums (case-insensitive).
//
// Every key weir understands is declared once below as a ConfigOption with its default; Set()
// rejects unknown keys (naming the closest known one) so a typo never silently does nothing.
// Configuration is built once per job on the control thread and read at job start; nothing on
// the record path reads it.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace weir {

enum class ConfigType { kInt, kBool, kDuration, kMemorySize, kString, kEnum, kDouble };

struct ConfigOption {
  std::string_view key;
  ConfigType type;
  std::string_view default_value;  // in the option's own string format
  std::string_view description;
  std::string_view enum_values = {};  // for kEnum: "A|B|C"
};

// The options weir knows, by Flink key.
namespace options {
inline constexpr ConfigOption kParallelism{"parallelism.default", ConfigType::kInt, "1",
                                           "Default parallelism of every operator."};
inline constexpr ConfigOption kMaxParallelism{
    "pipeline.max-parallelism", ConfigType::kInt, "128",
    "Number of key groups: the upper bound for rescaling keyed state."};
inline constexpr ConfigOption kBufferTimeout{
    "execution.buffer-timeout", ConfigType::kDuration, "1 ms",
    "Longest time an output buffer waits before it is flushed; 0 flushes every record and makes "
    "workers busy-poll (low-latency mode)."};
inline constexpr ConfigOption kObjectReuse{
    "pipeline.object-reuse", ConfigType::kBool, "true",
    "Accepted for Flink compatibility; weir always passes records by reference inside a chain."};
inline constexpr ConfigOption kChaining{"pipeline.operator-chaining.enabled", ConfigType::kBool,
                                        "true", "Chain forward edges of equal parallelism."};
inline constexpr ConfigOption kSegmentSize{"taskmanager.memory.segment-size",
                                           ConfigType::kMemorySize, "32kb",
                                           "Size of one memory segment (a power of two)."};
inline constexpr ConfigOption kNetworkMemory{
    "taskmanager.memory.network.max", ConfigType::kMemorySize, "128mb",
    "Memory for the segments that carry records between tasks (all NUMA nodes together)."};
inline constexpr ConfigOption kManagedMemory{
    "taskmanager.memory.managed.size", ConfigType::kMemorySize, "1gb",
    "Managed memory for keyed state, sorting and hashing, split among the operators that use it."};
inline constexpr ConfigOption kChannelCapacity{
    "taskmanager.network.memory.buffers-per-channel", ConfigType::kInt, "8",
    "Credits per channel: buffers a producer may have in flight to one consumer."};
inline constexpr ConfigOption kCpuPinning{
    "weir.worker.pin-cpus", ConfigType::kBool, "true",
    "Pin each worker thread to its own core (weir-specific)."};
inline constexpr ConfigOption kWorkers{
    "taskmanager.numberOfTaskSlots", ConfigType::kInt, "0",
    "Worker threads (0 = one per core). Subtasks are spread over the workers."};
inline constexpr ConfigOption kCsvIgnoreParseErrors{
    "csv.ignore-parse-errors", ConfigType::kBool, "false",
    "Skip and count malformed CSV lines instead of failing the job."};
inline constexpr ConfigOption kJsonIgnoreParseErrors{
    "json.ignore-parse-errors", ConfigType::kBool, "false",
    "Skip and count malformed JSON lines instead of failing the job."};
inline constexpr ConfigOption kRuntimeMode{"execution.runtime-mode", ConfigType::kEnum,
                                           "STREAMING", "STREAMING, BATCH or AUTOMATIC.",
                                           "STREAMING|BATCH|AUTOMATIC"};
inline constexpr ConfigOption kAutoWatermarkInterval{
    "pipeline.auto-watermark-interval", ConfigType::kDuration, "200 ms",
    "Interval of periodic watermark emission."};
inline constexpr ConfigOption kPipelineName{"pipeline.name", ConfigType::kString, "",
                                            "Name of the job."};

// Checkpointing (Flink's keys; docs/checkpoints.md). An interval of 0 (the default) disables
// periodic checkpoints, as leaving Flink's key unset does.
inline constexpr ConfigOption kCheckpointingInterval{
    "execution.checkpointing.interval", ConfigType::kDuration, "0 ms",
    "Interval of periodic checkpoints; 0 disables them."};
inline constexpr ConfigOption kCheckpointingMode{
    "execution.checkpointing.mode", ConfigType::kEnum, "EXACTLY_ONCE",
    "EXACTLY_ONCE (aligned barriers) or AT_LEAST_ONCE (no alignment).",
    "EXACTLY_ONCE|AT_LEAST_ONCE"};
inline constexpr ConfigOption kCheckpointingTimeout{
    "execution.checkpointing.timeout", ConfigType::kDuration, "10 min",
    "A checkpoint not complete after this long is aborted."};
inline constexpr ConfigOption kCheckpointingMinPause{
    "execution.checkpointing.min-pause", ConfigType::kDuration, "0 ms",
    "Minimal pause between the end of one checkpoint and the start of the next."};
inline constexpr ConfigOption kCheckpointingMaxConcurrent{
    "execution.checkpointing.max-concurrent-checkpoints", ConfigType::kInt, "1",
    "Checkpoints in flight at once (weir supports 1)."};
inline constexpr ConfigOption kCheckpointingTolerableFailures{
    "execution.checkpointing.tolerable-failed-checkpoints", ConfigType::kInt, "0",
    "Consecutive failed checkpoints tolerated before the job fails."};
inline constexpr ConfigOption kCheckpointsDir{
    "state.checkpoints.dir", ConfigType::kString, "",
    "Directory of checkpoints: <dir>/<job-id>/chk-<n>/."};
inline constexpr ConfigOption kCheckpointsRetained{
    "state.checkpoints.num-retained", ConfigType::kInt, "1",
    "Completed checkpoints kept on disk."};
inline constexpr ConfigOption kIncrementalCheckpoints{
    "execution.checkpointing.incremental", ConfigType::kBool, "true",
    "Reference state written by earlier checkpoints instead of writing it again (weir's default: "
    "true; Flink's is false)."};
inline constexpr ConfigOption kSavepointsDir{
    "state.savepoints.dir", ConfigType::kString, "",
    "Directory of savepoints (stop with savepoint); the checkpoint directory when unset."};
inline constexpr ConfigOption kSavepointPath{
    "execution.savepoint.path", ConfigType::kString, "",
    "Checkpoint or savepoint to restore the job from ('latest' = newest complete checkpoint)."};

// Restart strategies (Flink's keys).
inline constexpr ConfigOption kRestartStrategy{
    "restart-strategy.type", ConfigType::kEnum, "NONE",
    "none (fail the job), fixed-delay or exponential-delay.",
    "NONE|OFF|DISABLE|FIXED-DELAY|FIXEDDELAY|EXPONENTIAL-DELAY|EXPONENTIALDELAY"};
inline constexpr ConfigOption kFixedDelayAttempts{
    "restart-strategy.fixed-delay.attempts", ConfigType::kInt, "1",
    "Restarts before the job fails (fixed-delay)."};
inline constexpr ConfigOption kFixedDelayDelay{
    "restart-strategy.fixed-delay.delay", ConfigType::kDuration, "1 s",
    "Delay before each restart (fixed-delay)."};
inline constexpr ConfigOption kExponentialInitialBackoff{
    "restart-strategy.exponential-delay.initial-backoff", ConfigType::kDuration, "1 s",
    "First restart delay (exponential-delay)."};
inline constexpr ConfigOption kExponentialMaxBackoff{
    "restart-strategy.exponential-delay.max-backoff", ConfigType::kDuration, "1 min",
    "Largest restart delay (exponential-delay)."};
inline constexpr ConfigOption kExponentialMultiplier{
    "restart-strategy.exponential-delay.backoff-multiplier", ConfigType::kDouble, "1.5",
    "Factor between consecutive delays (exponential-delay)."};
inline constexpr ConfigOption kExponentialResetThreshold{
    "restart-strategy.exponential-delay.reset-backoff-threshold", ConfigType::kDuration, "1 h",
    "Running this long without failure resets the delay (exponential-delay)."};
inline constexpr ConfigOption kExponentialJitter{
    "restart-strategy.exponential-delay.jitter-factor", ConfigType::kDouble, "0.1",
    "Random +- fraction of each delay (exponential-delay)."};
inline constexpr ConfigOption kExponentialAttempts{
    "restart-strategy.exponential-delay.attempts-before-reset-backoff", ConfigType::kInt,
    "2147483647", "Restarts before the job fails (exponential-delay)."};

// Every option above, for lookup, `weir --help` and docs.
std::span<const ConfigOption> All();
}  // namespace options

// Parsers for Flink's value formats; errors name the offending text.
Result<int64_t> ParseDurationMillis(std::string_view text);
Result<int64_t> ParseDurationNanos(std::string_view text);
Result<int64_t> ParseMemorySize(std::string_view text);
Result<bool> ParseBool(std::string_view text);
Result<int64_t> ParseInt(std::string_view text);
Result<double> ParseDouble(std::string_view text);

class Configuration {
 public:
  // Sets key to value after checking that the key is known and the value parses as its type.
  Status Set(std::string_view key, std::string_view value);
  // Parses "key=value" (the argument of -D).
  Status SetFromArgument(std::string_view key_equals_value);

  bool Contains(const ConfigOption& option) const;
  // Typed reads. The value was validated by Set(), so these only fail for a wrong-typed option.
  int64_t GetInt(const ConfigOption& option) const;
  bool GetBool(const ConfigOption& option) const;
  int64_t GetDurationMillis(const ConfigOption& option) const;
  int64_t GetDurationNanos(const ConfigOption& option) const;
  int64_t GetMemorySize(const ConfigOption& option) const;
  std::string GetString(const ConfigOption& option) const;
  double GetDouble(const ConfigOption& option) const;

  const std::map<std::string, std::string, std::less<>>& entries() const { return entries_; }

 private:
  std::string_view Raw(const ConfigOption& option) const;
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace weir
