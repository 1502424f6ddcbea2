#include "serde/json.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "random_rows.h"

namespace weir::serde {
namespace {

// A string from pieces JSON must escape or keep intact: quotes, backslashes, control characters,
// JSON punctuation, multi-byte characters.
std::string RandomJsonString(std::mt19937_64& random) {
  static constexpr std::string_view kPieces[] = {"a",  "Z",  "\"", "\\", "/",  "\n", "\r",       "\t",
                                                 "\b", "\f", "\x01", "\x1f", "\x7f", "{", "]",    ",",
                                                 ":",  " ",  "null", "\\u0041", "\xc3\xa9", "\xe2\x82\xac",
                                                 "\xf0\x9f\x98\x80"};
  std::string text;
  for (int64_t n = Uniform(random, 0, 8); n > 0; --n) text.append(kPieces[random() % std::size(kPieces)]);
  return text;
}

// Field names that need escaping in JSON, or are multi-byte, half of the time.
Schema RandomSchema(std::mt19937_64& random) {
  static constexpr std::string_view kNameTails[] = {"", "", "", "_x", "\xc3\xa9", " space", "\"q\"", "back\\slash"};
  std::vector<Field> fields;
  for (int64_t i = 0, n = Uniform(random, 1, 12); i < n; ++i) {
    fields.push_back(Field{fmt::format("f{}{}", i, kNameTails[random() % std::size(kNameTails)]), RandomType(random)});
  }
  Result<Schema> schema = Schema::Make(std::move(fields));
  WEIR_CHECK(schema.ok());
  return *std::move(schema);
}

// The value as JSON text, written here independently of JsonRowEncoder and in other spellings
// than it uses: shortest round-trip doubles ("1e+300"), decimals as an integer with an exponent
// ("-1234e-2") or as a string, numbers and booleans inside strings.
std::string IndependentJsonValue(std::mt19937_64& random, const DataType& type, const FieldValue& value) {
  if (value.is_null) return "null";
  const bool as_string = random() % 4 == 0;
  std::string text;
  switch (type.kind()) {
    case TypeKind::kBoolean:
      text = value.integer ? "true" : "false";
      break;
    case TypeKind::kInt:
    case TypeKind::kBigInt:
      text = fmt::format("{}", value.integer);
      break;
    case TypeKind::kDouble: {
      if (std::isnan(value.real)) return "\"NaN\"";
      if (std::isinf(value.real)) return value.real > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      char buffer[64];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value.real);
      text.assign(buffer, end);
      break;
    }
    case TypeKind::kDecimal:
      text = fmt::format("{}e-{}", value.integer, type.scale());
      break;
    case TypeKind::kVarchar:
      return nlohmann::json(value.text).dump();
    case TypeKind::kTimestamp: {
      std::string timestamp;
      AppendTimestamp(timestamp, value.integer);
      return nlohmann::json(timestamp).dump();
    }
  }
  return as_string ? "\"" + text + "\"" : text;
}

// Decodes lines of one schema into a reused buffer.
class Decoded {
 public:
  explicit Decoded(const Schema& schema) : decoder_(schema), writer_(schema), buffer_(1 << 16) {}

  Status Decode(std::string_view line, int64_t line_number = 1) {
    writer_.Reset(buffer_);
    RETURN_IF_ERROR(decoder_.Decode(line, line_number, writer_));
    WEIR_CHECK(writer_.Finish());
    return Status::Ok();
  }
  RowView row() const { return writer_.view(); }

 private:
  JsonRowDecoder decoder_;
  RowWriter writer_;
  std::vector<std::byte> buffer_;
};

class JsonTest : public ::testing::Test {};

// Random schemas, random rows -> JsonRowEncoder -> line -> JsonRowDecoder -> the same values; an
// independent parser accepts every line and reads the same names and strings.
TEST_F(JsonTest, RandomSchemasAndRowsRoundTrip) {
  std::mt19937_64 random(20240602);
  for (int schema_round = 0; schema_round < 300; ++schema_round) {
    const Schema schema = RandomSchema(random);
    JsonRowEncoder encoder(schema);
    Decoded decoded(schema);
    RowWriter source(schema);
    std::vector<std::byte> source_buffer(1 << 16);
    for (int row_round = 0; row_round < 20; ++row_round) {
      std::vector<FieldValue> values;
      source.Reset(source_buffer);
      for (int i = 0; i < schema.field_count(); ++i) {
        values.push_back(RandomValue(random, schema.type(i), RandomJsonString));
        WriteValue(source, i, schema.type(i), values.back());
      }
      ASSERT_TRUE(source.Finish());
      std::string line;
      encoder.Encode(source.view(), line);
      const std::string context = schema.ToString() + " as line " + line;

      const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      ASSERT_TRUE(parsed.is_object()) << context;
      ASSERT_EQ(parsed.size(), static_cast<size_t>(schema.field_count())) << context;
      for (int i = 0; i < schema.field_count(); ++i) {
        const FieldValue& value = values[static_cast<size_t>(i)];
        ASSERT_TRUE(parsed.contains(schema.field(i).name)) << context;
        const nlohmann::json& member = parsed[schema.field(i).name];
        EXPECT_EQ(member.is_null(), value.is_null) << context;
        if (!value.is_null && schema.type(i).kind() == TypeKind::kVarchar) {
          EXPECT_EQ(member.get<std::string>(), value.text) << context;
        }
      }

      const Status status = decoded.Decode(line, row_round + 1);
      ASSERT_TRUE(status.ok()) << context << ": " << status;
      for (int i = 0; i < schema.field_count(); ++i) {
        ExpectField(decoded.row(), i, schema.type(i), values[static_cast<size_t>(i)], context);
      }
      if (HasFatalFailure() || HasNonfatalFailure()) return;
    }
  }
}

// Objects written another way: members in any order, some missing (NULL), unknown members with
// nested values in between, whitespace around tokens.
TEST_F(JsonTest, MissingMembersAreNullInAnyOrderWithUnknownMembersSkipped) {
  std::mt19937_64 random(99);
  static constexpr std::string_view kUnknown[] = {
      R"("unknown": {"a": [1, {"b": "}"}], "c": null})", R"("list": [[], {}, "x", -1.5e3, true])",
      R"("\u00e9t\u00e9": "\ud83d\ude00")", R"("f0x": 1)", R"("": "")"};
  static constexpr std::string_view kSpace[] = {"", " ", "\t", "  \t "};
  for (int round = 0; round < 2000; ++round) {
    const Schema schema = RandomSchema(random);
    std::vector<FieldValue> values;
    std::vector<std::string> members;
    for (int i = 0; i < schema.field_count(); ++i) {
      FieldValue value = RandomValue(random, schema.type(i), RandomJsonString);
      const bool omit = schema.type(i).nullable() && random() % 4 == 0;
      if (omit) {
        value = FieldValue{};
        value.is_null = true;
      } else {
        members.push_back(nlohmann::json(schema.field(i).name).dump() + std::string(kSpace[random() % 4]) + ":" +
                          std::string(kSpace[random() % 4]) + IndependentJsonValue(random, schema.type(i), value));
      }
      values.push_back(std::move(value));
    }
    for (int64_t n = Uniform(random, 0, 2); n > 0; --n) members.emplace_back(kUnknown[random() % std::size(kUnknown)]);
    std::shuffle(members.begin(), members.end(), random);
    std::string line = std::string(kSpace[random() % 4]) + "{";
    for (size_t k = 0; k < members.size(); ++k) {
      if (k > 0) line.append(",").append(kSpace[random() % 4]);
      line.append(members[k]);
    }
    line.append(kSpace[random() % 4]).append("}").append(random() % 4 == 0 ? "\r" : "");

    Decoded decoded(schema);
    const std::string context = schema.ToString() + " as line " + line;
    const Status status = decoded.Decode(line);
    ASSERT_TRUE(status.ok()) << context << ": " << status;
    for (int i = 0; i < schema.field_count(); ++i) {
      ExpectField(decoded.row(), i, schema.type(i), values[static_cast<size_t>(i)], context);
    }
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
}

TEST_F(JsonTest, DecimalIsReadExactlyFromTheNumberText) {
  struct Case {
    DataType type;
    std::string_view json;
    int64_t unscaled;
  };
  const Case cases[] = {
      {DataType::Decimal(10, 1), "0.1", 1},
      {DataType::Decimal(10, 1), "\"0.1\"", 1},
      {DataType::Decimal(18, 4), "12345678901234.5678", 123'456'789'012'345'678},
      {DataType::Decimal(18, 4), "-12345678901234.5678", -123'456'789'012'345'678},
      {DataType::Decimal(18, 17), "0.1", 10'000'000'000'000'000},
      {DataType::Decimal(18, 17), "9.99999999999999999", 999'999'999'999'999'999},
      {DataType::Decimal(18, 0), "999999999999999999", 999'999'999'999'999'999},
      {DataType::Decimal(18, 2), "1234567890123456.78", 123'456'789'012'345'678},
      {DataType::Decimal(10, 2), "1.5e2", 15'000},
      {DataType::Decimal(10, 2), "12345E-4", 123},     // 1.2345 -> 1.23
      {DataType::Decimal(10, 2), "0.125", 13},         // HALF_UP
      {DataType::Decimal(10, 2), "-0.125", -13},       // ties away from zero
      {DataType::Decimal(10, 2), "-0", 0},
  };
  for (const Case& c : cases) {
    const Schema schema = MakeSchema({c.type});
    Decoded decoded(schema);
    const std::string line = fmt::format("{{\"f0\": {}}}", c.json);
    const Status status = decoded.Decode(line);
    ASSERT_TRUE(status.ok()) << line << ": " << status;
    EXPECT_EQ(decoded.row().GetDecimal(0), c.unscaled) << line;
  }
}

struct BadMember {
  DataType type;
  std::string value;  // JSON text of the member's value
  std::string what;   // a part of the message saying what is wrong
};

// Puts the bad member after skipped members holding multi-byte characters, so byte offsets and
// character columns differ, and checks "line <n>, column <c>:" with c the column of the value.
void ExpectErrorAtValue(std::mt19937_64& random, const BadMember& bad) {
  static constexpr std::string_view kFillers[] = {R"("skip": "\u00e9t\u00e9", )", "\"\xc3\xa9t\xc3\xa9\": 1, ",
                                                  "\"x\": [\"\xf0\x9f\x98\x80\", {}], ", "\"f1\": \"\xe2\x82\xac\", "};
  const Schema schema = MakeSchema({bad.type, DataType::Varchar()});
  Decoded decoded(schema);
  for (int round = 0; round < 10; ++round) {
    std::string line = "{";
    for (int64_t n = Uniform(random, 0, 2); n > 0; --n) line.append(kFillers[random() % std::size(kFillers)]);
    if (line.find("\"f1\"") != std::string::npos) line = "{";  // f1 once at most
    line.append("\"f0\": ");
    const int64_t column = CodePoints(line) + 1;
    line.append(bad.value).append("}");
    const int64_t line_number = Uniform(random, 1, 1'000'000'000'000);
    const Status status = decoded.Decode(line, line_number);
    ASSERT_FALSE(status.ok()) << line;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    const std::string where = fmt::format("line {}, column {}: ", line_number, column);
    EXPECT_EQ(status.message().substr(0, where.size()), where) << line << " -> " << status;
    EXPECT_NE(status.message().find("'f0'"), std::string::npos) << status;
    EXPECT_NE(status.message().find(bad.what), std::string::npos) << status;
  }
}

TEST_F(JsonTest, WrongJsonTypeIsAnErrorAtTheValue) {
  std::mt19937_64 random(5);
  const BadMember cases[] = {
      {DataType::Int(), "true", "cannot be a boolean"},
      {DataType::Int(), "1.5", "not an integer"},
      {DataType::Int(), "1e3", "not an integer"},
      {DataType::BigInt(), "\"12x\"", "not an integer"},
      {DataType::BigInt(), "9223372036854775808", "out of the BIGINT range"},
      {DataType::Boolean(), "1", "cannot be a number"},
      {DataType::Boolean(), "\"yes\"", "not a BOOLEAN"},
      {DataType::Double(), "false", "cannot be a boolean"},
      {DataType::Double(), "\"one\"", "not a DOUBLE"},
      {DataType::Decimal(4, 2), "123.45", "overflows DECIMAL(4, 2)"},
      {DataType::Decimal(4, 2), "true", "cannot be a boolean"},
      {DataType::Timestamp(), "1704067200000", "cannot be a number"},
      {DataType::Timestamp(), "\"2024-02-30 00:00:00\"", "invalid timestamp"},
      {DataType::BigInt().NotNull(), "null", "cannot be null"},
  };
  for (const BadMember& bad : cases) {
    SCOPED_TRACE(bad.type.ToString() + " " + bad.value);
    ExpectErrorAtValue(random, bad);
  }
}

// A flat schema has no nested types: an object or array in one of its fields is an error (in an
// unknown member it is skipped, see above).
TEST_F(JsonTest, NestedValueInAFieldIsAnError) {
  std::mt19937_64 random(6);
  for (const DataType& type : {DataType::Boolean(), DataType::Int(), DataType::BigInt(), DataType::Double(),
                               DataType::Decimal(10, 2), DataType::Varchar(), DataType::Timestamp()}) {
    SCOPED_TRACE(type.ToString());
    ExpectErrorAtValue(random, {type, R"({"nested": 1})", "cannot be an object"});
    ExpectErrorAtValue(random, {type, "{}", "cannot be an object"});
    ExpectErrorAtValue(random, {type, R"([1, "a"])", "cannot be an array"});
  }
}

TEST_F(JsonTest, MissingNotNullMemberIsAnError) {
  const Schema schema = MakeSchema({DataType::Varchar(), DataType::Int().NotNull()});
  Decoded decoded(schema);
  const std::string line = R"({"f0": "\u00e9t\u00e9"})";
  const Status status = decoded.Decode(line, 8);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().substr(0, 9), "line 8, c");
  EXPECT_NE(status.message().find("missing member for field 'f1'"), std::string::npos) << status;
}

// Syntax errors: `prefix` is well formed, and the error is at the first character after it.
TEST_F(JsonTest, MalformedJsonIsAnErrorAtTheOffendingCharacter) {
  struct Case {
    std::string prefix;
    std::string rest;
    std::string what;
  };
  const std::string unicode = "{\"\xc3\xa9\xf0\x9f\x98\x80\": \"\xe2\x82\xac\", ";  // skipped member
  const Case cases[] = {
      {"", "", "expected a JSON object"},
      {"", "[1, 2]", "expected a JSON object"},
      {"  ", "\"f0\": 1", "expected a JSON object"},
      {unicode + "\"f0\": 1,", "}", "expected a member name"},
      {unicode, "f0: 1}", "expected a member name"},
      {unicode + "\"f0\" ", "1}", "expected ':'"},
      {unicode + "\"f0\": 1 ", "\"f1\": 2}", "expected ',' or '}'"},
      {unicode + "\"f0\": 0", "1}", "expected ',' or '}'"},
      {unicode + "\"f0\": ", "tru}", "expected a value"},
      {unicode + "\"f0\": ", "+1}", "expected a value"},
      {unicode + "\"f0\": ", "-}", "bad number"},
      {unicode + "\"f0\": ", "1.}", "bad number"},
      {unicode + "\"f0\": ", "1e}", "bad number"},
      {unicode + "\"f0\": ", "}", "expected a value"},
      {unicode + "\"f0\": ", "'a'}", "expected a value"},
      {unicode + "\"f0\": 1", "", "unterminated object"},
      {unicode + "\"f0\": 1} ", "x", "unexpected text after the object"},
      {unicode + "\"f1\": ", "\"abc}", "unterminated string"},
      {unicode + "\"f1\": \"a", "\\x\"}", "bad escape"},
      {unicode + "\"f1\": \"a", "\\u12G4\"}", "bad \\u escape"},
      {unicode + "\"f1\": \"a", "\\udc00\"}", "unpaired surrogate"},
      {unicode + "\"f1\": \"a", "\x01\"}", "control character"},
      {unicode + "\"skip\": [1, ", "}]}", "expected a value"},
      {unicode + "\"skip\": {\"a\" ", "1}}", "expected ':'"},
      {unicode + "\"f0\": 1, ", "\"f0\": 2}", "duplicate member 'f0'"},
  };
  const Schema schema = MakeSchema({DataType::Int(), DataType::Varchar()});
  Decoded decoded(schema);
  for (const Case& c : cases) {
    const std::string line = c.prefix + c.rest;
    const Status status = decoded.Decode(line, 42);
    ASSERT_FALSE(status.ok()) << line;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    const std::string where = fmt::format("line 42, column {}: ", CodePoints(c.prefix) + 1);
    EXPECT_EQ(status.message().substr(0, where.size()), where) << line << " -> " << status;
    EXPECT_NE(status.message().find(c.what), std::string::npos) << line << " -> " << status;
  }
}

TEST(AppendJsonStringTest, EscapesWhatJsonRequires) {
  std::mt19937_64 random(3);
  for (int round = 0; round < 2000; ++round) {
    const std::string text = RandomJsonString(random);
    std::string out;
    AppendJsonString(out, text);
    const nlohmann::json parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_string()) << out;
    EXPECT_EQ(parsed.get<std::string>(), text);
  }
}

}  // namespace
}  // namespace weir::serde
