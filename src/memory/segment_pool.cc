#include "memory/segment_pool.h"

#include <hwloc.h>
#include <sys/mman.h>
#include <unistd.h>


#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/check.h"
#include "memory/mapping.h"
#include "memory/memory_budget.h"
#include "memory/topology.h"

namespace weir::memory {

// How free segments are kept
// --------------------------
// Every free segment is either in the pool's shared list (a vector under a mutex) or in one
// thread's private cache for that pool. A thread's caches are a small thread_local array of slots,
// each tagged with the unique id of the pool it caches (ids come from a 64-bit counter and are
// never reused). Acquire pops from the calling thread's slot and Release pushes onto it: plain
// loads and stores on thread-private memory, no atomics, no lock. Only when a slot runs dry
// (refill) or full (spill) does the thread take the pool's mutex, and then it moves half a cache in
// one go, so the mutex is taken at most once per cache_limit/2 operations.
//
// The thread_local slot array is trivially destructible (constinit, zero-initialised), so the
// fast path compiles to direct TLS loads with no lazy-initialisation guard. A second thread_local,
// ThreadExitFlusher, has a destructor; it is touched only when a thread first claims a slot (slow
// path), which registers it, and at thread exit it gives every cached segment back to its pool.
//
// Pools are created and destroyed per job and per test, while threads (and their caches) may
// outlive them. A registry of live pools (id -> Impl*, under its own mutex) makes that safe:
//  * a slot whose id is no longer registered is stale; it still holds pointers into the unmapped
//    memory of a destroyed pool, but no live pool has that id, so they are never handed out, and
//    the slot is reclaimed (dropped) the next time its thread needs a slot;
//  * returning a cache to a pool from another context (thread exit, slot eviction) looks the pool
//    up in the registry while holding the registry mutex, and the pool's destructor unregisters
//    under that same mutex before unmapping, so a pool is never written to after it is gone.
// Lock order: registry mutex, then a pool's mutex; nothing takes them the other way round.
namespace {

constexpr size_t kCacheMax = 64;   // segments one thread may keep per pool
constexpr size_t kCacheSlots = 4;  // pools one thread caches at once
constexpr size_t kHugePageBytes = size_t{2} << 20;  // x86-64 transparent huge pages

std::atomic<uint64_t> g_next_pool_id{1};

struct Registry {
  std::mutex mutex;
  std::vector<std::pair<uint64_t, SegmentPool::Impl*>> pools;  // GUARDED_BY(mutex)

  // REQUIRES: mutex held.
  SegmentPool::Impl* Find(uint64_t id) const {
    for (const auto& [pool_id, pool] : pools) {
      if (pool_id == id) return pool;
    }
    return nullptr;
  }
};

Registry& LivePools() {
  // Never destroyed: threads may exit (and flush their caches) after static destructors ran.
  static Registry* registry = new Registry();
  return *registry;
}

struct CacheSlot {
  uint64_t pool_id;  // 0: unused
  uint32_t size;
  std::array<std::byte*, kCacheMax> segments;
};

struct ThreadCache {
  std::array<CacheSlot, kCacheSlots> slots;
  uint32_t next_victim;
  bool flusher_armed;  // ThreadExitFlusher is registered for this thread
  bool exited;         // the thread's caches were flushed at exit; bypass them from now on

  CacheSlot* Find(uint64_t pool_id) {
    for (CacheSlot& slot : slots) {
      if (slot.pool_id == pool_id) return &slot;
    }
    return nullptr;
  }
};

constinit thread_local ThreadCache t_cache{};

}  // namespace

struct SegmentPool::Impl {
  uint64_t id = 0;
  std::byte* memory = nullptr;
  size_t bytes = 0;
  uint32_t segment_size = 0;
  size_t count = 0;
  uint32_t cache_limit = kCacheMax;  // <= kCacheMax
  uint32_t batch = kCacheMax / 2;    // segments moved per refill or spill
  int numa_node = -1;
  bool numa_bound = false;
  std::string config_key;
  // Keeps the hwloc topology alive for hwloc_free when the memory came from hwloc_alloc_membind.
  std::optional<Topology> hwloc_owner;

  std::mutex mutex;
  std::vector<std::byte*> shared;        // GUARDED_BY(mutex); capacity() == count, never grows
  std::atomic<size_t> shared_count{0};   // shared.size(), for available(); relaxed, a hint

  // Fault-ahead (Options::fault_ahead_bytes). Segments leave the shared list lowest address first
  // and come back on top of it, so every segment above the high-water mark is fresh and the next
  // ones a thread takes lie just above it: keeping [0, high_water + ahead) faulted covers them,
  // and also the segments taken in a batch into a thread's cache but not used yet (populating a
  // page already in use costs a page-table walk and changes nothing). The thread is woken only
  // when the mark passes the middle of the faulted lead, i.e. once per ahead/2 bytes taken, from
  // Take's slow path.
  size_t fault_ahead = 0;
  size_t high_water = 0;  // GUARDED_BY(mutex): bytes from `memory` to the end of the highest taken
  size_t faulted = 0;     // GUARDED_BY(mutex): [0, faulted) is faulted in
  bool stopping = false;  // GUARDED_BY(mutex)
  std::condition_variable fault_wanted;
  std::thread fault_thread;

  void Give(std::byte* const* segments, size_t n) {
    std::lock_guard lock(mutex);
    WEIR_CHECK(shared.size() + n <= count);  // more returned than exist: a double release
    shared.insert(shared.end(), segments, segments + n);
    shared_count.store(shared.size(), std::memory_order_relaxed);
  }

  size_t Take(std::byte** out, size_t n) {
    std::lock_guard lock(mutex);
    const size_t taken = std::min(n, shared.size());
    std::copy(shared.end() - static_cast<std::ptrdiff_t>(taken), shared.end(), out);
    shared.resize(shared.size() - taken);
    shared_count.store(shared.size(), std::memory_order_relaxed);
    if (fault_ahead != 0 && taken != 0) {
      const std::byte* highest = *std::max_element(out, out + taken);
      high_water = std::max(high_water, static_cast<size_t>(highest - memory) + segment_size);
      if (high_water + fault_ahead / 2 > faulted) fault_wanted.notify_one();
    }
    return taken;
  }

  // The fault-ahead thread: faults [faulted, high_water + ahead) in 2 MiB steps, then sleeps.
  void FaultAhead() {
    UnpinCurrentThread();
    constexpr size_t kStep = size_t{2} << 20;
    std::unique_lock lock(mutex);
    while (true) {
      fault_wanted.wait(lock, [&] {
        return stopping || faulted < std::min(bytes, high_water + fault_ahead);
      });
      if (stopping) return;
      const size_t begin = faulted;
      const size_t end = std::min({bytes, high_water + fault_ahead, begin + kStep});
      faulted = end;  // claimed before the work, so Take does not wake this thread for it again
      lock.unlock();
      // Not MADV_POPULATE_WRITE alone, which holds the memory-map lock while the kernel compacts
      // memory for a huge page: milliseconds in which a task's mmap or heap growth waited.
      if (end > begin) FaultInPages(memory + begin, end - begin);
      lock.lock();
    }
  }

  void StopFaultAhead() {
    if (!fault_thread.joinable()) return;
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    fault_wanted.notify_one();
    fault_thread.join();
  }
};

namespace {

// Gives the thread's cached segments back to their pools when the thread exits.
struct ThreadExitFlusher {
  ~ThreadExitFlusher() {
    Registry& registry = LivePools();
    std::lock_guard lock(registry.mutex);
    for (CacheSlot& slot : t_cache.slots) {
      if (slot.size > 0) {
        if (SegmentPool::Impl* pool = registry.Find(slot.pool_id)) {
          pool->Give(slot.segments.data(), slot.size);
        }
      }
      slot.pool_id = 0;
      slot.size = 0;
    }
    t_cache.exited = true;
  }
};

thread_local ThreadExitFlusher t_flusher;

// A slot of this thread for `pool`, or nullptr once the thread is exiting (its caches are gone;
// the caller then uses the shared list directly). Slow path: takes the registry mutex.
CacheSlot* ClaimSlot(SegmentPool::Impl* pool) {
  ThreadCache& cache = t_cache;
  if (cache.exited) return nullptr;
  if (!cache.flusher_armed) {
    cache.flusher_armed = true;
    (void)&t_flusher;  // first odr-use constructs it and registers its destructor for this thread
  }
  Registry& registry = LivePools();
  std::lock_guard lock(registry.mutex);
  CacheSlot* claimed = nullptr;
  for (CacheSlot& slot : cache.slots) {
    if (slot.pool_id != 0 && registry.Find(slot.pool_id) == nullptr) {
      slot.pool_id = 0;  // stale: its pool was destroyed, its pointers are dead
      slot.size = 0;
    }
    if (slot.pool_id == 0 && claimed == nullptr) claimed = &slot;
  }
  if (claimed == nullptr) {
    claimed = &cache.slots[cache.next_victim++ % kCacheSlots];
    if (claimed->size > 0) registry.Find(claimed->pool_id)->Give(claimed->segments.data(), claimed->size);
  }
  claimed->pool_id = pool->id;
  claimed->size = 0;
  return claimed;
}

size_t PageSize() {
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<size_t>(page) : 4096;
}

}  // namespace

Result<std::unique_ptr<SegmentPool>> SegmentPool::Create(const Options& options) {
  const uint64_t size = options.segment_size;
  if (size < 4096 || size > (uint64_t{1} << 30) || (size & (size - 1)) != 0) {
    return InvalidArgument(
        "segment size must be a power of two between 4 KiB and 1 GiB, got {} bytes ({})", size,
        options.config_key);
  }
  if (options.segment_count < 1) {
    return InvalidArgument("a segment pool needs at least one segment ({})", options.config_key);
  }
  if (options.segment_count > (uint64_t{1} << 40) / size) {
    return InvalidArgument("a pool of {} segments of {} bytes is larger than 1 TiB ({})",
                           options.segment_count, size, options.config_key);
  }
  if (options.numa_node < -1) {
    return InvalidArgument("NUMA node {} does not exist (use -1 for no binding)", options.numa_node);
  }
  const bool bind = options.topology != nullptr && options.numa_node >= 0;
  if (bind && options.numa_node >= options.topology->num_numa_nodes()) {
    return InvalidArgument("NUMA node {} does not exist; the machine has {}", options.numa_node,
                           options.topology->num_numa_nodes());
  }

  auto impl = std::make_unique<Impl>();
  impl->id = g_next_pool_id.fetch_add(1, std::memory_order_relaxed);
  impl->segment_size = options.segment_size;
  impl->count = options.segment_count;
  impl->bytes = size * options.segment_count;
  impl->numa_node = options.numa_node;
  impl->config_key = options.config_key;
  // Small pools keep small caches, so that few free segments hide in other threads' caches.
  impl->cache_limit = static_cast<uint32_t>(std::clamp<size_t>(options.segment_count / 16, 1, kCacheMax));
  impl->batch = std::max<uint32_t>(1, impl->cache_limit / 2);

  void* memory = nullptr;
  if (bind && !options.topology->is_synthetic() && options.topology->hwloc_handle() != nullptr) {
    auto topology = static_cast<hwloc_topology_t>(options.topology->hwloc_handle());
    hwloc_obj_t node = hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE,
                                             static_cast<unsigned>(options.numa_node));
    WEIR_CHECK(node != nullptr);  // num_numa_nodes() counts these objects
    // Not STRICT: where the kernel refuses binding (no NUMA support, a container without
    // mbind), hwloc still returns memory, unbound; the pool works, only without locality.
    memory = hwloc_alloc_membind(topology, impl->bytes, node->nodeset, HWLOC_MEMBIND_BIND,
                                 HWLOC_MEMBIND_BYNODESET);
    if (memory == nullptr) {
      return ErrnoStatus(errno, fmt::format("allocating {} bytes on NUMA node {} for a segment pool ({})",
                                            impl->bytes, options.numa_node, options.config_key));
    }
    impl->hwloc_owner.emplace(*options.topology);
    hwloc_nodeset_t bound = hwloc_bitmap_alloc();
    hwloc_membind_policy_t policy;
    // The first page tells whether the kernel took the binding (it applies to the whole area):
    // asking about the whole area costs a get_mempolicy syscall per page, about a second for a
    // few GiB of managed memory at every job start.
    impl->numa_bound = hwloc_get_area_membind(topology, memory, PageSize(), bound, &policy,
                                              HWLOC_MEMBIND_BYNODESET) == 0 &&
                       policy == HWLOC_MEMBIND_BIND && hwloc_bitmap_isequal(bound, node->nodeset);
    hwloc_bitmap_free(bound);
  } else {
    // Mapped 2 MiB-aligned (the slack around the aligned range unmapped again), so that every
    // 2 MiB of the pool can be a transparent huge page.
    const size_t mapped = impl->bytes + kHugePageBytes;
    memory = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      return ErrnoStatus(errno, fmt::format("allocating {} bytes for a segment pool ({})",
                                            impl->bytes, options.config_key));
    }
    const auto address = reinterpret_cast<uintptr_t>(memory);
    const uintptr_t aligned = (address + kHugePageBytes - 1) & ~uintptr_t{kHugePageBytes - 1};
    if (aligned > address) ::munmap(memory, aligned - address);
    if (address + mapped > aligned + impl->bytes) {
      ::munmap(reinterpret_cast<void*>(aligned + impl->bytes), address + mapped - aligned - impl->bytes);
    }
    memory = reinterpret_cast<void*>(aligned);
  }
  // Keyed state is probed at random addresses over the whole pool: with 4 KiB pages a table of
  // hundreds of MiB misses the TLB on nearly every probe and pays a page walk on top of the cache
  // miss. Huge pages where the kernel can supply them: a hint, which THP's "madvise" mode (the
  // development VM's) requires and "never" ignores. Measured on the checkpoint job (1 GB of
  // state): +9% records/s with checkpoints, and more without (docs/checkpoints.md).
  ::madvise(memory, impl->bytes, MADV_HUGEPAGE);
  impl->memory = static_cast<std::byte*>(memory);
  if (options.prefault) {
    // One write per page faults it in now (on the bound node), not on the record path.
    const size_t page = PageSize();
    volatile std::byte* bytes = impl->memory;
    for (size_t offset = 0; offset < impl->bytes; offset += page) bytes[offset] = std::byte{0};
  }
  if (!options.prefault && options.fault_ahead_bytes != 0) {
    impl->fault_ahead = std::min(options.fault_ahead_bytes, impl->bytes);
    try {
      impl->fault_thread = std::thread([raw = impl.get()] { raw->FaultAhead(); });
    } catch (const std::system_error&) {
      impl->fault_ahead = 0;  // no thread: threads fault their own pages
    }
  }
  impl->shared.reserve(impl->count);
  // Reversed, so that the first segments handed out are the lowest addresses.
  for (size_t i = impl->count; i-- > 0;) impl->shared.push_back(impl->memory + i * size);
  impl->shared_count.store(impl->count, std::memory_order_relaxed);
  {
    Registry& registry = LivePools();
    std::lock_guard lock(registry.mutex);
    registry.pools.emplace_back(impl->id, impl.get());
  }
  return std::unique_ptr<SegmentPool>(new SegmentPool(std::move(impl)));
}

SegmentPool::SegmentPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SegmentPool::~SegmentPool() {
  impl_->StopFaultAhead();
  {
    Registry& registry = LivePools();
    std::lock_guard lock(registry.mutex);
    std::erase_if(registry.pools, [this](const auto& entry) { return entry.first == impl_->id; });
  }
  // This thread's slot is freed now; other threads' slots for the pool are recognised as stale.
  if (CacheSlot* slot = t_cache.Find(impl_->id)) {
    slot->pool_id = 0;
    slot->size = 0;
  }
  if (impl_->hwloc_owner.has_value()) {
    hwloc_free(static_cast<hwloc_topology_t>(impl_->hwloc_owner->hwloc_handle()), impl_->memory,
               impl_->bytes);
  } else {
    ::munmap(impl_->memory, impl_->bytes);
  }
}

Segment SegmentPool::TryAcquire() {
  Impl& impl = *impl_;
  CacheSlot* slot = t_cache.Find(impl.id);
  if (slot != nullptr && slot->size > 0) [[likely]] {
    return Segment(slot->segments[--slot->size], impl.segment_size, this);
  }
  if (slot == nullptr) slot = ClaimSlot(&impl);
  if (slot == nullptr) {
    std::byte* data = nullptr;
    return impl.Take(&data, 1) == 1 ? Segment(data, impl.segment_size, this) : Segment();
  }
  slot->size = static_cast<uint32_t>(impl.Take(slot->segments.data(), impl.batch));
  if (slot->size == 0) return Segment();
  return Segment(slot->segments[--slot->size], impl.segment_size, this);
}

Result<Segment> SegmentPool::Acquire() {
  Segment segment = TryAcquire();
  if (!segment) [[unlikely]] {
    return ResourceExhausted(
        "segment pool exhausted: all {} segments of {} ({}) are in use or cached by other "
        "threads; raise {}",
        impl_->count, MemoryBudget::FormatBytes(impl_->segment_size),
        MemoryBudget::FormatBytes(static_cast<int64_t>(impl_->bytes)), impl_->config_key);
  }
  return segment;
}

void SegmentPool::Release(std::byte* data) {
  Impl& impl = *impl_;
  WEIR_DCHECK(data >= impl.memory && data < impl.memory + impl.bytes);
  WEIR_DCHECK((static_cast<size_t>(data - impl.memory) & (impl.segment_size - 1)) == 0);
  CacheSlot* slot = t_cache.Find(impl.id);
  if (slot != nullptr && slot->size < impl.cache_limit) [[likely]] {
    slot->segments[slot->size++] = data;
    return;
  }
  if (slot == nullptr) slot = ClaimSlot(&impl);
  if (slot == nullptr) {
    impl.Give(&data, 1);
    return;
  }
  if (slot->size == impl.cache_limit) {
    impl.Give(slot->segments.data() + slot->size - impl.batch, impl.batch);
    slot->size -= impl.batch;
  }
  slot->segments[slot->size++] = data;
}

void Segment::Reset() {
  if (data_ != nullptr) {
    pool_->Release(data_);
    data_ = nullptr;
  }
}

uint32_t SegmentPool::segment_size() const { return impl_->segment_size; }
size_t SegmentPool::capacity() const { return impl_->count; }
size_t SegmentPool::available() const {
  const CacheSlot* slot = t_cache.Find(impl_->id);
  return impl_->shared_count.load(std::memory_order_relaxed) + (slot != nullptr ? slot->size : 0);
}
int SegmentPool::numa_node() const { return impl_->numa_node; }
bool SegmentPool::numa_bound() const { return impl_->numa_bound; }

}  // namespace weir::memory
