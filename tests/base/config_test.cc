#include "base/config.h"

#include <gtest/gtest.h>

namespace weir {
namespace {

TEST(ConfigurationTest, ParsesFlinkDurations) {
  EXPECT_EQ(*ParseDurationMillis("100ms"), 100);
  EXPECT_EQ(*ParseDurationMillis("5 s"), 5000);
  EXPECT_EQ(*ParseDurationMillis("1 min"), 60000);
  EXPECT_EQ(*ParseDurationMillis("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMillis("250"), 250);  // bare number: milliseconds, as in Flink
  EXPECT_EQ(*ParseDurationNanos("10 us"), 10'000);
  EXPECT_EQ(*ParseDurationNanos("0"), 0);
  EXPECT_FALSE(ParseDurationMillis("fast").ok());
  EXPECT_FALSE(ParseDurationMillis("5 parsecs").ok());
  EXPECT_FALSE(ParseDurationMillis("-5 s").ok());
}

TEST(ConfigurationTest, ParsesFlinkMemorySizes) {
  EXPECT_EQ(*ParseMemorySize("64mb"), 64ll << 20);
  EXPECT_EQ(*ParseMemorySize("1 gb"), 1ll << 30);
  EXPECT_EQ(*ParseMemorySize("32kb"), 32768);
  EXPECT_EQ(*ParseMemorySize("32 KB"), 32768);
  EXPECT_EQ(*ParseMemorySize("100"), 100);
  EXPECT_FALSE(ParseMemorySize("lots").ok());
  EXPECT_FALSE(ParseMemorySize("1 pb").ok());
}

TEST(ConfigurationTest, SetValidatesKeysAndValues) {
  Configuration config;
  EXPECT_TRUE(config.SetFromArgument("parallelism.default=4").ok());
  EXPECT_EQ(config.GetInt(options::kParallelism), 4);
  EXPECT_EQ(config.GetDurationMillis(options::kBufferTimeout), 1);  // the default
  EXPECT_TRUE(config.Set("execution.buffer-timeout", "0").ok());
  EXPECT_EQ(config.GetDurationNanos(options::kBufferTimeout), 0);

  Status bad_value = config.SetFromArgument("parallelism.default=four");
  EXPECT_EQ(bad_value.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_value.message().find("parallelism.default"), std::string_view::npos);

  Status typo = config.SetFromArgument("parallelism.defualt=2");
  EXPECT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find("did you mean 'parallelism.default'"), std::string_view::npos);

  EXPECT_FALSE(config.SetFromArgument("novalue").ok());
  EXPECT_FALSE(config.Set("execution.runtime-mode", "sometimes").ok());
  EXPECT_TRUE(config.Set("execution.runtime-mode", "batch").ok());
  EXPECT_EQ(config.GetString(options::kRuntimeMode), "BATCH");
}

}  // namespace
}  // namespace weir
