#include "connectors/file_sink.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "connectors/checkpoint_blob.h"
#include "io/file.h"

namespace weir::connectors {
namespace {

constexpr std::string_view kBlobTag = "FSK1";
constexpr std::string_view kInProgress = "inprogress";
constexpr std::string_view kPending = "pending";

}  // namespace

PartFileWriter::PartFileWriter(std::string directory, int64_t rolling_bytes)
    : directory_(std::move(directory)), rolling_bytes_(rolling_bytes) {
  WEIR_CHECK(rolling_bytes_ > 0);
  while (directory_.size() > 1 && directory_.back() == '/') directory_.pop_back();
}

PartFileWriter::~PartFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

std::string PartFileWriter::VisibleName(int subtask, int64_t part) { return fmt::format("part-{}-{}", subtask, part); }

std::string PartFileWriter::HiddenName(int subtask, int64_t part, std::string_view state) {
  return fmt::format(".part-{}-{}.{}", subtask, part, state);
}

Status PartFileWriter::Open(int subtask) {
  subtask_ = subtask;
  if (directory_.empty()) return InvalidArgument("the file sink's output directory is empty");
  if (::mkdir(directory_.c_str(), 0755) != 0 && errno != EEXIST) {
    if (errno == ENOENT) {
      return NotFound("cannot create output directory '{}': its parent directory does not exist", directory_);
    }
    return ErrnoStatus(errno, fmt::format("creating output directory '{}'", directory_));
  }
  struct stat info;
  if (::stat(directory_.c_str(), &info) != 0) {
    return ErrnoStatus(errno, fmt::format("cannot access output directory '{}'", directory_));
  }
  if (!S_ISDIR(info.st_mode)) {
    return InvalidArgument("file sink output '{}' exists and is not a directory", directory_);
  }
  return Status::Ok();
}

Status PartFileWriter::Fail(Status status) {
  if (error_.ok()) error_ = status;
  return status;
}

Status PartFileWriter::OpenPart() {
  if (!cleaned_) {
    // A fresh job: hidden files of this subtask's names are leftovers of a run that died, which
    // nothing will commit (a restore would have cleaned them already).
    cleaned_ = true;
    Status cleaned = RemoveHiddenFiles(subtask_);
    if (!cleaned.ok()) return Fail(cleaned);
  }
  const std::string path = PathOf(HiddenName(subtask_, next_part_, kInProgress));
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Fail(ErrnoStatus(errno, fmt::format("cannot create part file '{}'", path)));
  fd_ = fd;
  current_part_ = next_part_++;
  current_bytes_ = 0;
  return Status::Ok();
}

Status PartFileWriter::Write(std::string_view bytes) {
  if (!error_.ok()) return error_;
  if (fd_ < 0) RETURN_IF_ERROR(OpenPart());
  current_bytes_ += static_cast<int64_t>(bytes.size());
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Fail(io::WriteErrorStatus(errno, PathOf(HiddenName(subtask_, current_part_, kInProgress))));
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  if (current_bytes_ >= rolling_bytes_) return ClosePart();
  return Status::Ok();
}

Status PartFileWriter::ClosePart() {
  if (fd_ < 0) return Status::Ok();
  const std::string in_progress = PathOf(HiddenName(subtask_, current_part_, kInProgress));
  const std::string pending = PathOf(HiddenName(subtask_, current_part_, kPending));
  const int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Fail(io::WriteErrorStatus(err, in_progress).WithContext("fsync"));
  }
  if (::close(fd) != 0 && errno != EINTR) return Fail(io::WriteErrorStatus(errno, in_progress).WithContext("close"));
  if (::rename(in_progress.c_str(), pending.c_str()) != 0) {
    return Fail(ErrnoStatus(errno, fmt::format("renaming '{}' to '{}'", in_progress, pending)));
  }
  pending_.push_back({current_part_, kUnclaimed});
  current_part_ = -1;
  return Status::Ok();
}

Status PartFileWriter::SyncDirectory() {
  const int fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, fmt::format("opening directory '{}' to sync it", directory_));
  Status status;
  if (::fsync(fd) != 0) status = ErrnoStatus(errno, fmt::format("fsync of directory '{}'", directory_));
  ::close(fd);
  return status;
}

Result<std::string> PartFileWriter::Snapshot(int64_t checkpoint_id) {
  if (!error_.ok()) return error_;
  RETURN_IF_ERROR(ClosePart());
  // The renames into pending must survive a crash before the checkpoint's metadata does.
  if (!pending_.empty()) RETURN_IF_ERROR(SyncDirectory());
  BlobWriter blob(kBlobTag);
  blob.PutInt64(subtask_);
  blob.PutInt64(next_part_);
  blob.PutInt64(static_cast<int64_t>(pending_.size()));
  for (Pending& file : pending_) {
    if (file.checkpoint_id == kUnclaimed) file.checkpoint_id = checkpoint_id;
    blob.PutInt64(file.part);
    blob.PutInt64(file.checkpoint_id);
  }
  return std::move(blob).Finish();
}

Status PartFileWriter::CommitFile(int subtask, int64_t part, bool tolerate_committed, std::string_view what) {
  const std::string pending = PathOf(HiddenName(subtask, part, kPending));
  const std::string visible = PathOf(VisibleName(subtask, part));
  if (::rename(pending.c_str(), visible.c_str()) == 0) return Status::Ok();
  const int err = errno;
  if (err == ENOENT && tolerate_committed) {
    struct stat info;
    if (::stat(visible.c_str(), &info) == 0) return Status::Ok();  // committed before the crash
    return DataLoss("{}: part file '{}' of the checkpoint is neither pending ('{}') nor committed", what,
                    visible, pending);
  }
  return ErrnoStatus(err, fmt::format("committing '{}' to '{}'", pending, visible));
}

template <typename Select>
Status PartFileWriter::CommitWhere(Select select) {
  bool committed = false;
  Status status;
  auto kept = pending_.begin();
  for (auto file = pending_.begin(); file != pending_.end(); ++file) {
    if (status.ok() && select(*file)) {
      status = CommitFile(subtask_, file->part, /*tolerate_committed=*/false, directory_);
      if (status.ok()) {
        committed = true;
        continue;
      }
    }
    *kept++ = *file;  // not selected, or not committed because of an error: still pending
  }
  pending_.erase(kept, pending_.end());
  if (committed) {
    Status synced = SyncDirectory();
    if (status.ok()) status = synced;
  }
  return status;
}

Status PartFileWriter::CommitUpTo(int64_t checkpoint_id) {
  return CommitWhere([checkpoint_id](const Pending& file) {
    return file.checkpoint_id != kUnclaimed && file.checkpoint_id <= checkpoint_id;
  });
}

Status PartFileWriter::RemoveHiddenFiles(int subtask) {
  const std::string prefix = fmt::format(".part-{}-", subtask);
  DIR* dir = ::opendir(directory_.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, fmt::format("listing output directory '{}'", directory_));
  std::vector<std::string> doomed;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name.starts_with(prefix)) doomed.emplace_back(name);
  }
  ::closedir(dir);
  for (const std::string& name : doomed) {
    const std::string path = PathOf(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, fmt::format("removing uncommitted part file '{}'", path));
    }
  }
  return Status::Ok();
}

Status PartFileWriter::Restore(const std::vector<std::string>& blobs, int old_parallelism, int parallelism,
                               std::string_view what) {
  WEIR_CHECK_MSG(fd_ < 0 && pending_.empty(), "PartFileWriter::Restore after writing");
  if (blobs.empty()) return Status::Ok();
  if (old_parallelism == parallelism && blobs.size() != 1) {
    return DataLoss("{}: expected this subtask's one file-sink state, the checkpoint holds {}", what, blobs.size());
  }
  int64_t next_part = 0;
  bool committed = false;
  bool removed_own = false;
  for (const std::string& bytes : blobs) {
    BlobReader blob(bytes, std::string(what));
    RETURN_IF_ERROR(blob.ExpectTag(kBlobTag));
    ASSIGN_OR_RETURN(int64_t old_subtask, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t old_next_part, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t count, blob.GetInt64());
    if (old_subtask < 0 || old_subtask >= std::max(old_parallelism, 1) || old_next_part < 0 || count < 0) {
      return DataLoss("{}: corrupt file-sink state (subtask {}, next part {}, {} pending files)", what,
                      old_subtask, old_next_part, count);
    }
    next_part = std::max(next_part, old_next_part);
    const bool inherited = old_parallelism == parallelism || old_subtask % parallelism == subtask_;
    for (int64_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(int64_t part, blob.GetInt64());
      ASSIGN_OR_RETURN(int64_t checkpoint_id, blob.GetInt64());
      (void)checkpoint_id;  // every file the restored checkpoint lists is committed by it
      if (!inherited) continue;
      RETURN_IF_ERROR(CommitFile(static_cast<int>(old_subtask), part, /*tolerate_committed=*/true, what));
      committed = true;
    }
    RETURN_IF_ERROR(blob.ExpectEnd());
    if (inherited) {
      RETURN_IF_ERROR(RemoveHiddenFiles(static_cast<int>(old_subtask)));
      removed_own = removed_own || old_subtask == subtask_;
    }
  }
  // This subtask's own name prefix: leftovers of an older run are not work of the checkpoint.
  if (!removed_own) RETURN_IF_ERROR(RemoveHiddenFiles(subtask_));
  if (committed) RETURN_IF_ERROR(SyncDirectory());
  cleaned_ = true;
  next_part_ = next_part;
  return Status::Ok();
}

Status PartFileWriter::Finish(bool success) {
  if (success) {
    if (!error_.ok()) return error_;
    RETURN_IF_ERROR(ClosePart());
    return CommitWhere([](const Pending&) { return true; });
  }
  Status status;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    const std::string in_progress = PathOf(HiddenName(subtask_, current_part_, kInProgress));
    if (::unlink(in_progress.c_str()) != 0 && errno != ENOENT) {
      status = ErrnoStatus(errno, fmt::format("removing in-progress part file '{}'", in_progress));
    }
  }
  // Pending files no checkpoint claimed are work after the last checkpoint: a restore replays it.
  auto kept = pending_.begin();
  for (const Pending& file : pending_) {
    if (file.checkpoint_id != kUnclaimed) {
      *kept++ = file;
      continue;
    }
    const std::string path = PathOf(HiddenName(subtask_, file.part, kPending));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && status.ok()) {
      status = ErrnoStatus(errno, fmt::format("removing uncommitted part file '{}'", path));
    }
  }
  pending_.erase(kept, pending_.end());
  return status;
}

}  // namespace weir::connectors
