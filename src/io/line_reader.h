// FileSplit, SplitFile and LineReader: the lines of a text file read in parallel, Hadoop/Flink
// style (TextInputFormat / LineRecordReader).
//
// A file is cut into byte ranges [start, end). A line belongs to the split that holds its first
// byte, which makes every line read by exactly one reader whatever the cut points:
//   - a reader whose split does not start at 0 skips the partial line it starts in: everything up
//     to and including the first '\n' at or after start - 1 (so a line that begins exactly at
//     `start` is kept: the byte before it ends the previous line);
//   - every reader returns the lines that start before `end`, reading past `end` to finish the
//     last one.
// A final line without a trailing '\n' is a line; an empty file has no lines.
//
// Lines are string_views into the reader's buffer, valid until the next call to Next(): no
// allocation per line. Reads are pread()s of up to the buffer size; a line longer than the buffer
// grows it (the rare path) up to a cap, beyond which Next() fails naming the line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/file.h"

namespace weir::io {

// A byte range [start, end) of a file.
struct FileSplit {
  int64_t start = 0;
  int64_t end = 0;

  bool operator==(const FileSplit&) const = default;
};

// Cuts a file of `size` bytes into at most `max_splits` contiguous splits of near-equal size, none
// smaller than `min_split_bytes` unless the whole file is (fewer splits are returned then). The
// splits cover [0, size) in order; an empty file gives one empty split [0, 0).
// REQUIRES: size >= 0. max_splits < 1 counts as 1, min_split_bytes < 1 as 1.
std::vector<FileSplit> SplitFile(int64_t size, int max_splits, int64_t min_split_bytes);

// Reads the lines of one split of a file. Not thread-safe; one reader per split, any number of
// readers per file (they share only the ReadableFile, which is positional).
class LineReader {
 public:
  static constexpr size_t kDefaultBufferBytes = size_t{4} << 20;
  static constexpr size_t kDefaultMaxLineBytes = size_t{256} << 20;

  // `file` is borrowed and must outlive the reader. The buffer is allocated here, once.
  // REQUIRES: 0 <= split.start <= split.end; buffer_bytes >= 1; max_line_bytes >= buffer_bytes.
  LineReader(const ReadableFile* file, FileSplit split, size_t buffer_bytes = kDefaultBufferBytes,
             size_t max_line_bytes = kDefaultMaxLineBytes);

  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Sets *line to the next line of the split, without its '\n' and without one '\r' before it,
  // and returns true; returns false at the end of the split. The view is valid until the next
  // call. Errors: read failures (IoError with path and offset), and a line longer than
  // max_line_bytes (InvalidArgument naming the line's location).
  [[nodiscard]] Result<bool> Next(std::string_view* line);

  // The 1-based number of the line last returned by Next(), counted from the split's first line
  // (0 before the first line). It is the line number in the file only when the split starts at 0
  // (starts_at_file_start()); a reader of a later split never sees the lines before it, so error
  // messages for those name line_offset() instead (or count the newlines before it, on the error
  // path only).
  int64_t line_number() const { return line_number_; }
  // The byte offset in the file where the line last returned by Next() starts (-1 before the
  // first line).
  int64_t line_offset() const { return line_offset_; }
  bool starts_at_file_start() const { return split_.start == 0; }
  // The byte offset of the next line this reader would consider (split().start before the first
  // Next(); then just after the skipped partial line or the last returned line's '\n'). It is
  // where a checkpoint resumes: a reader of FileSplit{min(position(), end), end} returns exactly
  // the lines this one has not returned yet.
  int64_t position() const { return buffer_offset_ + static_cast<int64_t>(begin_); }

  const FileSplit& split() const { return split_; }

 private:
  // Reads more of the file after the valid bytes, compacting (dropping the bytes before begin_)
  // or growing the buffer as needed. Sets eof_ when the end of the file is reached.
  Status Fill();
  // "path:line N" for a split starting at 0, else "path:byte N": where the line being read starts.
  std::string Location(int64_t offset) const;
  // Skips the partial first line of a split that does not start at 0.
  Status SkipPartialLine();

  const ReadableFile* file_;
  FileSplit split_;
  size_t max_line_bytes_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  int64_t buffer_offset_;  // file offset of buffer_[0]
  size_t begin_ = 0;       // first unread byte
  size_t limit_ = 0;       // end of valid bytes
  size_t scanned_ = 0;     // bytes after begin_ already searched for '\n' (a line spanning reads)
  bool eof_ = false;       // limit_ is the end of the file
  bool skipped_ = false;   // the partial first line has been skipped (or there was none)
  bool done_ = false;
  int64_t line_number_ = 0;
  int64_t line_offset_ = -1;
};

}  // namespace weir::io
