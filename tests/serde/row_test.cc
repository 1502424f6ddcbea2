#include "serde/row.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace weir::serde {
namespace {

// The reference: a row as a vector of optional values, held by plain C++ types.
using Value = std::variant<std::monostate, bool, int32_t, int64_t, double, std::string>;

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
      const int precision = 1 + static_cast<int>(random() % 18);
      type = DataType::Decimal(precision, static_cast<int>(random() % (precision + 1)));
      break;
    }
    case 5:
      type = DataType::Varchar();
      break;
    default:
      type = DataType::Timestamp();
      break;
  }
  return random() % 3 == 0 ? type.NotNull() : type;
}

Value RandomValue(std::mt19937_64& random, const DataType& type) {
  if (type.nullable() && random() % 5 == 0) return std::monostate{};
  const bool extreme = random() % 4 == 0;
  switch (type.kind()) {
    case TypeKind::kBoolean:
      return random() % 2 == 0;
    case TypeKind::kInt:
      if (extreme) return random() % 2 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
      return static_cast<int32_t>(random());
    case TypeKind::kBigInt:
    case TypeKind::kTimestamp:
      if (extreme) return random() % 2 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
      return static_cast<int64_t>(random());
    case TypeKind::kDecimal: {
      int64_t limit = 1;
      for (int i = 0; i < type.precision(); ++i) limit *= 10;
      if (extreme) return random() % 2 ? limit - 1 : -(limit - 1);
      return static_cast<int64_t>(random() % static_cast<uint64_t>(limit)) - (limit - 1) / 2;
    }
    case TypeKind::kDouble:
      if (extreme) {
        const double specials[] = {-0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::max(),
                                   std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::quiet_NaN()};
        return specials[random() % 5];
      }
      return std::bit_cast<double>(random());
    case TypeKind::kVarchar: {
      const size_t lengths[] = {0, 1, 7, 8, 9, 100, 5000};
      const size_t length = random() % 3 == 0 ? lengths[random() % 7] : random() % 20;
      std::string text(length, '\0');
      for (char& c : text) c = static_cast<char>(random());  // any bytes, zeros included
      return text;
    }
  }
  return std::monostate{};
}

void WriteValue(RowWriter& writer, int i, const DataType& type, const Value& value) {
  if (std::holds_alternative<std::monostate>(value)) {
    writer.SetNull(i);
    return;
  }
  switch (type.kind()) {
    case TypeKind::kBoolean:
      writer.WriteBool(i, std::get<bool>(value));
      break;
    case TypeKind::kInt:
      writer.WriteInt(i, std::get<int32_t>(value));
      break;
    case TypeKind::kBigInt:
      writer.WriteBigInt(i, std::get<int64_t>(value));
      break;
    case TypeKind::kDecimal:
      writer.WriteDecimal(i, std::get<int64_t>(value));
      break;
    case TypeKind::kTimestamp:
      writer.WriteTimestamp(i, std::get<int64_t>(value));
      break;
    case TypeKind::kDouble:
      writer.WriteDouble(i, std::get<double>(value));
      break;
    case TypeKind::kVarchar:
      writer.WriteVarchar(i, std::get<std::string>(value));
      break;
  }
}

Value ReadValue(const RowView& view, int i, const DataType& type) {
  if (view.IsNull(i)) return std::monostate{};
  switch (type.kind()) {
    case TypeKind::kBoolean:
      return view.GetBool(i);
    case TypeKind::kInt:
      return view.GetInt(i);
    case TypeKind::kBigInt:
      return view.GetBigInt(i);
    case TypeKind::kDecimal:
      return view.GetDecimal(i);
    case TypeKind::kTimestamp:
      return view.GetTimestamp(i);
    case TypeKind::kDouble:
      return view.GetDouble(i);
    case TypeKind::kVarchar:
      return std::string(view.GetVarchar(i));
  }
  return std::monostate{};
}

bool SameValue(const Value& a, const Value& b) {
  if (a.index() != b.index()) return false;
  if (const double* x = std::get_if<double>(&a)) {
    return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(std::get<double>(b));
  }
  return a == b;
}

Schema RandomSchema(std::mt19937_64& random) {
  std::vector<Field> fields;
  const int count = 1 + static_cast<int>(random() % 70);  // up to two header words
  for (int i = 0; i < count; ++i) fields.push_back(Field{"f" + std::to_string(i), RandomType(random)});
  return *Schema::Make(std::move(fields));
}

TEST(RowWriterTest, RandomRowsReadBackEqual) {
  std::mt19937_64 random(1234);
  std::vector<std::byte> buffer(1 << 20);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const Schema schema = RandomSchema(random);
    RowWriter writer(schema);
    for (int row = 0; row < 5; ++row) {
      std::vector<Value> values;
      const RowKind kind = static_cast<RowKind>(random() % 4);
      writer.Reset(buffer);
      writer.SetRowKind(kind);
      for (int i = 0; i < schema.field_count(); ++i) {
        values.push_back(RandomValue(random, schema.type(i)));
        WriteValue(writer, i, schema.type(i), values.back());
      }
      ASSERT_TRUE(writer.Finish());
      ASSERT_EQ(writer.size() % 8, 0u);
      ASSERT_GE(writer.size(), RowFixedSize(schema.field_count()));
      ASSERT_TRUE(ValidateRow(buffer.data(), writer.size(), schema).ok());
      // Read a copy at another address: all offsets are relative to the row.
      std::vector<std::byte> copy(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(writer.size()));
      RowView view(copy.data(), copy.size(), schema.field_count());
      ASSERT_EQ(view.row_kind(), kind);
      ASSERT_EQ(view.size(), writer.size());
      for (int i = 0; i < schema.field_count(); ++i) {
        ASSERT_TRUE(SameValue(ReadValue(view, i, schema.type(i)), values[static_cast<size_t>(i)]))
            << "field " << i << " " << schema.type(i).ToString();
      }
    }
  }
}

TEST(RowWriterTest, SameValuesGiveSameBytes) {
  std::mt19937_64 random(99);
  for (int iteration = 0; iteration < 200; ++iteration) {
    const Schema schema = RandomSchema(random);
    std::vector<Value> values;
    for (int i = 0; i < schema.field_count(); ++i) values.push_back(RandomValue(random, schema.type(i)));
    RowWriter writer(schema);
    std::vector<std::byte> first(1 << 20, std::byte{0xAA});
    std::vector<std::byte> second(1 << 20, std::byte{0x55});  // different garbage underneath
    size_t sizes[2];
    int index = 0;
    for (std::vector<std::byte>* buffer : {&first, &second}) {
      writer.Reset(*buffer);
      for (int i = 0; i < schema.field_count(); ++i) WriteValue(writer, i, schema.type(i), values[static_cast<size_t>(i)]);
      ASSERT_TRUE(writer.Finish());
      sizes[index++] = writer.size();
    }
    ASSERT_EQ(sizes[0], sizes[1]);
    ASSERT_EQ(std::memcmp(first.data(), second.data(), sizes[0]), 0);
  }
}

TEST(RowWriterTest, TooSmallBufferReportsNeededSizeAndWritesNothingPastIt) {
  std::mt19937_64 random(5);
  for (int iteration = 0; iteration < 500; ++iteration) {
    const Schema schema = RandomSchema(random);
    std::vector<Value> values;
    for (int i = 0; i < schema.field_count(); ++i) values.push_back(RandomValue(random, schema.type(i)));
    RowWriter writer(schema);
    std::vector<std::byte> big(1 << 20);
    writer.Reset(big);
    for (int i = 0; i < schema.field_count(); ++i) WriteValue(writer, i, schema.type(i), values[static_cast<size_t>(i)]);
    ASSERT_TRUE(writer.Finish());
    const size_t needed = writer.size();

    const size_t capacity = random() % needed;  // smaller than needed, possibly smaller than the fixed part
    std::vector<std::byte> small(capacity + 64, std::byte{0xEE});
    writer.Reset(small.data(), capacity);
    for (int i = 0; i < schema.field_count(); ++i) WriteValue(writer, i, schema.type(i), values[static_cast<size_t>(i)]);
    ASSERT_FALSE(writer.Finish());
    ASSERT_EQ(writer.size(), needed);
    for (size_t b = capacity; b < small.size(); ++b) ASSERT_EQ(small[b], std::byte{0xEE}) << "byte " << b;

    std::vector<std::byte> exact(needed);
    writer.Reset(exact);
    for (int i = 0; i < schema.field_count(); ++i) WriteValue(writer, i, schema.type(i), values[static_cast<size_t>(i)]);
    ASSERT_TRUE(writer.Finish());
    ASSERT_EQ(std::memcmp(exact.data(), big.data(), needed), 0);
  }
}

TEST(RowWriterTest, LayoutFollowsBinaryRowData) {
  EXPECT_EQ(RowHeaderSize(0), 8u);
  EXPECT_EQ(RowHeaderSize(56), 8u);
  EXPECT_EQ(RowHeaderSize(57), 16u);
  EXPECT_EQ(RowFixedSize(3), 8u + 24u);
  const Schema schema = *ParseSchema("a BIGINT, s STRING, n INT");
  RowWriter writer(schema);
  std::vector<std::byte> buffer(256);
  writer.Reset(buffer);
  writer.SetRowKind(RowKind::kDelete);
  writer.WriteBigInt(0, 0x0102030405060708);
  writer.WriteVarchar(1, "hello");
  writer.SetNull(2);
  ASSERT_TRUE(writer.Finish());
  EXPECT_EQ(writer.size(), 32u + 8u);  // header 8 + 3 slots, then 5 string bytes padded to 8
  EXPECT_EQ(buffer[0], std::byte{3});                 // row kind byte
  EXPECT_EQ(buffer[1], std::byte{1 << 2});            // null bit 8 + 2
  EXPECT_EQ(buffer[8], std::byte{0x08});              // little-endian slot 0
  uint64_t slot;
  std::memcpy(&slot, buffer.data() + 16, 8);
  EXPECT_EQ(slot, (uint64_t{5} << 32) | 32u);  // offset 32, length 5
  EXPECT_EQ(std::memcmp(buffer.data() + 32, "hello", 5), 0);
}

TEST(RowWriterTest, ValidateRowRejectsCorruptRows) {
  const Schema schema = *ParseSchema("s STRING");
  RowWriter writer(schema);
  std::vector<std::byte> buffer(64);
  writer.Reset(buffer);
  writer.WriteVarchar(0, "abc");
  ASSERT_TRUE(writer.Finish());
  EXPECT_TRUE(ValidateRow(buffer.data(), writer.size(), schema).ok());
  EXPECT_EQ(ValidateRow(buffer.data(), 8, schema).code(), StatusCode::kDataLoss);
  std::vector<std::byte> corrupt(buffer);
  const uint64_t slot = (uint64_t{100} << 32) | 16u;
  std::memcpy(corrupt.data() + 8, &slot, 8);
  EXPECT_EQ(ValidateRow(corrupt.data(), writer.size(), schema).code(), StatusCode::kDataLoss);
  corrupt = buffer;
  corrupt[0] = std::byte{9};
  EXPECT_EQ(ValidateRow(corrupt.data(), writer.size(), schema).code(), StatusCode::kDataLoss);
}

TEST(RowWriterTest, FormatRowPrintsLikeFlinkRow) {
  const Schema schema = *ParseSchema("id BIGINT, name STRING, price DECIMAL(10,2), ts TIMESTAMP(3), d DOUBLE, b BOOLEAN, n INT");
  RowWriter writer(schema);
  std::vector<std::byte> buffer(256);
  writer.Reset(buffer);
  writer.WriteBigInt(0, 1);
  writer.WriteVarchar(1, "abc");
  writer.WriteDecimal(2, 250);
  writer.WriteTimestamp(3, 1704067200000);
  writer.WriteDouble(4, 1.0);
  writer.WriteBool(5, true);
  writer.SetNull(6);
  ASSERT_TRUE(writer.Finish());
  EXPECT_EQ(FormatRow(writer.view(), schema), "+I[1, abc, 2.50, 2024-01-01 00:00:00.000, 1.0, true, null]");
  writer.Reset(buffer);
  writer.SetRowKind(RowKind::kUpdateBefore);
  for (int i = 0; i < schema.field_count(); ++i) writer.SetNull(i);
  ASSERT_TRUE(writer.Finish());
  EXPECT_EQ(FormatRow(writer.view(), schema), "-U[null, null, null, null, null, null, null]");
  EXPECT_EQ(RowKindShortString(RowKind::kUpdateAfter), "+U");
  EXPECT_EQ(RowKindShortString(RowKind::kDelete), "-D");
  EXPECT_EQ(RowKindShortString(RowKind::kInsert), "+I");
}

}  // namespace
}  // namespace weir::serde
