#include "memory/segment_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/check.h"
#include "memory/topology.h"

namespace weir::memory {

// Free segments live in a shared list (under a mutex) and in per-thread caches. A thread keeps,
// for each of a few pools it uses, up to kCacheMax free segments in a thread_local slot tagged
// with the pool's unique id; Acquire/Release touch only that slot, and move half a cache to or
// from the shared list when it runs dry or full. Ids are never reused, so a slot left over from a
// destroyed pool is recognised and dropped (its pointers pointed into the freed pool's memory and
// are never handed out). A thread that exits returns its cached segments if the pool still lives,
// found through a registry of live pools.
namespace {

constexpr size_t kCacheMax = 32;
constexpr size_t kCacheSlots = 4;

std::atomic<uint64_t> g_next_pool_id{1};

struct LivePools {
  std::mutex mutex;
  std::vector<std::pair<uint64_t, SegmentPool::Impl*>> pools;
};
LivePools& Live() {
  static LivePools* live = new LivePools();  // never destroyed: thread exit may run after statics
  return *live;
}

}  // namespace

struct SegmentPool::Impl {
  uint64_t id = 0;
  std::byte* memory = nullptr;
  size_t bytes = 0;
  uint32_t segment_size = 0;
  size_t count = 0;
  size_t cache_limit = kCacheMax;
  int numa_node = -1;
  std::string config_key;

  std::mutex mutex;
  std::vector<std::byte*> shared;  // GUARDED_BY(mutex)
  std::atomic<size_t> shared_count{0};

  void Give(std::byte* const* segments, size_t n) {
    std::lock_guard lock(mutex);
    shared.insert(shared.end(), segments, segments + n);
    shared_count.store(shared.size(), std::memory_order_relaxed);
  }
  size_t Take(std::byte** out, size_t n) {
    std::lock_guard lock(mutex);
    const size_t taken = std::min(n, shared.size());
    std::copy(shared.end() - static_cast<std::ptrdiff_t>(taken), shared.end(), out);
    shared.resize(shared.size() - taken);
    shared_count.store(shared.size(), std::memory_order_relaxed);
    return taken;
  }
};

namespace {

struct CacheSlot {
  uint64_t pool_id = 0;
  SegmentPool::Impl* pool = nullptr;
  size_t size = 0;
  std::array<std::byte*, kCacheMax> segments;
};

struct ThreadCaches {
  std::array<CacheSlot, kCacheSlots> slots;
  size_t next_victim = 0;

  ~ThreadCaches() {
    LivePools& live = Live();
    std::lock_guard lock(live.mutex);
    for (CacheSlot& slot : slots) {
      if (slot.size == 0) continue;
      for (auto& [id, pool] : live.pools) {
        if (id == slot.pool_id) pool->Give(slot.segments.data(), slot.size);
      }
    }
  }

  CacheSlot& For(SegmentPool::Impl* pool) {
    for (CacheSlot& slot : slots) {
      if (slot.pool_id == pool->id) return slot;
    }
    // Take an empty or stale slot, or evict one (returning its segments to its pool, which is
    // alive if its id is registered).
    for (CacheSlot& slot : slots) {
      if (slot.pool_id == 0) return Claim(slot, pool);
    }
    CacheSlot& victim = slots[next_victim++ % kCacheSlots];
    if (victim.size > 0) {
      LivePools& live = Live();
      std::lock_guard lock(live.mutex);
      for (auto& [id, live_pool] : live.pools) {
        if (id == victim.pool_id) live_pool->Give(victim.segments.data(), victim.size);
      }
    }
    return Claim(victim, pool);
  }

  static CacheSlot& Claim(CacheSlot& slot, SegmentPool::Impl* pool) {
    slot.pool_id = pool->id;
    slot.pool = pool;
    slot.size = 0;
    return slot;
  }
};

thread_local ThreadCaches t_caches;

}  // namespace

Result<std::unique_ptr<SegmentPool>> SegmentPool::Create(const Options& options) {
  const uint64_t size = options.segment_size;
  if (size < 4096 || size > (uint64_t{1} << 30) || (size & (size - 1)) != 0) {
    return InvalidArgument("segment size must be a power of two between 4 KiB and 1 GiB, got {} bytes",
                           size);
  }
  if (options.segment_count < 1) return InvalidArgument("a segment pool needs at least one segment");
  if (options.segment_count > (uint64_t{1} << 40) / size) {
    return InvalidArgument("a pool of {} segments of {} bytes is too large", options.segment_count, size);
  }
  auto impl = std::make_unique<Impl>();
  impl->id = g_next_pool_id.fetch_add(1);
  impl->segment_size = options.segment_size;
  impl->count = options.segment_count;
  impl->bytes = size * options.segment_count;
  impl->numa_node = options.numa_node;
  impl->config_key = options.config_key;
  // Small pools keep small caches, so free segments do not hide in other threads' caches.
  impl->cache_limit = std::clamp<size_t>(options.segment_count / 16, 1, kCacheMax);
  void* memory = ::mmap(nullptr, impl->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    return ErrnoStatus(errno, fmt::format("allocating {} MiB for a segment pool ({})",
                                          impl->bytes >> 20, options.config_key));
  }
  impl->memory = static_cast<std::byte*>(memory);
  if (options.topology != nullptr && options.numa_node >= 0) {
    // Best effort: on a machine without NUMA support the pool simply stays unbound.
    (void)options.topology->BindMemory(memory, impl->bytes, options.numa_node);
  }
  if (options.prefault) {
    for (size_t offset = 0; offset < impl->bytes; offset += 4096) impl->memory[offset] = std::byte{0};
  }
  impl->shared.reserve(impl->count);
  for (size_t i = impl->count; i-- > 0;) impl->shared.push_back(impl->memory + i * size);
  impl->shared_count.store(impl->count);
  {
    LivePools& live = Live();
    std::lock_guard lock(live.mutex);
    live.pools.emplace_back(impl->id, impl.get());
  }
  return std::unique_ptr<SegmentPool>(new SegmentPool(std::move(impl)));
}

SegmentPool::SegmentPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SegmentPool::~SegmentPool() {
  {
    LivePools& live = Live();
    std::lock_guard lock(live.mutex);
    std::erase_if(live.pools, [this](const auto& entry) { return entry.first == impl_->id; });
  }
  // This thread's cache slot for the pool is dropped now; other threads' are recognised as stale.
  for (CacheSlot& slot : t_caches.slots) {
    if (slot.pool_id == impl_->id) slot = CacheSlot();
  }
  ::munmap(impl_->memory, impl_->bytes);
}

Segment SegmentPool::TryAcquire() {
  CacheSlot& slot = t_caches.For(impl_.get());
  if (slot.size == 0) {
    slot.size = impl_->Take(slot.segments.data(), std::max<size_t>(1, impl_->cache_limit / 2));
    if (slot.size == 0) return Segment();
  }
  return Segment(slot.segments[--slot.size], impl_->segment_size, this);
}

Result<Segment> SegmentPool::Acquire() {
  Segment segment = TryAcquire();
  if (!segment) {
    return ResourceExhausted("all {} segments of {} KiB ({} MiB) are in use; raise {}", impl_->count,
                             impl_->segment_size >> 10, impl_->bytes >> 20, impl_->config_key);
  }
  return segment;
}

void SegmentPool::Release(std::byte* data) {
  WEIR_DCHECK(data >= impl_->memory && data < impl_->memory + impl_->bytes);
  CacheSlot& slot = t_caches.For(impl_.get());
  if (slot.size == impl_->cache_limit) {
    const size_t spill = std::max<size_t>(1, impl_->cache_limit / 2);
    impl_->Give(slot.segments.data() + slot.size - spill, spill);
    slot.size -= spill;
  }
  slot.segments[slot.size++] = data;
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
  size_t cached = 0;
  for (const CacheSlot& slot : t_caches.slots) {
    if (slot.pool_id == impl_->id) cached += slot.size;
  }
  return impl_->shared_count.load(std::memory_order_relaxed) + cached;
}
int SegmentPool::numa_node() const { return impl_->numa_node; }

}  // namespace weir::memory
