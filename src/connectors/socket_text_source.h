// SocketTextSource: lines read from a TCP server (Flink's socketTextStream): the source connects
// as a client when the job starts and ends when the server closes the connection. Non-parallel.
// A refused or unreachable server fails the job at start with "host:port" in the message.
//
// Not replayable: what the server sent is not kept, so a restart cannot read it again. Its
// SnapshotState records nothing, and a job with checkpoints on says so once on stderr (at start,
// or at the first checkpoint): such a job is at-most-once for the lines read before a failure.
#pragma once

#include <memory>
#include <string>

#include "io/socket.h"
#include "operators/source_operator.h"

namespace weir::connectors {

class SocketTextSource final : public operators::SourceOperator<std::string_view> {
 public:
  SocketTextSource(std::string host, int port) : host_(std::move(host)), port_(port) {}

  Status Open(operators::OperatorContext* context) override;
  Result<operators::SourceStatus> Poll(int max_records) override;
  void Close() override;
  Status SnapshotState(state::SnapshotWriter& writer) override;

 private:
  void WarnNotReplayable();

  std::string host_;
  int port_;
  bool warned_ = false;
  std::unique_ptr<io::TcpClient> client_;
  std::unique_ptr<io::SocketLineReader> reader_;
};

}  // namespace weir::connectors
