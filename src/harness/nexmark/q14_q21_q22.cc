// q14 (calculation), q21 (channel id extraction) and q22 (URL directories): one row per bid that
// passes, no state -- nexmark's newer string and expression queries.
//
//   q14: SELECT auction, bidder, 0.908 * price AS price,
//               CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
//                    WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
//                    ELSE 'otherTime' END AS bidTimeType,
//               dateTime, extra, count_char(extra, 'c') AS c_counts
//        FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
//   q21: SELECT auction, bidder, price, channel,
//               CASE WHEN lower(channel) = 'apple' THEN '0' ... 'google' '1', 'facebook' '2',
//                    'baidu' '3'
//                    ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
//        FROM bid WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL OR
//                       lower(channel) IN ('apple', 'google', 'facebook', 'baidu');
//   q22: SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) AS dir1,
//               SPLIT_INDEX(url, '/', 4) AS dir2, SPLIT_INDEX(url, '/', 5) AS dir3 FROM bid;
//
// count_char is nexmark's UDF (CountChar: the bytes equal to the character's first byte).
// HOUR is the hour of the UTC timestamp. REGEXP_EXTRACT finds the leftmost match (Java's
// Matcher.find): "channel_id=" at the start of the URL or after a '&', the value running to the
// next '&'; no match is NULL. SPLIT_INDEX splits on every separator keeping empty tokens (Flink's
// splitByWholeSeparatorPreserveAllTokens); an index past the last token is NULL, written as an
// empty CSV field (an empty string is "").
#include <array>

#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

struct Q14Row {
  int64_t auction;
  int64_t bidder;
  int64_t price;  // BIGINT; written as 0.908 * price
  std::string_view bid_time_type;
  int64_t date_time;
  std::string_view extra;
  int64_t c_counts;
};

struct Q21Row {
  int64_t auction;
  int64_t bidder;
  int64_t price;
  std::string_view channel;
  std::string_view channel_id;
  int64_t date_time;  // the latency anchor; not a column
};

struct Q22Row {
  int64_t auction;
  int64_t bidder;
  int64_t price;
  std::string_view channel;
  std::string_view dir1;
  std::string_view dir2;
  std::string_view dir3;
  int64_t present;    // bit i: dir(i + 1) is not NULL
  int64_t date_time;  // the latency anchor; not a column
};

struct Q14Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q14Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    internal::AppendEuroPrice(out, row.price);
    out.push_back(',');
    internal::AppendCsvString(out, row.bid_time_type);
    out.push_back(',');
    serde::AppendTimestamp(out, row.date_time);
    out.push_back(',');
    internal::AppendCsvString(out, row.extra);
    out.push_back(',');
    internal::AppendCsvInt(out, row.c_counts);
  }
  int64_t DueEventTime(const Q14Row& row) const { return row.date_time; }
};

struct Q21Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q21Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    internal::AppendCsvInt(out, row.price);
    out.push_back(',');
    internal::AppendCsvString(out, row.channel);
    out.push_back(',');
    internal::AppendCsvString(out, row.channel_id);
  }
  int64_t DueEventTime(const Q21Row& row) const { return row.date_time; }
};

struct Q22Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q22Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    internal::AppendCsvInt(out, row.price);
    out.push_back(',');
    internal::AppendCsvString(out, row.channel);
    const std::array<std::string_view, 3> dirs = {row.dir1, row.dir2, row.dir3};
    for (size_t i = 0; i < dirs.size(); ++i) {
      out.push_back(',');
      if ((row.present >> i) & 1) internal::AppendCsvString(out, dirs[i]);
    }
  }
  int64_t DueEventTime(const Q22Row& row) const { return row.date_time; }
};

int64_t HourOfDay(int64_t millis) {
  constexpr int64_t kDay = 86'400'000;
  return (((millis % kDay) + kDay) % kDay) / 3'600'000;
}

std::string_view BidTimeType(int64_t millis) {
  const int64_t hour = HourOfDay(millis);
  if (hour >= 8 && hour <= 18) return "dayTime";
  if (hour <= 6 || hour >= 20) return "nightTime";
  return "otherTime";
}

int64_t CountChar(std::string_view s, char c) {
  int64_t count = 0;
  for (const char byte : s) count += byte == c;
  return count;
}

bool EqualsLowerCase(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
    if (c != lower[i]) return false;
  }
  return true;
}

// REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2); false when there is no match (NULL).
bool ExtractChannelId(std::string_view url, std::string_view& id) {
  constexpr std::string_view kKey = "channel_id=";
  size_t value;
  if (url.starts_with(kKey)) {
    value = kKey.size();
  } else {
    const size_t at = url.find("&channel_id=");
    if (at == std::string_view::npos) return false;
    value = at + 1 + kKey.size();
  }
  const size_t end = url.find('&', value);
  id = url.substr(value, end == std::string_view::npos ? std::string_view::npos : end - value);
  return true;
}

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::Q14Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q14Row, &harness::nexmark::Q14Row::auction,
          &harness::nexmark::Q14Row::bidder, &harness::nexmark::Q14Row::price,
          &harness::nexmark::Q14Row::bid_time_type, &harness::nexmark::Q14Row::date_time,
          &harness::nexmark::Q14Row::extra, &harness::nexmark::Q14Row::c_counts> {};
template <>
struct Codec<harness::nexmark::Q21Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q21Row, &harness::nexmark::Q21Row::auction,
          &harness::nexmark::Q21Row::bidder, &harness::nexmark::Q21Row::price,
          &harness::nexmark::Q21Row::channel, &harness::nexmark::Q21Row::channel_id,
          &harness::nexmark::Q21Row::date_time> {};
template <>
struct Codec<harness::nexmark::Q22Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q22Row, &harness::nexmark::Q22Row::auction,
          &harness::nexmark::Q22Row::bidder, &harness::nexmark::Q22Row::price,
          &harness::nexmark::Q22Row::channel, &harness::nexmark::Q22Row::dir1,
          &harness::nexmark::Q22Row::dir2, &harness::nexmark::Q22Row::dir3,
          &harness::nexmark::Q22Row::present, &harness::nexmark::Q22Row::date_time> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

void BuildQ14(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<Q14Row>(
      [](const Event& event, api::Collector<Q14Row>& out) {
        if (event.type != EventType::kBid) return;
        const Bid& b = event.bid;
        // 1000000 < 0.908 * price < 50000000, in thousandths.
        const __int128 thousandths = static_cast<__int128>(b.price) * 908;
        if (thousandths <= 1'000'000'000 || thousandths >= 50'000'000'000) return;
        out.Collect({b.auction, b.bidder, b.price, BidTimeType(b.date_time), b.date_time, b.extra,
                     CountChar(b.extra, 'c')});
      },
      "q14: Bids with their time of day");
  EmitResults(rows, Q14Traits{}, context);
}

void BuildQ21(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<Q21Row>(
      [](const Event& event, api::Collector<Q21Row>& out) {
        if (event.type != EventType::kBid) return;
        const Bid& b = event.bid;
        std::string_view id;
        if (EqualsLowerCase(b.channel, "apple")) {
          id = "0";
        } else if (EqualsLowerCase(b.channel, "google")) {
          id = "1";
        } else if (EqualsLowerCase(b.channel, "facebook")) {
          id = "2";
        } else if (EqualsLowerCase(b.channel, "baidu")) {
          id = "3";
        } else if (!ExtractChannelId(b.url, id)) {
          return;  // neither a known channel nor a channel_id
        }
        out.Collect({b.auction, b.bidder, b.price, b.channel, id, b.date_time});
      },
      "q21: Bids with their channel id");
  EmitResults(rows, Q21Traits{}, context);
}

void BuildQ22(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<Q22Row>(
      [](const Event& event, api::Collector<Q22Row>& out) {
        if (event.type != EventType::kBid) return;
        const Bid& b = event.bid;
        // Tokens 3, 4 and 5 of the URL split on '/'.
        std::array<std::string_view, 3> dirs;
        int64_t present = 0;
        size_t start = 0;
        for (int token = 0; token <= 5; ++token) {
          const size_t slash = b.url.find('/', start);
          if (token >= 3) {
            dirs[token - 3] = b.url.substr(
                start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
            present |= int64_t{1} << (token - 3);
          }
          if (slash == std::string_view::npos) break;
          start = slash + 1;
        }
        out.Collect({b.auction, b.bidder, b.price, b.channel, dirs[0], dirs[1], dirs[2], present,
                     b.date_time});
      },
      "q22: Bids with their URL's directories");
  EmitResults(rows, Q22Traits{}, context);
}

}  // namespace weir::harness::nexmark
