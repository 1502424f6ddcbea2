#include "connectors/socket_text_source.h"

#include <cstdio>

#include "connectors/checkpointing_config.h"

namespace weir::connectors {

Status SocketTextSource::Open(operators::OperatorContext* context) {
  RETURN_IF_ERROR(SourceOperator::Open(context));
  ASSIGN_OR_RETURN(client_, io::TcpClient::Connect(host_, port_));
  reader_ = std::make_unique<io::SocketLineReader>(client_.get());
  if (context->config != nullptr && CheckpointingEnabled(*context->config)) WarnNotReplayable();
  return Status::Ok();
}

void SocketTextSource::WarnNotReplayable() {
  if (warned_) return;
  warned_ = true;
  const std::string message = fmt::format(
      "{}: the socket source {}:{} is not replayable: checkpoints record no position for it, and lines "
      "read before a failure are not read again after a restore\n",
      context()->task_name, host_, port_);
  std::fputs(message.c_str(), stderr);
}

Status SocketTextSource::SnapshotState(state::SnapshotWriter& writer) {
  WarnNotReplayable();
  return Status::Ok();
}

Result<operators::SourceStatus> SocketTextSource::Poll(int max_records) {
  operators::Output<std::string_view>* out = output();
  for (int i = 0; i < max_records; ++i) {
    std::string_view line;
    ASSIGN_OR_RETURN(bool has_line, reader_->NextLine(&line));
    if (!has_line) {
      bytes_read_ = reader_->bytes_read();
      return reader_->closed() ? operators::SourceStatus::kEndOfInput : operators::SourceStatus::kNothingNow;
    }
    ++records_emitted_;
    out->Collect(line, kMinTimestamp);
  }
  bytes_read_ = reader_->bytes_read();
  return operators::SourceStatus::kMoreAvailable;
}

void SocketTextSource::Close() {
  reader_.reset();
  client_.reset();
}

}  // namespace weir::connectors
