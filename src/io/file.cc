#include "io/file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace weir::io {
namespace {

// "<dir>/.<name>.inprogress-<16 hex digits>" beside `path`.
std::string TemporaryPathFor(const std::string& path) {
  uint64_t random = 0;
  if (::getrandom(&random, sizeof(random), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(random))) {
    random = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
             static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&random));
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return fmt::format("{}.{}.inprogress-{:016x}", dir, name, random);
}

// The directory holding `path`, for the fsync that makes a rename durable.
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int RetryClose(int fd) {
  // close() must not be retried on EINTR on Linux (the descriptor is already released).
  return ::close(fd);
}

}  // namespace

Status WriteErrorStatus(int err, std::string_view path) {
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted("disk full while writing '{}'", path);
  return ErrnoStatus(err, fmt::format("writing '{}'", path));
}

Result<std::unique_ptr<ReadableFile>> ReadableFile::Open(std::string path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("input file '{}' does not exist", path);
    return ErrnoStatus(err, fmt::format("cannot access input file '{}'", path));
  }
  if (S_ISDIR(info.st_mode)) return InvalidArgument("input '{}' is a directory, not a file", path);
  if (!S_ISREG(info.st_mode)) return InvalidArgument("input '{}' is not a regular file", path);
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("input file '{}' does not exist", path);
    return ErrnoStatus(err, fmt::format("cannot open input file '{}'", path));
  }
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    RetryClose(fd);
    return ErrnoStatus(err, fmt::format("cannot stat input file '{}'", path));
  }
  return std::unique_ptr<ReadableFile>(
      new ReadableFile(std::move(path), fd, static_cast<int64_t>(info.st_size)));
}

ReadableFile::~ReadableFile() { RetryClose(fd_); }

Result<size_t> ReadableFile::ReadAt(int64_t offset, std::span<std::byte> out) const {
  WEIR_CHECK(offset >= 0);
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("reading '{}' at offset {}", path_, offset + done));
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }
  return done;
}

WritableFile::WritableFile(std::string path, std::string temporary_path, int fd, bool direct,
                           bool owns_fd, size_t buffer_bytes)
    : path_(std::move(path)),
      temporary_path_(std::move(temporary_path)),
      fd_(fd),
      direct_(direct),
      owns_fd_(owns_fd),
      buffer_(new char[buffer_bytes]),
      capacity_(buffer_bytes) {}

Result<std::unique_ptr<WritableFile>> WritableFile::Create(std::string path, size_t buffer_bytes) {
  WEIR_CHECK(buffer_bytes > 0);
  if (path.empty()) return InvalidArgument("the output path is empty");
  if (path == "-" || path == "/dev/stdout") {
    return std::unique_ptr<WritableFile>(
        new WritableFile(path, path, STDOUT_FILENO, /*direct=*/true, /*owns_fd=*/false, buffer_bytes));
  }
  struct stat info;
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return InvalidArgument("output '{}' is a directory", path);
    if (!S_ISREG(info.st_mode)) {
      int fd;
      do {
        fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      } while (fd < 0 && errno == EINTR);
      if (fd < 0) return ErrnoStatus(errno, fmt::format("cannot open output '{}'", path));
      std::string temporary = path;
      return std::unique_ptr<WritableFile>(new WritableFile(
          std::move(path), std::move(temporary), fd, /*direct=*/true, /*owns_fd=*/true, buffer_bytes));
    }
  }
  // Retry on the (astronomically unlikely) collision of two random names.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string temporary = TemporaryPathFor(path);
    int fd;
    do {
      fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
      return std::unique_ptr<WritableFile>(new WritableFile(
          std::move(path), std::move(temporary), fd, /*direct=*/false, /*owns_fd=*/true, buffer_bytes));
    }
    const int err = errno;
    if (err == EEXIST) continue;
    if (err == ENOENT) {
      return NotFound("cannot create output file '{}': directory '{}' does not exist", path,
                      DirectoryOf(path));
    }
    return ErrnoStatus(err, fmt::format("cannot create output file '{}'", path));
  }
  return IoError("cannot create a temporary file for output '{}'", path);
}

WritableFile::~WritableFile() {
  if (!finished_) (void)Abort();
}

Status WritableFile::WriteAll(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = WriteErrorStatus(errno, path_);
      return error_;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WritableFile::AppendSlow(std::string_view data) {
  WEIR_CHECK_MSG(!finished_, "Append to '{}' after Commit or Abort", path_);
  if (!error_.ok()) return error_;
  appended_bytes_ += static_cast<int64_t>(data.size());
  // Fill the buffer and write it whole, so every write() but the last is buffer-sized.
  const size_t head = capacity_ - used_;
  std::memcpy(buffer_.get() + used_, data.data(), head);
  used_ = capacity_;
  data.remove_prefix(head);
  RETURN_IF_ERROR(Flush());
  if (data.size() >= capacity_) {
    // Larger than a whole buffer: copying it would only add a memcpy to the same write().
    return WriteAll(data.data(), data.size());
  }
  std::memcpy(buffer_.get(), data.data(), data.size());
  used_ = data.size();
  return Status::Ok();
}

Status WritableFile::Flush() {
  if (!error_.ok()) return error_;
  if (used_ == 0) return Status::Ok();
  const size_t size = used_;
  used_ = 0;
  return WriteAll(buffer_.get(), size);
}

void WritableFile::CloseQuietly() {
  if (fd_ >= 0 && owns_fd_) RetryClose(fd_);
  fd_ = -1;
}

Status WritableFile::Commit() {
  WEIR_CHECK_MSG(!finished_, "Commit of '{}' after Commit or Abort", path_);
  Status status = Flush();
  if (direct_) {
    finished_ = true;
    CloseQuietly();
    return status;
  }
  if (status.ok() && ::fsync(fd_) != 0) {
    status = WriteErrorStatus(errno, path_).WithContext("fsync");
  }
  if (status.ok()) {
    const int rc = RetryClose(fd_);
    fd_ = -1;
    if (rc != 0 && errno != EINTR) status = WriteErrorStatus(errno, path_).WithContext("close");
  }
  if (status.ok() && ::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    status = ErrnoStatus(errno, fmt::format("renaming '{}' to '{}'", temporary_path_, path_));
  }
  if (!status.ok()) {
    (void)Abort();
    return status;
  }
  finished_ = true;
  const std::string directory = DirectoryOf(path_);
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoStatus(errno, fmt::format("opening directory '{}' to sync it", directory));
  Status dir_status;
  if (::fsync(dir_fd) != 0) dir_status = ErrnoStatus(errno, fmt::format("fsync of directory '{}'", directory));
  RetryClose(dir_fd);
  return dir_status;
}

Status WritableFile::Abort() {
  if (finished_) return Status::Ok();
  finished_ = true;
  used_ = 0;
  CloseQuietly();
  if (direct_) return Status::Ok();
  if (::unlink(temporary_path_.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, fmt::format("removing temporary output '{}'", temporary_path_));
  }
  return Status::Ok();
}

}  // namespace weir::io
