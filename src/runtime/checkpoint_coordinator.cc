#include "runtime/checkpoint_coordinator.h"

#include <algorithm>
#include <filesystem>

#include "base/clock.h"
#include "base/log.h"
#include "base/xxhash.h"

namespace weir::runtime {
namespace {

std::string Hex128(std::string_view bytes) {
  return fmt::format("{:016x}{:016x}", Hash64(bytes.data(), bytes.size(), 0x77656972),
                     Hash64(bytes.data(), bytes.size(), 0x6a6f6269));
}

// The prefix of checkpoint `id`'s own files in names relative to the job directory.
std::string OwnPrefix(int64_t id) { return fmt::format("chk-{}/", id); }

}  // namespace

std::string JobIdOf(const JobGraph& graph) {
  std::string identity = graph.name;
  identity.push_back('\0');
  for (size_t v = 0; v < graph.vertices.size(); ++v) {
    identity += fmt::format("v{}:{}:{}\n", v, graph.vertices[v].name, graph.vertices[v].is_source);
  }
  for (const JobEdge& edge : graph.edges) {
    identity += fmt::format("e{}>{}:{}:{}\n", edge.source, edge.target,
                            PartitioningName(edge.partitioning), edge.side_output);
  }
  return Hex128(identity);
}

std::string OperatorUidOf(const JobGraph& graph, int vertex) {
  return fmt::format("{}:{}", vertex, graph.vertices[static_cast<size_t>(vertex)].name);
}

Result<CheckpointOptions> CheckpointOptions::FromConfig(const Configuration& config) {
  CheckpointOptions options;
  options.interval_nanos = config.GetDurationNanos(options::kCheckpointingInterval);
  if (options.interval_nanos < 0) {
    return InvalidArgument("execution.checkpointing.interval must not be negative");
  }
  if (options.interval_nanos > 0 && options.interval_nanos < 10'000'000) {
    return InvalidArgument("execution.checkpointing.interval must be at least 10 ms (Flink's minimum), got {} ms",
                           options.interval_nanos / 1'000'000);
  }
  options.exactly_once = config.GetString(options::kCheckpointingMode) == "EXACTLY_ONCE";
  options.timeout_nanos = config.GetDurationNanos(options::kCheckpointingTimeout);
  if (options.timeout_nanos <= 0) {
    return InvalidArgument("execution.checkpointing.timeout must be positive");
  }
  options.min_pause_nanos = config.GetDurationNanos(options::kCheckpointingMinPause);
  if (options.min_pause_nanos < 0) {
    return InvalidArgument("execution.checkpointing.min-pause must not be negative");
  }
  const int64_t concurrent = config.GetInt(options::kCheckpointingMaxConcurrent);
  if (concurrent != 1) {
    return InvalidArgument(
        "execution.checkpointing.max-concurrent-checkpoints: weir takes one checkpoint at a time, got {}",
        concurrent);
  }
  const int64_t tolerable = config.GetInt(options::kCheckpointingTolerableFailures);
  if (tolerable < 0 || tolerable > (1 << 30)) {
    return InvalidArgument("execution.checkpointing.tolerable-failed-checkpoints must be >= 0, got {}",
                           tolerable);
  }
  options.tolerable_failures = static_cast<int>(tolerable);
  const int64_t retained = config.GetInt(options::kCheckpointsRetained);
  if (retained < 1 || retained > 10000) {
    return InvalidArgument("state.checkpoints.num-retained must be in [1, 10000], got {}", retained);
  }
  options.retained = static_cast<int>(retained);
  options.incremental = config.GetBool(options::kIncrementalCheckpoints);
  options.checkpoints_dir = config.GetString(options::kCheckpointsDir);
  options.savepoints_dir = config.GetString(options::kSavepointsDir);
  if (options.savepoints_dir.empty()) options.savepoints_dir = options.checkpoints_dir;
  if (options.enabled() && options.checkpoints_dir.empty()) {
    return InvalidArgument(
        "execution.checkpointing.interval is set but state.checkpoints.dir is not: set "
        "-D state.checkpoints.dir=<directory>");
  }
  return options;
}

CheckpointCoordinator::CheckpointCoordinator(CheckpointOptions options, const JobGraph& graph,
                                             std::vector<TaskInfo> tasks, int64_t first_id)
    : options_(std::move(options)),
      job_name_(graph.name),
      job_id_(JobIdOf(graph)),
      max_parallelism_(graph.max_parallelism),
      tasks_(std::move(tasks)),
      next_id_(first_id) {
  for (size_t v = 0; v < graph.vertices.size(); ++v) {
    vertex_uids_.push_back(OperatorUidOf(graph, static_cast<int>(v)));
    vertex_names_.push_back(graph.vertices[v].name);
    vertex_parallelism_.push_back(graph.vertices[v].parallelism);
  }
  // Checkpoint ids of this run start after every completed one (Start() raises next_id_).
  triggered_.store(0);
}

CheckpointCoordinator::~CheckpointCoordinator() { Stop(); }

Status CheckpointCoordinator::Start(std::function<void(Status)> on_failure) {
  on_failure_ = std::move(on_failure);
  if (!options_.checkpoints_dir.empty()) {
    io::CheckpointStorage::Options storage;
    storage.root = options_.checkpoints_dir;
    storage.job_id = job_id_;
    ASSIGN_OR_RETURN(storage_, io::CheckpointStorage::Open(storage));
    // Retention must keep what the retained checkpoints of earlier runs reference.
    ASSIGN_OR_RETURN(std::vector<int64_t> completed, storage_->ListCompleted());
    for (auto it = completed.rbegin(); it != completed.rend(); ++it) {
      next_id_ = std::max(next_id_, *it + 1);
      const std::string dir = fmt::format("{}/chk-{}", storage_->job_dir(), *it);
      Result<std::string> text = io::CheckpointStorage::ReadMetadata(dir);
      if (!text.ok()) continue;
      Result<Manifest> manifest = ParseManifest(*text, dir);
      if (!manifest.ok()) continue;
      std::set<std::string> files;
      for (const ManifestFile& file : manifest->files) {
        // Names are relative to chk-<n>/; "../x" is the job directory's "x".
        files.insert(file.name.rfind("../", 0) == 0 ? file.name.substr(3) : OwnPrefix(*it) + file.name);
      }
      retained_.emplace_back(*it, std::move(files));
    }
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void CheckpointCoordinator::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CheckpointCoordinator::Acknowledge(TaskSnapshot snapshot) {
  {
    std::lock_guard lock(mutex_);
    acks_.push_back(std::move(snapshot));
  }
  wake_.notify_all();
}

void CheckpointCoordinator::Decline(int64_t id, int task, Status reason) {
  {
    std::lock_guard lock(mutex_);
    declines_.emplace_back(id, reason.WithContext(tasks_[static_cast<size_t>(task)].name));
  }
  wake_.notify_all();
}

void CheckpointCoordinator::TaskFinished(int task) {
  {
    std::lock_guard lock(mutex_);
    any_task_finished_ = true;
    finished_tasks_.push_back(task);
  }
  wake_.notify_all();
}

std::string CheckpointCoordinator::last_completed_path() const {
  std::lock_guard lock(mutex_);
  return last_completed_path_;
}

Result<std::string> CheckpointCoordinator::TriggerSavepoint() {
  std::unique_lock lock(mutex_);
  if (options_.savepoints_dir.empty()) {
    return FailedPrecondition("a savepoint needs state.savepoints.dir or state.checkpoints.dir");
  }
  savepoint_requested_ = true;
  savepoint_result_.reset();
  wake_.notify_all();
  savepoint_done_.wait(lock, [&] { return savepoint_result_.has_value() || stopping_; });
  if (!savepoint_result_.has_value()) return Cancelled("the job stopped before the savepoint completed");
  return *savepoint_result_;
}

void CheckpointCoordinator::TriggerLocked(bool savepoint, std::unique_lock<std::mutex>& lock) {
  Pending pending;
  pending.id = next_id_++;
  pending.savepoint = savepoint;
  pending.full = savepoint || next_full_ || !options_.incremental;
  pending.triggered_nanos = MonotonicNanos();
  pending.timestamp_millis = WallMillis();
  pending.acked.assign(tasks_.size(), false);
  pending.manifest.job_name = job_name_;
  pending.manifest.job_id = job_id_;
  pending.manifest.checkpoint_id = pending.id;
  pending.manifest.savepoint = savepoint;
  pending.manifest.timestamp_millis = pending.timestamp_millis;
  pending.manifest.max_parallelism = max_parallelism_;
  for (size_t v = 0; v < vertex_uids_.size(); ++v) {
    OperatorState op;
    op.uid = vertex_uids_[v];
    op.name = vertex_names_[v];
    op.parallelism = vertex_parallelism_[v];
    for (int s = 0; s < op.parallelism; ++s) {
      SubtaskState subtask;
      subtask.index = s;
      const state::KeyGroupRange range =
          state::KeyGroupRangeForOperatorIndex(max_parallelism_, op.parallelism, s);
      subtask.key_group_start = range.start;
      subtask.key_group_end = range.end;
      op.subtasks.push_back(std::move(subtask));
    }
    pending.manifest.operators.push_back(std::move(op));
  }
  lock.unlock();
  Status begun;
  if (savepoint) {
    // A savepoint is a self-contained directory: every piece written into it, names relative to it.
    io::CheckpointStorage::Options storage;
    storage.root = options_.savepoints_dir;
    storage.job_id = fmt::format("savepoint-{}-{}", job_id_.substr(0, 12), pending.id);
    Result<std::unique_ptr<io::CheckpointStorage>> opened = io::CheckpointStorage::Open(storage);
    if (opened.ok()) {
      savepoint_storage_ = std::move(*opened);
      pending.directory = savepoint_storage_->job_dir();
      begun = savepoint_storage_->BeginDirectory(pending.directory);
    } else {
      begun = opened.status();
    }
  } else {
    begun = storage_->BeginCheckpoint(pending.id);
    pending.directory = storage_->CheckpointDir(pending.id);
  }
  lock.lock();
  if (savepoint) savepoint_requested_ = false;
  pending_ = std::move(pending);
  if (!begun.ok()) {
    lock.unlock();
    Abort(*pending_, begun);
    lock.lock();
    pending_.reset();
    return;
  }
  full_.store(pending_->full, std::memory_order_release);
  triggered_.store(pending_->id, std::memory_order_release);
}

Status CheckpointCoordinator::WriteTaskSnapshot(Pending& pending, TaskSnapshot& snapshot) {
  io::CheckpointStorage& storage = pending.savepoint ? *savepoint_storage_ : *storage_;
  const std::string own = OwnPrefix(pending.id);
  const std::string file_name = fmt::format("task-{}.data", snapshot.task);

  // The manifest's index of a file named relative to the job directory.
  auto file_index = [&pending, &own](const std::string& job_relative, int64_t size, uint64_t xxh3) {
    // A savepoint's names are relative to its directory already.
    const std::string name = pending.savepoint || job_relative.rfind(own, 0) == 0
                                 ? (pending.savepoint ? job_relative : job_relative.substr(own.size()))
                                 : "../" + job_relative;
    for (size_t i = 0; i < pending.manifest.files.size(); ++i) {
      if (pending.manifest.files[i].name == name) return static_cast<int>(i);
    }
    pending.manifest.files.push_back({name, size, xxh3});
    return static_cast<int>(pending.manifest.files.size() - 1);
  };

  // What to write (spans into pinned pieces and into the copied blobs) and which manifest entry
  // each chunk fills once its offset is known. Entries point into pending.manifest, whose vectors
  // are sized first and not resized after.
  std::vector<std::span<const std::byte>> chunks;
  struct Target {
    ChunkRef* chunk;
    uint64_t piece_id;  // 0: not a table piece
  };
  std::vector<Target> targets;
  // Per chunk from a table's entries, what its staging releases: the table snapshot's pieces up to
  // and including it (those before it were referenced or are staged already), so the task writes
  // those segments in place again while the rest of the file is written.
  struct Release {
    state::TableSnapshot* table = nullptr;
    size_t pieces = 0;
  };
  std::vector<Release> releases;
  for (OperatorSnapshot& op : snapshot.operators) {
    SubtaskState& subtask = pending.manifest.operators[static_cast<size_t>(op.vertex)]
                                .subtasks[static_cast<size_t>(op.subtask)];
    subtask.tables.resize(op.tables.size());
    subtask.keyed_records.resize(op.keyed_records.size());
    subtask.blobs.resize(op.blobs.size());
  }
  for (OperatorSnapshot& op : snapshot.operators) {
    SubtaskState& subtask = pending.manifest.operators[static_cast<size_t>(op.vertex)]
                                .subtasks[static_cast<size_t>(op.subtask)];
    for (size_t t = 0; t < op.tables.size(); ++t) {
      TableRef& ref = subtask.tables[t];
      ref.name = op.tables[t].name;
      const std::vector<state::TablePiece>& pieces = op.tables[t].snapshot->pieces();
      ref.pieces.resize(pieces.size());
      constexpr size_t kNone = ~size_t{0};
      size_t last_chunk = kNone;
      for (size_t p = 0; p < pieces.size(); ++p) {
        const state::TablePiece& piece = pieces[p];
        PieceRef& out = ref.pieces[p];
        out.id = piece.id;
        out.kind = static_cast<int>(piece.kind);
        auto known = piece_files_.find(piece.id);
        if (!pending.full && piece.written_before && known != piece_files_.end()) {
          // Incremental: the bytes are already in an earlier checkpoint's file.
          const auto& [name, chunk] = known->second;
          const auto& [size, xxh3] = file_info_.at(*name);
          out.chunk = chunk;
          out.chunk.file = file_index(*name, size, xxh3);
          pending.pieces[piece.id] = {name, chunk};
          pending.referenced.insert(*name);
          continue;
        }
        if (piece.written_before && piece.kind == state::TablePiece::Kind::kOverrides) {
          // Its bytes went with the snapshot that made it (table_snapshot.h): only a checkpoint of
          // that lineage can reference it. Declining makes the next checkpoint full.
          return Internal("table {} of task {} lists override piece {:#x} of an earlier checkpoint "
                          "that is not in the last completed one",
                          op.tables[t].name, snapshot.task, piece.id);
        }
        chunks.push_back(piece.bytes);
        targets.push_back({&out.chunk, piece.id});
        releases.resize(chunks.size());
        releases.back() = {op.tables[t].snapshot.get(), p + 1};
        last_chunk = chunks.size() - 1;
      }
      // The table's last chunk releases all its pieces; a table writing none releases them now.
      if (last_chunk != kNone) {
        releases[last_chunk].pieces = pieces.size();
      } else {
        op.tables[t].snapshot->ReleasePieces(pieces.size());
      }
    }
    size_t k = 0;
    for (auto& [name, bytes] : op.keyed_records) {
      subtask.keyed_records[k].name = name;
      chunks.push_back(std::as_bytes(std::span(bytes.data(), bytes.size())));
      targets.push_back({&subtask.keyed_records[k].chunk, 0});
      ++k;
    }
    size_t b = 0;
    for (auto& [name, bytes] : op.blobs) {
      subtask.blobs[b].name = name;
      chunks.push_back(std::as_bytes(std::span(bytes.data(), bytes.size())));
      targets.push_back({&subtask.blobs[b].chunk, 0});
      ++b;
    }
  }
  if (chunks.empty()) return Status::Ok();

  releases.resize(chunks.size());
  const std::function<void(size_t)> on_staged = [&releases](size_t chunk) {
    if (releases[chunk].table != nullptr) releases[chunk].table->ReleasePieces(releases[chunk].pieces);
  };
  std::vector<io::WrittenChunk> written;
  ASSIGN_OR_RETURN(io::CheckpointFile file,
                   pending.savepoint
                       ? storage.WriteDataFileIn(pending.directory, file_name, chunks, &written, on_staged)
                       : storage.WriteDataFile(pending.id, file_name, chunks, &written, on_staged));
  if (written.size() != chunks.size()) {
    return Internal("the checkpoint writer reported {} chunks for {}", written.size(), chunks.size());
  }
  const int index = file_index(file.name, file.size, file.xxh3);
  pending.referenced.insert(file.name);
  const std::string* interned = &*file_names_.insert(file.name).first;
  pending.files[file.name] = {file.size, file.xxh3};
  for (size_t i = 0; i < targets.size(); ++i) {
    ChunkRef& chunk = *targets[i].chunk;
    chunk.file = index;
    chunk.offset = written[i].offset;
    chunk.length = static_cast<int64_t>(chunks[i].size());
    chunk.xxh3 = written[i].xxh3;
    if (targets[i].piece_id != 0) pending.pieces[targets[i].piece_id] = {interned, chunk};
  }
  return Status::Ok();
}

Status CheckpointCoordinator::Complete(Pending& pending) {
  io::CheckpointStorage& storage = pending.savepoint ? *savepoint_storage_ : *storage_;
  const std::string manifest = SerializeManifest(pending.manifest);
  RETURN_IF_ERROR(pending.savepoint ? storage.CommitDirectory(pending.directory, manifest)
                                    : storage.CommitCheckpoint(pending.id, manifest));
  const double seconds = (MonotonicNanos() - pending.triggered_nanos) / 1e9;
  int64_t bytes = 0;
  for (const auto& [name, info] : pending.files) bytes += info.first;
  if (pending.savepoint) {
    // The next checkpoint writes everything again: the savepoint's files are not the lineage's.
    next_full_ = true;
    LogInfo("savepoint {} completed in {:.3f} s: {} ({} bytes)", pending.id, seconds, pending.directory, bytes);
  } else {
    next_full_ = false;
    piece_files_ = std::move(pending.pieces);
    for (const auto& [name, info] : pending.files) file_info_[name] = info;
    retained_.emplace_back(pending.id, pending.referenced);
    while (static_cast<int>(retained_.size()) > options_.retained) retained_.pop_front();
    std::set<std::string> referenced;
    for (const auto& [id, files] : retained_) referenced.insert(files.begin(), files.end());
    for (auto it = file_info_.begin(); it != file_info_.end();) {
      it = referenced.count(it->first) ? std::next(it) : file_info_.erase(it);
    }
    Status retained = storage.Retain(options_.retained, referenced);
    if (!retained.ok()) LogInfo("could not remove old checkpoints: {}", retained.ToString());
    checkpoints_completed_.fetch_add(1, std::memory_order_relaxed);
    if (verbose_) {
      LogInfo("checkpoint {} completed in {:.3f} s ({} bytes written{})", pending.id, seconds, bytes,
              pending.full ? ", full" : "");
    }
  }
  consecutive_failures_ = 0;
  last_end_nanos_ = MonotonicNanos();
  {
    std::lock_guard lock(mutex_);
    last_completed_path_ = pending.directory;
    if (pending.savepoint) savepoint_result_ = pending.directory;
  }
  completed_.store(pending.id, std::memory_order_release);
  if (pending.savepoint) savepoint_done_.notify_all();
  return Status::Ok();
}

void CheckpointCoordinator::Abort(Pending& pending, const Status& reason, bool count_failure) {
  io::CheckpointStorage* storage = pending.savepoint ? savepoint_storage_.get() : storage_.get();
  if (storage != nullptr && !pending.directory.empty()) {
    Status removed = pending.savepoint ? storage->AbortDirectory(pending.directory)
                                       : storage->AbortCheckpoint(pending.id);
    if (!removed.ok()) LogInfo("could not remove aborted checkpoint {}: {}", pending.id, removed.ToString());
  }
  next_full_ = true;
  last_end_nanos_ = MonotonicNanos();
  aborted_.store(pending.id, std::memory_order_release);
  if (pending.savepoint) {
    LogInfo("savepoint {} failed: {}", pending.id, reason.ToString());
    {
      std::lock_guard lock(mutex_);
      savepoint_result_ = reason;
    }
    savepoint_done_.notify_all();
    return;
  }
  LogInfo("checkpoint {} aborted: {}", pending.id, reason.ToString());
  if (!count_failure) return;
  ++consecutive_failures_;
  if (consecutive_failures_ > options_.tolerable_failures && on_failure_) {
    on_failure_(FailedPrecondition(
        "checkpoint {} failed ({}); {} consecutive checkpoint failures exceed "
        "execution.checkpointing.tolerable-failed-checkpoints = {}",
        pending.id, reason.ToString(), consecutive_failures_, options_.tolerable_failures));
  }
}

void CheckpointCoordinator::Run() {
  std::unique_lock lock(mutex_);
  int64_t next_trigger = MonotonicNanos() + options_.interval_nanos;
  while (!stopping_) {
    if (!acks_.empty()) {
      TaskSnapshot ack = std::move(acks_.front());
      acks_.pop_front();
      if (!pending_ || ack.checkpoint_id != pending_->id ||
          pending_->acked[static_cast<size_t>(ack.task)]) {
        // Late (an aborted checkpoint's): dropping it releases its pins.
        lock.unlock();
        ack = TaskSnapshot();
        lock.lock();
        continue;
      }
      const auto task = static_cast<size_t>(ack.task);
      lock.unlock();
      Status written = WriteTaskSnapshot(*pending_, ack);
      ack = TaskSnapshot();  // the bytes are on disk: release the pins
      lock.lock();
      if (!written.ok()) {
        lock.unlock();
        Abort(*pending_, written);
        lock.lock();
        pending_.reset();
        continue;
      }
      pending_->acked[task] = true;
      ++pending_->acks;
      continue;
    }
    if (!declines_.empty()) {
      auto [id, reason] = std::move(declines_.front());
      declines_.pop_front();
      if (pending_ && pending_->id == id) {
        lock.unlock();
        Abort(*pending_, reason);
        lock.lock();
        pending_.reset();
      }
      continue;
    }
    const int64_t now = MonotonicNanos();
    if (pending_) {
      if (pending_->acks == static_cast<int>(tasks_.size())) {
        lock.unlock();
        Status completed = Complete(*pending_);
        if (!completed.ok()) Abort(*pending_, completed);
        lock.lock();
        pending_.reset();
        next_trigger = std::max(next_trigger, MonotonicNanos() + options_.min_pause_nanos);
        continue;
      }
      bool lost_task = false;
      for (int task : finished_tasks_) lost_task |= !pending_->acked[static_cast<size_t>(task)];
      if (lost_task || now - pending_->triggered_nanos > options_.timeout_nanos) {
        const Status reason =
            lost_task ? FailedPrecondition("a task finished before it took its part of the checkpoint")
                      : FailedPrecondition("not complete after execution.checkpointing.timeout ({} ms)",
                                         options_.timeout_nanos / 1'000'000);
        lock.unlock();
        // A task that finished (end of input) is the normal end of a bounded job, not a failure
        // of the checkpoint mechanism: it does not count towards tolerable-failed-checkpoints.
        Abort(*pending_, reason, /*count_failure=*/!lost_task);
        lock.lock();
        pending_.reset();
        continue;
      }
    } else if (savepoint_requested_) {
      if (any_task_finished_) {
        savepoint_requested_ = false;
        savepoint_result_ = FailedPrecondition("a task of the job has already finished");
        savepoint_done_.notify_all();
        continue;
      }
      TriggerLocked(/*savepoint=*/true, lock);
      continue;
    } else if (options_.enabled() && !any_task_finished_ && now >= next_trigger &&
               now - last_end_nanos_ >= options_.min_pause_nanos) {
      TriggerLocked(/*savepoint=*/false, lock);
      next_trigger = now + options_.interval_nanos;
      continue;
    }
    int64_t wait = 100'000'000;
    if (pending_) {
      wait = std::min(wait, pending_->triggered_nanos + options_.timeout_nanos - now);
    } else if (options_.enabled()) {
      wait = std::min(wait, std::max(next_trigger, last_end_nanos_ + options_.min_pause_nanos) - now);
    }
    wake_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(wait, 100'000)));
  }
  if (pending_) {
    lock.unlock();
    Abort(*pending_, Cancelled("the job stopped"), /*count_failure=*/false);
    lock.lock();
    pending_.reset();
  }
  acks_.clear();
  savepoint_done_.notify_all();
}

}  // namespace weir::runtime
