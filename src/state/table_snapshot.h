// TableSnapshot: the sealed bytes of one StateTable at one checkpoint, as StateTable::Snapshot()
// returns them (copy-on-write; see state_table.h "Copy-on-write snapshots").
//
// A table's persistent form is a sequence of immutable *pieces*, each a byte range of one of its
// segments as it was when a snapshot sealed it:
//
// * entry pieces: table entries exactly as laid out in the segment (header, key, namespace,
//   value; entries flagged dead are skipped by readers);
// * tombstone pieces: 12-byte records (u64 piece id, u32 offset of the entry inside that piece,
//   native endian) naming entries of earlier pieces that were removed or replaced after those
//   pieces were sealed (a sealed byte never changes, so a replaced entry's old copy stays in its
//   piece and a tombstone says it is gone).
//
// * override pieces: records of (u64 piece id, u32 offset of the entry inside that piece, u32 entry
//   size, then the entry's bytes, size of them, a multiple of 8), native endian, each giving the
//   current bytes of an entry of an earlier entries piece that was written in place after that
//   piece was sealed (same size, same key). Restore applies them in list order: of two records for
//   the same entry, the later one wins.
//
// A piece has an id unique across processes (a random per-process prefix and a counter), so a
// checkpoint can reference a piece an earlier checkpoint wrote ("written_before") instead of
// writing it again: with 1% of keys changed, an incremental checkpoint writes about 1% of the
// bytes plus the tombstones. The table decides when old pieces stop being referenced (compaction
// copies the live entries of garbage-heavy sealed segments into fresh ones).
//
// Lifetime: the snapshot pins the bytes of every piece it lists, written before or not (the table
// will not write, move or free them), until the snapshot object is destroyed, which may happen on
// another thread (the checkpoint writer's). A table destroyed while pinned hands its pinned
// segments to the snapshot, which frees them when it goes (the segment pool must outlive it).
// Restore order: StateTable::Restore skips the entries that tombstone pieces name wherever the
// tombstone pieces appear in the list, and applies override pieces in their list order; Snapshot
// lists entries pieces first, then tombstone pieces, then override pieces, oldest first. An
// override piece listed as written before has no bytes here (they were gathered by the snapshot
// that made it): a checkpoint must reference it, and one that cannot (its writer's checkpoint did
// not complete) must be full, which lists none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace weir::state {

struct TablePiece {
  enum class Kind : uint8_t { kEntries = 0, kTombstones = 1, kOverrides = 2 };
  uint64_t id = 0;
  Kind kind = Kind::kEntries;
  // Piece bytes (pinned until the snapshot is destroyed). For a piece written before, the bytes
  // may also be available (the same immutable bytes), but the checkpoint need not write them; an
  // override piece written before has none.
  std::span<const std::byte> bytes;
  bool written_before = false;  // persisted by an earlier snapshot of this table
};

class TableSnapshot {
 public:
  virtual ~TableSnapshot() = default;
  // Every piece the table consists of, in order (restore applies them in this order).
  virtual const std::vector<TablePiece>& pieces() const = 0;
  // Live entries and their bytes at the instant of the snapshot (for reports).
  virtual size_t entries() const = 0;
  // The writer will not read the bytes of pieces()[0, count) again (it referenced them, or copied
  // them out): the table may unpin the segments holding only such pieces, and write them in place
  // again, before the snapshot is destroyed. Tombstone and override pieces' bytes belong to the
  // snapshot and stay valid. Any thread; counts only grow.
  virtual void ReleasePieces(size_t count) { (void)count; }
};

// One piece handed back for restore: its id, kind and bytes (verified by the caller).
struct RestorePiece {
  uint64_t id = 0;
  TablePiece::Kind kind = TablePiece::Kind::kEntries;
  std::span<const std::byte> bytes;
};

}  // namespace weir::state
