// q4, average closing price per category: an updating aggregation over a regular join.
//
//   SELECT Q.category, AVG(Q.final)
//   FROM (SELECT MAX(B.price) AS final, A.category
//         FROM auction A, bid B
//         WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//         GROUP BY A.id, A.category) Q
//   GROUP BY Q.category;
//
// Stage 1, keyed by auction id: the auction's [dateTime, expires] and category, and the max price
// of its valid bids; bids that come before their auction wait in a list. Every change of an
// auction's max goes downstream as (category, previous max if any, new max) -- Flink's -U/+U pair.
// Stage 2, keyed by category: the sum and count of the auctions' maxes; AVG of BIGINT is BIGINT
// (sum / count, truncated, as Flink's LongAvgAggFunction). The result is an upsert table by
// category.
#include <algorithm>

#include "harness/nexmark/queries.h"

namespace weir::harness::nexmark {
namespace {

struct Q4Input {
  int64_t is_auction;  // 1: an auction, 0: a bid
  int64_t auction;     // A.id or B.auction
  int64_t date_time;
  int64_t expires;   // auctions
  int64_t category;  // auctions
  int64_t price;     // bids
};

// One change of an auction's max price.
struct Q4Change {
  int64_t category;
  int64_t had_previous;
  int64_t previous;
  int64_t max;
  int64_t due;
};

struct Q4Row {
  int64_t category;
  int64_t average;
  int64_t due;
};

struct Q4Traits {
  static constexpr bool kUpdating = true;
  void Csv(std::string& out, const Q4Row& row) const {
    internal::AppendCsvInt(out, row.category);
    out.push_back(',');
    internal::AppendCsvInt(out, row.average);
  }
  int64_t DueEventTime(const Q4Row& row) const { return row.due; }
  void Key(std::string& out, const Q4Row& row) const { internal::AppendCsvInt(out, row.category); }
};

struct AuctionState {
  int64_t date_time;
  int64_t expires;
  int64_t category;
  int64_t has_max;
  int64_t max;
};

struct PendingBid {
  int64_t price;
  int64_t date_time;
};

class Q4MaxPerAuction final : public api::KeyedProcessFunction<int64_t, Q4Input, Q4Change> {
 public:
  Status Open(api::RuntimeContext& context) override {
    auction_ = context.GetState<AuctionState>("auction");
    pending_ = context.GetListState<PendingBid>("pending bids");
    return Status::Ok();
  }

  void ProcessElement(const Q4Input& input, Context&, api::Collector<Q4Change>& out) override {
    if (input.is_auction != 0) {
      // nexmark numbers its auctions: an id arrives once.
      AuctionState state{input.date_time, input.expires, input.category, 0, 0};
      int64_t due = input.date_time;
      pending_->ForEach([&](const PendingBid& bid) {
        if (!Valid(state, bid.date_time)) return;
        if (state.has_max == 0 || bid.price > state.max) {
          state.has_max = 1;
          state.max = bid.price;
        }
        due = std::max(due, bid.date_time);
      });
      pending_->Clear();
      auction_->Update(state);
      if (state.has_max != 0) out.Collect({state.category, 0, 0, state.max, due});
      return;
    }
    std::optional<AuctionState> state = auction_->Value();
    if (!state) {
      pending_->Add({input.price, input.date_time});
      return;
    }
    if (!Valid(*state, input.date_time) || (state->has_max != 0 && input.price <= state->max))
      return;
    out.Collect({state->category, state->has_max, state->max, input.price,
                 std::max(state->date_time, input.date_time)});
    state->has_max = 1;
    state->max = input.price;
    auction_->Update(*state);
  }

 private:
  // B.dateTime BETWEEN A.dateTime AND A.expires
  static bool Valid(const AuctionState& auction, int64_t bid_time) {
    return bid_time >= auction.date_time && bid_time <= auction.expires;
  }

  state::ValueState<AuctionState>* auction_ = nullptr;
  state::ListState<PendingBid>* pending_ = nullptr;
};

struct CategorySums {
  int64_t sum;
  int64_t count;
};

class Q4AveragePerCategory final : public api::KeyedProcessFunction<int64_t, Q4Change, Q4Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    sums_ = context.GetState<CategorySums>("sums");
    return Status::Ok();
  }

  void ProcessElement(const Q4Change& change, Context&, api::Collector<Q4Row>& out) override {
    CategorySums sums = sums_->Value().value_or(CategorySums{0, 0});
    if (change.had_previous != 0) {
      sums.sum += change.max - change.previous;
    } else {
      sums.sum += change.max;
      ++sums.count;
    }
    sums_->Update(sums);
    out.Collect({change.category, sums.sum / sums.count, change.due});
  }

 private:
  state::ValueState<CategorySums>* sums_ = nullptr;
};

}  // namespace

void BuildQ4(api::DataStream<Event> events, const RunContext& context) {
  auto inputs = events.FlatMap<Q4Input>(
      [](const Event& event, api::Collector<Q4Input>& out) {
        if (event.type == EventType::kAuction) {
          const Auction& a = event.auction;
          out.Collect({1, a.id, a.date_time, a.expires, a.category, 0});
        } else if (event.type == EventType::kBid) {
          const Bid& b = event.bid;
          out.Collect({0, b.auction, b.date_time, 0, 0, b.price});
        }
      },
      "q4: Auctions and bids");
  auto changes = inputs.KeyBy([](const Q4Input& input) { return input.auction; })
                     .Process(Q4MaxPerAuction(), "q4: Max valid bid per auction");
  auto rows = changes.KeyBy([](const Q4Change& change) { return change.category; })
                  .Process(Q4AveragePerCategory(), "q4: Average per category");
  EmitResults(rows, Q4Traits{}, context);
}

}  // namespace weir::harness::nexmark
