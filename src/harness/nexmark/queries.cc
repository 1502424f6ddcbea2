#include "harness/nexmark/queries.h"

#include <array>
#include <charconv>

namespace weir::harness::nexmark {

namespace {

constexpr std::array<NexmarkQuery, 14> kQueries = {{
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
    {"q14",
     "calculation: bids priced 1 M to 50 M euro with their time of day and count of 'c' in extra",
     "auction,bidder,price,bidTimeType,dateTime,extra,c_counts", &BuildQ14},
    {"q21", "add a column: bids of a known channel or with a channel_id in the URL, with that id",
     "auction,bidder,price,channel,channel_id", &BuildQ21},
    {"q22", "split a column: bids with the first three directories of their URL",
     "auction,bidder,price,channel,dir1,dir2,dir3", &BuildQ22},
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

void AppendEuroPrice(std::string& out, int64_t price) {
  const __int128 thousandths = static_cast<__int128>(price) * 908;
  const unsigned __int128 magnitude = thousandths < 0 ? -static_cast<unsigned __int128>(thousandths)
                                                      : static_cast<unsigned __int128>(thousandths);
  if (thousandths < 0) out.push_back('-');
  char digits[48];
  int n = 0;
  unsigned __int128 rest = magnitude;
  do {
    digits[n++] = static_cast<char>('0' + static_cast<int>(rest % 10));
    rest /= 10;
  } while (rest != 0 || n < 4);  // at least one digit before the point
  for (int i = n - 1; i >= 0; --i) {
    out.push_back(digits[i]);
    if (i == 3) out.push_back('.');
  }
}

}  // namespace internal

}  // namespace weir::harness::nexmark
