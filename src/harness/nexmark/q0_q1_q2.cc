// q0 (pass-through), q1 (currency conversion) and q2 (selection): one row per bid, no state.
#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

// A bid's columns as q0 and q1 select them.
struct BidRow {
  int64_t auction;
  int64_t bidder;
  int64_t price;
  int64_t date_time;
  std::string_view extra;
};

struct Q2Row {
  int64_t auction;
  int64_t price;
  int64_t date_time;  // the latency anchor; not a column
};

bool IsBid(const Event& event) { return event.type == EventType::kBid; }

template <bool kEuro>
struct BidRowTraits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const BidRow& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    if constexpr (kEuro) {
      internal::AppendEuroPrice(out, row.price);
    } else {
      internal::AppendCsvInt(out, row.price);
    }
    out.push_back(',');
    serde::AppendTimestamp(out, row.date_time);
    out.push_back(',');
    internal::AppendCsvString(out, row.extra);
  }
  int64_t DueEventTime(const BidRow& row) const { return row.date_time; }
};

struct Q2Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q2Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.price);
  }
  int64_t DueEventTime(const Q2Row& row) const { return row.date_time; }
};

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::BidRow>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::BidRow, &harness::nexmark::BidRow::auction,
          &harness::nexmark::BidRow::bidder, &harness::nexmark::BidRow::price,
          &harness::nexmark::BidRow::date_time, &harness::nexmark::BidRow::extra> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

// SELECT auction, bidder, price, dateTime, extra FROM bid
void BuildQ0(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<BidRow>(
      [](const Event& event, api::Collector<BidRow>& out) {
        if (!IsBid(event)) return;
        const Bid& bid = event.bid;
        out.Collect({bid.auction, bid.bidder, bid.price, bid.date_time, bid.extra});
      },
      "q0: Bids");
  EmitResults(rows, BidRowTraits<false>{}, context);
}

// SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid
void BuildQ1(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<BidRow>(
      [](const Event& event, api::Collector<BidRow>& out) {
        if (!IsBid(event)) return;
        const Bid& bid = event.bid;
        out.Collect({bid.auction, bid.bidder, bid.price, bid.date_time, bid.extra});
      },
      "q1: Bids in euro");
  EmitResults(rows, BidRowTraits<true>{}, context);
}

// SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
void BuildQ2(api::DataStream<Event> events, const RunContext& context) {
  auto rows = events.FlatMap<Q2Row>(
      [](const Event& event, api::Collector<Q2Row>& out) {
        if (!IsBid(event) || event.bid.auction % 123 != 0) return;
        out.Collect({event.bid.auction, event.bid.price, event.bid.date_time});
      },
      "q2: Selection");
  EmitResults(rows, Q2Traits{}, context);
}

}  // namespace weir::harness::nexmark
