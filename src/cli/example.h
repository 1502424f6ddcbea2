// The examples `weir example <Name>` runs: Flink's example jobs, with Flink's flags and output.
//
// Each example parses its own flags (Flink's ParameterTool style: --input <path>), builds its job
// on the environment it is given (configured with the -D options), and runs it with RunJob().
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/stream_execution_environment.h"

namespace weir::cli {

// Exit codes of the weir binary.
inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;
inline constexpr int kExitUsage = 2;

struct ExampleArgs {
  std::vector<std::string> args;  // the example's own flags, after its name
  Configuration config;           // from -D options
};

struct Example {
  std::string_view name;
  std::string_view summary;
  int (*run)(const ExampleArgs& args);
};

std::span<const Example> Examples();

// Runs the job of `env`: installs SIGINT/SIGTERM handlers that stop it cleanly, prints a one-line
// error on failure, and with `print_stats` a throughput line on stderr. Returns the exit code.
int RunJob(api::StreamExecutionEnvironment& env, const std::string& job_name, bool print_stats);

// Prints "weir: error: <message>" to stderr and returns kExitUsage.
int UsageError(std::string_view message);

// Examples.
int RunWordCount(const ExampleArgs& args);
int RunSocketWindowWordCount(const ExampleArgs& args);
int RunWindowWordCount(const ExampleArgs& args);
int RunTopSpeedWindowing(const ExampleArgs& args);
int RunSessionWindowing(const ExampleArgs& args);
int RunWindowJoin(const ExampleArgs& args);
int RunLateDataWindowing(const ExampleArgs& args);

// `weir bench <workload> [flags]` (bench_command.cc, docs/bench.md); `args.args` are the flags
// after the workload's name.
int RunBench(std::string_view workload, const ExampleArgs& args);

}  // namespace weir::cli
