// WordCount end to end against a reference tokenizer written independently here: Flink's
// semantics are "lower-case, split on \W+, drop empty tokens, running count per word".
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "weir_process.h"

namespace weir {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunWeir;

// The expected output lines, in input order.
std::vector<std::string> ReferenceWordCount(const std::string& text) {
  std::vector<std::string> lines;
  std::map<std::string, int64_t> counts;
  std::string token;
  auto flush = [&] {
    if (!token.empty()) lines.push_back("(" + token + "," + std::to_string(++counts[token]) + ")");
    token.clear();
  };
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 128 && (std::isalnum(u) || c == '_')) {
      token.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
  return lines;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

class WordCountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weir-wordcount-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::mt19937_64 random(17);
    const std::vector<std::string> words = {"The", "quick", "BROWN", "fox", "jumps", "over", "lazy",
                                            "dog's", "über", "x_y", "42", "a-b", "Ünïcode", "tab\there"};
    for (int line = 0; line < 3000; ++line) {
      const int count = static_cast<int>(random() % 12);
      for (int w = 0; w < count; ++w) {
        text_ += words[random() % words.size()];
        text_ += (random() % 5 == 0) ? ", " : " ";
      }
      text_ += (line % 7 == 0) ? "\r\n" : "\n";
    }
    text_ += "last line without newline";
    input_ = dir_ / "input.txt";
    std::ofstream(input_, std::ios::binary) << text_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  fs::path input_;
  std::string text_;
};

TEST_F(WordCountTest, ParallelismOneMatchesFlinkOutputInInputOrder) {
  const fs::path output = dir_ / "out.txt";
  auto result = RunWeir({"example", "WordCount", "--input", input_, "--output", output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Lines(ReadFile(output)), ReferenceWordCount(text_));
  // Without --output: the same on stdout.
  auto printed = RunWeir({"example", "WordCount", "--input", input_});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_EQ(Lines(printed.out), ReferenceWordCount(text_));
}

TEST_F(WordCountTest, ParallelismTwoWritesOneFilePerSubtaskWithEveryCountOnce) {
  const fs::path output = dir_ / "out";
  auto result = RunWeir({"-D", "parallelism.default=2", "example", "WordCount", "--input", input_,
                         "--output", output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_TRUE(fs::is_directory(output));
  std::multiset<std::string> actual;
  for (const char* name : {"1", "2"}) {
    for (const std::string& line : Lines(ReadFile(output / name))) actual.insert(line);
  }
  const std::vector<std::string> expected = ReferenceWordCount(text_);
  EXPECT_EQ(actual, std::multiset<std::string>(expected.begin(), expected.end()));
}

TEST_F(WordCountTest, StdoutWithParallelismTwoHasSubtaskPrefixes) {
  auto result = RunWeir({"-D", "parallelism.default=2", "example", "WordCount", "--input", input_});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::multiset<std::string> actual;
  for (const std::string& line : Lines(result.out)) {
    ASSERT_TRUE(line.rfind("1> ", 0) == 0 || line.rfind("2> ", 0) == 0) << line;
    actual.insert(line.substr(3));
  }
  const std::vector<std::string> expected = ReferenceWordCount(text_);
  EXPECT_EQ(actual, std::multiset<std::string>(expected.begin(), expected.end()));
}

TEST_F(WordCountTest, FailedJobLeavesNoOutputBehind) {
  // The output directory does not exist: the job fails at start and writes nothing.
  const fs::path output = dir_ / "missing-dir" / "out.txt";
  auto result = RunWeir({"example", "WordCount", "--input", input_, "--output", output});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("missing-dir"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(output));
}

TEST_F(WordCountTest, DefaultDataAndGeneratedText) {
  auto fallback = RunWeir({"example", "WordCount"});
  ASSERT_EQ(fallback.exit_code, 0) << fallback.err;
  EXPECT_NE(fallback.out.find("(to,1)"), std::string::npos);
  EXPECT_NE(fallback.err.find("default input data set"), std::string::npos);
  auto generated = RunWeir({"example", "WordCount", "--generate", "2mb", "--output", "/dev/null", "--stats"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  EXPECT_NE(generated.err.find("MB/s"), std::string::npos) << generated.err;
}

}  // namespace
}  // namespace weir
