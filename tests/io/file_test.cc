#include "io/file.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/temp_dir.h"

namespace weir::io {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteWhole(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

TEST(ReadableFileTest, MissingFileIsNotFoundNamingThePath) {
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open("/tmp/weir_no_such_file_here.txt");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(file.status().message(), "input file '/tmp/weir_no_such_file_here.txt' does not exist");
}

TEST(ReadableFileTest, DirectoryIsInvalidArgument) {
  TempDir dir;
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(dir.path());
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("is a directory"));
  EXPECT_THAT(file.status().message(), HasSubstr(dir.path()));
}

TEST(ReadableFileTest, UnreadableFileIsIoErrorNamingThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  TempDir dir;
  const std::string path = dir.File("secret.txt");
  WriteWhole(path, "x\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kIoError);
  EXPECT_THAT(file.status().message(), HasSubstr(path));
  EXPECT_THAT(file.status().message(), HasSubstr("Permission denied"));
}

TEST(ReadableFileTest, NonRegularFileIsInvalidArgument) {
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open("/dev/null");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("not a regular file"));
}

TEST(ReadableFileTest, ReadAtReturnsTheBytesAtAnyOffsetAndStopsAtTheEnd) {
  TempDir dir;
  const std::string path = dir.File("data.bin");
  const std::string contents = RandomBytes(100'000, 7);
  WriteWhole(path, contents);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const ReadableFile& file = **opened;
  EXPECT_EQ(file.size(), static_cast<int64_t>(contents.size()));
  EXPECT_EQ(file.path(), path);
  std::mt19937_64 random(11);
  std::vector<std::byte> buffer(40'000);
  for (int i = 0; i < 200; ++i) {
    const int64_t offset = static_cast<int64_t>(random() % (contents.size() + 10));
    const size_t want = random() % buffer.size();
    Result<size_t> read = file.ReadAt(offset, std::span<std::byte>(buffer.data(), want));
    ASSERT_TRUE(read.ok()) << read.status();
    const size_t expected =
        offset >= static_cast<int64_t>(contents.size()) ? 0 : std::min(want, contents.size() - offset);
    ASSERT_EQ(*read, expected);
    ASSERT_EQ(std::string_view(reinterpret_cast<const char*>(buffer.data()), *read),
              std::string_view(contents).substr(std::min<size_t>(offset, contents.size()), expected));
  }
}

TEST(WritableFileTest, CommitMakesTheCompleteFileAppearAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.File("out.txt");
  // A small buffer so appends take both the copy path and the write-through path.
  Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path, 64);
  ASSERT_TRUE(created.ok()) << created.status();
  WritableFile& file = **created;
  EXPECT_FALSE(file.is_direct());
  EXPECT_THAT(file.temporary_path(), StartsWith(dir.File(".out.txt.inprogress-")));
  std::string expected;
  std::mt19937_64 random(3);
  for (int i = 0; i < 2000; ++i) {
    const std::string piece = RandomBytes(random() % 200, i);
    expected += piece;
    ASSERT_TRUE(file.Append(piece).ok());
  }
  EXPECT_EQ(file.appended_bytes(), static_cast<int64_t>(expected.size()));
  // Nothing at the final path until Commit.
  EXPECT_FALSE(Exists(path));
  ASSERT_TRUE(file.Commit().ok());
  EXPECT_EQ(ReadWhole(path), expected);
  EXPECT_THAT(dir.Entries(), ::testing::ElementsAre("out.txt"));
  EXPECT_TRUE(file.Abort().ok());  // a no-op after Commit
  EXPECT_EQ(ReadWhole(path), expected);
}

TEST(WritableFileTest, CommitReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.File("out.txt");
  WriteWhole(path, "old contents that are longer\n");
  Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE((*created)->Append("new\n").ok());
  EXPECT_EQ(ReadWhole(path), "old contents that are longer\n");
  ASSERT_TRUE((*created)->Commit().ok());
  EXPECT_EQ(ReadWhole(path), "new\n");
}

TEST(WritableFileTest, AbortLeavesNoFileAndKeepsAnExistingOne) {
  TempDir dir;
  const std::string fresh = dir.File("fresh.txt");
  const std::string existing = dir.File("existing.txt");
  WriteWhole(existing, "keep me\n");
  for (const std::string& path : {fresh, existing}) {
    Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path, 16);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE((*created)->Append(RandomBytes(1000, 1)).ok());  // some of it already written
    ASSERT_TRUE((*created)->Abort().ok());
  }
  EXPECT_FALSE(Exists(fresh));
  EXPECT_EQ(ReadWhole(existing), "keep me\n");
  EXPECT_THAT(dir.Entries(), ::testing::ElementsAre("existing.txt"));
}

TEST(WritableFileTest, DestructorWithoutCommitAbortsSoNoPartialOutputAppears) {
  TempDir dir;
  const std::string path = dir.File("out.txt");
  {
    Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path, 16);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE((*created)->Append(RandomBytes(1000, 2)).ok());
    ASSERT_TRUE(Exists((*created)->temporary_path()));
  }
  EXPECT_TRUE(dir.Entries().empty());
}

TEST(WritableFileTest, MissingDirectoryIsNotFoundAndDirectoryTargetIsInvalidArgument) {
  TempDir dir;
  Result<std::unique_ptr<WritableFile>> missing = WritableFile::Create(dir.File("no/such/out.txt"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.File("no/such")));
  Result<std::unique_ptr<WritableFile>> directory = WritableFile::Create(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(), HasSubstr("is a directory"));
}

TEST(WritableFileTest, NonRegularTargetsAreWrittenDirectly) {
  for (const std::string path : {"/dev/null", "-", "/dev/stdout"}) {
    Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE((*created)->is_direct());
    EXPECT_EQ((*created)->temporary_path(), path);
    ASSERT_TRUE((*created)->Commit().ok());
  }
}

TEST(WritableFileTest, FifoTargetReceivesTheBytesWithoutRename) {
  TempDir dir;
  const std::string path = dir.File("pipe");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // Open the reading end first (non-blocking) so the writer's open does not wait.
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE((*created)->is_direct());
  ASSERT_TRUE((*created)->Append("through the pipe\n").ok());
  ASSERT_TRUE((*created)->Commit().ok());
  char received[64];
  const ssize_t n = ::read(reader, received, sizeof(received));
  ::close(reader);
  EXPECT_EQ(std::string_view(received, n > 0 ? n : 0), "through the pipe\n");
}

TEST(WritableFileTest, DiskFullIsResourceExhaustedNamingThePath) {
  Result<std::unique_ptr<WritableFile>> created = WritableFile::Create("/dev/full", 16);
  ASSERT_TRUE(created.ok()) << created.status();
  Status status = (*created)->Append(RandomBytes(100, 5));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "disk full while writing '/dev/full'");
  // The error is sticky.
  EXPECT_EQ((*created)->Commit().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace weir::io
