// The `wordcount` workload of `weir bench`: Flink's streaming WordCount over generated text.
//
// The text is connectors::GenerateText(config.text_bytes, context.seed): Zipf-skewed words in
// ~80-character lines. The source replays that block line by line until it has emitted
// `config.lines` lines (line i of the run is line i mod N of the block), split round-robin over its
// subtasks. Every line is tokenized like Flink's WordCount (lower-cased, split on \W+), keyed by
// word, and counted; each token updates its word's running count, and that updated
// (word,count) row goes to EmitResults -- so the result is an updating table whose final rows
// are the word counts of the whole run.
//
// Events are lines. With RunContext::rate > 0 the run is paced: line i is due at the run's
// origin + i / rate seconds (its event time is i, in units of 1/rate seconds), and a row's
// latency is measured from the due instant of the line whose token produced it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "api/stream_execution_environment.h"
#include "harness/run_context.h"

namespace weir::harness {

struct WordCountConfig {
  int64_t lines = 10'000'000;       // events of the run
  size_t text_bytes = size_t{8} << 20;  // size of the generated block the lines are replayed from
};

// Adds the WordCount job to `env`: its source, tokenizer, keyed count and EmitResults sink.
void BuildWordCount(api::StreamExecutionEnvironment& env, const WordCountConfig& config,
                    const RunContext& context);

}  // namespace weir::harness
