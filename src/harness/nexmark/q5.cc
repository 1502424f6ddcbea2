// q5, hot items: the auctions with the most bids in each HOP window of 10 s sliding by 2 s.
//
//   SELECT AuctionBids.auction, AuctionBids.num
//   FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime),
//                        INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//         GROUP BY auction, window_start, window_end) AS AuctionBids
//   JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//         FROM (<the same count per auction and window>) AS CountBids
//         GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
//   ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime AND
//      AuctionBids.num >= MaxBids.maxn;
//
// Stage 1: bids per auction per sliding window (the sliced fast path: a count is
// order-insensitive), each result stamped with its window's end - 1. Stage 2, keyed by window end:
// the max count and the auctions holding it, emitted when the watermark reaches the window's
// end - 1 -- all of the window's counts have arrived by then, since stage 1 emits them before
// passing that watermark on. `num >= maxn` holds exactly for the auctions at the max.
#include "harness/nexmark/queries.h"

namespace weir::harness::nexmark {
namespace {

constexpr int64_t kSizeMillis = 10'000;
constexpr int64_t kSlideMillis = 2'000;

struct Q5Bid {
  int64_t auction;
};

struct AuctionCount {
  int64_t auction;
  int64_t count;
};

// count(*) per auction. The auction rides in the accumulator: the fast path's result has no key.
struct CountBids {
  static constexpr bool kOrderInsensitive = true;
  AuctionCount CreateAccumulator() const { return {0, 0}; }
  void Add(const Q5Bid& bid, AuctionCount& accumulator) const {
    accumulator.auction = bid.auction;
    ++accumulator.count;
  }
  AuctionCount Merge(const AuctionCount& a, const AuctionCount& b) const {
    return {a.count != 0 ? a.auction : b.auction, a.count + b.count};
  }
  AuctionCount GetResult(const AuctionCount& accumulator) const { return accumulator; }
};

struct WindowCount {
  int64_t window_end;
  int64_t auction;
  int64_t count;
};

struct Q5Row {
  int64_t auction;
  int64_t num;
  int64_t window_end;  // for the latency anchor
};

struct Q5Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q5Row& row) const {
    internal::AppendCsvInt(out, row.auction);
    out.push_back(',');
    internal::AppendCsvInt(out, row.num);
  }
  // The watermark (dateTime - 4 s) reaches end - 1 with the event at end - 1 + 4000.
  int64_t DueEventTime(const Q5Row& row) const { return row.window_end - 1 + 4'000; }
};

class Q5HotItems final : public api::KeyedProcessFunction<int64_t, WindowCount, Q5Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    max_ = context.GetState<int64_t>("max count");
    auctions_ = context.GetListState<int64_t>("auctions at max");
    return Status::Ok();
  }

  void ProcessElement(const WindowCount& count, Context& context,
                      api::Collector<Q5Row>& out) override {
    const std::optional<int64_t> max = max_->Value();
    if (!max) context.TimerService().RegisterEventTimeTimer(count.window_end - 1);
    if (!max || count.count > *max) {
      max_->Update(count.count);
      auctions_->Clear();
      auctions_->Add(count.auction);
    } else if (count.count == *max) {
      auctions_->Add(count.auction);
    }
  }

  void OnTimer(Timestamp time, OnTimerContext&, api::Collector<Q5Row>& out) override {
    const int64_t max = max_->Value().value_or(0);
    auctions_->ForEach([&](int64_t auction) { out.Collect({auction, max, time + 1}); });
    auctions_->Clear();
    max_->Clear();
  }

 private:
  state::ValueState<int64_t>* max_ = nullptr;
  state::ListState<int64_t>* auctions_ = nullptr;
};

}  // namespace

void BuildQ5(api::DataStream<Event> events, const RunContext& context) {
  auto bids = events.FlatMap<Q5Bid>(
      [](const Event& event, api::Collector<Q5Bid>& out) {
        if (event.type == EventType::kBid) out.Collect({event.bid.auction});
      },
      "q5: Bids");
  auto counts =
      bids.KeyBy([](const Q5Bid& bid) { return bid.auction; })
          .Window(api::SlidingEventTimeWindows::Of(std::chrono::milliseconds(kSizeMillis),
                                                   std::chrono::milliseconds(kSlideMillis)))
          .Aggregate(CountBids(), "q5: Bids per auction per window");
  // A fast-path result carries its window's end - 1 as timestamp.
  auto windowed = counts.Process<WindowCount>(
      [](const AuctionCount& count,
         api::ProcessFunction<AuctionCount, WindowCount>::Context& context,
         api::Collector<WindowCount>& out) {
        out.Collect({context.timestamp() + 1, count.auction, count.count});
      },
      "q5: Window end");
  auto rows = windowed.KeyBy([](const WindowCount& count) { return count.window_end; })
                  .Process(Q5HotItems(), "q5: Auctions at the max per window");
  EmitResults(rows, Q5Traits{}, context);
}

}  // namespace weir::harness::nexmark
