#include "serde/schema.h"

#include <gtest/gtest.h>

namespace weir::serde {
namespace {

TEST(SchemaTest, ParsesFieldsInOrderWithLookupByName) {
  Result<Schema> schema = ParseSchema("id BIGINT, name VARCHAR, price DECIMAL(10,2), ts TIMESTAMP(3)");
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_EQ(schema->field_count(), 4);
  EXPECT_EQ(schema->field(0), (Field{"id", DataType::BigInt()}));
  EXPECT_EQ(schema->field(1), (Field{"name", DataType::Varchar()}));
  EXPECT_EQ(schema->field(2), (Field{"price", DataType::Decimal(10, 2)}));
  EXPECT_EQ(schema->field(3), (Field{"ts", DataType::Timestamp()}));
  EXPECT_EQ(schema->IndexOf("price"), 2);
  EXPECT_EQ(schema->IndexOf("Price"), std::nullopt);
  EXPECT_EQ(*schema->FieldIndex("ts"), 3);
  Result<int> missing = schema->FieldIndex("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string_view::npos);
}

TEST(SchemaTest, ToStringRoundTrips) {
  Result<Schema> schema =
      ParseSchema("  a INT NOT NULL ,`weird name` double, `back``tick` DECIMAL(18, 18), s STRING, v varchar(3) not null");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->field(1).name, "weird name");
  EXPECT_EQ(schema->field(2).name, "back`tick");
  Result<Schema> again = ParseSchema(schema->ToString());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *schema);
}

TEST(SchemaTest, ErrorsNameFieldAndPosition) {
  struct Case {
    std::string_view text;
    std::string_view expected;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"id BIGINT, price DECIMAL(30,2)", "schema field 2 at position 12"},
           {"id BIGINT,, x INT", "schema field 2 at position 11"},
           {"id BIGINT, id INT", "schema field 2 at position 12"},
           {"id", "schema field 1 at position 1"},
           {"1x INT", "schema field 1 at position 1"},
           {"a INT, b FLOAT", "schema field 2 at position 8"},
           {"a INT,", "schema field 2 at position 7"},
           {"`open INT", "schema field 1 at position 1"},
           {"", "no fields"},
       }) {
    Result<Schema> schema = ParseSchema(c.text);
    ASSERT_FALSE(schema.ok()) << c.text;
    EXPECT_EQ(schema.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(schema.status().message().find(c.expected), std::string_view::npos) << schema.status();
  }
}

TEST(SchemaTest, MakeRejectsDuplicateAndEmptyNames) {
  EXPECT_FALSE(Schema::Make({{"a", DataType::Int()}, {"a", DataType::Int()}}).ok());
  EXPECT_FALSE(Schema::Make({{"", DataType::Int()}}).ok());
  EXPECT_TRUE(Schema::Make({{"a", DataType::Int()}, {"b", DataType::Int()}}).ok());
}

}  // namespace
}  // namespace weir::serde
