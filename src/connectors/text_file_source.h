// TextFileSource: the lines of one or more text files (Flink's readTextFile / FileSource with
// TextLineInputFormat), split across parallel readers (see FileLines). Lines are emitted as
// std::string_view into the reader's buffer (valid during the call), without '\n' or '\r\n'.
// Records carry no timestamp. Replayable: a reader's position is a split and a byte offset (the
// checkpoint blob "file-position"; see FileLines for how it moves at another parallelism).
#pragma once

#include <string>
#include <vector>

#include "connectors/file_lines.h"
#include "operators/source_operator.h"

namespace weir::connectors {

class TextFileSource final : public operators::SourceOperator<std::string_view> {
 public:
  explicit TextFileSource(std::vector<std::string> paths) : paths_(std::move(paths)) {}

  Status Open(operators::OperatorContext* context) override;
  Result<operators::SourceStatus> Poll(int max_records) override;
  Status SnapshotState(state::SnapshotWriter& writer) override;
  Status RestoreState(state::RestoreReader& reader) override;
  void Close() override { lines_.Close(); }

 private:
  std::vector<std::string> paths_;
  FileLines lines_;
};

}  // namespace weir::connectors
