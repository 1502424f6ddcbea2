#include "memory/memory_budget.h"

#include <utility>

namespace weir::memory {
namespace {
std::string Mebibytes(int64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }
}  // namespace

MemoryBudget::MemoryBudget(int64_t total_bytes, std::string config_key)
    : total_(total_bytes), config_key_(std::move(config_key)) {}

Status MemoryBudget::TryTake(std::string_view owner, int64_t bytes) {
  int64_t used = used_.load(std::memory_order_relaxed);
  while (true) {
    if (bytes > total_ - used) {
      return ResourceExhausted("'{}' needs {} more managed memory but only {} of {} is free; raise {}",
                               owner, Mebibytes(bytes), Mebibytes(total_ - used), Mebibytes(total_),
                               config_key_);
    }
    if (used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) return Status::Ok();
  }
}

void MemoryBudget::Give(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

Result<MemoryBudget::Reservation> MemoryBudget::Reserve(std::string_view owner, int64_t bytes) {
  if (bytes < 0) return InvalidArgument("negative reservation of {} bytes by '{}'", bytes, owner);
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
  if (budget_ == nullptr) return;
  bytes = std::min(bytes, bytes_);
  budget_->Give(bytes);
  bytes_ -= bytes;
}

}  // namespace weir::memory
