#include "harness/nexmark/generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "base/check.h"

namespace weir::harness::nexmark {

namespace {

// nexmark's constants (GeneratorConfig, PersonGenerator, AuctionGenerator, BidGenerator).
constexpr int64_t kFirstPersonId = 1000;
constexpr int64_t kFirstAuctionId = 1000;
constexpr int64_t kFirstCategoryId = 10;
constexpr int kNumCategories = 5;
constexpr int64_t kPersonIdLead = 10;
constexpr int64_t kAuctionIdLead = 10;
constexpr int64_t kHotSellerRatio = 100;
constexpr int64_t kHotAuctionRatio = 100;
constexpr int64_t kHotBidderRatio = 100;
constexpr int kHotChannelsRatio = 2;
constexpr int kChannelsNumber = 10'000;
constexpr int kMinStringLength = 3;
constexpr int kReusableExtraLength = 1024 * 1024;

constexpr std::array<std::string_view, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> kUsCities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> kFirstNames = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> kLastNames = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
constexpr std::array<std::string_view, 4> kHotChannels = {"Google", "Facebook", "Baidu", "Apple"};

// MurmurHash3's fmix64: a bijection with fmix64(0) == 0, so seed 0 leaves nexmark's per-event
// seeds untouched and distinct seeds give distinct streams.
uint64_t MixSeed(uint64_t seed) {
  seed ^= seed >> 33;
  seed *= 0xff51afd7ed558ccdULL;
  seed ^= seed >> 33;
  seed *= 0xc4ceb9fe1a85ec53ULL;
  seed ^= seed >> 33;
  return seed;
}

// Java's Math.round(double): the closest long, ties toward positive infinity (exact, unlike
// floor(x + 0.5), whose addition can round up a value just below a half).
int64_t JavaRound(double x) {
  const double floor = std::floor(x);
  return static_cast<int64_t>(floor) + (x - floor >= 0.5 ? 1 : 0);
}

// LongGenerator.nextLong: uniform in [0, n) for n < Integer.MAX_VALUE, else (skewed, as nexmark)
// |nextLong() % n|.
int64_t NextLongBelow(JavaRandom& random, int64_t n) {
  if (n < INT32_MAX) return random.NextInt(static_cast<int32_t>(n));
  const int64_t r = random.NextLong() % n;
  return r < 0 ? -r : r;
}

// PriceGenerator.nextPrice.
int64_t NextPrice(JavaRandom& random) {
  return JavaRound(std::pow(10.0, random.NextDouble() * 6.0) * 100.0);
}

// StringsGenerator.nextString(random, maxLength, special) into `out` (room for maxLength - 1
// characters); returns the length after Java's String.trim().
size_t NextString(JavaRandom& random, int max_length, char special, char* out) {
  int length = kMinStringLength + random.NextInt(max_length - kMinStringLength);
  char* end = out;
  while (length-- > 0) {
    *end++ = random.NextInt(13) == 0 ? special : static_cast<char>('a' + random.NextInt(26));
  }
  // trim(): only `special` can be a character <= ' '.
  char* begin = out;
  while (begin < end && static_cast<unsigned char>(*begin) <= ' ') ++begin;
  while (end > begin && static_cast<unsigned char>(end[-1]) <= ' ') --end;
  if (begin != out) std::memmove(out, begin, static_cast<size_t>(end - begin));
  return static_cast<size_t>(end - begin);
}

// StringsGenerator.nextExactString's character path: six characters per nextInt(), 'a' + rnd % 26
// with Java's signed remainder (so a negative rnd gives characters below 'a', as in nexmark).
void NextExactCharacters(JavaRandom& random, size_t length, char* out) {
  int32_t rnd = 0;
  int n = 0;
  for (size_t i = 0; i < length; ++i) {
    if (n == 0) {
      rnd = random.NextInt();
      n = 6;
    }
    out[i] = static_cast<char>('a' + rnd % 26);
    rnd /= 26;
    --n;
  }
}

}  // namespace

namespace internal {

// What nexmark computes once per JVM at class loading: the reusable extra string
// (StringsGenerator), the hot URLs and the channel/URL cache (BidGenerator), the credit card
// digit groups and the name lists (PersonGenerator). Immutable after construction.
struct GeneratorTables {
  explicit GeneratorTables(uint64_t mixed_seed);

  std::string reusable_extra;
  std::array<std::string, kHotChannels.size()> hot_urls;
  std::vector<std::string> channel_names;
  std::vector<std::string> channel_urls;
  std::array<std::string, kFirstNames.size() * kLastNames.size()> full_names;
};

namespace {

// BidGenerator.getBaseUrl.
std::string BaseUrl(JavaRandom& random) {
  std::string url = "https://www.nexmark.com/";
  char part[8];
  for (int i = 0; i < 3; ++i) {
    url.append(part, NextString(random, 5, '_', part));
    url += '/';
  }
  url += "item.htm?query=1";
  return url;
}

}  // namespace

GeneratorTables::GeneratorTables(uint64_t mixed_seed) {
  // nexmark draws these from unseeded randoms; here from Randoms seeded from the run's seed.
  JavaRandom strings_random(static_cast<int64_t>(mixed_seed));
  reusable_extra.resize(kReusableExtraLength);
  NextExactCharacters(strings_random, reusable_extra.size(), reusable_extra.data());

  JavaRandom bid_random(static_cast<int64_t>(mixed_seed ^ 0x6269645f75726c73ULL));
  for (std::string& url : hot_urls) url = BaseUrl(bid_random);
  channel_names.reserve(kChannelsNumber);
  channel_urls.reserve(kChannelsNumber);
  for (int i = 0; i < kChannelsNumber; ++i) {
    std::string url = BaseUrl(bid_random);
    if (bid_random.NextInt(10) > 0) {
      // Math.abs(Integer.reverse(i)): Integer.MIN_VALUE stays negative.
      uint32_t bits = static_cast<uint32_t>(i);
      uint32_t reversed_bits = 0;
      for (int bit = 0; bit < 32; ++bit, bits >>= 1)
        reversed_bits = (reversed_bits << 1) | (bits & 1);
      const auto reversed = static_cast<int32_t>(reversed_bits);
      const int64_t absolute =
          reversed == INT32_MIN ? INT32_MIN : (reversed < 0 ? -int64_t{reversed} : reversed);
      url += "&channel_id=";
      url += std::to_string(absolute);
    }
    channel_names.push_back("channel-" + std::to_string(i));
    channel_urls.push_back(std::move(url));
  }

  for (size_t first = 0; first < kFirstNames.size(); ++first) {
    for (size_t last = 0; last < kLastNames.size(); ++last) {
      std::string& name = full_names[first * kLastNames.size() + last];
      name.append(kFirstNames[first]).append(" ").append(kLastNames[last]);
    }
  }
}

}  // namespace internal

namespace {

// Generators of one seed share its tables (1.6 MB); the last generator of a seed frees them.
std::shared_ptr<const internal::GeneratorTables> TablesFor(uint64_t mixed_seed) {
  static std::mutex mutex;
  static std::map<uint64_t, std::weak_ptr<const internal::GeneratorTables>> cache;
  std::lock_guard lock(mutex);
  std::weak_ptr<const internal::GeneratorTables>& entry = cache[mixed_seed];
  std::shared_ptr<const internal::GeneratorTables> tables = entry.lock();
  if (tables == nullptr) {
    tables = std::make_shared<const internal::GeneratorTables>(mixed_seed);
    entry = tables;
  }
  return tables;
}

}  // namespace

Status GeneratorConfig::Validate() const {
  if (max_events < 0) return InvalidArgument("events.num must not be negative: {}", max_events);
  if (!(first_event_rate > 0) || !std::isfinite(first_event_rate)) {
    return InvalidArgument("first-event.rate must be a positive number of events per second: {}",
                           first_event_rate);
  }
  if (person_proportion < 1 || auction_proportion < 1 || bid_proportion < 0) {
    return InvalidArgument(
        "person.proportion and auction.proportion must be at least 1 and bid.proportion at least "
        "0: "
        "{}:{}:{}",
        person_proportion, auction_proportion, bid_proportion);
  }
  if (avg_person_byte_size < 0 || avg_auction_byte_size < 0 || avg_bid_byte_size < 0) {
    return InvalidArgument(
        "average event sizes must not be negative: person {}, auction {}, bid {}",
        avg_person_byte_size, avg_auction_byte_size, avg_bid_byte_size);
  }
  if (hot_auction_ratio < 1 || hot_sellers_ratio < 1 || hot_bidders_ratio < 1) {
    return InvalidArgument(
        "hot ratios must be at least 1: bid.hot-ratio.auctions {}, auction.hot-ratio.sellers {}, "
        "bid.hot-ratio.bidders {}",
        hot_auction_ratio, hot_sellers_ratio, hot_bidders_ratio);
  }
  if (num_in_flight_auctions < 0 || num_active_people < 0) {
    return InvalidArgument("in-flight auctions ({}) and active people ({}) must not be negative",
                           num_in_flight_auctions, num_active_people);
  }
  if (first_event_id < 0 || first_event_number < 0) {
    return InvalidArgument("first event id ({}) and number ({}) must not be negative",
                           first_event_id, first_event_number);
  }
  return Status::Ok();
}

int64_t NexmarkByteSize(const Event& event) {
  switch (event.type) {
    case EventType::kPerson: {
      const Person& p = event.person;
      return static_cast<int64_t>(8 + p.name.size() + p.email_address.size() +
                                  p.credit_card.size() + p.city.size() + p.state.size() +
                                  p.extra.size());
    }
    case EventType::kAuction: {
      const Auction& a = event.auction;
      return static_cast<int64_t>(8 + a.item_name.size() + a.description.size() + 40 +
                                  a.extra.size());
    }
    case EventType::kBid:
      return static_cast<int64_t>(32 + event.bid.extra.size());
  }
  return 0;
}

NexmarkGenerator::NexmarkGenerator(const GeneratorConfig& config)
    : config_(config),
      delay_us_(config.inter_event_delay_us()),
      id_base_(config.first_event_id + config.first_event_number),
      seed_mix_(static_cast<int64_t>(MixSeed(config.seed))),
      total_(config.total_proportion()) {
  const Status valid = config.Validate();
  WEIR_CHECK_MSG(valid.ok(), "invalid Nexmark generator config: {}", valid.ToString());
  tables_ = TablesFor(MixSeed(config.seed));
  const int largest = std::max(
      {config.avg_person_byte_size, config.avg_auction_byte_size, config.avg_bid_byte_size});
  // nextExactString generates characters only for lengths of half the reusable string or more.
  if (static_cast<int64_t>(largest) * 6 / 5 + 1 >= kReusableExtraLength / 2) {
    long_extra_.resize(static_cast<size_t>(largest) * 6 / 5 + 2);
  }
}

NexmarkGenerator::~NexmarkGenerator() = default;

const Event& NexmarkGenerator::Generate(int64_t event_number) {
  WEIR_DCHECK(event_number >= 0);
  const int64_t event_id = id_base_ + event_number;
  JavaRandom random(event_id ^ seed_mix_);
  const int64_t timestamp = TimestampOf(event_number);
  const int64_t epoch = event_id / total_;
  const int64_t offset = event_id % total_;
  if (offset < config_.person_proportion) {
    GeneratePerson(random, epoch, offset, timestamp);
  } else if (offset < config_.person_proportion + config_.auction_proportion) {
    GenerateAuction(random, event_number, epoch, offset, timestamp);
  } else {
    GenerateBid(random, epoch, offset, timestamp);
  }
  return event_;
}

int64_t NexmarkGenerator::LastBase0PersonId(int64_t epoch, int64_t offset) const {
  if (offset >= config_.person_proportion) offset = config_.person_proportion - 1;
  return epoch * config_.person_proportion + offset;
}

int64_t NexmarkGenerator::LastBase0AuctionId(int64_t epoch, int64_t offset) const {
  if (offset < config_.person_proportion) {
    --epoch;
    offset = config_.auction_proportion - 1;
  } else if (offset >= config_.person_proportion + config_.auction_proportion) {
    offset = config_.auction_proportion - 1;
  } else {
    offset -= config_.person_proportion;
  }
  return epoch * config_.auction_proportion + offset;
}

int64_t NexmarkGenerator::NextBase0PersonId(JavaRandom& random, int64_t epoch,
                                            int64_t offset) const {
  const int64_t num_people = LastBase0PersonId(epoch, offset) + 1;
  const int64_t active_people = std::min<int64_t>(num_people, config_.num_active_people);
  const int64_t n = NextLongBelow(random, active_people + kPersonIdLead);
  return num_people - active_people + n;
}

int64_t NexmarkGenerator::NextBase0AuctionId(JavaRandom& random, int64_t epoch,
                                             int64_t offset) const {
  const int64_t max_auction = LastBase0AuctionId(epoch, offset);
  const int64_t min_auction = std::max<int64_t>(max_auction - config_.num_in_flight_auctions, 0);
  return min_auction + NextLongBelow(random, max_auction - min_auction + 1 + kAuctionIdLead);
}

// StringsGenerator.nextExtra and nextExactString.
std::string_view NexmarkGenerator::NextExtra(JavaRandom& random, int64_t current_size,
                                             int desired_average_size) {
  if (current_size > desired_average_size) return {};
  const int desired = desired_average_size - static_cast<int>(current_size);
  const int delta = static_cast<int>(JavaRound(desired * 0.2));
  const int size = desired - delta + (delta == 0 ? 0 : random.NextInt(2 * delta));
  const std::string& reusable = tables_->reusable_extra;
  if (size < kReusableExtraLength / 2) {
    const int start = random.NextInt(kReusableExtraLength - size);
    // The consumer reads the extra next, from a random spot in 1 MiB: start the fetch now.
    __builtin_prefetch(reusable.data() + start);
    __builtin_prefetch(reusable.data() + start + size - 1);
    return std::string_view(reusable).substr(static_cast<size_t>(start), static_cast<size_t>(size));
  }
  WEIR_CHECK(static_cast<size_t>(size) <= long_extra_.size());
  NextExactCharacters(random, static_cast<size_t>(size), long_extra_.data());
  return std::string_view(long_extra_.data(), static_cast<size_t>(size));
}

void NexmarkGenerator::GeneratePerson(JavaRandom& random, int64_t epoch, int64_t offset,
                                      int64_t timestamp) {
  const internal::GeneratorTables& tables = *tables_;
  event_.type = EventType::kPerson;
  Person& person = event_.person;
  person.id = LastBase0PersonId(epoch, offset) + kFirstPersonId;
  const int first = random.NextInt(static_cast<int32_t>(kFirstNames.size()));
  const int last = random.NextInt(static_cast<int32_t>(kLastNames.size()));
  person.name =
      tables.full_names[static_cast<size_t>(first) * kLastNames.size() + static_cast<size_t>(last)];

  char* email = email_;
  email += NextString(random, 7, ' ', email);
  *email++ = '@';
  email += NextString(random, 5, ' ', email);
  std::memcpy(email, ".com", 4);
  email += 4;
  person.email_address = std::string_view(email_, static_cast<size_t>(email - email_));

  char* card = credit_card_;
  for (int group = 0; group < 4; ++group) {
    if (group > 0) *card++ = ' ';
    int digits = random.NextInt(10'000);
    for (int i = 3; i >= 0; --i) {
      card[i] = static_cast<char>('0' + digits % 10);
      digits /= 10;
    }
    card += 4;
  }
  person.credit_card = std::string_view(credit_card_, static_cast<size_t>(card - credit_card_));
  person.city =
      kUsCities[static_cast<size_t>(random.NextInt(static_cast<int32_t>(kUsCities.size())))];
  person.state =
      kUsStates[static_cast<size_t>(random.NextInt(static_cast<int32_t>(kUsStates.size())))];
  person.date_time = timestamp;
  const int64_t current_size =
      8 +
      static_cast<int64_t>(person.name.size() + person.email_address.size() +
                           person.credit_card.size() + person.city.size() + person.state.size());
  person.extra = NextExtra(random, current_size, config_.avg_person_byte_size);
}

void NexmarkGenerator::GenerateAuction(JavaRandom& random, int64_t event_number, int64_t epoch,
                                       int64_t offset, int64_t timestamp) {
  event_.type = EventType::kAuction;
  Auction& auction = event_.auction;
  auction.id = LastBase0AuctionId(epoch, offset) + kFirstAuctionId;

  int64_t seller;
  if (random.NextInt(config_.hot_sellers_ratio) > 0) {
    seller = (LastBase0PersonId(epoch, offset) / kHotSellerRatio) * kHotSellerRatio;
  } else {
    seller = NextBase0PersonId(random, epoch, offset);
  }
  auction.seller = seller + kFirstPersonId;
  auction.category = kFirstCategoryId + random.NextInt(kNumCategories);
  auction.initial_bid = NextPrice(random);

  // nextAuctionLengthMs: an average length of the event time the next numInFlightAuctions
  // auctions take to be generated.
  const int64_t current_number = config_.first_event_number + event_number;
  const int64_t events_for_auctions =
      static_cast<int64_t>(config_.num_in_flight_auctions) * total_ / config_.auction_proportion;
  const int64_t future_auction =
      TimestampForNexmarkEventNumber(current_number + events_for_auctions);
  const int64_t horizon = future_auction - timestamp;
  auction.expires = timestamp + 1 + NextLongBelow(random, std::max<int64_t>(horizon * 2, 1));

  auction.item_name = std::string_view(item_name_, NextString(random, 20, ' ', item_name_));
  auction.description = std::string_view(description_, NextString(random, 100, ' ', description_));
  auction.reserve = auction.initial_bid + NextPrice(random);
  auction.date_time = timestamp;
  const int64_t current_size =
      8 + static_cast<int64_t>(auction.item_name.size() + auction.description.size()) + 8 * 5;
  auction.extra = NextExtra(random, current_size, config_.avg_auction_byte_size);
}

void NexmarkGenerator::GenerateBid(JavaRandom& random, int64_t epoch, int64_t offset,
                                   int64_t timestamp) {
  const internal::GeneratorTables& tables = *tables_;
  event_.type = EventType::kBid;
  Bid& bid = event_.bid;

  int64_t auction;
  if (random.NextInt(config_.hot_auction_ratio) > 0) {
    auction = (LastBase0AuctionId(epoch, offset) / kHotAuctionRatio) * kHotAuctionRatio;
  } else {
    auction = NextBase0AuctionId(random, epoch, offset);
  }
  bid.auction = auction + kFirstAuctionId;

  int64_t bidder;
  if (random.NextInt(config_.hot_bidders_ratio) > 0) {
    bidder = (LastBase0PersonId(epoch, offset) / kHotBidderRatio) * kHotBidderRatio + 1;
  } else {
    bidder = NextBase0PersonId(random, epoch, offset);
  }
  // nexmark adds FIRST_PERSON_ID here and again after choosing the channel.
  bid.bidder = bidder + kFirstPersonId + kFirstPersonId;
  bid.price = NextPrice(random);

  if (random.NextInt(kHotChannelsRatio) > 0) {
    const auto i = static_cast<size_t>(random.NextInt(static_cast<int32_t>(kHotChannels.size())));
    bid.channel = kHotChannels[i];
    bid.url = tables.hot_urls[i];
  } else {
    const auto i = static_cast<size_t>(random.NextInt(kChannelsNumber));
    bid.channel = tables.channel_names[i];
    bid.url = tables.channel_urls[i];
  }
  bid.date_time = timestamp;
  bid.extra = NextExtra(random, 32, config_.avg_bid_byte_size);
}

}  // namespace weir::harness::nexmark
