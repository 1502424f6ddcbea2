#include "harness/ysb/ysb.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "api/stream_execution_environment.h"
#include "serde/codec.h"

namespace weir::harness::ysb {
namespace {

Configuration TestConfig(int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "64mb").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  EXPECT_TRUE(config.Set("pipeline.auto-watermark-interval", "10 ms").ok());
  return config;
}

std::string UuidText(const Uuid& id) {
  std::string out;
  AppendUuid(out, id);
  return out;
}

// --- The data.

TEST(YsbTest, EventHasLightSabersLayoutAndIsItsBytes) {
  EXPECT_EQ(sizeof(AdEvent), 128u);
  EXPECT_EQ(offsetof(AdEvent, event_time), 0u);
  EXPECT_EQ(offsetof(AdEvent, user_id), 16u);
  EXPECT_EQ(offsetof(AdEvent, page_id), 32u);
  EXPECT_EQ(offsetof(AdEvent, ad_id), 48u);
  EXPECT_EQ(offsetof(AdEvent, ad_type), 64u);
  EXPECT_EQ(offsetof(AdEvent, event_type), 72u);
  EXPECT_EQ(offsetof(AdEvent, ip_address), 80u);
  EXPECT_EQ(sizeof(Uuid), 16u);

  const CampaignTable table(3, 2, 5);
  const std::vector<AdEvent> events = GenerateAdEvents(table, 4, EventClock{1000, 1000}, 5);
  for (const AdEvent& event : events) {
    ASSERT_EQ(serde::Codec<AdEvent>::Size(event), 128u);
    std::byte bytes[128];
    serde::Codec<AdEvent>::Write(event, bytes);
    EXPECT_EQ(std::memcmp(bytes, &event, 128), 0);  // the codec is the struct's bytes
    const AdEvent read = serde::Codec<AdEvent>::Read(bytes);
    EXPECT_EQ(std::memcmp(&read, &event, 128), 0);
  }
}

TEST(YsbTest, UuidsPrintInCanonicalForm) {
  EXPECT_EQ(UuidText(Uuid{0x123e4567e89b12d3ULL, 0xa456426614174000ULL}), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(UuidText(Uuid{}), "00000000-0000-0000-0000-000000000000");
  // Generated ids are version-4 UUIDs of RFC 4122 variant.
  const CampaignTable table(10, 10, 1);
  for (const Uuid& id : table.ad_ids()) {
    const std::string text = UuidText(id);
    ASSERT_EQ(text.size(), 36u);
    EXPECT_EQ(text[14], '4') << text;
    EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;
  }
}

TEST(YsbTest, GeneratorIsDeterministicPerSeed) {
  const EventClock clock{0, 1000};
  const CampaignTable table_a(100, 10, 42);
  const CampaignTable table_b(100, 10, 42);
  EXPECT_EQ(table_a.ad_ids(), table_b.ad_ids());
  EXPECT_EQ(table_a.campaign_ids(), table_b.campaign_ids());
  const std::vector<AdEvent> a = GenerateAdEvents(table_a, 5000, clock, 42);
  const std::vector<AdEvent> b = GenerateAdEvents(table_b, 5000, clock, 42);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(AdEvent)), 0);
  // A shorter run is a prefix of a longer one (the replay buffer may be cut to the run).
  const std::vector<AdEvent> prefix = GenerateAdEvents(table_a, 100, clock, 42);
  EXPECT_EQ(std::memcmp(prefix.data(), a.data(), prefix.size() * sizeof(AdEvent)), 0);

  const CampaignTable table_c(100, 10, 43);
  EXPECT_NE(table_a.ad_ids(), table_c.ad_ids());
  const std::vector<AdEvent> c = GenerateAdEvents(table_a, 5000, clock, 43);
  EXPECT_NE(std::memcmp(a.data(), c.data(), a.size() * sizeof(AdEvent)), 0);
}

TEST(YsbTest, EventTypesAndAdTypesAreUniformAndTimesFollowTheClock) {
  const EventClock clock{1'000'000, 7'000};
  const CampaignTable table(100, 10, 3);
  constexpr int64_t kCount = 300'000;
  const std::vector<AdEvent> events = GenerateAdEvents(table, kCount, clock, 3);
  std::map<int64_t, int64_t> event_types;
  std::map<int64_t, int64_t> ad_types;
  std::map<Uuid, int64_t> per_ad;
  for (int64_t i = 0; i < kCount; ++i) {
    const AdEvent& event = events[i];
    ++event_types[static_cast<int64_t>(event.event_type)];
    ++ad_types[static_cast<int64_t>(event.ad_type)];
    ++per_ad[event.ad_id];
    ASSERT_EQ(event.event_time, 1'000'000 + i * 1000 / 7'000) << i;
    ASSERT_EQ(event.ip_address.high, 0u);
    ASSERT_EQ(event.ip_address.low >> 32, 0xFFFFu);  // ::ffff:a.b.c.d
  }
  // view, click, purchase: 1/3 each (yahoo's uniform choice; the references' proportion).
  ASSERT_EQ(event_types.size(), 3u);
  for (const auto& [type, n] : event_types) {
    EXPECT_GE(type, 0);
    EXPECT_LE(type, 2);
    EXPECT_NEAR(static_cast<double>(n) / kCount, 1.0 / 3, 0.01) << EventTypeName(static_cast<EventType>(type));
  }
  ASSERT_EQ(ad_types.size(), 5u);
  for (const auto& [type, n] : ad_types) {
    EXPECT_NEAR(static_cast<double>(n) / kCount, 1.0 / 5, 0.01) << AdTypeName(static_cast<AdType>(type));
  }
  // Every ad is drawn, each about as often.
  ASSERT_EQ(per_ad.size(), 1000u);
  for (const auto& [ad, n] : per_ad) EXPECT_NEAR(n, kCount / 1000, 90) << UuidText(ad);
  EXPECT_EQ(EventTypeName(EventType::kView), "view");
  EXPECT_EQ(AdTypeName(AdType::kSponsoredSearch), "sponsored-search");
}

TEST(YsbTest, AdIdsAreAllInTheCampaignTable) {
  const CampaignTable table(100, 10, 9);
  ASSERT_EQ(table.campaigns(), 100);
  ASSERT_EQ(table.ad_ids().size(), 1000u);
  // The table as a plain map: ad a belongs to campaign a / ads_per_campaign.
  std::map<Uuid, Uuid> campaign_of;
  for (size_t a = 0; a < table.ad_ids().size(); ++a) {
    campaign_of[table.ad_ids()[a]] = table.campaign_ids()[a / 10];
  }
  ASSERT_EQ(campaign_of.size(), 1000u);  // distinct ads
  EXPECT_EQ(std::set<Uuid>(table.campaign_ids().begin(), table.campaign_ids().end()).size(), 100u);
  for (const auto& [ad, campaign] : campaign_of) {
    const Uuid* found = table.CampaignOf(ad);
    ASSERT_NE(found, nullptr) << UuidText(ad);
    EXPECT_EQ(*found, campaign) << UuidText(ad);
  }
  const std::vector<AdEvent> events = GenerateAdEvents(table, 20'000, EventClock{0, 1000}, 9);
  for (const AdEvent& event : events) ASSERT_TRUE(campaign_of.contains(event.ad_id)) << UuidText(event.ad_id);
  // Ids that are not ads find nothing.
  EXPECT_EQ(table.CampaignOf(table.campaign_ids()[0]), nullptr);
  EXPECT_EQ(table.CampaignOf(events[0].user_id), nullptr);
  EXPECT_EQ(table.CampaignOf(Uuid{1, 2}), nullptr);
}

TEST(YsbTest, ConfigValidationNamesTheField) {
  EXPECT_TRUE(YsbConfig{}.Validate().ok());
  EXPECT_TRUE(YsbConfig{}.Validate(50'000).ok());
  YsbConfig config;
  config.campaigns = 0;
  EXPECT_NE(config.Validate().message().find("campaigns"), std::string_view::npos);
  config = YsbConfig{};
  config.events = -1;
  EXPECT_NE(config.Validate().message().find("events"), std::string_view::npos);
  config = YsbConfig{};
  config.replay_events = 0;
  EXPECT_NE(config.Validate().message().find("replay_events"), std::string_view::npos);
  config = YsbConfig{};
  config.window_ms = 0;
  EXPECT_NE(config.Validate().message().find("window_ms"), std::string_view::npos);
  EXPECT_NE(YsbConfig{}.Validate(0.5).message().find("rate"), std::string_view::npos);
  EXPECT_NE(YsbConfig{}.Validate(-3).message().find("rate"), std::string_view::npos);
}

// --- The whole job against a brute-force recomputation over the same events.

struct WindowResult {
  int64_t count = 0;
  int64_t latest_event_time = 0;
  bool operator==(const WindowResult&) const = default;
};
using ResultTable = std::map<std::pair<std::string, int64_t>, WindowResult>;  // (campaign, window start)

// Every event of the run, with the replay passes and their advanced times, filtered, joined through
// a plain map and counted per campaign and window.
ResultTable BruteForce(const YsbConfig& config, int64_t events_per_second, uint64_t seed) {
  const CampaignTable table(config.campaigns, config.ads_per_campaign, seed);
  std::map<Uuid, std::string> campaign_of;
  for (size_t a = 0; a < table.ad_ids().size(); ++a) {
    campaign_of[table.ad_ids()[a]] = UuidText(table.campaign_ids()[a / config.ads_per_campaign]);
  }
  const int64_t replay = std::min(config.replay_events, config.events);
  const std::vector<AdEvent> generated =
      GenerateAdEvents(table, replay, EventClock{config.start_time_ms, events_per_second}, seed);
  ResultTable expected;
  for (int64_t i = 0; i < config.events; ++i) {
    const AdEvent& event = generated[i % replay];
    const int64_t time = config.start_time_ms + i * 1000 / events_per_second;
    if (event.event_type != EventType::kView) continue;
    auto campaign = campaign_of.find(event.ad_id);
    if (campaign == campaign_of.end()) continue;
    const int64_t start = time - ((time % config.window_ms) + config.window_ms) % config.window_ms;
    WindowResult& result = expected[{campaign->second, start}];
    ++result.count;
    result.latest_event_time = std::max(result.latest_event_time, time);
  }
  return expected;
}

ResultTable ParseRows(const std::string& csv) {
  ResultTable rows;
  std::istringstream lines(csv);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string campaign, start, count, latest;
    EXPECT_TRUE(std::getline(fields, campaign, ',') && std::getline(fields, start, ',') &&
                std::getline(fields, count, ',') && std::getline(fields, latest))
        << line;
    const auto key = std::make_pair(campaign, std::stoll(start));
    EXPECT_FALSE(rows.contains(key)) << "window emitted twice: " << line;
    rows[key] = WindowResult{std::stoll(count), std::stoll(latest)};
  }
  return rows;
}

YsbConfig SmallConfig() {
  YsbConfig config;
  config.events = 200'001;  // odd: the two source subtasks emit different counts
  config.replay_events = 7'777;  // 25.7 passes, none aligned with a window
  config.events_per_second = 5'000;  // 40 s of event time: four 10 s windows
  config.start_time_ms = 1'700'000'003'000;  // not on a window boundary
  return config;
}

class YsbJobTest : public ::testing::TestWithParam<int> {};

TEST_P(YsbJobTest, WindowCountsMatchABruteForceRecomputation) {
  const YsbConfig config = SmallConfig();
  RunContext context;
  context.seed = 17;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env(TestConfig(GetParam()));
  BuildYsb(env, config, context);
  auto job = env.Execute("YSB");
  ASSERT_TRUE(job.ok()) << job.status().ToString();

  const ResultTable expected = BruteForce(config, config.events_per_second, context.seed);
  ASSERT_EQ(expected.size(), 500u);  // 100 campaigns x 5 windows (the first and last are partial)
  const ResultTable actual = ParseRows(context.results->Csv());
  EXPECT_EQ(context.results->rows(), static_cast<int64_t>(expected.size()));
  EXPECT_EQ(actual.size(), expected.size());
  for (const auto& [key, result] : expected) {
    auto found = actual.find(key);
    ASSERT_NE(found, actual.end()) << key.first << " window " << key.second;
    EXPECT_EQ(found->second.count, result.count) << key.first << " window " << key.second;
    EXPECT_EQ(found->second.latest_event_time, result.latest_event_time) << key.first << " window " << key.second;
  }
  EXPECT_EQ(context.events_emitted->load(), config.events);
  EXPECT_EQ(job->records_in, config.events);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, YsbJobTest, ::testing::Values(1, 2));

TEST(YsbTest, PacedRunFollowsTheRateAndRecordsLatencies) {
  YsbConfig config;
  config.events = 30'000;
  config.replay_events = 4'096;
  config.window_ms = 250;  // several windows fire during the 1.5 s run
  RunContext context;
  context.seed = 5;
  context.rate = 20'000;
  context.results = std::make_shared<ResultCollector>(
      ResultCollector::Options{.keep_rows = true, .measure_latency = true});
  api::StreamExecutionEnvironment env(TestConfig(2));
  BuildYsb(env, config, context);
  ASSERT_TRUE(context.pacer->paced());
  EXPECT_EQ(context.pacer->base_event_time(), config.start_time_ms);
  EXPECT_EQ(context.pacer->unit_nanos(), 1'000'000);
  auto job = env.Execute("YSB paced");
  ASSERT_TRUE(job.ok()) << job.status().ToString();

  // 30 000 events at 20 000/s take 1.5 s: the source waited for their due instants.
  EXPECT_GE(job->seconds, 1.4);
  // Event time runs at the rate: the counts are those of 20 000 events per second of event time.
  const ResultTable expected = BruteForce(config, 20'000, context.seed);
  EXPECT_EQ(ParseRows(context.results->Csv()), expected);
  const LatencyHistogram latency = context.results->MergedLatency();
  EXPECT_EQ(latency.count(), static_cast<int64_t>(expected.size()));
  // A window is emitted after its end is due (latency >= 0) and, with watermarks every 10 ms,
  // within seconds of it even on a loaded machine.
  EXPECT_GE(latency.min(), 0);
  EXPECT_LT(latency.max(), 3'000'000'000);
}

}  // namespace
}  // namespace weir::harness::ysb
