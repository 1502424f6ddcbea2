#include "serde/types.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <random>
#include <string>

namespace weir::serde {
namespace {

TEST(DataTypeTest, ToStringSpellsSqlTypes) {
  EXPECT_EQ(DataType::Boolean().ToString(), "BOOLEAN");
  EXPECT_EQ(DataType::Int().ToString(), "INT");
  EXPECT_EQ(DataType::BigInt().NotNull().ToString(), "BIGINT NOT NULL");
  EXPECT_EQ(DataType::Double().ToString(), "DOUBLE");
  EXPECT_EQ(DataType::Decimal(10, 2).ToString(), "DECIMAL(10, 2)");
  EXPECT_EQ(DataType::Varchar().ToString(), "STRING");
  EXPECT_EQ(DataType::Varchar(20).ToString(), "VARCHAR(20)");
  EXPECT_EQ(DataType::Timestamp().ToString(), "TIMESTAMP(3)");
}

TEST(DataTypeTest, ParseIsCaseInsensitiveAndRoundTripsToString) {
  EXPECT_EQ(*ParseDataType("decimal(10,2)"), DataType::Decimal(10, 2));
  EXPECT_EQ(*ParseDataType("  Decimal ( 18 , 0 )  not   null "), DataType::Decimal(18, 0).NotNull());
  EXPECT_EQ(*ParseDataType("DECIMAL"), DataType::Decimal(10, 0));
  EXPECT_EQ(*ParseDataType("numeric(5)"), DataType::Decimal(5, 0));
  EXPECT_EQ(*ParseDataType("integer"), DataType::Int());
  EXPECT_EQ(*ParseDataType("bigint NOT NULL"), DataType::BigInt().NotNull());
  EXPECT_EQ(*ParseDataType("double precision"), DataType::Double());
  EXPECT_EQ(*ParseDataType("varchar"), DataType::Varchar());
  EXPECT_EQ(*ParseDataType("VARCHAR(7)"), DataType::Varchar(7));
  EXPECT_EQ(*ParseDataType("string null"), DataType::Varchar());
  EXPECT_EQ(*ParseDataType("timestamp"), DataType::Timestamp());
  EXPECT_EQ(*ParseDataType("TIMESTAMP(3)"), DataType::Timestamp());
  EXPECT_EQ(*ParseDataType("bool"), DataType::Boolean());
  for (const DataType& type : {DataType::Boolean(), DataType::Int().NotNull(), DataType::BigInt(), DataType::Double(),
                               DataType::Decimal(18, 18), DataType::Decimal(1, 0).NotNull(), DataType::Varchar(),
                               DataType::Varchar(3).NotNull(), DataType::Timestamp()}) {
    Result<DataType> parsed = ParseDataType(type.ToString());
    ASSERT_TRUE(parsed.ok()) << type.ToString() << ": " << parsed.status();
    EXPECT_EQ(*parsed, type) << type.ToString();
  }
}

TEST(DataTypeTest, ParseErrorsNameTheText) {
  for (std::string_view text : {"DECIMAL(19, 2)", "decimal(5,6)", "decimal(10,x)", "TIMESTAMP(6)", "INT(3)", "FLOAT",
                                "BIGINT NOT", "BIGINT garbage", "", "VARCHAR(0)", "DECIMAL(1,2,3)", "INT)"}) {
    Result<DataType> parsed = ParseDataType(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(fmt::format("'{}'", text)), std::string_view::npos)
        << parsed.status();
  }
}

std::string DecimalText(int64_t unscaled, int scale) {
  std::string out;
  AppendDecimal(out, unscaled, scale);
  return out;
}

TEST(DecimalTest, FormatsExactlyScaleDigits) {
  EXPECT_EQ(DecimalText(1250, 2), "12.50");
  EXPECT_EQ(DecimalText(-5, 3), "-0.005");
  EXPECT_EQ(DecimalText(7, 0), "7");
  EXPECT_EQ(DecimalText(0, 2), "0.00");
  EXPECT_EQ(DecimalText(-999999999999999999, 18), "-0.999999999999999999");
  EXPECT_EQ(DecimalText(999999999999999999, 0), "999999999999999999");
}

TEST(DecimalTest, ParsesWithHalfUpRounding) {
  EXPECT_EQ(*ParseDecimal("12.345", 10, 2), 1235);
  EXPECT_EQ(*ParseDecimal("12.344", 10, 2), 1234);
  EXPECT_EQ(*ParseDecimal("-12.345", 10, 2), -1235);  // ties away from zero
  EXPECT_EQ(*ParseDecimal("-12.344", 10, 2), -1234);
  EXPECT_EQ(*ParseDecimal("0.005", 4, 2), 1);
  EXPECT_EQ(*ParseDecimal("0.0049", 4, 2), 0);
  EXPECT_EQ(*ParseDecimal("0.0005", 4, 2), 0);
  EXPECT_EQ(*ParseDecimal("+7", 3, 0), 7);
  EXPECT_EQ(*ParseDecimal(".5", 3, 1), 5);
  EXPECT_EQ(*ParseDecimal("5.", 3, 1), 50);
  EXPECT_EQ(*ParseDecimal("1.5E3", 10, 2), 150000);
  EXPECT_EQ(*ParseDecimal("15e-3", 10, 2), 2);
  EXPECT_EQ(*ParseDecimal("-0", 3, 1), 0);
  EXPECT_EQ(*ParseDecimal("000000000000000000000000000000001.20", 3, 2), 120);
  EXPECT_EQ(*ParseDecimal("99.995", 5, 2), 10000);  // rounds up to the precision's limit
}

TEST(DecimalTest, OverflowAndGarbageAreErrors) {
  EXPECT_FALSE(ParseDecimal("123.45", 4, 2).ok());
  EXPECT_FALSE(ParseDecimal("99.995", 4, 2).ok());  // rounding carries into a fifth digit
  EXPECT_FALSE(ParseDecimal("1e18", 18, 0).ok());
  EXPECT_FALSE(ParseDecimal("1e100000000", 18, 0).ok());
  EXPECT_TRUE(ParseDecimal("1e-100000000", 18, 0).ok());
  for (std::string_view text : {"", "-", ".", "1.2.3", "12a", "e5", "1e", " 1", "1,5", "--1"}) {
    Result<int64_t> parsed = ParseDecimal(text, 10, 2);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find(fmt::format("'{}'", text)), std::string_view::npos);
  }
  Result<int64_t> overflow = ParseDecimal("123.45", 4, 2);
  EXPECT_NE(overflow.status().message().find("DECIMAL(4, 2)"), std::string_view::npos) << overflow.status();
}

TEST(DecimalTest, RandomValuesRoundTripAndRoundAgainstIntegerReference) {
  std::mt19937_64 random(42);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const int precision = 1 + static_cast<int>(random() % 18);
    const int scale = static_cast<int>(random() % (precision + 1));
    int64_t limit = 1;
    for (int i = 0; i < precision; ++i) limit *= 10;
    const int64_t unscaled = static_cast<int64_t>(random() % static_cast<uint64_t>(limit)) * (random() % 2 ? 1 : -1);
    ASSERT_EQ(*ParseDecimal(DecimalText(unscaled, scale), precision, scale), unscaled);
    // One extra digit d: value = unscaled.d, rounded half up on the magnitude.
    const int extra = static_cast<int>(random() % 10);
    std::string text = DecimalText(unscaled, scale) + (scale == 0 ? "." : "") + std::to_string(extra);
    if (unscaled == 0 && random() % 2) text = "-" + text;
    const int64_t magnitude = (unscaled < 0 ? -unscaled : unscaled) + (extra >= 5 ? 1 : 0);
    const bool negative = unscaled < 0 || text[0] == '-';
    Result<int64_t> parsed = ParseDecimal(text, precision, scale);
    if (magnitude >= limit) {
      EXPECT_FALSE(parsed.ok()) << text;
    } else {
      ASSERT_TRUE(parsed.ok()) << text << " " << parsed.status();
      EXPECT_EQ(*parsed, negative ? -magnitude : magnitude) << text;
    }
  }
}

std::string TimestampText(int64_t millis) {
  std::string out;
  AppendTimestamp(out, millis);
  return out;
}

TEST(TimestampTest, FormatsEpochBoundariesAndLeapDays) {
  EXPECT_EQ(TimestampText(0), "1970-01-01 00:00:00.000");
  EXPECT_EQ(TimestampText(-1), "1969-12-31 23:59:59.999");
  EXPECT_EQ(TimestampText(1), "1970-01-01 00:00:00.001");
  EXPECT_EQ(TimestampText(951782400000), "2000-02-29 00:00:00.000");
  EXPECT_EQ(TimestampText(1704067200000), "2024-01-01 00:00:00.000");
  EXPECT_EQ(TimestampText(-62135596800000), "0001-01-01 00:00:00.000");
  // Extreme instants print and parse back.
  for (int64_t millis : {std::numeric_limits<int64_t>::min() / 2, int64_t{-62167219200001}, int64_t{253402300800000},
                         std::numeric_limits<int64_t>::max() / 2}) {
    Result<int64_t> parsed = ParseTimestamp(TimestampText(millis));
    ASSERT_TRUE(parsed.ok()) << TimestampText(millis) << " " << parsed.status();
    EXPECT_EQ(*parsed, millis);
  }
}

TEST(TimestampTest, MatchesGmtimeOnRandomInstants) {
  std::mt19937_64 random(7);
  std::uniform_int_distribution<int64_t> seconds(-62135596800LL, 253402300799LL);  // years 1..9999
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const int64_t second = seconds(random);
    const int64_t fraction = static_cast<int64_t>(random() % 1000);
    const int64_t millis = second * 1000 + fraction;
    time_t t = static_cast<time_t>(second);
    tm civil{};
    ASSERT_NE(gmtime_r(&t, &civil), nullptr);
    const std::string expected = fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}", civil.tm_year + 1900,
                                             civil.tm_mon + 1, civil.tm_mday, civil.tm_hour, civil.tm_min,
                                             civil.tm_sec, fraction);
    ASSERT_EQ(TimestampText(millis), expected);
    ASSERT_EQ(*ParseTimestamp(expected), millis) << expected;
    const CivilDate date = CivilFromDays(DaysFromCivil(civil.tm_year + 1900, civil.tm_mon + 1, civil.tm_mday));
    ASSERT_EQ(date.year, civil.tm_year + 1900);
    ASSERT_EQ(date.month, civil.tm_mon + 1);
    ASSERT_EQ(date.day, civil.tm_mday);
  }
}

TEST(TimestampTest, ParsesVariants) {
  EXPECT_EQ(*ParseTimestamp("2024-01-01T00:00:00.000"), 1704067200000);
  EXPECT_EQ(*ParseTimestamp("2024-01-01 00:00:00.5"), 1704067200500);
  EXPECT_EQ(*ParseTimestamp("2024-01-01 00:00:00.05"), 1704067200050);
  EXPECT_EQ(*ParseTimestamp("2024-01-01 00:00:00.123456789"), 1704067200123);
  EXPECT_EQ(*ParseTimestamp("2024-01-01 00:00:01"), 1704067201000);
  EXPECT_EQ(*ParseTimestamp("2024-01-01 00:01"), 1704067260000);
  EXPECT_EQ(*ParseTimestamp("2024-01-01"), 1704067200000);
  EXPECT_EQ(*ParseTimestamp("1969-12-31 23:59:59.999"), -1);
  EXPECT_EQ(*ParseTimestamp("2000-02-29 12:00:00"), 951825600000);
}

TEST(TimestampTest, ParseErrorsAreClear) {
  for (std::string_view text : {"2023-02-29 00:00:00", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31",
                                "2024-01-01 24:00:00", "2024-01-01 00:60:00", "2024-01-01 00:00:60", "2024-1-01",
                                "24-01-01", "2024-01-01X00:00", "2024-01-01 00:00:00.", "2024-01-01 00:00:00.1234567890",
                                "2024-01-01 00:00:00Z", "", "yesterday"}) {
    Result<int64_t> parsed = ParseTimestamp(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(fmt::format("'{}'", text)), std::string_view::npos) << parsed.status();
  }
}

std::string DoubleText(double value) {
  std::string out;
  AppendDouble(out, value);
  return out;
}

TEST(DoubleTextTest, PrintsAsJavaAndParsesBack) {
  EXPECT_EQ(DoubleText(1.0), "1.0");
  EXPECT_EQ(DoubleText(2.5), "2.5");
  EXPECT_EQ(DoubleText(-0.0), "-0.0");
  EXPECT_EQ(DoubleText(0.001), "0.001");
  EXPECT_EQ(DoubleText(0.0001), "1.0E-4");
  EXPECT_EQ(DoubleText(1e7), "1.0E7");
  EXPECT_EQ(DoubleText(1234567.0), "1234567.0");
  EXPECT_EQ(DoubleText(1.2345e-5), "1.2345E-5");
  EXPECT_EQ(DoubleText(100.0), "100.0");
  EXPECT_EQ(DoubleText(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(DoubleText(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(DoubleText(std::nan("")), "NaN");
  std::mt19937_64 random(3);
  for (int iteration = 0; iteration < 10000; ++iteration) {
    double value = std::bit_cast<double>(random());
    if (std::isnan(value)) continue;
    Result<double> parsed = ParseDouble(DoubleText(value));
    ASSERT_TRUE(parsed.ok()) << DoubleText(value);
    ASSERT_EQ(std::bit_cast<uint64_t>(*parsed), std::bit_cast<uint64_t>(value)) << DoubleText(value);
  }
  EXPECT_TRUE(std::isnan(*ParseDouble("NaN")));
  EXPECT_EQ(*ParseDouble("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(*ParseDouble("+2.5"), 2.5);
  EXPECT_FALSE(ParseDouble("2.5x").ok());
  EXPECT_FALSE(ParseDouble("").ok());
}

TEST(IntegerTextTest, ParsesRangesAndRejectsGarbage) {
  EXPECT_EQ(*ParseBigInt("-9223372036854775808"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*ParseBigInt("+9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(ParseBigInt("9223372036854775808").ok());
  EXPECT_EQ(*ParseInt("-2147483648"), std::numeric_limits<int32_t>::min());
  EXPECT_FALSE(ParseInt("2147483648").ok());
  EXPECT_FALSE(ParseInt("1.5").ok());
  EXPECT_FALSE(ParseInt("").ok());
  EXPECT_FALSE(ParseInt("+").ok());
  EXPECT_TRUE(*ParseBool("TRUE"));
  EXPECT_FALSE(*ParseBool("false"));
  EXPECT_FALSE(ParseBool("yes").ok());
}

}  // namespace
}  // namespace weir::serde
