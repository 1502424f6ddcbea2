#include "harness/ysb/ysb.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <iterator>
#include <set>
#include <utility>

#include "base/check.h"
#include "base/clock.h"

namespace weir::harness::ysb {
namespace {

constexpr size_t kPrefetchDistance = 8;  // events

// SplitMix64: a fixed, portable sequence per seed (std's distributions are not portable, and the
// events must be the same wherever the test's reference regenerates them).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) (Lemire's multiply-shift; bias below 2^-32 for the bounds used here).
  uint64_t Below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * bound) >> 64);
  }
  // A random version-4 UUID (RFC 4122: version nibble 4, variant bits 10), as java.util.UUID
  // .randomUUID() makes yahoo's ids. Never all zero.
  Uuid NextUuid() {
    Uuid id{Next(), Next()};
    id.high = (id.high & ~uint64_t{0xF000}) | uint64_t{0x4000};
    id.low = (id.low & ~(uint64_t{0xC0} << 56)) | (uint64_t{0x80} << 56);
    return id;
  }

 private:
  uint64_t state_;
};

// Different streams for the table and the events of one seed.
constexpr uint64_t kTableStream = 0x7973622d7461626cULL;   // "ysb-tabl"
constexpr uint64_t kEventStream = 0x7973622d65766e74ULL;   // "ysb-evnt"

}  // namespace

void AppendUuid(std::string& out, const Uuid& id) {
  fmt::format_to(std::back_inserter(out), "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", id.high >> 32,
                 (id.high >> 16) & 0xFFFF, id.high & 0xFFFF, id.low >> 48, id.low & 0xFFFF'FFFF'FFFFULL);
}

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kView: return "view";
    case EventType::kClick: return "click";
    case EventType::kPurchase: return "purchase";
  }
  return "unknown";
}

std::string_view AdTypeName(AdType type) {
  switch (type) {
    case AdType::kBanner: return "banner";
    case AdType::kModal: return "modal";
    case AdType::kSponsoredSearch: return "sponsored-search";
    case AdType::kMail: return "mail";
    case AdType::kMobile: return "mobile";
  }
  return "unknown";
}

Status YsbConfig::Validate(double rate) const {
  if (events < 0) return InvalidArgument("ysb: events must not be negative (got {})", events);
  if (campaigns <= 0 || campaigns > kMaxCampaigns) {
    return InvalidArgument("ysb: campaigns must be in [1, {}] (got {})", kMaxCampaigns, campaigns);
  }
  if (ads_per_campaign <= 0) {
    return InvalidArgument("ysb: ads_per_campaign must be positive (got {})", ads_per_campaign);
  }
  if (int64_t{campaigns} * ads_per_campaign > (int64_t{1} << 24)) {
    return InvalidArgument("ysb: campaigns * ads_per_campaign must be at most {} (got {} * {})",
                           int64_t{1} << 24, campaigns, ads_per_campaign);
  }
  if (replay_events <= 0) return InvalidArgument("ysb: replay_events must be positive (got {})", replay_events);
  if (events_per_second <= 0) {
    return InvalidArgument("ysb: events_per_second must be positive (got {})", events_per_second);
  }
  if (window_ms <= 0) return InvalidArgument("ysb: window_ms must be positive (got {})", window_ms);
  if (!(rate == 0 || (rate >= 1 && std::isfinite(rate)))) {
    return InvalidArgument("ysb: the rate must be 0 (as fast as possible) or at least 1 event/s (got {})", rate);
  }
  return Status::Ok();
}

CampaignTable::CampaignTable(int campaigns, int ads_per_campaign, uint64_t seed)
    : ads_per_campaign_(ads_per_campaign) {
  WEIR_CHECK_MSG(campaigns > 0 && campaigns <= kMaxCampaigns && ads_per_campaign > 0,
                 "a campaign table needs 1 to {} campaigns ({}) and ads ({})", kMaxCampaigns, campaigns,
                 ads_per_campaign);
  const size_t ads = static_cast<size_t>(campaigns) * static_cast<size_t>(ads_per_campaign);
  size_t capacity = 16;
  while (capacity < 2 * ads) capacity *= 2;  // load factor <= 1/2
  slot_ads_.resize(capacity);
  slot_campaigns_.resize(capacity);
  mask_ = capacity - 1;

  Random random(seed ^ kTableStream);
  std::set<Uuid> seen;  // ids are 122 random bits; the set only guards the table's invariant
  auto fresh_id = [&] {
    Uuid id = random.NextUuid();
    while (!seen.insert(id).second) id = random.NextUuid();
    return id;
  };
  campaign_ids_.reserve(campaigns);
  ad_ids_.reserve(ads);
  for (int c = 0; c < campaigns; ++c) {
    campaign_ids_.push_back(fresh_id());
    for (int a = 0; a < ads_per_campaign; ++a) {
      const Uuid ad = fresh_id();
      ad_ids_.push_back(ad);
      size_t slot = static_cast<size_t>(ad.low) & mask_;
      while (!(slot_ads_[slot] == Uuid{})) slot = (slot + 1) & mask_;
      slot_ads_[slot] = ad;
      slot_campaigns_[slot] = static_cast<uint16_t>(c);
    }
  }
}

std::vector<AdEvent> GenerateAdEvents(const CampaignTable& table, int64_t count, const EventClock& clock,
                                      uint64_t seed) {
  std::vector<AdEvent> events(static_cast<size_t>(std::max<int64_t>(count, 0)));
  Random random(seed ^ kEventStream);
  const std::vector<Uuid>& ads = table.ad_ids();
  for (size_t j = 0; j < events.size(); ++j) {
    AdEvent& event = events[j];
    event.event_time = clock.TimeOf(static_cast<int64_t>(j));
    event.user_id = random.NextUuid();
    event.page_id = random.NextUuid();
    event.ad_id = ads[random.Below(ads.size())];
    event.ad_type = static_cast<AdType>(random.Below(kAdTypes));
    event.event_type = static_cast<EventType>(random.Below(kEventTypes));
    event.ip_address = {0, (uint64_t{0xFFFF} << 32) | (random.Next() & 0xFFFF'FFFFULL)};
  }
  return events;
}

AdEventSource::AdEventSource(std::shared_ptr<const std::vector<AdEvent>> events, int64_t count,
                             EventClock clock, std::shared_ptr<Pacer> pacer,
                             std::shared_ptr<std::atomic<int64_t>> emitted)
    : events_(std::move(events)),
      count_(count),
      clock_(clock),
      pacer_(std::move(pacer)),
      emitted_(std::move(emitted)) {
  WEIR_CHECK_MSG(!events_->empty() || count_ == 0, "the YSB source has no events to replay");
  WEIR_CHECK_MSG(clock_.events_per_second > 0, "events per second must be positive");
}

Status AdEventSource::Open(operators::OperatorContext* context) {
  RETURN_IF_ERROR(SourceOperator<AdEvent>::Open(context));
  step_ = context->parallelism;
  next_ = context->subtask_index;
  slot_ = events_->empty() ? 0 : static_cast<size_t>(next_ % static_cast<int64_t>(events_->size()));
  time_ = clock_.TimeOf(next_);
  const int64_t per_second = clock_.events_per_second;
  remainder_ = static_cast<int64_t>((static_cast<__int128>(next_) * 1000) % per_second);
  time_step_ = step_ * 1000 / per_second;
  remainder_step_ = step_ * 1000 % per_second;
  paced_ = pacer_ != nullptr && pacer_->paced();
  nanos_per_event_ = 1e9 / static_cast<double>(per_second);
  return Status::Ok();
}

Result<operators::SourceStatus> AdEventSource::Poll(int max_records) {
  if (next_ >= count_) return operators::SourceStatus::kEndOfInput;
  int64_t n = std::min<int64_t>(max_records, (count_ - next_ + step_ - 1) / step_);
  if (paced_) {
    // The last global index due now; this subtask's indices up to it may go.
    const int64_t elapsed = MonotonicNanos() - pacer_->Origin();
    const auto due = static_cast<int64_t>(static_cast<double>(elapsed) / nanos_per_event_);
    if (due < next_) return operators::SourceStatus::kNothingNow;
    n = std::min(n, (due - next_) / step_ + 1);
  }
  const AdEvent* events = events_->data();
  const size_t size = events_->size();
  const size_t slot_step = static_cast<size_t>(step_) % size;
  const int64_t per_second = clock_.events_per_second;
  // Locals, not members, in the loop: the virtual Collect would make the compiler store and
  // reload members around every call.
  size_t slot = slot_;
  int64_t time = time_;
  int64_t remainder = remainder_;
  operators::Output<AdEvent>* out = output();
  AdEvent event;
  for (int64_t k = 0; k < n; ++k) {
    // A replay buffer larger than L2 streams from memory: ask for the event a few records ahead
    // (128 bytes, two cache lines), non-temporally so that it does not evict the campaign table.
    const AdEvent* ahead = &events[slot + kPrefetchDistance * slot_step < size ? slot + kPrefetchDistance * slot_step
                                                                               : slot];
    __builtin_prefetch(ahead, 0, 0);
    __builtin_prefetch(reinterpret_cast<const char*>(ahead) + 64, 0, 0);
    event = events[slot];
    event.event_time = time;
    out->Collect(event, time);
    slot += slot_step;
    if (slot >= size) slot -= size;
    time += time_step_;
    remainder += remainder_step_;
    if (remainder >= per_second) {
      remainder -= per_second;
      ++time;
    }
  }
  slot_ = slot;
  time_ = time;
  remainder_ = remainder;
  next_ += n * step_;
  records_emitted_ += n;
  emitted_->fetch_add(n, std::memory_order_relaxed);
  // Flink's forMonotonousTimestamps watermark, the latest event time - 1, once per poll (at most
  // 1024 events; StreamBenchmarks' Flink source emits one every 1000 events).
  const int64_t watermark = event.event_time - 1;
  if (n > 0 && watermark > watermark_) {
    watermark_ = watermark;
    downstream_->EmitWatermark(watermark);
  }
  return operators::SourceStatus::kMoreAvailable;
}

void YsbResultTraits::Csv(std::string& out, const CampaignWindowCount& row) const {
  AppendUuid(out, row.campaign_id);
  fmt::format_to(std::back_inserter(out), ",{},{},{}", row.window_start, row.count, row.latest_event_time);
}

void BuildYsb(api::StreamExecutionEnvironment& env, const YsbConfig& config, const RunContext& context) {
  const Status valid = config.Validate(context.rate);
  WEIR_CHECK_MSG(valid.ok(), "{}", valid.ToString());

  EventClock clock{config.start_time_ms, config.events_per_second};
  std::shared_ptr<Pacer> pacer;
  if (context.rate > 0) {
    // Event time runs with the schedule: `rate` events per second of event time.
    clock.events_per_second = std::llround(context.rate);
    context.pacer->Pace(config.start_time_ms, 1'000'000);
    pacer = context.pacer;
  }
  auto table = std::make_shared<const CampaignTable>(config.campaigns, config.ads_per_campaign, context.seed);
  // Event i of the run is replay[i mod size]: a longer replay than the run would never be read.
  const int64_t replay = std::min(config.replay_events, std::max<int64_t>(config.events, 1));
  auto events = std::make_shared<const std::vector<AdEvent>>(GenerateAdEvents(*table, replay, clock, context.seed));

  const int64_t count = config.events;
  auto emitted = context.events_emitted;
  auto source = env.AddSource<AdEvent>("Source: YSB Ad Events", [events, count, clock, pacer, emitted](int) {
    return std::make_unique<AdEventSource>(events, count, clock, pacer, emitted);
  });

  const int64_t window_ms = config.window_ms;
  auto rows =
      source.Filter([](const AdEvent& event) { return event.event_type == EventType::kView; }, "Filter: views")
          .Map([](const AdEvent& event) { return AdView{event.ad_id, event.event_time}; },
               "Project: ad_id, event_time")
          .FlatMap(
              [table](const AdView& view, operators::Collector<CampaignView>& out) {
                if (const Uuid* campaign = table->CampaignOf(view.ad_id)) {
                  out.Collect(CampaignView{*campaign, view.event_time});
                }
              },
              "Join: ad -> campaign")
          .KeyBy([](const CampaignView& view) { return view.campaign_id; })
          .Window(api::TumblingEventTimeWindows::Of(std::chrono::milliseconds(window_ms)))
          .Aggregate(CountViews(), "Window: views per campaign")
          .Process<CampaignWindowCount>(
              [window_ms](const CampaignCount& result, auto& window_context,
                          operators::Collector<CampaignWindowCount>& out) {
                // A window result carries its window's max timestamp, end - 1.
                const int64_t window_start = window_context.timestamp() + 1 - window_ms;
                out.Collect({result.campaign_id, window_start, result.count, result.latest_event_time});
              },
              "Rows");
  const int64_t last_event_time = clock.TimeOf(std::max<int64_t>(count - 1, 0));
  EmitResults(rows, YsbResultTraits{window_ms, last_event_time}, context);
}

}  // namespace weir::harness::ysb
