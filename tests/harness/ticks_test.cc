#include "harness/ticks/ticks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "harness/ticks/generator.h"
#include "harness/ticks/itch.h"

namespace weir::harness::ticks {
namespace {

using itch::TickMessage;

std::vector<TickMessage> Generate(const TickConfig& config, uint64_t seed, double rate = 0) {
  TickGenerator generator(config, seed, rate);
  std::vector<TickMessage> messages(config.messages);
  for (TickMessage& message : messages) generator.Next(message);
  return messages;
}

// ---------------------------------------------------------------- the generator

TEST(TickGeneratorTest, OrderLifecyclesAreConsistentOverAMillionMessages) {
  TickConfig config;
  config.messages = 1'000'000;
  TickGenerator generator(config, 42);
  struct Live {
    uint16_t locate;
    uint32_t shares;
  };
  std::unordered_map<uint64_t, Live> live;
  std::set<uint64_t> ended;
  uint64_t last_reference = 0;
  uint64_t last_match = 0;
  int64_t last_timestamp = 0;
  std::map<char, int64_t> types;
  TickMessage message;
  for (int64_t i = 0; i < config.messages; ++i) {
    generator.Next(message);
    ASSERT_TRUE(itch::Validate(message).ok()) << i << ": " << itch::Validate(message).ToString();
    ASSERT_GE(message.timestamp(), last_timestamp) << i;
    last_timestamp = message.timestamp();
    ASSERT_EQ(message.tracking_number(), i & 0xffff);
    const uint16_t locate = message.stock_locate();
    ASSERT_GE(locate, 1);
    ASSERT_LE(locate, config.symbols);
    ++types[message.type()];
    const uint64_t reference = message.order_reference();
    switch (message.type()) {
      case 'A': {
        ASSERT_GT(reference, last_reference) << "reference numbers are fresh, message " << i;
        last_reference = reference;
        const itch::Stock name = SymbolName(locate);
        ASSERT_EQ(message.stock(), std::string_view(name.data(), name.size()));
        ASSERT_GT(message.shares(), 0u);
        ASSERT_GT(message.price(), 0u);
        live[reference] = {locate, message.shares()};
        break;
      }
      case 'E':
      case 'X': {
        auto it = live.find(reference);
        ASSERT_TRUE(it != live.end()) << message.type() << " of unknown or ended order " << reference
                                      << (ended.count(reference) ? " (ended)" : "") << ", message " << i;
        ASSERT_EQ(it->second.locate, locate);
        const uint32_t shares = message.type() == 'E' ? message.executed_shares() : message.cancelled_shares();
        ASSERT_GT(shares, 0u);
        if (message.type() == 'E') {
          ASSERT_LE(shares, it->second.shares) << i;
          ASSERT_EQ(message.match_number(), last_match + 1);
          last_match = message.match_number();
        } else {
          ASSERT_LT(shares, it->second.shares) << "a cancel leaves shares, message " << i;
        }
        it->second.shares -= shares;
        if (it->second.shares == 0) {
          ended.insert(reference);
          live.erase(it);
        }
        break;
      }
      case 'D': {
        auto it = live.find(reference);
        ASSERT_TRUE(it != live.end()) << "D of unknown or ended order " << reference << ", message " << i;
        ASSERT_EQ(it->second.locate, locate);
        ended.insert(reference);
        live.erase(it);
        break;
      }
      case 'P':
        ASSERT_EQ(reference, 0u);
        ASSERT_EQ(message.match_number(), last_match + 1);
        last_match = message.match_number();
        break;
      default:
        FAIL() << "unexpected type " << message.type();
    }
  }
  // Every kind of message occurs in roughly the configured mix, and orders do end.
  EXPECT_GT(types['A'], 300'000);
  EXPECT_GT(types['E'], 100'000);
  EXPECT_GT(types['X'], 30'000);
  EXPECT_GT(types['D'], 200'000);
  EXPECT_GT(types['P'], 30'000);
  EXPECT_GT(ended.size(), 300'000u);
  for (const auto& [reference, order] : live) {
    ASSERT_LE(static_cast<int>(std::count_if(live.begin(), live.end(), [&](const auto& entry) {
                return entry.second.locate == order.locate;
              })),
              config.max_orders_per_symbol);
    break;  // one symbol is enough to show the bound without an O(n^2) pass
  }
}

TEST(TickGeneratorTest, TheSameSeedGivesTheSameMessages) {
  TickConfig config;
  config.messages = 200'000;
  const std::vector<TickMessage> a = Generate(config, 7);
  const std::vector<TickMessage> b = Generate(config, 7);
  const std::vector<TickMessage> c = Generate(config, 8);
  int64_t differing = 0;
  for (int64_t i = 0; i < config.messages; ++i) {
    ASSERT_EQ(a[i].block, b[i].block) << i;
    differing += a[i].block != c[i].block;
  }
  EXPECT_GT(differing, config.messages * 9 / 10);
}

TEST(TickGeneratorTest, SymbolActivityIsZipfSkewed) {
  TickConfig config;
  config.messages = 1'000'000;
  const std::vector<TickMessage> messages = Generate(config, 3);
  std::vector<int64_t> counts(config.symbols + 1, 0);
  for (const TickMessage& message : messages) ++counts[message.stock_locate()];
  // Zipf with exponent 1 over 8000 symbols: locate L has probability 1 / (L * H_8000).
  double harmonic = 0;
  for (int l = 1; l <= config.symbols; ++l) harmonic += 1.0 / l;
  const double total = static_cast<double>(config.messages);
  for (const int locate : {1, 2, 10}) {
    const double expected = total / (locate * harmonic);
    EXPECT_NEAR(counts[locate], expected, expected * 0.15) << "locate " << locate;
  }
  // The 80 most active symbols (1%) carry about half the messages; a uniform feed would give 1%.
  int64_t top = 0;
  for (int l = 1; l <= 80; ++l) top += counts[l];
  EXPECT_GT(top, config.messages * 4 / 10);
  EXPECT_LT(top, config.messages * 6 / 10);
  // The cold tail is still present.
  int64_t active = 0;
  for (int l = 1; l <= config.symbols; ++l) active += counts[l] > 0;
  EXPECT_GT(active, config.symbols * 9 / 10);
}

TEST(TickGeneratorTest, TimestampsFollowTheRateWithBursts) {
  TickConfig config;
  config.messages = 1'000'000;
  const double rate = 250'000;
  const std::vector<TickMessage> messages = Generate(config, 11, rate);
  EXPECT_EQ(messages.front().timestamp(), config.start_nanos);
  const double span = static_cast<double>(messages.back().timestamp() - messages.front().timestamp());
  const double expected = config.messages / rate * 1e9;
  EXPECT_NEAR(span, expected, expected * 0.05);
  // Bursts: the busiest 1 ms of event time holds several times the mean count per millisecond.
  std::map<int64_t, int64_t> per_milli;
  for (const TickMessage& message : messages) ++per_milli[message.timestamp() / 1'000'000];
  int64_t busiest = 0;
  for (const auto& [milli, count] : per_milli) busiest = std::max(busiest, count);
  EXPECT_GT(busiest, 3 * rate / 1000);
}

TEST(TickGeneratorTest, ConfigErrorsNameTheField) {
  TickConfig config;
  EXPECT_TRUE(config.Validate().ok());
  config.symbols = 70'000;
  EXPECT_NE(config.Validate().message().find("symbols"), std::string_view::npos);
  config = TickConfig{};
  config.delete_percent = 90;
  EXPECT_NE(config.Validate().message().find("percentages"), std::string_view::npos);
  config = TickConfig{};
  config.messages = 100'000'000'000;
  EXPECT_NE(config.Validate(1'000'000).message().find("trading day"), std::string_view::npos);
  config = TickConfig{};
  config.event_rate = 0;
  EXPECT_FALSE(config.Validate().ok());
  EXPECT_TRUE(config.Validate(1000).ok());  // a paced run's rate replaces event_rate
}

TEST(TickQueryTest, ParsesQueryNames) {
  EXPECT_EQ(*ParseTickQuery("T1"), TickQuery::kT1);
  EXPECT_EQ(*ParseTickQuery("t2"), TickQuery::kT2);
  EXPECT_EQ(*ParseTickQuery("T3"), TickQuery::kT3);
  Result<TickQuery> bad = ParseTickQuery("T4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'T4'"), std::string_view::npos);
}

TEST(TickQueryTest, RowsPrintAsCsv) {
  std::string out;
  OhlcvBarTraits{}.Csv(out, OhlcvBar{2, 5'000'000'000, 1'000'000, 1'010'000, 990'000, 1'000'100, 300, 2});
  EXPECT_EQ(out, "AAAB,5000000000,100.0000,101.0000,99.0000,100.0100,300,2");
  out.clear();
  TopOfBookTraits{}.Csv(out, TopOfBook{27, 9, 500'000, 100, 0, 0});
  EXPECT_EQ(out, "AABA,9,50.0000,100,0.0000,0");
  out.clear();
  VwapUpdateTraits{}.Csv(out, VwapUpdate{1, 3, 1'000'000, 100, 300, 2, 100.125});
  EXPECT_EQ(out, "AAAA,3,100.0000,100,100.125000,300,2");
}

// ---------------------------------------------------------------- the queries vs references

// Trades as the specification defines them, recomputed with a hash map of resting orders.
std::vector<TradeEvent> ReferenceTrades(const std::vector<TickMessage>& messages, const TickConfig& config) {
  struct Order {
    int64_t price;
    int64_t shares;
  };
  std::unordered_map<uint64_t, Order> orders;
  std::vector<TradeEvent> trades;
  for (const TickMessage& m : messages) {
    const int64_t time = config.trading_day_nanos + m.timestamp();
    switch (m.type()) {
      case 'A': orders[m.order_reference()] = {m.price(), m.shares()}; break;
      case 'E': {
        Order& order = orders.at(m.order_reference());
        trades.push_back({time, order.price, m.executed_shares(), m.stock_locate()});
        if ((order.shares -= m.executed_shares()) == 0) orders.erase(m.order_reference());
        break;
      }
      case 'X': orders.at(m.order_reference()).shares -= m.cancelled_shares(); break;
      case 'D': orders.erase(m.order_reference()); break;
      case 'P': trades.push_back({time, m.price(), m.shares(), m.stock_locate()}); break;
    }
  }
  return trades;
}

// symbol -> its CSV rows in order.
using RowsBySymbol = std::map<std::string, std::vector<std::string>>;

RowsBySymbol GroupCsv(const std::string& csv) {
  RowsBySymbol rows;
  size_t start = 0;
  while (start < csv.size()) {
    const size_t end = csv.find('\n', start);
    const std::string line = csv.substr(start, end - start);
    rows[line.substr(0, line.find(','))].push_back(line);
    start = end + 1;
  }
  return rows;
}

template <typename Traits, typename Row>
void AddRow(RowsBySymbol& rows, const Traits& traits, const Row& row) {
  std::string line;
  traits.Csv(line, row);
  rows[line.substr(0, line.find(','))].push_back(line);
}

RowsBySymbol ReferenceT1(const std::vector<TickMessage>& messages, const TickConfig& config) {
  std::map<std::pair<int64_t, int64_t>, OhlcvBar> bars;  // (locate, window start)
  for (const TradeEvent& trade : ReferenceTrades(messages, config)) {
    const int64_t start = trade.time / kNanosPerSecond * kNanosPerSecond;
    auto [it, fresh] = bars.try_emplace({trade.stock_locate, start});
    OhlcvBar& bar = it->second;
    if (fresh) bar = {trade.stock_locate, start, trade.price, trade.price, trade.price, trade.price, 0, 0};
    bar.high = std::max(bar.high, trade.price);
    bar.low = std::min(bar.low, trade.price);
    bar.close = trade.price;
    bar.volume += trade.shares;
    ++bar.trades;
  }
  RowsBySymbol rows;
  for (const auto& [key, bar] : bars) AddRow(rows, OhlcvBarTraits{}, bar);
  return rows;
}

RowsBySymbol ReferenceT2(const std::vector<TickMessage>& messages, const TickConfig& config) {
  std::map<int64_t, std::vector<TradeEvent>> seen;  // locate -> its trades so far
  RowsBySymbol rows;
  for (const TradeEvent& trade : ReferenceTrades(messages, config)) {
    std::vector<TradeEvent>& trades = seen[trade.stock_locate];
    trades.push_back(trade);
    __int128 notional = 0;
    int64_t shares = 0;
    int64_t count = 0;
    for (const TradeEvent& earlier : trades) {
      if (earlier.time <= trade.time - 300 * kNanosPerSecond) continue;
      notional += static_cast<__int128>(earlier.price) * earlier.shares;
      shares += earlier.shares;
      ++count;
    }
    const double vwap = static_cast<double>(notional) / static_cast<double>(shares) / 10'000.0;
    AddRow(rows, VwapUpdateTraits{},
           VwapUpdate{trade.stock_locate, trade.time, trade.price, trade.shares, shares, count, vwap});
  }
  return rows;
}

RowsBySymbol ReferenceT3(const std::vector<TickMessage>& messages, const TickConfig& config) {
  struct Order {
    int64_t locate;
    char side;
    int64_t price;
    int64_t shares;
  };
  struct Book {
    std::map<int64_t, int64_t> bids, asks;  // price -> shares
    TopOfBook top;
  };
  std::unordered_map<uint64_t, Order> orders;
  std::map<int64_t, Book> books;
  RowsBySymbol rows;
  for (const TickMessage& m : messages) {
    if (m.type() == 'P') continue;
    Book& book = books[m.stock_locate()];
    if (m.type() == 'A') {
      orders[m.order_reference()] = {m.stock_locate(), m.side(), m.price(), m.shares()};
      (m.side() == 'B' ? book.bids : book.asks)[m.price()] += m.shares();
    } else {
      Order& order = orders.at(m.order_reference());
      const int64_t removed = m.type() == 'D'   ? order.shares
                              : m.type() == 'E' ? m.executed_shares()
                                                : m.cancelled_shares();
      auto& levels = order.side == 'B' ? book.bids : book.asks;
      if ((levels[order.price] -= removed) == 0) levels.erase(order.price);
      if ((order.shares -= removed) == 0) orders.erase(m.order_reference());
    }
    TopOfBook top{m.stock_locate(), config.trading_day_nanos + m.timestamp(), 0, 0, 0, 0};
    if (!book.bids.empty()) std::tie(top.bid_price, top.bid_size) = *book.bids.rbegin();
    if (!book.asks.empty()) std::tie(top.ask_price, top.ask_size) = *book.asks.begin();
    if (top.bid_price != book.top.bid_price || top.bid_size != book.top.bid_size ||
        top.ask_price != book.top.ask_price || top.ask_size != book.top.ask_size) {
      book.top = top;
      AddRow(rows, TopOfBookTraits{}, top);
    }
  }
  return rows;
}

Configuration JobConfig(int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "32mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "256mb").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  return config;
}

// A feed small enough for brute-force references and long enough in event time (400 s) that
// T1 closes hundreds of bars per symbol and T2 evicts trades from its 5-minute window.
TickConfig SmallFeed() {
  TickConfig config;
  config.messages = 100'000;
  config.symbols = 50;
  config.event_rate = 250;
  config.max_orders_per_symbol = 64;
  return config;
}

RowsBySymbol RunQuery(TickQuery query, const TickConfig& config, int parallelism, RunContext& context) {
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env(JobConfig(parallelism));
  BuildTickQuery(env, query, config, context);
  Result<api::JobResult> job = env.Execute(std::string("ticks ") + std::string(TickQueryName(query)));
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(context.events_emitted->load(), config.messages);
  return GroupCsv(context.results->Csv());
}

int64_t RowCount(const RowsBySymbol& rows) {
  int64_t count = 0;
  for (const auto& [symbol, lines] : rows) count += static_cast<int64_t>(lines.size());
  return count;
}

void ExpectSameRows(const RowsBySymbol& actual, const RowsBySymbol& expected) {
  EXPECT_EQ(RowCount(actual), RowCount(expected));
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [symbol, lines] : expected) {
    auto it = actual.find(symbol);
    ASSERT_TRUE(it != actual.end()) << symbol;
    ASSERT_EQ(it->second.size(), lines.size()) << symbol;
    for (size_t i = 0; i < lines.size(); ++i) ASSERT_EQ(it->second[i], lines[i]) << symbol << " row " << i;
  }
}

class TickQueryParallelTest : public ::testing::TestWithParam<int> {};

TEST_P(TickQueryParallelTest, T1BarsMatchTheReference) {
  const TickConfig config = SmallFeed();
  RunContext context;
  context.seed = 5;
  const RowsBySymbol expected = ReferenceT1(Generate(config, context.seed), config);
  EXPECT_GT(RowCount(expected), 5'000);
  ExpectSameRows(RunQuery(TickQuery::kT1, config, GetParam(), context), expected);
}

TEST_P(TickQueryParallelTest, T2VwapMatchesTheReference) {
  const TickConfig config = SmallFeed();
  RunContext context;
  context.seed = 6;
  const RowsBySymbol expected = ReferenceT2(Generate(config, context.seed), config);
  EXPECT_GT(RowCount(expected), 10'000);
  ExpectSameRows(RunQuery(TickQuery::kT2, config, GetParam(), context), expected);
}

TEST_P(TickQueryParallelTest, T3TopOfBookMatchesTheReference) {
  const TickConfig config = SmallFeed();
  RunContext context;
  context.seed = 9;
  const RowsBySymbol expected = ReferenceT3(Generate(config, context.seed), config);
  EXPECT_GT(RowCount(expected), 20'000);
  ExpectSameRows(RunQuery(TickQuery::kT3, config, GetParam(), context), expected);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, TickQueryParallelTest, ::testing::Values(1, 2));

// A run longer than max_pregenerated generates its messages in the source: the same feed.
TEST(TickQueryTest, FeedGeneratedInTheSourceMatchesTheReference) {
  TickConfig config = SmallFeed();
  config.max_pregenerated = config.messages - 1;
  RunContext context;
  context.seed = 9;
  const RowsBySymbol expected = ReferenceT3(Generate(config, context.seed), config);
  ExpectSameRows(RunQuery(TickQuery::kT3, config, 1, context), expected);
}

TEST(TickQueryTest, PacedRunFollowsTheFeedTimestampsAndMeasuresLatency) {
  TickConfig config;
  config.messages = 20'000;
  config.symbols = 100;
  RunContext context;
  context.rate = 50'000;  // 0.4 s of feed
  context.seed = 1;
  const std::vector<TickMessage> messages = Generate(config, context.seed, context.rate);
  const int64_t feed_nanos = messages.back().timestamp() - messages.front().timestamp();
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.measure_latency = true});
  api::StreamExecutionEnvironment env(JobConfig(1));
  BuildTickQuery(env, TickQuery::kT3, config, context);
  ASSERT_TRUE(context.pacer->paced());
  EXPECT_EQ(context.pacer->base_event_time(), config.trading_day_nanos + config.start_nanos);
  EXPECT_EQ(context.pacer->unit_nanos(), 1);
  Result<api::JobResult> job = env.Execute("paced T3");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  // The last message was not emitted before its due instant.
  EXPECT_GE(MonotonicNanos() - context.pacer->Origin(), feed_nanos);
  EXPECT_EQ(context.events_emitted->load(), config.messages);
  const LatencyHistogram latency = context.results->MergedLatency();
  EXPECT_EQ(latency.count(), context.results->rows());
  EXPECT_EQ(RowCount(ReferenceT3(messages, config)), context.results->rows());
}

}  // namespace
}  // namespace weir::harness::ticks
