// GeneratedTextSource: lines of pseudo-English text, for benchmarks and the default job.
//
// GenerateText() builds a block of text once, before a job runs: words drawn with Zipf-skewed
// frequencies (s = 1) from a fixed vocabulary of pronounceable words of 2-10 letters, with some
// capitals and punctuation so a tokenizer has real work, ~80-character lines. The source then
// replays that block until it has emitted `total_bytes` (split evenly over the subtasks), so a
// measurement covers the engine rather than a random number generator -- as LightSaber and
// Grizzly replay pre-generated events.
//
// Replayable: the position (bytes still to emit, offset of the next line in the block) is the
// checkpoint blob "generated-text-position". Restoring at another parallelism is refused with
// FailedPrecondition: each subtask's share and starting line depend on the parallelism.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "operators/source_operator.h"

namespace weir::connectors {

// About `bytes` of text (whole lines), deterministic for a seed.
std::string GenerateText(size_t bytes, uint64_t seed);

class GeneratedTextSource final : public operators::SourceOperator<std::string_view> {
 public:
  GeneratedTextSource(std::shared_ptr<const std::string> block, int64_t total_bytes)
      : block_(std::move(block)), total_bytes_(total_bytes) {}

  Status Open(operators::OperatorContext* context) override;
  Result<operators::SourceStatus> Poll(int max_records) override;
  Status SnapshotState(state::SnapshotWriter& writer) override;
  Status RestoreState(state::RestoreReader& reader) override;

 private:
  std::shared_ptr<const std::string> block_;
  int64_t total_bytes_;
  int64_t remaining_ = 0;  // bytes this subtask still emits
  size_t offset_ = 0;      // next line in the block
};

}  // namespace weir::connectors
