// Ring: an io_uring (liburing) submission/completion queue pair for batched file I/O.
//
// Operations are prepared into the submission queue with a caller-chosen 64-bit user_data,
// submitted in batches (one io_uring_enter for many writes), and reaped as Completions carrying
// that user_data and the kernel's result (bytes transferred, or -errno). A Completion's negative
// result becomes a Status here, with the caller's context, never above io.
//
// If io_uring cannot be set up (a kernel without it, seccomp, kernel.io_uring_disabled), Create
// returns Unimplemented saying so, and callers fall back to pwrite.
//
// Not thread-safe: one thread (one worker's task) owns a ring. Buffers handed to a prepared
// operation must stay valid and unmodified (writes) or untouched (reads) until its completion is
// popped: the kernel accesses them asynchronously.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct io_uring;  // liburing's ring and submission entry; kept out of this header
struct io_uring_sqe;

namespace weir::io {

// One finished operation.
struct Completion {
  uint64_t user_data = 0;  // as given when the operation was prepared
  int32_t result = 0;      // bytes transferred (read/write), 0 (fsync), or -errno

  bool ok() const { return result >= 0; }
  // OK for a non-negative result, else ErrnoStatus(-result, what) ("what: strerror").
  Status ToStatus(std::string_view what) const;
};

class Ring {
 public:
  // Sets up a ring with `entries` submission slots (rounded up to a power of two by the kernel)
  // and twice as many completion slots. Errors: InvalidArgument for entries == 0 or above the
  // kernel's limit (32768); Unimplemented when io_uring is unavailable or disabled;
  // ResourceExhausted when the kernel cannot allocate the ring (locked-memory limit).
  static Result<std::unique_ptr<Ring>> Create(uint32_t entries);

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  // Tears the ring down. REQUIRES: no operation is in flight (pop every completion first), since
  // their buffers may be released right after.
  ~Ring();

  // The submission queue size.
  uint32_t entries() const { return entries_; }
  // Operations prepared and not yet popped as completions.
  uint32_t in_flight() const { return in_flight_; }

  // Queue one operation. When the submission queue is full, what is queued is submitted first
  // (one syscall) to make room, so a Prepare may fail with that submission's error.
  // REQUIRES: in_flight() < 2 * entries() (the completion queue must never overflow), offsets >= 0.
  [[nodiscard]] Status PrepareWrite(int fd, std::span<const std::byte> data, int64_t offset,
                                    uint64_t user_data);
  [[nodiscard]] Status PrepareRead(int fd, std::span<std::byte> out, int64_t offset, uint64_t user_data);
  // Writes from registered buffer `buffer_index`; `data` must lie inside that buffer. The kernel
  // skips pinning the pages for each write.
  [[nodiscard]] Status PrepareWriteFixed(int fd, std::span<const std::byte> data, int64_t offset,
                                         int buffer_index, uint64_t user_data);
  // fsync (or fdatasync with data_only) of `fd`. It is not ordered after earlier operations on
  // the ring: prepare it only once the writes it must cover have completed.
  [[nodiscard]] Status PrepareFsync(int fd, bool data_only, uint64_t user_data);

  // Submits every queued operation without waiting.
  [[nodiscard]] Status Submit();
  // Submits every queued operation and waits until at least `min_complete` completions are ready
  // to pop. REQUIRES: min_complete <= in_flight().
  [[nodiscard]] Status SubmitAndWait(uint32_t min_complete);
  // Moves ready completions into `out` (at most out.size()) and returns how many; never blocks.
  size_t PopCompletions(std::span<Completion> out);

  // Registers `buffers` with the kernel for PrepareWriteFixed (pages pinned once; counted against
  // RLIMIT_MEMLOCK). At most one set at a time. Errors: ResourceExhausted when over the locked-
  // memory limit, IoError otherwise. REQUIRES: no buffers registered, in_flight() == 0.
  [[nodiscard]] Status RegisterBuffers(std::span<const iovec> buffers);
  // REQUIRES: in_flight() == 0.
  [[nodiscard]] Status UnregisterBuffers();
  bool has_registered_buffers() const { return registered_buffers_; }

 private:
  Ring(std::unique_ptr<io_uring> ring, uint32_t entries);
  // A free submission slot, submitting queued operations first when the queue is full.
  Result<::io_uring_sqe*> NextSqe();

  std::unique_ptr<io_uring> ring_;
  uint32_t entries_;
  uint32_t in_flight_ = 0;
  bool registered_buffers_ = false;
};

// AsyncFileWriter: sequential appends to one file through io_uring, keeping up to
// `max_in_flight` chunk writes in flight while the caller keeps producing.
//
// Appends are copied into the current chunk (a 4 KiB-aligned buffer of chunk_bytes); a full chunk
// is written at the next file offset and the caller continues in a free chunk, waiting for a
// completion only when all chunks are in flight. Without Flush() in between, every write is one
// whole chunk at a chunk-aligned offset (relative to the start offset); Flush() writes a partial
// chunk, after which later chunks follow it directly. Short writes are resubmitted for the rest.
//
// The writer owns its ring (sized to its in-flight limit, so completions never overflow) and its
// chunk buffers, registered with the ring when the locked-memory limit allows (plain writes
// otherwise). Errors name the path: ENOSPC is ResourceExhausted "disk full while writing 'x'".
// After an error every call returns it. Not thread-safe: one task writes.
//
// This is the layer checkpoint and spill writers build on.
class AsyncFileWriter {
 public:
  struct Options {
    size_t chunk_bytes = size_t{1} << 20;  // REQUIRES: a positive multiple of 4096
    uint32_t max_in_flight = 4;            // REQUIRES: in [1, 1024]
    bool register_buffers = true;          // try fixed buffers (falls back to plain writes)
  };

  // Creates (or truncates) `path` and writes it from offset 0.
  static Result<std::unique_ptr<AsyncFileWriter>> Create(std::string path, Options options);
  static Result<std::unique_ptr<AsyncFileWriter>> Create(std::string path) { return Create(std::move(path), Options()); }
  // Writes to an already open descriptor (a regular file or a device), taking ownership of it,
  // from `offset`. `path` is used in messages. Tests inject failures this way (a /dev/full
  // descriptor fails with ENOSPC, a read-only one with EBADF).
  static Result<std::unique_ptr<AsyncFileWriter>> ForDescriptor(int fd, std::string path, int64_t offset,
                                                                Options options);

  AsyncFileWriter(const AsyncFileWriter&) = delete;
  AsyncFileWriter& operator=(const AsyncFileWriter&) = delete;
  // Waits for the writes in flight (the kernel reads the chunk buffers until they complete), then
  // closes the descriptor. Does not flush the current chunk or sync: call Sync() to keep the data.
  ~AsyncFileWriter();

  // Copies `data` into chunks, submitting each full one. Blocks only when every chunk is in flight.
  [[nodiscard]] Status Append(std::span<const std::byte> data);
  [[nodiscard]] Status Append(std::string_view data) {
    return Append(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size()));
  }
  // Writes the partial chunk and waits until every appended byte has been written (not durable).
  [[nodiscard]] Status Flush();
  // Flush(), then fsync through the ring: the appended bytes are durable when this returns OK.
  [[nodiscard]] Status Sync();

  const std::string& path() const { return path_; }
  int64_t appended_bytes() const { return appended_bytes_; }
  // Bytes whose writes have completed.
  int64_t written_bytes() const { return written_bytes_; }
  bool uses_registered_buffers() const { return ring_->has_registered_buffers(); }

 private:
  struct Chunk {
    std::byte* data;
    size_t length = 0;  // bytes to write
    size_t done = 0;    // bytes written so far
    int64_t offset = 0;
  };
  struct FreeDeleter {
    void operator()(std::byte* memory) const;
  };

  AsyncFileWriter(int fd, std::string path, int64_t offset, Options options, std::unique_ptr<Ring> ring,
                  std::unique_ptr<std::byte, FreeDeleter> memory);
  Status PrepareChunkWrite(uint32_t index);
  // Submits the current chunk and moves to a free one (waiting for a completion if none is free).
  Status SubmitCurrent();
  // Submits queued writes, waits for `min_complete` completions and processes what is ready.
  Status Reap(uint32_t min_complete);
  Status Fail(Status status);

  int fd_;
  std::string path_;
  Options options_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<std::byte, FreeDeleter> memory_;
  std::vector<Chunk> chunks_;
  std::vector<uint32_t> free_chunks_;
  uint32_t current_ = 0;  // the chunk being filled
  size_t fill_ = 0;       // bytes in the current chunk
  int64_t next_offset_;   // where the next submitted chunk goes
  int64_t appended_bytes_ = 0;
  int64_t written_bytes_ = 0;
  int32_t sync_result_ = 0;
  bool sync_pending_ = false;
  Status error_;  // sticky
};

}  // namespace weir::io
