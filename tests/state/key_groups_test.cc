#include "state/key_groups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace weir::state {
namespace {

TEST(KeyGroupsTest, KeyGroupForHashIsInRangeAndSpreadsEvenly) {
  std::mt19937_64 random(7);
  for (const int max_parallelism : {1, 2, 3, 7, 128, 1000, kMaxParallelismUpperBound}) {
    std::vector<int> counts(max_parallelism, 0);
    const int samples = 64 * max_parallelism < 200000 ? 64 * max_parallelism : 200000;
    for (int i = 0; i < samples; ++i) {
      const uint64_t hash = random();
      const int group = KeyGroupForHash(hash, max_parallelism);
      ASSERT_GE(group, 0);
      ASSERT_LT(group, max_parallelism);
      EXPECT_EQ(group, static_cast<int>(hash % static_cast<uint64_t>(max_parallelism)));
      ++counts[group];
    }
    if (max_parallelism <= 1000) {
      // 64 expected per group; a group with under a quarter of that means the mapping is skewed.
      for (const int count : counts) EXPECT_GT(count, 16) << "max parallelism " << max_parallelism;
    }
  }
}

// For every max parallelism and parallelism, the ranges of the subtasks partition the key groups
// into contiguous runs in subtask order, and agree with OperatorIndexForKeyGroup.
void CheckRangesPartitionKeyGroups(int max_parallelism) {
  for (int parallelism = 1; parallelism <= max_parallelism; ++parallelism) {
    std::vector<int> owner(max_parallelism, -1);
    int next_start = 0;
    for (int index = 0; index < parallelism; ++index) {
      const KeyGroupRange range = KeyGroupRangeForOperatorIndex(max_parallelism, parallelism, index);
      ASSERT_EQ(range.start, next_start) << max_parallelism << "/" << parallelism << " #" << index;
      ASSERT_FALSE(range.empty()) << max_parallelism << "/" << parallelism << " #" << index;
      for (int group = range.start; group <= range.end; ++group) {
        ASSERT_EQ(owner[group], -1);
        owner[group] = index;
        ASSERT_TRUE(range.Contains(group));
      }
      EXPECT_FALSE(range.Contains(range.start - 1));
      EXPECT_FALSE(range.Contains(range.end + 1));
      EXPECT_EQ(range.size(), range.end - range.start + 1);
      next_start = range.end + 1;
    }
    ASSERT_EQ(next_start, max_parallelism);
    for (int group = 0; group < max_parallelism; ++group) {
      ASSERT_EQ(OperatorIndexForKeyGroup(max_parallelism, parallelism, group), owner[group])
          << max_parallelism << "/" << parallelism << " group " << group;
    }
  }
}

TEST(KeyGroupsTest, RangesPartitionKeyGroupsForEveryParallelism) {
  for (const int max_parallelism : {1, 2, 3, 5, 17, 100, 128, 300}) {
    CheckRangesPartitionKeyGroups(max_parallelism);
  }
}

TEST(KeyGroupsTest, RangesPartitionAtTheUpperBound) {
  for (const int parallelism : {1, 3, 1000, kMaxParallelismUpperBound - 1,
                                kMaxParallelismUpperBound}) {
    int next_start = 0;
    for (int index = 0; index < parallelism; ++index) {
      const KeyGroupRange range =
          KeyGroupRangeForOperatorIndex(kMaxParallelismUpperBound, parallelism, index);
      ASSERT_EQ(range.start, next_start);
      ASSERT_EQ(OperatorIndexForKeyGroup(kMaxParallelismUpperBound, parallelism, range.start),
                index);
      ASSERT_EQ(OperatorIndexForKeyGroup(kMaxParallelismUpperBound, parallelism, range.end),
                index);
      next_start = range.end + 1;
    }
    EXPECT_EQ(next_start, kMaxParallelismUpperBound);
  }
}

TEST(KeyGroupsTest, RangesDifferInSizeByAtMostOne) {
  for (const int parallelism : {1, 3, 7, 48, 100, 127, 128}) {
    int smallest = 1 << 30;
    int largest = 0;
    for (int index = 0; index < parallelism; ++index) {
      const int size = KeyGroupRangeForOperatorIndex(128, parallelism, index).size();
      smallest = std::min(smallest, size);
      largest = std::max(largest, size);
    }
    EXPECT_LE(largest - smallest, 1) << parallelism;
  }
}

TEST(KeyGroupsTest, EmptyRange) {
  const KeyGroupRange empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.size(), 0);
  EXPECT_FALSE(empty.Contains(0));
}

TEST(KeyGroupsTest, DefaultMaxParallelismIsOneAndAHalfTimesRoundedToAPowerOfTwo) {
  for (int parallelism = 1; parallelism <= 40000; ++parallelism) {
    const int max = DefaultMaxParallelism(parallelism);
    ASSERT_GE(max, kDefaultLowerBoundMaxParallelism);
    ASSERT_LE(max, kMaxParallelismUpperBound);
    ASSERT_EQ(max & (max - 1), 0) << parallelism;
    const int64_t wanted = parallelism + parallelism / 2;
    if (max > kDefaultLowerBoundMaxParallelism && max < kMaxParallelismUpperBound) {
      // The smallest power of two that is >= 1.5 x parallelism.
      ASSERT_GE(max, wanted) << parallelism;
      ASSERT_LT(max / 2, wanted) << parallelism;
    }
    if (wanted <= kDefaultLowerBoundMaxParallelism) {
      ASSERT_EQ(max, kDefaultLowerBoundMaxParallelism);
    }
    if (wanted > kMaxParallelismUpperBound) {
      ASSERT_EQ(max, kMaxParallelismUpperBound);
    }
  }
}

}  // namespace
}  // namespace weir::state
