// The Yahoo Streaming Benchmark (YSB) workload of `weir bench`: ad events are filtered to views,
// projected, joined with a static ad -> campaign table, and counted per campaign in 10 s
// event-time tumbling windows -- the query of yahoo/streaming-benchmarks, with the data layout
// and the in-memory generation of the native-engine versions (LightSaber's YahooBenchmark,
// WindFlow's YSB in ParaGroup/StreamBenchmarks), so throughputs compare.
//
// Data (LightSaber's 128-byte InputSchema_128, ids as 16-byte values):
// * A static table of `campaigns` campaigns with `ads_per_campaign` ads each (100 x 10 in every
//   reference). Campaign and ad ids are random version-4 UUIDs, as yahoo's generator makes them.
// * Ad events (AdEvent, 128 bytes, trivially copyable: records are their bytes): user_id, page_id
//   (random UUIDs), ad_id (an ad of the table), ad_type (banner, modal, sponsored-search, mail,
//   mobile), event_type (view, click, purchase), event_time (ms), ip_address. As in yahoo's
//   generator, the ad, the ad type and the event type are drawn uniformly, so views are 1/3 of
//   the events (the proportion of all references; LightSaber and WindFlow cycle through them).
// * Like LightSaber, the source replays `replay_events` events generated once into
//   memory: event i of the run is replay[i mod replay_events] with its event_time set to
//   EventClock::TimeOf(i) = start_time_ms + floor(i * 1000 / events_per_second), so every pass
//   is fresh event time and the figure measures the engine, not a random-number generator.
//   Source subtask s of p emits the events i = s, s + p, s + 2p, ... (round robin, so every
//   subtask covers the same event time and each one's events are in event-time order).
//
// The job (each step what yahoo's Flink topology does):
//   source -> filter event_type == view -> project (ad_id, event_time)
//          -> join ad_id -> campaign_id (a lookup in the static table captured by the function,
//             an inner join: an unknown ad is dropped)
//          -> keyBy campaign_id -> 10 s event-time tumbling window: count and latest event time
//             (LightSaber's cnt and max(timestamp), WindFlow's count and lastUpdate)
//          -> (campaign_id, window_start, count, latest_event_time) rows -> EmitResults.
// The window start is what yahoo's campaign processor writes as the window's time bucket.
//
// Event time and watermarks: event time in milliseconds. Each source subtask emits in event-time
// order, so its watermark is Flink's forMonotonousTimestamps (bounded out-of-orderness 0:
// watermark = latest event time - 1), emitted by the source after each poll (the runtime polls
// up to 1024 events at a time). That is StreamBenchmarks' Flink source (a watermark every 1000 events at the current
// timestamp) less the millisecond that keeps the events sharing the watermark's millisecond on
// time. Events behind the watermark would be dropped as Flink drops them (no allowed lateness,
// no late side output); the generated stream has none.
//
// Paced runs (RunContext::rate > 0): events_per_second becomes the rate, so event time runs with
// the wall clock; event i is due at the run's origin + i / rate seconds and the source emits it
// then (never before the due instant of its event time). A row's latency is measured from the due
// instant of the event time at which the watermark passes its window's end: the window end, or
// the last event's time for the windows the end of input fires.
#pragma once

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "api/stream_execution_environment.h"
#include "base/status.h"
#include "harness/run_context.h"

namespace weir::harness::ysb {

// A 16-byte id (a UUID as two 64-bit halves, `high` holding its first eight bytes).
struct Uuid {
  uint64_t high = 0;
  uint64_t low = 0;
  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
};
// Appends the canonical text form, 8-4-4-4-12 lowercase hex digits.
void AppendUuid(std::string& out, const Uuid& id);

// The numbering LightSaber and WindFlow use (0 = view is what their filter keeps).
enum class EventType : int64_t { kView = 0, kClick = 1, kPurchase = 2 };
enum class AdType : int64_t { kBanner = 0, kModal = 1, kSponsoredSearch = 2, kMail = 3, kMobile = 4 };
inline constexpr int kEventTypes = 3;
inline constexpr int kAdTypes = 5;
// yahoo's names: "view", "click", "purchase"; "banner", "modal", "sponsored-search", "mail", "mobile".
std::string_view EventTypeName(EventType type);
std::string_view AdTypeName(AdType type);

// One ad event, laid out as LightSaber's InputSchema_128 (timestamp, padding, user_id, page_id,
// ad_id, ad_type, event_type, ip_address, 32 bytes of padding).
struct AdEvent {
  int64_t event_time = 0;  // ms
  int64_t padding_0 = 0;
  Uuid user_id;
  Uuid page_id;
  Uuid ad_id;
  AdType ad_type = AdType::kBanner;
  EventType event_type = EventType::kView;
  Uuid ip_address;  // an IPv4 address mapped into IPv6 (::ffff:a.b.c.d)
  uint64_t padding_1[4] = {};
};
static_assert(sizeof(AdEvent) == 128);
static_assert(std::is_trivially_copyable_v<AdEvent>);

// What the projection keeps of a view, and what the join makes of it.
struct AdView {
  Uuid ad_id;
  int64_t event_time = 0;
};
struct CampaignView {
  Uuid campaign_id;
  int64_t event_time = 0;
};

// A window's aggregate of one campaign (the accumulator and result of CountViews).
struct CampaignCount {
  Uuid campaign_id;
  int64_t count = 0;
  int64_t latest_event_time = 0;
};

// The campaign table indexes campaigns with 16 bits.
inline constexpr int kMaxCampaigns = 65'535;

// A result row.
struct CampaignWindowCount {
  Uuid campaign_id;
  int64_t window_start = 0;  // ms; the window is [window_start, window_start + window_ms)
  int64_t count = 0;         // views of the campaign's ads in the window
  int64_t latest_event_time = 0;
};

struct YsbConfig {
  int64_t events = 100'000'000;  // events of the run (--events)
  int campaigns = 100;
  int ads_per_campaign = 10;
  // Events generated once and replayed: 512 KB, which stays in L2 beside the campaign table, as
  // LightSaber's replayed in-memory bundle does (its default BUNDLE_SIZE is 128 KB, 1024 events).
  int64_t replay_events = 4096;
  // Event-time density of unpaced runs: event i has time start_time_ms + i * 1000 /
  // events_per_second (1000 events per millisecond, LightSaber's idx / 1000). A paced run uses its
  // rate instead.
  int64_t events_per_second = 1'000'000;
  int64_t start_time_ms = 1'700'000'000'000;  // event time of event 0 (a window boundary)
  int64_t window_ms = 10'000;                 // YSB's 10 s tumbling windows

  // InvalidArgument naming the field when a value is out of range (every count and size must be
  // positive, events >= 0, campaigns <= kMaxCampaigns, campaigns * ads_per_campaign <= 1 << 24),
  // or when `rate` (the run's RunContext::rate) is neither 0 nor at least 1 event per second.
  [[nodiscard]] Status Validate(double rate = 0) const;
};

// Event i of the run has event time start_ms + floor(i * 1000 / events_per_second).
struct EventClock {
  int64_t start_ms = 0;
  int64_t events_per_second = 1;
  int64_t TimeOf(int64_t index) const {
    return start_ms + static_cast<int64_t>(static_cast<__int128>(index) * 1000 / events_per_second);
  }
};

// The static ad -> campaign table (yahoo's Redis table, kept in memory as every native reference
// keeps it). Immutable after construction; shared read-only by all subtasks.
class CampaignTable {
 public:
  // `campaigns` campaigns of `ads_per_campaign` ads, ids drawn from `seed`. REQUIRES: both
  // positive, campaigns <= kMaxCampaigns.
  CampaignTable(int campaigns, int ads_per_campaign, uint64_t seed);

  // The campaign of `ad`, or nullptr when the table has no such ad. An open-addressing probe over
  // the ad ids alone (16 bytes a slot, load <= 1/2: 32 KB for YSB's 1000 ads, so the table stays
  // in L1/L2 beside the event stream); the slot's campaign is a 2-byte index.
  const Uuid* CampaignOf(const Uuid& ad) const {
    size_t slot = static_cast<size_t>(ad.low) & mask_;
    while (true) {
      const Uuid& key = slot_ads_[slot];
      if (key == ad) return &campaign_ids_[slot_campaigns_[slot]];
      if (key == Uuid{}) return nullptr;  // an empty slot: random v4 UUIDs are never zero
      slot = (slot + 1) & mask_;
    }
  }

  int campaigns() const { return static_cast<int>(campaign_ids_.size()); }
  int ads_per_campaign() const { return ads_per_campaign_; }
  // Ad a belongs to campaign a / ads_per_campaign().
  const std::vector<Uuid>& ad_ids() const { return ad_ids_; }
  const std::vector<Uuid>& campaign_ids() const { return campaign_ids_; }

 private:
  int ads_per_campaign_;
  std::vector<Uuid> ad_ids_;
  std::vector<Uuid> campaign_ids_;
  std::vector<Uuid> slot_ads_;            // zero = empty
  std::vector<uint16_t> slot_campaigns_;  // index into campaign_ids_
  size_t mask_ = 0;
};

// `count` ad events over the ads of `table`, drawn from `seed` (the same events for the same
// table, count and seed); event j has event time clock.TimeOf(j).
std::vector<AdEvent> GenerateAdEvents(const CampaignTable& table, int64_t count, const EventClock& clock,
                                      uint64_t seed);

// The source: replays `events` (see the file comment) until `count` events are emitted, split
// round robin over its subtasks. With a pacer that is paced, event i is emitted no earlier than
// pacer.Origin() + i * 1e9 / clock.events_per_second ns; a subtask that is ahead returns
// kNothingNow. Adds the events of each poll to *emitted (relaxed). Records carry their event time
// as timestamp; after each poll the source emits the watermark latest event time - 1.
class AdEventSource final : public operators::SourceOperator<AdEvent> {
 public:
  AdEventSource(std::shared_ptr<const std::vector<AdEvent>> events, int64_t count, EventClock clock,
                std::shared_ptr<Pacer> pacer, std::shared_ptr<std::atomic<int64_t>> emitted);

  Status Open(operators::OperatorContext* context) override;
  Result<operators::SourceStatus> Poll(int max_records) override;

 private:
  std::shared_ptr<const std::vector<AdEvent>> events_;
  int64_t count_;
  EventClock clock_;
  std::shared_ptr<Pacer> pacer_;
  std::shared_ptr<std::atomic<int64_t>> emitted_;
  bool paced_ = false;
  double nanos_per_event_ = 0;
  int64_t step_ = 1;    // the source's parallelism
  int64_t next_ = 0;    // the next global event index this subtask emits
  size_t slot_ = 0;     // next_ mod the replay size
  int64_t time_ = 0;    // clock_.TimeOf(next_), advanced incrementally:
  int64_t time_step_ = 0;       // floor(step * 1000 / events_per_second)
  int64_t remainder_ = 0;       // (next_ * 1000) mod events_per_second
  int64_t remainder_step_ = 0;  // (step * 1000) mod events_per_second
  Timestamp watermark_ = kMinTimestamp;  // the last watermark emitted
};

// The window's AggregateFunction: a count and the latest event time per campaign. Order
// insensitive (sum and max), so the slicing fast path of tumbling windows runs it.
struct CountViews {
  static constexpr bool kOrderInsensitive = true;
  CampaignCount CreateAccumulator() const { return {}; }
  void Add(const CampaignView& view, CampaignCount& accumulator) const {
    accumulator.campaign_id = view.campaign_id;
    ++accumulator.count;
    if (accumulator.count == 1 || view.event_time > accumulator.latest_event_time) {
      accumulator.latest_event_time = view.event_time;
    }
  }
  CampaignCount Merge(const CampaignCount& a, const CampaignCount& b) const {
    if (a.count == 0) return b;
    if (b.count == 0) return a;
    return {a.campaign_id, a.count + b.count, std::max(a.latest_event_time, b.latest_event_time)};
  }
  CampaignCount GetResult(const CampaignCount& accumulator) const { return accumulator; }
};

// How EmitResults sees the rows: CSV `campaign_id,window_start,count,latest_event_time` (the id
// as a UUID), latency anchored at min(window end, the run's last event time).
struct YsbResultTraits {
  static constexpr bool kUpdating = false;
  int64_t window_ms = 10'000;
  int64_t last_event_time = 0;
  void Csv(std::string& out, const CampaignWindowCount& row) const;
  int64_t DueEventTime(const CampaignWindowCount& row) const {
    return std::min(row.window_start + window_ms, last_event_time);
  }
};

// Adds the YSB job to `env` (see the file comment). With context.rate > 0 it calls
// context.pacer->Pace(start_time_ms, 1 ms) and paces its source; it adds the emitted events to
// *context.events_emitted. Ids and events are drawn from context.seed. REQUIRES:
// config.Validate(context.rate) is ok (callers validate their flags with it first; CHECKed).
void BuildYsb(api::StreamExecutionEnvironment& env, const YsbConfig& config, const RunContext& context);

}  // namespace weir::harness::ysb
