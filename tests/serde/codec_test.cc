#include "serde/codec.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace weir::serde {
namespace {

struct Tick {
  int64_t timestamp;
  int32_t symbol;
  int32_t size;
  double price;
  int64_t sequence;
};

template <typename T>
std::vector<std::byte> Encode(const T& value) {
  std::vector<std::byte> bytes(Codec<T>::Size(value));
  Codec<T>::Write(value, bytes.data());
  return bytes;
}

TEST(CodecTest, PlainStructsAreTheirBytesAndReadInPlace) {
  Tick tick{1700000000000, 42, 100, 101.25, 7};
  alignas(8) std::byte bytes[sizeof(Tick)];
  Codec<Tick>::Write(tick, bytes);
  EXPECT_EQ(Codec<Tick>::Size(tick), sizeof(Tick));
  const Tick& read = Codec<Tick>::Read(bytes);
  EXPECT_EQ(static_cast<const void*>(&read), static_cast<const void*>(bytes));  // zero-copy
  EXPECT_EQ(read.price, 101.25);
  EXPECT_EQ(read.sequence, 7);
}

TEST(CodecTest, StringsArePrefixedAndViewsPointIntoTheBytes) {
  std::vector<std::byte> bytes = Encode(std::string_view("hello"));
  EXPECT_EQ(bytes.size(), 4u + 5u);
  std::string_view read = Codec<std::string_view>::Read(bytes.data());
  EXPECT_EQ(read, "hello");
  EXPECT_EQ(static_cast<const void*>(read.data()), static_cast<const void*>(bytes.data() + 4));
  EXPECT_EQ(Codec<std::string>::Read(Encode(std::string()).data()), "");
}

TEST(CodecTest, RandomTuplesRoundTrip) {
  using Record = std::tuple<int32_t, std::string_view, double, std::string, int64_t>;
  std::mt19937_64 random(7);
  for (int round = 0; round < 1000; ++round) {
    std::string a(random() % 40, 'x');
    for (char& c : a) c = static_cast<char>('a' + random() % 26);
    std::string b(random() % 300, 'y');
    Record record{static_cast<int32_t>(random()), a, static_cast<double>(random()) / 3.0, b,
                  static_cast<int64_t>(random())};
    std::vector<std::byte> bytes = Encode(record);
    EXPECT_EQ(bytes.size(), 4 + 4 + a.size() + 8 + 4 + b.size() + 8);
    EXPECT_EQ(Codec<Record>::Read(bytes.data()), record);
  }
}

TEST(CodecTest, PairsReadUnalignedMembers) {
  using Record = std::pair<std::string_view, int64_t>;
  std::vector<std::byte> bytes = Encode(Record{"abc", -5});  // the int64 sits at offset 7
  Record read = Codec<Record>::Read(bytes.data());
  EXPECT_EQ(read.first, "abc");
  EXPECT_EQ(read.second, -5);
  EXPECT_EQ(ReadUnaligned<int64_t>(bytes.data() + 7), -5);
}

}  // namespace
}  // namespace weir::serde
