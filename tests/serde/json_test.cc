#include "serde/json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

namespace weir::serde {
namespace {

class JsonTest : public ::testing::Test {
 protected:
  JsonTest()
      : schema_(*ParseSchema("id BIGINT NOT NULL, name STRING, price DECIMAL(18,4), ts TIMESTAMP(3), ok BOOLEAN, d DOUBLE, n INT")),
        decoder_(schema_),
        writer_(schema_),
        buffer_(4096) {}

  Status Decode(std::string_view line, int64_t line_number = 1) {
    writer_.Reset(buffer_);
    RETURN_IF_ERROR(decoder_.Decode(line, line_number, writer_));
    if (!writer_.Finish()) return ResourceExhausted("row too large");
    return Status::Ok();
  }
  std::string Formatted() { return FormatRow(writer_.view(), schema_); }

  Schema schema_;
  JsonRowDecoder decoder_;
  RowWriter writer_;
  std::vector<std::byte> buffer_;
};

TEST_F(JsonTest, DecodesByNameWithMissingAsNullAndUnknownSkipped) {
  ASSERT_TRUE(Decode(R"({"id": 1, "name": "abc", "price": 2.5, "ts": "2024-01-01 00:00:00", "ok": true, "d": 1.5, "n": 7})").ok());
  EXPECT_EQ(Formatted(), "+I[1, abc, 2.5000, 2024-01-01 00:00:00.000, true, 1.5, 7]");
  ASSERT_TRUE(Decode(R"(  {"n": -3, "extra": {"a": [1, {"b": "}"}]}, "id": "42", "name": null}  )").ok());
  EXPECT_EQ(Formatted(), "+I[42, null, null, null, null, null, -3]");
  ASSERT_TRUE(Decode(R"({"id":0,"name":"tab\t\"q\" \u00e9 \ud83d\ude00","name2":"x\\y"})").ok());
  EXPECT_EQ(writer_.view().GetVarchar(1), "tab\t\"q\" \xc3\xa9 \xf0\x9f\x98\x80");
  ASSERT_TRUE(Decode(R"({"id":0,"name":12.50,"d":"NaN","ok":"FALSE"})").ok());
  EXPECT_EQ(writer_.view().GetVarchar(1), "12.50");  // a number as its text
  EXPECT_FALSE(writer_.view().GetBool(4));
}

TEST_F(JsonTest, DecimalsComeExactlyFromTheNumberText) {
  // 0.1 + 17 digits: a double would lose the last digits.
  ASSERT_TRUE(Decode(R"({"id":1,"price":12345678901234.5678})").ok());
  EXPECT_EQ(writer_.view().GetDecimal(2), 123456789012345678);
  ASSERT_TRUE(Decode(R"({"id":1,"price":-0.00005})").ok());
  EXPECT_EQ(writer_.view().GetDecimal(2), -1);  // HALF_UP
  ASSERT_TRUE(Decode(R"({"id":1,"price":1.5e2})").ok());
  EXPECT_EQ(writer_.view().GetDecimal(2), 1500000);
}

TEST_F(JsonTest, ErrorsNameLineAndColumn) {
  struct Case {
    std::string_view line;
    std::string_view expected;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"id": "x"})", "line 5, column 8: field 'id' (BIGINT NOT NULL): 'x' is not an integer"},
           {R"({"id": 1.5})", "line 5, column 8: field 'id' (BIGINT NOT NULL): '1.5' is not an integer"},
           {R"({"id": null})", "line 5, column 8: field 'id' is BIGINT NOT NULL and cannot be null"},
           {R"({"name": "a"})", "line 5, column 14: missing member for field 'id'"},
           {R"({"id": 1, "ts": 5})", "line 5, column 17: field 'ts' (TIMESTAMP(3)) cannot be a number"},
           {R"({"id": 1, "ts": "2024-02-30"})", "line 5, column 17: field 'ts' (TIMESTAMP(3)): invalid timestamp"},
           {R"({"id": 1, "price": 1e20})", "line 5, column 20: field 'price' (DECIMAL(18, 4)): value 1e20 overflows"},
           {R"({"id": 1, "ok": [true]})", "line 5, column 17: field 'ok' (BOOLEAN) cannot be an array"},
           {R"({"id": 1, "id": 2})", "line 5, column 11: duplicate member 'id'"},
           {R"({"id": 1,})", "line 5, column 10: expected a member name"},
           {R"({"id": 1 "n": 2})", "line 5, column 10: expected ',' or '}'"},
           {R"({"id": 01})", "line 5, column 9: expected ',' or '}'"},
           {R"({"id": 1)", "line 5, column 9: unterminated object"},
           {R"({"id": 1} x)", "line 5, column 11: unexpected text after the object"},
           {R"([1, 2])", "line 5, column 1: expected a JSON object"},
           {R"({"id": 1, "name": "abc)", "line 5, column 19: unterminated string"},
           {R"({"id": 1, "name": "a\x"})", "line 5, column 21: bad escape"},
           {R"({"id": 1, "name": "\ud800"})", "line 5, column 20: unpaired surrogate"},
           {R"({"id": tru})", "line 5, column 8: expected a value"},
           {"{\"\xc3\xa9\xc3\xa9\": 1, \"id\": x}", "line 5, column 17: expected a value"},  // character columns
           {"", "line 5, column 1: expected a JSON object"},
       }) {
    Status status = Decode(c.line, 5);
    ASSERT_FALSE(status.ok()) << c.line;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().substr(0, c.expected.size()), c.expected) << status;
  }
}

TEST_F(JsonTest, RandomRowsRoundTripAndEncoderWritesValidJson) {
  std::mt19937_64 random(23);
  JsonRowEncoder encoder(schema_);
  RowWriter source_writer(schema_);
  std::vector<std::byte> source(4096);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    source_writer.Reset(source);
    source_writer.WriteBigInt(0, static_cast<int64_t>(random()));
    std::string text;
    for (size_t k = random() % 10; k > 0; --k) {
      const std::string_view alphabet[] = {"a", "b", "\"", "\\", "/", "\n", "\t", "\x01", "\x7f",
                                           "{", "]", ",", ":", " ", "\xc3\xa9", "\xf0\x9f\x98\x80"};
      text.append(alphabet[random() % std::size(alphabet)]);
    }
    if (random() % 5 == 0) source_writer.SetNull(1); else source_writer.WriteVarchar(1, text);
    if (random() % 5 == 0) source_writer.SetNull(2); else source_writer.WriteDecimal(2, static_cast<int64_t>(random() % 1'999'999'999'999'999'999ULL) - 999'999'999'999'999'999);
    if (random() % 5 == 0) source_writer.SetNull(3); else source_writer.WriteTimestamp(3, static_cast<int64_t>(random() % 400'000'000'000'000) - 200'000'000'000'000);
    if (random() % 5 == 0) source_writer.SetNull(4); else source_writer.WriteBool(4, random() % 2);
    if (random() % 5 == 0) source_writer.SetNull(5); else source_writer.WriteDouble(5, std::bit_cast<double>(random()));
    if (random() % 5 == 0) source_writer.SetNull(6); else source_writer.WriteInt(6, static_cast<int32_t>(random()));
    ASSERT_TRUE(source_writer.Finish());
    std::string line;
    encoder.Encode(source_writer.view(), line);
    // An independent parser accepts it and sees the same string.
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    if (!source_writer.view().IsNull(1)) EXPECT_EQ(parsed["name"].get<std::string>(), text);
    Status status = Decode(line, iteration);
    ASSERT_TRUE(status.ok()) << line << ": " << status;
    ASSERT_EQ(Formatted(), FormatRow(source_writer.view(), schema_)) << line;
  }
}

}  // namespace
}  // namespace weir::serde
