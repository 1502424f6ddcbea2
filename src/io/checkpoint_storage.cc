#include "io/checkpoint_storage.h"

// xxHash's AVX-512 long-input path, inlined here, trips GCC 12's -Wuninitialized on intrinsics that
// initialize their own operands (as base/xxhash.h notes for -Wmaybe-uninitialized).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/xxhash.h"
#include "io/fault_injection.h"
#include "io/file.h"
#include "io/ring.h"

namespace weir::io {

static_assert(std::endian::native == std::endian::little, "trailers are written in host order");

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMetadataName = "_metadata";
constexpr std::string_view kMetadataTempName = "_metadata.tmp";
constexpr std::string_view kCheckpointPrefix = "chk-";
constexpr char kDataMagic[8] = {'W', 'E', 'I', 'R', 'D', 'A', 'T', '1'};
constexpr char kMetadataMagic[8] = {'W', 'E', 'I', 'R', 'M', 'E', 'T', '1'};
// O_DIRECT needs buffers, offsets and lengths aligned to the logical block size (at most 4 KiB).
constexpr size_t kDirectAlignment = 4096;
// Readers' pread size.
constexpr size_t kReadBytes = size_t{8} << 20;
// user_data of the data file's fsync; writes use their index.
constexpr uint64_t kFsyncUserData = ~uint64_t{0};

using Trailer = std::array<std::byte, kCheckpointTrailerBytes>;

Trailer MakeTrailer(const char (&magic)[8], uint64_t size, uint64_t xxh3) {
  Trailer trailer;
  std::memcpy(trailer.data(), magic, 8);
  std::memcpy(trailer.data() + 8, &size, 8);
  std::memcpy(trailer.data() + 16, &xxh3, 8);
  return trailer;
}

struct ParsedTrailer {
  bool magic_ok = false;
  uint64_t size = 0;
  uint64_t xxh3 = 0;
};

ParsedTrailer ParseTrailer(const char (&magic)[8], const std::byte* bytes) {
  ParsedTrailer trailer;
  trailer.magic_ok = std::memcmp(bytes, magic, 8) == 0;
  std::memcpy(&trailer.size, bytes + 8, 8);
  std::memcpy(&trailer.xxh3, bytes + 16, 8);
  return trailer;
}

// A single, non-special path component.
bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// "chk-<id>" with a canonical decimal id, else -1.
int64_t ParseCheckpointDirName(std::string_view name) {
  if (!name.starts_with(kCheckpointPrefix)) return -1;
  const std::string_view digits = name.substr(kCheckpointPrefix.size());
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return -1;
  int64_t id = -1;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (error != std::errc() || end != digits.data() + digits.size() || id < 0) return -1;
  return id;
}

int OpenRetrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Closes `fd` when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_;
};

Status FsyncStatus(int err, const std::string& path) {
  if (err == ENOSPC || err == EDQUOT) return WriteErrorStatus(err, path).WithContext("fsync");
  return ErrnoStatus(err, fmt::format("fsync of '{}'", path));
}

// fsync of an open descriptor, consulting the fault injector.
Status FsyncDescriptor(int fd, const std::string& path) {
  if (const int injected = FaultInjector::OnFsync()) return FsyncStatus(injected, path);
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return FsyncStatus(errno, path);
  }
  return Status::Ok();
}

// fsync of a directory, so the names created, renamed or removed in it are durable.
Status FsyncDirectory(const std::string& dir) {
  const int fd = OpenRetrying(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("cannot open directory '{}' to fsync it", dir));
  FdCloser closer(fd);
  return FsyncDescriptor(fd, dir);
}

// Writes all of `data` at `offset` with pwrite, consulting the fault injector before each call.
Status PwriteAll(int fd, const std::string& path, const std::byte* data, size_t size,
                 int64_t offset) {
  while (size > 0) {
    if (const int injected = FaultInjector::OnWrite(size)) return WriteErrorStatus(injected, path);
    const ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return WriteErrorStatus(errno, path);
    }
    if (n == 0) return IoError("writing '{}' at offset {}: the kernel wrote 0 bytes", path, offset);
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return Status::Ok();
}

// Reads exactly out.size() bytes at `offset`; DataLoss if the file ends first.
Status PreadAll(int fd, const std::string& path, std::span<std::byte> out, int64_t offset) {
  while (!out.empty()) {
    const ssize_t n = ::pread(fd, out.data(), std::min(out.size(), kReadBytes), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("reading checkpoint file '{}'", path));
    }
    if (n == 0) {
      return DataLoss(
          "checkpoint file '{}' ends at offset {}, before the {} bytes to read there (truncated)",
          path, offset, out.size());
    }
    out = out.subspan(static_cast<size_t>(n));
    offset += n;
  }
  return Status::Ok();
}

// Opens a checkpoint file for reading; NotFound naming it when it is missing.
Result<int> OpenForReading(const std::string& path, std::string_view what) {
  const int fd = OpenRetrying(path, O_RDONLY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("{} '{}' is missing", what, path);
    return ErrnoStatus(err, fmt::format("cannot open {} '{}'", what, path));
  }
  return fd;
}

Result<int64_t> FileSize(int fd, const std::string& path) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return ErrnoStatus(errno, fmt::format("cannot stat '{}'", path));
  if (!S_ISREG(info.st_mode)) return DataLoss("checkpoint file '{}' is not a regular file", path);
  return static_cast<int64_t>(info.st_size);
}

// Removes the regular files of `dir` and then `dir`. Fails naming a subdirectory it will not
// descend into (nothing weir writes).
Status RemoveCheckpointDirectory(const std::string& dir) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) {
    if (error == std::errc::no_such_file_or_directory) return Status::Ok();
    return IoError("cannot list '{}': {}", dir, error.message());
  }
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) return IoError("cannot list '{}': {}", dir, error.message());
    const fs::path& file = it->path();
    if (it->is_directory(error))
      return IoError("'{}' is a directory inside a checkpoint; not removing it", file.string());
    if (!fs::remove(file, error) && error)
      return IoError("cannot remove '{}': {}", file.string(), error.message());
  }
  if (error) return IoError("cannot list '{}': {}", dir, error.message());
  if (!fs::remove(dir, error) && error)
    return IoError("cannot remove '{}': {}", dir, error.message());
  return Status::Ok();
}

bool HasMetadata(const std::string& dir) {
  struct stat info;
  return ::stat(fmt::format("{}/{}", dir, kMetadataName).c_str(), &info) == 0 &&
         S_ISREG(info.st_mode);
}

}  // namespace

struct CheckpointStorage::HashState {
  XXH3_state_t state;
};

Result<std::unique_ptr<CheckpointStorage>> CheckpointStorage::Open(Options options) {
  if (options.root.empty())
    return InvalidArgument("the checkpoint directory (state.checkpoints.dir) is empty");
  if (!IsPlainName(options.job_id)) {
    return InvalidArgument(
        "job id '{}' cannot name a checkpoint directory (empty, '.', '..' or containing '/')",
        options.job_id);
  }
  std::string job_dir = fmt::format("{}/{}", options.root, options.job_id);
  std::error_code error;
  fs::create_directories(job_dir, error);
  if (error)
    return IoError("cannot create checkpoint directory '{}': {}", job_dir, error.message());
  if (!fs::is_directory(job_dir, error)) {
    return InvalidArgument("checkpoint directory '{}' exists but is not a directory", job_dir);
  }
  std::unique_ptr<Ring> ring;
  if (options.use_io_uring) {
    Result<std::unique_ptr<Ring>> created =
        Ring::Create(std::max(options.ring_entries, kStagingBuffers));
    if (created.ok()) {
      ring = std::move(created).value();
    } else if (created.status().code() == StatusCode::kUnimplemented) {
      static std::once_flag warned;
      std::call_once(warned, [&] {
        std::fprintf(stderr, "weir: checkpoints are written with pwrite: %s\n",
                     std::string(created.status().message()).c_str());
      });
    } else {
      return created.status().WithContext(fmt::format("checkpoint writer for '{}'", job_dir));
    }
  }
  return std::unique_ptr<CheckpointStorage>(
      new CheckpointStorage(std::move(job_dir), std::move(ring), options.direct_io));
}

CheckpointStorage::CheckpointStorage(std::string job_dir, std::unique_ptr<Ring> ring,
                                     bool direct_io)
    : job_dir_(std::move(job_dir)), ring_(std::move(ring)), direct_io_(direct_io) {}

CheckpointStorage::~CheckpointStorage() = default;

std::string CheckpointStorage::CheckpointDir(int64_t id) const {
  return fmt::format("{}/{}{}", job_dir_, kCheckpointPrefix, id);
}

Status CheckpointStorage::BeginCheckpoint(int64_t id) {
  WEIR_CHECK(id >= 0);
  return BeginDirectory(CheckpointDir(id));
}

Status CheckpointStorage::BeginDirectory(const std::string& dir) {
  std::error_code error;
  if (fs::exists(dir, error)) {
    if (HasMetadata(dir))
      return FailedPrecondition("checkpoint '{}' is already complete (has a _metadata)", dir);
    // A stale attempt (crashed or aborted without cleanup): start over.
    RETURN_IF_ERROR(RemoveCheckpointDirectory(dir));
  }
  fs::create_directories(dir, error);
  if (error) return IoError("cannot create checkpoint directory '{}': {}", dir, error.message());
  return Status::Ok();
}

Result<CheckpointFile> CheckpointStorage::WriteDataFile(
    int64_t id, std::string_view file_name, std::span<const std::span<const std::byte>> chunks,
    std::vector<WrittenChunk>* chunk_info, const std::function<void(size_t)>& on_staged) {
  ASSIGN_OR_RETURN(CheckpointFile file,
                   WriteDataFileIn(CheckpointDir(id), file_name, chunks, chunk_info, on_staged));
  file.name = fmt::format("{}{}/{}", kCheckpointPrefix, id, file_name);
  return file;
}

Result<CheckpointFile> CheckpointStorage::WriteDataFileIn(
    const std::string& dir, std::string_view file_name,
    std::span<const std::span<const std::byte>> chunks, std::vector<WrittenChunk>* chunk_info,
    const std::function<void(size_t)>& on_staged) {
  if (!IsPlainName(file_name) || file_name == kMetadataName || file_name == kMetadataTempName) {
    return InvalidArgument("'{}' cannot name a checkpoint data file in '{}'", file_name, dir);
  }
  RETURN_IF_ERROR(EnsureStaging());
  const std::string path = fmt::format("{}/{}", dir, file_name);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_TRUNC;
  bool direct = direct_io_;
  int fd = OpenRetrying(path, kFlags | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0 && direct && errno == EINVAL) {
    // tmpfs and some network file systems refuse O_DIRECT: write through the page cache.
    direct_io_ = direct = false;
    fd = OpenRetrying(path, kFlags, 0644);
  }
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return NotFound("cannot create checkpoint file '{}': its directory does not exist", path);
    return ErrnoStatus(err, fmt::format("cannot create checkpoint file '{}'", path));
  }
  CheckpointFile file;
  file.name = std::string(file_name);
  for (const std::span<const std::byte>& chunk : chunks)
    file.size += static_cast<int64_t>(chunk.size());
  Status status = WriteChunks(fd, path, direct, chunks, chunk_info, &file.xxh3, on_staged);
  if (status.ok()) status = SyncFile(fd, path);
  if (::close(fd) != 0 && status.ok() && errno != EINTR) status = WriteErrorStatus(errno, path);
  if (!status.ok()) {
    // A failed file is never part of a checkpoint; free its space now (a full disk).
    ::unlink(path.c_str());
    return status;
  }
  return file;
}

void CheckpointStorage::StagingFree::operator()(std::byte* memory) const { std::free(memory); }

Status CheckpointStorage::EnsureStaging() {
  if (staging_ != nullptr) return Status::Ok();
  staging_.reset(
      static_cast<std::byte*>(std::aligned_alloc(kDirectAlignment, kStagingBuffers * kWriteBytes)));
  if (staging_ == nullptr) {
    return ResourceExhausted("cannot allocate {} checkpoint write buffers of {} bytes",
                             kStagingBuffers, kWriteBytes);
  }
  if (ring_ != nullptr) {
    std::array<iovec, kStagingBuffers> buffers;
    for (uint32_t i = 0; i < kStagingBuffers; ++i)
      buffers[i] = iovec{staging_.get() + i * kWriteBytes, kWriteBytes};
    // Failing (the locked-memory limit) only costs pinning the pages of each write.
    staging_registered_ = ring_->RegisterBuffers(buffers).ok();
  }
  return Status::Ok();
}

Status CheckpointStorage::WriteChunks(int fd, const std::string& path, bool direct,
                                      std::span<const std::span<const std::byte>> chunks,
                                      std::vector<WrittenChunk>* chunk_info, uint64_t* file_xxh3,
                                      const std::function<void(size_t)>& on_staged) {
  free_buffers_.clear();
  for (uint32_t i = kStagingBuffers; i-- > 1;) free_buffers_.push_back(i);
  current_ = 0;
  fill_ = 0;
  next_offset_ = 0;
  write_error_ = Status::Ok();
  StartHash();
  if (chunk_info != nullptr) {
    chunk_info->clear();
    chunk_info->reserve(chunks.size());
  }
  // Hash each chunk just before copying it (it is then in cache for the copy); the writes of
  // earlier buffers proceed meanwhile.
  for (size_t i = 0; i < chunks.size(); ++i) {
    const std::span<const std::byte> chunk = chunks[i];
    if (chunk_info != nullptr)
      chunk_info->push_back(WrittenChunk{hash_offset_, Hash64(chunk.data(), chunk.size())});
    XXH3_64bits_update(&hash_->state, chunk.data(), chunk.size());
    hash_offset_ += static_cast<int64_t>(chunk.size());
    const Status staged = Stage(fd, path, chunk);
    if (!staged.ok()) return Drain(fd, path, staged);
    if (on_staged) on_staged(i);
  }
  *file_xxh3 = FinishHash();
  const auto trailer = MakeTrailer(kDataMagic, static_cast<uint64_t>(hash_offset_), *file_xxh3);
  Status status = Stage(fd, path, trailer);
  if (status.ok() && fill_ > 0) {
    // O_DIRECT writes whole blocks: pad the last one with zeros and cut the file back below.
    size_t length = fill_;
    if (direct) {
      length = (fill_ + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
      std::memset(staging_.get() + current_ * kWriteBytes + fill_, 0, length - fill_);
    }
    status = WriteStaged(fd, path, length);
  }
  RETURN_IF_ERROR(Drain(fd, path, std::move(status)));
  const int64_t file_size = hash_offset_ + kCheckpointTrailerBytes;
  if (direct && next_offset_ != file_size) {
    while (::ftruncate(fd, file_size) != 0) {
      if (errno != EINTR)
        return ErrnoStatus(errno, fmt::format("truncating '{}' to {} bytes", path, file_size));
    }
  }
  return Status::Ok();
}

Status CheckpointStorage::Stage(int fd, const std::string& path, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const size_t take = std::min(bytes.size(), kWriteBytes - fill_);
    std::memcpy(staging_.get() + current_ * kWriteBytes + fill_, bytes.data(), take);
    fill_ += take;
    bytes = bytes.subspan(take);
    if (fill_ == kWriteBytes) RETURN_IF_ERROR(WriteStaged(fd, path, kWriteBytes));
  }
  return Status::Ok();
}

Status CheckpointStorage::WriteStaged(int fd, const std::string& path, size_t length) {
  const uint32_t buffer = current_;
  staged_[buffer] = StagedWrite{next_offset_, length, 0};
  next_offset_ += static_cast<int64_t>(length);
  fill_ = 0;
  if (ring_ == nullptr) {
    RETURN_IF_ERROR(
        PwriteAll(fd, path, staging_.get() + buffer * kWriteBytes, length, staged_[buffer].offset));
    return Status::Ok();  // the buffer is free again: keep filling it
  }
  RETURN_IF_ERROR(PrepareStagedWrite(fd, path, buffer));
  // Submitted at once: the device starts on it while the next buffer is being filled. Completions
  // are reaped in batches, without a syscall, whenever a buffer is needed.
  RETURN_IF_ERROR(ring_->Submit().WithContext(fmt::format("writing '{}'", path)));
  if (free_buffers_.empty()) RETURN_IF_ERROR(Reap(fd, path, 0));
  while (free_buffers_.empty()) RETURN_IF_ERROR(Reap(fd, path, 1));
  current_ = free_buffers_.back();
  free_buffers_.pop_back();
  return Status::Ok();
}

Status CheckpointStorage::PrepareStagedWrite(int fd, const std::string& path, uint32_t buffer) {
  const StagedWrite& write = staged_[buffer];
  const size_t length = write.length - write.done;
  if (const int injected = FaultInjector::OnWrite(length)) return WriteErrorStatus(injected, path);
  const std::span<const std::byte> rest(staging_.get() + buffer * kWriteBytes + write.done, length);
  const int64_t offset = write.offset + static_cast<int64_t>(write.done);
  const Status status =
      staging_registered_
          ? ring_->PrepareWriteFixed(fd, rest, offset, static_cast<int>(buffer), buffer)
          : ring_->PrepareWrite(fd, rest, offset, buffer);
  return status.WithContext(fmt::format("writing '{}'", path));
}

Status CheckpointStorage::Reap(int fd, const std::string& path, uint32_t min_complete) {
  if (min_complete > 0) {
    // On failure the caller's Drain waits again, and gives the ring up if that fails too.
    RETURN_IF_ERROR(
        ring_->SubmitAndWait(min_complete).WithContext(fmt::format("writing '{}'", path)));
  }
  Completion completions[kStagingBuffers];
  while (const size_t count = ring_->PopCompletions(completions)) {
    for (size_t i = 0; i < count; ++i) {
      const uint32_t buffer = static_cast<uint32_t>(completions[i].user_data);
      StagedWrite& write = staged_[buffer];
      const int32_t result = completions[i].result;
      if (result > 0) write.done += static_cast<size_t>(result);
      if (result < 0) {
        if (write_error_.ok()) write_error_ = WriteErrorStatus(-result, path);
      } else if (write.done < write.length) {
        if (result == 0 && write_error_.ok()) {
          write_error_ = IoError("writing '{}' at offset {}: the kernel wrote 0 bytes", path,
                                 write.offset + static_cast<int64_t>(write.done));
        } else if (write_error_.ok()) {
          // A short write: queue the rest at its offset.
          write_error_ = PrepareStagedWrite(fd, path, buffer);
          if (write_error_.ok()) continue;
        }
      }
      free_buffers_.push_back(buffer);
    }
  }
  return write_error_;
}

Status CheckpointStorage::Drain(int fd, const std::string& path, Status status) {
  while (ring_ != nullptr && ring_->in_flight() > 0) {
    const Status waited = ring_->SubmitAndWait(1);
    if (!waited.ok()) {
      // The kernel may still read the staging buffers: never free or reuse them (nor destroy the
      // ring, which requires no I/O in flight). Later files are written with pwrite.
      (void)ring_.release();
      (void)staging_.release();
      staging_registered_ = false;
      if (status.ok()) status = waited.WithContext(fmt::format("writing '{}'", path));
      break;
    }
    const Status reaped = Reap(fd, path, 0);
    if (status.ok()) status = reaped;
  }
  return status;
}

Status CheckpointStorage::SyncFile(int fd, const std::string& path) {
  if (ring_ == nullptr) return FsyncDescriptor(fd, path);
  if (const int injected = FaultInjector::OnFsync()) return FsyncStatus(injected, path);
  RETURN_IF_ERROR(ring_->PrepareFsync(fd, /*data_only=*/false, kFsyncUserData)
                      .WithContext(fmt::format("fsync of '{}'", path)));
  Status waited = ring_->SubmitAndWait(1);
  if (!waited.ok()) {
    (void)
        ring_.release();  // an fsync in flight touches no memory of ours, but the ring is unusable
    return waited.WithContext(fmt::format("fsync of '{}'", path));
  }
  Completion completion;
  WEIR_CHECK(ring_->PopCompletions(std::span<Completion>(&completion, 1)) == 1);
  WEIR_CHECK(completion.user_data == kFsyncUserData);
  if (completion.result < 0) return FsyncStatus(-completion.result, path);
  return Status::Ok();
}

Status CheckpointStorage::CommitCheckpoint(int64_t id, std::string_view metadata) {
  RETURN_IF_ERROR(CommitDirectory(CheckpointDir(id), metadata));
  // The chk dir's own entry in the job directory: made durable once, when it completes.
  Status status = FsyncDirectory(job_dir_);
  if (!status.ok()) ::unlink(fmt::format("{}/{}", CheckpointDir(id), kMetadataName).c_str());
  return status;
}

Status CheckpointStorage::CommitDirectory(const std::string& dir, std::string_view metadata) {
  const std::string temporary = fmt::format("{}/{}", dir, kMetadataTempName);
  const std::string final_path = fmt::format("{}/{}", dir, kMetadataName);
  if (HasMetadata(dir))
    return FailedPrecondition("checkpoint '{}' is already complete (has a _metadata)", dir);
  const int fd = OpenRetrying(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return NotFound("cannot create '{}': the checkpoint directory does not exist", temporary);
    return ErrnoStatus(err, fmt::format("cannot create '{}'", temporary));
  }
  const Trailer trailer = MakeTrailer(kMetadataMagic, metadata.size(), Hash64(metadata));
  Status status = PwriteAll(fd, temporary, reinterpret_cast<const std::byte*>(metadata.data()),
                            metadata.size(), 0);
  if (status.ok()) {
    status = PwriteAll(fd, temporary, trailer.data(), trailer.size(),
                       static_cast<int64_t>(metadata.size()));
  }
  if (status.ok()) status = FsyncDescriptor(fd, temporary);
  if (::close(fd) != 0 && status.ok() && errno != EINTR)
    status = WriteErrorStatus(errno, temporary);
  if (status.ok()) {
    const int injected = FaultInjector::OnRename();
    if (injected != 0 || ::rename(temporary.c_str(), final_path.c_str()) != 0) {
      status = ErrnoStatus(injected != 0 ? injected : errno,
                           fmt::format("renaming '{}' to '{}'", temporary, final_path));
    }
  }
  if (!status.ok()) {
    ::unlink(temporary.c_str());
    return status;
  }
  status = FsyncDirectory(dir);
  if (!status.ok()) {
    // The rename may not survive a crash: report the checkpoint as failed, and take the manifest
    // back so this process never presents it as complete either.
    ::unlink(final_path.c_str());
    return status;
  }
  return Status::Ok();
}

Status CheckpointStorage::AbortCheckpoint(int64_t id) { return AbortDirectory(CheckpointDir(id)); }

Status CheckpointStorage::AbortDirectory(const std::string& dir) {
  if (HasMetadata(dir))
    return FailedPrecondition("not aborting checkpoint '{}': it is complete (has a _metadata)",
                              dir);
  return RemoveCheckpointDirectory(dir);
}

Result<std::vector<int64_t>> CheckpointStorage::ListCompleted() const {
  std::vector<int64_t> ids;
  std::error_code error;
  fs::directory_iterator it(job_dir_, error);
  if (error) return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error)
      return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
    const int64_t id = ParseCheckpointDirName(it->path().filename().string());
    if (id >= 0 && HasMetadata(it->path().string())) ids.push_back(id);
  }
  if (error) return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
  std::sort(ids.begin(), ids.end(), std::greater<>());
  return ids;
}

Status CheckpointStorage::Retain(int retained, const std::set<std::string>& referenced) {
  if (retained < 1)
    return InvalidArgument("checkpoints to retain must be at least 1, not {}", retained);
  ASSIGN_OR_RETURN(const std::vector<int64_t> completed, ListCompleted());
  if (completed.empty()) return Status::Ok();
  const int64_t newest = completed.front();
  // Drop the manifests of the pruned checkpoints first: from then on they are incomplete
  // directories, cleaned below with the failed attempts.
  for (size_t i = static_cast<size_t>(retained); i < completed.size(); ++i) {
    const std::string metadata = fmt::format("{}/{}", CheckpointDir(completed[i]), kMetadataName);
    if (::unlink(metadata.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, fmt::format("cannot remove '{}'", metadata));
    }
  }
  std::vector<int64_t> stale;
  std::error_code error;
  fs::directory_iterator it(job_dir_, error);
  if (error) return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error)
      return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
    const int64_t id = ParseCheckpointDirName(it->path().filename().string());
    if (id >= 0 && id < newest && !HasMetadata(it->path().string())) stale.push_back(id);
  }
  if (error) return IoError("cannot list checkpoint directory '{}': {}", job_dir_, error.message());
  for (const int64_t id : stale)
    RETURN_IF_ERROR(PruneDirectory(fmt::format("{}{}", kCheckpointPrefix, id), referenced));
  return Status::Ok();
}

Status CheckpointStorage::PruneDirectory(const std::string& dir_name,
                                         const std::set<std::string>& keep) {
  const std::string dir = fmt::format("{}/{}", job_dir_, dir_name);
  bool kept_any = false;
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) return IoError("cannot list '{}': {}", dir, error.message());
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) return IoError("cannot list '{}': {}", dir, error.message());
    const std::string relative = fmt::format("{}/{}", dir_name, it->path().filename().string());
    if (keep.contains(relative) || it->is_directory(error)) {
      kept_any = true;
      continue;
    }
    if (!fs::remove(it->path(), error) && error) {
      return IoError("cannot remove '{}': {}", it->path().string(), error.message());
    }
  }
  if (error) return IoError("cannot list '{}': {}", dir, error.message());
  if (!kept_any && !fs::remove(dir, error) && error)
    return IoError("cannot remove '{}': {}", dir, error.message());
  return Status::Ok();
}

Result<std::string> CheckpointStorage::ReadMetadata(const std::string& path) {
  std::string file = path;
  std::error_code error;
  if (fs::is_directory(path, error)) file = fmt::format("{}/{}", path, kMetadataName);
  const int fd = OpenRetrying(file, O_RDONLY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("{}: no _metadata (incomplete checkpoint)", file);
    return ErrnoStatus(err, fmt::format("cannot open '{}'", file));
  }
  FdCloser closer(fd);
  ASSIGN_OR_RETURN(const int64_t size, FileSize(fd, file));
  if (size < kCheckpointTrailerBytes) {
    return DataLoss("{}: torn or corrupt _metadata ({} bytes, shorter than its {}-byte trailer)",
                    file, size, kCheckpointTrailerBytes);
  }
  std::string contents(static_cast<size_t>(size), '\0');
  RETURN_IF_ERROR(PreadAll(
      fd, file,
      std::span<std::byte>(reinterpret_cast<std::byte*>(contents.data()), contents.size()), 0));
  const size_t data_size = contents.size() - kCheckpointTrailerBytes;
  const ParsedTrailer trailer =
      ParseTrailer(kMetadataMagic, reinterpret_cast<const std::byte*>(contents.data()) + data_size);
  if (!trailer.magic_ok) return DataLoss("{}: torn or corrupt _metadata (no trailer magic)", file);
  if (trailer.size != data_size) {
    return DataLoss("{}: torn or corrupt _metadata (trailer says {} bytes, file has {})", file,
                    trailer.size, data_size);
  }
  contents.resize(data_size);
  if (Hash64(contents) != trailer.xxh3)
    return DataLoss("{}: torn or corrupt _metadata (checksum mismatch)", file);
  return contents;
}

Status CheckpointStorage::ReadRange(const std::string& path, int64_t offset,
                                    std::span<std::byte> out) {
  WEIR_CHECK(offset >= 0);
  ASSIGN_OR_RETURN(const int fd, OpenForReading(path, "checkpoint file"));
  FdCloser closer(fd);
  return PreadAll(fd, path, out, offset);
}

Status CheckpointStorage::VerifyFile(const std::string& path, int64_t size, uint64_t xxh3) {
  return ReadVerifiedFile(path, size, xxh3, nullptr);
}

namespace {

// The checks of a data file that precede hashing its data: its length against the manifest's size,
// then its trailer (magic, and size and xxh3 against the manifest's).
Status CheckLengthAndTrailer(int fd, const std::string& path, int64_t size, uint64_t xxh3) {
  ASSIGN_OR_RETURN(const int64_t file_size, FileSize(fd, path));
  if (file_size != size + kCheckpointTrailerBytes) {
    return DataLoss(
        "checkpoint file '{}' is {} bytes, expected {} ({} data bytes and the trailer): {}", path,
        file_size, size + kCheckpointTrailerBytes, size,
        file_size < size + kCheckpointTrailerBytes ? "truncated"
                                                   : "not the file the manifest names");
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Trailer trailer_bytes;
  RETURN_IF_ERROR(PreadAll(fd, path, trailer_bytes, size));
  const ParsedTrailer trailer = ParseTrailer(kDataMagic, trailer_bytes.data());
  if (!trailer.magic_ok) return DataLoss("checkpoint file '{}': corrupt trailer (bad magic)", path);
  if (trailer.size != static_cast<uint64_t>(size) || trailer.xxh3 != xxh3) {
    return DataLoss(
        "checkpoint file '{}': its trailer (size {}, xxh3 {:016x}) does not match the manifest "
        "(size {}, "
        "xxh3 {:016x})",
        path, trailer.size, trailer.xxh3, size, xxh3);
  }
  return Status::Ok();
}

// Reads a mapped file's pages in (MADV_POPULATE_READ) and hashes them into *hash; false when a
// read failed (the caller then reads with pread, which names the error). A file of 64 MiB or more
// is read by kReaders threads, each taking the next 8 MiB stripe, so several reads are in flight
// (a cold 1 GiB file: 0.70 s with one reader, 0.50 s with four on the development VM's virtio
// disk, medians of 3), while this thread hashes the stripes in order behind them.
bool PopulateAndHash(const std::byte* data, size_t bytes, uint64_t* hash) {
  constexpr size_t kStripe = size_t{8} << 20;
  constexpr size_t kReaders = 4;
  auto* mutable_data = const_cast<std::byte*>(data);
  if (bytes < 8 * kStripe) {
    if (::madvise(mutable_data, bytes, MADV_POPULATE_READ) != 0) return false;
    *hash = XXH3_64bits(data, bytes);
    return true;
  }
  const size_t stripes = (bytes + kStripe - 1) / kStripe;
  enum : uint8_t { kPending, kRead, kFailed };
  std::unique_ptr<std::atomic<uint8_t>[]> state(new std::atomic<uint8_t>[stripes]);
  for (size_t i = 0; i < stripes; ++i) state[i].store(kPending, std::memory_order_relaxed);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto read = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= stripes) return;
      const size_t begin = i * kStripe;
      const size_t length = std::min(kStripe, bytes - begin);
      const bool ok = ::madvise(mutable_data + begin, length, MADV_POPULATE_READ) == 0;
      state[i].store(ok ? kRead : kFailed, std::memory_order_release);
      state[i].notify_one();
    }
  };
  std::vector<std::thread> readers;
  try {
    for (size_t r = 0; r < kReaders; ++r) readers.emplace_back(read);
  } catch (const std::system_error&) {
    // Fewer threads (possibly none): this thread reads what they do not.
  }
  if (readers.empty()) read();
  XXH3_state_t hasher;
  XXH3_64bits_reset(&hasher);
  bool ok = true;
  for (size_t i = 0; i < stripes && ok; ++i) {
    state[i].wait(kPending, std::memory_order_acquire);
    if (state[i].load(std::memory_order_acquire) == kFailed) {
      ok = false;
      break;
    }
    const size_t begin = i * kStripe;
    XXH3_64bits_update(&hasher, data + begin, std::min(kStripe, bytes - begin));
  }
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& reader : readers) reader.join();
  *hash = XXH3_64bits_digest(&hasher);
  return ok;
}

Status CheckDataHash(const std::string& path, uint64_t actual, uint64_t xxh3) {
  if (actual != xxh3) {
    return DataLoss("checkpoint file '{}': checksum mismatch (data xxh3 {:016x}, manifest {:016x})",
                    path, actual, xxh3);
  }
  return Status::Ok();
}

}  // namespace

Status CheckpointStorage::ReadVerifiedFile(const std::string& path, int64_t size, uint64_t xxh3,
                                           std::vector<std::byte>* out) {
  ASSIGN_OR_RETURN(const int fd, OpenForReading(path, "checkpoint file"));
  FdCloser closer(fd);
  RETURN_IF_ERROR(CheckLengthAndTrailer(fd, path, size, xxh3));
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  if (out != nullptr) {
    out->resize(static_cast<size_t>(size));
    RETURN_IF_ERROR(PreadAll(fd, path, *out, 0));
    XXH3_64bits_update(&state, out->data(), out->size());
  } else {
    std::vector<std::byte> buffer(std::min<size_t>(kReadBytes, static_cast<size_t>(size)));
    for (int64_t offset = 0; offset < size;) {
      const std::span<std::byte> piece(
          buffer.data(), std::min<size_t>(buffer.size(), static_cast<size_t>(size - offset)));
      RETURN_IF_ERROR(PreadAll(fd, path, piece, offset));
      XXH3_64bits_update(&state, piece.data(), piece.size());
      offset += static_cast<int64_t>(piece.size());
    }
  }
  return CheckDataHash(path, XXH3_64bits_digest(&state), xxh3);
}

Result<VerifiedFileBytes> CheckpointStorage::MapVerifiedFile(const std::string& path, int64_t size,
                                                             uint64_t xxh3) {
  ASSIGN_OR_RETURN(const int fd, OpenForReading(path, "checkpoint file"));
  FdCloser closer(fd);
  RETURN_IF_ERROR(CheckLengthAndTrailer(fd, path, size, xxh3));
  VerifiedFileBytes file;
  const auto data_bytes = static_cast<size_t>(size);
  if (data_bytes > 0) {
    const size_t mapping_bytes = data_bytes + kCheckpointTrailerBytes;
    // MADV_POPULATE_READ reads the file in as MAP_POPULATE would, but reports a read error as an
    // error instead of a SIGBUS on the first access; then the bytes are read with pread, which
    // names the error (as on a kernel before 5.14 or a file system that cannot map).
    void* mapping = ::mmap(nullptr, mapping_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    uint64_t hash = 0;
    if (mapping != MAP_FAILED &&
        !PopulateAndHash(static_cast<const std::byte*>(mapping), data_bytes, &hash)) {
      ::munmap(mapping, mapping_bytes);
      mapping = MAP_FAILED;
    }
    if (mapping != MAP_FAILED) {
      file.mapping_ = mapping;
      file.mapping_bytes_ = mapping_bytes;
      file.bytes_ = std::span<const std::byte>(static_cast<const std::byte*>(mapping), data_bytes);
    } else {
      file.buffer_ = std::make_unique_for_overwrite<std::byte[]>(data_bytes);
      RETURN_IF_ERROR(PreadAll(fd, path, std::span<std::byte>(file.buffer_.get(), data_bytes), 0));
      file.bytes_ = std::span<const std::byte>(file.buffer_.get(), data_bytes);
      hash = XXH3_64bits(file.bytes_.data(), file.bytes_.size());
    }
    RETURN_IF_ERROR(CheckDataHash(path, hash, xxh3));
  } else {
    RETURN_IF_ERROR(CheckDataHash(path, XXH3_64bits(nullptr, 0), xxh3));
  }
  return file;
}

VerifiedFileBytes::VerifiedFileBytes(VerifiedFileBytes&& other) noexcept { *this = std::move(other); }

VerifiedFileBytes& VerifiedFileBytes::operator=(VerifiedFileBytes&& other) noexcept {
  if (this != &other) {
    Reset();
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
    buffer_ = std::move(other.buffer_);
    bytes_ = std::exchange(other.bytes_, {});
  }
  return *this;
}

VerifiedFileBytes::~VerifiedFileBytes() { Reset(); }

void VerifiedFileBytes::Reset() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_bytes_);
  mapping_ = nullptr;
  mapping_bytes_ = 0;
  buffer_.reset();
  bytes_ = {};
}

void CheckpointStorage::StartHash() {
  if (hash_ == nullptr) hash_ = std::make_unique<HashState>();
  XXH3_64bits_reset(&hash_->state);
  hash_offset_ = 0;
}

uint64_t CheckpointStorage::FinishHash() { return XXH3_64bits_digest(&hash_->state); }

}  // namespace weir::io
