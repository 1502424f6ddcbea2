// PrintSink: records as text lines on stdout or stderr (Flink's print() / printToErr()). With
// parallelism > 1 each line starts with "<subtask>> " (1-based), and with an identifier
// "<identifier>:<subtask>> ", exactly as Flink's PrintSinkOutputWriter does.
//
// Lines are formatted into a buffer that is written with one write() when it is large, when the
// task runs out of input for the moment, and at the end; each write holds whole lines, so lines of
// parallel subtasks never interleave within a line.
#pragma once

#include <string>

#include "operators/source_operator.h"
#include "serde/text_format.h"

namespace weir::connectors {

// Writes whole buffers to a file descriptor, retrying short writes; the error names `what`.
Status WriteFully(int fd, std::string_view bytes, std::string_view what);

template <typename T>
class PrintSink final : public operators::SinkOperator<T> {
 public:
  PrintSink(bool to_stderr, std::string identifier)
      : fd_(to_stderr ? 2 : 1), identifier_(std::move(identifier)) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(operators::SinkOperator<T>::Open(context));
    if (context->parallelism > 1) {
      prefix_ = identifier_.empty() ? fmt::format("{}> ", context->subtask_index + 1)
                                    : fmt::format("{}:{}> ", identifier_, context->subtask_index + 1);
    } else if (!identifier_.empty()) {
      prefix_ = identifier_ + "> ";
    }
    buffer_.reserve(kFlushBytes + 4096);
    return Status::Ok();
  }

  void Collect(const T& value, Timestamp) override {
    buffer_.append(prefix_);
    serde::AppendText(buffer_, value);
    buffer_.push_back('\n');
    if (buffer_.size() >= kFlushBytes) Flush();
  }
  void Flush() override {
    if (buffer_.empty()) return;
    Status status = WriteFully(fd_, buffer_, fd_ == 1 ? "stdout" : "stderr");
    if (!status.ok()) this->context()->Fail(status);
    buffer_.clear();
  }
  void EndInput() override { Flush(); }

 private:
  static constexpr size_t kFlushBytes = 64 * 1024;
  int fd_;
  std::string identifier_;
  std::string prefix_;
  std::string buffer_;
};

}  // namespace weir::connectors
