#include "sched/spsc_queue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <thread>

namespace weir::sched {
namespace {

TEST(SpscQueueTest, MatchesDequeUnderRandomInterleavings) {
  std::mt19937_64 rng(42);
  for (size_t capacity : {1, 2, 8, 64}) {
    SpscQueue<std::unique_ptr<uint64_t>> queue(capacity);
    std::deque<uint64_t> reference;
    uint64_t next = 0;
    for (int step = 0; step < 20000; ++step) {
      const int op = static_cast<int>(rng() % 4);
      if (op <= 1) {  // push, twice as likely as each of the others
        auto value = std::make_unique<uint64_t>(next);
        const bool pushed = queue.TryPush(std::move(value));
        ASSERT_EQ(pushed, reference.size() < capacity);
        if (pushed) {
          reference.push_back(next);
        } else {
          ASSERT_NE(value, nullptr) << "a failed push must leave the value with the caller";
        }
        ++next;
      } else if (op == 2) {
        std::unique_ptr<uint64_t> out;
        const bool popped = queue.TryPop(out);
        ASSERT_EQ(popped, !reference.empty());
        if (popped) {
          ASSERT_EQ(*out, reference.front());
          reference.pop_front();
        }
      } else {
        std::unique_ptr<uint64_t>* front = queue.Front();
        ASSERT_EQ(front == nullptr, reference.empty());
        if (front != nullptr) {
          ASSERT_EQ(**front, reference.front());
          queue.PopFront();
          reference.pop_front();
        }
      }
      ASSERT_EQ(queue.SizeApprox(), reference.size());
      ASSERT_EQ(queue.EmptyApprox(), reference.empty());
    }
  }
}

TEST(SpscQueueTest, TwoThreadsPassTenMillionSequenceNumbersInOrder) {
  constexpr uint64_t kCount = 10'000'000;
  SpscQueue<uint64_t> queue(1024);
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount; ++i) {
      uint64_t value = i;
      while (!queue.TryPush(std::move(value))) std::this_thread::yield();
    }
  });
  uint64_t expected = 0;
  uint64_t mismatches = 0;
  while (expected < kCount) {
    uint64_t value;
    if (!queue.TryPop(value)) {
      std::this_thread::yield();
      continue;
    }
    mismatches += value != expected;
    ++expected;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_TRUE(queue.EmptyApprox());
}

TEST(SpscQueueTest, DestructorDestroysTheValuesStillQueued) {
  auto shared = std::make_shared<int>(7);
  {
    SpscQueue<std::shared_ptr<int>> queue(8);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(queue.TryPush(std::shared_ptr<int>(shared)));
    std::shared_ptr<int> out;
    ASSERT_TRUE(queue.TryPop(out));
    out.reset();
    EXPECT_EQ(shared.use_count(), 5);
  }
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(SpscQueueTest, FrontAllowsInPlaceUseAcrossWrapAround) {
  SpscQueue<uint64_t> queue(4);
  uint64_t popped_sum = 0;
  uint64_t pushed_sum = 0;
  for (uint64_t round = 0; round < 10; ++round) {
    for (uint64_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(queue.TryPush(round * 3 + i));
      pushed_sum += 2 * (round * 3 + i);
    }
    while (uint64_t* front = queue.Front()) {
      *front *= 2;  // modified in place, then consumed
      popped_sum += *queue.Front();
      queue.PopFront();
    }
  }
  EXPECT_EQ(popped_sum, pushed_sum);
  EXPECT_EQ(queue.capacity(), 4u);
}

TEST(SpscQueueTest, RejectsCapacityThatIsNotAPowerOfTwo) {
  EXPECT_DEATH(SpscQueue<int>(3), "power of two");
  EXPECT_DEATH(SpscQueue<int>(0), "power of two");
}

}  // namespace
}  // namespace weir::sched
