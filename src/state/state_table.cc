#include "state/state_table.h"

#include <algorithm>
#include <bit>
#include <new>
#include <utility>

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
}

StateTable::~StateTable() {
  if (slots_ != nullptr) ::operator delete(slots_, std::align_val_t{64});
}

size_t StateTable::HomeOf(uint64_t slot) const {
  if (capacity_bits_ <= kTagBits) return (slot >> kRefBits) >> (kTagBits - capacity_bits_);
  return EntryAt(slot)->hash >> shift_;
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
    const Probe probe = Lookup(hash, key_group, key, ns);
    if (probe.found) {
      EntryHeader* header = EntryAt(slots_[probe.slot]);
      if (Align8(header->value_size) == Align8(value.size())) {
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
  if (size_ + 1 > grow_at_) {
    RETURN_IF_ERROR(Grow());
    empty_slot = FirstEmptySlot(hash);
  }
  ASSIGN_OR_RETURN(const uint64_t ref, Allocate(EntrySize(key.size(), ns.size(), value_size)));
  EntryHeader* header = WriteEntry(ref, hash, key_group, key, ns, value, value_size);
  slots_[empty_slot] = ((hash >> kRefBits) << kRefBits) | ref;
  ++size_;
  return std::span<std::byte>(ValueOf(header), value_size);
}

bool StateTable::Remove(uint64_t key_hash, int key_group, std::string_view key,
                        std::string_view ns) {
  if (capacity_ == 0) return false;
  const Probe probe = Lookup(SlotHash(key_hash, ns), key_group, key, ns);
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

Status StateTable::Grow() {
  const size_t new_capacity = capacity_ == 0 ? kInitialCapacity : capacity_ * 2;
  const int new_bits = std::countr_zero(new_capacity);
  const int new_shift = 64 - new_bits;
  const size_t new_mask = new_capacity - 1;
  const auto new_bytes = static_cast<int64_t>(new_capacity * sizeof(uint64_t));
  RETURN_IF_ERROR(Reserve(new_bytes, "its index"));
  auto* new_slots = static_cast<uint64_t*>(
      ::operator new(new_capacity * sizeof(uint64_t), std::align_val_t{64}, std::nothrow));
  if (new_slots == nullptr) {
    Unreserve(new_bytes);
    return ResourceExhausted("state of operator {}: cannot allocate a {}-byte index", owner_,
                             new_bytes);
  }
  std::memset(new_slots, 0, new_capacity * sizeof(uint64_t));
  for (size_t i = 0; i < capacity_; ++i) {
    const uint64_t slot = slots_[i];
    if (slot == 0) continue;
    size_t index = new_bits <= kTagBits ? (slot >> kRefBits) >> (kTagBits - new_bits)
                                        : EntryAt(slot)->hash >> new_shift;
    while (new_slots[index] != 0) index = (index + 1) & new_mask;
    new_slots[index] = slot;
  }
  if (slots_ != nullptr) {
    ::operator delete(slots_, std::align_val_t{64});
    Unreserve(static_cast<int64_t>(capacity_ * sizeof(uint64_t)));
  }
  slots_ = new_slots;
  capacity_ = new_capacity;
  capacity_bits_ = new_bits;
  shift_ = new_shift;
  mask_ = new_mask;
  grow_at_ = new_capacity / 4 * 3;
  return Status::Ok();
}

Result<uint64_t> StateTable::Allocate(size_t size) {
  WEIR_DCHECK(size % 8 == 0 && size <= segment_size_);
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
    segment_bases_.push_back(nullptr);
  } else {
    free_indexes_.pop_back();
  }
  segment_bases_[index] = segment->data();
  segments_[index] = SegmentState{std::move(segment).value(), 0, 0};
  active_ = static_cast<int64_t>(index);
  ++segment_count_;
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
  header->flags |= kDeadFlag;
  const auto size =
      static_cast<uint32_t>(EntrySize(header->key_size, header->ns_size, header->value_size));
  segments_[((slot & kRefMask) - 1) >> units_per_segment_bits_].live -= size;
  live_bytes_ -= size;
  dead_bytes_ += size;
}

void StateTable::RemoveSlot(size_t slot) {
  // Backward-shift deletion: pull later members of the probe run into the hole when the hole lies
  // between their home and their position, so every run stays contiguous without tombstones.
  size_t hole = slot;
  size_t index = slot;
  while (true) {
    index = (index + 1) & mask_;
    const uint64_t current = slots_[index];
    if (current == 0) break;
    const size_t home = HomeOf(current);
    if (((index - home) & mask_) >= ((index - hole) & mask_)) {
      slots_[hole] = current;
      hole = index;
    }
  }
  slots_[hole] = 0;
}

void StateTable::ReleaseSegment(uint32_t index) {
  segments_[index] = SegmentState{};
  segment_bases_[index] = nullptr;
  free_indexes_.push_back(index);
  --segment_count_;
  Unreserve(segment_size_);
}

void StateTable::Compact() {
  // The segments holding garbage, the active one last, are treated as one sequence of bytes and
  // their live entries slid towards its start, like a mark-compact collector. An entry moves to a
  // position at or before its own (the destination never passes the source, since it only skips
  // a segment tail when an entry does not fit, and an entry fits wherever its own segment has
  // room), so unread entries are never overwritten and no extra segment is needed: compaction
  // works even when the budget is exhausted.
  std::vector<uint32_t> victims;
  bool active_is_victim = false;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const SegmentState& state = segments_[i];
    if (!state.segment || state.live == state.used) continue;
    if (static_cast<int64_t>(i) == active_) {
      active_is_victim = true;
    } else {
      victims.push_back(static_cast<uint32_t>(i));
    }
  }
  if (active_is_victim) victims.push_back(static_cast<uint32_t>(active_));
  if (victims.empty()) return;

  size_t destination = 0;  // position in victims
  uint32_t destination_offset = 0;
  for (size_t source = 0; source < victims.size(); ++source) {
    const uint32_t source_index = victims[source];
    std::byte* const source_base = segment_bases_[source_index];
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
          size_t slot = header->hash >> shift_;
          while ((slots_[slot] & kRefMask) != old_ref) {
            WEIR_CHECK(slots_[slot] != 0);
            slot = (slot + 1) & mask_;
          }
          std::memmove(segment_bases_[destination_index] + destination_offset, header, size);
          slots_[slot] = (slots_[slot] & ~kRefMask) | new_ref;
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
  // Segments that were not victims hold no dead bytes.
  dead_bytes_ = 0;
}

}  // namespace weir::state
