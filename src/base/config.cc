#include "base/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "base/check.h"

namespace weir {
namespace options {

std::span<const ConfigOption> All() {
  static constexpr ConfigOption kAll[] = {
      kParallelism,      kMaxParallelism,       kBufferTimeout,         kObjectReuse,
      kChaining,         kSegmentSize,          kNetworkMemory,         kManagedMemory,
      kChannelCapacity,  kCpuPinning,           kWorkers,               kCsvIgnoreParseErrors,
      kJsonIgnoreParseErrors, kRuntimeMode,     kAutoWatermarkInterval, kPipelineName,
      kCheckpointingInterval, kCheckpointingMode, kCheckpointingTimeout, kCheckpointingMinPause,
      kCheckpointingMaxConcurrent, kCheckpointingTolerableFailures, kCheckpointsDir,
      kCheckpointsRetained, kIncrementalCheckpoints, kSavepointsDir, kSavepointPath,
      kRestartStrategy, kFixedDelayAttempts, kFixedDelayDelay, kExponentialInitialBackoff,
      kExponentialMaxBackoff, kExponentialMultiplier, kExponentialResetThreshold,
      kExponentialJitter, kExponentialAttempts,
  };
  return kAll;
}

}  // namespace options

namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "<number> <unit>" into a non-negative integer and a lower-case unit.
Result<std::pair<int64_t, std::string>> SplitNumberUnit(std::string_view text, std::string_view what) {
  std::string_view trimmed = Trim(text);
  size_t digits = 0;
  while (digits < trimmed.size() && std::isdigit(static_cast<unsigned char>(trimmed[digits]))) ++digits;
  if (digits == 0) {
    return InvalidArgument("'{}' is not a {}: it must start with a number", text, what);
  }
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(trimmed.data(), trimmed.data() + digits, number);
  if (ec != std::errc()) return InvalidArgument("'{}' is not a {}: number out of range", text, what);
  return std::make_pair(number, Lower(Trim(trimmed.substr(digits))));
}

int LevenshteinDistance(std::string_view a, std::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const ConfigOption* FindOption(std::string_view key) {
  for (const ConfigOption& option : options::All()) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

Status Validate(const ConfigOption& option, std::string_view value) {
  Status status;
  switch (option.type) {
    case ConfigType::kInt: status = ParseInt(value).status(); break;
    case ConfigType::kBool: status = ParseBool(value).status(); break;
    case ConfigType::kDuration: status = ParseDurationNanos(value).status(); break;
    case ConfigType::kMemorySize: status = ParseMemorySize(value).status(); break;
    case ConfigType::kString: break;
    case ConfigType::kDouble: status = ParseDouble(value).status(); break;
    case ConfigType::kEnum: {
      std::string upper(Trim(value));
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string_view values = option.enum_values;
      bool found = false;
      while (!values.empty()) {
        size_t bar = values.find('|');
        if (values.substr(0, bar) == upper) found = true;
        values = bar == std::string_view::npos ? std::string_view() : values.substr(bar + 1);
      }
      if (!found) status = InvalidArgument("'{}' is not one of {}", value, option.enum_values);
      break;
    }
  }
  return status.WithContext(fmt::format("configuration '{}'", option.key));
}

}  // namespace

Result<int64_t> ParseDurationNanos(std::string_view text) {
  ASSIGN_OR_RETURN(auto parts, SplitNumberUnit(text, "duration"));
  auto [number, unit] = parts;
  int64_t scale = 0;
  if (unit.empty() || unit == "ms" || unit == "milli" || unit == "millis" ||
      unit == "millisecond" || unit == "milliseconds") {
    scale = 1'000'000;
  } else if (unit == "ns" || unit == "nano" || unit == "nanos" || unit == "nanosecond" ||
             unit == "nanoseconds") {
    scale = 1;
  } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "micro" || unit == "micros" ||
             unit == "microsecond" || unit == "microseconds") {
    scale = 1'000;
  } else if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") {
    scale = 1'000'000'000;
  } else if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") {
    scale = 60'000'000'000;
  } else if (unit == "h" || unit == "hour" || unit == "hours") {
    scale = 3'600'000'000'000;
  } else if (unit == "d" || unit == "day" || unit == "days") {
    scale = 86'400'000'000'000;
  } else {
    return InvalidArgument("'{}' is not a duration: unknown unit '{}' (use ns, us, ms, s, min, h, d)",
                           text, unit);
  }
  if (number > INT64_MAX / scale) return InvalidArgument("'{}' is not a duration: too large", text);
  return number * scale;
}

Result<int64_t> ParseDurationMillis(std::string_view text) {
  ASSIGN_OR_RETURN(int64_t nanos, ParseDurationNanos(text));
  return nanos / 1'000'000;
}

Result<int64_t> ParseMemorySize(std::string_view text) {
  ASSIGN_OR_RETURN(auto parts, SplitNumberUnit(text, "memory size"));
  auto [number, unit] = parts;
  int shift = -1;
  if (unit.empty() || unit == "b" || unit == "bytes") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kibibytes") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mebibytes") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gibibytes") shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tebibytes") shift = 40;
  if (shift < 0) {
    return InvalidArgument("'{}' is not a memory size: unknown unit '{}' (use b, kb, mb, gb, tb)",
                           text, unit);
  }
  if (number > (INT64_MAX >> shift)) return InvalidArgument("'{}' is not a memory size: too large", text);
  return number << shift;
}

Result<bool> ParseBool(std::string_view text) {
  std::string lower = Lower(Trim(text));
  if (lower == "true") return true;
  if (lower == "false") return false;
  return InvalidArgument("'{}' is not a boolean (true or false)", text);
}

Result<int64_t> ParseInt(std::string_view text) {
  std::string_view trimmed = Trim(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (ec != std::errc() || ptr != trimmed.data() + trimmed.size() || trimmed.empty()) {
    return InvalidArgument("'{}' is not an integer", text);
  }
  return value;
}

Result<double> ParseDouble(std::string_view text) {
  std::string_view trimmed = Trim(text);
  double value = 0;
  auto [ptr, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (ec != std::errc() || ptr != trimmed.data() + trimmed.size() || trimmed.empty() ||
      !std::isfinite(value)) {
    return InvalidArgument("'{}' is not a number", text);
  }
  return value;
}

Status Configuration::Set(std::string_view key, std::string_view value) {
  key = Trim(key);
  const ConfigOption* option = FindOption(key);
  if (option == nullptr) {
    const ConfigOption* closest = nullptr;
    int best = 1 << 30;
    for (const ConfigOption& candidate : options::All()) {
      int distance = LevenshteinDistance(key, candidate.key);
      if (distance < best) best = distance, closest = &candidate;
    }
    if (closest != nullptr && best <= static_cast<int>(key.size()) / 3) {
      return InvalidArgument("unknown configuration key '{}' (did you mean '{}'?)", key, closest->key);
    }
    return InvalidArgument("unknown configuration key '{}' (see `weir --help-config`)", key);
  }
  RETURN_IF_ERROR(Validate(*option, value));
  entries_[std::string(key)] = std::string(Trim(value));
  return Status::Ok();
}

Status Configuration::SetFromArgument(std::string_view key_equals_value) {
  size_t equals = key_equals_value.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return InvalidArgument("-D expects key=value, got '{}'", key_equals_value);
  }
  return Set(key_equals_value.substr(0, equals), key_equals_value.substr(equals + 1));
}

bool Configuration::Contains(const ConfigOption& option) const {
  return entries_.find(option.key) != entries_.end();
}

std::string_view Configuration::Raw(const ConfigOption& option) const {
  auto it = entries_.find(option.key);
  return it == entries_.end() ? option.default_value : std::string_view(it->second);
}

int64_t Configuration::GetInt(const ConfigOption& option) const {
  WEIR_CHECK(option.type == ConfigType::kInt);
  auto value = ParseInt(Raw(option));
  WEIR_CHECK_OK(value.status());
  return *value;
}

bool Configuration::GetBool(const ConfigOption& option) const {
  WEIR_CHECK(option.type == ConfigType::kBool);
  auto value = ParseBool(Raw(option));
  WEIR_CHECK_OK(value.status());
  return *value;
}

int64_t Configuration::GetDurationMillis(const ConfigOption& option) const {
  return GetDurationNanos(option) / 1'000'000;
}

int64_t Configuration::GetDurationNanos(const ConfigOption& option) const {
  WEIR_CHECK(option.type == ConfigType::kDuration);
  auto value = ParseDurationNanos(Raw(option));
  WEIR_CHECK_OK(value.status());
  return *value;
}

int64_t Configuration::GetMemorySize(const ConfigOption& option) const {
  WEIR_CHECK(option.type == ConfigType::kMemorySize);
  auto value = ParseMemorySize(Raw(option));
  WEIR_CHECK_OK(value.status());
  return *value;
}

std::string Configuration::GetString(const ConfigOption& option) const {
  std::string value(Raw(option));
  if (option.type == ConfigType::kEnum) {
    for (char& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return value;
}

double Configuration::GetDouble(const ConfigOption& option) const {
  WEIR_CHECK(option.type == ConfigType::kDouble);
  auto value = ParseDouble(Raw(option));
  WEIR_CHECK_OK(value.status());
  return *value;
}

}  // namespace weir
