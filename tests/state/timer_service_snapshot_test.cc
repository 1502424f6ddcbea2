// TimerService::SnapshotTables / RestoreTables against a brute-force reference: random
// registrations and deletions of event- and processing-time timers (with callbacks registering
// more), a snapshot taken through the in-memory checkpoint fake at a random point, fresh services
// restored from it at the same or another parallelism, and every later firing compared with what
// a sorted set of the registered timers says must fire.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "../operators/checkpoint_fake.h"
#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"
#include "state/timer_service.h"

namespace weir::state {
namespace {

using operators::testing::FakeCheckpoint;
using operators::testing::FakeRestoreReader;
using operators::testing::FakeSnapshotWriter;

constexpr int kMaxParallelism = 128;

// (time, key index, namespace index).
using Timer = std::tuple<Timestamp, int, int>;

class TimerServiceSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 4096;
    options.segment_count = 8192;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    std::mt19937_64 random(99);
    for (int i = 0; i < 300; ++i) {
      std::string bytes(1 + random() % 24, '\0');
      for (char& c : bytes) c = static_cast<char>(random());
      if (!key_index_.emplace(bytes, static_cast<int>(keys_.size())).second) continue;
      keys_.push_back(bytes);
    }
    namespaces_ = {"", "w", std::string("\0\0\0\0\0\0\0\x07", 8), "a longer namespace, past 16 bytes"};
  }

  CurrentKey Key(int index) const {
    const uint64_t hash = Hash64(keys_[index]);
    return CurrentKey{keys_[index], hash, KeyGroupForHash(hash, kMaxParallelism)};
  }
  int Namespace(std::string_view ns) const {
    return static_cast<int>(std::find(namespaces_.begin(), namespaces_.end(), ns) - namespaces_.begin());
  }

  std::vector<std::unique_ptr<TimerService>> Services(int parallelism) {
    std::vector<std::unique_ptr<TimerService>> services;
    for (int i = 0; i < parallelism; ++i) {
      services.push_back(std::make_unique<TimerService>(pool_.get(), &budget_, "Timers"));
    }
    return services;
  }
  static int Owner(const CurrentKey& key, int parallelism) {
    return OperatorIndexForKeyGroup(kMaxParallelism, parallelism, key.key_group);
  }

  // Runs `steps` random operations; snapshots after `cut` of them (at `before` services) and
  // restores at `after` services when cut < steps.
  void Run(uint64_t seed, int steps, int cut, int before, int after) {
    std::mt19937_64 random(seed);
    std::set<Timer> event;       // the reference
    std::set<Timer> processing;
    Timestamp watermark = 0;
    Timestamp now = 0;
    auto services = Services(before);
    size_t fired_after_restore = 0;
    for (int step = 0; step < steps; ++step) {
      if (step == cut) {
        FakeCheckpoint checkpoint(before);
        for (int i = 0; i < before; ++i) {
          FakeSnapshotWriter writer(&checkpoint, i);
          ASSERT_TRUE(services[i]->SnapshotTables(writer, "timers/").ok());
        }
        // Timers keep firing in the old services after the snapshot: the checkpoint must not see it.
        for (auto& service : services) service->AdvanceWatermark(kMaxTimestamp, [](const FiredTimer&) {});
        services = Services(after);
        for (int i = 0; i < after; ++i) {
          FakeRestoreReader reader(&checkpoint, i, after, kMaxParallelism);
          ASSERT_TRUE(services[i]->RestoreTables(reader, "timers/").ok());
        }
        // Counts and heads per service are those of the reference's timers of its key groups.
        for (int i = 0; i < after; ++i) {
          size_t event_count = 0;
          size_t processing_count = 0;
          Timestamp event_head = kMaxTimestamp;
          Timestamp processing_head = kMaxTimestamp;
          for (const auto& [time, key, ns] : event) {
            if (Owner(Key(key), after) != i) continue;
            ++event_count;
            event_head = std::min(event_head, time);
          }
          for (const auto& [time, key, ns] : processing) {
            if (Owner(Key(key), after) != i) continue;
            ++processing_count;
            processing_head = std::min(processing_head, time);
          }
          EXPECT_EQ(services[i]->event_timer_count(), event_count);
          EXPECT_EQ(services[i]->processing_timer_count(), processing_count);
          EXPECT_EQ(services[i]->next_event_time(), event_head);
          EXPECT_EQ(services[i]->next_processing_time(), processing_head);
          EXPECT_EQ(services[i]->current_watermark(), kMinTimestamp) << "the watermark is not restored";
        }
      }
      const int parallelism = static_cast<int>(services.size());
      const uint64_t action = random() % 100;
      if (action < 8) {
        // Fire: the reference pops in time order; a fired time divisible by 5 registers time + 3
        // for the same key and namespace, which fires in this call when it is due.
        const bool is_event = action < 5;
        std::set<Timer>& reference = is_event ? event : processing;
        Timestamp& limit = is_event ? watermark : now;
        limit += static_cast<Timestamp>(random() % 60);
        std::vector<Timer> expected;
        while (!reference.empty() && std::get<0>(*reference.begin()) <= limit) {
          const Timer timer = *reference.begin();
          reference.erase(reference.begin());
          expected.push_back(timer);
          if (std::get<0>(timer) % 5 == 0) reference.emplace(std::get<0>(timer) + 3, std::get<1>(timer), std::get<2>(timer));
        }
        std::vector<Timer> fired;
        for (auto& service : services) {
          TimerService* raw = service.get();
          Timestamp last = kMinTimestamp;
          auto on_timer = [&](const FiredTimer& timer) {
            EXPECT_GE(timer.timestamp, last) << "timers fire in time order";
            last = timer.timestamp;
            const int key = key_index_.at(std::string(timer.key.bytes));
            EXPECT_EQ(timer.key.hash, Hash64(timer.key.bytes));
            fired.emplace_back(timer.timestamp, key, Namespace(timer.ns));
            if (timer.timestamp % 5 == 0) {
              if (is_event) {
                raw->RegisterEventTimeTimer(timer.key, timer.ns, timer.timestamp + 3);
              } else {
                raw->RegisterProcessingTimeTimer(timer.key, timer.ns, timer.timestamp + 3);
              }
            }
          };
          if (is_event) {
            service->AdvanceWatermark(limit, on_timer);
          } else {
            service->AdvanceProcessingTime(limit, on_timer);
          }
        }
        std::sort(expected.begin(), expected.end());
        std::sort(fired.begin(), fired.end());
        ASSERT_EQ(fired, expected) << "step " << step;
        if (step > cut) fired_after_restore += fired.size();
        continue;
      }
      const int key = static_cast<int>(random() % keys_.size());
      const int ns = static_cast<int>(random() % namespaces_.size());
      const CurrentKey current = Key(key);
      TimerService& service = *services[Owner(current, parallelism)];
      const bool is_event = random() % 3 != 0;
      // Registrations reach a little behind the current time too (they fire at the next advance).
      const Timestamp time = (is_event ? watermark : now) - 20 + static_cast<Timestamp>(random() % 300);
      std::set<Timer>& reference = is_event ? event : processing;
      if (action < 75) {
        if (is_event) {
          service.RegisterEventTimeTimer(current, namespaces_[ns], time);
        } else {
          service.RegisterProcessingTimeTimer(current, namespaces_[ns], time);
        }
        reference.emplace(time, key, ns);
      } else {
        // Deletes an existing timer of the reference (or a missing one, a no-op) near `time`.
        auto it = reference.lower_bound(Timer{time, 0, 0});
        Timer target = it != reference.end() ? *it : Timer{time, key, ns};
        const CurrentKey target_key = Key(std::get<1>(target));
        TimerService& owner = *services[Owner(target_key, parallelism)];
        if (is_event) {
          owner.DeleteEventTimeTimer(target_key, namespaces_[std::get<2>(target)], std::get<0>(target));
        } else {
          owner.DeleteProcessingTimeTimer(target_key, namespaces_[std::get<2>(target)], std::get<0>(target));
        }
        reference.erase(target);
      }
    }
    for (auto& service : services) EXPECT_TRUE(service->status().ok()) << service->status().ToString();
    EXPECT_GT(fired_after_restore, 1000u) << "the restored services must fire timers";
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{1LL << 30};
  std::vector<std::string> keys_;
  std::map<std::string, int> key_index_;
  std::vector<std::string> namespaces_;
};

TEST_F(TimerServiceSnapshotTest, RestoredTimersFireAsTheReferenceSays) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    for (const auto& [before, after] : std::vector<std::pair<int, int>>{{1, 1}, {2, 1}, {1, 2}, {3, 2}}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + ", parallelism " + std::to_string(before) + " -> " +
                   std::to_string(after));
      Run(seed, 20000, static_cast<int>(2000 + seed * 3000), before, after);
    }
  }
}

// Deletions leave stale bucket records behind; a snapshot holds the live timers only, and a
// restored service rebuilds its buckets without them.
TEST_F(TimerServiceSnapshotTest, StaleRecordsAreNotRestored) {
  TimerService service(pool_.get(), &budget_, "Timers");
  for (int i = 0; i < 200; ++i) service.RegisterEventTimeTimer(Key(i), "", 100 + i % 10);
  for (int i = 0; i < 200; i += 2) service.DeleteEventTimeTimer(Key(i), "", 100 + i % 10);
  FakeCheckpoint checkpoint(1);
  FakeSnapshotWriter writer(&checkpoint, 0);
  ASSERT_TRUE(service.SnapshotTables(writer, "t/").ok());
  EXPECT_EQ(checkpoint.subtask(0).tables.at("t/event").size(), 100u);
  EXPECT_EQ(checkpoint.subtask(0).tables.at("t/processing").size(), 0u);

  TimerService restored(pool_.get(), &budget_, "Timers");
  FakeRestoreReader reader(&checkpoint, 0, 1, kMaxParallelism);
  ASSERT_TRUE(restored.RestoreTables(reader, "t/").ok());
  std::vector<int> fired;
  restored.AdvanceWatermark(kMaxTimestamp, [&](const FiredTimer& timer) {
    fired.push_back(key_index_.at(std::string(timer.key.bytes)));
  });
  std::sort(fired.begin(), fired.end());
  std::vector<int> odd;
  for (int i = 1; i < 200; i += 2) odd.push_back(i);
  EXPECT_EQ(fired, odd);
}

// A processing-time timer already due when the job restores fires at the first advance.
TEST_F(TimerServiceSnapshotTest, DueProcessingTimersFireAtTheFirstAdvanceAfterRestore) {
  TimerService service(pool_.get(), &budget_, "Timers");
  service.RegisterProcessingTimeTimer(Key(1), "w", 500);
  service.RegisterProcessingTimeTimer(Key(2), "", 900);
  FakeCheckpoint checkpoint(1);
  FakeSnapshotWriter writer(&checkpoint, 0);
  ASSERT_TRUE(service.SnapshotTables(writer, "timers/").ok());
  TimerService restored(pool_.get(), &budget_, "Timers");
  FakeRestoreReader reader(&checkpoint, 0, 1, kMaxParallelism);
  ASSERT_TRUE(restored.RestoreTables(reader, "timers/").ok());
  EXPECT_EQ(restored.next_processing_time(), 500);
  std::vector<Timestamp> fired;
  restored.AdvanceProcessingTime(10'000, [&](const FiredTimer& timer) { fired.push_back(timer.timestamp); });
  EXPECT_EQ(fired, (std::vector<Timestamp>{500, 900}));
  EXPECT_EQ(restored.next_processing_time(), kMaxTimestamp);
}

// A timer entry whose namespace cannot hold the 8-byte timestamp is corrupt: DataLoss, no crash.
TEST_F(TimerServiceSnapshotTest, MalformedTimerEntryIsDataLoss) {
  FakeCheckpoint checkpoint(1);
  const CurrentKey key = Key(3);
  checkpoint.subtask(0).tables["timers/event"].push_back({key.key_group, std::string(key.bytes), "abc", ""});
  TimerService restored(pool_.get(), &budget_, "Timers (1/1)");
  FakeRestoreReader reader(&checkpoint, 0, 1, kMaxParallelism);
  const Status status = restored.RestoreTables(reader, "timers/");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
  EXPECT_NE(status.ToString().find("Timers (1/1)"), std::string::npos) << status.ToString();
}

}  // namespace
}  // namespace weir::state
