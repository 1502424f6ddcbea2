#include "serde/csv.h"

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

#include "random_rows.h"

namespace weir::serde {
namespace {

// A VARCHAR from pieces that CSV must quote or keep apart: delimiters, quotes, spaces, null
// literals, multi-byte characters. No line breaks: a CSV line holds one record.
std::string RandomCsvString(std::mt19937_64& random) {
  static constexpr std::string_view kPieces[] = {"a",  "Z",    "7",    " ",    ",",      "\"",     "'",
                                                 "|",  ";",    "\t",   "NULL", "\\N",    "null",   "\xc3\xa9",
                                                 "1,5", "\"\"", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  std::string text;
  for (int64_t n = Uniform(random, 0, 6); n > 0; --n) text.append(kPieces[random() % std::size(kPieces)]);
  return text;
}

// Decodes lines of one schema into a reused buffer.
class Decoded {
 public:
  explicit Decoded(const Schema& schema, CsvOptions options = {})
      : decoder_(schema, std::move(options)), writer_(schema), buffer_(1 << 16) {}

  Status Decode(std::string_view line, int64_t line_number = 1) {
    writer_.Reset(buffer_);
    RETURN_IF_ERROR(decoder_.Decode(line, line_number, writer_));
    WEIR_CHECK(writer_.Finish());
    return Status::Ok();
  }
  RowView row() const { return writer_.view(); }

 private:
  CsvRowDecoder decoder_;
  RowWriter writer_;
  std::vector<std::byte> buffer_;
};

class CsvTest : public ::testing::Test {};

// Random schemas, random rows -> CsvRowEncoder -> line -> CsvRowDecoder -> the same values.
TEST_F(CsvTest, RandomSchemasAndRowsRoundTrip) {
  std::mt19937_64 random(20240601);
  static constexpr char kDelimiters[] = {',', '|', ';', '\t'};
  static constexpr char kQuotes[] = {'"', '\''};
  const std::optional<std::string> null_literals[] = {std::nullopt, "\\N", "NULL", "null"};
  for (int schema_round = 0; schema_round < 300; ++schema_round) {
    std::vector<DataType> types;
    for (int64_t n = Uniform(random, 1, 12); n > 0; --n) types.push_back(RandomType(random));
    const Schema schema = MakeSchema(types);
    CsvOptions options;
    options.field_delimiter = kDelimiters[random() % std::size(kDelimiters)];
    options.quote_character = kQuotes[random() % std::size(kQuotes)];
    options.null_literal = null_literals[random() % std::size(null_literals)];
    CsvRowEncoder encoder(schema, options);
    Decoded decoded(schema, options);
    RowWriter source(schema);
    std::vector<std::byte> source_buffer(1 << 16);
    for (int row_round = 0; row_round < 20; ++row_round) {
      std::vector<FieldValue> values;
      source.Reset(source_buffer);
      for (int i = 0; i < schema.field_count(); ++i) {
        values.push_back(RandomValue(random, schema.type(i), RandomCsvString));
        WriteValue(source, i, schema.type(i), values.back());
      }
      ASSERT_TRUE(source.Finish());
      std::string line;
      encoder.Encode(source.view(), line);
      const std::string context = schema.ToString() + " as line [" + line + "]";
      Status status = decoded.Decode(line, row_round + 1);
      ASSERT_TRUE(status.ok()) << context << ": " << status;
      for (int i = 0; i < schema.field_count(); ++i) {
        FieldValue expected = values[static_cast<size_t>(i)];
        // Without a null literal NULL is an empty field, and an empty VARCHAR field is "".
        if (expected.is_null && schema.type(i).kind() == TypeKind::kVarchar && !options.null_literal) {
          expected.is_null = false;
        }
        ExpectField(decoded.row(), i, schema.type(i), expected, context);
      }
      if (HasFatalFailure() || HasNonfatalFailure()) return;
    }
  }
}

// Flink's CSV format: an empty unquoted field is NULL for every type but VARCHAR, which reads "".
TEST_F(CsvTest, EmptyUnquotedFieldIsNullExceptForStrings) {
  const Schema schema = MakeSchema({DataType::Boolean(), DataType::Int(), DataType::BigInt(), DataType::Double(),
                                    DataType::Decimal(10, 2), DataType::Timestamp(), DataType::Varchar()});
  Decoded decoded(schema);
  ASSERT_TRUE(decoded.Decode(",,,,,,").ok());
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(decoded.row().IsNull(i)) << i;
  EXPECT_FALSE(decoded.row().IsNull(6));
  EXPECT_EQ(decoded.row().GetVarchar(6), "");
  ASSERT_TRUE(decoded.Decode("true,1,2,3.5,4.25,2024-01-01 00:00:00.000,\"\"").ok());
  EXPECT_FALSE(decoded.row().IsNull(6));
  EXPECT_EQ(decoded.row().GetVarchar(6), "");

  // With a null literal, the unquoted literal is NULL for every type; quoted it is a string.
  CsvOptions options;
  options.null_literal = "\\N";
  Decoded with_literal(schema, options);
  ASSERT_TRUE(with_literal.Decode("\\N,\\N,\\N,\\N,\\N,\\N,\\N").ok());
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(with_literal.row().IsNull(i)) << i;
  ASSERT_TRUE(with_literal.Decode(",,,,,,\"\\N\"").ok());
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(with_literal.row().IsNull(i)) << i;
  EXPECT_EQ(with_literal.row().GetVarchar(6), "\\N");
}

struct BadField {
  DataType type;
  std::string text;
  std::string what;          // a part of the message saying what is wrong
  bool names_field = true;   // whether the message names the field
};

// Puts the bad field at a random position among string fields holding multi-byte characters, so
// byte offsets and character columns differ, and checks "line <n>, column <c>:" with c the column
// where the bad field starts, counted here from the fields before it.
void ExpectErrorAtField(std::mt19937_64& random, const BadField& bad, const CsvOptions& options = {}) {
  static constexpr std::string_view kFillers[] = {"", "x", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
                                                  "\xe2\x82\xac 5", "plain text"};
  for (int round = 0; round < 20; ++round) {
    const int field_count = static_cast<int>(Uniform(random, 1, 6));
    const int bad_index = static_cast<int>(Uniform(random, 0, field_count - 1));
    std::vector<DataType> types(static_cast<size_t>(field_count), DataType::Varchar());
    types[static_cast<size_t>(bad_index)] = bad.type;
    const Schema schema = MakeSchema(types);
    std::string line;
    int64_t column = 0;
    for (int i = 0; i < field_count; ++i) {
      if (i > 0) line.push_back(options.field_delimiter);
      if (i == bad_index) {
        column = CodePoints(line) + 1;
        line.append(bad.text);
      } else {
        line.append(kFillers[random() % std::size(kFillers)]);
      }
    }
    const int64_t line_number = Uniform(random, 1, 1'000'000'000'000);
    Decoded decoded(schema, options);
    const Status status = decoded.Decode(line, line_number);
    ASSERT_FALSE(status.ok()) << line;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    const std::string where = fmt::format("line {}, column {}: ", line_number, column);
    EXPECT_EQ(status.message().substr(0, where.size()), where) << line << " -> " << status;
    if (bad.names_field) {
      EXPECT_NE(status.message().find(fmt::format("'f{}'", bad_index)), std::string::npos) << status;
    }
    EXPECT_NE(status.message().find(bad.what), std::string::npos) << status;
  }
}

TEST_F(CsvTest, BadValuesNameLineAndColumnOfTheField) {
  std::mt19937_64 random(7);
  const BadField cases[] = {
      {DataType::Int(), "12x", "not an integer"},
      {DataType::Int(), "1.5", "not an integer"},
      {DataType::Int(), "2147483648", "out of the INT range"},
      {DataType::BigInt(), "-9223372036854775809", "out of the BIGINT range"},
      {DataType::BigInt(), "\xc3\xa9", "not an integer"},
      {DataType::Double(), "1.2.3", "not a DOUBLE"},
      {DataType::Double(), "one", "not a DOUBLE"},
      {DataType::Timestamp(), "2024-13-01 00:00:00", "invalid timestamp"},
      {DataType::Timestamp(), "2023-02-29", "invalid timestamp"},
      {DataType::Timestamp(), "12:00:00", "invalid timestamp"},
      {DataType::Decimal(4, 2), "123.45", "overflows DECIMAL(4, 2)"},
      {DataType::Decimal(18, 4), "12345678901234567", "overflows DECIMAL(18, 4)"},
      {DataType::Decimal(3, 0), "999.5", "overflows DECIMAL(3, 0)"},  // rounds up to 1000
      {DataType::Decimal(10, 2), "\"1,5\"", "not a decimal number"},  // quoted: one field
      {DataType::Boolean(), "yes", "not a BOOLEAN"},
      {DataType::Int().NotNull(), "", "cannot be empty (NULL)"},
      {DataType::Timestamp().NotNull(), "", "cannot be empty (NULL)"},
  };
  for (const BadField& bad : cases) {
    SCOPED_TRACE(bad.type.ToString() + " '" + bad.text + "'");
    ExpectErrorAtField(random, bad);
  }
}

TEST_F(CsvTest, NullLiteralInNotNullFieldIsAnError) {
  std::mt19937_64 random(8);
  CsvOptions options;
  options.field_delimiter = ';';
  options.null_literal = "NULL";
  ExpectErrorAtField(random, {DataType::Varchar().NotNull(), "NULL", "cannot be empty (NULL)"}, options);
  ExpectErrorAtField(random, {DataType::Double().NotNull(), "NULL", "cannot be empty (NULL)"}, options);
}

TEST_F(CsvTest, QuotingErrorsPointAtTheFieldStart) {
  std::mt19937_64 random(9);
  ExpectErrorAtField(random, {DataType::Varchar(), "\"never closed", "unterminated quoted field", false});
  ExpectErrorAtField(random, {DataType::Varchar(), "\"a, \"\"b\"\"", "unterminated quoted field", false});
  ExpectErrorAtField(random, {DataType::Varchar(), "\"quoted\"tail", "after the closing quote", false});
}

TEST_F(CsvTest, WrongFieldCountIsAnError) {
  const Schema schema = MakeSchema({DataType::Varchar(), DataType::Int(), DataType::Varchar()});
  Decoded decoded(schema);
  // Too many: the column where the first extra field starts.
  const std::string too_many_prefix = "\xc3\xa9\xc3\xa9,1,\"a,b\",";
  Status status = decoded.Decode(too_many_prefix + "extra", 3);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "line 3, column " + std::to_string(CodePoints(too_many_prefix) + 1) +
                                  ": too many fields: expected 3");
  // Too few: the column just past the end of the line, where the next field would start.
  const std::string too_few = "\xf0\x9f\x98\x80,2";
  status = decoded.Decode(too_few, 4);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "line 4, column " + std::to_string(CodePoints(too_few) + 1) +
                                  ": expected 3 fields, found 2");
  EXPECT_FALSE(decoded.Decode("", 5).ok());
  EXPECT_TRUE(decoded.Decode("a,2,b\r", 6).ok());  // a trailing '\r' is not part of the line
  EXPECT_EQ(decoded.row().GetVarchar(2), "b");
}

// AppendTimestamp prints every int64 millisecond value and ParseTimestamp reads what it prints
// (types.h), so the ends of the range round trip too.
TEST_F(CsvTest, ExtremeTimestampsRoundTrip) {
  const Schema schema = MakeSchema({DataType::Timestamp()});
  CsvRowEncoder encoder(schema);
  Decoded decoded(schema);
  RowWriter source(schema);
  std::vector<std::byte> source_buffer(64);
  constexpr int64_t kDay = 86'400'000;
  for (int64_t millis : {INT64_MIN, INT64_MIN + 1, INT64_MIN + 2 * kDay, INT64_MAX - 2 * kDay, INT64_MAX - 1, INT64_MAX}) {
    source.Reset(source_buffer);
    source.WriteTimestamp(0, millis);
    ASSERT_TRUE(source.Finish());
    std::string line;
    encoder.Encode(source.view(), line);
    const Status status = decoded.Decode(line);
    EXPECT_TRUE(status.ok()) << millis << " as " << line << ": " << status;
    if (status.ok()) {
      EXPECT_EQ(decoded.row().GetTimestamp(0), millis) << line;
    }
  }
}

TEST(CharacterColumnTest, CountsCodePointsBeforeTheOffset) {
  const std::string line = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
  for (size_t offset = 0; offset <= line.size(); ++offset) {
    EXPECT_EQ(CharacterColumn(line, offset), CodePoints(line.substr(0, offset)) + 1) << offset;
  }
}

}  // namespace
}  // namespace weir::serde
