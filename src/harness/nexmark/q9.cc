// q9, winning bids: every auction with its best valid bid (a regular join and a Top-1 per auction).
//
//   SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
//          extra, auction, bidder, price, bid_dateTime, bid_extra
//   FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime,
//                B.extra AS bid_extra,
//                ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC)
//                  AS rownum
//         FROM auction A, bid B
//         WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
//   WHERE rownum <= 1;
//
// Keyed by auction id: the auction (its strings copied into state) and its best bid so far; bids
// that come before their auction wait in a list. A bid replaces the best when it sorts first
// (higher price, or the same price earlier); on a tie in both the earlier arrival stays first, as
// in Flink's rank operators. Each change is an upsert of the auction's row.
#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

struct Q9Row {
  int64_t id;
  std::string_view item_name;
  std::string_view description;
  int64_t initial_bid;
  int64_t reserve;
  int64_t date_time;
  int64_t expires;
  int64_t seller;
  int64_t category;
  std::string_view extra;
  int64_t auction;
  int64_t bidder;
  int64_t price;
  int64_t bid_date_time;
  std::string_view bid_extra;
};

struct Q9Traits {
  static constexpr bool kUpdating = true;
  void Csv(std::string& out, const Q9Row& row) const {
    internal::AppendCsvInt(out, row.id);
    out.push_back(',');
    internal::AppendCsvString(out, row.item_name);
    out.push_back(',');
    internal::AppendCsvString(out, row.description);
    out.push_back(',');
    internal::AppendCsvInt(out, row.initial_bid);
    out.push_back(',');
    internal::AppendCsvInt(out, row.reserve);
    out.push_back(',');
    serde::AppendTimestamp(out, row.date_time);
    out.push_back(',');
    serde::AppendTimestamp(out, row.expires);
    out.push_back(',');
    internal::AppendCsvInt(out, row.seller);
    out.push_back(',');
    internal::AppendCsvInt(out, row.category);
    out.push_back(',');
    internal::AppendCsvString(out, row.extra);
    out.push_back(',');
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    internal::AppendCsvInt(out, row.price);
    out.push_back(',');
    serde::AppendTimestamp(out, row.bid_date_time);
    out.push_back(',');
    internal::AppendCsvString(out, row.bid_extra);
  }
  int64_t DueEventTime(const Q9Row& row) const {
    return std::max(row.date_time, row.bid_date_time);
  }
  void Key(std::string& out, const Q9Row& row) const { internal::AppendCsvInt(out, row.id); }
};

// id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra
using StoredAuction = std::tuple<int64_t, std::string_view, std::string_view, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t, std::string_view>;
// bidder, price, dateTime, extra
using StoredBid = std::tuple<int64_t, int64_t, int64_t, std::string_view>;

// ORDER BY price DESC, dateTime ASC: true when `bid` sorts strictly before `best`.
bool SortsBefore(int64_t price, int64_t date_time, const StoredBid& best) {
  return price > std::get<1>(best) || (price == std::get<1>(best) && date_time < std::get<2>(best));
}

class Q9WinningBid final : public api::KeyedProcessFunction<int64_t, Event, Q9Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    auction_ = context.GetState<StoredAuction>("auction");
    best_ = context.GetState<StoredBid>("best bid");
    pending_ = context.GetListState<StoredBid>("pending bids");
    return Status::Ok();
  }

  void ProcessElement(const Event& event, Context&, api::Collector<Q9Row>& out) override {
    if (event.type == EventType::kAuction) {
      // nexmark numbers its auctions: an id arrives once.
      const Auction& a = event.auction;
      auction_->Update({a.id, a.item_name, a.description, a.initial_bid, a.reserve, a.date_time,
                        a.expires, a.seller, a.category, a.extra});
      // The first of the pending bids in the rank's order (the earliest arrival on a tie).
      int64_t best_index = -1, best_price = 0, best_time = 0, index = 0;
      pending_->ForEach([&](const StoredBid& bid) {
        const int64_t time = std::get<2>(bid);
        if (time >= a.date_time && time <= a.expires &&
            (best_index < 0 ||
             SortsBefore(std::get<1>(bid), time, {0, best_price, best_time, {}}))) {
          best_index = index;
          best_price = std::get<1>(bid);
          best_time = time;
        }
        ++index;
      });
      if (best_index >= 0) {
        index = 0;
        pending_->ForEach([&](const StoredBid& bid) {
          if (index++ == best_index) best_->Update(bid);
        });
      }
      pending_->Clear();
      if (best_index >= 0) Emit(*auction_->Value(), *best_->Value(), out);
      return;
    }
    const Bid& b = event.bid;
    std::optional<StoredAuction> auction = auction_->Value();
    if (!auction) {
      pending_->Add({b.bidder, b.price, b.date_time, b.extra});
      return;
    }
    if (b.date_time < std::get<5>(*auction) || b.date_time > std::get<6>(*auction)) return;
    std::optional<StoredBid> best = best_->Value();
    if (best && !SortsBefore(b.price, b.date_time, *best)) return;
    const StoredBid bid{b.bidder, b.price, b.date_time, b.extra};
    best_->Update(bid);
    Emit(*auction, bid, out);
  }

 private:
  static void Emit(const StoredAuction& a, const StoredBid& b, api::Collector<Q9Row>& out) {
    out.Collect({std::get<0>(a), std::get<1>(a), std::get<2>(a), std::get<3>(a), std::get<4>(a),
                 std::get<5>(a), std::get<6>(a), std::get<7>(a), std::get<8>(a), std::get<9>(a),
                 std::get<0>(a), std::get<0>(b), std::get<1>(b), std::get<2>(b), std::get<3>(b)});
  }

  state::ValueState<StoredAuction>* auction_ = nullptr;
  state::ValueState<StoredBid>* best_ = nullptr;
  state::ListState<StoredBid>* pending_ = nullptr;
};

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::Q9Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q9Row, &harness::nexmark::Q9Row::id,
          &harness::nexmark::Q9Row::item_name, &harness::nexmark::Q9Row::description,
          &harness::nexmark::Q9Row::initial_bid, &harness::nexmark::Q9Row::reserve,
          &harness::nexmark::Q9Row::date_time, &harness::nexmark::Q9Row::expires,
          &harness::nexmark::Q9Row::seller, &harness::nexmark::Q9Row::category,
          &harness::nexmark::Q9Row::extra, &harness::nexmark::Q9Row::auction,
          &harness::nexmark::Q9Row::bidder, &harness::nexmark::Q9Row::price,
          &harness::nexmark::Q9Row::bid_date_time, &harness::nexmark::Q9Row::bid_extra> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

void BuildQ9(api::DataStream<Event> events, const RunContext& context) {
  auto joined = events.Filter([](const Event& event) { return event.type != EventType::kPerson; },
                              "q9: Auctions and bids");
  auto rows = joined
                  .KeyBy([](const Event& event) {
                    return event.type == EventType::kAuction ? event.auction.id : event.bid.auction;
                  })
                  .Process(Q9WinningBid(), "q9: Winning bid per auction");
  EmitResults(rows, Q9Traits{}, context);
}

}  // namespace weir::harness::nexmark
