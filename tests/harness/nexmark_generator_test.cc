#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/nexmark/event_csv.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/java_random.h"

namespace weir::harness::nexmark {
namespace {

// Values printed by the JDK (OpenJDK 17) for java.util.Random with these seeds.
TEST(JavaRandomTest, MatchesTheJdk) {
  EXPECT_EQ(JavaRandom(42).NextInt(10), 0);
  EXPECT_EQ(JavaRandom(42).NextInt(100), 30);
  EXPECT_EQ(JavaRandom(0).NextLong(), -4962768465676381896);
  EXPECT_EQ(JavaRandom(-1).NextLong(), 4961115982468162243);
  EXPECT_EQ(JavaRandom(0).NextInt(), -1155484576);
  EXPECT_EQ(JavaRandom(42).NextInt(), -1170105035);
  EXPECT_EQ(JavaRandom(0).NextDouble(), 0.730967787376657);

  JavaRandom random(123456789);
  for (int32_t expected : {426010958, 639209593, 981296483, 547328344, 838606290}) {
    EXPECT_EQ(random.NextInt(1'000'000'007), expected);
  }
  for (int32_t expected : {227117, 936736, 446158}) EXPECT_EQ(random.NextInt(1 << 20), expected);
  // A bound just above 2^30 rejects about half of the draws (those in the partial last range).
  JavaRandom rejecting(7);
  for (int32_t expected : {20678044, 747989380, 1053566254, 755731200, 259278708, 542588911}) {
    EXPECT_EQ(rejecting.NextInt(INT32_MAX / 2 + 2), expected);
  }
}

// Whole events of nexmark's own generator classes: nexmark-flink HEAD's generator and model
// packages run in the JVM with default options, first-event.rate as given, baseTime
// 2015-07-15T00:00:00Z, and firstEventId 1 and firstEventNumber 1 as its table source sets them,
// with two changes that make them reproducible: a java.util.Random seeded with the event id per
// event, as nexmark-flink's first release did, and the class-loading tables drawn from
// new Random(0) (StringsGenerator) and new Random(0x6269645f75726c73L) (BidGenerator), as
// generator.h does for seed 0. Printed in the event-file format.
struct Reference {
  int64_t event_number;
  double rate;
  std::string line;
};

std::vector<Reference> JavaReferences() {
  return {
      {0, 10'000'000,
       R"nx(1,1001,z ck w,cwlachrnkfzkygsu edjytotggvasbt z yjjszhhsqtrgzblkaolzkhlldqedvgj fdbvswem)nx"
       R"nx(nzshmwipqrzqfkd,25626290,28805847,2015-07-15 00:00:00.000,2015-07-15 00:00:00.001,1000,1)nx"
       R"nx(2,OP[OZSIO\TLPUKTM_^`TML\N`NaJPN`MSjcecvhHRIK[RvzrgvzJJUJMIeuceluybhodvZOXM`]lolqlrbvfyz)nx"
       R"nx(mhcotiffktdgrXLXQRQmaaevb`V_^KQcmwfzeL_IUQKimjlzwdsfjpsUMZ[WaYJ`U`KxfptvltilxaoxaxwijMXR)nx"
       R"nx(QRMtmbizvWHOKZ]awlyvmHN_]ZLebaneuquhljjHOWJHHprgwzuqqylfsukrmkxNYS]YRQUIHIRtwcajnMT_WITf)nx"
       R"nx(qysnwjloyzibaesqj^^Ma]OOZLTH\IT`MaTzjllepMRILM[KW]Q]Ukora)nx"},
      {2, 10'000'000,
       R"nx(2,1000,2001,32530001,Google,https://www.nexmark.com/kspv/rwx/cep/item.htm?query=1,2015-0)nx"
       R"nx(7-15 00:00:00.000,X[eucegzxsrzeonwuylmvgmxasW\`W]MhqvpkfgypqjoJHK`H`XKI[[Rz)nx"},
      {48, 10'000'000,
       R"nx(0,1001,Sarah Smith,f  y@yumv.com,0892 2755 1923 0591,Los Angeles,ID,2015-07-15 00:00:00.)nx"
       R"nx(000,`RST_^KaHTMLXH_ceknqovsvzbgapncqkQ[H]N]QPZWKQRXXQaMOVNZWSgsipamVRa[N_IUPZL]LR\]LLNWL)nx"
       R"nx(NXKNOVZ]Zagjthoqmbrhq`W]XOQRLYYS[jbqivsa^RYMWZY^QVJRNWTTKMSS[[J\JXI_O)nx"},
      {5, 10'000'000,
       R"nx(2,1000,2001,3126206,channel-6254,https://www.nexmark.com/cs_/bki/zxf/item.htm?query=1&ch)nx"
       R"nx(annel_id=1981284352,2015-07-15 00:00:00.000,OSXZ\HU\L]UKSQ_JJIQXWsxbgwjJM^`SZzpzvlqkmxgq)nx"
       R"nx(sKL[`\IgfmwngN[VWRI^\K)nx"},
      {51, 7,
       R"nx(1,1005,gcl jljnudyemsv,dfjf ddfqjrfwrqpyses vmkjjhdibzzrjzcfgqvy brnoyj ewhzmwyxgw  uyak)nx"
       R"nx(wdsuslpfgs jkrcstz,6394586,27912448,2015-07-15 00:00:07.428,2015-07-15 00:04:31.297,1000)nx"
       R"nx(,12,drumUSVO^JtilmkeknltfvsfvjuhwlipgjQK`a^IKW\KH]SIVZJ^JIT]ZPONJT^asyposj_WQR[NnbnxosLL)nx"
       R"nx(YIaUpqiborhcalzpkbxkvmnsijkqqlzfleWRQH[HJaW\]QcrpemiiujvxwTP_MPThvcmbyTKIUZIhzngytNJN_ZL)nx"
       R"nx(kplbwxsxyugxxpxpclypiquhTY\WSTaUTPPQKL^J]WK]K]]HvhlpfaooczmeaPSQITN`_^L`xqkfiouzbkmlhxfa)nx"
       R"nx(izhnmavogasryaNIRY[Wsbxxbypijhrllliqamenyeftuqvomslttxslqrdvgkmyccrfvxgewjuihrqt^[U\LNiv)nx"
       R"nx(mqlhtkb)nx"},
  };
}

TEST(NexmarkGeneratorTest, SeedZeroMatchesNexmarksSeededGenerator) {
  for (const Reference& reference : JavaReferences()) {
    GeneratorConfig config;
    config.first_event_rate = reference.rate;
    NexmarkGenerator generator(config);
    std::string line;
    AppendEventCsv(line, generator.Generate(reference.event_number));
    EXPECT_EQ(line, reference.line) << "event " << reference.event_number;
  }
}

std::string Line(const Event& event) {
  std::string line;
  AppendEventCsv(line, event);
  return line;
}

TEST(NexmarkGeneratorTest, EventsArePureFunctionsOfTheirNumberAndSeed) {
  GeneratorConfig config;
  config.seed = 17;
  NexmarkGenerator sequential(config);
  std::vector<std::string> lines;
  for (int64_t n = 0; n < 2000; ++n) lines.push_back(Line(sequential.Generate(n)));
  // Another generator, visiting the numbers in another order, gives the same events.
  NexmarkGenerator shuffled(config);
  for (int64_t i = 0; i < 2000; ++i) {
    const int64_t n = (i * 7919) % 2000;
    EXPECT_EQ(Line(shuffled.Generate(n)), lines[static_cast<size_t>(n)]);
  }
  // Other seeds give other events, of the same kinds at the same times.
  for (uint64_t seed : {0u, 18u}) {
    config.seed = seed;
    NexmarkGenerator other(config);
    int differing = 0;
    for (int64_t n = 0; n < 2000; ++n) {
      const std::string line = Line(other.Generate(n));
      EXPECT_EQ(line.substr(0, 1), lines[static_cast<size_t>(n)].substr(0, 1));
      if (line != lines[static_cast<size_t>(n)]) ++differing;
    }
    EXPECT_GT(differing, 1990) << "seed " << seed;
  }
}

TEST(NexmarkGeneratorTest, EveryFiftyConsecutiveEventsHoldOnePersonThreeAuctionsFortySixBids) {
  GeneratorConfig config;
  NexmarkGenerator generator(config);
  std::vector<EventType> types;
  for (int64_t n = 0; n < 5000; ++n) types.push_back(generator.Generate(n).type);
  for (size_t start = 0; start + 50 <= types.size(); start += 7) {
    std::map<EventType, int> counts;
    for (size_t i = start; i < start + 50; ++i) ++counts[types[i]];
    EXPECT_EQ(counts[EventType::kPerson], 1) << start;
    EXPECT_EQ(counts[EventType::kAuction], 3) << start;
    EXPECT_EQ(counts[EventType::kBid], 46) << start;
  }
  // Other proportions: 2:5:13 in every 20 events.
  config.person_proportion = 2;
  config.auction_proportion = 5;
  config.bid_proportion = 13;
  NexmarkGenerator custom(config);
  std::map<EventType, int> counts;
  for (int64_t n = 101; n < 121; ++n) ++counts[custom.Generate(n).type];
  EXPECT_EQ(counts[EventType::kPerson], 2);
  EXPECT_EQ(counts[EventType::kAuction], 5);
  EXPECT_EQ(counts[EventType::kBid], 13);
}

// The base-0 id of the first of the latest block of 100, as an id.
int64_t HotId(int64_t newest_id) { return 1000 + (newest_id - 1000) / 100 * 100; }

// Walks a long stream and checks every id against the people and auctions generated before it.
TEST(NexmarkGeneratorTest, IdsFollowNexmarksRules) {
  GeneratorConfig config;
  NexmarkGenerator generator(config);
  int64_t last_person = -1;
  int64_t last_auction = -1;
  int64_t bids = 0, hot_auction_bids = 0, hot_bidder_bids = 0, auctions = 0,
          hot_seller_auctions = 0;
  int64_t bids_for_existing_auctions = 0;
  std::set<int64_t> categories;
  for (int64_t n = 0; n < 1'000'000; ++n) {
    const Event& event = generator.Generate(n);
    // The newest person id: event id 50k is person 1000 + k, whether or not the stream holds it
    // (the stream starts at event id 2, so person 1000 is named but never generated, as in
    // nexmark).
    const int64_t newest_person = 1000 + generator.EventIdOf(n) / 50;
    switch (event.type) {
      case EventType::kPerson:
        ASSERT_EQ(event.person.id, last_person < 0 ? 1001 : last_person + 1);
        ASSERT_EQ(event.person.id, newest_person);
        last_person = event.person.id;
        break;
      case EventType::kAuction: {
        const Auction& a = event.auction;
        ASSERT_EQ(a.id, last_auction < 0 ? 1001 : last_auction + 1);
        last_auction = a.id;
        ++auctions;
        if (a.seller == HotId(newest_person)) ++hot_seller_auctions;
        // Active people are the last 1000, plus up to 10 ids ahead.
        EXPECT_LE(a.seller, newest_person + 10);
        EXPECT_GE(a.seller, std::max<int64_t>(1000, newest_person - 1000));
        categories.insert(a.category);
        break;
      }
      case EventType::kBid: {
        const Bid& b = event.bid;
        ++bids;
        if (b.auction == HotId(last_auction)) ++hot_auction_bids;
        if (b.auction <= last_auction) ++bids_for_existing_auctions;
        // In-flight auctions are the last 100, plus up to 10 ids ahead.
        EXPECT_LE(b.auction, last_auction + 10);
        EXPECT_GE(b.auction, std::max<int64_t>(1000, last_auction - 100));
        // nexmark adds FIRST_PERSON_ID twice to a bidder; the hot bidder is the block's second.
        const int64_t bidder = b.bidder - 1000;
        if (bidder == HotId(newest_person) + 1) ++hot_bidder_bids;
        EXPECT_LE(bidder, newest_person + 10);
        EXPECT_GE(bidder, std::max<int64_t>(1000, newest_person - 1000));
        break;
      }
    }
  }
  EXPECT_EQ(categories, (std::set<int64_t>{10, 11, 12, 13, 14}));
  // Hot with probability 1 - 1/ratio (ratios 2, 4, 4), plus the chance of a random pick landing
  // on the hot one.
  EXPECT_NEAR(static_cast<double>(hot_auction_bids) / bids, 0.5, 0.02);
  EXPECT_NEAR(static_cast<double>(hot_bidder_bids) / bids, 0.75, 0.02);
  EXPECT_NEAR(static_cast<double>(hot_seller_auctions) / auctions, 0.75, 0.02);
  // Only random picks among the 10 leads name auctions not generated yet.
  EXPECT_GT(static_cast<double>(bids_for_existing_auctions) / bids, 0.95);
}

TEST(NexmarkGeneratorTest, DateTimesFollowTheInterEventDelay) {
  // dateTime(n) = base + floor((n + 1) * (1e6 / rate) / 1000) ms, here in exact integer arithmetic:
  // the same for rates whose delay is exact in binary or, as 0.1 us, rounded up.
  for (int64_t rate : {1'000, 4'000, 10'000'000, 1'000'000, 7}) {
    GeneratorConfig config;
    config.first_event_rate = static_cast<double>(rate);
    NexmarkGenerator generator(config);
    for (int64_t n = 0; n < 300'000; n += (n < 1000 ? 1 : 997)) {
      const int64_t expected = config.base_time + (n + 1) * 1'000 / rate;
      ASSERT_EQ(generator.TimestampOf(n), expected) << "rate " << rate << " event " << n;
      ASSERT_EQ(generator.Generate(n).date_time(), expected);
    }
  }
}

TEST(NexmarkGeneratorTest, AuctionsExpireWithinTwiceTheInFlightHorizon) {
  GeneratorConfig config;
  config.first_event_rate = 1000;
  NexmarkGenerator generator(config);
  int64_t longest = 0;
  for (int64_t n = 0; n < 200'000; ++n) {
    const Event& event = generator.Generate(n);
    if (event.type != EventType::kAuction) continue;
    const Auction& a = event.auction;
    // The horizon: the dateTime of the event 100 * 50 / 3 = 1666 events ahead, 1 ms per event.
    const int64_t horizon = config.base_time + (n + 1 + 1666) - a.date_time;
    EXPECT_GE(a.expires, a.date_time + 1);
    EXPECT_LE(a.expires, a.date_time + 2 * horizon);
    longest = std::max(longest, a.expires - a.date_time);
    EXPECT_GE(a.initial_bid, 100);
    EXPECT_LE(a.initial_bid, 100'000'000);
    EXPECT_GE(a.reserve, a.initial_bid + 100);
  }
  EXPECT_GT(longest, 3000);
}

TEST(NexmarkGeneratorTest, AverageSizesAreNexmarksAverages) {
  GeneratorConfig config;
  NexmarkGenerator generator(config);
  std::map<EventType, double> total;
  std::map<EventType, int64_t> count;
  for (int64_t n = 0; n < 500'000; ++n) {
    const Event& event = generator.Generate(n);
    // Bytes as nexmark accounts them when it sizes `extra`.
    size_t bytes = 0;
    if (event.type == EventType::kPerson) {
      const Person& p = event.person;
      bytes = 8 + p.name.size() + p.email_address.size() + p.credit_card.size() + p.city.size() +
              p.state.size() + p.extra.size();
    } else if (event.type == EventType::kAuction) {
      const Auction& a = event.auction;
      bytes = 8 + a.item_name.size() + a.description.size() + 5 * 8 + a.extra.size();
    } else {
      bytes = 4 * 8 + event.bid.extra.size();
    }
    ASSERT_EQ(NexmarkByteSize(event), static_cast<int64_t>(bytes));
    total[event.type] += static_cast<double>(bytes);
    ++count[event.type];
  }
  // extra is uniform in [d - round(d / 5), d + round(d / 5)), so the mean is 1/2 byte short.
  EXPECT_NEAR(total[EventType::kPerson] / count[EventType::kPerson], 200, 2);
  EXPECT_NEAR(total[EventType::kAuction] / count[EventType::kAuction], 500, 5);
  EXPECT_NEAR(total[EventType::kBid] / count[EventType::kBid], 100, 1);

  config.avg_bid_byte_size = 1000;
  config.avg_person_byte_size = 10;  // less than the fields alone: no extra at all
  NexmarkGenerator bigger(config);
  double bid_bytes = 0;
  int64_t bids = 0;
  for (int64_t n = 0; n < 50'000; ++n) {
    const Event& event = bigger.Generate(n);
    if (event.type == EventType::kPerson) {
      EXPECT_TRUE(event.person.extra.empty());
    }
    if (event.type != EventType::kBid) continue;
    bid_bytes += static_cast<double>(NexmarkByteSize(event));
    ++bids;
  }
  EXPECT_NEAR(bid_bytes / static_cast<double>(bids), 1000, 10);
}

TEST(NexmarkGeneratorTest, StringsComeFromNexmarksLists) {
  GeneratorConfig config;
  NexmarkGenerator generator(config);
  const std::set<std::string_view> hot_channels = {"Google", "Facebook", "Baidu", "Apple"};
  const std::set<std::string_view> states = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  int64_t hot = 0, bids = 0;
  std::set<std::string> channels_seen;
  for (int64_t n = 0; n < 200'000; ++n) {
    const Event& event = generator.Generate(n);
    if (event.type == EventType::kPerson) {
      const Person& p = event.person;
      EXPECT_TRUE(states.count(p.state)) << p.state;
      EXPECT_EQ(p.credit_card.size(), 19u);
      EXPECT_EQ(p.email_address.substr(p.email_address.size() - 4), ".com");
      EXPECT_NE(p.email_address.find('@'), std::string_view::npos);
      EXPECT_NE(p.name.find(' '), std::string_view::npos);
    } else if (event.type == EventType::kBid) {
      const Bid& b = event.bid;
      ++bids;
      EXPECT_EQ(b.url.substr(0, 24), "https://www.nexmark.com/");
      if (hot_channels.count(b.channel)) {
        ++hot;
        EXPECT_EQ(b.url.find("channel_id"), std::string_view::npos);
      } else {
        ASSERT_EQ(b.channel.substr(0, 8), "channel-");
        EXPECT_LT(std::stoi(std::string(b.channel.substr(8))), 10'000);
        channels_seen.insert(std::string(b.channel));
      }
    }
  }
  EXPECT_NEAR(static_cast<double>(hot) / static_cast<double>(bids), 0.5, 0.01);
  EXPECT_GT(channels_seen.size(), 9'000u);
}

TEST(NexmarkGeneratorTest, ValidateNamesTheBadOption) {
  GeneratorConfig config;
  EXPECT_TRUE(config.Validate().ok());
  config.first_event_rate = 0;
  EXPECT_NE(config.Validate().message().find("first-event.rate"), std::string_view::npos);
  config = {};
  config.hot_bidders_ratio = 0;
  EXPECT_NE(config.Validate().message().find("bid.hot-ratio.bidders"), std::string_view::npos);
  config = {};
  config.auction_proportion = 0;
  EXPECT_NE(config.Validate().message().find("auction.proportion"), std::string_view::npos);
  config = {};
  config.max_events = -1;
  EXPECT_NE(config.Validate().message().find("events.num"), std::string_view::npos);
}

}  // namespace
}  // namespace weir::harness::nexmark
