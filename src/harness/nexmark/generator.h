// NexmarkGenerator: Nexmark's people, auctions and bids (nexmark/nexmark, nexmark-flink's
// generator package: GeneratorConfig, NexmarkGenerator, model/*Generator), as a pure function of
// the event number.
//
// What is nexmark's, rule for rule:
//   - the mix: event id e is a person when e % 50 < 1, an auction when < 4, a bid otherwise
//     (person:auction:bid = 1:3:46 by default), so every 50 consecutive events hold exactly that;
//   - ids: the k-th person is 1000 + k, the k-th auction 1000 + k (FIRST_PERSON_ID,
//     FIRST_AUCTION_ID); categories 10..14;
//   - an auction's seller is, with probability 1 - 1/hot_sellers_ratio, the first person of the
//     latest block of 100 people (a hot seller), otherwise a random one of the last
//     num_active_people people or up to 10 ids ahead of the newest (PERSON_ID_LEAD);
//   - a bid's auction is, with probability 1 - 1/hot_auction_ratio, the first auction of the
//     latest block of 100 (a hot auction), otherwise a random one of the last
//     num_in_flight_auctions auctions or up to 10 ahead (AUCTION_ID_LEAD); its bidder likewise the
//     second person of the latest block of 100 or an active person. nexmark adds FIRST_PERSON_ID
//     to the bidder twice (BidGenerator.nextBid), so bidders are 2000 + a person's base-0 id;
//     kept, since query results depend on it;
//   - prices round(10^(6u) * 100) cents for u uniform in [0, 1); an auction's reserve is its
//     initial bid plus another such price; it expires 1 + uniform[0, 2h) ms after its dateTime,
//     h being the event-time span of the next num_in_flight_auctions auctions;
//   - names, e-mail addresses, credit cards, cities, states, item names and descriptions from
//     nexmark's word lists and string rules; a bid's channel is one of 4 hot channels
//     (Google, Facebook, Baidu, Apple) with probability 1/2, otherwise one of 10 000
//     "channel-<i>" with a URL of three random directories and, 9 times in 10,
//     "&channel_id=<|Integer.reverse(i)|>";
//   - `extra` pads each event to the configured average size as nexmark accounts it (person:
//     8 + its strings, auction: 8 + item name + description + 40, bid: 32; uniform within +-20%)
//     with a substring at a random offset of a 1 MiB random string (nexmark's
//     REUSABLE_EXTRA_STRING);
//   - dateTime of event number n: base_time + (long)((first_event_number + n) * d) / 1000 with
//     d = 1e6 / first_event_rate microseconds (GeneratorConfig.timestampForEvent), in Java's
//     double arithmetic.
//
// Determinism. nexmark-flink's first generator (and Apache Beam's, which it came from) seeded a
// java.util.Random with the event id for every event; later nexmark releases draw from one
// unseeded SplittableRandom, so their streams differ on every run. This generator keeps the
// per-event seeding with today's draws in today's order (channel and url after the price, extra as
// a substring of the reusable string), so an event is a pure function of (config, event number):
// any subtask can generate any event, runs are reproducible, and the stream does not depend on the
// parallelism. With seed 0 every event equals, byte for byte, what nexmark-flink's current
// generator classes produce when their SplittableRandom is replaced by new Random(eventId) and
// the tables they build at class loading (the reusable extra string, the hot and channel URLs)
// are drawn from new Random(0) and new Random(0x6269645f75726c73) instead of unseeded randoms
// (tests/harness/nexmark_generator_test.cc holds events printed by those Java classes). A
// non-zero seed is mixed into every per-event seed and into the tables.
//
// Numbering. Event number n (0-based, the position in the stream) is nexmark's event id
// first_event_id + first_event_number + n, with nexmark's table-source values 1 and 1 as
// defaults, so event 0 is nexmark's first event (id 2, an auction). base_time defaults to Apache
// Beam Nexmark's fixed BASE_TIME (2015-07-15T00:00:00Z) where nexmark-flink uses the wall clock
// at job creation, again for reproducible runs.
//
// Cost: a bid is about a dozen LCG steps, one pow() and no allocation; its strings are views into
// shared tables. Person and auction strings are built in the generator's own buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "harness/nexmark/java_random.h"
#include "harness/nexmark/model.h"

namespace weir::harness::nexmark {

// nexmark's options with nexmark's defaults (NexmarkConfiguration / NexmarkSourceOptions, and the
// workload size of nexmark.yaml's 100m suite).
struct GeneratorConfig {
  int64_t max_events = 100'000'000;      // events.num
  double first_event_rate = 10'000'000;  // first-event.rate, events per second: sets the dateTimes
  uint64_t seed = 0;                     // 0: nexmark's seeded sequence; otherwise mixed in
  int person_proportion = 1;             // person.proportion
  int auction_proportion = 3;            // auction.proportion
  int bid_proportion = 46;               // bid.proportion
  // nexmark's baseTime, ms since the epoch (2015-07-15T00:00:00.000Z): event 0's dateTime at rates
  // of 1000 events/s and more (see the dateTime rule in the file comment).
  int64_t base_time = 1'436'918'400'000;
  int64_t first_event_id = 1;        // GeneratorConfig.firstEventId of nexmark's table source
  int64_t first_event_number = 1;    // GeneratorConfig.firstEventNumber of nexmark's table source
  int avg_person_byte_size = 200;    // person.avg-size
  int avg_auction_byte_size = 500;   // auction.avg-size
  int avg_bid_byte_size = 100;       // bid.avg-size
  int hot_auction_ratio = 2;         // bid.hot-ratio.auctions
  int hot_sellers_ratio = 4;         // auction.hot-ratio.sellers
  int hot_bidders_ratio = 4;         // bid.hot-ratio.bidders
  int num_in_flight_auctions = 100;  // NexmarkConfiguration.numInFlightAuctions
  int num_active_people = 1000;      // NexmarkConfiguration.numActivePeople

  int total_proportion() const { return person_proportion + auction_proportion + bid_proportion; }
  // Microseconds of event time between consecutive events (interEventDelayUs).
  double inter_event_delay_us() const { return 1'000'000.0 / first_event_rate; }
  // InvalidArgument naming the option when a value is out of range.
  Status Validate() const;
};

// The bytes of an event as nexmark accounts them when it sizes `extra` (see the file comment).
int64_t NexmarkByteSize(const Event& event);

namespace internal {
struct GeneratorTables;
}  // namespace internal

// One per source subtask; not thread-safe. Holds a reference to the immutable tables of its seed
// (shared by every generator of that seed in the process).
class NexmarkGenerator {
 public:
  // REQUIRES: config.Validate().ok().
  explicit NexmarkGenerator(const GeneratorConfig& config);
  ~NexmarkGenerator();
  NexmarkGenerator(const NexmarkGenerator&) = delete;
  NexmarkGenerator& operator=(const NexmarkGenerator&) = delete;

  // Event number n (0-based). The string views point into this generator's buffers or into the
  // shared tables and stay valid until the next call. No heap allocation. REQUIRES: n >= 0.
  const Event& Generate(int64_t event_number);

  // The dateTime of event n without generating it.
  int64_t TimestampOf(int64_t event_number) const {
    return TimestampForNexmarkEventNumber(config_.first_event_number + event_number);
  }
  // nexmark's event id of event n (its per-event seed with seed 0, and its kind: id % 50).
  int64_t EventIdOf(int64_t event_number) const { return id_base_ + event_number; }

  const GeneratorConfig& config() const { return config_; }

 private:
  // GeneratorConfig.timestampForEvent.
  int64_t TimestampForNexmarkEventNumber(int64_t number) const {
    return config_.base_time + static_cast<int64_t>(static_cast<double>(number) * delay_us_) / 1000;
  }
  void GeneratePerson(JavaRandom& random, int64_t epoch, int64_t offset, int64_t timestamp);
  void GenerateAuction(JavaRandom& random, int64_t event_number, int64_t epoch, int64_t offset,
                       int64_t timestamp);
  void GenerateBid(JavaRandom& random, int64_t epoch, int64_t offset, int64_t timestamp);
  int64_t LastBase0PersonId(int64_t epoch, int64_t offset) const;
  int64_t LastBase0AuctionId(int64_t epoch, int64_t offset) const;
  int64_t NextBase0PersonId(JavaRandom& random, int64_t epoch, int64_t offset) const;
  int64_t NextBase0AuctionId(JavaRandom& random, int64_t epoch, int64_t offset) const;
  std::string_view NextExtra(JavaRandom& random, int64_t current_size, int desired_average_size);

  GeneratorConfig config_;
  std::shared_ptr<const internal::GeneratorTables> tables_;
  double delay_us_;
  int64_t id_base_;
  int64_t seed_mix_;
  int64_t total_;
  Event event_;
  // Person and auction strings of the current event.
  char email_[32];
  char credit_card_[32];
  char item_name_[32];
  char description_[128];
  std::string long_extra_;  // only for extras of half a MiB or more (huge configured sizes)
};

}  // namespace weir::harness::nexmark
