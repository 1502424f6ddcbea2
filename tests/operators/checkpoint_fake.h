// Test helper: an in-memory checkpoint store implementing the SnapshotWriter / RestoreReader
// contract (state/snapshot.h) independently of StateTable::Snapshot/Restore.
//
// AddTable copies the table's live entries (StateTable::ForEach) at the time of the call, which is
// what a pinned table's bytes are; RestoreTable re-inserts with StateTable::Put the entries whose
// key group the restoring subtask owns, with the key's xxh3 as the key hash (what every keyed
// operator passes: CurrentKey's contract). Keyed records and blobs follow the contract's
// redistribution rules (blobs: a subtask's own at the same parallelism, every old subtask's at
// another). Everything is kept per old subtask, so one FakeCheckpoint restores at any parallelism.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/xxhash.h"
#include "state/key_groups.h"
#include "state/snapshot.h"
#include "state/state_table.h"

namespace weir::operators::testing {

// What the subtasks of one operator wrote into one checkpoint.
class FakeCheckpoint {
 public:
  struct Entry {
    int key_group;
    std::string key;
    std::string ns;
    std::string value;
  };
  struct Subtask {
    std::map<std::string, std::vector<Entry>, std::less<>> tables;
    std::map<std::string, std::vector<std::pair<int, std::string>>, std::less<>> keyed_records;
    std::map<std::string, std::string, std::less<>> blobs;
  };

  explicit FakeCheckpoint(int parallelism) : subtasks_(static_cast<size_t>(parallelism)) {}

  int parallelism() const { return static_cast<int>(subtasks_.size()); }
  Subtask& subtask(int index) { return subtasks_.at(static_cast<size_t>(index)); }
  const Subtask& subtask(int index) const { return subtasks_.at(static_cast<size_t>(index)); }

  // Entries of every table of every subtask (how much state the checkpoint holds).
  size_t entry_count() const {
    size_t count = 0;
    for (const Subtask& subtask : subtasks_) {
      for (const auto& [name, entries] : subtask.tables) count += entries.size();
    }
    return count;
  }

 private:
  std::vector<Subtask> subtasks_;
};

class FakeSnapshotWriter final : public state::SnapshotWriter {
 public:
  FakeSnapshotWriter(FakeCheckpoint* checkpoint, int subtask, int64_t checkpoint_id = 1)
      : out_(&checkpoint->subtask(subtask)), checkpoint_id_(checkpoint_id) {}

  int64_t checkpoint_id() const override { return checkpoint_id_; }

  Status AddTable(std::string_view name, state::StateTable& table) override {
    auto [it, inserted] = out_->tables.try_emplace(std::string(name));
    if (!inserted) return InvalidArgument("table '{}' added twice to one snapshot", name);
    table.ForEach([&](int key_group, std::string_view key, std::string_view ns,
                      std::span<const std::byte> value) {
      it->second.push_back(Entry{key_group, std::string(key), std::string(ns),
                                 std::string(reinterpret_cast<const char*>(value.data()), value.size())});
    });
    return Status::Ok();
  }

  void AddKeyedRecord(std::string_view name, int key_group, std::string_view bytes) override {
    out_->keyed_records[std::string(name)].emplace_back(key_group, std::string(bytes));
  }

  void AddBlob(std::string_view name, std::string bytes) override {
    out_->blobs[std::string(name)] = std::move(bytes);
  }

 private:
  using Entry = FakeCheckpoint::Entry;
  FakeCheckpoint::Subtask* out_;
  int64_t checkpoint_id_;
};

class FakeRestoreReader final : public state::RestoreReader {
 public:
  // Subtask `subtask` of `parallelism` restoring from `checkpoint`.
  FakeRestoreReader(const FakeCheckpoint* checkpoint, int subtask, int parallelism,
                    int max_parallelism)
      : checkpoint_(checkpoint),
        subtask_(subtask),
        key_groups_(state::KeyGroupRangeForOperatorIndex(max_parallelism, parallelism, subtask)),
        same_parallelism_(parallelism == checkpoint->parallelism()) {}

  int64_t checkpoint_id() const override { return 1; }
  state::KeyGroupRange key_groups() const override { return key_groups_; }
  int old_parallelism() const override { return checkpoint_->parallelism(); }

  Status RestoreTable(std::string_view name, state::StateTable& table) override {
    if (!restored_.insert(std::string(name)).second) {
      return InvalidArgument("table '{}' restored twice", name);
    }
    if (table.size() != 0) return InvalidArgument("table '{}' restored into a non-empty table", name);
    for (int old = 0; old < checkpoint_->parallelism(); ++old) {
      const auto& tables = checkpoint_->subtask(old).tables;
      auto it = tables.find(name);
      if (it == tables.end()) continue;
      for (const FakeCheckpoint::Entry& entry : it->second) {
        if (!key_groups_.Contains(entry.key_group)) continue;
        const auto* value = reinterpret_cast<const std::byte*>(entry.value.data());
        Result<std::span<std::byte>> put =
            table.Put(Hash64(entry.key), entry.key_group, entry.key, entry.ns,
                      std::span<const std::byte>(value, entry.value.size()));
        if (!put.ok()) return put.status();
        ++restored_entries_;
      }
    }
    return Status::Ok();
  }

  std::vector<std::string> TableNames(std::string_view prefix) const override {
    std::set<std::string> names;
    for (int old = 0; old < checkpoint_->parallelism(); ++old) {
      for (const auto& [name, entries] : checkpoint_->subtask(old).tables) {
        if (name.starts_with(prefix)) names.insert(name);
      }
    }
    return {names.begin(), names.end()};
  }

  Status ForEachKeyedRecord(std::string_view name,
                            const std::function<Status(int, std::string_view)>& visit) override {
    for (int old = 0; old < checkpoint_->parallelism(); ++old) {
      const auto& records = checkpoint_->subtask(old).keyed_records;
      auto it = records.find(name);
      if (it == records.end()) continue;
      for (const auto& [key_group, bytes] : it->second) {
        if (key_groups_.Contains(key_group)) RETURN_IF_ERROR(visit(key_group, bytes));
      }
    }
    return Status::Ok();
  }

  std::vector<std::string> Blobs(std::string_view name) const override {
    std::vector<std::string> blobs;
    for (int old = 0; old < checkpoint_->parallelism(); ++old) {
      if (same_parallelism_ && old != subtask_) continue;
      const auto& subtask_blobs = checkpoint_->subtask(old).blobs;
      auto it = subtask_blobs.find(name);
      if (it != subtask_blobs.end()) blobs.push_back(it->second);
    }
    return blobs;
  }

  // Entries RestoreTable inserted (over all tables).
  size_t restored_entries() const { return restored_entries_; }

 private:
  const FakeCheckpoint* checkpoint_;
  int subtask_;
  state::KeyGroupRange key_groups_;
  bool same_parallelism_;
  std::set<std::string> restored_;
  size_t restored_entries_ = 0;
};

}  // namespace weir::operators::testing
