// Flink's windowing examples (flink-examples-streaming: socket/SocketWindowWordCount,
// windowing/WindowWordCount, windowing/TopSpeedWindowing, windowing/SessionWindowing,
// join/WindowJoin) with their flags, data and output format, and weir's own LateDataWindowing.
#include <CLI/CLI.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <random>
#include <thread>

#include "cli/example.h"
#include "connectors/checkpointing_config.h"
#include "serde/text_format.h"

namespace weir::cli {
namespace {

using namespace std::chrono_literals;

// Parses the example's flags with CLI11 (given in order); returns an exit code when it should
// stop (help printed, or a usage error), else nullopt.
std::optional<int> Parse(CLI::App& app, const ExampleArgs& args, std::string_view example) {
  try {
    std::vector<std::string> reversed(args.args.rbegin(), args.args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    return UsageError(fmt::format("{}: {}", example, error.what()));
  }
  return std::nullopt;
}

// --output: with checkpoints on, a directory of exactly-once part files (FileSink, committed at
// each completed checkpoint); otherwise the text file(s) of WriteAsText, written at the end.
template <typename T>
api::DataStreamSink WriteOutput(api::DataStream<T>& stream, const std::string& output, const Configuration& config) {
  if (connectors::CheckpointingEnabled(config)) return stream.SinkToFiles(output);
  return stream.WriteAsText(output);
}

// --- SocketWindowWordCount ---------------------------------------------------------------------

// Java's String.split("\\s"): every single whitespace character separates two tokens (so runs of
// whitespace give empty tokens), trailing empty tokens are dropped, and an empty line is one
// empty token.
template <typename Emit>
void SplitOnJavaWhitespace(std::string_view line, Emit&& emit) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\x0B' || c == '\f' || c == '\r'; };
  if (line.empty()) {
    emit(std::string_view());
    return;
  }
  size_t end = line.size();
  while (end > 0 && is_space(line[end - 1])) --end;  // trailing empty tokens are dropped
  if (end == 0) return;  // only whitespace: every token is empty and trailing
  size_t start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (is_space(line[i])) {
      emit(line.substr(start, i - start));
      start = i + 1;
    }
  }
  emit(line.substr(start, end - start));
}

// Flink's WordWithCount, printed as "word : count".
struct WordWithCount {
  std::string_view word;
  int64_t count;
};

}  // namespace
}  // namespace weir::cli

namespace weir::serde {
template <>
struct Codec<cli::WordWithCount> {
  static constexpr bool kFixedSize = false;
  static size_t Size(const cli::WordWithCount& value) { return 8 + Codec<std::string_view>::Size(value.word); }
  static void Write(const cli::WordWithCount& value, std::byte* out) {
    std::memcpy(out, &value.count, 8);
    Codec<std::string_view>::Write(value.word, out + 8);
  }
  static cli::WordWithCount Read(const std::byte* in) {
    cli::WordWithCount value;
    std::memcpy(&value.count, in, 8);
    value.word = Codec<std::string_view>::Read(in + 8);
    return value;
  }
};
}  // namespace weir::serde

namespace weir::cli {
namespace {

struct WordWithCountFormat {
  void operator()(std::string& out, const WordWithCount& value) const {
    out.append(value.word);
    out.append(" : ");
    out.append(std::to_string(value.count));
  }
};

}  // namespace

int RunSocketWindowWordCount(const ExampleArgs& args) {
  CLI::App app("Flink's SocketWindowWordCount: words of a text socket counted in 5 s processing-time "
               "windows, printed as 'word : count'.",
               "weir example SocketWindowWordCount");
  std::string hostname = "localhost";
  int port = 0;
  app.add_option("--hostname", hostname, "Host of the text server (default localhost)");
  app.add_option("--port", port, "Port of the text server, e.g. started with 'nc -lk <port>'")->required();
  if (auto exit = Parse(app, args, "SocketWindowWordCount")) return *exit;
  if (port <= 0 || port > 65535) return UsageError(fmt::format("SocketWindowWordCount: --port {} is not a port", port));

  api::StreamExecutionEnvironment env(args.config);
  env.SocketTextStream(hostname, port)
      .FlatMap<WordWithCount>([](std::string_view line, api::Collector<WordWithCount>& out) {
        SplitOnJavaWhitespace(line, [&](std::string_view word) { out.Collect({word, 1}); });
      })
      .KeyBy([](const WordWithCount& value) { return value.word; })
      .Window(api::TumblingProcessingTimeWindows::Of(5s))
      .Reduce([](const WordWithCount& a, const WordWithCount& b) { return WordWithCount{a.word, a.count + b.count}; })
      .WriteAsText("/dev/stdout", WordWithCountFormat())
      .SetParallelism(1);
  return RunJob(env, "Socket Window WordCount", false);
}

// --- WindowWordCount ---------------------------------------------------------------------------

namespace {

using WordCount = std::pair<std::string_view, int64_t>;

// Flink's WordCount tokenizer: lower case, split on \W+, no empty tokens. Tokens are views into
// the tokenizer's lower-cased copy of the line.
class Tokenizer {
 public:
  void operator()(std::string_view line, api::Collector<WordCount>& out) {
    lowered_.assign(line);
    size_t start = 0;
    for (size_t i = 0; i <= lowered_.size(); ++i) {
      const bool word_char = i < lowered_.size() && (std::isalnum(static_cast<unsigned char>(lowered_[i])) || lowered_[i] == '_');
      if (i < lowered_.size() && word_char) {
        lowered_[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(lowered_[i])));
        continue;
      }
      if (i > start) out.Collect({std::string_view(lowered_).substr(start, i - start), 1});
      start = i + 1;
    }
  }

 private:
  std::string lowered_;
};

}  // namespace

int RunWindowWordCount(const ExampleArgs& args) {
  CLI::App app("Flink's WindowWordCount: (word,count) over the last --window occurrences of each word, "
               "every --slide occurrences.",
               "weir example WindowWordCount");
  std::vector<std::string> inputs;
  std::string output;
  int64_t window = 10;
  int64_t slide = 5;
  app.add_option("--input", inputs, "Input text file(s)")->required()->check(CLI::ExistingFile);
  app.add_option("--output", output, "Output file (a directory of part files with checkpointing on); stdout if absent");
  app.add_option("--window", window, "Count window size (default 10)");
  app.add_option("--slide", slide, "Count window slide (default 5)");
  if (auto exit = Parse(app, args, "WindowWordCount")) return *exit;
  if (window <= 0 || slide <= 0) return UsageError("WindowWordCount: --window and --slide must be positive");

  api::StreamExecutionEnvironment env(args.config);
  auto counts = env.ReadTextFiles(inputs)
                    .FlatMap<WordCount>(Tokenizer(), "tokenizer")
                    .KeyBy([](const WordCount& value) { return value.first; })
                    .CountWindow(window, slide)
                    .Sum<1>();
  counts.Name("counter");
  if (output.empty()) {
    counts.Print();
  } else {
    WriteOutput(counts, output, args.config);
  }
  return RunJob(env, "WindowWordCount", false);
}

// --- TopSpeedWindowing -------------------------------------------------------------------------

namespace {

// (carId, speed km/h, distance m, timestamp ms), as Flink's Tuple4<Integer, Integer, Double, Long>.
using CarEvent = std::tuple<int32_t, int32_t, double, int64_t>;

// Parses "(carId,speed,distance,timestamp)" as Flink's ParseCarData does.
Result<CarEvent> ParseCar(std::string_view line) {
  if (line.size() < 2 || line.front() != '(' || line.back() != ')') {
    return InvalidArgument("expected (carId,speed,distance,timestamp), got '{}'", line);
  }
  std::string_view fields[4];
  std::string_view rest = line.substr(1, line.size() - 2);
  for (int i = 0; i < 4; ++i) {
    const size_t comma = rest.find(',');
    if ((comma == std::string_view::npos) != (i == 3)) {
      return InvalidArgument("expected 4 comma-separated fields in '{}'", line);
    }
    fields[i] = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  CarEvent event;
  auto parse_int = [&](std::string_view text, auto& value, const char* what) -> Status {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
      return InvalidArgument("bad {} '{}' in '{}'", what, text, line);
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(parse_int(fields[0], std::get<0>(event), "carId"));
  RETURN_IF_ERROR(parse_int(fields[1], std::get<1>(event), "speed"));
  RETURN_IF_ERROR(parse_int(fields[3], std::get<3>(event), "timestamp"));
  const std::string distance(fields[2]);
  char* end = nullptr;
  std::get<2>(event) = std::strtod(distance.c_str(), &end);
  if (distance.empty() || end != distance.c_str() + distance.size()) {
    return InvalidArgument("bad distance '{}' in '{}'", fields[2], line);
  }
  return event;
}

// Flink's CarGeneratorFunction for 2 cars at 10 events per second: each call moves one car's
// speed by +-5 km/h (within [0, 100]) and its distance by the speed over the time since its last
// update (times the example's compatibility factor 10), and -- as Flink's generator does -- tags
// the event with the id of the next car.
class CarGenerator {
 public:
  explicit CarGenerator(uint64_t seed) : random_(seed) {}
  CarEvent operator()(int64_t) {
    const int car = next_car_;
    speeds_[car] = random_() % 2 == 0 ? std::min(100, speeds_[car] + 5) : std::max(0, speeds_[car] - 5);
    const int64_t now = WallMillis();
    const int64_t elapsed = last_update_[car] == 0 ? 0 : now - last_update_[car];
    last_update_[car] = now;
    distances_[car] += speeds_[car] * (elapsed / 3'600'000.0) * 1000 * 10;
    next_car_ = (next_car_ + 1) % 2;
    return CarEvent{next_car_, speeds_[next_car_], distances_[next_car_], now};
  }

 private:
  std::mt19937_64 random_;
  std::array<int32_t, 2> speeds_{50, 50};
  std::array<double, 2> distances_{0, 0};
  std::array<int64_t, 2> last_update_{0, 0};
  int next_car_ = 0;
};

}  // namespace

int RunTopSpeedWindowing(const ExampleArgs& args) {
  CLI::App app("Flink's TopSpeedWindowing: per car, the top speed of the last 10 s every time the car "
               "covered 50 more meters.",
               "weir example TopSpeedWindowing");
  std::vector<std::string> inputs;
  std::string output;
  app.add_option("--input", inputs, "Car events '(carId,speed,distance,timestamp)', one per line")
      ->check(CLI::ExistingFile);
  app.add_option("--output", output, "Output file (a directory of part files with checkpointing on); stdout if absent");
  if (auto exit = Parse(app, args, "TopSpeedWindowing")) return *exit;

  api::StreamExecutionEnvironment env(args.config);
  std::optional<api::DataStream<CarEvent>> cars;
  if (inputs.empty()) {
    std::fputs("Executing TopSpeedWindowing example with default input data set.\n"
               "Use --input to specify file input.\n", stderr);
    auto generator = std::make_shared<CarGenerator>(std::random_device()());
    cars = env.FromGenerator(std::numeric_limits<int64_t>::max(),
                             [generator](int64_t index) { return (*generator)(index); }, 10,
                             "Car data generator source");
    cars->SetParallelism(1);
  } else {
    cars = env.ReadTextFiles(inputs).Process<CarEvent>(
        [](std::string_view line, auto&, api::Collector<CarEvent>& out) {
          Result<CarEvent> event = ParseCar(line);
          if (!event.ok()) throw std::runtime_error(event.status().ToString());
          out.Collect(*event);
        });
  }
  auto distance_delta = [](const CarEvent& old_point, const CarEvent& new_point) {
    return std::get<2>(new_point) - std::get<2>(old_point);
  };
  auto top_speeds =
      cars->AssignTimestampsAndWatermarks(
              api::WatermarkStrategy<CarEvent>::ForMonotonousTimestamps().WithTimestampAssigner(
                  [](const CarEvent& car, Timestamp) { return std::get<3>(car); }))
          .KeyBy([](const CarEvent& car) { return std::get<0>(car); })
          .Window(api::GlobalWindows::Create())
          .Evictor(api::TimeEvictor::Of(10s))
          .Trigger(api::DeltaTrigger<decltype(distance_delta)>::Of(50.0, distance_delta))
          .MaxBy<1>();
  if (output.empty()) {
    top_speeds.Print();
  } else {
    WriteOutput(top_speeds, output, args.config);
  }
  return RunJob(env, "CarTopSpeedWindowingExample", false);
}

// --- SessionWindowing -------------------------------------------------------------------------

int RunSessionWindowing(const ExampleArgs& args) {
  CLI::App app("Flink's SessionWindowing: sessions with a 3 ms gap per key over built-in data, "
               "summing the counts.",
               "weir example SessionWindowing");
  std::string output;
  app.add_option("--output", output, "Output file (a directory of part files with checkpointing on); stdout if absent");
  if (auto exit = Parse(app, args, "SessionWindowing")) return *exit;

  using Element = std::tuple<std::string_view, int64_t, int32_t>;
  // Flink's data: (key, timestamp, count); the source emits each element with its timestamp and
  // then the watermark timestamp - 1.
  static constexpr std::array<Element, 7> kInput = {{{"a", 1, 1}, {"b", 1, 1}, {"b", 3, 1}, {"b", 5, 1},
                                                     {"c", 6, 1}, {"a", 10, 1}, {"c", 11, 1}}};
  struct PunctuatedByTimestamp {
    void OnEvent(const Element& element, Timestamp timestamp, api::WatermarkOutput& output) {
      output.EmitWatermark(timestamp - 1);
    }
    void OnPeriodicEmit(api::WatermarkOutput&) {}
  };
  api::StreamExecutionEnvironment env(args.config);
  env.SetParallelism(1);
  auto strategy = api::WatermarkStrategy<Element>::ForGenerator(
                      [](const api::WatermarkGeneratorContext&) { return PunctuatedByTimestamp(); })
                      .WithTimestampAssigner([](const Element& element, Timestamp) { return std::get<1>(element); });
  auto aggregated = env.FromCollection(std::vector<Element>(kInput.begin(), kInput.end()), strategy)
                        .KeyBy([](const Element& element) { return std::get<0>(element); })
                        .Window(api::EventTimeSessionWindows::WithGap(3ms))
                        .Sum<2>();
  if (output.empty()) {
    aggregated.Print();
  } else {
    WriteOutput(aggregated, output, args.config);
  }
  return RunJob(env, "SessionWindowing", false);
}

// --- WindowJoin --------------------------------------------------------------------------------

int RunWindowJoin(const ExampleArgs& args) {
  CLI::App app("Flink's WindowJoin: generated (name, grade) and (name, salary) streams joined by name in "
               "tumbling ingestion-time windows; prints (name,grade,salary).",
               "weir example WindowJoin");
  int64_t window_size = 2000;
  double rate = 3;
  std::string output;
  app.add_option("--windowSize", window_size, "Window size in milliseconds (default 2000)");
  app.add_option("--rate", rate, "Elements per second of each stream (default 3)");
  app.add_option("--output", output, "Output file (a directory of part files with checkpointing on); stdout if absent");
  if (auto exit = Parse(app, args, "WindowJoin")) return *exit;
  if (window_size <= 0 || rate <= 0) return UsageError("WindowJoin: --windowSize and --rate must be positive");
  std::printf("Using windowSize=%lld, data rate=%g\n", static_cast<long long>(window_size), rate);
  std::printf("To customize example, use: WindowJoin [--windowSize <window-size-in-millis>] "
              "[--rate <elements-per-second>]\n");
  std::fflush(stdout);

  using NameValue = std::pair<std::string_view, int32_t>;
  using Joined = std::tuple<std::string_view, int32_t, int32_t>;
  static constexpr std::array<std::string_view, 6> kNames = {"tom", "jerry", "alice", "bob", "john", "grace"};
  // Flink's IngestionTimeWatermarkStrategy: the time of ingestion is the event time, ascending.
  auto ingestion_time = api::WatermarkStrategy<NameValue>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const NameValue&, Timestamp) { return WallMillis(); });
  auto generator = [](int32_t max_value) {
    auto random = std::make_shared<std::mt19937_64>(std::random_device()());
    return [random, max_value](int64_t) {
      return NameValue{kNames[(*random)() % kNames.size()], static_cast<int32_t>((*random)() % max_value) + 1};
    };
  };
  api::StreamExecutionEnvironment env(args.config);
  auto grades = env.FromGenerator(std::numeric_limits<int64_t>::max(), generator(5), rate, "Grades")
                    .SetParallelism(1)
                    .AssignTimestampsAndWatermarks(ingestion_time);
  auto salaries = env.FromGenerator(std::numeric_limits<int64_t>::max(), generator(10000), rate, "Salaries")
                      .SetParallelism(1)
                      .AssignTimestampsAndWatermarks(ingestion_time);
  auto name = [](const NameValue& value) { return value.first; };
  auto joined = grades.Join(salaries)
                    .Where(name)
                    .EqualTo(name)
                    .Window(api::TumblingEventTimeWindows::Of(std::chrono::milliseconds(window_size)))
                    .Apply<Joined>([](const NameValue& first, const NameValue& second) {
                      return Joined{first.first, first.second, second.second};
                    });
  if (output.empty()) {
    joined.Print().SetParallelism(1);
  } else {
    WriteOutput(joined, output, args.config).SetParallelism(1);
  }
  return RunJob(env, "Windowed Join Example", false);
}

// --- LateDataWindowing (weir's own) ------------------------------------------------------------

namespace {

// (key, timestamp, value) from "key,timestamp,value".
using Reading = std::tuple<std::string_view, int64_t, double>;
// (key, window start, window end, count, sum)
using WindowSummary = std::tuple<std::string_view, int64_t, int64_t, int64_t, double>;

struct CountAndSum {
  int64_t count;
  double sum;
};
struct CountAndSumAggregate {
  CountAndSum CreateAccumulator() const { return {0, 0}; }
  void Add(const Reading& reading, CountAndSum& accumulator) const {
    ++accumulator.count;
    accumulator.sum += std::get<2>(reading);
  }
  CountAndSum GetResult(const CountAndSum& accumulator) const { return accumulator; }
  CountAndSum Merge(const CountAndSum& a, const CountAndSum& b) const { return {a.count + b.count, a.sum + b.sum}; }
};
struct Summarize : api::ProcessWindowFunction<CountAndSum, WindowSummary, std::string_view, api::TimeWindow> {
  void Process(const std::string_view& key, Context& context, std::span<const CountAndSum> results,
               api::Collector<WindowSummary>& out) override {
    for (const CountAndSum& result : results) {
      out.Collect(WindowSummary{key, context.window().start, context.window().end, result.count, result.sum});
    }
  }
};

}  // namespace

int RunLateDataWindowing(const ExampleArgs& args) {
  CLI::App app("weir's event-time example: readings 'key,timestamp_ms,value' from a CSV file, possibly out "
               "of order, summed per key in tumbling event-time windows with a bounded-out-of-orderness "
               "watermark and allowed lateness. Each window prints (key,start,end,count,sum) when the "
               "watermark passes its end, and again for every late reading that still updates it; readings "
               "later than that go to the late output, never silently dropped.",
               "weir example LateDataWindowing");
  std::vector<std::string> inputs;
  std::string output;
  std::string late_output;
  int64_t window = 10'000;
  int64_t out_of_orderness = 2'000;
  int64_t allowed_lateness = 5'000;
  app.add_option("--input", inputs, "CSV file(s) of key,timestamp_ms,value")->required()->check(CLI::ExistingFile);
  app.add_option("--output", output, "Window results (a directory of part files with checkpointing on); stdout if absent");
  app.add_option("--late-output", late_output, "Readings too late for their window; stderr if absent");
  app.add_option("--window", window, "Window size in ms (default 10000)");
  app.add_option("--out-of-orderness", out_of_orderness, "Watermark bound in ms (default 2000)");
  app.add_option("--allowed-lateness", allowed_lateness, "Allowed lateness in ms (default 5000)");
  if (auto exit = Parse(app, args, "LateDataWindowing")) return *exit;
  if (window <= 0 || out_of_orderness < 0 || allowed_lateness < 0) {
    return UsageError("LateDataWindowing: --window must be positive, the bounds not negative");
  }

  api::StreamExecutionEnvironment env(args.config);
  auto strategy = api::WatermarkStrategy<std::string_view>::ForBoundedOutOfOrderness(
                      std::chrono::milliseconds(out_of_orderness))
                      .WithTimestampAssigner([](std::string_view line, Timestamp) -> Timestamp {
                        // The timestamp is the second field; malformed lines fail below, in Parse.
                        const size_t first = line.find(',');
                        if (first == std::string_view::npos) return kMinTimestamp;
                        int64_t timestamp = kMinTimestamp;
                        std::from_chars(line.data() + first + 1, line.data() + line.size(), timestamp);
                        return timestamp;
                      });
  auto readings = env.ReadTextFiles(inputs, strategy).Process<Reading>(
      [](std::string_view line, auto&, api::Collector<Reading>& out) {
        const size_t first = line.find(',');
        const size_t second = first == std::string_view::npos ? first : line.find(',', first + 1);
        Reading reading;
        int64_t timestamp = 0;
        bool ok = second != std::string_view::npos;
        if (ok) {
          auto [end, error] = std::from_chars(line.data() + first + 1, line.data() + second, timestamp);
          ok = error == std::errc() && end == line.data() + second;
        }
        double value = 0;
        if (ok) {
          const std::string text(line.substr(second + 1));
          char* end = nullptr;
          value = std::strtod(text.c_str(), &end);
          ok = !text.empty() && end == text.c_str() + text.size();
        }
        if (!ok) {
          throw std::runtime_error(fmt::format("LateDataWindowing: malformed reading '{}': expected key,timestamp_ms,value", line));
        }
        out.Collect(Reading{line.substr(0, first), timestamp, value});
      },
      "Parse");
  const api::OutputTag<Reading> late_tag("late-readings");
  auto summaries = readings.KeyBy([](const Reading& reading) { return std::get<0>(reading); })
                       .Window(api::TumblingEventTimeWindows::Of(std::chrono::milliseconds(window)))
                       .AllowedLateness(std::chrono::milliseconds(allowed_lateness))
                       .SideOutputLateData(late_tag)
                       .Aggregate(CountAndSumAggregate(), Summarize());
  auto late = summaries.GetSideOutput(late_tag);
  if (output.empty()) {
    summaries.Print();
  } else {
    WriteOutput(summaries, output, args.config);
  }
  if (late_output.empty()) {
    late.PrintToErr("late");
  } else {
    late.WriteAsText(late_output);
  }
  return RunJob(env, "LateDataWindowing", false);
}

}  // namespace weir::cli
