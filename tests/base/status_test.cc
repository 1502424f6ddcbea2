#include "base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace weir {
namespace {

Result<int> Half(int value) {
  if (value % 2 != 0) return InvalidArgument("{} is odd", value);
  return value / 2;
}

Result<int> Quarter(int value) {
  ASSIGN_OR_RETURN(int half, Half(value));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int value) {
  RETURN_IF_ERROR(Half(value).status());
  return Status::Ok();
}

TEST(StatusTest, OkIsCheapAndErrorsCarryContext) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status error = NotFound("file '{}' does not exist", "x.txt").WithContext("WordCount");
  EXPECT_EQ(error.code(), StatusCode::kNotFound);
  EXPECT_EQ(error.ToString(), "NotFound: WordCount: file 'x.txt' does not exist");
  Status copy = error;
  EXPECT_EQ(copy.ToString(), error.ToString());
}

TEST(StatusTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(StatusTest, ErrnoMapsToCodes) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "open a").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write a").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EIO, "read a").code(), StatusCode::kIoError);
  EXPECT_NE(ErrnoStatus(ENOENT, "open a").message().find("open a: "), std::string_view::npos);
}

}  // namespace
}  // namespace weir
