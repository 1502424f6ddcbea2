// End-to-end checkpointing through the public API: periodic checkpoints, a user function that
// throws, an in-process restart from the latest checkpoint, and the exactly-once file sink. The
// reference is computed in the test by a plain loop over the input: the committed output must hold
// every running sum exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/stream_execution_environment.h"
#include "io/checkpoint_storage.h"
#include "runtime/checkpoint_coordinator.h"
#include "runtime/manifest.h"

namespace weir {
namespace {

namespace fs = std::filesystem;
using Record = std::pair<int64_t, int64_t>;

constexpr int64_t kRecords = 200'000;
constexpr int64_t kKeys = 997;

Record MakeRecord(int64_t i) { return {(i * 7919) % kKeys, i % 13}; }

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            fmt::format("weir-checkpoint-test-{}-{}", ::getpid(), counter_++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  std::string operator/(std::string_view name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Visible (committed) part files' lines, part files in (subtask, n) order.
std::vector<std::string> CommittedLines(const std::string& dir) {
  std::vector<std::pair<std::pair<int, int>, fs::path>> parts;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("part-", 0) != 0) continue;
    int subtask = 0;
    int n = 0;
    EXPECT_EQ(std::sscanf(name.c_str(), "part-%d-%d", &subtask, &n), 2) << name;
    parts.push_back({{subtask, n}, entry.path()});
  }
  std::sort(parts.begin(), parts.end());
  std::vector<std::string> lines;
  for (const auto& [order, path] : parts) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  return lines;
}

// Whether a checkpoint under `checkpoints` has completed (a chk-<n>/_metadata exists).
bool AnyCheckpointCompleted(const std::string& checkpoints) {
  std::error_code error;
  if (!fs::exists(checkpoints, error)) return false;
  for (const auto& job : fs::directory_iterator(checkpoints, error)) {
    for (const auto& chk : fs::directory_iterator(job.path(), error)) {
      if (fs::exists(chk.path() / "_metadata", error)) return true;
    }
  }
  return false;
}

// A map that throws once: at the first record numbered >= *fail_at (counted across attempts and
// subtasks) seen after a checkpoint completed, so the restart always restores one.
auto FailOnceAfterCheckpoint(std::atomic<int64_t>* fail_at, std::string checkpoints) {
  return [fail_at, checkpoints, seen = std::make_shared<std::atomic<int64_t>>(0)](const Record& r) {
    const int64_t index = seen->fetch_add(1);
    int64_t expected = fail_at->load();
    if (expected >= 0 && index >= expected && index % 1024 == 0 && AnyCheckpointCompleted(checkpoints) &&
        fail_at->compare_exchange_strong(expected, -1)) {
      throw std::runtime_error("injected failure");
    }
    return r;
  };
}

// The running sum per key after each record, in input order: the reference.
std::vector<std::string> ReferenceLines() {
  std::map<int64_t, int64_t> sums;
  std::vector<std::string> lines;
  for (int64_t i = 0; i < kRecords; ++i) {
    const Record r = MakeRecord(i);
    sums[r.first] += r.second;
    lines.push_back(fmt::format("{},{}", r.first, sums[r.first]));
  }
  return lines;
}

Configuration CheckpointConfig(const TempDir& dir, int parallelism) {
  Configuration config;
  EXPECT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
  EXPECT_TRUE(config.Set("taskmanager.numberOfTaskSlots", "2").ok());
  EXPECT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  EXPECT_TRUE(config.Set("taskmanager.memory.managed.size", "64mb").ok());
  EXPECT_TRUE(config.Set("execution.checkpointing.interval", "20 ms").ok());
  EXPECT_TRUE(config.Set("state.checkpoints.dir", dir / "checkpoints").ok());
  EXPECT_TRUE(config.Set("state.checkpoints.num-retained", "2").ok());
  EXPECT_TRUE(config.Set("restart-strategy.type", "fixed-delay").ok());
  EXPECT_TRUE(config.Set("restart-strategy.fixed-delay.attempts", "3").ok());
  EXPECT_TRUE(config.Set("restart-strategy.fixed-delay.delay", "10 ms").ok());
  return config;
}

// Builds: paced generator -> map (throws once at `fail_at`) -> keyBy -> running sum -> files.
void BuildJob(api::StreamExecutionEnvironment& env, const std::string& out, std::atomic<int64_t>* fail_at,
              const std::string& checkpoints) {
  // Source and map at parallelism 1, so each key's records reach its sum in input order (the
  // reference's order) at any parallelism of the keyed part.
  env.FromGenerator(kRecords, [](int64_t i) { return MakeRecord(i); }, 100'000.0)
      .SetParallelism(1)
      .Map(FailOnceAfterCheckpoint(fail_at, checkpoints))
      .SetParallelism(1)
      .KeyBy([](const Record& r) { return r.first; })
      .Sum<1>()
      .SinkToFiles(out, [](std::string& line, const Record& r) { fmt::format_to(std::back_inserter(line), "{},{}", r.first, r.second); });
}

class CheckpointTest : public ::testing::TestWithParam<int> {};

TEST_P(CheckpointTest, UserFunctionFailureRestartsFromLatestCheckpointExactlyOnce) {
  TempDir dir;
  const int parallelism = GetParam();
  api::StreamExecutionEnvironment env(CheckpointConfig(dir, parallelism));
  std::atomic<int64_t> fail_at{kRecords * 6 / 10};
  BuildJob(env, dir / "out", &fail_at, dir / "checkpoints");
  Result<api::JobResult> job = env.Execute("checkpointed running sum");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(fail_at.load(), -1) << "the injected failure never happened";
  EXPECT_EQ(job->restarts, 1);
  EXPECT_GT(job->checkpoints, 2);

  std::vector<std::string> expected = ReferenceLines();
  std::vector<std::string> actual = CommittedLines(dir / "out");
  if (parallelism == 1) {
    // One subtask: the committed output is the reference, in order, nothing lost or repeated.
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_TRUE(actual == expected);
  } else {
    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_TRUE(actual == expected);
  }
  // No hidden leftovers: every in-progress or pending file was committed or removed.
  for (const auto& entry : fs::directory_iterator(dir / "out")) {
    EXPECT_NE(entry.path().filename().string().front(), '.') << entry.path();
  }
}

INSTANTIATE_TEST_SUITE_P(Parallelism, CheckpointTest, ::testing::Values(1, 2));

TEST(CheckpointLayoutTest, CompletedCheckpointsAreRetainedAndVerify) {
  TempDir dir;
  api::StreamExecutionEnvironment env(CheckpointConfig(dir, 1));
  std::atomic<int64_t> no_failure{-1};
  BuildJob(env, dir / "out", &no_failure, dir / "checkpoints");
  Result<api::JobResult> job = env.Execute("retained checkpoints");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_GT(job->checkpoints, 2);
  // <dir>/<job-id>/chk-<n>/_metadata: at most num-retained (2) complete ones are left, each
  // verifying, its state naming the keyed operator.
  std::vector<fs::path> job_dirs;
  for (const auto& entry : fs::directory_iterator(dir / "checkpoints")) job_dirs.push_back(entry.path());
  ASSERT_EQ(job_dirs.size(), 1u);
  int complete = 0;
  for (const auto& entry : fs::directory_iterator(job_dirs[0])) {
    if (!fs::exists(entry.path() / "_metadata")) continue;
    ++complete;
    Result<std::string> text = io::CheckpointStorage::ReadMetadata(entry.path().string());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    Result<runtime::Manifest> manifest = runtime::ParseManifest(*text, entry.path().string());
    ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
    bool has_table = false;
    for (const runtime::OperatorState& op : manifest->operators) {
      for (const runtime::SubtaskState& subtask : op.subtasks) has_table |= !subtask.tables.empty();
    }
    EXPECT_TRUE(has_table);
    for (const runtime::ManifestFile& file : manifest->files) {
      EXPECT_TRUE(io::CheckpointStorage::VerifyFile((entry.path() / file.name).lexically_normal().string(),
                                                    file.size, file.xxh3)
                      .ok())
          << file.name;
    }
  }
  EXPECT_GE(complete, 1);
  EXPECT_LE(complete, 2);
}

// Two source subtasks feeding two keyed subtasks: every sum task aligns barriers from two inputs.
// Keys are disjoint between the halves of the sequence (each source subtask reads one half), so a
// key's records still arrive in sequence order and the reference is exact.
Record TwoSourceRecord(int64_t i) {
  return {(i < kRecords / 2 ? 0 : 5000) + (i * 7919) % kKeys, i % 13};
}

std::vector<std::string> TwoSourceReference() {
  std::map<int64_t, int64_t> sums;
  std::vector<std::string> lines;
  for (int64_t i = 0; i < kRecords; ++i) {
    const Record r = TwoSourceRecord(i);
    sums[r.first] += r.second;
    lines.push_back(fmt::format("{},{}", r.first, sums[r.first]));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

void BuildTwoSourceJob(api::StreamExecutionEnvironment& env, const std::string& out,
                       std::atomic<int64_t>* fail_at, const std::string& checkpoints) {
  env.FromGenerator(kRecords, [](int64_t i) { return TwoSourceRecord(i); }, 100'000.0)
      .SetParallelism(2)
      .Map(FailOnceAfterCheckpoint(fail_at, checkpoints))
      .SetParallelism(2)
      .KeyBy([](const Record& r) { return r.first; })
      .Sum<1>()
      .SinkToFiles(out, [](std::string& line, const Record& r) { fmt::format_to(std::back_inserter(line), "{},{}", r.first, r.second); });
}

TEST(CheckpointAlignmentTest, ExactlyOnceAlignsBarriersOfSeveralInputs) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 2);
  api::StreamExecutionEnvironment env(config);
  std::atomic<int64_t> fail_at{kRecords / 3};
  BuildTwoSourceJob(env, dir / "out", &fail_at, dir / "checkpoints");
  Result<api::JobResult> job = env.Execute("aligned running sum");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(fail_at.load(), -1);
  EXPECT_EQ(job->restarts, 1);
  std::vector<std::string> actual = CommittedLines(dir / "out");
  std::sort(actual.begin(), actual.end());
  std::vector<std::string> expected = TwoSourceReference();
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected);
}

TEST(CheckpointAlignmentTest, AtLeastOnceLosesNothing) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 2);
  ASSERT_TRUE(config.Set("execution.checkpointing.mode", "AT_LEAST_ONCE").ok());
  api::StreamExecutionEnvironment env(config);
  std::atomic<int64_t> fail_at{kRecords / 3};
  BuildTwoSourceJob(env, dir / "out", &fail_at, dir / "checkpoints");
  Result<api::JobResult> job = env.Execute("unaligned running sum");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->restarts, 1);
  // Without alignment a restore may replay records whose effect is already in the state, so sums
  // may differ from the exactly-once ones; what must hold is that each key's final sum is at least
  // the true total and that every key appears.
  std::map<int64_t, int64_t> totals;
  for (int64_t i = 0; i < kRecords; ++i) totals[TwoSourceRecord(i).first] += TwoSourceRecord(i).second;
  std::map<int64_t, int64_t> final_sums;
  for (const std::string& line : CommittedLines(dir / "out")) {
    int64_t key = 0;
    int64_t sum = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%ld,%ld", &key, &sum), 2) << line;
    final_sums[key] = std::max(final_sums[key], sum);
  }
  ASSERT_EQ(final_sums.size(), totals.size());
  for (const auto& [key, total] : totals) EXPECT_GE(final_sums[key], total) << key;
}

// Stop with savepoint at parallelism 2, resume at parallelism 3: key groups are redistributed and
// the combined committed output is exactly the reference.
TEST(SavepointTest, StopWithSavepointThenRestoreAtAnotherParallelism) {
  TempDir dir;
  std::string savepoint;
  {
    Configuration config = CheckpointConfig(dir, 2);
    api::StreamExecutionEnvironment env(config);
    std::atomic<int64_t> no_failure{-1};
    BuildJob(env, dir / "out", &no_failure, dir / "checkpoints");
    std::thread stopper([&env] {
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      env.RequestStop();
    });
    Result<api::JobResult> job = env.Execute("checkpointed running sum");
    stopper.join();
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    ASSERT_FALSE(job->savepoint_path.empty()) << "the stop took no savepoint";
    savepoint = job->savepoint_path;
    EXPECT_TRUE(fs::exists(fs::path(savepoint) / "_metadata"));
    // Stopped early: not everything was committed yet.
    EXPECT_LT(CommittedLines(dir / "out").size(), static_cast<size_t>(kRecords));
  }
  {
    Configuration config = CheckpointConfig(dir, 3);
    ASSERT_TRUE(config.Set("execution.savepoint.path", savepoint).ok());
    api::StreamExecutionEnvironment env(config);
    std::atomic<int64_t> no_failure{-1};
    BuildJob(env, dir / "out", &no_failure, dir / "checkpoints");
    Result<api::JobResult> job = env.Execute("checkpointed running sum");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    EXPECT_EQ(job->restored_from, savepoint);
  }
  std::vector<std::string> expected = ReferenceLines();
  std::vector<std::string> actual = CommittedLines(dir / "out");
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected);
}

// Two failures, restarted with exponential-delay; then a job whose failures exceed its attempts.
TEST(RestartStrategyTest, ExponentialDelayRestartsTwiceAndStaysExactlyOnce) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 1);
  ASSERT_TRUE(config.Set("restart-strategy.type", "exponential-delay").ok());
  ASSERT_TRUE(config.Set("restart-strategy.exponential-delay.initial-backoff", "5 ms").ok());
  ASSERT_TRUE(config.Set("restart-strategy.exponential-delay.max-backoff", "40 ms").ok());
  api::StreamExecutionEnvironment env(config);
  std::atomic<int64_t> first{kRecords / 4};
  std::atomic<int64_t> second{kRecords / 2};
  const std::string checkpoints = dir / "checkpoints";
  env.FromGenerator(kRecords, [](int64_t i) { return MakeRecord(i); }, 100'000.0)
      .SetParallelism(1)
      .Map(FailOnceAfterCheckpoint(&first, checkpoints))
      .SetParallelism(1)
      .Map(FailOnceAfterCheckpoint(&second, checkpoints))
      .SetParallelism(1)
      .KeyBy([](const Record& r) { return r.first; })
      .Sum<1>()
      .SinkToFiles(dir / "out", [](std::string& line, const Record& r) {
        fmt::format_to(std::back_inserter(line), "{},{}", r.first, r.second);
      });
  Result<api::JobResult> job = env.Execute("twice restarted running sum");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(first.load(), -1);
  EXPECT_EQ(second.load(), -1);
  EXPECT_EQ(job->restarts, 2);
  EXPECT_TRUE(CommittedLines(dir / "out") == ReferenceLines());
}

TEST(RestartStrategyTest, FailsOnceAttemptsAreExhausted) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 1);
  ASSERT_TRUE(config.Set("restart-strategy.fixed-delay.attempts", "1").ok());
  api::StreamExecutionEnvironment env(config);
  env.FromGenerator(kRecords, [](int64_t i) { return MakeRecord(i); }, 1'000'000.0)
      .Map([](const Record& r) -> Record {
        if (r.first == 5) throw std::runtime_error("always fails on key 5");
        return r;
      })
      .SinkToFiles(dir / "out", [](std::string& line, const Record& r) {
        fmt::format_to(std::back_inserter(line), "{},{}", r.first, r.second);
      });
  Result<api::JobResult> job = env.Execute("always failing");
  ASSERT_FALSE(job.ok());
  const std::string message = job.status().ToString();
  EXPECT_NE(message.find("always fails on key 5"), std::string::npos) << message;
  EXPECT_NE(message.find("after 1 restart(s)"), std::string::npos) << message;
}

// Event time end to end: a source with a watermark strategy (its position is checkpointed through
// the watermark wrapper), tumbling event-time windows summed per key, a failure and a restore from
// the real StateTable snapshots. Reference: the sum of each (key, 50 ms window) by a plain loop.
TEST(CheckpointWindowTest, TumblingEventTimeWindowsRestoreExactlyOnce) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 2);
  api::StreamExecutionEnvironment env(config);
  std::atomic<int64_t> fail_at{kRecords / 2};
  const std::string checkpoints = dir / "checkpoints";
  // Record i: key (i * 7919) % 997 and event time i ms; its value becomes i % 13 after the
  // timestamp is taken, so each 1 000 ms window sums 1 000 consecutive records.
  auto strategy = api::WatermarkStrategy<Record>::ForMonotonousTimestamps().WithTimestampAssigner(
      [](const Record& r, Timestamp) { return r.second; });
  env.FromGenerator(kRecords, [](int64_t i) { return Record{(i * 7919) % kKeys, i}; }, strategy, 100'000.0)
      .SetParallelism(1)
      .Map(FailOnceAfterCheckpoint(&fail_at, checkpoints))
      .SetParallelism(1)
      .Map([](const Record& r) { return Record{r.first, r.second % 13}; })
      .SetParallelism(1)
      .KeyBy([](const Record& r) { return r.first; })
      .Window(api::TumblingEventTimeWindows::Of(std::chrono::milliseconds(1000)))
      .Sum<1>()
      .SinkToFiles(dir / "out", [](std::string& line, const Record& r) {
        fmt::format_to(std::back_inserter(line), "{},{}", r.first, r.second);
      });
  Result<api::JobResult> job = env.Execute("windowed sum");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(fail_at.load(), -1);
  EXPECT_EQ(job->restarts, 1);
  // The timestamp is the record's index (ms), so a 1 000 ms window holds 1 000 consecutive records.
  std::map<std::pair<int64_t, int64_t>, int64_t> sums;  // (key, window) -> sum
  for (int64_t i = 0; i < kRecords; ++i) sums[{(i * 7919) % kKeys, i / 1000}] += i % 13;
  std::vector<std::string> expected;
  for (const auto& [key_window, sum] : sums) expected.push_back(fmt::format("{},{}", key_window.first, sum));
  std::vector<std::string> actual = CommittedLines(dir / "out");
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected);
}

TEST(RestoreTest, ExplicitPathThatIsNotACheckpointFailsClearly) {
  TempDir dir;
  Configuration config = CheckpointConfig(dir, 1);
  ASSERT_TRUE(config.Set("execution.savepoint.path", dir / "nothing-here").ok());
  api::StreamExecutionEnvironment env(config);
  std::atomic<int64_t> no_failure{-1};
  BuildJob(env, dir / "out", &no_failure, dir / "checkpoints");
  Result<api::JobResult> job = env.Execute("checkpointed running sum");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.status().ToString().find("nothing-here"), std::string::npos) << job.status().ToString();
}

}  // namespace
}  // namespace weir
