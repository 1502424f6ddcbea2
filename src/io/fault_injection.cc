#include "io/fault_injection.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace weir::io {
namespace {

// The armed faults and their counters. Plain atomics (not a struct behind a lock) so hooks on
// several threads never block each other.
std::atomic<int64_t> enospc_after_bytes{-1};
std::atomic<int64_t> eio_write{0};
std::atomic<int64_t> eio_fsync{0};
std::atomic<int64_t> eio_rename{0};
std::atomic<int64_t> bytes_written{0};
std::atomic<bool> disk_full{false};
std::atomic<int64_t> writes{0};
std::atomic<int64_t> fsyncs{0};
std::atomic<int64_t> renames{0};

std::mutex arm_mutex;
bool environment_read = false;  // guarded by arm_mutex; Arm and the first hook set it

bool AnyFault(const FaultInjector::Faults& faults) {
  return faults.enospc_after_bytes >= 0 || faults.eio_write > 0 || faults.eio_fsync > 0 ||
         faults.eio_rename > 0;
}

}  // namespace

std::atomic<int> FaultInjector::state_{FaultInjector::kUnread};

Result<FaultInjector::Faults> FaultInjector::Parse(std::string_view spec) {
  Faults faults;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      return InvalidArgument(
          "I/O fault '{}': expected <fault>=<number> (enospc-after, eio-write, eio-fsync, "
          "eio-rename)",
          item);
    }
    const std::string_view name = item.substr(0, equals);
    const std::string_view number = item.substr(equals + 1);
    int64_t value = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (error != std::errc() || end != number.data() + number.size() || value < 0) {
      return InvalidArgument("I/O fault '{}': '{}' is not a non-negative integer", item, number);
    }
    if (name == "enospc-after") {
      faults.enospc_after_bytes = value;
    } else if (value == 0) {
      return InvalidArgument("I/O fault '{}': operations are counted from 1", item);
    } else if (name == "eio-write") {
      faults.eio_write = value;
    } else if (name == "eio-fsync") {
      faults.eio_fsync = value;
    } else if (name == "eio-rename") {
      faults.eio_rename = value;
    } else {
      return InvalidArgument(
          "unknown I/O fault '{}' (expected enospc-after, eio-write, eio-fsync, eio-rename)", name);
    }
  }
  return faults;
}

void FaultInjector::Arm(const Faults& faults) {
  std::lock_guard<std::mutex> lock(arm_mutex);
  ArmLocked(faults);
}

void FaultInjector::ArmLocked(const Faults& faults) {
  environment_read = true;
  state_.store(kDisarmed, std::memory_order_relaxed);
  enospc_after_bytes.store(faults.enospc_after_bytes, std::memory_order_relaxed);
  eio_write.store(faults.eio_write, std::memory_order_relaxed);
  eio_fsync.store(faults.eio_fsync, std::memory_order_relaxed);
  eio_rename.store(faults.eio_rename, std::memory_order_relaxed);
  bytes_written.store(0, std::memory_order_relaxed);
  disk_full.store(false, std::memory_order_relaxed);
  writes.store(0, std::memory_order_relaxed);
  fsyncs.store(0, std::memory_order_relaxed);
  renames.store(0, std::memory_order_relaxed);
  // Release: a hook that sees kArmed sees the faults above.
  state_.store(AnyFault(faults) ? kArmed : kDisarmed, std::memory_order_release);
}

Status FaultInjector::Arm(std::string_view spec) {
  ASSIGN_OR_RETURN(const Faults faults, Parse(spec));
  Arm(faults);
  return Status::Ok();
}

void FaultInjector::Disarm() { Arm(Faults()); }

bool FaultInjector::EnsureInitialized() {
  const int state = state_.load(std::memory_order_acquire);
  if (state != kUnread) return state == kArmed;
  std::lock_guard<std::mutex> lock(arm_mutex);
  // Another thread may have read the environment (or armed) while this one waited.
  if (environment_read) return state_.load(std::memory_order_acquire) == kArmed;
  Faults faults;
  const char* spec = std::getenv("WEIR_IO_FAULT");
  if (spec != nullptr) {
    Result<Faults> parsed = Parse(spec);
    if (parsed.ok()) {
      faults = *parsed;
    } else {
      std::fprintf(stderr, "weir: ignoring WEIR_IO_FAULT: %s\n",
                   std::string(parsed.status().message()).c_str());
    }
  }
  ArmLocked(faults);
  return AnyFault(faults);
}

int FaultInjector::OnWriteSlow(size_t bytes) {
  if (!EnsureInitialized()) return 0;
  const int64_t count = writes.fetch_add(1, std::memory_order_relaxed) + 1;
  if (count == eio_write.load(std::memory_order_relaxed)) return EIO;
  const int64_t limit = enospc_after_bytes.load(std::memory_order_relaxed);
  if (limit < 0) return 0;
  if (disk_full.load(std::memory_order_relaxed)) return ENOSPC;
  int64_t written = bytes_written.load(std::memory_order_relaxed);
  while (true) {
    if (written + static_cast<int64_t>(bytes) > limit) {
      disk_full.store(true, std::memory_order_relaxed);
      return ENOSPC;
    }
    if (bytes_written.compare_exchange_weak(written, written + static_cast<int64_t>(bytes),
                                            std::memory_order_relaxed)) {
      return 0;
    }
  }
}

int FaultInjector::OnFsyncSlow() {
  if (!EnsureInitialized()) return 0;
  const int64_t count = fsyncs.fetch_add(1, std::memory_order_relaxed) + 1;
  return count == eio_fsync.load(std::memory_order_relaxed) ? EIO : 0;
}

int FaultInjector::OnRenameSlow() {
  if (!EnsureInitialized()) return 0;
  const int64_t count = renames.fetch_add(1, std::memory_order_relaxed) + 1;
  return count == eio_rename.load(std::memory_order_relaxed) ? EIO : 0;
}

}  // namespace weir::io
