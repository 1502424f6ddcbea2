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
//   so Add is amortized O(1) and Get is one probe plus a sequential scan.
// * MapState keeps one entry per user key (namespace extended with the user key's bytes) for O(1)
//   Get/Put/Contains/Remove, plus one directory entry per (key, namespace) listing the user keys
//   for iteration; Remove swaps the last directory slot into the removed one (each map entry
//   records its directory position), so every operation is O(1) and iteration is O(entries).
// * Reducing/Aggregating state keep one accumulator per (key, namespace); a fixed-size accumulator
//   is updated in place (no relocation).
// * Merging (session windows): List, Reducing and Aggregating state can merge the values of
//   several namespaces into a target namespace (Flink's InternalMergingState.mergeNamespaces).
//
// Failures: a write that the memory budget cannot hold does not throw and does not return a
// Status to user code (Flink's state calls have no error channel either); it records the first
// failure in the backend, leaves the state unchanged, and the operator checks backend.status()
// after each record or timer and fails the task with it (a ResourceExhausted naming the operator
// and taskmanager.memory.managed.size).
//
// Threads: one backend belongs to one task thread; nothing here is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "serde/codec.h"
#include "state/key_groups.h"
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

  const std::string& name() const { return name_; }
  // The entries of this state for every key and namespace (read by snapshots, tests, debugging).
  const StateTable& table() const { return *table_; }

 protected:
  KeyedStateBackend* const backend_;
  const std::string name_;
  std::unique_ptr<StateTable> table_;
  std::string_view namespace_;
};

// Flink's ValueState<T>.
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
template <typename T>
class ListState final : public StateBase {
 public:
  using StateBase::StateBase;
  void Add(const T& value);
  // Replaces the list (Flink's update(List)).
  void Update(std::span<const T> values);
  // Calls visit(const T&) for each element in insertion order; returns the number visited.
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
};

// Flink's MapState<K, V>.
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
};

// Flink's ReducingState<T>: Add(v) stores reduce(current, v). `Reduce` is a callable
// T(const T& accumulated, const T& value), copied into the state.
template <typename T, typename Reduce>
class ReducingState final : public StateBase {
 public:
  ReducingState(KeyedStateBackend* backend, std::string name, Reduce reduce);
  void Add(const T& value);
  std::optional<T> Get() const;
  void Clear() override;
  // Reduces the values of `sources` into `target` (then removes the sources' values).
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources);

 private:
  Reduce reduce_;
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
  void MergeNamespaces(std::string_view target, std::span<const std::string_view> sources);

 private:
  Aggregate aggregate_;
};

class KeyedStateBackend {
 public:
  // `pool` and `budget` must outlive the backend; `owner` names the operator subtask in errors.
  KeyedStateBackend(memory::SegmentPool* pool, memory::MemoryBudget* budget, std::string owner,
                    int max_parallelism);
  KeyedStateBackend(const KeyedStateBackend&) = delete;
  KeyedStateBackend& operator=(const KeyedStateBackend&) = delete;

  void SetCurrentKey(std::string_view bytes, uint64_t hash) {
    current_key_ = {bytes, hash, KeyGroupForHash(hash, max_parallelism_)};
  }
  void SetCurrentKey(const CurrentKey& key) { current_key_ = key; }
  const CurrentKey& current_key() const { return current_key_; }

  // A state by name, created on first request; the same name returns the same object (so a
  // trigger asking for its state on every call gets it by lookup). A name requested with another
  // state kind or type is a programming error (CHECK).
  template <typename T>
  ValueState<T>* GetValueState(const std::string& name);
  template <typename T>
  ListState<T>* GetListState(const std::string& name);
  template <typename K, typename V>
  MapState<K, V>* GetMapState(const std::string& name);
  template <typename T, typename Reduce>
  ReducingState<T, Reduce>* GetReducingState(const std::string& name, Reduce reduce);
  template <typename In, typename Acc, typename Out, typename Aggregate>
  AggregatingState<In, Acc, Out, Aggregate>* GetAggregatingState(const std::string& name,
                                                                  Aggregate aggregate);

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

 private:
  memory::SegmentPool* const pool_;
  memory::MemoryBudget* const budget_;
  const std::string owner_;
  const int max_parallelism_;
  CurrentKey current_key_;
  std::map<std::string, std::unique_ptr<StateBase>, std::less<>> states_;
  Status status_;
};

}  // namespace weir::state
