#include "sched/channel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "sched/executor.h"

namespace weir::sched {
namespace {

TEST(ChannelTest, CreditsAreFreeSlotsAndAFailedPushKeepsTheValue) {
  Channel<std::unique_ptr<int>> channel(4);
  channel.Bind(nullptr, nullptr);
  EXPECT_EQ(channel.credits(), 4u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(channel.TryPush(std::make_unique<int>(i)));
  EXPECT_EQ(channel.credits(), 0u);
  auto extra = std::make_unique<int>(99);
  EXPECT_FALSE(channel.TryPush(std::move(extra)));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*extra, 99);
  std::unique_ptr<int> out;
  ASSERT_TRUE(channel.TryPop(out));
  EXPECT_EQ(*out, 0);
  EXPECT_EQ(channel.credits(), 1u);
  ASSERT_NE(channel.Front(), nullptr);
  EXPECT_EQ(**channel.Front(), 1);
  channel.PopFront();
  EXPECT_EQ(channel.credits(), 2u);
  EXPECT_EQ(channel.SizeApprox(), 2u);
}

// Pushes 0..count-1, holding a value back (and reporting kIdle) while the channel has no credit.
class SequenceProducer final : public Task {
 public:
  SequenceProducer(Channel<uint64_t>* out, uint64_t count) : out_(out), count_(count) {}
  Progress RunOnce(int64_t) override {
    int pushed = 0;
    while (next_ < count_ && pushed < 16) {
      uint64_t value = next_;
      if (!out_->TryPush(std::move(value))) break;
      ++next_;
      ++pushed;
    }
    if (next_ == count_) return Progress::kFinished;
    return pushed > 0 ? Progress::kDidWork : Progress::kIdle;
  }
  std::string_view name() const override { return "producer"; }

 private:
  Channel<uint64_t>* out_;
  uint64_t count_;
  uint64_t next_ = 0;
};

// Pops at most `batch` values per RunOnce, so it is slower than the producer and the channel
// fills up: the producer runs out of credit and must be woken by the consumer's pops.
class SequenceConsumer final : public Task {
 public:
  SequenceConsumer(Channel<uint64_t>* in, uint64_t count, int batch)
      : in_(in), count_(count), batch_(batch) {}
  Progress RunOnce(int64_t) override {
    int popped = 0;
    uint64_t value;
    while (popped < batch_ && in_->TryPop(value)) {
      if (value != received_) {
        status_ = DataLoss("expected {}, got {}", received_, value);
        return Progress::kFailed;
      }
      ++received_;
      ++popped;
    }
    if (received_ == count_) return Progress::kFinished;
    return popped > 0 ? Progress::kDidWork : Progress::kIdle;
  }
  Status status() const override { return status_; }
  std::string_view name() const override { return "consumer"; }
  uint64_t received() const { return received_; }

 private:
  Channel<uint64_t>* in_;
  uint64_t count_;
  int batch_;
  uint64_t received_ = 0;
  Status status_;
};

TEST(ChannelTest, StreamsInOrderUnderBackpressureWithParkingWorkers) {
  constexpr uint64_t kCount = 200'000;
  Executor::Options options;
  options.workers = 2;
  options.spin_nanos = 0;
  options.park_timeout_nanos = 2'000'000'000;  // a lost wake-up would show as a timed-out park
  Executor executor(options);
  Channel<uint64_t> channel(8);
  channel.Bind(&executor.worker(0), &executor.worker(1));
  SequenceProducer producer(&channel, kCount);
  SequenceConsumer consumer(&channel, kCount, 3);
  executor.worker(0).AddTask(&producer);
  executor.worker(1).AddTask(&consumer);
  Status status = executor.Run();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(consumer.received(), kCount);
  EXPECT_EQ(executor.worker(0).park_timeouts() + executor.worker(1).park_timeouts(), 0u);
}

TEST(ChannelTest, BothEndsOnOneWorkerNeedNoWakeUps) {
  constexpr uint64_t kCount = 10'000;
  Executor::Options options;
  options.spin_nanos = 0;
  options.park_timeout_nanos = 2'000'000'000;
  Executor executor(options);
  Channel<uint64_t> channel(4);
  channel.Bind(&executor.worker(0), &executor.worker(0));
  SequenceProducer producer(&channel, kCount);
  SequenceConsumer consumer(&channel, kCount, 1);
  executor.worker(0).AddTask(&producer);
  executor.worker(0).AddTask(&consumer);
  ASSERT_TRUE(executor.Run().ok());
  EXPECT_EQ(consumer.received(), kCount);
  EXPECT_EQ(executor.worker(0).parks(), 0u);
  EXPECT_EQ(executor.worker(0).wake_syscalls(), 0u);
}

}  // namespace
}  // namespace weir::sched
