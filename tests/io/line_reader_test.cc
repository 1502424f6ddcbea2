#include "io/line_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/temp_dir.h"

namespace weir::io {
namespace {

using ::testing::HasSubstr;

void WriteWhole(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

// The reference: the file's lines as std::getline sees them, with a '\r' before the '\n' dropped.
std::vector<std::string> NaiveLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::unique_ptr<ReadableFile> OpenOrDie(const std::string& path) {
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  WEIR_CHECK_OK(file.status());
  return std::move(file).value();
}

// All lines of the split, in order.
std::vector<std::string> ReadSplit(const ReadableFile& file, FileSplit split, size_t buffer_bytes,
                                   size_t max_line_bytes = LineReader::kDefaultMaxLineBytes) {
  LineReader reader(&file, split, buffer_bytes, max_line_bytes);
  std::vector<std::string> lines;
  std::string_view line;
  while (true) {
    Result<bool> next = reader.Next(&line);
    WEIR_CHECK_OK(next.status());
    if (!*next) break;
    lines.emplace_back(line);
  }
  return lines;
}

// A random text: empty lines, '\r\n' endings, stray '\r's, lines far longer than small buffers,
// and sometimes no final newline.
std::string RandomText(std::mt19937_64& random, size_t max_lines) {
  std::string text;
  const size_t lines = random() % (max_lines + 1);
  for (size_t i = 0; i < lines; ++i) {
    const int shape = static_cast<int>(random() % 10);
    size_t length = shape == 0 ? 0 : shape < 8 ? random() % 40 : random() % 3000;
    for (size_t c = 0; c < length; ++c) {
      const int kind = static_cast<int>(random() % 30);
      text.push_back(kind == 0 ? '\r' : static_cast<char>('a' + random() % 26));
    }
    if (random() % 4 == 0) text.push_back('\r');
    text.push_back('\n');
  }
  if (random() % 2 == 0) {
    for (size_t c = random() % 50; c > 0; --c) text.push_back(static_cast<char>('A' + random() % 26));
  }
  return text;
}

TEST(LineReaderTest, SplitFileCoversTheFileWithBoundedSplits) {
  for (int64_t size : {0, 1, 7, 1000, 1 << 20, 123'456'789}) {
    for (int max_splits : {1, 2, 3, 8, 64}) {
      for (int64_t min_bytes : {1, 100, 1 << 20}) {
        const std::vector<FileSplit> splits = SplitFile(size, max_splits, min_bytes);
        ASSERT_FALSE(splits.empty());
        ASSERT_LE(static_cast<int>(splits.size()), max_splits);
        EXPECT_EQ(splits.front().start, 0);
        EXPECT_EQ(splits.back().end, size);
        for (size_t i = 0; i < splits.size(); ++i) {
          if (i > 0) {
            EXPECT_EQ(splits[i].start, splits[i - 1].end);
          }
          if (splits.size() > 1) {
            EXPECT_GE(splits[i].end - splits[i].start, min_bytes);
          }
        }
      }
    }
  }
}

// The property every reader depends on: whatever the cut points and buffer size, the readers'
// lines, concatenated in split order, are the file's lines.
TEST(LineReaderTest, SplitsTogetherReadEveryLineExactlyOnce) {
  TempDir dir;
  const std::string path = dir.File("text.txt");
  std::mt19937_64 random(20240601);
  for (int round = 0; round < 300; ++round) {
    const std::string text = RandomText(random, round < 20 ? 3 : 200);
    WriteWhole(path, text);
    const std::vector<std::string> expected = NaiveLines(path);
    std::unique_ptr<ReadableFile> file = OpenOrDie(path);
    const int64_t size = file->size();
    const int max_splits = 1 + static_cast<int>(random() % 8);
    std::vector<FileSplit> splits;
    if (round % 2 == 0) {
      splits = SplitFile(size, max_splits, 1 + static_cast<int64_t>(random() % (size + 1)));
    } else {
      // Arbitrary cut points, empty splits included.
      std::vector<int64_t> cuts = {0, size};
      for (int i = 1; i < max_splits; ++i) cuts.push_back(static_cast<int64_t>(random() % (size + 1)));
      std::sort(cuts.begin(), cuts.end());
      for (size_t i = 0; i + 1 < cuts.size(); ++i) splits.push_back({cuts[i], cuts[i + 1]});
    }
    const size_t buffer_bytes = 1 + random() % 256;  // lines longer than the buffer grow it
    std::vector<std::string> actual;
    for (const FileSplit& split : splits) {
      for (std::string& line : ReadSplit(*file, split, buffer_bytes)) actual.push_back(std::move(line));
    }
    ASSERT_EQ(actual, expected) << "round " << round << ", " << splits.size() << " splits, buffer "
                                << buffer_bytes;
  }
}

TEST(LineReaderTest, LineNumbersOffsetsAndPositions) {
  TempDir dir;
  const std::string path = dir.File("text.txt");
  const std::string text = "alpha\r\n\nbeta\ngamma";
  WriteWhole(path, text);
  std::unique_ptr<ReadableFile> file = OpenOrDie(path);
  LineReader reader(file.get(), {0, file->size()}, 4);
  EXPECT_TRUE(reader.starts_at_file_start());
  EXPECT_EQ(reader.position(), 0);
  std::string_view line;
  int64_t expected_number = 0;
  size_t expected_offset = 0;
  while (true) {
    Result<bool> next = reader.Next(&line);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!*next) break;
    ++expected_number;
    EXPECT_EQ(reader.line_number(), expected_number);
    EXPECT_EQ(reader.line_offset(), static_cast<int64_t>(expected_offset));
    EXPECT_EQ(text.compare(expected_offset, line.size(), line), 0);
    const size_t newline = text.find('\n', expected_offset);
    expected_offset = newline == std::string::npos ? text.size() : newline + 1;
    EXPECT_EQ(reader.position(), static_cast<int64_t>(expected_offset));
  }
  EXPECT_EQ(expected_number, 4);
}

// position() is a resume point: a reader started there returns exactly the remaining lines.
TEST(LineReaderTest, ResumingAtPositionReturnsTheRemainingLines) {
  TempDir dir;
  const std::string path = dir.File("text.txt");
  std::mt19937_64 random(99);
  for (int round = 0; round < 50; ++round) {
    WriteWhole(path, RandomText(random, 100));
    std::unique_ptr<ReadableFile> file = OpenOrDie(path);
    const FileSplit split = {static_cast<int64_t>(random() % (file->size() + 1)), file->size()};
    const std::vector<std::string> all = ReadSplit(*file, split, 64);
    const size_t taken = all.empty() ? 0 : random() % all.size();
    LineReader reader(file.get(), split, 64);
    std::string_view line;
    for (size_t i = 0; i < taken; ++i) ASSERT_TRUE(*reader.Next(&line));
    const FileSplit rest = {std::min(reader.position(), split.end), split.end};
    const std::vector<std::string> resumed = ReadSplit(*file, rest, 64);
    ASSERT_EQ(resumed, std::vector<std::string>(all.begin() + taken, all.end())) << "round " << round;
  }
}

TEST(LineReaderTest, LineLongerThanTheLimitNamesItsLineNumber) {
  TempDir dir;
  const std::string path = dir.File("text.txt");
  WriteWhole(path, "short\nalso short\n" + std::string(5000, 'x') + "\nafter\n");
  std::unique_ptr<ReadableFile> file = OpenOrDie(path);
  LineReader reader(file.get(), {0, file->size()}, 64, 1024);
  std::string_view line;
  ASSERT_TRUE(*reader.Next(&line));
  ASSERT_TRUE(*reader.Next(&line));
  Result<bool> next = reader.Next(&line);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(next.status().message(), HasSubstr(path + ":line 3"));
  EXPECT_THAT(next.status().message(), HasSubstr("1024 bytes"));

  // A later split names the byte offset instead.
  LineReader later(file.get(), {1, file->size()}, 64, 1024);
  ASSERT_TRUE(*later.Next(&line));
  EXPECT_EQ(line, "also short");
  next = later.Next(&line);
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(), HasSubstr(path + ":byte 17"));
}

TEST(LineReaderTest, ALongPartialFirstLineIsSkippedWithoutGrowingTheBuffer) {
  TempDir dir;
  const std::string path = dir.File("text.txt");
  WriteWhole(path, std::string(10'000, 'x') + "\nnext\n");
  std::unique_ptr<ReadableFile> file = OpenOrDie(path);
  // The limit is far below the skipped line: skipping must not need to hold it.
  EXPECT_EQ(ReadSplit(*file, {5, file->size()}, 16, 16), std::vector<std::string>{"next"});
}

}  // namespace
}  // namespace weir::io
