// Test helper: the weir binary as a child process that the test can watch, signal (SIGKILL to
// simulate a crash, SIGTERM to stop with a savepoint) and wait for with a deadline, plus the
// helpers the checkpoint tests share (word-count references, part-file directories).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "weir_process.h"

namespace weir::testing {

class WeirChild {
 public:
  // Starts weir with `args`; `env` entries ("NAME=value") are added to (or override) this
  // process's environment. stdout and stderr go to files under `scratch_dir`.
  WeirChild(const std::vector<std::string>& args, const std::filesystem::path& scratch_dir,
            const std::vector<std::string>& env = {}) {
    static int sequence = 0;
    const std::string tag = std::to_string(++sequence);
    out_path_ = scratch_dir / ("child-" + tag + ".out");
    err_path_ = scratch_dir / ("child-" + tag + ".err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> full{WEIR_BINARY};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : full) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string item(*entry);
      const std::string name = item.substr(0, item.find('='));
      const bool overridden = std::any_of(env.begin(), env.end(), [&](const std::string& e) {
        return e.substr(0, e.find('=')) == name;
      });
      if (!overridden) environment.push_back(item);
    }
    environment.insert(environment.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, WEIR_BINARY, &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    start_ = std::chrono::steady_clock::now();
  }
  WeirChild(const WeirChild&) = delete;
  WeirChild& operator=(const WeirChild&) = delete;
  ~WeirChild() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }

  bool started() const { return pid_ > 0; }
  bool running() const { return pid_ > 0 && exit_code_ < 0; }
  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }

  // True once the child has exited (reaps it).
  bool Poll() {
    if (!running()) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  void Signal(int signal_number) {
    if (running()) ::kill(pid_, signal_number);
  }
  // Waits for the exit; after `timeout_ms` the child is killed (and the result says 128 + 9).
  int Wait(int timeout_ms = 120000) {
    while (!Poll()) {
      if (elapsed_ms() > timeout_ms) ::kill(pid_, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return exit_code_;
  }
  int exit_code() const { return exit_code_; }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

// True when this test binary runs under AddressSanitizer (its weir child then runs several times
// slower, so the tests shrink their inputs).
inline bool UnderSanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Deterministic pseudo-random text: `lines` lines of words drawn (skewed, so some words are hot
// and some rare) from a vocabulary of mixed case, digits, underscores and punctuation.
inline std::string GenerateWords(uint64_t seed, int lines) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {  // splitmix64: the same text on every platform and standard library
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  static const char* const kSeparators[] = {" ", " ", " ", ", ", ". ", " -- ", "\t", "'"};
  std::string text;
  for (int line = 0; line < lines; ++line) {
    const int words = static_cast<int>(next() % 14);
    for (int w = 0; w < words; ++w) {
      const uint64_t r = next();
      // Vocabulary of ~2000 words, hot ones first: min of two draws skews towards small ids.
      const uint64_t id = std::min(r % 2003, (r >> 20) % 2003);
      std::string word = "w" + std::to_string(id);
      if (id % 7 == 0) word[0] = 'W';
      if (id % 11 == 0) word += "_x";
      text += word;
      text += kSeparators[(r >> 40) % 8];
    }
    text += (line % 13 == 0) ? "\r\n" : "\n";
  }
  return text;
}

// Flink's WordCount tokenizer ("lower-case, split on \W+, drop empty tokens"), token by token.
template <typename Visit>
void ForEachToken(const std::string& text, Visit visit) {
  std::string token;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 128 && (std::isalnum(u) || c == '_')) {
      token.push_back(static_cast<char>(std::tolower(u)));
    } else if (!token.empty()) {
      visit(token);
      token.clear();
    }
  }
  if (!token.empty()) visit(token);
}

// WordCount's output lines in input order: the running count per word, one line per token.
inline std::vector<std::string> ReferenceWordCount(const std::string& text) {
  std::vector<std::string> lines;
  std::map<std::string, int64_t> counts;
  ForEachToken(text, [&](const std::string& token) {
    lines.push_back("(" + token + "," + std::to_string(++counts[token]) + ")");
  });
  return lines;
}

// WindowWordCount's output lines in input order (countWindow(window, slide) + sum): every
// `slide`-th occurrence of a word emits the number of its last (at most `window`) occurrences.
inline std::vector<std::string> ReferenceWindowWordCount(const std::string& text, int window, int slide) {
  std::vector<std::string> lines;
  std::map<std::string, int64_t> seen;
  ForEachToken(text, [&](const std::string& token) {
    const int64_t n = ++seen[token];
    if (n % slide == 0) lines.push_back("(" + token + "," + std::to_string(std::min<int64_t>(n, window)) + ")");
  });
  return lines;
}

// The FileSink's committed output: the lines of the visible part files, ordered by subtask and
// part number (`part-<s>-<n>`), so at parallelism 1 they are in the order they were emitted.
struct PartFiles {
  std::vector<std::string> lines;
  std::vector<std::string> hidden;  // names starting with '.' (pending or in-progress files)
  std::vector<std::string> other;   // anything that is neither
};

inline PartFiles ReadPartFiles(const std::filesystem::path& dir) {
  PartFiles result;
  std::map<std::pair<int64_t, int64_t>, std::filesystem::path> parts;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    int64_t subtask = -1;
    int64_t part = -1;
    char tail = 0;
    if (name.starts_with(".")) {
      result.hidden.push_back(name);
    } else if (std::sscanf(name.c_str(), "part-%ld-%ld%c", &subtask, &part, &tail) == 2) {
      parts[{subtask, part}] = entry.path();
    } else {
      result.other.push_back(name);
    }
  }
  for (const auto& [key, path] : parts) {
    for (std::string& line : SplitLines(ReadFile(path))) result.lines.push_back(std::move(line));
  }
  return result;
}

// The completed checkpoints (chk-<n> with a _metadata) under a checkpoint root, newest first.
inline std::vector<std::filesystem::path> CompletedCheckpoints(const std::filesystem::path& root) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code error;
  for (const auto& job : std::filesystem::directory_iterator(root, error)) {
    std::error_code inner;
    for (const auto& entry : std::filesystem::directory_iterator(job.path(), inner)) {
      const std::string name = entry.path().filename().string();
      int64_t id = -1;
      char tail = 0;
      if (std::sscanf(name.c_str(), "chk-%ld%c", &id, &tail) == 1 &&
          std::filesystem::exists(entry.path() / "_metadata", inner)) {
        found.emplace_back(id, entry.path());
      }
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> paths;
  for (auto& [id, path] : found) paths.push_back(std::move(path));
  return paths;
}

// True when a checkpoint is being written: a chk-<n> directory without a _metadata yet, newer than
// the newest completed one (older ones without a _metadata are pruned checkpoints whose files a
// retained incremental checkpoint still references).
inline bool CheckpointInProgress(const std::filesystem::path& root) {
  std::error_code error;
  for (const auto& job : std::filesystem::directory_iterator(root, error)) {
    int64_t newest_complete = -1;
    int64_t newest_incomplete = -1;
    std::error_code inner;
    for (const auto& entry : std::filesystem::directory_iterator(job.path(), inner)) {
      int64_t id = -1;
      char tail = 0;
      if (std::sscanf(entry.path().filename().c_str(), "chk-%ld%c", &id, &tail) != 1) continue;
      int64_t& newest = std::filesystem::exists(entry.path() / "_metadata", inner) ? newest_complete
                                                                                    : newest_incomplete;
      newest = std::max(newest, id);
    }
    if (newest_incomplete > newest_complete) return true;
  }
  return false;
}

// A multiset as a sorted vector (compares equal exactly when the multisets do; much cheaper to
// build for the half a million lines of the crash tests than a std::multiset).
template <typename T>
std::vector<T> AsMultiset(std::vector<T> items) {
  std::sort(items.begin(), items.end());
  return items;
}

}  // namespace weir::testing
