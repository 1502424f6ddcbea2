// CheckpointCoordinator: triggers periodic checkpoints of a running job, collects each task's
// part, persists it in the background, and completes the checkpoint by writing its manifest
// (Flink's CheckpointCoordinator plus its asynchronous snapshot writer, in one thread).
//
// Protocol (Chandy-Lamport with aligned barriers; docs/checkpoints.md):
// 1. The coordinator's thread publishes a new checkpoint id (triggered()). Each source task sees it
//    between two polls, snapshots its chain (the source's read position and its operators'
//    state), and sends a barrier with that id down every output channel.
// 2. A task with inputs takes its snapshot when the barrier has arrived on every input that has
//    not ended (EXACTLY_ONCE blocks each input at its barrier until then; AT_LEAST_ONCE keeps
//    reading), then forwards the barrier.
// 3. Each task hands its TaskSnapshot to Acknowledge(). Snapshots pin state tables; this thread
//    writes the pinned bytes into one data file per task with io_uring and then drops the pins, so
//    the tasks never wait for I/O.
// 4. When every task has acknowledged and every file is durable, the manifest is written last and
//    made visible atomically (io::CheckpointStorage::CommitCheckpoint); completed() advances and
//    tasks call NotifyCheckpointComplete on their operators (sinks commit). Older checkpoints beyond
//    state.checkpoints.num-retained are removed, keeping files newer ones still reference.
//
// A checkpoint that times out, or that a task declines, is aborted: its directory is removed,
// aborted() advances, and the next checkpoint writes all state again rather than referencing
// pieces of the aborted one. More than execution.checkpointing.tolerable-failed-checkpoints
// consecutive failures fail the job. No checkpoint is triggered once a task has finished (as Flink
// before 1.14 behaves): a bounded job's end commits its output itself.
//
// Savepoints go through the same path, written in full into a directory of their own.
//
// Threads: the task-facing methods (triggered, Acknowledge, Decline, TaskFinished, completed,
// aborted) are called from worker threads; Start/Stop/TriggerSavepoint from the control thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "io/checkpoint_storage.h"
#include "runtime/job_graph.h"
#include "runtime/manifest.h"
#include "runtime/task_snapshot.h"

namespace weir::runtime {

// A job's identity across process restarts: its name and graph (vertices, edges), not a random
// id and not the parallelism (so a checkpoint restores at another parallelism). 32 hex digits.
std::string JobIdOf(const JobGraph& graph);
// An operator's identity within its job: "<vertex index>:<name>".
std::string OperatorUidOf(const JobGraph& graph, int vertex);

struct CheckpointOptions {
  int64_t interval_nanos = 0;  // 0: no periodic checkpoints (savepoints still work)
  bool exactly_once = true;
  int64_t timeout_nanos = 600'000'000'000;
  int64_t min_pause_nanos = 0;
  int tolerable_failures = 0;
  int retained = 1;
  bool incremental = true;
  std::string checkpoints_dir;  // state.checkpoints.dir
  std::string savepoints_dir;   // state.savepoints.dir (or the checkpoints dir)

  // From a Configuration; InvalidArgument for bad values (naming the key).
  static Result<CheckpointOptions> FromConfig(const Configuration& config);
  bool enabled() const { return interval_nanos > 0; }
};

class CheckpointCoordinator {
 public:
  struct TaskInfo {
    std::string name;
    bool is_source = false;
    std::vector<std::pair<int, int>> operators;  // (vertex, subtask) of the chain
  };

  // `first_id`: the id of the first checkpoint (the restored checkpoint's id + 1, so ids keep
  // growing across restores and never overwrite an earlier chk-<n>).
  CheckpointCoordinator(CheckpointOptions options, const JobGraph& graph, std::vector<TaskInfo> tasks,
                        int64_t first_id);
  ~CheckpointCoordinator();
  CheckpointCoordinator(const CheckpointCoordinator&) = delete;
  CheckpointCoordinator& operator=(const CheckpointCoordinator&) = delete;

  // Opens the storage, reads the retained checkpoints' manifests (so retention keeps the files
  // they reference) and starts the thread. `on_failure` is called (on the coordinator's thread)
  // when the job must fail: tolerable checkpoint failures exceeded.
  Status Start(std::function<void(Status)> on_failure);
  // Stops the thread; a checkpoint in flight is aborted. Idempotent.
  void Stop();

  // --- Task side (worker threads).
  // The newest triggered checkpoint id (0: none yet). Sources snapshot when it exceeds theirs.
  int64_t triggered() const { return triggered_.load(std::memory_order_acquire); }
  // Whether checkpoint `id` writes every piece again (valid for the current triggered() id).
  bool full() const { return full_.load(std::memory_order_acquire); }
  int64_t completed() const { return completed_.load(std::memory_order_acquire); }
  int64_t aborted() const { return aborted_.load(std::memory_order_acquire); }
  bool exactly_once() const { return options_.exactly_once; }
  void Acknowledge(TaskSnapshot snapshot);
  void Decline(int64_t id, int task, Status reason);
  // A task finished (end of input) or stopped: no checkpoint can include it any more.
  void TaskFinished(int task);

  // --- Control thread.
  // Takes a savepoint (waiting for a checkpoint in flight first) and waits until it completes or
  // fails; returns its directory.
  Result<std::string> TriggerSavepoint();
  // The directory of the newest completed checkpoint or savepoint ("" when none), and its id.
  std::string last_completed_path() const;
  int64_t last_completed_id() const { return completed(); }
  int64_t checkpoints_completed() const { return checkpoints_completed_.load(); }

 private:
  struct Pending {
    int64_t id = 0;
    bool savepoint = false;
    bool full = false;
    int64_t triggered_nanos = 0;
    int64_t timestamp_millis = 0;
    std::vector<bool> acked;
    int acks = 0;
    Manifest manifest;
    std::string directory;  // chk-<n> or the savepoint directory (absolute)
    // Pieces written or referenced by this checkpoint: id -> (file relative to the job dir, range).
    std::unordered_map<uint64_t, std::pair<const std::string*, ChunkRef>> pieces;
    std::set<std::string> referenced;  // files (relative to the job dir) this one uses
    std::map<std::string, std::pair<int64_t, uint64_t>> files;  // written: name -> (size, xxh3)
  };

  void Run();
  void TriggerLocked(bool savepoint, std::unique_lock<std::mutex>& lock);
  // Writes one task's snapshot (outside the lock), recording it in `pending`.
  Status WriteTaskSnapshot(Pending& pending, TaskSnapshot& snapshot);
  Status Complete(Pending& pending);
  // `count_failure`: towards tolerable-failed-checkpoints (not when the job is stopping).
  void Abort(Pending& pending, const Status& reason, bool count_failure = true);

  CheckpointOptions options_;
  std::string job_name_;
  std::string job_id_;
  int max_parallelism_;
  std::vector<std::string> vertex_uids_;
  std::vector<std::string> vertex_names_;
  std::vector<int> vertex_parallelism_;
  std::vector<TaskInfo> tasks_;
  int64_t next_id_;

  std::unique_ptr<io::CheckpointStorage> storage_;
  std::unique_ptr<io::CheckpointStorage> savepoint_storage_;
  bool verbose_ = true;  // log each completed checkpoint
  std::function<void(Status)> on_failure_;

  std::atomic<int64_t> triggered_{0};
  std::atomic<bool> full_{true};
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> aborted_{0};
  std::atomic<int64_t> checkpoints_completed_{0};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<TaskSnapshot> acks_;
  std::deque<std::pair<int64_t, Status>> declines_;
  bool any_task_finished_ = false;
  std::vector<int> finished_tasks_;
  bool savepoint_requested_ = false;
  std::optional<Result<std::string>> savepoint_result_;
  std::condition_variable savepoint_done_;
  std::string last_completed_path_;

  // Coordinator thread only.
  std::optional<Pending> pending_;
  int64_t last_end_nanos_ = 0;
  int consecutive_failures_ = 0;
  bool next_full_ = true;  // the first checkpoint of a run writes everything
  // Pieces of the last completed checkpoint: id -> (file relative to the job dir, byte range).
  // File names are interned in file_names_ (a few per checkpoint), so a piece's location is a
  // pointer, not a string copy: a 1 GB table has ~30 000 pieces per checkpoint.
  std::unordered_map<uint64_t, std::pair<const std::string*, ChunkRef>> piece_files_;
  std::set<std::string> file_names_;
  std::map<std::string, std::pair<int64_t, uint64_t>> file_info_;  // retained files: (size, xxh3)
  std::deque<std::pair<int64_t, std::set<std::string>>> retained_;   // completed ids and their files

  std::thread thread_;
};

}  // namespace weir::runtime
