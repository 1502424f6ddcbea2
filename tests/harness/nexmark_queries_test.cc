#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/stream_execution_environment.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/queries.h"

namespace weir::harness::nexmark {
namespace {

using Rows = std::vector<std::string>;

// ---- Input: events owned by the test (the generator's views are valid only until its next call).

class EventStore {
 public:
  Event Keep(const Event& event) {
    Event kept = event;
    Person& p = kept.person;
    for (std::string_view* s :
         {&p.name, &p.email_address, &p.credit_card, &p.city, &p.state, &p.extra})
      *s = Own(*s);
    Auction& a = kept.auction;
    for (std::string_view* s : {&a.item_name, &a.description, &a.extra}) *s = Own(*s);
    Bid& b = kept.bid;
    for (std::string_view* s : {&b.channel, &b.url, &b.extra}) *s = Own(*s);
    return kept;
  }
  std::string_view Own(std::string_view s) { return strings_.emplace_back(s); }

 private:
  std::deque<std::string> strings_;  // a deque never moves its elements
};

// `count` events of nexmark's generator at `rate` events per second of event time (in order).
std::vector<Event> Generate(EventStore& store, int64_t count, double rate, uint64_t seed) {
  GeneratorConfig config;
  config.max_events = count;
  config.first_event_rate = rate;
  config.seed = seed;
  NexmarkGenerator generator(config);
  std::vector<Event> events;
  for (int64_t n = 0; n < count; ++n) events.push_back(store.Keep(generator.Generate(n)));
  return events;
}

// The events in a new arrival order: each is delayed by up to `max_delay` ms of event time
// (uniform), and a `late_share` of them by 5 to 25 s more (behind the watermark of dateTime - 4 s).
std::vector<Event> Shuffle(const std::vector<Event>& events, int64_t max_delay, double late_share,
                           uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int64_t> delay(0, max_delay);
  std::uniform_int_distribution<int64_t> late_delay(5'000, 25'000);
  std::bernoulli_distribution late(late_share);
  std::vector<std::pair<int64_t, size_t>> order;
  for (size_t i = 0; i < events.size(); ++i) {
    int64_t arrival = events[i].date_time() + delay(random);
    if (late(random)) arrival += late_delay(random);
    order.emplace_back(arrival, i);
  }
  std::stable_sort(order.begin(), order.end());
  std::vector<Event> shuffled;
  for (const auto& [arrival, i] : order) shuffled.push_back(events[i]);
  return shuffled;
}

// The watermark each event arrives behind, as the source's generator emits it after every event:
// (max dateTime so far) - 4000, nothing before the first event.
std::vector<int64_t> WatermarksBefore(const std::vector<Event>& events) {
  std::vector<int64_t> watermarks;
  int64_t max = std::numeric_limits<int64_t>::min();
  for (const Event& event : events) {
    watermarks.push_back(max == std::numeric_limits<int64_t>::min() ? max : max - 4000);
    max = std::max(max, event.date_time());
  }
  return watermarks;
}

// ---- Running a query.

// Emits (max dateTime seen) - 4000 after every event: the DDL's watermark, exactly.
class NexmarkWatermarks {
 public:
  void OnEvent(const Event& event, Timestamp, api::WatermarkOutput& output) {
    max_ = std::max(max_, event.date_time());
    output.EmitWatermark(max_ - 4000);
  }
  void OnPeriodicEmit(api::WatermarkOutput& output) {
    if (max_ != std::numeric_limits<int64_t>::min()) output.EmitWatermark(max_ - 4000);
  }

 private:
  int64_t max_ = std::numeric_limits<int64_t>::min();
};

Rows SplitLines(const std::string& csv) {
  Rows rows;
  size_t start = 0;
  while (start < csv.size()) {
    const size_t end = csv.find('\n', start);
    rows.push_back(csv.substr(start, end - start));
    start = end + 1;
  }
  return rows;
}

Rows Sorted(Rows rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

Rows RunQuery(std::string_view name, const std::vector<Event>& events, int parallelism) {
  const NexmarkQuery* query = FindNexmarkQuery(name);
  EXPECT_NE(query, nullptr) << name;
  if (query == nullptr) return {};
  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env;
  env.SetParallelism(parallelism);
  auto strategy =
      api::WatermarkStrategy<Event>::ForGenerator([] {
        return NexmarkWatermarks();
      }).WithTimestampAssigner([](const Event& event, Timestamp) { return event.date_time(); });
  query->build(env.FromCollection(events, strategy), context);
  Result<api::JobResult> result = env.Execute(std::string(name));
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return Sorted(SplitLines(context.results->Csv()));
}

// ---- Reference formatting, written independently of the engine's (libc's gmtime and printf).

std::string Timestamp3(int64_t millis) {
  const int64_t seconds = millis >= 0 ? millis / 1000 : -((-millis + 999) / 1000);
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis - seconds * 1000));
  return buffer;
}

std::string Text(std::string_view s) {
  const bool quote = s.empty() || s.front() == ' ' || s.back() == ' ' ||
                     s.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) return std::string(s);
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string Line(std::initializer_list<std::string> fields) {
  std::string line;
  for (const std::string& field : fields) line += (line.empty() ? "" : ",") + field;
  return line;
}

std::string N(int64_t value) { return std::to_string(value); }

// ---- Brute-force references: the SQL's semantics as loops over the input in arrival order.

int64_t FloorTo(int64_t time, int64_t size) { return time - (((time % size) + size) % size); }

Rows ReferenceQ0(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    rows.push_back(Line({N(e.bid.auction), N(e.bid.bidder), N(e.bid.price),
                         Timestamp3(e.bid.date_time), Text(e.bid.extra)}));
  }
  return Sorted(rows);
}

Rows ReferenceQ1(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    char price[64];
    const long long cents = static_cast<long long>(e.bid.price);  // prices are positive
    std::snprintf(price, sizeof(price), "%lld.%03lld", cents * 908 / 1000, cents * 908 % 1000);
    rows.push_back(Line({N(e.bid.auction), N(e.bid.bidder), price, Timestamp3(e.bid.date_time),
                         Text(e.bid.extra)}));
  }
  return Sorted(rows);
}

Rows ReferenceQ2(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& e : events) {
    if (e.type == EventType::kBid && e.bid.auction % 123 == 0)
      rows.push_back(Line({N(e.bid.auction), N(e.bid.price)}));
  }
  return Sorted(rows);
}

Rows ReferenceQ3(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& p : events) {
    if (p.type != EventType::kPerson) continue;
    const std::string_view state = p.person.state;
    if (state != "OR" && state != "ID" && state != "CA") continue;
    for (const Event& a : events) {
      if (a.type == EventType::kAuction && a.auction.category == 10 &&
          a.auction.seller == p.person.id) {
        rows.push_back(
            Line({Text(p.person.name), Text(p.person.city), Text(state), N(a.auction.id)}));
      }
    }
  }
  return Sorted(rows);
}

// For each auction, its valid bids (B.dateTime BETWEEN A.dateTime AND A.expires) in arrival order.
std::map<int64_t, std::vector<const Bid*>> ValidBids(const std::vector<Event>& events) {
  std::map<int64_t, const Auction*> auctions;
  for (const Event& e : events) {
    if (e.type == EventType::kAuction) auctions[e.auction.id] = &e.auction;
  }
  std::map<int64_t, std::vector<const Bid*>> valid;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    auto it = auctions.find(e.bid.auction);
    if (it == auctions.end()) continue;
    if (e.bid.date_time >= it->second->date_time && e.bid.date_time <= it->second->expires) {
      valid[e.bid.auction].push_back(&e.bid);
    }
  }
  return valid;
}

Rows ReferenceQ4(const std::vector<Event>& events) {
  std::map<int64_t, int64_t> category_of;
  for (const Event& e : events) {
    if (e.type == EventType::kAuction) category_of[e.auction.id] = e.auction.category;
  }
  std::map<int64_t, std::pair<int64_t, int64_t>> sums;  // category -> sum of finals, count
  for (const auto& [auction, bids] : ValidBids(events)) {
    int64_t max = bids.front()->price;
    for (const Bid* bid : bids) max = std::max(max, bid->price);
    auto& [sum, count] = sums[category_of[auction]];
    sum += max;
    ++count;
  }
  Rows rows;
  for (const auto& [category, sum_count] : sums)
    rows.push_back(Line({N(category), N(sum_count.first / sum_count.second)}));
  return Sorted(rows);
}

Rows ReferenceQ5(const std::vector<Event>& events) {
  const std::vector<int64_t> watermarks = WatermarksBefore(events);
  std::map<int64_t, std::map<int64_t, int64_t>> counts;  // window start -> auction -> count
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].type != EventType::kBid) continue;
    const Bid& bid = events[i].bid;
    for (int64_t start = FloorTo(bid.date_time, 2000); start > bid.date_time - 10'000;
         start -= 2000) {
      if (start + 10'000 - 1 > watermarks[i]) ++counts[start][bid.auction];
    }
  }
  Rows rows;
  for (const auto& [start, per_auction] : counts) {
    int64_t max = 0;
    for (const auto& [auction, count] : per_auction) max = std::max(max, count);
    for (const auto& [auction, count] : per_auction) {
      if (count >= max) rows.push_back(Line({N(auction), N(count)}));
    }
  }
  return Sorted(rows);
}

Rows ReferenceQ7(const std::vector<Event>& events) {
  const std::vector<int64_t> watermarks = WatermarksBefore(events);
  std::map<int64_t, int64_t> max_price;  // window end -> max price of its on-time bids
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].type != EventType::kBid) continue;
    const Bid& bid = events[i].bid;
    const int64_t end = FloorTo(bid.date_time, 10'000) + 10'000;
    if (end - 1 <= watermarks[i]) continue;
    auto [it, inserted] = max_price.emplace(end, bid.price);
    if (!inserted) it->second = std::max(it->second, bid.price);
  }
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    for (const auto& [end, max] : max_price) {
      if (e.bid.price == max && e.bid.date_time >= end - 10'000 && e.bid.date_time <= end) {
        // Positional INSERT: auction, price, bidder, dateTime, extra.
        rows.push_back(Line({N(e.bid.auction), N(e.bid.price), N(e.bid.bidder),
                             Timestamp3(e.bid.date_time), Text(e.bid.extra)}));
      }
    }
  }
  return Sorted(rows);
}

Rows ReferenceQ8(const std::vector<Event>& events) {
  const std::vector<int64_t> watermarks = WatermarksBefore(events);
  std::set<std::tuple<int64_t, std::string, int64_t>> persons;  // id, name, window start
  std::set<std::pair<int64_t, int64_t>> sellers;                // seller, window start
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (e.type == EventType::kBid) continue;
    const int64_t start = FloorTo(e.date_time(), 10'000);
    if (start + 10'000 - 1 <= watermarks[i]) continue;
    if (e.type == EventType::kPerson) {
      persons.emplace(e.person.id, std::string(e.person.name), start);
    } else {
      sellers.emplace(e.auction.seller, start);
    }
  }
  Rows rows;
  for (const auto& [id, name, start] : persons) {
    if (sellers.contains({id, start})) rows.push_back(Line({N(id), Text(name), Timestamp3(start)}));
  }
  return Sorted(rows);
}

Rows ReferenceQ9(const std::vector<Event>& events) {
  Rows rows;
  const auto valid = ValidBids(events);
  for (const Event& e : events) {
    if (e.type != EventType::kAuction) continue;
    const Auction& a = e.auction;
    auto it = valid.find(a.id);
    if (it == valid.end()) continue;
    const Bid* best = nullptr;
    for (const Bid* bid : it->second) {
      if (best == nullptr || bid->price > best->price ||
          (bid->price == best->price && bid->date_time < best->date_time)) {
        best = bid;
      }
    }
    rows.push_back(Line({N(a.id), Text(a.item_name), Text(a.description), N(a.initial_bid),
                         N(a.reserve), Timestamp3(a.date_time), Timestamp3(a.expires), N(a.seller),
                         N(a.category), Text(a.extra), N(best->auction), N(best->bidder),
                         N(best->price), Timestamp3(best->date_time), Text(best->extra)}));
  }
  return Sorted(rows);
}

// Sessions per bidder as Flink's merging window operator keeps them: before each element the
// sessions the watermark has reached fire (and are gone); the element's window [t, t + 10 s)
// merges every session it meets (touching ones too); a window the watermark has reached is late.
Rows ReferenceQ11(const std::vector<Event>& events) {
  struct Session {
    int64_t start, end, count;
  };
  const std::vector<int64_t> watermarks = WatermarksBefore(events);
  std::map<int64_t, std::vector<Session>> open;  // bidder -> sessions
  Rows rows;
  auto fire = [&](int64_t bidder, const Session& s) {
    rows.push_back(Line({N(bidder), N(s.count), Timestamp3(s.start), Timestamp3(s.end)}));
  };
  for (size_t i = 0; i < events.size(); ++i) {
    for (auto& [bidder, sessions] : open) {
      std::erase_if(sessions, [&](const Session& s) {
        if (s.end - 1 > watermarks[i]) return false;
        fire(bidder, s);
        return true;
      });
    }
    if (events[i].type != EventType::kBid) continue;
    const Bid& bid = events[i].bid;
    Session merged{bid.date_time, bid.date_time + 10'000, 1};
    std::vector<Session>& sessions = open[bid.bidder];
    std::erase_if(sessions, [&](const Session& s) {
      if (s.start > merged.end || s.end < merged.start) return false;
      merged = {std::min(merged.start, s.start), std::max(merged.end, s.end),
                merged.count + s.count};
      return true;
    });
    if (merged.end - 1 <= watermarks[i])
      continue;  // late (it merged with nothing: that would have fired)
    sessions.push_back(merged);
  }
  for (const auto& [bidder, sessions] : open) {
    for (const Session& s : sessions) fire(bidder, s);
  }
  return Sorted(rows);
}

std::string Euro(int64_t price) {
  char text[64];
  const long long cents = static_cast<long long>(price);  // prices are positive
  std::snprintf(text, sizeof(text), "%lld.%03lld", cents * 908 / 1000, cents * 908 % 1000);
  return text;
}

Rows ReferenceQ14(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    const double euro =
        0.908 * static_cast<double>(e.bid.price);  // exact enough away from the bounds
    if (!(euro > 1'000'000 && euro < 50'000'000)) continue;
    const time_t seconds = static_cast<time_t>(e.bid.date_time / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    const std::string type = tm.tm_hour >= 8 && tm.tm_hour <= 18   ? "dayTime"
                             : tm.tm_hour <= 6 || tm.tm_hour >= 20 ? "nightTime"
                                                                   : "otherTime";
    rows.push_back(Line({N(e.bid.auction), N(e.bid.bidder), Euro(e.bid.price), type,
                         Timestamp3(e.bid.date_time), Text(e.bid.extra),
                         N(std::count(e.bid.extra.begin(), e.bid.extra.end(), 'c'))}));
  }
  return Sorted(rows);
}

Rows ReferenceQ21(const std::vector<Event>& events) {
  const std::regex channel_id("(&|^)channel_id=([^&]*)");
  const std::map<std::string, std::string> known = {
      {"apple", "0"}, {"google", "1"}, {"facebook", "2"}, {"baidu", "3"}};
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    std::string lower(e.bid.channel);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string id;
    std::smatch match;
    const std::string url(e.bid.url);
    if (known.contains(lower)) {
      id = known.at(lower);
    } else if (std::regex_search(url, match, channel_id)) {
      id = match[2].str();
    } else {
      continue;
    }
    rows.push_back(
        Line({N(e.bid.auction), N(e.bid.bidder), N(e.bid.price), Text(e.bid.channel), Text(id)}));
  }
  return Sorted(rows);
}

Rows ReferenceQ22(const std::vector<Event>& events) {
  Rows rows;
  for (const Event& e : events) {
    if (e.type != EventType::kBid) continue;
    std::vector<std::string> tokens(1);
    for (char c : e.bid.url) {
      if (c == '/') {
        tokens.emplace_back();
      } else {
        tokens.back() += c;
      }
    }
    auto dir = [&](size_t i) { return i < tokens.size() ? Text(tokens[i]) : std::string(); };
    rows.push_back(Line({N(e.bid.auction), N(e.bid.bidder), N(e.bid.price), Text(e.bid.channel),
                         dir(3), dir(4), dir(5)}));
  }
  return Sorted(rows);
}

Rows Reference(std::string_view query, const std::vector<Event>& events) {
  if (query == "q0") return ReferenceQ0(events);
  if (query == "q1") return ReferenceQ1(events);
  if (query == "q2") return ReferenceQ2(events);
  if (query == "q3") return ReferenceQ3(events);
  if (query == "q4") return ReferenceQ4(events);
  if (query == "q5") return ReferenceQ5(events);
  if (query == "q7") return ReferenceQ7(events);
  if (query == "q8") return ReferenceQ8(events);
  if (query == "q9") return ReferenceQ9(events);
  if (query == "q11") return ReferenceQ11(events);
  if (query == "q14") return ReferenceQ14(events);
  if (query == "q21") return ReferenceQ21(events);
  if (query == "q22") return ReferenceQ22(events);
  ADD_FAILURE() << "no reference for " << query;
  return {};
}

// ---- Tests.

constexpr const char* kDeterministicQueries[] = {"q0", "q1", "q2",  "q3",  "q4",  "q5", "q7",
                                                 "q8", "q9", "q11", "q14", "q21", "q22"};

class NexmarkQueriesTest : public ::testing::TestWithParam<const char*> {
 protected:
  // 30 000 events over 60 s of event time: windows of a few hundred events, auctions expiring
  // within seconds, sessions that end.
  std::vector<Event> InOrder() { return Generate(store_, 30'000, 500, 7); }

  void ExpectMatchesReference(const std::vector<Event>& events, int parallelism) {
    const Rows expected = Reference(GetParam(), events);
    ASSERT_FALSE(expected.empty()) << "the input must give the query some rows";
    const Rows actual = RunQuery(GetParam(), events, parallelism);
    ASSERT_EQ(actual.size(), expected.size()) << GetParam() << " at parallelism " << parallelism;
    for (size_t i = 0; i < actual.size(); ++i) {
      ASSERT_EQ(actual[i], expected[i])
          << GetParam() << " at parallelism " << parallelism << ", row " << i;
    }
  }

  EventStore store_;
};

TEST_P(NexmarkQueriesTest, InOrderMatchesReference) {
  const std::vector<Event> events = InOrder();
  ExpectMatchesReference(events, 1);
  ExpectMatchesReference(events, 2);
}

// Disorder within the watermark's 4 s: nothing is late, so the result is the same at any
// parallelism (a parallel job's watermark may only lag the source's).
TEST_P(NexmarkQueriesTest, OutOfOrderWithinTheBoundMatchesReference) {
  const std::vector<Event> events = Shuffle(InOrder(), 3'500, 0, 11);
  ExpectMatchesReference(events, 1);
  ExpectMatchesReference(events, 2);
}

// Events 5-25 s behind: windowed queries drop them where the watermark has passed their windows,
// joins keep them. At parallelism 1 every operator sees the source's watermark sequence exactly.
TEST_P(NexmarkQueriesTest, LateEventsMatchReference) {
  const std::vector<Event> events = Shuffle(InOrder(), 3'500, 0.03, 13);
  ExpectMatchesReference(events, 1);
}

INSTANTIATE_TEST_SUITE_P(Queries, NexmarkQueriesTest, ::testing::ValuesIn(kDeterministicQueries),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

// ---- Hand-built inputs for the corners the generated streams rarely reach.

Event MakeBid(EventStore& store, int64_t auction, int64_t bidder, int64_t price, int64_t date_time,
              std::string_view extra) {
  Event event;
  event.type = EventType::kBid;
  event.bid = {auction,
               bidder,
               price,
               store.Own("Google"),
               store.Own("https://www.nexmark.com/a/b/c/item.htm"),
               date_time,
               store.Own(extra)};
  return event;
}

Event MakeAuction(EventStore& store, int64_t id, int64_t category, int64_t date_time,
                  int64_t expires) {
  Event event;
  event.type = EventType::kAuction;
  event.auction = {
      id,       store.Own("item"), store.Own("description"), 100, 200, date_time, expires, 1000,
      category, store.Own("")};
  return event;
}

// q7's join: a boundary bid (dateTime = window end) joins the window it ends too; a late bid does
// not raise its window's max but still joins it at that price; a window with only late bids has no
// max; the columns are written positionally (price into `bidder`).
TEST(NexmarkQueriesCornerTest, Q7BoundaryAndLateBids) {
  EventStore store;
  std::vector<Event> events;
  const std::vector<std::pair<int64_t, int64_t>> bids = {
      {0, 70},      {1000, 50},   {2000, 70},  {10'000, 70}, {12'000, 60}, {15'000, 40},
      {18'000, 70}, {25'000, 10}, {5'000, 70}, {9'000, 90},  {-5'000, 5},  {20'000, 10}};
  for (size_t i = 0; i < bids.size(); ++i) {
    const int64_t n = static_cast<int64_t>(i);
    events.push_back(
        MakeBid(store, 1000 + n, 2000 + n, bids[i].second, bids[i].first, "e" + std::to_string(i)));
  }
  const Rows expected = Sorted({
      "1000,70,2000,1970-01-01 00:00:00.000,e0",
      "1002,70,2002,1970-01-01 00:00:02.000,e2",
      "1003,70,2003,1970-01-01 00:00:10.000,e3",
      "1008,70,2008,1970-01-01 00:00:05.000,e8",
      "1003,70,2003,1970-01-01 00:00:10.000,e3",
      "1006,70,2006,1970-01-01 00:00:18.000,e6",
      "1007,10,2007,1970-01-01 00:00:25.000,e7",
      "1011,10,2011,1970-01-01 00:00:20.000,e11",
  });
  EXPECT_EQ(ReferenceQ7(events), expected);
  EXPECT_EQ(RunQuery("q7", events, 1), expected);
}

// q1's DECIMAL(23, 3) beyond int64 thousandths, and CSV quoting of VARCHARs.
TEST(NexmarkQueriesCornerTest, Q1DecimalsAndQuoting) {
  EventStore store;
  const int64_t time = 1'436'918'400'123;
  const std::vector<Event> events = {
      MakeBid(store, 1, 2, 0, time, "a,b"),
      MakeBid(store, 1, 2, 1, time, " lead"),
      MakeBid(store, 1, 2, 1234, time, ""),
      MakeBid(store, 1, 2, 100'000'000'000'000'000, time, "say \"hi\""),
  };
  const Rows expected = Sorted({
      "1,2,0.000,2015-07-15 00:00:00.123,\"a,b\"",
      "1,2,0.908,2015-07-15 00:00:00.123,\" lead\"",
      "1,2,1120.472,2015-07-15 00:00:00.123,\"\"",
      "1,2,90800000000000000.000,2015-07-15 00:00:00.123,\"say \"\"hi\"\"\"",
  });
  EXPECT_EQ(RunQuery("q1", events, 1), expected);
}

// q4: a bid before its auction counts; bids outside [dateTime, expires] do not; a higher bid
// replaces its auction's max in the category's average (a retraction, not a third value); AVG of
// BIGINT truncates.
TEST(NexmarkQueriesCornerTest, Q4ReplacesAnAuctionsMaxInTheAverage) {
  EventStore store;
  const std::vector<Event> events = {
      MakeBid(store, 2, 9, 4, 2000, "x"), MakeAuction(store, 1, 10, 1000, 5000),
      MakeBid(store, 1, 9, 3, 1500, "x"), MakeBid(store, 1, 9, 9, 6000, "x"),
      MakeBid(store, 1, 9, 8, 999, "x"),  MakeAuction(store, 2, 10, 1000, 5000),
      MakeBid(store, 2, 9, 2, 3000, "x"), MakeBid(store, 3, 9, 50, 200, "x"),
      MakeAuction(store, 3, 11, 0, 100),
  };
  EXPECT_EQ(RunQuery("q4", events, 1), Rows{"10,3"});  // (3 + 4) / 2
  std::vector<Event> more = events;
  more.push_back(MakeBid(store, 1, 9, 6, 4000, "x"));
  EXPECT_EQ(RunQuery("q4", more, 1), Rows{"10,5"});  // (6 + 4) / 2
  EXPECT_EQ(RunQuery("q4", more, 2), Rows{"10,5"});
}

// q11: touching sessions merge (gap exactly), a session fires once the watermark passes it, and a
// bid whose session would already have fired is dropped.
TEST(NexmarkQueriesCornerTest, Q11SessionsMergeAndFire) {
  EventStore store;
  const std::vector<Event> events = {
      MakeBid(store, 1, 7, 1, 0, "x"),      MakeBid(store, 1, 8, 1, 0, "x"),
      MakeBid(store, 1, 7, 1, 5'000, "x"),  MakeBid(store, 1, 7, 1, 15'000, "x"),
      MakeBid(store, 1, 8, 1, 20'000, "x"), MakeBid(store, 1, 8, 1, 30'000, "x"),
      MakeBid(store, 1, 8, 1, 1'000, "x"),
  };
  const Rows expected = Sorted({
      "7,3,1970-01-01 00:00:00.000,1970-01-01 00:00:25.000",
      "8,1,1970-01-01 00:00:00.000,1970-01-01 00:00:10.000",
      "8,2,1970-01-01 00:00:20.000,1970-01-01 00:00:40.000",
  });
  EXPECT_EQ(ReferenceQ11(events), expected);
  EXPECT_EQ(RunQuery("q11", events, 1), expected);
}

// q12 counts per processing-time window: the run lasts over 10 s of wall clock so windows fire
// while it runs. What the wall clock does not decide: windows are aligned 10 s spans of the run's
// wall clock, and no bid is counted twice. (A window may emit twice for one bidder: a bid whose
// clock reads the window's last millisecond after it fired fires it again alone, as in Flink.)
TEST(NexmarkQueriesCornerTest, Q12CountsPerProcessingTimeWindow) {
  EventStore store;
  const std::vector<Event> events = Generate(store, 22'000, 10'000, 3);
  std::map<std::string, int64_t> bids_of;
  for (const Event& e : events) {
    if (e.type == EventType::kBid) ++bids_of[N(e.bid.bidder)];
  }
  RunContext context;
  context.results = std::make_shared<ResultCollector>(ResultCollector::Options{.keep_rows = true});
  api::StreamExecutionEnvironment env;
  auto strategy =
      api::WatermarkStrategy<Event>::ForGenerator([] {
        return NexmarkWatermarks();
      }).WithTimestampAssigner([](const Event& event, Timestamp) { return event.date_time(); });
  const int64_t before = WallMillis();
  auto source = env.FromGenerator(
      static_cast<int64_t>(events.size()),
      [&events](int64_t n) { return events[static_cast<size_t>(n)]; }, strategy, 2'000);
  FindNexmarkQuery("q12")->build(source, context);
  ASSERT_TRUE(env.Execute("q12").ok());
  const int64_t after = WallMillis();
  const Rows rows = SplitLines(context.results->Csv());
  ASSERT_FALSE(rows.empty());
  std::map<std::string, int64_t> counted;
  for (const std::string& row : rows) {
    const size_t c1 = row.find(','), c2 = row.find(',', c1 + 1), c3 = row.find(',', c2 + 1);
    ASSERT_NE(c3, std::string::npos) << row;
    const std::string bidder = row.substr(0, c1), start_text = row.substr(c2 + 1, c3 - c2 - 1),
                      end_text = row.substr(c3 + 1);
    const int64_t count = std::stoll(row.substr(c1 + 1, c2 - c1 - 1));
    counted[bidder] += count;
    bool aligned = false;
    for (int64_t window = FloorTo(before, 10'000); window <= after; window += 10'000) {
      aligned =
          aligned || (start_text == Timestamp3(window) && end_text == Timestamp3(window + 10'000));
    }
    EXPECT_TRUE(aligned) << "not a 10 s window of the run's wall clock: " << row;
  }
  for (const auto& [bidder, count] : counted) EXPECT_LE(count, bids_of[bidder]) << bidder;
}

TEST(NexmarkQueriesRegistryTest, ListsTheQueriesWithTheirSinkColumns) {
  std::vector<std::string> names;
  for (const NexmarkQuery& query : NexmarkQueries()) {
    names.emplace_back(query.name);
    EXPECT_EQ(FindNexmarkQuery(query.name), &query);
    EXPECT_NE(query.build, nullptr);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9",
                                             "q11", "q12", "q14", "q21", "q22"}));
  EXPECT_EQ(FindNexmarkQuery("q6"), nullptr);
  EXPECT_EQ(FindNexmarkQuery("q7")->columns, "auction,bidder,price,dateTime,extra");
  EXPECT_EQ(FindNexmarkQuery("q9")->columns,
            "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra,"
            "auction,bidder,"
            "price,bid_dateTime,bid_extra");
}

}  // namespace
}  // namespace weir::harness::nexmark
