#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "base/xxhash.h"
#include "runtime/channel_writer.h"
#include "state/key_groups.h"

namespace weir::runtime {
namespace {

struct Identity {
  template <typename T>
  const T& operator()(const T& value) const {
    return value;
  }
};

// The partitioner's precomputed routing equals Flink's two-step rule, key -> key group ->
// operator index, computed here with the key_groups.h functions, for power-of-two and other max
// parallelisms, and for numeric and string keys.
TEST(KeyGroupPartitionerTest, RoutesEveryKeyToTheSubtaskOwningItsKeyGroup) {
  std::mt19937_64 rng(3);
  for (const int max_parallelism : {1, 2, 100, 128, 129, 4096}) {
    for (const int channels : {1, 2, 3, 7}) {
      if (channels > max_parallelism) continue;
      KeyGroupPartitioner<Identity> numbers(Identity(), channels, max_parallelism);
      KeyGroupPartitioner<Identity> strings(Identity(), channels, max_parallelism);
      for (int i = 0; i < 2000; ++i) {
        const int64_t key = static_cast<int64_t>(rng());
        const uint64_t hash = Hash64(&key, sizeof(key));
        const int expected = state::OperatorIndexForKeyGroup(
            max_parallelism, channels, state::KeyGroupForHash(hash, max_parallelism));
        ASSERT_EQ(numbers(key), expected) << max_parallelism << " " << channels;
        const std::string word = "w" + std::to_string(rng() % 100000);
        const int expected_word = state::OperatorIndexForKeyGroup(
            max_parallelism, channels, state::KeyGroupForHash(Hash64(word.data(), word.size()), max_parallelism));
        ASSERT_EQ(strings(std::string_view(word)), expected_word);
      }
    }
  }
}

}  // namespace
}  // namespace weir::runtime
