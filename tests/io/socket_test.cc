#include "io/socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"

namespace weir::io {
namespace {

// A TCP socket bound to 127.0.0.1 on a port the kernel picked; listening only when asked to.
class LocalSocket {
 public:
  explicit LocalSocket(bool listen) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WEIR_CHECK(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    WEIR_CHECK(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    WEIR_CHECK(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (listen) WEIR_CHECK(::listen(fd_, 4) == 0);
  }
  ~LocalSocket() { ::close(fd_); }
  LocalSocket(const LocalSocket&) = delete;
  LocalSocket& operator=(const LocalSocket&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

// Accepts one connection, waits until `go` is set, writes `payload` in chunks of 1, 2, 3, 5, 8,
// ... bytes (Fibonacci, restarting after 89) with Nagle off and a short pause now and then so the
// client sees many partial lines, then closes.
void ServeOnce(int listen_fd, const std::string& payload, const std::atomic<bool>& go) {
  const int connection = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  WEIR_CHECK(connection >= 0);
  const int one = 1;
  ::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  while (!go.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  size_t a = 1;
  size_t b = 2;
  size_t sent = 0;
  int chunk = 0;
  while (sent < payload.size()) {
    const size_t size = std::min(a, payload.size() - sent);
    const ssize_t n = ::send(connection, payload.data() + sent, size, MSG_NOSIGNAL);
    WEIR_CHECK(n > 0);
    sent += static_cast<size_t>(n);
    const size_t next = a + b;
    a = b;
    b = next > 89 ? 1 : next;
    if (++chunk % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::close(connection);
}

// The reference: split on '\n', drop one '\r' before it; a trailing '\n' starts no empty line.
std::vector<std::string> NaiveLines(const std::string& payload) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < payload.size()) {
    size_t end = payload.find('\n', start);
    const size_t next = end == std::string::npos ? payload.size() : end + 1;
    if (end == std::string::npos) end = payload.size();
    std::string line = payload.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = next;
  }
  return lines;
}

// Reads lines until closed(), waiting for data between polls; fails the test on an error or
// after 10 s.
std::vector<std::string> ReadUntilClosed(TcpClient& client, SocketLineReader& reader) {
  std::vector<std::string> lines;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string_view line;
  while (!reader.closed()) {
    Result<bool> got = reader.NextLine(&line);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) break;
    if (*got) {
      lines.emplace_back(line);
      continue;
    }
    if (reader.closed()) break;
    EXPECT_LT(std::chrono::steady_clock::now(), deadline) << "no end of stream";
    if (std::chrono::steady_clock::now() >= deadline) break;
    Result<bool> readable = client.WaitReadable(100);
    EXPECT_TRUE(readable.ok()) << readable.status();
  }
  return lines;
}

TEST(SocketTest, LineReaderYieldsEveryLineThenClosed) {
  std::string payload = "alpha\r\nbeta\n\n\r\ngamma with spaces\n";
  payload += std::string(700, 'x') + "\r\n";  // longer than the reader's initial buffer
  for (int i = 0; i < 200; ++i) payload += "line " + std::to_string(i) + (i % 3 == 0 ? "\r\n" : "\n");
  payload += "last line without newline";
  LocalSocket server(/*listen=*/true);
  std::atomic<bool> go{false};
  std::thread serving([&] { ServeOnce(server.fd(), payload, go); });

  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->peer(), "127.0.0.1:" + std::to_string(server.port()));
  SocketLineReader reader(client->get(), /*buffer_bytes=*/256);

  // Nothing sent yet: the reader returns at once with no line (the socket is non-blocking).
  std::string_view line;
  Result<bool> nothing = reader.NextLine(&line);
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_FALSE(*nothing);
  EXPECT_FALSE(reader.closed());

  go.store(true, std::memory_order_release);
  const std::vector<std::string> lines = ReadUntilClosed(**client, reader);
  serving.join();
  EXPECT_EQ(lines, NaiveLines(payload));
  EXPECT_EQ(lines.back(), "last line without newline");
  EXPECT_TRUE(reader.closed());
  EXPECT_TRUE((*client)->end_of_stream());
  EXPECT_EQ(reader.bytes_read(), static_cast<int64_t>(payload.size()));
  Result<bool> after = reader.NextLine(&line);  // stays closed
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
}

TEST(SocketTest, EmptyStreamClosesWithoutLines) {
  LocalSocket server(/*listen=*/true);
  std::atomic<bool> go{true};
  std::thread serving([&] { ServeOnce(server.fd(), "", go); });
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  SocketLineReader reader(client->get());
  EXPECT_TRUE(ReadUntilClosed(**client, reader).empty());
  serving.join();
  EXPECT_TRUE(reader.closed());
}

TEST(SocketTest, LineLongerThanTheLimitIsAnErrorNamingThePeer) {
  LocalSocket server(/*listen=*/true);
  std::atomic<bool> go{true};
  const std::string payload = "ok\n" + std::string(5000, 'y') + "\n";
  std::thread serving([&] { ServeOnce(server.fd(), payload, go); });
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  SocketLineReader reader(client->get(), /*buffer_bytes=*/64, /*max_line_bytes=*/1024);
  std::vector<std::string> lines;
  Status error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string_view line;
  while (error.ok() && !reader.closed() && std::chrono::steady_clock::now() < deadline) {
    Result<bool> got = reader.NextLine(&line);
    if (!got.ok()) {
      error = got.status();
    } else if (*got) {
      lines.emplace_back(line);
    } else {
      (void)(*client)->WaitReadable(100);
    }
  }
  serving.join();
  EXPECT_EQ(lines, std::vector<std::string>{"ok"});
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(error.message().find("127.0.0.1:" + std::to_string(server.port())), std::string_view::npos)
      << error;
}

// A port bound but not listening refuses connections (deterministically: nobody else can take it
// while it is bound).
TEST(SocketTest, ConnectionRefusedNamesHostAndPort) {
  LocalSocket bound(/*listen=*/false);
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", bound.port(), 2000);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kIoError);
  const std::string_view message = client.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(bound.port())), std::string_view::npos) << client.status();
  EXPECT_NE(message.find("refused"), std::string_view::npos) << client.status();
}

TEST(SocketTest, PortOutOfRangeIsInvalidArgument) {
  for (int port : {0, -1, 65536}) {
    Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", port);
    ASSERT_FALSE(client.ok()) << port;
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument) << port;
  }
}

}  // namespace
}  // namespace weir::io
