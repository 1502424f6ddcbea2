// Mapping: an anonymous private memory mapping whose page faults and release can be left to a
// background thread, for large arrays a latency-sensitive thread is about to need (a state
// table's next hash index) or has just finished with (its previous one).
//
// Why: a fresh anonymous page costs a fault and the kernel zeroing it on first touch, an munmap
// of a large range costs page freeing and TLB shootdowns, and both mmap and munmap wait for the
// process's memory-map lock, which another thread's MADV_POPULATE_WRITE holds for as long as it
// runs. On the development VM, doubling a 2^18-slot
// index this way stopped a pinned task for about 1.8 ms, and an mmap that queued behind a
// populate for up to 13 ms. PrepareInBackground() lets a shared helper thread map and fault in
// the next array ahead of time, and ReleaseInBackground() lets it take the munmap, so the owner
// makes none of these calls.
//
// Memory: the mapping's bytes start zeroed (anonymous memory). A mapping of 2 MiB or more is
// 2 MiB-aligned and advised MADV_HUGEPAGE, so random probes over it take fewer TLB misses where
// transparent huge pages are available (a hint; THP's "never" mode ignores it).
//
// Threads: a Mapping is shared (std::shared_ptr): the helper holds a reference while it works on
// it, so the owner may drop its own at any time; the memory is unmapped when the last reference
// goes. A Prepared belongs to the helper until ready(). The helper is one thread for the whole
// process, started on first use, with the process's CPU affinity (not its first caller's, which
// may be a task pinned to one core).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace weir::memory {

// Faults the pages of [data, data + bytes) in writable without changing a byte, even one another
// thread writes at the same time, and without holding the process's memory-map lock through a
// huge page's allocation. Per 2 MiB block: first an atomic OR of zero into its first byte, a
// write fault that takes only its VMA's lock (Linux >= 6.4) and gets the block a huge page where
// the mapping is advised MADV_HUGEPAGE and the kernel can supply one (compacting memory for it
// can take tens of milliseconds); then MADV_POPULATE_WRITE for the rest, which finds it present,
// or, where no huge page was had, faults its 4 KiB pages about 20 times faster than a touch each
// (measured on the development VM: 256 MiB in 42-59 ms against 0.98-1.13 s).
// MADV_POPULATE_WRITE holds the memory-map lock for its range, and every mmap and munmap in the
// process waits for it, so the slow part must not happen under it: a segment pool populating
// 2 MiB steps that way stalled a task thread's heap allocation for 2.7 ms and an mmap for 25 ms.
void FaultInPages(std::byte* data, size_t bytes);

class MappingHelper;  // mapping.cc: the helper thread

class Mapping {
 public:
  // A mapping of `bytes` (> 0) zeroed bytes, or null when the system refuses the mapping.
  static std::shared_ptr<Mapping> Create(size_t bytes);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

  // A mapping of `bytes` that the helper thread creates and faults in, for a caller that will
  // need it soon and must not wait for either: the mmap itself waits for the process's memory-map
  // lock, which another thread's long MADV_POPULATE_WRITE (of a segment pool's fault-ahead, say)
  // holds for milliseconds. Returns at once; Take() the result. Without a helper thread the
  // request never becomes ready.
  class Prepared;
  static std::shared_ptr<Prepared> PrepareInBackground(size_t bytes);
  // Starts the helper thread now; it starts on first use otherwise. Creating a thread maps its
  // stack, which can wait for the memory-map lock like any mmap, so a latency-sensitive owner
  // starts it before its hot path. Cheap once started.
  static void StartHelper();

  // Faults every page in on the calling thread (those already present cost a page-table walk);
  // returns when every page is present.
  void FaultIn();
  // Whether every page is known to be present (FaultIn returned).
  bool faulted() const { return faulted_.load(std::memory_order_acquire); }

  // Drops the caller's reference on the helper thread, so that an munmap (when it is the last
  // reference) happens there; returns at once. Without a helper thread it is dropped here.
  static void ReleaseInBackground(std::shared_ptr<Mapping> mapping);

 private:
  friend class MappingHelper;
  Mapping(std::byte* data, size_t size, void* base, size_t mapped)
      : data_(data), size_(size), base_(base), mapped_(mapped) {}
  // FaultInPages over the whole range; sets faulted_.
  void Populate();
  // The helper's part of PrepareInBackground: creates and faults in the mapping, then sets ready.
  static void Fill(Prepared& prepared);

  std::byte* const data_;
  const size_t size_;
  void* const base_;  // what munmap releases
  const size_t mapped_;
  std::atomic<bool> faulted_{false};
};

// What PrepareInBackground returns: shared by the caller and the helper thread.
class Mapping::Prepared {
 public:
  // Whether the helper has finished: Take() then returns the mapping, faulted in, or null when
  // the system refused it.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // The mapping once ready (moved out: a second call returns null), else null.
  std::shared_ptr<Mapping> Take() { return ready() ? std::move(mapping_) : nullptr; }
  size_t bytes() const { return bytes_; }

 private:
  friend class Mapping;
  explicit Prepared(size_t bytes) : bytes_(bytes) {}
  const size_t bytes_;
  std::shared_ptr<Mapping> mapping_;  // written by the helper before ready_
  std::atomic<bool> ready_{false};
};

}  // namespace weir::memory
