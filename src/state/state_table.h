// StateTable: the keyed state of one operator subtask, (key group, key bytes, namespace bytes) ->
// value bytes, stored in memory segments of managed memory. It is what Flink's heap keyed state
// backend is, with no per-key heap object: rolling aggregations keep their accumulators here, and
// windows (namespace = window), timers and Value/List/Map/Reducing/Aggregating state build on it.
//
// Why this shape
// --------------
// * Entries are bytes in segments acquired from a memory::SegmentPool, every segment reserved in
//   the job's memory::MemoryBudget before it is acquired. State therefore costs exactly the bytes
//   it holds plus the index, is bounded by taskmanager.memory.managed.size, and a table that
//   outgrows it fails with a ResourceExhausted Status that names the operator and the
//   configuration key, instead of the process growing until the OOM killer ends it.
// * An entry is a 24-byte header (slot hash u64, key length u32, namespace length u32, value
//   length u32, key group u16, flags u16), then the key and namespace bytes, padding to 8, then the
//   value, padding to 8. Entries are 8-byte aligned, so values are 8-byte aligned and a counter or
//   a plain-bytes accumulator can be updated in place through the returned span.
// * The index is open addressing with linear probing over an array of 8-byte slots, one cache line
//   holding 8 of them. A slot is (24-bit tag << 40 | 40-bit entry reference); 0 is empty. The tag
//   is the top 24 bits of the slot hash, the home slot is the top log2(capacity) bits, so a lookup
//   compares tags first and touches an entry only on a tag match (false match rate 2^-24), then
//   compares key group, lengths and bytes. The array doubles when it would pass 3/4 full (7/8
//   while its successor is still being prepared: "Growing the index"); removal uses backward-shift
//   deletion, so there are no tombstones and probe lengths stay short under churn. While capacity
//   <= 2^24 a slot's home follows from its tag alone, so resizing and deletion never read
//   entries; beyond that they read the hash from the entry header. The array is a 64-byte aligned
//   heap block, or a memory::Mapping from kMappedIndexBytes, reserved in the budget.
// * The slot hash is the caller's xxh3 of the key (computed once for partitioning) when the
//   namespace is empty, and xxh3 of the namespace seeded with it otherwise. High bits pick the slot
//   because the low bits are correlated with the key group, i.e. with the subtask owning the key.
// * An entry reference is (segment index, offset / 8), never a pointer: segments can be replaced,
//   copied or released without rewriting anything but the slots that name them. This is what lets
//   compaction (below) and copy-on-write snapshots (below) work per segment.
//
// Growing the index
// -----------------
// A doubling does not stop the task for a rehash of the whole index (about 1.8 ms at 2^18 slots
// on the development VM, most of it page faults on the fresh array: the T3 order book's worst
// latencies). Like Flink's CopyOnWriteStateMap, which rehashes incrementally, the table keeps
// both arrays for a while:
// * Ahead of time. When the index passes 5/8 full and the next one (twice as large) is at least
//   kMappedIndexBytes, it is reserved in the budget, and memory's helper thread maps it and
//   faults it in (memory::Mapping::PrepareInBackground), so the growth finds it ready and the task
//   thread makes no mmap call, which can wait milliseconds for the memory-map lock while another
//   thread populates memory (measured: up to 25 ms behind the segment pool's fault-ahead). If the
//   helper is late, the growth waits for it until the index is 7/8 full, then maps one itself.
//   A released index is unmapped by the helper too.
// * Migration. At 3/4 full the new array becomes the index and the old one is migrated a few
//   positions per insert (MigrateStep), in order from an empty position and always through the
//   end of a probe run, so the unmigrated part keeps whole runs and a probe that starts in the
//   migrated part ends at once. Inserts go to the new array. A lookup probes the new array and,
//   when the key is not there, the old one; a hit there moves the slot to the end of the new
//   probe (TakeFromOld), so every caller's slot position is in the new array (Get, being const,
//   only reads). Entry references never change, so entries, spans and snapshots are unaffected.
//   The old array is released once every position has migrated, after capacity / (2 *
//   kMigrateSlots) inserts at most, long before the new one can fill.
//
// Garbage and compaction
// ----------------------
// New entries are appended to the active segment. A value whose padded size is unchanged is
// overwritten in place (the common case: sums, counters, fixed-size accumulators). A value whose
// padded size changes is written as a new entry and the old entry is marked dead, as is a removed
// entry. Dead bytes are counted per segment. Garbage is reclaimed in two ways:
// * Incrementally, a bounded step per write (EvacuateStep). Once the table's dead bytes are at
//   least one segment and a quarter of its segments' bytes, every write that kills an entry
//   (Put with a new size, Remove, a relocation) is followed by a step that scans kStepFactor times
//   the bytes it killed of a victim segment: a segment at least half dead, other than the active
//   one and not pinned by a snapshot, found by a round-robin sweep. The victim's live entries
//   are copied to the survivor segment (each re-pointing its one slot, found by probing from the
//   entry's stored hash) and the victim, once it holds no live entry, goes back to the pool and
//   the budget. Survivors get appended segments of their own, never the active one: an entry that
//   outlived its first segment tends to live long (T3's orders of rarely traded symbols), and
//   mixed with new entries it would be copied again each time they die around it; kept apart,
//   a segment of survivors dies slowly and is rarely a victim (the hot/cold separation of
//   log-structured file systems). On T3 (docs/bench.md) this copies 20% fewer bytes and holds
//   6% fewer segments. A step reclaims at least 4/3 of the bytes the write killed, so garbage shrinks
//   while writes go on, and no write pays more than a few times its own bytes: this is what keeps
//   a table of tens of megabytes from stopping its task for milliseconds (the T3 order-book
//   query of `weir bench ticks` paused 486 times in 10 s for whole-table compactions, 0.65 ms on
//   average and 8 ms at worst, its worst latency; docs/architecture.md has the command).
// * All at once (Compact), only when dead bytes pass half of the segments' bytes anyway: the
//   steps found no segment worth evacuating (garbage spread thin, or pinned), or evacuation found
//   no memory to copy into. The segments holding dead bytes (the active one last) are treated as
//   one sequence and their live entries are slid towards its start, each move re-pointing the
//   entry's one slot; the segments left empty go back to the pool and the budget. An entry only
//   ever moves to a position at or before its own, so this needs no spare memory and works with
//   the budget exhausted. It costs O(bytes of the segments with garbage), paid as one pause.
// Memory therefore stays below about 2 x live bytes + two segments (the active and the survivor
// one) + the index, plus the unused tails of segments (under an entry per segment, small when
// entries are small relative to the segment size). full_compactions() counts the pauses,
// moved_bytes() the bytes compaction copied.
//
// Copy-on-write snapshots and restore (table_snapshot.h)
// ------------------------------------------------------
// Segments are the unit of sharing; a byte range of a segment is the unit of persistence.
// * Sealing. Snapshot() seals, per segment, the bytes written so far: [0, sealed). Each newly
//   sealed range becomes an entries piece with a fresh id; ranges sealed by earlier snapshots are
//   listed again as written before (unless `full`), with the same id and the same entries. A
//   sealed entry's dead flag is never written by the task thread: a sealed entry that dies gets a
//   bit in its segment's sealed_dead bitmap instead (which ForEach and compaction consult).
//   Snapshot() copies no entry: O(segments + pieces), with no hashing or sorting (0.47 us for the
//   65 pieces of BM_StateTable_Snapshot/64), and no per-entry work.
// * Pinned segments relocate. While an unreleased snapshot lists a segment (its writer may still
//   read it), a FindOrInsert or Find hit (the caller may write the span) or a same-size Put on one
//   of its sealed entries first copies the entry to the active segment, re-points its slot and
//   marks the old copy dead, exactly as a size-changing Put does. The hot path pays one compare:
//   segment_views_ keeps each segment's sealed end next to its base pointer, so a hit on an
//   unsealed entry reads the same cache line as before. A read that must not relocate uses Get().
// * In-place writes and overrides. Once no snapshot pins the segment, the same write goes in
//   place and sets the entry's bit in the segment's dirty bitmap (WriteSealed; the bitmap and the
//   pin count sit in the same SegmentView). A checkpoint that references the entry's piece from an
//   earlier checkpoint then holds the old value, so the next Snapshot moves each dirty bitmap into
//   the snapshot, which gathers the entries' current bytes (on the checkpoint writer's thread,
//   from the pinned segment) into one override piece: records of (piece id, offset in the piece,
//   the entry). Restore applies override pieces in list order over the entries they name. This is
//   what keeps checkpoints from slowing the job down: relocating every entry written after each
//   checkpoint cost a copy, a tombstone and, later, its evacuation, and halved a 20 M-key window
//   job's rate with a checkpoint every second (docs/checkpoints.md); now only the writes that
//   land while a checkpoint is being written relocate. Only the newest override piece has bytes
//   (they live in the snapshot that made it, not in the table); earlier ones are listed as written
//   before, and a full snapshot, which writes every piece from memory, lists none.
// * Resealing bounds the overrides. Each segment counts the override bytes naming its pieces;
//   once they reach a fraction of its sealed bytes between kResealRatio/2 and kResealRatio (set
//   per segment, so that segments written evenly do not all reach it in the same snapshot), or
//   once the oldest listed override piece must retire (below), Snapshot reseals it: its pieces
//   are replaced by one new piece [0, used) written from memory, the dead entries of the old
//   sealed range get the dead flag in their headers (so the piece's own bytes say so; tombstones
//   in it instead when an earlier snapshot still pins the segment), and the override and
//   tombstone pieces naming only replaced pieces leave the list. The snapshot's writer sets those
//   flags before it reads a piece (ResealMarks in state_table.cc), from the segment's sealed_dead
//   bits at the reseal, which the segment keeps as resealed_dead until its next reseal (later
//   deaths go to a fresh sealed_dead). The segment is pinned, so the task thread neither reads
//   nor writes those headers' flags meanwhile (IsDead asks the bits first); a snapshot never
//   written sets them when it goes, and the table waits for them before its next snapshot.
//   The oldest override piece retires when no segment names it any more:
//   from kMaxOverridePieces/2 listed pieces on, each snapshot reseals the segments it names in
//   shares (those left divided by the snapshots left before kMaxOverridePieces are listed, all of
//   them then), so a table written all over is rewritten a slice per checkpoint rather than whole
//   every few checkpoints (which, for a 1 GB table, was a 1 GB checkpoint and a 100 ms
//   synchronous part). Checkpoint files referenced by a checkpoint therefore stay within about
//   twice the state plus the tombstones, and restore reads no more.
// * Tombstones. Every entry of a sealed range that dies (relocated, replaced, removed) is recorded
//   as (piece id, offset in the piece), appended in the on-disk format (12-byte records), and its
//   piece is flagged. The next snapshot takes the records accumulated since the previous one as
//   they are (a move) as a new tombstone piece naming the flagged pieces; records naming pieces
//   that compaction released are dropped with them. An earlier tombstone piece stays listed while
//   any piece it names is listed (pieces leave only when their segment is released).
//   Restore skips entries flagged dead and entries a tombstone names, so with 1% of keys changed an
//   incremental snapshot's new bytes are the changed entries plus 12 bytes per change.
// * Pinning. A snapshot pins every segment it lists (written-before pieces included, so the
//   checkpoint writer may still read them) until the snapshot object is destroyed, possibly on
//   another thread: it only sets an atomic flag, which the task thread polls on the slow paths
//   (Snapshot, compaction, a write to a pinned sealed entry). A release only drops pin counts
//   (nothing is written back). Compaction skips pinned segments.
// * Compaction with seals. The whole-table Compact slides unsealed segments in place as above.
//   A sealed, unpinned, non-active segment at most half live is evacuated, by Compact at once or
//   by the incremental steps a little at a time: its live entries are copied to the active
//   segment and it is released, which drops its pieces from the next snapshot (and with them the
//   tombstone pieces naming only them). A sealed entry a step moves gets no tombstone while its
//   segment is being evacuated; if a snapshot comes first (or memory runs out), the step series
//   is abandoned and the moved entries get their tombstones then (AbandonVictim), at most one
//   segment's worth. Pending tombstones naming released pieces are moot (restore skips them); they
//   are purged once they are most of the pending ones. A segment more than half live keeps its
//   garbage, so an incremental checkpoint rewrites no more than it must; Compact then waits for
//   another quarter of the table's bytes to die before scanning again (next_compaction_dead_).
// * Destruction while pinned. The table hands its pinned segments (and the budget reservation for
//   them) to the unreleased snapshots; the last of them releases them to the pool. The pool must
//   therefore outlive the snapshots too.
// * Accounting. Relocated copies are entries like any other; tombstone records, the sealed_dead,
//   resealed_dead and spare dirty bitmaps and the lists of reseal marks are reserved in the budget
//   in 4 KiB steps. Remove, MarkDead and Find cannot report
//   failure, so a step they cannot reserve is owed and collected by the next allocation, which
//   fails with ResourceExhausted until it is paid.
// * Restore copies the surviving entries of each piece into fresh segments and inserts their
//   slots from the stored slot hash (no key is hashed again), after validating every header: an
//   entry running past its piece, a length beyond a segment, a key group >= kMaxParallelismUpperBound
//   or unknown flags is DataLoss naming the piece id and offset. Pieces may be unaligned.
//
// Threads: a table belongs to one task thread; no method is thread-safe. The pool and the budget
// may be shared with other tables on other threads.
//
// Span validity: every span the table returns points into a segment and stays valid until the
// next Put, FindOrInsert or Remove on this table (which may relocate or compact entries). Find may
// relocate the entry it returns (a sealed one) but moves no other entry, so spans of other entries
// stay valid across it. Spans passed in may point into this table (e.g.
// Put(k2, Find(k1))).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "base/xxhash.h"
#include "memory/mapping.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"
#include "state/table_snapshot.h"

namespace weir::state {

// A snapshot's dirty entries of one segment, and the deaths its writer flags (defined in
// state_table.cc).
struct SnapshotOverrideSource;
struct ResealMarks;

class StateTable {
 public:
  // Bytes of the per-entry header.
  static constexpr size_t kEntryHeaderSize = 24;

  // `pool` and `budget` must outlive the table. `owner` (the operator subtask's name) appears in
  // budget error messages. The table holds no memory until the first insert.
  StateTable(memory::SegmentPool* pool, memory::MemoryBudget* budget, std::string owner);
  ~StateTable();
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  // The value stored under (key_group, key, ns), writable in place, or an empty span if absent.
  // `key_hash` is the xxh3 of `key` (the same hash the key group was computed from); the table
  // trusts it: equal keys must be passed equal hashes. A sealed entry (see "Copy-on-write
  // snapshots") is first relocated, since the caller may write the span; if that needs memory the
  // budget cannot give, Find returns an empty span and status() reports ResourceExhausted (callers
  // that only read should use Get, which never relocates).
  // REQUIRES: 0 <= key_group < kMaxParallelismUpperBound (key_groups.h).
  std::span<std::byte> Find(uint64_t key_hash, int key_group, std::string_view key,
                            std::string_view ns = {}) {
    if (capacity_ == 0) return {};
    const Probe probe = LookupForWrite(SlotHash(key_hash, ns), key_group, key, ns);
    if (!probe.found) return {};
    const uint64_t slot = slots_[probe.slot];
    EntryHeader* header = EntryAt(slot);
    if (IsSealed(slot, header) && !MarkDirtyInPlace(slot, header)) [[unlikely]] {
      Result<std::span<std::byte>> moved = WriteSealed(probe.slot, /*may_compact=*/false);
      if (moved.ok()) return *moved;
      if (status_.ok()) status_ = std::move(moved).status();
      return {};
    }
    return {ValueOf(header), header->value_size};
  }

  // As Find, read only: never relocates, so it costs nothing extra after a snapshot.
  std::span<const std::byte> Get(uint64_t key_hash, int key_group, std::string_view key,
                                 std::string_view ns = {}) const {
    if (capacity_ == 0) return {};
    const uint64_t hash = SlotHash(key_hash, ns);
    const Probe probe = Lookup(hash, key_group, key, ns);
    if (!probe.found) [[unlikely]] {
      if (old_slots_ == nullptr) return {};
      return GetFromOld(hash, key_group, key, ns);
    }
    const EntryHeader* header = EntryAt(slots_[probe.slot]);
    return {ValueOf(header), header->value_size};
  }

  // The first failure of a call that cannot return one (Find's relocation), or OK.
  const Status& status() const { return status_; }

  // Inserts or overwrites the value; returns the stored bytes. A value of the same padded size as
  // the stored one is overwritten in place. Fails with InvalidArgument when the entry (header, key,
  // namespace, value) exceeds MaxEntrySize(), and with ResourceExhausted when the budget or the
  // pool cannot supply memory; on failure the table is unchanged.
  Result<std::span<std::byte>> Put(uint64_t key_hash, int key_group, std::string_view key,
                                   std::string_view ns, std::span<const std::byte> value);

  // The hot path of aggregations, one probe: the stored value if present (whatever its size, and
  // *inserted = false), else a new entry of `value_size` zero bytes (*inserted = true). Fails as
  // Put does; on failure the table is unchanged and *inserted is false.
  // Always inlined: the probe of an existing key is a few instructions, and keeping it in the
  // caller's loop lets the CPU overlap the cache misses of consecutive records.
  [[gnu::always_inline]] Result<std::span<std::byte>> FindOrInsert(
      uint64_t key_hash, int key_group, std::string_view key, std::string_view ns,
      size_t value_size, bool* inserted) {
    *inserted = false;
    const uint64_t hash = SlotHash(key_hash, ns);
    size_t empty_slot = 0;
    if (capacity_ != 0) {
      const Probe probe = Lookup(hash, key_group, key, ns);
      if (probe.found) {
        const uint64_t slot = slots_[probe.slot];
        EntryHeader* header = EntryAt(slot);
        if (IsSealed(slot, header) && !MarkDirtyInPlace(slot, header)) [[unlikely]] {
          return WriteSealed(probe.slot, /*may_compact=*/true);
        }
        return std::span<std::byte>(ValueOf(header), header->value_size);
      }
      empty_slot = probe.slot;
    }
    return InsertZeroed(hash, key_group, key, ns, value_size, empty_slot, inserted);
  }

  // Prefetching for loops over many keys (timer firing): a probe costs two dependent cache misses,
  // the index slot and then the entry. PrefetchSlot starts loading the slot of (key_hash, ns);
  // PrefetchEntry, issued a little later, reads that slot and starts loading the first 64 bytes of
  // the entry its first candidate names: entries are 8-byte aligned, so a small one (a 24-byte
  // header, an 8-byte key, a 16-byte accumulator) often has its value on the line after its
  // header. Both are hints: they change nothing and are cheap when the table is empty.
  void PrefetchSlot(uint64_t key_hash, std::string_view ns = {}) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[SlotHash(key_hash, ns) >> shift_]);
  }
  void PrefetchEntry(uint64_t key_hash, std::string_view ns = {}) const {
    if (capacity_ == 0) return;
    const uint64_t slot = CandidateSlot(SlotHash(key_hash, ns));
    if (slot != 0) {
      const auto* entry = reinterpret_cast<const std::byte*>(EntryAt(slot));
      __builtin_prefetch(entry);
      __builtin_prefetch(entry + 63);
    }
  }
  // As PrefetchEntry, for a write to the entry in a table a snapshot has sealed (sealed_any()):
  // a write in place to a sealed entry also sets the entry's bit in its segment's dirty bitmap
  // (MarkDirtyInPlace), a third random line per record, so its word is started too. Separate
  // from PrefetchEntry because the check costs a table never snapshotted about 2.5% of a
  // tumbling window job's rate (BM_WindowJob_Tumbling, 4 pairs).
  void PrefetchEntryForWrite(uint64_t key_hash, std::string_view ns = {}) const {
    if (capacity_ == 0) return;
    const uint64_t slot = CandidateSlot(SlotHash(key_hash, ns));
    if (slot != 0) {
      const uint64_t unit = (slot & kRefMask) - 1;
      const SegmentView& view = segment_views_[unit >> units_per_segment_bits_];
      const std::byte* entry = view.base + ((unit & units_per_segment_mask_) << 3);
      __builtin_prefetch(entry);
      __builtin_prefetch(entry + 63);
      if (entry < view.sealed_end && view.dirty != nullptr) {
        __builtin_prefetch(&view.dirty[(unit & units_per_segment_mask_) >> 6], 1);
      }
    }
  }
  // Whether a snapshot has sealed any of the table's bytes (see PrefetchEntryForWrite).
  bool sealed_any() const { return sealed_any_; }

  // Removes the entry; returns whether it was present.
  bool Remove(uint64_t key_hash, int key_group, std::string_view key, std::string_view ns = {});

  // Checkpoints (table_snapshot.h). The synchronous part of a checkpoint: seals the table's bytes
  // as they are now and returns its pieces, copying no entry. `full` marks every piece as not
  // written before (a savepoint, or the first checkpoint into a new directory). Cost: O(segments +
  // pieces). Every listed piece's bytes stay valid and unchanged until the snapshot is destroyed
  // (on any thread), even if the table is destroyed first.
  std::shared_ptr<TableSnapshot> Snapshot(bool full = false);
  // Inserts the live entries of `pieces` (entries flagged dead and entries a tombstone names are
  // skipped) whose key group is in `key_groups`. Call it on an empty table, once per restore, with
  // the pieces of every old subtask concatenated (piece ids are unique). Piece bytes need no
  // alignment. The live entries of a snapshot hold each key once, so restore inserts slots without
  // comparing keys (the compare is a cache miss per entry); pieces that hold a key twice (bytes
  // that passed their checksum but were not written by Snapshot) leave both copies, harmlessly
  // for memory safety: the key's lookups then see one of them.
  // Errors: FailedPrecondition on a non-empty table; DataLoss naming the piece id and offset when a
  // piece is malformed (an entry running past its piece, a length beyond a segment, a key group out
  // of range, unknown flags, a tombstone not naming an entry, a repeated piece id); InvalidArgument
  // when an entry does not fit this table's segments; ResourceExhausted when the entries do not fit
  // the budget. On error the table may hold some of the entries.
  Status Restore(std::span<const RestorePiece> pieces, KeyGroupRange key_groups);

  // Live entries.
  size_t size() const { return size_; }
  // Bytes reserved in the budget: segments held plus the index array.
  int64_t memory_bytes() const { return reserved_bytes_; }
  // Bytes of live entries (headers and padding included).
  int64_t live_bytes() const { return live_bytes_; }
  // Bytes of dead entries not yet reclaimed by compaction.
  int64_t dead_bytes() const { return dead_bytes_; }
  // Whole-table compactions so far (see "Garbage and compaction": the incremental steps keep a
  // table whose garbage is not pinned from needing them).
  int64_t full_compactions() const { return full_compactions_; }
  // Bytes of live entries compaction has copied to survivor segments so far (the incremental
  // steps, and Compact's evacuation of sealed segments): what reclaiming garbage has cost.
  int64_t moved_bytes() const { return moved_bytes_; }
  // Segments resealed holding dead entries whose flags a snapshot's writer sets (see "Resealing"),
  // so far.
  int64_t marked_reseals() const { return marked_reseals_; }
  // Slots in the index (a power of two, or 0 before the first insert).
  size_t capacity() const { return capacity_; }
  // Bytes reserved for index arrays: the index, plus the previous one while it migrates and the
  // next one once prepared (see "Growing the index").
  int64_t index_bytes() const {
    return static_cast<int64_t>((capacity_ + old_capacity_) * sizeof(uint64_t)) + next_reserved_;
  }
  // Whether the previous index is still migrating into the current one.
  bool migrating() const { return old_slots_ != nullptr; }
  // The largest entry a segment can hold: header + key + namespace (padded to 8) + value (padded).
  size_t MaxEntrySize() const { return segment_size_; }
  // Bytes of the stored entry (as a segment or an entries piece holds it) that starts at `entry`.
  static size_t StoredEntrySize(const std::byte* entry) {
    EntryHeader header;
    std::memcpy(&header, entry, kEntryHeaderSize);
    return EntrySize(header.key_size, header.ns_size, header.value_size);
  }

  // Calls visit(int key_group, std::string_view key, std::string_view ns,
  // std::span<const std::byte> value) for every live entry, in segment order (unspecified to
  // callers). The visitor must not modify the table.
  template <typename F>
  void ForEach(F&& visit) const {
    for (const SegmentState& state : segments_) {
      if (!state.segment) continue;
      const std::byte* base = state.segment.data();
      for (uint32_t offset = 0; offset < state.used;) {
        const auto* header = reinterpret_cast<const EntryHeader*>(base + offset);
        if (!IsDead(state, offset, header)) {
          const char* key = reinterpret_cast<const char*>(header + 1);
          visit(static_cast<int>(header->key_group), std::string_view(key, header->key_size),
                std::string_view(key + header->key_size, header->ns_size),
                std::span<const std::byte>(ValueOf(header), header->value_size));
        }
        offset += EntrySize(header->key_size, header->ns_size, header->value_size);
      }
    }
  }

  // As ForEach, restricted to one key group (what a snapshot writes per key group). It walks the
  // whole table: a caller that needs every group should bucket one ForEach instead.
  template <typename F>
  void ForEachInKeyGroup(int key_group, F&& visit) const {
    ForEach([&](int group, std::string_view key, std::string_view ns,
                std::span<const std::byte> value) {
      if (group == key_group) visit(group, key, ns, value);
    });
  }

 private:
  struct EntryHeader {
    uint64_t hash;  // slot hash (key hash mixed with the namespace)
    uint32_t key_size;
    uint32_t ns_size;
    uint32_t value_size;
    uint16_t key_group;
    uint16_t flags;
  };
  static_assert(sizeof(EntryHeader) == kEntryHeaderSize);
  static constexpr uint16_t kDeadFlag = 1;

  // A sealed byte range of a segment, persisted as the entries piece `id`.
  struct PieceRange {
    uint64_t id;
    uint32_t begin;
    uint32_t end;
    // Tombstones naming this piece recorded since the last snapshot (that snapshot's tombstone
    // piece lists this piece among its targets when there are any).
    uint32_t tombstones = 0;
  };

  struct SegmentState {
    memory::Segment segment;
    uint32_t used = 0;    // bytes of entries written, live or dead, from offset 0
    uint32_t live = 0;    // bytes of live entries
    uint32_t sealed = 0;  // [0, sealed) is sealed: persisted content, values never change
    uint32_t pins = 0;    // unreleased snapshots listing this segment (its sealed bytes are frozen)
    std::vector<PieceRange> pieces;  // tiling [0, sealed), in order
    // A bit per 8-byte unit of [0, sealed), set for the entries of the sealed range that died.
    // A sealed entry's dead flag is never written (the bytes may be pinned, or persisted as a
    // piece a later checkpoint references), so a snapshot's release costs nothing; allocated at
    // the range's first death.
    std::unique_ptr<uint64_t[]> sealed_dead;
    // The sealed_dead bits of the old sealed range at the segment's last reseal (allocated
    // then, if any had died): their entries' dead flags are set by the resealing snapshot's
    // writer (ResealMarks), perhaps not yet, so until the next reseal these bits say it.
    std::unique_ptr<uint64_t[]> resealed_dead;
    // Bytes of override records naming this segment's pieces in listed override pieces (the
    // snapshot resealing the segment resets it), and the serial of the oldest such override
    // piece (0: none). See "In-place writes and overrides".
    int64_t overridden_bytes = 0;
    uint64_t first_override_serial = 0;
    // The dirty bitmap SegmentView::dirty points to (owned here).
    std::unique_ptr<uint64_t[]> dirty;
  };
  // Whether the entry at `offset` of `state`'s segment is dead: flagged (it died before its range
  // was sealed, or is unsealed) or in the sealed_dead or resealed_dead bits.
  // The bits come first: a snapshot's writer may be setting the flag of an entry whose
  // resealed_dead bit is set (ResealMarks), and the task thread must not read that flag meanwhile.
  static bool IsDead(const SegmentState& state, uint32_t offset, const EntryHeader* header) {
    const auto bit = [offset](const uint64_t* bits) {
      return bits != nullptr && ((bits[offset >> 9] >> ((offset >> 3) & 63)) & 1) != 0;
    };
    if (offset < state.sealed && (bit(state.sealed_dead.get()) || bit(state.resealed_dead.get()))) {
      return true;
    }
    return (header->flags & kDeadFlag) != 0;
  }

  // What the probe path reads per segment, in one 32-byte record: entries before sealed_end
  // (== base when nothing is sealed) take WriteSealed before they are written, which reads the
  // rest of the record: the pin count (mirroring SegmentState::pins), the segment's dirty bitmap
  // (a bit per 8-byte unit of the sealed range, set for the live sealed entries written in place
  // since the last snapshot; null when none is) and the bytes of those entries.
  struct SegmentView {
    std::byte* base = nullptr;
    const std::byte* sealed_end = nullptr;
    uint64_t* dirty = nullptr;
    uint32_t pins = 0;
    uint32_t dirty_bytes = 0;
  };
  static_assert(sizeof(SegmentView) == 32);

  // A tombstone piece a snapshot produced; listed while one of the pieces it names is.
  struct TombstonePiece {
    uint64_t id;
    std::shared_ptr<const std::vector<std::byte>> bytes;
    std::vector<uint64_t> targets;  // the entries pieces it names, sorted, distinct
  };
  // An override piece a snapshot produced (its bytes live in that snapshot only); listed, by
  // later snapshots as written before, while a segment it names has not been resealed.
  struct OverridePiece {
    uint64_t id;
    uint64_t serial;  // 1, 2, ... in the order the table's snapshots made them
    // Segments whose oldest listed override is this piece's (first_override_serial), as of the
    // last snapshot: sizes the share of them each snapshot reseals (Snapshot).
    int64_t segments = 0;
  };
  // Shared by the table and one snapshot (state_table.cc).
  struct SnapshotPin;
  friend struct ResealMarks;
  struct PinRecord {
    std::shared_ptr<SnapshotPin> pin;
    std::vector<uint32_t> segments;  // the segments it pins, in the order it lists them
    // Per segment, one past the position of its last piece in the snapshot's list: a segment is
    // unpinned once the writer released that many pieces (TableSnapshot::ReleasePieces).
    std::vector<uint32_t> ends;
    size_t next = 0;  // segments [0, next) are unpinned already
  };

  // Where a probe ended: the slot holding the entry (found) or the empty slot that ends the run.
  struct Probe {
    size_t slot;
    bool found;
  };

  static constexpr int kTagBits = 24;
  static constexpr int kRefBits = 40;
  static constexpr uint64_t kRefMask = (uint64_t{1} << kRefBits) - 1;

  static constexpr size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }
  static constexpr size_t EntrySize(size_t key_size, size_t ns_size, size_t value_size) {
    return kEntryHeaderSize + Align8(key_size + ns_size) + Align8(value_size);
  }
  static std::byte* ValueOf(const EntryHeader* header) {
    auto* bytes = reinterpret_cast<std::byte*>(const_cast<EntryHeader*>(header));
    return bytes + kEntryHeaderSize + Align8(header->key_size + header->ns_size);
  }
  // Hash64(ns, seed = key_hash). An 8-byte namespace (a window's or slice's end) takes xxh3's
  // 4-to-8-byte path directly, inlined: the same value without the length dispatch and the call.
  [[gnu::always_inline]] static uint64_t SlotHash(uint64_t key_hash, std::string_view ns) {
    if (ns.empty()) return key_hash;
    if (ns.size() == 8) {
      return XXH3_len_4to8_64b(reinterpret_cast<const xxh_u8*>(ns.data()), 8, XXH3_kSecret,
                               key_hash);
    }
    return Hash64(ns.data(), ns.size(), key_hash);
  }
  // Keys of 8 and 16 bytes (ids, UUIDs) compare inline; others through memcmp.
  static bool BytesEqual(const char* a, const char* b, size_t size) {
    if (size == 8) {
      uint64_t x;
      uint64_t y;
      std::memcpy(&x, a, 8);
      std::memcpy(&y, b, 8);
      return x == y;
    }
    if (size == 16) {
      uint64_t x[2];
      uint64_t y[2];
      std::memcpy(x, a, 16);
      std::memcpy(y, b, 16);
      return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
    }
    return std::memcmp(a, b, size) == 0;
  }

  EntryHeader* EntryAt(uint64_t slot) const {
    const uint64_t unit = (slot & kRefMask) - 1;
    return reinterpret_cast<EntryHeader*>(segment_views_[unit >> units_per_segment_bits_].base +
                                          ((unit & units_per_segment_mask_) << 3));
  }
  // Whether the entry `header` (of `slot`) lies in a sealed range: one compare on the cache line
  // EntryAt already read.
  bool IsSealed(uint64_t slot, const EntryHeader* header) const {
    const uint64_t unit = (slot & kRefMask) - 1;
    return reinterpret_cast<const std::byte*>(header) <
           segment_views_[unit >> units_per_segment_bits_].sealed_end;
  }
  // WriteSealed's common case, inline (a few instructions on a line the probe read): when the
  // sealed entry's segment is not pinned, already has a dirty bitmap, and no garbage awaits
  // reclaiming, sets the entry's dirty bit and returns true; else false (WriteSealed does it).
  [[gnu::always_inline]] bool MarkDirtyInPlace(uint64_t slot, const EntryHeader* header) {
    const uint64_t unit = (slot & kRefMask) - 1;
    SegmentView& view = segment_views_[unit >> units_per_segment_bits_];
    if (view.pins != 0 || view.dirty == nullptr || dead_bytes_ > reclaim_threshold_) return false;
    SetDirty(view, unit, header);
    return true;
  }
  // Sets the dirty bit of the entry `header` at 8-byte `unit` in `view`'s bitmap (which exists),
  // counting its bytes the first time.
  [[gnu::always_inline]] void SetDirty(SegmentView& view, uint64_t unit, const EntryHeader* header) {
    const uint64_t offset_units = unit & units_per_segment_mask_;
    uint64_t& word = view.dirty[offset_units >> 6];
    const uint64_t bit = uint64_t{1} << (offset_units & 63);
    if ((word & bit) == 0) {
      word |= bit;
      view.dirty_bytes +=
          static_cast<uint32_t>(EntrySize(header->key_size, header->ns_size, header->value_size));
    }
  }
  // The home position of `slot` in an index of 2^bits slots (home = hash >> shift).
  size_t HomeIn(uint64_t slot, int bits, int shift) const;
  // The prefetches' guess at the slot naming (hash, ...): the first slot from its home with its
  // tag, or 0 when an empty slot (the key is absent) or the end of the home's cache line comes
  // first. Reads no entry. A probe's home slot often holds another key (pushed along by linear
  // probing): the entry it names is not the one the probe will read.
  // REQUIRES: capacity_ != 0.
  uint64_t CandidateSlot(uint64_t hash) const {
    const uint64_t tag = hash >> kRefBits;
    const size_t home = hash >> shift_;
    // slots_ is 64-byte aligned, 8 slots a line, and holds at least 16 (kInitialCapacity), so the
    // home's line ends within the array.
    const size_t line_end = (home | 7) + 1;
    for (size_t index = home; index < line_end; ++index) {
      const uint64_t slot = slots_[index];
      if (slot == 0 || (slot >> kRefBits) == tag) return slot;
    }
    return 0;
  }
  // REQUIRES: capacity_ != 0.
  [[gnu::always_inline]] Probe Lookup(uint64_t hash, int key_group, std::string_view key,
                                      std::string_view ns) const {
    return LookupIn(slots_, shift_, mask_, hash, key_group, key, ns);
  }
  [[gnu::always_inline]] Probe LookupIn(const uint64_t* slots, int shift, size_t mask,
                                        uint64_t hash, int key_group, std::string_view key,
                                        std::string_view ns) const {
    const uint64_t tag = hash >> kRefBits;
    size_t index = hash >> shift;
    while (true) {
      const uint64_t slot = slots[index];
      if (slot == 0) return {index, false};
      if ((slot >> kRefBits) == tag) {
        const EntryHeader* header = EntryAt(slot);
        if (header->key_size == key.size() && header->ns_size == ns.size() &&
            header->key_group == key_group) {
          const char* bytes = reinterpret_cast<const char*>(header + 1);
          if ((key.empty() || BytesEqual(bytes, key.data(), key.size())) &&
              (ns.empty() || BytesEqual(bytes + key.size(), ns.data(), ns.size()))) {
            return {index, true};
          }
        }
      }
      index = (index + 1) & mask;
    }
  }
  // Lookup for a caller that may write the slot or the entry: during a migration (see "Growing
  // the index") a key still in the previous index has its slot moved to the current one first, so
  // a found probe's slot is always in slots_.
  [[gnu::always_inline]] Probe LookupForWrite(uint64_t hash, int key_group, std::string_view key,
                                              std::string_view ns) {
    Probe probe = Lookup(hash, key_group, key, ns);
    if (!probe.found && old_slots_ != nullptr) {
      probe.found = TakeFromOld(hash, key_group, key, ns, probe.slot);
    }
    return probe;
  }
  // If the previous index holds (key_group, key, ns), moves its slot to `empty_slot` of the
  // current one (where the failed probe of `hash` ended) and returns true.
  bool TakeFromOld(uint64_t hash, int key_group, std::string_view key, std::string_view ns,
                   size_t empty_slot);
  // Get's lookup in the previous index during a migration (which a const read must not change).
  std::span<const std::byte> GetFromOld(uint64_t hash, int key_group, std::string_view key,
                                        std::string_view ns) const;
  size_t FirstEmptySlot(uint64_t hash) const;
  Status CheckEntrySize(size_t key_size, size_t ns_size, size_t value_size) const;
  // FindOrInsert's miss path: checks the size, inserts `value_size` zero bytes, sets *inserted.
  Result<std::span<std::byte>> InsertZeroed(uint64_t hash, int key_group, std::string_view key,
                                            std::string_view ns, size_t value_size,
                                            size_t empty_slot, bool* inserted);
  // Inserts a new entry into `empty_slot` (the end of the failed probe), growing the index first
  // when it is due; the value is copied from `value`, or zeroed when it is null.
  Result<std::span<std::byte>> Insert(uint64_t hash, int key_group, std::string_view key,
                                      std::string_view ns, const std::byte* value,
                                      size_t value_size, size_t empty_slot);
  // Doubles the index (or creates it), or makes it `capacity` slots (a power of two larger than
  // the current one) when given, keeping the table unchanged on failure. A table holding entries
  // keeps its previous index and migrates it step by step (MigrateStep); an unfinished migration
  // is finished first.
  [[nodiscard]] Status Grow(size_t capacity = 0);
  // Moves at least kMigrateSlots positions of the previous index (up to and including the next
  // empty one) into the current index, and releases the previous index when none is left.
  void MigrateStep();
  void FinishMigration();
  // Has memory's helper thread map and fault in the next index (twice the current one) ahead of
  // the growth, when it is large enough to be a mapping and the budget holds it.
  void PrepareNextIndex();
  // Index arrays of kMappedIndexBytes or more are memory::Mappings (faulted in and unmapped by
  // the helper thread); smaller ones are zeroed heap blocks.
  static constexpr size_t kMappedIndexBytes = size_t{64} << 10;
  // Positions of the previous index each insert migrates, at least: the previous index (half the
  // current one) is gone after capacity / (2 * kMigrateSlots) inserts, long before the current
  // one can be due to grow (capacity / 4 inserts later).
  static constexpr size_t kMigrateSlots = 16;
  // Releases an index array (`mapping` is null for a heap block).
  static void FreeSlots(uint64_t* slots, std::shared_ptr<memory::Mapping> mapping);
  // Room for `size` bytes in the active segment, acquiring a segment if needed; returns the
  // 40-bit reference (1-based 8-byte unit) of the room.
  [[nodiscard]] Result<uint64_t> Allocate(size_t size);
  // As Allocate, in the survivor segment: where compaction copies the live entries it moves (see
  // "Garbage and compaction").
  [[nodiscard]] Result<uint64_t> AllocateSurvivor(size_t size);
  // Acquires a segment and makes it the active one.
  [[nodiscard]] Status AddSegment();
  [[nodiscard]] Status Reserve(int64_t bytes, std::string_view what);
  void Unreserve(int64_t bytes);
  // Writes a new entry at `ref` with zeroed padding; the value is copied from `value`, or zeroed
  // when it is null.
  EntryHeader* WriteEntry(uint64_t ref, uint64_t hash, int key_group, std::string_view key,
                          std::string_view ns, const std::byte* value, size_t value_size);
  // Marks the entry of `slot` dead: a sealed one gets a tombstone and a sealed_dead bit (its bytes
  // stay as persisted), any other one the dead flag in its header.
  void MarkDead(uint64_t slot);
  // MarkDead's flagging alone (the caller keeps the byte counts): the tombstone and sealed_dead
  // bit of a sealed entry, the header flag of any other.
  void FlagDead(uint32_t segment_index, uint32_t offset, EntryHeader* header);
  void RemoveSlot(size_t slot) { RemoveSlotIn(slots_, mask_, capacity_bits_, shift_, slot); }
  // Backward-shift deletion of position `slot` in an index of 2^bits slots.
  void RemoveSlotIn(uint64_t* slots, size_t mask, int bits, int shift, size_t slot);
  // Copies the sealed entry of slots_[slot] to the active segment, marks the old copy dead and
  // re-points the slot; returns the new value span. With `may_compact` (FindOrInsert, whose
  // contract allows it) the garbage relocations leave is compacted when due; Find never moves
  // another entry.
  Result<std::span<std::byte>> RelocateForWrite(size_t slot, bool may_compact);
  // The write path of a sealed entry (the caller may write the span it returns): in place when no
  // unreleased snapshot pins its segment, setting its dirty bit, else RelocateForWrite.
  Result<std::span<std::byte>> WriteSealed(size_t slot, bool may_compact);
  // Clears the dirty bit of the sealed entry at `offset` (it died or moved), if set.
  void ClearDirty(uint32_t segment_index, uint32_t offset, uint32_t size);
  // Frees segment `index`'s dirty bitmap (its accounting included).
  void DropDirty(uint32_t index);
  // The entries of [base, base + end) whose bits are set in `dead` (a segment's resealed_dead),
  // for a snapshot's writer to flag dead (ResealMarks).
  struct DeathMarks {
    std::byte* base;
    const uint64_t* dead;
    uint32_t end;
  };
  // Snapshot's reseal of segment `index` (see "In-place writes and overrides"). The dead entries
  // of the old sealed range the snapshot's writer is to flag go to `marks`.
  void Reseal(uint32_t index, std::vector<DeathMarks>& marks);
  // Sets the dead flag of the entries `marks` name.
  static void FlagMarkedDeaths(std::span<const DeathMarks> marks);
  // Records the death of the sealed entry at `offset` for the next snapshot (its piece gains a
  // tombstone) and in the segment's sealed_dead bits.
  void AddTombstone(uint32_t segment_index, uint32_t offset);
  void SetSealedDead(uint32_t segment_index, uint32_t offset);
  // A zeroed, accounted bitmap of a bit per 8-byte unit of a segment (a dirty or sealed_dead one):
  // a spare one where there is one.
  std::unique_ptr<uint64_t[]> TakeBitmap();
  // Applies the releases of snapshot objects destroyed since the last call, and of the pieces
  // their writers released (any thread sets the flag or the count; the task thread unpins here),
  // and frees tombstone pieces no snapshot holds any more.
  void CollectReleasedSnapshots();
  void Unpin(uint32_t segment_index);
  // Keeps side_reserved_ >= side_bytes_ (in 4 KiB steps) and returns surplus steps.
  [[nodiscard]] Status SyncSideReservation();
  void AccountSide(int64_t bytes) {
    side_bytes_ += bytes;
    if (side_bytes_ > side_reserved_ || side_reserved_ - side_bytes_ > 2 * kSideStep) {
      (void)SyncSideReservation();  // a failure is owed: Allocate collects it
    }
  }
  // Evacuates sealed, unpinned, mostly dead segments (see "Compaction with seals").
  void EvacuateSealed();
  // Drops the pending tombstones naming pieces released since the last snapshot (moot: restore
  // skips a tombstone whose piece is not listed, but they would hold memory and checkpoint bytes).
  void PurgeMootTombstones();
  static constexpr int64_t kSideStep = 4096;
  uint64_t MakeRef(uint32_t segment_index, uint32_t offset) const {
    return ((static_cast<uint64_t>(segment_index) << units_per_segment_bits_) | (offset >> 3)) + 1;
  }
  void ReleaseSegment(uint32_t index);
  // Called after every write that may have left garbage (see "Garbage and compaction"). Once dead
  // bytes are at least one segment and a quarter of the segments' bytes, evacuates a bounded step
  // (EvacuateStep); only when they pass half anyway (the steps found no segment worth evacuating,
  // or no memory to evacuate into) does the whole-table Compact run, and then again only once
  // enough more has died (next_compaction_dead_).
  void UpdateReclaimThreshold() {
    // dead_bytes_ > threshold <=> dead >= one segment and 4 * dead > the segments' bytes.
    reclaim_threshold_ = std::max<int64_t>(
        segment_size_ - 1, static_cast<int64_t>(segment_count_) * segment_size_ / 4);
  }
  void MaybeCompact() {
    const int64_t segment_bytes = static_cast<int64_t>(segment_count_) * segment_size_;
    if (dead_bytes_ < segment_size_ || dead_bytes_ * 4 <= segment_bytes) {
      compaction_credit_ = 0;
      return;
    }
    if (dead_bytes_ >= next_step_dead_) {
      EvacuateStep();
    } else {
      compaction_credit_ = 0;
    }
    if (dead_bytes_ * 2 > static_cast<int64_t>(segment_count_) * segment_size_) {
      if (!pins_.empty()) CollectReleasedSnapshots();
      if (dead_bytes_ >= next_compaction_dead_) Compact();
    }
  }
  // Incremental compaction: works through kStepFactor times the bytes that died since the last
  // step (compaction_credit_) of the current victim segment, moving its live entries to the active
  // segment (a moved byte counts twice); a victim left with no live entry is released. A victim is
  // a segment other than the active one, not pinned by a snapshot, at least half dead, found by a
  // round-robin sweep.
  void EvacuateStep();
  // The index slot naming the entry at `ref`, whose slot hash is `hash` (the entry must be in the
  // table), in the current index or, during a migration, the previous one.
  uint64_t* SlotNaming(uint64_t ref, uint64_t hash);
  // Moves the live entry at `offset` of segment `index` (the victim) to the active segment,
  // re-pointing its slot and marking the old copy dead; false when no memory is left for it.
  bool MoveEntry(uint32_t index, uint32_t offset, size_t size);
  // Ends the current victim's evacuation without releasing it: the sealed entries moved out of it
  // get their tombstones now (see MoveEntry).
  void AbandonVictim();
  void Compact();
  // Compact's in-place slide over unsealed `victims` (the active one last when it is one).
  void SlideUnsealed(const std::vector<uint32_t>& victims, bool active_is_victim);

  memory::SegmentPool* const pool_;
  memory::MemoryBudget* const budget_;
  const std::string owner_;
  const uint32_t segment_size_;
  const int units_per_segment_bits_;  // log2(segment_size_ / 8)
  const uint64_t units_per_segment_mask_;

  // Index: capacity_ slots (a power of two), empty when 0.
  uint64_t* slots_ = nullptr;
  size_t capacity_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;  // home slot = hash >> shift_
  int capacity_bits_ = 0;
  size_t grow_at_ = 0;  // size_ that triggers doubling
  size_t prepare_at_ = 0;  // size_ that triggers PrepareNextIndex
  size_t size_ = 0;
  std::shared_ptr<memory::Mapping> index_mapping_;  // the index's memory, or null (a heap block)
  // The next index, being mapped and faulted in by memory's helper thread ahead of the growth
  // (PrepareNextIndex), and the budget reserved for it.
  std::shared_ptr<memory::Mapping::Prepared> next_index_;
  int64_t next_reserved_ = 0;
  // The previous index while it migrates (see "Growing the index"); null otherwise. Positions
  // [migrate_start_, migrate_start_ + migrated_) (mod old_capacity_) are migrated and empty, and
  // migrate_start_ + migrated_ - 1 is empty, so no probe run crosses into the migrated part.
  uint64_t* old_slots_ = nullptr;
  std::shared_ptr<memory::Mapping> old_mapping_;
  size_t old_capacity_ = 0;
  size_t old_mask_ = 0;
  int old_shift_ = 64;
  int old_bits_ = 0;
  size_t migrate_start_ = 0;
  size_t migrated_ = 0;

  // Segments by index (entry references name these indexes); a released segment leaves an empty
  // SegmentState whose index is reused by the next acquisition. segment_views_ mirrors the data
  // pointers and sealed ends for the probe path.
  std::vector<SegmentState> segments_;
  std::vector<SegmentView> segment_views_;
  std::vector<uint32_t> free_indexes_;
  int64_t active_ = -1;    // segment receiving new entries, -1 before the first
  int64_t survivor_ = -1;  // segment receiving entries compaction moves, -1 when none is open
  size_t segment_count_ = 0;

  int64_t live_bytes_ = 0;
  int64_t dead_bytes_ = 0;
  // Dead bytes above which writes reclaim garbage (MaybeCompact's first test): one segment or a
  // quarter of the segments' bytes, whichever is more; kept with segment_count_.
  int64_t reclaim_threshold_ = 0;
  int64_t next_compaction_dead_ = 0;  // see MaybeCompact
  int64_t full_compactions_ = 0;
  int64_t moved_bytes_ = 0;
  int64_t marked_reseals_ = 0;
  // Incremental compaction (EvacuateStep): bytes died since the last step, the victim and how far
  // its scan got, where the sweep for the next victim resumes, how many segments it has passed
  // without finding one, and the dead bytes below which no step runs (after a fruitless sweep).
  static constexpr int64_t kStepFactor = 4;
  int64_t compaction_credit_ = 0;
  int64_t victim_ = -1;
  uint32_t victim_offset_ = 0;
  std::vector<uint32_t> victim_moved_;  // offsets of sealed entries moved out, no tombstone yet
  size_t sweep_index_ = 0;
  size_t sweep_misses_ = 0;
  int64_t next_step_dead_ = 0;

  // Snapshots: the unreleased ones, the tombstones since the last one, the listed tombstone pieces
  // and those dropped from the list that a snapshot may still hold.
  std::vector<PinRecord> pins_;
  bool sealed_any_ = false;  // a snapshot sealed bytes (sealed_any())
  // Lists of a released snapshot, kept for the next one (see SnapshotPin::recycled_pieces).
  std::vector<TablePiece> spare_pieces_;
  // Dirty bitmaps of released snapshots, zeroed, for the next writes in place (accounted); and the
  // emptied list a released snapshot held them in (SnapshotPin::recycled_dirty).
  std::vector<std::unique_ptr<uint64_t[]>> spare_dirty_;
  std::vector<SnapshotOverrideSource> spare_overrides_;
  std::vector<uint32_t> spare_pin_segments_;
  std::vector<uint32_t> spare_pin_ends_;
  // A released snapshot's list of reseal marks, emptied, for the next one; the capacities of this
  // list and of the unreleased snapshots' are in side_bytes_.
  std::vector<DeathMarks> spare_marks_;
  // The entries of sealed ranges that died since the last snapshot, already in the tombstone
  // piece's format (12-byte records: piece id u64, offset in the piece u32, native endian), so a
  // snapshot takes them as they are.
  std::vector<std::byte> pending_tombstones_;
  int64_t pending_tombstones_accounted_ = 0;  // their capacity, in side_bytes_
  // Ids of the pieces of segments released since the last snapshot: the tombstone pieces naming
  // them may retire.
  std::vector<uint64_t> dropped_pieces_;
  // Pending tombstone records naming those pieces.
  int64_t moot_tombstones_ = 0;
  std::vector<TombstonePiece> tombstone_pieces_;
  // Listed override pieces, oldest first, and the serial of the last one made.
  std::vector<OverridePiece> override_pieces_;
  uint64_t override_serial_ = 0;
  // Snapshot reseals a segment once its overrides reach kResealRatio/2 to kResealRatio times its
  // sealed bytes (a fraction set per segment), and, from kMaxOverridePieces/2 listed override
  // pieces on, a share of the segments the oldest names, so that it retires by the time
  // kMaxOverridePieces are listed.
  static constexpr int64_t kResealRatio = 1;
  static constexpr size_t kMaxOverridePieces = 8;
  std::vector<std::shared_ptr<const std::vector<std::byte>>> retired_tombstones_;
  // Bytes of tombstones (pending and in pieces) and sealed_dead bitmaps, and of those the bytes
  // reserved in the budget (less only while a reservation is owed).
  int64_t side_bytes_ = 0;
  int64_t side_reserved_ = 0;
  Status status_;

  memory::MemoryBudget::Reservation reservation_;
  bool has_reservation_ = false;
  int64_t reserved_bytes_ = 0;
};

}  // namespace weir::state
