// TextFileSource: the lines of one or more text files (Flink's readTextFile / FileSource with
// TextLineInputFormat), split across parallel readers.
//
// Each file is cut into byte-range splits, and subtask i of p reads splits i, i+p, i+2p, ...;
// a line belongs to the split in which it starts, so every line is read exactly once whatever the
// parallelism. Lines are emitted as std::string_view into the reader's buffer (valid during the
// call), without their '\n' or '\r\n'. Records carry no timestamp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/file.h"
#include "io/line_reader.h"
#include "operators/source_operator.h"

namespace weir::connectors {

class TextFileSource final : public operators::SourceOperator<std::string_view> {
 public:
  explicit TextFileSource(std::vector<std::string> paths) : paths_(std::move(paths)) {}

  Status Open(operators::OperatorContext* context) override;
  Result<operators::SourceStatus> Poll(int max_records) override;
  void Close() override;

  // Checks that every path names a readable regular file; run before a job starts so a typo is
  // reported at once, with the path.
  static Status CheckReadable(const std::vector<std::string>& paths);

 private:
  struct Assignment {
    size_t file;
    io::FileSplit split;
  };
  Status OpenNextSplit();

  std::vector<std::string> paths_;
  std::vector<std::unique_ptr<io::ReadableFile>> files_;
  std::vector<Assignment> assignments_;
  size_t next_assignment_ = 0;
  std::unique_ptr<io::LineReader> reader_;
};

}  // namespace weir::connectors
