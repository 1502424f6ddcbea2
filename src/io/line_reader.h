// Line splits of a text file, read in parallel (Hadoop's and Flink's text-input rule).
//
// SplitFile cuts [0, size) into contiguous byte ranges. A line belongs to the split that holds its
// first byte: a reader whose split does not start at 0 skips the partial line it starts in, and
// every reader reads the lines that start before its split's end, even where they run past it.
// So every line is read by exactly one reader, whatever the number of splits, including a last
// line without a trailing newline.
//
// LineReader reads one split through a large buffer with pread (no per-line allocation) and hands
// out lines as string_views into that buffer, without '\n' and without a '\r' before it. A view is
// valid until the next call of Next(). A line longer than the buffer grows it (the rare path) up
// to kMaxLineBytes; a longer line is an error naming its position.
//
// Not thread-safe; one reader per split, any number of readers per file.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/file.h"

namespace weir::io {

struct FileSplit {
  int64_t start = 0;  // first byte
  int64_t end = 0;    // one past the last byte
};

// At most `splits` splits of at least `min_split_bytes` each (one split for a small or empty file).
std::vector<FileSplit> SplitFile(int64_t size, int splits, int64_t min_split_bytes);

class LineReader {
 public:
  static constexpr size_t kMaxLineBytes = size_t{256} << 20;

  // REQUIRES: `file` outlives the reader; 0 <= split.start <= split.end <= file->size().
  LineReader(const ReadableFile* file, FileSplit split, size_t buffer_bytes);
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line of the split in *line, true; false at the end of the split.
  [[nodiscard]] Result<bool> Next(std::string_view* line);

  // 1-based number of the line last returned. Exact when the split starts at 0; for other splits
  // lines are counted from the split's first line (use line_offset() to locate them).
  int64_t line_number() const { return line_number_; }
  // Byte offset in the file where the line last returned starts.
  int64_t line_offset() const { return line_offset_; }
  // Byte offset of the next line to be read (where a restarted reader would resume).
  int64_t position() const { return next_line_offset_; }
  bool starts_at_file_start() const { return split_.start == 0; }

 private:
  // Reads more of the file after the bytes still unconsumed; false at the end of the file.
  Result<bool> Fill();
  Status SkipPartialFirstLine();

  const ReadableFile* file_;
  FileSplit split_;
  std::vector<std::byte> buffer_;
  size_t begin_ = 0;            // first unconsumed byte in buffer_
  size_t end_ = 0;              // one past the last valid byte in buffer_
  int64_t buffer_offset_ = 0;   // file offset of buffer_[0]
  int64_t next_line_offset_ = 0;
  int64_t line_offset_ = 0;
  int64_t line_number_ = 0;
  bool started_ = false;
  bool eof_ = false;
};

}  // namespace weir::io
