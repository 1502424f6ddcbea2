#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness/nexmark/event_csv.h"
#include "harness/nexmark/generator.h"

namespace weir::harness::nexmark {
namespace {

// Field-by-field equality of the meaningful member.
void ExpectSameEvent(const Event& actual, const Event& expected) {
  ASSERT_EQ(actual.type, expected.type);
  switch (expected.type) {
    case EventType::kPerson: {
      const Person& a = actual.person;
      const Person& e = expected.person;
      EXPECT_EQ(a.id, e.id);
      EXPECT_EQ(a.name, e.name);
      EXPECT_EQ(a.email_address, e.email_address);
      EXPECT_EQ(a.credit_card, e.credit_card);
      EXPECT_EQ(a.city, e.city);
      EXPECT_EQ(a.state, e.state);
      EXPECT_EQ(a.date_time, e.date_time);
      EXPECT_EQ(a.extra, e.extra);
      break;
    }
    case EventType::kAuction: {
      const Auction& a = actual.auction;
      const Auction& e = expected.auction;
      EXPECT_EQ(a.id, e.id);
      EXPECT_EQ(a.item_name, e.item_name);
      EXPECT_EQ(a.description, e.description);
      EXPECT_EQ(a.initial_bid, e.initial_bid);
      EXPECT_EQ(a.reserve, e.reserve);
      EXPECT_EQ(a.date_time, e.date_time);
      EXPECT_EQ(a.expires, e.expires);
      EXPECT_EQ(a.seller, e.seller);
      EXPECT_EQ(a.category, e.category);
      EXPECT_EQ(a.extra, e.extra);
      break;
    }
    case EventType::kBid: {
      const Bid& a = actual.bid;
      const Bid& e = expected.bid;
      EXPECT_EQ(a.auction, e.auction);
      EXPECT_EQ(a.bidder, e.bidder);
      EXPECT_EQ(a.price, e.price);
      EXPECT_EQ(a.channel, e.channel);
      EXPECT_EQ(a.url, e.url);
      EXPECT_EQ(a.date_time, e.date_time);
      EXPECT_EQ(a.extra, e.extra);
      break;
    }
  }
}

TEST(NexmarkEventCsvTest, GeneratedEventsRoundTrip) {
  GeneratorConfig config;
  config.first_event_rate = 1000;
  NexmarkGenerator generator(config);
  EventCsvParser parser;
  for (int64_t n = 0; n < 20'000; ++n) {
    const Event& event = generator.Generate(n);
    std::string line;
    AppendEventCsv(line, event);
    ASSERT_EQ(line.find('\n'), std::string::npos);
    Event parsed;
    EventCsvError error;
    ASSERT_TRUE(parser.Parse(line, &parsed, &error))
        << line << ": column " << error.column << ": " << error.what;
    ExpectSameEvent(parsed, event);
  }
}

// RFC 4180 quoting, written out by hand.
std::string Quoted(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

TEST(NexmarkEventCsvTest, QuotingEdgeCasesRoundTrip) {
  const std::vector<std::string> strings = {
      "",       "plain",    "a,b",         "\"",       "say \"hi\"", "\"\"",     ",", " lead space",
      "trail ", "cr\rlf\n", "\"a\",\"b\"", "x,\"y\"z", "é,ü",        "tab\there"};
  EventCsvParser parser;
  for (const std::string& s : strings) {
    Event person;
    person.type = EventType::kPerson;
    person.person = {7, s, "e@x.com", s, "Bend", s, 1'436'918'400'123, s};
    Event bid;
    bid.type = EventType::kBid;
    bid.bid = {1, 2, 3, s, s, -5, s};
    Event auction;
    auction.type = EventType::kAuction;
    auction.auction = {1, s, s, 4, 5, 6, 7, 8, 9, s};
    for (const Event* event : {&person, &bid, &auction}) {
      std::string line;
      AppendEventCsv(line, *event);
      Event parsed;
      EventCsvError error;
      ASSERT_TRUE(parser.Parse(line, &parsed, &error)) << line << ": " << error.what;
      ExpectSameEvent(parsed, *event);
    }
    std::string line;
    AppendEventCsv(line, bid);
    EXPECT_EQ(line,
              "2,1,2,3," + Quoted(s) + "," + Quoted(s) + ",1969-12-31 23:59:59.995," + Quoted(s));
  }
  // Quoted fields are accepted anywhere, numbers too, and a CR before the end is ignored.
  Event parsed;
  EventCsvError error;
  ASSERT_TRUE(
      parser.Parse("\"2\",\"1\",2,3,\"a\"\"b\",u,2015-07-15 00:00:00.5,x\r", &parsed, &error))
      << error.what;
  EXPECT_EQ(parsed.bid.auction, 1);
  EXPECT_EQ(parsed.bid.channel, "a\"b");
  EXPECT_EQ(parsed.bid.date_time, 1'436'918'400'500);
  EXPECT_EQ(parsed.bid.extra, "x");
}

// Dates counted day by day from 1960-01-01 with the month lengths: an independent calendar.
TEST(NexmarkEventCsvTest, TimestampsMatchACalendarWalk) {
  const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = 1960, month = 1, day = 1;
  const int64_t days_1960_to_1970 = 3653;  // 1960..1969, three leap years
  for (int64_t d = -days_1960_to_1970; d < 30'000; ++d) {
    const int64_t millis_in_day = (d * 7919 % 86'400'000 + 86'400'000) % 86'400'000;
    const int64_t millis = d * 86'400'000 + millis_in_day;
    char expected[32];
    std::snprintf(
        expected, sizeof(expected), "%04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day,
        static_cast<int>(millis_in_day / 3'600'000), static_cast<int>(millis_in_day / 60'000 % 60),
        static_cast<int>(millis_in_day / 1000 % 60), static_cast<int>(millis_in_day % 1000));
    std::string text;
    AppendTimestamp(text, millis);
    ASSERT_EQ(text, expected);
    int64_t parsed = 0;
    ASSERT_TRUE(ParseTimestamp(text, &parsed)) << text;
    ASSERT_EQ(parsed, millis);
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (++day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
  int64_t millis = 0;
  EXPECT_TRUE(ParseTimestamp("2015-07-15T00:00:01", &millis));
  EXPECT_EQ(millis, 1'436'918'401'000);
  EXPECT_TRUE(ParseTimestamp("2015-07-15 00:00:01.123456789", &millis));
  EXPECT_EQ(millis, 1'436'918'401'123);
  EXPECT_TRUE(ParseTimestamp("2015-07-15 00:00:01.12", &millis));
  EXPECT_EQ(millis, 1'436'918'401'120);
  for (const char* bad : {"2015-02-29 00:00:00.000", "2015-13-01 00:00:00", "2015-07-15 24:00:00",
                          "2015-07-15", "2015-07-15 00:00:00.", "2015-07-15 00:00:00.1234567890",
                          "2015/07/15 00:00:00", "2015-07-15 00:00:00Z", "x015-07-15 00:00:00"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &millis)) << bad;
  }
}

struct Malformed {
  std::string line;
  int64_t column;
  std::string what;  // a part of the message
};

TEST(NexmarkEventCsvTest, MalformedLinesNameTheColumn) {
  const std::vector<Malformed> cases = {
      {"3,1,2", 1, "unknown event type '3'"},
      {"", 1, "unknown event type ''"},
      {"2,1000,x7,3,c,u,2015-07-15 00:00:00.000,e", 8,
       "bid.bidder: expected a 64-bit integer, got 'x7'"},
      {"2,1000,1,99999999999999999999,c,u,2015-07-15 00:00:00.000,e", 10, "bid.price"},
      {"2,1000,1,3,c,u,2015-07-15 00:00:00.000", 39, "missing field"},
      {"2,1000,1,3,c,u,2015-07-15 00:00:00.000,e,f", 42, "too many fields: a bid has 8"},
      {"2,1000,1,3,c,u,yesterday,e", 16, "bid.dateTime: expected a timestamp"},
      {"0,1,\"open,e,c,c,s,2015-07-15 00:00:00.000,x", 5, "unterminated quoted field"},
      {"0,1,\"ab\"c,e,c,c,s,2015-07-15 00:00:00.000,x", 9, "expected ',' after a quoted field"},
      {"0,1,né,e,c,c,s,2015-07-15 00:00:00.000,x,y", 42, "too many fields: a person has 9"},
      {"1,1,n,d,1,2,2015-07-15 00:00:00.000,2015-07-15 00:00:01.000,8,9", 64, "missing field"},
      {"1,1,n,d,1,2,2015-07-15 00:00:00.000,soon,8,9,x", 37, "auction.expires"},
  };
  EventCsvParser parser;
  for (const Malformed& c : cases) {
    Event event;
    EventCsvError error;
    ASSERT_FALSE(parser.Parse(c.line, &event, &error)) << c.line;
    EXPECT_EQ(error.column, c.column) << c.line << ": " << error.what;
    EXPECT_NE(error.what.find(c.what), std::string::npos) << c.line << ": " << error.what;
  }
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid())))
      .string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(NexmarkEventCsvTest, WriteEventsCsvWritesTheGeneratorsEventsInOrder) {
  GeneratorConfig config;
  config.seed = 5;
  const std::string path = TempPath("nexmark-events.csv");
  ASSERT_TRUE(WriteEventsCsv(config, 100'000, path).ok());
  NexmarkGenerator generator(config);
  std::string expected;
  for (int64_t n = 0; n < 100'000; ++n) {
    AppendEventCsv(expected, generator.Generate(n));
    expected += '\n';
  }
  EXPECT_EQ(ReadFile(path), expected);
  ASSERT_TRUE(WriteEventsCsv(config, 0, path).ok());
  EXPECT_EQ(ReadFile(path), "");
  std::filesystem::remove(path);
}

TEST(NexmarkEventCsvTest, WriteEventsCsvErrorsNameThePath) {
  GeneratorConfig config;
  const Status missing_directory =
      WriteEventsCsv(config, 10, "/nonexistent-nexmark-dir/events.csv");
  ASSERT_FALSE(missing_directory.ok());
  EXPECT_NE(missing_directory.message().find("/nonexistent-nexmark-dir/events.csv"),
            std::string_view::npos)
      << missing_directory;
  const Status directory =
      WriteEventsCsv(config, 10, std::filesystem::temp_directory_path().string());
  EXPECT_FALSE(directory.ok());
  EXPECT_EQ(WriteEventsCsv(config, -1, TempPath("never.csv")).code(), StatusCode::kInvalidArgument);
  config.first_event_rate = -3;
  EXPECT_EQ(WriteEventsCsv(config, 10, TempPath("never.csv")).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(TempPath("never.csv")));
}

}  // namespace
}  // namespace weir::harness::nexmark
