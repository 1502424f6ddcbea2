#include "operators/rolling_aggregate.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "collecting_output.h"

namespace weir::operators {
namespace {

using testing::CollectingOutput;
using Record = std::pair<std::string_view, int64_t>;
using StoredRecord = std::pair<std::string, int64_t>;

class RollingAggregateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 256;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "Keyed Aggregation (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{64 << 20};
  OperatorContext context_;
};

TEST_F(RollingAggregateTest, RunningSumPerKeyMatchesReference) {
  auto key = [](const Record& record) { return record.first; };
  auto sum = [](const Record& acc, const Record& value) { return Record{acc.first, acc.second + value.second}; };
  RollingAggregateOperator<Record, decltype(key), decltype(sum)> op(key, sum, "sum");
  CollectingOutput<Record, StoredRecord> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());

  std::mt19937_64 random(11);
  std::map<std::string, int64_t> reference;
  std::vector<StoredRecord> expected;
  for (int i = 0; i < 20000; ++i) {
    std::string word = "w" + std::to_string(random() % 500);
    const int64_t value = static_cast<int64_t>(random() % 10);
    op.Collect(Record{word, value}, i);
    reference[word] += value;
    expected.emplace_back(word, reference[word]);
  }
  ASSERT_FALSE(context_.failed()) << context_.status().ToString();
  EXPECT_EQ(sink.values, expected);
  op.Close();
}

TEST_F(RollingAggregateTest, MinByKeepsTheFirstRecordOnTies) {
  using Triple = std::tuple<int64_t, int64_t, int64_t>;  // key, value, arrival
  auto key = [](const Triple& t) { return std::get<0>(t); };
  auto min_by = [](const Triple& acc, const Triple& value) {
    return std::get<1>(value) < std::get<1>(acc) ? value : acc;
  };
  RollingAggregateOperator<Triple, decltype(key), decltype(min_by)> op(key, min_by, "minBy");
  CollectingOutput<Triple> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 5, 0}, 0);
  op.Collect({1, 5, 1}, 0);  // tie: the first stays
  op.Collect({1, 3, 2}, 0);
  op.Collect({2, 9, 3}, 0);
  EXPECT_EQ(sink.values, (std::vector<Triple>{{1, 5, 0}, {1, 5, 0}, {1, 3, 2}, {2, 9, 3}}));
}

TEST_F(RollingAggregateTest, ExhaustedManagedMemoryFailsWithTheKey) {
  memory::MemoryBudget tiny(64 * 1024);
  context_.managed_memory = &tiny;
  auto key = [](const int64_t& value) { return value; };
  auto keep = [](const int64_t& acc, const int64_t&) { return acc; };
  RollingAggregateOperator<int64_t, decltype(key), decltype(keep)> op(key, keep, "keep");
  CollectingOutput<int64_t> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  for (int64_t i = 0; i < 200000 && !context_.failed(); ++i) op.Collect(i, 0);
  ASSERT_TRUE(context_.failed());
  EXPECT_EQ(context_.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(context_.status().message().find("taskmanager.memory.managed.size"), std::string_view::npos)
      << context_.status().ToString();
}

}  // namespace
}  // namespace weir::operators
