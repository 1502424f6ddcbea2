#include "connectors/text_file_source.h"

namespace weir::connectors {
namespace {
constexpr size_t kReadBufferBytes = 4 << 20;
constexpr int64_t kMinSplitBytes = 1 << 20;
}  // namespace

Status TextFileSource::CheckReadable(const std::vector<std::string>& paths) {
  if (paths.empty()) return InvalidArgument("no input file given");
  for (const std::string& path : paths) {
    RETURN_IF_ERROR(io::ReadableFile::Open(path).status());
  }
  return Status::Ok();
}

Status TextFileSource::Open(operators::OperatorContext* context) {
  RETURN_IF_ERROR(SourceOperator::Open(context));
  size_t global_split = 0;
  for (size_t f = 0; f < paths_.size(); ++f) {
    ASSIGN_OR_RETURN(std::unique_ptr<io::ReadableFile> file, io::ReadableFile::Open(paths_[f]));
    const std::vector<io::FileSplit> splits =
        io::SplitFile(file->size(), context->parallelism, kMinSplitBytes);
    for (const io::FileSplit& split : splits) {
      if (static_cast<int>(global_split++ % context->parallelism) == context->subtask_index) {
        assignments_.push_back({f, split});
      }
    }
    files_.push_back(std::move(file));
  }
  return OpenNextSplit();
}

Status TextFileSource::OpenNextSplit() {
  reader_.reset();
  if (next_assignment_ == assignments_.size()) return Status::Ok();
  const Assignment& assignment = assignments_[next_assignment_++];
  reader_ = std::make_unique<io::LineReader>(files_[assignment.file].get(), assignment.split,
                                             kReadBufferBytes);
  return Status::Ok();
}

Result<operators::SourceStatus> TextFileSource::Poll(int max_records) {
  operators::Output<std::string_view>* out = output();
  for (int emitted = 0; emitted < max_records;) {
    if (reader_ == nullptr) return operators::SourceStatus::kEndOfInput;
    std::string_view line;
    ASSIGN_OR_RETURN(bool has_line, reader_->Next(&line));
    if (!has_line) {
      RETURN_IF_ERROR(OpenNextSplit());
      continue;
    }
    bytes_read_ += static_cast<int64_t>(line.size()) + 1;
    ++records_emitted_;
    ++emitted;
    out->Collect(line, kMinTimestamp);
  }
  return operators::SourceStatus::kMoreAvailable;
}

void TextFileSource::Close() {
  reader_.reset();
  files_.clear();
}

}  // namespace weir::connectors
