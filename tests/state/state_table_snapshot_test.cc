// StateTable::Snapshot / Restore against an independent model: a std::map of the table's contents,
// copied at every snapshot instant. Each snapshot's pieces are stored the way a checkpoint stores
// them (new pieces copied into owned buffers, written-before pieces taken from the store), then
// restored into a fresh table whose contents must equal the model at that instant.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"
#include "state/state_table.h"
#include "state/table_snapshot.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 4096;
constexpr KeyGroupRange kAllKeyGroups{0, kMaxParallelism - 1};

using EntryKey = std::tuple<int, std::string, std::string>;
using Model = std::map<EntryKey, std::string>;

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

struct TestKey {
  std::string bytes;
  uint64_t hash;
  int key_group;
};

TestKey MakeKey(std::string bytes) {
  const uint64_t hash = Hash64(bytes);
  return {std::move(bytes), hash, KeyGroupForHash(hash, kMaxParallelism)};
}

// Everything in `table`, by ForEach.
Model Contents(const StateTable& table) {
  Model contents;
  table.ForEach([&](int key_group, std::string_view key, std::string_view ns,
                    std::span<const std::byte> value) {
    const bool fresh =
        contents.emplace(EntryKey{key_group, std::string(key), std::string(ns)}, Text(value))
            .second;
    EXPECT_TRUE(fresh) << "visited twice";
  });
  return contents;
}

Model Filter(const Model& model, KeyGroupRange range) {
  Model filtered;
  for (const auto& [key, value] : model) {
    if (range.Contains(std::get<0>(key))) filtered.emplace(key, value);
  }
  return filtered;
}

// A checkpoint store: the bytes of every piece ever written, by id, as a checkpoint directory
// would hold them.
class PieceStore {
 public:
  struct StoredPiece {
    uint64_t id;
    TablePiece::Kind kind;
  };

  // Stores the new pieces of `snapshot` and returns its piece chain. Written-before pieces must be
  // in the store already (written by an earlier snapshot) unless the snapshot is full.
  std::vector<StoredPiece> Write(const TableSnapshot& snapshot, size_t* new_bytes = nullptr) {
    std::vector<StoredPiece> chain;
    if (new_bytes != nullptr) *new_bytes = 0;
    std::set<uint64_t> ids;
    for (const TablePiece& piece : snapshot.pieces()) {
      EXPECT_TRUE(ids.insert(piece.id).second) << "piece listed twice: " << piece.id;
      if (piece.written_before) {
        EXPECT_TRUE(bytes_.contains(piece.id)) << "written-before piece never written: " << piece.id;
      } else {
        auto [it, fresh] = bytes_.emplace(
            piece.id, std::string(reinterpret_cast<const char*>(piece.bytes.data()),
                                  piece.bytes.size()));
        if (!fresh) {
          // A full snapshot writes old pieces again: the same entries (only dead flags may differ).
          EXPECT_EQ(it->second.size(), piece.bytes.size());
          it->second.assign(reinterpret_cast<const char*>(piece.bytes.data()), piece.bytes.size());
        }
        if (new_bytes != nullptr) *new_bytes += piece.bytes.size();
      }
      chain.push_back({piece.id, piece.kind});
    }
    return chain;
  }

  // The restore input for `chain`; the views point into the store.
  std::vector<RestorePiece> Read(const std::vector<StoredPiece>& chain) const {
    std::vector<RestorePiece> pieces;
    for (const StoredPiece& stored : chain) {
      const std::string& bytes = bytes_.at(stored.id);
      pieces.push_back(RestorePiece{stored.id, stored.kind, Bytes(bytes)});
    }
    return pieces;
  }

 private:
  std::map<uint64_t, std::string> bytes_;
};

uint64_t Checksum(std::span<const std::byte> bytes) {
  return Hash64(reinterpret_cast<const char*>(bytes.data()), bytes.size(), 0);
}

// A snapshot not yet released, with the checksums of its pieces at the snapshot instant.
struct Pinned {
  std::shared_ptr<TableSnapshot> snapshot;
  std::vector<uint64_t> checksums;
};

Pinned Pin(std::shared_ptr<TableSnapshot> snapshot) {
  Pinned pinned{std::move(snapshot), {}};
  for (const TablePiece& piece : pinned.snapshot->pieces()) {
    pinned.checksums.push_back(Checksum(piece.bytes));
  }
  return pinned;
}

void ExpectUnchanged(const Pinned& pinned) {
  const std::vector<TablePiece>& pieces = pinned.snapshot->pieces();
  ASSERT_EQ(pieces.size(), pinned.checksums.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_EQ(Checksum(pieces[i].bytes), pinned.checksums[i])
        << "bytes of pinned piece " << pieces[i].id << " changed";
  }
}

// Restores `pieces` into a fresh table (own pool and budget) and returns its contents.
Model RestoreContents(const std::vector<RestorePiece>& pieces, KeyGroupRange range,
                      size_t* restored_size = nullptr) {
  auto pool = MakePool(4096);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "restored");
  const Status status = table.Restore(pieces, range);
  EXPECT_TRUE(status.ok()) << status.ToString();
  if (restored_size != nullptr) *restored_size = table.size();
  Model contents = Contents(table);
  EXPECT_EQ(contents.size(), table.size());
  // Every restored entry is found through the index too.
  for (const auto& [entry, value] : contents) {
    const std::string& key = std::get<1>(entry);
    EXPECT_EQ(Text(table.Get(Hash64(key), std::get<0>(entry), key, std::get<2>(entry))), value);
  }
  return contents;
}

// Adds `delta` to `key`'s 8-byte counter in `table` (FindOrInsert, in place), mirrors it in
// `model`, and returns where the value is stored (null on failure, reported).
const std::byte* AddToCounter(StateTable& table, Model& model, const TestKey& key, int64_t delta) {
  bool inserted = false;
  auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 8, &inserted);
  EXPECT_TRUE(value.ok()) << value.status().ToString();
  if (!value.ok()) return nullptr;
  int64_t count;
  std::memcpy(&count, value->data(), 8);
  count += delta;
  std::memcpy(value->data(), &count, 8);
  model[EntryKey{key.key_group, key.bytes, ""}] = std::string(reinterpret_cast<char*>(&count), 8);
  return value->data();
}

// A table of 8-byte counters (32 KiB segments) for `key_count` keys named key-<i>, mirrored in a
// Model.
class CounterTable {
 public:
  struct Refs {
    StateTable& table;
    std::vector<TestKey>& keys;
    Model& model;
  };
  explicit CounterTable(size_t key_count)
      : pool_(MakePool(1024, 32 * 1024)), table_(pool_.get(), &budget_, "op") {
    for (size_t i = 0; i < key_count; ++i) keys_.push_back(MakeKey("key-" + std::to_string(i)));
  }
  Refs& Parts() { return refs_; }
  const std::byte* Add(const TestKey& key, int64_t delta) {
    return AddToCounter(table_, model_, key, delta);
  }
  // Every key once, then a full snapshot written to `store` and released; returns its bytes.
  size_t FillAndWriteFull(PieceStore& store) {
    for (const TestKey& key : keys_) Add(key, 1);
    size_t bytes = 0;
    store.Write(*table_.Snapshot(/*full=*/true), &bytes);
    return bytes;
  }

 private:
  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{int64_t{1} << 30};
  StateTable table_;
  std::vector<TestKey> keys_;
  Model model_;
  Refs refs_{table_, keys_, model_};
};

// Random mutations of one table, mirrored in a Model.
class Workload {
 public:
  Workload(uint64_t seed, size_t key_count) : random_(seed) {
    std::set<std::string> distinct;
    while (keys_.size() < key_count) {
      std::string bytes = RandomBytes(random_, 1 + random_() % 24);
      if (distinct.insert(bytes).second) keys_.push_back(MakeKey(std::move(bytes)));
    }
    namespaces_ = {"", "", "w", RandomBytes(random_, 8), RandomBytes(random_, 13)};
  }

  std::mt19937_64& random() { return random_; }
  const Model& model() const { return model_; }

  size_t RandomValueSize() {
    switch (random_() % 3) {
      case 0: return 8;
      case 1: return random_() % 17;
      default: return random_() % 200;
    }
  }

  // One Put, FindOrInsert-and-write, Find-and-write or Remove. Every call must succeed (the
  // budget is ample).
  void Step(StateTable& table) {
    const TestKey& key = keys_[random_() % keys_.size()];
    const std::string& ns = namespaces_[random_() % namespaces_.size()];
    const EntryKey entry{key.key_group, key.bytes, ns};
    switch (random_() % 6) {
      case 0:
      case 1: {
        // Same size as stored half of the time: the in-place path, which must relocate sealed
        // entries.
        const auto it = model_.find(entry);
        const size_t size = it != model_.end() && random_() % 2 == 0 ? it->second.size()
                                                                       : RandomValueSize();
        const std::string value = RandomBytes(random_, size);
        auto stored = table.Put(key.hash, key.key_group, key.bytes, ns, Bytes(value));
        ASSERT_TRUE(stored.ok()) << stored.status().ToString();
        ASSERT_EQ(Text(*stored), value);
        model_[entry] = value;
        break;
      }
      case 2:
      case 3: {
        bool inserted = false;
        const size_t size = RandomValueSize();
        auto stored = table.FindOrInsert(key.hash, key.key_group, key.bytes, ns, size, &inserted);
        ASSERT_TRUE(stored.ok()) << stored.status().ToString();
        const auto it = model_.find(entry);
        ASSERT_EQ(inserted, it == model_.end());
        if (inserted) {
          ASSERT_EQ(Text(*stored), std::string(size, '\0'));
        } else {
          ASSERT_EQ(Text(*stored), it->second);
        }
        const std::string value = RandomBytes(random_, stored->size());
        std::memcpy(stored->data(), value.data(), value.size());
        model_[entry] = value;
        break;
      }
      case 4: {
        std::span<std::byte> stored = table.Find(key.hash, key.key_group, key.bytes, ns);
        ASSERT_TRUE(table.status().ok()) << table.status().ToString();
        const auto it = model_.find(entry);
        ASSERT_EQ(stored.data() != nullptr, it != model_.end());
        if (it == model_.end()) break;
        ASSERT_EQ(Text(stored), it->second);
        const std::string value = RandomBytes(random_, stored.size());
        std::memcpy(stored.data(), value.data(), value.size());
        it->second = value;
        break;
      }
      default: {
        const bool removed = table.Remove(key.hash, key.key_group, key.bytes, ns);
        ASSERT_EQ(removed, model_.erase(entry) == 1);
        break;
      }
    }
  }

 private:
  std::mt19937_64 random_;
  std::vector<TestKey> keys_;
  std::vector<std::string> namespaces_;
  Model model_;
};

// Restores `chain` whole and with a random key-group range, comparing against the model.
void ExpectRestores(const PieceStore& store, const std::vector<PieceStore::StoredPiece>& chain,
                    const Model& model, std::mt19937_64& random) {
  const std::vector<RestorePiece> pieces = store.Read(chain);
  EXPECT_EQ(RestoreContents(pieces, kAllKeyGroups), model);
  const int start = static_cast<int>(random() % kMaxParallelism);
  const int end = start + static_cast<int>(random() % (kMaxParallelism - start));
  const KeyGroupRange range{start, end};
  EXPECT_EQ(RestoreContents(pieces, range), Filter(model, range));
}

TEST(StateTableSnapshotTest, EmptyTableSnapshotsAndRestoresNothing) {
  auto pool = MakePool(16);
  memory::MemoryBudget budget(int64_t{1} << 20);
  StateTable table(pool.get(), &budget, "op");
  std::shared_ptr<TableSnapshot> snapshot = table.Snapshot();
  EXPECT_TRUE(snapshot->pieces().empty());
  EXPECT_EQ(snapshot->entries(), 0u);
  EXPECT_TRUE(table.Restore({}, kAllKeyGroups).ok());
  EXPECT_EQ(table.size(), 0u);
}

// The property test. Several rounds; each ends by destroying the table while snapshots are still
// pinned, whose bytes must survive it and be released later (one on another thread).
TEST(StateTableSnapshotTest, RandomOperationsRestoreEverySnapshotInstant) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    auto pool = MakePool(2048);
    memory::MemoryBudget budget(int64_t{1} << 30);
    Workload workload(seed, 300);
    std::mt19937_64& random = workload.random();
    PieceStore store;
    std::vector<Pinned> pinned;
    auto table = std::make_unique<StateTable>(pool.get(), &budget, "op");
    for (int step = 0; step < 6000; ++step) {
      workload.Step(*table);
      if (::testing::Test::HasFatalFailure()) return;
      const uint64_t dice = random() % 1000;
      if (dice < 8) {
        const bool full = random() % 8 == 0;
        Pinned snapshot = Pin(table->Snapshot(full));
        EXPECT_EQ(snapshot.snapshot->entries(), workload.model().size());
        const auto chain = store.Write(*snapshot.snapshot);
        ExpectRestores(store, chain, workload.model(), random);
        pinned.push_back(std::move(snapshot));
      } else if (dice < 14 && !pinned.empty()) {
        // Release a random one, often long after it was taken.
        const size_t victim = random() % pinned.size();
        ExpectUnchanged(pinned[victim]);
        pinned.erase(pinned.begin() + static_cast<std::ptrdiff_t>(victim));
      } else if (dice < 16) {
        EXPECT_EQ(Contents(*table), workload.model());
      }
      // Every segment out of the pool is accounted in the budget.
      ASSERT_GE(budget.used(), static_cast<int64_t>((pool->capacity() - pool->available()) *
                                                    kSegmentSize));
    }
    EXPECT_EQ(Contents(*table), workload.model());
    // A last snapshot after the final mutations, then the table goes while pinned.
    pinned.push_back(Pin(table->Snapshot()));
    const auto chain = store.Write(*pinned.back().snapshot);
    const Model final_model = workload.model();
    table.reset();
    for (const Pinned& snapshot : pinned) ExpectUnchanged(snapshot);
    ExpectRestores(store, chain, final_model, random);
    ASSERT_GE(budget.used(), static_cast<int64_t>((pool->capacity() - pool->available()) *
                                                  kSegmentSize));
    // Release one on another thread (the checkpoint writer's), the rest here in random order.
    if (!pinned.empty()) {
      Pinned moved = std::move(pinned.back());
      pinned.pop_back();
      std::thread writer([moved = std::move(moved)]() mutable { moved.snapshot.reset(); });
      writer.join();
    }
    std::shuffle(pinned.begin(), pinned.end(), random);
    while (!pinned.empty()) pinned.pop_back();
    EXPECT_EQ(budget.used(), 0);
  }
}

// Snapshots taken back to back without mutations list the same pieces, the later ones as written
// before; a full one writes them all again.
TEST(StateTableSnapshotTest, RepeatedSnapshotsReferenceEarlierPieces) {
  auto pool = MakePool(256);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  Workload workload(11, 500);
  for (int i = 0; i < 3000; ++i) workload.Step(table);
  PieceStore store;
  size_t first_bytes = 0;
  auto first = table.Snapshot();
  store.Write(*first, &first_bytes);
  EXPECT_GT(first_bytes, 0u);
  size_t second_bytes = 0;
  auto second = table.Snapshot();
  const auto chain = store.Write(*second, &second_bytes);
  EXPECT_EQ(second_bytes, 0u);
  ASSERT_EQ(first->pieces().size(), second->pieces().size());
  for (size_t i = 0; i < first->pieces().size(); ++i) {
    EXPECT_EQ(first->pieces()[i].id, second->pieces()[i].id);
    EXPECT_TRUE(second->pieces()[i].written_before);
  }
  size_t full_bytes = 0;
  auto full = table.Snapshot(/*full=*/true);
  store.Write(*full, &full_bytes);
  EXPECT_EQ(full_bytes, first_bytes);
  for (const TablePiece& piece : full->pieces()) EXPECT_FALSE(piece.written_before);
  std::mt19937_64 random(3);
  ExpectRestores(store, chain, workload.model(), random);
}

// After a full snapshot of N entries, changing 1% of the keys (in place, by FindOrInsert) makes
// the next snapshot write at most ~5% of the full snapshot's bytes.
TEST(StateTableSnapshotTest, IncrementalSnapshotWritesOnlyChangedEntries) {
  constexpr size_t kKeys = 100'000;
  auto pool = MakePool(1024, 32 * 1024);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  std::mt19937_64 random(5);
  std::vector<TestKey> keys;
  Model model;
  for (size_t i = 0; i < kKeys; ++i) {
    const uint64_t id = random();
    keys.push_back(MakeKey(std::string(reinterpret_cast<const char*>(&id), sizeof(id))));
  }
  auto add = [&](const TestKey& key, int64_t delta) { return AddToCounter(table, model, key, delta); };
  for (const TestKey& key : keys) add(key, 1);
  PieceStore store;
  size_t full_bytes = 0;
  store.Write(*table.Snapshot(/*full=*/true), &full_bytes);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(keys.begin(), keys.end(), random);
    for (size_t i = 0; i < kKeys / 100; ++i) add(keys[i], 7);
    size_t new_bytes = 0;
    const auto chain = store.Write(*table.Snapshot(), &new_bytes);
    EXPECT_LE(new_bytes * 20, full_bytes) << "round " << round << ": " << new_bytes << " of "
                                          << full_bytes;
    EXPECT_GT(new_bytes, 0u);
    EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model);
  }
}

// A rolling aggregation (FindOrInsert only) checkpointed again and again, each snapshot held
// over the next few hundred writes (as a checkpoint is while its writer runs): those writes
// relocate their entries, the garbage this leaves in sealed segments is reclaimed, so memory
// stays bounded while the snapshots keep restoring exactly.
TEST(StateTableSnapshotTest, RelocationGarbageIsReclaimed) {
  constexpr size_t kKeys = 5000;
  auto pool = MakePool(1024);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  std::mt19937_64 random(13);
  std::vector<TestKey> keys;
  for (size_t i = 0; i < kKeys; ++i) keys.push_back(MakeKey("key" + std::to_string(i)));
  Model model;
  PieceStore store;
  int64_t peak = 0;
  std::shared_ptr<TableSnapshot> pinned;
  for (int round = 0; round < 40; ++round) {
    for (size_t i = 0; i < kKeys; ++i) {
      const TestKey& key = keys[random() % kKeys];
      bool inserted = false;
      auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 16, &inserted);
      ASSERT_TRUE(value.ok()) << value.status().ToString();
      (*value)[random() % 16] = static_cast<std::byte>(random());
      model[EntryKey{key.key_group, key.bytes, ""}] = Text(*value);
      if (i == 400) pinned.reset();
    }
    pinned = table.Snapshot();
    const auto chain = store.Write(*pinned);
    if (round % 8 == 7) EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model);
    peak = std::max(peak, table.memory_bytes());
  }
  // 5000 live 48-byte entries are 240 KB: bounded by a small multiple, not by 40 rounds' copies.
  EXPECT_LT(peak, static_cast<int64_t>(kKeys * 48 * 4 + table.index_bytes() + 8 * kSegmentSize));
}

// Writes after a snapshot's release go in place (no copy, no memory growth) and reach the next
// checkpoint as an override piece; writes while a snapshot is unreleased relocate, leaving its
// bytes alone, even when its override piece is gathered only afterwards (as the checkpoint writer
// does). Over many checkpoints the listed override pieces stay bounded (segments are resealed),
// the bytes a checkpoint references stay within a small multiple of the state, and every
// checkpoint restores exactly.
// An override gather reuses the mapping an earlier snapshot gathered into (kept idle when that
// snapshot went): a smaller gather into the larger, used mapping writes exactly its own records,
// and the table restored from the checkpoint chain is the model.
TEST(StateTableSnapshotTest, AGatherReusingAnEarlierMappingWritesOnlyItsRecords) {
  constexpr size_t kKeys = 20'000;
  CounterTable counters(kKeys);
  auto& [table, keys, model] = counters.Parts();
  PieceStore store;
  counters.FillAndWriteFull(store);
  // Every 3rd, 50th, then 9th key: 46% of each segment's bytes overridden in all, under the
  // least a segment reseals at (half its sealed bytes), so each round's piece holds every record.
  for (const size_t step : {size_t{3}, size_t{50}, size_t{9}}) {
    size_t expected = 0;  // the records of this round's override piece
    for (size_t i = 0; i < kKeys; i += step) {
      counters.Add(keys[i], 3);
      expected += 16 + 24 + (keys[i].bytes.size() + 7) / 8 * 8 + 8;
    }
    auto snapshot = table.Snapshot();
    auto chain = store.Write(*snapshot);
    size_t fresh = 0;
    for (const TablePiece& piece : snapshot->pieces()) {
      if (piece.kind != TablePiece::Kind::kOverrides || piece.written_before) continue;
      ++fresh;
      EXPECT_EQ(piece.bytes.size(), expected) << "every " << step << "th key";
    }
    EXPECT_EQ(fresh, 1u);
    EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model) << "every " << step << "th key";
  }
}

// A table written all over between checkpoints (a tenth of its keys, spread over every segment,
// as a large window job's are) is resealed a share at a time: no incremental checkpoint rewrites
// more than a third of the table (all of it at once every 9th checkpoint before the shares), the
// listed override pieces stay within the limit, and every checkpoint restores exactly.
TEST(StateTableSnapshotTest, ATableWrittenAllOverIsResealedInShares) {
  constexpr size_t kKeys = 20'000;
  CounterTable counters(kKeys);
  auto& [table, keys, model] = counters.Parts();
  PieceStore store;
  const size_t full_bytes = counters.FillAndWriteFull(store);
  std::mt19937_64 random(23);
  size_t largest = 0;
  size_t resealing = 0;  // checkpoints that rewrote entries pieces
  for (int round = 0; round < 40; ++round) {
    for (size_t i = 0; i < kKeys / 10; ++i) counters.Add(keys[random() % kKeys], 1);
    auto snapshot = table.Snapshot();
    size_t new_bytes = 0;
    auto chain = store.Write(*snapshot, &new_bytes);
    size_t entries_bytes = 0;  // of entries pieces written now (resealed segments)
    size_t listed_overrides = 0;
    for (const TablePiece& piece : snapshot->pieces()) {
      if (piece.kind == TablePiece::Kind::kOverrides) ++listed_overrides;
      if (piece.kind == TablePiece::Kind::kEntries && !piece.written_before) entries_bytes += piece.bytes.size();
    }
    largest = std::max(largest, entries_bytes);
    resealing += entries_bytes != 0 ? 1 : 0;
    EXPECT_LE(listed_overrides, 9u) << "round " << round;  // kMaxOverridePieces, and the new one
    if (round % 5 == 4) EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model) << "round " << round;
  }
  EXPECT_LE(largest * 3, full_bytes) << largest << " of " << full_bytes;
  // The table was resealed, in many checkpoints.
  EXPECT_GE(resealing, 10u);
}

// Six rounds of writing the keys `write(i)` selects once each (in place: nothing pins the table)
// and checkpointing, each restored exactly and adding no tombstones (nothing dies); returns the
// bytes of entries pieces the rounds wrote (resealed segments).
template <typename Select>
size_t WriteInPlaceUntilResealed(CounterTable& counters, PieceStore& store, Select write) {
  auto& [table, keys, model] = counters.Parts();
  size_t resealed_bytes = 0;
  for (int round = 0; round < 6; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (write(i)) counters.Add(keys[i], 1);
    }
    auto snapshot = table.Snapshot();
    auto chain = store.Write(*snapshot);
    for (const TablePiece& piece : snapshot->pieces()) {
      if (piece.written_before) continue;
      if (piece.kind == TablePiece::Kind::kEntries) resealed_bytes += piece.bytes.size();
      EXPECT_NE(piece.kind, TablePiece::Kind::kTombstones) << "round " << round << ": " << piece.bytes.size()
                                                           << " bytes of tombstones, nothing died";
    }
    EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model) << "round " << round;
  }
  return resealed_bytes;
}

// Sealed entries that died in several ways before their segment is resealed (relocated and
// removed while a checkpoint pinned the segment, removed after its release, in two rounds) are
// all marked dead in the resealed piece: every checkpoint restores exactly, and the reseals add
// no tombstones.
TEST(StateTableSnapshotTest, EveryKindOfDeathIsMarkedInAResealedPiece) {
  constexpr size_t kKeys = 12'000;
  CounterTable counters(kKeys);
  auto& [table, keys, model] = counters.Parts();
  PieceStore store;
  counters.FillAndWriteFull(store);
  const auto remove = [&](size_t i) {
    EXPECT_TRUE(table.Remove(keys[i].hash, keys[i].key_group, keys[i].bytes));
    model.erase(EntryKey{keys[i].key_group, keys[i].bytes, ""});
  };
  std::set<size_t> removed;
  for (int pass = 0; pass < 2; ++pass) {
    {
      auto pinned = table.Snapshot();
      store.Write(*pinned);
      for (size_t i = pass; i < kKeys; i += 6) {  // relocate
        if (!removed.contains(i)) counters.Add(keys[i], 1);
      }
      for (size_t i = 4 + pass; i < kKeys; i += 60) {  // remove
        if (removed.insert(i).second) remove(i);
      }
    }
    // Released: removals in the same segments.
    for (size_t i = 5 - pass; i < kKeys / 2; i += 30) {
      if (removed.insert(i).second) remove(i);
    }
    auto snapshot = table.Snapshot();
    auto chain = store.Write(*snapshot);
    EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model) << "pass " << pass;
  }
  EXPECT_GT(WriteInPlaceUntilResealed(counters, store,
                                      [&](size_t i) { return i % 6 >= 2 && !removed.contains(i); }),
            0u);
}

// The dead flags a reseal owes, set by the snapshot's writer (ResealMarks). Each test starts from
// a table whose sealed segments hold entries that died (every third key relocated while a
// checkpoint pinned them), written in full and then incrementally, so that the reseals of later
// checkpoints have deaths to flag.
class ResealFlagsTest : public ::testing::Test {
 protected:
  static constexpr size_t kKeys = 12'000;

  ResealFlagsTest() {
    counters_.FillAndWriteFull(store_);
    {
      // Every third key written while a checkpoint pins the table: its sealed copy dies.
      auto pinned = table_.Snapshot();
      store_.Write(*pinned);
      for (size_t i = 0; i < kKeys; i += 3) counters_.Add(keys_[i], 1);
    }
    // The deaths' own tombstones go with the next checkpoint.
    EXPECT_EQ(Restored(*table_.Snapshot()), model_);
  }

  // Writes the keys that are not multiples of 3 in place (once the earlier checkpoints are
  // released), then snapshots; `marked` counts the reseals with deaths to flag.
  std::shared_ptr<TableSnapshot> WriteAndSnapshot(int64_t* marked) {
    for (size_t i = 0; i < kKeys; ++i) {
      if (i % 3 != 0) counters_.Add(keys_[i], 1);
    }
    const int64_t before = table_.marked_reseals();
    std::shared_ptr<TableSnapshot> snapshot = table_.Snapshot();
    *marked += table_.marked_reseals() - before;
    return snapshot;
  }

  Model Restored(const TableSnapshot& snapshot) {
    return RestoreContents(store_.Read(store_.Write(snapshot)), kAllKeyGroups);
  }

  // Writes until a snapshot reseals; it goes unwritten (an aborted checkpoint), released first
  // unless `held`, and a full snapshot taken after it must restore exactly (without the flags,
  // the old copies of relocated entries would come back beside the new ones).
  void ExpectAFullSnapshotAfterAnUnwrittenReseal(bool held) {
    int64_t marked = 0;
    for (int round = 0; round < 8; ++round) {
      std::shared_ptr<TableSnapshot> snapshot = WriteAndSnapshot(&marked);
      if (marked == 0) {
        store_.Write(*snapshot);
        continue;
      }
      if (!held) snapshot.reset();
      EXPECT_EQ(Restored(*table_.Snapshot(/*full=*/true)), model_);
      return;
    }
    ADD_FAILURE() << "no reseal in 8 checkpoints";
  }

  CounterTable counters_{kKeys};
  StateTable& table_ = counters_.Parts().table;
  std::vector<TestKey>& keys_ = counters_.Parts().keys;
  Model& model_ = counters_.Parts().model;
  PieceStore store_;
};

// Entries of a sealed range that died (relocated while a checkpoint pinned them) and are in a
// segment resealed once no snapshot pins it are marked dead by the flag in their headers, in the
// new piece's own bytes: the reseals add no tombstone records, and the checkpoints restore
// exactly. (Tombstones for them, 12 bytes each, made the synchronous part of a 1 GB window job's
// reseals 15-27 ms.) The old segments, two thirds live, were resealed, not only the relocated
// copies' segments.
TEST_F(ResealFlagsTest, MarkTheDeadEntriesInTheResealedPieceWithoutTombstones) {
  EXPECT_GT(WriteInPlaceUntilResealed(counters_, store_, [](size_t i) { return i % 3 != 0; }), 0u);
}

// The flags are the deaths the reseal saw, not later ones: entries of resealed segments that die
// after the snapshot but before its writer reads the pieces (relocated because the snapshot pins
// them, or removed) are live in that checkpoint, and each checkpoint restores the instant it was
// taken at.
TEST_F(ResealFlagsTest, AreTheDeathsBeforeTheSnapshot) {
  int64_t marked = 0;
  for (int round = 0; round < 12; ++round) {
    std::shared_ptr<TableSnapshot> snapshot = WriteAndSnapshot(&marked);
    const Model at_snapshot = model_;
    // Before the writer looks: a third of the keys relocated, some others removed (multiples of
    // 3, which are not written in place; a different 99th of them each round, 3 * 12 < 99).
    for (size_t i = 1 + round % 2; i < kKeys; i += 3) counters_.Add(keys_[i], 1);
    for (size_t i = 3 * static_cast<size_t>(round); i < kKeys; i += 99) {
      EXPECT_TRUE(table_.Remove(keys_[i].hash, keys_[i].key_group, keys_[i].bytes));
      model_.erase(EntryKey{keys_[i].key_group, keys_[i].bytes, ""});
    }
    // The flags are not set yet: the table knows its dead entries from the bits.
    EXPECT_EQ(Contents(table_), model_) << "round " << round;
    EXPECT_EQ(Restored(*snapshot), at_snapshot) << "round " << round;
  }
  // About every segment, some of them twice (a reseal then drops the bits of the one before).
  EXPECT_GT(marked, 10);
  EXPECT_EQ(Restored(*table_.Snapshot()), model_);
  EXPECT_EQ(Restored(*table_.Snapshot(/*full=*/true)), model_);
}

// A resealing snapshot never written (its checkpoint aborted) sets the flags when it goes...
TEST_F(ResealFlagsTest, AreSetWhenAnUnwrittenSnapshotGoes) { ExpectAFullSnapshotAfterAnUnwrittenReseal(false); }

// ... or, while it is still held, the table sets them before its next snapshot lists the bytes.
TEST_F(ResealFlagsTest, AreSetBeforeTheNextSnapshotWhileOneIsHeld) {
  ExpectAFullSnapshotAfterAnUnwrittenReseal(true);
}

// The writer sets them on its own thread while the task thread goes on writing the pinned
// segments (relocating) and iterating the table: the checkpoint restores its instant, and the
// table its current contents.
TEST_F(ResealFlagsTest, AreSetByAWriterThreadWhileTheTableIsWritten) {
  int64_t marked = 0;
  for (int round = 0; round < 6; ++round) {
    std::shared_ptr<TableSnapshot> snapshot = WriteAndSnapshot(&marked);
    const Model at_snapshot = model_;
    std::vector<PieceStore::StoredPiece> chain;
    std::thread writer([&] { chain = store_.Write(*snapshot); });
    for (size_t i = 2; i < kKeys; i += 3) counters_.Add(keys_[i], 1);
    EXPECT_EQ(Contents(table_), model_);
    writer.join();
    snapshot.reset();
    EXPECT_EQ(RestoreContents(store_.Read(chain), kAllKeyGroups), at_snapshot) << "round " << round;
  }
  EXPECT_GT(marked, 0);
}

TEST(StateTableSnapshotTest, WritesAfterReleaseGoInPlaceAsOverrides) {
  constexpr size_t kKeys = 20'000;
  CounterTable counters(kKeys);
  auto& [table, keys, model] = counters.Parts();
  std::mt19937_64 random(17);
  auto add = [&](const TestKey& key, int64_t delta) { return counters.Add(key, delta); };
  for (const TestKey& key : keys) add(key, 1);
  PieceStore store;
  size_t full_bytes = 0;
  store.Write(*table.Snapshot(/*full=*/true), &full_bytes);  // released at once

  // In place after the release: same addresses, no new memory, one override piece.
  const int64_t memory_before = table.memory_bytes();
  size_t override_bytes = 0;  // of the records the next snapshot writes
  for (size_t i = 0; i < kKeys; i += 100) {
    const std::byte* before = table.Get(keys[i].hash, keys[i].key_group, keys[i].bytes).data();
    ASSERT_EQ(add(keys[i], 5), before);
    override_bytes += 16 + 24 + (keys[i].bytes.size() + 7) / 8 * 8 + 8;
  }
  // No entry was copied; only the dirty bitmaps (a bit per 8 bytes) were accounted.
  EXPECT_LT(table.memory_bytes() - memory_before, 32 * 1024);
  size_t new_bytes = 0;
  auto snapshot = table.Snapshot();
  const Model at_snapshot = model;
  // Pinned: the same writes relocate and leave the snapshot's bytes alone, including those its
  // override piece is gathered from later.
  for (size_t i = 0; i < kKeys; i += 100) {
    const std::byte* before = table.Get(keys[i].hash, keys[i].key_group, keys[i].bytes).data();
    ASSERT_NE(add(keys[i], 7), before);
  }
  auto chain = store.Write(*snapshot, &new_bytes);
  size_t overrides = 0;
  for (const TablePiece& piece : snapshot->pieces()) {
    if (piece.kind != TablePiece::Kind::kOverrides) continue;
    ++overrides;
    EXPECT_FALSE(piece.written_before);
    // 200 records of a 16-byte header and the entry.
    EXPECT_EQ(piece.bytes.size(), override_bytes);
  }
  EXPECT_EQ(overrides, 1u);
  EXPECT_LE(new_bytes * 20, full_bytes) << new_bytes << " of " << full_bytes;
  EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), at_snapshot);
  snapshot.reset();
  chain = store.Write(*table.Snapshot());
  EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model);

  // Many checkpoints of random updates (a tenth of the keys each), some written while the last
  // snapshot is still pinned, some after.
  size_t max_override_pieces = 0;
  for (int round = 0; round < 60; ++round) {
    std::shared_ptr<TableSnapshot> pinned = table.Snapshot();
    const Model pinned_model = model;
    for (size_t i = 0; i < kKeys / 10; ++i) {
      add(keys[random() % kKeys], static_cast<int64_t>(random() % 100));
      if (i == kKeys / 40) {
        chain = store.Write(*pinned);  // the writer gathers while the task goes on
        pinned.reset();
      }
    }
    if (round % 10 == 9) EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), pinned_model);
    auto snapshot_now = table.Snapshot();
    chain = store.Write(*snapshot_now);
    size_t listed_overrides = 0;
    size_t referenced = 0;
    for (const TablePiece& piece : snapshot_now->pieces()) {
      if (piece.kind == TablePiece::Kind::kOverrides) ++listed_overrides;
    }
    for (const RestorePiece& piece : store.Read(chain)) referenced += piece.bytes.size();
    max_override_pieces = std::max(max_override_pieces, listed_overrides);
    EXPECT_LE(referenced, 3 * full_bytes) << "round " << round;
    if (round % 10 == 9) EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups), model);
  }
  EXPECT_GE(max_override_pieces, 2u);
  EXPECT_LE(max_override_pieces, 9u);
  EXPECT_EQ(Contents(table), model);
  // A full snapshot lists no override piece and restores the same.
  auto full = table.Snapshot(/*full=*/true);
  for (const TablePiece& piece : full->pieces()) {
    EXPECT_NE(piece.kind, TablePiece::Kind::kOverrides);
  }
  EXPECT_EQ(RestoreContents(store.Read(store.Write(*full)), kAllKeyGroups), model);
}

// A writer releasing a prefix of the snapshot's pieces (as it stages them) unpins the segments
// holding only released pieces: writes to their entries go in place, writes to the others still
// relocate and leave the unreleased pieces' bytes unchanged, and the next snapshot restores
// exactly.
TEST(StateTableSnapshotTest, ReleasedPiecesUnpinTheirSegments) {
  constexpr size_t kKeys = 20'000;
  CounterTable counters(kKeys);
  auto& [table, keys, model] = counters.Parts();
  auto add = [&](const TestKey& key, int64_t delta) { return counters.Add(key, delta); };
  for (const TestKey& key : keys) add(key, 1);
  PieceStore store;
  std::shared_ptr<TableSnapshot> snapshot = table.Snapshot(/*full=*/true);
  const Model at_snapshot = model;
  store.Write(*snapshot);
  const std::vector<TablePiece> pieces = snapshot->pieces();
  ASSERT_GT(pieces.size(), 10u);
  const size_t released = pieces.size() / 2;
  std::vector<uint64_t> checksums;
  for (size_t p = released; p < pieces.size(); ++p) checksums.push_back(Checksum(pieces[p].bytes));
  snapshot->ReleasePieces(released);
  // Which piece a key's entry is in, by address.
  auto piece_of = [&](const std::byte* value) {
    for (size_t p = 0; p < pieces.size(); ++p) {
      if (value >= pieces[p].bytes.data() && value < pieces[p].bytes.data() + pieces[p].bytes.size()) {
        return p;
      }
    }
    return pieces.size();
  };
  size_t in_place = 0;
  size_t relocated = 0;
  for (size_t i = 0; i < kKeys; i += 7) {
    const std::byte* before = table.Get(keys[i].hash, keys[i].key_group, keys[i].bytes).data();
    const size_t piece = piece_of(before);
    ASSERT_LT(piece, pieces.size());
    const std::byte* after = add(keys[i], 3);
    // A segment's pieces are listed together: one that ends before `released` is unpinned.
    if (piece + 1 < released) {
      EXPECT_EQ(after, before) << "key " << i;
      ++in_place;
    } else if (piece >= released) {
      EXPECT_NE(after, before) << "key " << i;
      ++relocated;
    }
  }
  EXPECT_GT(in_place, 100u);
  EXPECT_GT(relocated, 100u);
  for (size_t p = released; p < pieces.size(); ++p) {
    EXPECT_EQ(Checksum(pieces[p].bytes), checksums[p - released]) << "piece " << p;
  }
  snapshot.reset();
  auto next = table.Snapshot();
  EXPECT_EQ(RestoreContents(store.Read(store.Write(*next)), kAllKeyGroups), model);
  EXPECT_NE(model, at_snapshot);
}

// Removals and re-insertions of sealed entries, then compaction of the sealed segments once no
// snapshot pins them: the tombstone pieces naming only compacted pieces are dropped, and every
// snapshot still restores exactly.
TEST(StateTableSnapshotTest, CompactionOfSealedSegmentsDropsTheirPieces) {
  auto pool = MakePool(512);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  Model model;
  std::vector<TestKey> keys;
  for (int i = 0; i < 2000; ++i) keys.push_back(MakeKey("key-" + std::to_string(i)));
  for (const TestKey& key : keys) {
    const std::string value(16, static_cast<char>(key.bytes.size()));
    ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
    model[EntryKey{key.key_group, key.bytes, ""}] = value;
  }
  PieceStore store;
  std::mt19937_64 random(9);
  store.Write(*table.Snapshot());  // released at once: nothing stays pinned
  const int64_t index_bytes = table.index_bytes();
  const int64_t segments_before = table.memory_bytes() - index_bytes;
  // Remove 90% of the keys: the sealed segments become mostly dead and are evacuated.
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 10 == 0) continue;
    ASSERT_TRUE(table.Remove(keys[i].hash, keys[i].key_group, keys[i].bytes));
    model.erase(EntryKey{keys[i].key_group, keys[i].bytes, ""});
  }
  EXPECT_LT(table.memory_bytes() - table.index_bytes(), segments_before / 2);
  EXPECT_LT(table.dead_bytes(), static_cast<int64_t>(kSegmentSize) * 4);
  EXPECT_EQ(Contents(table), model);
  auto snapshot = table.Snapshot();
  const auto chain = store.Write(*snapshot);
  size_t tombstone_bytes = 0;
  for (const TablePiece& piece : snapshot->pieces()) {
    if (piece.kind == TablePiece::Kind::kTombstones) tombstone_bytes += piece.bytes.size();
  }
  // At most the tombstones of entries removed from segments that were kept.
  EXPECT_LT(tombstone_bytes, 12u * 1800 / 2);
  ExpectRestores(store, chain, model, random);
}

// Incremental compaction between checkpoints: snapshots released soon after they are taken (as a
// checkpoint's are once written), many keys removed and rewritten in between, so the steps
// evacuate sealed segments, and Snapshot meets victims half evacuated. Every snapshot restores
// exactly, memory stays bounded, and no whole-table compaction is needed.
TEST(StateTableSnapshotTest, IncrementalCompactionBetweenSnapshotsRestoresExactly) {
  auto pool = MakePool(4096);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  std::mt19937_64 random(21);
  std::vector<TestKey> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back(MakeKey("key-" + std::to_string(i)));
  Model model;
  PieceStore store;
  int64_t peak_segment_bytes = 0;
  for (int round = 0; round < 40; ++round) {
    for (int op = 0; op < 2000; ++op) {
      const TestKey& key = keys[random() % keys.size()];
      const EntryKey entry{key.key_group, key.bytes, ""};
      if (random() % 3 == 0) {
        EXPECT_EQ(table.Remove(key.hash, key.key_group, key.bytes), model.erase(entry) == 1);
      } else {
        const std::string value = RandomBytes(random, random() % 48);
        ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes(value)).ok());
        model[entry] = value;
      }
      const int64_t segment_bytes =
          table.memory_bytes() - table.index_bytes();
      peak_segment_bytes = std::max(peak_segment_bytes, segment_bytes);
    }
    auto snapshot = table.Snapshot();
    EXPECT_EQ(snapshot->entries(), model.size());
    const auto chain = store.Write(*snapshot);
    snapshot.reset();  // written: the next writes may evacuate its segments
    if (round % 8 == 7) ExpectRestores(store, chain, model, random);
  }
  EXPECT_EQ(Contents(table), model);
  EXPECT_EQ(table.full_compactions(), 0);
  // At most about 2 x the live bytes (entries are at most 24 + 16 + 48 bytes, 3000 keys).
  EXPECT_LE(peak_segment_bytes, int64_t{3000} * 88 * 2 + 8 * int64_t{kSegmentSize});
}

// A write to a pinned entry leaves the pinned bytes alone; the dead flag of the old copy is
// written only when the snapshot goes, and until then ForEach does not see the old copy.
TEST(StateTableSnapshotTest, PinnedBytesStayUntilRelease) {
  auto pool = MakePool(64);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  const TestKey key = MakeKey("counter");
  bool inserted = false;
  auto value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 8, &inserted);
  ASSERT_TRUE(value.ok());
  (*value)[0] = std::byte{1};
  Pinned pinned = Pin(table.Snapshot());
  ASSERT_EQ(pinned.snapshot->pieces().size(), 1u);
  value = table.FindOrInsert(key.hash, key.key_group, key.bytes, {}, 8, &inserted);
  ASSERT_TRUE(value.ok());
  EXPECT_FALSE(inserted);
  EXPECT_EQ((*value)[0], std::byte{1});
  (*value)[0] = std::byte{2};
  ExpectUnchanged(pinned);
  ASSERT_TRUE(table.Remove(key.hash, key.key_group, key.bytes));
  ExpectUnchanged(pinned);
  EXPECT_TRUE(Contents(table).empty());
  EXPECT_EQ(table.size(), 0u);
  pinned.snapshot.reset();
  // The next snapshot lists the sealed piece again plus a tombstone for it; restore yields nothing.
  PieceStore store;
  auto first = table.Snapshot(/*full=*/true);
  const auto chain = store.Write(*first);
  EXPECT_TRUE(RestoreContents(store.Read(chain), kAllKeyGroups).empty());
}

// Budget exhaustion while relocating sealed entries is a ResourceExhausted Status, the table stays
// consistent, and every byte stays accounted.
TEST(StateTableSnapshotTest, ExhaustionWhileRelocatingIsResourceExhausted) {
  auto pool = MakePool(64);
  memory::MemoryBudget budget(12 * kSegmentSize);
  auto table = std::make_unique<StateTable>(pool.get(), &budget, "op");
  Model model;
  std::vector<TestKey> keys;
  // Fill until the budget says no.
  for (int i = 0;; ++i) {
    TestKey key = MakeKey("k" + std::to_string(i));
    const std::string value(40, 'a');
    auto stored = table->Put(key.hash, key.key_group, key.bytes, {}, Bytes(value));
    if (!stored.ok()) {
      EXPECT_EQ(stored.status().code(), StatusCode::kResourceExhausted) << stored.status().ToString();
      break;
    }
    model[EntryKey{key.key_group, key.bytes, ""}] = value;
    keys.push_back(std::move(key));
  }
  ASSERT_GT(keys.size(), 100u);
  Pinned pinned = Pin(table->Snapshot());
  // Rewrite every key in place: each first relocates, which soon cannot get memory.
  bool exhausted = false;
  for (const TestKey& key : keys) {
    bool inserted = false;
    auto stored = table->FindOrInsert(key.hash, key.key_group, key.bytes, {}, 40, &inserted);
    if (!stored.ok()) {
      EXPECT_EQ(stored.status().code(), StatusCode::kResourceExhausted);
      exhausted = true;
      continue;
    }
    std::memset(stored->data(), 'b', 40);
    model[EntryKey{key.key_group, key.bytes, ""}] = std::string(40, 'b');
  }
  EXPECT_TRUE(exhausted);
  // Find cannot return a Status: it returns nothing and the table remembers why.
  const std::span<std::byte> found =
      table->Find(keys.back().hash, keys.back().key_group, keys.back().bytes);
  if (found.empty()) {
    EXPECT_EQ(table->status().code(), StatusCode::kResourceExhausted);
  }
  // Removals still work (their tombstones are owed to the budget at worst).
  for (size_t i = 0; i < keys.size(); i += 3) {
    ASSERT_TRUE(table->Remove(keys[i].hash, keys[i].key_group, keys[i].bytes));
    model.erase(EntryKey{keys[i].key_group, keys[i].bytes, ""});
  }
  ExpectUnchanged(pinned);
  EXPECT_EQ(Contents(*table), model);
  EXPECT_LE(budget.used(), budget.total());
  EXPECT_EQ(budget.used(), table->memory_bytes());
  EXPECT_GE(budget.used(), static_cast<int64_t>((pool->capacity() - pool->available()) *
                                                kSegmentSize));
  table.reset();
  ExpectUnchanged(pinned);
  EXPECT_GE(budget.used(), static_cast<int64_t>((pool->capacity() - pool->available()) *
                                                kSegmentSize));
  pinned.snapshot.reset();
  EXPECT_EQ(budget.used(), 0);
}

// Restore into a budget too small for the state fails with ResourceExhausted, not a crash.
TEST(StateTableSnapshotTest, RestoreBeyondTheBudgetIsResourceExhausted) {
  auto pool = MakePool(256);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  Workload workload(21, 2000);
  for (int i = 0; i < 5000; ++i) workload.Step(table);
  PieceStore store;
  const auto chain = store.Write(*table.Snapshot());
  memory::MemoryBudget small(4 * kSegmentSize);
  StateTable restored(pool.get(), &small, "restored");
  const Status status = restored.Restore(store.Read(chain), kAllKeyGroups);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status.ToString();
  EXPECT_EQ(Contents(restored).size(), restored.size());
}

// Restore reads pieces at any alignment (they come from read buffers).
TEST(StateTableSnapshotTest, RestoreAcceptsUnalignedPieces) {
  auto pool = MakePool(256);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  Workload workload(31, 400);
  for (int i = 0; i < 3000; ++i) workload.Step(table);
  auto snapshot = table.Snapshot();
  table.Snapshot();  // nothing new
  std::vector<std::string> buffers;
  std::vector<RestorePiece> pieces;
  for (const TablePiece& piece : snapshot->pieces()) {
    std::string buffer = "x" + Text(piece.bytes);
    buffers.push_back(std::move(buffer));
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    const TablePiece& piece = snapshot->pieces()[i];
    pieces.push_back(
        RestorePiece{piece.id, piece.kind, Bytes(std::string_view(buffers[i]).substr(1))});
  }
  EXPECT_EQ(RestoreContents(pieces, kAllKeyGroups), workload.model());
}

// Malformed pieces are DataLoss naming the piece and the offset; never a crash or an
// out-of-bounds read (run under ASan).
class MalformedPieces : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = MakePool(256);
    StateTable table(pool_.get(), &budget_, "op");
    Workload workload(41, 200);
    for (int i = 0; i < 2000; ++i) workload.Step(table);
    auto snapshot = table.Snapshot();
    for (const TablePiece& piece : snapshot->pieces()) {
      if (piece.kind == TablePiece::Kind::kEntries) {
        entries_.push_back({piece.id, Text(piece.bytes)});
      }
    }
    ASSERT_FALSE(entries_.empty());
  }

  Status Restore(const std::vector<std::pair<uint64_t, std::string>>& entries,
                 const std::vector<std::pair<uint64_t, std::string>>& tombstones = {},
                 const std::vector<std::pair<uint64_t, std::string>>& overrides = {},
                 Model* contents = nullptr) {
    std::vector<RestorePiece> pieces;
    for (const auto& [id, bytes] : entries) {
      pieces.push_back(RestorePiece{id, TablePiece::Kind::kEntries, Bytes(bytes)});
    }
    for (const auto& [id, bytes] : tombstones) {
      pieces.push_back(RestorePiece{id, TablePiece::Kind::kTombstones, Bytes(bytes)});
    }
    for (const auto& [id, bytes] : overrides) {
      pieces.push_back(RestorePiece{id, TablePiece::Kind::kOverrides, Bytes(bytes)});
    }
    StateTable table(pool_.get(), &budget_, "restored");
    Status status = table.Restore(pieces, kAllKeyGroups);
    // Whatever was inserted is consistent.
    EXPECT_EQ(Contents(table).size(), table.size());
    if (contents != nullptr) *contents = Contents(table);
    return status;
  }

  // An override record (the documented layout: u64 piece id, u32 offset, u32 size, the entry).
  static std::string OverrideRecord(uint64_t piece, uint32_t offset, const std::string& entry,
                                    uint32_t size) {
    std::string record(16, '\0');
    std::memcpy(record.data(), &piece, 8);
    std::memcpy(record.data() + 8, &offset, 4);
    std::memcpy(record.data() + 12, &size, 4);
    return record + entry;
  }

  // Entry start offsets of a well-formed piece, by the documented layout (24-byte header: u64
  // hash, u32 key, u32 namespace, u32 value lengths, u16 key group, u16 flags).
  static std::vector<size_t> EntryOffsets(const std::string& bytes) {
    std::vector<size_t> offsets;
    for (size_t offset = 0; offset < bytes.size();) {
      offsets.push_back(offset);
      uint32_t key_size, ns_size, value_size;
      std::memcpy(&key_size, bytes.data() + offset + 8, 4);
      std::memcpy(&ns_size, bytes.data() + offset + 12, 4);
      std::memcpy(&value_size, bytes.data() + offset + 16, 4);
      offset += 24 + ((key_size + ns_size + 7) / 8 * 8) + ((value_size + 7) / 8 * 8);
    }
    return offsets;
  }

  static void ExpectDataLoss(const Status& status, uint64_t id) {
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
    EXPECT_NE(status.ToString().find(fmt::format("{:#x}", id)), std::string::npos)
        << status.ToString();
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{int64_t{1} << 30};
  std::vector<std::pair<uint64_t, std::string>> entries_;
};

TEST_F(MalformedPieces, WellFormedPiecesRestore) { EXPECT_TRUE(Restore(entries_).ok()); }

TEST_F(MalformedPieces, TruncationInsideAnEntryIsDataLoss) {
  const auto& [id, bytes] = entries_.front();
  const std::vector<size_t> offsets = EntryOffsets(bytes);
  const std::set<size_t> boundaries(offsets.begin(), offsets.end());
  for (size_t length = 0; length < bytes.size(); ++length) {
    const Status status = Restore({{id, bytes.substr(0, length)}});
    if (boundaries.contains(length)) {
      EXPECT_TRUE(status.ok()) << length << ": " << status.ToString();
    } else {
      ExpectDataLoss(status, id);
    }
  }
}

TEST_F(MalformedPieces, BadHeaderFieldsAreDataLoss) {
  const auto& [id, bytes] = entries_.front();
  const std::vector<size_t> offsets = EntryOffsets(bytes);
  const size_t last = offsets.back();
  auto patched = [&](size_t field, const void* value, size_t size) {
    std::string copy = bytes;
    std::memcpy(copy.data() + last + field, value, size);
    return copy;
  };
  const uint32_t huge = 0xfffffff0;
  const uint32_t past = static_cast<uint32_t>(bytes.size());
  const uint16_t group = kMaxParallelismUpperBound;
  const uint16_t flags = 0x8000;
  for (const std::string& bad :
       {patched(8, &huge, 4), patched(12, &huge, 4), patched(16, &huge, 4), patched(16, &past, 4),
        patched(20, &group, 2), patched(22, &flags, 2)}) {
    const Status status = Restore({{id, bad}});
    ExpectDataLoss(status, id);
    EXPECT_NE(status.ToString().find(fmt::format("offset {}", last)), std::string::npos)
        << status.ToString();
  }
}

TEST_F(MalformedPieces, BadTombstonesAreDataLoss) {
  const auto& [id, bytes] = entries_.front();
  ExpectDataLoss(Restore(entries_, {{77, std::string(13, '\0')}}), 77);
  // A tombstone naming an offset inside an entry.
  std::string record(12, '\0');
  const uint32_t inside = 8;
  std::memcpy(record.data(), &id, 8);
  std::memcpy(record.data() + 8, &inside, 4);
  ExpectDataLoss(Restore(entries_, {{78, record}}), id);
  // A tombstone naming a piece that is not restored is ignored; one naming an entry removes it.
  const uint64_t absent = 12345;
  std::memcpy(record.data(), &absent, 8);
  EXPECT_TRUE(Restore(entries_, {{79, record}}).ok());
  // Repeated ids.
  ExpectDataLoss(Restore({entries_.front(), entries_.front()}), id);
}

TEST_F(MalformedPieces, OverridesReplaceEntriesAndBadOnesAreDataLoss) {
  const auto& [id, bytes] = entries_.front();
  const std::vector<size_t> offsets = EntryOffsets(bytes);
  // The last entry not flagged dead (flags at byte 22 of the header).
  size_t index = offsets.size() - 1;
  auto flags_at = [&](size_t i) {
    uint16_t flags;
    std::memcpy(&flags, bytes.data() + offsets[i] + 22, 2);
    return flags;
  };
  auto value_size_at = [&](size_t i) {
    uint32_t size;
    std::memcpy(&size, bytes.data() + offsets[i] + 16, 4);
    return size;
  };
  while (index > 0 && (flags_at(index) != 0 || value_size_at(index) == 0)) --index;
  ASSERT_EQ(flags_at(index), 0);
  ASSERT_GT(value_size_at(index), 0u);
  const size_t last = offsets[index];
  const size_t end = index + 1 < offsets.size() ? offsets[index + 1] : bytes.size();
  const std::string entry = bytes.substr(last, end - last);
  const auto size = static_cast<uint32_t>(entry.size());
  // A well-formed override: the entry with its last value byte changed, then a later one for the
  // same entry, which wins.
  // The value's first byte: after the header and the key (no namespace here, or a padded one).
  uint32_t key_size, ns_size;
  std::memcpy(&key_size, entry.data() + 8, 4);
  std::memcpy(&ns_size, entry.data() + 12, 4);
  const size_t value_at = 24 + (key_size + ns_size + 7) / 8 * 8;
  std::string changed = entry;
  changed[value_at] = static_cast<char>(changed[value_at] ^ 0x5a);
  std::string changed_again = entry;
  changed_again[value_at] = static_cast<char>(changed_again[value_at] ^ 0x33);
  Model before;
  Model after;
  ASSERT_TRUE(Restore(entries_, {}, {}, &before).ok());
  ASSERT_TRUE(Restore(entries_, {},
                      {{90, OverrideRecord(id, static_cast<uint32_t>(last), changed, size)},
                       {91, OverrideRecord(id, static_cast<uint32_t>(last), changed_again, size)}},
                      &after)
                  .ok());
  ASSERT_EQ(before.size(), after.size());
  size_t differing = 0;
  for (const auto& [key, value] : before) {
    if (after.at(key) == value) continue;
    ++differing;
    EXPECT_EQ(after.at(key)[0], static_cast<char>(value[0] ^ 0x33));
  }
  EXPECT_EQ(differing, 1u);
  // Naming a piece that is not restored: ignored.
  EXPECT_TRUE(Restore(entries_, {}, {{92, OverrideRecord(12345, 0, entry, size)}}).ok());
  // A record cut short, a size that is not the entry's, an offset inside an entry, a piece of
  // tombstones as the target.
  ExpectDataLoss(Restore(entries_, {}, {{93, OverrideRecord(id, 0, entry, size).substr(0, 20)}}),
                 93);
  ExpectDataLoss(Restore(entries_, {}, {{94, OverrideRecord(id, 0, entry, size + 8)}}), 94);
  for (size_t i = 0; i < offsets.size(); ++i) {
    const size_t next = i + 1 < offsets.size() ? offsets[i + 1] : bytes.size();
    if (next - offsets[i] == entry.size()) continue;
    ExpectDataLoss(
        Restore(entries_, {}, {{95, OverrideRecord(id, static_cast<uint32_t>(offsets[i]), entry, size)}}),
        id);
    break;
  }
  ExpectDataLoss(
      Restore(entries_, {}, {{96, OverrideRecord(id, static_cast<uint32_t>(last + 8), entry, size)}}),
      id);
  ExpectDataLoss(Restore(entries_, {{97, std::string()}}, {{98, OverrideRecord(97, 0, entry, size)}}),
                 98);
  // An override whose header is malformed is DataLoss too.
  std::string bad = entry;
  const uint16_t group = kMaxParallelismUpperBound;
  std::memcpy(bad.data() + 20, &group, 2);
  ExpectDataLoss(Restore(entries_, {}, {{99, OverrideRecord(id, static_cast<uint32_t>(last), bad, size)}}),
                 id);
}

TEST_F(MalformedPieces, RandomBytesAndBitFlipsNeverCrash) {
  std::mt19937_64 random(51);
  for (int i = 0; i < 300; ++i) {
    const std::string garbage = RandomBytes(random, random() % 400);
    const Status status = Restore({{1000 + static_cast<uint64_t>(i), garbage}});
    EXPECT_TRUE(status.ok() || status.code() == StatusCode::kDataLoss) << status.ToString();
    if (garbage.size() >= 24) {
      EXPECT_FALSE(status.ok());
    }
  }
  const auto& [id, bytes] = entries_.front();
  for (int i = 0; i < 500; ++i) {
    std::string flipped = bytes;
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
      flipped[random() % flipped.size()] ^= static_cast<char>(1 << (random() % 8));
    }
    const Status status = Restore({{id, flipped}});
    EXPECT_TRUE(status.ok() || status.code() == StatusCode::kDataLoss) << status.ToString();
  }
}

// A restore large enough for hundreds of segments, a 2 MiB index and thousands of prefaulted
// ranges, with entry sizes that often fill a segment's rest exactly or nearly: every key is found
// again. (Restore packs the entries into the segments its first pass counted; a disagreement
// would stop at its CHECK.)
TEST(StateTableSnapshotTest, LargeTablesRestoreEveryKey) {
  auto pool = MakePool(4096);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "op");
  std::mt19937_64 random(77);
  Model model;
  constexpr int kKeys = 120000;
  for (int i = 0; i < kKeys; ++i) {
    const TestKey key = MakeKey(fmt::format("k{}", i));
    // Sizes that often fill a segment's rest exactly or leave a few bytes.
    const std::string value = RandomBytes(random, 8 + random() % 33);
    const std::string ns = i % 3 == 0 ? "" : std::string(8, static_cast<char>('a' + i % 5));
    ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, ns, Bytes(value)).ok());
    model[{key.key_group, key.bytes, ns}] = value;
  }
  ASSERT_GE(table.capacity() * sizeof(uint64_t), size_t{2} << 20);
  EXPECT_EQ(Contents(table), model);
  PieceStore store;
  const auto chain = store.Write(*table.Snapshot());
  size_t restored_size = 0;
  EXPECT_EQ(RestoreContents(store.Read(chain), kAllKeyGroups, &restored_size), model);
  EXPECT_EQ(restored_size, model.size());
  // Half the key groups: the index is smaller, the segments fewer.
  const KeyGroupRange half{0, kMaxParallelism / 2 - 1};
  EXPECT_EQ(RestoreContents(store.Read(chain), half), Filter(model, half));
}

TEST(StateTableSnapshotTest, RestoreIntoANonEmptyTableIsRejected) {
  auto pool = MakePool(16);
  memory::MemoryBudget budget(int64_t{1} << 20);
  StateTable table(pool.get(), &budget, "op");
  const TestKey key = MakeKey("k");
  ASSERT_TRUE(table.Put(key.hash, key.key_group, key.bytes, {}, Bytes("v")).ok());
  EXPECT_EQ(table.Restore({}, kAllKeyGroups).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace weir::state
