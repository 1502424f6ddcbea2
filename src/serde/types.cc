#include "serde/types.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include "base/check.h"

namespace weir::serde {
namespace {

constexpr std::array<int64_t, 19> kPowersOfTen = {
    1LL,
    10LL,
    100LL,
    1000LL,
    10000LL,
    100000LL,
    1000000LL,
    10000000LL,
    100000000LL,
    1000000000LL,
    10000000000LL,
    100000000000LL,
    1000000000000LL,
    10000000000000LL,
    100000000000000LL,
    1000000000000000LL,
    10000000000000000LL,
    100000000000000000LL,
    1000000000000000000LL,
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToUpper(a[i]) != ToUpper(b[i])) return false;
  }
  return true;
}

// A cursor over type text for ParseDataType.
class TypeTextScanner {
 public:
  explicit TypeTextScanner(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  // A word of letters, digits and underscores; empty when none.
  std::string_view Word() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && (IsAlpha(text_[pos_]) || IsDigit(text_[pos_]))) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  // A non-negative integer of at most 10 digits; -1 when there is none.
  int64_t Integer() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_]) && pos_ - start < 11) ++pos_;
    if (pos_ == start || pos_ - start > 10) return -1;
    int64_t value = 0;
    std::from_chars(text_.data() + start, text_.data() + pos_, value);
    return value;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

Status TypeError(std::string_view text, std::string_view what) {
  return InvalidArgument("invalid data type '{}': {}", text, what);
}

}  // namespace

std::string_view TypeKindName(TypeKind kind) {
  switch (kind) {
    case TypeKind::kBoolean:
      return "BOOLEAN";
    case TypeKind::kInt:
      return "INT";
    case TypeKind::kBigInt:
      return "BIGINT";
    case TypeKind::kDouble:
      return "DOUBLE";
    case TypeKind::kDecimal:
      return "DECIMAL";
    case TypeKind::kVarchar:
      return "VARCHAR";
    case TypeKind::kTimestamp:
      return "TIMESTAMP";
  }
  return "UNKNOWN";
}

DataType DataType::Decimal(int precision, int scale) {
  WEIR_CHECK_MSG(precision >= 1 && precision <= kMaxDecimalPrecision && scale >= 0 && scale <= precision,
                 "DECIMAL({}, {})", precision, scale);
  return DataType(TypeKind::kDecimal, precision, scale);
}

DataType DataType::Varchar(int length) {
  WEIR_CHECK_MSG(length >= 1, "VARCHAR({})", length);
  return DataType(TypeKind::kVarchar, length, 0);
}

std::string DataType::ToString() const {
  std::string text;
  switch (kind_) {
    case TypeKind::kDecimal:
      text = fmt::format("DECIMAL({}, {})", precision_, scale_);
      break;
    case TypeKind::kVarchar:
      text = precision_ == kUnboundedVarcharLength ? "STRING" : fmt::format("VARCHAR({})", precision_);
      break;
    case TypeKind::kTimestamp:
      text = fmt::format("TIMESTAMP({})", precision_);
      break;
    default:
      text = std::string(TypeKindName(kind_));
      break;
  }
  if (!nullable_) text += " NOT NULL";
  return text;
}

Result<DataType> ParseDataType(std::string_view text) {
  TypeTextScanner scanner(text);
  std::string_view name = scanner.Word();
  if (name.empty()) return TypeError(text, "expected a type name");

  // Up to two integer arguments in parentheses.
  int64_t args[2] = {-1, -1};
  int arg_count = 0;
  if (scanner.Consume('(')) {
    while (true) {
      if (arg_count == 2) return TypeError(text, "too many arguments");
      int64_t value = scanner.Integer();
      if (value < 0) return TypeError(text, "expected a non-negative integer argument");
      args[arg_count++] = value;
      if (scanner.Consume(')')) break;
      if (!scanner.Consume(',')) return TypeError(text, "expected ',' or ')'");
    }
  }

  DataType type = DataType::Boolean();
  auto no_args = [&]() -> Status {
    if (arg_count != 0) return TypeError(text, fmt::format("{} takes no arguments", name));
    return Status::Ok();
  };
  if (EqualsIgnoreCase(name, "BOOLEAN") || EqualsIgnoreCase(name, "BOOL")) {
    RETURN_IF_ERROR(no_args());
    type = DataType::Boolean();
  } else if (EqualsIgnoreCase(name, "INT") || EqualsIgnoreCase(name, "INTEGER")) {
    RETURN_IF_ERROR(no_args());
    type = DataType::Int();
  } else if (EqualsIgnoreCase(name, "BIGINT")) {
    RETURN_IF_ERROR(no_args());
    type = DataType::BigInt();
  } else if (EqualsIgnoreCase(name, "DOUBLE")) {
    RETURN_IF_ERROR(no_args());
    // Accept SQL's two-word spelling "DOUBLE PRECISION".
    TypeTextScanner lookahead = scanner;
    if (EqualsIgnoreCase(lookahead.Word(), "PRECISION")) scanner = lookahead;
    type = DataType::Double();
  } else if (EqualsIgnoreCase(name, "DECIMAL") || EqualsIgnoreCase(name, "DEC") ||
             EqualsIgnoreCase(name, "NUMERIC")) {
    int64_t precision = arg_count >= 1 ? args[0] : 10;
    int64_t scale = arg_count >= 2 ? args[1] : 0;
    if (precision < 1 || precision > kMaxDecimalPrecision) {
      return TypeError(text, fmt::format("precision must be between 1 and {}", kMaxDecimalPrecision));
    }
    if (scale > precision) return TypeError(text, "scale must not exceed the precision");
    type = DataType::Decimal(static_cast<int>(precision), static_cast<int>(scale));
  } else if (EqualsIgnoreCase(name, "VARCHAR")) {
    if (arg_count > 1) return TypeError(text, "VARCHAR takes one length argument");
    if (arg_count == 1 && (args[0] < 1 || args[0] > kUnboundedVarcharLength)) {
      return TypeError(text, "length must be between 1 and 2147483647");
    }
    type = DataType::Varchar(arg_count == 1 ? static_cast<int>(args[0]) : kUnboundedVarcharLength);
  } else if (EqualsIgnoreCase(name, "STRING")) {
    RETURN_IF_ERROR(no_args());
    type = DataType::Varchar();
  } else if (EqualsIgnoreCase(name, "TIMESTAMP")) {
    if (arg_count > 1 || (arg_count == 1 && args[0] != kTimestampPrecision)) {
      return TypeError(text, "only TIMESTAMP(3) (millisecond precision) is supported");
    }
    type = DataType::Timestamp();
  } else {
    return TypeError(text, fmt::format("unknown type '{}'", name));
  }

  std::string_view word = scanner.Word();
  if (EqualsIgnoreCase(word, "NOT")) {
    if (!EqualsIgnoreCase(scanner.Word(), "NULL")) return TypeError(text, "expected NULL after NOT");
    type = type.NotNull();
  } else if (EqualsIgnoreCase(word, "NULL")) {
    type = type.WithNullable(true);
  } else if (!word.empty()) {
    return TypeError(text, fmt::format("unexpected '{}'", word));
  }
  if (!scanner.AtEnd()) return TypeError(text, "unexpected text after the type");
  return type;
}

// ---- DECIMAL ----

Result<int64_t> ParseDecimal(std::string_view text, int precision, int scale) {
  WEIR_DCHECK(precision >= 1 && precision <= kMaxDecimalPrecision && scale >= 0 && scale <= precision);
  auto not_a_number = [&]() { return InvalidArgument("'{}' is not a decimal number", text); };
  size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) negative = text[pos++] == '-';

  // The significant digits (leading zeros dropped) and the power of ten they are scaled by:
  // value = digits * 10^exponent.
  char digits[40];
  int digit_count = 0;
  int64_t exponent = 0;
  bool any_digit = false;
  // Digits past the 40th significant one only matter for rounding a value that overflows anyway.
  while (pos < text.size() && IsDigit(text[pos])) {
    char c = text[pos++];
    any_digit = true;
    if (digit_count == 0 && c == '0') continue;
    if (digit_count < static_cast<int>(sizeof(digits))) {
      digits[digit_count++] = c;
    } else {
      ++exponent;
    }
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      char c = text[pos++];
      any_digit = true;
      if (digit_count == 0 && c == '0') {
        --exponent;  // 0.05 = 5 * 10^-2
      } else if (digit_count < static_cast<int>(sizeof(digits))) {
        digits[digit_count++] = c;
        --exponent;
      }
    }
  }
  if (!any_digit) return not_a_number();
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exponent_negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) exponent_negative = text[pos++] == '-';
    size_t start = pos;
    int64_t written_exponent = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (written_exponent < 1'000'000) written_exponent = written_exponent * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return not_a_number();
    exponent += exponent_negative ? -written_exponent : written_exponent;
  }
  if (pos != text.size()) return not_a_number();

  auto overflow = [&]() { return InvalidArgument("value {} overflows DECIMAL({}, {})", text, precision, scale); };
  if (digit_count == 0) return int64_t{0};
  // The unscaled value is digits * 10^shift.
  int64_t shift = exponent + scale;
  int64_t kept = digit_count + shift;  // digits of the unscaled value before rounding
  if (kept > precision) return overflow();
  uint64_t magnitude = 0;
  if (shift >= 0) {
    for (int i = 0; i < digit_count; ++i) magnitude = magnitude * 10 + static_cast<uint64_t>(digits[i] - '0');
    magnitude *= static_cast<uint64_t>(kPowersOfTen[shift]);
  } else {
    for (int64_t i = 0; i < kept; ++i) magnitude = magnitude * 10 + static_cast<uint64_t>(digits[i] - '0');
    // HALF_UP: the first dropped digit decides. When kept < 0 even that digit lies below the
    // rounding position, so the result is 0.
    if (kept >= 0 && digits[kept] >= '5') ++magnitude;
  }
  if (magnitude >= static_cast<uint64_t>(kPowersOfTen[precision])) return overflow();
  int64_t value = static_cast<int64_t>(magnitude);
  return negative ? -value : value;
}

void AppendDecimal(std::string& out, int64_t unscaled, int scale) {
  WEIR_DCHECK(scale >= 0 && scale <= kMaxDecimalPrecision);
  uint64_t magnitude = unscaled < 0 ? 0 - static_cast<uint64_t>(unscaled) : static_cast<uint64_t>(unscaled);
  if (unscaled < 0) out.push_back('-');
  uint64_t power = static_cast<uint64_t>(kPowersOfTen[scale]);
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), magnitude / power);
  out.append(buffer, end);
  if (scale == 0) return;
  out.push_back('.');
  uint64_t fraction = magnitude % power;
  char fraction_digits[20];
  for (int i = scale - 1; i >= 0; --i) {
    fraction_digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  out.append(fraction_digits, static_cast<size_t>(scale));
}

// ---- TIMESTAMP ----

int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;                                        // [0, 399]
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

CivilDate CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;                                                  // [0, 146096]
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;  // [0, 399]
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_index = (5 * day_of_year + 2) / 153;  // [0, 11], March-based
  const int day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  const int month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  return CivilDate{year_of_era + era * 400 + (month <= 2), month, day};
}

namespace {

constexpr int64_t kMillisPerDay = 86'400'000;

void AppendTwoDigits(std::string& out, int value) {
  out.push_back(static_cast<char>('0' + value / 10));
  out.push_back(static_cast<char>('0' + value % 10));
}

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

}  // namespace

void AppendTimestamp(std::string& out, int64_t epoch_millis) {
  // Floor division so times before 1970 land on the previous day with a positive time of day.
  int64_t days = epoch_millis / kMillisPerDay;
  int64_t millis_of_day = epoch_millis % kMillisPerDay;
  if (millis_of_day < 0) {
    millis_of_day += kMillisPerDay;
    --days;
  }
  CivilDate date = CivilFromDays(days);
  if (date.year >= 0 && date.year <= 9999) {
    int year = static_cast<int>(date.year);
    AppendTwoDigits(out, year / 100);
    AppendTwoDigits(out, year % 100);
  } else {
    fmt::format_to(std::back_inserter(out), "{:05}", date.year);  // "-0871", "12345"
  }
  out.push_back('-');
  AppendTwoDigits(out, date.month);
  out.push_back('-');
  AppendTwoDigits(out, date.day);
  out.push_back(' ');
  int seconds_of_day = static_cast<int>(millis_of_day / 1000);
  AppendTwoDigits(out, seconds_of_day / 3600);
  out.push_back(':');
  AppendTwoDigits(out, seconds_of_day / 60 % 60);
  out.push_back(':');
  AppendTwoDigits(out, seconds_of_day % 60);
  out.push_back('.');
  int millis = static_cast<int>(millis_of_day % 1000);
  out.push_back(static_cast<char>('0' + millis / 100));
  AppendTwoDigits(out, millis % 100);
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  size_t pos = 0;
  auto error = [&](std::string_view what) {
    return InvalidArgument("invalid timestamp '{}': {} (expected YYYY-MM-DD HH:MM:SS.mmm)", text, what);
  };
  // Reads exactly `count` digits.
  auto digits = [&](int count, int64_t& value) {
    value = 0;
    for (int i = 0; i < count; ++i) {
      if (pos >= text.size() || !IsDigit(text[pos])) return false;
      value = value * 10 + (text[pos++] - '0');
    }
    return true;
  };
  bool negative_year = pos < text.size() && text[pos] == '-';
  if (negative_year) ++pos;
  int64_t year = 0;
  size_t year_start = pos;
  while (pos < text.size() && IsDigit(text[pos]) && pos - year_start < 9) year = year * 10 + (text[pos++] - '0');
  if (pos - year_start < 4) return error("the year needs 4 digits");
  if (negative_year) year = -year;
  int64_t month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  if (pos >= text.size() || text[pos++] != '-' || !digits(2, month)) return error("bad month");
  if (month < 1 || month > 12) return error("month out of range");
  if (pos >= text.size() || text[pos++] != '-' || !digits(2, day)) return error("bad day");
  if (day < 1 || day > DaysInMonth(year, static_cast<int>(month))) return error("day out of range");
  if (pos < text.size()) {
    if (text[pos] != ' ' && text[pos] != 'T') return error("expected ' ' or 'T' after the date");
    ++pos;
    if (!digits(2, hour)) return error("bad hour");
    if (hour > 23) return error("hour out of range");
    if (pos >= text.size() || text[pos++] != ':' || !digits(2, minute)) return error("bad minute");
    if (minute > 59) return error("minute out of range");
    if (pos < text.size()) {
      if (text[pos++] != ':' || !digits(2, second)) return error("bad second");
      if (second > 59) return error("second out of range");
      if (pos < text.size()) {
        if (text[pos++] != '.') return error("expected '.' before the fraction");
        size_t fraction_start = pos;
        while (pos < text.size() && IsDigit(text[pos])) {
          if (pos - fraction_start < 3) millis = millis * 10 + (text[pos] - '0');
          ++pos;
        }
        size_t fraction_digits = pos - fraction_start;
        if (fraction_digits == 0 || fraction_digits > 9) return error("the fraction needs 1 to 9 digits");
        for (size_t i = fraction_digits; i < 3; ++i) millis *= 10;
        if (pos != text.size()) return error("unexpected text after the fraction");
      }
    }
  }
  int64_t days = DaysFromCivil(year, static_cast<int>(month), static_cast<int>(day));
  // 128-bit so the first and last partial days of the int64 range still round trip.
  const __int128 total = static_cast<__int128>(days) * kMillisPerDay +
                         ((static_cast<int64_t>(hour) * 60 + minute) * 60 + second) * 1000 + millis;
  if (total > std::numeric_limits<int64_t>::max() || total < std::numeric_limits<int64_t>::min()) {
    return error("year out of range");
  }
  return static_cast<int64_t>(total);
}

// ---- DOUBLE ----

void AppendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (value == 0) {
    out.append(std::signbit(value) ? "-0.0" : "0.0");
    return;
  }
  // Shortest round-trip digits in scientific form: "d.ddde+XX".
  char buffer[40];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view scientific(buffer, static_cast<size_t>(end - buffer));
  bool negative = scientific[0] == '-';
  if (negative) scientific.remove_prefix(1);
  size_t e = scientific.find('e');
  char significant[24];
  int significant_count = 0;
  for (size_t i = 0; i < e; ++i) {
    if (scientific[i] != '.') significant[significant_count++] = scientific[i];
  }
  int exponent = 0;
  std::string_view exponent_text = scientific.substr(e + 1);
  if (exponent_text[0] == '+') exponent_text.remove_prefix(1);
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);

  if (negative) out.push_back('-');
  if (exponent >= -3 && exponent < 7) {
    // Plain notation with at least one digit after the point.
    if (exponent < 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out.append(significant, static_cast<size_t>(significant_count));
    } else {
      int integer_digits = exponent + 1;
      for (int i = 0; i < integer_digits; ++i) out.push_back(i < significant_count ? significant[i] : '0');
      out.push_back('.');
      if (significant_count > integer_digits) {
        out.append(significant + integer_digits, static_cast<size_t>(significant_count - integer_digits));
      } else {
        out.push_back('0');
      }
    }
  } else {
    out.push_back(significant[0]);
    out.push_back('.');
    if (significant_count > 1) {
      out.append(significant + 1, static_cast<size_t>(significant_count - 1));
    } else {
      out.push_back('0');
    }
    out.push_back('E');
    fmt::format_to(std::back_inserter(out), "{}", exponent);
  }
}

Result<double> ParseDouble(std::string_view text) {
  std::string_view number = text;
  if (!number.empty() && number[0] == '+') number.remove_prefix(1);
  // from_chars also accepts inf / infinity / nan case-insensitively, which covers Java's
  // "Infinity" and "NaN".
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size()) {
    if (ec == std::errc::result_out_of_range && end == number.data() + number.size()) {
      // Underflow to a denormal/zero or overflow: from_chars reports it; Java parses to 0 / inf.
      return InvalidArgument("'{}' is out of the DOUBLE range", text);
    }
    return InvalidArgument("'{}' is not a DOUBLE", text);
  }
  return value;
}

Result<int64_t> ParseBigInt(std::string_view text) {
  std::string_view number = text;
  if (!number.empty() && number[0] == '+') number.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || end != number.data() + number.size() || ec == std::errc::invalid_argument) {
    return InvalidArgument("'{}' is not an integer", text);
  }
  if (ec == std::errc::result_out_of_range) return InvalidArgument("'{}' is out of the BIGINT range", text);
  return value;
}

Result<int32_t> ParseInt(std::string_view text) {
  std::string_view number = text;
  if (!number.empty() && number[0] == '+') number.remove_prefix(1);
  int32_t value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || end != number.data() + number.size() || ec == std::errc::invalid_argument) {
    return InvalidArgument("'{}' is not an integer", text);
  }
  if (ec == std::errc::result_out_of_range) return InvalidArgument("'{}' is out of the INT range", text);
  return value;
}

Result<bool> ParseBool(std::string_view text) {
  if (EqualsIgnoreCase(text, "true")) return true;
  if (EqualsIgnoreCase(text, "false")) return false;
  return InvalidArgument("'{}' is not a BOOLEAN (expected true or false)", text);
}

}  // namespace weir::serde
