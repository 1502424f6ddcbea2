#include "connectors/file_lines.h"

#include <algorithm>

#include "connectors/checkpoint_blob.h"

namespace weir::connectors {
namespace {
constexpr size_t kReadBufferBytes = 4 << 20;
constexpr int64_t kMinSplitBytes = 1 << 20;
constexpr std::string_view kPositionTag = "FLN1";
}  // namespace

Status FileLines::Open(const std::vector<std::string>& paths, int subtask, int parallelism,
                       operators::SourceSplitListener* listener) {
  listener_ = listener;
  paths_ = paths;
  size_t global_split = 0;
  for (size_t f = 0; f < paths.size(); ++f) {
    ASSIGN_OR_RETURN(std::unique_ptr<io::ReadableFile> file, io::ReadableFile::Open(paths[f]));
    for (const io::FileSplit& split : io::SplitFile(file->size(), parallelism, kMinSplitBytes)) {
      if (static_cast<int>(global_split % static_cast<size_t>(parallelism)) == subtask) {
        assignments_.push_back({f, split, static_cast<int64_t>(global_split)});
      }
      ++global_split;
    }
    files_.push_back(std::move(file));
  }
  return Status::Ok();
}

std::string FileLines::SnapshotPosition() const {
  BlobWriter blob(kPositionTag);
  std::vector<Assignment> unread;
  if (reader_ != nullptr) {
    const Assignment& current = assignments_[next_assignment_ - 1];
    const int64_t position = reader_->position();
    if (position < current.split.end && position < files_[current.file]->size()) {
      unread.push_back({current.file, io::FileSplit{position, current.split.end}, current.id});
    }
  }
  // Before the first Next() nothing has been opened: every assignment is unread.
  for (size_t i = started_ ? next_assignment_ : 0; i < assignments_.size(); ++i) unread.push_back(assignments_[i]);
  blob.PutInt64(static_cast<int64_t>(unread.size()));
  for (const Assignment& range : unread) {
    blob.PutString(paths_[range.file]);
    blob.PutInt64(files_[range.file]->size());
    blob.PutInt64(range.split.start);
    blob.PutInt64(range.split.end);
    blob.PutInt64(range.id);
  }
  return std::move(blob).Finish();
}

Status FileLines::DecodeAssignments(std::string_view bytes, std::string_view what,
                                    std::vector<Assignment>* out) const {
  BlobReader blob(bytes, std::string(what));
  RETURN_IF_ERROR(blob.ExpectTag(kPositionTag));
  ASSIGN_OR_RETURN(int64_t count, blob.GetInt64());
  for (int64_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(std::string path, blob.GetString());
    ASSIGN_OR_RETURN(int64_t size, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t start, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t end, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t id, blob.GetInt64());
    const auto found = std::find(paths_.begin(), paths_.end(), path);
    if (found == paths_.end()) {
      return FailedPrecondition("{}: the checkpoint has unread lines of '{}', which is not an input of this job",
                                what, path);
    }
    const size_t file = static_cast<size_t>(found - paths_.begin());
    if (files_[file]->size() != size) {
      return FailedPrecondition("{}: input file '{}' changed since the checkpoint (it had {} bytes, now {})",
                                what, path, size, files_[file]->size());
    }
    if (start < 0 || start > end || end > size) {
      return DataLoss("{}: checkpointed range [{}, {}) lies outside '{}' ({} bytes)", what, start, end, path, size);
    }
    out->push_back({file, io::FileSplit{start, end}, id});
  }
  return blob.ExpectEnd();
}

Status FileLines::RestorePosition(const std::vector<std::string>& blobs, int old_parallelism, int subtask,
                                  int parallelism, std::string_view what) {
  WEIR_CHECK_MSG(!started_, "FileLines::RestorePosition after the first line was read");
  if (blobs.empty()) return Status::Ok();
  std::vector<Assignment> restored;
  if (old_parallelism == parallelism) {
    if (blobs.size() != 1) {
      return DataLoss("{}: expected this subtask's one position, the checkpoint holds {}", what, blobs.size());
    }
    RETURN_IF_ERROR(DecodeAssignments(blobs[0], what, &restored));
  } else {
    std::vector<Assignment> pooled;
    for (const std::string& blob : blobs) RETURN_IF_ERROR(DecodeAssignments(blob, what, &pooled));
    for (size_t k = 0; k < pooled.size(); ++k) {
      if (static_cast<int>(k % static_cast<size_t>(parallelism)) == subtask) restored.push_back(pooled[k]);
    }
  }
  assignments_ = std::move(restored);
  next_assignment_ = 0;
  return Status::Ok();
}

void FileLines::OpenNextSplit() {
  if (reader_ != nullptr && listener_ != nullptr) {
    listener_->SplitFinished(assignments_[next_assignment_ - 1].id);
  }
  reader_.reset();
  if (next_assignment_ == assignments_.size()) return;
  const Assignment& assignment = assignments_[next_assignment_++];
  current_file_ = assignment.file;
  if (listener_ != nullptr) listener_->SplitStarted(assignment.id);
  reader_ = std::make_unique<io::LineReader>(files_[assignment.file].get(), assignment.split,
                                             kReadBufferBytes);
}

Result<bool> FileLines::Next(std::string_view* line) {
  if (!started_) [[unlikely]] {
    started_ = true;
    OpenNextSplit();
  }
  while (reader_ != nullptr) {
    ASSIGN_OR_RETURN(bool has_line, reader_->Next(line));
    if (has_line) {
      bytes_read_ += static_cast<int64_t>(line->size()) + 1;
      return true;
    }
    OpenNextSplit();
  }
  return false;
}

void FileLines::Close() {
  reader_.reset();
  files_.clear();
}

Result<int64_t> FileLines::ExactLineNumber() const {
  if (reader_ == nullptr) return int64_t{0};
  if (exact_line_numbers()) return reader_->line_number();
  const io::ReadableFile& file = *files_[current_file_];
  std::vector<std::byte> chunk(1 << 20);
  int64_t newlines = 0;
  for (int64_t offset = 0; offset < reader_->line_offset();) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(chunk.size(), reader_->line_offset() - offset));
    ASSIGN_OR_RETURN(size_t read, file.ReadAt(offset, std::span<std::byte>(chunk.data(), want)));
    if (read == 0) break;
    newlines += std::count(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(read), std::byte{'\n'});
    offset += static_cast<int64_t>(read);
  }
  return newlines + 1;
}

const std::string& FileLines::path() const { return files_[current_file_]->path(); }

std::string FileLines::Location() const {
  if (reader_ == nullptr) return {};
  if (exact_line_numbers()) return fmt::format("{}:{}", path(), reader_->line_number());
  return fmt::format("{}:byte {}", path(), reader_->line_offset());
}

}  // namespace weir::connectors
