// TcpClient and SocketLineReader: the client side of Flink's socketTextStream.
//
// Connect() resolves the host, connects with a timeout and leaves the socket non-blocking, so a
// cooperative task can poll it: a read with no data returns at once. Errors name host:port
// ("connection to localhost:9999 refused").
//
// SocketLineReader splits the byte stream into lines ('\n', with a '\r' before it dropped),
// keeping a partial line across reads. At the end of the stream a last line without '\n' is
// still delivered, then closed() turns true. Not thread-safe: one task owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace weir::io {

class TcpClient {
 public:
  static Result<std::unique_ptr<TcpClient>> Connect(const std::string& host, int port,
                                                    int64_t timeout_millis = 10'000);
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  struct ReadOutcome {
    size_t bytes = 0;            // bytes read into the buffer
    bool end_of_stream = false;  // the peer closed the connection
  };
  // Reads what is available without blocking; bytes == 0 and !end_of_stream means "nothing now".
  [[nodiscard]] Result<ReadOutcome> ReadSome(char* buffer, size_t capacity);

  const std::string& peer() const { return peer_; }
  int fd() const { return fd_; }

 private:
  TcpClient(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}
  int fd_;
  std::string peer_;
};

class SocketLineReader {
 public:
  explicit SocketLineReader(TcpClient* client, size_t buffer_bytes = 64 * 1024);

  // The next complete line in *line (valid until the next call): true; false when no complete
  // line is available now (or the stream has closed: see closed()).
  [[nodiscard]] Result<bool> NextLine(std::string_view* line);
  // The peer closed and every line has been delivered.
  bool closed() const { return closed_ && begin_ == end_; }
  int64_t bytes_read() const { return bytes_read_; }

 private:
  TcpClient* client_;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t scanned_ = 0;  // bytes after begin_ known to hold no '\n'
  bool closed_ = false;
  int64_t bytes_read_ = 0;
};

}  // namespace weir::io
