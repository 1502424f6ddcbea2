#include "base/check.h"

#include <cstdio>
#include <cstdlib>

#include "base/status.h"

namespace weir::internal {

void CheckFailed(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "weir: internal error: %s:%d: CHECK(%s) failed%s%s\n", file, line, condition,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace weir::internal
