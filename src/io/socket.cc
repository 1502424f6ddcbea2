#include "io/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weir::io {

Result<std::unique_ptr<TcpClient>> TcpClient::Connect(const std::string& host, int port,
                                                      int64_t timeout_millis) {
  const std::string peer = fmt::format("{}:{}", host, port);
  if (port < 1 || port > 65535) return InvalidArgument("port {} of {} is not in [1, 65535]", port, host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    return NotFound("cannot resolve host '{}': {}", host, gai_strerror(rc));
  }
  Status last = IoError("connection to {} failed", peer);
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      address->ai_protocol);
    if (fd < 0) {
      last = ErrnoStatus(errno, fmt::format("creating a socket for {}", peer));
      continue;
    }
    int rc = ::connect(fd, address->ai_addr, address->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd waiting{fd, POLLOUT, 0};
      rc = ::poll(&waiting, 1, static_cast<int>(timeout_millis));
      if (rc == 0) {
        ::close(fd);
        last = IoError("connection to {} timed out after {} ms", peer, timeout_millis);
        continue;
      }
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      rc = error == 0 ? 0 : -1;
      errno = error;
    }
    if (rc != 0) {
      const int err = errno;
      ::close(fd);
      last = err == ECONNREFUSED ? IoError("connection to {} refused", peer)
                                 : ErrnoStatus(err, fmt::format("connecting to {}", peer));
      continue;
    }
    freeaddrinfo(addresses);
    return std::unique_ptr<TcpClient>(new TcpClient(fd, peer));
  }
  freeaddrinfo(addresses);
  return last;
}

TcpClient::~TcpClient() { ::close(fd_); }

Result<TcpClient::ReadOutcome> TcpClient::ReadSome(char* buffer, size_t capacity) {
  while (true) {
    const ssize_t read = ::recv(fd_, buffer, capacity, 0);
    if (read > 0) return ReadOutcome{static_cast<size_t>(read), false};
    if (read == 0) return ReadOutcome{0, true};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadOutcome{0, false};
    return ErrnoStatus(errno, fmt::format("reading from {}", peer_));
  }
}

SocketLineReader::SocketLineReader(TcpClient* client, size_t buffer_bytes)
    : client_(client), buffer_(std::max<size_t>(buffer_bytes, 256)) {}

Result<bool> SocketLineReader::NextLine(std::string_view* line) {
  while (true) {
    char* data = buffer_.data();
    if (const void* newline = std::memchr(data + begin_ + scanned_, '\n', end_ - begin_ - scanned_)) {
      const size_t line_end = static_cast<size_t>(static_cast<const char*>(newline) - data);
      size_t length = line_end - begin_;
      if (length > 0 && data[begin_ + length - 1] == '\r') --length;
      *line = std::string_view(data + begin_, length);
      begin_ = line_end + 1;
      scanned_ = 0;
      return true;
    }
    scanned_ = end_ - begin_;
    if (closed_) {
      if (begin_ == end_) return false;
      size_t length = end_ - begin_;  // the last line, without '\n'
      if (data[begin_ + length - 1] == '\r') --length;
      *line = std::string_view(data + begin_, length);
      begin_ = end_;
      scanned_ = 0;
      return true;
    }
    if (begin_ > 0) {
      std::memmove(data, data + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    ASSIGN_OR_RETURN(TcpClient::ReadOutcome outcome,
                     client_->ReadSome(buffer_.data() + end_, buffer_.size() - end_));
    end_ += outcome.bytes;
    bytes_read_ += static_cast<int64_t>(outcome.bytes);
    if (outcome.end_of_stream) closed_ = true;
    if (outcome.bytes == 0 && !outcome.end_of_stream) return false;
  }
}

}  // namespace weir::io
