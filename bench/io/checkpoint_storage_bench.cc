// Checkpoint persistence against the disk's own sequential write bandwidth, measured in the same
// run (STYLE.md: a benchmark reports a ratio against a baseline).
//
// BM_CheckpointStorage_VsDisk: each iteration writes 1 GiB three ways, each ending in an fsync, so
// every number is durable bandwidth:
//   - buffered baseline: 4 MiB pwrite()s of one buffer, then fsync;
//   - direct baseline: the same with O_DIRECT (skipped where the file system refuses it);
//   - WriteDataFile of 1 GiB as 32 KiB chunks (state-table segments) through CheckpointStorage.
// The disk bandwidth is the faster baseline; counters report the medians over the iterations
// (GB/s) and ratio = checkpoint median / disk median (the target is >= 0.7). The three are
// interleaved in every iteration so drift in a shared machine's disk hits them alike.
// BM_CheckpointStorage_WriteDataFile times WriteDataFile alone (256 MiB) per backend: Args
// {io_uring (1) or the pwrite fallback (0), O_DIRECT (1) or the page cache (0)}.
//
// Files go to $WEIR_BENCH_DIR (default /tmp) and are removed after each write.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/check.h"
#include "io/checkpoint_storage.h"

namespace weir::io {
namespace {

constexpr size_t kSegmentBytes = size_t{32} << 10;
constexpr size_t kBaselineWriteBytes = size_t{4} << 20;

std::string BenchRoot() {
  const char* dir = std::getenv("WEIR_BENCH_DIR");
  return fmt::format("{}/weir_checkpoint_bench_{}", dir != nullptr ? dir : "/tmp", ::getpid());
}

// `bytes` of random data in one 4 KiB-aligned allocation, cut into segments.
class Payload {
 public:
  explicit Payload(size_t bytes) : bytes_(bytes) {
    memory_ = static_cast<std::byte*>(std::aligned_alloc(4096, bytes));
    WEIR_CHECK(memory_ != nullptr);
    std::mt19937_64 random(1);
    for (size_t i = 0; i < bytes; i += 8) {
      const uint64_t value = random();
      std::memcpy(memory_ + i, &value, std::min<size_t>(8, bytes - i));
    }
    for (size_t offset = 0; offset < bytes; offset += kSegmentBytes) {
      segments_.emplace_back(memory_ + offset, std::min(kSegmentBytes, bytes - offset));
    }
  }
  ~Payload() { std::free(memory_); }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;

  const std::byte* data() const { return memory_; }
  size_t size() const { return bytes_; }
  std::span<const std::span<const std::byte>> segments() const { return segments_; }

 private:
  size_t bytes_;
  std::byte* memory_;
  std::vector<std::span<const std::byte>> segments_;
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds to write the first `bytes` of `payload` to a new file with large pwrite()s and fsync it;
// a negative value when the file cannot be opened that way (O_DIRECT refused).
double TimeSequentialWrite(const std::string& path, const Payload& payload, size_t bytes,
                           bool direct) {
  const int fd = ::open(path.c_str(),
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0) return -1;
  const auto start = std::chrono::steady_clock::now();
  for (size_t offset = 0; offset < bytes; offset += kBaselineWriteBytes) {
    const size_t length = std::min(kBaselineWriteBytes, bytes - offset);
    const ssize_t written =
        ::pwrite(fd, payload.data() + offset, length, static_cast<off_t>(offset));
    if (written != static_cast<ssize_t>(length)) {
      ::close(fd);
      std::remove(path.c_str());
      return -1;
    }
  }
  WEIR_CHECK(::fsync(fd) == 0);
  const double seconds = Seconds(start);
  ::close(fd);
  std::remove(path.c_str());
  return seconds;
}

double TimeWriteDataFile(CheckpointStorage& storage, int64_t id, const Payload& payload,
                         std::vector<WrittenChunk>* info) {
  WEIR_CHECK_OK(storage.BeginCheckpoint(id));
  const auto start = std::chrono::steady_clock::now();
  Result<CheckpointFile> file = storage.WriteDataFile(id, "op-0-0.data", payload.segments(), info);
  const double seconds = Seconds(start);
  WEIR_CHECK_OK(file.status());
  WEIR_CHECK_OK(storage.AbortCheckpoint(id));
  return seconds;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

std::unique_ptr<CheckpointStorage> OpenStorage(const std::string& root, bool use_io_uring,
                                               bool direct_io) {
  CheckpointStorage::Options options;
  options.root = root;
  options.job_id = "bench";
  options.use_io_uring = use_io_uring;
  options.direct_io = direct_io;
  Result<std::unique_ptr<CheckpointStorage>> storage = CheckpointStorage::Open(options);
  WEIR_CHECK_OK(storage.status());
  return std::move(storage).value();
}

void BM_CheckpointStorage_VsDisk(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  const std::string root = BenchRoot();
  const Payload payload(bytes);
  std::unique_ptr<CheckpointStorage> storage =
      OpenStorage(root, /*use_io_uring=*/true, /*direct_io=*/true);
  const std::string baseline_path = root + "/baseline.bin";
  std::vector<WrittenChunk> info;
  std::vector<double> buffered_rates;
  std::vector<double> direct_rates;
  std::vector<double> checkpoint_rates;
  int64_t id = 0;
  for (auto _ : state) {
    const double buffered = TimeSequentialWrite(baseline_path, payload, bytes, /*direct=*/false);
    const double direct = TimeSequentialWrite(baseline_path, payload, bytes, /*direct=*/true);
    const double checkpoint = TimeWriteDataFile(*storage, id++, payload, &info);
    state.SetIterationTime(checkpoint);
    buffered_rates.push_back(static_cast<double>(bytes) / buffered / 1e9);
    if (direct > 0) direct_rates.push_back(static_cast<double>(bytes) / direct / 1e9);
    checkpoint_rates.push_back(static_cast<double>(bytes) / checkpoint / 1e9);
  }
  const double disk = std::max(Median(buffered_rates), Median(direct_rates));
  state.counters["buffered_GBps"] = Median(buffered_rates);
  state.counters["direct_GBps"] = Median(direct_rates);
  state.counters["checkpoint_GBps"] = Median(checkpoint_rates);
  state.counters["ratio"] = Median(checkpoint_rates) / disk;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  storage.reset();
  std::filesystem::remove_all(root);
}
BENCHMARK(BM_CheckpointStorage_VsDisk)
    ->Arg(1024)
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_CheckpointStorage_WriteDataFile(benchmark::State& state) {
  const bool use_io_uring = state.range(0) != 0;
  const bool direct_io = state.range(1) != 0;
  const size_t bytes = size_t{256} << 20;
  const std::string root = BenchRoot();
  const Payload payload(bytes);
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(root, use_io_uring, direct_io);
  if (use_io_uring && !storage->uses_io_uring()) {
    state.SkipWithError("io_uring unavailable");
    return;
  }
  std::vector<WrittenChunk> info;
  int64_t id = 0;
  for (auto _ : state) state.SetIterationTime(TimeWriteDataFile(*storage, id++, payload, &info));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  storage.reset();
  std::filesystem::remove_all(root);
}
BENCHMARK(BM_CheckpointStorage_WriteDataFile)
    ->Args({1, 1})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({0, 0})
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::io
