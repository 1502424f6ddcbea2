// Key groups: the unit in which keyed state is partitioned, rescaled and snapshotted, exactly as
// Flink's KeyGroupRangeAssignment defines them.
//
// A key's group is fixed by its hash and the job's max parallelism (never by the parallelism), so
// a checkpoint taken at parallelism 4 restores at parallelism 3 by handing each new subtask a
// contiguous range of whole key groups. The exchange (which subtask receives a record) and the
// state backend (which key group an entry belongs to) both go through these functions, so a
// record always reaches the subtask that owns its key's state.
//
// weir hashes keys with xxh3 (base/xxhash.h), which already mixes every input bit into every
// output bit, so the group is the hash modulo max parallelism; Flink applies murmur to Java's
// hashCode() for the same reason. State tables index by the high bits of the hash, which are
// independent of the low bits a power-of-two max parallelism selects the group by.
//
// All functions are pure and callable from any thread.
#pragma once

#include <cstdint>

#include "base/check.h"

namespace weir::state {

// Flink's bounds on max parallelism (KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM): the
// group fits in 15 bits, which the state table's entry header relies on.
inline constexpr int kMaxParallelismUpperBound = 1 << 15;
inline constexpr int kDefaultLowerBoundMaxParallelism = 1 << 7;

// The key group of a key whose xxh3 hash is `hash`.
// REQUIRES: 0 < max_parallelism <= kMaxParallelismUpperBound.
inline int KeyGroupForHash(uint64_t hash, int max_parallelism) {
  WEIR_DCHECK(max_parallelism > 0 && max_parallelism <= kMaxParallelismUpperBound);
  return static_cast<int>(hash % static_cast<uint64_t>(max_parallelism));
}

// The subtask (operator index) that owns `key_group` when the operator runs with `parallelism`
// subtasks (Flink's computeOperatorIndexForKeyGroup).
// REQUIRES: 0 < parallelism <= max_parallelism <= kMaxParallelismUpperBound,
//           0 <= key_group < max_parallelism.
inline int OperatorIndexForKeyGroup(int max_parallelism, int parallelism, int key_group) {
  WEIR_DCHECK(parallelism > 0 && parallelism <= max_parallelism);
  WEIR_DCHECK(key_group >= 0 && key_group < max_parallelism);
  return static_cast<int>(static_cast<int64_t>(key_group) * parallelism / max_parallelism);
}

// A contiguous, inclusive range of key groups [start, end]; empty when end < start.
struct KeyGroupRange {
  int start = 0;
  int end = -1;

  int size() const { return end >= start ? end - start + 1 : 0; }
  bool empty() const { return end < start; }
  bool Contains(int key_group) const { return key_group >= start && key_group <= end; }
  friend bool operator==(const KeyGroupRange&, const KeyGroupRange&) = default;
};

// The key groups owned by subtask `operator_index` of `parallelism` (Flink's
// computeKeyGroupRangeForOperatorIndex). The ranges of subtasks 0..parallelism-1 are contiguous,
// disjoint, cover [0, max_parallelism) and agree with OperatorIndexForKeyGroup.
// REQUIRES: 0 < parallelism <= max_parallelism <= kMaxParallelismUpperBound,
//           0 <= operator_index < parallelism.
inline KeyGroupRange KeyGroupRangeForOperatorIndex(int max_parallelism, int parallelism,
                                                   int operator_index) {
  WEIR_CHECK(parallelism > 0 && parallelism <= max_parallelism &&
             max_parallelism <= kMaxParallelismUpperBound);
  WEIR_CHECK(operator_index >= 0 && operator_index < parallelism);
  const int64_t max = max_parallelism;
  const int64_t index = operator_index;
  return KeyGroupRange{static_cast<int>((index * max + parallelism - 1) / parallelism),
                       static_cast<int>(((index + 1) * max - 1) / parallelism)};
}

// Flink's default max parallelism for an operator that did not set one
// (computeDefaultMaxParallelism): 1.5 x parallelism rounded up to a power of two, within
// [128, 32768].
// REQUIRES: parallelism > 0.
inline int DefaultMaxParallelism(int parallelism) {
  WEIR_CHECK(parallelism > 0);
  const int64_t wanted = static_cast<int64_t>(parallelism) + parallelism / 2;
  int64_t power = 1;
  while (power < wanted) power <<= 1;
  if (power < kDefaultLowerBoundMaxParallelism) return kDefaultLowerBoundMaxParallelism;
  if (power > kMaxParallelismUpperBound) return kMaxParallelismUpperBound;
  return static_cast<int>(power);
}

}  // namespace weir::state
