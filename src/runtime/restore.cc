#include "runtime/restore.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <system_error>
#include <thread>

#include "base/log.h"
#include "io/checkpoint_storage.h"
#include "runtime/checkpoint_coordinator.h"
#include "runtime/task_snapshot.h"
#include "state/state_table.h"

namespace weir::runtime {
namespace {

namespace fs = std::filesystem;

// Files of a checkpoint mapped and verified at once (see LoadedCheckpoint::Load).
constexpr size_t kLoadThreads = 4;

class Reader final : public state::RestoreReader {
 public:
  Reader(std::shared_ptr<const LoadedCheckpoint> checkpoint, const OperatorState* op, int subtask,
         int parallelism)
      : checkpoint_(std::move(checkpoint)), op_(op), subtask_(subtask) {
    const int max_parallelism = checkpoint_->manifest().max_parallelism;
    key_groups_ = state::KeyGroupRangeForOperatorIndex(max_parallelism, parallelism, subtask);
    same_parallelism_ = op_ != nullptr && op_->parallelism == parallelism;
    if (op_ == nullptr) return;
    for (const SubtaskState& old : op_->subtasks) {
      const bool overlaps = old.key_group_start <= key_groups_.end && key_groups_.start <= old.key_group_end;
      if (overlaps) overlapping_.push_back(&old);
    }
  }

  int64_t checkpoint_id() const override { return checkpoint_->manifest().checkpoint_id; }
  state::KeyGroupRange key_groups() const override { return key_groups_; }
  int old_parallelism() const override { return op_ != nullptr ? op_->parallelism : 0; }

  Status RestoreTable(std::string_view name, state::StateTable& table) override {
    std::vector<state::RestorePiece> pieces;
    for (const SubtaskState* old : overlapping_) {
      for (const TableRef& ref : old->tables) {
        if (ref.name != name) continue;
        for (const PieceRef& piece : ref.pieces) {
          pieces.push_back({piece.id, static_cast<state::TablePiece::Kind>(piece.kind),
                            checkpoint_->Chunk(piece.chunk)});
        }
      }
    }
    if (pieces.empty()) return Status::Ok();
    return table.Restore(pieces, key_groups_)
        .WithContext(fmt::format("restoring state '{}' of '{}' from {}", name, op_->name,
                                 checkpoint_->directory()));
  }

  std::vector<std::string> TableNames(std::string_view prefix) const override {
    std::vector<std::string> names;
    for (const SubtaskState* old : overlapping_) {
      for (const TableRef& ref : old->tables) {
        if (ref.name.compare(0, prefix.size(), prefix) == 0) names.push_back(ref.name);
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  Status ForEachKeyedRecord(std::string_view name,
                            const std::function<Status(int, std::string_view)>& visit) override {
    for (const SubtaskState* old : overlapping_) {
      for (const NamedChunk& chunk : old->keyed_records) {
        if (chunk.name != name) continue;
        std::span<const std::byte> bytes = checkpoint_->Chunk(chunk.chunk);
        RETURN_IF_ERROR(ForEachSerializedKeyedRecord(
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
            fmt::format("{}: keyed state '{}' of '{}'", checkpoint_->directory(), name, op_->name),
            [&](int key_group, std::string_view record) {
              return key_groups_.Contains(key_group) ? visit(key_group, record) : Status::Ok();
            }));
      }
    }
    return Status::Ok();
  }

  std::vector<std::string> Blobs(std::string_view name) const override {
    std::vector<std::string> blobs;
    if (op_ == nullptr) return blobs;
    for (const SubtaskState& old : op_->subtasks) {
      if (same_parallelism_ && old.index != subtask_) continue;
      for (const NamedChunk& chunk : old.blobs) {
        if (chunk.name != name) continue;
        std::span<const std::byte> bytes = checkpoint_->Chunk(chunk.chunk);
        blobs.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      }
    }
    return blobs;
  }

 private:
  std::shared_ptr<const LoadedCheckpoint> checkpoint_;
  const OperatorState* op_;
  int subtask_;
  state::KeyGroupRange key_groups_;
  bool same_parallelism_ = false;
  std::vector<const SubtaskState*> overlapping_;
};

}  // namespace

Result<std::shared_ptr<const LoadedCheckpoint>> LoadedCheckpoint::Load(const std::string& path) {
  std::error_code error;
  fs::path dir(path);
  if (dir.filename() == "_metadata") dir = dir.parent_path();
  if (!fs::exists(dir, error)) return NotFound("checkpoint '{}' does not exist", path);
  ASSIGN_OR_RETURN(std::string text, io::CheckpointStorage::ReadMetadata(dir.string()));
  auto loaded = std::make_shared<LoadedCheckpoint>();
  loaded->directory_ = dir.string();
  ASSIGN_OR_RETURN(loaded->manifest_, ParseManifest(text, (dir / "_metadata").string()));
  // The files are mapped and verified up to kLoadThreads at a time, each populated by its own
  // thread: reading a file in costs the pages of the page cache it fills, which the kernel (and,
  // on a VM, the host) must supply, and that work runs in parallel. Every file is verified; the
  // error reported is that of the first bad file in manifest order, so it does not depend on
  // timing.
  const std::vector<ManifestFile>& files = loaded->manifest_.files;
  std::vector<Result<io::VerifiedFileBytes>> results;
  results.reserve(files.size());
  for (size_t i = 0; i < files.size(); ++i) results.emplace_back(Internal("file {} not loaded", i));
  std::atomic<size_t> next{0};
  auto load_files = [&] {
    for (size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      const std::string file_path = (dir / files[i].name).lexically_normal().string();
      results[i] = io::CheckpointStorage::MapVerifiedFile(file_path, files[i].size, files[i].xxh3);
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (size_t t = 1; t < std::min(kLoadThreads, files.size()); ++t) {
      try {
        helpers.emplace_back(load_files);
      } catch (const std::system_error&) {
        break;  // fewer threads: this one loads what the others do not
      }
    }
    load_files();
  }
  loaded->files_.reserve(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    RETURN_IF_ERROR(results[i].status().WithContext(fmt::format("checkpoint {}", loaded->directory_)));
    loaded->files_.push_back(std::move(results[i]).value());
    loaded->bytes_ += files[i].size;
  }
  return std::shared_ptr<const LoadedCheckpoint>(std::move(loaded));
}

std::span<const std::byte> LoadedCheckpoint::Chunk(const ChunkRef& chunk) const {
  return files_[static_cast<size_t>(chunk.file)].bytes().subspan(static_cast<size_t>(chunk.offset),
                                                   static_cast<size_t>(chunk.length));
}

const OperatorState* LoadedCheckpoint::FindOperator(std::string_view uid) const {
  for (const OperatorState& op : manifest_.operators) {
    if (op.uid == uid) return &op;
  }
  return nullptr;
}

Result<std::shared_ptr<const LoadedCheckpoint>> LoadForRestore(const std::string& path_or_latest,
                                                               const std::string& checkpoints_dir,
                                                               const std::string& job_id) {
  if (path_or_latest != "latest") {
    const int64_t start = MonotonicNanos();
    ASSIGN_OR_RETURN(std::shared_ptr<const LoadedCheckpoint> loaded, LoadedCheckpoint::Load(path_or_latest));
    LogInfo("restoring from {} (checkpoint {}, {} bytes, read and verified in {:.3f} s)", loaded->directory(),
            loaded->manifest().checkpoint_id, loaded->bytes(), (MonotonicNanos() - start) / 1e9);
    return loaded;
  }
  if (checkpoints_dir.empty()) {
    return InvalidArgument("--restore latest needs state.checkpoints.dir (-D state.checkpoints.dir=<dir>)");
  }
  const std::string job_dir = (fs::path(checkpoints_dir) / job_id).string();
  std::error_code error;
  std::vector<int64_t> ids;
  if (fs::is_directory(job_dir, error)) {
    io::CheckpointStorage::Options options;
    options.root = checkpoints_dir;
    options.job_id = job_id;
    options.use_io_uring = false;
    ASSIGN_OR_RETURN(std::unique_ptr<io::CheckpointStorage> storage, io::CheckpointStorage::Open(options));
    ASSIGN_OR_RETURN(ids, storage->ListCompleted());
  }
  for (int64_t id : ids) {
    const std::string dir = (fs::path(job_dir) / fmt::format("chk-{}", id)).string();
    const int64_t start = MonotonicNanos();
    Result<std::shared_ptr<const LoadedCheckpoint>> loaded = LoadedCheckpoint::Load(dir);
    if (loaded.ok()) {
      LogInfo("restoring from the latest checkpoint {} ({} bytes, read and verified in {:.3f} s)", dir,
              (*loaded)->bytes(), (MonotonicNanos() - start) / 1e9);
      return loaded;
    }
    LogInfo("skipping checkpoint {}: {}", dir, loaded.status().ToString());
  }
  LogInfo("no complete checkpoint of this job under {}: starting from the beginning", job_dir);
  return std::shared_ptr<const LoadedCheckpoint>();
}

Status CheckRestorable(const LoadedCheckpoint& checkpoint, const JobGraph& graph) {
  const Manifest& manifest = checkpoint.manifest();
  if (manifest.max_parallelism != graph.max_parallelism) {
    return FailedPrecondition(
        "{} was taken with max parallelism {}, the job has {}: key groups would not match "
        "(set pipeline.max-parallelism to {})",
        checkpoint.directory(), manifest.max_parallelism, graph.max_parallelism, manifest.max_parallelism);
  }
  for (const OperatorState& op : manifest.operators) {
    bool has_state = false;
    for (const SubtaskState& subtask : op.subtasks) {
      has_state |= !subtask.tables.empty() || !subtask.keyed_records.empty() || !subtask.blobs.empty();
    }
    if (!has_state) continue;
    bool found = false;
    for (size_t v = 0; v < graph.vertices.size(); ++v) {
      found |= OperatorUidOf(graph, static_cast<int>(v)) == op.uid;
    }
    if (!found) {
      return FailedPrecondition("{} holds state of operator '{}' ({}), which this job does not have",
                                checkpoint.directory(), op.name, op.uid);
    }
  }
  return Status::Ok();
}

std::unique_ptr<state::RestoreReader> MakeRestoreReader(std::shared_ptr<const LoadedCheckpoint> checkpoint,
                                                        const std::string& uid, int subtask,
                                                        int parallelism) {
  const OperatorState* op = checkpoint->FindOperator(uid);
  return std::make_unique<Reader>(std::move(checkpoint), op, subtask, parallelism);
}

}  // namespace weir::runtime
