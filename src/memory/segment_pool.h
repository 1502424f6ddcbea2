// SegmentPool: a fixed number of equal-size segments, carved from one allocation bound to one NUMA
// node and pre-faulted at creation (or faulted ahead of use by a helper thread), so no page fault
// or malloc happens on the record path.
//
// Memory: one allocation per pool. With a topology and a NUMA node it comes from
// hwloc_alloc_membind(HWLOC_MEMBIND_BIND) on that node (numa_bound() says whether the kernel
// honoured the binding; where it cannot, e.g. without NUMA support, the pool still works, unbound).
// Otherwise, and for a synthetic topology, it is an anonymous mmap aligned to 2 MiB. Either way
// the allocation is advised MADV_HUGEPAGE (transparent huge pages where the kernel supplies them:
// fewer TLB misses for state probed at random). Segments are page aligned (hence 64-byte aligned),
// at offsets that are multiples of segment_size() from the pool's base.
//
// Threads: Acquire/Release may be called from any thread. Each thread that uses a pool gets a
// small private cache of free segments (no atomics and no lock on its fast path); caches refill
// from and spill to a shared mutex-protected free list half a cache at a time. A segment released
// on another thread than the one that acquired it simply lands in the releasing thread's cache. A
// thread's cache goes back to the shared list when the thread exits. A thread caches up to 4 pools
// at once; using a fifth evicts (returns) one cache, which is correct, only slower.
//
// Because free segments can sit in other threads' caches (at most capacity()/16, and at most 64,
// per thread), TryAcquire may report exhaustion while a few segments are free elsewhere, and
// available() is exact only when no other thread holds a cache (e.g. after they exited).
//
// Lifetime: a pool must outlive every Segment it handed out, and every thread that used it must
// have stopped using it before the pool is destroyed. Threads may outlive the pool: their cache
// slots for it are recognised as stale (pool ids are never reused) and dropped.
//
// Exhaustion is not an error of the pool: TryAcquire returns an empty handle and the caller
// applies backpressure (waits for a consumer to release). Acquire() turns exhaustion into a
// ResourceExhausted Status naming the pool's size and the configuration key that sizes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "memory/segment.h"

namespace weir::memory {

class Topology;

class SegmentPool {
 public:
  struct Options {
    uint32_t segment_size = 32 * 1024;  // a power of two in [4096, 1 GiB]
    size_t segment_count = 1024;        // >= 1
    // NUMA node whose memory backs the pool; -1 = no binding. Ignored without a topology; with
    // one it must be < topology->num_numa_nodes(). The topology need not outlive the pool.
    int numa_node = -1;
    const Topology* topology = nullptr;
    // Touch every page at creation, so that no page fault happens on the record path.
    bool prefault = true;
    // For a pool that is not pre-faulted (managed memory, which state grows into): a background
    // thread keeps every segment up to the highest one handed out so far, and between half of
    // and all of this many bytes beyond it, faulted in (memory::FaultInPages, which never changes
    // a byte), so that a task writing into fresh segments -- a table growing, entries relocated
    // after a checkpoint -- does not stop for the kernel to zero pages. The pool's resident memory
    // runs at most this far ahead of its use. 0 = off; ignored with `prefault`.
    size_t fault_ahead_bytes = 0;
    // Named in the ResourceExhausted message of Acquire(), e.g. "taskmanager.memory.network.max".
    std::string config_key = "taskmanager.memory.network.max";
  };

  // InvalidArgument for a bad size, count or NUMA node; an I/O error if the memory cannot be
  // mapped.
  static Result<std::unique_ptr<SegmentPool>> Create(const Options& options);
  ~SegmentPool();
  SegmentPool(const SegmentPool&) = delete;
  SegmentPool& operator=(const SegmentPool&) = delete;

  // A free segment, or an empty handle when every segment is in use.
  Segment TryAcquire();
  // A free segment, or ResourceExhausted.
  Result<Segment> Acquire();

  uint32_t segment_size() const;
  size_t capacity() const;
  // Free segments right now (approximate while other threads run).
  size_t available() const;
  int numa_node() const;
  // True when the memory is verifiably bound to numa_node() (hwloc_get_area_membind agrees).
  bool numa_bound() const;

  // Implementation detail (segment_pool.cc); public only so its thread caches can name it.
  struct Impl;

 private:
  friend class Segment;
  explicit SegmentPool(std::unique_ptr<Impl> impl);
  void Release(std::byte* data);

  std::unique_ptr<Impl> impl_;
};

}  // namespace weir::memory
