#include "harness/wordcount.h"

#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "connectors/generated_text_source.h"

namespace weir::harness {
namespace {

// The generated block and its lines, built once before the job and shared by the subtasks.
struct TextLines {
  std::string text;
  std::vector<std::string_view> lines;
};

using Line = std::pair<int64_t, std::string_view>;                // (line index of the run, text)
using WordCount = std::tuple<std::string_view, int64_t, int64_t>;  // (word, count, latest line index)

// Emits lines 0..total-1 of the run, subtask s taking lines s, s + p, s + 2p, ... With a paced
// run a line is emitted once it is due; a poll that finds nothing due returns kNothingNow rather
// than waiting, so the worker stays free for the rest of the pipeline.
class LineSource final : public operators::SourceOperator<Line> {
 public:
  LineSource(std::shared_ptr<const TextLines> text, int64_t total, const RunContext& context)
      : text_(std::move(text)),
        total_(total),
        pacer_(context.pacer),
        events_emitted_(context.events_emitted),
        paced_(context.pacer->paced()) {}

  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SourceOperator::Open(context));
    next_ = context->subtask_index;
    stride_ = context->parallelism;
    return Status::Ok();
  }

  Result<operators::SourceStatus> Poll(int max_records) override {
    if (next_ >= total_) return operators::SourceStatus::kEndOfInput;
    const std::vector<std::string_view>& lines = text_->lines;
    const int64_t line_count = static_cast<int64_t>(lines.size());
    // Paced: everything due up to now, at most max_records.
    const int64_t now = paced_ ? MonotonicNanos() : 0;
    operators::Output<Line>* out = output();
    int emitted = 0;
    int64_t bytes = 0;
    while (emitted < max_records && next_ < total_) {
      if (paced_ && pacer_->DueNanos(next_) > now) break;
      const std::string_view line = lines[static_cast<size_t>(next_ % line_count)];
      out->Collect(Line(next_, line), kMinTimestamp);
      bytes += static_cast<int64_t>(line.size()) + 1;
      ++emitted;
      next_ += stride_;
    }
    records_emitted_ += emitted;
    bytes_read_ += bytes;
    events_emitted_->fetch_add(emitted, std::memory_order_relaxed);
    return emitted == 0 ? operators::SourceStatus::kNothingNow : operators::SourceStatus::kMoreAvailable;
  }

 private:
  std::shared_ptr<const TextLines> text_;
  int64_t total_;
  std::shared_ptr<Pacer> pacer_;
  std::shared_ptr<std::atomic<int64_t>> events_emitted_;
  bool paced_;
  int64_t next_ = 0;
  int64_t stride_ = 1;
};

// byte -> its lower-case form if it is a \w character ([A-Za-z0-9_]), else 0 (Flink's \W+ split).
constexpr std::array<char, 256> MakeWordTable() {
  std::array<char, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = static_cast<char>(c - 'A' + 'a');
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<char>(c);
  table['_'] = '_';
  return table;
}
constexpr std::array<char, 256> kWordTable = MakeWordTable();

// Keeps a lower-cased copy of the current line: tokens are views into it, valid while they travel
// down the chain (until the next line), as Flink's object reuse allows.
class Tokenizer {
 public:
  void operator()(const Line& line, api::Collector<WordCount>& out) {
    const std::string_view text = line.second;
    if (text.size() > buffer_.size()) buffer_.resize(text.size() * 2);
    char* lowered = buffer_.data();
    size_t start = 0;
    size_t i = 0;
    for (; i < text.size(); ++i) {
      const char mapped = kWordTable[static_cast<unsigned char>(text[i])];
      lowered[i] = mapped;
      if (mapped == 0) {
        if (i > start) out.Collect(WordCount(std::string_view(lowered + start, i - start), 1, line.first));
        start = i + 1;
      }
    }
    if (i > start) out.Collect(WordCount(std::string_view(lowered + start, i - start), 1, line.first));
  }

 private:
  std::string buffer_ = std::string(256, '\0');
};

struct WordCountTraits {
  static constexpr bool kUpdating = true;
  void Csv(std::string& out, const WordCount& row) const {
    out += std::get<0>(row);
    out += ',';
    out += std::to_string(std::get<1>(row));
  }
  int64_t DueEventTime(const WordCount& row) const { return std::get<2>(row); }
  void Key(std::string& out, const WordCount& row) const { out += std::get<0>(row); }
};

}  // namespace

void BuildWordCount(api::StreamExecutionEnvironment& env, const WordCountConfig& config,
                    const RunContext& context) {
  auto text = std::make_shared<TextLines>();
  text->text = connectors::GenerateText(std::max<size_t>(config.text_bytes, 1), context.seed);
  std::string_view rest = text->text;  // ends with '\n' (GenerateText's contract)
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    text->lines.push_back(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
  }
  if (context.rate > 0) {
    // Event time of line i is i, in units of 1/rate seconds.
    context.pacer->Pace(0, std::max<int64_t>(1, std::llround(1e9 / context.rate)));
  }
  const int64_t total = config.lines;
  std::shared_ptr<const TextLines> shared = std::move(text);
  api::DataStream<WordCount> counts =
      env.AddSource<Line>("Source: Generated Lines",
                          [shared, total, context](int) { return std::make_unique<LineSource>(shared, total, context); })
          .FlatMap<WordCount>(Tokenizer(), "Tokenizer")
          .KeyBy([](const WordCount& row) { return std::get<0>(row); })
          .Reduce(
              [](const WordCount& accumulated, const WordCount& value) {
                return WordCount(std::get<0>(accumulated), std::get<1>(accumulated) + std::get<1>(value),
                                 std::get<2>(value));
              },
              "Count");
  EmitResults(counts, WordCountTraits{}, context);
}

}  // namespace weir::harness
