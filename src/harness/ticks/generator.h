// TickGenerator: a seeded stream of ITCH 5.0 order-book messages (Add Order, Order Executed,
// Order Cancel, Order Delete, Trade) for the market-ticks workload of `weir bench`.
//
// What the stream looks like (all of it a function of the TickConfig and the seed):
// * Symbols. `symbols` stocks with locates 1..symbols; the stock of locate L is a 4-letter name
//   (SymbolName). Activity is Zipf-skewed: a message is about locate L with probability
//   proportional to 1 / L^zipf_exponent (drawn from an alias table: O(1) per message).
// * Time. Timestamps are nanoseconds since midnight, starting at `start_nanos` (09:30 by default)
//   and never decreasing (ITCH timestamps of one feed are monotonic). Gaps are exponential with a
//   mean that gives `event_rate` messages per second of event time on average, and the stream
//   alternates between calm stretches and bursts: a burst (mean `burst_length` messages, a
//   fraction `burst_fraction` of all messages) runs `burst_speedup` times faster than the calm
//   rate and sends half of its messages to one symbol (news on a stock).
// * Prices. Each symbol has a reference price (log-uniform in [$5, $500] at the start, a tick of
//   $0.01) that random-walks by one tick. Bids rest 1 + k ticks below it and asks 1 + k above it,
//   k geometric (mostly at the touch, at most kMaxLevelsAway).
// * Order lifecycles are consistent: an order is added ('A', a fresh reference number, unique
//   over the day as in ITCH) and is then executed ('E', a tournament of three resting orders of
//   one side picks the best-priced, so executions happen near the touch), partially cancelled
//   ('X', always fewer shares than remain) or deleted ('D'); an execution of all remaining shares
//   or a delete ends it. No message names an unknown or ended order, and executed/cancelled shares
//   never exceed what remains. A symbol holds at most `max_orders_per_symbol` resting orders.
// * 'P' Trade messages are executions of non-displayed orders: a price within a tick of the
//   reference, and order reference number 0 (as Nasdaq fills it since 2010); they touch no order.
// * Match numbers count executions and trades from 1; the tracking number is the message's
//   sequence number modulo 2^16.
//
// Threads: one generator belongs to one thread. Next() allocates nothing once every symbol's order
// vector has grown to its steady size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "harness/ticks/itch.h"

namespace weir::harness::ticks {

struct TickConfig {
  int64_t messages = 10'000'000;  // --events: messages in the whole run
  // A run of at most this many messages is generated before the job starts and replayed from
  // memory (48 bytes a message: 1.5 GiB at the limit), so its figures measure the engine and not
  // the generator, whose random draws and per-symbol order lists cost about as much as T3 itself
  // and evict its state from the caches. A longer run generates each message in the source.
  int64_t max_pregenerated = int64_t{1} << 25;
  int symbols = 8000;             // stock locates 1..symbols (at most 65535)
  double zipf_exponent = 1.0;     // activity of locate L ~ 1 / L^zipf_exponent
  // Messages per second of event time. A paced run (--rate) replaces it with its rate, so the
  // feed's own timestamps are its schedule.
  double event_rate = 1'000'000;
  // Epoch nanoseconds of the trading day's midnight (2026-01-05 00:00 UTC by default): the event
  // time of a message is trading_day_nanos + its ITCH timestamp (nanoseconds since midnight).
  int64_t trading_day_nanos = 1'767'571'200'000'000'000;
  int64_t start_nanos = 34'200'000'000'000;  // the first message's timestamp: 09:30:00
  double burst_fraction = 0.1;               // of all messages, sent in bursts
  double burst_speedup = 10;                 // a burst's rate / the calm rate
  double burst_length = 200;                 // mean messages of a burst
  int max_orders_per_symbol = 256;           // resting orders a symbol holds at most
  // Message mix, in percent (the rest is Add Order). Executions and cancels fall back to an add
  // when the symbol has no resting order to act on.
  int execute_percent = 17;
  int cancel_percent = 8;
  int delete_percent = 30;
  int trade_percent = 5;

  // Checks every field (ranges, a mix summing to at most 100, the whole run fitting in the day at
  // `rate` messages per second, or event_rate when rate is 0); the error names the field.
  Status Validate(double rate = 0) const;
};

// The 8-byte Stock field of locate `locate` (1-based): 4 letters from its number, then spaces.
itch::Stock SymbolName(int locate);

class TickGenerator {
 public:
  static constexpr int kMaxLevelsAway = 40;
  static constexpr int64_t kTick = 100;  // $0.01 in Price(4)

  // `rate` > 0 overrides config.event_rate. REQUIRES: config.Validate(rate).ok().
  TickGenerator(const TickConfig& config, uint64_t seed, double rate = 0);
  TickGenerator(const TickGenerator&) = delete;
  TickGenerator& operator=(const TickGenerator&) = delete;

  // Writes the next message into `out`. Messages never run out (the caller counts).
  void Next(itch::TickMessage& out);

  // The first message's event time (trading_day_nanos + start_nanos): the pacing base.
  int64_t first_event_time() const { return config_.trading_day_nanos + config_.start_nanos; }
  int64_t messages_generated() const { return sequence_; }

 private:
  struct RestingOrder {
    uint64_t reference;
    uint32_t price;
    uint32_t shares;
    char side;
  };
  struct Symbol {
    int64_t reference_price = 0;  // Price(4)
    std::vector<RestingOrder> orders;
  };

  uint64_t NextRandom();
  double NextUniform();  // in [0, 1)
  int DrawSymbol();      // index into symbols_
  int64_t NextGap();
  uint32_t DrawShares();
  // A resting order of `symbols_[index]` picked as an execution would hit it, or -1.
  int PickForExecution(const Symbol& symbol);
  void EmitAdd(itch::TickMessage& out, const itch::Header& header, int index);

  TickConfig config_;
  uint64_t state_[4];  // xoshiro256**
  // Vose's alias table over the symbols' Zipf weights.
  std::vector<double> alias_probability_;
  std::vector<int> alias_;
  std::vector<Symbol> symbols_;
  std::vector<itch::Stock> names_;

  double calm_gap_ = 0;         // mean nanoseconds between calm messages
  double burst_start_ = 0;      // probability that a calm message starts a burst
  int64_t burst_remaining_ = 0;
  int burst_symbol_ = 0;
  double clock_ = 0;            // nanoseconds since midnight, fractional
  int64_t sequence_ = 0;
  uint64_t next_reference_ = 1;
  uint64_t next_match_ = 1;
};

}  // namespace weir::harness::ticks
