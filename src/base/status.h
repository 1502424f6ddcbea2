// Status and Result<T>: how weir reports what the world can cause (I/O errors, bad input, bad
// configuration, an exhausted memory budget). Invariants use CHECK (check.h) instead.
//
// A Status is one pointer wide: OK is a null pointer, an error owns a heap-allocated code and
// message. Errors are rare and carry context ("input.txt:12:5: ..."), so the OK path costs nothing
// and the error path may allocate.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace weir {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,    // bad flag, bad config value, malformed input record
  kNotFound,           // missing file, unknown example
  kIoError,            // read/write/socket failure
  kResourceExhausted,  // memory budget, pool, disk full
  kFailedPrecondition, // call at the wrong time (e.g. job already running)
  kCancelled,          // job stopped by a signal or by another task's failure
  kInternal,           // a user function failed, an unexpected library error
  kUnimplemented,      // a documented-unsupported feature was asked for
  kDataLoss,           // corrupt file, bad checksum
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  // The message without the code name; empty when OK.
  std::string_view message() const;
  // "InvalidArgument: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>" (no-op on OK).
  Status WithContext(std::string_view context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

template <typename... Args>
Status InvalidArgument(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kInvalidArgument, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status NotFound(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kNotFound, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status IoError(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kIoError, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status ResourceExhausted(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kResourceExhausted, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status FailedPrecondition(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kFailedPrecondition, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status Cancelled(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kCancelled, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status Internal(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kInternal, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status Unimplemented(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kUnimplemented, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Status DataLoss(fmt::format_string<Args...> format, Args&&... args) {
  return Status(StatusCode::kDataLoss, fmt::format(format, std::forward<Args>(args)...));
}

// For test failure messages and logs.
inline std::ostream& operator<<(std::ostream& out, const Status& status) { return out << status.ToString(); }

// Status from errno after a failed syscall: "<what>: <strerror(err)>". ENOENT maps to kNotFound,
// ENOSPC/EDQUOT to kResourceExhausted, everything else to kIoError.
Status ErrnoStatus(int err, std::string_view what);

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result constructed from OK status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

  T ValueOr(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace weir

#define WEIR_CONCAT_INNER(a, b) a##b
#define WEIR_CONCAT(a, b) WEIR_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
// Variadic so that an expression with template commas needs no extra parentheses.
#define RETURN_IF_ERROR(...)                          \
  do {                                                \
    ::weir::Status weir_status_ = (__VA_ARGS__);      \
    if (!weir_status_.ok()) return weir_status_;      \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from the Result's value or returns its Status.
#define ASSIGN_OR_RETURN(lhs, ...) \
  WEIR_ASSIGN_OR_RETURN_IMPL(WEIR_CONCAT(weir_result_, __LINE__), lhs, (__VA_ARGS__))
#define WEIR_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                               \
  if (!result.ok()) return std::move(result).status(); \
  lhs = std::move(result).value()

template <>
struct fmt::formatter<weir::Status> : fmt::formatter<std::string> {
  auto format(const weir::Status& status, format_context& ctx) const {
    return fmt::formatter<std::string>::format(status.ToString(), ctx);
  }
};
