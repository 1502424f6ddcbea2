#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "cli/example.h"

namespace weir::cli {
namespace {

std::atomic<api::StreamExecutionEnvironment*> g_running_env{nullptr};
std::atomic<int> g_stop_signal{0};

void HandleStopSignal(int signal_number) {
  if (g_stop_signal.exchange(signal_number) != 0) {
    // A second signal: the user insists; leave at once (async-signal-safe).
    static constexpr char kMessage[] = "weir: stopped immediately by a second signal\n";
    (void)!::write(2, kMessage, sizeof(kMessage) - 1);
    ::_exit(128 + signal_number);
  }
  if (api::StreamExecutionEnvironment* env = g_running_env.load()) env->RequestStop();
}

void InstallSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = HandleStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout becomes a write error (EPIPE), not a silent death
}

std::string ConfigHelp() {
  std::string text = "Configuration keys (set with -D key=value, Flink's names and formats):\n";
  for (const ConfigOption& option : options::All()) {
    text += fmt::format("  {:48} default {:10} {}\n", option.key,
                        option.default_value.empty() ? "''" : option.default_value, option.description);
  }
  return text;
}

}  // namespace

constexpr Example kExamples[] = {
    {"WordCount", "Flink's streaming WordCount: a running (word,count) per token", RunWordCount},
    {"SocketWindowWordCount", "Flink's: words from a text socket counted in 5 s processing-time windows",
     RunSocketWindowWordCount},
    {"WindowWordCount", "Flink's: (word,count) over sliding count windows of each word", RunWindowWordCount},
    {"TopSpeedWindowing", "Flink's: per car, top speed of the last 10 s every 50 m (delta trigger, time evictor)",
     RunTopSpeedWindowing},
    {"SessionWindowing", "Flink's: sessions with a 3 ms gap over built-in data", RunSessionWindowing},
    {"WindowJoin", "Flink's: grades and salaries joined by name in tumbling windows", RunWindowJoin},
    {"LateDataWindowing", "event-time windows over an out-of-order CSV, allowed lateness, late side output",
     RunLateDataWindowing},
};

std::span<const Example> Examples() { return kExamples; }

int UsageError(std::string_view message) {
  std::fprintf(stderr, "weir: error: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitUsage;
}

int RunJob(api::StreamExecutionEnvironment& env, const std::string& job_name, bool print_stats) {
  g_running_env.store(&env);
  if (g_stop_signal.load() != 0) env.RequestStop();
  Result<api::JobResult> result = env.Execute(job_name);
  g_running_env.store(nullptr);
  if (!result.ok()) {
    std::fprintf(stderr, "weir: job '%s' failed: %s\n", job_name.c_str(),
                 std::string(result.status().message()).c_str());
    return kExitJobFailed;
  }
  const api::JobResult& job = *result;
  if (print_stats) {
    const double seconds = std::max(job.seconds, 1e-9);
    const double mb = static_cast<double>(job.bytes_in) / (1 << 20);
    std::fprintf(stderr,
                 "%s: %lld records, %.1f MB in %.3f s: %.2f M records/s, %.1f MB/s "
                 "(%.2f CPU s on %d workers, %d tasks: %.1f MB/s per core)\n",
                 job_name.c_str(), static_cast<long long>(job.records_in), mb, seconds,
                 job.records_in / seconds / 1e6, mb / seconds, job.cpu_seconds, job.workers, job.tasks,
                 job.cpu_seconds > 0 ? mb / job.cpu_seconds : 0.0);
  }
  if (job.records_skipped > 0) {
    std::fprintf(stderr, "weir: warning: skipped %lld malformed input records (ignore-parse-errors is set)\n",
                 static_cast<long long>(job.records_skipped));
  }
  if (!job.savepoint_path.empty()) {
    // Flink's stop-with-savepoint: the job ended on purpose right after the savepoint.
    std::fprintf(stderr, "weir: job '%s' stopped with a savepoint: %s\nweir: resume it with --restore %s\n",
                 job_name.c_str(), job.savepoint_path.c_str(), job.savepoint_path.c_str());
    return kExitOk;
  }
  if (job.stopped) {
    const int signal_number = g_stop_signal.load();
    std::fprintf(stderr, "weir: job '%s' stopped%s; its output holds the results of the input read "
                 "until then\n", job_name.c_str(), signal_number == SIGINT ? " by SIGINT"
                 : signal_number == SIGTERM ? " by SIGTERM" : "");
    return signal_number != 0 ? 128 + signal_number : kExitOk;
  }
  return kExitOk;
}

int RunCli(int argc, char** argv) {
  // From the start, so a signal while a job is being set up also stops it cleanly.
  InstallSignalHandlers();
  // -D key=value may appear anywhere, as in Flink's CLI; take them out first.
  Configuration config;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--restore" || arg.starts_with("--restore=")) {
      // Any job command: start from a checkpoint or savepoint (Flink's execution.savepoint.path).
      std::string_view path;
      if (arg == "--restore") {
        if (i + 1 == argc) return UsageError("--restore needs 'latest' or a checkpoint/savepoint path");
        path = argv[++i];
      } else {
        path = arg.substr(std::string_view("--restore=").size());
      }
      if (path.empty()) return UsageError("--restore needs 'latest' or a checkpoint/savepoint path");
      Status status = config.Set(options::kSavepointPath.key, path);
      if (!status.ok()) return UsageError(status.message());
      continue;
    }
    if (arg == "-D") {
      if (i + 1 == argc) return UsageError("-D needs key=value");
      arg = argv[++i];
    } else if (arg.starts_with("-D") && arg.size() > 2) {
      arg.remove_prefix(2);
    } else {
      rest.emplace_back(arg);
      continue;
    }
    Status status = config.SetFromArgument(arg);
    if (!status.ok()) return UsageError(status.message());
  }

  CLI::App app("weir: Flink-compatible stream processing, native and fast.", "weir");
  app.set_version_flag("--version", std::string("weir ") + WEIR_VERSION);
  app.footer("Any command takes -D key=value to set a configuration key (see --help-config), and\n"
             "--restore latest|<path> to start from a checkpoint or savepoint (docs/checkpoints.md).");
  bool help_config = false;
  app.add_flag("--help-config", help_config, "List the configuration keys weir understands");
  CLI::App* example = app.add_subcommand("example", "Run one of Flink's example jobs");
  std::string example_name;
  example->add_option("name", example_name, "Example name (weir example --list)");
  bool list = false;
  example->add_flag("--list", list, "List the examples");
  example->prefix_command();
  CLI::App* bench = app.add_subcommand("bench", "Benchmark workloads: nexmark, ysb, ticks, wordcount (docs/bench.md)");
  std::string bench_workload;
  bench->add_option("workload", bench_workload, "nexmark, ysb, ticks or wordcount (weir bench <workload> --help)");
  bench->prefix_command();
  bench->set_help_flag();  // `weir bench <workload> --help` lists bench's own flags (RunBench)
  try {
    std::vector<std::string> reversed(rest.rbegin(), rest.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return kExitOk;
  } catch (const CLI::CallForVersion&) {
    std::printf("weir %s\n", WEIR_VERSION);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    return UsageError(fmt::format("{} (see weir --help)", error.what()));
  }

  if (help_config) {
    std::fputs(ConfigHelp().c_str(), stdout);
    return kExitOk;
  }
  if (example->parsed()) {
    if (list || example_name.empty()) {
      std::puts("Examples (weir example <Name> --help for each one's flags):");
      for (const Example& entry : Examples()) {
        std::printf("  %-24.*s %.*s\n", static_cast<int>(entry.name.size()), entry.name.data(),
                    static_cast<int>(entry.summary.size()), entry.summary.data());
      }
      return example_name.empty() && !list ? kExitUsage : kExitOk;
    }
    for (const Example& entry : Examples()) {
      if (entry.name == example_name) return entry.run(ExampleArgs{example->remaining(), config});
    }
    return UsageError(fmt::format("unknown example '{}' (weir example --list)", example_name));
  }
  if (bench->parsed()) return RunBench(bench_workload, ExampleArgs{bench->remaining(), config});
  std::fputs(app.help().c_str(), stdout);
  return kExitUsage;
}

}  // namespace weir::cli
