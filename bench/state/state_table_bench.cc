// StateTable against std::unordered_map on the rolling-aggregation hot path: a counter per key,
// found (or inserted) and incremented in place. Keys are 8 bytes, values 8 bytes, the table is
// filled with every key before timing, and the keys are visited in a fixed random order, so both
// sides measure steady-state updates. The StateTable side also pays what the operator pays per
// record: xxh3 of the key bytes and the key group.
//
// Checkpoint costs: the same update loop with a snapshot taken (and released) every 2^16 updates,
// so the sealed-entry relocations it causes are in the measurement; Snapshot() itself on a table
// of 1 M entries (O(segments), no entry copied); Restore() throughput of a full snapshot's pieces
// against memcpy of the same bytes (the baseline a bulk restore cannot beat).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"
#include "state/state_table.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr size_t kStreamLength = size_t{1} << 22;

std::vector<uint64_t> DistinctKeys(size_t count) {
  std::mt19937_64 random(42);
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> keys;
  keys.reserve(count);
  while (keys.size() < count) {
    const uint64_t key = random();
    if (seen.insert(key).second) keys.push_back(key);
  }
  return keys;
}

// kStreamLength keys drawn uniformly from `keys`: the order records arrive in.
std::vector<uint64_t> KeyStream(const std::vector<uint64_t>& keys) {
  std::mt19937_64 random(7);
  std::vector<uint64_t> stream(kStreamLength);
  for (uint64_t& key : stream) key = keys[random() % keys.size()];
  return stream;
}

// A pre-faulted pool of 32 KiB segments for `key_count` 40-byte entries (1 M keys fill about
// 1250 segments).
std::unique_ptr<memory::SegmentPool> MakeSegmentPool(size_t segment_size, size_t segment_count,
                                                     bool prefault = true) {
  memory::SegmentPool::Options options;
  options.segment_size = segment_size;
  options.segment_count = segment_count;
  options.prefault = prefault;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  WEIR_CHECK_OK(pool.status());
  return std::move(pool).value();
}
std::unique_ptr<memory::SegmentPool> MakePool(size_t key_count) {
  return MakeSegmentPool(32 * 1024, key_count / 700 + 16);
}

void BM_StateTable_FindOrInsertUpdate(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const std::vector<uint64_t> keys = DistinctKeys(key_count);
  const std::vector<uint64_t> stream = KeyStream(keys);

  std::unique_ptr<memory::SegmentPool> pool = MakePool(key_count);
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool.get(), &budget, "bench");

  auto update = [&](uint64_t key) {
    const std::string_view bytes(reinterpret_cast<const char*>(&key), sizeof(key));
    const uint64_t hash = Hash64(bytes);
    bool inserted;
    auto value = table.FindOrInsert(hash, KeyGroupForHash(hash, kMaxParallelism), bytes, {},
                                    sizeof(int64_t), &inserted);
    WEIR_DCHECK(value.ok());
    int64_t count;
    std::memcpy(&count, value->data(), sizeof(count));
    ++count;
    std::memcpy(value->data(), &count, sizeof(count));
  };
  for (const uint64_t key : keys) update(key);

  size_t next = 0;
  for (auto _ : state) {
    update(stream[next]);
    next = (next + 1) & (kStreamLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_key"] =
      static_cast<double>(table.memory_bytes()) / static_cast<double>(key_count);
}
BENCHMARK(BM_StateTable_FindOrInsertUpdate)->Arg(10'000)->Arg(1'000'000);

// The pauses of a growing table: `range(0)` fresh keys inserted one at a time into an empty
// table, each insert timed alone (steady_clock, about 20 ns of its own). The index doubles on the
// way (16 -> 2^N slots); a doubling that rehashed the whole index at once showed as one insert
// taking milliseconds. Counters: the slowest insert and the 99.99th percentile, in microseconds,
// and inserts over 100 us. Timed alone, so the figure per insert includes the clock reads.
void BM_StateTable_InsertGrowing(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const std::vector<uint64_t> keys = DistinctKeys(key_count);
  std::unique_ptr<memory::SegmentPool> pool = MakePool(key_count);
  std::vector<int64_t> nanos(key_count);
  int64_t slowest = 0;
  int64_t p9999 = 0;
  int64_t over_100us = 0;
  for (auto _ : state) {
    memory::MemoryBudget budget(int64_t{1} << 32);
    StateTable table(pool.get(), &budget, "bench");
    for (size_t i = 0; i < key_count; ++i) {
      const std::string_view bytes(reinterpret_cast<const char*>(&keys[i]), sizeof(uint64_t));
      const auto start = std::chrono::steady_clock::now();
      const uint64_t hash = Hash64(bytes);
      bool inserted;
      auto value = table.FindOrInsert(hash, KeyGroupForHash(hash, kMaxParallelism), bytes, {},
                                      sizeof(int64_t), &inserted);
      benchmark::DoNotOptimize(value);
      nanos[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now() - start).count();
    }
    std::vector<int64_t> sorted = nanos;
    std::sort(sorted.begin(), sorted.end());
    slowest = std::max(slowest, sorted.back());
    p9999 = std::max(p9999, sorted[sorted.size() * 9999 / 10000]);
    over_100us +=
        std::count_if(sorted.begin(), sorted.end(), [](int64_t n) { return n > 100'000; });
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(key_count));
  state.counters["max_us"] = static_cast<double>(slowest) / 1000;
  state.counters["p99.99_us"] = static_cast<double>(p9999) / 1000;
  state.counters["over_100us"] =
      static_cast<double>(over_100us) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_StateTable_InsertGrowing)->Arg(300'000)->Arg(3'000'000)->Unit(benchmark::kMillisecond);

// A table of 8-byte counters under 8-byte keys in a pool of `segment_count` segments (32 KiB,
// pre-faulted, unless told otherwise), with the per-record work of the rolling-aggregation hot
// path (xxh3 of the key, its key group, FindOrInsert, an increment in place).
struct CountingTable {
  CountingTable(size_t segment_count, int64_t budget_bytes, size_t segment_size = 32 * 1024,
                bool prefault = true)
      : pool(MakeSegmentPool(segment_size, segment_count, prefault)),
        budget(budget_bytes),
        table(std::make_unique<StateTable>(pool.get(), &budget, "bench")) {}
  void Increment(uint64_t key) {
    const std::string_view bytes(reinterpret_cast<const char*>(&key), sizeof(key));
    const uint64_t hash = Hash64(bytes);
    bool inserted;
    auto value = table->FindOrInsert(hash, KeyGroupForHash(hash, kMaxParallelism), bytes, {},
                                     sizeof(int64_t), &inserted);
    WEIR_CHECK(value.ok());
    int64_t count;
    std::memcpy(&count, value->data(), sizeof(count));
    ++count;
    std::memcpy(value->data(), &count, sizeof(count));
  }
  std::unique_ptr<memory::SegmentPool> pool;
  memory::MemoryBudget budget;
  std::unique_ptr<StateTable> table;
};

// As BM_StateTable_FindOrInsertUpdate, with a checkpoint every 2^16 updates. range(1) = 0: each
// snapshot is released at once, as if its writer were instant, so writes to sealed entries go in
// place (setting a dirty bit); range(1) = 1: it is held over the next 2^14 updates (a quarter of
// the interval, as a checkpoint is while its writer runs), whose first writes of a key relocate it.
void BM_StateTable_FindOrInsertUpdateWithSnapshots(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const std::vector<uint64_t> keys = DistinctKeys(key_count);
  const std::vector<uint64_t> stream = KeyStream(keys);

  CountingTable counting(key_count / 250 + 64, int64_t{4} << 30);
  StateTable& table = *counting.table;
  auto update = [&](uint64_t key) { counting.Increment(key); };
  for (const uint64_t key : keys) update(key);

  const bool hold = state.range(1) != 0;
  size_t next = 0;
  size_t snapshots = 0;
  std::shared_ptr<TableSnapshot> held;
  for (auto _ : state) {
    update(stream[next]);
    next = (next + 1) & (kStreamLength - 1);
    if ((next & 0xffff) == 0) {
      held = table.Snapshot();
      if (!hold) held.reset();
      ++snapshots;
    } else if ((next & 0xffff) == 0x4000) {
      held.reset();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["snapshots"] = static_cast<double>(snapshots);
  state.counters["bytes_per_key"] =
      static_cast<double>(table.memory_bytes()) / static_cast<double>(key_count);
}
BENCHMARK(BM_StateTable_FindOrInsertUpdateWithSnapshots)
    ->Args({10'000, 0})
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1});

// A table of 40-byte entries (8-byte keys, 8-byte values) holding about `megabytes` MiB.
struct FilledTable : CountingTable {
  // Room for the source table and a restored one.
  explicit FilledTable(size_t megabytes)
      : CountingTable(2 * megabytes + 64, int64_t{8} << 30, 1 << 20, /*prefault=*/false) {
    const size_t entries = (megabytes << 20) / 40;
    for (uint64_t key = 0; key < entries; ++key) Increment(key);
  }
};

void BM_StateTable_Snapshot(benchmark::State& state) {
  FilledTable filled(static_cast<size_t>(state.range(0)));
  size_t pieces = 0;
  for (auto _ : state) {
    std::shared_ptr<TableSnapshot> snapshot = filled.table->Snapshot();
    pieces = snapshot->pieces().size();
    benchmark::DoNotOptimize(snapshot);
  }
  state.counters["pieces"] = static_cast<double>(pieces);
  state.counters["entries"] = static_cast<double>(filled.table->size());
}
BENCHMARK(BM_StateTable_Snapshot)->Arg(64)->Unit(benchmark::kMicrosecond);

// The synchronous part of an incremental checkpoint of a large table in a busy job: a table of
// range(0) keys (8-byte keys and values, 32 KiB segments as the job's default), sealed by a first
// snapshot; then, per iteration, range(1) updates of random keys (untimed: the in-place writes
// that set dirty bits, as the records between two checkpoints do), and Snapshot() (timed). Each
// snapshot is released before the next updates, as a completed checkpoint's is. The checkpoint
// job of bench/runtime holds 20 M keys and writes about 2 M of them between checkpoints, so every
// segment is dirty at every snapshot.
void BM_StateTable_SnapshotAfterUpdates(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const auto updates = static_cast<size_t>(state.range(1));
  CountingTable counting(key_count / 400 + 64, int64_t{16} << 30);
  StateTable& table = *counting.table;
  auto update = [&](uint64_t key) { counting.Increment(key); };
  for (uint64_t key = 0; key < key_count; ++key) update(key);
  table.Snapshot(/*full=*/true).reset();
  std::mt19937_64 random(11);
  size_t pieces = 0;
  size_t overrides = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < updates; ++i) update(random() % key_count);
    const int64_t start = MonotonicNanos();
    std::shared_ptr<TableSnapshot> snapshot = table.Snapshot();
    const int64_t end = MonotonicNanos();
    state.SetIterationTime(1e-9 * static_cast<double>(end - start));
    pieces = snapshot->pieces().size();
    overrides = 0;
    for (const TablePiece& piece : snapshot->pieces()) overrides += piece.kind == TablePiece::Kind::kOverrides ? 1 : 0;
    snapshot.reset();
  }
  state.counters["pieces"] = static_cast<double>(pieces);
  state.counters["override_pieces"] = static_cast<double>(overrides);
}
BENCHMARK(BM_StateTable_SnapshotAfterUpdates)
    ->Args({20'000'000, 2'000'000})
    ->Args({1'000'000, 100'000})
    ->UseManualTime()
    ->Iterations(12)
    ->Unit(benchmark::kMillisecond);

// Restores the pieces of a full snapshot (copied out, as a checkpoint reads them back) into a
// fresh table; bytes/s counts the pieces' bytes. Arg: MiB of state.
void BM_StateTable_Restore(benchmark::State& state) {
  FilledTable filled(static_cast<size_t>(state.range(0)));
  std::vector<std::vector<std::byte>> buffers;
  std::vector<RestorePiece> pieces;
  int64_t bytes = 0;
  {
    std::shared_ptr<TableSnapshot> snapshot = filled.table->Snapshot(/*full=*/true);
    for (const TablePiece& piece : snapshot->pieces()) {
      buffers.emplace_back(piece.bytes.begin(), piece.bytes.end());
      bytes += static_cast<int64_t>(piece.bytes.size());
    }
    for (size_t i = 0; i < buffers.size(); ++i) {
      pieces.push_back(RestorePiece{snapshot->pieces()[i].id, snapshot->pieces()[i].kind,
                                    std::span<const std::byte>(buffers[i])});
    }
  }
  const size_t entries = filled.table->size();
  filled.table.reset();
  for (auto _ : state) {
    auto restored = std::make_unique<StateTable>(filled.pool.get(), &filled.budget, "restored");
    WEIR_CHECK_OK(restored->Restore(pieces, KeyGroupRange{0, kMaxParallelism - 1}));
    WEIR_CHECK(restored->size() == entries);
    state.PauseTiming();  // releasing the segments is not restore
    restored.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["entries"] = static_cast<double>(entries);
}
BENCHMARK(BM_StateTable_Restore)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->Iterations(3);

// The baseline: copying the same bytes once.
void BM_Memcpy_RestoreBaseline(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  std::vector<std::byte> source(bytes, std::byte{1});
  std::vector<std::byte> destination(bytes);
  for (auto _ : state) {
    std::memcpy(destination.data(), source.data(), bytes);
    benchmark::DoNotOptimize(destination.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Memcpy_RestoreBaseline)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_UnorderedMap_Update(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const std::vector<uint64_t> keys = DistinctKeys(key_count);
  const std::vector<uint64_t> stream = KeyStream(keys);
  std::unordered_map<uint64_t, int64_t> map;
  for (const uint64_t key : keys) ++map[key];

  size_t next = 0;
  for (auto _ : state) {
    int64_t& count = map[stream[next]];
    ++count;
    benchmark::DoNotOptimize(count);
    next = (next + 1) & (kStreamLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnorderedMap_Update)->Arg(10'000)->Arg(1'000'000);

}  // namespace
}  // namespace weir::state
