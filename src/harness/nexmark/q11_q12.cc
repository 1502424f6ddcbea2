// q11 (user sessions) and q12 (processing-time windows): bids per bidder per window.
//
//   q11: SELECT B.bidder, count(*) AS bid_count,
//               SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
//               SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
//        FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
//   q12: SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
//        FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
//        -- B is bid with p_time AS PROCTIME()
//        GROUP BY bidder, window_start, window_end;
//
// Both use the window fast paths (the session operator, the sliced tumbling operator) with a count
// whose accumulator also carries the bidder and what the row needs of the window's elements. A
// fast-path result carries its window's end - 1 as timestamp; a session starts at its earliest
// element (a session is the union of [t, t + gap) over its elements t).
//
// q12's windows are on the wall clock (UTC epoch milliseconds, Flink's PROCTIME() in a UTC
// session): results depend on timing, and windows still open at the end of input do not fire
// (Flink's end-of-input behaviour for processing-time timers).
#include <algorithm>
#include <limits>

#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

constexpr int64_t kGapMillis = 10'000;
constexpr int64_t kWindowMillis = 10'000;

struct BidderBid {
  int64_t bidder;
  int64_t date_time;
};

struct BidderCount {
  int64_t bidder;
  int64_t count;
  int64_t earliest;  // dateTime of the earliest bid
  int64_t latest;    // dateTime of the latest bid
};

struct CountPerBidder {
  static constexpr bool kOrderInsensitive = true;
  BidderCount CreateAccumulator() const {
    return {0, 0, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  }
  void Add(const BidderBid& bid, BidderCount& accumulator) const {
    accumulator.bidder = bid.bidder;
    ++accumulator.count;
    accumulator.earliest = std::min(accumulator.earliest, bid.date_time);
    accumulator.latest = std::max(accumulator.latest, bid.date_time);
  }
  BidderCount Merge(const BidderCount& a, const BidderCount& b) const {
    return {a.count != 0 ? a.bidder : b.bidder, a.count + b.count, std::min(a.earliest, b.earliest),
            std::max(a.latest, b.latest)};
  }
  BidderCount GetResult(const BidderCount& accumulator) const { return accumulator; }
};

struct WindowRow {
  int64_t bidder;
  int64_t count;
  int64_t start;
  int64_t end;
  int64_t latest;  // q12's latency anchor
};

struct Q11Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const WindowRow& row) const {
    internal::AppendCsvInt(out, row.bidder);
    out.push_back(',');
    internal::AppendCsvInt(out, row.count);
    out.push_back(',');
    serde::AppendTimestamp(out, row.start);
    out.push_back(',');
    serde::AppendTimestamp(out, row.end);
  }
  // The watermark (dateTime - 4 s) reaches the session's end - 1 with the event at end - 1 + 4000.
  int64_t DueEventTime(const WindowRow& row) const { return row.end - 1 + 4'000; }
};

struct Q12Traits : Q11Traits {
  int64_t DueEventTime(const WindowRow& row) const { return row.latest; }
};

api::DataStream<BidderBid> Bids(api::DataStream<Event>& events, std::string name) {
  return events.FlatMap<BidderBid>(
      [](const Event& event, api::Collector<BidderBid>& out) {
        if (event.type == EventType::kBid) out.Collect({event.bid.bidder, event.bid.date_time});
      },
      std::move(name));
}

}  // namespace

void BuildQ11(api::DataStream<Event> events, const RunContext& context) {
  auto counts =
      Bids(events, "q11: Bids")
          .KeyBy([](const BidderBid& bid) { return bid.bidder; })
          .Window(api::EventTimeSessionWindows::WithGap(std::chrono::milliseconds(kGapMillis)))
          .Aggregate(CountPerBidder(), "q11: Bids per bidder per session");
  auto rows = counts.Process<WindowRow>(
      [](const BidderCount& count, api::ProcessFunction<BidderCount, WindowRow>::Context& context,
         api::Collector<WindowRow>& out) {
        out.Collect(
            {count.bidder, count.count, count.earliest, context.timestamp() + 1, count.latest});
      },
      "q11: Session bounds");
  EmitResults(rows, Q11Traits{}, context);
}

void BuildQ12(api::DataStream<Event> events, const RunContext& context) {
  auto counts =
      Bids(events, "q12: Bids")
          .KeyBy([](const BidderBid& bid) { return bid.bidder; })
          .Window(api::TumblingProcessingTimeWindows::Of(std::chrono::milliseconds(kWindowMillis)))
          .Aggregate(CountPerBidder(), "q12: Bids per bidder per processing-time window");
  auto rows = counts.Process<WindowRow>(
      [](const BidderCount& count, api::ProcessFunction<BidderCount, WindowRow>::Context& context,
         api::Collector<WindowRow>& out) {
        const int64_t end = context.timestamp() + 1;
        out.Collect({count.bidder, count.count, end - kWindowMillis, end, count.latest});
      },
      "q12: Window bounds");
  EmitResults(rows, Q12Traits{}, context);
}

}  // namespace weir::harness::nexmark
