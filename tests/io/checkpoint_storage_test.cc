#include "io/checkpoint_storage.h"

// xxHash's AVX-512 long-input path, inlined here, trips GCC 12's -Wuninitialized (see
// base/xxhash.h).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/xxhash.h"
#include "io/fault_injection.h"

extern char** environ;

namespace weir::io {
namespace {

namespace fs = std::filesystem;

// A fresh directory tree under /tmp, removed with everything in it.
class TempTree {
 public:
  TempTree() {
    char pattern[] = "/tmp/weir_checkpoint_test.XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    path_ = pattern;
  }
  ~TempTree() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteWholeFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

void FlipByte(const std::string& path, int64_t offset) {
  std::string contents = ReadWholeFile(path);
  ASSERT_LT(offset, static_cast<int64_t>(contents.size()));
  contents[static_cast<size_t>(offset)] ^= 0x40;
  WriteWholeFile(path, contents);
}

// Chunks of the given sizes with random bytes, and the spans WriteDataFile takes.
struct Chunks {
  std::vector<std::vector<std::byte>> storage;
  std::vector<std::span<const std::byte>> spans;

  explicit Chunks(const std::vector<size_t>& sizes, uint64_t seed = 7) {
    std::mt19937_64 random(seed);
    for (const size_t size : sizes) {
      std::vector<std::byte> chunk(size);
      for (std::byte& b : chunk) b = static_cast<std::byte>(random());
      storage.push_back(std::move(chunk));
    }
    for (const std::vector<std::byte>& chunk : storage) spans.emplace_back(chunk);
  }
  std::string Concatenated() const {
    std::string all;
    for (const std::vector<std::byte>& chunk : storage) {
      all.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    }
    return all;
  }
};

// State-table-like sizes: mostly 32 KiB segments, some partial, a few large, an empty one, one
// larger than a single write (it straddles two).
std::vector<size_t> SegmentSizes() {
  std::vector<size_t> sizes = {32768, 32768, 4096, size_t{1} << 20, 12345, 0, 1572864, 98304, 777};
  std::mt19937_64 random(3);
  for (int i = 0; i < 150; ++i) {
    const uint64_t pick = random() % 10;
    sizes.push_back(pick < 7   ? 32768
                    : pick < 9 ? 4096 + random() % 28672
                               : 4096 + random() % (size_t{1} << 20));
  }
  return sizes;
}

// How data files are written: io_uring or the pwrite fallback, O_DIRECT or the page cache.
struct Backend {
  bool io_uring;
  bool direct_io;
  std::string Name() const {
    return fmt::format("{} {}", io_uring ? "io_uring" : "pwrite",
                       direct_io ? "O_DIRECT" : "buffered");
  }
};
const Backend kBackends[] = {{true, true}, {true, false}, {false, true}, {false, false}};

std::unique_ptr<CheckpointStorage> OpenStorage(const std::string& root,
                                               Backend backend = kBackends[0]) {
  CheckpointStorage::Options options;
  options.root = root;
  options.job_id = "job-1";
  options.use_io_uring = backend.io_uring;
  options.direct_io = backend.direct_io;
  Result<std::unique_ptr<CheckpointStorage>> storage = CheckpointStorage::Open(options);
  EXPECT_TRUE(storage.ok()) << storage.status();
  return storage.ok() ? std::move(storage).value() : nullptr;
}

// A completed checkpoint `id` with one data file per name (contents derived from id and name).
void WriteCompleteCheckpoint(CheckpointStorage& storage, int64_t id,
                             const std::vector<std::string>& names) {
  ASSERT_TRUE(storage.BeginCheckpoint(id).ok());
  for (const std::string& name : names) {
    Chunks chunks({4096, 100}, static_cast<uint64_t>(id * 31 + name.size()));
    ASSERT_TRUE(storage.WriteDataFile(id, name, chunks.spans, nullptr).ok());
  }
  ASSERT_TRUE(storage.CommitCheckpoint(id, fmt::format("manifest {}", id)).ok());
}

// Every regular file under the job dir, relative to it.
std::set<std::string> FilesUnder(const std::string& dir) {
  std::set<std::string> files;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.insert(fs::relative(entry.path(), dir).string());
  }
  return files;
}

// on_staged reports each chunk once, in order, and a chunk's memory may change from then on:
// the file still holds what the chunks held before (here each is scribbled over at its report).
TEST(CheckpointStorageTest, ChunksMayChangeOnceReportedStaged) {
  for (const Backend& backend : kBackends) {
    SCOPED_TRACE(backend.Name());
    TempTree tree;
    std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path(), backend);
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
    Chunks chunks(SegmentSizes());
    const std::string expected = chunks.Concatenated();
    std::vector<size_t> reported;
    Result<CheckpointFile> file =
        storage->WriteDataFile(1, "op.data", chunks.spans, nullptr, [&](size_t chunk) {
          reported.push_back(chunk);
          std::fill(chunks.storage[chunk].begin(), chunks.storage[chunk].end(), std::byte{0xee});
        });
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(reported.size(), chunks.spans.size());
    for (size_t i = 0; i < reported.size(); ++i) EXPECT_EQ(reported[i], i);
    EXPECT_EQ(file->xxh3, XXH3_64bits(expected.data(), expected.size()));
    const std::string on_disk = ReadWholeFile(storage->job_dir() + "/chk-1/op.data");
    ASSERT_EQ(on_disk.size(), expected.size() + kCheckpointTrailerBytes);
    EXPECT_TRUE(on_disk.compare(0, expected.size(), expected) == 0);
  }
}

TEST(CheckpointStorageTest, DataFileHoldsTheChunksBackToBackAndTheTrailer) {
  for (const Backend& backend : kBackends) {
    SCOPED_TRACE(backend.Name());
    TempTree tree;
    std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path(), backend);
    ASSERT_NE(storage, nullptr);
    if (!backend.io_uring) {
      EXPECT_FALSE(storage->uses_io_uring());
    }
    if (!backend.direct_io) {
      EXPECT_FALSE(storage->uses_direct_io());
    }
    ASSERT_TRUE(storage->BeginCheckpoint(3).ok());
    const Chunks chunks(SegmentSizes());
    std::vector<WrittenChunk> info;
    Result<CheckpointFile> file = storage->WriteDataFile(3, "op-2-1.data", chunks.spans, &info);
    ASSERT_TRUE(file.ok()) << file.status();

    const std::string expected = chunks.Concatenated();
    EXPECT_EQ(file->name, "chk-3/op-2-1.data");
    EXPECT_EQ(file->size, static_cast<int64_t>(expected.size()));
    EXPECT_EQ(file->xxh3, XXH3_64bits(expected.data(), expected.size()));
    ASSERT_EQ(info.size(), chunks.storage.size());
    int64_t offset = 0;
    for (size_t i = 0; i < info.size(); ++i) {
      EXPECT_EQ(info[i].offset, offset) << "chunk " << i;
      EXPECT_EQ(info[i].xxh3, XXH3_64bits(chunks.storage[i].data(), chunks.storage[i].size()))
          << "chunk " << i;
      offset += static_cast<int64_t>(chunks.storage[i].size());
    }

    const std::string path = storage->job_dir() + "/chk-3/op-2-1.data";
    const std::string on_disk = ReadWholeFile(path);
    ASSERT_EQ(on_disk.size(), expected.size() + kCheckpointTrailerBytes);
    EXPECT_TRUE(on_disk.compare(0, expected.size(), expected) == 0);
    // Trailer: magic, size, xxh3 (little-endian).
    const char* trailer = on_disk.data() + expected.size();
    EXPECT_EQ(std::string(trailer, 8), "WEIRDAT1");
    uint64_t size = 0;
    uint64_t xxh3 = 0;
    std::memcpy(&size, trailer + 8, 8);
    std::memcpy(&xxh3, trailer + 16, 8);
    EXPECT_EQ(size, expected.size());
    EXPECT_EQ(xxh3, XXH3_64bits(expected.data(), expected.size()));

    EXPECT_TRUE(CheckpointStorage::VerifyFile(path, file->size, file->xxh3).ok());
    std::vector<std::byte> whole;
    ASSERT_TRUE(CheckpointStorage::ReadVerifiedFile(path, file->size, file->xxh3, &whole).ok());
    EXPECT_TRUE(std::memcmp(whole.data(), expected.data(), expected.size()) == 0);
    // Every chunk read back at its recorded offset.
    for (size_t i = 0; i < info.size(); ++i) {
      std::vector<std::byte> out(chunks.storage[i].size());
      ASSERT_TRUE(CheckpointStorage::ReadRange(path, info[i].offset, out).ok());
      EXPECT_TRUE(out == chunks.storage[i]) << "chunk " << i;
    }
  }
}

TEST(CheckpointStorageTest, ManyTinyChunksAndAnEmptyFile) {
  for (const Backend& backend : kBackends) {
    SCOPED_TRACE(backend.Name());
    TempTree tree;
    std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path(), backend);
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->BeginCheckpoint(0).ok());
    // Many chunks per staging buffer.
    const Chunks tiny(std::vector<size_t>(5000, 61));
    Result<CheckpointFile> file = storage->WriteDataFile(0, "tiny", tiny.spans, nullptr);
    ASSERT_TRUE(file.ok()) << file.status();
    const std::string expected = tiny.Concatenated();
    const std::string path = storage->job_dir() + "/chk-0/tiny";
    EXPECT_EQ(ReadWholeFile(path).substr(0, expected.size()), expected);
    EXPECT_EQ(file->xxh3, XXH3_64bits(expected.data(), expected.size()));
    EXPECT_TRUE(CheckpointStorage::VerifyFile(path, file->size, file->xxh3).ok());

    // The trailer ending exactly at, or straddling, a write boundary.
    for (const size_t size :
         {CheckpointStorage::kWriteBytes - kCheckpointTrailerBytes,
          CheckpointStorage::kWriteBytes - 10, size_t{3} * CheckpointStorage::kWriteBytes}) {
      const Chunks one({size}, size);
      Result<CheckpointFile> edge = storage->WriteDataFile(0, "edge", one.spans, nullptr);
      ASSERT_TRUE(edge.ok()) << edge.status();
      const std::string edge_path = storage->job_dir() + "/chk-0/edge";
      const std::string bytes = ReadWholeFile(edge_path);
      ASSERT_EQ(bytes.size(), size + kCheckpointTrailerBytes) << size;
      EXPECT_EQ(bytes.substr(0, size), one.Concatenated()) << size;
      EXPECT_TRUE(CheckpointStorage::VerifyFile(edge_path, edge->size, edge->xxh3).ok()) << size;
    }

    std::vector<WrittenChunk> info = {WrittenChunk{5, 5}};
    Result<CheckpointFile> empty = storage->WriteDataFile(0, "empty", {}, &info);
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_TRUE(info.empty());
    EXPECT_EQ(empty->size, 0);
    EXPECT_EQ(empty->xxh3, XXH3_64bits(nullptr, 0));
    EXPECT_EQ(fs::file_size(storage->job_dir() + "/chk-0/empty"),
              static_cast<uintmax_t>(kCheckpointTrailerBytes));
    EXPECT_TRUE(
        CheckpointStorage::VerifyFile(storage->job_dir() + "/chk-0/empty", 0, empty->xxh3).ok());
  }
}

TEST(CheckpointStorageTest, RejectsBadNames) {
  TempTree tree;
  CheckpointStorage::Options options;
  options.root = tree.path();
  options.job_id = "a/b";
  EXPECT_EQ(CheckpointStorage::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.job_id = "..";
  EXPECT_EQ(CheckpointStorage::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.job_id = "job";
  options.root = "";
  EXPECT_EQ(CheckpointStorage::Open(options).status().code(), StatusCode::kInvalidArgument);
  // A root that is a file: the error names the path.
  WriteWholeFile(tree.path() + "/file", "x");
  options.root = tree.path() + "/file";
  Result<std::unique_ptr<CheckpointStorage>> opened = CheckpointStorage::Open(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find(tree.path() + "/file"), std::string_view::npos)
      << opened.status();

  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
  for (const char* name : {"_metadata", "_metadata.tmp", "a/b", "", ".."}) {
    EXPECT_EQ(storage->WriteDataFile(1, name, {}, nullptr).status().code(),
              StatusCode::kInvalidArgument)
        << name;
  }
  // Without BeginCheckpoint the directory does not exist.
  Result<CheckpointFile> missing = storage->WriteDataFile(9, "x", {}, nullptr);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("chk-9/x"), std::string_view::npos) << missing.status();
}

TEST(CheckpointStorageTest, CommitMakesTheManifestVisibleAtomically) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->BeginCheckpoint(7).ok());
  const Chunks chunks({32768, 32768, 1000});
  ASSERT_TRUE(storage->WriteDataFile(7, "op-1-0.data", chunks.spans, nullptr).ok());
  const std::string dir = storage->job_dir() + "/chk-7";

  // Data written, not committed: not a complete checkpoint.
  EXPECT_TRUE(storage->ListCompleted()->empty());
  EXPECT_EQ(CheckpointStorage::ReadMetadata(dir).status().code(), StatusCode::kNotFound);
  // A leftover temporary (a crash between write and rename) is not a manifest either.
  WriteWholeFile(dir + "/_metadata.tmp", "half a manifest");
  EXPECT_TRUE(storage->ListCompleted()->empty());
  Result<std::string> read = CheckpointStorage::ReadMetadata(dir);
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find(dir + "/_metadata"), std::string_view::npos)
      << read.status();

  std::string metadata = "{\"checkpoint\": 7}";
  metadata.push_back('\0');  // binary-safe
  metadata += "tail";
  ASSERT_TRUE(storage->CommitCheckpoint(7, metadata).ok());
  EXPECT_EQ(*storage->ListCompleted(), std::vector<int64_t>{7});
  EXPECT_FALSE(fs::exists(dir + "/_metadata.tmp"));
  for (const std::string& path : {dir, dir + "/_metadata"}) {
    Result<std::string> back = CheckpointStorage::ReadMetadata(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, metadata);
  }
  // The manifest is the metadata plus its trailer.
  const std::string on_disk = ReadWholeFile(dir + "/_metadata");
  ASSERT_EQ(on_disk.size(), metadata.size() + kCheckpointTrailerBytes);
  EXPECT_EQ(on_disk.substr(0, metadata.size()), metadata);
  EXPECT_EQ(on_disk.substr(metadata.size(), 8), "WEIRMET1");
  uint64_t xxh3 = 0;
  std::memcpy(&xxh3, on_disk.data() + metadata.size() + 16, 8);
  EXPECT_EQ(xxh3, XXH3_64bits(metadata.data(), metadata.size()));

  // A complete checkpoint is neither restarted nor aborted.
  EXPECT_EQ(storage->BeginCheckpoint(7).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage->AbortCheckpoint(7).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage->CommitCheckpoint(7, "again").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir + "/op-1-0.data"));
}

TEST(CheckpointStorageTest, BeginRemovesAStaleAttemptAndAbortRemovesTheDirectory) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  const Chunks chunks({5000});
  ASSERT_TRUE(storage->BeginCheckpoint(4).ok());
  ASSERT_TRUE(storage->WriteDataFile(4, "old.data", chunks.spans, nullptr).ok());
  WriteWholeFile(storage->job_dir() + "/chk-4/_metadata.tmp", "torn");
  ASSERT_TRUE(storage->BeginCheckpoint(4).ok());
  EXPECT_TRUE(FilesUnder(storage->job_dir()).empty());
  EXPECT_TRUE(fs::is_directory(storage->job_dir() + "/chk-4"));

  ASSERT_TRUE(storage->WriteDataFile(4, "new.data", chunks.spans, nullptr).ok());
  ASSERT_TRUE(storage->AbortCheckpoint(4).ok());
  EXPECT_FALSE(fs::exists(storage->job_dir() + "/chk-4"));
  EXPECT_TRUE(storage->AbortCheckpoint(4).ok());  // nothing left: still OK
}

TEST(CheckpointStorageTest, ListCompletedIsNewestFirstAndIgnoresEverythingElse) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  const std::vector<int64_t> ids = {1, 2, 10, 3, 100, 9};
  for (const int64_t id : ids) WriteCompleteCheckpoint(*storage, id, {"a"});
  ASSERT_TRUE(storage->BeginCheckpoint(11).ok());  // incomplete
  fs::create_directory(storage->job_dir() + "/chk-x");
  fs::create_directory(storage->job_dir() + "/chk-05");
  WriteWholeFile(storage->job_dir() + "/chk-05/_metadata", "not canonical");
  WriteWholeFile(storage->job_dir() + "/chk-12", "a file, not a directory");
  std::vector<int64_t> expected = ids;
  std::sort(expected.begin(), expected.end(), std::greater<>());
  Result<std::vector<int64_t>> listed = storage->ListCompleted();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, expected);
}

TEST(CheckpointStorageTest, RetainKeepsTheNewestAndTheReferencedFiles) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  // chk-0: an old failed attempt; chk-1..5 complete; chk-6: being written (newer than all).
  ASSERT_TRUE(storage->BeginCheckpoint(0).ok());
  ASSERT_TRUE(storage->WriteDataFile(0, "x.data", Chunks({10}).spans, nullptr).ok());
  for (int64_t id = 1; id <= 5; ++id) WriteCompleteCheckpoint(*storage, id, {"a.data", "b.data"});
  ASSERT_TRUE(storage->BeginCheckpoint(6).ok());
  ASSERT_TRUE(storage->WriteDataFile(6, "c.data", Chunks({10}).spans, nullptr).ok());

  const std::set<std::string> referenced = {"chk-2/a.data", "chk-1/b.data", "chk-0/x.data"};
  const std::set<std::string> before = FilesUnder(storage->job_dir());
  ASSERT_TRUE(storage->Retain(2, referenced).ok());

  // Reference: every file survives if its checkpoint is among the two newest complete ones, is
  // referenced, or belongs to a directory newer than the newest complete checkpoint.
  std::set<std::string> expected;
  for (const std::string& file : before) {
    const int64_t id = std::stoll(file.substr(4, file.find('/') - 4));
    if (id >= 4 || referenced.contains(file)) expected.insert(file);
  }
  EXPECT_EQ(FilesUnder(storage->job_dir()), expected);
  EXPECT_EQ(*storage->ListCompleted(), (std::vector<int64_t>{5, 4}));
  EXPECT_FALSE(fs::exists(storage->job_dir() + "/chk-3"));
  EXPECT_TRUE(fs::exists(storage->job_dir() + "/chk-6"));

  // Once nothing references them, the leftovers go too (with their now empty directories).
  ASSERT_TRUE(storage->Retain(2, {}).ok());
  std::set<std::string> remaining;
  for (const std::string& file : expected) {
    if (!referenced.contains(file)) remaining.insert(file);
  }
  EXPECT_EQ(FilesUnder(storage->job_dir()), remaining);
  for (const char* gone : {"/chk-0", "/chk-1", "/chk-2"})
    EXPECT_FALSE(fs::exists(storage->job_dir() + gone)) << gone;
  EXPECT_EQ(storage->Retain(0, {}).code(), StatusCode::kInvalidArgument);
}

TEST(CheckpointStorageTest, CorruptionIsDetectedAndNamesTheFile) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
  const Chunks chunks({32768, 32768, 32768, 5000});
  Result<CheckpointFile> file = storage->WriteDataFile(1, "op.data", chunks.spans, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(storage->CommitCheckpoint(1, "the manifest").ok());
  const std::string dir = storage->job_dir() + "/chk-1";
  const std::string path = dir + "/op.data";
  const std::string pristine = ReadWholeFile(path);
  const std::string pristine_metadata = ReadWholeFile(dir + "/_metadata");

  auto expect_error = [&](const Status& status, StatusCode code, const std::string& file_name,
                          const std::string& what) {
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find(file_name), std::string_view::npos) << status;
    EXPECT_NE(status.message().find(what), std::string_view::npos) << status;
  };

  // A flipped byte in the data.
  FlipByte(path, 40000);
  expect_error(CheckpointStorage::VerifyFile(path, file->size, file->xxh3), StatusCode::kDataLoss,
               path, "checksum mismatch");
  std::vector<std::byte> out;
  expect_error(CheckpointStorage::ReadVerifiedFile(path, file->size, file->xxh3, &out),
               StatusCode::kDataLoss, path, "checksum mismatch");
  // A flipped byte in the trailer.
  WriteWholeFile(path, pristine);
  FlipByte(path, file->size + 17);
  expect_error(CheckpointStorage::VerifyFile(path, file->size, file->xxh3), StatusCode::kDataLoss,
               path, "does not match the manifest");
  // Truncated.
  WriteWholeFile(path, pristine.substr(0, pristine.size() - 100));
  expect_error(CheckpointStorage::VerifyFile(path, file->size, file->xxh3), StatusCode::kDataLoss,
               path, "truncated");
  std::vector<std::byte> tail(200);
  expect_error(CheckpointStorage::ReadRange(path, file->size - 100, tail), StatusCode::kDataLoss,
               path, "truncated");
  // Missing.
  fs::remove(path);
  expect_error(CheckpointStorage::VerifyFile(path, file->size, file->xxh3), StatusCode::kNotFound,
               path, "missing");
  expect_error(CheckpointStorage::ReadRange(path, 0, tail), StatusCode::kNotFound, path, "missing");
  WriteWholeFile(path, pristine);
  EXPECT_TRUE(CheckpointStorage::VerifyFile(path, file->size, file->xxh3).ok());

  // The manifest: a flipped byte, a torn (truncated) one, a missing one.
  const std::string metadata_path = dir + "/_metadata";
  FlipByte(metadata_path, 3);
  expect_error(CheckpointStorage::ReadMetadata(dir).status(), StatusCode::kDataLoss, metadata_path,
               "torn or corrupt _metadata (checksum mismatch)");
  for (const size_t keep : {pristine_metadata.size() - 1, size_t{10}, size_t{0}}) {
    WriteWholeFile(metadata_path, pristine_metadata.substr(0, keep));
    expect_error(CheckpointStorage::ReadMetadata(metadata_path).status(), StatusCode::kDataLoss,
                 metadata_path, "torn or corrupt _metadata");
  }
  fs::remove(metadata_path);
  expect_error(CheckpointStorage::ReadMetadata(dir).status(), StatusCode::kNotFound, metadata_path,
               "no _metadata");
}

// Every fault, on both write paths: a clear Status naming the file and the operation, the failed
// file removed, and no _metadata.
TEST(CheckpointStorageTest, MapVerifiedFileHoldsTheDataAndNamesTheFileOnError) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
  const Chunks chunks(SegmentSizes());
  Result<CheckpointFile> file = storage->WriteDataFile(1, "op.data", chunks.spans, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  Result<CheckpointFile> empty = storage->WriteDataFile(1, "empty.data", {}, nullptr);
  ASSERT_TRUE(empty.ok()) << empty.status();
  const std::string path = storage->job_dir() + "/chk-1/op.data";
  const std::string expected = chunks.Concatenated();
  auto as_string = [](std::span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };

  Result<VerifiedFileBytes> mapped = CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_TRUE(mapped->mapped());
  EXPECT_EQ(as_string(mapped->bytes()), expected);
  // Moved, and with the file unlinked (Retain pruning it), the bytes stay readable.
  VerifiedFileBytes moved = std::move(mapped).value();
  fs::remove(path);
  EXPECT_EQ(as_string(moved.bytes()), expected);
  VerifiedFileBytes assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(moved.bytes().empty());
  EXPECT_EQ(as_string(assigned.bytes()), expected);

  Result<VerifiedFileBytes> nothing =
      CheckpointStorage::MapVerifiedFile(storage->job_dir() + "/chk-1/empty.data", 0, empty->xxh3);
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_TRUE(nothing->bytes().empty());

  auto expect_error = [&](const std::string& what, StatusCode code) {
    Result<VerifiedFileBytes> bad = CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3);
    ASSERT_FALSE(bad.ok()) << what;
    EXPECT_EQ(bad.status().code(), code) << bad.status();
    EXPECT_NE(bad.status().message().find(path), std::string_view::npos) << bad.status();
    EXPECT_NE(bad.status().message().find(what), std::string_view::npos) << bad.status();
  };
  expect_error("missing", StatusCode::kNotFound);
  // The file as written: the data, then its trailer (magic, size, xxh3; docs/checkpoints.md).
  const std::string& pristine = expected;
  std::string trailer = "WEIRDAT1";
  const uint64_t size = expected.size();
  trailer.append(reinterpret_cast<const char*>(&size), 8);
  trailer.append(reinterpret_cast<const char*>(&file->xxh3), 8);
  WriteWholeFile(path, pristine + trailer);
  Result<VerifiedFileBytes> again = CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(as_string(again->bytes()), expected);
  FlipByte(path, 1234567);
  expect_error("checksum mismatch", StatusCode::kDataLoss);
  WriteWholeFile(path, pristine + trailer);
  FlipByte(path, file->size + 2);
  expect_error("bad magic", StatusCode::kDataLoss);
  WriteWholeFile(path, (pristine + trailer).substr(0, pristine.size() - 5000));
  expect_error("truncated", StatusCode::kDataLoss);
}

// A file of 64 MiB or more is read by several threads in 8 MiB stripes and hashed in order behind
// them: the bytes and the verdict must be those of one sequential read.
TEST(CheckpointStorageTest, MapVerifiedFileReadsALargeFileInStripes) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
  // 70 MiB and an odd tail: 9 stripes, the last one partial.
  const Chunks chunks(std::vector<size_t>(70, size_t{1} << 20), 11);
  std::vector<std::span<const std::byte>> spans = chunks.spans;
  const std::vector<std::byte> tail(4321, std::byte{0x5a});
  spans.emplace_back(tail);
  Result<CheckpointFile> file = storage->WriteDataFile(1, "big.data", spans, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string path = storage->job_dir() + "/chk-1/big.data";
  std::string expected = chunks.Concatenated();
  expected.append(reinterpret_cast<const char*>(tail.data()), tail.size());

  {
    Result<VerifiedFileBytes> mapped =
        CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ASSERT_EQ(mapped->bytes().size(), expected.size());
    EXPECT_EQ(std::memcmp(mapped->bytes().data(), expected.data(), expected.size()), 0);
  }  // unmapped before the file changes

  for (const int64_t offset : {int64_t{5}, int64_t{37} << 20, file->size - 1}) {
    FlipByte(path, offset);
    Result<VerifiedFileBytes> bad = CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3);
    ASSERT_FALSE(bad.ok()) << "byte " << offset << " flipped";
    EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss) << bad.status();
    EXPECT_NE(bad.status().message().find("checksum mismatch"), std::string_view::npos) << bad.status();
    EXPECT_NE(bad.status().message().find(path), std::string_view::npos) << bad.status();
    FlipByte(path, offset);  // back
  }
  EXPECT_TRUE(CheckpointStorage::MapVerifiedFile(path, file->size, file->xxh3).ok());
}

TEST(CheckpointStorageTest, InjectedFaultsFailCleanly) {
  struct Case {
    const char* spec;
    StatusCode code;
    const char* what;
  };
  const Case cases[] = {
      {"enospc-after=1048576", StatusCode::kResourceExhausted, "disk full while writing"},
      {"eio-write=3", StatusCode::kIoError, "writing"},
      {"eio-fsync=1", StatusCode::kIoError, "fsync of"},
  };
  for (const Backend& backend : kBackends) {
    for (const Case& c : cases) {
      SCOPED_TRACE(fmt::format("{} {}", backend.Name(), c.spec));
      TempTree tree;
      std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path(), backend);
      ASSERT_NE(storage, nullptr);
      ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
      const Chunks chunks(std::vector<size_t>(128, 32768));  // 4 MiB: four 1 MiB writes
      ASSERT_TRUE(FaultInjector::Arm(c.spec).ok());
      Result<CheckpointFile> file = storage->WriteDataFile(1, "op.data", chunks.spans, nullptr);
      FaultInjector::Disarm();
      const std::string path = storage->job_dir() + "/chk-1/op.data";
      ASSERT_FALSE(file.ok());
      EXPECT_EQ(file.status().code(), c.code) << file.status();
      EXPECT_NE(file.status().message().find(c.what), std::string_view::npos) << file.status();
      EXPECT_NE(file.status().message().find(path), std::string_view::npos) << file.status();
      EXPECT_FALSE(fs::exists(path));
      EXPECT_TRUE(storage->ListCompleted()->empty());
      ASSERT_TRUE(storage->AbortCheckpoint(1).ok());
      // The storage is still usable after the failure.
      ASSERT_TRUE(storage->BeginCheckpoint(2).ok());
      Result<CheckpointFile> again = storage->WriteDataFile(2, "op.data", chunks.spans, nullptr);
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_TRUE(CheckpointStorage::VerifyFile(storage->job_dir() + "/chk-2/op.data", again->size,
                                                again->xxh3)
                      .ok());
    }
  }
}

// A real failed write, reported by the kernel in a completion (not injected): in a child whose
// file-size limit is 1 MiB, the write past it fails with EFBIG.
TEST(CheckpointStorageTest, KernelWriteErrorIsAStatusNamingTheFile) {
  for (const Backend& backend : kBackends) {
    SCOPED_TRACE(backend.Name());
    TempTree tree;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit = {size_t{1} << 20, size_t{1} << 20};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(2);
      std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path(), backend);
      if (storage == nullptr || !storage->BeginCheckpoint(1).ok()) ::_exit(3);
      const Chunks chunks(std::vector<size_t>(256, 32768));  // 8 MiB
      Result<CheckpointFile> file = storage->WriteDataFile(1, "op.data", chunks.spans, nullptr);
      const std::string path = storage->job_dir() + "/chk-1/op.data";
      const bool clear =
          !file.ok() && file.status().code() == StatusCode::kIoError &&
          file.status().message().find("writing '" + path + "'") != std::string_view::npos &&
          !fs::exists(path);
      if (!clear) std::fprintf(stderr, "unexpected: %s\n", file.status().ToString().c_str());
      ::_exit(clear ? 0 : 1);
    }
    int wait_status = 0;
    ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
    ASSERT_TRUE(WIFEXITED(wait_status));
    EXPECT_EQ(WEXITSTATUS(wait_status), 0);
  }
}

TEST(CheckpointStorageTest, InjectedFaultsDuringCommitLeaveNoManifest) {
  struct Case {
    const char* spec;
    StatusCode code;
    const char* what;
  };
  const Case cases[] = {
      {"enospc-after=10", StatusCode::kResourceExhausted, "_metadata.tmp"},
      {"eio-write=1", StatusCode::kIoError, "_metadata.tmp"},
      {"eio-fsync=1", StatusCode::kIoError, "fsync of"},
      {"eio-rename=1", StatusCode::kIoError, "renaming"},
      {"eio-fsync=2", StatusCode::kIoError, "fsync of"},  // the directory's fsync, after the rename
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    TempTree tree;
    std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->BeginCheckpoint(5).ok());
    ASSERT_TRUE(FaultInjector::Arm(c.spec).ok());
    const Status status = storage->CommitCheckpoint(5, std::string(1000, 'm'));
    FaultInjector::Disarm();
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_NE(status.message().find(c.what), std::string_view::npos) << status;
    EXPECT_NE(status.message().find("chk-5"), std::string_view::npos) << status;
    EXPECT_TRUE(storage->ListCompleted()->empty());
    EXPECT_FALSE(fs::exists(storage->job_dir() + "/chk-5/_metadata"));
    EXPECT_FALSE(fs::exists(storage->job_dir() + "/chk-5/_metadata.tmp"));
    // A retry succeeds.
    ASSERT_TRUE(storage->CommitCheckpoint(5, "ok").ok());
    EXPECT_EQ(*CheckpointStorage::ReadMetadata(storage->job_dir() + "/chk-5"), "ok");
  }
}

TEST(CheckpointStorageTest, FaultSpecsParse) {
  Result<FaultInjector::Faults> faults =
      FaultInjector::Parse("enospc-after=1048576,eio-write=3,eio-fsync=1");
  ASSERT_TRUE(faults.ok()) << faults.status();
  EXPECT_EQ(faults->enospc_after_bytes, 1048576);
  EXPECT_EQ(faults->eio_write, 3);
  EXPECT_EQ(faults->eio_fsync, 1);
  EXPECT_EQ(faults->eio_rename, 0);
  EXPECT_TRUE(FaultInjector::Parse("").ok());
  for (const char* bad :
       {"enospc-after", "eio-write=0", "eio-write=-1", "eio-write=3x", "disk-on-fire=1"}) {
    Result<FaultInjector::Faults> parsed = FaultInjector::Parse(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // Byte and operation counting: writes up to the limit pass, the one crossing it and all after
  // fail.
  FaultInjector::Arm(FaultInjector::Faults{
      .enospc_after_bytes = 100, .eio_write = 0, .eio_fsync = 2, .eio_rename = 0});
  EXPECT_EQ(FaultInjector::OnWrite(60), 0);
  EXPECT_EQ(FaultInjector::OnWrite(40), 0);
  EXPECT_EQ(FaultInjector::OnWrite(1), ENOSPC);
  EXPECT_EQ(FaultInjector::OnWrite(0), ENOSPC);
  EXPECT_EQ(FaultInjector::OnFsync(), 0);
  EXPECT_EQ(FaultInjector::OnFsync(), EIO);
  EXPECT_EQ(FaultInjector::OnFsync(), 0);
  EXPECT_EQ(FaultInjector::OnRename(), 0);
  FaultInjector::Disarm();
  EXPECT_EQ(FaultInjector::OnWrite(1000), 0);
}

// WEIR_IO_FAULT arms a fresh process: this test runs itself in a child with the variable set.
TEST(CheckpointStorageTest, EnvironmentVariableArmsAChildProcess) {
  if (const char* dir = std::getenv("WEIR_CHECKPOINT_TEST_DIR")) {
    // The child: the first write fails as the environment asks.
    std::unique_ptr<CheckpointStorage> storage = OpenStorage(dir);
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->BeginCheckpoint(1).ok());
    const Chunks chunks({32768});
    Result<CheckpointFile> file = storage->WriteDataFile(1, "op.data", chunks.spans, nullptr);
    EXPECT_EQ(file.status().code(), StatusCode::kIoError) << file.status();
    std::exit(::testing::Test::HasFailure() ? 1 : 42);
  }
  TempTree tree;
  const std::string dir_variable = "WEIR_CHECKPOINT_TEST_DIR=" + tree.path();
  std::vector<std::string> environment = {dir_variable, "WEIR_IO_FAULT=eio-write=1"};
  std::vector<char*> envp;
  for (std::string& variable : environment) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=CheckpointStorageTest.EnvironmentVariableArmsAChildProcess";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t child = 0;
  ASSERT_EQ(::posix_spawn(&child, self.c_str(), nullptr, nullptr, argv, envp.data()), 0);
  int wait_status = 0;
  ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 42);
  EXPECT_FALSE(fs::exists(tree.path() + "/job-1/chk-1/op.data"));
}

TEST(CheckpointStorageTest, SavepointDirectoryIsSelfContained) {
  TempTree tree;
  std::unique_ptr<CheckpointStorage> storage = OpenStorage(tree.path());
  ASSERT_NE(storage, nullptr);
  const std::string dir = tree.path() + "/savepoints/savepoint-1";
  ASSERT_TRUE(storage->BeginDirectory(dir).ok());
  const Chunks chunks({32768, 32768, 5});
  Result<CheckpointFile> file = storage->WriteDataFileIn(dir, "op.data", chunks.spans, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->name, "op.data");
  EXPECT_EQ(CheckpointStorage::ReadMetadata(dir).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(storage->CommitDirectory(dir, "savepoint manifest").ok());
  EXPECT_EQ(*CheckpointStorage::ReadMetadata(dir), "savepoint manifest");
  EXPECT_TRUE(CheckpointStorage::VerifyFile(dir + "/op.data", file->size, file->xxh3).ok());
  EXPECT_EQ(storage->AbortDirectory(dir).code(), StatusCode::kFailedPrecondition);
  // Not a checkpoint of the job.
  EXPECT_TRUE(storage->ListCompleted()->empty());
}

}  // namespace
}  // namespace weir::io
