// q7, highest bid: the bids whose price is the max of a TUMBLE window of 10 s.
//
//   SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
//   FROM bid B
//   JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime
//         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY window_start, window_end) B1
//   ON B.price = B1.maxprice
//   WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
//
// The sink's columns are (auction, bidder, price, dateTime, extra) and Flink's INSERT is
// positional, so the price lands in `bidder` and the bidder in `price`; the rows keep that.
//
// What the SQL means: B1 is a window aggregate (late bids do not count in a window's max); its
// window_end is a plain TIMESTAMP, so the join is a regular join on price with a filter: every bid
// B -- late or not -- with a window's max price and window_end - 10 s <= B.dateTime <= window_end.
// A bid can match two windows: its own, and the one ending exactly at its dateTime (BETWEEN is
// inclusive at both ends).
//
// How: each bid goes to the window it belongs to (a member) and, when its dateTime is a multiple of
// 10 s, to the window ending then (a boundary bid); keyed by window end, one function computes the
// window's max over its on-time members (late = the watermark already reached end - 1), keeps the
// bids that can still equal it (members at the running max, boundary bids at or above it), and when
// the watermark reaches end - 1 emits those at the max. It then keeps the max, so bids arriving
// later (late ones) still join as Flink's join state would let them.
#include <algorithm>

#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

constexpr int64_t kWindowMillis = 10'000;

struct Q7Bid {
  int64_t window_end;
  int64_t auction;
  int64_t bidder;
  int64_t price;
  int64_t date_time;
  std::string_view extra;
};

struct Q7Row {
  int64_t auction;
  int64_t price;
  int64_t bidder;
  int64_t date_time;
  std::string_view extra;
  int64_t window_end;  // for the latency anchor
};

struct Q7Traits {
  static constexpr bool kUpdating = false;
  // SELECT's order: auction, price, bidder, dateTime, extra (into auction, bidder, price, ...).
  void Csv(std::string& out, const Q7Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.price);
    out.push_back(',');
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    serde::AppendTimestamp(out, row.date_time);
    out.push_back(',');
    internal::AppendCsvString(out, row.extra);
  }
  int64_t DueEventTime(const Q7Row& row) const {
    return std::max(row.date_time, row.window_end - 1 + 4'000);
  }
};

struct WindowState {
  int64_t has_max;
  int64_t max;  // of the on-time members so far; final once fired
  int64_t fired;
  int64_t boundary_candidates;  // boundary bids among the candidates
};

// auction, bidder, price, dateTime, extra
using Candidate = std::tuple<int64_t, int64_t, int64_t, int64_t, std::string_view>;

class Q7HighestBid final : public api::KeyedProcessFunction<int64_t, Q7Bid, Q7Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    window_ = context.GetState<WindowState>("window");
    candidates_ = context.GetListState<Candidate>("candidates");
    return Status::Ok();
  }

  void ProcessElement(const Q7Bid& bid, Context& context, api::Collector<Q7Row>& out) override {
    std::optional<WindowState> window = window_->Value();
    if (window && window->fired != 0) {
      if (window->has_max != 0 && bid.price == window->max) Emit(bid, out);
      return;
    }
    if (!window) {
      // Fired already without state: the window had no on-time bid, so no max to join.
      if (context.TimerService().CurrentWatermark() >= bid.window_end - 1) return;
      window = WindowState{0, 0, 0, 0};
      context.TimerService().RegisterEventTimeTimer(bid.window_end - 1);
    }
    const Candidate candidate{bid.auction, bid.bidder, bid.price, bid.date_time, bid.extra};
    if (bid.date_time < bid.window_end) {  // a member, on time (not fired yet)
      if (window->has_max == 0 || bid.price > window->max) {
        window->has_max = 1;
        window->max = bid.price;
        DropBelow(*window);
        candidates_->Add(candidate);
      } else if (bid.price == window->max) {
        candidates_->Add(candidate);
      }
    } else if (window->has_max == 0 || bid.price >= window->max) {  // a boundary bid
      ++window->boundary_candidates;
      candidates_->Add(candidate);
    }
    window_->Update(*window);
  }

  void OnTimer(Timestamp time, OnTimerContext&, api::Collector<Q7Row>& out) override {
    std::optional<WindowState> window = window_->Value();
    if (!window) return;
    if (window->has_max != 0) {
      candidates_->ForEach([&](const Candidate& c) {
        if (std::get<2>(c) == window->max) {
          out.Collect({std::get<0>(c), std::get<2>(c), std::get<1>(c), std::get<3>(c),
                       std::get<4>(c), time + 1});
        }
      });
    }
    candidates_->Clear();
    window->fired = 1;
    window->boundary_candidates = 0;
    window_->Update(*window);
  }

 private:
  static void Emit(const Q7Bid& bid, api::Collector<Q7Row>& out) {
    out.Collect({bid.auction, bid.price, bid.bidder, bid.date_time, bid.extra, bid.window_end});
  }

  // The max rose to window.max: candidates below it can no longer match. Without boundary bids
  // every candidate was at the previous max (the common case: no copy).
  void DropBelow(WindowState& window) {
    if (window.boundary_candidates == 0) {
      candidates_->Clear();
      return;
    }
    std::vector<Candidate> kept = candidates_->Get();
    std::erase_if(kept, [&](const Candidate& c) { return std::get<2>(c) < window.max; });
    window.boundary_candidates = static_cast<int64_t>(kept.size());  // members left are none
    candidates_->Update(kept);
  }

  state::ValueState<WindowState>* window_ = nullptr;
  state::ListState<Candidate>* candidates_ = nullptr;
};

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::Q7Bid>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q7Bid, &harness::nexmark::Q7Bid::window_end,
          &harness::nexmark::Q7Bid::auction, &harness::nexmark::Q7Bid::bidder,
          &harness::nexmark::Q7Bid::price, &harness::nexmark::Q7Bid::date_time,
          &harness::nexmark::Q7Bid::extra> {};
template <>
struct Codec<harness::nexmark::Q7Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q7Row, &harness::nexmark::Q7Row::auction,
          &harness::nexmark::Q7Row::price, &harness::nexmark::Q7Row::bidder,
          &harness::nexmark::Q7Row::date_time, &harness::nexmark::Q7Row::extra,
          &harness::nexmark::Q7Row::window_end> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

void BuildQ7(api::DataStream<Event> events, const RunContext& context) {
  auto bids = events.FlatMap<Q7Bid>(
      [](const Event& event, api::Collector<Q7Bid>& out) {
        if (event.type != EventType::kBid) return;
        const Bid& b = event.bid;
        // Flink's TimeWindow.getWindowStartWithOffset (floor, also for negative times).
        const int64_t start =
            b.date_time - ((b.date_time % kWindowMillis) + kWindowMillis) % kWindowMillis;
        out.Collect({start + kWindowMillis, b.auction, b.bidder, b.price, b.date_time, b.extra});
        if (start == b.date_time)
          out.Collect({start, b.auction, b.bidder, b.price, b.date_time, b.extra});
      },
      "q7: Bids per window");
  auto rows = bids.KeyBy([](const Q7Bid& bid) { return bid.window_end; })
                  .Process(Q7HighestBid(), "q7: Bids at the window's max price");
  EmitResults(rows, Q7Traits{}, context);
}

}  // namespace weir::harness::nexmark
