// StateTable against std::unordered_map on the rolling-aggregation hot path: a counter per key,
// found (or inserted) and incremented in place. Keys are 8 bytes, values 8 bytes, the table is
// filled with every key before timing, and the keys are visited in a fixed random order, so both
// sides measure steady-state updates. The StateTable side also pays what the operator pays per
// record: xxh3 of the key bytes and the key group.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/check.h"
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

void BM_StateTable_FindOrInsertUpdate(benchmark::State& state) {
  const auto key_count = static_cast<size_t>(state.range(0));
  const std::vector<uint64_t> keys = DistinctKeys(key_count);
  const std::vector<uint64_t> stream = KeyStream(keys);

  memory::SegmentPool::Options options;
  options.segment_size = 32 * 1024;
  // 40-byte entries: 1 M keys fill about 1250 segments.
  options.segment_count = key_count / 700 + 16;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  WEIR_CHECK_OK(pool.status());
  memory::MemoryBudget budget(int64_t{1} << 30);
  StateTable table(pool->get(), &budget, "bench");

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
