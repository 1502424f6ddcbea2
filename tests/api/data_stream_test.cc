#include "api/data_stream.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include "api/stream_execution_environment.h"

namespace weir::api {
namespace {

// Collects what every subtask of a sink receives into one shared list (test only: takes a lock).
template <typename T, typename Stored = T>
struct Collected {
  std::mutex mutex;
  std::vector<Stored> values;
  std::vector<int> subtasks;
};

template <typename T, typename Stored = T>
class CollectSink final : public operators::SinkOperator<T> {
 public:
  explicit CollectSink(std::shared_ptr<Collected<T, Stored>> target) : target_(std::move(target)) {}
  void Collect(const T& value, Timestamp) override {
    std::lock_guard lock(target_->mutex);
    target_->values.push_back(Stored(value));
    target_->subtasks.push_back(this->context()->subtask_index);
  }
  void EndInput() override {}

 private:
  std::shared_ptr<Collected<T, Stored>> target_;
};

template <typename Stored, typename T>
std::shared_ptr<Collected<T, Stored>> CollectInto(DataStream<T> stream) {
  auto target = std::make_shared<Collected<T, Stored>>();
  stream.SinkTo("Collect", [target](int) { return std::make_unique<CollectSink<T, Stored>>(target); });
  return target;
}

Configuration TestConfig(int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "64mb").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  return config;
}

class DataStreamTest : public ::testing::TestWithParam<int> {};

TEST_P(DataStreamTest, SequenceFilterMapDeliversEveryRecordOnce) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto result = CollectInto<int64_t>(env.FromSequence(1, 100000)
                                         .Filter([](const int64_t& v) { return v % 3 != 0; })
                                         .Map([](const int64_t& v) { return v * 2; }));
  auto job = env.Execute("sequence");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  std::multiset<int64_t> expected;
  for (int64_t v = 1; v <= 100000; ++v) {
    if (v % 3 != 0) expected.insert(v * 2);
  }
  EXPECT_EQ(std::multiset<int64_t>(result->values.begin(), result->values.end()), expected);
  EXPECT_EQ(job->records_in, 100000);
}

TEST_P(DataStreamTest, KeyedRunningSumEmitsEveryPrefixOfEachKey) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  using Record = std::pair<int64_t, int64_t>;
  auto sums = env.FromSequence(0, 49999)
                  .Map([](const int64_t& v) { return Record{(v * 7919) % 101, 1}; })
                  .KeyBy([](const Record& r) { return r.first; })
                  .Sum<1>();
  auto result = CollectInto<Record>(sums);
  ASSERT_TRUE(env.Execute("keyed sum").ok());
  // Reference: key k occurs n_k times; its running counts are exactly 1..n_k, each once, and every
  // key is handled by exactly one subtask.
  std::map<int64_t, int64_t> occurrences;
  for (int64_t v = 0; v < 50000; ++v) ++occurrences[(v * 7919) % 101];
  std::map<int64_t, std::set<int64_t>> seen;
  std::map<int64_t, std::set<int>> subtasks_of_key;
  for (size_t i = 0; i < result->values.size(); ++i) {
    auto [key, count] = result->values[i];
    EXPECT_TRUE(seen[key].insert(count).second) << "count " << count << " twice for key " << key;
    subtasks_of_key[key].insert(result->subtasks[i]);
  }
  ASSERT_EQ(seen.size(), occurrences.size());
  for (auto& [key, n] : occurrences) {
    EXPECT_EQ(static_cast<int64_t>(seen[key].size()), n);
    EXPECT_EQ(*seen[key].rbegin(), n);
    EXPECT_EQ(subtasks_of_key[key].size(), 1u);
  }
}

TEST_P(DataStreamTest, UnionRebalanceAndBroadcast) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  auto a = env.FromSequence(1, 1000);
  auto b = env.FromSequence(1001, 2000);
  auto all = CollectInto<int64_t>(a.Union(b).Rebalance());
  auto broadcast = CollectInto<int64_t>(env.FromElements<int64_t>({1, 2, 3}).Broadcast());
  ASSERT_TRUE(env.Execute("union").ok());
  std::vector<int64_t> values = all->values;
  std::sort(values.begin(), values.end());
  ASSERT_EQ(values.size(), 2000u);
  for (int64_t i = 0; i < 2000; ++i) EXPECT_EQ(values[i], i + 1);
  EXPECT_EQ(broadcast->values.size(), 3u * GetParam());
}

TEST_P(DataStreamTest, StringRecordsCrossExchangesIntact) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  std::vector<std::string> words;
  std::mt19937_64 random(5);
  for (int i = 0; i < 5000; ++i) words.push_back(std::string(random() % 3000, static_cast<char>('a' + i % 26)));
  auto result = CollectInto<std::string>(
      env.FromCollection(std::vector<std::string>(words))
          .Map([](const std::string& s) { return std::string_view(s); })
          .Rebalance());
  ASSERT_TRUE(env.Execute("strings").ok());
  std::multiset<std::string> expected(words.begin(), words.end());
  EXPECT_EQ(std::multiset<std::string>(result->values.begin(), result->values.end()), expected);
}

TEST_P(DataStreamTest, ThrowingUserFunctionFailsTheJobWithItsMessage) {
  StreamExecutionEnvironment env(TestConfig(GetParam()));
  CollectInto<int64_t>(env.FromSequence(1, 100000).Rebalance().Map([](const int64_t& v) -> int64_t {
    if (v == 777) throw std::runtime_error("bad record 777");
    return v;
  }));
  auto job = env.Execute("throws");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("bad record 777"), std::string_view::npos) << job.status().ToString();
  EXPECT_NE(job.status().message().find("Map"), std::string_view::npos) << job.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Parallelism, DataStreamTest, ::testing::Values(1, 2));

TEST(StreamExecutionEnvironmentTest, ForwardRequiresEqualParallelism) {
  StreamExecutionEnvironment env(TestConfig(1));
  auto stream = env.FromSequence(1, 10).Forward();
  stream.SetParallelism(2);
  stream.Discard();
  auto job = env.Execute("forward");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().message().find("forward partitioning"), std::string_view::npos);
}

TEST(StreamExecutionEnvironmentTest, StopRequestEndsAnEndlessSourceCleanly) {
  StreamExecutionEnvironment env(TestConfig(2));
  // Paced: ~forever at 1000 records/s.
  env.FromGenerator(1'000'000'000, [](int64_t i) { return i; }, 1000).Discard();
  std::thread stopper([&env] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    env.RequestStop();
  });
  auto job = env.Execute("endless");
  stopper.join();
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_TRUE(job->stopped);
  EXPECT_GT(job->records_in, 0);
  EXPECT_LT(job->records_in, 100000);
}

}  // namespace
}  // namespace weir::api
