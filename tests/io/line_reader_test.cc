#include "io/line_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace weir::io {
namespace {

// A file under the system temp dir holding `content`, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern = (std::filesystem::temp_directory_path() / "weir_line_reader_test.XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    WEIR_CHECK(fd >= 0);
    ::close(fd);
    path_ = pattern;
    std::ofstream out(path_, std::ios::binary);
    out << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Line {
  std::string text;
  int64_t offset;  // of its first byte
  bool operator==(const Line&) const = default;
};

void PrintTo(const Line& line, std::ostream* out) { *out << line.offset << ":'" << line.text << "'"; }

// The reference: split on '\n', strip one '\r' before it; a trailing '\n' ends the last line
// rather than starting an empty one.
std::vector<Line> NaiveLines(const std::string& content) {
  std::vector<Line> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    const size_t next = end == std::string::npos ? content.size() : end + 1;
    if (end == std::string::npos) end = content.size();
    std::string text = content.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') text.pop_back();
    lines.push_back({std::move(text), static_cast<int64_t>(start)});
    start = next;
  }
  return lines;
}

// Lines of random length 0..200, some longer than a 64-byte buffer (up to 700), some ending in
// "\r\n", some with a stray '\r' inside; with or without a final newline.
std::string RandomContent(std::mt19937_64& random) {
  std::string content;
  const int lines = static_cast<int>(random() % 60);
  for (int i = 0; i < lines; ++i) {
    const size_t length = random() % 10 == 0 ? 64 + random() % 640 : random() % 201;
    for (size_t j = 0; j < length; ++j) {
      content.push_back(random() % 50 == 0 ? '\r' : static_cast<char>('a' + random() % 26));
    }
    if (i + 1 < lines || random() % 2 == 0) content += random() % 4 == 0 ? "\r\n" : "\n";
  }
  return content;
}

// Reads every split of `path` with its own reader and a `buffer_bytes` buffer; returns all lines
// in split order. Checks the per-reader invariants on the way.
std::vector<Line> ReadAllSplits(const std::string& path, int splits, size_t buffer_bytes) {
  Result<std::unique_ptr<ReadableFile>> file = ReadableFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return {};
  const std::vector<FileSplit> split_list = SplitFile((*file)->size(), splits, /*min_split_bytes=*/1);
  std::vector<Line> lines;
  for (const FileSplit& split : split_list) {
    LineReader reader(file->get(), split, buffer_bytes);
    EXPECT_EQ(reader.starts_at_file_start(), split.start == 0);
    EXPECT_EQ(reader.split(), split);
    EXPECT_EQ(reader.position(), split.start);
    EXPECT_EQ(reader.line_number(), 0);
    EXPECT_EQ(reader.line_offset(), -1);
    int64_t count = 0;
    std::string_view line;
    while (true) {
      Result<bool> more = reader.Next(&line);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      ++count;
      EXPECT_EQ(reader.line_number(), count);
      EXPECT_GE(reader.line_offset(), split.start);
      EXPECT_LT(reader.line_offset(), split.end);  // a line belongs to the split of its first byte
      EXPECT_GT(reader.position(), reader.line_offset());
      lines.push_back({std::string(line), reader.line_offset()});
    }
    Result<bool> again = reader.Next(&line);  // stays at the end
    EXPECT_TRUE(again.ok() && !*again);
  }
  return lines;
}

TEST(LineReaderTest, SplitFileCoversTheFileContiguously) {
  for (int64_t size : {0, 1, 7, 100, 1000003}) {
    for (int splits : {1, 2, 3, 8}) {
      for (int64_t min_split : {int64_t{1}, int64_t{64}}) {
        const std::vector<FileSplit> result = SplitFile(size, splits, min_split);
        ASSERT_FALSE(result.empty());
        EXPECT_LE(result.size(), static_cast<size_t>(splits));
        EXPECT_EQ(result.front().start, 0);
        EXPECT_EQ(result.back().end, size);
        for (size_t i = 0; i < result.size(); ++i) {
          EXPECT_LE(result[i].start, result[i].end);
          if (i > 0) {
            EXPECT_EQ(result[i].start, result[i - 1].end);
          }
          if (result.size() > 1) {
            EXPECT_GE(result[i].end - result[i].start, min_split);
          }
        }
      }
    }
  }
}

// The property: whatever the content and however many splits, the readers together return the
// reference lines, each exactly once, in order, with their offsets.
TEST(LineReaderTest, SplitsTogetherReadEveryLineExactlyOnce) {
  std::vector<std::string> contents = {"",       "\n",          "\n\n",       "\r\n",   "a",
                                       "a\n",    "a\r\n",       "\r",         "ab\rcd", "x\n\ny\n\n",
                                       "last\r", "\r\n\r\n\r\n", std::string(300, 'z')};
  std::mt19937_64 random(20240601);
  for (int i = 0; i < 150; ++i) contents.push_back(RandomContent(random));
  for (size_t c = 0; c < contents.size(); ++c) {
    const std::string& content = contents[c];
    TempFile file(content);
    const std::vector<Line> expected = NaiveLines(content);
    for (int splits = 1; splits <= 8; ++splits) {
      for (size_t buffer_bytes : {size_t{1}, size_t{7}, size_t{64}, size_t{4096}}) {
        ASSERT_EQ(ReadAllSplits(file.path(), splits, buffer_bytes), expected)
            << "content #" << c << " (" << content.size() << " bytes), " << splits << " splits, "
            << buffer_bytes << "-byte buffer";
      }
    }
  }
}

TEST(LineReaderTest, WholeFileReaderCountsLinesAndTracksPositions) {
  const std::string content = "first\r\n\nthird line\nlast";
  TempFile file(content);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(file.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  LineReader reader(opened->get(), FileSplit{0, (*opened)->size()}, 64);
  EXPECT_EQ(reader.position(), 0);
  const std::vector<Line> expected = NaiveLines(content);
  std::string_view line;
  for (size_t i = 0; i < expected.size(); ++i) {
    Result<bool> more = reader.Next(&line);
    ASSERT_TRUE(more.ok() && *more) << i;
    EXPECT_EQ(line, expected[i].text);
    EXPECT_EQ(reader.line_number(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(reader.line_offset(), expected[i].offset);
    const int64_t next = i + 1 < expected.size() ? expected[i + 1].offset : static_cast<int64_t>(content.size());
    EXPECT_EQ(reader.position(), next) << i;
  }
  Result<bool> end = reader.Next(&line);
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);
  EXPECT_EQ(reader.position(), static_cast<int64_t>(content.size()));
}

// A restarted reader resumes at position(): reading [position, end) after k lines yields the
// remaining lines.
TEST(LineReaderTest, ResumingAtPositionYieldsTheRemainingLines) {
  std::mt19937_64 random(99);
  std::string content;
  while (content.size() < 5000) content += RandomContent(random) + "\n";
  TempFile file(content);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(file.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  const std::vector<Line> expected = NaiveLines(content);
  ASSERT_GT(expected.size(), 20u);
  for (size_t stop : {size_t{0}, size_t{1}, size_t{7}, expected.size() / 2, expected.size() - 1}) {
    LineReader first(opened->get(), FileSplit{0, (*opened)->size()}, 64);
    std::string_view line;
    for (size_t i = 0; i < stop; ++i) ASSERT_TRUE(*first.Next(&line));
    LineReader resumed(opened->get(), FileSplit{first.position(), (*opened)->size()}, 64);
    std::vector<Line> rest;
    while (*resumed.Next(&line)) rest.push_back({std::string(line), resumed.line_offset()});
    EXPECT_EQ(rest, std::vector<Line>(expected.begin() + static_cast<std::ptrdiff_t>(stop), expected.end()))
        << "stopped after " << stop;
  }
}

// A line longer than max_line_bytes is an error naming the file and the line; shorter lines,
// even longer than the initial buffer, are fine.
TEST(LineReaderTest, LineLongerThanTheLimitIsAnErrorNamingIt) {
  const std::string content = "short\n" + std::string(100, 'a') + "\n" + std::string(300, 'b') + "\nafter\n";
  TempFile file(content);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(file.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  LineReader reader(opened->get(), FileSplit{0, (*opened)->size()}, /*buffer_bytes=*/16,
                    /*max_line_bytes=*/128);
  std::string_view line;
  ASSERT_TRUE(*reader.Next(&line));
  EXPECT_EQ(line, "short");
  ASSERT_TRUE(*reader.Next(&line));
  EXPECT_EQ(line, std::string(100, 'a'));
  Result<bool> too_long = reader.Next(&line);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find(file.path() + ":line 3"), std::string_view::npos)
      << too_long.status();

  // In a later split the line is named by its byte offset.
  LineReader later(opened->get(), FileSplit{2, (*opened)->size()}, 16, 128);
  ASSERT_TRUE(*later.Next(&line));
  EXPECT_EQ(line, std::string(100, 'a'));
  Result<bool> later_too_long = later.Next(&line);
  ASSERT_FALSE(later_too_long.ok());
  EXPECT_EQ(later_too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(later_too_long.status().message().find(file.path() + ":byte"), std::string_view::npos)
      << later_too_long.status();
}

// Readers of different splits of one file run on threads of their own (ReadAt is positional).
TEST(LineReaderTest, SplitsCanBeReadConcurrently) {
  std::mt19937_64 random(5);
  std::string content;
  while (content.size() < 200000) content += RandomContent(random) + "\n";
  TempFile file(content);
  Result<std::unique_ptr<ReadableFile>> opened = ReadableFile::Open(file.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  const std::vector<FileSplit> splits = SplitFile((*opened)->size(), 4, 1);
  std::vector<std::vector<Line>> per_split(splits.size());
  std::vector<std::thread> threads;
  for (size_t s = 0; s < splits.size(); ++s) {
    threads.emplace_back([&, s] {
      LineReader reader(opened->get(), splits[s], 256);
      std::string_view line;
      while (true) {
        Result<bool> more = reader.Next(&line);
        if (!more.ok() || !*more) break;
        per_split[s].push_back({std::string(line), reader.line_offset()});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<Line> all;
  for (const auto& lines : per_split) all.insert(all.end(), lines.begin(), lines.end());
  EXPECT_EQ(all, NaiveLines(content));
}

}  // namespace
}  // namespace weir::io
