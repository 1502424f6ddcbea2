// `weir bench <workload>`: runs benchmark workloads (Nexmark queries, YSB, market-tick queries,
// WordCount) through harness::RunQuery, prints nexmark-flink's summary table (and latency
// percentiles of paced runs) on stdout, and writes the JSON, .hgrm and HTML reports asked for.
// See docs/bench.md.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/example.h"
#include "harness/nexmark/event_csv.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/queries.h"
#include "harness/nexmark/source.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/ticks/ticks.h"
#include "harness/wordcount.h"
#include "harness/ysb/ysb.h"

namespace weir::cli {
namespace {

constexpr std::string_view kWorkloads[] = {"nexmark", "ysb", "ticks", "wordcount"};

// Set by SIGINT/SIGTERM during a bench: the runner's sampler sees it and stops the running job
// cleanly; no further query starts.
std::atomic<bool> g_bench_stop{false};
std::atomic<int> g_bench_signal{0};

void HandleBenchSignal(int signal_number) {
  if (g_bench_signal.exchange(signal_number) != 0) {
    static constexpr char kMessage[] = "weir: stopped immediately by a second signal\n";
    (void)!::write(2, kMessage, sizeof(kMessage) - 1);
    ::_exit(128 + signal_number);
  }
  g_bench_stop.store(true);
}

void InstallBenchSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = HandleBenchSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// The flags of `weir bench <workload>`.
struct BenchFlags {
  std::string queries;
  int64_t events = 10'000'000;
  double rate = 0;
  int parallelism = 0;
  uint64_t seed = 0;
  bool latency_mode = false;
  std::string json;
  std::string hgrm;
  std::string report;
  std::string input;
  std::string output;
  std::optional<int64_t> generate;
};

// One run the command will make: its name, its job and how many events it should emit.
struct PlannedRun {
  std::string name;
  harness::JobBuilder build;
  int64_t expected_events = 0;
};

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

std::string NexmarkQueryNames() {
  std::string names;
  for (const harness::nexmark::NexmarkQuery& query : harness::nexmark::NexmarkQueries()) {
    if (!names.empty()) names += ", ";
    names += query.name;
  }
  return names;
}

// A file the run will write: fails early (usage error) when its directory is missing or not
// writable, or when the path is a directory, rather than after a long run.
Status CheckWritable(const std::string& flag, const std::string& path) {
  if (path == "-") return Status::Ok();
  std::error_code error;
  const std::filesystem::path file(path);
  if (std::filesystem::is_directory(file, error)) return InvalidArgument("{} {}: is a directory", flag, path);
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir, error)) {
    return InvalidArgument("{} {}: directory {} does not exist", flag, path, dir.string());
  }
  if (::access(dir.c_str(), W_OK) != 0) return InvalidArgument("{} {}: directory {} is not writable", flag, path,
                                                             dir.string());
  if (std::filesystem::exists(file, error) && ::access(file.c_str(), W_OK) != 0) {
    return InvalidArgument("{} {}: file is not writable", flag, path);
  }
  return Status::Ok();
}

// `path` with ".<query>" inserted before its extension: one .hgrm file per query ("-", standard
// output, holds them one after the other).
std::string PerQueryPath(const std::string& path, const std::string& query) {
  if (path == "-") return path;
  const std::filesystem::path file(path);
  std::filesystem::path named = file.parent_path() / (file.stem().string() + "." + query);
  named += file.extension();
  return named.string();
}

Result<std::vector<PlannedRun>> PlanNexmark(const BenchFlags& flags) {
  namespace nx = harness::nexmark;
  if (flags.queries.empty()) {
    return InvalidArgument("nexmark: give --query (a comma-separated list of {}, or all)", NexmarkQueryNames());
  }
  std::vector<const nx::NexmarkQuery*> queries;
  if (flags.queries == "all") {
    for (const nx::NexmarkQuery& query : nx::NexmarkQueries()) queries.push_back(&query);
  } else {
    for (const std::string& name : SplitList(flags.queries)) {
      const nx::NexmarkQuery* query = nx::FindNexmarkQuery(name);
      if (query == nullptr) {
        return InvalidArgument("nexmark: unknown query '{}' (queries: {}, or all)", name, NexmarkQueryNames());
      }
      queries.push_back(query);
    }
    if (queries.empty()) return InvalidArgument("nexmark: --query '{}' names no query", flags.queries);
  }
  nx::GeneratorConfig config;
  config.max_events = flags.events;
  config.seed = flags.seed;
  if (flags.rate > 0) config.first_event_rate = flags.rate;
  if (Status status = config.Validate(); !status.ok()) return status.WithContext("nexmark");
  std::vector<PlannedRun> runs;
  for (const nx::NexmarkQuery* query : queries) {
    const std::string input = flags.input;
    runs.push_back({std::string(query->name),
                    [query, config, input](api::StreamExecutionEnvironment& env, const harness::RunContext& context) {
                      query->build(input.empty() ? nx::NexmarkSource(env, config, context)
                                                 : nx::NexmarkFileSource(env, input, context),
                                   context);
                      return Status::Ok();
                    },
                    input.empty() ? flags.events : 0});
  }
  return runs;
}

Result<std::vector<PlannedRun>> PlanTicks(const BenchFlags& flags) {
  namespace tk = harness::ticks;
  std::vector<tk::TickQuery> queries;
  if (flags.queries.empty() || flags.queries == "all") {
    queries = {tk::TickQuery::kT1, tk::TickQuery::kT2, tk::TickQuery::kT3};
  } else {
    for (const std::string& name : SplitList(flags.queries)) {
      Result<tk::TickQuery> query = tk::ParseTickQuery(name);
      if (!query.ok()) return query.status().WithContext("ticks");
      queries.push_back(*query);
    }
    if (queries.empty()) return InvalidArgument("ticks: --query '{}' names no query", flags.queries);
  }
  tk::TickConfig config;
  config.messages = flags.events;
  if (Status status = config.Validate(flags.rate); !status.ok()) return status.WithContext("ticks");
  std::vector<PlannedRun> runs;
  for (tk::TickQuery query : queries) {
    runs.push_back({std::string(tk::TickQueryName(query)),
                    [query, config](api::StreamExecutionEnvironment& env, const harness::RunContext& context) {
                      tk::BuildTickQuery(env, query, config, context);
                      return Status::Ok();
                    },
                    flags.events});
  }
  return runs;
}

Result<std::vector<PlannedRun>> PlanYsb(const BenchFlags& flags) {
  if (!flags.queries.empty()) return InvalidArgument("ysb: has one query; --query does not apply");
  harness::ysb::YsbConfig config;
  config.events = flags.events;
  if (Status status = config.Validate(flags.rate); !status.ok()) return status.WithContext("ysb");
  return std::vector<PlannedRun>{
      {"ysb",
       [config](api::StreamExecutionEnvironment& env, const harness::RunContext& context) {
         harness::ysb::BuildYsb(env, config, context);
         return Status::Ok();
       },
       flags.events}};
}

Result<std::vector<PlannedRun>> PlanWordCount(const BenchFlags& flags) {
  if (!flags.queries.empty()) return InvalidArgument("wordcount: has one query; --query does not apply");
  harness::WordCountConfig config;
  config.lines = flags.events;
  return std::vector<PlannedRun>{
      {"wordcount",
       [config](api::StreamExecutionEnvironment& env, const harness::RunContext& context) {
         harness::BuildWordCount(env, config, context);
         return Status::Ok();
       },
       flags.events}};
}

// Flag combinations that make no sense, before anything runs.
Status CheckFlags(std::string_view workload, const BenchFlags& flags) {
  if (flags.events <= 0) return InvalidArgument("--events must be positive, not {}", flags.events);
  if (flags.rate < 0) return InvalidArgument("--rate must be positive (events per second), not {}", flags.rate);
  if (flags.parallelism < 0) return InvalidArgument("--parallelism must be positive, not {}", flags.parallelism);
  if (workload != "nexmark") {
    if (!flags.input.empty()) return InvalidArgument("{}: --input applies to nexmark only", workload);
    if (flags.generate) return InvalidArgument("{}: --generate applies to nexmark only", workload);
    if (!flags.output.empty()) return InvalidArgument("{}: --output applies to nexmark only", workload);
  }
  if (flags.generate) {
    if (*flags.generate <= 0) return InvalidArgument("--generate must be a positive number of events");
    if (flags.output.empty()) return InvalidArgument("--generate needs --output <events.csv>");
    if (!flags.queries.empty() || !flags.input.empty()) {
      return InvalidArgument("--generate writes an event file and runs nothing: drop --query/--input");
    }
    return CheckWritable("--output", flags.output);
  }
  if (!flags.input.empty()) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(flags.input, error)) {
      return InvalidArgument("--input {}: no such file", flags.input);
    }
    if (::access(flags.input.c_str(), R_OK) != 0) return InvalidArgument("--input {}: not readable", flags.input);
    if (flags.rate > 0) {
      return InvalidArgument("--rate does not apply to --input (a recorded file is replayed unpaced)");
    }
  }
  if (!flags.output.empty()) {
    if (flags.queries.empty() || flags.queries == "all" || flags.queries.find(',') != std::string::npos) {
      return InvalidArgument("--output writes the result rows of one query: give a single --query");
    }
    RETURN_IF_ERROR(CheckWritable("--output", flags.output));
  }
  if (!flags.hgrm.empty() && flags.rate <= 0) {
    return InvalidArgument("--hgrm needs --rate: latency is measured in paced runs only");
  }
  if (!flags.json.empty()) RETURN_IF_ERROR(CheckWritable("--json", flags.json));
  if (!flags.hgrm.empty()) RETURN_IF_ERROR(CheckWritable("--hgrm", flags.hgrm));
  return Status::Ok();
}

nlohmann::json ConfigJson(std::string_view workload, const BenchFlags& flags, const harness::RunOptions& options,
                          const std::vector<PlannedRun>& plan) {
  nlohmann::json queries = nlohmann::json::array();
  for (const PlannedRun& run : plan) queries.push_back(run.name);
  nlohmann::json config{{"workload", workload},
                        {"queries", std::move(queries)},
                        {"events", flags.events},
                        {"rate", flags.rate},
                        {"parallelism", options.parallelism},
                        {"seed", flags.seed},
                        {"latency_mode", flags.latency_mode},
                        {"weir_version", WEIR_VERSION}};
  if (!flags.input.empty()) config["input"] = flags.input;
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [key, value] : options.config.entries()) settings[key] = value;
  config["configuration"] = std::move(settings);
  return config;
}

}  // namespace

int RunBench(std::string_view workload, const ExampleArgs& args) {
  const std::string usage = fmt::format("weir bench {}", workload.empty() ? "<workload>" : workload);
  CLI::App app("Runs benchmark workloads and reports throughput, cores and latency (docs/bench.md).", usage);
  BenchFlags flags;
  app.add_option("--query", flags.queries,
                 "nexmark: q0,q1,... or all; ticks: T1,T2,T3 or all (default all)");
  app.add_option("--events", flags.events, "Events of each run (nexmark events, YSB ad events, ticks "
                                           "messages, wordcount lines; default 10000000)");
  app.add_option("--rate", flags.rate, "Paced run at this many events/s, with latency measured (open loop)");
  app.add_option("--parallelism", flags.parallelism, "Parallelism of the jobs (default: parallelism.default)");
  app.add_option("--seed", flags.seed, "Seed of the generated data (default 0)");
  app.add_flag("--latency-mode", flags.latency_mode, "execution.buffer-timeout 0: flush every record at once");
  app.add_option("--json", flags.json, "Write the results as JSON to this file ('-': stdout, tables on stderr)");
  app.add_option("--hgrm", flags.hgrm,
                 "Write the latency percentile distribution (HdrHistogram .hgrm, microseconds); with several "
                 "queries one file each, named <name>.<query>.hgrm");
  app.add_option("--report", flags.report, "Write an HTML report with charts into this directory (index.html)");
  app.add_option("--input", flags.input, "nexmark: run on the events of this file (see --generate) instead");
  app.add_option("--output", flags.output,
                 "nexmark: with --generate, the event file to write; with one --query, the result rows (CSV); "
                 "'-' is stdout");
  app.add_option("--generate", flags.generate, "nexmark: write this many generated events to --output and exit");
  try {
    std::vector<std::string> reversed(args.args.rbegin(), args.args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::fputs("Workloads: nexmark, ysb, ticks, wordcount.\n", stdout);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    return UsageError(fmt::format("bench {}: {}", workload, error.what()));
  }
  if (workload.empty()) return UsageError("bench: name a workload: nexmark, ysb, ticks or wordcount");
  if (std::find(std::begin(kWorkloads), std::end(kWorkloads), workload) == std::end(kWorkloads)) {
    return UsageError(fmt::format("bench: unknown workload '{}' (nexmark, ysb, ticks, wordcount)", workload));
  }
  if (Status status = CheckFlags(workload, flags); !status.ok()) {
    return UsageError(fmt::format("bench {}: {}", workload, status.message()));
  }

  if (flags.generate) {
    harness::nexmark::GeneratorConfig config;
    config.max_events = *flags.generate;
    config.seed = flags.seed;
    if (flags.rate > 0) config.first_event_rate = flags.rate;
    if (Status status = config.Validate(); !status.ok()) {
      return UsageError(fmt::format("bench nexmark: {}", status.message()));
    }
    if (Status status = harness::nexmark::WriteEventsCsv(config, *flags.generate, flags.output); !status.ok()) {
      std::fprintf(stderr, "weir: error: bench nexmark --generate: %s\n", std::string(status.message()).c_str());
      return kExitJobFailed;
    }
    std::fprintf(stderr, "wrote %lld Nexmark events to %s\n", static_cast<long long>(*flags.generate),
                 flags.output == "-" ? "standard output" : flags.output.c_str());
    return kExitOk;
  }

  Result<std::vector<PlannedRun>> plan = workload == "nexmark" ? PlanNexmark(flags)
                                         : workload == "ticks" ? PlanTicks(flags)
                                         : workload == "ysb"   ? PlanYsb(flags)
                                                               : PlanWordCount(flags);
  if (!plan.ok()) return UsageError(fmt::format("bench: {}", plan.status().message()));
  if (!flags.report.empty()) {
    std::error_code error;
    std::filesystem::create_directories(flags.report, error);
    if (error || ::access(flags.report.c_str(), W_OK) != 0) {
      return UsageError(fmt::format("bench {}: --report {}: cannot create a writable directory{}{}", workload,
                                    flags.report, error ? ": " : "", error ? error.message() : ""));
    }
  }

  harness::RunOptions options;
  options.config = args.config;
  options.parallelism = flags.parallelism;
  options.latency_mode = flags.latency_mode;
  options.rate = flags.rate;
  options.seed = flags.seed;
  options.keep_rows = !flags.output.empty();
  options.stop = &g_bench_stop;
  InstallBenchSignalHandlers();

  std::vector<harness::QueryRun> runs;
  for (const PlannedRun& planned : *plan) {
    if (g_bench_stop.load()) break;
    options.expected_events = planned.expected_events;
    Result<harness::QueryRun> run = harness::RunQuery(planned.name, planned.build, options);
    if (!run.ok()) {
      std::fprintf(stderr, "weir: bench %.*s: job failed: %s\n", static_cast<int>(workload.size()), workload.data(),
                   std::string(run.status().message()).c_str());
      return kExitJobFailed;
    }
    std::fprintf(stderr, "%s: %lld events, %lld rows in %.3f s (%.2f M events/s, %.2f cores)%s\n",
                 run->name.c_str(), static_cast<long long>(run->events), static_cast<long long>(run->rows),
                 run->seconds, run->events_per_second() / 1e6, run->cores(), run->stopped ? ", stopped" : "");
    runs.push_back(std::move(*run));
  }

  const std::string title = workload == "nexmark" ? "Nexmark" : workload == "ysb" ? "YSB"
                            : workload == "ticks" ? "Ticks" : "WordCount";
  // A report written to standard output ("-") takes it over; the tables go to stderr then.
  const bool report_on_stdout = flags.output == "-" || flags.json == "-" || flags.hgrm == "-";
  std::FILE* table_out = report_on_stdout ? stderr : stdout;
  if (!runs.empty()) {
    std::fputs(harness::FormatSummaryTable(title, runs).c_str(), table_out);
    const std::string latency = harness::FormatLatencyTable(runs);
    if (!latency.empty()) std::fprintf(table_out, "\n%s", latency.c_str());
    std::fflush(table_out);
  }

  int exit_code = kExitOk;
  auto write = [&](const std::string& path, std::string_view text) {
    if (path == "-") {
      if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
        std::fprintf(stderr, "weir: error: cannot write standard output\n");
        exit_code = kExitJobFailed;
      }
      return;
    }
    if (Status status = harness::WriteTextFile(path, text); !status.ok()) {
      std::fprintf(stderr, "weir: error: %s\n", std::string(status.message()).c_str());
      exit_code = kExitJobFailed;
    }
  };
  if (!flags.output.empty() && !runs.empty()) write(flags.output, runs.front().csv);
  const nlohmann::json config = ConfigJson(workload, flags, options, *plan);
  const nlohmann::json host = harness::HostInfo();
  if (!flags.json.empty()) write(flags.json, harness::ReportJson(runs, config, host).dump(2) + "\n");
  if (!flags.hgrm.empty()) {
    for (const harness::QueryRun& run : runs) {
      write(runs.size() == 1 ? flags.hgrm : PerQueryPath(flags.hgrm, run.name),
            harness::PercentileDistribution(run.latency));
    }
  }
  if (!flags.report.empty()) {
    write((std::filesystem::path(flags.report) / "index.html").string(),
          harness::HtmlReport(fmt::format("{} ({})", title, flags.rate > 0 ? fmt::format("{:g} events/s", flags.rate)
                                                                           : "maximum throughput"),
                              runs, config, host));
  }
  if (const int signal_number = g_bench_signal.load(); signal_number != 0) {
    std::fprintf(stderr, "weir: bench stopped by %s; the table holds the runs until then\n",
                 signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + signal_number;
  }
  return exit_code;
}

}  // namespace weir::cli
