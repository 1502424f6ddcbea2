// Checkpoints and savepoints through the weir binary: stop with a savepoint (SIGTERM) and resume
// from it, fall back past corrupt checkpoints, fail clearly on a full or failing disk, and the
// errors of --restore. Every output is checked against WordCount's reference computed here from
// the input (the running count per word, in input order at parallelism 1).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "child_process.h"

namespace weir {
namespace {

namespace fs = std::filesystem;
using testing::CompletedCheckpoints;
using testing::PartFiles;
using testing::ReadPartFiles;
using testing::UnderSanitizer;
using testing::WeirChild;

class CheckpointCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weir-checkpoint-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    output_ = dir_ / "out";
    checkpoints_ = dir_ / "ck";
    fs::create_directories(output_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the input: `lines` lines of generated words, times 4 in Release (180000 lines are
  // about 6 MB, a run of 0.3 s on an idle machine: too short to stop or kill it mid-run), a
  // quarter under the sanitizers.
  void WriteInput(int lines) {
    lines = UnderSanitizer() ? lines / 4 : lines * 4;
    text_ = testing::GenerateWords(/*seed=*/99, lines);
    input_ = dir_ / "input.txt";
    std::ofstream(input_, std::ios::binary) << text_;
  }

  std::vector<std::string> Args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"-D", "execution.checkpointing.interval=50ms",
                                      "-D", "state.checkpoints.dir=" + checkpoints_.string(),
                                      // A checkpoint triggered as the tasks finish fails ("a task
                                      // finished before it took its part of the checkpoint"); with
                                      // Flink's default of 0 tolerated failures that fails the job.
                                      "-D", "execution.checkpointing.tolerable-failed-checkpoints=1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (const std::string& arg :
         {std::string("example"), std::string("WordCount"), std::string("--input"), input_.string(),
          std::string("--output"), output_.string()}) {
      args.push_back(arg);
    }
    return args;
  }

  // The committed output is exactly WordCount's reference, with no hidden file left.
  void ExpectOutputIsReference() {
    const PartFiles files = ReadPartFiles(output_);
    EXPECT_TRUE(files.hidden.empty()) << "hidden part file left: " << files.hidden.front();
    EXPECT_TRUE(files.other.empty()) << files.other.front();
    const std::vector<std::string> reference = testing::ReferenceWordCount(text_);
    EXPECT_EQ(files.lines.size(), reference.size());
    EXPECT_TRUE(files.lines == reference) << "the committed output differs from the reference";
  }

  // Starts the job and SIGKILLs it once `checkpoints` checkpoints are complete.
  void CrashAfterCheckpoints(size_t checkpoints, std::vector<std::string> extra = {}) {
    WeirChild child(Args(std::move(extra)), dir_);
    ASSERT_TRUE(child.started());
    while (!child.Poll() && CompletedCheckpoints(checkpoints_).size() < checkpoints) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(child.running()) << "the job finished before " << checkpoints
                                 << " checkpoints were complete; give it more input\n"
                                 << child.err();
    child.Signal(SIGKILL);
    ASSERT_EQ(child.Wait(), 128 + SIGKILL);
  }

  fs::path dir_;
  fs::path input_;
  fs::path output_;
  fs::path checkpoints_;
  std::string text_;
};

std::string FirstLineWith(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  if (at == std::string::npos) return "";
  const size_t end = text.find('\n', at);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// --- Stop with a savepoint (Flink's `flink stop`), then resume from it.

TEST_F(CheckpointCliTest, SigtermStopsWithASavepointAndRestoreFinishesTheJob) {
  WriteInput(180000);
  const fs::path savepoints = dir_ / "savepoints";
  WeirChild child(Args({"-D", "state.savepoints.dir=" + savepoints.string()}), dir_);
  ASSERT_TRUE(child.started());
  // Stop it mid-run: once its first checkpoint is complete it is surely reading the input.
  while (!child.Poll() && CompletedCheckpoints(checkpoints_).empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(child.running()) << "the job finished before it could be stopped\n" << child.err();
  child.Signal(SIGTERM);
  ASSERT_EQ(child.Wait(), 0) << child.err();
  const std::string err = child.err();
  const std::string marker = "stopped with a savepoint: ";
  const std::string line = FirstLineWith(err, marker);
  ASSERT_FALSE(line.empty()) << err;
  const fs::path savepoint = line.substr(marker.size());
  EXPECT_TRUE(fs::exists(savepoint / "_metadata")) << savepoint;
  EXPECT_EQ(savepoint.string().rfind(savepoints.string(), 0), 0u) << savepoint << " is not in state.savepoints.dir";
  // It stopped before the end: some, not all, of the output is committed.
  const size_t committed = ReadPartFiles(output_).lines.size();
  EXPECT_LT(committed, testing::ReferenceWordCount(text_).size());

  WeirChild resumed(Args({"--restore", savepoint.string()}), dir_);
  ASSERT_EQ(resumed.Wait(), 0) << resumed.err();
  EXPECT_NE(resumed.err().find("restoring from " + savepoint.string()), std::string::npos) << resumed.err();
  ExpectOutputIsReference();
}

// --- Corrupt checkpoints: --restore latest skips the newest when it is damaged and restores the one
// before; --restore of the damaged one fails naming the file.

enum class Damage { kFlipDataByte, kTruncateDataFile, kTruncateMetadata, kDeleteMetadata };

// Damages checkpoint directory `chk`; returns the file damaged.
fs::path Corrupt(const fs::path& chk, Damage damage) {
  fs::path data;
  for (const auto& entry : fs::directory_iterator(chk)) {
    if (entry.path().filename() != "_metadata" && entry.is_regular_file() && fs::file_size(entry.path()) > 24) {
      data = entry.path();
      break;
    }
  }
  const fs::path metadata = chk / "_metadata";
  switch (damage) {
    case Damage::kFlipDataByte: {
      if (data.empty()) return {};
      std::fstream file(data, std::ios::in | std::ios::out | std::ios::binary);
      const std::streamoff at = static_cast<std::streamoff>(fs::file_size(data) / 3);
      file.seekg(at);
      char byte = 0;
      file.read(&byte, 1);
      byte = static_cast<char>(byte ^ 0x10);
      file.seekp(at);
      file.write(&byte, 1);
      return data;
    }
    case Damage::kTruncateDataFile:
      if (data.empty()) return {};
      fs::resize_file(data, fs::file_size(data) / 2);
      return data;
    case Damage::kTruncateMetadata:
      fs::resize_file(metadata, fs::file_size(metadata) - 5);
      return metadata;
    case Damage::kDeleteMetadata:
      fs::remove(metadata);
      return metadata;
  }
  return {};
}

TEST_F(CheckpointCliTest, RestoreLatestSkipsACorruptNewestCheckpointAndRestoresThePreviousOne) {
  WriteInput(180000);
  const std::vector<std::string> retain = {"-D", "state.checkpoints.num-retained=3"};
  ASSERT_NO_FATAL_FAILURE(CrashAfterCheckpoints(3, retain));
  // Keep the crashed state (checkpoints and output directory, at the same paths: the job and its
  // part files are found by path) to damage it differently each time.
  const fs::path pristine = dir_ / "pristine";
  fs::create_directories(pristine);
  fs::copy(checkpoints_, pristine / "ck", fs::copy_options::recursive);
  fs::copy(output_, pristine / "out", fs::copy_options::recursive);

  for (Damage damage : {Damage::kFlipDataByte, Damage::kTruncateDataFile, Damage::kTruncateMetadata,
                        Damage::kDeleteMetadata}) {
    SCOPED_TRACE("damage " + std::to_string(static_cast<int>(damage)));
    fs::remove_all(checkpoints_);
    fs::remove_all(output_);
    fs::copy(pristine / "ck", checkpoints_, fs::copy_options::recursive);
    fs::copy(pristine / "out", output_, fs::copy_options::recursive);
    const std::vector<fs::path> completed = CompletedCheckpoints(checkpoints_);
    ASSERT_GE(completed.size(), 2u);
    const fs::path newest = completed[0];
    const fs::path previous = completed[1];
    const fs::path damaged = Corrupt(newest, damage);
    ASSERT_FALSE(damaged.empty()) << newest << " has no data file";

    if (damage != Damage::kDeleteMetadata) {
      // Restoring the damaged checkpoint by path fails, naming the file; no crash.
      WeirChild direct(Args({"--restore", newest.string()}), dir_);
      EXPECT_EQ(direct.Wait(), 1) << direct.err();
      EXPECT_NE(direct.err().find(damaged.string()), std::string::npos) << direct.err();
    }

    fs::remove_all(output_);  // as the crash left it, whatever the failed attempt did
    fs::copy(pristine / "out", output_, fs::copy_options::recursive);

    std::vector<std::string> args = Args(retain);
    args.push_back("--restore");
    args.push_back("latest");
    WeirChild restored(args, dir_);
    ASSERT_EQ(restored.Wait(), 0) << restored.err();
    const std::string err = restored.err();
    if (damage != Damage::kDeleteMetadata) {
      // A checkpoint without _metadata is merely incomplete: skipped silently. Any other damage is
      // reported.
      EXPECT_NE(err.find("skipping checkpoint " + newest.string()), std::string::npos) << err;
    }
    EXPECT_NE(err.find("restoring from the latest checkpoint " + previous.string() + " "), std::string::npos)
        << err;
    ExpectOutputIsReference();
  }
}

// --- A full or failing disk under the checkpoints.

TEST_F(CheckpointCliTest, FullDiskFailsTheJobWhenNoCheckpointFailureIsTolerated) {
  WriteInput(180000);
  WeirChild child(Args({"-D", "execution.checkpointing.tolerable-failed-checkpoints=0"}), dir_,
                  {"WEIR_IO_FAULT=enospc-after=4096"});
  const int code = child.Wait();
  const std::string err = child.err();
  EXPECT_EQ(code, 1) << err;
  EXPECT_NE(err.find("disk full while writing '" + checkpoints_.string()), std::string::npos) << err;
  EXPECT_NE(err.find("checkpoint"), std::string::npos) << err;
  EXPECT_TRUE(CompletedCheckpoints(checkpoints_).empty());
}

TEST_F(CheckpointCliTest, FailingWriteFailsTheJobNamingTheFile) {
  WriteInput(180000);
  WeirChild child(Args({"-D", "execution.checkpointing.tolerable-failed-checkpoints=0"}), dir_,
                  {"WEIR_IO_FAULT=eio-write=1"});
  const int code = child.Wait();
  const std::string err = child.err();
  EXPECT_EQ(code, 1) << err;
  EXPECT_NE(err.find("writing '" + checkpoints_.string()), std::string::npos) << err;
  EXPECT_NE(err.find("Input/output error"), std::string::npos) << err;
}

TEST_F(CheckpointCliTest, ToleratedCheckpointFailuresLeaveTheOutputRight) {
  WriteInput(180000);
  {
    // Every checkpoint fails (the disk is full from the start): the job still finishes.
    WeirChild child(Args({"-D", "execution.checkpointing.tolerable-failed-checkpoints=1000000"}), dir_,
                    {"WEIR_IO_FAULT=enospc-after=0"});
    ASSERT_EQ(child.Wait(), 0) << child.err();
    EXPECT_NE(child.err().find("disk full"), std::string::npos) << child.err();
    EXPECT_TRUE(CompletedCheckpoints(checkpoints_).empty());
    ExpectOutputIsReference();
  }
  {
    // Some checkpoints fail (the 2nd and 5th writes), the others complete.
    fs::remove_all(output_);
    fs::remove_all(checkpoints_);
    fs::create_directories(output_);
    WeirChild child(Args({"-D", "execution.checkpointing.tolerable-failed-checkpoints=1000000"}), dir_,
                    {"WEIR_IO_FAULT=eio-write=2,eio-fsync=5"});
    ASSERT_EQ(child.Wait(), 0) << child.err();
    EXPECT_NE(child.err().find("Input/output error"), std::string::npos) << child.err();
    ExpectOutputIsReference();
  }
}

// --- --restore without a checkpoint, or of a path that is not one.

TEST_F(CheckpointCliTest, RestoreLatestWithoutACheckpointStartsFromTheBeginning) {
  WriteInput(20000);
  std::vector<std::string> args = Args();
  args.push_back("--restore");
  args.push_back("latest");
  WeirChild child(args, dir_);
  ASSERT_EQ(child.Wait(), 0) << child.err();
  const std::string err = child.err();
  EXPECT_NE(err.find("no complete checkpoint"), std::string::npos) << err;
  EXPECT_NE(err.find("starting from the beginning"), std::string::npos) << err;
  ExpectOutputIsReference();
}

TEST_F(CheckpointCliTest, RestoreErrorsAreClear) {
  WriteInput(2000);
  {
    std::vector<std::string> args = Args();
    args.push_back("--restore");
    args.push_back("/nonexistent/chk-3");
    WeirChild child(args, dir_);
    EXPECT_EQ(child.Wait(), 1) << child.err();
    EXPECT_NE(child.err().find("/nonexistent/chk-3"), std::string::npos) << child.err();
    EXPECT_NE(child.err().find("does not exist"), std::string::npos) << child.err();
  }
  {
    // A directory that exists but is no checkpoint.
    std::vector<std::string> args = Args();
    args.push_back("--restore");
    args.push_back(dir_.string());
    WeirChild child(args, dir_);
    EXPECT_EQ(child.Wait(), 1) << child.err();
    EXPECT_NE(child.err().find("_metadata"), std::string::npos) << child.err();
  }
  {
    // latest needs to know where the checkpoints are.
    WeirChild child({"example", "WordCount", "--input", input_.string(), "--output", output_.string(),
                     "--restore", "latest"},
                    dir_);
    EXPECT_EQ(child.Wait(), 1) << child.err();
    EXPECT_NE(child.err().find("state.checkpoints.dir"), std::string::npos) << child.err();
  }
  {
    WeirChild child({"example", "WordCount", "--input", input_.string(), "--restore"}, dir_);
    EXPECT_NE(child.Wait(), 0);
    EXPECT_LT(child.exit_code(), 128) << child.err();
    EXPECT_NE(child.err().find("--restore needs"), std::string::npos) << child.err();
  }
}

}  // namespace
}  // namespace weir
