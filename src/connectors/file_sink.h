// FileSink: records as text lines in part files of a directory, exactly once under checkpoints
// (Flink's FileSink.forRowFormat(path, encoder) with a two-phase commit of its part files).
//
// Layout (Flink's Bucket / OutputFileConfig, one bucket, prefix "part"): subtask s writes
// `part-<s>-<n>` for n = 0, 1, ... -- numbering continues across restarts -- and a file is
// visible under that name only once committed. Each part file goes through three names:
//
//   .part-<s>-<n>.inprogress   being written (at most one per subtask);
//   .part-<s>-<n>.pending      closed (written, fsynced), waiting for its checkpoint to complete;
//   part-<s>-<n>               committed: rename, then fsync of the directory.
//
// The commit protocol (Flink's FileWriter / FileCommitter):
// * Rolling: the in-progress file becomes pending when it holds at least `rolling_bytes`
//   (default 128 MiB, Flink's DefaultRollingPolicy part size), and at every checkpoint.
// * SnapshotState(checkpoint c): the in-progress file is closed into pending; every pending file
//   not yet claimed by a checkpoint is claimed by c; the blob "file-sink" records this subtask's
//   index, the next part number and the pending files with their checkpoints.
// * NotifyCheckpointComplete(c): the pending files of checkpoints <= c are committed. Aborted
//   checkpoints change nothing: a later completion covers their files.
// * RestoreState(checkpoint c): the pending files c lists are committed (idempotently: a crash may
//   have come between the rename and the acknowledgement, so an already visible file is fine),
//   every other hidden `.part-<s>-*` file of the restored subtasks is deleted (work after c,
//   which the sources replay), and numbering continues from the recorded counter. At another
//   parallelism new subtask i takes the blobs of old subtasks j with j % parallelism == i (old
//   subtask j's files are named after j, which no new subtask other than i == j writes), and
//   continues from the largest counter of all old subtasks (Flink's max part counter), so no name
//   is ever reused.
// * Finalize(true), after the end of a bounded input: everything written is committed, so a job
//   without checkpoints leaves the same shape of directory. Finalize(false) (failure, cancel)
//   deletes the in-progress file and pending files no checkpoint claimed, and keeps the claimed
//   pending files for a restore to commit. Destroying the sink without Finalize (a crash) leaves
//   every file as it is.
//
// Write path: records are formatted into a buffer that goes to the in-progress file with one
// write() per 64 KiB (or per `rolling_bytes` when smaller), when the task is idle, and at
// checkpoints; no allocation per record. A fresh (not restored) job writing into a directory that
// holds part files of an earlier job replaces the visible ones with the same names, and deletes
// the hidden files of its subtasks' names before its first part file (leftovers of a run that
// died: nothing will commit them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operators/source_operator.h"
#include "serde/text_format.h"

namespace weir::connectors {

// The part files of one FileSink subtask and their commit protocol; the record-agnostic half of
// FileSink. Not thread-safe: one task drives it. Errors name the file and the operation.
class PartFileWriter {
 public:
  static constexpr int64_t kDefaultRollingBytes = int64_t{128} << 20;
  // The operator-state name of the sink's blob.
  static constexpr std::string_view kStateName = "file-sink";

  // REQUIRES: rolling_bytes > 0.
  PartFileWriter(std::string directory, int64_t rolling_bytes);
  PartFileWriter(const PartFileWriter&) = delete;
  PartFileWriter& operator=(const PartFileWriter&) = delete;
  // Closes the in-progress file's descriptor and renames or deletes nothing (as a crash would).
  ~PartFileWriter();

  // Creates the directory if it does not exist (its parent must). Opens no file yet.
  Status Open(int subtask);

  // Appends `bytes` to the in-progress file (opening the next part file if there is none) and
  // rolls it into pending once it holds rolling_bytes. After an error every call returns it.
  Status Write(std::string_view bytes);

  // Closes the in-progress file into pending, claims the unclaimed pending files for
  // `checkpoint_id` and returns the blob that records them.
  Result<std::string> Snapshot(int64_t checkpoint_id);
  // Commits the pending files of checkpoints <= checkpoint_id.
  Status CommitUpTo(int64_t checkpoint_id);
  // See the file comment. `blobs` are RestoreReader::Blobs(kStateName); `what` names the sink in
  // errors (DataLoss for a corrupt blob or a listed pending file that is neither pending nor
  // committed). REQUIRES: Open() was called and Write() was not.
  Status Restore(const std::vector<std::string>& blobs, int old_parallelism, int parallelism,
                 std::string_view what);
  // Commits everything (success) or discards what no checkpoint claimed (failure).
  Status Finish(bool success);

  const std::string& directory() const { return directory_; }
  int64_t next_part() const { return next_part_; }
  // The visible name `part-<subtask>-<part>` and the hidden one `.part-<subtask>-<part>.<state>`.
  static std::string VisibleName(int subtask, int64_t part);
  static std::string HiddenName(int subtask, int64_t part, std::string_view state);

 private:
  // A closed part file waiting for commit; checkpoint_id < 0 while no checkpoint claims it.
  struct Pending {
    int64_t part;
    int64_t checkpoint_id;
  };
  static constexpr int64_t kUnclaimed = -1;

  std::string PathOf(const std::string& name) const { return directory_ + "/" + name; }
  Status OpenPart();
  // Flushes nothing (writes are unbuffered here): fsyncs, closes and renames to pending.
  Status ClosePart();
  // Renames pending -> visible for every entry that `select` accepts, then syncs the directory.
  template <typename Select>
  Status CommitWhere(Select select);
  Status CommitFile(int subtask, int64_t part, bool tolerate_committed, std::string_view what);
  // Deletes every hidden file of `subtask`'s part files in the directory.
  Status RemoveHiddenFiles(int subtask);
  Status SyncDirectory();
  Status Fail(Status status);

  std::string directory_;
  int64_t rolling_bytes_;
  int subtask_ = 0;
  int64_t next_part_ = 0;
  int fd_ = -1;               // the in-progress file, or -1
  int64_t current_part_ = -1;
  int64_t current_bytes_ = 0;
  std::vector<Pending> pending_;
  bool cleaned_ = false;      // this subtask's stale hidden files were removed (restore or first part)
  Status error_;              // sticky: the first failed write
};

// `Format` appends one record's text without the newline: `void(std::string&, const T&)`.
template <typename T, typename Format>
class FileSink final : public operators::SinkOperator<T> {
 public:
  FileSink(std::string directory, Format format, int64_t rolling_bytes = PartFileWriter::kDefaultRollingBytes)
      : parts_(std::move(directory), rolling_bytes),
        format_(std::move(format)),
        flush_bytes_(static_cast<size_t>(std::min<int64_t>(kAppendBytes, rolling_bytes))) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(operators::SinkOperator<T>::Open(context));
    lines_.reserve(flush_bytes_ + 4096);
    return parts_.Open(context->subtask_index);
  }

  void Collect(const T& value, Timestamp) override {
    format_(lines_, value);
    lines_.push_back('\n');
    if (lines_.size() >= flush_bytes_) Flush();
  }
  void Flush() override {
    Status status = WriteLines();
    if (!status.ok()) [[unlikely]] this->context()->Fail(status);
  }
  void EndInput() override { Flush(); }

  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(WriteLines());
    ASSIGN_OR_RETURN(std::string blob, parts_.Snapshot(writer.checkpoint_id()));
    writer.AddBlob(PartFileWriter::kStateName, std::move(blob));
    return Status::Ok();
  }
  Status RestoreState(state::RestoreReader& reader) override {
    const operators::OperatorContext& context = *this->context();
    return parts_.Restore(reader.Blobs(PartFileWriter::kStateName), reader.old_parallelism(),
                          context.parallelism, context.task_name);
  }
  void NotifyCheckpointComplete(int64_t checkpoint_id) override {
    Status status = parts_.CommitUpTo(checkpoint_id);
    if (!status.ok()) this->context()->Fail(status);
  }

  Status Finalize(bool success) override {
    if (success) {
      RETURN_IF_ERROR(WriteLines());
    } else {
      lines_.clear();
    }
    return parts_.Finish(success);
  }

  const PartFileWriter& parts() const { return parts_; }

 private:
  static constexpr int64_t kAppendBytes = 64 * 1024;

  Status WriteLines() {
    if (lines_.empty()) return Status::Ok();
    Status status = parts_.Write(lines_);
    lines_.clear();
    return status;
  }

  PartFileWriter parts_;
  Format format_;
  size_t flush_bytes_;
  std::string lines_;
};

}  // namespace weir::connectors
