#include "operators/interval_join_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "collecting_output.h"

namespace weir::operators {
namespace {

using testing::CollectingOutput;
// (key, id): ids identify elements so joined pairs can be compared as sets.
using Event = std::pair<int64_t, int64_t>;
using Tagged = TaggedUnion<Event, Event>;
// (left id, right id, left ts, right ts)
using Joined = std::tuple<int64_t, int64_t, Timestamp, Timestamp>;

struct KeyOf {
  int64_t operator()(const Tagged& value) const { return value.is_left ? value.left.first : value.right.first; }
};
struct EmitPair {
  void operator()(const Event& left, const Event& right, ProcessJoinContext& context, Collector<Joined>& out) {
    out.Collect(Joined{left.second, right.second, context.LeftTimestamp(), context.RightTimestamp()});
  }
};
using Operator = IntervalJoinOperator<Event, Event, Joined, KeyOf, EmitPair>;

// Collects the late left elements.
class LateCollector final : public Output<Event> {
 public:
  void Collect(const Event& value, Timestamp timestamp) override { late.emplace_back(value.second, timestamp); }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}
  std::vector<std::pair<int64_t, Timestamp>> late;
};

class IntervalJoinOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 512;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "IntervalJoin (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  std::unique_ptr<Operator> Make(Timestamp lower, Timestamp upper, bool late_output) {
    IntervalJoinOptions options;
    options.lower = lower;
    options.upper = upper;
    if (late_output) options.left_late_tag = "late-left";
    auto op = std::make_unique<Operator>(KeyOf(), EmitPair(), options);
    op->SetOutput(&sink_);
    if (late_output) op->SetSideOutput("late-left", &late_);
    EXPECT_TRUE(op->Open(&context_).ok());
    return op;
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{64 << 20};
  OperatorContext context_;
  CollectingOutput<Joined> sink_;
  LateCollector late_;
};

struct Element {
  bool is_left;
  int64_t key;
  int64_t id;
  Timestamp timestamp;
};

// Every pair of equal keys within the bounds -- the definition, without time or state.
std::vector<Joined> BruteForce(const std::vector<Element>& elements, Timestamp lower, Timestamp upper) {
  std::vector<Joined> pairs;
  for (const Element& left : elements) {
    if (!left.is_left) continue;
    for (const Element& right : elements) {
      if (right.is_left || right.key != left.key) continue;
      if (right.timestamp >= left.timestamp + lower && right.timestamp <= left.timestamp + upper) {
        pairs.emplace_back(left.id, right.id, left.timestamp, right.timestamp);
      }
    }
  }
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

TEST_F(IntervalJoinOperatorTest, RandomOutOfOrderStreamsJoinLikeTheDefinition) {
  std::mt19937_64 random(11);
  for (auto [lower, upper] : std::vector<std::pair<Timestamp, Timestamp>>{{-5, 5}, {0, 0}, {-20, -3}, {2, 30}, {-1, 0}}) {
    sink_.values.clear();
    sink_.timestamps.clear();
    auto op = Make(lower, upper, false);
    // Out of order by up to `bound`; the watermark trails the maximum by bound + 1, so no element
    // is ever late and every pair of the definition must be found.
    const Timestamp bound = 15;
    std::vector<Element> elements;
    Timestamp max_seen = 0;
    for (int64_t id = 0; id < 3000; ++id) {
      const Timestamp base = id / 3;
      const Timestamp timestamp = std::max<Timestamp>(max_seen - bound, base - static_cast<Timestamp>(random() % bound));
      const Element element{random() % 2 == 0, static_cast<int64_t>(random() % 7), id, timestamp};
      elements.push_back(element);
      max_seen = std::max(max_seen, timestamp);
      op->Collect(element.is_left ? Tagged::Left({element.key, id}) : Tagged::Right({element.key, id}), timestamp);
      if (id % 10 == 0) op->EmitWatermark(max_seen - bound - 1);
    }
    op->EmitWatermark(kMaxTimestamp);
    ASSERT_FALSE(context_.failed()) << context_.status().ToString();
    std::vector<Joined> got = sink_.values;
    std::sort(got.begin(), got.end());
    const std::vector<Joined> expected = BruteForce(elements, lower, upper);
    ASSERT_GT(expected.size(), 100u);
    EXPECT_EQ(got, expected) << "between(" << lower << ", " << upper << ")";
    for (size_t i = 0; i < sink_.values.size(); ++i) {
      EXPECT_EQ(sink_.timestamps[i], std::max(std::get<2>(sink_.values[i]), std::get<3>(sink_.values[i])));
    }
    EXPECT_EQ(op->left_late_dropped() + op->right_late_dropped(), 0);
    op->Close();
  }
}

TEST_F(IntervalJoinOperatorTest, BuffersAreCleanedUpWhenTheWatermarkPassesTheInterval) {
  auto op = Make(-2, 3, false);
  op->Collect(Tagged::Left({1, 100}), 10);
  op->Collect(Tagged::Right({1, 200}), 12);  // joins: 8 <= 12 <= 13
  EXPECT_EQ(sink_.values.size(), 1u);
  op->EmitWatermark(13);  // the left element's cleanup time (10 + 3) has passed
  op->Collect(Tagged::Right({1, 201}), 13);  // not late (13 == watermark), but the left is gone
  EXPECT_EQ(sink_.values.size(), 1u);
  op->Collect(Tagged::Left({1, 101}), 14);  // joins the right elements at 12 and 13 (12..17)
  std::vector<Joined> got(sink_.values.begin() + 1, sink_.values.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<Joined>{{101, 200, 14, 12}, {101, 201, 14, 13}}));
}

TEST_F(IntervalJoinOperatorTest, LateElementsGoToTheSideOutputOrAreCounted) {
  auto with_output = Make(-5, 5, true);
  with_output->EmitWatermark(100);
  with_output->Collect(Tagged::Left({1, 1}), 99);    // late: 99 < 100
  with_output->Collect(Tagged::Left({1, 2}), 100);   // on time
  with_output->Collect(Tagged::Right({1, 3}), 50);   // late, no right tag: counted
  EXPECT_EQ(late_.late, (std::vector<std::pair<int64_t, Timestamp>>{{1, 99}}));
  EXPECT_EQ(with_output->left_late_dropped(), 0);
  EXPECT_EQ(with_output->right_late_dropped(), 1);
  EXPECT_TRUE(sink_.values.empty());
}

TEST_F(IntervalJoinOperatorTest, ElementsWithoutTimestampsFailTheTask) {
  auto op = Make(-1, 1, false);
  op->Collect(Tagged::Left({1, 1}), kMinTimestamp);
  ASSERT_TRUE(context_.failed());
  EXPECT_NE(context_.status().ToString().find("timestamps"), std::string::npos);
}

}  // namespace
}  // namespace weir::operators
