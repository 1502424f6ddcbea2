// TimerService on the two paths window operators load it with, against the std:: structures a
// straightforward implementation would use (both baselines store key and namespace as
// std::string, as the service stores bytes):
// * RegisterDuplicate: every element of a window re-registers its key's timer at the window end;
//   all 10 000 timers exist before timing, so every call is a duplicate. Per element.
// * RegisterAndFire: 10 000 keys x 100 distinct window ends registered, then one watermark
//   fires them all in timestamp order. Per timer (register + fire).
// Baselines: an ordered std::set of (time, key, namespace) (find, then insert when absent), and
// Flink's HeapPriorityQueueSet shape: a hash set for deduplication plus a binary heap.
// Keys are "key-<i>" (9-12 bytes), the namespace is a 16-byte window (start, end).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "base/check.h"
#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"
#include "state/timer_service.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr int kKeyCount = 10'000;
constexpr int kDistinctTimes = 100;
constexpr Timestamp kWindowSize = 1000;

struct BenchKey {
  std::string bytes;
  uint64_t hash;
  int key_group;
};

std::vector<BenchKey> Keys() {
  std::vector<BenchKey> keys;
  keys.reserve(kKeyCount);
  for (int i = 0; i < kKeyCount; ++i) {
    std::string bytes = "key-" + std::to_string(i);
    const uint64_t hash = Hash64(bytes);
    keys.push_back({std::move(bytes), hash, KeyGroupForHash(hash, kMaxParallelism)});
  }
  return keys;
}

// The order elements arrive in: keys drawn uniformly.
std::vector<int> ElementStream() {
  std::mt19937_64 random(7);
  std::vector<int> stream(size_t{1} << 20);
  for (int& key : stream) key = static_cast<int>(random() % kKeyCount);
  return stream;
}

// TimeWindow(start, end) as 16 bytes.
std::string WindowNamespace(Timestamp end) {
  const Timestamp fields[2] = {end - kWindowSize, end};
  return std::string(reinterpret_cast<const char*>(fields), sizeof(fields));
}

struct Environment {
  Environment() {
    memory::SegmentPool::Options options;
    options.segment_size = 1024 * 1024;
    options.segment_count = 512;
    options.prefault = false;
    options.config_key = "taskmanager.memory.managed.size";
    auto created = memory::SegmentPool::Create(options);
    WEIR_CHECK_OK(created.status());
    pool = std::move(created).value();
  }
  std::unique_ptr<memory::SegmentPool> pool;
  memory::MemoryBudget budget{int64_t{1} << 30};
};

using SetTimer = std::tuple<Timestamp, std::string, std::string>;

struct HeapTimer {
  Timestamp time;
  std::string key;
  std::string ns;
};
// What registration probes with: no copy of the key until inserted.
struct HeapTimerView {
  Timestamp time;
  std::string_view key;
  std::string_view ns;
};
HeapTimerView View(const HeapTimer& timer) { return {timer.time, timer.key, timer.ns}; }
HeapTimerView View(const HeapTimerView& timer) { return timer; }
struct HeapTimerHash {
  using is_transparent = void;
  template <typename T>
  size_t operator()(const T& timer) const {
    const HeapTimerView view = View(timer);
    return Hash64(view.key) ^ (Hash64(view.ns) * 31) ^ static_cast<size_t>(view.time);
  }
};
struct HeapTimerEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    const HeapTimerView x = View(a);
    const HeapTimerView y = View(b);
    return x.time == y.time && x.key == y.key && x.ns == y.ns;
  }
};
struct HeapTimerLater {
  bool operator()(const HeapTimer* a, const HeapTimer* b) const { return a->time > b->time; }
};
// Flink's HeapPriorityQueueSet: a hash set deduplicates, a heap (of pointers into it) orders.
struct HashSetAndHeap {
  std::unordered_set<HeapTimer, HeapTimerHash, HeapTimerEqual> set;
  std::priority_queue<const HeapTimer*, std::vector<const HeapTimer*>, HeapTimerLater> heap;

  void Register(Timestamp time, std::string_view key, std::string_view ns) {
    if (set.find(HeapTimerView{time, key, ns}) != set.end()) return;
    heap.push(&*set.insert(HeapTimer{time, std::string(key), std::string(ns)}).first);
  }
  template <typename F>
  void Advance(Timestamp watermark, F&& on_timer) {
    while (!heap.empty() && heap.top()->time <= watermark) {
      const HeapTimer* timer = heap.top();
      heap.pop();
      on_timer(*timer);
      set.erase(*timer);
    }
  }
};

void BM_TimerService_RegisterDuplicate(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const std::vector<int> stream = ElementStream();
  const Timestamp end = 5 * kWindowSize;
  const std::string window = WindowNamespace(end);
  Environment environment;
  TimerService service(environment.pool.get(), &environment.budget, "Window (1/1)");
  for (const BenchKey& key : keys) {
    service.RegisterEventTimeTimer({key.bytes, key.hash, key.key_group}, window, end);
  }
  size_t next = 0;
  for (auto _ : state) {
    const BenchKey& key = keys[stream[next]];
    next = (next + 1) & (stream.size() - 1);
    service.RegisterEventTimeTimer({key.bytes, key.hash, key.key_group}, window, end);
  }
  WEIR_CHECK(service.event_timer_count() == keys.size());
  WEIR_CHECK_OK(service.status());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerService_RegisterDuplicate);

void BM_StdSet_RegisterDuplicate(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const std::vector<int> stream = ElementStream();
  const Timestamp end = 5 * kWindowSize;
  const std::string window = WindowNamespace(end);
  std::set<SetTimer, std::less<>> timers;
  for (const BenchKey& key : keys) timers.emplace(end, key.bytes, window);
  size_t next = 0;
  for (auto _ : state) {
    const BenchKey& key = keys[stream[next]];
    next = (next + 1) & (stream.size() - 1);
    // The key as the operator has it (a view of its scratch), copied only when inserted.
    const std::tuple<Timestamp, std::string_view, std::string_view> probe{end, key.bytes, window};
    if (timers.find(probe) == timers.end()) timers.emplace(end, key.bytes, window);
  }
  WEIR_CHECK(timers.size() == keys.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdSet_RegisterDuplicate);

void BM_HashSetAndHeap_RegisterDuplicate(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const std::vector<int> stream = ElementStream();
  const Timestamp end = 5 * kWindowSize;
  const std::string window = WindowNamespace(end);
  HashSetAndHeap timers;
  for (const BenchKey& key : keys) timers.Register(end, key.bytes, window);
  size_t next = 0;
  for (auto _ : state) {
    const BenchKey& key = keys[stream[next]];
    next = (next + 1) & (stream.size() - 1);
    timers.Register(end, key.bytes, window);
  }
  WEIR_CHECK(timers.set.size() == keys.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashSetAndHeap_RegisterDuplicate);

// Window ends of the RegisterAndFire benchmarks, and their namespaces.
struct Windows {
  Windows() {
    for (int i = 0; i < kDistinctTimes; ++i) {
      ends.push_back((i + 1) * kWindowSize);
      namespaces.push_back(WindowNamespace(ends.back()));
    }
  }
  std::vector<Timestamp> ends;
  std::vector<std::string> namespaces;
};

constexpr int64_t kTimersPerRound = int64_t{kKeyCount} * kDistinctTimes;

void BM_TimerService_RegisterAndFire(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const Windows windows;
  Environment environment;
  TimerService service(environment.pool.get(), &environment.budget, "Window (1/1)");
  int64_t fired = 0;
  for (auto _ : state) {
    // Elements arrive by key, each touching every window: times interleave as they do in a
    // sliding-window operator.
    for (const BenchKey& key : keys) {
      const CurrentKey current{key.bytes, key.hash, key.key_group};
      for (int i = 0; i < kDistinctTimes; ++i) {
        service.RegisterEventTimeTimer(current, windows.namespaces[i], windows.ends[i]);
      }
    }
    service.AdvanceWatermark(kMaxTimestamp, [&](const FiredTimer& timer) {
      benchmark::DoNotOptimize(timer.key.bytes.data());
      ++fired;
    });
  }
  WEIR_CHECK(fired == kTimersPerRound * static_cast<int64_t>(state.iterations()));
  WEIR_CHECK_OK(service.status());
  state.SetItemsProcessed(fired);
  state.counters["memory_MiB"] =
      static_cast<double>(service.memory_bytes()) / static_cast<double>(1 << 20);
}
BENCHMARK(BM_TimerService_RegisterAndFire)->Unit(benchmark::kMillisecond);

void BM_StdSet_RegisterAndFire(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const Windows windows;
  int64_t fired = 0;
  for (auto _ : state) {
    std::set<SetTimer, std::less<>> timers;
    for (const BenchKey& key : keys) {
      for (int i = 0; i < kDistinctTimes; ++i) {
        const std::tuple<Timestamp, std::string_view, std::string_view> probe{
            windows.ends[i], key.bytes, windows.namespaces[i]};
        if (timers.find(probe) == timers.end()) {
          timers.emplace(windows.ends[i], key.bytes, windows.namespaces[i]);
        }
      }
    }
    while (!timers.empty()) {
      auto node = timers.extract(timers.begin());
      benchmark::DoNotOptimize(std::get<1>(node.value()).data());
      ++fired;
    }
  }
  WEIR_CHECK(fired == kTimersPerRound * static_cast<int64_t>(state.iterations()));
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_StdSet_RegisterAndFire)->Unit(benchmark::kMillisecond);

void BM_HashSetAndHeap_RegisterAndFire(benchmark::State& state) {
  const std::vector<BenchKey> keys = Keys();
  const Windows windows;
  int64_t fired = 0;
  for (auto _ : state) {
    HashSetAndHeap timers;
    for (const BenchKey& key : keys) {
      for (int i = 0; i < kDistinctTimes; ++i) {
        timers.Register(windows.ends[i], key.bytes, windows.namespaces[i]);
      }
    }
    timers.Advance(kMaxTimestamp, [&](const HeapTimer& timer) {
      benchmark::DoNotOptimize(timer.key.data());
      ++fired;
    });
  }
  WEIR_CHECK(fired == kTimersPerRound * static_cast<int64_t>(state.iterations()));
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_HashSetAndHeap_RegisterAndFire)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::state
