// Job log lines on stderr ("weir: checkpoint 3 completed ..."), for what a person running a job
// should see happen: checkpoints, restores, restarts, skipped corrupt checkpoints. Not for the
// record path. Each line is written with one fmt::print call (stdio locks the stream per call), so
// lines from different threads do not interleave.
#pragma once

#include <cstdio>

#include <fmt/format.h>

namespace weir {

template <typename... Args>
void LogInfo(fmt::format_string<Args...> format, Args&&... args) {
  fmt::print(stderr, "weir: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace weir
