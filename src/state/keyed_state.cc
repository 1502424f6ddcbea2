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

void StateBase::Fail(const Status& status) const { backend_->Fail(status); }
bool StateBase::failed() const { return !backend_->ok(); }

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

std::string KeyedStateBackend::TableName(const StateBase& state, size_t index) {
  std::string name = state.name();
  name += state.TableSuffix(index);
  return name;
}

Status KeyedStateBackend::SnapshotTables(SnapshotWriter& writer, std::string_view prefix) {
  std::string name;
  for (const auto& [state_name, state] : states_) {
    const size_t count = state->tables().size();
    for (size_t index = 0; index < count; ++index) {
      name.assign(prefix);
      name += TableName(*state, index);
      RETURN_IF_ERROR(writer.AddTable(name, *state->TableSlot(index)));
    }
  }
  for (const auto& [table_name, table] : pending_tables_) {
    name.assign(prefix);
    name += table_name;
    RETURN_IF_ERROR(writer.AddTable(name, *table));
  }
  return Status::Ok();
}

Status KeyedStateBackend::RestoreTables(RestoreReader& reader, std::string_view prefix) {
  // The snapshot names of the registered states' tables.
  std::map<std::string, StateTable*, std::less<>> registered;
  for (const auto& [state_name, state] : states_) {
    const size_t count = state->tables().size();
    for (size_t index = 0; index < count; ++index) {
      registered.emplace(TableName(*state, index), state->TableSlot(index).get());
    }
  }
  for (const std::string& name : reader.TableNames(prefix)) {
    const std::string_view suffix = std::string_view(name).substr(prefix.size());
    StateTable* table;
    if (auto it = registered.find(suffix); it != registered.end()) {
      table = it->second;
    } else {
      auto [pending, inserted] = pending_tables_.emplace(
          std::string(suffix), std::make_unique<StateTable>(pool_, budget_, owner_));
      if (!inserted) continue;  // TableNames lists each name once; nothing to add twice
      table = pending->second.get();
    }
    RETURN_IF_ERROR(reader.RestoreTable(name, *table).WithContext(
        fmt::format("restoring keyed state '{}' of {}", suffix, owner_)));
  }
  return Status::Ok();
}

void KeyedStateBackend::AdoptPendingTables(StateBase& state) {
  const size_t count = state.tables().size();
  for (size_t index = 0; index < count; ++index) {
    auto it = pending_tables_.find(TableName(state, index));
    if (it == pending_tables_.end()) continue;
    // The state's own table is empty (just created) and holds no memory.
    state.TableSlot(index) = std::move(it->second);
    pending_tables_.erase(it);
  }
}

}  // namespace weir::state
