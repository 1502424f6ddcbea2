#include "connectors/text_file_source.h"

namespace weir::connectors {

Status TextFileSource::Open(operators::OperatorContext* context) {
  RETURN_IF_ERROR(SourceOperator::Open(context));
  return lines_.Open(paths_, context->subtask_index, context->parallelism, split_listener());
}

Status TextFileSource::SnapshotState(state::SnapshotWriter& writer) {
  writer.AddBlob(kFilePositionState, lines_.SnapshotPosition());
  return Status::Ok();
}

Status TextFileSource::RestoreState(state::RestoreReader& reader) {
  return lines_.RestorePosition(reader.Blobs(kFilePositionState), reader.old_parallelism(),
                                context()->subtask_index, context()->parallelism, context()->task_name);
}

Result<operators::SourceStatus> TextFileSource::Poll(int max_records) {
  operators::Output<std::string_view>* out = output();
  for (int emitted = 0; emitted < max_records; ++emitted) {
    std::string_view line;
    ASSIGN_OR_RETURN(bool has_line, lines_.Next(&line));
    if (!has_line) {
      bytes_read_ = lines_.bytes_read();
      return operators::SourceStatus::kEndOfInput;
    }
    ++records_emitted_;
    out->Collect(line, kMinTimestamp);
  }
  bytes_read_ = lines_.bytes_read();
  return operators::SourceStatus::kMoreAvailable;
}

}  // namespace weir::connectors
