// Joins end to end: interval joins through the API at parallelism 1 and 2, against the
// definition computed by a plain loop.
#include "api/join.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <tuple>
#include <vector>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

// (key, id, timestamp)
using Event = std::tuple<int64_t, int64_t, Timestamp>;
// (left id, right id)
using Pair = std::pair<int64_t, int64_t>;

// Emits its events with their timestamps, and after every 8 events the watermark
// max timestamp - bound - 1 (bounded out-of-orderness), as a source with a watermark strategy does.
class TimedSource final : public operators::SourceOperator<Event> {
 public:
  TimedSource(std::vector<Event> events, Timestamp bound) : events_(std::move(events)), bound_(bound) {}
  Result<operators::SourceStatus> Poll(int max_records) override {
    for (int i = 0; i < max_records && next_ < events_.size(); ++i) {
      const Event& event = events_[next_++];
      max_seen_ = std::max(max_seen_, std::get<2>(event));
      output()->Collect(event, std::get<2>(event));
      ++records_emitted_;
      if (next_ % 8 == 0) output()->EmitWatermark(max_seen_ - bound_ - 1);
    }
    if (next_ < events_.size()) return operators::SourceStatus::kMoreAvailable;
    return operators::SourceStatus::kEndOfInput;
  }

 private:
  std::vector<Event> events_;
  Timestamp bound_;
  size_t next_ = 0;
  Timestamp max_seen_ = kMinTimestamp;
};

class PairSink final : public operators::SinkOperator<Pair> {
 public:
  PairSink(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::vector<Pair>> pairs)
      : mutex_(std::move(mutex)), pairs_(std::move(pairs)) {}
  void Collect(const Pair& value, Timestamp) override {
    std::lock_guard lock(*mutex_);
    pairs_->push_back(value);
  }

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::vector<Pair>> pairs_;
};

// Out-of-order events within `bound` of the maximum so far: never behind the source's watermark.
std::vector<Event> RandomEvents(std::mt19937_64& random, int64_t first_id, int count, Timestamp bound) {
  std::vector<Event> events;
  Timestamp max_seen = 0;
  for (int i = 0; i < count; ++i) {
    const Timestamp timestamp =
        std::max<Timestamp>(max_seen - bound, i / 2 - static_cast<Timestamp>(random() % bound));
    max_seen = std::max(max_seen, timestamp);
    events.emplace_back(static_cast<int64_t>(random() % 13), first_id + i, timestamp);
  }
  return events;
}

TEST(IntervalJoinTest, JoinsEveryPairOfTheIntervalAtParallelismOneAndTwo) {
  std::mt19937_64 random(5);
  const Timestamp bound = 10;
  const std::vector<Event> left = RandomEvents(random, 0, 4000, bound);
  const std::vector<Event> right = RandomEvents(random, 100'000, 4000, bound);
  const Timestamp lower = -3;
  const Timestamp upper = 4;
  std::vector<Pair> expected;
  for (const Event& l : left) {
    for (const Event& r : right) {
      if (std::get<0>(l) == std::get<0>(r) && std::get<2>(r) >= std::get<2>(l) + lower &&
          std::get<2>(r) <= std::get<2>(l) + upper) {
        expected.emplace_back(std::get<1>(l), std::get<1>(r));
      }
    }
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_GT(expected.size(), 1000u);

  for (int parallelism : {1, 2}) {
    Configuration config;
    ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
    StreamExecutionEnvironment env(config);
    auto left_stream = env.AddSource<Event>("Left", [left, bound](int) {
      return std::make_unique<TimedSource>(left, bound);
    }, 1);
    auto right_stream = env.AddSource<Event>("Right", [right, bound](int) {
      return std::make_unique<TimedSource>(right, bound);
    }, 1);
    auto key = [](const Event& event) { return std::get<0>(event); };
    auto mutex = std::make_shared<std::mutex>();
    auto pairs = std::make_shared<std::vector<Pair>>();
    left_stream.KeyBy(key)
        .IntervalJoin(right_stream.KeyBy(key))
        .Between(std::chrono::milliseconds(lower), std::chrono::milliseconds(upper))
        .Process<Pair>([](const Event& l, const Event& r, ProcessJoinContext& context, Collector<Pair>& out) {
          EXPECT_EQ(context.timestamp(), std::max(std::get<2>(l), std::get<2>(r)));
          out.Collect(Pair{std::get<1>(l), std::get<1>(r)});
        })
        .SinkTo("Pairs", [mutex, pairs](int) { return std::make_unique<PairSink>(mutex, pairs); });
    auto result = env.Execute("interval join");
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    std::sort(pairs->begin(), pairs->end());
    EXPECT_EQ(*pairs, expected) << "parallelism " << parallelism;
  }
}

// Window starts of the windows of `size` sliding by `slide` that contain `timestamp` (Flink's
// TimeWindow.getWindowStartWithOffset with offset 0; negative timestamps round down).
std::vector<Timestamp> WindowStarts(Timestamp timestamp, Timestamp size, Timestamp slide) {
  std::vector<Timestamp> starts;
  const Timestamp last_start = timestamp - ((timestamp % slide) + slide) % slide;
  for (Timestamp start = last_start; start > timestamp - size; start -= slide) {
    starts.push_back(start);
  }
  return starts;
}

// (window start, left id, right id)
using WindowPair = std::tuple<Timestamp, int64_t, int64_t>;

class WindowPairSink final : public operators::SinkOperator<WindowPair> {
 public:
  WindowPairSink(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::vector<WindowPair>> pairs)
      : mutex_(std::move(mutex)), pairs_(std::move(pairs)) {}
  void Collect(const WindowPair& value, Timestamp) override {
    std::lock_guard lock(*mutex_);
    pairs_->push_back(value);
  }

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::vector<WindowPair>> pairs_;
};

TEST(WindowJoinTest, JoinAndCoGroupMatchThePairsOfEachWindow) {
  std::mt19937_64 random(8);
  const Timestamp bound = 10;
  const std::vector<Event> left = RandomEvents(random, 0, 3000, bound);
  const std::vector<Event> right = RandomEvents(random, 100'000, 3000, bound);
  for (auto [size, slide] : std::vector<std::pair<Timestamp, Timestamp>>{{20, 20}, {30, 10}}) {
    // The definition: every pair of equal keys in every window both fall into; the result's
    // timestamp is the window's end - 1.
    std::vector<WindowPair> expected;
    for (const Event& l : left) {
      for (Timestamp start : WindowStarts(std::get<2>(l), size, slide)) {
        for (const Event& r : right) {
          const Timestamp t = std::get<2>(r);
          if (std::get<0>(l) == std::get<0>(r) && t >= start && t < start + size) {
            expected.emplace_back(start, std::get<1>(l), std::get<1>(r));
          }
        }
      }
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_GT(expected.size(), 1000u);
    for (bool cogroup : {false, true}) {
      for (int parallelism : {1, 2}) {
        Configuration config;
        ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
        StreamExecutionEnvironment env(config);
        auto left_stream = env.AddSource<Event>("Left", [left, bound](int) {
          return std::make_unique<TimedSource>(left, bound);
        }, 1);
        auto right_stream = env.AddSource<Event>("Right", [right, bound](int) {
          return std::make_unique<TimedSource>(right, bound);
        }, 1);
        auto key = [](const Event& event) { return std::get<0>(event); };
        auto assigner = SlidingEventTimeWindows::Of(std::chrono::milliseconds(size), std::chrono::milliseconds(slide));
        auto mutex = std::make_shared<std::mutex>();
        auto pairs = std::make_shared<std::vector<WindowPair>>();
        // The window start is recovered from the result timestamp (window end - 1).
        auto tagged = [size](const Event& l, const Event& r) { return WindowPair{-1, std::get<1>(l), std::get<1>(r)}; };
        std::optional<DataStream<WindowPair>> joined;
        if (cogroup) {
          joined = left_stream.CoGroup(right_stream).Where(key).EqualTo(key).Window(assigner).Apply<WindowPair>(
              [tagged](std::span<const Event> ls, std::span<const Event> rs, Collector<WindowPair>& out) {
                for (const Event& l : ls) {
                  for (const Event& r : rs) out.Collect(tagged(l, r));
                }
              });
        } else {
          joined = left_stream.Join(right_stream).Where(key).EqualTo(key).Window(assigner).Apply<WindowPair>(tagged);
        }
        joined->Process<WindowPair>([size](const WindowPair& pair, auto& context, Collector<WindowPair>& out) {
              out.Collect(WindowPair{context.timestamp() + 1 - size, std::get<1>(pair), std::get<2>(pair)});
            })
            .SinkTo("Pairs", [mutex, pairs](int) { return std::make_unique<WindowPairSink>(mutex, pairs); });
        auto result = env.Execute("window join");
        ASSERT_TRUE(result.ok()) << result.status().ToString();
        std::sort(pairs->begin(), pairs->end());
        EXPECT_EQ(*pairs, expected) << (cogroup ? "coGroup" : "join") << " size " << size << " slide " << slide
                                    << " parallelism " << parallelism;
      }
    }
  }
}

}  // namespace
}  // namespace weir::api
