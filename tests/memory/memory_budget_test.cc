#include "memory/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

namespace weir::memory {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

TEST(MemoryBudgetTest, ReservationsAccountUntilTheyAreDestroyed) {
  MemoryBudget budget(100);
  EXPECT_EQ(budget.total(), 100);
  {
    Result<MemoryBudget::Reservation> a = budget.Reserve("A", 30);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->bytes(), 30);
    EXPECT_EQ(budget.used(), 30);
    EXPECT_EQ(budget.available(), 70);
    ASSERT_TRUE(a->Grow(50).ok());
    EXPECT_EQ(a->bytes(), 80);
    EXPECT_EQ(budget.used(), 80);
    a->Shrink(20);
    EXPECT_EQ(a->bytes(), 60);
    EXPECT_EQ(budget.used(), 60);
    a->Shrink(1000);  // at most what it holds
    EXPECT_EQ(a->bytes(), 0);
    EXPECT_EQ(budget.used(), 0);
    ASSERT_TRUE(a->Grow(100).ok());
    EXPECT_EQ(budget.available(), 0);
  }
  EXPECT_EQ(budget.used(), 0);
}

TEST(MemoryBudgetTest, FailedGrowLeavesTheReservationUnchanged) {
  MemoryBudget budget(100);
  Result<MemoryBudget::Reservation> a = budget.Reserve("A", 60);
  Result<MemoryBudget::Reservation> b = budget.Reserve("B", 30);
  ASSERT_TRUE(a.ok() && b.ok());
  Status grown = b->Grow(11);
  EXPECT_EQ(grown.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(b->bytes(), 30);
  EXPECT_EQ(budget.used(), 90);
  EXPECT_TRUE(b->Grow(10).ok());
  EXPECT_EQ(budget.used(), 100);
  EXPECT_FALSE(budget.Reserve("C", 1).ok());
  EXPECT_TRUE(budget.Reserve("C", 0).ok());
}

TEST(MemoryBudgetTest, ExhaustionMessageNamesOperatorAmountsAndKey) {
  MemoryBudget budget(kGiB);
  Result<MemoryBudget::Reservation> held = budget.Reserve("Sort(1/4)", kGiB - 12 * kMiB);
  ASSERT_TRUE(held.ok());
  Result<MemoryBudget::Reservation> failed = budget.Reserve("WindowOperator(3/4)", 64 * kMiB);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(failed.status().message(),
            "operator 'WindowOperator(3/4)' needs 64.0 MiB more managed memory but only 12.0 MiB "
            "of 1.0 GiB is free; raise taskmanager.memory.managed.size");
  EXPECT_EQ(budget.used(), kGiB - 12 * kMiB);
}

TEST(MemoryBudgetTest, ExhaustionMessageNamesACustomKey) {
  MemoryBudget budget(4096, "taskmanager.memory.sort.size");
  EXPECT_EQ(budget.config_key(), "taskmanager.memory.sort.size");
  Result<MemoryBudget::Reservation> reservation = budget.Reserve("Sort", 0);
  ASSERT_TRUE(reservation.ok());
  Status grown = reservation->Grow(8192);
  ASSERT_FALSE(grown.ok());
  EXPECT_NE(grown.message().find("raise taskmanager.memory.sort.size"), std::string_view::npos) << grown;
  EXPECT_NE(grown.message().find("'Sort'"), std::string_view::npos) << grown;
}

TEST(MemoryBudgetTest, RejectsNegativeAmountsAndGrowingAnEmptyReservation) {
  MemoryBudget budget(100);
  EXPECT_EQ(budget.Reserve("A", -1).status().code(), StatusCode::kInvalidArgument);
  Result<MemoryBudget::Reservation> a = budget.Reserve("A", 10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Grow(-5).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->bytes(), 10);
  MemoryBudget::Reservation empty;
  EXPECT_EQ(empty.Grow(1).code(), StatusCode::kFailedPrecondition);
  empty.Shrink(1);
  EXPECT_EQ(budget.used(), 10);
}

TEST(MemoryBudgetTest, MovingAReservationTransfersItsBytes) {
  MemoryBudget budget(100);
  Result<MemoryBudget::Reservation> a = budget.Reserve("A", 40);
  ASSERT_TRUE(a.ok());
  MemoryBudget::Reservation moved = std::move(a).value();
  EXPECT_EQ(moved.bytes(), 40);
  EXPECT_EQ(budget.used(), 40);
  Result<MemoryBudget::Reservation> b = budget.Reserve("B", 25);
  ASSERT_TRUE(b.ok());
  moved = std::move(*b);  // the 40 bytes it held go back
  EXPECT_EQ(moved.bytes(), 25);
  EXPECT_EQ(budget.used(), 25);
  {
    MemoryBudget::Reservation taken(std::move(moved));
    EXPECT_EQ(moved.bytes(), 0);  // NOLINT(bugprone-use-after-move): documented state
  }
  EXPECT_EQ(budget.used(), 0);
}

TEST(MemoryBudgetTest, FormatBytesUsesBinaryUnits) {
  EXPECT_EQ(MemoryBudget::FormatBytes(0), "0 bytes");
  EXPECT_EQ(MemoryBudget::FormatBytes(1023), "1023 bytes");
  EXPECT_EQ(MemoryBudget::FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(MemoryBudget::FormatBytes(3 * kMiB / 2), "1.5 MiB");
  EXPECT_EQ(MemoryBudget::FormatBytes(kGiB), "1.0 GiB");
  EXPECT_EQ(MemoryBudget::FormatBytes(int64_t{5} << 40), "5.0 TiB");
}

// Many threads race for single units of a budget of kUnits: exactly kUnits reservations succeed,
// every other attempt fails with ResourceExhausted, and everything comes back at the end.
TEST(MemoryBudgetTest, ConcurrentReservationsNeverExceedTheTotal) {
  constexpr int kUnits = 1000;
  constexpr int kThreads = 4;
  MemoryBudget budget(kUnits);
  std::atomic<int> granted{0};
  std::atomic<bool> wrong_failure{false};
  std::vector<std::vector<MemoryBudget::Reservation>> held(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUnits; ++i) {
        Result<MemoryBudget::Reservation> unit = budget.Reserve("Racer", 1);
        if (unit.ok()) {
          held[t].push_back(std::move(unit).value());
          granted.fetch_add(1);
        } else if (unit.status().code() != StatusCode::kResourceExhausted) {
          wrong_failure = true;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(wrong_failure);
  EXPECT_EQ(granted.load(), kUnits);
  EXPECT_EQ(budget.used(), kUnits);
  held.clear();
  EXPECT_EQ(budget.used(), 0);
}

// Threads reserve, grow, shrink and release random amounts; the budget's counter always equals
// what is held, which never exceeds the total.
TEST(MemoryBudgetTest, ConcurrentGrowAndShrinkBalance) {
  constexpr int kThreads = 4;
  constexpr int64_t kTotal = 10000;
  MemoryBudget budget(kTotal);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t + 1));
      for (int round = 0; round < 2000; ++round) {
        Result<MemoryBudget::Reservation> reservation = budget.Reserve("Worker", random() % 500);
        if (!reservation.ok()) continue;
        for (int step = 0; step < 4; ++step) {
          if (random() % 2 == 0) {
            (void)reservation->Grow(random() % 500);
          } else {
            reservation->Shrink(random() % 500);
          }
          if (budget.used() > kTotal) over = true;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(over);
  EXPECT_EQ(budget.used(), 0);
}

}  // namespace
}  // namespace weir::memory
