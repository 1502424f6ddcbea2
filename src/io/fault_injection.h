// FaultInjector: process-wide injected I/O failures, so tests can prove that a full disk, a failing
// write or a failing fsync ends in a clear Status (never a crash, never a half-visible checkpoint).
//
// The io layer's writers consult it before each write, fsync and rename they issue (the checkpoint
// storage: data-file writes through io_uring or pwrite, the _metadata write, its fsyncs and its
// rename). A consulted hook returns 0 (go ahead) or the errno the operation must fail with; the
// caller then reports that errno exactly as if the kernel had returned it, naming the file and the
// operation. Disarmed, a hook costs one relaxed atomic load.
//
// Faults (counted process-wide from the moment they are armed, across every file):
//   enospc-after=N  writes succeed until N bytes have been written; a write that would go past N
//                   fails with ENOSPC (as does every later write), nothing of it written.
//   eio-write=K     the K-th write (1-based) fails with EIO; later writes succeed.
//   eio-fsync=K     the K-th fsync (of a file or a directory) fails with EIO.
//   eio-rename=K    the K-th rename fails with EIO.
// A spec is a comma-separated list of these, e.g. "enospc-after=1048576" or
// "eio-write=3,eio-fsync=1".
//
// Arming: programmatically (Arm / Disarm, for tests in the same process), or from the environment
// variable WEIR_IO_FAULT holding a spec, read once on the first consulted hook, so a test can
// inject into a child `weir` process. A malformed WEIR_IO_FAULT is reported on stderr once and
// ignored.
//
// Thread-safe: hooks may be called from any thread; counters are atomics. Arm/Disarm while I/O is
// in flight on other threads is allowed but which operations see the fault is then unspecified.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace weir::io {

class FaultInjector {
 public:
  struct Faults {
    int64_t enospc_after_bytes = -1;  // < 0: off
    int64_t eio_write = 0;            // 0: off; else the 1-based write that fails
    int64_t eio_fsync = 0;
    int64_t eio_rename = 0;
  };

  // Parses a spec (see above). An empty spec is no fault. Errors: InvalidArgument naming the
  // offending item.
  static Result<Faults> Parse(std::string_view spec);
  // Arms `faults`, resetting the byte and operation counters. Overrides WEIR_IO_FAULT.
  static void Arm(const Faults& faults);
  static Status Arm(std::string_view spec);
  // Disarms every fault (the environment is not read again).
  static void Disarm();

  // Hooks: 0 to go ahead, else the errno the operation must fail with.
  static int OnWrite(size_t bytes) {
    if (state_.load(std::memory_order_relaxed) == kDisarmed) [[likely]]
      return 0;
    return OnWriteSlow(bytes);
  }
  static int OnFsync() {
    if (state_.load(std::memory_order_relaxed) == kDisarmed) [[likely]]
      return 0;
    return OnFsyncSlow();
  }
  static int OnRename() {
    if (state_.load(std::memory_order_relaxed) == kDisarmed) [[likely]]
      return 0;
    return OnRenameSlow();
  }

 private:
  // kUnread: WEIR_IO_FAULT not looked at yet (the slow path reads it once).
  enum : int { kUnread = 0, kDisarmed = 1, kArmed = 2 };

  static int OnWriteSlow(size_t bytes);
  static int OnFsyncSlow();
  static int OnRenameSlow();
  // Reads WEIR_IO_FAULT when it has not been read; returns whether faults are armed.
  static bool EnsureInitialized();
  // REQUIRES: the arming mutex is held.
  static void ArmLocked(const Faults& faults);

  static std::atomic<int> state_;
};

}  // namespace weir::io
