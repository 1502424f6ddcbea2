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

}  // namespace
}  // namespace weir::sched
