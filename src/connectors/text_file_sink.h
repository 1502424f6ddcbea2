// TextFileSink: records as text lines in a file (Flink's writeAsText / writeAsCsv). With
// parallelism 1 the path is the output file; with parallelism > 1 it is a directory holding one
// file per subtask named 1, 2, ... (as Flink's writeAsText does) -- unless it is a device or FIFO
// such as /dev/null, which every subtask writes directly.
//
// Output is written into a hidden in-progress file next to the target and renamed into place
// only when the whole job has succeeded (Finalize(true)); a job that fails or is cancelled removes
// it, so partial output is never presented as complete. An existing file at the target is
// replaced at commit.
#pragma once

#include <memory>
#include <string>

#include "io/file.h"
#include "operators/source_operator.h"
#include "serde/text_format.h"

namespace weir::connectors {

// The file subtask `subtask` of `parallelism` writes for `path` (creating the directory if needed).
Result<std::string> SubtaskOutputPath(const std::string& path, int subtask, int parallelism);

// `Format` appends one record's text without the newline: `void(std::string&, const T&)`.
template <typename T, typename Format>
class TextFileSink final : public operators::SinkOperator<T> {
 public:
  TextFileSink(std::string path, Format format) : path_(std::move(path)), format_(std::move(format)) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(operators::SinkOperator<T>::Open(context));
    ASSIGN_OR_RETURN(std::string file_path,
                     SubtaskOutputPath(path_, context->subtask_index, context->parallelism));
    ASSIGN_OR_RETURN(file_, io::WritableFile::Create(file_path));
    return Status::Ok();
  }

  void Collect(const T& value, Timestamp) override {
    format_(lines_, value);
    lines_.push_back('\n');
    if (lines_.size() >= kAppendBytes) Flush();
  }
  void Flush() override {
    if (lines_.empty() || file_ == nullptr) return;
    Status status = file_->Append(lines_);
    if (!status.ok()) [[unlikely]] this->context()->Fail(status);
    lines_.clear();
  }
  void EndInput() override { Flush(); }

  Status Finalize(bool success) override {
    if (file_ == nullptr) return Status::Ok();
    if (success) Flush();
    std::unique_ptr<io::WritableFile> file = std::move(file_);
    if (!success) return file->Abort();
    return file->Commit();
  }

 private:
  std::string path_;
  Format format_;
  // Lines are formatted here and handed to the file 64 KiB at a time.
  static constexpr size_t kAppendBytes = 64 * 1024;
  std::string lines_;
  std::unique_ptr<io::WritableFile> file_;
};

// The default format: Flink's toString of the record.
struct ToStringFormat {
  template <typename T>
  void operator()(std::string& out, const T& value) const {
    serde::AppendText(out, value);
  }
};

// Consumes records and does nothing with them (Flink's DiscardingSink / blackhole connector).
template <typename T>
class BlackholeSink final : public operators::SinkOperator<T> {
 public:
  void Collect(const T& value, Timestamp) override {
    // Keep the value observable so the work that produced it is not optimized away.
    asm volatile("" : : "r"(&value) : "memory");
    ++count_;
  }
  void EndInput() override {}
  int64_t count() const { return count_; }

 private:
  int64_t count_ = 0;
};

}  // namespace weir::connectors
