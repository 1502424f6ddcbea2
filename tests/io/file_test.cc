#include "io/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace weir::io {
namespace {

// A fresh directory under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weir_file_test.XXXXXX").string();
    WEIR_CHECK(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Child(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

  // Every entry of the directory, hidden ones included.
  std::set<std::string> Entries() const {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

 private:
  std::string path_;
};

void WriteWholeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool Contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

std::string RandomText(size_t bytes, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string text(bytes, '\0');
  for (char& c : text) c = static_cast<char>('a' + random() % 26);
  return text;
}

TEST(ReadableFileTest, MissingFileIsNotFoundAndNamesThePath) {
  TempDir dir;
  const std::string path = dir.Child("no-such-file.txt");
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(file.status().message(), path)) << file.status();
}

TEST(ReadableFileTest, DirectoryAndDeviceAreInvalidArguments) {
  TempDir dir;
  for (const std::string& path : {dir.path(), std::string("/dev/null")}) {
    Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
    ASSERT_FALSE(file.ok()) << path;
    EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument) << path;
    EXPECT_TRUE(Contains(file.status().message(), path)) << file.status();
  }
}

TEST(ReadableFileTest, ReadAtReturnsTheBytesAtAnyOffsetAndShortReadsOnlyAtTheEnd) {
  TempDir dir;
  const std::string path = dir.Child("data.bin");
  const std::string content = RandomText(10000, 1);
  WriteWholeFile(path, content);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const ReadableFile& file = **opened;
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.size(), 10000);
  std::mt19937_64 random(2);
  std::vector<std::byte> buffer(3000);
  for (int i = 0; i < 200; ++i) {
    const int64_t offset = static_cast<int64_t>(random() % 11000);
    const size_t want = random() % buffer.size();
    Result<size_t> read = file.ReadAt(offset, std::span<std::byte>(buffer.data(), want));
    ASSERT_TRUE(read.ok()) << read.status();
    const size_t expected = offset >= 10000 ? 0 : std::min<size_t>(want, 10000 - static_cast<size_t>(offset));
    ASSERT_EQ(*read, expected) << "offset " << offset << " want " << want;
    if (expected > 0) {
      EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(buffer.data()), expected),
                std::string_view(content).substr(static_cast<size_t>(offset), expected));
    }
  }
}

TEST(ReadableFileTest, ReadAtAtAndAfterTheEndReadsNothing) {
  TempDir dir;
  const std::string path = dir.Child("small.txt");
  WriteWholeFile(path, "hello");
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<std::byte> buffer(16);
  for (int64_t offset : {5, 6, 1000}) {
    Result<size_t> read = (*file)->ReadAt(offset, buffer);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, 0u) << offset;
  }
  Result<size_t> tail = (*file)->ReadAt(3, buffer);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, 2u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(buffer.data()), 2), "lo");
}

TEST(ReadableFileTest, EmptyFileHasSizeZero) {
  TempDir dir;
  const std::string path = dir.Child("empty.txt");
  WriteWholeFile(path, "");
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 0);
  std::vector<std::byte> buffer(8);
  Result<size_t> read = (*file)->ReadAt(0, buffer);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, 0u);
}

// Appends of random sizes around the buffer size (memcpy path, buffer-filling path, larger than
// the buffer): after Commit the file holds exactly the concatenation, and only the file.
TEST(WritableFileTest, CommitMakesTheFileAppearWithAllItsContent) {
  TempDir dir;
  const std::string path = dir.Child("out.txt");
  Result<std::unique_ptr<WritableFile>> created = WritableFile::Create(path, /*buffer_bytes=*/256);
  ASSERT_TRUE(created.ok()) << created.status();
  WritableFile& file = **created;
  EXPECT_FALSE(file.is_direct());
  EXPECT_EQ(file.path(), path);
  EXPECT_NE(file.temporary_path(), path);
  const std::string temporary_name = std::filesystem::path(file.temporary_path()).filename().string();
  EXPECT_EQ(temporary_name.rfind(".out.txt.inprogress-", 0), 0u) << temporary_name;
  EXPECT_EQ(dir.Entries(), std::set<std::string>{temporary_name});  // only the hidden temporary

  std::mt19937_64 random(3);
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    const size_t size = random() % 4 == 0 ? random() % 1000 : random() % 64;
    const std::string piece = RandomText(size, random());
    ASSERT_TRUE(file.Append(piece).ok());
    expected += piece;
    if (i == 150) {
      ASSERT_TRUE(file.Flush().ok());
    }
  }
  EXPECT_EQ(file.appended_bytes(), static_cast<int64_t>(expected.size()));
  EXPECT_FALSE(std::filesystem::exists(path));  // not before Commit
  ASSERT_TRUE(file.Commit().ok());
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"out.txt"});
  EXPECT_EQ(ReadWholeFile(path), expected);
  EXPECT_TRUE(file.Abort().ok());  // a no-op after Commit
  EXPECT_EQ(ReadWholeFile(path), expected);
}

TEST(WritableFileTest, CommitReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.Child("out.txt");
  WriteWholeFile(path, "old content that is longer than the new one");
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("new").ok());
  EXPECT_EQ(ReadWholeFile(path), "old content that is longer than the new one");
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(ReadWholeFile(path), "new");
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"out.txt"});
}

TEST(WritableFileTest, AbortLeavesNoFileAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.Child("out.txt");
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create(path, 64);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(RandomText(1000, 4)).ok());  // some of it reached the temporary
  ASSERT_TRUE((*file)->Abort().ok());
  EXPECT_TRUE(dir.Entries().empty());
  EXPECT_TRUE((*file)->Abort().ok());  // a no-op the second time
  file->reset();
  EXPECT_TRUE(dir.Entries().empty());
}

TEST(WritableFileTest, AbortLeavesAnExistingFileAsItWas) {
  TempDir dir;
  const std::string path = dir.Child("out.txt");
  WriteWholeFile(path, "keep me");
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("replacement").ok());
  ASSERT_TRUE((*file)->Abort().ok());
  EXPECT_EQ(ReadWholeFile(path), "keep me");
  EXPECT_EQ(dir.Entries(), std::set<std::string>{"out.txt"});
}

TEST(WritableFileTest, DestructionWithoutCommitLeavesNoFileAndNoTemporary) {
  TempDir dir;
  {
    Result<std::unique_ptr<WritableFile>> file = WritableFile::Create(dir.Child("out.txt"), 64);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append(RandomText(500, 5)).ok());
    EXPECT_EQ(dir.Entries().size(), 1u);
  }
  EXPECT_TRUE(dir.Entries().empty());
}

TEST(WritableFileTest, MissingDirectoryIsNotFoundAndDirectoryIsInvalidArgument) {
  TempDir dir;
  const std::string path = dir.Child("missing/out.txt");
  Result<std::unique_ptr<WritableFile>> missing = WritableFile::Create(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), path)) << missing.status();

  Result<std::unique_ptr<WritableFile>> directory = WritableFile::Create(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(directory.status().message(), dir.path())) << directory.status();
  EXPECT_EQ(WritableFile::Create("").status().code(), StatusCode::kInvalidArgument);
}

TEST(WritableFileTest, DevNullIsWrittenDirectly) {
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create("/dev/null", 128);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->is_direct());
  EXPECT_EQ((*file)->temporary_path(), "/dev/null");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*file)->Append(RandomText(100, i)).ok());
  EXPECT_EQ((*file)->appended_bytes(), 10000);
  EXPECT_TRUE((*file)->Commit().ok());
  struct stat info;
  ASSERT_EQ(::stat("/dev/null", &info), 0);
  EXPECT_TRUE(S_ISCHR(info.st_mode));  // still the device, nothing was renamed onto it
}

// /dev/full fails every write with ENOSPC: the error is ResourceExhausted naming the path, and it
// sticks to every later call.
TEST(WritableFileTest, DevFullIsDiskFullNamingThePath) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create("/dev/full", 64);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Append("fits in the buffer").ok());
  Status overflow = (*file)->Append(RandomText(200, 6));  // fills the buffer: a write()
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(overflow.message(), "disk full")) << overflow;
  EXPECT_TRUE(Contains(overflow.message(), "/dev/full")) << overflow;
  EXPECT_EQ((*file)->Flush().code(), StatusCode::kResourceExhausted);
  Status committed = (*file)->Commit();
  EXPECT_EQ(committed.code(), StatusCode::kResourceExhausted) << committed;
}

TEST(WritableFileTest, DevFullFailsAtCommitWhenEverythingWasBuffered) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  Result<std::unique_ptr<WritableFile>> file = WritableFile::Create("/dev/full");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("small").ok());
  Status committed = (*file)->Commit();
  EXPECT_EQ(committed.code(), StatusCode::kResourceExhausted) << committed;
  EXPECT_TRUE(Contains(committed.message(), "/dev/full")) << committed;
}

TEST(WritableFileTest, WriteErrorStatusMapsDiskFullAndOtherErrors) {
  Status full = WriteErrorStatus(ENOSPC, "a.txt");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "disk full while writing 'a.txt'");
  EXPECT_EQ(WriteErrorStatus(EDQUOT, "a.txt").code(), StatusCode::kResourceExhausted);
  Status other = WriteErrorStatus(EIO, "b.txt");
  EXPECT_EQ(other.code(), StatusCode::kIoError);
  EXPECT_TRUE(Contains(other.message(), "writing 'b.txt'")) << other;
}

}  // namespace
}  // namespace weir::io
