// In-memory SnapshotWriter / RestoreReader for driving connectors' checkpoint hooks directly:
// blobs live in a map, one per old subtask, and Blobs() follows snapshot.h's contract (own blob at
// the same parallelism, every old subtask's in order at another one).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "state/snapshot.h"

namespace weir::connectors::testing {

// The operator blobs one subtask wrote for one checkpoint.
using SubtaskBlobs = std::map<std::string, std::string, std::less<>>;

class MemorySnapshotWriter final : public state::SnapshotWriter {
 public:
  explicit MemorySnapshotWriter(int64_t checkpoint_id) : checkpoint_id_(checkpoint_id) {}
  int64_t checkpoint_id() const override { return checkpoint_id_; }
  Status AddTable(std::string_view name, state::StateTable&) override {
    return Unimplemented("connectors keep no tables (table '{}')", name);
  }
  void AddKeyedRecord(std::string_view, int, std::string_view) override { ++keyed_records_; }
  void AddBlob(std::string_view name, std::string bytes) override { blobs_[std::string(name)] = std::move(bytes); }

  const SubtaskBlobs& blobs() const { return blobs_; }
  int keyed_records() const { return keyed_records_; }

 private:
  int64_t checkpoint_id_;
  SubtaskBlobs blobs_;
  int keyed_records_ = 0;
};

class MemoryRestoreReader final : public state::RestoreReader {
 public:
  // `old_subtasks[j]`: what old subtask j wrote; the old parallelism is old_subtasks.size().
  MemoryRestoreReader(int64_t checkpoint_id, std::vector<SubtaskBlobs> old_subtasks, int subtask, int parallelism)
      : checkpoint_id_(checkpoint_id), old_(std::move(old_subtasks)), subtask_(subtask), parallelism_(parallelism) {}

  int64_t checkpoint_id() const override { return checkpoint_id_; }
  state::KeyGroupRange key_groups() const override { return state::KeyGroupRange{}; }
  int old_parallelism() const override { return static_cast<int>(old_.size()); }
  Status RestoreTable(std::string_view name, state::StateTable&) override {
    return Unimplemented("connectors keep no tables (table '{}')", name);
  }
  std::vector<std::string> TableNames(std::string_view) const override { return {}; }
  Status ForEachKeyedRecord(std::string_view, const std::function<Status(int, std::string_view)>&) override {
    return Status::Ok();
  }
  std::vector<std::string> Blobs(std::string_view name) const override {
    std::vector<std::string> blobs;
    for (size_t j = 0; j < old_.size(); ++j) {
      if (old_parallelism() == parallelism_ && static_cast<int>(j) != subtask_) continue;
      const auto found = old_[j].find(name);
      if (found != old_[j].end()) blobs.push_back(found->second);
    }
    return blobs;
  }

 private:
  int64_t checkpoint_id_;
  std::vector<SubtaskBlobs> old_;
  int subtask_;
  int parallelism_;
};

}  // namespace weir::connectors::testing
