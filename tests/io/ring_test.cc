#include "io/ring.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/temp_dir.h"

namespace weir::io {
namespace {

using ::testing::HasSubstr;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string RandomBytes(size_t size, std::mt19937_64& random) {
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::span<const std::byte> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// Skips the test where io_uring is unavailable (the Unimplemented path of Ring::Create).
#define ASSIGN_RING_OR_SKIP(ring, entries)                                                 \
  Result<std::unique_ptr<Ring>> ring##_result = Ring::Create(entries);                     \
  if (ring##_result.status().code() == StatusCode::kUnimplemented) {                       \
    GTEST_SKIP() << ring##_result.status();                                                \
  }                                                                                        \
  ASSERT_TRUE(ring##_result.ok()) << ring##_result.status();                               \
  Ring& ring = **ring##_result

// Pops until `count` completions have been collected.
std::vector<Completion> WaitFor(Ring& ring, size_t count) {
  std::vector<Completion> all;
  Completion batch[16];
  while (all.size() < count) {
    WEIR_CHECK_OK(ring.SubmitAndWait(1));
    const size_t got = ring.PopCompletions(batch);
    all.insert(all.end(), batch, batch + got);
  }
  return all;
}

TEST(RingTest, SetupFailureIsAStatusNotACrash) {
  Result<std::unique_ptr<Ring>> zero = Ring::Create(0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  // Above the kernel's limit io_uring_setup itself fails: its errno must come back as a Status.
  Result<std::unique_ptr<Ring>> huge = Ring::Create(1u << 20);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("io_uring"));
}

TEST(RingTest, BatchedWritesAndReadsRoundTripWithTheirUserData) {
  ASSIGN_RING_OR_SKIP(ring, 8);
  TempDir dir;
  const std::string path = dir.File("data.bin");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::mt19937_64 random(17);
  // Pieces of random sizes at consecutive offsets, more than the ring has entries at once.
  std::vector<std::string> pieces;
  std::vector<int64_t> offsets;
  int64_t offset = 0;
  for (int i = 0; i < 12; ++i) {
    pieces.push_back(RandomBytes(1 + random() % 20'000, random));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(pieces.back().size());
    ASSERT_TRUE(ring.PrepareWrite(fd, AsBytes(pieces.back()), offsets.back(), 100 + i).ok());
  }
  EXPECT_EQ(ring.in_flight(), 12u);
  std::vector<bool> seen(12, false);
  for (const Completion& completion : WaitFor(ring, 12)) {
    const size_t i = completion.user_data - 100;
    ASSERT_LT(i, pieces.size());
    EXPECT_FALSE(seen[i]);
    seen[i] = true;
    EXPECT_EQ(completion.result, static_cast<int32_t>(pieces[i].size()));
    EXPECT_TRUE(completion.ToStatus("write").ok());
  }
  EXPECT_EQ(ring.in_flight(), 0u);
  ASSERT_TRUE(ring.PrepareFsync(fd, false, 7).ok());
  const std::vector<Completion> synced = WaitFor(ring, 1);
  EXPECT_EQ(synced[0].user_data, 7u);
  EXPECT_EQ(synced[0].result, 0);

  std::string expected;
  for (const std::string& piece : pieces) expected += piece;
  EXPECT_EQ(ReadWhole(path), expected);

  std::vector<std::vector<std::byte>> read_back(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    read_back[i].resize(pieces[i].size());
    ASSERT_TRUE(ring.PrepareRead(fd, read_back[i], offsets[i], i).ok());
  }
  for (const Completion& completion : WaitFor(ring, pieces.size())) {
    EXPECT_EQ(completion.result, static_cast<int32_t>(pieces[completion.user_data].size()));
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(read_back[i].data()), read_back[i].size()),
              pieces[i]);
  }
  ::close(fd);
}

TEST(RingTest, FixedBufferWritesLandInTheFile) {
  ASSIGN_RING_OR_SKIP(ring, 4);
  TempDir dir;
  const std::string path = dir.File("fixed.bin");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::mt19937_64 random(23);
  std::string first = RandomBytes(8192, random);
  std::string second = RandomBytes(4096, random);
  const iovec buffers[] = {{first.data(), first.size()}, {second.data(), second.size()}};
  ASSERT_TRUE(ring.RegisterBuffers(buffers).ok());
  EXPECT_TRUE(ring.has_registered_buffers());
  // A sub-range of a registered buffer, then a whole one.
  ASSERT_TRUE(ring.PrepareWriteFixed(fd, AsBytes(first).subspan(100, 5000), 0, 0, 1).ok());
  ASSERT_TRUE(ring.PrepareWriteFixed(fd, AsBytes(second), 5000, 1, 2).ok());
  for (const Completion& completion : WaitFor(ring, 2)) ASSERT_TRUE(completion.ok()) << completion.result;
  EXPECT_EQ(ReadWhole(path), first.substr(100, 5000) + second);
  ASSERT_TRUE(ring.UnregisterBuffers().ok());
  ::close(fd);
}

TEST(RingTest, NegativeResultBecomesAStatusWithContext) {
  ASSIGN_RING_OR_SKIP(ring, 2);
  TempDir dir;
  const std::string path = dir.File("readonly.bin");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(ring.PrepareWrite(fd, AsBytes("abc"), 0, 1).ok());
  const Completion completion = WaitFor(ring, 1)[0];
  EXPECT_FALSE(completion.ok());
  const Status status = completion.ToStatus("writing 'readonly.bin'");
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_THAT(status.message(), HasSubstr("writing 'readonly.bin': "));
  ::close(fd);
}

// Writes `data` through a writer in random-sized appends, with a Flush now and then.
Status AppendInPieces(AsyncFileWriter& writer, std::string_view data, std::mt19937_64& random) {
  while (!data.empty()) {
    const size_t piece = std::min<size_t>(data.size(), random() % 3 == 0 ? random() % 100'000 : random() % 300);
    RETURN_IF_ERROR(writer.Append(data.substr(0, piece)));
    data.remove_prefix(piece);
    if (random() % 50 == 0) RETURN_IF_ERROR(writer.Flush());
  }
  return Status::Ok();
}

TEST(AsyncFileWriterTest, WhatIsAppendedIsWhatIsReadBack) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << "no io_uring";
  TempDir dir;
  std::mt19937_64 random(31);
  for (int round = 0; round < 24; ++round) {
    AsyncFileWriter::Options options;
    options.chunk_bytes = 4096 * (1 + random() % 16);
    options.max_in_flight = 1 + static_cast<uint32_t>(random() % 8);
    options.register_buffers = round % 2 == 0;
    const std::string path = dir.File(fmt::format("out{}.bin", round));
    const std::string data = RandomBytes(random() % 2'000'000, random);
    Result<std::unique_ptr<AsyncFileWriter>> writer = AsyncFileWriter::Create(path, options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(AppendInPieces(**writer, data, random).ok());
    EXPECT_EQ((*writer)->appended_bytes(), static_cast<int64_t>(data.size()));
    ASSERT_TRUE((*writer)->Sync().ok());
    EXPECT_EQ((*writer)->written_bytes(), static_cast<int64_t>(data.size()));
    writer->reset();
    ASSERT_EQ(ReadWhole(path), data) << "round " << round;
  }
}

TEST(AsyncFileWriterTest, RegistersItsBuffersWhenTheLimitAllows) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << "no io_uring";
  TempDir dir;
  AsyncFileWriter::Options options;
  options.chunk_bytes = 4096;
  options.max_in_flight = 2;
  Result<std::unique_ptr<AsyncFileWriter>> fixed = AsyncFileWriter::Create(dir.File("a"), options);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE((*fixed)->uses_registered_buffers());
  options.register_buffers = false;
  Result<std::unique_ptr<AsyncFileWriter>> plain = AsyncFileWriter::Create(dir.File("b"), options);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE((*plain)->uses_registered_buffers());
}

TEST(AsyncFileWriterTest, WritesFromTheGivenOffsetOfADescriptor) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << "no io_uring";
  TempDir dir;
  const std::string path = dir.File("appended.bin");
  {
    std::ofstream header(path, std::ios::binary);
    header << "HEADER";
  }
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  Result<std::unique_ptr<AsyncFileWriter>> writer =
      AsyncFileWriter::ForDescriptor(fd, path, 6, AsyncFileWriter::Options{});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("body").ok());
  ASSERT_TRUE((*writer)->Sync().ok());
  writer->reset();
  EXPECT_EQ(ReadWhole(path), "HEADERbody");
}

TEST(AsyncFileWriterTest, DiskFullIsResourceExhaustedNamingThePath) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << "no io_uring";
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  AsyncFileWriter::Options options;
  options.chunk_bytes = 4096;
  options.max_in_flight = 2;
  Result<std::unique_ptr<AsyncFileWriter>> writer =
      AsyncFileWriter::ForDescriptor(fd, "chk-1/state.bin", 0, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::mt19937_64 random(3);
  Status status = AppendInPieces(**writer, RandomBytes(100'000, random), random);
  if (status.ok()) status = (*writer)->Flush();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "disk full while writing 'chk-1/state.bin'");
  // Sticky: later calls report the same error.
  EXPECT_EQ((*writer)->Append("x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*writer)->Sync().code(), StatusCode::kResourceExhausted);
}

TEST(AsyncFileWriterTest, ReadOnlyDescriptorIsIoErrorNamingThePath) {
  if (Ring::Create(2).status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << "no io_uring";
  TempDir dir;
  const std::string path = dir.File("readonly.bin");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  Result<std::unique_ptr<AsyncFileWriter>> writer =
      AsyncFileWriter::ForDescriptor(fd, path, 0, AsyncFileWriter::Options{});
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("some bytes").ok());  // buffered: nothing written yet
  const Status status = (*writer)->Flush();
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_THAT(status.message(), HasSubstr(path));
}

TEST(AsyncFileWriterTest, MissingDirectoryIsNotFound) {
  Result<std::unique_ptr<AsyncFileWriter>> writer = AsyncFileWriter::Create("/tmp/weir-no-such-dir/x.bin");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(writer.status().message(), HasSubstr("/tmp/weir-no-such-dir/x.bin"));
}

}  // namespace
}  // namespace weir::io
