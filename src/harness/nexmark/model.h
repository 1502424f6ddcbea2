// Nexmark's events (nexmark/nexmark, nexmark-flink): people, auctions and bids of an online
// auction site, as the `datagen` table of its ddl_gen.sql carries them (one row per event, with
// `event_type` 0 = person, 1 = auction, 2 = bid, and the type's columns).
//
// Strings are views: an Event made by the generator or read from a record batch points into a
// buffer that stays valid while the record is being processed (Flink's object-reuse contract, see
// serde/codec.h). A query that keeps an event copies what it needs.
//
// Times are TIMESTAMP(3): milliseconds since the epoch, UTC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "serde/codec.h"

namespace weir::harness::nexmark {

enum class EventType : uint8_t { kPerson = 0, kAuction = 1, kBid = 2 };

struct Person {
  int64_t id = 0;
  std::string_view name;
  std::string_view email_address;
  std::string_view credit_card;
  std::string_view city;
  std::string_view state;
  int64_t date_time = 0;
  std::string_view extra;
};

struct Auction {
  int64_t id = 0;
  std::string_view item_name;
  std::string_view description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string_view extra;
};

struct Bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view url;
  int64_t date_time = 0;
  std::string_view extra;
};

// One row of the datagen table: `type` says which member is meaningful.
struct Event {
  EventType type = EventType::kBid;
  Person person;
  Auction auction;
  Bid bid;

  int64_t date_time() const {
    switch (type) {
      case EventType::kPerson: return person.date_time;
      case EventType::kAuction: return auction.date_time;
      case EventType::kBid: return bid.date_time;
    }
    return 0;
  }
};

namespace internal {
// Field-by-field encoding helpers: fixed-size fields as raw bytes, strings as u32 length + bytes.
inline size_t StringSize(std::string_view s) { return sizeof(uint32_t) + s.size(); }
inline std::byte* PutString(std::byte* out, std::string_view s) {
  serde::Codec<std::string_view>::Write(s, out);
  return out + StringSize(s);
}
inline std::byte* PutInt(std::byte* out, int64_t v) {
  std::memcpy(out, &v, sizeof(v));
  return out + sizeof(v);
}
inline const std::byte* GetString(const std::byte* in, std::string_view& s) {
  s = serde::Codec<std::string_view>::Read(in);
  return in + StringSize(s);
}
inline const std::byte* GetInt(const std::byte* in, int64_t& v) {
  std::memcpy(&v, in, sizeof(v));
  return in + sizeof(v);
}
}  // namespace internal

}  // namespace weir::harness::nexmark

namespace weir::serde {

// An event crosses exchanges as its type byte (padded to 8) and only the active member's fields;
// reading it back is zero-copy (the views point into the record batch).
template <>
struct Codec<harness::nexmark::Event> {
  using Event = harness::nexmark::Event;
  using EventType = harness::nexmark::EventType;
  static constexpr bool kFixedSize = false;

  static size_t Size(const Event& e) {
    using harness::nexmark::internal::StringSize;
    size_t size = 8;
    switch (e.type) {
      case EventType::kPerson: {
        const auto& p = e.person;
        size += 2 * 8 + StringSize(p.name) + StringSize(p.email_address) + StringSize(p.credit_card) +
                StringSize(p.city) + StringSize(p.state) + StringSize(p.extra);
        break;
      }
      case EventType::kAuction: {
        const auto& a = e.auction;
        size += 7 * 8 + StringSize(a.item_name) + StringSize(a.description) + StringSize(a.extra);
        break;
      }
      case EventType::kBid: {
        const auto& b = e.bid;
        size += 4 * 8 + StringSize(b.channel) + StringSize(b.url) + StringSize(b.extra);
        break;
      }
    }
    return size;
  }

  static void Write(const Event& e, std::byte* out) {
    using namespace harness::nexmark::internal;
    const uint64_t tag = static_cast<uint8_t>(e.type);
    std::memcpy(out, &tag, 8);
    out += 8;
    switch (e.type) {
      case EventType::kPerson: {
        const auto& p = e.person;
        out = PutInt(out, p.id);
        out = PutInt(out, p.date_time);
        out = PutString(out, p.name);
        out = PutString(out, p.email_address);
        out = PutString(out, p.credit_card);
        out = PutString(out, p.city);
        out = PutString(out, p.state);
        PutString(out, p.extra);
        break;
      }
      case EventType::kAuction: {
        const auto& a = e.auction;
        out = PutInt(out, a.id);
        out = PutInt(out, a.initial_bid);
        out = PutInt(out, a.reserve);
        out = PutInt(out, a.date_time);
        out = PutInt(out, a.expires);
        out = PutInt(out, a.seller);
        out = PutInt(out, a.category);
        out = PutString(out, a.item_name);
        out = PutString(out, a.description);
        PutString(out, a.extra);
        break;
      }
      case EventType::kBid: {
        const auto& b = e.bid;
        out = PutInt(out, b.auction);
        out = PutInt(out, b.bidder);
        out = PutInt(out, b.price);
        out = PutInt(out, b.date_time);
        out = PutString(out, b.channel);
        out = PutString(out, b.url);
        PutString(out, b.extra);
        break;
      }
    }
  }

  static Event Read(const std::byte* in) {
    using namespace harness::nexmark::internal;
    Event e;
    uint64_t tag;
    std::memcpy(&tag, in, 8);
    in += 8;
    e.type = static_cast<EventType>(tag);
    switch (e.type) {
      case EventType::kPerson: {
        auto& p = e.person;
        in = GetInt(in, p.id);
        in = GetInt(in, p.date_time);
        in = GetString(in, p.name);
        in = GetString(in, p.email_address);
        in = GetString(in, p.credit_card);
        in = GetString(in, p.city);
        in = GetString(in, p.state);
        GetString(in, p.extra);
        break;
      }
      case EventType::kAuction: {
        auto& a = e.auction;
        in = GetInt(in, a.id);
        in = GetInt(in, a.initial_bid);
        in = GetInt(in, a.reserve);
        in = GetInt(in, a.date_time);
        in = GetInt(in, a.expires);
        in = GetInt(in, a.seller);
        in = GetInt(in, a.category);
        in = GetString(in, a.item_name);
        in = GetString(in, a.description);
        GetString(in, a.extra);
        break;
      }
      case EventType::kBid: {
        auto& b = e.bid;
        in = GetInt(in, b.auction);
        in = GetInt(in, b.bidder);
        in = GetInt(in, b.price);
        in = GetInt(in, b.date_time);
        in = GetString(in, b.channel);
        in = GetString(in, b.url);
        GetString(in, b.extra);
        break;
      }
    }
    return e;
  }
};

}  // namespace weir::serde
