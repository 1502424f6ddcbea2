// TempDir: a fresh directory under /tmp for one test, removed with its files when it goes away.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/check.h"

namespace weir::io {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/weir_io_test.XXXXXX";
    WEIR_CHECK(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& name : Entries()) ::unlink((path_ + "/" + name).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Names in the directory, hidden ones included.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path_.c_str());
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    return names;
  }

 private:
  std::string path_;
};

}  // namespace weir::io
