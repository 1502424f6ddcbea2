#include "connectors/generated_text_source.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "connectors/checkpoint_blob.h"

namespace weir::connectors {
namespace {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

std::vector<std::string> MakeVocabulary(size_t size, SplitMix64& random) {
  static constexpr const char* kOnsets[] = {"b", "c", "d", "f", "g", "h", "l", "m", "n", "p",
                                            "r", "s", "t", "v", "w", "st", "th", "br", "pl", "qu"};
  static constexpr const char* kVowels[] = {"a", "e", "i", "o", "u", "ea", "ou", "y"};
  std::vector<std::string> words;
  words.reserve(size);
  while (words.size() < size) {
    std::string word;
    const int syllables = 1 + static_cast<int>(random.Next() % 3);
    for (int s = 0; s < syllables; ++s) {
      word += kOnsets[random.Next() % std::size(kOnsets)];
      word += kVowels[random.Next() % std::size(kVowels)];
    }
    if (random.Next() % 3 == 0) word += kOnsets[random.Next() % 14];
    if (word.size() >= 2 && word.size() <= 10) words.push_back(std::move(word));
  }
  return words;
}

}  // namespace

std::string GenerateText(size_t bytes, uint64_t seed) {
  SplitMix64 random(seed);
  const std::vector<std::string> vocabulary = MakeVocabulary(10000, random);
  // Zipf(s = 1) by inverse CDF over the cumulative harmonic weights.
  std::vector<double> cumulative(vocabulary.size());
  double sum = 0;
  for (size_t i = 0; i < vocabulary.size(); ++i) cumulative[i] = sum += 1.0 / static_cast<double>(i + 1);
  std::string text;
  text.reserve(bytes + 128);
  size_t line_start = 0;
  while (text.size() < bytes) {
    const double target = random.NextDouble() * sum;
    const size_t rank = std::lower_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
    std::string_view word = vocabulary[std::min(rank, vocabulary.size() - 1)];
    const bool line_start_word = text.size() == line_start;
    const uint64_t roll = random.Next() % 100;
    if (line_start_word || roll < 4) {
      text.push_back(static_cast<char>(word[0] - 'a' + 'A'));
      text.append(word.substr(1));
    } else {
      text.append(word);
    }
    if (roll >= 96) text.push_back(roll == 99 ? '.' : ',');
    if (text.size() - line_start >= 80) {
      text.push_back('\n');
      line_start = text.size();
    } else {
      text.push_back(' ');
    }
  }
  if (text.size() != line_start) text.back() = '\n';
  return text;
}

Status GeneratedTextSource::Open(operators::OperatorContext* context) {
  RETURN_IF_ERROR(SourceOperator::Open(context));
  if (block_->empty() || block_->back() != '\n') return Internal("generated text must end with a newline");
  const int64_t parallelism = context->parallelism;
  const int64_t subtask = context->subtask_index;
  remaining_ = total_bytes_ * (subtask + 1) / parallelism - total_bytes_ * subtask / parallelism;
  // Subtasks start at different lines so parallel readers do not emit identical sequences.
  offset_ = (block_->size() / static_cast<size_t>(parallelism)) * static_cast<size_t>(subtask);
  offset_ = block_->find('\n', offset_ == 0 ? 0 : offset_ - 1) + 1;
  if (offset_ >= block_->size()) offset_ = 0;
  return Status::Ok();
}

namespace {
constexpr std::string_view kPositionTag = "GTX1";
constexpr std::string_view kPositionState = "generated-text-position";
}  // namespace

Status GeneratedTextSource::SnapshotState(state::SnapshotWriter& writer) {
  BlobWriter blob(kPositionTag);
  blob.PutInt64(total_bytes_);
  blob.PutInt64(static_cast<int64_t>(block_->size()));
  blob.PutInt64(remaining_);
  blob.PutInt64(static_cast<int64_t>(offset_));
  writer.AddBlob(kPositionState, std::move(blob).Finish());
  return Status::Ok();
}

Status GeneratedTextSource::RestoreState(state::RestoreReader& reader) {
  const operators::OperatorContext& context = *this->context();
  ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                   OwnPositionBlob(reader, context, kPositionState, "a generated-text source", "each subtask's share depends on the parallelism"));
  if (!bytes.has_value()) return Status::Ok();
  BlobReader blob(*bytes, context.task_name);
  RETURN_IF_ERROR(blob.ExpectTag(kPositionTag));
  ASSIGN_OR_RETURN(int64_t total_bytes, blob.GetInt64());
  ASSIGN_OR_RETURN(int64_t block_size, blob.GetInt64());
  ASSIGN_OR_RETURN(int64_t remaining, blob.GetInt64());
  ASSIGN_OR_RETURN(int64_t offset, blob.GetInt64());
  RETURN_IF_ERROR(blob.ExpectEnd());
  const bool line_start = offset >= 0 && offset < block_size &&
                          (offset == 0 || (*block_)[static_cast<size_t>(offset) - 1] == '\n');
  if (total_bytes != total_bytes_ || block_size != static_cast<int64_t>(block_->size()) || !line_start ||
      remaining > remaining_) {
    return FailedPrecondition(
        "{}: the checkpointed position (offset {} in a block of {} bytes, {} of {} bytes left) does not fit "
        "this source (a block of {} bytes, {} bytes in all): the text or its size changed",
        context.task_name, offset, block_size, remaining, total_bytes, block_->size(), total_bytes_);
  }
  remaining_ = remaining;
  offset_ = static_cast<size_t>(offset);
  return Status::Ok();
}

Result<operators::SourceStatus> GeneratedTextSource::Poll(int max_records) {
  operators::Output<std::string_view>* out = output();
  const char* data = block_->data();
  const size_t size = block_->size();
  for (int i = 0; i < max_records; ++i) {
    if (remaining_ <= 0) return operators::SourceStatus::kEndOfInput;
    const char* newline = static_cast<const char*>(std::memchr(data + offset_, '\n', size - offset_));
    const size_t end = static_cast<size_t>(newline - data);
    std::string_view line(data + offset_, end - offset_);
    offset_ = end + 1 == size ? 0 : end + 1;
    remaining_ -= static_cast<int64_t>(line.size()) + 1;
    bytes_read_ += static_cast<int64_t>(line.size()) + 1;
    ++records_emitted_;
    out->Collect(line, kMinTimestamp);
  }
  return operators::SourceStatus::kMoreAvailable;
}

}  // namespace weir::connectors
