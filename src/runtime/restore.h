// Restore: finding, loading and verifying the checkpoint or savepoint a job starts from, and the
// RestoreReader each operator subtask reads its state through (state/snapshot.h).
//
// A checkpoint is loaded whole before any task starts: the manifest is parsed, every file it names
// is mapped and checked against its size and xxh3 (and its own trailer), so a corrupt checkpoint is
// rejected before a single operator has restored anything. The files stay mapped read-only (their
// page-cache pages; io::CheckpointStorage::MapVerifiedFile) until the LoadedCheckpoint goes, and
// operators restore straight from the mapping. With "latest", a checkpoint that does
// not verify is skipped for the next older complete one, with a log line naming what is wrong.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/checkpoint_storage.h"
#include "runtime/job_graph.h"
#include "runtime/manifest.h"
#include "state/snapshot.h"

namespace weir::runtime {

class LoadedCheckpoint {
 public:
  // `path`: a chk-<n> or savepoint directory, or its _metadata file. NotFound / DataLoss naming
  // the file at fault.
  static Result<std::shared_ptr<const LoadedCheckpoint>> Load(const std::string& path);

  const Manifest& manifest() const { return manifest_; }
  const std::string& directory() const { return directory_; }
  int64_t bytes() const { return bytes_; }
  // The bytes of a chunk the manifest names. REQUIRES: a chunk of this manifest (ParseManifest
  // checked its range).
  std::span<const std::byte> Chunk(const ChunkRef& chunk) const;
  const OperatorState* FindOperator(std::string_view uid) const;

 private:
  std::string directory_;
  Manifest manifest_;
  std::vector<io::VerifiedFileBytes> files_;  // mapped read-only (see MapVerifiedFile)
  int64_t bytes_ = 0;
};

// The checkpoint named by execution.savepoint.path: "latest" means the newest complete checkpoint
// of job `job_id` under `checkpoints_dir` (corrupt ones skipped, with a log line); null when there
// is none (the job starts from the beginning, and says so). Any other value is a path, which must
// load.
Result<std::shared_ptr<const LoadedCheckpoint>> LoadForRestore(const std::string& path_or_latest,
                                                               const std::string& checkpoints_dir,
                                                               const std::string& job_id);

// FailedPrecondition when the checkpoint cannot restore `graph`: state of an operator the job does
// not have, or another max parallelism.
Status CheckRestorable(const LoadedCheckpoint& checkpoint, const JobGraph& graph);

// The reader of operator `uid`'s subtask `subtask` of `parallelism`.
std::unique_ptr<state::RestoreReader> MakeRestoreReader(std::shared_ptr<const LoadedCheckpoint> checkpoint,
                                                        const std::string& uid, int subtask,
                                                        int parallelism);

}  // namespace weir::runtime
