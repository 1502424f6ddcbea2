// SocketTextStream end to end against a loopback server run by the test.
#include "connectors/socket_text_source.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "api/stream_execution_environment.h"

namespace weir::connectors {
namespace {

// Listens on 127.0.0.1 (an ephemeral port), accepts one client, sends `payload` in small chunks
// with pauses, then closes.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::string payload) : payload_(std::move(payload)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    EXPECT_EQ(::listen(listener_, 1), 0);
    thread_ = std::thread([this] {
      int client = ::accept(listener_, nullptr, nullptr);
      for (size_t offset = 0; offset < payload_.size(); offset += 7) {
        const size_t size = std::min<size_t>(7, payload_.size() - offset);
        (void)!::send(client, payload_.data() + offset, size, MSG_NOSIGNAL);
        if (offset % 70 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ::close(client);
    });
  }
  ~LoopbackServer() {
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  std::string payload_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

class LineCollector final : public operators::SinkOperator<std::string_view> {
 public:
  explicit LineCollector(std::shared_ptr<std::vector<std::string>> lines) : lines_(std::move(lines)) {}
  void Collect(const std::string_view& line, Timestamp) override { lines_->emplace_back(line); }
  void EndInput() override {}

 private:
  std::shared_ptr<std::vector<std::string>> lines_;
};

TEST(SocketTextSourceTest, ReadsEveryLineUntilTheServerCloses) {
  std::vector<std::string> expected;
  std::string payload;
  for (int i = 0; i < 300; ++i) {
    expected.push_back("line " + std::to_string(i) + std::string(i % 50, 'x'));
    payload += expected.back() + (i % 3 == 0 ? "\r\n" : "\n");
  }
  expected.push_back("last without newline");
  payload += expected.back();
  LoopbackServer server(payload);
  api::StreamExecutionEnvironment env;
  auto lines = std::make_shared<std::vector<std::string>>();
  env.SocketTextStream("127.0.0.1", server.port()).SinkTo("Collect", [lines](int) {
    return std::make_unique<LineCollector>(lines);
  });
  auto job = env.Execute("socket");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(*lines, expected);
}

TEST(SocketTextSourceTest, RefusedConnectionFailsTheJobNamingTheAddress) {
  // A port nobody listens on: bind one, note it, close it.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(probe);

  api::StreamExecutionEnvironment env;
  env.SocketTextStream("127.0.0.1", port).Discard();
  auto job = env.Execute("refused");
  ASSERT_FALSE(job.ok());
  const std::string message(job.status().message());
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("refused"), std::string::npos) << message;
}

}  // namespace
}  // namespace weir::connectors
