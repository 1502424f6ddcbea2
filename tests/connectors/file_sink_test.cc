// FileSink's two-phase commit driven directly through its checkpoint hooks: what is visible after
// each step is compared with the records the test itself wrote (a counter loop), as a multiset so
// a duplicated or lost line shows.
#include "connectors/file_sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/stream_execution_environment.h"
#include "checkpoint_test_util.h"

namespace weir::connectors {
namespace {

namespace fs = std::filesystem;
using testing::MemoryRestoreReader;
using testing::MemorySnapshotWriter;
using testing::SubtaskBlobs;

struct NumberFormat {
  void operator()(std::string& out, const int64_t& value) const { out += fmt::format("record-{:08}", value); }
};
using Sink = FileSink<int64_t, NumberFormat>;

std::string Line(int64_t value) { return fmt::format("record-{:08}", value); }

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("weir-file-sink-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One subtask's sink, opened; `contexts_` keeps its context alive.
  std::unique_ptr<Sink> OpenSink(int subtask, int parallelism, int64_t rolling_bytes = PartFileWriter::kDefaultRollingBytes) {
    auto context = std::make_unique<operators::OperatorContext>();
    context->task_name = fmt::format("Sink: File Sink ({}/{})", subtask + 1, parallelism);
    context->subtask_index = subtask;
    context->parallelism = parallelism;
    auto sink = std::make_unique<Sink>(dir_.string(), NumberFormat(), rolling_bytes);
    Status status = sink->Open(context.get());
    EXPECT_TRUE(status.ok()) << status.ToString();
    contexts_.push_back(std::move(context));
    return sink;
  }

  static void Write(Sink& sink, int64_t from, int64_t to) {
    for (int64_t v = from; v < to; ++v) sink.Collect(v, kMinTimestamp);
  }

  static SubtaskBlobs Snapshot(Sink& sink, int64_t checkpoint_id) {
    MemorySnapshotWriter writer(checkpoint_id);
    Status status = sink.SnapshotState(writer);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return writer.blobs();
  }

  static void Restore(Sink& sink, int64_t checkpoint_id, std::vector<SubtaskBlobs> old, int subtask, int parallelism) {
    MemoryRestoreReader reader(checkpoint_id, std::move(old), subtask, parallelism);
    Status status = sink.RestoreState(reader);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // Every line of every visible file, and the names of visible and hidden files.
  std::multiset<std::string> VisibleLines() const {
    std::multiset<std::string> lines;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(".")) continue;
      std::ifstream in(entry.path());
      for (std::string line; std::getline(in, line);) lines.insert(line);
    }
    return lines;
  }
  std::vector<std::string> Names(bool hidden) const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(".") == hidden) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static std::multiset<std::string> Lines(int64_t from, int64_t to, int64_t step = 1, int64_t offset = 0) {
    std::multiset<std::string> lines;
    for (int64_t v = from; v < to; ++v) {
      if (v % step == offset) lines.insert(Line(v));
    }
    return lines;
  }
  static std::multiset<std::string> Union(std::multiset<std::string> a, const std::multiset<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<operators::OperatorContext>> contexts_;
};

TEST_F(FileSinkTest, CompletedCheckpointMakesExactlyItsLinesVisible) {
  std::unique_ptr<Sink> sink = OpenSink(0, 1);
  Write(*sink, 0, 1000);
  Snapshot(*sink, 1);
  Write(*sink, 1000, 2000);
  sink->Flush();
  EXPECT_TRUE(VisibleLines().empty()) << "nothing is visible before the checkpoint completes";
  sink->NotifyCheckpointComplete(1);
  EXPECT_EQ(VisibleLines(), Lines(0, 1000));
  EXPECT_EQ(Names(false), std::vector<std::string>{"part-0-0"});
  EXPECT_EQ(Names(true), std::vector<std::string>{".part-0-1.inprogress"});

  Snapshot(*sink, 2);
  Write(*sink, 2000, 2500);
  sink->NotifyCheckpointAborted(2);  // its pending file waits for a later completion
  Snapshot(*sink, 3);
  EXPECT_EQ(VisibleLines(), Lines(0, 1000));
  sink->NotifyCheckpointComplete(3);  // covers checkpoint 2 too
  EXPECT_EQ(VisibleLines(), Lines(0, 2500));
  Write(*sink, 2500, 3000);
  sink->EndInput();
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 3000));
  EXPECT_TRUE(Names(true).empty());
  EXPECT_EQ(Names(false), (std::vector<std::string>{"part-0-0", "part-0-1", "part-0-2", "part-0-3"}));
}

TEST_F(FileSinkTest, BoundedJobWithoutCheckpointsCommitsEverythingAndRollsBySize) {
  std::unique_ptr<Sink> sink = OpenSink(0, 1, /*rolling_bytes=*/4096);
  Write(*sink, 0, 5000);  // 16 bytes per line: about 20 part files
  sink->EndInput();
  EXPECT_TRUE(VisibleLines().empty());
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 5000));
  EXPECT_TRUE(Names(true).empty());
  const std::vector<std::string> names = Names(false);
  EXPECT_GE(names.size(), 5000u * 16 / (4096 + 16));
  for (const std::string& name : names) {
    // A part file is closed once it holds the rolling size: never more than one flush beyond it.
    EXPECT_LT(fs::file_size(dir_ / name), 2 * 4096u) << name;
  }
  // Part numbers are consecutive from 0.
  for (size_t n = 0; n < names.size(); ++n) {
    EXPECT_TRUE(std::find(names.begin(), names.end(), fmt::format("part-0-{}", n)) != names.end()) << n;
  }
}

TEST_F(FileSinkTest, FreshJobRemovesLeftoversOfItsSubtaskOnly) {
  fs::create_directories(dir_);
  for (const char* name : {".part-0-0.inprogress", ".part-0-7.pending", ".part-1-0.inprogress"}) {
    std::ofstream(dir_ / name) << "stale\n";
  }
  std::unique_ptr<Sink> sink = OpenSink(0, 2);
  Write(*sink, 0, 100);
  sink->EndInput();
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 100));
  // Subtask 1's names belong to another subtask of the job, which cleans them itself.
  EXPECT_EQ(Names(true), std::vector<std::string>{".part-1-0.inprogress"});
}

TEST_F(FileSinkTest, CrashBeforeNotifyIsRepairedByRestore) {
  // Rolling at 2 KiB makes several pending files per checkpoint, and unclaimed ones at the crash.
  SubtaskBlobs checkpoint2;
  {
    std::unique_ptr<Sink> sink = OpenSink(0, 1, 2048);
    Write(*sink, 0, 1000);
    Snapshot(*sink, 1);
    sink->NotifyCheckpointComplete(1);
    Write(*sink, 1000, 2000);
    checkpoint2 = Snapshot(*sink, 2);
    Write(*sink, 2000, 2700);
    sink->Flush();
    // The process dies here: no notification of checkpoint 2, no Finalize.
  }
  EXPECT_EQ(VisibleLines(), Lines(0, 1000));
  EXPECT_FALSE(Names(true).empty());

  // The job restarts from checkpoint 2: the source replays from record 2000.
  std::unique_ptr<Sink> sink = OpenSink(0, 1, 2048);
  Restore(*sink, 2, {checkpoint2}, 0, 1);
  EXPECT_EQ(VisibleLines(), Lines(0, 2000));
  EXPECT_TRUE(Names(true).empty()) << "uncommitted work after checkpoint 2 is deleted";
  const std::vector<std::string> committed = Names(false);
  Write(*sink, 2000, 3000);
  SubtaskBlobs checkpoint3 = Snapshot(*sink, 3);
  sink->NotifyCheckpointComplete(3);
  EXPECT_EQ(VisibleLines(), Lines(0, 3000));
  // No committed name was written again.
  for (const std::string& name : committed) {
    EXPECT_TRUE(std::find(Names(false).begin(), Names(false).end(), name) != Names(false).end());
  }
  Write(*sink, 3000, 3100);
  sink->Flush();
  sink.reset();  // crash after checkpoint 3 completed and was committed

  // Restoring checkpoint 3 again finds its files already committed: idempotent.
  sink = OpenSink(0, 1, 2048);
  Restore(*sink, 3, {checkpoint3}, 0, 1);
  EXPECT_EQ(VisibleLines(), Lines(0, 3000));
  EXPECT_TRUE(Names(true).empty());
  Write(*sink, 3000, 3500);
  sink->EndInput();
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 3500));
}

TEST_F(FileSinkTest, FailedJobKeepsClaimedPendingFilesForRestore) {
  SubtaskBlobs checkpoint1;
  {
    std::unique_ptr<Sink> sink = OpenSink(0, 1, 1024);
    Write(*sink, 0, 500);
    checkpoint1 = Snapshot(*sink, 1);
    Write(*sink, 500, 800);  // rolls: unclaimed pending files plus an in-progress one
    sink->Flush();
    ASSERT_TRUE(sink->Finalize(false).ok());
  }
  EXPECT_TRUE(VisibleLines().empty());
  for (const std::string& name : Names(true)) {
    EXPECT_TRUE(name.ends_with(".pending")) << name << " should have been removed";
  }
  std::unique_ptr<Sink> sink = OpenSink(0, 1, 1024);
  Restore(*sink, 1, {checkpoint1}, 0, 1);
  EXPECT_EQ(VisibleLines(), Lines(0, 500));
  EXPECT_TRUE(Names(true).empty());
}

TEST_F(FileSinkTest, RescaleTwoToOneCommitsBothOldSubtasks) {
  std::vector<SubtaskBlobs> checkpoint1(2);
  {
    std::unique_ptr<Sink> even = OpenSink(0, 2, 1024);
    std::unique_ptr<Sink> odd = OpenSink(1, 2, 1024);
    for (int64_t v = 0; v < 1000; ++v) (v % 2 == 0 ? *even : *odd).Collect(v, kMinTimestamp);
    checkpoint1[0] = Snapshot(*even, 1);
    checkpoint1[1] = Snapshot(*odd, 1);
    for (int64_t v = 1000; v < 1400; ++v) (v % 2 == 0 ? *even : *odd).Collect(v, kMinTimestamp);
    even->Flush();
    odd->Flush();
  }
  EXPECT_TRUE(VisibleLines().empty());
  std::unique_ptr<Sink> sink = OpenSink(0, 1, 1024);
  Restore(*sink, 1, checkpoint1, 0, 1);
  EXPECT_EQ(VisibleLines(), Lines(0, 1000));
  EXPECT_TRUE(Names(true).empty());
  Write(*sink, 1000, 2000);
  sink->EndInput();
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 2000));
}

TEST_F(FileSinkTest, RescaleOneToTwoCommitsOnceAndNeverReusesANumber) {
  SubtaskBlobs checkpoint1;
  {
    std::unique_ptr<Sink> sink = OpenSink(0, 1, 1024);
    Write(*sink, 0, 600);
    checkpoint1 = Snapshot(*sink, 1);
    Write(*sink, 600, 900);
    sink->Flush();
  }
  std::unique_ptr<Sink> first = OpenSink(0, 2, 1024);
  std::unique_ptr<Sink> second = OpenSink(1, 2, 1024);
  Restore(*first, 1, {checkpoint1}, 0, 2);
  Restore(*second, 1, {checkpoint1}, 1, 2);
  EXPECT_EQ(VisibleLines(), Lines(0, 600));
  EXPECT_TRUE(Names(true).empty());
  const std::vector<std::string> committed = Names(false);
  // Both continue numbering after the old subtasks' largest counter.
  EXPECT_EQ(first->parts().next_part(), second->parts().next_part());
  for (int64_t v = 600; v < 1500; ++v) (v % 2 == 0 ? *first : *second).Collect(v, kMinTimestamp);
  std::vector<SubtaskBlobs> checkpoint2 = {Snapshot(*first, 2), Snapshot(*second, 2)};
  first->NotifyCheckpointComplete(2);
  second->NotifyCheckpointComplete(2);
  EXPECT_EQ(VisibleLines(), Lines(0, 1500));
  const std::vector<std::string> now = Names(false);
  for (const std::string& name : committed) EXPECT_TRUE(std::find(now.begin(), now.end(), name) != now.end());
  first.reset();
  second.reset();

  // And back to one subtask: files of both are kept, nothing duplicated.
  std::unique_ptr<Sink> sink = OpenSink(0, 1, 1024);
  Restore(*sink, 2, checkpoint2, 0, 1);
  Write(*sink, 1500, 1600);
  ASSERT_TRUE(sink->Finalize(true).ok());
  EXPECT_EQ(VisibleLines(), Lines(0, 1600));
}

TEST_F(FileSinkTest, RestoreFailsClearlyOnMissingOrCorruptState) {
  SubtaskBlobs checkpoint1;
  {
    std::unique_ptr<Sink> sink = OpenSink(0, 1);
    Write(*sink, 0, 10);
    checkpoint1 = Snapshot(*sink, 1);
  }
  fs::remove(dir_ / ".part-0-0.pending");  // lost: neither pending nor committed
  {
    std::unique_ptr<Sink> sink = OpenSink(0, 1);
    MemoryRestoreReader reader(1, {checkpoint1}, 0, 1);
    Status status = sink->RestoreState(reader);
    EXPECT_EQ(status.code(), StatusCode::kDataLoss);
    EXPECT_NE(status.message().find("part-0-0"), std::string_view::npos) << status.ToString();
  }
  SubtaskBlobs corrupt = checkpoint1;
  corrupt.begin()->second.resize(corrupt.begin()->second.size() - 3);
  std::unique_ptr<Sink> sink = OpenSink(0, 1);
  MemoryRestoreReader reader(1, {corrupt}, 0, 1);
  Status status = sink->RestoreState(reader);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("Sink: File Sink"), std::string_view::npos) << status.ToString();
}

TEST_F(FileSinkTest, BadOutputDirectoryIsANamedError) {
  operators::OperatorContext context;
  context.task_name = "Sink: File Sink (1/1)";
  Sink missing_parent((dir_ / "no" / "such").string(), NumberFormat());
  Status status = missing_parent.Open(&context);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find((dir_ / "no" / "such").string()), std::string_view::npos) << status.ToString();

  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x\n";
  Sink not_a_directory((dir_ / "file").string(), NumberFormat());
  status = not_a_directory.Open(&context);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("not a directory"), std::string_view::npos) << status.ToString();
}

TEST_F(FileSinkTest, SinkToFilesThroughTheApiWritesEveryRecordOnce) {
  Configuration config;
  ASSERT_TRUE(config.Set("parallelism.default", "2").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.network.max", "16mb").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.managed.size", "16mb").ok());
  ASSERT_TRUE(config.Set("weir.worker.pin-cpus", "false").ok());
  api::StreamExecutionEnvironment env(config);
  env.FromGenerator(20000, [](int64_t index) { return index; })
      .SinkToFiles(dir_.string(), NumberFormat(), 64 * 1024);
  auto job = env.Execute("file sink");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(VisibleLines(), Lines(0, 20000));
  EXPECT_TRUE(Names(true).empty());
  bool subtask_files[2] = {false, false};
  for (const std::string& name : Names(false)) {
    ASSERT_TRUE(name.starts_with("part-0-") || name.starts_with("part-1-")) << name;
    subtask_files[name[5] - '0'] = true;
  }
  EXPECT_TRUE(subtask_files[0] && subtask_files[1]);
}

}  // namespace
}  // namespace weir::connectors
