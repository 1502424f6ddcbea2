#include "state/state_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <limits>
#include <mutex>
#include <new>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "memory/topology.h"
#include "state/key_groups.h"

namespace weir::state {
namespace {

constexpr size_t kInitialCapacity = 16;

// Zeroes the padding after `size` bytes at `data` up to the next multiple of 8, so segments hold
// no stale bytes from their previous use (a snapshot writes them out as they are).
void ZeroPadding(std::byte* data, size_t size) {
  const size_t padded = (size + 7) & ~size_t{7};
  if (padded != size) std::memset(data + size, 0, padded - size);
}

constexpr size_t kTombstoneRecordSize = 12;
// An override record: u64 piece id, u32 offset of the entry in that piece, u32 entry size, then
// the entry (size bytes, a multiple of 8).
constexpr size_t kOverrideHeaderSize = 16;
constexpr size_t kEntryHeaderBytes = StateTable::kEntryHeaderSize;

// Override gathers' mappings, kept idle between snapshots so that the next gather reuses one. A
// fresh mapping of hundreds of MB is zeroed by the kernel page by page as the gather first writes
// it: `clear_page` was 9.9% of all the checkpoint job's samples, memory traffic on the writer's
// core that the task's probes on the other core compete with. A gather writes every byte it
// uses, so a reused mapping needs no zeroing. At most kIdleGatherMappings are kept (the largest):
// memory outside the managed budget, about one checkpoint's overrides per table that writes them.
class IdleGatherMappings {
 public:
  // An idle mapping of at least `bytes`, or null.
  static std::shared_ptr<memory::Mapping> Take(size_t bytes) {
    IdleGatherMappings& idle = Get();
    std::lock_guard lock(idle.mutex_);
    auto best = idle.mappings_.end();
    for (auto it = idle.mappings_.begin(); it != idle.mappings_.end(); ++it) {
      if ((*it)->size() >= bytes && (best == idle.mappings_.end() || (*it)->size() < (*best)->size())) best = it;
    }
    if (best == idle.mappings_.end()) return nullptr;
    std::shared_ptr<memory::Mapping> taken = std::move(*best);
    idle.mappings_.erase(best);
    return taken;
  }
  // Keeps `mapping` for a later Take; the smallest beyond the limit is unmapped on the helper
  // thread (any thread may call this: a snapshot is destroyed where its last holder lets go).
  static void Give(std::shared_ptr<memory::Mapping> mapping) {
    IdleGatherMappings& idle = Get();
    std::shared_ptr<memory::Mapping> dropped;
    {
      std::lock_guard lock(idle.mutex_);
      idle.mappings_.push_back(std::move(mapping));
      if (idle.mappings_.size() > kIdleGatherMappings) {
        auto smallest = std::min_element(idle.mappings_.begin(), idle.mappings_.end(),
                                         [](const auto& a, const auto& b) { return a->size() < b->size(); });
        dropped = std::move(*smallest);
        idle.mappings_.erase(smallest);
      }
    }
    if (dropped != nullptr) memory::Mapping::ReleaseInBackground(std::move(dropped));
  }

 private:
  static constexpr size_t kIdleGatherMappings = 2;
  static IdleGatherMappings& Get() {
    static auto* const idle = new IdleGatherMappings();  // never destroyed: snapshots may outlive exit
    return *idle;
  }
  std::mutex mutex_;
  std::vector<std::shared_ptr<memory::Mapping>> mappings_;
};
// Faults in, on a thread of its own, the memory of the segments a restore is about to copy into,
// in the order the copy fills them. First-touch page faults (the kernel zeroing each fresh page)
// are most of a large restore's cost: measured on the development VM, a 1 GB restore spent 40% of
// its samples in clear_page. The task thread copies behind the prefaulter, so on a second core the
// two halve that cost; the task thread faults whatever the prefaulter has not reached yet itself.
// MADV_POPULATE_WRITE only fills page tables and never changes a byte, so it may run while the
// task thread writes the same pages. Best effort: without the call (a kernel before 5.14) or a
// thread, the copy faults as before.
class SegmentPrefaulter {
 public:
  explicit SegmentPrefaulter(std::vector<std::span<std::byte>> ranges) : ranges_(std::move(ranges)) {
    if (ranges_.empty()) return;
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      // No thread: the task thread faults the pages itself.
    }
  }
  SegmentPrefaulter(const SegmentPrefaulter&) = delete;
  SegmentPrefaulter& operator=(const SegmentPrefaulter&) = delete;
  ~SegmentPrefaulter() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    memory::UnpinCurrentThread();  // the task thread may be pinned: fault beside the copy
    for (const std::span<std::byte> range : ranges_) {
      if (stop_.load(std::memory_order_relaxed)) return;
      if (::madvise(range.data(), range.size(), MADV_POPULATE_WRITE) != 0) return;
    }
  }

  const std::vector<std::span<std::byte>> ranges_;
  std::atomic<bool> stop_{false};  // set when the restore no longer needs it (done or failed)
  std::thread thread_;
};

// Prefaulted ranges are at most this long, so the prefaulter notices a stop soon and stays only a
// little ahead of where it is useful.
constexpr size_t kPrefaultRangeBytes = size_t{2} << 20;

// Piece ids: a random per-process prefix in the high 32 bits, a counter in the low ones, so pieces
// of different runs writing into the same checkpoint directory never share an id.
uint64_t NextPieceId() {
  static const uint64_t prefix = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32);
  }();
  static std::atomic<uint32_t> counter{0};
  return prefix | counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// Segments (and their budget reservation) a destroyed table handed to its unreleased snapshots;
// the last snapshot holding them returns them to the pool.
struct OrphanedSegments {
  std::vector<memory::Segment> segments;
  memory::MemoryBudget::Reservation reservation;
};

// The dirty entries of one segment (see state_table.h, "In-place writes and overrides"): a bit
// per 8-byte unit of the segment at `base`, whose pieces are a snapshot's pieces_[first_piece,
// +piece_count).
struct SnapshotOverrideSource {
  const std::byte* base;
  std::unique_ptr<uint64_t[]> dirty;
  size_t first_piece;
  size_t piece_count;
  size_t bytes;  // of the dirty entries
};

// The dead entries of the segments a snapshot resealed, for its writer to flag (see Reseal): per
// segment, the bits its sealed_dead held at the snapshot, which the segment keeps as resealed_dead
// (deaths after the snapshot go to a fresh sealed_dead: the checkpoint holds those entries). The
// flags must be in the headers before anyone reads the new pieces' bytes and before the segment
// is unpinned or resealed again: Finish, which the snapshot calls before it hands out its pieces,
// releases any of them or goes, and the table before its next snapshot and when it goes.
struct ResealMarks {
  enum : uint8_t { kDone = 0, kPending = 1, kClaimed = 2 };
  std::vector<StateTable::DeathMarks> marks;
  std::atomic<uint8_t> state{kDone};

  // Flags the deaths on this thread, or waits for the thread that claimed them.
  void Finish() {
    uint8_t current = state.load(std::memory_order_acquire);
    if (current == kDone) return;
    if (current == kPending && state.compare_exchange_strong(current, kClaimed, std::memory_order_acquire)) {
      StateTable::FlagMarkedDeaths(marks);
      state.store(kDone, std::memory_order_release);
      state.notify_all();
      return;
    }
    while ((current = state.load(std::memory_order_acquire)) != kDone) state.wait(current, std::memory_order_acquire);
  }
};

// The one word the table and a snapshot share. The snapshot's destructor sets `released` (any
// thread; release order, so the writer's last reads of the pinned bytes happen before the table
// writes them again); the task thread reads it with acquire order. `mutex` serializes that
// destructor with the table's destructor handing over `orphans`.
struct StateTable::SnapshotPin {
  std::atomic<bool> released{false};
  // Pieces of the list the writer will not read again (TableSnapshot::ReleasePieces); release
  // order, read by the task thread with acquire order.
  std::atomic<size_t> released_pieces{0};
  std::mutex mutex;
  std::shared_ptr<OrphanedSegments> orphans;  // GUARDED_BY(mutex)
  // The released snapshot's piece list, emptied, for the table's next snapshot to reuse: a fresh
  // list of 30 000 pieces is a megabyte of pages faulted on the task thread at every checkpoint
  // (5-13 ms on the development VM, where first touches are slow). GUARDED_BY(mutex)
  std::vector<TablePiece> recycled_pieces;
  // The released snapshot's dirty bitmaps, zeroed, and its emptied list of them, for the table to
  // reuse: every segment written since a checkpoint needs a fresh bitmap after the next one, and
  // allocating and zeroing 30 000 of them on the task thread (half a kilobyte each, 15 MB) after
  // each checkpoint of a 1 GB table was a burst of page faults right when a checkpoint starts.
  // GUARDED_BY(mutex)
  std::vector<std::unique_ptr<uint64_t[]>> recycled_dirty;
  std::vector<SnapshotOverrideSource> recycled_overrides;  // GUARDED_BY(mutex)
  ResealMarks marks;
};

namespace {

class StateTableSnapshot final : public TableSnapshot {
 public:
  StateTableSnapshot(std::shared_ptr<void> pin, std::atomic<bool>* released,
                     std::atomic<size_t>* released_pieces, std::mutex* mutex,
                     std::shared_ptr<OrphanedSegments>* orphans,
                     std::vector<TablePiece>* recycled_pieces,
                     std::vector<std::unique_ptr<uint64_t[]>>* recycled_dirty,
                     std::vector<SnapshotOverrideSource>* recycled_overrides, ResealMarks* marks)
      : pin_(std::move(pin)),
        released_(released),
        released_pieces_(released_pieces),
        mutex_(mutex),
        orphans_(orphans),
        recycled_pieces_(recycled_pieces),
        recycled_dirty_(recycled_dirty),
        recycled_overrides_(recycled_overrides),
        marks_(marks) {}
  ~StateTableSnapshot() override {
    // Flags a never-written snapshot's reseals still owe (an aborted checkpoint): the pieces stay
    // in memory, and a later full snapshot writes them again.
    marks_->Finish();
    if (override_mapping_ != nullptr) IdleGatherMappings::Give(std::move(override_mapping_));
    std::shared_ptr<OrphanedSegments> orphans;
    pieces_.clear();
    // Bitmaps of a snapshot whose overrides were never gathered (an aborted checkpoint).
    std::vector<std::unique_ptr<uint64_t[]>> bitmaps = TakeZeroedBitmaps();
    {
      std::lock_guard<std::mutex> lock(*mutex_);
      *recycled_pieces_ = std::move(pieces_);
      for (auto& bitmap : bitmaps) recycled_dirty_->push_back(std::move(bitmap));
      if (overrides_.capacity() > recycled_overrides_->capacity()) *recycled_overrides_ = std::move(overrides_);
      released_->store(true, std::memory_order_release);
      orphans = std::move(*orphans_);
    }
    // `orphans` goes here, outside the lock: the last holder returns the segments to the pool.
  }
  StateTableSnapshot(const StateTableSnapshot&) = delete;
  StateTableSnapshot& operator=(const StateTableSnapshot&) = delete;

  // The override piece's bytes are gathered here, at the first call (on the checkpoint writer's
  // thread in a job): the segments they come from are pinned until the snapshot goes.
  // So are the dead flags of the resealed segments (ResealMarks), before any piece is read.
  const std::vector<TablePiece>& pieces() const override {
    marks_->Finish();
    if (!overrides_.empty()) GatherOverrides();
    return pieces_;
  }
  size_t entries() const override { return entries_; }
  void ReleasePieces(size_t count) override {
    marks_->Finish();  // before the segments can be unpinned
    size_t current = released_pieces_->load(std::memory_order_relaxed);
    while (count > current &&
           !released_pieces_->compare_exchange_weak(current, count, std::memory_order_release,
                                                    std::memory_order_relaxed)) {
    }
  }

  using OverrideSource = SnapshotOverrideSource;

  mutable std::vector<TablePiece> pieces_;
  size_t entries_ = 0;
  std::vector<std::shared_ptr<const std::vector<std::byte>>> tombstone_bytes_;
  mutable std::vector<OverrideSource> overrides_;
  size_t override_piece_ = 0;  // its position in pieces_
  size_t override_words_ = 0;  // words per dirty bitmap
  // The override piece's bytes: a mapping, or this vector when the system refuses one.
  mutable std::shared_ptr<memory::Mapping> override_mapping_;
  mutable std::vector<std::byte> override_fallback_;

 private:
  std::shared_ptr<void> pin_;
  std::atomic<bool>* released_;
  std::atomic<size_t>* released_pieces_;
  std::mutex* mutex_;
  std::shared_ptr<OrphanedSegments>* orphans_;
  std::vector<TablePiece>* recycled_pieces_;
  std::vector<std::unique_ptr<uint64_t[]>>* recycled_dirty_;
  std::vector<SnapshotOverrideSource>* recycled_overrides_;
  ResealMarks* marks_;

  // Empties overrides_ (keeping its capacity) and returns its bitmaps, zeroed.
  std::vector<std::unique_ptr<uint64_t[]>> TakeZeroedBitmaps() const {
    std::vector<std::unique_ptr<uint64_t[]>> bitmaps;
    bitmaps.reserve(overrides_.size());
    for (OverrideSource& source : overrides_) {
      std::memset(source.dirty.get(), 0, override_words_ * sizeof(uint64_t));
      bitmaps.push_back(std::move(source.dirty));
    }
    overrides_.clear();
    return bitmaps;
  }

  void GatherOverrides() const {
    size_t total = 0;
    for (const OverrideSource& source : overrides_) total += source.bytes;
    // Each record is its entry and a 16-byte header; entries are at least 24 bytes. The records go
    // to a mapping of their own, on huge pages where it is large: hundreds of MB of fresh heap
    // took a page fault per 4 KiB on the writer's thread, half the gather's time on the
    // development VM, while every segment stays pinned.
    const size_t capacity = total + total / kEntryHeaderBytes * kOverrideHeaderSize;
    std::byte* out = nullptr;
    if (capacity != 0) {
      override_mapping_ = IdleGatherMappings::Take(capacity);
      // A new one with room for the next few checkpoints' growth, so that it is reused.
      if (override_mapping_ == nullptr) override_mapping_ = memory::Mapping::Create(capacity + capacity / 4);
      if (override_mapping_ != nullptr) {
        out = override_mapping_->data();
      } else {
        override_fallback_.resize(capacity);
        out = override_fallback_.data();
      }
    }
    size_t used = 0;
    // The dirty entries, in order (source, then offset), by two cursors: the one copying and one
    // kPrefetchAhead entries ahead of it, so the entries' cache misses overlap.
    struct Cursor {
      const std::vector<OverrideSource>* sources;
      size_t words;
      size_t source = 0;
      size_t word = 0;
      uint64_t bits = 0;
      bool started = false;
      // Moves to the next dirty entry; false at the end.
      bool Next() {
        if (started) bits &= bits - 1;
        started = true;
        while (bits == 0) {
          if (source >= sources->size()) return false;
          if (word >= words) {
            ++source;
            word = 0;
            continue;
          }
          bits = (*sources)[source].dirty[word++];
        }
        return true;
      }
      const std::byte* Entry() const {
        return (*sources)[source].base + (word - 1) * 512 + std::countr_zero(bits) * 8;
      }
    };
    constexpr int kPrefetchAhead = 16;
    Cursor ahead{&overrides_, override_words_};
    bool more_ahead = true;
    for (int i = 0; i < kPrefetchAhead && (more_ahead = ahead.Next()); ++i) {
      __builtin_prefetch(ahead.Entry());
    }
    Cursor copy{&overrides_, override_words_};
    size_t piece = 0;
    size_t current_source = ~size_t{0};
    while (copy.Next()) {
      if (more_ahead && (more_ahead = ahead.Next())) __builtin_prefetch(ahead.Entry());
      const OverrideSource& source = overrides_[copy.source];
      if (copy.source != current_source) {
        current_source = copy.source;
        piece = source.first_piece;
      }
      const size_t last_piece = source.first_piece + source.piece_count;
      const std::byte* entry = copy.Entry();
      // Offsets rise: the piece holding this one is the current one or a later one.
      while (piece + 1 < last_piece && pieces_[piece + 1].bytes.data() <= entry) ++piece;
      const TablePiece& target = pieces_[piece];
      WEIR_CHECK(entry >= target.bytes.data() && entry < target.bytes.data() + target.bytes.size());
      const auto in_piece = static_cast<uint32_t>(entry - target.bytes.data());
      const auto size = static_cast<uint32_t>(StateTable::StoredEntrySize(entry));
      WEIR_CHECK(used + kOverrideHeaderSize + size <= capacity);
      std::byte* record = out + used;
      std::memcpy(record, &target.id, 8);
      std::memcpy(record + 8, &in_piece, 4);
      std::memcpy(record + 12, &size, 4);
      std::memcpy(record + kOverrideHeaderSize, entry, size);
      used += kOverrideHeaderSize + size;
    }
    // The bitmaps go back to the table now (their segments stay pinned until the snapshot goes,
    // but the table only hands them out again for writes in place, to unpinned segments).
    std::vector<std::unique_ptr<uint64_t[]>> bitmaps = TakeZeroedBitmaps();
    {
      std::lock_guard<std::mutex> lock(*mutex_);
      for (auto& bitmap : bitmaps) recycled_dirty_->push_back(std::move(bitmap));
    }
    pieces_[override_piece_].bytes = std::span<const std::byte>(out, used);
  }
};

}  // namespace

StateTable::StateTable(memory::SegmentPool* pool, memory::MemoryBudget* budget, std::string owner)
    : pool_(pool),
      budget_(budget),
      owner_(std::move(owner)),
      segment_size_(pool->segment_size()),
      units_per_segment_bits_(std::countr_zero(segment_size_) - 3),
      units_per_segment_mask_((uint64_t{1} << units_per_segment_bits_) - 1) {
  WEIR_CHECK(budget_ != nullptr);
  WEIR_CHECK_MSG(std::has_single_bit(segment_size_) && segment_size_ >= 4096,
                 "segment size {} is not a power of two >= 4096", segment_size_);
  memory::Mapping::StartHelper();  // here, not at the first growth (see PrepareNextIndex)
}

StateTable::~StateTable() {
  CollectReleasedSnapshots();
  // The writers' flags read the segments' resealed_dead bits, which go with this table.
  for (PinRecord& record : pins_) record.pin->marks.Finish();
  if (!pins_.empty()) {
    // Hand the pinned segments, and the reservation for them and for the tombstone pieces the
    // snapshots hold, to the unreleased snapshots.
    auto orphans = std::make_shared<OrphanedSegments>();
    int64_t bytes = side_reserved_;
    for (SegmentState& state : segments_) {
      if (state.pins == 0) continue;
      orphans->segments.push_back(std::move(state.segment));
      bytes += segment_size_;
    }
    reservation_.Shrink(std::max<int64_t>(0, reservation_.bytes() - bytes));
    orphans->reservation = std::move(reservation_);
    for (PinRecord& record : pins_) {
      std::lock_guard<std::mutex> lock(record.pin->mutex);
      if (!record.pin->released.load(std::memory_order_acquire)) record.pin->orphans = orphans;
    }
  }
  if (slots_ != nullptr) FreeSlots(slots_, std::move(index_mapping_));
  if (old_slots_ != nullptr) FreeSlots(old_slots_, std::move(old_mapping_));
}

size_t StateTable::HomeIn(uint64_t slot, int bits, int shift) const {
  if (bits <= kTagBits) return (slot >> kRefBits) >> (kTagBits - bits);
  return EntryAt(slot)->hash >> shift;
}

bool StateTable::TakeFromOld(uint64_t hash, int key_group, std::string_view key,
                             std::string_view ns, size_t empty_slot) {
  const Probe old = LookupIn(old_slots_, old_shift_, old_mask_, hash, key_group, key, ns);
  if (!old.found) return false;
  slots_[empty_slot] = old_slots_[old.slot];
  RemoveSlotIn(old_slots_, old_mask_, old_bits_, old_shift_, old.slot);
  return true;
}

std::span<const std::byte> StateTable::GetFromOld(uint64_t hash, int key_group,
                                                  std::string_view key, std::string_view ns) const {
  const Probe old = LookupIn(old_slots_, old_shift_, old_mask_, hash, key_group, key, ns);
  if (!old.found) return {};
  const EntryHeader* header = EntryAt(old_slots_[old.slot]);
  return {ValueOf(header), header->value_size};
}

size_t StateTable::FirstEmptySlot(uint64_t hash) const {
  size_t index = hash >> shift_;
  while (slots_[index] != 0) index = (index + 1) & mask_;
  return index;
}

Result<std::span<std::byte>> StateTable::InsertZeroed(uint64_t hash, int key_group,
                                                      std::string_view key, std::string_view ns,
                                                      size_t value_size, size_t empty_slot,
                                                      bool* inserted) {
  // FindOrInsert's LookupForWrite, done here on its miss path to keep the inlined probe short.
  if (old_slots_ != nullptr && TakeFromOld(hash, key_group, key, ns, empty_slot)) {
    const uint64_t slot = slots_[empty_slot];
    EntryHeader* header = EntryAt(slot);
    if (IsSealed(slot, header)) return RelocateForWrite(empty_slot, /*may_compact=*/true);
    return std::span<std::byte>(ValueOf(header), header->value_size);
  }
  RETURN_IF_ERROR(CheckEntrySize(key.size(), ns.size(), value_size));
  ASSIGN_OR_RETURN(std::span<std::byte> value,
                   Insert(hash, key_group, key, ns, nullptr, value_size, empty_slot));
  *inserted = true;
  return value;
}

Result<std::span<std::byte>> StateTable::Put(uint64_t key_hash, int key_group,
                                             std::string_view key, std::string_view ns,
                                             std::span<const std::byte> value) {
  const uint64_t hash = SlotHash(key_hash, ns);
  size_t empty_slot = 0;
  if (capacity_ != 0) {
    const Probe probe = LookupForWrite(hash, key_group, key, ns);
    if (probe.found) {
      EntryHeader* header = EntryAt(slots_[probe.slot]);
      if (Align8(header->value_size) == Align8(value.size())) {
        if (IsSealed(slots_[probe.slot], header)) {
          // Written in place, or relocated; relocation leaves the old copy's bytes as they are (a
          // sealed entry dies in a bitmap), so `value` may still point into it.
          ASSIGN_OR_RETURN(const std::span<std::byte> moved,
                           WriteSealed(probe.slot, /*may_compact=*/false));
          (void)moved;
          header = EntryAt(slots_[probe.slot]);
        }
        std::byte* stored = ValueOf(header);
        if (!value.empty()) std::memmove(stored, value.data(), value.size());
        ZeroPadding(stored, value.size());
        header->value_size = static_cast<uint32_t>(value.size());
        return std::span<std::byte>(stored, value.size());
      }
      RETURN_IF_ERROR(CheckEntrySize(key.size(), ns.size(), value.size()));
      ASSIGN_OR_RETURN(const uint64_t ref,
                       Allocate(EntrySize(key.size(), ns.size(), value.size())));
      // The old entry stays intact until the new one is written: `value` may point into it.
      WriteEntry(ref, hash, key_group, key, ns, value.data(), value.size());
      MarkDead(slots_[probe.slot]);
      slots_[probe.slot] = (slots_[probe.slot] & ~kRefMask) | ref;
      // Compaction may move the new entry too; it keeps slot positions, so re-read the slot.
      MaybeCompact();
      EntryHeader* moved = EntryAt(slots_[probe.slot]);
      return std::span<std::byte>(ValueOf(moved), moved->value_size);
    }
    empty_slot = probe.slot;
  }
  RETURN_IF_ERROR(CheckEntrySize(key.size(), ns.size(), value.size()));
  return Insert(hash, key_group, key, ns, value.data(), value.size(), empty_slot);
}

Result<std::span<std::byte>> StateTable::Insert(uint64_t hash, int key_group,
                                                std::string_view key, std::string_view ns,
                                                const std::byte* value, size_t value_size,
                                                size_t empty_slot) {
  // A growth waits for the prepared index up to 7/8 full: mapping one here could wait milliseconds
  // for the memory-map lock (see PrepareNextIndex), longer probes for a while cost far less.
  if (size_ + 1 > grow_at_ && (next_index_ == nullptr || next_index_->ready() ||
                               size_ + 1 > capacity_ / 8 * 7)) [[unlikely]] {
    RETURN_IF_ERROR(Grow());
    empty_slot = FirstEmptySlot(hash);
  }
  ASSIGN_OR_RETURN(const uint64_t ref, Allocate(EntrySize(key.size(), ns.size(), value_size)));
  EntryHeader* header = WriteEntry(ref, hash, key_group, key, ns, value, value_size);
  slots_[empty_slot] = ((hash >> kRefBits) << kRefBits) | ref;
  ++size_;
  // Neither moves an entry, so the span stays valid (and no caller holds a slot position).
  if (old_slots_ != nullptr) {
    MigrateStep();
  } else if (size_ >= prepare_at_) [[unlikely]] {
    PrepareNextIndex();
  }
  return std::span<std::byte>(ValueOf(header), value_size);
}

bool StateTable::Remove(uint64_t key_hash, int key_group, std::string_view key,
                        std::string_view ns) {
  if (capacity_ == 0) return false;
  const uint64_t hash = SlotHash(key_hash, ns);
  const Probe probe = LookupForWrite(hash, key_group, key, ns);
  if (!probe.found) return false;
  MarkDead(slots_[probe.slot]);
  RemoveSlot(probe.slot);
  --size_;
  MaybeCompact();
  return true;
}

Status StateTable::CheckEntrySize(size_t key_size, size_t ns_size, size_t value_size) const {
  if (key_size > segment_size_ || ns_size > segment_size_ || value_size > segment_size_ ||
      EntrySize(key_size, ns_size, value_size) > segment_size_) {
    return InvalidArgument(
        "state of operator {}: an entry with a {}-byte key, {}-byte namespace and {}-byte value "
        "does not fit in a {}-byte state segment ({} bytes of header and padding included)",
        owner_, key_size, ns_size, value_size, segment_size_, kEntryHeaderSize);
  }
  return Status::Ok();
}

// An index of kMappedIndexBytes or more is a memory::Mapping, faulted in writable before use
// (ahead of time by the helper thread when PrepareNextIndex made it). It must not be left to
// first touch: inserts probe a slot before writing it, so each fresh page would first map the
// shared zero page on the read and then take a copy-on-write fault with a TLB shootdown to the
// other cores on the write -- measured as a third of a 20 M-key restore's samples in IPIs and page
// clearing. A mapping also returns its memory to the system when the index grows or goes, which a
// heap block of hundreds of MB might not.
void StateTable::FreeSlots(uint64_t* slots, std::shared_ptr<memory::Mapping> mapping) {
  if (mapping != nullptr) {
    memory::Mapping::ReleaseInBackground(std::move(mapping));
  } else {
    ::operator delete(slots, std::align_val_t{64});
  }
}

void StateTable::PrepareNextIndex() {
  prepare_at_ = std::numeric_limits<size_t>::max();  // once per index
  const auto bytes = static_cast<int64_t>(capacity_ * 2 * sizeof(uint64_t));
  if (static_cast<size_t>(bytes) < kMappedIndexBytes) return;
  // A budget that cannot hold it now leaves the growth to reserve it (and report the failure).
  if (!Reserve(bytes, "its next index").ok()) return;
  next_index_ = memory::Mapping::PrepareInBackground(static_cast<size_t>(bytes));
  next_reserved_ = bytes;
}

Status StateTable::Grow(size_t capacity) {
  if (old_slots_ != nullptr) FinishMigration();
  const size_t new_capacity =
      capacity != 0 ? capacity : (capacity_ == 0 ? kInitialCapacity : capacity_ * 2);
  WEIR_DCHECK(std::has_single_bit(new_capacity) && new_capacity > capacity_);
  const int new_bits = std::countr_zero(new_capacity);
  const size_t new_bytes = new_capacity * sizeof(uint64_t);
  // The prepared index when the helper has it ready (and it has this size), else one made here.
  std::shared_ptr<memory::Mapping> mapping;
  if (next_index_ != nullptr) {
    if (next_index_->bytes() == new_bytes) {
      mapping = next_index_->Take();
    } else {
      memory::Mapping::ReleaseInBackground(next_index_->Take());
    }
    next_index_.reset();  // an unfinished one is the helper's to unmap
  }
  if (mapping != nullptr) {
    next_reserved_ = 0;  // the reservation is the index's now
  } else {
    Unreserve(std::exchange(next_reserved_, 0));
    RETURN_IF_ERROR(Reserve(static_cast<int64_t>(new_bytes), "its index"));
    if (new_bytes >= kMappedIndexBytes) {
      mapping = memory::Mapping::Create(new_bytes);
      if (mapping == nullptr) {
        Unreserve(static_cast<int64_t>(new_bytes));
        return ResourceExhausted("state of operator {}: cannot map a {}-byte index", owner_,
                                 new_bytes);
      }
    }
  }
  uint64_t* new_slots = nullptr;
  if (mapping != nullptr) {
    mapping->FaultIn();  // nothing left to do when the helper made it
    new_slots = reinterpret_cast<uint64_t*>(mapping->data());
  } else {
    new_slots =
        static_cast<uint64_t*>(::operator new(new_bytes, std::align_val_t{64}, std::nothrow));
    if (new_slots == nullptr) {
      Unreserve(static_cast<int64_t>(new_bytes));
      return ResourceExhausted("state of operator {}: cannot allocate a {}-byte index", owner_,
                               new_bytes);
    }
    std::memset(new_slots, 0, new_bytes);
  }
  if (slots_ != nullptr) {
    if (size_ == 0) {
      FreeSlots(slots_, std::move(index_mapping_));
      Unreserve(static_cast<int64_t>(capacity_ * sizeof(uint64_t)));
    } else {
      // Migrated by the inserts to come, from an empty position (there is one: the index is at
      // most 7/8 full).
      old_slots_ = slots_;
      old_mapping_ = std::move(index_mapping_);
      old_capacity_ = capacity_;
      old_mask_ = mask_;
      old_shift_ = shift_;
      old_bits_ = capacity_bits_;
      migrate_start_ = 0;
      while (old_slots_[migrate_start_] != 0) ++migrate_start_;
      migrated_ = 0;
    }
  }
  slots_ = new_slots;
  index_mapping_ = std::move(mapping);
  capacity_ = new_capacity;
  capacity_bits_ = new_bits;
  shift_ = 64 - new_bits;
  mask_ = new_capacity - 1;
  grow_at_ = new_capacity / 4 * 3;
  prepare_at_ = new_capacity / 8 * 5;
  return Status::Ok();
}

void StateTable::MigrateStep() {
  size_t scanned = 0;
  while (migrated_ < old_capacity_) {
    const size_t position = (migrate_start_ + migrated_) & old_mask_;
    const uint64_t slot = old_slots_[position];
    ++migrated_;
    ++scanned;
    if (slot == 0) {
      // The end of a probe run: the rest of the old index keeps whole runs.
      if (scanned >= kMigrateSlots) return;
      continue;
    }
    old_slots_[position] = 0;
    size_t index = HomeIn(slot, capacity_bits_, shift_);
    while (slots_[index] != 0) index = (index + 1) & mask_;
    slots_[index] = slot;
  }
  FreeSlots(old_slots_, std::move(old_mapping_));
  Unreserve(static_cast<int64_t>(old_capacity_ * sizeof(uint64_t)));
  old_slots_ = nullptr;
  old_capacity_ = 0;
}

void StateTable::FinishMigration() {
  while (old_slots_ != nullptr) MigrateStep();
}

Result<uint64_t> StateTable::Allocate(size_t size) {
  WEIR_DCHECK(size % 8 == 0 && size <= segment_size_);
  if (side_bytes_ > side_reserved_) [[unlikely]] RETURN_IF_ERROR(SyncSideReservation());
  if (active_ < 0 || segments_[active_].used + size > segment_size_) {
    RETURN_IF_ERROR(AddSegment());
  }
  SegmentState& state = segments_[active_];
  const uint32_t offset = state.used;
  state.used += static_cast<uint32_t>(size);
  state.live += static_cast<uint32_t>(size);
  live_bytes_ += static_cast<int64_t>(size);
  return MakeRef(static_cast<uint32_t>(active_), offset);
}

Result<uint64_t> StateTable::AllocateSurvivor(size_t size) {
  // Allocate's bump allocation with the survivor segment as the open one; a segment Allocate adds
  // (as the active one) becomes the survivor segment when they are swapped back.
  std::swap(active_, survivor_);
  Result<uint64_t> ref = Allocate(size);
  std::swap(active_, survivor_);
  return ref;
}

Status StateTable::AddSegment() {
  const size_t index = free_indexes_.empty() ? segments_.size() : free_indexes_.back();
  // References are 40-bit 1-based 8-byte units: the table addresses up to 8 TiB of entries.
  if (((static_cast<uint64_t>(index) + 1) << units_per_segment_bits_) >= kRefMask) {
    return ResourceExhausted("state of operator {}: the table is at its limit of {} segments",
                             owner_, index);
  }
  RETURN_IF_ERROR(Reserve(segment_size_, "a state segment"));
  Result<memory::Segment> segment = pool_->Acquire();
  if (!segment.ok()) {
    Unreserve(segment_size_);
    return segment.status().WithContext(
        fmt::format("state of operator {} ({} entries)", owner_, size_));
  }
  if (index == segments_.size()) {
    segments_.emplace_back();
    segment_views_.emplace_back();
  } else {
    free_indexes_.pop_back();
  }
  segment_views_[index] = SegmentView{segment->data(), segment->data()};
  segments_[index] = SegmentState{};
  segments_[index].segment = std::move(segment).value();
  active_ = static_cast<int64_t>(index);
  ++segment_count_;
  UpdateReclaimThreshold();
  return Status::Ok();
}

Status StateTable::Reserve(int64_t bytes, std::string_view what) {
  Status status;
  if (has_reservation_) {
    status = reservation_.Grow(bytes);
  } else {
    Result<memory::MemoryBudget::Reservation> reservation = budget_->Reserve(owner_, bytes);
    if (reservation.ok()) {
      reservation_ = std::move(reservation).value();
      has_reservation_ = true;
    } else {
      status = std::move(reservation).status();
    }
  }
  if (!status.ok()) {
    return status.WithContext(fmt::format(
        "state of operator {} ({} entries in {} bytes) needs {} more bytes of managed memory for "
        "{}",
        owner_, size_, reserved_bytes_, bytes, what));
  }
  reserved_bytes_ += bytes;
  return Status::Ok();
}

void StateTable::Unreserve(int64_t bytes) {
  reservation_.Shrink(bytes);
  reserved_bytes_ -= bytes;
}

StateTable::EntryHeader* StateTable::WriteEntry(uint64_t ref, uint64_t hash, int key_group,
                                                std::string_view key, std::string_view ns,
                                                const std::byte* value, size_t value_size) {
  WEIR_CHECK_MSG(key_group >= 0 && key_group < kMaxParallelismUpperBound,
                 "key group {} out of range", key_group);
  auto* header = new (EntryAt(ref)) EntryHeader{
      hash,
      static_cast<uint32_t>(key.size()),
      static_cast<uint32_t>(ns.size()),
      static_cast<uint32_t>(value_size),
      static_cast<uint16_t>(key_group),
      0,
  };
  auto* bytes = reinterpret_cast<std::byte*>(header + 1);
  if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
  if (!ns.empty()) std::memcpy(bytes + key.size(), ns.data(), ns.size());
  ZeroPadding(bytes, key.size() + ns.size());
  std::byte* stored = ValueOf(header);
  if (value_size != 0) {
    if (value != nullptr) {
      std::memcpy(stored, value, value_size);
    } else {
      std::memset(stored, 0, value_size);
    }
  }
  ZeroPadding(stored, value_size);
  return header;
}

void StateTable::MarkDead(uint64_t slot) {
  EntryHeader* header = EntryAt(slot);
  WEIR_DCHECK((header->flags & kDeadFlag) == 0);
  const auto size =
      static_cast<uint32_t>(EntrySize(header->key_size, header->ns_size, header->value_size));
  const uint64_t unit = (slot & kRefMask) - 1;
  const auto index = static_cast<uint32_t>(unit >> units_per_segment_bits_);
  const auto offset = static_cast<uint32_t>((unit & units_per_segment_mask_) << 3);
  SegmentState& state = segments_[index];
  state.live -= size;
  live_bytes_ -= size;
  dead_bytes_ += size;
  compaction_credit_ += size;
  FlagDead(index, offset, header);
}

void StateTable::FlagDead(uint32_t segment_index, uint32_t offset, EntryHeader* header) {
  if (offset < segments_[segment_index].sealed) {
    AddTombstone(segment_index, offset);
    SetSealedDead(segment_index, offset);
  } else {
    header->flags |= kDeadFlag;
  }
}

void StateTable::SetSealedDead(uint32_t segment_index, uint32_t offset) {
  SegmentState& state = segments_[segment_index];
  WEIR_DCHECK(offset < state.sealed);
  if (segment_views_[segment_index].dirty != nullptr) {
    const auto* header =
        reinterpret_cast<const EntryHeader*>(segment_views_[segment_index].base + offset);
    ClearDirty(segment_index, offset,
               static_cast<uint32_t>(EntrySize(header->key_size, header->ns_size, header->value_size)));
  }
  // A spare dirty bitmap where there is one: after a reseal moved the segment's bits to
  // resealed_dead, its next death would otherwise allocate fresh memory, thousands of times after
  // a resealing checkpoint of a large table.
  if (!state.sealed_dead) state.sealed_dead = TakeBitmap();
  state.sealed_dead[offset >> 9] |= uint64_t{1} << ((offset >> 3) & 63);
}

std::unique_ptr<uint64_t[]> StateTable::TakeBitmap() {
  std::unique_ptr<uint64_t[]> bitmap;
  if (!spare_dirty_.empty()) {
    // A released snapshot's dirty bitmap, zeroed and accounted already.
    bitmap = std::move(spare_dirty_.back());
    spare_dirty_.pop_back();
    return bitmap;
  }
  const size_t words = segment_size_ / 512;
  bitmap.reset(new uint64_t[words]());
  AccountSide(static_cast<int64_t>(words * sizeof(uint64_t)));
  return bitmap;
}

void StateTable::AddTombstone(uint32_t segment_index, uint32_t offset) {
  std::vector<PieceRange>& pieces = segments_[segment_index].pieces;
  // The last piece beginning at or before `offset`.
  const auto piece = std::prev(std::upper_bound(
      pieces.begin(), pieces.end(), offset,
      [](uint32_t value, const PieceRange& range) { return value < range.begin; }));
  WEIR_DCHECK(offset >= piece->begin && offset < piece->end);
  ++piece->tombstones;
  const uint32_t in_piece = offset - piece->begin;
  const size_t at = pending_tombstones_.size();
  pending_tombstones_.resize(at + kTombstoneRecordSize);
  std::memcpy(pending_tombstones_.data() + at, &piece->id, 8);
  std::memcpy(pending_tombstones_.data() + at + 8, &in_piece, 4);
  const auto capacity = static_cast<int64_t>(pending_tombstones_.capacity());
  if (capacity != pending_tombstones_accounted_) {
    AccountSide(capacity - pending_tombstones_accounted_);
    pending_tombstones_accounted_ = capacity;
  }
}

Result<std::span<std::byte>> StateTable::WriteSealed(size_t slot_index, bool may_compact) {
  const uint64_t slot = slots_[slot_index];
  const uint64_t unit = (slot & kRefMask) - 1;
  const auto index = static_cast<uint32_t>(unit >> units_per_segment_bits_);
  SegmentView* view = &segment_views_[index];
  if (view->pins != 0) {
    CollectReleasedSnapshots();
    if (view->pins != 0) return RelocateForWrite(slot_index, may_compact);
  }
  // In place: the segment's bytes are no snapshot's any more. The next snapshot writes the entry
  // as an override (its piece in the checkpoint that holds it keeps the old value).
  EntryHeader* header = EntryAt(slot);
  if (view->dirty == nullptr) {
    SegmentState& state = segments_[index];
    state.dirty = TakeBitmap();
    view->dirty = state.dirty.get();
  }
  SetDirty(*view, unit, header);
  // Garbage is left only by the writes that relocated while a snapshot pinned their segment, and
  // compaction skips pinned segments; an in-place write kills nothing. So while the garbage is
  // over the compaction threshold, in-place writes (that may move entries) pay for the steps
  // reclaiming it, as killing writes do, until it is back under.
  if (may_compact && dead_bytes_ > reclaim_threshold_) [[unlikely]] {
    compaction_credit_ +=
        static_cast<int64_t>(EntrySize(header->key_size, header->ns_size, header->value_size));
    MaybeCompact();
    header = EntryAt(slots_[slot_index]);  // compaction keeps slot positions
  }
  return std::span<std::byte>(ValueOf(header), header->value_size);
}

void StateTable::ClearDirty(uint32_t segment_index, uint32_t offset, uint32_t size) {
  SegmentView& view = segment_views_[segment_index];
  uint64_t& word = view.dirty[offset >> 9];
  const uint64_t bit = uint64_t{1} << ((offset >> 3) & 63);
  if ((word & bit) != 0) {
    word &= ~bit;
    view.dirty_bytes -= size;
  }
}

void StateTable::DropDirty(uint32_t index) {
  SegmentState& state = segments_[index];
  if (!state.dirty) return;
  state.dirty.reset();
  segment_views_[index].dirty = nullptr;
  segment_views_[index].dirty_bytes = 0;
  AccountSide(-static_cast<int64_t>(segment_size_ / 512 * sizeof(uint64_t)));
}

Result<std::span<std::byte>> StateTable::RelocateForWrite(size_t slot_index, bool may_compact) {
  CollectReleasedSnapshots();
  const uint64_t slot = slots_[slot_index];
  const EntryHeader* old_header = EntryAt(slot);
  const size_t size = EntrySize(old_header->key_size, old_header->ns_size, old_header->value_size);
  ASSIGN_OR_RETURN(const uint64_t ref, Allocate(size));
  // Allocate may have added a segment (segment_views_ may have moved, the entry has not).
  EntryHeader* header = EntryAt(ref);
  std::memcpy(header, EntryAt(slot), size);
  header->flags = 0;
  MarkDead(slot);
  slots_[slot_index] = (slot & ~kRefMask) | ref;
  if (may_compact) {
    // Compaction keeps slot positions: re-read the slot.
    MaybeCompact();
    header = EntryAt(slots_[slot_index]);
  }
  return std::span<std::byte>(ValueOf(header), header->value_size);
}

Status StateTable::SyncSideReservation() {
  if (side_bytes_ > side_reserved_) {
    const int64_t step = (side_bytes_ - side_reserved_ + kSideStep - 1) / kSideStep * kSideStep;
    RETURN_IF_ERROR(Reserve(step, "checkpoint tombstones"));
    side_reserved_ += step;
  } else if (side_reserved_ - side_bytes_ > 2 * kSideStep) {
    const int64_t surplus = (side_reserved_ - side_bytes_) / kSideStep * kSideStep - kSideStep;
    Unreserve(surplus);
    side_reserved_ -= surplus;
  }
  return Status::Ok();
}

void StateTable::CollectReleasedSnapshots() {
  for (size_t i = 0; i < pins_.size();) {
    PinRecord& record = pins_[i];
    if (!record.pin->released.load(std::memory_order_acquire)) {
      // The writer may have released a prefix of the pieces: unpin the segments it covers.
      const size_t released = record.pin->released_pieces.load(std::memory_order_acquire);
      if (record.next < record.segments.size() && record.ends[record.next] <= released) {
        do {
          Unpin(record.segments[record.next++]);
        } while (record.next < record.segments.size() && record.ends[record.next] <= released);
        next_compaction_dead_ = 0;
        next_step_dead_ = 0;
      }
      ++i;
      continue;
    }
    for (size_t k = record.next; k < record.segments.size(); ++k) Unpin(record.segments[k]);
    {
      std::lock_guard<std::mutex> lock(record.pin->mutex);
      spare_pieces_ = std::move(record.pin->recycled_pieces);
      if (record.pin->recycled_overrides.capacity() > spare_overrides_.capacity()) {
        spare_overrides_ = std::move(record.pin->recycled_overrides);
      }
      // Bitmaps beyond one per segment are freed (the table shrank).
      const size_t words = segment_size_ / 512;
      for (auto& bitmap : record.pin->recycled_dirty) {
        if (spare_dirty_.size() >= segment_count_) break;
        spare_dirty_.push_back(std::move(bitmap));
        AccountSide(static_cast<int64_t>(words * sizeof(uint64_t)));
      }
      record.pin->recycled_dirty.clear();
      // The larger of the two lists of marks stays (both are accounted).
      std::vector<DeathMarks>& marks = record.pin->marks.marks;
      if (marks.capacity() > spare_marks_.capacity()) std::swap(marks, spare_marks_);
      AccountSide(-static_cast<int64_t>(marks.capacity() * sizeof(DeathMarks)));
      std::vector<DeathMarks>().swap(marks);
    }
    spare_pin_ends_ = std::move(record.ends);
    spare_pin_segments_ = std::move(pins_[i].segments);
    pins_[i] = std::move(pins_.back());
    pins_.pop_back();
    // Garbage compaction skipped in pinned segments may be reclaimable now.
    next_compaction_dead_ = 0;
    next_step_dead_ = 0;
  }
  for (size_t i = 0; i < retired_tombstones_.size();) {
    if (retired_tombstones_[i].use_count() != 1) {
      ++i;
      continue;
    }
    AccountSide(-static_cast<int64_t>(retired_tombstones_[i]->capacity()));
    retired_tombstones_[i] = std::move(retired_tombstones_.back());
    retired_tombstones_.pop_back();
  }
}

void StateTable::Unpin(uint32_t segment_index) {
  WEIR_DCHECK(segments_[segment_index].pins > 0);
  --segments_[segment_index].pins;
  --segment_views_[segment_index].pins;
}

void StateTable::RemoveSlotIn(uint64_t* slots, size_t mask, int bits, int shift, size_t slot) {
  // Backward-shift deletion: pull later members of the probe run into the hole when the hole lies
  // between their home and their position, so every run stays contiguous without tombstones.
  size_t hole = slot;
  size_t index = slot;
  while (true) {
    index = (index + 1) & mask;
    const uint64_t current = slots[index];
    if (current == 0) break;
    const size_t home = HomeIn(current, bits, shift);
    if (((index - home) & mask) >= ((index - hole) & mask)) {
      slots[hole] = current;
      hole = index;
    }
  }
  slots[hole] = 0;
}

void StateTable::ReleaseSegment(uint32_t index) {
  SegmentState& state = segments_[index];
  WEIR_DCHECK(state.pins == 0);
  WEIR_DCHECK(static_cast<int64_t>(index) != survivor_);
  for (const PieceRange& piece : state.pieces) {
    dropped_pieces_.push_back(piece.id);
    moot_tombstones_ += piece.tombstones;
  }
  if (state.sealed_dead) AccountSide(-static_cast<int64_t>(segment_size_ / 512 * sizeof(uint64_t)));
  if (state.resealed_dead) AccountSide(-static_cast<int64_t>(segment_size_ / 512 * sizeof(uint64_t)));
  DropDirty(index);
  segments_[index] = SegmentState{};
  segment_views_[index] = SegmentView{};
  free_indexes_.push_back(index);
  --segment_count_;
  UpdateReclaimThreshold();
  Unreserve(segment_size_);
}

void StateTable::Compact() {
  // The segments holding garbage, the active one last, are treated as one sequence of bytes and
  // their live entries slid towards its start, like a mark-compact collector. An entry moves to a
  // position at or before its own (the destination never passes the source, since it only skips
  // a segment tail when an entry does not fit, and an entry fits wherever its own segment has
  // room), so unread entries are never overwritten and no extra segment is needed: compaction
  // works even when the budget is exhausted. Sealed segments never slide (their bytes are
  // persisted content): EvacuateSealed copies them out instead.
  ++full_compactions_;
  CollectReleasedSnapshots();
  AbandonVictim();
  survivor_ = -1;  // slid like any other segment; EvacuateSealed opens a new one if it moves any
  std::vector<uint32_t> victims;
  bool active_is_victim = false;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const SegmentState& state = segments_[i];
    if (!state.segment || state.live == state.used || state.sealed != 0) continue;
    if (static_cast<int64_t>(i) == active_) {
      active_is_victim = true;
    } else {
      victims.push_back(static_cast<uint32_t>(i));
    }
  }
  if (active_is_victim) victims.push_back(static_cast<uint32_t>(active_));
  if (!victims.empty()) SlideUnsealed(victims, active_is_victim);
  EvacuateSealed();
  // Segments moved and were released: the incremental sweep starts afresh.
  sweep_misses_ = 0;
  next_step_dead_ = 0;
  compaction_credit_ = 0;

  dead_bytes_ = 0;
  for (const SegmentState& state : segments_) dead_bytes_ += state.used - state.live;
  // Garbage left in pinned or mostly live sealed segments: scan again only when another quarter
  // of the table's bytes has died (or a snapshot is released), so compaction stays amortized O(1).
  next_compaction_dead_ =
      dead_bytes_ == 0
          ? 0
          : dead_bytes_ + std::max<int64_t>(segment_size_, static_cast<int64_t>(segment_count_) *
                                                               segment_size_ / 4);
}

uint64_t* StateTable::SlotNaming(uint64_t ref, uint64_t hash) {
  for (size_t slot = hash >> shift_; slots_[slot] != 0; slot = (slot + 1) & mask_) {
    if ((slots_[slot] & kRefMask) == ref) return &slots_[slot];
  }
  WEIR_CHECK(old_slots_ != nullptr);
  size_t slot = hash >> old_shift_;
  while ((old_slots_[slot] & kRefMask) != ref) {
    WEIR_CHECK(old_slots_[slot] != 0);
    slot = (slot + 1) & old_mask_;
  }
  return &old_slots_[slot];
}

bool StateTable::MoveEntry(uint32_t index, uint32_t offset, size_t size) {
  const uint64_t old_ref = MakeRef(index, offset);
  Result<uint64_t> ref = AllocateSurvivor(size);
  if (!ref.ok()) return false;
  // A survivor segment may have been added (segment_views_ may have moved, the entry has not).
  const EntryHeader* old_header = EntryAt(old_ref);
  uint64_t* const slot = SlotNaming(old_ref, old_header->hash);
  EntryHeader* header = EntryAt(*ref);
  std::memcpy(header, old_header, size);
  header->flags = 0;
  *slot = (*slot & ~kRefMask) | *ref;
  // The old copy dies as in MarkDead, except that a sealed one gets its tombstone only if the
  // victim outlives the step series (AbandonVictim): a released victim's pieces leave every later
  // snapshot, so tombstones naming them would be bytes written for nothing.
  SegmentState& state = segments_[index];
  state.live -= static_cast<uint32_t>(size);
  live_bytes_ -= static_cast<int64_t>(size);
  dead_bytes_ += static_cast<int64_t>(size);
  moved_bytes_ += static_cast<int64_t>(size);
  if (offset < state.sealed) {
    SetSealedDead(index, offset);
    victim_moved_.push_back(offset);
  } else {
    reinterpret_cast<EntryHeader*>(segment_views_[index].base + offset)->flags |= kDeadFlag;
  }
  return true;
}

void StateTable::AbandonVictim() {
  if (victim_ >= 0) {
    for (const uint32_t offset : victim_moved_) AddTombstone(static_cast<uint32_t>(victim_), offset);
  }
  victim_moved_.clear();
  victim_ = -1;
}

void StateTable::EvacuateStep() {
  // Each death since the last step buys kStepFactor times its bytes of work: a byte passed over
  // costs one, a byte moved one more. A victim is at least half dead, so a step reclaims at least
  // 4/3 of what died: the garbage left from before the steps began shrinks too, and a table whose
  // garbage is not pinned never needs the whole-table Compact. Inspecting a segment while sweeping
  // costs a little of the budget too, so a step is bounded however the segments look. (Only the
  // purge of moot tombstones below passes over more: all pending records, once most are moot.)
  constexpr int64_t kInspectCost = 64;
  int64_t budget = std::min<int64_t>(kStepFactor * std::max<int64_t>(compaction_credit_, kInspectCost),
                                     kStepFactor * static_cast<int64_t>(segment_size_));
  compaction_credit_ = 0;
  if (!pins_.empty()) CollectReleasedSnapshots();
  while (budget > 0) {
    if (victim_ < 0) {
      // The sweep: the next segment worth evacuating, round robin.
      if (sweep_misses_ >= segments_.size()) {
        // A whole round found none (the garbage is spread thin, or pinned): wait until another
        // eighth of the table has died, or a snapshot is released.
        sweep_misses_ = 0;
        next_step_dead_ = dead_bytes_ + std::max<int64_t>(segment_size_, static_cast<int64_t>(segment_count_) *
                                                                             segment_size_ / 8);
        return;
      }
      if (sweep_index_ >= segments_.size()) sweep_index_ = 0;
      const size_t index = sweep_index_++;
      budget -= kInspectCost;
      const SegmentState& state = segments_[index];
      if (!state.segment || static_cast<int64_t>(index) == active_ ||
          static_cast<int64_t>(index) == survivor_ || state.pins != 0 || state.live * 2 > state.used) {
        ++sweep_misses_;
        continue;
      }
      sweep_misses_ = 0;
      victim_ = static_cast<int64_t>(index);
      victim_offset_ = 0;
    }
    const auto index = static_cast<uint32_t>(victim_);
    WEIR_DCHECK(segments_[index].pins == 0);  // Snapshot abandons the victim before pinning it
    while (segments_[index].live != 0 && victim_offset_ < segments_[index].used && budget > 0) {
      const SegmentState& state = segments_[index];
      const auto* header = reinterpret_cast<const EntryHeader*>(segment_views_[index].base + victim_offset_);
      const size_t size = EntrySize(header->key_size, header->ns_size, header->value_size);
      if (!IsDead(state, victim_offset_, header)) {
        if (!MoveEntry(index, victim_offset_, size)) {
          // Out of memory: leave the rest to Compact, which slides in place and needs none.
          AbandonVictim();
          next_step_dead_ = std::numeric_limits<int64_t>::max();
          return;
        }
        budget -= static_cast<int64_t>(size);
      }
      budget -= static_cast<int64_t>(size);
      victim_offset_ += static_cast<uint32_t>(size);
    }
    if (segments_[index].live == 0) {
      dead_bytes_ -= segments_[index].used;
      ReleaseSegment(index);
      victim_moved_.clear();
      victim_ = -1;
      // Purge once moot tombstones are most of the pending ones: each record is passed over O(1)
      // times on average, and they hold at most about as much memory as the live ones.
      if (moot_tombstones_ * static_cast<int64_t>(kTombstoneRecordSize) * 2 >
              static_cast<int64_t>(pending_tombstones_.size()) &&
          moot_tombstones_ >= 1024) {
        PurgeMootTombstones();
      }
    } else if (victim_offset_ >= segments_[index].used) {
      AbandonVictim();  // cannot happen: nothing is appended to a segment that is not active
    }
  }
}

void StateTable::SlideUnsealed(const std::vector<uint32_t>& victims, bool active_is_victim) {
  size_t destination = 0;  // position in victims
  uint32_t destination_offset = 0;
  for (size_t source = 0; source < victims.size(); ++source) {
    const uint32_t source_index = victims[source];
    std::byte* const source_base = segment_views_[source_index].base;
    const uint32_t used = segments_[source_index].used;
    for (uint32_t offset = 0; offset < used;) {
      const auto* header = reinterpret_cast<const EntryHeader*>(source_base + offset);
      const auto size =
          static_cast<uint32_t>(EntrySize(header->key_size, header->ns_size, header->value_size));
      if ((header->flags & kDeadFlag) == 0) {
        if (destination_offset + size > segment_size_) {
          WEIR_DCHECK(destination < source);
          SegmentState& full = segments_[victims[destination]];
          full.used = full.live = destination_offset;
          ++destination;
          destination_offset = 0;
        }
        const uint32_t destination_index = victims[destination];
        if (destination_index != source_index || destination_offset != offset) {
          const uint64_t old_ref = MakeRef(source_index, offset);
          const uint64_t new_ref = MakeRef(destination_index, destination_offset);
          uint64_t* const slot = SlotNaming(old_ref, header->hash);
          std::memmove(segment_views_[destination_index].base + destination_offset, header, size);
          *slot = (*slot & ~kRefMask) | new_ref;
        }
        destination_offset += size;
      }
      offset += size;
    }
  }
  SegmentState& last = segments_[victims[destination]];
  last.used = last.live = destination_offset;
  for (size_t i = destination + 1; i < victims.size(); ++i) ReleaseSegment(victims[i]);
  if (active_is_victim) {
    active_ = victims[destination];
  } else if (destination_offset == 0) {
    ReleaseSegment(victims[destination]);
  }
}

void StateTable::EvacuateSealed() {
  // The steps' victim machinery, one whole segment at a time (Compact abandoned any victim).
  const size_t dropped_before = dropped_pieces_.size();
  for (size_t i = 0; i < segments_.size(); ++i) {
    {
      const SegmentState& state = segments_[i];
      if (!state.segment || state.sealed == 0 || state.pins != 0 || static_cast<int64_t>(i) == active_ ||
          static_cast<int64_t>(i) == survivor_ || state.live * 2 > state.used) {
        continue;
      }
    }
    const auto index = static_cast<uint32_t>(i);
    victim_ = index;
    bool failed = false;
    for (uint32_t offset = 0; offset < segments_[index].used;) {
      const auto* header = reinterpret_cast<const EntryHeader*>(segment_views_[index].base + offset);
      const size_t size = EntrySize(header->key_size, header->ns_size, header->value_size);
      if (!IsDead(segments_[index], offset, header) && !MoveEntry(index, offset, size)) {
        failed = true;  // out of memory: keep the rest; compaction is opportunistic
        break;
      }
      offset += static_cast<uint32_t>(size);
    }
    if (failed) {
      // The segment stays: the entries copied out died in it, like relocated ones.
      AbandonVictim();
      break;
    }
    WEIR_DCHECK(segments_[index].live == 0);
    ReleaseSegment(index);
    victim_moved_.clear();
    victim_ = -1;
  }
  // Tombstones naming the released pieces are moot: drop them now rather than at the next
  // snapshot, so removals followed by compaction do not hold 12 bytes per removed entry.
  if (dropped_pieces_.size() != dropped_before) PurgeMootTombstones();
}

void StateTable::PurgeMootTombstones() {
  if (moot_tombstones_ == 0) return;
  std::vector<uint64_t> dropped(dropped_pieces_);
  std::sort(dropped.begin(), dropped.end());
  size_t kept = 0;
  for (size_t at = 0; at < pending_tombstones_.size(); at += kTombstoneRecordSize) {
    uint64_t piece_id;
    std::memcpy(&piece_id, pending_tombstones_.data() + at, 8);
    if (std::binary_search(dropped.begin(), dropped.end(), piece_id)) continue;
    if (kept != at) {
      std::memmove(pending_tombstones_.data() + kept, pending_tombstones_.data() + at,
                   kTombstoneRecordSize);
    }
    kept += kTombstoneRecordSize;
  }
  pending_tombstones_.resize(kept);
  moot_tombstones_ = 0;
  if (pending_tombstones_.size() * 2 < pending_tombstones_.capacity()) {
    pending_tombstones_.shrink_to_fit();
    const auto capacity = static_cast<int64_t>(pending_tombstones_.capacity());
    AccountSide(capacity - pending_tombstones_accounted_);
    pending_tombstones_accounted_ = capacity;
  }
}

void StateTable::Reseal(uint32_t index, std::vector<DeathMarks>& marks) {
  SegmentState& state = segments_[index];
  for (const PieceRange& piece : state.pieces) {
    dropped_pieces_.push_back(piece.id);
    moot_tombstones_ += piece.tombstones;
  }
  const uint32_t old_sealed = state.sealed;
  state.pieces.clear();
  state.pieces.push_back(PieceRange{NextPieceId(), 0, state.used});
  state.sealed = state.used;
  segment_views_[index].sealed_end = segment_views_[index].base + state.sealed;
  state.overridden_bytes = 0;
  state.first_override_serial = 0;
  if (state.dirty) {
    std::memset(state.dirty.get(), 0, segment_size_ / 512 * sizeof(uint64_t));
    segment_views_[index].dirty_bytes = 0;
  }
  // The entries of the old sealed range that died carry no dead flag (sealed_dead holds it): the
  // flag goes into their headers, so the new piece says they are dead in its own bytes, as it
  // does for entries that died before their range was sealed. The snapshot's writer sets them
  // (ResealMarks) from the bits as they are now, which the segment keeps as resealed_dead, no
  // copy made: a flag costs a cache miss and a page walk per dead header, 5-7 ms of a 1 GB window
  // job's synchronous part when the task thread set them. Only a segment no snapshot still reads
  // may change its sealed bytes; a pinned one (an earlier snapshot still writing) gets tombstones
  // naming them in the new piece instead. Tombstones were the only way before: a reseal of a share
  // of a 1 GB window table appended a million 12-byte records to a vector growing into fresh
  // memory on the task thread, a 15-27 ms synchronous part.
  if (!state.sealed_dead) return;
  if (state.pins != 0) {
    for (uint32_t w = 0; w < (old_sealed + 511) / 512; ++w) {
      for (uint64_t bits = state.sealed_dead[w]; bits != 0; bits &= bits - 1) {
        AddTombstone(index, static_cast<uint32_t>(w * 512 + std::countr_zero(bits) * 8));
      }
    }
    return;
  }
  // The previous reseal's bits: their flags are set (Snapshot finished every earlier snapshot's
  // marks before it started).
  if (state.resealed_dead) AccountSide(-static_cast<int64_t>(segment_size_ / 512 * sizeof(uint64_t)));
  state.resealed_dead = std::move(state.sealed_dead);
  ++marked_reseals_;
  marks.push_back(DeathMarks{segment_views_[index].base, state.resealed_dead.get(), old_sealed});
}

void StateTable::FlagMarkedDeaths(std::span<const DeathMarks> marks) {
  for (const DeathMarks& mark : marks) {
    for (uint32_t w = 0; w < (mark.end + 511) / 512; ++w) {
      for (uint64_t bits = mark.dead[w]; bits != 0; bits &= bits - 1) {
        const auto offset = static_cast<uint32_t>(w * 512 + std::countr_zero(bits) * 8);
        reinterpret_cast<EntryHeader*>(mark.base + offset)->flags |= kDeadFlag;
      }
    }
  }
}

constexpr size_t kSnapshotPrefetchAhead = 8;

// Grows a list Snapshot fills (and gets back from a released snapshot for the next one) to hold
// `count` elements, with room to spare: a table growing by a few segments between checkpoints
// (relocations while pinned, then evacuation) otherwise reallocated its lists of a megabyte or
// more into fresh memory at most checkpoints, page faults inside the synchronous part.
template <typename T>
void ReserveWithRoom(std::vector<T>& list, size_t count) {
  if (list.capacity() < count) list.reserve(count + count / 8 + 64);
}

std::shared_ptr<TableSnapshot> StateTable::Snapshot(bool full) {
  // The synchronous part of a checkpoint: O(segments + pieces), no hashing, no sorting and no
  // per-entry work, however many entries died since the last one (their tombstones are already
  // encoded, but for those of a half-evacuated segment: at most one segment's entries, and those
  // of a resealed segment an earlier snapshot still pins: a pass over its sealed_dead bitmap;
  // the writer flags the other resealed segments' dead entries, ResealMarks).
  CollectReleasedSnapshots();
  // An earlier snapshot's flags must be in its resealed segments' headers before this one lists
  // their bytes (usually its writer set them long ago).
  for (PinRecord& record : pins_) record.pin->marks.Finish();
  AbandonVictim();
  auto pin = std::make_shared<SnapshotPin>();
  auto snapshot = std::make_shared<StateTableSnapshot>(pin, &pin->released, &pin->released_pieces,
                                                       &pin->mutex, &pin->orphans,
                                                       &pin->recycled_pieces, &pin->recycled_dirty,
                                                       &pin->recycled_overrides, &pin->marks);
  std::vector<DeathMarks> marks = std::move(spare_marks_);
  spare_marks_ = {};
  const size_t marks_capacity = marks.capacity();  // accounted already
  marks.clear();
  snapshot->entries_ = size_;
  // The lists of the last released snapshot, whose pages are faulted in already.
  std::vector<TablePiece>& pieces = snapshot->pieces_;
  pieces = std::move(spare_pieces_);
  pieces.clear();
  ReserveWithRoom(pieces, segment_count_ + tombstone_pieces_.size() + override_pieces_.size() + 1);
  snapshot->overrides_ = std::move(spare_overrides_);
  snapshot->overrides_.clear();
  ReserveWithRoom(snapshot->overrides_, segment_count_);
  int64_t moved_bitmap_bytes = 0;  // accounted once, after the loop
  PinRecord record{pin, std::move(spare_pin_segments_), std::move(spare_pin_ends_)};
  record.segments.clear();
  ReserveWithRoom(record.segments, segment_count_);
  record.ends.clear();
  ReserveWithRoom(record.ends, segment_count_);
  // A full snapshot writes every piece from memory, which holds every in-place write: it lists
  // no override piece, and the overrides start again after it.
  if (full) override_pieces_.clear();
  // The oldest override piece retires once every segment it names is resealed, and must before
  // kMaxOverridePieces are listed. Resealing all of them in the snapshot that reaches the limit
  // made every 9th checkpoint of a table written all over (a 1 GB window job) rewrite the whole
  // table, with a 100 ms synchronous part. So from half the limit on, each snapshot reseals its
  // share of the segments left in the oldest group: the group divided by the snapshots left
  // before the limit (all of it at the limit).
  uint64_t retire_serial = 0;
  int64_t reseal_budget = 0;
  if (!full && override_pieces_.size() >= kMaxOverridePieces / 2) {
    retire_serial = override_pieces_.front().serial;
    const auto left = static_cast<int64_t>(
        override_pieces_.size() >= kMaxOverridePieces ? 1 : kMaxOverridePieces - override_pieces_.size());
    reseal_budget = (override_pieces_.front().segments + left - 1) / left;
  }
  const uint64_t serial = override_serial_ + 1;  // of the override piece this snapshot may make
  // Segments per first_override_serial after this snapshot, from the oldest listed serial on.
  const uint64_t base_serial = override_pieces_.empty() ? serial : override_pieces_.front().serial;
  std::vector<int64_t> group_segments(serial - base_serial + 1, 0);
  uint64_t oldest_serial = std::numeric_limits<uint64_t>::max();
  const size_t words = segment_size_ / 512;
  std::vector<uint64_t> targets;  // the pieces the new tombstones name
  for (size_t i = 0; i < segments_.size(); ++i) {
    // Each segment's piece list is a heap array of its own: a cache miss per segment, thousands
    // in a row for a large table, unless started a few segments ahead.
    if (i + kSnapshotPrefetchAhead < segments_.size()) {
      __builtin_prefetch(segments_[i + kSnapshotPrefetchAhead].pieces.data());
    }
    SegmentState& state = segments_[i];
    if (!state.segment) continue;
    SegmentView& view = segment_views_[i];
    if (full) {
      state.overridden_bytes = 0;
      state.first_override_serial = 0;
      if (view.dirty_bytes != 0) {
        std::memset(state.dirty.get(), 0, words * sizeof(uint64_t));
        view.dirty_bytes = 0;
      }
    }
    bool sealed_now = false;
    bool reseal = false;
    if (state.sealed != 0 && !full) {
      if (state.first_override_serial != 0 && state.first_override_serial <= retire_serial &&
          reseal_budget > 0) {
        --reseal_budget;
        reseal = true;
      } else {
        // Overrides of kResealRatio/2 to kResealRatio times the sealed bytes, the fraction set
        // per segment: under writes spread evenly, segments reach a common threshold together,
        // and a table-wide reseal is as long a pause as a full checkpoint is heavy.
        const int64_t jitter = static_cast<int64_t>((i * 0x9E3779B97F4A7C15ull) >> 59);  // 0..31
        const int64_t threshold = kResealRatio * state.sealed * (32 + jitter) / 64;
        reseal = state.overridden_bytes + view.dirty_bytes >= threshold;
      }
    }
    if (reseal) {
      Reseal(static_cast<uint32_t>(i), marks);
      sealed_now = true;
    } else if (state.used > state.sealed) {
      state.pieces.push_back(PieceRange{NextPieceId(), state.sealed, state.used});
      state.sealed = state.used;
      view.sealed_end = view.base + state.sealed;
      sealed_now = true;
    }
    if (state.sealed == 0) continue;
    sealed_any_ = true;
    ++state.pins;
    ++view.pins;
    record.segments.push_back(static_cast<uint32_t>(i));
    const size_t first_piece = pieces.size();
    for (size_t p = 0; p < state.pieces.size(); ++p) {
      PieceRange& range = state.pieces[p];
      const bool is_new = sealed_now && p + 1 == state.pieces.size();
      pieces.push_back(TablePiece{
          range.id, TablePiece::Kind::kEntries,
          std::span<const std::byte>(view.base + range.begin, range.end - range.begin),
          !full && !is_new});
      if (range.tombstones != 0) {
        targets.push_back(range.id);
        range.tombstones = 0;
      }
    }
    record.ends.push_back(static_cast<uint32_t>(pieces.size()));
    if (view.dirty_bytes != 0) {
      // The entries written in place since the last snapshot: their bitmap goes to the snapshot,
      // which writes them as overrides of their pieces (GatherOverrides).
      snapshot->overrides_.push_back(StateTableSnapshot::OverrideSource{
          view.base, std::move(state.dirty), first_piece, state.pieces.size(), view.dirty_bytes});
      state.overridden_bytes += view.dirty_bytes;
      if (state.first_override_serial == 0) state.first_override_serial = serial;
      view.dirty = nullptr;
      view.dirty_bytes = 0;
      moved_bitmap_bytes += static_cast<int64_t>(words * sizeof(uint64_t));
    }
    if (state.first_override_serial != 0) {
      oldest_serial = std::min(oldest_serial, state.first_override_serial);
      if (state.first_override_serial >= base_serial) ++group_segments[state.first_override_serial - base_serial];
    }
  }
  if (moved_bitmap_bytes != 0) AccountSide(-moved_bitmap_bytes);
  AccountSide(static_cast<int64_t>((marks.capacity() - marks_capacity) * sizeof(DeathMarks)));
  const bool marked = !marks.empty();
  pin->marks.marks = std::move(marks);
  if (marked) pin->marks.state.store(ResealMarks::kPending, std::memory_order_release);
  // Override pieces no segment needs any more (every segment they name was resealed or
  // released) retire; the new one, if any, is listed last.
  std::erase_if(override_pieces_,
                [oldest_serial](const OverridePiece& piece) { return piece.serial < oldest_serial; });
  if (!snapshot->overrides_.empty()) {
    override_serial_ = serial;
    override_pieces_.push_back(OverridePiece{NextPieceId(), serial});
    snapshot->override_words_ = words;
  }
  // (Segments released before the next snapshot stay counted: the count only sizes a budget.)
  for (OverridePiece& piece : override_pieces_) {
    piece.segments = piece.serial >= base_serial ? group_segments[piece.serial - base_serial] : 0;
  }

  // Earlier tombstone pieces stay listed while a piece they name is: every piece of a held
  // segment is listed, so only the pieces of segments released since the last snapshot leave.
  if (!dropped_pieces_.empty()) {
    std::sort(dropped_pieces_.begin(), dropped_pieces_.end());
    for (size_t i = 0; i < tombstone_pieces_.size();) {
      std::vector<uint64_t>& named = tombstone_pieces_[i].targets;
      std::erase_if(named, [&](uint64_t id) {
        return std::binary_search(dropped_pieces_.begin(), dropped_pieces_.end(), id);
      });
      if (!named.empty()) {
        ++i;
        continue;
      }
      retired_tombstones_.push_back(std::move(tombstone_pieces_[i].bytes));
      tombstone_pieces_.erase(tombstone_pieces_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    dropped_pieces_.clear();
  }
  const size_t old_tombstone_pieces = tombstone_pieces_.size();
  // Tombstones naming released pieces ride along (restore skips them), unless they are all there
  // is. Dropping them here would cost a pass over the records in the synchronous part.
  if (moot_tombstones_ * static_cast<int64_t>(kTombstoneRecordSize) ==
      static_cast<int64_t>(pending_tombstones_.size())) {
    pending_tombstones_.clear();
  }
  moot_tombstones_ = 0;
  // The tombstones since the previous snapshot (those naming released pieces were dropped with
  // them), taken as they are: their capacity is accounted already and moves with them.
  if (!pending_tombstones_.empty()) {
    WEIR_DCHECK(!targets.empty());
    auto bytes = std::make_shared<std::vector<std::byte>>(std::move(pending_tombstones_));
    pending_tombstones_ = {};
    pending_tombstones_accounted_ = 0;
    // Room for as many records as this interval had, and a quarter more: a vector of megabytes
    // doubling on the task thread (a copy into freshly faulted memory) stalled records for
    // milliseconds between checkpoints.
    pending_tombstones_.reserve(bytes->size() + bytes->size() / 4);
    pending_tombstones_accounted_ = static_cast<int64_t>(pending_tombstones_.capacity());
    AccountSide(pending_tombstones_accounted_);
    tombstone_pieces_.push_back(TombstonePiece{NextPieceId(), std::move(bytes), std::move(targets)});
  }
  for (size_t i = 0; i < tombstone_pieces_.size(); ++i) {
    const TombstonePiece& piece = tombstone_pieces_[i];
    pieces.push_back(TablePiece{piece.id, TablePiece::Kind::kTombstones,
                                std::span<const std::byte>(*piece.bytes),
                                !full && i < old_tombstone_pieces});
    snapshot->tombstone_bytes_.push_back(piece.bytes);
  }
  // Override pieces, oldest first (restore applies them in list order, the last one winning).
  // Only the new one has bytes: the earlier ones are in the checkpoints that wrote them (after an
  // aborted checkpoint the next one is full, which lists none).
  for (const OverridePiece& piece : override_pieces_) {
    const bool is_new = !snapshot->overrides_.empty() && piece.serial == serial;
    if (is_new) snapshot->override_piece_ = pieces.size();
    pieces.push_back(TablePiece{piece.id, TablePiece::Kind::kOverrides, {}, !is_new});
  }
  if (!record.segments.empty()) pins_.push_back(std::move(record));
  return snapshot;
}

Status StateTable::Restore(std::span<const RestorePiece> pieces, KeyGroupRange key_groups) {
  if (size_ != 0 || segment_count_ != 0) {
    return FailedPrecondition("state of operator {}: restoring into a table that holds {} entries",
                              owner_, size_);
  }
  // Tombstones, per entries piece: the offsets they name, sorted.
  std::unordered_map<uint64_t, size_t> piece_index;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!piece_index.emplace(pieces[i].id, i).second) {
      return DataLoss("state of operator {}: piece {:#x} appears twice", owner_, pieces[i].id);
    }
  }
  std::vector<std::vector<uint32_t>> tombstoned(pieces.size());
  // Overrides, per entries piece: the entry bytes that replace the piece's at an offset, the last
  // of the list for each offset.
  struct Override {
    uint32_t offset;
    uint32_t size;
    const std::byte* entry;
  };
  std::vector<std::vector<Override>> overridden(pieces.size());
  auto target_of = [&](const RestorePiece& piece, size_t at, uint64_t target,
                       std::string_view what) -> Result<size_t> {
    // A record may name a piece that is not restored (dropped by compaction or a reseal).
    const auto found = piece_index.find(target);
    if (found == piece_index.end()) return pieces.size();
    if (pieces[found->second].kind != TablePiece::Kind::kEntries) {
      return DataLoss("state of operator {}: {} piece {:#x} at offset {} names piece {:#x}, which "
                      "holds no entries",
                      owner_, what, piece.id, at, target);
    }
    return found->second;
  };
  for (const RestorePiece& piece : pieces) {
    if (piece.kind == TablePiece::Kind::kEntries) continue;
    if (piece.kind == TablePiece::Kind::kOverrides) {
      for (size_t at = 0; at < piece.bytes.size();) {
        if (piece.bytes.size() - at < kOverrideHeaderSize) {
          return DataLoss("state of operator {}: override piece {:#x} ends inside a record header at "
                          "offset {} ({} bytes)",
                          owner_, piece.id, at, piece.bytes.size());
        }
        uint64_t target;
        uint32_t offset;
        uint32_t size;
        std::memcpy(&target, piece.bytes.data() + at, 8);
        std::memcpy(&offset, piece.bytes.data() + at + 8, 4);
        std::memcpy(&size, piece.bytes.data() + at + 12, 4);
        if (size < kEntryHeaderSize || size % 8 != 0 ||
            size > piece.bytes.size() - at - kOverrideHeaderSize) {
          return DataLoss("state of operator {}: override piece {:#x}, record at offset {}: an entry "
                          "of {} bytes does not fit the piece's {} bytes",
                          owner_, piece.id, at, size, piece.bytes.size());
        }
        ASSIGN_OR_RETURN(const size_t index, target_of(piece, at, target, "override"));
        if (index != pieces.size()) {
          overridden[index].push_back(
              Override{offset, size, piece.bytes.data() + at + kOverrideHeaderSize});
        }
        at += kOverrideHeaderSize + size;
      }
      continue;
    }
    if (piece.kind != TablePiece::Kind::kTombstones) {
      return DataLoss("state of operator {}: piece {:#x} has unknown kind {}", owner_, piece.id,
                      static_cast<int>(piece.kind));
    }
    if (piece.bytes.size() % kTombstoneRecordSize != 0) {
      return DataLoss("state of operator {}: tombstone piece {:#x} has {} bytes, not a multiple of {}",
                      owner_, piece.id, piece.bytes.size(), kTombstoneRecordSize);
    }
    for (size_t at = 0; at < piece.bytes.size(); at += kTombstoneRecordSize) {
      uint64_t target;
      uint32_t offset;
      std::memcpy(&target, piece.bytes.data() + at, 8);
      std::memcpy(&offset, piece.bytes.data() + at + 8, 4);
      ASSIGN_OR_RETURN(const size_t index, target_of(piece, at, target, "tombstone"));
      if (index != pieces.size()) tombstoned[index].push_back(offset);
    }
  }
  for (std::vector<uint32_t>& offsets : tombstoned) std::sort(offsets.begin(), offsets.end());
  for (std::vector<Override>& list : overridden) {
    if (list.empty()) continue;
    // By offset, list order kept among equal ones; then the last of each offset.
    std::stable_sort(list.begin(), list.end(),
                     [](const Override& a, const Override& b) { return a.offset < b.offset; });
    size_t kept = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i + 1 < list.size() && list[i + 1].offset == list[i].offset) continue;
      list[kept++] = list[i];
    }
    list.resize(kept);
  }

  // Checks one stored entry's header (of piece `piece`, at `offset`, with `room` bytes from the
  // entry's start to its piece's or record's end) and returns the entry's size.
  auto check_entry = [&](const EntryHeader& header, const RestorePiece& piece, size_t offset,
                         size_t room) -> Result<size_t> {
    if (header.key_size > segment_size_ || header.ns_size > segment_size_ ||
        header.value_size > segment_size_) {
      return DataLoss("state of operator {}: piece {:#x}, entry at offset {}: lengths key {} "
                      "namespace {} value {} exceed a {}-byte segment",
                      owner_, piece.id, offset, header.key_size, header.ns_size,
                      header.value_size, segment_size_);
    }
    const size_t entry_size = EntrySize(header.key_size, header.ns_size, header.value_size);
    if (entry_size > room) {
      return DataLoss("state of operator {}: piece {:#x}, entry at offset {} runs {} bytes past the "
                      "piece's end",
                      owner_, piece.id, offset, entry_size - room);
    }
    if (header.key_group >= kMaxParallelismUpperBound) {
      return DataLoss("state of operator {}: piece {:#x}, entry at offset {}: key group {} out of "
                      "range",
                      owner_, piece.id, offset, header.key_group);
    }
    if ((header.flags & ~kDeadFlag) != 0) {
      return DataLoss("state of operator {}: piece {:#x}, entry at offset {}: unknown flags {:#x}",
                      owner_, piece.id, offset, header.flags);
    }
    if (entry_size > segment_size_) {
      return InvalidArgument("state of operator {}: piece {:#x}, entry at offset {}: {} bytes do "
                             "not fit this table's {}-byte segments",
                             owner_, piece.id, offset, entry_size, segment_size_);
    }
    return entry_size;
  };

  // Pass 1: validate every header and count the entries to insert, to size the index once, and
  // pack them into segments as pass 2 will (an entry that does not fit the rest of a segment starts
  // the next one, as Allocate does), to acquire every segment at once.
  size_t count = 0;
  size_t segments_needed = 0;
  size_t segment_fill = segment_size_;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const RestorePiece& piece = pieces[i];
    if (piece.kind != TablePiece::Kind::kEntries) continue;
    const std::byte* const bytes = piece.bytes.data();
    const size_t size = piece.bytes.size();
    const std::vector<uint32_t>& dead = tombstoned[i];
    const std::vector<Override>& replaced = overridden[i];
    size_t next_dead = 0;
    size_t next_override = 0;
    for (size_t offset = 0; offset < size;) {
      if (size - offset < kEntryHeaderSize) {
        return DataLoss("state of operator {}: piece {:#x} ends inside an entry header at offset {} "
                        "({} bytes)",
                        owner_, piece.id, offset, size);
      }
      EntryHeader header;
      std::memcpy(&header, bytes + offset, kEntryHeaderSize);
      ASSIGN_OR_RETURN(const size_t entry_size, check_entry(header, piece, offset, size - offset));
      if ((next_dead < dead.size() && dead[next_dead] < offset) ||
          (next_override < replaced.size() && replaced[next_override].offset < offset)) {
        return DataLoss("state of operator {}: a tombstone or override names offset {} of piece "
                        "{:#x}, which is not an entry",
                        owner_, std::min(next_dead < dead.size() ? dead[next_dead] : UINT32_MAX,
                                         next_override < replaced.size()
                                             ? replaced[next_override].offset
                                             : UINT32_MAX),
                        piece.id);
      }
      if (next_override < replaced.size() && replaced[next_override].offset == offset) {
        const Override& current = replaced[next_override++];
        std::memcpy(&header, current.entry, kEntryHeaderSize);
        ASSIGN_OR_RETURN(const size_t override_size,
                         check_entry(header, piece, offset, current.size));
        if (override_size != entry_size || current.size != entry_size) {
          return DataLoss("state of operator {}: an override of the {}-byte entry at offset {} of "
                          "piece {:#x} holds {} bytes",
                          owner_, entry_size, offset, piece.id, current.size);
        }
      }
      bool skip = (header.flags & kDeadFlag) != 0 || !key_groups.Contains(header.key_group);
      while (next_dead < dead.size() && dead[next_dead] == offset) {
        skip = true;
        ++next_dead;
      }
      if (!skip) {
        ++count;
        if (segment_fill + entry_size > segment_size_) {
          ++segments_needed;
          segment_fill = 0;
        }
        segment_fill += entry_size;
      }
      offset += entry_size;
    }
    if (next_dead < dead.size() || next_override < replaced.size()) {
      return DataLoss("state of operator {}: a tombstone or override names offset {} of piece "
                      "{:#x}, which is not an entry",
                      owner_, next_dead < dead.size() ? dead[next_dead] : replaced[next_override].offset,
                      piece.id);
    }
  }
  if (count == 0) return Status::Ok();
  // Every segment pass 2 fills, acquired (and reserved in the budget) before anything is copied, so
  // the prefaulter can fault them in while the index is allocated and the entries are copied. A
  // failure leaves empty segments: the table stays consistent.
  std::vector<uint32_t> targets;
  targets.reserve(segments_needed);
  std::vector<std::span<std::byte>> prefault_ranges;
  for (size_t i = 0; i < segments_needed; ++i) {
    RETURN_IF_ERROR(AddSegment());
    targets.push_back(static_cast<uint32_t>(active_));
    std::byte* const base = segment_views_[active_].base;
    std::span<std::byte>* last = prefault_ranges.empty() ? nullptr : &prefault_ranges.back();
    if (last != nullptr && last->data() + last->size() == base &&
        last->size() + segment_size_ <= kPrefaultRangeBytes) {
      *last = std::span<std::byte>(last->data(), last->size() + segment_size_);
    } else {
      prefault_ranges.emplace_back(base, segment_size_);
    }
  }
  SegmentPrefaulter prefaulter(std::move(prefault_ranges));
  // The index at its final size at once (3/4 full at most, as Grow keeps it).
  size_t capacity = std::max(capacity_, kInitialCapacity);
  while (capacity / 4 * 3 < count) capacity *= 2;
  if (capacity > capacity_) RETURN_IF_ERROR(Grow(capacity));

  // Pass 2: copy the surviving entries into the segments and insert their slots from the stored
  // hash. A slot's insertion is a cache (and TLB) miss in an index of hundreds of MB, so slots are
  // inserted kLag entries behind the copy, after a prefetch of their home slot. (Scattering
  // (hash, reference) pairs into runs by the top bits of the hash and inserting run by run, within
  // a window of the index that stays in cache, was measured slower on the development VM: its 16
  // bytes per entry are fresh memory to fault in, 320 MB for 20 M entries.)
  constexpr size_t kLag = 32;
  uint64_t lagging_hash[kLag];
  uint64_t lagging_ref[kLag];
  size_t copied = 0;
  size_t next_target = 0;
  SegmentState* target = nullptr;
  uint32_t target_index = 0;
  auto insert = [this](uint64_t hash, uint64_t ref) {
    slots_[FirstEmptySlot(hash)] = ((hash >> kRefBits) << kRefBits) | ref;
    ++size_;
  };
  for (size_t i = 0; i < pieces.size(); ++i) {
    const RestorePiece& piece = pieces[i];
    if (piece.kind != TablePiece::Kind::kEntries) continue;
    const std::byte* const bytes = piece.bytes.data();
    const size_t size = piece.bytes.size();
    const std::vector<uint32_t>& dead = tombstoned[i];
    const std::vector<Override>& replaced = overridden[i];
    size_t next_dead = 0;
    size_t next_override = 0;
    for (size_t offset = 0; offset < size;) {
      const std::byte* entry = bytes + offset;
      if (next_override < replaced.size() && replaced[next_override].offset == offset) {
        entry = replaced[next_override++].entry;  // the same size (pass 1 checked)
      }
      EntryHeader header;
      std::memcpy(&header, entry, kEntryHeaderSize);
      const size_t entry_size = EntrySize(header.key_size, header.ns_size, header.value_size);
      bool skip = (header.flags & kDeadFlag) != 0 || !key_groups.Contains(header.key_group);
      while (next_dead < dead.size() && dead[next_dead] == offset) {
        skip = true;
        ++next_dead;
      }
      if (!skip) {
        // The segments pass 1 counted, filled in the same order with the same entries.
        if (target == nullptr || target->used + entry_size > segment_size_) {
          WEIR_CHECK(next_target < targets.size());
          target_index = targets[next_target++];
          target = &segments_[target_index];
        }
        const uint64_t ref = MakeRef(target_index, target->used);
        target->used += static_cast<uint32_t>(entry_size);
        target->live += static_cast<uint32_t>(entry_size);
        live_bytes_ += static_cast<int64_t>(entry_size);
        std::memcpy(EntryAt(ref), entry, entry_size);
        __builtin_prefetch(&slots_[header.hash >> shift_], 1);
        if (copied >= kLag) insert(lagging_hash[copied % kLag], lagging_ref[copied % kLag]);
        lagging_hash[copied % kLag] = header.hash;
        lagging_ref[copied % kLag] = ref;
        ++copied;
      }
      offset += entry_size;
    }
  }
  for (size_t j = copied > kLag ? copied - kLag : 0; j < copied; ++j) {
    insert(lagging_hash[j % kLag], lagging_ref[j % kLag]);
  }
  MaybeCompact();
  return Status::Ok();
}

}  // namespace weir::state
