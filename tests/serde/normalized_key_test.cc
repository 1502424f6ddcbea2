#include "serde/normalized_key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/xxhash.h"

namespace weir::serde {
namespace {

// Reference rows: every column kept as its own optional C++ value; the comparator below is
// written from the documented order, independently of the encoder.
struct RefRow {
  std::optional<bool> b;
  std::optional<int32_t> i;
  std::optional<int64_t> l;
  std::optional<double> d;
  std::optional<std::string> s;
  std::optional<int64_t> ts;
};

constexpr std::string_view kSchemaText = "b BOOLEAN, i INT, l BIGINT NOT NULL, d DOUBLE, s STRING, ts TIMESTAMP(3)";

template <typename T>
int Cmp(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}
int CmpDouble(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return static_cast<int>(std::isnan(a)) - static_cast<int>(std::isnan(b));
  return Cmp(a, b);
}
template <typename T, typename F>
int CmpOptional(const std::optional<T>& a, const std::optional<T>& b, bool nulls_first, F compare) {
  if (!a || !b) {
    if (!a && !b) return 0;
    return (!a == nulls_first) ? -1 : 1;
  }
  return compare(*a, *b);
}

int CompareField(const RefRow& a, const RefRow& b, const SortKeyField& field) {
  int c = 0;
  switch (field.index) {
    case 0:
      c = CmpOptional(a.b, b.b, field.nulls_first, Cmp<bool>);
      break;
    case 1:
      c = CmpOptional(a.i, b.i, field.nulls_first, Cmp<int32_t>);
      break;
    case 2:
      c = CmpOptional(a.l, b.l, field.nulls_first, Cmp<int64_t>);
      break;
    case 3:
      c = CmpOptional(a.d, b.d, field.nulls_first, CmpDouble);
      break;
    case 4:
      c = CmpOptional(a.s, b.s, field.nulls_first, [](const std::string& x, const std::string& y) {
        return Cmp(std::string_view(x).compare(y), 0);  // char_traits<char> compares as unsigned char
      });
      break;
    case 5:
      c = CmpOptional(a.ts, b.ts, field.nulls_first, Cmp<int64_t>);
      break;
  }
  // NULL placement is absolute; only value order flips for DESC.
  const bool involves_null = (field.index == 0 && (!a.b || !b.b)) || (field.index == 1 && (!a.i || !b.i)) ||
                             (field.index == 3 && (!a.d || !b.d)) || (field.index == 4 && (!a.s || !b.s)) ||
                             (field.index == 5 && (!a.ts || !b.ts));
  return field.ascending || involves_null ? c : -c;
}

int CompareRef(const RefRow& a, const RefRow& b, const std::vector<SortKeyField>& fields) {
  for (const SortKeyField& field : fields) {
    if (int c = CompareField(a, b, field); c != 0) return c;
  }
  return 0;
}

RefRow RandomRow(std::mt19937_64& random) {
  // Small domains so ties, shared prefixes and equal keys are common.
  RefRow row;
  auto maybe = [&]() { return random() % 6 != 0; };
  if (maybe()) row.b = random() % 2 == 0;
  if (maybe()) {
    const int32_t choices[] = {std::numeric_limits<int32_t>::min(), -1, 0, 1, std::numeric_limits<int32_t>::max()};
    row.i = random() % 2 ? choices[random() % 5] : static_cast<int32_t>(random() % 7) - 3;
  }
  const int64_t longs[] = {std::numeric_limits<int64_t>::min(), -256, -1, 0, 1, 255, 256, std::numeric_limits<int64_t>::max()};
  row.l = random() % 2 ? longs[random() % 8] : static_cast<int64_t>(random());
  if (maybe()) {
    const double doubles[] = {-std::numeric_limits<double>::infinity(), -1.5, -0.0, 0.0, 1e-300,
                              std::numeric_limits<double>::denorm_min(), 2.5, std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN()};
    row.d = doubles[random() % 10];
  }
  if (maybe()) {
    const std::string strings[] = {"", "a", "ab", std::string("a\0", 2), "abcdefgh", "abcdefghi", "abcdefghij",
                                   "abcdefgz", "\xc3\xa9t\xc3\xa9", "\xff", "zzzzzzzzzzzzzzzzzz"};
    row.s = strings[random() % 11];
  }
  if (maybe()) row.ts = static_cast<int64_t>(random() % 5) * 1000 - 2000;
  return row;
}

void WriteRow(RowWriter& writer, const RefRow& row) {
  if (row.b) writer.WriteBool(0, *row.b); else writer.SetNull(0);
  if (row.i) writer.WriteInt(1, *row.i); else writer.SetNull(1);
  writer.WriteBigInt(2, *row.l);
  if (row.d) writer.WriteDouble(3, *row.d); else writer.SetNull(3);
  if (row.s) writer.WriteVarchar(4, *row.s); else writer.SetNull(4);
  if (row.ts) writer.WriteTimestamp(5, *row.ts); else writer.SetNull(5);
}

TEST(NormalizedKeyEncoderTest, KeyOrderMatchesReferenceOrderOnRandomRows) {
  const Schema schema = *ParseSchema(kSchemaText);
  std::mt19937_64 random(2024);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<SortKeyField> fields;
    std::vector<int> order = {0, 1, 2, 3, 4, 5};
    std::shuffle(order.begin(), order.end(), random);
    const size_t field_count = 1 + random() % 6;
    for (size_t f = 0; f < field_count; ++f) {
      fields.push_back(SortKeyField{order[f], random() % 2 == 0, random() % 2 == 0});
    }
    NormalizedKeyEncoder encoder(schema, fields, 1 + random() % 12);
    bool expect_full = true;
    for (const SortKeyField& field : fields) expect_full = expect_full && field.index != 4;
    ASSERT_EQ(encoder.IsFullKey(), expect_full);

    constexpr int kRows = 60;
    std::vector<RefRow> rows;
    std::vector<std::vector<std::byte>> row_bytes;
    std::vector<std::vector<std::byte>> keys;
    RowWriter writer(schema);
    for (int r = 0; r < kRows; ++r) {
      rows.push_back(RandomRow(random));
      std::vector<std::byte> buffer(256);
      writer.Reset(buffer);
      WriteRow(writer, rows.back());
      ASSERT_TRUE(writer.Finish());
      buffer.resize(writer.size());
      std::vector<std::byte> key(encoder.key_length());
      encoder.Write(RowView(buffer.data(), buffer.size(), schema.field_count()), key.data());
      row_bytes.push_back(std::move(buffer));
      keys.push_back(std::move(key));
    }
    for (int a = 0; a < kRows; ++a) {
      for (int b = 0; b < kRows; ++b) {
        const int expected = CompareRef(rows[a], rows[b], fields);
        const int by_key = std::memcmp(keys[a].data(), keys[b].data(), encoder.key_length());
        if (by_key != 0) {
          ASSERT_EQ(by_key < 0, expected < 0) << "rows " << a << ", " << b;
          ASSERT_NE(expected, 0);
        } else if (encoder.IsFullKey()) {
          ASSERT_EQ(expected, 0) << "rows " << a << ", " << b;
        }
        const RowView view_a(row_bytes[a].data(), row_bytes[a].size(), schema.field_count());
        const RowView view_b(row_bytes[b].data(), row_bytes[b].size(), schema.field_count());
        const int by_compare = encoder.Compare(view_a, view_b);
        ASSERT_EQ((by_compare > 0) - (by_compare < 0), expected) << "rows " << a << ", " << b;
      }
    }
  }
}

TEST(NormalizedKeyEncoderTest, SortByKeyThenCompareEqualsStdSort) {
  const Schema schema = *ParseSchema(kSchemaText);
  std::mt19937_64 random(77);
  const std::vector<SortKeyField> fields = {{4, true, true}, {1, false, false}, {3, true, true}};
  NormalizedKeyEncoder encoder(schema, fields, 4);
  std::vector<RefRow> rows;
  std::vector<std::vector<std::byte>> row_bytes;
  RowWriter writer(schema);
  for (int r = 0; r < 2000; ++r) {
    rows.push_back(RandomRow(random));
    std::vector<std::byte> buffer(256);
    writer.Reset(buffer);
    WriteRow(writer, rows.back());
    ASSERT_TRUE(writer.Finish());
    buffer.resize(writer.size());
    row_bytes.push_back(std::move(buffer));
  }
  std::vector<size_t> by_reference(rows.size());
  std::vector<size_t> by_key(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) by_reference[r] = by_key[r] = r;
  std::stable_sort(by_reference.begin(), by_reference.end(),
                   [&](size_t a, size_t b) { return CompareRef(rows[a], rows[b], fields) < 0; });
  std::vector<std::vector<std::byte>> keys;
  for (const auto& bytes : row_bytes) {
    std::vector<std::byte> key(encoder.key_length());
    encoder.Write(RowView(bytes.data(), bytes.size(), schema.field_count()), key.data());
    keys.push_back(std::move(key));
  }
  std::stable_sort(by_key.begin(), by_key.end(), [&](size_t a, size_t b) {
    if (int c = std::memcmp(keys[a].data(), keys[b].data(), encoder.key_length()); c != 0) return c < 0;
    return encoder.Compare(RowView(row_bytes[a].data(), row_bytes[a].size(), schema.field_count()),
                           RowView(row_bytes[b].data(), row_bytes[b].size(), schema.field_count())) < 0;
  });
  EXPECT_EQ(by_key, by_reference);
}

TEST(NormalizedKeyEncoderTest, FieldsAfterAVarcharAreLeftOut) {
  const Schema schema = *ParseSchema(kSchemaText);
  NormalizedKeyEncoder encoder(schema, {{1}, {4}, {2}}, 8);
  EXPECT_EQ(encoder.key_length(), (1u + 4u) + (1u + 8u));
  EXPECT_FALSE(encoder.IsFullKey());
  NormalizedKeyEncoder fixed(schema, {{2}, {0}}, 8);
  EXPECT_EQ(fixed.key_length(), 8u + 2u);
  EXPECT_TRUE(fixed.IsFullKey());
  EXPECT_TRUE(IsFullKey(DataType::Double()));
  EXPECT_FALSE(IsFullKey(DataType::Varchar()));
}

TEST(NormalizedKeyEncoderTest, ValueEncodingsPreserveOrder) {
  std::mt19937_64 random(11);
  for (int iteration = 0; iteration < 100000; ++iteration) {
    const int64_t a = static_cast<int64_t>(random()) >> (random() % 64);
    const int64_t b = static_cast<int64_t>(random()) >> (random() % 64);
    std::byte ka[8], kb[8];
    PutNormalizedBigInt(a, ka);
    PutNormalizedBigInt(b, kb);
    ASSERT_EQ(Cmp(std::memcmp(ka, kb, 8), 0), Cmp(a, b));
    PutNormalizedInt(static_cast<int32_t>(a), ka);
    PutNormalizedInt(static_cast<int32_t>(b), kb);
    ASSERT_EQ(Cmp(std::memcmp(ka, kb, 4), 0), Cmp(static_cast<int32_t>(a), static_cast<int32_t>(b)));
    const double da = std::bit_cast<double>(random());
    const double db = random() % 4 == 0 ? -da : std::bit_cast<double>(random());
    PutNormalizedDouble(da, ka);
    PutNormalizedDouble(db, kb);
    ASSERT_EQ(Cmp(std::memcmp(ka, kb, 8), 0), CmpDouble(da, db)) << da << " " << db;
  }
}

TEST(WriteKeyBytesTest, EqualBytesIffEqualKeys) {
  const Schema schema = *ParseSchema(kSchemaText);
  std::mt19937_64 random(8);
  std::vector<RefRow> rows;
  std::vector<std::string> key_bytes;
  RowWriter writer(schema);
  const std::vector<int> key_fields = {4, 0, 3, 1, 5};
  for (int r = 0; r < 400; ++r) {
    rows.push_back(RandomRow(random));
    std::vector<std::byte> buffer(256);
    writer.Reset(buffer);
    WriteRow(writer, rows.back());
    ASSERT_TRUE(writer.Finish());
    std::string key;
    WriteKeyBytes(writer.view(), schema, key_fields, key);
    key_bytes.push_back(std::move(key));
  }
  std::vector<SortKeyField> fields;
  for (int f : key_fields) fields.push_back(SortKeyField{f});
  for (size_t a = 0; a < rows.size(); ++a) {
    for (size_t b = 0; b < rows.size(); ++b) {
      const bool equal = CompareRef(rows[a], rows[b], fields) == 0;
      ASSERT_EQ(key_bytes[a] == key_bytes[b], equal) << a << " " << b;
      if (equal) ASSERT_EQ(Hash64(key_bytes[a]), Hash64(key_bytes[b]));
    }
  }
}

}  // namespace
}  // namespace weir::serde
