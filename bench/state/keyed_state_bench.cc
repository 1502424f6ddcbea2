// Keyed state against std::unordered_map on the per-record paths of keyed operators: 10 000
// distinct 8-byte keys, visited in a fixed random order (2^20 draws, repeated), every key present
// before timing. The state side pays what an operator pays per record: xxh3 of the key bytes,
// SetCurrentKey (key group) and the state call; the baselines index by the integer key
// (std::hash<uint64_t> is the identity), so the ratio includes the hash.
//
//   ValueState_Update      count = Value().value_or(0) + 1; Update(count)   vs ++map[key]
//   ReducingState_Add      Add(v) with a sum (range: namespace bytes, 0 or 8 as a window's)
//                                                                          vs map[key] += v
//   ListState_Add          Add(v); all lists cleared after every 2^20 adds (about 100 elements
//                          per list, as a window firing)                   vs vector push_back
//   MapState_PutGet        Put(u, Get(u).value_or(0) + 1), 16 user keys per key
//                                                                          vs nested maps
#include <benchmark/benchmark.h>

#include <cstdint>
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
#include "state/keyed_state.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr size_t kKeyCount = 10'000;
constexpr size_t kStreamLength = size_t{1} << 20;
constexpr uint64_t kUserKeys = 16;

std::vector<uint64_t> DistinctKeys() {
  std::mt19937_64 random(42);
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> keys;
  while (keys.size() < kKeyCount) {
    const uint64_t key = random();
    if (seen.insert(key).second) keys.push_back(key);
  }
  return keys;
}

// The order records arrive in: kStreamLength draws from the keys.
const std::vector<uint64_t>& KeyStream() {
  static const std::vector<uint64_t> stream = [] {
    const std::vector<uint64_t> keys = DistinctKeys();
    std::mt19937_64 random(7);
    std::vector<uint64_t> draws(kStreamLength);
    for (uint64_t& key : draws) key = keys[random() % keys.size()];
    return draws;
  }();
  return stream;
}

// A pool, budget and backend sized for the benchmarks (64 MiB of 32 KiB segments).
struct Backend {
  Backend() {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 2048;
    options.config_key = "taskmanager.memory.managed.size";
    auto created = memory::SegmentPool::Create(options);
    WEIR_CHECK_OK(created.status());
    pool = std::move(created).value();
    budget = std::make_unique<memory::MemoryBudget>(int64_t{1} << 30);
    backend =
        std::make_unique<KeyedStateBackend>(pool.get(), budget.get(), "bench", kMaxParallelism);
  }

  void SetKey(const uint64_t& key) {
    const std::string_view bytes(reinterpret_cast<const char*>(&key), sizeof(key));
    backend->SetCurrentKey(bytes, Hash64(bytes));
  }

  std::unique_ptr<memory::SegmentPool> pool;
  std::unique_ptr<memory::MemoryBudget> budget;
  std::unique_ptr<KeyedStateBackend> backend;
};

void BM_ValueState_Update(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  Backend backend;
  ValueState<int64_t>* count = backend.backend->GetValueState<int64_t>("count");
  const auto update = [&](const uint64_t& key) {
    backend.SetKey(key);
    count->Update(count->Value().value_or(0) + 1);
  };
  for (const uint64_t& key : stream) update(key);
  size_t next = 0;
  for (auto _ : state) {
    update(stream[next]);
    next = (next + 1) & (kStreamLength - 1);
  }
  WEIR_CHECK(backend.backend->ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValueState_Update);

void BM_UnorderedMap_ValueUpdate(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  std::unordered_map<uint64_t, int64_t> map;
  for (const uint64_t key : stream) ++map[key];
  size_t next = 0;
  for (auto _ : state) {
    int64_t& count = map[stream[next]];
    ++count;
    benchmark::DoNotOptimize(count);
    next = (next + 1) & (kStreamLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnorderedMap_ValueUpdate);

void BM_ReducingState_Add(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  Backend backend;
  auto* sum = backend.backend->GetReducingState<int64_t>(
      "sum", [](int64_t accumulated, int64_t value) { return accumulated + value; });
  const uint64_t window_end = 1'700'000'000'000;
  sum->SetCurrentNamespace(
      state.range(0) == 0
          ? std::string_view()
          : std::string_view(reinterpret_cast<const char*>(&window_end), sizeof(window_end)));
  const auto add = [&](const uint64_t& key) {
    backend.SetKey(key);
    sum->Add(static_cast<int64_t>(key & 0xff));
  };
  for (const uint64_t& key : stream) add(key);
  size_t next = 0;
  for (auto _ : state) {
    add(stream[next]);
    next = (next + 1) & (kStreamLength - 1);
  }
  WEIR_CHECK(backend.backend->ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReducingState_Add)->Arg(0)->Arg(8);

void BM_UnorderedMap_ReduceAdd(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  std::unordered_map<uint64_t, int64_t> map;
  for (const uint64_t key : stream) map[key] += static_cast<int64_t>(key & 0xff);
  size_t next = 0;
  for (auto _ : state) {
    const uint64_t key = stream[next];
    int64_t& sum = map[key];
    sum += static_cast<int64_t>(key & 0xff);
    benchmark::DoNotOptimize(sum);
    next = (next + 1) & (kStreamLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnorderedMap_ReduceAdd);

void BM_ListState_Add(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  const std::vector<uint64_t> keys = DistinctKeys();
  Backend backend;
  ListState<int64_t>* elements = backend.backend->GetListState<int64_t>("elements");
  size_t next = 0;
  for (auto _ : state) {
    backend.SetKey(stream[next]);
    elements->Add(static_cast<int64_t>(next));
    next = (next + 1) & (kStreamLength - 1);
    if (next == 0) {
      for (const uint64_t& key : keys) {
        backend.SetKey(key);
        elements->Clear();
      }
    }
  }
  WEIR_CHECK(backend.backend->ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ListState_Add);

void BM_UnorderedMap_VectorPushBack(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  std::unordered_map<uint64_t, std::vector<int64_t>> map;
  size_t next = 0;
  for (auto _ : state) {
    map[stream[next]].push_back(static_cast<int64_t>(next));
    next = (next + 1) & (kStreamLength - 1);
    if (next == 0) map.clear();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnorderedMap_VectorPushBack);

void BM_MapState_PutGet(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  Backend backend;
  auto* counts = backend.backend->GetMapState<int64_t, int64_t>("counts");
  const auto update = [&](size_t index) {
    const uint64_t key = stream[index];
    backend.SetKey(key);
    const auto user_key = static_cast<int64_t>((key ^ index) % kUserKeys);
    counts->Put(user_key, counts->Get(user_key).value_or(0) + 1);
  };
  for (size_t i = 0; i < kStreamLength; ++i) update(i);
  size_t next = 0;
  for (auto _ : state) {
    update(next);
    next = (next + 1) & (kStreamLength - 1);
  }
  WEIR_CHECK(backend.backend->ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MapState_PutGet);

void BM_UnorderedMap_NestedPutGet(benchmark::State& state) {
  const std::vector<uint64_t>& stream = KeyStream();
  std::unordered_map<uint64_t, std::unordered_map<int64_t, int64_t>> map;
  const auto update = [&](size_t index) {
    const uint64_t key = stream[index];
    const auto user_key = static_cast<int64_t>((key ^ index) % kUserKeys);
    std::unordered_map<int64_t, int64_t>& counts = map[key];
    const auto it = counts.find(user_key);
    counts[user_key] = (it == counts.end() ? 0 : it->second) + 1;
  };
  for (size_t i = 0; i < kStreamLength; ++i) update(i);
  size_t next = 0;
  for (auto _ : state) {
    update(next);
    next = (next + 1) & (kStreamLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnorderedMap_NestedPutGet);

}  // namespace
}  // namespace weir::state
