// TaskSnapshot: what one task (one subtask of one operator chain) hands to the checkpoint
// coordinator when it has taken its part of a checkpoint, and the SnapshotWriter its operators
// write into during the synchronous part.
//
// The synchronous part copies only small state (blobs, keyed records); tables are pinned
// (StateTable::Snapshot) and their pieces travel here by reference, to be written by the
// coordinator's background writer, which releases the pins when the bytes are on disk.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "state/snapshot.h"
#include "state/state_table.h"
#include "state/table_snapshot.h"

namespace weir::runtime {

// One operator subtask's state in one checkpoint.
struct OperatorSnapshot {
  int vertex = 0;   // JobGraph vertex index
  int subtask = 0;
  struct Table {
    std::string name;
    std::shared_ptr<state::TableSnapshot> snapshot;
  };
  std::vector<Table> tables;
  // Keyed records by collection name, serialized back to back as (u16 key group, u32 size, bytes),
  // little endian.
  std::map<std::string, std::string> keyed_records;
  std::map<std::string, std::string> blobs;

  bool empty() const { return tables.empty() && keyed_records.empty() && blobs.empty(); }
};

struct TaskSnapshot {
  int64_t checkpoint_id = 0;
  int task = 0;  // index of the task in the job
  std::vector<OperatorSnapshot> operators;
};

// The SnapshotWriter of one operator subtask for one checkpoint.
class OperatorSnapshotWriter final : public state::SnapshotWriter {
 public:
  // `full`: every table piece is written again (a savepoint, or the checkpoint after one that
  // was not completed), rather than referenced.
  OperatorSnapshotWriter(int64_t checkpoint_id, bool full, OperatorSnapshot* out)
      : checkpoint_id_(checkpoint_id), full_(full), out_(out) {}

  int64_t checkpoint_id() const override { return checkpoint_id_; }
  Status AddTable(std::string_view name, state::StateTable& table) override;
  void AddKeyedRecord(std::string_view name, int key_group, std::string_view bytes) override;
  void AddBlob(std::string_view name, std::string bytes) override;

 private:
  int64_t checkpoint_id_;
  bool full_;
  OperatorSnapshot* out_;
};

// Parses keyed records serialized as OperatorSnapshot::keyed_records holds them, calling
// visit(key_group, bytes). DataLoss naming `where` when the bytes are malformed.
Status ForEachSerializedKeyedRecord(std::string_view bytes, std::string_view where,
                                    const std::function<Status(int, std::string_view)>& visit);

}  // namespace weir::runtime
