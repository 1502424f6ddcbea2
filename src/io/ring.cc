#include "io/ring.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "io/file.h"

namespace weir::io {
namespace {

constexpr size_t kChunkAlignment = 4096;
// user_data of the writer's fsync; chunk writes use their chunk index.
constexpr uint64_t kSyncUserData = ~uint64_t{0};

}  // namespace

Status Completion::ToStatus(std::string_view what) const {
  if (result >= 0) return Status::Ok();
  return ErrnoStatus(-result, what);
}

Result<std::unique_ptr<Ring>> Ring::Create(uint32_t entries) {
  if (entries == 0) return InvalidArgument("an io_uring needs at least one entry");
  auto ring = std::make_unique<io_uring>();
  const int rc = io_uring_queue_init(entries, ring.get(), 0);
  if (rc < 0) {
    const int err = -rc;
    switch (err) {
      case ENOSYS:
        return Unimplemented("io_uring is not supported by this kernel (io_uring_setup: {}); use pwrite",
                             std::strerror(err));
      case EPERM:
      case EACCES:
        return Unimplemented(
            "io_uring is disabled here (seccomp or kernel.io_uring_disabled; io_uring_setup: {}); use pwrite",
            std::strerror(err));
      case EINVAL:
        return InvalidArgument("io_uring_setup with {} entries: {}", entries, std::strerror(err));
      case ENOMEM:
        return ResourceExhausted("io_uring_setup with {} entries: {} (locked-memory limit?)", entries,
                                 std::strerror(err));
      default:
        return ErrnoStatus(err, fmt::format("io_uring_setup with {} entries", entries));
    }
  }
  const uint32_t size = ring->sq.ring_entries;
  return std::unique_ptr<Ring>(new Ring(std::move(ring), size));
}

Ring::Ring(std::unique_ptr<io_uring> ring, uint32_t entries) : ring_(std::move(ring)), entries_(entries) {}

Ring::~Ring() {
  WEIR_CHECK_MSG(in_flight_ == 0, "io_uring destroyed with {} operations in flight", in_flight_);
  io_uring_queue_exit(ring_.get());
}

Result<io_uring_sqe*> Ring::NextSqe() {
  WEIR_CHECK_MSG(in_flight_ < 2 * entries_, "{} operations in flight on a ring of {} entries", in_flight_,
                 entries_);
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) {
    RETURN_IF_ERROR(Submit());
    sqe = io_uring_get_sqe(ring_.get());
    if (sqe == nullptr) return Internal("io_uring submission queue still full after submitting");
  }
  ++in_flight_;
  return sqe;
}

Status Ring::PrepareWrite(int fd, std::span<const std::byte> data, int64_t offset, uint64_t user_data) {
  WEIR_DCHECK(offset >= 0);
  ASSIGN_OR_RETURN(io_uring_sqe* sqe, NextSqe());
  io_uring_prep_write(sqe, fd, data.data(), static_cast<unsigned>(data.size()), static_cast<uint64_t>(offset));
  io_uring_sqe_set_data64(sqe, user_data);
  return Status::Ok();
}

Status Ring::PrepareRead(int fd, std::span<std::byte> out, int64_t offset, uint64_t user_data) {
  WEIR_DCHECK(offset >= 0);
  ASSIGN_OR_RETURN(io_uring_sqe* sqe, NextSqe());
  io_uring_prep_read(sqe, fd, out.data(), static_cast<unsigned>(out.size()), static_cast<uint64_t>(offset));
  io_uring_sqe_set_data64(sqe, user_data);
  return Status::Ok();
}

Status Ring::PrepareWriteFixed(int fd, std::span<const std::byte> data, int64_t offset, int buffer_index,
                               uint64_t user_data) {
  WEIR_DCHECK(offset >= 0);
  WEIR_CHECK(registered_buffers_);
  ASSIGN_OR_RETURN(io_uring_sqe* sqe, NextSqe());
  io_uring_prep_write_fixed(sqe, fd, data.data(), static_cast<unsigned>(data.size()),
                            static_cast<uint64_t>(offset), buffer_index);
  io_uring_sqe_set_data64(sqe, user_data);
  return Status::Ok();
}

Status Ring::PrepareFsync(int fd, bool data_only, uint64_t user_data) {
  ASSIGN_OR_RETURN(io_uring_sqe* sqe, NextSqe());
  io_uring_prep_fsync(sqe, fd, data_only ? IORING_FSYNC_DATASYNC : 0);
  io_uring_sqe_set_data64(sqe, user_data);
  return Status::Ok();
}

Status Ring::Submit() {
  while (true) {
    const int rc = io_uring_submit(ring_.get());
    if (rc >= 0) return Status::Ok();
    if (rc == -EINTR) continue;
    if (rc == -EAGAIN || rc == -EBUSY) return ResourceExhausted("io_uring submit: {}", std::strerror(-rc));
    return ErrnoStatus(-rc, "io_uring submit");
  }
}

Status Ring::SubmitAndWait(uint32_t min_complete) {
  WEIR_CHECK_MSG(min_complete <= in_flight_, "waiting for {} completions with {} operations in flight",
                 min_complete, in_flight_);
  while (true) {
    const int rc = io_uring_submit_and_wait(ring_.get(), min_complete);
    // EINTR: a signal interrupted the wait; what was queued has been submitted, so just wait again.
    if (rc >= 0 || (rc == -EINTR && io_uring_cq_ready(ring_.get()) >= min_complete)) return Status::Ok();
    if (rc == -EINTR) continue;
    if (rc == -EAGAIN || rc == -EBUSY) return ResourceExhausted("io_uring submit: {}", std::strerror(-rc));
    return ErrnoStatus(-rc, "io_uring submit and wait");
  }
}

size_t Ring::PopCompletions(std::span<Completion> out) {
  io_uring_cqe* cqes[64];
  size_t popped = 0;
  while (popped < out.size()) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(std::size(cqes), out.size() - popped));
    const unsigned got = io_uring_peek_batch_cqe(ring_.get(), cqes, want);
    if (got == 0) break;
    for (unsigned i = 0; i < got; ++i) {
      out[popped + i] = Completion{io_uring_cqe_get_data64(cqes[i]), cqes[i]->res};
    }
    io_uring_cq_advance(ring_.get(), got);
    popped += got;
    in_flight_ -= got;
  }
  return popped;
}

Status Ring::RegisterBuffers(std::span<const iovec> buffers) {
  WEIR_CHECK(!registered_buffers_ && in_flight_ == 0);
  const int rc = io_uring_register_buffers(ring_.get(), buffers.data(), static_cast<unsigned>(buffers.size()));
  if (rc < 0) {
    if (rc == -ENOMEM) {
      return ResourceExhausted("registering {} io_uring buffers: over the locked-memory limit (ulimit -l)",
                               buffers.size());
    }
    return ErrnoStatus(-rc, fmt::format("registering {} io_uring buffers", buffers.size()));
  }
  registered_buffers_ = true;
  return Status::Ok();
}

Status Ring::UnregisterBuffers() {
  WEIR_CHECK(registered_buffers_ && in_flight_ == 0);
  const int rc = io_uring_unregister_buffers(ring_.get());
  if (rc < 0) return ErrnoStatus(-rc, "unregistering io_uring buffers");
  registered_buffers_ = false;
  return Status::Ok();
}

void AsyncFileWriter::FreeDeleter::operator()(std::byte* memory) const { std::free(memory); }

Result<std::unique_ptr<AsyncFileWriter>> AsyncFileWriter::Create(std::string path, Options options) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("cannot create '{}': its directory does not exist", path);
    return ErrnoStatus(err, fmt::format("cannot create '{}'", path));
  }
  return ForDescriptor(fd, std::move(path), 0, options);
}

Result<std::unique_ptr<AsyncFileWriter>> AsyncFileWriter::ForDescriptor(int fd, std::string path,
                                                                        int64_t offset, Options options) {
  WEIR_CHECK(options.chunk_bytes > 0 && options.chunk_bytes % kChunkAlignment == 0);
  WEIR_CHECK(options.max_in_flight >= 1 && options.max_in_flight <= 1024);
  WEIR_CHECK(offset >= 0);
  // Completion slots are twice the entries: room for every chunk write plus the fsync.
  Result<std::unique_ptr<Ring>> ring = Ring::Create(options.max_in_flight + 1);
  if (!ring.ok()) {
    ::close(fd);
    return ring.status().WithContext(fmt::format("writing '{}'", path));
  }
  // One chunk more than may be in flight: the one being filled.
  const size_t chunk_count = options.max_in_flight + 1;
  std::unique_ptr<std::byte, FreeDeleter> memory(
      static_cast<std::byte*>(std::aligned_alloc(kChunkAlignment, options.chunk_bytes * chunk_count)));
  if (memory == nullptr) {
    ::close(fd);
    return ResourceExhausted("cannot allocate {} write buffers of {} bytes for '{}'", chunk_count,
                             options.chunk_bytes, path);
  }
  return std::unique_ptr<AsyncFileWriter>(
      new AsyncFileWriter(fd, std::move(path), offset, options, std::move(ring).value(), std::move(memory)));
}

AsyncFileWriter::AsyncFileWriter(int fd, std::string path, int64_t offset, Options options,
                                 std::unique_ptr<Ring> ring, std::unique_ptr<std::byte, FreeDeleter> memory)
    : fd_(fd),
      path_(std::move(path)),
      options_(options),
      ring_(std::move(ring)),
      memory_(std::move(memory)),
      next_offset_(offset) {
  const uint32_t count = options.max_in_flight + 1;
  std::vector<iovec> buffers;
  for (uint32_t i = 0; i < count; ++i) {
    chunks_.push_back(Chunk{memory_.get() + i * options.chunk_bytes});
    buffers.push_back(iovec{chunks_.back().data, options.chunk_bytes});
  }
  for (uint32_t i = count - 1; i >= 1; --i) free_chunks_.push_back(i);
  current_ = 0;
  // Registration failing (typically RLIMIT_MEMLOCK) only costs the per-write page pinning.
  if (options.register_buffers) (void)ring_->RegisterBuffers(buffers);
}

AsyncFileWriter::~AsyncFileWriter() {
  // The kernel may still be reading chunk buffers: wait for every write before freeing them.
  Completion completions[64];
  while (ring_->in_flight() > 0) {
    if (!ring_->SubmitAndWait(1).ok()) {
      // Cannot learn when the kernel is done with the buffers: leak them rather than free memory
      // the kernel may still read. The ring is leaked too (its destructor requires no I/O).
      (void)memory_.release();
      (void)ring_.release();
      break;
    }
    ring_->PopCompletions(completions);
  }
  ::close(fd_);
}

Status AsyncFileWriter::Fail(Status status) {
  if (error_.ok()) error_ = std::move(status);
  return error_;
}

Status AsyncFileWriter::PrepareChunkWrite(uint32_t index) {
  const Chunk& chunk = chunks_[index];
  const std::span<const std::byte> rest(chunk.data + chunk.done, chunk.length - chunk.done);
  const int64_t offset = chunk.offset + static_cast<int64_t>(chunk.done);
  if (ring_->has_registered_buffers()) {
    return ring_->PrepareWriteFixed(fd_, rest, offset, static_cast<int>(index), index);
  }
  return ring_->PrepareWrite(fd_, rest, offset, index);
}

Status AsyncFileWriter::SubmitCurrent() {
  Chunk& chunk = chunks_[current_];
  chunk.length = fill_;
  chunk.done = 0;
  chunk.offset = next_offset_;
  next_offset_ += static_cast<int64_t>(fill_);
  Status status = PrepareChunkWrite(current_);
  if (status.ok()) status = ring_->Submit();
  if (!status.ok()) return Fail(status.WithContext(fmt::format("writing '{}'", path_)));
  while (free_chunks_.empty()) RETURN_IF_ERROR(Reap(1));
  current_ = free_chunks_.back();
  free_chunks_.pop_back();
  fill_ = 0;
  return error_;
}

Status AsyncFileWriter::Reap(uint32_t min_complete) {
  Status status = ring_->SubmitAndWait(min_complete);
  if (!status.ok()) return Fail(status.WithContext(fmt::format("writing '{}'", path_)));
  Completion completions[64];
  while (const size_t count = ring_->PopCompletions(completions)) {
    for (size_t i = 0; i < count; ++i) {
      const Completion& completion = completions[i];
      if (completion.user_data == kSyncUserData) {
        sync_pending_ = false;
        sync_result_ = completion.result;
        continue;
      }
      const uint32_t index = static_cast<uint32_t>(completion.user_data);
      Chunk& chunk = chunks_[index];
      if (completion.result > 0) chunk.done += static_cast<size_t>(completion.result);
      if (completion.result < 0) {
        (void)Fail(WriteErrorStatus(-completion.result, path_));
      } else if (completion.result == 0 && chunk.done < chunk.length) {
        (void)Fail(IoError("writing '{}' at offset {}: the kernel wrote 0 bytes", path_,
                           chunk.offset + static_cast<int64_t>(chunk.done)));
      } else if (chunk.done < chunk.length && error_.ok()) {
        // A short write: write the rest, at its offset.
        Status resubmit = PrepareChunkWrite(index);
        if (resubmit.ok()) continue;
        (void)Fail(resubmit.WithContext(fmt::format("writing '{}'", path_)));
      } else {
        written_bytes_ += static_cast<int64_t>(chunk.length);
      }
      free_chunks_.push_back(index);
    }
  }
  return error_;
}

Status AsyncFileWriter::Append(std::span<const std::byte> data) {
  if (!error_.ok()) [[unlikely]] return error_;
  appended_bytes_ += static_cast<int64_t>(data.size());
  while (!data.empty()) {
    const size_t take = std::min(options_.chunk_bytes - fill_, data.size());
    std::memcpy(chunks_[current_].data + fill_, data.data(), take);
    fill_ += take;
    data = data.subspan(take);
    if (fill_ == options_.chunk_bytes) RETURN_IF_ERROR(SubmitCurrent());
  }
  return Status::Ok();
}

Status AsyncFileWriter::Flush() {
  if (!error_.ok()) return error_;
  if (fill_ > 0) RETURN_IF_ERROR(SubmitCurrent());
  // Wait for every write, including short-write resubmissions Reap queues.
  while (ring_->in_flight() > 0) RETURN_IF_ERROR(Reap(1));
  return error_;
}

Status AsyncFileWriter::Sync() {
  RETURN_IF_ERROR(Flush());
  Status status = ring_->PrepareFsync(fd_, /*data_only=*/false, kSyncUserData);
  if (!status.ok()) return Fail(status.WithContext(fmt::format("fsync of '{}'", path_)));
  sync_pending_ = true;
  while (sync_pending_) RETURN_IF_ERROR(Reap(1));
  if (sync_result_ < 0) {
    const int err = -sync_result_;
    if (err == ENOSPC || err == EDQUOT) return Fail(WriteErrorStatus(err, path_));
    return Fail(ErrnoStatus(err, fmt::format("fsync of '{}'", path_)));
  }
  return Status::Ok();
}

}  // namespace weir::io
