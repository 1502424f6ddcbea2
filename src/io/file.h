// ReadableFile and WritableFile: the files of weir's file sources and sinks.
//
// This is where file syscalls become Status, once, with the path and the operation in the
// message ("input file 'x' does not exist", "disk full while writing 'y'"). Callers above io never
// see an errno.
//
// ReadableFile is positional (pread) and stateless between calls, so several LineReaders (one per
// split) may read the same file from different threads at once.
//
// WritableFile makes output atomic: bytes go to a hidden temporary next to the target, and only
// Commit() (flush + fsync + rename + fsync of the directory) makes the target appear, complete. A
// job that fails calls Abort() (or just destroys the file), which removes the temporary, so
// partial output is never presented as complete. Append is a memcpy into a private buffer in the
// common case; the buffer goes to the kernel in one write() when it is full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/check.h"
#include "base/status.h"

namespace weir::io {

// The Status for a failed write of `path` with errno `err`: ENOSPC/EDQUOT become
// ResourceExhausted "disk full while writing '<path>'", anything else IoError (via ErrnoStatus)
// "writing '<path>': <strerror>". Shared by every writer of this module so a full disk reads the
// same everywhere.
Status WriteErrorStatus(int err, std::string_view path);

// A regular file opened for positional reads. Move-only owner of its descriptor. ReadAt may be
// called from several threads at once (pread has no shared offset).
class ReadableFile {
 public:
  // Opens `path` for reading. Errors: NotFound "input file 'x' does not exist"; IoError for
  // permission and other open failures (naming the path); InvalidArgument when the path is a
  // directory or not a regular file (a FIFO or device has no size to split).
  static Result<std::unique_ptr<ReadableFile>> Open(std::string path);

  ReadableFile(const ReadableFile&) = delete;
  ReadableFile& operator=(const ReadableFile&) = delete;
  ~ReadableFile();

  const std::string& path() const { return path_; }
  // The size when the file was opened; readers treat it as the end of the file.
  int64_t size() const { return size_; }
  int fd() const { return fd_; }

  // Reads up to out.size() bytes at `offset` into `out`, retrying on EINTR and short reads, and
  // returns how many bytes were read: fewer than out.size() only at the end of the file.
  // REQUIRES: offset >= 0.
  [[nodiscard]] Result<size_t> ReadAt(int64_t offset, std::span<std::byte> out) const;

 private:
  ReadableFile(std::string path, int fd, int64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_;
  int64_t size_;
};

// A file being written: buffered appends, then exactly one of Commit() or Abort(). Not
// thread-safe: one task writes it.
//
// Paths: a regular file (or a path that does not exist yet) is written through a temporary
// "<dir>/.<name>.inprogress-<random>" renamed onto the path at Commit. "-" and "/dev/stdout" write
// to standard output, and an existing path that is not a regular file (/dev/null, a FIFO, a
// terminal) is written directly; those are "direct" files: there is nothing to rename, Commit
// only flushes, and Abort cannot take back what was written.
//
// After a failed write every later call returns the same error (the file is then aborted by
// Commit, Abort or the destructor).
class WritableFile {
 public:
  static constexpr size_t kDefaultBufferBytes = size_t{1} << 20;

  // Creates the temporary (or opens the direct target). Errors name the path: NotFound when the
  // directory does not exist, InvalidArgument when the path is a directory, IoError otherwise.
  // REQUIRES: buffer_bytes > 0.
  static Result<std::unique_ptr<WritableFile>> Create(std::string path,
                                                      size_t buffer_bytes = kDefaultBufferBytes);

  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;
  // Aborts when neither Commit() nor Abort() was called.
  ~WritableFile();

  // Appends `data`. A memcpy while it fits in the buffer; a full buffer is written with one
  // write() (ENOSPC gives ResourceExhausted "disk full while writing '<path>'").
  // REQUIRES: neither Commit() nor Abort() was called.
  [[nodiscard]] Status Append(std::string_view data) {
    WEIR_DCHECK(fd_ >= 0);
    if (data.size() <= capacity_ - used_) [[likely]] {
      std::memcpy(buffer_.get() + used_, data.data(), data.size());
      used_ += data.size();
      appended_bytes_ += static_cast<int64_t>(data.size());
      return Status::Ok();
    }
    return AppendSlow(data);
  }

  // Hands the buffered bytes to the kernel (not durable; Commit makes them durable).
  [[nodiscard]] Status Flush();

  // Flushes, fsyncs, renames the temporary onto the final path and fsyncs the directory, so the
  // file survives a crash once this returns OK. On error the temporary is removed and the error
  // returned. REQUIRES: neither Commit() nor Abort() was called.
  [[nodiscard]] Status Commit();

  // Closes and removes the temporary: the final path is left as it was. A no-op (OK) after
  // Commit() or Abort(), so cleanup paths may call it unconditionally.
  [[nodiscard]] Status Abort();

  // The final path given to Create.
  const std::string& path() const { return path_; }
  // The temporary being written; equals path() for a direct file.
  const std::string& temporary_path() const { return temporary_path_; }
  bool is_direct() const { return direct_; }
  // Bytes passed to Append so far (buffered or written).
  int64_t appended_bytes() const { return appended_bytes_; }

 private:
  WritableFile(std::string path, std::string temporary_path, int fd, bool direct, bool owns_fd,
               size_t buffer_bytes);

  Status AppendSlow(std::string_view data);
  Status WriteAll(const char* data, size_t size);
  void CloseQuietly();

  std::string path_;
  std::string temporary_path_;
  int fd_;
  bool direct_;
  bool owns_fd_;
  bool finished_ = false;  // Commit or Abort was called
  Status error_;           // sticky: the first failed write
  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  size_t used_ = 0;
  int64_t appended_bytes_ = 0;
};

}  // namespace weir::io
