// MemoryBudget: the job's managed memory (taskmanager.memory.managed.size), shared by the
// operators that hold state, sort or hash. An operator reserves bytes before it allocates them;
// a reservation that would exceed the budget fails with ResourceExhausted naming the owner, the
// amount, and the configuration key, so the job ends with a clear error (or the operator spills)
// instead of growing without bound.
//
// Thread-safe: reservations are compare-and-swap updates of one counter (they happen when a table
// grows, never per record), with relaxed ordering: the counter only accounts bytes, it publishes
// no data, so two racing reservations can never together exceed total(), and that is all it
// promises. Example error text:
//   operator 'WindowOperator(3/4)' needs 64.0 MiB more managed memory but only 12.0 MiB of
//   1.0 GiB is free; raise taskmanager.memory.managed.size
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace weir::memory {

class MemoryBudget {
 public:
  // REQUIRES: total_bytes >= 0.
  explicit MemoryBudget(int64_t total_bytes,
                        std::string config_key = "taskmanager.memory.managed.size");
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // RAII share of the budget. Move-only; returns its bytes on destruction. One thread at a time
  // uses a Reservation. REQUIRES: the budget outlives it.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    // Grows this reservation by `bytes`, or fails leaving it unchanged: ResourceExhausted when the
    // budget has too little left, InvalidArgument for bytes < 0, FailedPrecondition when empty.
    Status Grow(int64_t bytes);
    // Returns min(bytes, bytes()) to the budget. REQUIRES: bytes >= 0.
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

  // Reserves `bytes` for `owner` (an operator name, used in error messages): ResourceExhausted
  // naming the owner, the amounts and the configuration key when it does not fit; InvalidArgument
  // for bytes < 0.
  Result<Reservation> Reserve(std::string_view owner, int64_t bytes);

  int64_t total() const { return total_; }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t available() const { return total_ - used(); }
  const std::string& config_key() const { return config_key_; }

  // "512 bytes", "12.0 MiB", "1.0 GiB": binary units with one decimal, as in error messages.
  static std::string FormatBytes(int64_t bytes);

 private:
  Status TryTake(std::string_view owner, int64_t bytes);
  void Give(int64_t bytes);

  const int64_t total_;
  const std::string config_key_;
  std::atomic<int64_t> used_{0};
};

}  // namespace weir::memory
