#include "io/socket.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/check.h"

namespace weir::io {
namespace {

using ::testing::HasSubstr;

// A one-connection server on 127.0.0.1 and an ephemeral port, for the client to talk to.
class TestServer {
 public:
  TestServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WEIR_CHECK(listen_fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    WEIR_CHECK(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    WEIR_CHECK(::listen(listen_fd_, 1) == 0);
    socklen_t length = sizeof(address);
    WEIR_CHECK(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~TestServer() {
    CloseConnection();
    ::close(listen_fd_);
  }
  int port() const { return port_; }

  void Accept() {
    connection_fd_ = ::accept(listen_fd_, nullptr, nullptr);
    WEIR_CHECK(connection_fd_ >= 0);
    const int one = 1;
    ::setsockopt(connection_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(connection_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      WEIR_CHECK(n > 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void CloseConnection() {
    if (connection_fd_ >= 0) ::close(connection_fd_);
    connection_fd_ = -1;
  }

 private:
  int listen_fd_ = -1;
  int connection_fd_ = -1;
  int port_ = 0;
};

// Reads every line until the stream closes, waiting (not spinning) when nothing is available.
std::vector<std::string> ReadAllLines(TcpClient* client, SocketLineReader* reader) {
  std::vector<std::string> lines;
  std::string_view line;
  while (!reader->closed()) {
    Result<bool> next = reader->NextLine(&line);
    WEIR_CHECK_OK(next.status());
    if (*next) {
      lines.emplace_back(line);
    } else if (!reader->closed()) {
      WEIR_CHECK_OK(client->WaitReadable(5'000).status());
    }
  }
  return lines;
}

TEST(SocketLineReaderTest, LinesSplitAcrossPacketsArriveWholeAndCloseEndsTheStream) {
  TestServer server;
  // Lines with '\r\n' and '\n' endings, empty lines, one longer than the reader's buffer, and a
  // last line without a newline.
  std::mt19937_64 random(5);
  std::string stream;
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    std::string line(i == 150 ? 5000 : random() % 60, 'a');
    for (char& c : line) c = static_cast<char>('a' + random() % 26);
    expected.push_back(line);
    stream += line + (i % 3 == 0 ? "\r\n" : "\n");
  }
  expected.push_back("no newline at the end");
  stream += expected.back();

  std::thread sender([&] {
    server.Accept();
    std::mt19937_64 cuts(6);
    for (size_t sent = 0; sent < stream.size();) {
      const size_t piece = std::min<size_t>(1 + cuts() % 700, stream.size() - sent);
      server.Send(std::string_view(stream).substr(sent, piece));
      sent += piece;
      if (cuts() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    server.CloseConnection();
  });
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  SocketLineReader reader(client->get(), 256);
  const std::vector<std::string> lines = ReadAllLines(client->get(), &reader);
  sender.join();
  EXPECT_EQ(lines, expected);
  EXPECT_TRUE(reader.closed());
  EXPECT_TRUE((*client)->end_of_stream());
  EXPECT_EQ(reader.bytes_read(), static_cast<int64_t>(stream.size()));
}

TEST(SocketLineReaderTest, NoDataNowIsFalseWithoutBlockingAndNotClosed) {
  TestServer server;
  std::thread acceptor([&] { server.Accept(); });
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("localhost", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  acceptor.join();
  std::byte buffer[64];
  Result<TcpClient::ReadOutcome> outcome = (*client)->ReadSome(buffer);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->would_block());

  SocketLineReader reader(client->get());
  std::string_view line;
  server.Send("partial");
  ASSERT_TRUE(*(*client)->WaitReadable(5'000));
  Result<bool> next = reader.NextLine(&line);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(*next);  // an incomplete line is held back
  EXPECT_FALSE(reader.closed());
  server.Send(" line\nnext");
  ASSERT_TRUE(*(*client)->WaitReadable(5'000));
  ASSERT_TRUE(*reader.NextLine(&line));
  EXPECT_EQ(line, "partial line");
  server.CloseConnection();
  ASSERT_TRUE(*(*client)->WaitReadable(5'000));
  ASSERT_TRUE(*reader.NextLine(&line));
  EXPECT_EQ(line, "next");
  EXPECT_FALSE(*reader.NextLine(&line));
  EXPECT_TRUE(reader.closed());
}

TEST(SocketLineReaderTest, LineLongerThanTheLimitIsAnErrorNamingThePeer) {
  TestServer server;
  std::thread sender([&] {
    server.Accept();
    server.Send(std::string(10'000, 'x'));
    server.CloseConnection();
  });
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", server.port());
  ASSERT_TRUE(client.ok()) << client.status();
  SocketLineReader reader(client->get(), 64, 1024);
  std::string_view line;
  Status error;
  while (error.ok()) {
    Result<bool> next = reader.NextLine(&line);
    if (!next.ok()) {
      error = next.status();
    } else {
      ASSERT_FALSE(*next);
      ASSERT_TRUE((*client)->WaitReadable(5'000).ok());
    }
  }
  sender.join();
  EXPECT_EQ(error.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(error.message(), HasSubstr(fmt::format("127.0.0.1:{}", server.port())));
}

TEST(TcpClientTest, RefusedPortIsAClearIoError) {
  // A port that was just free: bound, not listening, then released.
  int port;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
    ::close(fd);
  }
  Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("127.0.0.1", port);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kIoError);
  EXPECT_EQ(client.status().message(), fmt::format("connection to 127.0.0.1:{} refused", port));
}

TEST(TcpClientTest, PortOutOfRangeIsInvalidArgument) {
  for (int port : {0, -1, 65536}) {
    Result<std::unique_ptr<TcpClient>> client = TcpClient::Connect("localhost", port);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace weir::io
