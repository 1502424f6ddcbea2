// LoadedCheckpoint and the restore reader over a checkpoint written as the coordinator writes one:
// three incremental checkpoints of one state table, each writing its new pieces into its own data
// file and referencing the earlier files' pieces, so the newest one's tables are spread over three
// mapped files. Restored contents are compared with a std::map mirror of every write.
#include "runtime/restore.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "base/xxhash.h"
#include "io/checkpoint_storage.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "runtime/manifest.h"
#include "state/key_groups.h"
#include "state/state_table.h"

namespace weir::runtime {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 4096;
constexpr std::string_view kJobId = "job-1";
constexpr std::string_view kUid = "window-uid";
constexpr std::string_view kTable = "window-contents";

// (key group, key, namespace) -> value, as the test wrote them.
using Model = std::map<std::tuple<int, std::string, std::string>, std::string>;

std::unique_ptr<memory::SegmentPool> MakePool() {
  memory::SegmentPool::Options options;
  options.segment_size = kSegmentSize;
  options.segment_count = 8192;
  options.prefault = false;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return pool.ok() ? std::move(pool).value() : nullptr;
}

Model Contents(const state::StateTable& table) {
  Model contents;
  table.ForEach([&](int key_group, std::string_view key, std::string_view ns,
                    std::span<const std::byte> value) {
    contents[{key_group, std::string(key), std::string(ns)}] =
        std::string(reinterpret_cast<const char*>(value.data()), value.size());
  });
  return contents;
}

Model Filter(const Model& model, state::KeyGroupRange range) {
  Model filtered;
  for (const auto& [entry, value] : model) {
    if (range.Contains(std::get<0>(entry))) filtered.emplace(entry, value);
  }
  return filtered;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteWholeFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

// Writes checkpoints 1..3 of one table under a fresh root, as the coordinator does: every
// snapshot's new pieces go into chk-<n>/task-0.data, pieces written before are referenced where
// they were written, and each checkpoint's manifest lists every file it uses.
class LoadedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / fmt::format("weir-restore-test-{}", ::getpid());
    fs::remove_all(root_);
    io::CheckpointStorage::Options options;
    options.root = root_.string();
    options.job_id = std::string(kJobId);
    Result<std::unique_ptr<io::CheckpointStorage>> storage = io::CheckpointStorage::Open(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(storage).value();
    pool_ = MakePool();
    ASSERT_NE(pool_, nullptr);
    state::StateTable table(pool_.get(), &budget_, "writer");
    std::mt19937_64 random(42);
    Model model;
    for (int64_t id = 1; id <= 3; ++id) {
      Mutate(table, model, random, id == 1 ? 6000 : 2500);
      ASSERT_NO_FATAL_FAILURE(WriteCheckpoint(id, table));
      models_.push_back(model);
    }
  }
  void TearDown() override {
    std::error_code error;
    fs::remove_all(root_, error);
  }

  std::string CheckpointDir(int64_t id) const { return storage_->CheckpointDir(id); }
  const fs::path& root() const { return root_; }

  // Restores the table of subtask `subtask` of `parallelism` from `checkpoint`.
  Model Restore(std::shared_ptr<const LoadedCheckpoint> checkpoint, int subtask, int parallelism,
                state::KeyGroupRange* range = nullptr) {
    std::unique_ptr<state::RestoreReader> reader =
        MakeRestoreReader(std::move(checkpoint), std::string(kUid), subtask, parallelism);
    if (range != nullptr) *range = reader->key_groups();
    memory::MemoryBudget budget(int64_t{1} << 30);
    state::StateTable table(pool_.get(), &budget, "restored");
    const Status status = reader->RestoreTable(kTable, table);
    EXPECT_TRUE(status.ok()) << status;
    Model contents = Contents(table);
    EXPECT_EQ(contents.size(), table.size());
    // Every restored entry is found through the index too.
    for (const auto& [entry, value] : contents) {
      const std::string& key = std::get<1>(entry);
      const std::span<const std::byte> stored =
          table.Get(Hash64(key), std::get<0>(entry), key, std::get<2>(entry));
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(stored.data()), stored.size()), value);
    }
    return contents;
  }

  std::vector<Model> models_;  // the table's contents at checkpoints 1, 2, 3

 private:
  // Inserts, overwrites (same and other sizes) and removes keys, mirrored in `model`.
  void Mutate(state::StateTable& table, Model& model, std::mt19937_64& random, int operations) {
    const std::string namespaces[] = {"", "w-00001", std::string(8, 'n')};
    for (int i = 0; i < operations; ++i) {
      const std::string key = fmt::format("key-{}", random() % 4000);
      const std::string& ns = namespaces[random() % 3];
      const uint64_t hash = Hash64(key);
      const int key_group = state::KeyGroupForHash(hash, kMaxParallelism);
      if (random() % 5 == 0) {
        EXPECT_EQ(table.Remove(hash, key_group, key, ns), model.erase({key_group, key, ns}) == 1);
        continue;
      }
      std::string value(random() % 300, '\0');
      for (char& c : value) c = static_cast<char>(random());
      Result<std::span<std::byte>> stored =
          table.Put(hash, key_group, key, ns, std::as_bytes(std::span(value)));
      ASSERT_TRUE(stored.ok()) << stored.status();
      model[{key_group, key, ns}] = value;
    }
  }

  void WriteCheckpoint(int64_t id, state::StateTable& table) {
    std::shared_ptr<state::TableSnapshot> snapshot = table.Snapshot();
    ASSERT_TRUE(storage_->BeginCheckpoint(id).ok());
    std::vector<std::span<const std::byte>> chunks;
    std::vector<uint64_t> new_ids;
    for (const state::TablePiece& piece : snapshot->pieces()) {
      if (piece.written_before) continue;
      chunks.push_back(piece.bytes);
      new_ids.push_back(piece.id);
    }
    std::vector<io::WrittenChunk> written;
    Result<io::CheckpointFile> file = storage_->WriteDataFile(id, "task-0.data", chunks, &written);
    ASSERT_TRUE(file.ok()) << file.status();
    files_.push_back(*file);
    for (size_t i = 0; i < new_ids.size(); ++i) {
      written_[new_ids[i]] = {static_cast<int>(files_.size() - 1), written[i].offset,
                              static_cast<int64_t>(chunks[i].size()), written[i].xxh3};
    }
    Manifest manifest;
    manifest.job_name = "restore test";
    manifest.job_id = std::string(kJobId);
    manifest.checkpoint_id = id;
    manifest.max_parallelism = kMaxParallelism;
    // Every file written so far, named relative to this checkpoint's directory.
    for (const io::CheckpointFile& f : files_) manifest.files.push_back({"../" + f.name, f.size, f.xxh3});
    SubtaskState subtask;
    subtask.index = 0;
    subtask.key_group_start = 0;
    subtask.key_group_end = kMaxParallelism - 1;
    TableRef table_ref;
    table_ref.name = std::string(kTable);
    for (const state::TablePiece& piece : snapshot->pieces()) {
      ASSERT_TRUE(written_.contains(piece.id)) << piece.id;
      table_ref.pieces.push_back({piece.id, static_cast<int>(piece.kind), written_[piece.id]});
    }
    subtask.tables.push_back(std::move(table_ref));
    manifest.operators.push_back({std::string(kUid), "Window", 1, {std::move(subtask)}});
    ASSERT_TRUE(storage_->CommitCheckpoint(id, SerializeManifest(manifest)).ok());
  }

  fs::path root_;
  std::unique_ptr<io::CheckpointStorage> storage_;
  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{int64_t{1} << 30};
  std::vector<io::CheckpointFile> files_;
  std::map<uint64_t, ChunkRef> written_;  // piece id -> where it was written
};

TEST_F(LoadedCheckpointTest, MultiFileCheckpointRestoresTheTableAtEveryParallelism) {
  for (int64_t id = 1; id <= 3; ++id) {
    SCOPED_TRACE(fmt::format("checkpoint {}", id));
    Result<std::shared_ptr<const LoadedCheckpoint>> loaded = LoadedCheckpoint::Load(CheckpointDir(id));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ((*loaded)->manifest().files.size(), static_cast<size_t>(id));
    const Model& expected = models_[static_cast<size_t>(id - 1)];
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(Restore(*loaded, 0, 1), expected);
    // Rescaled to 3 subtasks: each restores its key groups, and together they restore everything.
    Model together;
    for (int subtask = 0; subtask < 3; ++subtask) {
      state::KeyGroupRange range;
      const Model part = Restore(*loaded, subtask, 3, &range);
      EXPECT_EQ(part, Filter(expected, range)) << "subtask " << subtask;
      together.insert(part.begin(), part.end());
    }
    EXPECT_EQ(together, expected);
  }
}

TEST_F(LoadedCheckpointTest, ACorruptOrTruncatedEarlierFileFailsTheLoadNamingIt) {
  // Checkpoint 3 reads chk-1's and chk-2's files too.
  const std::string earlier = CheckpointDir(2) + "/task-0.data";
  const std::string pristine = ReadWholeFile(earlier);
  std::string flipped = pristine;
  flipped[flipped.size() / 2] ^= 0x10;
  WriteWholeFile(earlier, flipped);
  Result<std::shared_ptr<const LoadedCheckpoint>> loaded = LoadedCheckpoint::Load(CheckpointDir(3));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss) << loaded.status();
  EXPECT_NE(loaded.status().message().find("chk-2/task-0.data"), std::string_view::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("checksum mismatch"), std::string_view::npos) << loaded.status();

  WriteWholeFile(earlier, pristine.substr(0, pristine.size() - 1000));
  loaded = LoadedCheckpoint::Load(CheckpointDir(3));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("chk-2/task-0.data"), std::string_view::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("truncated"), std::string_view::npos) << loaded.status();

  fs::remove(earlier);
  loaded = LoadedCheckpoint::Load(CheckpointDir(3));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound) << loaded.status();
  EXPECT_NE(loaded.status().message().find("chk-2/task-0.data"), std::string_view::npos) << loaded.status();

  WriteWholeFile(earlier, pristine);
  loaded = LoadedCheckpoint::Load(CheckpointDir(3));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(Restore(*loaded, 0, 1), models_[2]);
}

TEST_F(LoadedCheckpointTest, LatestSkipsCheckpointsWithACorruptFileForTheNewestThatVerifies) {
  // chk-3's own file corrupt: checkpoint 2 is restored.
  const std::string newest = CheckpointDir(3) + "/task-0.data";
  std::string bytes = ReadWholeFile(newest);
  bytes[7] ^= 0x01;
  WriteWholeFile(newest, bytes);
  Result<std::shared_ptr<const LoadedCheckpoint>> loaded =
      LoadForRestore("latest", root().string(), std::string(kJobId));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(*loaded, nullptr);
  EXPECT_EQ((*loaded)->manifest().checkpoint_id, 2);
  EXPECT_EQ(Restore(*loaded, 0, 1), models_[1]);

  // chk-2's file corrupt too (chk-3 and chk-2 use it): checkpoint 1 is restored.
  const std::string middle = CheckpointDir(2) + "/task-0.data";
  bytes = ReadWholeFile(middle);
  bytes[bytes.size() - 30] ^= 0x01;  // in the data, just before the trailer
  WriteWholeFile(middle, bytes);
  loaded = LoadForRestore("latest", root().string(), std::string(kJobId));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(*loaded, nullptr);
  EXPECT_EQ((*loaded)->manifest().checkpoint_id, 1);
  EXPECT_EQ(Restore(*loaded, 0, 1), models_[0]);

  // An explicit path to the corrupt one fails, naming the file.
  loaded = LoadForRestore(CheckpointDir(3), root().string(), std::string(kJobId));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("task-0.data"), std::string_view::npos) << loaded.status();
}

}  // namespace
}  // namespace weir::runtime
