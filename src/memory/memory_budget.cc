#include "memory/memory_budget.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace weir::memory {

std::string MemoryBudget::FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024 && bytes > -1024) return fmt::format("{} bytes", bytes);
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while ((value >= 1024 || value <= -1024) && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

MemoryBudget::MemoryBudget(int64_t total_bytes, std::string config_key)
    : total_(total_bytes), config_key_(std::move(config_key)) {
  WEIR_CHECK_MSG(total_bytes >= 0, "negative memory budget of {} bytes", total_bytes);
}

Status MemoryBudget::TryTake(std::string_view owner, int64_t bytes) {
  if (bytes < 0) return InvalidArgument("negative reservation of {} bytes by operator '{}'", bytes, owner);
  int64_t used = used_.load(std::memory_order_relaxed);
  while (true) {
    if (bytes > total_ - used) {
      return ResourceExhausted(
          "operator '{}' needs {} more managed memory but only {} of {} is free; raise {}", owner,
          FormatBytes(bytes), FormatBytes(total_ - used), FormatBytes(total_), config_key_);
    }
    if (used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) return Status::Ok();
  }
}

void MemoryBudget::Give(int64_t bytes) {
  const int64_t before = used_.fetch_sub(bytes, std::memory_order_relaxed);
  WEIR_CHECK_MSG(before >= bytes, "memory budget returned {} bytes but only {} were used", bytes, before);
}

Result<MemoryBudget::Reservation> MemoryBudget::Reserve(std::string_view owner, int64_t bytes) {
  RETURN_IF_ERROR(TryTake(owner, bytes));
  return Reservation(this, std::string(owner), bytes);
}

MemoryBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)),
      owner_(std::move(other.owner_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    if (budget_ != nullptr) budget_->Give(bytes_);
    budget_ = std::exchange(other.budget_, nullptr);
    owner_ = std::move(other.owner_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

MemoryBudget::Reservation::~Reservation() {
  if (budget_ != nullptr) budget_->Give(bytes_);
}

Status MemoryBudget::Reservation::Grow(int64_t bytes) {
  if (budget_ == nullptr) return FailedPrecondition("growing an empty reservation");
  RETURN_IF_ERROR(budget_->TryTake(owner_, bytes));
  bytes_ += bytes;
  return Status::Ok();
}

void MemoryBudget::Reservation::Shrink(int64_t bytes) {
  WEIR_CHECK_MSG(bytes >= 0, "shrinking a reservation by {} bytes", bytes);
  if (budget_ == nullptr) return;
  bytes = std::min(bytes, bytes_);
  budget_->Give(bytes);
  bytes_ -= bytes;
}

}  // namespace weir::memory
