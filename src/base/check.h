// CHECK: always-on invariant checks whose violation would corrupt data; DCHECK: the same, compiled
// out of Release builds, for hot paths. A failed check prints file:line and the condition and
// aborts: it marks a bug in weir, never a condition the world can cause (use Status for those).
#pragma once

#include <fmt/format.h>

namespace weir::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition, const std::string& message);
}  // namespace weir::internal

#define WEIR_CHECK(condition)                                                    \
  do {                                                                           \
    if (__builtin_expect(!(condition), 0))                                       \
      ::weir::internal::CheckFailed(__FILE__, __LINE__, #condition, {});         \
  } while (false)

// WEIR_CHECK_MSG(cond, "format {}", args...)
#define WEIR_CHECK_MSG(condition, ...)                                                         \
  do {                                                                                         \
    if (__builtin_expect(!(condition), 0))                                                     \
      ::weir::internal::CheckFailed(__FILE__, __LINE__, #condition, fmt::format(__VA_ARGS__)); \
  } while (false)

#define WEIR_CHECK_OK(expr)                                                               \
  do {                                                                                    \
    ::weir::Status weir_check_status_ = (expr);                                           \
    if (__builtin_expect(!weir_check_status_.ok(), 0))                                    \
      ::weir::internal::CheckFailed(__FILE__, __LINE__, #expr, weir_check_status_.ToString()); \
  } while (false)

#ifdef NDEBUG
#define WEIR_DCHECK(condition) \
  do {                         \
    (void)sizeof(condition);   \
  } while (false)
#else
#define WEIR_DCHECK(condition) WEIR_CHECK(condition)
#endif
