#include "harness/ticks/ticks.h"

#include <algorithm>
#include <cstring>
#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "api/keyed_process.h"
#include "api/watermarks.h"
#include "api/windowed_stream.h"
#include "base/check.h"
#include "base/clock.h"
#include "operators/record_group.h"

namespace weir::harness::ticks {
namespace {

using itch::TickMessage;

// The feed as a source: one subtask, messages in sequence, read from `feed` (generated before the
// job started) or, when it is null, generated here one at a time. Unpaced it emits a full batch
// per poll; paced it emits the messages whose due instant has passed (the next message is held
// until it is due) and returns kNothingNow when none is, so the worker is never blocked.
// Messages leave in groups of up to 64 (RecordGroup), never held past the end of a poll.
class TickSource final : public operators::SourceOperator<TickMessage> {
 public:
  TickSource(const TickConfig& config, const RunContext& context,
             std::shared_ptr<const std::vector<TickMessage>> feed)
      : config_(config),
        seed_(context.seed),
        rate_(context.rate),
        pacer_(context.pacer),
        events_emitted_(context.events_emitted),
        feed_(std::move(feed)) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator<TickMessage>::Open(context));
    remaining_ = config_.messages;
    paced_ = rate_ > 0 && pacer_->paced();
    if (feed_ == nullptr) generator_ = std::make_unique<TickGenerator>(config_, seed_, rate_);
    if (remaining_ > 0) Advance();
    return Status::Ok();
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    if (remaining_ == 0) return operators::SourceStatus::kEndOfInput;
    const int64_t limit = std::min<int64_t>(max_records, remaining_);
    operators::Output<TickMessage>* out = output();
    int64_t emitted = 0;
    size_t grouped = 0;  // messages set in group_, not yet handed over
    const auto add = [&] {
      group_.Set(grouped, *pending_, EventTime(*pending_));
      ++emitted;
      if (emitted < remaining_) Advance();
      if (++grouped == Group::kCapacity) {
        group_.FlushTo(*out, grouped);
        grouped = 0;
      }
    };
    if (paced_) {
      const int64_t now = MonotonicNanos();
      while (emitted < limit && pacer_->DueNanos(EventTime(*pending_)) <= now) add();
      if (emitted == 0) return operators::SourceStatus::kNothingNow;
    } else {
      while (emitted < limit) add();
    }
    group_.FlushTo(*out, grouped);
    remaining_ -= emitted;
    records_emitted_ += emitted;
    bytes_read_ += emitted * static_cast<int64_t>(sizeof(TickMessage));
    events_emitted_->fetch_add(emitted, std::memory_order_relaxed);
    return operators::SourceStatus::kMoreAvailable;
  }

 private:
  Timestamp EventTime(const TickMessage& message) const { return config_.trading_day_nanos + message.timestamp(); }

  // Points pending_ at the next message.
  void Advance() {
    if (feed_ != nullptr) {
      pending_ = &(*feed_)[next_++];
    } else {
      generator_->Next(generated_);
      pending_ = &generated_;
    }
  }

  TickConfig config_;
  uint64_t seed_;
  double rate_;
  std::shared_ptr<Pacer> pacer_;
  std::shared_ptr<std::atomic<int64_t>> events_emitted_;
  std::shared_ptr<const std::vector<TickMessage>> feed_;
  size_t next_ = 0;  // in feed_
  std::unique_ptr<TickGenerator> generator_;
  TickMessage generated_;
  const TickMessage* pending_ = nullptr;
  // Messages go downstream in groups (one CollectBatch each), which lets T1-T3 prefetch their
  // state a group ahead; paced, a group holds the messages due at one poll.
  using Group = operators::RecordGroup<TickMessage>;
  Group group_;
  int64_t remaining_ = 0;
  bool paced_ = false;
};

// A map from 8-byte ids (order references, sequence numbers) to values under the current key,
// without iteration: a ValueState whose namespace is the id. Each access is one hash probe;
// a MapState would also keep a directory of its user keys (a count and a slot per key, two or
// three more probes per insert and remove) for iteration these maps never need.
template <typename V>
class IdMap {
 public:
  void Bind(state::ValueState<V>* state) { state_ = state; }
  std::optional<V> Get(uint64_t id) {
    Select(id);
    return state_->Value();
  }
  void Put(uint64_t id, const V& value) {
    Select(id);
    state_->Update(value);
  }
  void Remove(uint64_t id) {
    Select(id);
    state_->Clear();
  }
  // Starts loading `id`'s entry (KeyedProcessFunction::PrefetchElement).
  template <typename PrefetchContext>
  void Prefetch(uint64_t id, const PrefetchContext& context) const {
    char bytes[sizeof(id)];
    std::memcpy(bytes, &id, sizeof(id));
    context.Prefetch(*state_, std::string_view(bytes, sizeof(bytes)));
  }

 private:
  void Select(uint64_t id) {
    std::memcpy(id_, &id, sizeof(id));
    state_->SetCurrentNamespace(std::string_view(id_, sizeof(id_)));
  }
  state::ValueState<V>* state_ = nullptr;
  char id_[8] = {};  // the namespace bytes (the state keeps a view of them)
};

struct LocateOfMessage {
  int64_t operator()(const TickMessage& message) const { return message.stock_locate(); }
};
struct LocateOfTrade {
  int64_t operator()(const TradeEvent& trade) const { return trade.stock_locate; }
};

// What T1 and T2 keep of a resting order: the price an 'E' executes at, and the shares left.
struct RestingOrder {
  int64_t price;
  int64_t shares;
};

// 'E' -> a trade at its order's price; 'P' -> a trade. Keeps the symbol's resting orders in an
// IdMap (order reference -> price, shares): 'A' adds, 'E' and 'X' reduce, a full execution or
// a 'D' removes. A message naming an order the state does not hold (a feed joined mid-day) is
// skipped.
class TradeExtractor final : public api::KeyedProcessFunction<int64_t, TickMessage, TradeEvent> {
 public:
  Status Open(api::RuntimeContext& context) override {
    orders_.Bind(context.GetState<RestingOrder>("orders"));
    return Status::Ok();
  }

  // The resting order an order message names: a random one of about a million, so a cache miss
  // for the index slot and another for the entry, overlapped across a batch this way.
  void PrefetchElement(const TickMessage& message, PrefetchContext& context) const {
    if (message.type() != itch::kTrade) orders_.Prefetch(message.order_reference(), context);
  }

  void ProcessElement(const TickMessage& message, Context& context, api::Collector<TradeEvent>& out) override {
    switch (message.type()) {
      case itch::kAddOrder:
        orders_.Put(message.order_reference(), RestingOrder{message.price(), message.shares()});
        break;
      case itch::kOrderExecuted:
      case itch::kOrderCancel: {
        const uint64_t reference = message.order_reference();
        std::optional<RestingOrder> order = orders_.Get(reference);
        if (!order) return;
        const int64_t shares = std::min<int64_t>(
            message.type() == itch::kOrderExecuted ? message.executed_shares() : message.cancelled_shares(),
            order->shares);
        if (message.type() == itch::kOrderExecuted) {
          out.Collect(TradeEvent{context.timestamp(), order->price, shares, message.stock_locate()});
        }
        order->shares -= shares;
        if (order->shares == 0) {
          orders_.Remove(reference);
        } else {
          orders_.Put(reference, *order);
        }
        break;
      }
      case itch::kOrderDelete:
        orders_.Remove(message.order_reference());
        break;
      case itch::kTrade:
        out.Collect(TradeEvent{context.timestamp(), message.price(), message.shares(), message.stock_locate()});
        break;
      default:
        break;
    }
  }

 private:
  IdMap<RestingOrder> orders_;
};

// T1's bar. Trades of a key reach the window in feed order (one source, order-preserving keyed
// exchanges), so the first added is the open and the last the close.
struct OhlcvAggregate {
  struct Acc {
    int64_t stock_locate;
    int64_t first_time;
    int64_t last_time;
    int64_t open;
    int64_t high;
    int64_t low;
    int64_t close;
    int64_t volume;
    int64_t trades;
  };
  Acc CreateAccumulator() const {
    return {0, 0, 0, 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0, 0, 0};
  }
  void Add(const TradeEvent& trade, Acc& acc) const {
    if (acc.trades == 0) {
      acc.stock_locate = trade.stock_locate;
      acc.first_time = trade.time;
      acc.open = trade.price;
    }
    acc.last_time = trade.time;
    acc.close = trade.price;
    acc.high = std::max(acc.high, trade.price);
    acc.low = std::min(acc.low, trade.price);
    acc.volume += trade.shares;
    ++acc.trades;
  }
  OhlcvBar GetResult(const Acc& acc) const {
    const int64_t start = acc.first_time - acc.first_time % kBarNanos;  // event times are positive
    return {acc.stock_locate, start, acc.open, acc.high, acc.low, acc.close, acc.volume, acc.trades};
  }
  // `a` holds the earlier trades (merged accumulators come from consecutive parts of the stream).
  Acc Merge(const Acc& a, const Acc& b) const {
    if (a.trades == 0) return b;
    if (b.trades == 0) return a;
    Acc merged = a;
    merged.last_time = b.last_time;
    merged.close = b.close;
    merged.high = std::max(a.high, b.high);
    merged.low = std::min(a.low, b.low);
    merged.volume += b.volume;
    merged.trades += b.trades;
    return merged;
  }
};

// T2's state: the symbol's trades of the last 5 minutes as a FIFO (an IdMap sequence -> trade,
// head and tail sequence numbers in a ValueState), with their running sums. Each trade is added
// once and evicted once: O(1) amortized per trade.
struct VwapEntry {
  int64_t time;
  int64_t price;
  int64_t shares;
};
struct VwapWindow {
  int64_t head = 0;  // sequence number of the oldest trade kept
  int64_t tail = 0;  // sequence number of the next trade
  int64_t head_time = 0;
  int64_t shares = 0;
  // sum(price * shares) as 128 bits in two words (a plain 8-aligned struct for the state).
  uint64_t notional_low = 0;
  int64_t notional_high = 0;

  __int128 notional() const { return (static_cast<__int128>(notional_high) << 64) | notional_low; }
  void set_notional(__int128 value) {
    notional_low = static_cast<uint64_t>(value);
    notional_high = static_cast<int64_t>(value >> 64);
  }
};

class RollingVwapFunction final : public api::KeyedProcessFunction<int64_t, TradeEvent, VwapUpdate> {
 public:
  Status Open(api::RuntimeContext& context) override {
    window_ = context.GetState<VwapWindow>("window");
    entries_.Bind(context.GetState<VwapEntry>("trades"));
    return Status::Ok();
  }

  void ProcessElement(const TradeEvent& trade, Context& context, api::Collector<VwapUpdate>& out) override {
    VwapWindow window = window_->Value().value_or(VwapWindow{});
    if (window.head == window.tail) window.head_time = trade.time;
    entries_.Put(window.tail++, VwapEntry{trade.time, trade.price, trade.shares});
    __int128 notional = window.notional() + static_cast<__int128>(trade.price) * trade.shares;
    window.shares += trade.shares;
    // Evict trades at or before t - 5 min; the trade just added is never one of them.
    const int64_t cutoff = trade.time - kVwapNanos;
    while (window.head_time <= cutoff) {
      const std::optional<VwapEntry> oldest = entries_.Get(window.head);
      WEIR_DCHECK(oldest.has_value());
      notional -= static_cast<__int128>(oldest->price) * oldest->shares;
      window.shares -= oldest->shares;
      entries_.Remove(window.head++);
      window.head_time = entries_.Get(window.head)->time;
    }
    window.set_notional(notional);
    window_->Update(window);
    out.Collect(VwapUpdate{trade.stock_locate, trade.time, trade.price, trade.shares, window.shares,
                           window.tail - window.head, VwapOf(notional, window.shares)});
  }

  static double VwapOf(__int128 notional, int64_t shares) {
    return static_cast<double>(notional) / static_cast<double>(shares) / static_cast<double>(itch::kPriceScale);
  }

 private:
  state::ValueState<VwapWindow>* window_ = nullptr;
  IdMap<VwapEntry> entries_;
};

// T3: the symbol's book. Resting orders in an IdMap (reference -> side, price, shares); each
// side's price levels as one ValueState holding the (price, shares) pairs sorted best first, so
// the best level is the first pair and no search is needed when it empties. A message touches
// one side: one read and one write of that side's levels (a few hundred bytes: the generator
// rests orders within TickGenerator::kMaxLevelsAway ticks of the reference price), where levels
// kept one state entry each would cost a probe per level to find the next best.
struct BookOrder {
  int64_t price;
  int64_t shares;
  int64_t side;  // 'B' or 'S'
};
struct Level {
  int64_t price;
  int64_t shares;
};

class TopOfBookFunction final : public api::KeyedProcessFunction<int64_t, TickMessage, TopOfBook> {
 public:
  Status Open(api::RuntimeContext& context) override {
    orders_.Bind(context.GetState<BookOrder>("orders"));
    bids_ = context.GetState<std::string_view>("bids");
    asks_ = context.GetState<std::string_view>("asks");
    return Status::Ok();
  }

  // The resting order the message names (one of about a million: two cache misses, overlapped
  // across a batch this way) and the symbol's two sides (an order message touches one, and the
  // other when the top changes; the side of an 'E', 'X' or 'D' is in the order's entry).
  void PrefetchElement(const TickMessage& message, PrefetchContext& context) const {
    if (message.type() == itch::kTrade) return;
    orders_.Prefetch(message.order_reference(), context);
    context.Prefetch(*bids_);
    context.Prefetch(*asks_);
  }

  void ProcessElement(const TickMessage& message, Context& context, api::Collector<TopOfBook>& out) override {
    const char type = message.type();
    int64_t side;
    int64_t price;
    int64_t delta;  // shares added to (or, negative, removed from) the level
    const uint64_t reference = message.order_reference();
    if (type == itch::kAddOrder) {
      side = message.side();
      price = message.price();
      delta = message.shares();
      orders_.Put(reference, BookOrder{price, delta, side});
    } else if (type == itch::kOrderExecuted || type == itch::kOrderCancel || type == itch::kOrderDelete) {
      std::optional<BookOrder> order = orders_.Get(reference);
      if (!order) return;
      const int64_t removed = type == itch::kOrderDelete
                                  ? order->shares
                                  : std::min<int64_t>(type == itch::kOrderExecuted ? message.executed_shares()
                                                                                   : message.cancelled_shares(),
                                                      order->shares);
      order->shares -= removed;
      if (order->shares == 0) {
        orders_.Remove(reference);
      } else {
        orders_.Put(reference, *order);
      }
      side = order->side;
      price = order->price;
      delta = -removed;
    } else {
      return;  // 'P': a non-displayed order, never on the book
    }

    state::ValueState<std::string_view>* levels = side == 'B' ? bids_ : asks_;
    Load(*levels, levels_);
    const Level before = levels_.empty() ? Level{0, 0} : levels_.front();
    // The level's position: levels are sorted best first (bids descending, asks ascending).
    auto it = std::lower_bound(levels_.begin(), levels_.end(), price, [side](const Level& level, int64_t p) {
      return side == 'B' ? level.price > p : level.price < p;
    });
    if (it != levels_.end() && it->price == price) {
      it->shares += delta;
      if (it->shares <= 0) levels_.erase(it);
    } else if (delta > 0) {
      levels_.insert(it, Level{price, delta});
    }
    if (levels_.empty()) {
      levels->Clear();
    } else {
      levels->Update(std::string_view(reinterpret_cast<const char*>(levels_.data()), levels_.size() * sizeof(Level)));
    }
    const Level after = levels_.empty() ? Level{0, 0} : levels_.front();
    if (after.price == before.price && after.shares == before.shares) return;

    Load(side == 'B' ? *asks_ : *bids_, other_);
    const Level other = other_.empty() ? Level{0, 0} : other_.front();
    const Level& bid = side == 'B' ? after : other;
    const Level& ask = side == 'B' ? other : after;
    out.Collect(TopOfBook{message.stock_locate(), context.timestamp(), bid.price, bid.shares, ask.price, ask.shares});
  }

 private:
  // Copies a side's levels out of the state (its bytes need not be 8-aligned there).
  static void Load(const state::ValueState<std::string_view>& state, std::vector<Level>& out) {
    const std::optional<std::string_view> bytes = state.Value();
    out.resize(bytes ? bytes->size() / sizeof(Level) : 0);
    if (!out.empty()) std::memcpy(out.data(), bytes->data(), out.size() * sizeof(Level));
  }

  IdMap<BookOrder> orders_;
  state::ValueState<std::string_view>* bids_ = nullptr;
  state::ValueState<std::string_view>* asks_ = nullptr;
  std::vector<Level> levels_;  // scratch: the touched side, reused (no allocation once grown)
  std::vector<Level> other_;   // scratch: the other side
};

void AppendSymbol(std::string& out, int64_t locate) {
  const itch::Stock name = SymbolName(static_cast<int>(locate));
  std::string_view view(name.data(), name.size());
  out += view.substr(0, view.find(' '));
}

}  // namespace

Result<TickQuery> ParseTickQuery(std::string_view name) {
  if (name == "T1" || name == "t1") return TickQuery::kT1;
  if (name == "T2" || name == "t2") return TickQuery::kT2;
  if (name == "T3" || name == "t3") return TickQuery::kT3;
  return InvalidArgument("unknown ticks query '{}': expected T1 (OHLCV bars), T2 (rolling VWAP) or T3 (top of book)",
                         name);
}

std::string_view TickQueryName(TickQuery query) {
  switch (query) {
    case TickQuery::kT1: return "T1";
    case TickQuery::kT2: return "T2";
    case TickQuery::kT3: return "T3";
  }
  return "?";
}

void OhlcvBarTraits::Csv(std::string& out, const OhlcvBar& row) const {
  AppendSymbol(out, row.stock_locate);
  out += ',';
  out += std::to_string(row.window_start);
  for (const int64_t price : {row.open, row.high, row.low, row.close}) {
    out += ',';
    itch::AppendPrice(out, price);
  }
  out += ',';
  out += std::to_string(row.volume);
  out += ',';
  out += std::to_string(row.trades);
}

void VwapUpdateTraits::Csv(std::string& out, const VwapUpdate& row) const {
  AppendSymbol(out, row.stock_locate);
  out += ',';
  out += std::to_string(row.time);
  out += ',';
  itch::AppendPrice(out, row.price);
  out += ',';
  out += std::to_string(row.shares);
  out += ',';
  out += fmt::format("{:.6f}", row.vwap);
  out += ',';
  out += std::to_string(row.window_shares);
  out += ',';
  out += std::to_string(row.window_trades);
}

void TopOfBookTraits::Csv(std::string& out, const TopOfBook& row) const {
  AppendSymbol(out, row.stock_locate);
  out += ',';
  out += std::to_string(row.time);
  out += ',';
  itch::AppendPrice(out, row.bid_price);
  out += ',';
  out += std::to_string(row.bid_size);
  out += ',';
  itch::AppendPrice(out, row.ask_price);
  out += ',';
  out += std::to_string(row.ask_size);
}

api::DataStream<TickMessage> AddTickSource(api::StreamExecutionEnvironment& env, const TickConfig& config,
                                           const RunContext& context) {
  std::shared_ptr<const std::vector<TickMessage>> feed;
  if (config.messages <= config.max_pregenerated) {
    auto messages = std::make_shared<std::vector<TickMessage>>(static_cast<size_t>(config.messages));
    TickGenerator generator(config, context.seed, context.rate);
    for (TickMessage& message : *messages) generator.Next(message);
    feed = std::move(messages);
  }
  return env.FromSource<TickMessage>(
      "Source: ITCH Feed",
      [config, context, feed](int) { return std::make_unique<TickSource>(config, context, feed); },
      api::WatermarkStrategy<TickMessage>::ForMonotonousTimestamps(), 1);
}

api::DataStream<TradeEvent> Trades(api::DataStream<TickMessage> feed) {
  return feed.KeyBy(LocateOfMessage{}).Process(TradeExtractor(), "Trades");
}

api::DataStream<OhlcvBar> OhlcvBars(api::DataStream<TradeEvent> trades) {
  return trades.KeyBy(LocateOfTrade{})
      .Window(api::TumblingEventTimeWindows::Of(std::chrono::milliseconds(kBarNanos)))
      .Aggregate(OhlcvAggregate(), "T1: OHLCV 1 s");
}

api::DataStream<VwapUpdate> RollingVwap(api::DataStream<TradeEvent> trades) {
  return trades.KeyBy(LocateOfTrade{}).Process(RollingVwapFunction(), "T2: VWAP 5 min");
}

api::DataStream<TopOfBook> TopOfBooks(api::DataStream<TickMessage> feed) {
  return feed.KeyBy(LocateOfMessage{}).Process(TopOfBookFunction(), "T3: Top of Book");
}

void BuildTickQuery(api::StreamExecutionEnvironment& env, TickQuery query, const TickConfig& config,
                    const RunContext& context) {
  const Status valid = config.Validate(context.rate);
  WEIR_CHECK_MSG(valid.ok(), "{}", valid.ToString());
  if (context.rate > 0) context.pacer->Pace(config.trading_day_nanos + config.start_nanos, 1);
  api::DataStream<TickMessage> feed = AddTickSource(env, config, context);
  switch (query) {
    case TickQuery::kT1:
      EmitResults(OhlcvBars(Trades(feed)), OhlcvBarTraits{}, context);
      break;
    case TickQuery::kT2:
      EmitResults(RollingVwap(Trades(feed)), VwapUpdateTraits{}, context);
      break;
    case TickQuery::kT3:
      EmitResults(TopOfBooks(feed), TopOfBookTraits{}, context);
      break;
  }
}

}  // namespace weir::harness::ticks
