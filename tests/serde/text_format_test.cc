#include "serde/text_format.h"

#include <gtest/gtest.h>

namespace weir::serde {
namespace {

template <typename T>
std::string Text(const T& value) {
  std::string out;
  AppendText(out, value);
  return out;
}

TEST(TextFormatTest, TuplesPrintAsFlinkTuples) {
  EXPECT_EQ(Text(std::pair<std::string_view, int64_t>("hello", 3)), "(hello,3)");
  EXPECT_EQ(Text(std::make_tuple(1, std::string("a"), true)), "(1,a,true)");
  EXPECT_EQ(Text(int64_t{-42}), "-42");
}

TEST(TextFormatTest, DoublesPrintAsJavaDoubleToString) {
  // Expected strings are Java's Double.toString of the same values.
  EXPECT_EQ(Text(1.0), "1.0");
  EXPECT_EQ(Text(0.1), "0.1");
  EXPECT_EQ(Text(-2.5), "-2.5");
  EXPECT_EQ(Text(100.0), "100.0");
  EXPECT_EQ(Text(0.001), "0.001");
  EXPECT_EQ(Text(1234567.0), "1234567.0");
  EXPECT_EQ(Text(1.0e7), "1.0E7");
  EXPECT_EQ(Text(1.5e-4), "1.5E-4");
  EXPECT_EQ(Text(1.0e-10), "1.0E-10");
  EXPECT_EQ(Text(6.02e23), "6.02E23");
  EXPECT_EQ(Text(0.0), "0.0");
  EXPECT_EQ(Text(-0.0), "-0.0");
  EXPECT_EQ(Text(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(Text(std::nan("")), "NaN");
}

}  // namespace
}  // namespace weir::serde
