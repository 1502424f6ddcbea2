#include "runtime/job_runner.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>

#include "api/stream_execution_environment.h"

namespace weir::runtime {
namespace {

// Records, per subtask, the NUMA node of the memory the runtime gave it.
class NodeRecorder final : public operators::SinkOperator<int64_t> {
 public:
  NodeRecorder(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::map<int, int>> nodes)
      : mutex_(std::move(mutex)), nodes_(std::move(nodes)) {}
  Status Open(operators::OperatorContext* context) override {
    RETURN_IF_ERROR(SinkOperator::Open(context));
    std::lock_guard lock(*mutex_);
    (*nodes_)[context->subtask_index] = context->state_pool->numa_node();
    return Status::Ok();
  }
  void Collect(const int64_t&, Timestamp) override {}
  void EndInput() override {}

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::map<int, int>> nodes_;
};

TEST(JobRunnerTest, SubtasksGetMemoryFromTheirWorkersNumaNode) {
  // 2 packages x 2 NUMA nodes x 2 cores: 8 cores, nodes of 2 cores each.
  auto topology = memory::Topology::FromSynthetic("package:2 numa:2 core:2 pu:1");
  ASSERT_TRUE(topology.ok()) << topology.status().ToString();
  Configuration config;
  ASSERT_TRUE(config.Set("taskmanager.numberOfTaskSlots", "6").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.managed.size", "16mb").ok());
  api::StreamExecutionEnvironment env(config);
  env.SetParallelism(6);
  auto mutex = std::make_shared<std::mutex>();
  auto nodes = std::make_shared<std::map<int, int>>();
  env.FromSequence(1, 1000).Rebalance().SinkTo("Nodes", [mutex, nodes](int) {
    return std::make_unique<NodeRecorder>(mutex, nodes);
  });
  auto graph = env.GetJobGraph("placement");
  ASSERT_TRUE(graph.ok());
  JobRunner runner(config, &*topology);
  auto result = runner.Run(*graph);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  // Subtask i runs on worker i, placed on core PlaceWorkers(6)[i]: node 0's cores first.
  const std::vector<int> cores = topology->PlaceWorkers(6);
  ASSERT_EQ(nodes->size(), 6u);
  for (int subtask = 0; subtask < 6; ++subtask) {
    EXPECT_EQ((*nodes)[subtask], topology->NumaNodeOfCore(cores[subtask])) << "subtask " << subtask;
  }
  EXPECT_EQ((*nodes)[0], 0);
  EXPECT_EQ((*nodes)[1], 0);
  EXPECT_EQ((*nodes)[2], 1);
  EXPECT_EQ((*nodes)[5], 2);
}

TEST(JobRunnerTest, ExchangeBetweenSingleSubtasksIsChained) {
  for (int parallelism : {1, 2}) {
    Configuration config;
    ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
    api::StreamExecutionEnvironment env(config);
    using Pair = std::pair<int64_t, int64_t>;
    env.FromSequence(1, 1000)
        .Map([](const int64_t& v) { return Pair{v % 3, v}; })
        .KeyBy([](const Pair& p) { return p.first; })
        .Sum<1>()
        .Discard();
    auto result = env.Execute("chaining");
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    // p=1: source -> map -> keyed sum -> sink in one task; p=2: two chains of two subtasks.
    EXPECT_EQ(result->tasks, parallelism == 1 ? 1 : 4);
  }
}

// Low-latency mode (buffer timeout 0) with producers much faster than the exchange: records
// that meet a full channel gather in the lane's batch instead of each becoming a pending segment,
// so the job never runs out of network buffers and delivers everything. The final per-key sums
// equal a direct computation.
class FinalSums final : public operators::SinkOperator<std::pair<int64_t, int64_t>> {
 public:
  explicit FinalSums(std::shared_ptr<std::map<int64_t, int64_t>> sums, std::shared_ptr<std::mutex> mutex)
      : sums_(std::move(sums)), mutex_(std::move(mutex)) {}
  void Collect(const std::pair<int64_t, int64_t>& value, Timestamp) override {
    std::lock_guard lock(*mutex_);
    (*sums_)[value.first] = value.second;  // a key's updates arrive in order from its subtask
  }

 private:
  std::shared_ptr<std::map<int64_t, int64_t>> sums_;
  std::shared_ptr<std::mutex> mutex_;
};

TEST(JobRunnerTest, LowLatencyModeUnderBackpressureDeliversEverything) {
  Configuration config;
  ASSERT_TRUE(config.Set("parallelism.default", "2").ok());
  ASSERT_TRUE(config.Set("execution.buffer-timeout", "0 ms").ok());
  api::StreamExecutionEnvironment env(config);
  using Pair = std::pair<int64_t, int64_t>;
  // Each source record fans out into 20 (as WordCount's lines into words), so one poll of the
  // source makes about 20 000 records at once.
  constexpr int64_t kCount = 40'000;
  constexpr int64_t kFanOut = 20;
  auto sums = std::make_shared<std::map<int64_t, int64_t>>();
  auto mutex = std::make_shared<std::mutex>();
  env.FromSequence(0, kCount - 1)
      .FlatMap([](const int64_t& v, operators::Collector<Pair>& out) {
        for (int64_t i = 0; i < kFanOut; ++i) out.Collect(Pair{(v * kFanOut + i) % 997, v * kFanOut + i});
      })
      .KeyBy([](const Pair& p) { return p.first; })
      .Sum<1>()
      .SinkTo("Sink: Final sums", [sums, mutex](int) { return std::make_unique<FinalSums>(sums, mutex); });
  auto result = env.Execute("low latency under backpressure");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::map<int64_t, int64_t> expected;
  for (int64_t v = 0; v < kCount * kFanOut; ++v) expected[v % 997] += v;
  EXPECT_EQ(*sums, expected);
}

}  // namespace
}  // namespace weir::runtime
