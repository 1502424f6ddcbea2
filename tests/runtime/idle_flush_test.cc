// A task that runs out of input sends its partly filled batches at once ("smart batching"):
// records do not wait for the buffer timeout when nothing more is coming for now.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "api/stream_execution_environment.h"
#include "base/clock.h"

namespace weir::runtime {
namespace {

constexpr int64_t kRecords = 100;

// Emits kRecords records, then has nothing (as a quiet socket or a paced source) until the sink
// has seen all of them, or until `give_up` has passed; then ends.
class PausingSource final : public operators::SourceOperator<int64_t> {
 public:
  PausingSource(std::shared_ptr<std::atomic<int64_t>> received, std::shared_ptr<std::atomic<bool>> seen_while_paused)
      : received_(std::move(received)), seen_while_paused_(std::move(seen_while_paused)) {}
  Result<operators::SourceStatus> Poll(int) override {
    if (next_ < kRecords) {
      output()->Collect(next_++, kMinTimestamp);
      if (next_ == kRecords) give_up_ = MonotonicNanos() + 20'000'000'000;  // 20 s
      return operators::SourceStatus::kMoreAvailable;
    }
    if (received_->load() == kRecords) {
      seen_while_paused_->store(true);
      return operators::SourceStatus::kEndOfInput;
    }
    if (MonotonicNanos() > give_up_) return operators::SourceStatus::kEndOfInput;
    return operators::SourceStatus::kNothingNow;
  }
  // Polled again within a millisecond while it waits (a parked worker wakes for it).
  int64_t NextReadyNanos() const override {
    return next_ < kRecords ? kMaxTimestamp : MonotonicNanos() + 1'000'000;
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> received_;
  std::shared_ptr<std::atomic<bool>> seen_while_paused_;
  int64_t next_ = 0;
  int64_t give_up_ = 0;
};

class CountingSink final : public operators::SinkOperator<int64_t> {
 public:
  explicit CountingSink(std::shared_ptr<std::atomic<int64_t>> received) : received_(std::move(received)) {}
  void Collect(const int64_t&, Timestamp) override { received_->fetch_add(1); }

 private:
  std::shared_ptr<std::atomic<int64_t>> received_;
};

TEST(IdleFlushTest, AnIdleTaskSendsItsOpenBatchesBeforeTheBufferTimeout) {
  Configuration config;
  ASSERT_TRUE(config.Set("parallelism.default", "1").ok());
  // Longer than the source waits: only an idle flush delivers the records in time.
  ASSERT_TRUE(config.Set("execution.buffer-timeout", "1 min").ok());
  api::StreamExecutionEnvironment env(config);
  auto received = std::make_shared<std::atomic<int64_t>>(0);
  auto seen_while_paused = std::make_shared<std::atomic<bool>>(false);
  env.AddSource<int64_t>("Source: pausing",
                         [received, seen_while_paused](int) {
                           return std::make_unique<PausingSource>(received, seen_while_paused);
                         })
      .Rebalance()  // an exchange, so the records travel in a network batch
      .Map([](const int64_t& v) { return v * 2; })
      .SetParallelism(2)
      .SinkTo("Sink: count", [received](int) { return std::make_unique<CountingSink>(received); });
  auto result = env.Execute("idle flush");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(received->load(), kRecords);
  EXPECT_TRUE(seen_while_paused->load())
      << "the records reached the sink only at the end of input, not while the source was idle";
}

}  // namespace
}  // namespace weir::runtime
