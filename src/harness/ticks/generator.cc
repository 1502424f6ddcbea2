#include "harness/ticks/generator.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "base/check.h"

namespace weir::harness::ticks {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Status TickConfig::Validate(double rate) const {
  if (messages < 0) return InvalidArgument("ticks: messages must be >= 0, got {}", messages);
  if (symbols < 1 || symbols > 65535) {
    return InvalidArgument("ticks: symbols must be in [1, 65535] (a 2-byte stock locate), got {}", symbols);
  }
  if (!(zipf_exponent >= 0) || zipf_exponent > 10) {
    return InvalidArgument("ticks: zipf_exponent must be in [0, 10], got {}", zipf_exponent);
  }
  const double effective_rate = rate > 0 ? rate : event_rate;
  if (!(effective_rate > 0) || !std::isfinite(effective_rate)) {
    return InvalidArgument("ticks: the message rate must be > 0, got {}", effective_rate);
  }
  if (start_nanos < 0 || start_nanos >= itch::kNanosPerDay) {
    return InvalidArgument("ticks: start_nanos must be within a day [0, {}), got {}", itch::kNanosPerDay,
                           start_nanos);
  }
  if (trading_day_nanos < 0 || trading_day_nanos % 1'000'000'000 != 0 ||
      trading_day_nanos > (int64_t{1} << 62)) {
    return InvalidArgument("ticks: trading_day_nanos must be a non-negative whole second below 2^62, got {}",
                           trading_day_nanos);
  }
  const double run_nanos = static_cast<double>(messages) / effective_rate * 1e9;
  if (static_cast<double>(start_nanos) + run_nanos >= static_cast<double>(itch::kNanosPerDay)) {
    return InvalidArgument(
        "ticks: {} messages at {} messages/s from {} ns after midnight do not fit in one trading day "
        "(ITCH timestamps are nanoseconds since midnight)",
        messages, effective_rate, start_nanos);
  }
  if (!(burst_fraction >= 0) || burst_fraction >= 1) {
    return InvalidArgument("ticks: burst_fraction must be in [0, 1), got {}", burst_fraction);
  }
  if (!(burst_speedup >= 1) || !std::isfinite(burst_speedup)) {
    return InvalidArgument("ticks: burst_speedup must be >= 1, got {}", burst_speedup);
  }
  if (!(burst_length >= 1) || !std::isfinite(burst_length)) {
    return InvalidArgument("ticks: burst_length must be >= 1, got {}", burst_length);
  }
  if (max_orders_per_symbol < 1) {
    return InvalidArgument("ticks: max_orders_per_symbol must be >= 1, got {}", max_orders_per_symbol);
  }
  for (const int percent : {execute_percent, cancel_percent, delete_percent, trade_percent}) {
    if (percent < 0) return InvalidArgument("ticks: message mix percentages must be >= 0, got {}", percent);
  }
  const int mix = execute_percent + cancel_percent + delete_percent + trade_percent;
  if (mix > 100) {
    return InvalidArgument("ticks: execute + cancel + delete + trade percentages are {} > 100", mix);
  }
  return Status::Ok();
}

itch::Stock SymbolName(int locate) {
  itch::Stock name;
  name.fill(' ');
  int number = locate - 1;
  for (int i = 3; i >= 0; --i) {
    name[i] = static_cast<char>('A' + number % 26);
    number /= 26;
  }
  return name;
}

TickGenerator::TickGenerator(const TickConfig& config, uint64_t seed, double rate) : config_(config) {
  const Status valid = config.Validate(rate);
  WEIR_CHECK_MSG(valid.ok(), "{}", valid.ToString());
  if (rate > 0) config_.event_rate = rate;
  uint64_t mix = seed;
  for (uint64_t& word : state_) word = SplitMix64(mix);

  // Vose's alias method: O(n) set-up, O(1) per draw.
  const int n = config_.symbols;
  std::vector<double> scaled(n);
  double total = 0;
  for (int i = 0; i < n; ++i) total += scaled[i] = std::pow(1.0 / (i + 1), config_.zipf_exponent);
  for (double& p : scaled) p = p * n / total;
  alias_probability_.assign(n, 1.0);
  alias_.resize(n);
  std::vector<int> small, large;
  for (int i = 0; i < n; ++i) (scaled[i] < 1.0 ? small : large).push_back(i);
  while (!small.empty() && !large.empty()) {
    const int less = small.back();
    small.pop_back();
    const int more = large.back();
    alias_probability_[less] = scaled[less];
    alias_[less] = more;
    scaled[more] = scaled[more] + scaled[less] - 1.0;
    if (scaled[more] < 1.0) {
      large.pop_back();
      small.push_back(more);
    }
  }
  for (int i : small) alias_[i] = i;
  for (int i : large) alias_[i] = i;

  symbols_.resize(n);
  names_.resize(n);
  for (int i = 0; i < n; ++i) {
    const double dollars = std::exp(std::log(5.0) + NextUniform() * std::log(100.0));
    symbols_[i].reference_price = std::llround(dollars * 100) * kTick;
    names_[i] = SymbolName(i + 1);
  }

  const double f = config_.burst_fraction;
  calm_gap_ = 1e9 / config_.event_rate / ((1 - f) + f / config_.burst_speedup);
  // In steady state a fraction p*B / (1 + p*B) of messages is in bursts; solve for p.
  burst_start_ = f / (config_.burst_length * (1 - f));
  clock_ = static_cast<double>(config_.start_nanos);
}

uint64_t TickGenerator::NextRandom() {
  // xoshiro256** (Blackman & Vigna).
  const uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = std::rotl(state_[3], 45);
  return result;
}

double TickGenerator::NextUniform() { return static_cast<double>(NextRandom() >> 11) * 0x1.0p-53; }

int TickGenerator::DrawSymbol() {
  const uint64_t r = NextRandom();
  const int index = static_cast<int>(((r >> 32) * static_cast<uint64_t>(alias_.size())) >> 32);
  const double u = static_cast<double>(r & 0xffffffffULL) * 0x1.0p-32;
  return u < alias_probability_[index] ? index : alias_[index];
}

int64_t TickGenerator::NextGap() {
  // Exponential gaps: a Poisson stream at the current rate.
  const double mean = burst_remaining_ > 0 ? calm_gap_ / config_.burst_speedup : calm_gap_;
  return static_cast<int64_t>(-std::log1p(-NextUniform()) * mean);
}

uint32_t TickGenerator::DrawShares() {
  const uint64_t r = NextRandom();
  // Mostly round lots of 100..1000 shares; one in ten an odd lot.
  if (r % 10 == 0) return static_cast<uint32_t>(1 + (r >> 8) % 99);
  return static_cast<uint32_t>(100 * (1 + (r >> 8) % 10));
}

int TickGenerator::PickForExecution(const Symbol& symbol) {
  const uint64_t size = symbol.orders.size();
  if (size == 0) return -1;
  // A tournament of three: the best-priced of three random resting orders of the first one's side,
  // so executions concentrate near the touch without keeping the orders sorted.
  const uint64_t r = NextRandom();
  int best = static_cast<int>(r % size);
  const char side = symbol.orders[best].side;
  for (int i = 1; i < 3; ++i) {
    const int other = static_cast<int>((r >> (21 * i)) % size);
    const RestingOrder& candidate = symbol.orders[other];
    if (candidate.side != side) continue;
    const bool better = side == 'B' ? candidate.price > symbol.orders[best].price
                                    : candidate.price < symbol.orders[best].price;
    if (better) best = other;
  }
  return best;
}

void TickGenerator::EmitAdd(itch::TickMessage& out, const itch::Header& header, int index) {
  Symbol& symbol = symbols_[index];
  const uint64_t r = NextRandom();
  const char side = (r & 1) ? 'B' : 'S';
  const int64_t away = 1 + std::min<int>(std::countr_zero(r >> 1 | (uint64_t{1} << 62)), kMaxLevelsAway - 1);
  const int64_t price = side == 'B' ? symbol.reference_price - away * kTick : symbol.reference_price + away * kTick;
  const uint32_t shares = DrawShares();
  const uint64_t reference = next_reference_++;
  symbol.orders.push_back({reference, static_cast<uint32_t>(price), shares, side});
  itch::EncodeAddOrder(out, header, reference, side, shares, names_[index], static_cast<uint32_t>(price));
}

void TickGenerator::Next(itch::TickMessage& out) {
  const int64_t timestamp = std::min<int64_t>(static_cast<int64_t>(clock_), itch::kNanosPerDay - 1);
  const bool in_burst = burst_remaining_ > 0;
  int index;
  if (in_burst && (NextRandom() & 1)) {
    index = burst_symbol_;
  } else {
    index = DrawSymbol();
  }
  const itch::Header header{static_cast<uint16_t>(index + 1), static_cast<uint16_t>(sequence_ & 0xffff),
                            timestamp};
  ++sequence_;
  Symbol& symbol = symbols_[index];

  // The reference price walks one tick in one of eight messages (never below $1.00, so bids
  // kMaxLevelsAway ticks below it stay positive).
  const uint64_t walk = NextRandom();
  if ((walk & 7) == 0) {
    symbol.reference_price += (walk & 8) ? kTick : -kTick;
    symbol.reference_price = std::max<int64_t>(symbol.reference_price, 100 * kTick);
  }

  int action = static_cast<int>((walk >> 8) % 100);
  const int execute_end = config_.execute_percent;
  const int cancel_end = execute_end + config_.cancel_percent;
  const int delete_end = cancel_end + config_.delete_percent;
  const int trade_end = delete_end + config_.trade_percent;
  const bool full = static_cast<int>(symbol.orders.size()) >= config_.max_orders_per_symbol;
  const bool empty = symbol.orders.empty();
  if (action < execute_end && !empty) {
    const int picked = PickForExecution(symbol);
    RestingOrder& order = symbol.orders[picked];
    const uint64_t r = NextRandom();
    // Six in ten executions take all remaining shares; the others part of them.
    const uint32_t executed =
        (r % 10 < 6 || order.shares == 1) ? order.shares : static_cast<uint32_t>(1 + (r >> 8) % (order.shares - 1));
    itch::EncodeOrderExecuted(out, header, order.reference, executed, next_match_++);
    order.shares -= executed;
    if (order.shares == 0) {
      order = symbol.orders.back();
      symbol.orders.pop_back();
    }
  } else if (action < delete_end && !empty) {
    const uint64_t r = NextRandom();
    const size_t picked = r % symbol.orders.size();
    RestingOrder& order = symbol.orders[picked];
    if (action >= cancel_end || order.shares == 1) {
      // A delete, or a cancel that would take the last share: Order Cancel never ends an order.
      itch::EncodeOrderDelete(out, header, order.reference);
      order = symbol.orders.back();
      symbol.orders.pop_back();
    } else {
      const uint32_t cancelled = static_cast<uint32_t>(1 + (r >> 32) % (order.shares - 1));
      itch::EncodeOrderCancel(out, header, order.reference, cancelled);
      order.shares -= cancelled;
    }
  } else if (action >= delete_end && action < trade_end) {
    const uint64_t r = NextRandom();
    const char side = (r & 1) ? 'B' : 'S';
    const int64_t price = symbol.reference_price + ((r & 2) ? kTick : 0) - ((r & 4) ? kTick : 0);
    itch::EncodeTrade(out, header, 0, side, DrawShares(), names_[index], static_cast<uint32_t>(price),
                      next_match_++);
  } else if (full) {
    // No room for another order: the add becomes a delete of a random resting one.
    const size_t picked = NextRandom() % symbol.orders.size();
    RestingOrder& order = symbol.orders[picked];
    itch::EncodeOrderDelete(out, header, order.reference);
    order = symbol.orders.back();
    symbol.orders.pop_back();
  } else {
    EmitAdd(out, header, index);
  }

  clock_ += static_cast<double>(NextGap());
  if (in_burst) {
    --burst_remaining_;
  } else if (NextUniform() < burst_start_) {
    burst_symbol_ = DrawSymbol();
    burst_remaining_ = std::max<int64_t>(1, std::llround(-std::log1p(-NextUniform()) * config_.burst_length));
  }
}

}  // namespace weir::harness::ticks
