#include "connectors/text_file_sink.h"

#include <sys/stat.h>

#include <cerrno>

namespace weir::connectors {

Result<std::string> SubtaskOutputPath(const std::string& path, int subtask, int parallelism) {
  if (path.empty()) return InvalidArgument("the output path is empty");
  if (parallelism == 1) return path;
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0 && !S_ISDIR(existing.st_mode) && !S_ISREG(existing.st_mode)) {
    return path;  // a device or FIFO (/dev/null, /dev/stdout): every subtask writes to it
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, fmt::format("creating output directory '{}'", path));
  }
  struct stat info;
  if (::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return InvalidArgument(
        "output '{}' exists and is not a directory; with parallelism {} it must be a directory", path,
        parallelism);
  }
  return fmt::format("{}/{}", path, subtask + 1);
}

}  // namespace weir::connectors
