// RowFileSource: rows of a schema decoded from the lines of CSV or JSON-lines files (Flink's
// filesystem connector with the 'csv' or 'json' format), split across parallel readers like any
// line-based file (see FileLines).
//
// Each line is decoded with `Decoder` (serde::CsvRowDecoder or serde::JsonRowDecoder) into a
// reused row buffer and emitted as a serde::RowView into it, valid during the call. Blank lines
// are skipped. A malformed line fails the job with "<path>: line <n>, column <c>: <what>", unless
// the format's ignore-parse-errors option (csv.ignore-parse-errors / json.ignore-parse-errors) is
// set: then it is skipped and counted, and the job reports the count.
//
// Replayable: the position (unread byte ranges, see FileLines) is the checkpoint blob
// "file-position".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "connectors/file_lines.h"
#include "operators/source_operator.h"
#include "serde/row.h"
#include "serde/row_codec.h"

namespace weir::connectors {

template <typename Decoder>
class RowFileSource final : public operators::SourceOperator<serde::RowView> {
 public:
  RowFileSource(std::vector<std::string> paths, serde::Schema schema, bool ignore_parse_errors)
      : paths_(std::move(paths)), schema_(std::move(schema)), ignore_parse_errors_(ignore_parse_errors) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator::Open(context));
    decoder_ = std::make_unique<Decoder>(schema_);
    writer_ = std::make_unique<serde::RowWriter>(schema_);
    buffer_.resize(std::max<size_t>(256, writer_->fixed_size() * 2));
    return lines_.Open(paths_, context->subtask_index, context->parallelism, split_listener());
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    operators::Output<serde::RowView>* out = output();
    for (int emitted = 0; emitted < max_records;) {
      std::string_view line;
      ASSIGN_OR_RETURN(bool has_line, lines_.Next(&line));
      if (!has_line) {
        bytes_read_ = lines_.bytes_read();
        return operators::SourceStatus::kEndOfInput;
      }
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      Status decoded = Decode(line);
      if (!decoded.ok()) {
        if (ignore_parse_errors_) {
          ++records_skipped_;
          continue;
        }
        return decoded;
      }
      ++records_emitted_;
      ++emitted;
      out->Collect(writer_->view(), kMinTimestamp);
    }
    bytes_read_ = lines_.bytes_read();
    return operators::SourceStatus::kMoreAvailable;
  }

  void Close() override { lines_.Close(); }

  Status SnapshotState(state::SnapshotWriter& writer) override {
    writer.AddBlob(kFilePositionState, lines_.SnapshotPosition());
    return Status::Ok();
  }
  Status RestoreState(state::RestoreReader& reader) override {
    return lines_.RestorePosition(reader.Blobs(kFilePositionState), reader.old_parallelism(),
                                  context()->subtask_index, context()->parallelism, context()->task_name);
  }

 private:
  Status Decode(std::string_view line) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      writer_->Reset(std::span<std::byte>(buffer_));
      Status status = decoder_->Decode(line, lines_.line_number(), *writer_);
      if (!status.ok()) return Located(line, status);
      if (writer_->Finish()) return Status::Ok();
      buffer_.resize(writer_->size() * 2);  // the row did not fit: grow once and decode again
    }
    return Internal("{}: row does not fit its buffer", lines_.Location());
  }

  // Names the file, and the exact line when the split does not start at the file's start.
  Status Located(std::string_view line, const Status& status) {
    if (lines_.exact_line_numbers() || ignore_parse_errors_) return status.WithContext(lines_.path());
    ASSIGN_OR_RETURN(int64_t number, lines_.ExactLineNumber());
    return decoder_->Decode(line, number, *writer_).WithContext(lines_.path());
  }

  std::vector<std::string> paths_;
  serde::Schema schema_;
  bool ignore_parse_errors_;
  FileLines lines_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<serde::RowWriter> writer_;
  std::vector<std::byte> buffer_;
};

}  // namespace weir::connectors
