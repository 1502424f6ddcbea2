#include "harness/ticks/itch.h"

#include <string>

namespace weir::harness::ticks::itch {
namespace {

// Zeroes the block, writes the framing and the header fields; returns the message bytes.
uint8_t* Begin(TickMessage& out, char type, const Header& header, uint64_t order_reference) {
  out.block.fill(0);
  StoreBig16(out.block.data(), static_cast<uint16_t>(MessageLength(type)));
  uint8_t* message = out.message();
  message[kTypeOffset] = static_cast<uint8_t>(type);
  StoreBig16(message + kStockLocateOffset, header.stock_locate);
  StoreBig16(message + kTrackingNumberOffset, header.tracking_number);
  StoreBig48(message + kTimestampOffset, header.timestamp);
  StoreBig64(message + kOrderReferenceOffset, order_reference);
  return message;
}

}  // namespace

void EncodeAddOrder(TickMessage& out, const Header& header, uint64_t order_reference, char side,
                    uint32_t shares, const Stock& stock, uint32_t price) {
  uint8_t* message = Begin(out, kAddOrder, header, order_reference);
  message[kSideOffset] = static_cast<uint8_t>(side);
  StoreBig32(message + kSharesOffset, shares);
  std::memcpy(message + kStockOffset, stock.data(), kStockLength);
  StoreBig32(message + kPriceOffset, price);
}

void EncodeOrderExecuted(TickMessage& out, const Header& header, uint64_t order_reference,
                         uint32_t executed_shares, uint64_t match_number) {
  uint8_t* message = Begin(out, kOrderExecuted, header, order_reference);
  StoreBig32(message + kExecutedSharesOffset, executed_shares);
  StoreBig64(message + kExecutedMatchOffset, match_number);
}

void EncodeOrderCancel(TickMessage& out, const Header& header, uint64_t order_reference,
                       uint32_t cancelled_shares) {
  uint8_t* message = Begin(out, kOrderCancel, header, order_reference);
  StoreBig32(message + kCancelledSharesOffset, cancelled_shares);
}

void EncodeOrderDelete(TickMessage& out, const Header& header, uint64_t order_reference) {
  Begin(out, kOrderDelete, header, order_reference);
}

void EncodeTrade(TickMessage& out, const Header& header, uint64_t order_reference, char side,
                 uint32_t shares, const Stock& stock, uint32_t price, uint64_t match_number) {
  uint8_t* message = Begin(out, kTrade, header, order_reference);
  message[kSideOffset] = static_cast<uint8_t>(side);
  StoreBig32(message + kSharesOffset, shares);
  std::memcpy(message + kStockOffset, stock.data(), kStockLength);
  StoreBig32(message + kPriceOffset, price);
  StoreBig64(message + kTradeMatchOffset, match_number);
}

Status Validate(const TickMessage& message) {
  const char type = message.type();
  const int expected = MessageLength(type);
  if (expected == 0) {
    return InvalidArgument("ITCH message type 0x{:02x} is not one of A, E, X, D, P",
                           static_cast<unsigned>(static_cast<uint8_t>(type)));
  }
  if (message.length() != expected) {
    return InvalidArgument("ITCH '{}' message has length {}, the specification says {}", type,
                           message.length(), expected);
  }
  if (message.timestamp() >= kNanosPerDay) {
    return InvalidArgument("ITCH '{}' message timestamp {} ns is not within a day", type,
                           message.timestamp());
  }
  if ((type == kAddOrder || type == kTrade) && message.side() != 'B' && message.side() != 'S') {
    return InvalidArgument("ITCH '{}' message Buy/Sell Indicator 0x{:02x} is neither 'B' nor 'S'", type,
                           static_cast<unsigned>(static_cast<uint8_t>(message.side())));
  }
  return Status::Ok();
}

void AppendPrice(std::string& out, int64_t price) {
  if (price < 0) {
    out += '-';
    price = -price;
  }
  out += std::to_string(price / kPriceScale);
  out += '.';
  const std::string fraction = std::to_string(price % kPriceScale);
  out.append(4 - fraction.size(), '0');
  out += fraction;
}

}  // namespace weir::harness::ticks::itch
