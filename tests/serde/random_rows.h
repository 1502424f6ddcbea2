// Test helper shared by the CSV and JSON-lines codec tests: random types and values, writing them
// into rows, and checking a decoded row field by field against the intended values.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "serde/row.h"
#include "serde/schema.h"
#include "serde/types.h"

namespace weir::serde {
namespace {

// The expected value of one field, kept apart from any row so the decoded row is checked against
// what the test meant to write rather than against another row.
struct FieldValue {
  bool is_null = false;
  int64_t integer = 0;  // BOOLEAN, INT, BIGINT, DECIMAL (unscaled), TIMESTAMP (epoch millis)
  double real = 0;      // DOUBLE
  std::string text;     // VARCHAR
};

// 0000-01-01 00:00:00.000 and 9999-12-31 23:59:59.999 (Flink's TIMESTAMP range).
constexpr int64_t kMinFlinkTimestamp = -62'167'219'200'000;

constexpr int64_t kMaxFlinkTimestamp = 253'402'300'799'999;

int64_t Uniform(std::mt19937_64& random, int64_t low, int64_t high) {
  return std::uniform_int_distribution<int64_t>(low, high)(random);
}

int64_t PowerOfTen(int exponent) {
  int64_t power = 1;
  for (int i = 0; i < exponent; ++i) power *= 10;
  return power;
}

// Number of UTF-8 code points: the 1-based column of the character after `prefix` is this + 1.
int64_t CodePoints(std::string_view prefix) {
  int64_t count = 0;
  for (char c : prefix) count += (static_cast<uint8_t>(c) >> 6) != 0b10;
  return count;
}

DataType RandomType(std::mt19937_64& random) {
  DataType type = DataType::Boolean();
  switch (random() % 7) {
    case 0:
      type = DataType::Boolean();
      break;
    case 1:
      type = DataType::Int();
      break;
    case 2:
      type = DataType::BigInt();
      break;
    case 3:
      type = DataType::Double();
      break;
    case 4: {
      const int precision = static_cast<int>(Uniform(random, 1, kMaxDecimalPrecision));
      type = DataType::Decimal(precision, static_cast<int>(Uniform(random, 0, precision)));
      break;
    }
    case 5:
      type = DataType::Varchar();
      break;
    default:
      type = DataType::Timestamp();
      break;
  }
  return type.WithNullable(random() % 2 == 0);
}

double RandomDouble(std::mt19937_64& random) {
  static constexpr double kEdges[] = {0.0,
                                      -0.0,
                                      1.0,
                                      -1.5,
                                      0.1,
                                      0.001,
                                      9999999.0,
                                      1e7,
                                      1e-3,
                                      123456.789e-300,
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::lowest(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::denorm_min(),
                                      -std::numeric_limits<double>::denorm_min()};
  switch (random() % 4) {
    case 0:
      return kEdges[random() % std::size(kEdges)];
    case 1:  // a short decimal such as 12.75
      return static_cast<double>(Uniform(random, -1'000'000, 1'000'000)) / static_cast<double>(PowerOfTen(
                                                                               static_cast<int>(random() % 6)));
    default:  // any bit pattern: subnormals, huge and tiny exponents, NaNs
      return std::bit_cast<double>(random());
  }
}

// `random_string` makes the VARCHAR values, so each format can stress its own quoting.
FieldValue RandomValue(std::mt19937_64& random, const DataType& type,
                       std::string (*random_string)(std::mt19937_64&)) {
  FieldValue value;
  if (type.nullable() && random() % 5 == 0) {
    value.is_null = true;
    return value;
  }
  switch (type.kind()) {
    case TypeKind::kBoolean:
      value.integer = static_cast<int64_t>(random() % 2);
      break;
    case TypeKind::kInt:
      value.integer = random() % 8 == 0 ? (random() % 2 ? INT32_MIN : INT32_MAX)
                                        : Uniform(random, INT32_MIN, INT32_MAX);
      break;
    case TypeKind::kBigInt:
      value.integer = random() % 8 == 0 ? (random() % 2 ? INT64_MIN : INT64_MAX) : static_cast<int64_t>(random());
      break;
    case TypeKind::kDouble:
      value.real = RandomDouble(random);
      break;
    case TypeKind::kDecimal: {
      const int64_t limit = PowerOfTen(type.precision()) - 1;
      value.integer = random() % 8 == 0 ? (random() % 2 ? -limit : limit) : Uniform(random, -limit, limit);
      break;
    }
    case TypeKind::kVarchar:
      value.text = random_string(random);
      break;
    case TypeKind::kTimestamp:
      value.integer = random() % 4 == 0 ? Uniform(random, -9'000'000'000'000'000, 9'000'000'000'000'000)
                                        : Uniform(random, kMinFlinkTimestamp, kMaxFlinkTimestamp);
      break;
  }
  return value;
}

void WriteValue(RowWriter& writer, int i, const DataType& type, const FieldValue& value) {
  if (value.is_null) {
    writer.SetNull(i);
    return;
  }
  switch (type.kind()) {
    case TypeKind::kBoolean:
      writer.WriteBool(i, value.integer != 0);
      break;
    case TypeKind::kInt:
      writer.WriteInt(i, static_cast<int32_t>(value.integer));
      break;
    case TypeKind::kBigInt:
      writer.WriteBigInt(i, value.integer);
      break;
    case TypeKind::kDouble:
      writer.WriteDouble(i, value.real);
      break;
    case TypeKind::kDecimal:
      writer.WriteDecimal(i, value.integer);
      break;
    case TypeKind::kVarchar:
      writer.WriteVarchar(i, value.text);
      break;
    case TypeKind::kTimestamp:
      writer.WriteTimestamp(i, value.integer);
      break;
  }
}

// Checks field i of `row` through the RowView getters. Doubles must come back bit for bit (any
// NaN stands for NaN: text formats spell every NaN the same).
void ExpectField(const RowView& row, int i, const DataType& type, const FieldValue& expected,
                 std::string_view context) {
  SCOPED_TRACE(testing::Message() << "field " << i << " (" << type.ToString() << ") of " << context);
  ASSERT_EQ(row.IsNull(i), expected.is_null);
  if (expected.is_null) return;
  switch (type.kind()) {
    case TypeKind::kBoolean:
      EXPECT_EQ(row.GetBool(i), expected.integer != 0);
      break;
    case TypeKind::kInt:
      EXPECT_EQ(row.GetInt(i), expected.integer);
      break;
    case TypeKind::kBigInt:
      EXPECT_EQ(row.GetBigInt(i), expected.integer);
      break;
    case TypeKind::kDouble:
      if (std::isnan(expected.real)) {
        EXPECT_TRUE(std::isnan(row.GetDouble(i))) << row.GetDouble(i);
      } else {
        EXPECT_EQ(std::bit_cast<uint64_t>(row.GetDouble(i)), std::bit_cast<uint64_t>(expected.real))
            << row.GetDouble(i) << " vs " << expected.real;
      }
      break;
    case TypeKind::kDecimal:
      EXPECT_EQ(row.GetDecimal(i), expected.integer);
      break;
    case TypeKind::kVarchar:
      EXPECT_EQ(row.GetVarchar(i), expected.text);
      break;
    case TypeKind::kTimestamp:
      EXPECT_EQ(row.GetTimestamp(i), expected.integer);
      break;
  }
}

Schema MakeSchema(const std::vector<DataType>& types) {
  std::vector<Field> fields;
  for (size_t i = 0; i < types.size(); ++i) fields.push_back(Field{fmt::format("f{}", i), types[i]});
  Result<Schema> schema = Schema::Make(std::move(fields));
  WEIR_CHECK(schema.ok());
  return *std::move(schema);
}

}  // namespace
}  // namespace weir::serde
