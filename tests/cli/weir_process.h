// Test helper: runs the weir binary as a child process and captures its exit code and output.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace weir::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs weir with `args`; when `signal_after_ms` >= 0, sends `signal_number` to it after that long.
inline ProcessResult RunWeir(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null",
                             int signal_after_ms = -1, int signal_number = 0) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("weir-cli-" + std::to_string(::getpid()) + "-" + std::to_string(rand()));
  std::filesystem::create_directories(dir);
  const std::string out_path = dir / "stdout";
  const std::string err_path = dir / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> full{WEIR_BINARY};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : full) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  ProcessResult result;
  if (posix_spawn(&pid, WEIR_BINARY, &actions, nullptr, argv.data(), environ) == 0) {
    if (signal_after_ms >= 0) {
      ::usleep(static_cast<useconds_t>(signal_after_ms) * 1000);
      ::kill(pid, signal_number);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&actions);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace weir::testing
