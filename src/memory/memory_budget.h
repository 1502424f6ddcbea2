// MemoryBudget: the job's managed memory (taskmanager.memory.managed.size), shared by the
// operators that hold state, sort or hash. An operator reserves bytes before it allocates them;
// a reservation that would exceed the budget fails with ResourceExhausted naming the owner, the
// amount, and the configuration key, so the job ends with a clear error (or the operator spills)
// instead of growing without bound.
//
// Thread-safe: reservations are atomic adds on one counter (they happen when a table grows, never
// per record).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace weir::memory {

class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t total_bytes,
                        std::string config_key = "taskmanager.memory.managed.size");
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // RAII share of the budget. Move-only; returns its bytes on destruction.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    // Grows this reservation by `bytes`, or fails leaving it unchanged.
    Status Grow(int64_t bytes);
    // Returns `bytes` (at most bytes()) to the budget.
    void Shrink(int64_t bytes);
    int64_t bytes() const { return bytes_; }

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, std::string owner, int64_t bytes)
        : budget_(budget), owner_(std::move(owner)), bytes_(bytes) {}
    MemoryBudget* budget_ = nullptr;
    std::string owner_;
    int64_t bytes_ = 0;
  };

  // Reserves `bytes` for `owner` (an operator name, used in error messages).
  Result<Reservation> Reserve(std::string_view owner, int64_t bytes);

  int64_t total() const { return total_; }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t available() const { return total_ - used(); }

 private:
  Status TryTake(std::string_view owner, int64_t bytes);
  void Give(int64_t bytes);

  const int64_t total_;
  const std::string config_key_;
  std::atomic<int64_t> used_{0};
};

}  // namespace weir::memory
