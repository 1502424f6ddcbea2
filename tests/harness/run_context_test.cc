#include "harness/run_context.h"

#include <gtest/gtest.h>

#include "api/stream_execution_environment.h"
#include "harness/nexmark/model.h"

namespace weir::harness {
namespace {

struct PairTraits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const std::pair<int64_t, int64_t>& row) const {
    out += std::to_string(row.first) + "," + std::to_string(row.second);
  }
  int64_t DueEventTime(const std::pair<int64_t, int64_t>& row) const { return row.first; }
};

struct UpsertTraits {
  static constexpr bool kUpdating = true;
  void Csv(std::string& out, const std::pair<int64_t, int64_t>& row) const {
    out += std::to_string(row.first) + "," + std::to_string(row.second);
  }
  int64_t DueEventTime(const std::pair<int64_t, int64_t>& row) const { return 0; }
  void Key(std::string& out, const std::pair<int64_t, int64_t>& row) const { out += std::to_string(row.first); }
};

TEST(RunContextTest, ResultSinkKeepsRowsInOrderAndCounts) {
  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env;
  env.SetParallelism(2);
  std::vector<std::pair<int64_t, int64_t>> rows;
  for (int64_t i = 0; i < 1000; ++i) rows.emplace_back(i, i * i);
  EmitResults(env.FromCollection(rows), PairTraits{}, context);
  ASSERT_TRUE(env.Execute("results").ok());
  EXPECT_EQ(context.results->rows(), 1000);
  std::string expected;
  for (const auto& [a, b] : rows) expected += std::to_string(a) + "," + std::to_string(b) + "\n";
  EXPECT_EQ(context.results->Csv(), expected);
}

TEST(RunContextTest, UpdatingResultsKeepTheLastRowPerKey) {
  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env;
  std::vector<std::pair<int64_t, int64_t>> rows;
  for (int64_t i = 0; i < 100; ++i) rows.emplace_back(i % 7, i);
  EmitResults(env.FromCollection(rows), UpsertTraits{}, context);
  ASSERT_TRUE(env.Execute("upserts").ok());
  std::map<std::string, std::string> last;
  for (const auto& [k, v] : rows) last[std::to_string(k)] = std::to_string(k) + "," + std::to_string(v) + "\n";
  std::string expected;
  for (const auto& [k, line] : last) expected += line;
  EXPECT_EQ(context.results->Csv(), expected);
}

TEST(RunContextTest, PacerDueTimesFollowEventTime) {
  Pacer pacer(1000, 1'000'000);
  const int64_t origin = pacer.Origin();
  EXPECT_EQ(pacer.Origin(), origin);
  EXPECT_EQ(pacer.DueNanos(1000), origin);
  EXPECT_EQ(pacer.DueNanos(1003), origin + 3'000'000);
  EXPECT_FALSE(Pacer().paced());
}

TEST(RunContextTest, NexmarkEventCodecRoundTrips) {
  using namespace nexmark;
  Event bid;
  bid.type = EventType::kBid;
  bid.bid = Bid{.auction = 1000, .bidder = 1001, .price = 42, .channel = "Google", .url = "https://x/y",
                .date_time = 1'500'000'000'000, .extra = "pad"};
  Event person;
  person.type = EventType::kPerson;
  person.person = Person{.id = 7, .name = "Peter Smith", .email_address = "p@x", .credit_card = "1234",
                         .city = "Phoenix", .state = "AZ", .date_time = 5, .extra = ""};
  Event auction;
  auction.type = EventType::kAuction;
  auction.auction = Auction{.id = 9, .item_name = "item", .description = "desc", .initial_bid = 1, .reserve = 2,
                            .date_time = 3, .expires = 4, .seller = 5, .category = 10, .extra = "e"};
  for (const Event& event : {bid, person, auction}) {
    std::vector<std::byte> bytes(serde::Codec<Event>::Size(event));
    serde::Codec<Event>::Write(event, bytes.data());
    const Event back = serde::Codec<Event>::Read(bytes.data());
    ASSERT_EQ(back.type, event.type);
    EXPECT_EQ(back.date_time(), event.date_time());
    EXPECT_EQ(back.bid.url, event.bid.url);
    EXPECT_EQ(back.bid.price, event.bid.price);
    EXPECT_EQ(back.person.city, event.person.city);
    EXPECT_EQ(back.person.extra, event.person.extra);
    EXPECT_EQ(back.auction.category, event.auction.category);
    EXPECT_EQ(back.auction.description, event.auction.description);
  }
}

}  // namespace
}  // namespace weir::harness
