// What an operator hands to a checkpoint, and what it gets back when a job restores.
//
// Every operator's state is one of three kinds (Flink's keyed state, timers and operator state):
//
// * Keyed state tables (StateTable: keyed state, window contents, timers). The synchronous part of
//   a checkpoint only *pins* a table: StateTable::Snapshot() seals the bytes the table holds now
//   (copy-on-write: later writes to them go to fresh segments) and hands the sealed byte ranges
//   ("pieces") to the background writer. Pieces written by an earlier checkpoint are referenced,
//   not written again (incremental). Restore inserts the entries whose key group this subtask
//   owns, so a job restores at another parallelism.
// * Keyed records: small keyed state kept outside tables (a window operator's merging-window
//   sets, say), as (key group, bytes) records copied at snapshot time; restore hands back only
//   the records of this subtask's key groups.
// * Operator blobs: non-keyed state (a source's read position, a sink's pending files), copied at
//   snapshot time. At the same parallelism subtask i gets back exactly what subtask i wrote; at
//   another parallelism every subtask gets every old subtask's blobs (Flink's union list state)
//   and keeps what it owns.
//
// Names are chosen by the operator and must be stable across runs of the same job: restore finds
// state by operator and name. Threads: a writer and a reader are used by the task thread only,
// during the calls that receive them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "state/key_groups.h"

namespace weir::state {

class StateTable;

// Given to StreamOperator::SnapshotState during the synchronous part of a checkpoint.
class SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;

  // The checkpoint being taken (1, 2, ...); savepoints have ids too.
  virtual int64_t checkpoint_id() const = 0;

  // Pins `table` for this checkpoint under `name` (unique within the operator). Copies nothing:
  // the table's sealed bytes are persisted in the background while processing continues.
  // REQUIRES: `table` stays alive or is destroyed normally (a destroyed table hands its pinned
  // segments to the snapshot; see StateTable::Snapshot).
  virtual Status AddTable(std::string_view name, StateTable& table) = 0;

  // One keyed record of the keyed collection `name`, copied now.
  virtual void AddKeyedRecord(std::string_view name, int key_group, std::string_view bytes) = 0;

  // Operator state `name` of this subtask, copied now. Adding the same name twice replaces it.
  virtual void AddBlob(std::string_view name, std::string bytes) = 0;
};

// Given to StreamOperator::RestoreState, after Open and before the first record, when the job
// starts from a checkpoint or savepoint.
class RestoreReader {
 public:
  virtual ~RestoreReader() = default;

  // The checkpoint restored from.
  virtual int64_t checkpoint_id() const = 0;
  // This subtask's key groups, and the parallelism the checkpoint was taken at.
  virtual KeyGroupRange key_groups() const = 0;
  virtual int old_parallelism() const = 0;

  // Inserts into `table` every entry of table `name` (from every old subtask whose key groups
  // overlap this subtask's) whose key group this subtask owns. A name the checkpoint does not
  // hold restores nothing and is OK. Errors: DataLoss naming the file when bytes do not verify;
  // ResourceExhausted when the table does not fit the memory budget.
  virtual Status RestoreTable(std::string_view name, StateTable& table) = 0;

  // The table names of this operator that start with `prefix`, sorted (e.g. one table per window).
  virtual std::vector<std::string> TableNames(std::string_view prefix) const = 0;

  // Calls visit(key_group, bytes) for every record of keyed collection `name` whose key group this
  // subtask owns, in the order each old subtask added them (old subtasks in index order).
  virtual Status ForEachKeyedRecord(std::string_view name,
                                    const std::function<Status(int, std::string_view)>& visit) = 0;

  // Operator state `name`: at the same parallelism the one blob this subtask wrote (if it wrote
  // one); otherwise every old subtask's blob of that name, in old subtask order.
  virtual std::vector<std::string> Blobs(std::string_view name) const = 0;
};

}  // namespace weir::state
