// LineReader over a 128 MiB text file (in the page cache after generation) against the floor of
// what any line splitter can do: read() into a buffer plus a memchr loop, carrying the partial
// line across reads. Read bytes_per_second; both count the same lines (checked).
#include "io/line_reader.h"

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

namespace weir::io {
namespace {

constexpr int64_t kFileBytes = int64_t{128} << 20;
constexpr size_t kReadBufferBytes = size_t{4} << 20;  // LineReader's default buffer, for both

// The generated file: lines of 0..200 random letters, some ending in "\r\n". Created on first
// use, removed at exit.
class TextFile {
 public:
  static const TextFile& Get() {
    static const TextFile file;
    return file;
  }
  ~TextFile() { std::filesystem::remove(path_); }
  TextFile(const TextFile&) = delete;
  TextFile& operator=(const TextFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t lines() const { return lines_; }

 private:
  TextFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weir_line_reader_bench.XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) std::abort();
    path_ = pattern;
    std::mt19937_64 random(42);
    std::string chunk;
    int64_t written = 0;
    while (written < kFileBytes) {
      chunk.clear();
      while (chunk.size() < (size_t{1} << 20)) {
        const size_t length = random() % 201;
        for (size_t i = 0; i < length; ++i) chunk.push_back(static_cast<char>('a' + random() % 26));
        chunk += random() % 8 == 0 ? "\r\n" : "\n";
        ++lines_;
      }
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) std::abort();
      written += static_cast<int64_t>(chunk.size());
    }
    ::close(fd);
  }

  std::string path_;
  int64_t lines_ = 0;
};

void BM_LineReader_Lines(benchmark::State& state) {
  const TextFile& text = TextFile::Get();
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(text.path());
  if (!file.ok()) {
    state.SkipWithError(file.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    LineReader reader(file->get(), FileSplit{0, (*file)->size()});
    int64_t lines = 0;
    size_t bytes = 0;
    std::string_view line;
    while (true) {
      Result<bool> more = reader.Next(&line);
      if (!more.ok() || !*more) break;
      ++lines;
      bytes += line.size();
    }
    benchmark::DoNotOptimize(bytes);
    if (lines != text.lines()) state.SkipWithError("line count differs from the generated file");
  }
  state.SetBytesProcessed(state.iterations() * (*file)->size());
  state.SetItemsProcessed(state.iterations() * text.lines());
}
BENCHMARK(BM_LineReader_Lines)->Unit(benchmark::kMillisecond);

void BM_ReadMemchr_Lines(benchmark::State& state) {
  const TextFile& text = TextFile::Get();
  std::unique_ptr<char[]> buffer(new char[kReadBufferBytes]);
  int64_t file_bytes = 0;
  for (auto _ : state) {
    const int fd = ::open(text.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::abort();
    int64_t lines = 0;
    size_t bytes = 0;
    size_t kept = 0;  // a partial line carried to the front of the buffer
    file_bytes = 0;
    while (true) {
      const ssize_t n = ::read(fd, buffer.get() + kept, kReadBufferBytes - kept);
      if (n < 0) std::abort();
      file_bytes += n;
      const size_t limit = kept + static_cast<size_t>(n);
      size_t begin = 0;
      while (const char* newline = static_cast<const char*>(std::memchr(buffer.get() + begin, '\n', limit - begin))) {
        size_t length = static_cast<size_t>(newline - buffer.get()) - begin;
        if (length > 0 && buffer[begin + length - 1] == '\r') --length;
        ++lines;
        bytes += length;
        begin = static_cast<size_t>(newline - buffer.get()) + 1;
      }
      if (n == 0) {
        if (limit > begin) ++lines;  // a last line without '\n'
        break;
      }
      kept = limit - begin;
      std::memmove(buffer.get(), buffer.get() + begin, kept);
    }
    ::close(fd);
    benchmark::DoNotOptimize(bytes);
    if (lines != text.lines()) state.SkipWithError("line count differs from the generated file");
  }
  state.SetBytesProcessed(state.iterations() * file_bytes);
  state.SetItemsProcessed(state.iterations() * text.lines());
}
BENCHMARK(BM_ReadMemchr_Lines)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::io
