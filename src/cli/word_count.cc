// Flink's streaming WordCount (flink-examples-streaming, WordCount.java): lower-case each line,
// split it on \W+ (anything but [A-Za-z0-9_]), drop empty tokens, key by word, running sum;
// one "(word,count)" line per token.
#include <CLI/CLI.hpp>

#include <array>

#include "cli/example.h"
#include "connectors/checkpointing_config.h"
#include "connectors/generated_text_source.h"

namespace weir::cli {
namespace {

// Public-domain text used when no --input is given (Flink's example also ships a Hamlet excerpt).
constexpr std::string_view kDefaultText[] = {
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
};

// byte -> its lower-case form if it is a \w character ([A-Za-z0-9_]), else 0.
constexpr std::array<char, 256> MakeWordTable() {
  std::array<char, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = static_cast<char>(c - 'A' + 'a');
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<char>(c);
  table['_'] = '_';
  return table;
}
constexpr std::array<char, 256> kWordTable = MakeWordTable();

using WordCountRecord = std::pair<std::string_view, int64_t>;

// The tokenizer keeps its lower-cased copy of the current line: tokens are views into it, valid
// while they travel down the chain (until the next line).
class Tokenizer {
 public:
  void operator()(std::string_view line, api::Collector<WordCountRecord>& out) {
    if (line.size() > buffer_.size()) buffer_.resize(line.size() * 2);
    char* lowered = buffer_.data();
    size_t start = 0;
    size_t i = 0;
    for (; i < line.size(); ++i) {
      const char mapped = kWordTable[static_cast<unsigned char>(line[i])];
      lowered[i] = mapped;
      if (mapped == 0) {
        if (i > start) out.Collect({std::string_view(lowered + start, i - start), 1});
        start = i + 1;
      }
    }
    if (i > start) out.Collect({std::string_view(lowered + start, i - start), 1});
  }

 private:
  std::string buffer_ = std::string(256, '\0');
};

// --output: with checkpoints on, a directory of exactly-once part files (FileSink, committed at
// each completed checkpoint); otherwise the text file(s) of WriteAsText, written at the end.
template <typename T>
api::DataStreamSink WriteOutput(api::DataStream<T>& stream, const std::string& output, const Configuration& config) {
  if (connectors::CheckpointingEnabled(config)) return stream.SinkToFiles(output);
  return stream.WriteAsText(output);
}

}  // namespace

int RunWordCount(const ExampleArgs& args) {
  CLI::App app("Flink's streaming WordCount: (word,count) for every word of the input, a running count.",
               "weir example WordCount");
  std::vector<std::string> inputs;
  std::string output;
  std::string generate;
  uint64_t seed = 42;
  bool stats = false;
  app.add_option("--input", inputs, "Input text file(s); repeat for several")->check(CLI::ExistingFile);
  app.add_option("--output", output, "Output file (a directory of files 1..N when parallelism > 1; with checkpointing on, a directory "
                 "of exactly-once part files part-<subtask>-<n>); stdout if absent");
  app.add_option("--generate", generate,
                 "Instead of --input, generate this much text (e.g. 1gb) in memory and count it");
  app.add_option("--seed", seed, "Seed of the generated text");
  app.add_flag("--stats", stats, "Print records/s and MB/s on stderr at the end");
  try {
    std::vector<std::string> reversed(args.args.rbegin(), args.args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    return UsageError(fmt::format("WordCount: {}", error.what()));
  }
  if (!inputs.empty() && !generate.empty()) return UsageError("WordCount: give --input or --generate, not both");

  api::StreamExecutionEnvironment env(args.config);
  std::optional<api::DataStream<std::string_view>> text;
  if (!generate.empty()) {
    Result<int64_t> bytes = ParseMemorySize(generate);
    if (!bytes.ok()) return UsageError(fmt::format("WordCount: --generate: {}", bytes.status().message()));
    auto block = std::make_shared<const std::string>(
        connectors::GenerateText(std::min<int64_t>(*bytes, 64 << 20), seed));
    const int64_t total = *bytes;
    text = env.AddSource<std::string_view>("Source: Generated Text", [block, total](int) {
      return std::make_unique<connectors::GeneratedTextSource>(block, total);
    });
  } else if (inputs.empty()) {
    std::fputs("Executing WordCount example with default input data set.\n"
               "Use --input to specify file input.\n", stderr);
    text = env.FromCollection(std::vector<std::string_view>(std::begin(kDefaultText), std::end(kDefaultText)));
  } else {
    text = env.ReadTextFiles(inputs);
  }

  api::DataStream<WordCountRecord> counts =
      text->FlatMap<WordCountRecord>(Tokenizer(), "Tokenizer")
          .KeyBy([](const WordCountRecord& record) { return record.first; })
          .Sum<1>();
  if (output.empty()) {
    counts.Print();
  } else {
    WriteOutput(counts, output, args.config);
  }
  return RunJob(env, "WordCount", stats);
}

}  // namespace weir::cli
