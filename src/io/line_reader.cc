#include "io/line_reader.h"

#include <algorithm>
#include <cstring>

namespace weir::io {

std::vector<FileSplit> SplitFile(int64_t size, int splits, int64_t min_split_bytes) {
  splits = std::max(1, splits);
  if (min_split_bytes > 0) splits = static_cast<int>(std::clamp<int64_t>(size / min_split_bytes, 1, splits));
  std::vector<FileSplit> result;
  for (int i = 0; i < splits; ++i) {
    result.push_back({size * i / splits, size * (i + 1) / splits});
  }
  return result;
}

LineReader::LineReader(const ReadableFile* file, FileSplit split, size_t buffer_bytes)
    : file_(file), split_(split), buffer_(std::max<size_t>(buffer_bytes, 64)) {
  buffer_offset_ = split.start;
  next_line_offset_ = split.start;
}

Result<bool> LineReader::Fill() {
  if (eof_) return false;
  // Keep the unconsumed bytes (a partial line) at the front; grow when they fill the buffer.
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    buffer_offset_ += static_cast<int64_t>(begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) {
    if (buffer_.size() >= kMaxLineBytes) {
      return InvalidArgument("{}: the line at byte {} is longer than {} MiB", file_->path(),
                             buffer_offset_, kMaxLineBytes >> 20);
    }
    buffer_.resize(std::min(buffer_.size() * 2, kMaxLineBytes));
  }
  const int64_t read_offset = buffer_offset_ + static_cast<int64_t>(end_);
  ASSIGN_OR_RETURN(size_t read, file_->ReadAt(read_offset, std::span<std::byte>(buffer_).subspan(end_)));
  if (read == 0 || read_offset + static_cast<int64_t>(read) >= file_->size()) eof_ = true;
  end_ += read;
  return read > 0;
}

Status LineReader::SkipPartialFirstLine() {
  // The line that starts at split.start is ours only if the byte before it ends a line.
  begin_ = end_ = 0;
  buffer_offset_ = split_.start - 1;
  while (true) {
    const std::byte* data = buffer_.data();
    const void* newline = std::memchr(data + begin_, '\n', end_ - begin_);
    if (newline != nullptr) {
      begin_ = static_cast<size_t>(static_cast<const std::byte*>(newline) - data) + 1;
      next_line_offset_ = buffer_offset_ + static_cast<int64_t>(begin_);
      return Status::Ok();
    }
    begin_ = end_;
    ASSIGN_OR_RETURN(bool more, Fill());
    if (!more && begin_ == end_) {
      next_line_offset_ = file_->size();
      return Status::Ok();
    }
  }
}

Result<bool> LineReader::Next(std::string_view* line) {
  if (!started_) {
    started_ = true;
    if (split_.start > 0) RETURN_IF_ERROR(SkipPartialFirstLine());
  }
  if (next_line_offset_ >= split_.end || next_line_offset_ >= file_->size()) return false;
  while (true) {
    const std::byte* data = buffer_.data();
    const void* newline = std::memchr(data + begin_, '\n', end_ - begin_);
    size_t line_end;
    size_t next_begin;
    if (newline != nullptr) {
      line_end = static_cast<size_t>(static_cast<const std::byte*>(newline) - data);
      next_begin = line_end + 1;
    } else {
      ASSIGN_OR_RETURN(bool more, Fill());
      if (more) continue;
      if (begin_ == end_) return false;
      line_end = end_;  // the last line, without a newline
      next_begin = end_;
      data = buffer_.data();
    }
    data = buffer_.data();
    size_t length = line_end - begin_;
    const char* text = reinterpret_cast<const char*>(data + begin_);
    if (length > 0 && text[length - 1] == '\r') --length;
    *line = std::string_view(text, length);
    line_offset_ = buffer_offset_ + static_cast<int64_t>(begin_);
    ++line_number_;
    begin_ = next_begin;
    next_line_offset_ = buffer_offset_ + static_cast<int64_t>(begin_);
    return true;
  }
}

}  // namespace weir::io
