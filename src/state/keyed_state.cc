#include "state/keyed_state.h"

#include <bit>
#include <utility>

namespace weir::state {

StateBase::StateBase(KeyedStateBackend* backend, std::string name)
    : backend_(backend),
      name_(std::move(name)),
      table_(std::make_unique<StateTable>(backend->pool(), backend->budget(), backend->owner())) {}

bool StateBase::PutEntry(std::string_view ns, std::span<const std::byte> value) {
  const CurrentKey& current = key();
  Result<std::span<std::byte>> stored =
      table_->Put(current.hash, current.key_group, current.bytes, ns, value);
  if (stored.ok()) return true;
  Fail(stored.status());
  return false;
}

void StateBase::Fail(const Status& status) { backend_->Fail(status); }

namespace internal {

bool IsRepeatedSource(std::span<const std::string_view> sources, size_t index,
                      std::string_view target) {
  if (sources[index] == target) return true;
  for (size_t i = 0; i < index; ++i) {
    if (sources[i] == sources[index]) return true;
  }
  return false;
}

}  // namespace internal

KeyedStateBackend::KeyedStateBackend(memory::SegmentPool* pool, memory::MemoryBudget* budget,
                                     std::string owner, int max_parallelism)
    : pool_(pool),
      budget_(budget),
      owner_(std::move(owner)),
      max_parallelism_(max_parallelism),
      key_group_mask_(max_parallelism > 1 &&
                              std::has_single_bit(static_cast<unsigned>(max_parallelism))
                          ? static_cast<uint64_t>(max_parallelism - 1)
                          : 0) {
  WEIR_CHECK(pool_ != nullptr && budget_ != nullptr);
  WEIR_CHECK_MSG(max_parallelism > 0 && max_parallelism <= kMaxParallelismUpperBound,
                 "max parallelism {} of {} is outside (0, {}]", max_parallelism, owner_,
                 kMaxParallelismUpperBound);
}

int64_t KeyedStateBackend::memory_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, state] : states_) {
    for (const StateTable* table : state->tables()) bytes += table->memory_bytes();
  }
  return bytes;
}

}  // namespace weir::state
