#include "harness/ticks/itch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::harness::ticks::itch {
namespace {

// The field lists of the TotalView-ITCH 5.0 specification (name, width in bytes), in order. The
// decoder below walks them, so it shares no offset constant with itch.h.
const std::map<char, std::vector<std::pair<std::string, int>>>& SpecLayouts() {
  static const auto* layouts = new std::map<char, std::vector<std::pair<std::string, int>>>{
      {'A', {{"type", 1}, {"locate", 2}, {"tracking", 2}, {"timestamp", 6}, {"reference", 8}, {"side", 1},
             {"shares", 4}, {"stock", 8}, {"price", 4}}},
      {'E', {{"type", 1}, {"locate", 2}, {"tracking", 2}, {"timestamp", 6}, {"reference", 8},
             {"executed", 4}, {"match", 8}}},
      {'X', {{"type", 1}, {"locate", 2}, {"tracking", 2}, {"timestamp", 6}, {"reference", 8},
             {"cancelled", 4}}},
      {'D', {{"type", 1}, {"locate", 2}, {"tracking", 2}, {"timestamp", 6}, {"reference", 8}}},
      {'P', {{"type", 1}, {"locate", 2}, {"tracking", 2}, {"timestamp", 6}, {"reference", 8}, {"side", 1},
             {"shares", 4}, {"stock", 8}, {"price", 4}, {"match", 8}}},
  };
  return *layouts;
}

// Decodes the framed message field by field: integers as big-endian byte sums, text as text.
struct Decoded {
  int framed_length = 0;
  int layout_length = 0;
  std::map<std::string, uint64_t> numbers;
  std::map<std::string, std::string> text;
};
Decoded DecodeIndependently(const TickMessage& message) {
  Decoded decoded;
  const uint8_t* bytes = message.block.data();
  decoded.framed_length = bytes[0] * 256 + bytes[1];
  const char type = static_cast<char>(bytes[2]);
  int position = 2;
  for (const auto& [name, width] : SpecLayouts().at(type)) {
    if (name == "stock" || name == "side" || name == "type") {
      decoded.text[name] = std::string(reinterpret_cast<const char*>(bytes + position), width);
    } else {
      uint64_t value = 0;
      for (int i = 0; i < width; ++i) value = value * 256 + bytes[position + i];
      decoded.numbers[name] = value;
    }
    position += width;
  }
  decoded.layout_length = position - 2;
  return decoded;
}

const Stock kStock = {'A', 'B', 'C', 'D', ' ', ' ', ' ', ' '};
// Values with every byte distinct and the high bytes set, so a byte-order or offset slip shows.
const Header kHeader{0x1234, 0xfedc, 0x0000'a1b2'c3d4'e5f6};
constexpr uint64_t kReference = 0x0102'0304'0506'0708;
constexpr uint64_t kMatch = 0x8877'6655'4433'2211;

TEST(ItchTest, AddOrderHasTheSpecifiedLayout) {
  TickMessage message;
  EncodeAddOrder(message, kHeader, kReference, 'S', 0xdead'beef, kStock, 0x0abc'def0);
  const Decoded decoded = DecodeIndependently(message);
  EXPECT_EQ(decoded.framed_length, 36);
  EXPECT_EQ(decoded.layout_length, 36);
  EXPECT_EQ(decoded.text.at("type"), "A");
  EXPECT_EQ(decoded.numbers.at("locate"), 0x1234u);
  EXPECT_EQ(decoded.numbers.at("tracking"), 0xfedcu);
  EXPECT_EQ(decoded.numbers.at("timestamp"), 0xa1b2'c3d4'e5f6u);
  EXPECT_EQ(decoded.numbers.at("reference"), kReference);
  EXPECT_EQ(decoded.text.at("side"), "S");
  EXPECT_EQ(decoded.numbers.at("shares"), 0xdead'beefu);
  EXPECT_EQ(decoded.text.at("stock"), "ABCD    ");
  EXPECT_EQ(decoded.numbers.at("price"), 0x0abc'def0u);
  // The accessors read the same values.
  EXPECT_EQ(message.type(), 'A');
  EXPECT_EQ(message.stock_locate(), 0x1234);
  EXPECT_EQ(message.tracking_number(), 0xfedc);
  EXPECT_EQ(message.timestamp(), 0xa1b2'c3d4'e5f6);
  EXPECT_EQ(message.order_reference(), kReference);
  EXPECT_EQ(message.side(), 'S');
  EXPECT_EQ(message.shares(), 0xdead'beefu);
  EXPECT_EQ(message.stock(), "ABCD    ");
  EXPECT_EQ(message.price(), 0x0abc'def0u);
  EXPECT_EQ(message.bytes().size(), 36u);
  // The block is zero past the message.
  for (size_t i = 2 + 36; i < message.block.size(); ++i) EXPECT_EQ(message.block[i], 0) << i;
}

TEST(ItchTest, OrderExecutedCancelDeleteAndTradeHaveTheSpecifiedLayouts) {
  TickMessage message;
  EncodeOrderExecuted(message, kHeader, kReference, 0x1122'3344, kMatch);
  Decoded decoded = DecodeIndependently(message);
  EXPECT_EQ(decoded.framed_length, 31);
  EXPECT_EQ(decoded.layout_length, 31);
  EXPECT_EQ(decoded.numbers.at("reference"), kReference);
  EXPECT_EQ(decoded.numbers.at("executed"), 0x1122'3344u);
  EXPECT_EQ(decoded.numbers.at("match"), kMatch);
  EXPECT_EQ(message.executed_shares(), 0x1122'3344u);
  EXPECT_EQ(message.match_number(), kMatch);

  EncodeOrderCancel(message, kHeader, kReference, 0x5566'7788);
  decoded = DecodeIndependently(message);
  EXPECT_EQ(decoded.framed_length, 23);
  EXPECT_EQ(decoded.layout_length, 23);
  EXPECT_EQ(decoded.text.at("type"), "X");
  EXPECT_EQ(decoded.numbers.at("cancelled"), 0x5566'7788u);
  EXPECT_EQ(message.cancelled_shares(), 0x5566'7788u);
  for (size_t i = 2 + 23; i < message.block.size(); ++i) EXPECT_EQ(message.block[i], 0) << i;

  EncodeOrderDelete(message, kHeader, kReference);
  decoded = DecodeIndependently(message);
  EXPECT_EQ(decoded.framed_length, 19);
  EXPECT_EQ(decoded.layout_length, 19);
  EXPECT_EQ(decoded.numbers.at("timestamp"), 0xa1b2'c3d4'e5f6u);
  EXPECT_EQ(decoded.numbers.at("reference"), kReference);

  EncodeTrade(message, kHeader, 0, 'B', 250, kStock, 1'234'500, kMatch);
  decoded = DecodeIndependently(message);
  EXPECT_EQ(decoded.framed_length, 44);
  EXPECT_EQ(decoded.layout_length, 44);
  EXPECT_EQ(decoded.numbers.at("reference"), 0u);
  EXPECT_EQ(decoded.text.at("side"), "B");
  EXPECT_EQ(decoded.numbers.at("shares"), 250u);
  EXPECT_EQ(decoded.text.at("stock"), "ABCD    ");
  EXPECT_EQ(decoded.numbers.at("price"), 1'234'500u);
  EXPECT_EQ(decoded.numbers.at("match"), kMatch);
  EXPECT_EQ(message.match_number(), kMatch);
}

TEST(ItchTest, BigEndianHelpersRoundTrip) {
  uint8_t bytes[8];
  for (const uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102'0304'0506'0708}, ~uint64_t{0}}) {
    StoreBig64(bytes, value);
    EXPECT_EQ(bytes[0], value >> 56);
    EXPECT_EQ(bytes[7], value & 0xff);
    EXPECT_EQ(LoadBig64(bytes), value);
    StoreBig32(bytes, static_cast<uint32_t>(value));
    EXPECT_EQ(LoadBig32(bytes), static_cast<uint32_t>(value));
    StoreBig16(bytes, static_cast<uint16_t>(value));
    EXPECT_EQ(LoadBig16(bytes), static_cast<uint16_t>(value));
    const int64_t nanos = static_cast<int64_t>(value & kMaxTimestamp);
    StoreBig48(bytes, nanos);
    EXPECT_EQ(LoadBig48(bytes), nanos);
  }
}

TEST(ItchTest, ValidateNamesWhatIsWrong) {
  TickMessage message;
  EncodeAddOrder(message, {1, 2, 34'200'000'000'000}, 7, 'B', 100, kStock, 1'000'000);
  EXPECT_TRUE(Validate(message).ok());

  TickMessage bad = message;
  bad.message()[kSideOffset] = 'Z';
  Status status = Validate(bad);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("Buy/Sell"), std::string_view::npos) << status.ToString();

  bad = message;
  StoreBig16(bad.block.data(), 35);
  status = Validate(bad);
  EXPECT_NE(status.message().find("length 35"), std::string_view::npos) << status.ToString();

  bad = message;
  bad.message()[0] = 'Q';
  status = Validate(bad);
  EXPECT_NE(status.message().find("0x51"), std::string_view::npos) << status.ToString();

  bad = message;
  StoreBig48(bad.message() + kTimestampOffset, kNanosPerDay);
  status = Validate(bad);
  EXPECT_NE(status.message().find("timestamp"), std::string_view::npos) << status.ToString();
}

TEST(ItchTest, PricesPrintWithFourDecimals) {
  std::string out;
  AppendPrice(out, 1'234'500);
  EXPECT_EQ(out, "123.4500");
  out.clear();
  AppendPrice(out, 7);
  EXPECT_EQ(out, "0.0007");
  out.clear();
  AppendPrice(out, 0);
  EXPECT_EQ(out, "0.0000");
}

}  // namespace
}  // namespace weir::harness::ticks::itch
