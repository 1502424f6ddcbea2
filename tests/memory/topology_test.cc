#include "memory/topology.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace weir::memory {
namespace {

// 2 packages x 2 NUMA nodes x 4 cores, one hardware thread each: 16 cores, 4 per node.
constexpr const char* kTwoByTwoByFour = "package:2 numa:2 core:4 pu:1";

Topology Synthetic(const char* description) {
  Result<Topology> topology = Topology::FromSynthetic(description);
  EXPECT_TRUE(topology.ok()) << topology.status();
  return std::move(topology).value();
}

TEST(TopologyTest, SyntheticTwoPackagesTwoNodesFourCoresHasTheStatedShape) {
  Topology topology = Synthetic(kTwoByTwoByFour);
  EXPECT_TRUE(topology.is_synthetic());
  EXPECT_EQ(topology.num_packages(), 2);
  EXPECT_EQ(topology.num_numa_nodes(), 4);
  ASSERT_EQ(topology.num_cores(), 16);
  std::set<int> os_pus;
  for (int i = 0; i < topology.num_cores(); ++i) {
    const Topology::Core& core = topology.cores()[i];
    EXPECT_EQ(core.index, i);
    // Logical order nests cores in nodes in packages.
    EXPECT_EQ(core.numa_node, i / 4) << "core " << i;
    EXPECT_EQ(core.package, i / 8) << "core " << i;
    EXPECT_EQ(topology.NumaNodeOfCore(i), i / 4);
    os_pus.insert(core.os_pu);
  }
  EXPECT_EQ(os_pus.size(), 16u);
}

TEST(TopologyTest, SingleNodeSyntheticHasOneNodeAndFirstThreadOfEachCore) {
  Topology topology = Synthetic("package:1 core:4 pu:2");
  EXPECT_EQ(topology.num_packages(), 1);
  EXPECT_EQ(topology.num_numa_nodes(), 1);
  ASSERT_EQ(topology.num_cores(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(topology.cores()[i].numa_node, 0);
    EXPECT_EQ(topology.cores()[i].package, 0);
    EXPECT_EQ(topology.cores()[i].os_pu, 2 * i);  // pu:2 -> PUs 2i and 2i+1 belong to core i
  }
  EXPECT_EQ(topology.PlaceWorkers(6), (std::vector<int>{0, 1, 2, 3, 0, 1}));
}

TEST(TopologyTest, PlaceWorkersFillsOneNodeBeforeTheNext) {
  Topology topology = Synthetic(kTwoByTwoByFour);
  EXPECT_EQ(topology.PlaceWorkers(6), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  for (int workers = 1; workers <= topology.num_cores(); ++workers) {
    const std::vector<int> placement = topology.PlaceWorkers(workers);
    ASSERT_EQ(placement.size(), static_cast<size_t>(workers));
    // No core used twice, nodes in non-decreasing order, and the fewest nodes that can hold them.
    EXPECT_EQ(std::set<int>(placement.begin(), placement.end()).size(), placement.size());
    std::set<int> nodes;
    for (size_t w = 0; w < placement.size(); ++w) {
      nodes.insert(topology.NumaNodeOfCore(placement[w]));
      if (w > 0) {
        EXPECT_LE(topology.NumaNodeOfCore(placement[w - 1]), topology.NumaNodeOfCore(placement[w]));
      }
    }
    EXPECT_EQ(nodes.size(), static_cast<size_t>((workers + 3) / 4)) << workers << " workers";
  }
}

TEST(TopologyTest, PlaceWorkersWrapsAroundWhenWorkersOutnumberCores) {
  Topology topology = Synthetic(kTwoByTwoByFour);
  const std::vector<int> all = topology.PlaceWorkers(16);
  const std::vector<int> placement = topology.PlaceWorkers(40);
  ASSERT_EQ(placement.size(), 40u);
  for (size_t w = 0; w < placement.size(); ++w) EXPECT_EQ(placement[w], all[w % 16]) << w;
  EXPECT_TRUE(topology.PlaceWorkers(0).empty());
  EXPECT_TRUE(topology.PlaceWorkers(-3).empty());
}

TEST(TopologyTest, RejectsInvalidSyntheticDescriptions) {
  for (const char* description : {"", "banana:3", "package:2 core:"}) {
    Result<Topology> topology = Topology::FromSynthetic(description);
    ASSERT_FALSE(topology.ok()) << "'" << description << "'";
    EXPECT_EQ(topology.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(TopologyTest, CannotBindToASyntheticCore) {
  Topology topology = Synthetic(kTwoByTwoByFour);
  EXPECT_EQ(topology.BindCurrentThread(0).code(), StatusCode::kFailedPrecondition);
}

TEST(TopologyTest, DetectDescribesThisMachine) {
  Result<Topology> detected = Topology::Detect();
  ASSERT_TRUE(detected.ok()) << detected.status();
  const Topology& topology = *detected;
  EXPECT_FALSE(topology.is_synthetic());
  EXPECT_NE(topology.hwloc_handle(), nullptr);
  EXPECT_GE(topology.num_packages(), 1);
  EXPECT_GE(topology.num_numa_nodes(), 1);
  ASSERT_GE(topology.num_cores(), 1);
  // Every listed core is one this process may run on.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  for (int i = 0; i < topology.num_cores(); ++i) {
    const Topology::Core& core = topology.cores()[i];
    EXPECT_EQ(core.index, i);
    EXPECT_TRUE(CPU_ISSET(core.os_pu, &allowed)) << "cpu " << core.os_pu;
    EXPECT_GE(core.numa_node, 0);
    EXPECT_LT(core.numa_node, topology.num_numa_nodes());
  }
}

TEST(TopologyTest, BindCurrentThreadPinsToTheCoresCpu) {
  Result<Topology> topology = Topology::Detect();
  ASSERT_TRUE(topology.ok()) << topology.status();
  const int core = topology->num_cores() - 1;
  Status bound;
  cpu_set_t after;
  CPU_ZERO(&after);
  // In a thread of its own, so that the test runner's main thread stays unpinned.
  std::thread([&] {
    bound = topology->BindCurrentThread(core);
    sched_getaffinity(0, sizeof(after), &after);
  }).join();
  ASSERT_TRUE(bound.ok()) << bound;
  EXPECT_EQ(CPU_COUNT(&after), 1);
  EXPECT_TRUE(CPU_ISSET(topology->cores()[core].os_pu, &after));
  EXPECT_EQ(topology->BindCurrentThread(topology->num_cores()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(topology->BindCurrentThread(-1).code(), StatusCode::kInvalidArgument);
}

// An exclusive (busy-polling) worker moves every other thread of the process off its CPU --
// threads that already run (this test's main thread, an idle helper) and helpers started later
// from the worker (which inherit its pin and then call UnpinCurrentThread) -- but not a pinned
// worker that parks, and gives the CPU back when it unregisters. Needs two CPUs to reserve one of
// them; on one, nothing can be reserved.
TEST(TopologyTest, AReservedWorkerCpuIsLeftToTheWorker) {
  cpu_set_t process;
  ASSERT_EQ(sched_getaffinity(0, sizeof(process), &process), 0);
  if (CPU_COUNT(&process) < 2) GTEST_SKIP() << "one CPU: nothing to reserve";
  int cpu = CPU_SETSIZE - 1;
  while (!CPU_ISSET(cpu, &process)) --cpu;  // the last CPU this process may use

  auto affinity = [](pid_t tid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(tid, sizeof(set), &set);
    return set;
  };
  // What a worker does at its start: pin itself, then register.
  auto pin_and_register = [](int to, bool exclusive) {
    cpu_set_t own;
    CPU_ZERO(&own);
    CPU_SET(to, &own);
    EXPECT_EQ(sched_setaffinity(0, sizeof(own), &own), 0);
    RegisterPinnedWorker(to, exclusive);
  };
  std::mutex mutex;
  std::condition_variable changed;
  int step = 0;  // 1: reserved; 2: checked, release; 3: released; 4: parking worker checked
  auto wait_for = [&](int value) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return step >= value; });
  };
  auto advance = [&](int value) {
    {
      std::lock_guard lock(mutex);
      step = value;
    }
    changed.notify_all();
  };
  std::atomic<pid_t> idle_tid{0};
  std::thread idle([&] {  // a thread that exists before the reservation and does nothing
    idle_tid = gettid();
    wait_for(3);
  });
  while (idle_tid.load() == 0) std::this_thread::yield();
  // A worker pinned to another CPU that parks (not exclusive): it keeps its pin throughout.
  int other_cpu = 0;
  while (other_cpu == cpu || !CPU_ISSET(other_cpu, &process)) ++other_cpu;
  std::atomic<pid_t> parking_tid{0};
  std::thread parking([&] {
    pin_and_register(other_cpu, /*exclusive=*/false);
    parking_tid = gettid();
    wait_for(4);
    UnregisterPinnedWorker();
  });
  while (parking_tid.load() == 0) std::this_thread::yield();

  cpu_set_t worker_after;
  cpu_set_t helper_after;
  std::thread worker([&] {
    pin_and_register(cpu, /*exclusive=*/true);
    worker_after = affinity(0);
    std::thread([&] {  // a helper started by the worker: inherits its pin, then unpins
      UnpinCurrentThread();
      helper_after = affinity(0);
    }).join();
    advance(1);
    wait_for(2);
    UnregisterPinnedWorker();
    advance(3);
  });
  wait_for(1);
  EXPECT_EQ(CPU_COUNT(&worker_after), 1);
  EXPECT_TRUE(CPU_ISSET(cpu, &worker_after));
  for (const cpu_set_t& other : {affinity(0), affinity(idle_tid.load()), helper_after}) {
    EXPECT_FALSE(CPU_ISSET(cpu, &other));
    EXPECT_EQ(CPU_COUNT(&other), CPU_COUNT(&process) - 1);
  }
  advance(2);
  wait_for(3);
  const cpu_set_t parking_after = affinity(parking_tid.load());
  EXPECT_EQ(CPU_COUNT(&parking_after), 1);
  EXPECT_TRUE(CPU_ISSET(other_cpu, &parking_after));
  advance(4);
  worker.join();
  idle.join();
  parking.join();
  const cpu_set_t restored = affinity(0);
  EXPECT_TRUE(CPU_EQUAL(&restored, &process));
}

TEST(TopologyTest, CopiesShareTheHandleAndMovedFromIsEmpty) {
  Topology original = Synthetic(kTwoByTwoByFour);
  void* handle = original.hwloc_handle();
  ASSERT_NE(handle, nullptr);
  Topology copy = original;
  EXPECT_EQ(copy.hwloc_handle(), handle);
  Topology moved = std::move(original);
  EXPECT_EQ(moved.hwloc_handle(), handle);
  EXPECT_EQ(moved.num_cores(), 16);
  EXPECT_EQ(original.hwloc_handle(), nullptr);  // NOLINT(bugprone-use-after-move): documented state
  {
    Topology scoped = std::move(copy);
  }
  EXPECT_EQ(moved.cores()[5].numa_node, 1);  // the handle lives while any copy does
}

}  // namespace
}  // namespace weir::memory
