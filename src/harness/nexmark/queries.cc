#include "harness/nexmark/queries.h"

#include <array>
#include <charconv>

namespace weir::harness::nexmark {

namespace {

constexpr std::array<NexmarkQuery, 11> kQueries = {{
    {"q0", "pass-through: every bid's auction, bidder, price, dateTime, extra",
     "auction,bidder,price,dateTime,extra", &BuildQ0},
    {"q1", "currency conversion: bids with 0.908 * price as DECIMAL(23, 3)",
     "auction,bidder,price,dateTime,extra", &BuildQ1},
    {"q2", "selection: auction and price of the bids with auction % 123 = 0", "auction,price",
     &BuildQ2},
    {"q3", "local item suggestion: sellers in OR, ID, CA joined with their category-10 auctions",
     "name,city,state,id", &BuildQ3},
    {"q4", "average closing price per category: AVG of each auction's max valid bid (updating)",
     "id,final", &BuildQ4},
    {"q5", "hot items: auctions with the most bids per HOP window of 10 s every 2 s", "auction,num",
     &BuildQ5},
    {"q7", "highest bid: the bids at the max price of their TUMBLE window of 10 s",
     "auction,bidder,price,dateTime,extra", &BuildQ7},
    {"q8",
     "monitor new users: persons who opened an auction in the TUMBLE window of 10 s they joined",
     "id,name,stime", &BuildQ8},
    {"q9", "winning bids: each auction with its highest valid bid (updating)",
     "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra,auction,"
     "bidder,"
     "price,bid_dateTime,bid_extra",
     &BuildQ9},
    {"q11", "user sessions: bids per bidder per SESSION window with a 10 s gap",
     "bidder,bid_count,starttime,endtime", &BuildQ11},
    {"q12", "processing-time windows: bids per bidder per TUMBLE window of 10 s of processing time",
     "bidder,bid_count,starttime,endtime", &BuildQ12},
}};

}  // namespace

std::span<const NexmarkQuery> NexmarkQueries() { return kQueries; }

const NexmarkQuery* FindNexmarkQuery(std::string_view name) {
  for (const NexmarkQuery& query : kQueries) {
    if (query.name == name) return &query;
  }
  return nullptr;
}

namespace internal {

void AppendCsvInt(std::string& out, int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendCsvString(std::string& out, std::string_view value) {
  bool quote = value.empty() || value.front() == ' ' || value.back() == ' ';
  for (size_t i = 0; !quote && i < value.size(); ++i) {
    const char c = value[i];
    quote = c == ',' || c == '"' || c == '\r' || c == '\n';
  }
  if (!quote) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (const char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace internal

}  // namespace weir::harness::nexmark
