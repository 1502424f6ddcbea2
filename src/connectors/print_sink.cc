#include "connectors/print_sink.h"

#include <unistd.h>

#include <cerrno>

namespace weir::connectors {

Status WriteFully(int fd, std::string_view bytes, std::string_view what) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, fmt::format("writing to {}", what));
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return Status::Ok();
}

}  // namespace weir::connectors
