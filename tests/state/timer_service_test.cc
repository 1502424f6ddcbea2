#include "state/timer_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 4096;

std::unique_ptr<memory::SegmentPool> MakePool(size_t segment_count) {
  memory::SegmentPool::Options options;
  options.segment_size = kSegmentSize;
  options.segment_count = segment_count;
  options.prefault = false;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(pool).value();
}

struct TestKey {
  std::string bytes;
  uint64_t hash;
  int key_group;

  CurrentKey current() const { return CurrentKey{bytes, hash, key_group}; }
};

TestKey MakeKey(std::string bytes) {
  const uint64_t hash = Hash64(bytes);
  return {std::move(bytes), hash, KeyGroupForHash(hash, kMaxParallelism)};
}

std::string RandomBytes(std::mt19937_64& random, size_t size) {
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

// (timestamp, key index) of fired timers.
using TimedKeys = std::vector<std::pair<Timestamp, int>>;

// A timer of the reference, by indexes into the key and namespace lists.
using RefTimer = std::tuple<Timestamp, int, int>;

// Keys and namespaces of a test, with lookups from a fired timer's bytes back to indexes.
class Universe {
 public:
  Universe(std::mt19937_64& random, size_t key_count) {
    std::set<std::string> distinct;
    while (keys_.size() < key_count) {
      std::string bytes = RandomBytes(random, random() % 24);
      if (!distinct.insert(bytes).second) continue;
      key_index_[bytes] = static_cast<int>(keys_.size());
      keys_.push_back(MakeKey(std::move(bytes)));
    }
    namespaces_ = {"", "w", RandomBytes(random, 8), RandomBytes(random, 16),
                   RandomBytes(random, 37)};
    for (size_t i = 0; i < namespaces_.size(); ++i) ns_index_[namespaces_[i]] = static_cast<int>(i);
  }

  const TestKey& key(int index) const { return keys_[index]; }
  const std::string& ns(int index) const { return namespaces_[index]; }
  int key_count() const { return static_cast<int>(keys_.size()); }
  int ns_count() const { return static_cast<int>(namespaces_.size()); }

  // The reference timer a fired timer names; fails the test if the bytes are unknown.
  RefTimer Identify(const FiredTimer& timer) const {
    const auto key = key_index_.find(std::string(timer.key.bytes));
    const auto ns = ns_index_.find(std::string(timer.ns));
    EXPECT_NE(key, key_index_.end());
    EXPECT_NE(ns, ns_index_.end());
    if (key == key_index_.end() || ns == ns_index_.end()) return {timer.timestamp, -1, -1};
    const TestKey& expected = keys_[key->second];
    EXPECT_EQ(timer.key.hash, expected.hash);
    EXPECT_EQ(timer.key.key_group, expected.key_group);
    return {timer.timestamp, key->second, ns->second};
  }

 private:
  std::vector<TestKey> keys_;
  std::vector<std::string> namespaces_;
  std::map<std::string, int> key_index_;
  std::map<std::string, int> ns_index_;
};

enum class Domain { kEvent, kProcessing };

// The property test: random registrations, deletions and advances of both domains (also from
// inside callbacks) against two std::sets; every fired timer must be the earliest of its set.
class RandomTimers {
 public:
  RandomTimers(uint64_t seed, size_t key_count, TimerService* service)
      : random_(seed), universe_(random_, key_count), service_(service) {}

  std::set<RefTimer>& reference(Domain domain) {
    return domain == Domain::kEvent ? event_reference_ : processing_reference_;
  }
  Timestamp& time(Domain domain) { return domain == Domain::kEvent ? watermark_ : now_; }

  RefTimer RandomTimer(Domain domain, Timestamp low, Timestamp high) {
    const Timestamp timestamp = low + static_cast<Timestamp>(random_() % (high - low + 1));
    (void)domain;
    return {timestamp, static_cast<int>(random_() % universe_.key_count()),
            static_cast<int>(random_() % universe_.ns_count())};
  }

  void Register(Domain domain, const RefTimer& timer) {
    const auto& [timestamp, key, ns] = timer;
    if (domain == Domain::kEvent) {
      service_->RegisterEventTimeTimer(universe_.key(key).current(), universe_.ns(ns), timestamp);
    } else {
      service_->RegisterProcessingTimeTimer(universe_.key(key).current(), universe_.ns(ns),
                                            timestamp);
    }
    reference(domain).insert(timer);
  }

  void Delete(Domain domain, const RefTimer& timer) {
    const auto& [timestamp, key, ns] = timer;
    if (domain == Domain::kEvent) {
      service_->DeleteEventTimeTimer(universe_.key(key).current(), universe_.ns(ns), timestamp);
    } else {
      service_->DeleteProcessingTimeTimer(universe_.key(key).current(), universe_.ns(ns),
                                          timestamp);
    }
    reference(domain).erase(timer);
  }

  // A registered timer (or a random one when none is), to delete.
  RefTimer PickForDeletion(Domain domain) {
    std::set<RefTimer>& timers = reference(domain);
    if (timers.empty() || random_() % 4 == 0) {
      return RandomTimer(domain, time(domain) - 5, time(domain) + 60);
    }
    auto it = timers.lower_bound(RandomTimer(domain, time(domain) - 5, time(domain) + 60));
    if (it == timers.end()) it = timers.begin();
    return *it;
  }

  void ExpectCounts() {
    EXPECT_EQ(service_->event_timer_count(), event_reference_.size());
    EXPECT_EQ(service_->processing_timer_count(), processing_reference_.size());
    EXPECT_EQ(service_->next_event_time(),
              event_reference_.empty() ? kMaxTimestamp : std::get<0>(*event_reference_.begin()));
    EXPECT_EQ(service_->next_processing_time(), processing_reference_.empty()
                                                    ? kMaxTimestamp
                                                    : std::get<0>(*processing_reference_.begin()));
  }

  // What a callback does: checks the timer is the earliest registered one, then registers and
  // deletes timers of both domains, some due in this advance.
  void OnTimer(Domain domain, Timestamp limit, const FiredTimer& fired) {
    ++fired_count_;
    std::set<RefTimer>& timers = reference(domain);
    const RefTimer timer = universe_.Identify(fired);
    ASSERT_FALSE(timers.empty());
    ASSERT_LE(fired.timestamp, limit);
    ASSERT_EQ(fired.timestamp, std::get<0>(*timers.begin())) << "not the earliest timer";
    ASSERT_EQ(timers.erase(timer), 1u) << "fired a timer that is not registered";
    EXPECT_EQ(service_->event_timer_count(), event_reference_.size());
    EXPECT_EQ(service_->processing_timer_count(), processing_reference_.size());
    if (domain == Domain::kEvent) EXPECT_EQ(service_->current_watermark(), limit);
    const int actions = static_cast<int>(random_() % 4);
    for (int i = 0; i < actions; ++i) {
      const Domain other = random_() % 4 == 0
                               ? (domain == Domain::kEvent ? Domain::kProcessing : Domain::kEvent)
                               : domain;
      switch (random_() % 6) {
        case 0:  // due in this advance, possibly earlier than the timer firing now
          Register(other, RandomTimer(other, fired.timestamp - 3, limit));
          break;
        case 1:
          Register(other, RandomTimer(other, limit - 2, limit + 40));
          break;
        case 2:
        case 3:
          Delete(other, PickForDeletion(other));
          break;
        case 4:  // re-register the fired timer itself, through the views it was handed
          if (other == domain && random_() % 3 == 0) {
            if (domain == Domain::kEvent) {
              service_->RegisterEventTimeTimer(fired.key, fired.ns, fired.timestamp);
            } else {
              service_->RegisterProcessingTimeTimer(fired.key, fired.ns, fired.timestamp);
            }
            timers.insert(timer);
          }
          break;
        default:  // register then delete a due timer: it must not fire
          if (other == domain) {
            const RefTimer due = RandomTimer(other, fired.timestamp, limit);
            Register(other, due);
            Delete(other, due);
          }
          break;
      }
    }
  }

  void Advance(Domain domain, Timestamp limit) {
    time(domain) = limit;
    auto on_timer = [&](const FiredTimer& fired) { OnTimer(domain, limit, fired); };
    if (domain == Domain::kEvent) {
      service_->AdvanceWatermark(limit, on_timer);
      EXPECT_EQ(service_->current_watermark(), limit);
    } else {
      service_->AdvanceProcessingTime(limit, on_timer);
    }
    const std::set<RefTimer>& timers = reference(domain);
    if (!timers.empty()) {
      EXPECT_GT(std::get<0>(*timers.begin()), limit) << "a due timer did not fire";
    }
  }

  void Step() {
    const Domain domain = random_() % 2 == 0 ? Domain::kEvent : Domain::kProcessing;
    const uint64_t choice = random_() % 100;
    if (choice < 50) {
      Register(domain, RandomTimer(domain, time(domain) - 3, time(domain) + 60));
    } else if (choice < 53) {
      // The window operator's pattern: one timer registered again and again.
      const RefTimer timer = RandomTimer(domain, time(domain) + 1, time(domain) + 10);
      for (int i = 0; i < 10; ++i) Register(domain, timer);
    } else if (choice < 85) {
      Delete(domain, PickForDeletion(domain));
    } else if (choice < 88) {
      // Re-register after delete: fires once.
      const RefTimer timer = RandomTimer(domain, time(domain) + 1, time(domain) + 30);
      Register(domain, timer);
      Delete(domain, timer);
      Register(domain, timer);
    } else if (choice < 90) {
      Advance(domain, time(domain) - static_cast<Timestamp>(random_() % 3));
    } else {
      Advance(domain, time(domain) + static_cast<Timestamp>(random_() % 12));
    }
    ExpectCounts();
  }

  // Many timers far ahead, most of them then deleted: the stale records outnumber the live timers
  // and the buckets are rebuilt from the table.
  void RegisterManyDeleteMost(Domain domain) {
    for (int i = 0; i < 8000; ++i) {
      Register(domain, RandomTimer(domain, time(domain) + 1, time(domain) + 400));
    }
    std::vector<RefTimer> registered(reference(domain).begin(), reference(domain).end());
    std::shuffle(registered.begin(), registered.end(), random_);
    if (registered.size() > 1000) registered.resize(registered.size() - 1000);
    for (const RefTimer& timer : registered) Delete(domain, timer);
    ExpectCounts();
  }

  size_t fired_count() const { return fired_count_; }

 private:
  std::mt19937_64 random_;
  Universe universe_;
  TimerService* service_;
  std::set<RefTimer> event_reference_;
  std::set<RefTimer> processing_reference_;
  Timestamp watermark_ = 0;
  Timestamp now_ = 1000;
  size_t fired_count_ = 0;
};

class TimerServiceTest : public ::testing::Test {
 protected:
  std::unique_ptr<memory::SegmentPool> pool_ = MakePool(8192);
  memory::MemoryBudget budget_{int64_t{1} << 30};
};

TEST_F(TimerServiceTest, EmptyService) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  EXPECT_EQ(service.current_watermark(), kMinTimestamp);
  EXPECT_EQ(service.next_event_time(), kMaxTimestamp);
  EXPECT_EQ(service.next_processing_time(), kMaxTimestamp);
  EXPECT_EQ(service.event_timer_count(), 0u);
  EXPECT_EQ(service.processing_timer_count(), 0u);
  int fired = 0;
  service.AdvanceWatermark(100, [&](const FiredTimer&) { ++fired; });
  service.AdvanceProcessingTime(100, [&](const FiredTimer&) { ++fired; });
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(service.current_watermark(), 100);
  const TestKey key = MakeKey("k");
  service.DeleteEventTimeTimer(key.current(), "", 5);
  EXPECT_TRUE(service.status().ok());
}

TEST_F(TimerServiceTest, FiresInTimestampOrderAndDeduplicates) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey a = MakeKey("a");
  const TestKey b = MakeKey("b");
  for (int i = 0; i < 100; ++i) service.RegisterEventTimeTimer(a.current(), "w1", 30);
  service.RegisterEventTimeTimer(b.current(), "w1", 10);
  service.RegisterEventTimeTimer(a.current(), "w2", 20);
  service.RegisterEventTimeTimer(a.current(), "w1", 40);
  service.RegisterEventTimeTimer(a.current(), "w1", -5);
  EXPECT_EQ(service.event_timer_count(), 5u);
  EXPECT_EQ(service.next_event_time(), -5);
  std::vector<std::tuple<Timestamp, std::string, std::string>> fired;
  service.AdvanceWatermark(30, [&](const FiredTimer& timer) {
    fired.emplace_back(timer.timestamp, std::string(timer.key.bytes), std::string(timer.ns));
  });
  const std::vector<std::tuple<Timestamp, std::string, std::string>> expected = {
      {-5, "a", "w1"}, {10, "b", "w1"}, {20, "a", "w2"}, {30, "a", "w1"}};
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(service.event_timer_count(), 1u);
  EXPECT_EQ(service.next_event_time(), 40);
}

TEST_F(TimerServiceTest, DeleteBeforeFiringAndReRegisterFireOnce) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey key = MakeKey("key");
  service.RegisterEventTimeTimer(key.current(), "", 10);
  service.DeleteEventTimeTimer(key.current(), "", 10);
  service.DeleteEventTimeTimer(key.current(), "", 10);
  EXPECT_EQ(service.event_timer_count(), 0u);
  EXPECT_EQ(service.next_event_time(), kMaxTimestamp);
  service.RegisterEventTimeTimer(key.current(), "", 20);
  service.DeleteEventTimeTimer(key.current(), "", 20);
  service.RegisterEventTimeTimer(key.current(), "", 20);
  int fired = 0;
  service.AdvanceWatermark(100, [&](const FiredTimer& timer) {
    EXPECT_EQ(timer.timestamp, 20);
    ++fired;
  });
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(service.event_timer_count(), 0u);
}

TEST_F(TimerServiceTest, EventAndProcessingTimeAreIndependent) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey key = MakeKey("key");
  service.RegisterEventTimeTimer(key.current(), "n", 10);
  service.RegisterProcessingTimeTimer(key.current(), "n", 10);
  service.RegisterProcessingTimeTimer(key.current(), "n", 5);
  EXPECT_EQ(service.event_timer_count(), 1u);
  EXPECT_EQ(service.processing_timer_count(), 2u);
  EXPECT_EQ(service.next_event_time(), 10);
  EXPECT_EQ(service.next_processing_time(), 5);
  std::vector<Timestamp> event_fired;
  service.AdvanceWatermark(
      20, [&](const FiredTimer& timer) { event_fired.push_back(timer.timestamp); });
  EXPECT_EQ(event_fired, std::vector<Timestamp>{10});
  EXPECT_EQ(service.processing_timer_count(), 2u);
  service.DeleteProcessingTimeTimer(key.current(), "n", 5);
  EXPECT_EQ(service.next_processing_time(), 10);
  std::vector<Timestamp> processing_fired;
  service.AdvanceProcessingTime(
      20, [&](const FiredTimer& timer) { processing_fired.push_back(timer.timestamp); });
  EXPECT_EQ(processing_fired, std::vector<Timestamp>{10});
  EXPECT_EQ(service.current_watermark(), 20);
}

TEST_F(TimerServiceTest, CallbacksRegisterAndDeleteTimersOfTheSameAdvance) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey a = MakeKey("a");
  const TestKey b = MakeKey("b");
  service.RegisterEventTimeTimer(a.current(), "", 10);
  service.RegisterEventTimeTimer(b.current(), "", 10);
  service.RegisterEventTimeTimer(b.current(), "", 30);
  std::vector<std::pair<Timestamp, std::string>> fired;
  service.AdvanceWatermark(50, [&](const FiredTimer& timer) {
    fired.emplace_back(timer.timestamp, std::string(timer.key.bytes));
    if (fired.size() == 1) {
      // Whichever of a/b fires first deletes the other's timer at 10 and at 30; it registers
      // an earlier-than-next timer (fires next), and one beyond the watermark.
      const TestKey& other = timer.key.bytes == "a" ? b : a;
      service.DeleteEventTimeTimer(other.current(), "", 10);
      service.DeleteEventTimeTimer(b.current(), "", 30);
      service.RegisterEventTimeTimer(other.current(), "x", 10);
      service.RegisterEventTimeTimer(other.current(), "", 60);
      EXPECT_EQ(service.current_watermark(), 50);
    }
  });
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].first, 10);
  EXPECT_EQ(fired[1].first, 10);
  EXPECT_NE(fired[0].second, fired[1].second);
  EXPECT_EQ(service.event_timer_count(), 1u);
  EXPECT_EQ(service.next_event_time(), 60);
}

TEST_F(TimerServiceTest, TimerRegisteredEarlierThanTheFiringOneFiresNext) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  std::vector<TestKey> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(MakeKey("k" + std::to_string(i)));
  for (const TestKey& key : keys) service.RegisterEventTimeTimer(key.current(), "", 20);
  std::vector<Timestamp> fired;
  service.AdvanceWatermark(20, [&](const FiredTimer& timer) {
    fired.push_back(timer.timestamp);
    if (fired.size() == 1) service.RegisterEventTimeTimer(keys[0].current(), "e", 15);
  });
  EXPECT_EQ(fired, (std::vector<Timestamp>{20, 15, 20, 20, 20, 20}));
}

TEST_F(TimerServiceTest, RandomOperationsMatchReference) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    TimerService service(pool_.get(), &budget_, "Timers (1/1)");
    RandomTimers timers(seed, seed % 2 == 0 ? 8 : 300, &service);
    for (int step = 0; step < 20000 && !::testing::Test::HasFailure(); ++step) {
      if (step % 5000 == 2500) {
        timers.RegisterManyDeleteMost(step % 10000 == 2500 ? Domain::kEvent : Domain::kProcessing);
      }
      timers.Step();
    }
    EXPECT_GT(timers.fired_count(), 1000u);
    EXPECT_TRUE(service.status().ok()) << service.status().ToString();
  }
  EXPECT_EQ(budget_.used(), 0);
}

TEST_F(TimerServiceTest, TablesHoldTheTimers) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey key = MakeKey("key");
  service.RegisterEventTimeTimer(key.current(), "ns", -2);
  service.RegisterProcessingTimeTimer(key.current(), "", 7);
  std::vector<std::tuple<int, std::string, std::string>> entries;
  service.event_timers().ForEach(
      [&](int key_group, std::string_view bytes, std::string_view ns, std::span<const std::byte>) {
        entries.emplace_back(key_group, std::string(bytes), std::string(ns));
      });
  // Namespace = big-endian two's complement timestamp, then the timer's namespace.
  const std::string minus_two_ns = std::string("\xff\xff\xff\xff\xff\xff\xff\xfe", 8) + "ns";
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0], std::make_tuple(key.key_group, std::string("key"), minus_two_ns));
  entries.clear();
  service.processing_timers().ForEach(
      [&](int key_group, std::string_view bytes, std::string_view ns, std::span<const std::byte>) {
        entries.emplace_back(key_group, std::string(bytes), std::string(ns));
      });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0], std::make_tuple(key.key_group, std::string("key"),
                                        std::string("\0\0\0\0\0\0\0\x07", 8)));
}

TEST_F(TimerServiceTest, DeletedTimersDoNotAccumulate) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  std::vector<TestKey> keys;
  for (int i = 0; i < 2000; ++i) keys.push_back(MakeKey("key-" + std::to_string(i)));
  // A KeyedProcessFunction's timeout pattern: delete the old timer, register a later one, while
  // the watermark stays behind; and the same timer deleted and registered again.
  std::set<std::pair<Timestamp, int>> reference;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < static_cast<int>(keys.size()); ++i) {
      if (round > 0) {
        service.DeleteEventTimeTimer(keys[i].current(), "", 1000 + round - 1);
        reference.erase({1000 + round - 1, i});
      }
      service.RegisterEventTimeTimer(keys[i].current(), "", 1000 + round);
      service.DeleteEventTimeTimer(keys[i].current(), "", 5);
      service.RegisterEventTimeTimer(keys[i].current(), "", 5);
      reference.insert({1000 + round, i});
      reference.insert({5, i});
    }
  }
  EXPECT_EQ(service.event_timer_count(), reference.size());
  // Live: 2 timers per key; records of 50 rounds would be 100 per key without compaction.
  EXPECT_LT(service.memory_bytes(), 2000 * 2 * 200 + (int64_t{1} << 20));
  TimedKeys fired;
  service.AdvanceWatermark(kMaxTimestamp, [&](const FiredTimer& timer) {
    fired.emplace_back(timer.timestamp, std::stoi(std::string(timer.key.bytes.substr(4))));
  });
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, TimedKeys(reference.begin(), reference.end()));
  EXPECT_EQ(service.event_timer_count(), 0u);
}

TEST_F(TimerServiceTest, RegisteringAnExistingTimerDoesNotGrowMemory) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  std::vector<TestKey> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back(MakeKey("key-" + std::to_string(i)));
  for (const TestKey& key : keys) service.RegisterEventTimeTimer(key.current(), "", 99);
  const int64_t memory = service.memory_bytes();
  for (int round = 0; round < 20; ++round) {
    for (const TestKey& key : keys) service.RegisterEventTimeTimer(key.current(), "", 99);
  }
  EXPECT_EQ(service.memory_bytes(), memory);
  EXPECT_EQ(service.event_timer_count(), keys.size());
}

TEST_F(TimerServiceTest, SteadyStateReusesBucketMemory) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  std::vector<TestKey> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back(MakeKey("key-" + std::to_string(i)));
  // Bytes of the service's own structures (buckets, heaps, indexes), not of the tables.
  auto own_bytes = [&] {
    return service.memory_bytes() - service.event_timers().memory_bytes() -
           service.processing_timers().memory_bytes();
  };
  Timestamp now = 0;
  int64_t after_first_round = 0;
  for (int round = 0; round < 10; ++round) {
    // Processing time at millisecond resolution: one timer per timestamp. And a window's worth
    // of event-time timers at one timestamp.
    for (int i = 0; i < static_cast<int>(keys.size()); ++i) {
      service.RegisterProcessingTimeTimer(keys[i].current(), "", now + 1 + i);
      service.RegisterEventTimeTimer(keys[i].current(), "w", now + 1000);
    }
    size_t fired = 0;
    now += 1000;
    service.AdvanceProcessingTime(now, [&](const FiredTimer&) { ++fired; });
    service.AdvanceWatermark(now, [&](const FiredTimer&) { ++fired; });
    EXPECT_EQ(fired, 2 * keys.size());
    if (round == 0) after_first_round = own_bytes();
    EXPECT_EQ(own_bytes(), after_first_round) << "round " << round;
  }
}

TEST_F(TimerServiceTest, TimerLargerThanAnEntryFails) {
  TimerService service(pool_.get(), &budget_, "Timers (1/1)");
  const TestKey key = MakeKey("key");
  service.RegisterEventTimeTimer(key.current(), std::string(2 * kSegmentSize, 'n'), 1);
  EXPECT_EQ(service.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service.event_timer_count(), 0u);
  EXPECT_EQ(service.next_event_time(), kMaxTimestamp);
  service.RegisterEventTimeTimer(key.current(), "n", 1);
  EXPECT_EQ(service.event_timer_count(), 1u);
}

TEST_F(TimerServiceTest, BudgetExhaustionIsReportedAndLeavesTheServiceConsistent) {
  // Budgets of many sizes, so that the first failure comes from the tables for some and from the
  // service's own buckets, heap or index for others.
  int table_failures = 0;
  int bucket_failures = 0;
  for (int64_t total = 8 * 1024; total <= 160 * 1024; total += 1024) {
    SCOPED_TRACE(total);
    memory::MemoryBudget budget(total);
    std::set<std::pair<Timestamp, int>> registered;
    {
      TimerService service(pool_.get(), &budget, "Window (2/4)");
      for (int i = 0; i < 100000 && service.status().ok(); ++i) {
        const TestKey key = MakeKey("key-" + std::to_string(i));
        service.RegisterEventTimeTimer(key.current(), "window", (i * 7919) % 997);
        if (service.status().ok()) registered.insert({(i * 7919) % 997, i});
      }
      ASSERT_FALSE(service.status().ok());
      const std::string_view message = service.status().message();
      EXPECT_EQ(service.status().code(), StatusCode::kResourceExhausted);
      EXPECT_NE(message.find("Window (2/4)"), std::string_view::npos) << message;
      EXPECT_NE(message.find("taskmanager.memory.managed.size"), std::string_view::npos);
      if (message.find("timers of operator") != std::string_view::npos) {
        ++bucket_failures;
      } else {
        ++table_failures;
      }
      EXPECT_EQ(service.event_timer_count(), registered.size());
      EXPECT_LE(service.memory_bytes(), budget.total());
      EXPECT_EQ(service.memory_bytes(), budget.used());
      TimedKeys fired;
      service.AdvanceWatermark(kMaxTimestamp, [&](const FiredTimer& timer) {
        fired.emplace_back(timer.timestamp, std::stoi(std::string(timer.key.bytes.substr(4))));
      });
      EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end(),
                                 [](const auto& x, const auto& y) { return x.first < y.first; }));
      std::sort(fired.begin(), fired.end());
      EXPECT_EQ(fired, TimedKeys(registered.begin(), registered.end()));
    }
    EXPECT_EQ(budget.used(), 0);
  }
  EXPECT_GT(table_failures, 0);
  EXPECT_GT(bucket_failures, 0);
}

}  // namespace
}  // namespace weir::state
