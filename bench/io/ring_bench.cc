// Sequential file writing: AsyncFileWriter (io_uring, chunks in flight) against the plain
// baseline of pwrite() of the same chunk size in a loop. Each iteration writes 64 MiB to a fresh
// file in /tmp, removed afterwards; Arg(1) adds an fsync at the end (durable), Arg(0) measures
// the path into the page cache.
#include "io/ring.h"

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

constexpr size_t kBytesPerIteration = size_t{64} << 20;
constexpr size_t kChunkBytes = size_t{1} << 20;
// The caller's appends: record-batch-sized pieces, as a spill or checkpoint writer produces them.
constexpr size_t kAppendBytes = size_t{32} << 10;

std::string BenchPath(const char* name) { return fmt::format("/tmp/weir_ring_bench_{}_{}.bin", name, ::getpid()); }

std::vector<std::byte> RandomPayload() {
  std::vector<std::byte> payload(kAppendBytes);
  std::mt19937_64 random(1);
  for (std::byte& b : payload) b = static_cast<std::byte>(random());
  return payload;
}

void BM_AsyncFileWriter_Sequential(benchmark::State& state) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) {
    state.SkipWithError("io_uring unavailable");
    return;
  }
  const bool sync = state.range(0) != 0;
  const std::string path = BenchPath("async");
  const std::vector<std::byte> payload = RandomPayload();
  AsyncFileWriter::Options options;
  options.chunk_bytes = kChunkBytes;
  options.max_in_flight = 4;
  for (auto _ : state) {
    Result<std::unique_ptr<AsyncFileWriter>> writer = AsyncFileWriter::Create(path, options);
    WEIR_CHECK_OK(writer.status());
    for (size_t written = 0; written < kBytesPerIteration; written += payload.size()) {
      WEIR_CHECK_OK((*writer)->Append(payload));
    }
    WEIR_CHECK_OK(sync ? (*writer)->Sync() : (*writer)->Flush());
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBytesPerIteration));
}
BENCHMARK(BM_AsyncFileWriter_Sequential)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: the same appends copied into a chunk buffer, each full chunk written with pwrite().
void BM_Pwrite_Sequential(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const std::string path = BenchPath("pwrite");
  const std::vector<std::byte> payload = RandomPayload();
  std::vector<std::byte> chunk(kChunkBytes);
  for (auto _ : state) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    WEIR_CHECK(fd >= 0);
    size_t fill = 0;
    off_t offset = 0;
    for (size_t written = 0; written < kBytesPerIteration; written += payload.size()) {
      std::memcpy(chunk.data() + fill, payload.data(), payload.size());
      fill += payload.size();
      if (fill == chunk.size()) {
        WEIR_CHECK(::pwrite(fd, chunk.data(), fill, offset) == static_cast<ssize_t>(fill));
        offset += static_cast<off_t>(fill);
        fill = 0;
      }
    }
    if (sync) WEIR_CHECK(::fsync(fd) == 0);
    ::close(fd);
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBytesPerIteration));
}
BENCHMARK(BM_Pwrite_Sequential)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace weir::io
