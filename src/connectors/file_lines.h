// FileLines: the lines one parallel reader of a set of text files reads.
//
// Each file is cut into byte-range splits (io::SplitFile) and subtask i of p takes splits i, i+p,
// i+2p, ... of the concatenated split list; within a split io::LineReader applies the rule that a
// line belongs to the split holding its first byte, so every line is read exactly once.
// Used by every line-based file source (text, CSV, JSON lines).
//
// Replay: a reader's position is the list of byte ranges it has not read yet -- the rest of the
// split it is in (from the offset of its next unread line, always a line start) and the splits
// it has not started -- each with the file's path and size. Restore at the same parallelism
// resumes exactly there; at another parallelism the ranges of every old reader are pooled (old
// readers in index order, each in its own order) and range k goes to new reader k % parallelism,
// the rule Open uses for fresh splits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/file.h"
#include "io/line_reader.h"
#include "operators/source_operator.h"

namespace weir::connectors {

// The operator-state name under which file sources checkpoint their FileLines position.
inline constexpr std::string_view kFilePositionState = "file-position";

class FileLines {
 public:
  // Opens the files and picks this subtask's splits. `listener` (optional, not owned) hears of
  // each split as reading starts and ends it; a split's id is its position in the concatenated
  // split list of all files.
  Status Open(const std::vector<std::string>& paths, int subtask, int parallelism,
              operators::SourceSplitListener* listener = nullptr);
  // Replaces this reader's splits with the unread ranges recorded by SnapshotPosition(): `blobs`
  // are RestoreReader::Blobs() (this reader's own blob when `old_parallelism` == `parallelism`,
  // otherwise every old reader's). No blob leaves the splits Open picked. REQUIRES: Open() was
  // called and Next() was not. Errors name `what` (the source): DataLoss for a corrupt blob;
  // FailedPrecondition when a recorded file is no longer among the paths or changed size.
  Status RestorePosition(const std::vector<std::string>& blobs, int old_parallelism, int subtask,
                         int parallelism, std::string_view what);
  // This reader's unread ranges, for a checkpoint blob. Allocates: checkpoint time only.
  std::string SnapshotPosition() const;

  // The next line (valid until the next call): true; false when this reader's splits are done.
  Result<bool> Next(std::string_view* line);
  void Close();

  // "path:line" of the line last returned (the line number is exact when the split starts at the
  // file's start, otherwise "path:byte <offset>" locates it).
  std::string Location() const;
  // The 1-based line number of the line last returned within its file, exact for any split
  // (counts the newlines before it when the split does not start at the file's start: for error
  // messages only).
  Result<int64_t> ExactLineNumber() const;
  const std::string& path() const;
  int64_t line_number() const { return reader_ ? reader_->line_number() : 0; }
  bool exact_line_numbers() const { return reader_ && reader_->split().start == 0; }
  int64_t bytes_read() const { return bytes_read_; }

 private:
  struct Assignment {
    size_t file;
    io::FileSplit split;
    int64_t id;
  };
  Status DecodeAssignments(std::string_view blob, std::string_view what, std::vector<Assignment>* out) const;
  void OpenNextSplit();

  std::vector<std::string> paths_;
  std::vector<std::unique_ptr<io::ReadableFile>> files_;
  std::vector<Assignment> assignments_;
  size_t next_assignment_ = 0;
  bool started_ = false;  // the first split is opened by the first Next(), after a restore
  size_t current_file_ = 0;
  operators::SourceSplitListener* listener_ = nullptr;
  std::unique_ptr<io::LineReader> reader_;
  int64_t bytes_read_ = 0;
};

}  // namespace weir::connectors
