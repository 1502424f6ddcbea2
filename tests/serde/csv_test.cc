#include "serde/csv.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace weir::serde {
namespace {

class CsvTest : public ::testing::Test {
 protected:
  CsvTest()
      : schema_(*ParseSchema("id BIGINT NOT NULL, name STRING, price DECIMAL(6,2), ts TIMESTAMP(3), ok BOOLEAN, d DOUBLE, n INT")),
        writer_(schema_),
        buffer_(4096) {}

  Status Decode(CsvRowDecoder& decoder, std::string_view line, int64_t line_number = 1) {
    writer_.Reset(buffer_);
    RETURN_IF_ERROR(decoder.Decode(line, line_number, writer_));
    if (!writer_.Finish()) return ResourceExhausted("row too large");
    return Status::Ok();
  }
  std::string Formatted() { return FormatRow(writer_.view(), schema_); }

  Schema schema_;
  RowWriter writer_;
  std::vector<std::byte> buffer_;
};

TEST_F(CsvTest, DecodesQuotedFieldsAndEmptyAsNull) {
  CsvRowDecoder decoder(schema_);
  ASSERT_TRUE(Decode(decoder, "1,abc,2.5,2024-01-01 00:00:00,true,1.5,7").ok());
  EXPECT_EQ(Formatted(), "+I[1, abc, 2.50, 2024-01-01 00:00:00.000, true, 1.5, 7]");
  ASSERT_TRUE(Decode(decoder, "2,\"a, \"\"quoted\"\" b\",,,,,\r").ok());
  EXPECT_EQ(Formatted(), "+I[2, a, \"quoted\" b, null, null, null, null, null]");
  ASSERT_TRUE(Decode(decoder, "3,,-0.005,2024-02-29T12:00:00.1,FALSE,-1e3,\"\"").ok());
  EXPECT_EQ(Formatted(), "+I[3, , -0.01, 2024-02-29 12:00:00.100, false, -1000.0, null]");
  EXPECT_TRUE(writer_.view().IsNull(6));
  EXPECT_FALSE(writer_.view().IsNull(1));  // empty VARCHAR is "", not NULL
}

TEST_F(CsvTest, ErrorsNameLineAndColumnOfTheField) {
  CsvRowDecoder decoder(schema_);
  struct Case {
    std::string_view line;
    std::string_view expected;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"x,abc,1,,,,", "line 12, column 1: field 'id' (BIGINT NOT NULL): 'x' is not an integer"},
           {",abc,1,,,,", "line 12, column 1: field 'id' is BIGINT NOT NULL and cannot be empty"},
           {"1,abc,12345.6,,,,", "line 12, column 7: field 'price' (DECIMAL(6, 2)): value 12345.6 overflows"},
           {"1,abc,1,2024-13-01,,,", "line 12, column 9: field 'ts' (TIMESTAMP(3)): invalid timestamp '2024-13-01'"},
           {"1,abc,1,,maybe,,", "line 12, column 10: field 'ok' (BOOLEAN)"},
           {"1,abc,1,,,x1,", "line 12, column 11: field 'd' (DOUBLE)"},
           {"1,abc,1,,,,99999999999", "line 12, column 12: field 'n' (INT): '99999999999' is out of the INT range"},
           {"1,abc,1,,,,,", "line 12, column 13: too many fields: expected 7"},
           {"1,abc,1", "line 12, column 8: expected 7 fields, found 3"},
           {"1,\"abc,1,,,,", "line 12, column 3: unterminated quoted field"},
           {"1,\"ab\"c,1,,,,", "line 12, column 3: unexpected character 'c' after the closing quote"},
           {"1,\xc3\xa9\xc3\xa9,x,,,,", "line 12, column 6: field 'price'"},  // columns count characters
       }) {
    Status status = Decode(decoder, c.line, 12);
    ASSERT_FALSE(status.ok()) << c.line;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().substr(0, c.expected.size()), c.expected) << status;
  }
}

TEST_F(CsvTest, NullLiteralAndDelimiterOptions) {
  CsvOptions options;
  options.field_delimiter = '|';
  options.null_literal = "\\N";
  CsvRowDecoder decoder(schema_, options);
  ASSERT_TRUE(Decode(decoder, "1|\\N|\\N|\\N|\\N|\\N|\\N").ok());
  for (int i = 1; i < 7; ++i) EXPECT_TRUE(writer_.view().IsNull(i)) << i;
  ASSERT_TRUE(Decode(decoder, "1|\"\\N\"|1,5|||||").ok() == false);  // '1,5' is not a decimal
  ASSERT_TRUE(Decode(decoder, "1|\"\\N\"|1.5|||\\N|").ok());
  EXPECT_EQ(writer_.view().GetVarchar(1), "\\N");  // quoted: a string, not NULL
}

// Random rows: encode -> decode gives the same row (VARCHAR NULL becomes "" without a null literal).
TEST_F(CsvTest, RandomRowsRoundTrip) {
  std::mt19937_64 random(17);
  for (bool with_null_literal : {false, true}) {
    CsvOptions options;
    if (with_null_literal) options.null_literal = "NULL";
    CsvRowEncoder encoder(schema_, options);
    CsvRowDecoder decoder(schema_, options);
    RowWriter source_writer(schema_);
    std::vector<std::byte> source(4096);
    for (int iteration = 0; iteration < 3000; ++iteration) {
      source_writer.Reset(source);
      source_writer.WriteBigInt(0, static_cast<int64_t>(random()));
      const std::string alphabet = std::string("ab ,\"'\r\n|\\NUL\xc3\xa9", 15);
      std::string text;
      for (size_t k = random() % 8; k > 0; --k) text.push_back(alphabet[random() % alphabet.size()]);
      const bool null_name = random() % 5 == 0;
      if (null_name) source_writer.SetNull(1); else source_writer.WriteVarchar(1, text);
      if (random() % 5 == 0) source_writer.SetNull(2); else source_writer.WriteDecimal(2, static_cast<int64_t>(random() % 1999999) - 999999);
      if (random() % 5 == 0) source_writer.SetNull(3); else source_writer.WriteTimestamp(3, static_cast<int64_t>(random() % 400'000'000'000'000) - 200'000'000'000'000);
      if (random() % 5 == 0) source_writer.SetNull(4); else source_writer.WriteBool(4, random() % 2);
      if (random() % 5 == 0) source_writer.SetNull(5); else source_writer.WriteDouble(5, std::bit_cast<double>(random()));
      if (random() % 5 == 0) source_writer.SetNull(6); else source_writer.WriteInt(6, static_cast<int32_t>(random()));
      ASSERT_TRUE(source_writer.Finish());
      std::string line;
      encoder.Encode(source_writer.view(), line);
      Status status = Decode(decoder, line, iteration);
      ASSERT_TRUE(status.ok()) << line << ": " << status;
      std::string expected = FormatRow(source_writer.view(), schema_);
      if (null_name && !with_null_literal) {
        // NULL VARCHAR encodes as an empty field, which CSV reads back as "".
        ASSERT_TRUE(Decode(decoder, line, iteration).ok());
        EXPECT_FALSE(writer_.view().IsNull(1));
        EXPECT_EQ(writer_.view().GetVarchar(1), "");
        continue;
      }
      // NaN payloads and -0.0 differ in bits but print the same; compare the printed rows.
      ASSERT_EQ(Formatted(), expected) << line;
    }
  }
}

TEST(CharacterColumnTest, CountsCodePoints) {
  EXPECT_EQ(CharacterColumn("abc", 0), 1);
  EXPECT_EQ(CharacterColumn("abc", 2), 3);
  EXPECT_EQ(CharacterColumn("\xc3\xa9\xe2\x82\xac" "x", 5), 3);
}

}  // namespace
}  // namespace weir::serde
