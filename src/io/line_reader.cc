#include "io/line_reader.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"

namespace weir::io {
namespace {

// Once past the split's end a reader only finishes its last line, usually a few bytes away, so it
// reads in small steps there instead of a whole buffer of the next split's data.
constexpr size_t kTailReadBytes = 64 << 10;

}  // namespace

std::vector<FileSplit> SplitFile(int64_t size, int max_splits, int64_t min_split_bytes) {
  WEIR_CHECK(size >= 0);
  const int64_t min_bytes = std::max<int64_t>(min_split_bytes, 1);
  const int64_t splits = std::clamp<int64_t>(size / min_bytes, 1, std::max(max_splits, 1));
  std::vector<FileSplit> result;
  result.reserve(static_cast<size_t>(splits));
  for (int64_t i = 0; i < splits; ++i) {
    // 128-bit products: size * i overflows int64 for files past 2^63 / splits bytes.
    const auto boundary = [&](int64_t k) {
      return static_cast<int64_t>(static_cast<__int128>(size) * k / splits);
    };
    result.push_back({boundary(i), boundary(i + 1)});
  }
  return result;
}

LineReader::LineReader(const ReadableFile* file, FileSplit split, size_t buffer_bytes,
                       size_t max_line_bytes)
    : file_(file),
      split_(split),
      max_line_bytes_(max_line_bytes),
      buffer_(new char[buffer_bytes]),
      capacity_(buffer_bytes),
      buffer_offset_(split.start),
      skipped_(split.start == 0) {
  WEIR_CHECK(file != nullptr);
  WEIR_CHECK(0 <= split.start && split.start <= split.end);
  WEIR_CHECK(buffer_bytes >= 1 && max_line_bytes >= buffer_bytes);
}

std::string LineReader::Location(int64_t offset) const {
  if (starts_at_file_start()) return fmt::format("{}:line {}", file_->path(), line_number_ + 1);
  return fmt::format("{}:byte {}", file_->path(), offset);
}

Status LineReader::Fill() {
  // Drop the consumed bytes; grow only when an unfinished line fills the whole buffer.
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, limit_ - begin_);
    buffer_offset_ += static_cast<int64_t>(begin_);
    limit_ -= begin_;
    begin_ = 0;
  }
  if (limit_ == capacity_) {
    if (capacity_ >= max_line_bytes_) {
      return InvalidArgument("{}: line longer than the limit of {} bytes", Location(buffer_offset_),
                             max_line_bytes_);
    }
    const size_t grown = std::min(capacity_ * 2, max_line_bytes_);
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buffer_.get(), limit_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
  }
  const int64_t read_offset = buffer_offset_ + static_cast<int64_t>(limit_);
  const int64_t before_end = split_.end - read_offset;
  const size_t wanted =
      std::min(capacity_ - limit_, std::max<size_t>(kTailReadBytes, before_end > 0 ? before_end : 0));
  ASSIGN_OR_RETURN(const size_t read,
                   file_->ReadAt(read_offset, std::span<std::byte>(
                                                  reinterpret_cast<std::byte*>(buffer_.get() + limit_), wanted)));
  limit_ += read;
  if (read < wanted || read_offset + static_cast<int64_t>(read) >= file_->size()) eof_ = true;
  return Status::Ok();
}

Status LineReader::SkipPartialLine() {
  // Start one byte early: when that byte is the '\n' ending the previous line, the line at
  // split.start is ours and nothing else is skipped.
  buffer_offset_ = split_.start - 1;
  while (true) {
    const char* newline =
        static_cast<const char*>(std::memchr(buffer_.get() + begin_, '\n', limit_ - begin_));
    if (newline != nullptr) {
      begin_ = static_cast<size_t>(newline - buffer_.get()) + 1;
      return Status::Ok();
    }
    // The skipped bytes are not needed: drop them so a long partial line never grows the buffer.
    begin_ = limit_;
    if (eof_) return Status::Ok();
    RETURN_IF_ERROR(Fill());
  }
}

Result<bool> LineReader::Next(std::string_view* line) {
  if (done_) return false;
  if (!skipped_) {
    RETURN_IF_ERROR(SkipPartialLine());
    skipped_ = true;
  }
  const int64_t start = position();
  if (start >= split_.end || start >= file_->size()) {
    done_ = true;
    return false;
  }
  while (true) {
    const char* data = buffer_.get();
    const char* newline =
        static_cast<const char*>(std::memchr(data + begin_ + scanned_, '\n', limit_ - begin_ - scanned_));
    size_t line_end;
    size_t next_begin;
    if (newline != nullptr) {
      line_end = static_cast<size_t>(newline - data);
      next_begin = line_end + 1;
    } else if (!eof_) {
      scanned_ = limit_ - begin_;
      RETURN_IF_ERROR(Fill());
      continue;
    } else if (limit_ > begin_) {
      line_end = limit_;  // the last line of the file, without '\n'
      next_begin = limit_;
    } else {
      done_ = true;  // the file shrank after it was opened
      return false;
    }
    size_t length = line_end - begin_;
    if (length > 0 && data[begin_ + length - 1] == '\r') --length;
    *line = std::string_view(data + begin_, length);
    line_offset_ = buffer_offset_ + static_cast<int64_t>(begin_);
    ++line_number_;
    begin_ = next_begin;
    scanned_ = 0;
    return true;
  }
}

}  // namespace weir::io
