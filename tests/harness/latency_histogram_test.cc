#include "harness/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace weir::harness {
namespace {

// Percentiles against the exact order statistics of the recorded values: within the histogram's
// precision (1/1024 of the value) and never below the exact value.
TEST(LatencyHistogramTest, PercentilesMatchSortedValuesWithinPrecision) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(9.0, 2.0);  // ns, spread over many magnitudes
  std::vector<int64_t> values;
  LatencyHistogram histogram;
  for (int i = 0; i < 200000; ++i) {
    const int64_t v = static_cast<int64_t>(dist(rng));
    values.push_back(v);
    histogram.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100 * values.size())));
    const int64_t exact = values[rank - 1];
    const int64_t got = histogram.ValueAtPercentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(got, exact + exact / 1024 + 1) << p;
  }
  EXPECT_EQ(histogram.max(), values.back());
  EXPECT_EQ(histogram.min(), values.front());
  EXPECT_EQ(histogram.count(), 200000);
}

TEST(LatencyHistogramTest, MergeAddsCountsAndClampsOutOfRange) {
  LatencyHistogram a, b;
  a.Record(-5);
  b.Record(LatencyHistogram::kHighestTrackable + 100);
  b.Record(1500);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3);
  EXPECT_EQ(a.min(), 0);
  EXPECT_EQ(a.max(), LatencyHistogram::kHighestTrackable);
  int64_t buckets = 0, counted = 0;
  a.ForEachBucket([&](int64_t low, int64_t high, int64_t count) {
    EXPECT_LE(low, high);
    ++buckets;
    counted += count;
  });
  EXPECT_EQ(buckets, 3);
  EXPECT_EQ(counted, 3);
  EXPECT_EQ(LatencyHistogram().ValueAtPercentile(99), 0);
}

}  // namespace
}  // namespace weir::harness
