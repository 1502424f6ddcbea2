// LineReader throughput over a generated ~256 MiB text file in /tmp (page cache warm after the
// first pass), against the floor any line splitter has: a read() loop plus memchr over the same
// file in the same process.
#include "io/line_reader.h"

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/check.h"

namespace weir::io {
namespace {

constexpr size_t kFileBytes = size_t{256} << 20;
constexpr size_t kBufferBytes = size_t{4} << 20;

// The text file shared by the benchmarks: created on first use, removed at exit.
class TextFile {
 public:
  static const TextFile& Get() {
    static const TextFile file;
    return file;
  }
  const std::string& path() const { return path_; }
  int64_t size() const { return static_cast<int64_t>(kFileBytes); }

 private:
  TextFile() : path_(fmt::format("/tmp/weir_line_reader_bench_{}.txt", ::getpid())) {
    // A 4 MiB block of lines of 0..120 letters (about 60 on average), repeated to the size.
    std::mt19937_64 random(42);
    std::string block;
    while (block.size() < kBufferBytes) {
      const size_t length = random() % 121;
      for (size_t i = 0; i < length; ++i) block.push_back(static_cast<char>('a' + random() % 26));
      block.push_back('\n');
    }
    block.resize(kBufferBytes);
    block.back() = '\n';
    std::FILE* out = std::fopen(path_.c_str(), "wb");
    WEIR_CHECK(out != nullptr);
    for (size_t written = 0; written < kFileBytes; written += block.size()) {
      WEIR_CHECK(std::fwrite(block.data(), 1, block.size(), out) == block.size());
    }
    WEIR_CHECK(std::fclose(out) == 0);
  }
  ~TextFile() { std::remove(path_.c_str()); }

  std::string path_;
};

void BM_LineReader_Lines(benchmark::State& state) {
  const TextFile& text = TextFile::Get();
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(text.path());
  WEIR_CHECK_OK(file.status());
  int64_t lines = 0;
  for (auto _ : state) {
    LineReader reader(file->get(), {0, (*file)->size()}, kBufferBytes);
    std::string_view line;
    size_t length_sum = 0;
    while (*reader.Next(&line)) {
      length_sum += line.size();
      ++lines;
    }
    benchmark::DoNotOptimize(length_sum);
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.counters["lines/s"] = benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LineReader_Lines)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same file cut into 4 splits read one after another: the cost of split boundaries.
void BM_LineReader_FourSplits(benchmark::State& state) {
  const TextFile& text = TextFile::Get();
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(text.path());
  WEIR_CHECK_OK(file.status());
  const std::vector<FileSplit> splits = SplitFile((*file)->size(), 4, 1 << 20);
  int64_t lines = 0;
  for (auto _ : state) {
    for (const FileSplit& split : splits) {
      LineReader reader(file->get(), split, kBufferBytes);
      std::string_view line;
      while (*reader.Next(&line)) ++lines;
    }
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.counters["lines/s"] = benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LineReader_FourSplits)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: read() into a buffer of the same size and count newlines with memchr.
void BM_ReadLoopMemchr_Lines(benchmark::State& state) {
  const TextFile& text = TextFile::Get();
  std::vector<char> buffer(kBufferBytes);
  int64_t lines = 0;
  for (auto _ : state) {
    const int fd = ::open(text.path().c_str(), O_RDONLY);
    WEIR_CHECK(fd >= 0);
    ssize_t n;
    while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) {
      const char* at = buffer.data();
      const char* end = at + n;
      while (const void* newline = std::memchr(at, '\n', static_cast<size_t>(end - at))) {
        at = static_cast<const char*>(newline) + 1;
        ++lines;
      }
    }
    ::close(fd);
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.counters["lines/s"] = benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadLoopMemchr_Lines)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace weir::io
