// The market-ticks workload of `weir bench` (`weir bench ticks --query T1|T2|T3`): queries over a
// generated Nasdaq TotalView-ITCH 5.0 feed (see generator.h for the feed, itch.h for the bytes),
// written with weir's public API.
//
// The job: Source: ITCH Feed -> the query -> harness::EmitResults.
// * The source is one subtask, as a real feed is one sequenced stream (MoldUDP64): every
//   message is emitted in sequence order, so a symbol's messages reach its keyed subtask in order
//   at any parallelism. It assigns each message its event time and watermarks for monotonous
//   timestamps (ITCH timestamps never go back), emitted at the end of every poll batch.
// * The feed is generated before the job starts and replayed from memory, as a feed handler
//   reads messages a NIC has already written (and as YSB replays its events), unless the run is
//   longer than TickConfig::max_pregenerated messages; then the source generates each one.
// * Event time is in NANOSECONDS: TickConfig::trading_day_nanos (epoch nanoseconds of the trading
//   day's midnight) + the message's ITCH timestamp (nanoseconds since midnight). weir's Timestamp
//   is a unitless int64, so the 1 s and 5 min of the queries are 1e9 and 3e11 units.
// * With RunContext::rate > 0 the feed's mean rate is that rate and the source paces itself by
//   every message's own timestamp: the run calls context.pacer->Pace(first event time, 1) and a
//   message is emitted once pacer->DueNanos(its event time) has passed. Latency is measured from a
//   result's DueEventTime (below) to the moment it leaves the sink.
//
// Trades. 'P' Trade messages carry a price and shares. 'E' Order Executed messages carry executed
// shares but no price: the execution is at the resting order's price, which T1 and T2 take from
// keyed state (a per-symbol map order reference -> price and remaining shares, maintained from
// the 'A', 'E', 'X', 'D' messages). So a trade is every 'E' (at its order's price) and every 'P'.
//
// Queries (all keyed by stock locate):
// * T1: OHLCV bars per symbol over event-time tumbling 1 s windows of the trades: open and close
//   (the first and last trade of the window in feed order), high, low, volume (shares), trades.
//   A bar is emitted when the watermark passes the window's end; its DueEventTime is the window
//   end (the first message at or after it is what closes the window).
// * T2: rolling VWAP per symbol: on every trade, sum(price * shares) / sum(shares) over the
//   symbol's trades with event time in (t - 5 min, t], t the trade's time. DueEventTime: t.
// * T3: top of book per symbol (best bid price and size, best ask price and size; size = shares
//   resting at that price) rebuilt from 'A', 'E', 'X', 'D' (a 'P' rests nowhere), emitted after a
//   message changes it. An empty side is price 0, size 0. DueEventTime: the message's event time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/stream_execution_environment.h"
#include "base/status.h"
#include "harness/run_context.h"
#include "harness/ticks/generator.h"
#include "harness/ticks/itch.h"

namespace weir::harness::ticks {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kBarNanos = kNanosPerSecond;          // T1
inline constexpr int64_t kVwapNanos = 300 * kNanosPerSecond;   // T2

enum class TickQuery { kT1, kT2, kT3 };

// "T1"/"t1", "T2"/"t2", "T3"/"t3"; an error names the bad value and the valid ones.
Result<TickQuery> ParseTickQuery(std::string_view name);
std::string_view TickQueryName(TickQuery query);

// A trade as T1 and T2 see it: an 'E' at its resting order's price, or a 'P'.
struct TradeEvent {
  int64_t time = 0;    // event time, ns
  int64_t price = 0;   // Price(4)
  int64_t shares = 0;
  int64_t stock_locate = 0;
};

// T1's row.
struct OhlcvBar {
  int64_t stock_locate = 0;
  int64_t window_start = 0;  // event time, ns; the bar covers [window_start, window_start + 1 s)
  int64_t open = 0;          // Price(4)
  int64_t high = 0;
  int64_t low = 0;
  int64_t close = 0;
  int64_t volume = 0;        // shares
  int64_t trades = 0;
};
struct OhlcvBarTraits {
  static constexpr bool kUpdating = false;
  // symbol,window_start_ns,open,high,low,close,volume,trades
  void Csv(std::string& out, const OhlcvBar& row) const;
  int64_t DueEventTime(const OhlcvBar& row) const { return row.window_start + kBarNanos; }
};

// T2's row.
struct VwapUpdate {
  int64_t stock_locate = 0;
  int64_t time = 0;          // the trade's event time, ns
  int64_t price = 0;         // the trade's Price(4)
  int64_t shares = 0;        // the trade's shares
  int64_t window_shares = 0; // sum(shares) over the 5 minutes
  int64_t window_trades = 0;
  double vwap = 0;           // dollars: sum(price * shares) / sum(shares) / 10^4
};
struct VwapUpdateTraits {
  static constexpr bool kUpdating = false;
  // symbol,time_ns,price,shares,vwap,window_shares,window_trades
  void Csv(std::string& out, const VwapUpdate& row) const;
  int64_t DueEventTime(const VwapUpdate& row) const { return row.time; }
};

// T3's row.
struct TopOfBook {
  int64_t stock_locate = 0;
  int64_t time = 0;       // event time of the message that changed the top, ns
  int64_t bid_price = 0;  // Price(4); 0 with bid_size 0 when there is no bid
  int64_t bid_size = 0;
  int64_t ask_price = 0;
  int64_t ask_size = 0;
  bool operator==(const TopOfBook&) const = default;
};
struct TopOfBookTraits {
  static constexpr bool kUpdating = false;
  // symbol,time_ns,bid_price,bid_size,ask_price,ask_size
  void Csv(std::string& out, const TopOfBook& row) const;
  int64_t DueEventTime(const TopOfBook& row) const { return row.time; }
};

// Adds the query's job to `env`: the tick source -> the query -> harness::EmitResults. With
// context.rate > 0 it calls context.pacer->Pace(first event time, 1) and paces the source by each
// message's own nanosecond timestamp; adds emitted counts to *context.events_emitted. The feed is
// seeded with context.seed. REQUIRES: config.Validate(context.rate).ok() (checked: a CHECK failure
// names the field, so callers validate flags first).
void BuildTickQuery(api::StreamExecutionEnvironment& env, TickQuery query, const TickConfig& config,
                    const RunContext& context);

// The pieces of the queries, for tests and benchmarks that assemble their own jobs.
// The feed: `config.messages` messages from TickGenerator(config, context.seed, context.rate)
// (generated here, before the job runs, when there are at most config.max_pregenerated), with
// event times and watermarks, paced when context.rate > 0 (after Pace was called).
api::DataStream<itch::TickMessage> AddTickSource(api::StreamExecutionEnvironment& env, const TickConfig& config,
                                                 const RunContext& context);
api::DataStream<TradeEvent> Trades(api::DataStream<itch::TickMessage> feed);
api::DataStream<OhlcvBar> OhlcvBars(api::DataStream<TradeEvent> trades);
api::DataStream<VwapUpdate> RollingVwap(api::DataStream<TradeEvent> trades);
api::DataStream<TopOfBook> TopOfBooks(api::DataStream<itch::TickMessage> feed);

}  // namespace weir::harness::ticks
