// SegmentPool against glibc malloc (jemalloc is not linked into this binary) for 32 KiB blocks,
// single-threaded and producer/consumer across two threads. Read items_per_second as
// acquire+release pairs per second.
#include "memory/segment_pool.h"

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <type_traits>
#include <vector>

namespace weir::memory {
namespace {

constexpr uint32_t kSegmentSize = 32 * 1024;
constexpr size_t kBatch = 64;

std::unique_ptr<SegmentPool> MakePool(size_t count) {
  SegmentPool::Options options;
  options.segment_size = kSegmentSize;
  options.segment_count = count;
  Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(options);
  if (!pool.ok()) std::abort();
  return std::move(pool).value();
}

void BM_SegmentPool_AcquireRelease(benchmark::State& state) {
  auto pool = MakePool(1024);
  for (auto _ : state) {
    Segment segment = pool->TryAcquire();
    benchmark::DoNotOptimize(segment.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SegmentPool_AcquireRelease);

void BM_Malloc_AcquireRelease(benchmark::State& state) {
  for (auto _ : state) {
    void* block = std::malloc(kSegmentSize);
    benchmark::DoNotOptimize(block);
    std::free(block);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Malloc_AcquireRelease);

// 64 acquires, then 64 releases: runs through the shared list (refill and spill) every round.
void BM_SegmentPool_AcquireReleaseBatch64(benchmark::State& state) {
  auto pool = MakePool(1024);
  std::vector<Segment> held(kBatch);
  for (auto _ : state) {
    for (Segment& segment : held) segment = pool->TryAcquire();
    benchmark::DoNotOptimize(held.data());
    for (Segment& segment : held) segment.Reset();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_SegmentPool_AcquireReleaseBatch64);

void BM_Malloc_AcquireReleaseBatch64(benchmark::State& state) {
  std::array<void*, kBatch> held;
  for (auto _ : state) {
    for (void*& block : held) block = std::malloc(kSegmentSize);
    benchmark::DoNotOptimize(held.data());
    for (void* block : held) std::free(block);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Malloc_AcquireReleaseBatch64);

// A bounded single-producer single-consumer ring, just enough to move blocks (segment handles or
// malloc'd pointers) from the benchmark thread to a consumer thread.
template <typename T>
class Ring {
 public:
  bool TryPush(T value) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) == kSlots) return false;
    slots_[tail % kSlots] = std::move(value);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  bool TryPop(T& value) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    value = std::move(slots_[head % kSlots]);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

 private:
  static constexpr uint64_t kSlots = 256;
  std::array<T, kSlots> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
};

// The benchmark thread acquires and hands each block to a consumer thread, which releases it: the
// path of a channel between two pinned workers. Needs two cores to mean anything.
template <typename Acquire, typename Release>
void ProducerConsumer(benchmark::State& state, Acquire acquire, Release release) {
  using Block = std::invoke_result_t<Acquire>;
  auto ring = std::make_unique<Ring<Block>>();
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    Block block{};
    while (true) {
      if (ring->TryPop(block)) {
        release(block);
      } else if (stop.load(std::memory_order_acquire)) {
        if (!ring->TryPop(block)) break;
        release(block);
      }
    }
  });
  for (auto _ : state) {
    Block block = acquire();
    while (!ring->TryPush(std::move(block))) {
    }
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

void BM_SegmentPool_CrossThreadAcquireRelease(benchmark::State& state) {
  auto pool = MakePool(1024);  // > ring slots + both caches: the producer never runs dry
  ProducerConsumer(
      state,
      [&] {
        Segment segment = pool->TryAcquire();
        if (!segment) std::abort();
        return segment;
      },
      [](Segment& segment) { segment.Reset(); });
}
BENCHMARK(BM_SegmentPool_CrossThreadAcquireRelease)->UseRealTime();

void BM_Malloc_CrossThreadAcquireRelease(benchmark::State& state) {
  ProducerConsumer(
      state, [] { return std::malloc(kSegmentSize); }, [](void*& block) { std::free(block); });
}
BENCHMARK(BM_Malloc_CrossThreadAcquireRelease)->UseRealTime();

}  // namespace
}  // namespace weir::memory
