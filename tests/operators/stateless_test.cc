#include "operators/stateless.h"

#include <gtest/gtest.h>

#include "collecting_output.h"
#include "operators/process_operator.h"

namespace weir::operators {
namespace {

using testing::CollectingOutput;

TEST(StatelessOperatorsTest, FilterMapChainKeepsTimestampsAndForwardsEvents) {
  CollectingOutput<int64_t> sink;
  auto square = [](const int64_t& value) { return value * value; };
  auto even = [](const int64_t& value) { return value % 2 == 0; };
  MapOperator<int64_t, int64_t, decltype(square)> map(square);
  FilterOperator<int64_t, decltype(even)> filter(even);
  filter.SetOutput(map.input());
  map.SetOutput(&sink);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 100; ++i) {
    filter.Collect(i, 1000 + i);
    if (i % 2 == 0) expected.push_back(i * i);
  }
  filter.EmitWatermark(50);
  filter.EndInput();
  EXPECT_EQ(sink.values, expected);
  EXPECT_EQ(sink.timestamps.front(), 1000);
  EXPECT_EQ(sink.timestamps.back(), 1098);
  EXPECT_EQ(sink.watermarks, std::vector<Timestamp>{50});
  EXPECT_EQ(sink.end_inputs, 1);
}

TEST(StatelessOperatorsTest, FlatMapEmitsZeroOrMoreWithTheInputTimestamp) {
  CollectingOutput<int64_t> sink;
  auto repeat = [](const int64_t& value, Collector<int64_t>& out) {
    for (int64_t i = 0; i < value; ++i) out.Collect(value);
  };
  FlatMapOperator<int64_t, int64_t, decltype(repeat)> flat_map(repeat);
  flat_map.SetOutput(&sink);
  flat_map.Collect(0, 5);
  flat_map.Collect(3, 7);
  EXPECT_EQ(sink.values, (std::vector<int64_t>{3, 3, 3}));
  EXPECT_EQ(sink.timestamps, (std::vector<Timestamp>{7, 7, 7}));
}

class TaggingFunction : public ProcessFunction<int64_t, std::string> {
 public:
  void ProcessElement(const int64_t& value, Context& context, Collector<std::string>& out) override {
    out.Collect(std::to_string(value) + "@" + std::to_string(context.timestamp()) + "/wm" +
                std::to_string(context.CurrentWatermark()));
  }
};

TEST(StatelessOperatorsTest, ProcessFunctionSeesTimestampAndWatermark) {
  CollectingOutput<std::string> sink;
  ProcessOperator<int64_t, std::string, TaggingFunction> process{TaggingFunction()};
  process.SetOutput(&sink);
  OperatorContext context;
  ASSERT_TRUE(process.Open(&context).ok());
  process.EmitWatermark(10);
  process.Collect(4, 12);
  EXPECT_EQ(sink.values, std::vector<std::string>{"4@12/wm10"});
}

}  // namespace
}  // namespace weir::operators
