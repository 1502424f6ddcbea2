// LatencyHistogram: Gil Tene's HdrHistogram layout (log-linear buckets, about three significant
// decimal digits) for nanosecond latencies from 0 up to about 2^52 ns. Recording is a handful of
// instructions and never allocates, so a sink can record every result on its hot path; one
// histogram per sink subtask, merged after the run.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace weir::harness {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketHalfMagnitude = 10;  // 2048 sub-buckets: precision 1/1024
  static constexpr int64_t kSubBucketHalfCount = int64_t{1} << kSubBucketHalfMagnitude;
  static constexpr int kBuckets = 43;                  // values up to 2^53 ns (about 104 days)
  static constexpr int64_t kHighestTrackable = (int64_t{1} << (kBuckets + kSubBucketHalfMagnitude)) - 1;

  LatencyHistogram() : counts_((kBuckets + 1) * kSubBucketHalfCount, 0) {}

  // Records one latency; negative values count as 0, values past the range as the highest.
  void Record(int64_t nanos) {
    const int64_t value = std::clamp<int64_t>(nanos, 0, kHighestTrackable);
    ++counts_[CountsIndex(value)];
    ++total_;
    max_ = std::max(max_, value);
    min_ = std::min(min_, value);
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
  }

  int64_t count() const { return total_; }
  int64_t max() const { return total_ == 0 ? 0 : max_; }
  int64_t min() const { return total_ == 0 ? 0 : min_; }

  // The smallest recorded-equivalent value v such that `percentile` % of the values are <= v
  // (HdrHistogram's getValueAtPercentile: the highest value equivalent to that bucket, capped by
  // the exact maximum). 0 when empty.
  int64_t ValueAtPercentile(double percentile) const {
    if (total_ == 0) return 0;
    const double fraction = std::clamp(percentile, 0.0, 100.0) / 100.0;
    int64_t wanted = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(total_)));
    wanted = std::max<int64_t>(wanted, 1);
    int64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= wanted) return std::min(HighestEquivalent(static_cast<int64_t>(i)), max_);
    }
    return max_;
  }

  // Non-empty buckets in value order, for percentile distributions (.hgrm) and charts:
  // fn(lowest_value, highest_equivalent_value, count).
  template <typename Fn>
  void ForEachBucket(Fn&& fn) const {
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] != 0) fn(ValueFromIndex(static_cast<int64_t>(i)), HighestEquivalent(static_cast<int64_t>(i)),
                              counts_[i]);
    }
  }

 private:
  static int64_t CountsIndex(int64_t value) {
    const int bucket = std::max(0, 63 - std::countl_zero(static_cast<uint64_t>(value) | (2 * kSubBucketHalfCount - 1)) -
                                       kSubBucketHalfMagnitude);
    const int64_t sub_bucket = value >> bucket;
    return ((int64_t{bucket} + 1) << kSubBucketHalfMagnitude) + (sub_bucket - kSubBucketHalfCount);
  }
  static int64_t ValueFromIndex(int64_t index) {
    int64_t bucket = (index >> kSubBucketHalfMagnitude) - 1;
    int64_t sub_bucket = (index & (kSubBucketHalfCount - 1)) + kSubBucketHalfCount;
    if (bucket < 0) {
      sub_bucket -= kSubBucketHalfCount;
      bucket = 0;
    }
    return sub_bucket << bucket;
  }
  static int64_t HighestEquivalent(int64_t index) {
    const int64_t bucket = std::max<int64_t>(0, (index >> kSubBucketHalfMagnitude) - 1);
    return ValueFromIndex(index) + (int64_t{1} << bucket) - 1;
  }

  std::vector<int64_t> counts_;
  int64_t total_ = 0;
  int64_t max_ = 0;
  int64_t min_ = INT64_MAX;
};

}  // namespace weir::harness
