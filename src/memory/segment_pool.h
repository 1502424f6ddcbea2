// SegmentPool: a fixed number of equal-size segments, carved from one allocation bound to one NUMA
// node and pre-faulted at creation, so no page fault or malloc happens on the record path.
//
// Threads: Acquire/Release may be called from any thread. Each thread that uses a pool gets a
// small private cache of free segments (no atomics on its fast path); caches refill from and
// spill to a shared free list in batches. A segment released on another thread than the one that
// acquired it simply lands in that thread's cache. A pool must outlive every Segment it handed
// out and every thread that used it must have stopped using it before the pool is destroyed.
//
// Exhaustion is not an error of the pool: TryAcquire returns an empty handle and the caller
// applies backpressure (waits for a consumer to release). Acquire() turns exhaustion into a
// ResourceExhausted Status naming the configuration key that sizes the pool.
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
    uint32_t segment_size = 32 * 1024;  // a power of two, >= 4096
    size_t segment_count = 1024;
    // NUMA node whose memory backs the pool; -1 = no binding. Ignored without a topology.
    int numa_node = -1;
    const Topology* topology = nullptr;
    bool prefault = true;
    // Named in the ResourceExhausted message of Acquire(), e.g. "taskmanager.memory.network.max".
    std::string config_key = "taskmanager.memory.network.max";
  };

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

  // Implementation detail (segment_pool.cc); public only so its thread caches can name it.
  struct Impl;

 private:
  friend class Segment;
  explicit SegmentPool(std::unique_ptr<Impl> impl);
  void Release(std::byte* data);

  std::unique_ptr<Impl> impl_;
};


}  // namespace weir::memory
