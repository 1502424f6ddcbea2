#include "connectors/file_lines.h"

#include <algorithm>

namespace weir::connectors {
namespace {
constexpr size_t kReadBufferBytes = 4 << 20;
constexpr int64_t kMinSplitBytes = 1 << 20;
}  // namespace

Status FileLines::Open(const std::vector<std::string>& paths, int subtask, int parallelism,
                       operators::SourceSplitListener* listener) {
  listener_ = listener;
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
  OpenNextSplit();
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
