// Logical types of weir's rows (the subset of Flink SQL's types that rows support today) and the
// text forms of their values.
//
// Every type maps to one fixed-width physical value, which is what a row stores in its 8-byte slot
// (row.h):
//   BOOLEAN        bool
//   INT            int32_t
//   BIGINT         int64_t
//   DOUBLE         double
//   DECIMAL(p, s)  int64_t unscaled value: the number times 10^s (1 <= p <= 18, 0 <= s <= p), so
//                  12.50 in DECIMAL(10, 2) is 1250; |unscaled| < 10^p always holds
//   VARCHAR        UTF-8 bytes (std::string_view), stored in the row's variable-length tail
//   TIMESTAMP(3)   int64_t milliseconds since 1970-01-01 00:00:00 UTC (weir::Timestamp)
//
// Differences from Flink, on purpose: a bare `VARCHAR` means unbounded (Flink: VARCHAR(1)) and
// prints as Flink's `STRING`; a VARCHAR(n) length is kept and printed but not enforced; a bare
// `TIMESTAMP` means TIMESTAMP(3) (Flink: TIMESTAMP(6)), the only precision supported.
//
// The value-text helpers below (decimals, timestamps, doubles) are shared by FormatRow and the CSV
// and JSON formats so all of them print and accept the same spelling. They append to a
// caller-owned string that is reused across records, so they allocate only while it grows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace weir::serde {

enum class TypeKind : uint8_t {
  kBoolean,
  kInt,
  kBigInt,
  kDouble,
  kDecimal,
  kVarchar,
  kTimestamp,
};

// "BOOLEAN", "INT", ... (the kind alone, without precision).
std::string_view TypeKindName(TypeKind kind);

inline constexpr int kMaxDecimalPrecision = 18;
// The precision of a VARCHAR without a length (Flink's STRING is VARCHAR(2147483647)).
inline constexpr int kUnboundedVarcharLength = 2147483647;
inline constexpr int kTimestampPrecision = 3;

// A logical type: kind, precision and scale where the kind has them, and nullability. A small
// value type; compare with ==.
class DataType {
 public:
  static DataType Boolean() { return DataType(TypeKind::kBoolean, 0, 0); }
  static DataType Int() { return DataType(TypeKind::kInt, 0, 0); }
  static DataType BigInt() { return DataType(TypeKind::kBigInt, 0, 0); }
  static DataType Double() { return DataType(TypeKind::kDouble, 0, 0); }
  // REQUIRES: 1 <= precision <= kMaxDecimalPrecision, 0 <= scale <= precision.
  static DataType Decimal(int precision, int scale);
  // REQUIRES: length >= 1.
  static DataType Varchar(int length = kUnboundedVarcharLength);
  static DataType Timestamp() { return DataType(TypeKind::kTimestamp, kTimestampPrecision, 0); }

  // The same type with nullability changed.
  DataType NotNull() const { return WithNullable(false); }
  DataType WithNullable(bool nullable) const {
    DataType copy = *this;
    copy.nullable_ = nullable;
    return copy;
  }

  TypeKind kind() const { return kind_; }
  // DECIMAL: digits; VARCHAR: max length; TIMESTAMP: fractional second digits (3); else 0.
  int precision() const { return precision_; }
  // DECIMAL: digits after the point; else 0.
  int scale() const { return scale_; }
  bool nullable() const { return nullable_; }
  // VARCHAR is the only type whose value lives outside its slot.
  bool is_var_length() const { return kind_ == TypeKind::kVarchar; }

  // SQL spelling: "INT", "DECIMAL(10, 2)", "TIMESTAMP(3)", "STRING", "VARCHAR(20)",
  // "BIGINT NOT NULL". ParseDataType(ToString()) gives back an equal type.
  std::string ToString() const;

  bool operator==(const DataType&) const = default;

 private:
  DataType(TypeKind kind, int precision, int scale) : kind_(kind), precision_(precision), scale_(scale) {}

  TypeKind kind_;
  bool nullable_ = true;
  int precision_;
  int scale_;
};

// Parses SQL type text, case-insensitively, with optional whitespace: BOOLEAN, INT / INTEGER,
// BIGINT, DOUBLE, DECIMAL / DEC / NUMERIC [(p [, s])] (default precision 10, scale 0, as Flink),
// VARCHAR [(n)] / STRING, TIMESTAMP [(3)], each optionally followed by NOT NULL or NULL.
// Errors are InvalidArgument naming the text: "invalid data type 'DECIMAL(30, 2)': ...".
[[nodiscard]] Result<DataType> ParseDataType(std::string_view text);

// ---- DECIMAL values ----

// Parses decimal text ("12.345", "-0.5", "+7", ".5", "1.5E3") into an unscaled value with `scale`
// digits after the point, rounding HALF_UP (ties away from zero, as Flink's cast to DECIMAL does).
// Errors (InvalidArgument): not a number, or a result that needs more than `precision` digits
// ("value 123.45 overflows DECIMAL(4, 2)").
// REQUIRES: 1 <= precision <= kMaxDecimalPrecision, 0 <= scale <= precision.
[[nodiscard]] Result<int64_t> ParseDecimal(std::string_view text, int precision, int scale);

// Appends the unscaled value with exactly `scale` digits after the point: (1250, 2) -> "12.50",
// (-5, 3) -> "-0.005", (7, 0) -> "7".
void AppendDecimal(std::string& out, int64_t unscaled, int scale);

// ---- TIMESTAMP(3) values ----

// Days since 1970-01-01 <-> proleptic Gregorian date (Howard Hinnant's civil-from-days
// arithmetic; valid for every date an int64 millisecond timestamp can reach).
int64_t DaysFromCivil(int64_t year, int month, int day);
struct CivilDate {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};
CivilDate CivilFromDays(int64_t days);

// Appends "YYYY-MM-DD HH:MM:SS.mmm" in UTC. Years outside 0..9999 print with as many digits as they
// need (at least 4) and a leading '-' when negative ("-0871-05-27 ..."); ParseTimestamp reads them.
void AppendTimestamp(std::string& out, int64_t epoch_millis);

// Parses "YYYY-MM-DD HH:MM:SS.mmm" (UTC). Also accepted: a 'T' instead of the space, 0 to 9
// fraction digits (digits past milliseconds are truncated, as a cast to TIMESTAMP(3) does),
// no seconds ("HH:MM"), and a date alone (midnight). Fields are range-checked (month 13, Feb 30,
// hour 24 are errors). Errors are InvalidArgument naming the text and the part that is wrong.
[[nodiscard]] Result<int64_t> ParseTimestamp(std::string_view text);

// ---- DOUBLE values ----

// Appends a double as Java's Double.toString prints it (which is what Flink prints): "1.0", "2.5",
// "0.001", "1.0E7", "1.2345E-5", "NaN", "Infinity", "-Infinity"; the digits are the shortest that
// parse back to the same double.
void AppendDouble(std::string& out, double value);

// Parses a double: decimal or scientific text with an optional sign, or NaN / Infinity / inf
// (case-insensitive). The whole text must be the number.
[[nodiscard]] Result<double> ParseDouble(std::string_view text);

// Parses a decimal integer with an optional sign that fits in int64 / int32.
[[nodiscard]] Result<int64_t> ParseBigInt(std::string_view text);
[[nodiscard]] Result<int32_t> ParseInt(std::string_view text);
// "true" / "false", case-insensitive.
[[nodiscard]] Result<bool> ParseBool(std::string_view text);

}  // namespace weir::serde
