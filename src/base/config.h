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

enum class ConfigType { kInt, kBool, kDuration, kMemorySize, kString, kEnum };

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

// Every option above, for lookup, `weir --help` and docs.
std::span<const ConfigOption> All();
}  // namespace options

// Parsers for Flink's value formats; errors name the offending text.
Result<int64_t> ParseDurationMillis(std::string_view text);
Result<int64_t> ParseDurationNanos(std::string_view text);
Result<int64_t> ParseMemorySize(std::string_view text);
Result<bool> ParseBool(std::string_view text);
Result<int64_t> ParseInt(std::string_view text);

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

  const std::map<std::string, std::string, std::less<>>& entries() const { return entries_; }

 private:
  std::string_view Raw(const ConfigOption& option) const;
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace weir
