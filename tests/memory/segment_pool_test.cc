#include "memory/segment_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "memory/topology.h"

namespace weir::memory {
namespace {

std::unique_ptr<SegmentPool> MakePool(size_t count, uint32_t size = 4096, bool prefault = true) {
  SegmentPool::Options options;
  options.segment_size = size;
  options.segment_count = count;
  options.prefault = prefault;
  options.config_key = "test.pool.size";
  Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return std::move(pool).value();
}

// Runs `body` on a thread of its own and waits for it (and for its exit-time cache flush).
void OnThread(const std::function<void()>& body) { std::thread(body).join(); }

// A long-lived thread that runs closures on request, so a test can interleave its work with
// pool creation and destruction on the main thread while the worker's caches stay alive.
class Worker {
 public:
  Worker() : thread_([this] { Loop(); }) {}
  ~Worker() {
    Run(nullptr);
    thread_.join();
  }
  // Runs `body` on the worker and waits for it; nullptr stops the worker.
  void Run(std::function<void()> body) {
    std::unique_lock lock(mutex_);
    task_ = std::move(body);
    stop_ = task_ == nullptr;
    pending_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !pending_; });
  }

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait(lock, [this] { return pending_; });
      if (stop_) {
        pending_ = false;
        changed_.notify_all();
        return;
      }
      task_();
      pending_ = false;
      changed_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> task_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;
};

TEST(SegmentPoolTest, CreateValidatesSizeAndCount) {
  for (uint64_t size : {0ull, 1ull, 2048ull, 4095ull, 4097ull, 12288ull, (1ull << 31)}) {
    SegmentPool::Options options;
    options.segment_size = static_cast<uint32_t>(size);
    options.segment_count = 1;
    Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(options);
    ASSERT_FALSE(pool.ok()) << size;
    EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument) << size;
  }
  SegmentPool::Options options;
  options.segment_count = 0;
  EXPECT_EQ(SegmentPool::Create(options).status().code(), StatusCode::kInvalidArgument);
  options.segment_count = 1;
  options.numa_node = -2;
  EXPECT_EQ(SegmentPool::Create(options).status().code(), StatusCode::kInvalidArgument);
  // The extremes are accepted (1 GiB is only reserved, not touched, without prefault).
  for (uint32_t size : {4096u, 1u << 30}) {
    SegmentPool::Options extreme;
    extreme.segment_size = size;
    extreme.segment_count = 1;
    extreme.prefault = false;
    Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(extreme);
    ASSERT_TRUE(pool.ok()) << size << ": " << pool.status();
    EXPECT_EQ((*pool)->segment_size(), size);
    EXPECT_EQ((*pool)->capacity(), 1u);
  }
}

TEST(SegmentPoolTest, SegmentsAreAlignedSizedAndDisjoint) {
  constexpr size_t kCount = 64;
  constexpr uint32_t kSize = 8192;
  auto pool = MakePool(kCount, kSize);
  std::vector<Segment> segments;
  for (size_t i = 0; i < kCount; ++i) {
    Result<Segment> segment = pool->Acquire();
    ASSERT_TRUE(segment.ok()) << segment.status();
    EXPECT_EQ(segment->size(), kSize);
    EXPECT_EQ(segment->pool(), pool.get());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(segment->data()) % 4096, 0u);
    std::memset(segment->data(), static_cast<int>(i), kSize);
    segments.push_back(std::move(segment).value());
  }
  // Each segment kept its own fill: no two overlap.
  for (size_t i = 0; i < kCount; ++i) {
    const std::byte* data = segments[i].data();
    EXPECT_TRUE(std::all_of(data, data + kSize, [i](std::byte b) { return b == std::byte(i); })) << i;
  }
  std::vector<std::byte*> starts;
  for (const Segment& segment : segments) starts.push_back(segment.data());
  std::sort(starts.begin(), starts.end());
  for (size_t i = 1; i < starts.size(); ++i) EXPECT_GE(starts[i] - starts[i - 1], kSize);
}

// With prefault, every page of every segment is resident before the first Acquire, so the record
// path takes no page fault.
TEST(SegmentPoolTest, PrefaultMakesEveryPageResident) {
  constexpr size_t kCount = 32;
  constexpr uint32_t kSize = 16384;
  auto pool = MakePool(kCount, kSize, /*prefault=*/true);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<Segment> all;
  while (Segment segment = pool->TryAcquire()) all.push_back(std::move(segment));
  ASSERT_EQ(all.size(), kCount);
  std::vector<unsigned char> resident(kSize / page);
  for (const Segment& segment : all) {
    ASSERT_EQ(::mincore(segment.data(), kSize, resident.data()), 0);
    for (size_t i = 0; i < resident.size(); ++i) EXPECT_TRUE(resident[i] & 1) << "page " << i;
  }
}

// Pages of [begin, begin + bytes) resident right now.
size_t ResidentPages(const std::byte* begin, size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident(bytes / page);
  EXPECT_EQ(::mincore(const_cast<std::byte*>(begin), bytes, resident.data()), 0);
  return static_cast<size_t>(std::count_if(resident.begin(), resident.end(),
                                           [](unsigned char bit) { return (bit & 1) != 0; }));
}

// Waits (up to 20 s) until every page of the range is resident.
bool BecomesResident(const std::byte* begin, size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (int i = 0; i < 2000; ++i) {
    if (ResidentPages(begin, bytes) == bytes / page) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(SegmentPoolTest, FaultAheadKeepsTheNextSegmentsResidentAndNeverChangesAByte) {
  constexpr size_t kCount = 4096;
  constexpr uint32_t kSize = 16384;  // 64 MiB in all
  constexpr size_t kAhead = size_t{1} << 20;
  SegmentPool::Options options;
  options.segment_size = kSize;
  options.segment_count = kCount;
  options.prefault = false;
  options.fault_ahead_bytes = kAhead;
  options.config_key = "test.pool.size";
  auto created = SegmentPool::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<SegmentPool> pool = std::move(created).value();

  // Segments leave lowest address first: the first one is the pool's base.
  std::vector<Segment> held;
  held.push_back(pool->TryAcquire());
  const std::byte* base = held.front().data();
  EXPECT_TRUE(BecomesResident(base, kAhead)) << "the first MiB is faulted in before it is used";

  // Take 8 MiB, writing each segment as it comes, while the helper faults ahead of them.
  const size_t taken_bytes = size_t{8} << 20;
  while (held.size() * kSize < taken_bytes) {
    held.push_back(pool->TryAcquire());
    ASSERT_TRUE(held.back());
    std::memset(held.back().data(), static_cast<int>(held.size() & 0xff), kSize);
  }
  // The helper is woken when its lead falls to half: at least kAhead / 2 past every segment
  // taken (the last one handed out here is at or below the highest the thread cache took).
  const std::byte* high = held.back().data() + kSize;
  EXPECT_TRUE(BecomesResident(high, kAhead / 2)) << "half a MiB after the highest segment taken";
  for (size_t i = 1; i < held.size(); ++i) {
    const auto expected = static_cast<std::byte>((i + 1) & 0xff);
    ASSERT_TRUE(std::all_of(held[i].data(), held[i].data() + kSize,
                            [&](std::byte b) { return b == expected; }))
        << "segment " << i << " changed after it was written";
  }
  // Far from any use, memory stays untouched: the pool does not fault everything in.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t tail = size_t{16} << 20;
  EXPECT_LT(ResidentPages(base + kCount * kSize - tail, tail), tail / page);
}

TEST(SegmentPoolTest, ExhaustionIsReportedAndReleaseRefills) {
  constexpr size_t kCount = 40;
  auto pool = MakePool(kCount);
  std::vector<Segment> held;
  for (size_t i = 0; i < kCount; ++i) {
    Segment segment = pool->TryAcquire();
    ASSERT_TRUE(segment) << i;
    held.push_back(std::move(segment));
  }
  EXPECT_EQ(pool->available(), 0u);
  EXPECT_FALSE(pool->TryAcquire());
  Result<Segment> failed = pool->Acquire();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(failed.status().message().find("test.pool.size"), std::string_view::npos) << failed.status();
  EXPECT_NE(failed.status().message().find("40 segments of 4.0 KiB (160.0 KiB)"), std::string_view::npos)
      << failed.status();

  std::byte* returned = held.back().data();
  held.pop_back();  // the handle's destructor releases it
  EXPECT_EQ(pool->available(), 1u);
  Segment again = pool->TryAcquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(again.data(), returned);
  again.Reset();
  EXPECT_FALSE(again);
  held.clear();
  EXPECT_EQ(pool->available(), kCount);
  for (size_t i = 0; i < kCount; ++i) held.push_back(pool->TryAcquire());
  EXPECT_TRUE(std::all_of(held.begin(), held.end(), [](const Segment& s) { return bool(s); }));
}

TEST(SegmentPoolTest, MovedHandlesReleaseExactlyOnce) {
  auto pool = MakePool(4);
  Segment a = pool->TryAcquire();
  std::byte* data = a.data();
  Segment b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(b.data(), data);
  Segment c = pool->TryAcquire();
  c = std::move(b);  // c's old segment goes back
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(pool->available(), 3u);
  c = Segment();
  EXPECT_EQ(pool->available(), 4u);
}

// Random acquire/release sequences against a std::set of live pointers: a segment is never handed
// out twice, exhaustion happens exactly when every segment is live, and the count always balances.
TEST(SegmentPoolTest, RandomSequencesNeverHandOutASegmentTwice) {
  for (size_t count : {1u, 2u, 17u, 100u, 1000u}) {
    auto pool = MakePool(count, 4096, /*prefault=*/false);
    std::mt19937_64 random(count);
    std::vector<Segment> live;
    std::set<std::byte*> live_pointers;
    for (int step = 0; step < 20000; ++step) {
      const bool acquire = live.empty() || random() % 100 < (step % 2000 < 1000 ? 70 : 30);
      if (acquire) {
        Segment segment = pool->TryAcquire();
        if (live.size() == count) {
          ASSERT_FALSE(segment) << "count " << count << " step " << step;
          continue;
        }
        ASSERT_TRUE(segment) << "count " << count << " step " << step;
        ASSERT_TRUE(live_pointers.insert(segment.data()).second) << "handed out twice";
        live.push_back(std::move(segment));
      } else {
        const size_t index = random() % live.size();
        std::swap(live[index], live.back());
        ASSERT_EQ(live_pointers.erase(live.back().data()), 1u);
        live.pop_back();
      }
      ASSERT_EQ(pool->available(), count - live.size());
    }
  }
}

TEST(SegmentPoolTest, ThreadExitReturnsItsCachedSegments) {
  constexpr size_t kCount = 256;
  auto pool = MakePool(kCount);
  OnThread([&] {
    std::vector<Segment> held;
    for (int i = 0; i < 100; ++i) held.push_back(pool->TryAcquire());
    held.clear();  // into this thread's cache, up to its limit
  });
  EXPECT_EQ(pool->available(), kCount);
  std::vector<Segment> all;
  for (size_t i = 0; i < kCount; ++i) all.push_back(pool->TryAcquire());
  EXPECT_TRUE(std::all_of(all.begin(), all.end(), [](const Segment& s) { return bool(s); }));
}

// A producer thread acquires and fills segments, a consumer thread checks and releases them: the
// segments travel between the two threads' caches through the shared list, and with both threads
// gone every segment is free again.
TEST(SegmentPoolTest, CrossThreadReleaseBalances) {
  constexpr size_t kCount = 64;
  constexpr uint64_t kMessages = 20000;
  auto pool = MakePool(kCount);
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Segment> queue;
  bool corrupt = false;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kMessages; ++i) {
      Segment segment = pool->TryAcquire();
      while (!segment) {  // backpressure: wait for the consumer
        std::this_thread::yield();
        segment = pool->TryAcquire();
      }
      std::memcpy(segment.data(), &i, sizeof(i));
      std::lock_guard lock(mutex);
      queue.push_back(std::move(segment));
      changed.notify_one();
    }
  });
  std::thread consumer([&] {
    for (uint64_t i = 0; i < kMessages; ++i) {
      Segment segment;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return !queue.empty(); });
        segment = std::move(queue.front());
        queue.pop_front();
      }
      uint64_t value;
      std::memcpy(&value, segment.data(), sizeof(value));
      if (value != i) corrupt = true;
    }
  });
  producer.join();
  consumer.join();
  EXPECT_FALSE(corrupt);
  EXPECT_EQ(pool->available(), kCount);
  // Both threads' caches went back at their exit: the main thread can take every segment, each
  // one once, all inside the pool.
  std::vector<Segment> all;
  std::set<std::byte*> distinct;
  while (Segment segment = pool->TryAcquire()) {
    distinct.insert(segment.data());
    all.push_back(std::move(segment));
  }
  EXPECT_EQ(all.size(), kCount);
  EXPECT_EQ(distinct.size(), kCount);
  ASSERT_FALSE(distinct.empty());
  EXPECT_LE(*distinct.rbegin() - *distinct.begin(), static_cast<std::ptrdiff_t>((kCount - 1) * 4096));
}

// A pool used and destroyed on this thread leaves a cache slot behind; a new pool on the same
// thread (which may even get the same address range back from mmap) starts with every segment
// free and never sees the old pool's cached pointers.
TEST(SegmentPoolTest, NewPoolOnTheSameThreadIgnoresTheDestroyedPoolsCache) {
  for (int round = 0; round < 10; ++round) {
    {
      auto old_pool = MakePool(64);
      std::vector<Segment> held;
      for (int i = 0; i < 20; ++i) held.push_back(old_pool->TryAcquire());
      held.resize(5);  // 15 go into this thread's cache for the old pool
    }
    auto pool = MakePool(48);
    EXPECT_EQ(pool->available(), 48u);
    std::set<std::byte*> seen;
    std::vector<Segment> all;
    while (Segment segment = pool->TryAcquire()) {
      ASSERT_EQ(segment.pool(), pool.get());
      ASSERT_TRUE(seen.insert(segment.data()).second) << "handed out twice";
      all.push_back(std::move(segment));
    }
    EXPECT_EQ(all.size(), 48u);
    EXPECT_LE(*seen.rbegin() - *seen.begin(), static_cast<std::ptrdiff_t>(47 * 4096));
    all.clear();
    EXPECT_EQ(pool->available(), 48u);
  }
}

// Threads acquire and release concurrently, each stamping its segments; a segment handed to two
// holders at once would show the other thread's stamp.
TEST(SegmentPoolTest, ConcurrentUseNeverSharesASegment) {
  constexpr int kThreads = 4;
  constexpr size_t kCount = 512;
  auto pool = MakePool(kCount);
  std::atomic<bool> collision{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      std::vector<Segment> held;
      for (int step = 0; step < 20000; ++step) {
        if (held.empty() || (held.size() < 100 && random() % 2 == 0)) {
          Segment segment = pool->TryAcquire();
          if (!segment) continue;
          std::memset(segment.data(), t + 1, 64);
          held.push_back(std::move(segment));
        } else {
          const size_t index = random() % held.size();
          const std::byte* data = held[index].data();
          if (!std::all_of(data, data + 64, [t](std::byte b) { return b == std::byte(t + 1); })) {
            collision = true;
          }
          std::swap(held[index], held.back());
          held.pop_back();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(collision);
  EXPECT_EQ(pool->available(), kCount);
}

// Pools come and go (per job, per test) while threads that cached their segments live on; a
// thread's stale cache for a destroyed pool must never leak into a new pool.
TEST(SegmentPoolTest, PoolDestroyedWhileThreadsThatUsedItLiveOn) {
  Worker worker;
  for (int round = 0; round < 20; ++round) {
    const size_t count = 32 + round;
    auto pool = MakePool(count);
    worker.Run([&] {
      std::vector<Segment> held;
      for (int i = 0; i < 10; ++i) held.push_back(pool->TryAcquire());
    });  // the worker's cache for this pool now holds segments
    {
      // The main thread uses it too.
      Segment segment = pool->TryAcquire();
    }
    // The main thread still sees the worker's cached segments as "elsewhere"; after the worker
    // hands out everything it can, all of it lies inside this pool and is distinct.
    std::set<std::byte*> seen;
    bool outside = false;
    worker.Run([&] {
      std::vector<Segment> held;
      while (Segment segment = pool->TryAcquire()) {
        seen.insert(segment.data());
        held.push_back(std::move(segment));
      }
      for (const Segment& segment : held) {
        const std::byte* first = *seen.begin();
        if (segment.data() < first || segment.data() >= first + count * 4096) outside = true;
      }
      EXPECT_EQ(seen.size(), held.size());
    });
    EXPECT_FALSE(outside);
    EXPECT_GE(seen.size(), count - 4);  // at most the main thread's cache is out of reach
    pool.reset();
  }
}

// One thread using more pools than it has cache slots evicts caches; nothing is lost.
TEST(SegmentPoolTest, ManyPoolsOnOneThreadKeepTheirCounts) {
  constexpr size_t kPools = 7;
  constexpr size_t kCount = 128;
  std::vector<std::unique_ptr<SegmentPool>> pools;
  for (size_t i = 0; i < kPools; ++i) pools.push_back(MakePool(kCount));
  std::vector<std::vector<Segment>> held(kPools);
  std::mt19937 random(7);
  for (int step = 0; step < 20000; ++step) {
    const size_t p = random() % kPools;
    if (held[p].empty() || random() % 2 == 0) {
      if (Segment segment = pools[p]->TryAcquire()) held[p].push_back(std::move(segment));
    } else {
      held[p].pop_back();
    }
  }
  for (size_t p = 0; p < kPools; ++p) {
    for (const Segment& segment : held[p]) EXPECT_EQ(segment.pool(), pools[p].get());
    EXPECT_EQ(pools[p]->available(), kCount - held[p].size()) << p;
    held[p].clear();
    EXPECT_EQ(pools[p]->available(), kCount) << p;
  }
  // Destroy them in a different order than they were created, then create fresh ones: the stale
  // slots are recycled.
  pools.erase(pools.begin() + 2);
  pools.erase(pools.begin());
  pools.clear();
  for (int i = 0; i < 10; ++i) {
    auto pool = MakePool(16);
    std::vector<Segment> all;
    while (Segment segment = pool->TryAcquire()) all.push_back(std::move(segment));
    EXPECT_EQ(all.size(), 16u);
  }
}

TEST(SegmentPoolTest, BindsToANumaNodeOfThisMachine) {
  Result<Topology> topology = Topology::Detect();
  ASSERT_TRUE(topology.ok()) << topology.status();
  SegmentPool::Options options;
  options.segment_count = 16;
  options.numa_node = topology->num_numa_nodes() - 1;
  options.topology = &*topology;
  Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->numa_node(), options.numa_node);
  // Whether the kernel honours the binding depends on the machine (numa_bound()); the memory must
  // work either way.
  std::vector<Segment> all;
  while (Segment segment = (*pool)->TryAcquire()) {
    std::memset(segment.data(), 0x5a, segment.size());
    all.push_back(std::move(segment));
  }
  EXPECT_EQ(all.size(), 16u);

  options.numa_node = topology->num_numa_nodes();
  Result<std::unique_ptr<SegmentPool>> missing = SegmentPool::Create(options);
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
}

TEST(SegmentPoolTest, OutlivesTheTopologyItWasBoundWith) {
  std::unique_ptr<SegmentPool> pool;
  {
    Result<Topology> topology = Topology::Detect();
    ASSERT_TRUE(topology.ok()) << topology.status();
    SegmentPool::Options options;
    options.segment_count = 8;
    options.numa_node = 0;
    options.topology = &*topology;
    Result<std::unique_ptr<SegmentPool>> created = SegmentPool::Create(options);
    ASSERT_TRUE(created.ok()) << created.status();
    pool = std::move(created).value();
  }
  Segment segment = pool->TryAcquire();
  ASSERT_TRUE(segment);
  std::memset(segment.data(), 1, segment.size());
}

TEST(SegmentPoolTest, SyntheticTopologyNodesAreCheckedButNotBound) {
  Result<Topology> topology = Topology::FromSynthetic("package:2 numa:2 core:4 pu:1");
  ASSERT_TRUE(topology.ok()) << topology.status();
  SegmentPool::Options options;
  options.segment_count = 4;
  options.topology = &*topology;
  options.numa_node = 3;
  Result<std::unique_ptr<SegmentPool>> pool = SegmentPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->numa_node(), 3);
  EXPECT_FALSE((*pool)->numa_bound());
  options.numa_node = 4;
  Result<std::unique_ptr<SegmentPool>> missing = SegmentPool::Create(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("NUMA node 4"), std::string_view::npos) << missing.status();
}

}  // namespace
}  // namespace weir::memory
