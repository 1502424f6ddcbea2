#include "state/state_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 4096;

using EntryKey = std::tuple<int, std::string, std::string>;

struct EntryKeyHash {
  size_t operator()(const EntryKey& key) const {
    return Hash64(std::get<1>(key)) ^ (Hash64(std::get<2>(key)) * 31) ^
           static_cast<size_t>(std::get<0>(key));
  }
};

using Reference = std::unordered_map<EntryKey, std::string, EntryKeyHash>;

std::span<const std::byte> Bytes(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

std::string Text(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string RandomBytes(std::mt19937_64& random, size_t size) {
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

// A key as the operators see it: bytes, their xxh3 and the key group derived from it. `hash` may be
// overridden to force collisions.
struct TestKey {
  std::string bytes;
  uint64_t hash;
  int key_group;
};

TestKey MakeKey(std::string bytes) {
  const uint64_t hash = Hash64(bytes);
  return {std::move(bytes), hash, KeyGroupForHash(hash, kMaxParallelism)};
}

std::unique_ptr<memory::SegmentPool> MakePool(size_t segment_count,
                                              uint32_t segment_size = kSegmentSize) {
  memory::SegmentPool::Options options;
  options.segment_size = segment_size;
  options.segment_count = segment_count;
  options.prefault = false;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(pool).value();
}

// The hash the tests pass for a key: its xxh3, or a remapping of it that forces collisions.
using HashRemap = std::function<uint64_t(uint64_t)>;

uint64_t KeyHash(std::string_view key, const HashRemap& remap) {
  return remap ? remap(Hash64(key)) : Hash64(key);
}

// Everything the table visits equals the reference, and every reference entry is found.
void ExpectSameContent(StateTable& table, const Reference& reference,
                       const HashRemap& remap = nullptr) {
  ASSERT_EQ(table.size(), reference.size());
  Reference visited;
  table.ForEach([&](int key_group, std::string_view key, std::string_view ns,
                    std::span<const std::byte> value) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(value.data()) % 8, 0u);
    const bool fresh =
        visited.emplace(EntryKey{key_group, std::string(key), std::string(ns)}, Text(value))
            .second;
    EXPECT_TRUE(fresh) << "visited twice: " << key;
  });
  EXPECT_EQ(visited, reference);
  for (const auto& [entry, value] : reference) {
    const std::string& key = std::get<1>(entry);
    std::span<std::byte> found =
        table.Find(KeyHash(key, remap), std::get<0>(entry), key, std::get<2>(entry));
    ASSERT_EQ(Text(found), value);
  }
}

// The property test: random Put/Find/FindOrInsert/Remove against an unordered_map, over a pool of
// keys with lengths 0..100 and a few namespaces, with value sizes that change.
class RandomOperations {
 public:
  RandomOperations(uint64_t seed, size_t key_count, HashRemap remap)
      : random_(seed), remap_(std::move(remap)) {
    std::set<std::string> distinct;
    while (keys_.size() < key_count) {
      std::string bytes = RandomBytes(random_, random_() % 101);
      if (!distinct.insert(bytes).second) continue;
      TestKey key = MakeKey(std::move(bytes));
      key.hash = KeyHash(key.bytes, remap_);
      keys_.push_back(std::move(key));
    }
    namespaces_ = {"", "", "w", RandomBytes(random_, 8), RandomBytes(random_, 16),
                   RandomBytes(random_, 37)};
  }

  size_t RandomValueSize() {
    switch (random_() % 4) {
      case 0: return 8;
      case 1: return random_() % 17;
      case 2: return random_() % 65;
      default: return random_() % 600;
    }
  }

  void Step(StateTable& table, Reference& reference) {
    const TestKey& key = keys_[random_() % keys_.size()];
    const std::string& ns = namespaces_[random_() % namespaces_.size()];
    const EntryKey entry{key.key_group, key.bytes, ns};
    switch (random_() % 5) {
      case 0: {
        const std::string value = RandomBytes(random_, RandomValueSize());
        auto stored = table.Put(key.hash, key.key_group, key.bytes, ns, Bytes(value));
        ASSERT_TRUE(stored.ok()) << stored.status().ToString();
        ASSERT_EQ(Text(*stored), value);
        reference[entry] = value;
        break;
      }
      case 1: {
        std::span<std::byte> found = table.Find(key.hash, key.key_group, key.bytes, ns);
        auto it = reference.find(entry);
        if (it == reference.end()) {
          ASSERT_TRUE(found.empty());
        } else {
          ASSERT_EQ(Text(found), it->second);
          // Writable in place.
          if (!found.empty()) {
            found[0] = static_cast<std::byte>(random_());
            it->second[0] = static_cast<char>(found[0]);
          }
        }
        break;
      }
      case 2: {
        const size_t size = RandomValueSize();
        bool inserted = true;
        auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, ns, size, &inserted);
        ASSERT_TRUE(value.ok()) << value.status().ToString();
        auto it = reference.find(entry);
        ASSERT_EQ(inserted, it == reference.end());
        if (inserted) {
          ASSERT_EQ(Text(*value), std::string(size, '\0'));
          it = reference.emplace(entry, std::string(size, '\0')).first;
        } else {
          ASSERT_EQ(Text(*value), it->second);
        }
        // Update in place, as an aggregation does.
        for (size_t i = 0; i < value->size(); ++i) {
          (*value)[i] = static_cast<std::byte>(static_cast<char>((*value)[i]) + 1);
          it->second[i] = static_cast<char>(it->second[i] + 1);
        }
        break;
      }
      default: {
        const bool removed = table.Remove(key.hash, key.key_group, key.bytes, ns);
        ASSERT_EQ(removed, reference.erase(entry) == 1);
        break;
      }
    }
  }

  const HashRemap& remap() const { return remap_; }

 private:
  std::mt19937_64 random_;
  HashRemap remap_;
  std::vector<TestKey> keys_;
  std::vector<std::string> namespaces_;
};

class StateTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = MakePool(4096);
    budget_ = std::make_unique<memory::MemoryBudget>(int64_t{1} << 30);
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  std::unique_ptr<memory::MemoryBudget> budget_;
};

TEST_F(StateTableTest, EmptyTableFindsNothingAndHoldsNoMemory) {
  StateTable table(pool_.get(), budget_.get(), "Empty");
  const TestKey key = MakeKey("k");
  EXPECT_TRUE(table.Find(key.hash, key.key_group, key.bytes).empty());
  EXPECT_FALSE(table.Remove(key.hash, key.key_group, key.bytes));
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.memory_bytes(), 0);
  EXPECT_EQ(budget_->used(), 0);
  int visits = 0;
  table.ForEach([&](int, std::string_view, std::string_view, std::span<const std::byte>) {
    ++visits;
  });
  EXPECT_EQ(visits, 0);
}

TEST_F(StateTableTest, PutFindOverwriteRemove) {
  StateTable table(pool_.get(), budget_.get(), "Basic");
  const TestKey key = MakeKey("user-17");
  auto stored = table.Put(key.hash, key.key_group, key.bytes, {}, Bytes("12345678"));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(Text(table.Find(key.hash, key.key_group, key.bytes)), "12345678");
  // Same size: overwritten in place.
  auto again = table.Put(key.hash, key.key_group, key.bytes, {}, Bytes("abcdefgh"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data(), stored->data());
  EXPECT_EQ(Text(table.Find(key.hash, key.key_group, key.bytes)), "abcdefgh");
  // A longer value relocates and leaves a dead entry behind.
  auto longer = table.Put(key.hash, key.key_group, key.bytes, {}, Bytes("a longer value!!!"));
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(Text(table.Find(key.hash, key.key_group, key.bytes)), "a longer value!!!");
  EXPECT_GT(table.dead_bytes(), 0);
  EXPECT_EQ(table.size(), 1u);
  // Namespaces and key groups are part of the identity.
  EXPECT_TRUE(table.Find(key.hash, key.key_group, key.bytes, "window").empty());
  EXPECT_TRUE(table.Find(key.hash, (key.key_group + 1) % kMaxParallelism, key.bytes).empty());
  EXPECT_TRUE(table.Remove(key.hash, key.key_group, key.bytes));
  EXPECT_FALSE(table.Remove(key.hash, key.key_group, key.bytes));
  EXPECT_TRUE(table.Find(key.hash, key.key_group, key.bytes).empty());
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(StateTableTest, FindOrInsertZeroesNewValuesAndReturnsExistingOnes) {
  StateTable table(pool_.get(), budget_.get(), "Counter");
  const TestKey key = MakeKey("counter");
  for (int64_t i = 0; i < 10; ++i) {
    bool inserted = false;
    auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 8, &inserted);
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(inserted, i == 0);
    ASSERT_EQ(value->size(), 8u);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(value->data()) % 8, 0u);
    auto* counter = reinterpret_cast<int64_t*>(value->data());
    EXPECT_EQ(*counter, i);
    ++*counter;
  }
  EXPECT_EQ(table.size(), 1u);
  // An existing value is returned whatever size is asked for.
  bool inserted = true;
  auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 100, &inserted);
  ASSERT_TRUE(value.ok());
  EXPECT_FALSE(inserted);
  EXPECT_EQ(value->size(), 8u);
}

TEST_F(StateTableTest, EmptyKeysNamespacesAndValues) {
  StateTable table(pool_.get(), budget_.get(), "Empty");
  const TestKey empty = MakeKey("");
  ASSERT_TRUE(table.Put(empty.hash, empty.key_group, "", "", {}).ok());
  ASSERT_TRUE(table.Put(empty.hash, empty.key_group, "", "ns", Bytes("v")).ok());
  EXPECT_EQ(table.size(), 2u);
  bool inserted = true;
  auto value = table.FindOrInsert(empty.hash, empty.key_group, "", "", 0, &inserted);
  ASSERT_TRUE(value.ok());
  EXPECT_FALSE(inserted);
  EXPECT_TRUE(value->empty());
  EXPECT_EQ(Text(table.Find(empty.hash, empty.key_group, "", "ns")), "v");
  EXPECT_TRUE(table.Remove(empty.hash, empty.key_group, ""));
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(StateTableTest, InputSpansMayPointIntoTheTable) {
  StateTable table(pool_.get(), budget_.get(), "Alias");
  const TestKey a = MakeKey("a");
  const TestKey b = MakeKey("b");
  ASSERT_TRUE(table.Put(a.hash, a.key_group, a.bytes, {}, Bytes("value of a, 24 bytes....")).ok());
  // Another key's stored value as input.
  std::span<std::byte> of_a = table.Find(a.hash, a.key_group, a.bytes);
  ASSERT_TRUE(table.Put(b.hash, b.key_group, b.bytes, {}, of_a).ok());
  // The key's own stored value, shortened (relocates) and then as it is (in place).
  of_a = table.Find(a.hash, a.key_group, a.bytes);
  ASSERT_TRUE(table.Put(a.hash, a.key_group, a.bytes, {}, of_a.first(5)).ok());
  of_a = table.Find(a.hash, a.key_group, a.bytes);
  ASSERT_TRUE(table.Put(a.hash, a.key_group, a.bytes, {}, of_a).ok());
  EXPECT_EQ(Text(table.Find(a.hash, a.key_group, a.bytes)), "value");
  EXPECT_EQ(Text(table.Find(b.hash, b.key_group, b.bytes)), "value of a, 24 bytes....");
}

TEST_F(StateTableTest, EntriesLargerThanASegmentAreRejected) {
  StateTable table(pool_.get(), budget_.get(), "Large");
  const TestKey key = MakeKey("big");
  const size_t fits = kSegmentSize - StateTable::kEntryHeaderSize - 8;
  ASSERT_EQ(table.MaxEntrySize(), kSegmentSize);
  ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(std::string(fits, 'x'))).ok());
  auto too_big =
      table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(std::string(fits + 1, 'x')));
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("Large"), std::string_view::npos);
  bool inserted = true;
  auto too_big_new = table.FindOrInsert(key.hash + 1, key.key_group, "other", {}, kSegmentSize,
                                        &inserted);
  EXPECT_EQ(too_big_new.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(inserted);
  // The table is unchanged by the failures.
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(Text(table.Find(key.hash, key.key_group, key.bytes)), std::string(fits, 'x'));
}

TEST_F(StateTableTest, MatchesUnorderedMapUnderRandomOperations) {
  StateTable table(pool_.get(), budget_.get(), "Random");
  Reference reference;
  RandomOperations operations(1, 3000, nullptr);
  for (int step = 0; step < 200000; ++step) {
    ASSERT_NO_FATAL_FAILURE(operations.Step(table, reference));
    if (step % 50000 == 0) {
      ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
    }
    ASSERT_EQ(budget_->used(), table.memory_bytes());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
}

TEST_F(StateTableTest, MatchesUnorderedMapWhenAllHashesCollide) {
  // Every key has the same hash: one probe run, all tags equal, so lookups rely on lengths and
  // bytes, and backward-shift deletion works on long runs.
  StateTable table(pool_.get(), budget_.get(), "Colliding");
  Reference reference;
  RandomOperations operations(2, 150, [](uint64_t) { return uint64_t{0x1234}; });
  for (int step = 0; step < 30000; ++step) {
    ASSERT_NO_FATAL_FAILURE(operations.Step(table, reference));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference, operations.remap()));
}

TEST_F(StateTableTest, MatchesUnorderedMapWhenHashesShareTheirHighBits) {
  // Keys that differ only in low hash bits share their home slot and tag at small capacities.
  StateTable table(pool_.get(), budget_.get(), "Clustered");
  Reference reference;
  RandomOperations operations(3, 500, [](uint64_t hash) { return hash & 0xffff; });
  for (int step = 0; step < 50000; ++step) {
    ASSERT_NO_FATAL_FAILURE(operations.Step(table, reference));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference, operations.remap()));
}

TEST_F(StateTableTest, GrowsThroughManyResizes) {
  StateTable table(pool_.get(), budget_.get(), "Growing");
  constexpr int64_t kKeys = 100000;
  size_t resizes = 0;
  size_t capacity = table.capacity();
  for (int64_t i = 0; i < kKeys; ++i) {
    char bytes[8];
    std::memcpy(bytes, &i, 8);
    const std::string_view key(bytes, 8);
    const uint64_t hash = Hash64(key);
    bool inserted = false;
    auto value = table.FindOrInsert(hash, KeyGroupForHash(hash, kMaxParallelism), key, {}, 8,
                                    &inserted);
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    ASSERT_TRUE(inserted);
    std::memcpy(value->data(), &i, 8);
    if (table.capacity() != capacity) {
      ++resizes;
      capacity = table.capacity();
    }
    // 3/4 full, or 7/8 while the next index is being prepared.
    ASSERT_LE(table.size() * 8, table.capacity() * 7);
  }
  EXPECT_GE(resizes, 13u);
  EXPECT_EQ(table.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(budget_->used(), table.memory_bytes());
  for (int64_t i = 0; i < kKeys; ++i) {
    char bytes[8];
    std::memcpy(bytes, &i, 8);
    const std::string_view key(bytes, 8);
    const uint64_t hash = Hash64(key);
    std::span<std::byte> value = table.Find(hash, KeyGroupForHash(hash, kMaxParallelism), key);
    ASSERT_EQ(value.size(), 8u);
    int64_t stored;
    std::memcpy(&stored, value.data(), 8);
    ASSERT_EQ(stored, i);
  }
}

// A growth keeps the previous index and migrates it a few positions per insert: while it does,
// every key is found by Get, Find, FindOrInsert, Put and Remove wherever its slot is, inserts do
// not duplicate a key still in the previous index, and the migration ends within capacity / 32
// inserts. Also with hashes that share their high bits (one long probe run to migrate).
TEST_F(StateTableTest, GrowthMigratesTheIndexWhileEveryOperationSeesBothArrays) {
  for (const bool clustered : {false, true}) {
    SCOPED_TRACE(clustered ? "clustered hashes" : "xxh3 hashes");
    StateTable table(pool_.get(), budget_.get(), "Migrating");
    Reference reference;
    std::mt19937_64 random(17);
    const HashRemap remap =
        clustered ? HashRemap([](uint64_t hash) { return hash & 0xffffff; }) : nullptr;
    auto key_of = [&](int64_t i) {
      TestKey key = MakeKey("k" + std::to_string(i));
      key.hash = KeyHash(key.bytes, remap);
      return key;
    };
    int64_t next = 0;
    size_t growths = 0;
    size_t longest_migration = 0;
    size_t migration_inserts = 0;
    size_t capacity = 0;
    while (growths < (clustered ? 8u : 10u) || table.migrating()) {
      const TestKey key = key_of(next++);
      const std::string value = RandomBytes(random, 8);
      ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
      reference[EntryKey{key.key_group, key.bytes, ""}] = value;
      if (table.capacity() != capacity) {
        capacity = table.capacity();
        ++growths;
        if (capacity >= 128) EXPECT_TRUE(table.migrating());  // smaller ones migrate at once
        migration_inserts = 0;
      }
      if (!table.migrating()) continue;
      ++migration_inserts;
      longest_migration = std::max(longest_migration, migration_inserts);
      ASSERT_LE(migration_inserts, capacity / 32 + 1);
      // An existing key, through each operation (a random one per insert).
      const TestKey old = key_of(static_cast<int64_t>(random() % static_cast<uint64_t>(next)));
      const EntryKey entry{old.key_group, old.bytes, ""};
      auto it = reference.find(entry);
      switch (random() % 5) {
        case 0:
          ASSERT_EQ(Text(table.Get(old.hash, old.key_group, old.bytes)),
                    it == reference.end() ? "" : it->second);
          break;
        case 1:
          ASSERT_EQ(Text(table.Find(old.hash, old.key_group, old.bytes)),
                    it == reference.end() ? "" : it->second);
          break;
        case 2: {
          bool inserted = false;
          auto stored = table.FindOrInsert(old.hash, old.key_group, old.bytes, {}, 8, &inserted);
          ASSERT_TRUE(stored.ok());
          ASSERT_EQ(inserted, it == reference.end());
          if (inserted) it = reference.emplace(entry, std::string(8, '\0')).first;
          ASSERT_EQ(Text(*stored), it->second);
          break;
        }
        case 3: {
          const std::string longer = RandomBytes(random, 24);  // a new entry for the key
          ASSERT_TRUE(table.Put(old.hash, old.key_group, old.bytes, {}, Bytes(longer)).ok());
          reference[entry] = longer;
          break;
        }
        default:
          ASSERT_EQ(table.Remove(old.hash, old.key_group, old.bytes), reference.erase(entry) == 1);
          break;
      }
      ASSERT_EQ(table.size(), reference.size());
      if (migration_inserts % 97 == 0) {
        ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference, remap));
      }
      ASSERT_EQ(budget_->used(), table.memory_bytes());
    }
    EXPECT_GT(longest_migration, 8u);  // spread over inserts, not done at once
    ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference, remap));
  }
}

TEST_F(StateTableTest, CompactionKeepsMemoryBoundedUnderChurn) {
  StateTable table(pool_.get(), budget_.get(), "Churn");
  Reference reference;
  std::mt19937_64 random(4);
  constexpr int kLiveKeys = 2000;
  int64_t next_key = 0;
  std::vector<TestKey> live;
  int64_t peak_segment_bytes = 0;
  for (int step = 0; step < 300000; ++step) {
    if (live.size() < kLiveKeys || random() % 3 == 0) {
      TestKey key = MakeKey("key-" + std::to_string(next_key++));
      const std::string value = RandomBytes(random, random() % 64);
      ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
      reference[{key.key_group, key.bytes, ""}] = value;
      live.push_back(std::move(key));
    }
    if (live.size() >= kLiveKeys) {
      const size_t victim = random() % live.size();
      const TestKey& key = live[victim];
      if (random() % 2 == 0) {
        ASSERT_TRUE(table.Remove(key.hash, key.key_group, key.bytes));
        reference.erase({key.key_group, key.bytes, ""});
        live[victim] = std::move(live.back());
        live.pop_back();
      } else {
        // A value whose size changes: relocation, i.e. garbage.
        const std::string value = RandomBytes(random, random() % 64);
        ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
        reference[{key.key_group, key.bytes, ""}] = value;
      }
    }
    const int64_t segment_bytes =
        table.memory_bytes() - static_cast<int64_t>(table.capacity() * sizeof(uint64_t));
    peak_segment_bytes = std::max(peak_segment_bytes, segment_bytes);
    // Dead bytes never exceed half of the segments (or one segment), so the segments hold at most
    // twice the live bytes, plus slack for the unused tails of full segments (entries here are
    // at most 24 + 32 + 64 bytes, so under 3% of a 4 KiB segment) and the active segment.
    ASSERT_LE(table.dead_bytes() * 2, std::max<int64_t>(segment_bytes, 2 * kSegmentSize));
    ASSERT_LE(segment_bytes, table.live_bytes() * 212 / 100 + 3 * kSegmentSize) << step;
  }
  // Around 2 x live bytes at the peak; without compaction it would be the 300 K operations' bytes.
  // Entries here are at most 24 + 16 + 64 = 104 bytes, and about kLiveKeys are live.
  EXPECT_LE(peak_segment_bytes, int64_t{kLiveKeys + 100} * 104 * 212 / 100 + 3 * kSegmentSize);
  // The bounds held with bounded steps alone: no write stopped for a whole-table compaction.
  EXPECT_EQ(table.full_compactions(), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
  EXPECT_EQ(budget_->used(), table.memory_bytes());
}

// Entries that outlive their segment are copied once, to a survivor segment, and stay there:
// mixed with new entries again they would be copied each time the new ones died around them.
TEST_F(StateTableTest, CompactionCopiesLongLivedEntriesOnce) {
  StateTable table(pool_.get(), budget_.get(), "Survivors");
  Reference reference;
  std::mt19937_64 random(11);
  constexpr int kRounds = 40000;
  constexpr int kShortPerRound = 7;
  constexpr int kShortLifetime = 10;  // rounds
  constexpr int kLongLifetime = 4000;
  int64_t long_bytes = 0;  // of the long-lived entries, as stored (24-byte header, key, value)
  const auto put = [&](const std::string& name) {
    const TestKey key = MakeKey(name);
    const std::string value = RandomBytes(random, 24);
    ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
    reference[{key.key_group, key.bytes, ""}] = value;
  };
  const auto remove = [&](const std::string& name) {
    const TestKey key = MakeKey(name);
    ASSERT_TRUE(table.Remove(key.hash, key.key_group, key.bytes));
    reference.erase({key.key_group, key.bytes, ""});
  };
  const auto short_name = [](int round, int i) {
    return "s-" + std::to_string(round) + "-" + std::to_string(i);
  };
  for (int round = 0; round < kRounds; ++round) {
    // One entry that lives kLongLifetime rounds among seven that die young.
    const std::string long_name = "long-" + std::to_string(round);
    ASSERT_NO_FATAL_FAILURE(put(long_name));
    long_bytes += static_cast<int64_t>((24 + long_name.size() + 24 + 7) / 8 * 8);
    for (int i = 0; i < kShortPerRound; ++i) ASSERT_NO_FATAL_FAILURE(put(short_name(round, i)));
    if (round >= kShortLifetime) {
      for (int i = 0; i < kShortPerRound; ++i) {
        ASSERT_NO_FATAL_FAILURE(remove(short_name(round - kShortLifetime, i)));
      }
    }
    if (round >= kLongLifetime) {
      ASSERT_NO_FATAL_FAILURE(remove("long-" + std::to_string(round - kLongLifetime)));
    }
  }
  // Each long-lived entry is copied out of its young segment about once (a few young ones are
  // copied too: a victim may hold some not yet dead). Copied back among new entries, they were
  // copied 6 to 7 times, and the steps fell behind into whole-table compactions.
  EXPECT_GT(table.moved_bytes(), long_bytes / 2);
  EXPECT_LE(table.moved_bytes(), long_bytes * 5 / 4);
  EXPECT_EQ(table.full_compactions(), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
  EXPECT_EQ(budget_->used(), table.memory_bytes());
}

TEST_F(StateTableTest, ForEachInKeyGroupVisitsExactlyThatGroup) {
  StateTable table(pool_.get(), budget_.get(), "Groups");
  Reference reference;
  RandomOperations operations(5, 2000, nullptr);
  for (int step = 0; step < 20000; ++step) {
    ASSERT_NO_FATAL_FAILURE(operations.Step(table, reference));
  }
  size_t total = 0;
  for (int group = 0; group < kMaxParallelism; ++group) {
    Reference expected;
    for (const auto& [entry, value] : reference) {
      if (std::get<0>(entry) == group) expected.emplace(entry, value);
    }
    Reference visited;
    table.ForEachInKeyGroup(group, [&](int key_group, std::string_view key, std::string_view ns,
                                       std::span<const std::byte> value) {
      EXPECT_EQ(key_group, group);
      visited.emplace(EntryKey{key_group, std::string(key), std::string(ns)}, Text(value));
    });
    EXPECT_EQ(visited, expected) << "group " << group;
    total += visited.size();
  }
  EXPECT_EQ(total, table.size());
}

TEST_F(StateTableTest, BudgetExhaustionFailsCleanlyAndLeavesTheTableConsistent) {
  memory::MemoryBudget budget(16 * kSegmentSize);
  Reference reference;
  {
    StateTable table(pool_.get(), &budget, "Aggregate (1/4)");
    std::mt19937_64 random(6);
    Status failure;
    int64_t i = 0;
    for (; i < 100000; ++i) {
      TestKey key = MakeKey("key-" + std::to_string(i));
      const std::string value = RandomBytes(random, 8 + random() % 40);
      auto stored = table.Put(key.hash, key.key_group, key.bytes, "ns", Bytes(value));
      if (!stored.ok()) {
        failure = stored.status();
        break;
      }
      reference[{key.key_group, key.bytes, "ns"}] = value;
      ASSERT_LE(budget.used(), budget.total());
    }
    ASSERT_FALSE(failure.ok());
    EXPECT_EQ(failure.code(), StatusCode::kResourceExhausted);
    EXPECT_NE(failure.message().find("Aggregate (1/4)"), std::string_view::npos)
        << failure.ToString();
    EXPECT_NE(failure.message().find("taskmanager.memory.managed.size"), std::string_view::npos)
        << failure.ToString();
    EXPECT_EQ(budget.used(), table.memory_bytes());
    // The failed key is absent, everything else is intact, and FindOrInsert fails the same way.
    const TestKey failed = MakeKey("key-" + std::to_string(i));
    EXPECT_TRUE(table.Find(failed.hash, failed.key_group, failed.bytes, "ns").empty());
    ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
    bool inserted = true;
    auto again = table.FindOrInsert(failed.hash, failed.key_group, failed.bytes, "ns", 64,
                                    &inserted);
    EXPECT_EQ(again.status().code(), StatusCode::kResourceExhausted);
    EXPECT_FALSE(inserted);
    ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
    // Updates of existing keys still work, and after removing most keys, compaction returns
    // memory and inserts succeed again.
    int removed = 0;
    for (auto it = reference.begin(); it != reference.end();) {
      const std::string& key = std::get<1>(it->first);
      if (removed % 4 != 0) {
        ASSERT_TRUE(table.Remove(Hash64(key), std::get<0>(it->first), key, "ns"));
        it = reference.erase(it);
      } else {
        ASSERT_TRUE(table.Put(Hash64(key), std::get<0>(it->first), key, "ns",
                              Bytes(std::string(it->second.size(), 'u'))).ok());
        it->second = std::string(it->second.size(), 'u');
        ++it;
      }
      ++removed;
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
    EXPECT_LT(budget.used(), budget.total() / 2 + 2 * kSegmentSize);
    auto after = table.Put(failed.hash, failed.key_group, failed.bytes, "ns", Bytes("back"));
    ASSERT_TRUE(after.ok()) << after.status().ToString();
  }
  EXPECT_EQ(budget.used(), 0);
  EXPECT_EQ(pool_->available(), pool_->capacity());
}

TEST_F(StateTableTest, PoolExhaustionFailsCleanly) {
  auto small_pool = MakePool(4);
  Reference reference;
  StateTable table(small_pool.get(), budget_.get(), "Small");
  Status failure;
  for (int64_t i = 0; i < 10000 && failure.ok(); ++i) {
    TestKey key = MakeKey("key-" + std::to_string(i));
    bool inserted = false;
    auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 16, &inserted);
    if (!value.ok()) {
      failure = value.status();
      EXPECT_FALSE(inserted);
    } else {
      reference[{key.key_group, key.bytes, ""}] = std::string(16, '\0');
    }
  }
  EXPECT_EQ(failure.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(small_pool->available(), 0u);
  EXPECT_EQ(budget_->used(), table.memory_bytes());
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(table, reference));
}

TEST_F(StateTableTest, DestructionReturnsSegmentsAndBudget) {
  {
    StateTable table(pool_.get(), budget_.get(), "Scoped");
    Reference reference;
    RandomOperations operations(7, 1000, nullptr);
    for (int step = 0; step < 20000; ++step) {
      ASSERT_NO_FATAL_FAILURE(operations.Step(table, reference));
    }
    EXPECT_GT(budget_->used(), 0);
    EXPECT_LT(pool_->available(), pool_->capacity());
  }
  EXPECT_EQ(budget_->used(), 0);
  EXPECT_EQ(pool_->available(), pool_->capacity());
}

}  // namespace
}  // namespace weir::state
