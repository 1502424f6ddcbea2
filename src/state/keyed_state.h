// Keyed state: Flink's ValueState, ListState, MapState, ReducingState and AggregatingState for
// one keyed operator subtask, every value stored as bytes in StateTables (segments of managed
// memory) under (key group, key bytes, namespace bytes) -- no per-key heap object.
//
// How an operator uses it (Flink's AbstractKeyedStateBackend / InternalKvState):
//
//   KeyedStateBackend backend(pool, budget, "Window (1/2)", max_parallelism);
//   auto* count = backend.GetValueState<int64_t>("count");          // once, in Open()
//   ...
//   backend.SetCurrentKey(key.bytes, key.hash);                      // per record or timer
//   count->SetCurrentNamespace(window_bytes);                        // "" = Flink's VoidNamespace
//   int64_t n = count->Value().value_or(0);
//   count->Update(n + 1);
//
// Design
// ------
// * One StateTable per registered state (name), so a snapshot (issue 4) writes and restores
//   each state by name and a state's entries never collide with another's.
// * The current key is a view (bytes, xxh3 hash, key group) set by the operator before it touches
//   state; its bytes must stay valid until the next SetCurrentKey (the operator's KeyEncoder
//   scratch or a timer's stored key). The namespace is per state object, also a view.
// * Values are serde::Codec<T> encodings. A value read from state (and every view inside it) is
//   valid until the next mutation of the same state object: copy what must outlive it.
// * ListState keeps one entry per (key, namespace): a small header then the elements, each padded
//   to 8 bytes so plain structs are read in place, with spare capacity that doubles when full,
//   so Add is amortized O(1) and Get is one probe plus a sequential scan. A list longer than a
//   segment continues in segment-sized chunks (one more probe per chunk).
// * MapState keeps one entry per user key (namespace extended with the user key's bytes) for O(1)
//   Get/Put/Contains/Remove, plus one directory entry per (key, namespace) listing the user keys
//   for iteration; Remove swaps the last directory slot into the removed one (each map entry
//   records its directory position), so every operation is O(1) and iteration is O(entries).
// * Reducing/Aggregating state keep one accumulator per (key, namespace); a fixed-size accumulator
//   is updated in place (no relocation).
// * A state's namespace and user keys are encoded so that no two (namespace, user key) pairs, and
//   no internal entry, share bytes: MapState prefixes them with a tag byte and the namespace's
//   length (layouts below, at the classes).
// * A value (a ValueState value, a map value, an accumulator, one list element) must fit in one
//   segment of the pool with its key and namespace (StateTable::MaxEntrySize()); a larger one
//   fails like a budget failure, with InvalidArgument naming the sizes. Lists have no such bound.
// * Merging (session windows): List, Reducing and Aggregating state can merge the values of
//   several namespaces into a target namespace (Flink's InternalMergingState.mergeNamespaces).
//
// Failures: a write that the memory budget cannot hold does not throw and does not return a
// Status to user code (Flink's state calls have no error channel either); it records the first
// failure in the backend, leaves the state unchanged, and the operator checks backend.status()
// after each record or timer and fails the task with it (a ResourceExhausted naming the operator
// and taskmanager.memory.managed.size). Reads, Clear and the Remove of a fixed-size map key never
// fail; the Remove of a variable-size map key rewrites one directory slot and can (rarely) fail
// the same way, leaving the map unchanged.
//
// Threads: one backend belongs to one task thread; nothing here is thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "serde/codec.h"
#include "state/key_groups.h"
#include "state/snapshot.h"
#include "state/state_table.h"

namespace weir::state {

// The key the operator is processing: a record's key or a firing timer's key.
struct CurrentKey {
  std::string_view bytes;
  uint64_t hash = 0;  // xxh3 of bytes
  int key_group = 0;
};

class KeyedStateBackend;

// What every state object shares: its table, the backend's current key, its own namespace.
class StateBase {
 public:
  StateBase(KeyedStateBackend* backend, std::string name);
  virtual ~StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  // The namespace of the following calls ("" by default). The bytes must stay valid while used.
  void SetCurrentNamespace(std::string_view ns) { namespace_ = ns; }
  std::string_view current_namespace() const { return namespace_; }
  // Removes the value of the current key and namespace.
  virtual void Clear() = 0;
  // A hint that the current key's entry under `ns` is about to be used, in two stages issued a
  // little apart (KeyedProcessFunction::PrefetchElement): stage 0 starts loading its index slot,
  // stage 1 reads that slot and starts loading the entry it names (and, in a table a snapshot
  // has sealed, the entry's dirty-bitmap word a write in place sets). Changes nothing.
  void Prefetch(int stage, std::string_view ns) const;

  const std::string& name() const { return name_; }
  // The entries of this state for every key and namespace (read by snapshots, tests, debugging).
  // MapState's entries include its directory (see MapState for the layout).
  const StateTable& table() const { return *table_; }
  // Every table of this state: table() and, for ListState, the chunks of long lists (what a
  // snapshot writes and memory_bytes() counts).
  virtual std::vector<const StateTable*> tables() const { return {table_.get()}; }

 protected:
  friend class KeyedStateBackend;
  // Table `index` of tables(), writable (snapshots pin it, restores fill or replace it), and the
  // suffix its snapshot name carries after the state's name ("" for the main table).
  virtual std::unique_ptr<StateTable>& TableSlot(size_t index) { return table_; }
  virtual std::string_view TableSuffix(size_t index) const { return {}; }

  const CurrentKey& key() const;
  // The stored value of the current key under `ns` (any of this state's encodings), or a span
  // whose data() is null when absent. Valid until the next mutation of this state.
  // An empty span is also what a failed relocation returns (an entry a checkpoint sealed, with no
  // budget left to move it): that is recorded in the backend, and callers tell the two apart with
  // failed() before treating the entry as absent.
  std::span<std::byte> FindEntry(std::string_view ns) const {
    const CurrentKey& current = key();
    const std::span<std::byte> found = table_->Find(current.hash, current.key_group, current.bytes, ns);
    if (found.data() == nullptr && !table_->status().ok()) [[unlikely]] Fail(table_->status());
    return found;
  }
  // As FindEntry, for reading only: never relocates an entry a checkpoint sealed, so reads do
  // not grow the next incremental checkpoint (StateTable::Get).
  std::span<const std::byte> GetEntry(std::string_view ns) const {
    const CurrentKey& current = key();
    return table_->Get(current.hash, current.key_group, current.bytes, ns);
  }
  // Stores `value` under the current key and `ns`; on failure records it in the backend, leaves
  // the table unchanged and returns false. `value` may point into the table.
  bool PutEntry(std::string_view ns, std::span<const std::byte> value);
  void RemoveEntry(std::string_view ns) {
    const CurrentKey& current = key();
    table_->Remove(current.hash, current.key_group, current.bytes, ns);
  }
  // Records a failed write (the first one wins) in the backend.
  void Fail(const Status& status) const;
  // Whether the backend holds a failure: the task is failing, and a write skipped now is lost with
  // the rest of its state, which the restart restores from the last checkpoint.
  bool failed() const;

  KeyedStateBackend* const backend_;
  const std::string name_;
  std::unique_ptr<StateTable> table_;
  std::string_view namespace_;
  // Encodings are built here before they are stored (kept across calls: no allocation per call
  // once it has grown). Mutable because const readers encode lookup keys.
  mutable std::vector<std::byte> scratch_;
};

namespace internal {

constexpr size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

// The types serde::Codec stores as their object bytes and reads in place as `const T&`.
template <typename T>
inline constexpr bool kPlainBytes = std::is_trivially_copyable_v<T> &&
                                    !serde::IsTupleLike<T>::value && !serde::IsStringLike<T>::value;

// Whether every value of T encodes to the same number of bytes, so an update can overwrite the
// stored bytes in place.
template <typename T>
constexpr bool FixedSize() {
  if constexpr (requires { serde::Codec<T>::kFixedSize; }) {
    return serde::Codec<T>::kFixedSize;
  } else {
    return false;
  }
}

inline uint32_t LoadU32(const std::byte* in) {
  uint32_t value;
  std::memcpy(&value, in, sizeof(value));
  return value;
}
inline void StoreU32(std::byte* out, uint32_t value) { std::memcpy(out, &value, sizeof(value)); }
inline uint64_t LoadU64(const std::byte* in) {
  uint64_t value;
  std::memcpy(&value, in, sizeof(value));
  return value;
}
inline void StoreU64(std::byte* out, uint64_t value) { std::memcpy(out, &value, sizeof(value)); }

// Encodes `value` into `buffer` (resized to the encoded size) and returns the bytes.
template <typename T>
std::span<const std::byte> Encode(const T& value, std::vector<std::byte>& buffer) {
  buffer.resize(serde::Codec<T>::Size(value));
  serde::Codec<T>::Write(value, buffer.data());
  return buffer;
}

// Whether sources[index] is the target or repeats an earlier source: such a source is skipped by
// MergeNamespaces (its value is merged once, or is the target's own).
bool IsRepeatedSource(std::span<const std::string_view> sources, size_t index,
                      std::string_view target);

// The head of a ListState value (see ListState); the capacity is the value's size minus this.
struct ListHeader {
  uint32_t count;        // elements of the whole list
  uint32_t used;         // bytes of the head's elements
  uint32_t first_chunk;  // index of the first chunk
  uint32_t chunk_count;
};
inline constexpr size_t kListHeaderSize = sizeof(ListHeader);
static_assert(kListHeaderSize == 16);

// The head of a ListState chunk.
struct ChunkHeader {
  uint32_t used;  // bytes of the chunk's elements
  uint32_t zero;
};
inline constexpr size_t kChunkHeaderSize = sizeof(ChunkHeader);
static_assert(kChunkHeaderSize == 8);

template <typename Header>
Header LoadHeader(const std::byte* in) {
  Header header;
  std::memcpy(&header, in, sizeof(header));
  return header;
}
template <typename Header>
void StoreHeader(std::byte* out, const Header& header) {
  std::memcpy(out, &header, sizeof(header));
}

}  // namespace internal

// Flink's ValueState<T>.
//
// Layout: the value's Codec encoding under (key, namespace). A fixed-size T is written in place:
// Value() and Update() of an existing value are one probe each and never allocate.
template <typename T>
class ValueState final : public StateBase {
 public:
  using StateBase::StateBase;
  // The value, or nullopt when none was set (Flink's null). For a plain struct this is a copy;
  // string views inside it point into the state (valid until the next mutation of this state).
  std::optional<T> Value() const;
  void Update(const T& value);
  void Clear() override;
};

// Flink's ListState<T> (also the element buffer of windows with evictors or process functions).
//
// Layout. Elements are encoded back to back, each starting at a multiple of 8: a plain struct as
// its bytes, any other type as a u32 encoded size then the encoding (so a block is walked without
// decoding). The head, in table(), is one value per (key, namespace): ListHeader {total count,
// bytes used in the head, first chunk index, chunk count}, the first elements, then zeroed spare
// capacity. A full head grows to twice its capacity, so Add is amortized O(1). A list that
// outgrows what one segment holds continues in chunks, in a second table, under (key, namespace
// + u32 chunk index): ChunkHeader {bytes used}, elements, spare capacity, growing the same way;
// Add appends to the last chunk. Chunk indexes run from `first` upwards: Update and
// MergeNamespaces write new chunks at indexes after the live ones and switch the head to them
// last, so a budget failure part-way removes what they wrote and leaves the list unchanged. An
// empty list is never stored.
template <typename T>
class ListState final : public StateBase {
 public:
  ListState(KeyedStateBackend* backend, std::string name);
  void Add(const T& value);
  // Replaces the list (Flink's update(List)); an empty span clears it.
  void Update(std::span<const T> values);
  // Calls visit(const T&) for each element in insertion order; returns the number visited. The
  // visitor must not modify this state.
  template <typename F>
  size_t ForEach(F&& visit) const;
  // The elements, decoded (for callers that need random access); views point into the state.
  std::vector<T> Get() const;
  bool IsEmpty() const;
  size_t Size() const;
  void Clear() override;
  // Appends the lists of `sources` (in the given order) to the list of `target`, and removes
  // theirs; all for the current key. Namespaces may repeat or include the target (ignored).
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources);

  // The heads (table()) and the chunks of lists longer than a segment.
  std::vector<const StateTable*> tables() const override { return {table_.get(), chunks_.get()}; }

 protected:
  std::unique_ptr<StateTable>& TableSlot(size_t index) override {
    return index == 0 ? table_ : chunks_;
  }
  std::string_view TableSuffix(size_t index) const override {
    return index == 0 ? std::string_view() : std::string_view("/chunks");
  }

 private:
  // Bytes of the element encoding of `value`, before padding.
  static size_t ElementSize(const T& value) {
    if constexpr (internal::kPlainBytes<T>) {
      return sizeof(T);
    } else {
      return sizeof(uint32_t) + serde::Codec<T>::Size(value);
    }
  }
  // Writes the element (`size` = ElementSize(value)) and zeroes its padding.
  static void WriteElement(const T& value, size_t size, std::byte* out);
  // The padded size of the encoded element at `element`.
  static size_t EncodedStride(const std::byte* element) {
    if constexpr (internal::kPlainBytes<T>) {
      return internal::Align8(sizeof(T));
    } else {
      return internal::Align8(sizeof(uint32_t) + internal::LoadU32(element));
    }
  }
  // Calls visit(const T&) for the elements in `used` bytes from `begin`.
  template <typename F>
  static void VisitBlock(const std::byte* begin, size_t used, F& visit);
  // The largest element capacity of a head / a chunk of the current key under `ns`.
  size_t MaxHeadCapacity(std::string_view ns) const;
  size_t MaxChunkCapacity(std::string_view ns) const;

  std::string_view ChunkNamespace(std::string_view ns, uint32_t index) const;
  // As FindEntry, for a chunk.
  std::span<std::byte> FindChunk(std::string_view ns, uint32_t index) const {
    const CurrentKey& current = key();
    const std::span<std::byte> found =
        chunks_->Find(current.hash, current.key_group, current.bytes, ChunkNamespace(ns, index));
    if (found.data() == nullptr && !chunks_->status().ok()) [[unlikely]] Fail(chunks_->status());
    return found;
  }
  std::span<const std::byte> GetChunk(std::string_view ns, uint32_t index) const {
    const CurrentKey& current = key();
    return chunks_->Get(current.hash, current.key_group, current.bytes, ChunkNamespace(ns, index));
  }
  // As PutEntry, in the chunk table.
  bool PutChunk(std::string_view ns, uint32_t index, std::span<const std::byte> value);
  void RemoveChunks(std::string_view ns, uint32_t first, uint32_t count);
  // Writes `blocks` (element bytes, each fitting a chunk) as chunks first, first + 1, ...; on a
  // failure removes those written and returns false.
  bool PutChunks(std::string_view ns, uint32_t first,
                 std::span<const std::span<const std::byte>> blocks);
  // Removes the head and chunks of the list under `ns`.
  void RemoveList(std::string_view ns);
  // Cuts encoded elements into blocks_ of at most `max_block` bytes (an element larger than that
  // is a block of its own, which its Put then rejects).
  void SplitIntoBlocks(std::span<const std::byte> elements, size_t max_block);

  std::unique_ptr<StateTable> chunks_;
  mutable std::string chunk_ns_;
  std::vector<std::byte> block_;
  std::vector<std::span<const std::byte>> blocks_;
};

// Flink's MapState<K, V>.
//
// Layout, all in this state's one table under the current key, with N = u32 size of the
// namespace then its bytes, and the user key as its Codec<K> encoding:
//   'e' N user-key   -> u32 directory position, u32 zero, Codec<V> of the value (8-aligned)
//   'c' N            -> u64 number of user keys (absent when the map is empty)
//   's' N u32 i      -> the user key at directory position i, for i < count
// The tag byte and the length make every namespace byte string name exactly one of these. Get,
// Contains and an update of an existing key are one probe; inserting and removing touch the
// entry, the count and one or two directory slots (Remove moves the last slot into the hole and
// re-points that key's entry). ForEach and Clear are O(entries).
template <typename K, typename V>
class MapState final : public StateBase {
 public:
  using StateBase::StateBase;
  std::optional<V> Get(const K& key) const;
  void Put(const K& key, const V& value);
  bool Contains(const K& key) const;
  void Remove(const K& key);
  // Calls visit(const K&, const V&) for each entry (unspecified order). The visitor must not
  // modify this state.
  template <typename F>
  void ForEach(F&& visit) const;
  bool IsEmpty() const;
  size_t Size() const;
  // Removes every entry of the current key and namespace.
  void Clear() override;

 private:
  static constexpr char kEntryTag = 'e';
  static constexpr char kCountTag = 'c';
  static constexpr char kSlotTag = 's';
  // Offset of the value in an entry (after the directory position and padding).
  static constexpr size_t kValueOffset = 8;

  // tag, N, then `suffix`, built in `out`.
  std::string_view BuildNamespace(std::string& out, char tag, const void* suffix,
                                  size_t suffix_size) const;
  std::string_view EntryNamespace(std::span<const std::byte> user_key) const {
    return BuildNamespace(entry_ns_, kEntryTag, user_key.data(), user_key.size());
  }
  std::string_view CountNamespace() const {
    return BuildNamespace(directory_ns_, kCountTag, nullptr, 0);
  }
  std::string_view SlotNamespace(uint32_t position) const {
    return BuildNamespace(directory_ns_, kSlotTag, &position, sizeof(position));
  }
  uint64_t Count() const;
  // Stores the count (removing it at 0); false (recorded) when the budget cannot hold it.
  bool StoreCount(uint64_t count);

  mutable std::string entry_ns_;
  mutable std::string directory_ns_;
  mutable std::vector<std::byte> user_key_;
  std::vector<std::byte> moved_key_;
};

// Flink's ReducingState<T>: Add(v) stores reduce(current, v). `Reduce` is a callable
// T(const T& accumulated, const T& value), copied into the state. A fixed-size T is reduced in
// place: Add is one FindOrInsert.
template <typename T, typename Reduce>
class ReducingState final : public StateBase {
 public:
  ReducingState(KeyedStateBackend* backend, std::string name, Reduce reduce)
      : StateBase(backend, std::move(name)), reduce_(std::move(reduce)) {}
  void Add(const T& value);
  std::optional<T> Get() const;
  void Clear() override;
  // Reduces the values of `sources` into `target` (then removes the sources' values). As Flink:
  // target = reduce(target, reduce(...reduce(source1, source2)..., sourceN)).
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources);

 private:
  Reduce reduce_;
  std::vector<std::byte> merge_scratch_;
};

// Flink's AggregatingState<In, Out> over an AggregateFunction with accumulator type Acc. The
// function `Aggregate` provides (as Flink's AggregateFunction):
//   Acc CreateAccumulator() const;
//   Acc Add(const In& value, const Acc& accumulator) const;   (or void Add(const In&, Acc&))
//   Out GetResult(const Acc& accumulator) const;
//   Acc Merge(const Acc& a, const Acc& b) const;
// Acc needs a serde::Codec; a plain-struct accumulator is updated in place in its entry.
template <typename In, typename Acc, typename Out, typename Aggregate>
class AggregatingState final : public StateBase {
 public:
  AggregatingState(KeyedStateBackend* backend, std::string name, Aggregate aggregate);
  void Add(const In& value);
  std::optional<Out> Get() const;
  // The raw accumulator (nullopt when empty).
  std::optional<Acc> GetAccumulator() const;
  void Clear() override;
  // As Flink: target = Merge(target, Merge(...Merge(source1, source2)..., sourceN)).
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources);

 private:
  // Either form of Add; a returning Add whose result would be dropped does not compile.
  void AddTo(const In& value, Acc& accumulator) {
    if constexpr (requires(Aggregate & function, const In& in, const Acc& acc) {
                    { function.Add(in, acc) } -> std::convertible_to<Acc>;
                  }) {
      accumulator = aggregate_.Add(value, std::as_const(accumulator));
    } else {
      static_assert(std::is_void_v<decltype(aggregate_.Add(value, accumulator))>,
                    "Aggregate::Add must be Acc Add(const In&, const Acc&) or "
                    "void Add(const In&, Acc&)");
      aggregate_.Add(value, accumulator);
    }
  }

  Aggregate aggregate_;
  size_t accumulator_size_ = 0;  // encoded size of every accumulator when FixedSize<Acc>()
  std::vector<std::byte> merge_scratch_;
};

class KeyedStateBackend {
 public:
  // `pool` and `budget` must outlive the backend; `owner` names the operator subtask in errors.
  // REQUIRES: 0 < max_parallelism <= kMaxParallelismUpperBound.
  KeyedStateBackend(memory::SegmentPool* pool, memory::MemoryBudget* budget, std::string owner,
                    int max_parallelism);
  KeyedStateBackend(const KeyedStateBackend&) = delete;
  KeyedStateBackend& operator=(const KeyedStateBackend&) = delete;

  // The key group is KeyGroupForHash(hash, max_parallelism), as a mask when max parallelism is a
  // power of two (Flink's default is): a 64-bit division costs more than the state probe.
  void SetCurrentKey(std::string_view bytes, uint64_t hash) {
    const int key_group = key_group_mask_ != 0 ? static_cast<int>(hash & key_group_mask_)
                                               : KeyGroupForHash(hash, max_parallelism_);
    current_key_ = {bytes, hash, key_group};
  }
  void SetCurrentKey(const CurrentKey& key) { current_key_ = key; }
  const CurrentKey& current_key() const { return current_key_; }

  // A state by name, created on first request; the same name returns the same object (so a
  // trigger asking for its state on every call gets it by lookup). A name requested with another
  // state kind or type is a programming error (CHECK). A second request's `reduce`/`aggregate`
  // is ignored (the first one's is kept).
  template <typename T>
  ValueState<T>* GetValueState(const std::string& name) {
    return GetOrCreate<ValueState<T>>(name);
  }
  template <typename T>
  ListState<T>* GetListState(const std::string& name) {
    return GetOrCreate<ListState<T>>(name);
  }
  template <typename K, typename V>
  MapState<K, V>* GetMapState(const std::string& name) {
    return GetOrCreate<MapState<K, V>>(name);
  }
  template <typename T, typename Reduce>
  ReducingState<T, Reduce>* GetReducingState(const std::string& name, Reduce reduce) {
    return GetOrCreate<ReducingState<T, Reduce>>(name, std::move(reduce));
  }
  template <typename In, typename Acc, typename Out, typename Aggregate>
  AggregatingState<In, Acc, Out, Aggregate>* GetAggregatingState(const std::string& name,
                                                                 Aggregate aggregate) {
    return GetOrCreate<AggregatingState<In, Acc, Out, Aggregate>>(name, std::move(aggregate));
  }

  // Every registered state, by name (snapshots iterate these).
  const std::map<std::string, std::unique_ptr<StateBase>, std::less<>>& states() const {
    return states_;
  }

  // The first write that failed (ResourceExhausted from the budget), or OK.
  const Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  void Fail(Status status) {
    if (status_.ok()) status_ = std::move(status);
  }

  memory::SegmentPool* pool() const { return pool_; }
  memory::MemoryBudget* budget() const { return budget_; }
  const std::string& owner() const { return owner_; }
  int max_parallelism() const { return max_parallelism_; }
  // Bytes reserved by all state tables of this backend.
  int64_t memory_bytes() const;

  // Checkpoints. SnapshotTables pins every table of every registered state as
  // "<prefix><state name>" (ListState's chunks as "<prefix><state name>/chunks"), copying nothing.
  // Tables restored but not yet adopted (below) are pinned again under their names, so a state
  // that no key used between two checkpoints is not lost by the second.
  [[nodiscard]] Status SnapshotTables(SnapshotWriter& writer, std::string_view prefix);
  // Refills the tables of the registered states from the tables named "<prefix>..." (call once,
  // after the states of Open are registered and before any state is written). A checkpointed
  // state nobody registered yet (a trigger's or a window function's state is registered on its
  // first use) is restored into a table of its own that the state adopts when it is registered:
  // the backend does not know its type until then.
  [[nodiscard]] Status RestoreTables(RestoreReader& reader, std::string_view prefix);
  // Removes the current key's entry under `ns` of the restored table of state `name` when that
  // state is not registered yet (a trigger clearing a state whose type it does not know).
  void RemovePendingEntry(std::string_view name, std::string_view ns) {
    if (pending_tables_.empty()) return;
    auto it = pending_tables_.find(name);
    if (it != pending_tables_.end()) {
      it->second->Remove(current_key_.hash, current_key_.key_group, current_key_.bytes, ns);
    }
  }
  // Restored tables not adopted by a state yet.
  size_t pending_table_count() const { return pending_tables_.size(); }

 private:
  template <typename S, typename... Args>
  S* GetOrCreate(const std::string& name, Args&&... args) {
    if (auto it = states_.find(name); it != states_.end()) {
      auto* state = dynamic_cast<S*>(it->second.get());
      WEIR_CHECK_MSG(state != nullptr, "state '{}' of {} was registered with another kind or type",
                     name, owner_);
      return state;
    }
    auto state = std::make_unique<S>(this, name, std::forward<Args>(args)...);
    S* created = state.get();
    if (!pending_tables_.empty()) [[unlikely]] AdoptPendingTables(*created);
    states_.emplace(name, std::move(state));
    return created;
  }
  // Hands the restored tables of `state` (see RestoreTables) to it.
  void AdoptPendingTables(StateBase& state);
  // "<state name><suffix of table `index`>".
  static std::string TableName(const StateBase& state, size_t index);

  memory::SegmentPool* const pool_;
  memory::MemoryBudget* const budget_;
  const std::string owner_;
  const int max_parallelism_;
  const uint64_t key_group_mask_;  // max_parallelism_ - 1 when a power of two (> 1), else 0
  CurrentKey current_key_;
  std::map<std::string, std::unique_ptr<StateBase>, std::less<>> states_;
  // Restored tables of states not registered yet, by snapshot name without the prefix.
  std::map<std::string, std::unique_ptr<StateTable>, std::less<>> pending_tables_;
  Status status_;
};

// ---------------------------------------------------------------------------------------------
// Implementation.

inline const CurrentKey& StateBase::key() const { return backend_->current_key(); }

inline void StateBase::Prefetch(int stage, std::string_view ns) const {
  const uint64_t hash = key().hash;
  if (stage == 0) {
    table_->PrefetchSlot(hash, ns);
  } else if (table_->sealed_any()) {
    table_->PrefetchEntryForWrite(hash, ns);
  } else {
    table_->PrefetchEntry(hash, ns);
  }
}

// ValueState ---------------------------------------------------------------------------------

template <typename T>
std::optional<T> ValueState<T>::Value() const {
  const std::span<const std::byte> stored = GetEntry(namespace_);
  if (stored.data() == nullptr) return std::nullopt;
  return std::optional<T>(serde::Codec<T>::Read(stored.data()));
}

template <typename T>
void ValueState<T>::Update(const T& value) {
  if constexpr (internal::FixedSize<T>()) {
    const size_t size = serde::Codec<T>::Size(value);
    const CurrentKey& current = key();
    bool inserted;
    Result<std::span<std::byte>> stored = table_->FindOrInsert(
        current.hash, current.key_group, current.bytes, namespace_, size, &inserted);
    if (!stored.ok()) {
      Fail(stored.status());
      return;
    }
    WEIR_DCHECK(stored->size() == size);
    serde::Codec<T>::Write(value, stored->data());
  } else {
    PutEntry(namespace_, internal::Encode(value, scratch_));
  }
}

template <typename T>
void ValueState<T>::Clear() {
  RemoveEntry(namespace_);
}

// ListState ----------------------------------------------------------------------------------

template <typename T>
ListState<T>::ListState(KeyedStateBackend* backend, std::string name)
    : StateBase(backend, std::move(name)),
      chunks_(std::make_unique<StateTable>(backend->pool(), backend->budget(), backend->owner())) {}

template <typename T>
void ListState<T>::WriteElement(const T& value, size_t size, std::byte* out) {
  if constexpr (internal::kPlainBytes<T>) {
    serde::Codec<T>::Write(value, out);
  } else {
    internal::StoreU32(out, static_cast<uint32_t>(size - sizeof(uint32_t)));
    serde::Codec<T>::Write(value, out + sizeof(uint32_t));
  }
  const size_t padded = internal::Align8(size);
  if (padded != size) std::memset(out + size, 0, padded - size);
}

template <typename T>
template <typename F>
void ListState<T>::VisitBlock(const std::byte* begin, size_t used, F& visit) {
  const std::byte* const end = begin + used;
  for (const std::byte* element = begin; element < end; element += EncodedStride(element)) {
    if constexpr (internal::kPlainBytes<T>) {
      visit(serde::Codec<T>::Read(element));
    } else {
      visit(serde::Codec<T>::Read(element + sizeof(uint32_t)));
    }
  }
}

template <typename T>
size_t ListState<T>::MaxHeadCapacity(std::string_view ns) const {
  const size_t overhead = StateTable::kEntryHeaderSize +
                          internal::Align8(key().bytes.size() + ns.size()) +
                          internal::kListHeaderSize;
  const size_t max = table_->MaxEntrySize();
  return max > overhead ? (max - overhead) & ~size_t{7} : 0;
}

template <typename T>
size_t ListState<T>::MaxChunkCapacity(std::string_view ns) const {
  const size_t overhead = StateTable::kEntryHeaderSize +
                          internal::Align8(key().bytes.size() + ns.size() + sizeof(uint32_t)) +
                          internal::kChunkHeaderSize;
  const size_t max = chunks_->MaxEntrySize();
  return max > overhead ? (max - overhead) & ~size_t{7} : 0;
}

template <typename T>
std::string_view ListState<T>::ChunkNamespace(std::string_view ns, uint32_t index) const {
  chunk_ns_.resize(ns.size() + sizeof(index));
  if (!ns.empty()) std::memcpy(chunk_ns_.data(), ns.data(), ns.size());
  std::memcpy(chunk_ns_.data() + ns.size(), &index, sizeof(index));
  return chunk_ns_;
}

template <typename T>
bool ListState<T>::PutChunk(std::string_view ns, uint32_t index, std::span<const std::byte> value) {
  const CurrentKey& current = key();
  Result<std::span<std::byte>> stored = chunks_->Put(current.hash, current.key_group, current.bytes,
                                                     ChunkNamespace(ns, index), value);
  if (stored.ok()) return true;
  Fail(stored.status());
  return false;
}

template <typename T>
void ListState<T>::RemoveChunks(std::string_view ns, uint32_t first, uint32_t count) {
  const CurrentKey& current = key();
  for (uint32_t i = 0; i < count; ++i) {
    chunks_->Remove(current.hash, current.key_group, current.bytes, ChunkNamespace(ns, first + i));
  }
}

template <typename T>
bool ListState<T>::PutChunks(std::string_view ns, uint32_t first,
                             std::span<const std::span<const std::byte>> blocks) {
  WEIR_CHECK(blocks.size() <= UINT32_MAX - first);
  for (size_t i = 0; i < blocks.size(); ++i) {
    block_.resize(internal::kChunkHeaderSize + blocks[i].size());
    internal::StoreHeader(block_.data(),
                          internal::ChunkHeader{static_cast<uint32_t>(blocks[i].size()), 0});
    std::memcpy(block_.data() + internal::kChunkHeaderSize, blocks[i].data(), blocks[i].size());
    if (!PutChunk(ns, first + static_cast<uint32_t>(i), block_)) {
      RemoveChunks(ns, first, static_cast<uint32_t>(i));
      return false;
    }
  }
  return true;
}

template <typename T>
void ListState<T>::RemoveList(std::string_view ns) {
  const std::span<const std::byte> head = GetEntry(ns);
  if (head.data() == nullptr) return;
  const auto header = internal::LoadHeader<internal::ListHeader>(head.data());
  RemoveChunks(ns, header.first_chunk, header.chunk_count);
  RemoveEntry(ns);
}

template <typename T>
void ListState<T>::SplitIntoBlocks(std::span<const std::byte> elements, size_t max_block) {
  blocks_.clear();
  size_t begin = 0;
  size_t offset = 0;
  while (offset < elements.size()) {
    const size_t stride = EncodedStride(elements.data() + offset);
    if (offset > begin && offset + stride - begin > max_block) {
      blocks_.push_back(elements.subspan(begin, offset - begin));
      begin = offset;
    }
    offset += stride;
  }
  if (offset > begin) blocks_.push_back(elements.subspan(begin, offset - begin));
}

template <typename T>
void ListState<T>::Add(const T& value) {
  const size_t size = ElementSize(value);
  const size_t stride = internal::Align8(size);
  const std::span<std::byte> head = FindEntry(namespace_);
  if (head.data() == nullptr) {
    if (failed()) [[unlikely]] return;
    scratch_.resize(internal::kListHeaderSize + stride);
    internal::StoreHeader(scratch_.data(),
                          internal::ListHeader{1, static_cast<uint32_t>(stride), 0, 0});
    WriteElement(value, size, scratch_.data() + internal::kListHeaderSize);
    PutEntry(namespace_, scratch_);
    return;
  }
  auto header = internal::LoadHeader<internal::ListHeader>(head.data());
  if (header.chunk_count == 0) {
    const size_t capacity = head.size() - internal::kListHeaderSize;
    const size_t needed = header.used + stride;
    if (needed <= capacity) {
      WriteElement(value, size, head.data() + internal::kListHeaderSize + header.used);
      ++header.count;
      header.used = static_cast<uint32_t>(needed);
      internal::StoreHeader(head.data(), header);
      return;
    }
    const size_t max = MaxHeadCapacity(namespace_);
    if (needed <= max) {
      // Copy into twice the capacity (at most what one segment holds).
      const size_t grown = std::min(std::max(capacity * 2, needed), max);
      scratch_.resize(internal::kListHeaderSize + grown);
      std::byte* out = scratch_.data();
      std::memcpy(out, head.data(), internal::kListHeaderSize + header.used);
      WriteElement(value, size, out + internal::kListHeaderSize + header.used);
      std::memset(out + internal::kListHeaderSize + needed, 0, grown - needed);
      ++header.count;
      header.used = static_cast<uint32_t>(needed);
      internal::StoreHeader(out, header);
      PutEntry(namespace_, scratch_);
      return;
    }
  } else {
    const uint32_t last = header.first_chunk + header.chunk_count - 1;
    const std::span<std::byte> chunk = FindChunk(namespace_, last);
    if (chunk.data() == nullptr) [[unlikely]] {
      WEIR_CHECK(failed());  // the head names the chunk: only a failed relocation hides it
      return;
    }
    auto chunk_header = internal::LoadHeader<internal::ChunkHeader>(chunk.data());
    const size_t capacity = chunk.size() - internal::kChunkHeaderSize;
    const size_t needed = chunk_header.used + stride;
    // The head is in the other table: writing chunks leaves its span valid.
    if (needed <= capacity) {
      WriteElement(value, size, chunk.data() + internal::kChunkHeaderSize + chunk_header.used);
      chunk_header.used = static_cast<uint32_t>(needed);
      internal::StoreHeader(chunk.data(), chunk_header);
      ++header.count;
      internal::StoreHeader(head.data(), header);
      return;
    }
    const size_t max = MaxChunkCapacity(namespace_);
    if (needed <= max) {
      const size_t grown = std::min(std::max(capacity * 2, needed), max);
      scratch_.resize(internal::kChunkHeaderSize + grown);
      std::byte* out = scratch_.data();
      std::memcpy(out, chunk.data(), internal::kChunkHeaderSize + chunk_header.used);
      WriteElement(value, size, out + internal::kChunkHeaderSize + chunk_header.used);
      std::memset(out + internal::kChunkHeaderSize + needed, 0, grown - needed);
      chunk_header.used = static_cast<uint32_t>(needed);
      internal::StoreHeader(out, chunk_header);
      if (!PutChunk(namespace_, last, scratch_)) return;
      ++header.count;
      internal::StoreHeader(head.data(), header);
      return;
    }
  }
  // The last block is full at its maximum: a new chunk, at full capacity at once (the list is
  // already longer than a segment).
  const uint32_t index = header.first_chunk + header.chunk_count;
  WEIR_CHECK(index != UINT32_MAX);
  const size_t capacity = std::max(MaxChunkCapacity(namespace_), stride);
  scratch_.resize(internal::kChunkHeaderSize + capacity);
  std::byte* out = scratch_.data();
  internal::StoreHeader(out, internal::ChunkHeader{static_cast<uint32_t>(stride), 0});
  WriteElement(value, size, out + internal::kChunkHeaderSize);
  std::memset(out + internal::kChunkHeaderSize + stride, 0, capacity - stride);
  if (!PutChunk(namespace_, index, scratch_)) return;
  ++header.count;
  ++header.chunk_count;
  internal::StoreHeader(head.data(), header);
}

template <typename T>
void ListState<T>::Update(std::span<const T> values) {
  if (values.empty()) {
    Clear();
    return;
  }
  // Encode everything first: `values` may point into this state, which the writes relocate.
  size_t used = 0;
  for (const T& value : values) used += internal::Align8(ElementSize(value));
  scratch_.resize(used);
  std::byte* out = scratch_.data();
  for (const T& value : values) {
    const size_t size = ElementSize(value);
    WriteElement(value, size, out);
    out += internal::Align8(size);
  }
  const std::span<const std::byte> elements(scratch_.data(), used);
  const size_t head_max = MaxHeadCapacity(namespace_);
  size_t head_used = 0;
  while (head_used < used && head_used + EncodedStride(elements.data() + head_used) <= head_max) {
    head_used += EncodedStride(elements.data() + head_used);
  }
  const std::span<const std::byte> old_head = GetEntry(namespace_);
  const internal::ListHeader old =
      old_head.data() == nullptr ? internal::ListHeader{0, 0, 0, 0}
                                 : internal::LoadHeader<internal::ListHeader>(old_head.data());
  // New chunks go after the old ones, which stay valid until the new head is in place.
  const uint32_t first = old.first_chunk + old.chunk_count;
  blocks_.clear();
  if (head_used < used) SplitIntoBlocks(elements.subspan(head_used), MaxChunkCapacity(namespace_));
  if (!PutChunks(namespace_, first, blocks_)) return;
  const auto chunk_count = static_cast<uint32_t>(blocks_.size());
  block_.resize(internal::kListHeaderSize + head_used);
  internal::StoreHeader(
      block_.data(),
      internal::ListHeader{static_cast<uint32_t>(values.size()), static_cast<uint32_t>(head_used),
                           chunk_count == 0 ? 0 : first, chunk_count});
  std::memcpy(block_.data() + internal::kListHeaderSize, elements.data(), head_used);
  if (!PutEntry(namespace_, block_)) {
    RemoveChunks(namespace_, first, chunk_count);
    return;
  }
  RemoveChunks(namespace_, old.first_chunk, old.chunk_count);
}

template <typename T>
template <typename F>
size_t ListState<T>::ForEach(F&& visit) const {
  const std::span<const std::byte> head = GetEntry(namespace_);
  if (head.data() == nullptr) return 0;
  const auto header = internal::LoadHeader<internal::ListHeader>(head.data());
  VisitBlock(head.data() + internal::kListHeaderSize, header.used, visit);
  for (uint32_t i = 0; i < header.chunk_count; ++i) {
    const std::span<const std::byte> chunk = GetChunk(namespace_, header.first_chunk + i);
    WEIR_DCHECK(chunk.data() != nullptr);
    VisitBlock(chunk.data() + internal::kChunkHeaderSize,
               internal::LoadHeader<internal::ChunkHeader>(chunk.data()).used, visit);
  }
  return header.count;
}

template <typename T>
std::vector<T> ListState<T>::Get() const {
  std::vector<T> values;
  values.reserve(Size());
  ForEach([&values](const T& value) { values.push_back(value); });
  return values;
}

template <typename T>
bool ListState<T>::IsEmpty() const {
  return GetEntry(namespace_).data() == nullptr;
}

template <typename T>
size_t ListState<T>::Size() const {
  const std::span<const std::byte> head = GetEntry(namespace_);
  return head.data() == nullptr ? 0 : internal::LoadHeader<internal::ListHeader>(head.data()).count;
}

template <typename T>
void ListState<T>::Clear() {
  RemoveList(namespace_);
}

template <typename T>
void ListState<T>::MergeNamespaces(std::string_view target,
                                   std::span<const std::string_view> sources) {
  const std::span<std::byte> target_head = FindEntry(target);
  if (target_head.data() == nullptr && failed()) [[unlikely]] return;
  internal::ListHeader merged{0, 0, 0, 0};
  size_t capacity = 0;
  if (target_head.data() != nullptr) {
    merged = internal::LoadHeader<internal::ListHeader>(target_head.data());
    capacity = target_head.size() - internal::kListHeaderSize;
  }
  const uint32_t target_used = merged.used;
  bool any_source = false;
  bool chunked = merged.chunk_count != 0;
  size_t source_bytes = 0;
  uint32_t source_count = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (internal::IsRepeatedSource(sources, i, target)) continue;
    const std::span<const std::byte> head = GetEntry(sources[i]);
    if (head.data() == nullptr) continue;
    const auto header = internal::LoadHeader<internal::ListHeader>(head.data());
    any_source = true;
    source_count += header.count;
    source_bytes += header.used;
    for (uint32_t c = 0; c < header.chunk_count; ++c) {
      chunked = true;
      source_bytes += internal::LoadHeader<internal::ChunkHeader>(
                          GetChunk(sources[i], header.first_chunk + c).data())
                          .used;
    }
  }
  if (!any_source) return;
  // The sources' elements in order, into `out` (nothing is written before the last read).
  const auto copy_sources = [&](std::byte* out) {
    for (size_t i = 0; i < sources.size(); ++i) {
      if (internal::IsRepeatedSource(sources, i, target)) continue;
      const std::span<const std::byte> head = GetEntry(sources[i]);
      if (head.data() == nullptr) continue;
      const auto header = internal::LoadHeader<internal::ListHeader>(head.data());
      std::memcpy(out, head.data() + internal::kListHeaderSize, header.used);
      out += header.used;
      for (uint32_t c = 0; c < header.chunk_count; ++c) {
        const std::span<const std::byte> chunk = GetChunk(sources[i], header.first_chunk + c);
        const uint32_t used = internal::LoadHeader<internal::ChunkHeader>(chunk.data()).used;
        std::memcpy(out, chunk.data() + internal::kChunkHeaderSize, used);
        out += used;
      }
    }
  };
  merged.count += source_count;
  if (!chunked && target_used + source_bytes <= MaxHeadCapacity(target)) {
    // Everything fits one head: append in place, or write a head of the merged size.
    merged.used = static_cast<uint32_t>(target_used + source_bytes);
    if (merged.used <= capacity) {
      copy_sources(target_head.data() + internal::kListHeaderSize + target_used);
      internal::StoreHeader(target_head.data(), merged);
    } else {
      scratch_.resize(internal::kListHeaderSize + merged.used);
      std::byte* out = scratch_.data();
      internal::StoreHeader(out, merged);
      if (target_used != 0) {
        std::memcpy(out + internal::kListHeaderSize, target_head.data() + internal::kListHeaderSize,
                    target_used);
      }
      copy_sources(out + internal::kListHeaderSize + target_used);
      if (!PutEntry(target, scratch_)) return;
    }
  } else {
    // The sources' elements become chunks after the target's; the head is switched last.
    scratch_.resize(source_bytes);
    copy_sources(scratch_.data());
    SplitIntoBlocks(std::span<const std::byte>(scratch_.data(), source_bytes),
                    MaxChunkCapacity(target));
    const uint32_t first = merged.first_chunk + merged.chunk_count;
    if (!PutChunks(target, first, blocks_)) return;
    merged.chunk_count += static_cast<uint32_t>(blocks_.size());
    if (target_head.data() != nullptr) {
      internal::StoreHeader(target_head.data(), merged);
    } else {
      std::byte bytes[internal::kListHeaderSize];
      internal::StoreHeader(bytes, merged);
      if (!PutEntry(target, bytes)) {
        RemoveChunks(target, first, static_cast<uint32_t>(blocks_.size()));
        return;
      }
    }
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!internal::IsRepeatedSource(sources, i, target)) RemoveList(sources[i]);
  }
}

// MapState -----------------------------------------------------------------------------------

template <typename K, typename V>
std::string_view MapState<K, V>::BuildNamespace(std::string& out, char tag, const void* suffix,
                                                size_t suffix_size) const {
  const auto ns_size = static_cast<uint32_t>(namespace_.size());
  out.resize(1 + sizeof(ns_size) + namespace_.size() + suffix_size);
  char* bytes = out.data();
  bytes[0] = tag;
  std::memcpy(bytes + 1, &ns_size, sizeof(ns_size));
  if (!namespace_.empty()) {
    std::memcpy(bytes + 1 + sizeof(ns_size), namespace_.data(), namespace_.size());
  }
  if (suffix_size != 0) {
    std::memcpy(bytes + 1 + sizeof(ns_size) + namespace_.size(), suffix, suffix_size);
  }
  return out;
}

template <typename K, typename V>
uint64_t MapState<K, V>::Count() const {
  const std::span<const std::byte> count = GetEntry(CountNamespace());
  return count.data() == nullptr ? 0 : internal::LoadU64(count.data());
}

template <typename K, typename V>
bool MapState<K, V>::StoreCount(uint64_t count) {
  if (count == 0) {
    RemoveEntry(CountNamespace());
    return true;
  }
  std::byte bytes[sizeof(count)];
  internal::StoreU64(bytes, count);
  return PutEntry(CountNamespace(), bytes);
}

template <typename K, typename V>
std::optional<V> MapState<K, V>::Get(const K& key) const {
  const std::span<const std::byte> entry =
      GetEntry(EntryNamespace(internal::Encode(key, user_key_)));
  if (entry.data() == nullptr) return std::nullopt;
  return std::optional<V>(serde::Codec<V>::Read(entry.data() + kValueOffset));
}

template <typename K, typename V>
bool MapState<K, V>::Contains(const K& key) const {
  return GetEntry(EntryNamespace(internal::Encode(key, user_key_))).data() != nullptr;
}

template <typename K, typename V>
void MapState<K, V>::Put(const K& key, const V& value) {
  const std::span<const std::byte> user_key = internal::Encode(key, user_key_);
  const std::string_view entry_ns = EntryNamespace(user_key);
  const std::span<std::byte> entry = FindEntry(entry_ns);
  if (entry.data() == nullptr && failed()) [[unlikely]] return;
  const size_t entry_size = kValueOffset + serde::Codec<V>::Size(value);
  if (entry.data() != nullptr) {
    if constexpr (internal::kPlainBytes<V>) {
      serde::Codec<V>::Write(value, entry.data() + kValueOffset);
      return;
    }
    // Through the scratch: `value` may point into the entry it replaces.
    scratch_.resize(entry_size);
    std::memcpy(scratch_.data(), entry.data(), kValueOffset);
    serde::Codec<V>::Write(value, scratch_.data() + kValueOffset);
    PutEntry(entry_ns, scratch_);
    return;
  }
  const uint64_t count = Count();
  WEIR_CHECK_MSG(count < UINT32_MAX, "map state '{}' has {} keys under one key and namespace",
                 name_, count);
  const auto position = static_cast<uint32_t>(count);
  scratch_.resize(entry_size);
  internal::StoreU32(scratch_.data(), position);
  internal::StoreU32(scratch_.data() + sizeof(uint32_t), 0);
  serde::Codec<V>::Write(value, scratch_.data() + kValueOffset);
  // Slot, entry, count; a failure undoes what was written before it.
  if (!PutEntry(SlotNamespace(position), user_key)) return;
  if (!PutEntry(entry_ns, scratch_)) {
    RemoveEntry(SlotNamespace(position));
    return;
  }
  if (!StoreCount(count + 1)) {
    RemoveEntry(entry_ns);
    RemoveEntry(SlotNamespace(position));
  }
}

template <typename K, typename V>
void MapState<K, V>::Remove(const K& key) {
  const std::string_view entry_ns = EntryNamespace(internal::Encode(key, user_key_));
  const std::span<const std::byte> entry = GetEntry(entry_ns);
  if (entry.data() == nullptr) return;
  const uint32_t position = internal::LoadU32(entry.data());
  const uint64_t count = Count();
  WEIR_CHECK(count > position);
  const auto last = static_cast<uint32_t>(count - 1);
  // The entries rewritten in place below (the count, the moved key's entry) may lie in bytes a
  // checkpoint sealed; moving them out needs memory and can fail, so it is done first, while the
  // map is unchanged (a Find relocates; the rewrites then find them in place).
  if (count > 1 && FindEntry(CountNamespace()).data() == nullptr) [[unlikely]] {
    WEIR_CHECK(failed());  // the map has a count: only a failed relocation hides it
    return;
  }
  if (position != last) {
    const std::span<const std::byte> last_key = GetEntry(SlotNamespace(last));
    WEIR_CHECK(last_key.data() != nullptr);
    moved_key_.assign(last_key.begin(), last_key.end());
    if (FindEntry(EntryNamespace(moved_key_)).data() == nullptr) [[unlikely]] {
      WEIR_CHECK(failed());  // the slot names the key: only a failed relocation hides it
      return;
    }
    // Move the last slot's key into the hole: the only step left that can fail.
    if (!PutEntry(SlotNamespace(position), moved_key_)) return;
    RemoveEntry(EntryNamespace(internal::Encode(key, user_key_)));  // (entry_ns's buffer was reused)
    const std::span<std::byte> moved = FindEntry(EntryNamespace(moved_key_));
    WEIR_CHECK(moved.data() != nullptr);  // moved out of sealed bytes above: found in place
    internal::StoreU32(moved.data(), position);
  } else {
    RemoveEntry(entry_ns);
  }
  RemoveEntry(SlotNamespace(last));
  // In place (or a removal): cannot fail.
  WEIR_CHECK(StoreCount(count - 1));
}

template <typename K, typename V>
template <typename F>
void MapState<K, V>::ForEach(F&& visit) const {
  const uint64_t count = Count();
  for (uint64_t i = 0; i < count; ++i) {
    const std::span<const std::byte> user_key = GetEntry(SlotNamespace(static_cast<uint32_t>(i)));
    WEIR_DCHECK(user_key.data() != nullptr);
    const std::span<const std::byte> entry = GetEntry(EntryNamespace(user_key));
    WEIR_DCHECK(entry.data() != nullptr);
    visit(serde::Codec<K>::Read(user_key.data()),
          serde::Codec<V>::Read(entry.data() + kValueOffset));
  }
}

template <typename K, typename V>
bool MapState<K, V>::IsEmpty() const {
  return Count() == 0;
}

template <typename K, typename V>
size_t MapState<K, V>::Size() const {
  return static_cast<size_t>(Count());
}

template <typename K, typename V>
void MapState<K, V>::Clear() {
  const uint64_t count = Count();
  for (uint64_t i = count; i-- > 0;) {
    const auto position = static_cast<uint32_t>(i);
    const std::span<const std::byte> user_key = GetEntry(SlotNamespace(position));
    WEIR_CHECK(user_key.data() != nullptr);
    RemoveEntry(EntryNamespace(user_key));
    RemoveEntry(SlotNamespace(position));
  }
  RemoveEntry(CountNamespace());
}

// ReducingState ------------------------------------------------------------------------------

template <typename T, typename Reduce>
void ReducingState<T, Reduce>::Add(const T& value) {
  if constexpr (internal::FixedSize<T>()) {
    const CurrentKey& current = key();
    bool inserted;
    Result<std::span<std::byte>> stored =
        table_->FindOrInsert(current.hash, current.key_group, current.bytes, namespace_,
                             serde::Codec<T>::Size(value), &inserted);
    if (!stored.ok()) {
      Fail(stored.status());
      return;
    }
    if (inserted) {
      serde::Codec<T>::Write(value, stored->data());
      return;
    }
    const T accumulated = serde::Codec<T>::Read(stored->data());
    const T reduced = reduce_(accumulated, value);
    WEIR_DCHECK(serde::Codec<T>::Size(reduced) == stored->size());
    serde::Codec<T>::Write(reduced, stored->data());
  } else {
    const std::span<const std::byte> stored = GetEntry(namespace_);
    if (stored.data() == nullptr) {
      PutEntry(namespace_, internal::Encode(value, scratch_));
      return;
    }
    const T reduced = reduce_(serde::Codec<T>::Read(stored.data()), value);
    PutEntry(namespace_, internal::Encode(reduced, scratch_));
  }
}

template <typename T, typename Reduce>
std::optional<T> ReducingState<T, Reduce>::Get() const {
  const std::span<const std::byte> stored = GetEntry(namespace_);
  if (stored.data() == nullptr) return std::nullopt;
  return std::optional<T>(serde::Codec<T>::Read(stored.data()));
}

template <typename T, typename Reduce>
void ReducingState<T, Reduce>::Clear() {
  RemoveEntry(namespace_);
}

template <typename T, typename Reduce>
void ReducingState<T, Reduce>::MergeNamespaces(std::string_view target,
                                               std::span<const std::string_view> sources) {
  // The merged value is kept encoded in scratch_ (8-aligned heap bytes, so plain values are read
  // in place); nothing is written to the table until it is complete.
  bool merged = false;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (internal::IsRepeatedSource(sources, i, target)) continue;
    const std::span<const std::byte> stored = GetEntry(sources[i]);
    if (stored.data() == nullptr) continue;
    if (!merged) {
      scratch_.assign(stored.begin(), stored.end());
      merged = true;
      continue;
    }
    const T reduced =
        reduce_(serde::Codec<T>::Read(scratch_.data()), serde::Codec<T>::Read(stored.data()));
    internal::Encode(reduced, merge_scratch_);
    scratch_.swap(merge_scratch_);
  }
  if (!merged) return;
  const std::span<const std::byte> stored = GetEntry(target);
  if (stored.data() != nullptr) {
    const T reduced =
        reduce_(serde::Codec<T>::Read(stored.data()), serde::Codec<T>::Read(scratch_.data()));
    internal::Encode(reduced, merge_scratch_);
    scratch_.swap(merge_scratch_);
  }
  if (!PutEntry(target, scratch_)) return;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!internal::IsRepeatedSource(sources, i, target)) RemoveEntry(sources[i]);
  }
}

// AggregatingState ---------------------------------------------------------------------------

template <typename In, typename Acc, typename Out, typename Aggregate>
AggregatingState<In, Acc, Out, Aggregate>::AggregatingState(KeyedStateBackend* backend,
                                                            std::string name, Aggregate aggregate)
    : StateBase(backend, std::move(name)), aggregate_(std::move(aggregate)) {
  if constexpr (internal::FixedSize<Acc>()) {
    accumulator_size_ = serde::Codec<Acc>::Size(aggregate_.CreateAccumulator());
  }
}

template <typename In, typename Acc, typename Out, typename Aggregate>
void AggregatingState<In, Acc, Out, Aggregate>::Add(const In& value) {
  if constexpr (internal::FixedSize<Acc>()) {
    const CurrentKey& current = key();
    bool inserted;
    Result<std::span<std::byte>> stored = table_->FindOrInsert(
        current.hash, current.key_group, current.bytes, namespace_, accumulator_size_, &inserted);
    if (!stored.ok()) {
      Fail(stored.status());
      return;
    }
    Acc accumulator =
        inserted ? aggregate_.CreateAccumulator() : Acc(serde::Codec<Acc>::Read(stored->data()));
    AddTo(value, accumulator);
    WEIR_DCHECK(serde::Codec<Acc>::Size(accumulator) == stored->size());
    serde::Codec<Acc>::Write(accumulator, stored->data());
  } else {
    const std::span<const std::byte> stored = GetEntry(namespace_);
    Acc accumulator = stored.data() == nullptr ? aggregate_.CreateAccumulator()
                                               : Acc(serde::Codec<Acc>::Read(stored.data()));
    AddTo(value, accumulator);
    PutEntry(namespace_, internal::Encode(accumulator, scratch_));
  }
}

template <typename In, typename Acc, typename Out, typename Aggregate>
std::optional<Out> AggregatingState<In, Acc, Out, Aggregate>::Get() const {
  const std::span<const std::byte> stored = GetEntry(namespace_);
  if (stored.data() == nullptr) return std::nullopt;
  return std::optional<Out>(aggregate_.GetResult(serde::Codec<Acc>::Read(stored.data())));
}

template <typename In, typename Acc, typename Out, typename Aggregate>
std::optional<Acc> AggregatingState<In, Acc, Out, Aggregate>::GetAccumulator() const {
  const std::span<const std::byte> stored = GetEntry(namespace_);
  if (stored.data() == nullptr) return std::nullopt;
  return std::optional<Acc>(serde::Codec<Acc>::Read(stored.data()));
}

template <typename In, typename Acc, typename Out, typename Aggregate>
void AggregatingState<In, Acc, Out, Aggregate>::Clear() {
  RemoveEntry(namespace_);
}

template <typename In, typename Acc, typename Out, typename Aggregate>
void AggregatingState<In, Acc, Out, Aggregate>::MergeNamespaces(
    std::string_view target, std::span<const std::string_view> sources) {
  bool merged = false;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (internal::IsRepeatedSource(sources, i, target)) continue;
    const std::span<const std::byte> stored = GetEntry(sources[i]);
    if (stored.data() == nullptr) continue;
    if (!merged) {
      scratch_.assign(stored.begin(), stored.end());
      merged = true;
      continue;
    }
    const Acc accumulator = aggregate_.Merge(serde::Codec<Acc>::Read(scratch_.data()),
                                             serde::Codec<Acc>::Read(stored.data()));
    internal::Encode(accumulator, merge_scratch_);
    scratch_.swap(merge_scratch_);
  }
  if (!merged) return;
  const std::span<const std::byte> stored = GetEntry(target);
  if (stored.data() != nullptr) {
    const Acc accumulator = aggregate_.Merge(serde::Codec<Acc>::Read(stored.data()),
                                             serde::Codec<Acc>::Read(scratch_.data()));
    internal::Encode(accumulator, merge_scratch_);
    scratch_.swap(merge_scratch_);
  }
  if (!PutEntry(target, scratch_)) return;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!internal::IsRepeatedSource(sources, i, target)) RemoveEntry(sources[i]);
  }
}

}  // namespace weir::state
