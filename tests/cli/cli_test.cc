// End-to-end tests of the weir binary: flags, errors, exit codes.
#include <gtest/gtest.h>

#include <filesystem>

#include "weir_process.h"

namespace weir {
namespace {

using testing::RunWeir;

TEST(CliTest, VersionAndHelp) {
  auto version = RunWeir({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("weir ", 0), 0u) << version.out;
  auto help = RunWeir({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("example"), std::string::npos);
  auto config = RunWeir({"--help-config"});
  EXPECT_EQ(config.exit_code, 0);
  EXPECT_NE(config.out.find("execution.buffer-timeout"), std::string::npos);
  auto list = RunWeir({"example", "--list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("WordCount"), std::string::npos);
}

TEST(CliTest, BadFlagsAndOptionsAreOneLineErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--no-such-flag"},
           {"example", "WordCount", "--no-such-flag"},
           {"example", "NoSuchExample"},
           {"-D", "parallelism.default=many", "example", "WordCount"},
           {"-Dexecution.buffer-timeout=soon", "example", "WordCount"},
           {"-D", "parallelism.defualt=2", "example", "WordCount"},
           {"-D"},
       }) {
    auto result = RunWeir(args);
    EXPECT_EQ(result.exit_code, 2) << args.front() << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("weir: error: ", 0), 0u) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
  auto typo = RunWeir({"-D", "parallelism.defualt=2", "example", "WordCount"});
  EXPECT_NE(typo.err.find("did you mean 'parallelism.default'"), std::string::npos) << typo.err;
}

TEST(CliTest, MissingInputFileIsNamed) {
  auto result = RunWeir({"example", "WordCount", "--input", "/nonexistent/input.txt"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("/nonexistent/input.txt"), std::string::npos) << result.err;
}

TEST(CliTest, SigintAndSigtermStopAJobCleanly) {
  const std::string output = std::filesystem::temp_directory_path() / ("weir-stop-" + std::to_string(::getpid()));
  for (int signal_number : {SIGINT, SIGTERM}) {
    // 1 TB of text would run for hours: only the signal can end it.
    auto result = RunWeir({"example", "WordCount", "--generate", "1tb", "--output", output}, "/dev/null", 1500,
                          signal_number);
    EXPECT_EQ(result.exit_code, 128 + signal_number) << result.err;
    EXPECT_NE(result.err.find("stopped by"), std::string::npos) << result.err;
    // The results of what was read are committed: complete "(word,count)" lines (none, when the
    // signal came while the job was still being set up, as on a slow sanitizer build).
    ASSERT_TRUE(std::filesystem::exists(output)) << result.err;
    const std::string text = testing::ReadFile(output);
    if (!text.empty()) {
      EXPECT_EQ(text.back(), '\n');
      EXPECT_EQ(text.front(), '(');
    }
    std::filesystem::remove(output);
  }
}

}  // namespace
}  // namespace weir
