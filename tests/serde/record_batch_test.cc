#include "serde/record_batch.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace weir::serde {
namespace {

using Record = std::pair<std::string_view, int64_t>;

TEST(RecordBatchTest, AppendsUntilFullAndReadsBackInOrder) {
  RecordBatch batch = RecordBatch::Oversized(4096);
  std::mt19937_64 random(3);
  std::vector<std::pair<std::string, int64_t>> expected;
  std::vector<Timestamp> timestamps;
  std::string storage;
  while (true) {
    std::string word(random() % 20, 'w');
    const int64_t count = static_cast<int64_t>(random() % 1000);
    const Timestamp timestamp = static_cast<Timestamp>(random() % 100000);
    if (!batch.TryAppend(Record{word, count}, timestamp)) break;
    expected.emplace_back(word, count);
    timestamps.push_back(timestamp);
  }
  ASSERT_GT(expected.size(), 50u);
  EXPECT_EQ(batch.count(), expected.size());
  EXPECT_LE(batch.used_bytes(), batch.capacity());
  EXPECT_EQ(batch.min_timestamp(), *std::min_element(timestamps.begin(), timestamps.end()));
  EXPECT_EQ(batch.max_timestamp(), *std::max_element(timestamps.begin(), timestamps.end()));
  size_t index = 0;
  batch.ForEach([&](const RecordEnvelope& envelope, const std::byte* payload) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(payload) % 8, 0u);
    Record record = Codec<Record>::Read(payload);
    ASSERT_LT(index, expected.size());
    EXPECT_EQ(record.first, expected[index].first);
    EXPECT_EQ(record.second, expected[index].second);
    EXPECT_EQ(envelope.timestamp, timestamps[index]);
    EXPECT_EQ(envelope.row_kind, static_cast<uint8_t>(RowKind::kInsert));
    ++index;
  });
  EXPECT_EQ(index, expected.size());
}

TEST(RecordBatchTest, RejectsWhatDoesNotFitWithoutWriting) {
  RecordBatch batch = RecordBatch::Oversized(64);
  std::string big(100, 'b');
  EXPECT_FALSE(batch.TryAppend(std::string_view(big), 1));
  EXPECT_EQ(batch.count(), 0u);
  EXPECT_EQ(batch.used_bytes(), 0u);
  EXPECT_TRUE(batch.TryAppend(int64_t{5}, 1));
  batch.Clear();
  EXPECT_TRUE(batch.empty());
}

}  // namespace
}  // namespace weir::serde
