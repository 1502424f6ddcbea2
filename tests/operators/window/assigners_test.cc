#include "operators/window/assigners.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "operators/window/evictors.h"

namespace weir::operators::window {
namespace {

using std::chrono::milliseconds;

WindowAssignerContext FixedClock(Timestamp now) {
  return WindowAssignerContext([now] { return now; });
}

// Every window [start, start + size) with start = offset (mod slide) that contains `timestamp`,
// found by scanning candidate starts one millisecond at a time.
std::set<TimeWindow> BruteForceWindows(Timestamp timestamp, Timestamp size, Timestamp slide,
                                       Timestamp offset) {
  std::set<TimeWindow> windows;
  for (Timestamp start = timestamp - size + 1; start <= timestamp; ++start) {
    Timestamp phase = (start - offset) % slide;
    if (phase < 0) phase += slide;
    if (phase == 0) windows.insert(TimeWindow{start, start + size});
  }
  return windows;
}

TEST(AssignersTest, TumblingAndSlidingMatchBruteForceIncludingNegativeTimestamps) {
  std::mt19937_64 random(7);
  const auto context = FixedClock(0);
  for (int round = 0; round < 2000; ++round) {
    const Timestamp slide = 1 + static_cast<Timestamp>(random() % 20);
    const Timestamp size = slide * (1 + static_cast<Timestamp>(random() % 4)) +
                           (round % 2 == 0 ? 0 : static_cast<Timestamp>(random() % 5));
    const Timestamp offset = static_cast<Timestamp>(random() % (2 * slide - 1)) - (slide - 1);
    const Timestamp timestamp = static_cast<Timestamp>(random() % 400) - 200;

    std::vector<TimeWindow> sliding;
    ASSERT_TRUE(SlidingEventTimeWindows::Of(milliseconds(size), milliseconds(slide), milliseconds(offset))
                    .AssignWindows(0, timestamp, context, sliding)
                    .ok());
    EXPECT_EQ(std::set<TimeWindow>(sliding.begin(), sliding.end()),
              BruteForceWindows(timestamp, size, slide, offset));
    EXPECT_EQ(sliding.size(), std::set<TimeWindow>(sliding.begin(), sliding.end()).size());

    std::vector<TimeWindow> tumbling;
    ASSERT_TRUE(TumblingEventTimeWindows::Of(milliseconds(slide), milliseconds(offset))
                    .AssignWindows(0, timestamp, context, tumbling)
                    .ok());
    EXPECT_EQ(std::set<TimeWindow>(tumbling.begin(), tumbling.end()),
              BruteForceWindows(timestamp, slide, slide, offset));
  }
}

TEST(AssignersTest, ProcessingTimeAssignersUseTheClock) {
  std::vector<TimeWindow> windows;
  ASSERT_TRUE(TumblingProcessingTimeWindows::Of(std::chrono::seconds(1))
                  .AssignWindows(0, kMinTimestamp, FixedClock(2500), windows)
                  .ok());
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0], (TimeWindow{2000, 3000}));
  EXPECT_EQ(windows[0].MaxTimestamp(), 2999);
}

TEST(AssignersTest, EventTimeWindowsRejectRecordsWithoutTimestamp) {
  std::vector<TimeWindow> windows;
  EXPECT_FALSE(TumblingEventTimeWindows::Of(milliseconds(10))
                   .AssignWindows(0, kMinTimestamp, FixedClock(0), windows)
                   .ok());
  EXPECT_TRUE(windows.empty());
}

TEST(AssignersTest, DynamicSessionGapMustBePositive) {
  auto sessions = EventTimeSessionWindows::WithDynamicGap([](const int& gap) { return int64_t{gap}; });
  std::vector<TimeWindow> windows;
  EXPECT_TRUE(sessions.AssignWindows(5, 100, FixedClock(0), windows).ok());
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0], (TimeWindow{100, 105}));
  EXPECT_FALSE(sessions.AssignWindows(0, 100, FixedClock(0), windows).ok());
}

// Merging against a fixpoint reference: repeatedly cover any two intersecting windows.
TEST(AssignersTest, MergeWindowsMatchesTransitiveIntersectionClosure) {
  std::mt19937_64 random(11);
  for (int round = 0; round < 500; ++round) {
    std::vector<TimeWindow> windows;
    const int count = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < count; ++i) {
      const Timestamp start = static_cast<Timestamp>(random() % 60);
      windows.push_back(TimeWindow{start, start + 1 + static_cast<Timestamp>(random() % 10)});
    }
    std::vector<TimeWindow> closure = windows;
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t i = 0; i < closure.size() && !changed; ++i) {
        for (size_t j = i + 1; j < closure.size() && !changed; ++j) {
          if (closure[i].Intersects(closure[j])) {
            closure[i] = closure[i].Cover(closure[j]);
            closure.erase(closure.begin() + static_cast<std::ptrdiff_t>(j));
            changed = true;
          }
        }
      }
    }
    std::multiset<TimeWindow> merged_away(windows.begin(), windows.end());
    std::multiset<TimeWindow> results;
    TimeWindow::MergeWindows(std::span<TimeWindow>(windows), [&](std::span<const TimeWindow> group,
                                                                 const TimeWindow& cover) {
      for (const TimeWindow& window : group) {
        EXPECT_LE(cover.start, window.start);
        EXPECT_GE(cover.end, window.end);
        merged_away.erase(merged_away.find(window));
      }
      results.insert(cover);
    });
    // Windows not in any group stay as they are.
    results.insert(merged_away.begin(), merged_away.end());
    EXPECT_EQ(results, std::multiset<TimeWindow>(closure.begin(), closure.end()));
  }
}

std::vector<TimestampedValue<int>> Elements(std::vector<std::pair<int, Timestamp>> values) {
  std::vector<TimestampedValue<int>> out;
  for (auto [value, timestamp] : values) out.push_back({value, timestamp});
  return out;
}
std::vector<int> ValuesOf(const std::vector<TimestampedValue<int>>& elements) {
  std::vector<int> out;
  for (const auto& element : elements) out.push_back(element.value);
  return out;
}

TEST(EvictorsTest, CountTimeAndDeltaEvictorsKeepWhatFlinkKeeps) {
  const GlobalWindow window;
  const EvictorContext context;
  auto elements = Elements({{1, 10}, {2, 30}, {3, 20}, {4, 40}, {5, 15}});
  CountEvictor::Of(2).EvictBefore(elements, elements.size(), window, context);
  EXPECT_EQ(ValuesOf(elements), (std::vector<int>{4, 5}));

  elements = Elements({{1, 10}, {2, 30}, {3, 20}, {4, 40}, {5, 15}});
  CountEvictor::Of(2, /*evict_after=*/true).EvictBefore(elements, elements.size(), window, context);
  EXPECT_EQ(elements.size(), 5u);
  CountEvictor::Of(2, true).EvictAfter(elements, elements.size(), window, context);
  EXPECT_EQ(ValuesOf(elements), (std::vector<int>{4, 5}));

  // Newest timestamp 40, size 20: keeps timestamps > 20.
  elements = Elements({{1, 10}, {2, 30}, {3, 20}, {4, 40}, {5, 25}});
  TimeEvictor::Of(milliseconds(20)).EvictBefore(elements, elements.size(), window, context);
  EXPECT_EQ(ValuesOf(elements), (std::vector<int>{2, 4, 5}));

  elements = Elements({{1, kMinTimestamp}, {2, 30}});
  TimeEvictor::Of(milliseconds(0)).EvictBefore(elements, elements.size(), window, context);
  EXPECT_EQ(elements.size(), 2u);

  // Delta to the last element (7) >= 3 is evicted.
  elements = Elements({{1, 0}, {5, 0}, {9, 0}, {4, 0}, {7, 0}});
  auto delta = DeltaEvictor<double (*)(const int&, const int&)>::Of(
      3, [](const int& a, const int& b) { return static_cast<double>(a > b ? a - b : b - a); });
  delta.EvictBefore(elements, elements.size(), window, context);
  EXPECT_EQ(ValuesOf(elements), (std::vector<int>{5, 9, 7}));
}

}  // namespace
}  // namespace weir::operators::window
