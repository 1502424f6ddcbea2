#include "io/socket.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/check.h"
#include "base/clock.h"

namespace weir::io {
namespace {

// poll() on one descriptor, retrying EINTR with the time left. Returns poll's result.
int PollOne(int fd, short events, int64_t timeout_millis) {
  const int64_t deadline = timeout_millis < 0 ? -1 : MonotonicNanos() + timeout_millis * 1'000'000;
  while (true) {
    int64_t wait = -1;
    if (deadline >= 0) wait = std::max<int64_t>(0, (deadline - MonotonicNanos() + 999'999) / 1'000'000);
    pollfd request{fd, events, 0};
    const int rc = ::poll(&request, 1, static_cast<int>(std::min<int64_t>(wait, INT32_MAX)));
    if (rc >= 0 || errno != EINTR) return rc;
  }
}

}  // namespace

Result<std::unique_ptr<TcpClient>> TcpClient::Connect(const std::string& host, int port,
                                                      int64_t timeout_millis) {
  std::string peer = fmt::format("{}:{}", host, port);
  if (port < 1 || port > 65535) return InvalidArgument("port {} of {} is not in [1, 65535]", port, host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    if (rc == EAI_SYSTEM) return ErrnoStatus(errno, fmt::format("resolving host '{}'", host));
    return NotFound("cannot resolve host '{}': {}", host, ::gai_strerror(rc));
  }
  const int64_t deadline = MonotonicNanos() + timeout_millis * 1'000'000;
  Status last = IoError("connection to {} failed: no address", peer);
  for (const addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            address->ai_protocol);
    if (fd < 0) {
      last = ErrnoStatus(errno, fmt::format("creating a socket for {}", peer));
      continue;
    }
    int err = 0;
    if (::connect(fd, address->ai_addr, address->ai_addrlen) != 0) err = errno;
    if (err == EINPROGRESS || err == EINTR) {
      const int64_t left = std::max<int64_t>(0, (deadline - MonotonicNanos()) / 1'000'000);
      const int rc = PollOne(fd, POLLOUT, left);
      if (rc < 0) {
        err = errno;
      } else if (rc == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t length = sizeof(err);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
      }
    }
    if (err == 0) {
      ::freeaddrinfo(addresses);
      return std::unique_ptr<TcpClient>(new TcpClient(fd, std::move(peer)));
    }
    ::close(fd);
    if (err == ECONNREFUSED) {
      last = IoError("connection to {} refused", peer);
    } else if (err == ETIMEDOUT) {
      last = IoError("connection to {} timed out after {} ms", peer, timeout_millis);
    } else {
      last = ErrnoStatus(err, fmt::format("connecting to {}", peer));
    }
  }
  ::freeaddrinfo(addresses);
  return last;
}

TcpClient::~TcpClient() { ::close(fd_); }

Result<TcpClient::ReadOutcome> TcpClient::ReadSome(std::span<std::byte> buffer) {
  WEIR_DCHECK(!buffer.empty());
  if (end_of_stream_) return ReadOutcome{0, true};
  while (true) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) return ReadOutcome{static_cast<size_t>(n), false};
    if (n == 0) {
      end_of_stream_ = true;
      return ReadOutcome{0, true};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadOutcome{0, false};
    return ErrnoStatus(errno, fmt::format("reading from {}", peer_));
  }
}

Result<bool> TcpClient::WaitReadable(int64_t timeout_millis) {
  if (end_of_stream_) return true;
  const int rc = PollOne(fd_, POLLIN, timeout_millis);
  if (rc < 0) return ErrnoStatus(errno, fmt::format("waiting for data from {}", peer_));
  return rc > 0;
}

SocketLineReader::SocketLineReader(TcpClient* client, size_t buffer_bytes, size_t max_line_bytes)
    : client_(client),
      max_line_bytes_(max_line_bytes),
      buffer_(new std::byte[buffer_bytes]),
      capacity_(buffer_bytes) {
  WEIR_CHECK(client != nullptr);
  WEIR_CHECK(buffer_bytes >= 1 && max_line_bytes >= buffer_bytes);
}

void SocketLineReader::TakeLine(size_t line_end, size_t next_begin, std::string_view* line) {
  const char* data = reinterpret_cast<const char*>(buffer_.get());
  size_t length = line_end - begin_;
  if (length > 0 && data[begin_ + length - 1] == '\r') --length;
  *line = std::string_view(data + begin_, length);
  begin_ = next_begin;
  scanned_ = 0;
}

Result<bool> SocketLineReader::NextLine(std::string_view* line) {
  bool read_once = false;
  while (true) {
    const std::byte* data = buffer_.get();
    const void* newline = std::memchr(data + begin_ + scanned_, '\n', limit_ - begin_ - scanned_);
    if (newline != nullptr) {
      const size_t line_end = static_cast<size_t>(static_cast<const std::byte*>(newline) - data);
      TakeLine(line_end, line_end + 1, line);
      return true;
    }
    scanned_ = limit_ - begin_;
    if (closed_) {
      if (begin_ == limit_) return false;
      TakeLine(limit_, limit_, line);  // the last line, without '\n'
      return true;
    }
    if (read_once) return false;
    // Make room after the partial line: move it to the front, or grow when it fills the buffer.
    if (begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, limit_ - begin_);
      limit_ -= begin_;
      begin_ = 0;
    }
    if (limit_ == capacity_) {
      if (capacity_ >= max_line_bytes_) {
        return InvalidArgument("a line from {} is longer than the limit of {} bytes", client_->peer(),
                               max_line_bytes_);
      }
      const size_t grown = std::min(capacity_ * 2, max_line_bytes_);
      std::unique_ptr<std::byte[]> bigger(new std::byte[grown]);
      std::memcpy(bigger.get(), buffer_.get(), limit_);
      buffer_ = std::move(bigger);
      capacity_ = grown;
    }
    ASSIGN_OR_RETURN(const TcpClient::ReadOutcome outcome,
                     client_->ReadSome(std::span<std::byte>(buffer_.get() + limit_, capacity_ - limit_)));
    read_once = true;
    limit_ += outcome.bytes;
    bytes_read_ += static_cast<int64_t>(outcome.bytes);
    if (outcome.end_of_stream) closed_ = true;
    if (outcome.would_block()) return false;
  }
}

}  // namespace weir::io
