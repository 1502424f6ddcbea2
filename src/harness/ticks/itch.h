// The five Nasdaq TotalView-ITCH 5.0 messages of the market-ticks workload, as bytes.
//
// Layouts (Nasdaq TotalView-ITCH 5.0 specification, section 1.3 and 1.4; every integer is
// big-endian, Alpha fields are left-justified ASCII padded with spaces, Price(4) is an unsigned
// integer with 4 implied decimal places, the timestamp is 6 bytes of nanoseconds since midnight):
//
//   offset  all messages
//        0  Message Type          1  'A' 'E' 'X' 'D' 'P'
//        1  Stock Locate          2
//        3  Tracking Number       2
//        5  Timestamp             6
//       11  Order Reference Num.  8
//
//   'A' Add Order (36):      19 Buy/Sell Indicator 1 ('B'/'S'), 20 Shares 4, 24 Stock 8, 32 Price 4
//   'E' Order Executed (31): 19 Executed Shares 4, 23 Match Number 8
//   'X' Order Cancel (23):   19 Cancelled Shares 4
//   'D' Order Delete (19):   (nothing more)
//   'P' Trade (44):          19 Buy/Sell Indicator 1, 20 Shares 4, 24 Stock 8, 32 Price 4,
//                            36 Match Number 8
//
// A message travels through a job as a TickMessage: a MoldUDP64 message block (a 2-byte big-endian
// length, then the message, as Nasdaq frames ITCH on the wire), zero-padded to 48 bytes so the
// record is fixed-size and trivially copyable (weir's exchanges copy it as bytes). Operators read
// the fields straight from the bytes with the accessors below (big-endian to host); nothing is
// decoded into a struct on the hot path.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/status.h"

namespace weir::harness::ticks::itch {

inline constexpr char kAddOrder = 'A';
inline constexpr char kOrderExecuted = 'E';
inline constexpr char kOrderCancel = 'X';
inline constexpr char kOrderDelete = 'D';
inline constexpr char kTrade = 'P';

inline constexpr int kAddOrderLength = 36;
inline constexpr int kOrderExecutedLength = 31;
inline constexpr int kOrderCancelLength = 23;
inline constexpr int kOrderDeleteLength = 19;
inline constexpr int kTradeLength = 44;
inline constexpr int kMaxMessageLength = kTradeLength;

// Field offsets inside a message (see the table above).
inline constexpr int kTypeOffset = 0;
inline constexpr int kStockLocateOffset = 1;
inline constexpr int kTrackingNumberOffset = 3;
inline constexpr int kTimestampOffset = 5;
inline constexpr int kOrderReferenceOffset = 11;
inline constexpr int kSideOffset = 19;             // 'A', 'P'
inline constexpr int kSharesOffset = 20;           // 'A', 'P'
inline constexpr int kStockOffset = 24;            // 'A', 'P'
inline constexpr int kPriceOffset = 32;            // 'A', 'P'
inline constexpr int kTradeMatchOffset = 36;       // 'P'
inline constexpr int kExecutedSharesOffset = 19;   // 'E'
inline constexpr int kExecutedMatchOffset = 23;    // 'E'
inline constexpr int kCancelledSharesOffset = 19;  // 'X'

inline constexpr int kStockLength = 8;
// Price(4): 4 implied decimal places.
inline constexpr int64_t kPriceScale = 10'000;
// 48 bits of nanoseconds.
inline constexpr int64_t kMaxTimestamp = (int64_t{1} << 48) - 1;
inline constexpr int64_t kNanosPerDay = 86'400'000'000'000;

// The message length the specification gives `type`, or 0 for a type this workload does not use.
constexpr int MessageLength(char type) {
  switch (type) {
    case kAddOrder: return kAddOrderLength;
    case kOrderExecuted: return kOrderExecutedLength;
    case kOrderCancel: return kOrderCancelLength;
    case kOrderDelete: return kOrderDeleteLength;
    case kTrade: return kTradeLength;
    default: return 0;
  }
}

// Big-endian loads and stores of the widths ITCH uses.
inline uint16_t LoadBig16(const uint8_t* in) {
  uint16_t value;
  std::memcpy(&value, in, sizeof(value));
  return __builtin_bswap16(value);
}
inline uint32_t LoadBig32(const uint8_t* in) {
  uint32_t value;
  std::memcpy(&value, in, sizeof(value));
  return __builtin_bswap32(value);
}
inline uint64_t LoadBig64(const uint8_t* in) {
  uint64_t value;
  std::memcpy(&value, in, sizeof(value));
  return __builtin_bswap64(value);
}
inline int64_t LoadBig48(const uint8_t* in) {
  return static_cast<int64_t>((uint64_t{LoadBig16(in)} << 32) | LoadBig32(in + 2));
}
inline void StoreBig16(uint8_t* out, uint16_t value) {
  value = __builtin_bswap16(value);
  std::memcpy(out, &value, sizeof(value));
}
inline void StoreBig32(uint8_t* out, uint32_t value) {
  value = __builtin_bswap32(value);
  std::memcpy(out, &value, sizeof(value));
}
inline void StoreBig64(uint8_t* out, uint64_t value) {
  value = __builtin_bswap64(value);
  std::memcpy(out, &value, sizeof(value));
}
// REQUIRES: 0 <= value <= kMaxTimestamp.
inline void StoreBig48(uint8_t* out, int64_t value) {
  StoreBig16(out, static_cast<uint16_t>(static_cast<uint64_t>(value) >> 32));
  StoreBig32(out + 2, static_cast<uint32_t>(value));
}

// One ITCH message as a record: a MoldUDP64 message block padded to 48 bytes.
struct TickMessage {
  static constexpr int kFramingLength = 2;
  std::array<uint8_t, 48> block{};

  // The message length from the framing.
  int length() const { return LoadBig16(block.data()); }
  // The message bytes (length() of them).
  const uint8_t* message() const { return block.data() + kFramingLength; }
  uint8_t* message() { return block.data() + kFramingLength; }
  std::string_view bytes() const { return {reinterpret_cast<const char*>(message()), size_t(length())}; }

  // Fields every message has.
  char type() const { return static_cast<char>(message()[kTypeOffset]); }
  uint16_t stock_locate() const { return LoadBig16(message() + kStockLocateOffset); }
  uint16_t tracking_number() const { return LoadBig16(message() + kTrackingNumberOffset); }
  int64_t timestamp() const { return LoadBig48(message() + kTimestampOffset); }
  uint64_t order_reference() const { return LoadBig64(message() + kOrderReferenceOffset); }
  // 'A' and 'P'.
  char side() const { return static_cast<char>(message()[kSideOffset]); }
  uint32_t shares() const { return LoadBig32(message() + kSharesOffset); }
  std::string_view stock() const {
    return {reinterpret_cast<const char*>(message() + kStockOffset), size_t(kStockLength)};
  }
  uint32_t price() const { return LoadBig32(message() + kPriceOffset); }
  // 'E' (Executed Shares), 'X' (Cancelled Shares): both at offset 19.
  uint32_t executed_shares() const { return LoadBig32(message() + kExecutedSharesOffset); }
  uint32_t cancelled_shares() const { return LoadBig32(message() + kCancelledSharesOffset); }
  // 'E' and 'P'.
  uint64_t match_number() const {
    return LoadBig64(message() + (type() == kTrade ? kTradeMatchOffset : kExecutedMatchOffset));
  }
};
static_assert(sizeof(TickMessage) == 48);
static_assert(sizeof(TickMessage) >= TickMessage::kFramingLength + kMaxMessageLength);

// What the encoders write: the header fields every message has.
struct Header {
  uint16_t stock_locate = 0;
  uint16_t tracking_number = 0;
  int64_t timestamp = 0;  // nanoseconds since midnight, 0 <= timestamp <= kMaxTimestamp
};
using Stock = std::array<char, kStockLength>;

// Each encoder overwrites `out` with one message (the rest of the block zeroed).
void EncodeAddOrder(TickMessage& out, const Header& header, uint64_t order_reference, char side,
                    uint32_t shares, const Stock& stock, uint32_t price);
void EncodeOrderExecuted(TickMessage& out, const Header& header, uint64_t order_reference,
                         uint32_t executed_shares, uint64_t match_number);
void EncodeOrderCancel(TickMessage& out, const Header& header, uint64_t order_reference,
                       uint32_t cancelled_shares);
void EncodeOrderDelete(TickMessage& out, const Header& header, uint64_t order_reference);
void EncodeTrade(TickMessage& out, const Header& header, uint64_t order_reference, char side,
                 uint32_t shares, const Stock& stock, uint32_t price, uint64_t match_number);

// Checks that `message` is one of the five messages with its specified length, a 48-bit
// timestamp below a day, and (for 'A' and 'P') a 'B'/'S' side; the error names the field.
Status Validate(const TickMessage& message);

// Price(4) as text with its four decimals ("123.4500").
void AppendPrice(std::string& out, int64_t price);

}  // namespace weir::harness::ticks::itch
