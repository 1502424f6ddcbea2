// TcpClient and SocketLineReader: the client side of Flink's socketTextStream.
//
// Connect() resolves the host, tries each address with a timeout, and leaves the connected socket
// non-blocking, so a cooperative task can poll it: a read with no data returns at once instead of
// stalling the worker. Errors name host:port ("connection to localhost:9999 refused").
//
// SocketLineReader splits the byte stream into lines ('\n', with one '\r' before it dropped),
// keeping a partial line across reads. When the peer closes, a last line without '\n' is still
// delivered, then closed() turns true. Neither class is thread-safe: one task owns both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace weir::io {

class TcpClient {
 public:
  static constexpr int64_t kDefaultConnectTimeoutMillis = 10'000;

  // Connects to host:port (IPv4 or IPv6, each resolved address in turn) within timeout_millis
  // overall. Errors: InvalidArgument for a port outside [1, 65535]; NotFound when the host does
  // not resolve; IoError "connection to host:port refused" / "timed out after N ms" / other.
  static Result<std::unique_ptr<TcpClient>> Connect(const std::string& host, int port,
                                                    int64_t timeout_millis = kDefaultConnectTimeoutMillis);

  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;
  ~TcpClient();

  // What one non-blocking read found: data, nothing yet, or the end of the stream.
  struct ReadOutcome {
    size_t bytes = 0;            // bytes read into the buffer
    bool end_of_stream = false;  // the peer closed its side; no data will follow
    // No data now, the connection still open: poll again later.
    bool would_block() const { return bytes == 0 && !end_of_stream; }
  };

  // Reads what is available into `buffer` without blocking. Errors (a reset connection) name the
  // peer. REQUIRES: !buffer.empty().
  [[nodiscard]] Result<ReadOutcome> ReadSome(std::span<std::byte> buffer);

  // Blocks up to timeout_millis (-1: no limit) until a read would not block; true when it would,
  // false on timeout. For callers outside a cooperative task (tests, tools); a task polls instead.
  [[nodiscard]] Result<bool> WaitReadable(int64_t timeout_millis);

  // True once a read has seen the end of the stream.
  bool end_of_stream() const { return end_of_stream_; }
  // "host:port" as given to Connect.
  const std::string& peer() const { return peer_; }
  int fd() const { return fd_; }

 private:
  TcpClient(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}

  int fd_;
  std::string peer_;
  bool end_of_stream_ = false;
};

// Lines from a TcpClient, without blocking. Owns its buffer; the client is borrowed.
class SocketLineReader {
 public:
  static constexpr size_t kDefaultBufferBytes = size_t{64} << 10;
  static constexpr size_t kDefaultMaxLineBytes = size_t{64} << 20;

  // `client` must outlive the reader. The buffer starts at buffer_bytes and doubles for a longer
  // line, up to max_line_bytes (a peer that never sends '\n' cannot exhaust memory).
  // REQUIRES: buffer_bytes >= 1; max_line_bytes >= buffer_bytes.
  explicit SocketLineReader(TcpClient* client, size_t buffer_bytes = kDefaultBufferBytes,
                            size_t max_line_bytes = kDefaultMaxLineBytes);

  SocketLineReader(const SocketLineReader&) = delete;
  SocketLineReader& operator=(const SocketLineReader&) = delete;

  // Sets *line to the next complete line (valid until the next call) and returns true; returns
  // false when no complete line is available now, or when the stream has ended (see closed()).
  // Makes at most one read syscall per call that returns false while the stream is open, and
  // none while complete lines are buffered. Errors: read failures; InvalidArgument for a line
  // longer than max_line_bytes.
  [[nodiscard]] Result<bool> NextLine(std::string_view* line);

  // The peer closed and every line, including a last one without '\n', has been delivered.
  bool closed() const { return closed_ && begin_ == limit_; }
  // Bytes received so far.
  int64_t bytes_read() const { return bytes_read_; }

 private:
  void TakeLine(size_t line_end, size_t next_begin, std::string_view* line);

  TcpClient* client_;
  size_t max_line_bytes_;
  std::unique_ptr<std::byte[]> buffer_;
  size_t capacity_;
  size_t begin_ = 0;    // first byte of the next line
  size_t limit_ = 0;    // end of received bytes
  size_t scanned_ = 0;  // bytes after begin_ known to hold no '\n'
  bool closed_ = false;
  int64_t bytes_read_ = 0;
};

}  // namespace weir::io
