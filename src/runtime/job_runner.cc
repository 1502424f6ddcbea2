#include "runtime/job_runner.h"

#include <algorithm>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "memory/topology.h"
#include "runtime/checkpoint_coordinator.h"
#include "runtime/restore.h"
#include "runtime/stream_task.h"
#include "sched/executor.h"

namespace weir::runtime {
namespace {

// How far ahead of its use the managed pool's memory is faulted in (SegmentPool::Options::
// fault_ahead_bytes). Relocations after a checkpoint append about 50 MB/s per task at a million
// records a second into fresh segments; first-touch faults there cost a third of the throughput on
// the 20 M-key checkpoint benchmark (docs/checkpoints.md).
constexpr size_t kManagedFaultAheadBytes = size_t{64} << 20;

struct ChainPlan {
  int head = 0;
  std::vector<int> vertices;  // pre-order from the head
};

// Everything a running job owns; destroyed in reverse order of declaration (tasks release their
// segments before the pools go).
struct ExecutionGraph {
  std::vector<std::unique_ptr<memory::SegmentPool>> network_pools;  // per NUMA node
  std::vector<std::unique_ptr<memory::SegmentPool>> state_pools;    // per NUMA node
  std::unique_ptr<memory::MemoryBudget> managed_memory;
  std::map<std::tuple<size_t, int, int>, std::unique_ptr<StreamChannel>> channels;
  std::vector<std::unique_ptr<StreamTask>> tasks;
  std::vector<int> task_workers;
};

}  // namespace

namespace {

// restart-strategy.*: how long to wait before restart number `restart` (1-based), or -1 when the
// job must fail instead.
class RestartStrategy {
 public:
  explicit RestartStrategy(const Configuration& config) {
    const std::string type = config.GetString(options::kRestartStrategy);
    if (type == "FIXED-DELAY" || type == "FIXEDDELAY") {
      kind_ = Kind::kFixed;
      attempts_ = config.GetInt(options::kFixedDelayAttempts);
      delay_ = config.GetDurationNanos(options::kFixedDelayDelay);
    } else if (type == "EXPONENTIAL-DELAY" || type == "EXPONENTIALDELAY") {
      kind_ = Kind::kExponential;
      attempts_ = config.GetInt(options::kExponentialAttempts);
      delay_ = config.GetDurationNanos(options::kExponentialInitialBackoff);
      max_delay_ = config.GetDurationNanos(options::kExponentialMaxBackoff);
      multiplier_ = config.GetDouble(options::kExponentialMultiplier);
      jitter_ = config.GetDouble(options::kExponentialJitter);
      reset_after_ = config.GetDurationNanos(options::kExponentialResetThreshold);
    }
  }
  Status Validate() const {
    if (attempts_ < 0) return InvalidArgument("restart-strategy attempts must be >= 0, got {}", attempts_);
    if (delay_ < 0 || max_delay_ < 0) return InvalidArgument("restart-strategy delays must not be negative");
    if (multiplier_ < 1) {
      return InvalidArgument("restart-strategy.exponential-delay.backoff-multiplier must be >= 1, got {}",
                             multiplier_);
    }
    if (jitter_ < 0 || jitter_ > 1) {
      return InvalidArgument("restart-strategy.exponential-delay.jitter-factor must be in [0, 1], got {}", jitter_);
    }
    return Status::Ok();
  }
  std::string_view name() const {
    return kind_ == Kind::kNone ? "none" : kind_ == Kind::kFixed ? "fixed-delay" : "exponential-delay";
  }
  int64_t attempts() const { return attempts_; }
  // The delay before the next restart, given how long the failed attempt ran; -1: give up.
  int64_t NextDelay(int64_t ran_nanos) {
    if (kind_ == Kind::kNone) return -1;
    if (kind_ == Kind::kExponential && ran_nanos >= reset_after_) {
      restarts_ = 0;
      current_ = 0;
    }
    if (restarts_ >= attempts_) return -1;
    ++restarts_;
    if (kind_ == Kind::kFixed) return delay_;
    current_ = current_ == 0 ? delay_
                             : std::min<int64_t>(max_delay_, static_cast<int64_t>(current_ * multiplier_));
    // Jitter from a cheap deterministic sequence: spreading restarts is all it is for.
    seed_ = seed_ * 6364136223846793005ULL + 1442695040888963407ULL;
    const double unit = static_cast<double>(seed_ >> 11) / static_cast<double>(1ULL << 53);
    return std::max<int64_t>(0, static_cast<int64_t>(current_ * (1 + jitter_ * (2 * unit - 1))));
  }

 private:
  enum class Kind { kNone, kFixed, kExponential };
  Kind kind_ = Kind::kNone;
  int64_t attempts_ = 0;
  int64_t delay_ = 0;
  int64_t max_delay_ = 0;
  double multiplier_ = 1;
  double jitter_ = 0;
  int64_t reset_after_ = 0;
  int64_t restarts_ = 0;
  int64_t current_ = 0;
  uint64_t seed_ = 0x9e3779b97f4a7c15ULL;
};

}  // namespace

struct JobRunner::Attempt {
  CheckpointOptions checkpoints;
  std::shared_ptr<const LoadedCheckpoint> restore;
  int64_t first_checkpoint_id = 1;
  JobResult result;
  int64_t checkpoints_completed = 0;
  int64_t last_completed_id = 0;
};

Result<JobResult> JobRunner::Run(const JobGraph& graph) {
  RETURN_IF_ERROR(graph.Validate());
  if (graph.vertices.empty()) return InvalidArgument("the job '{}' has no operators", graph.name);
  ASSIGN_OR_RETURN(CheckpointOptions checkpoints, CheckpointOptions::FromConfig(config_));
  RestartStrategy restart(config_);
  RETURN_IF_ERROR(restart.Validate());
  const std::string job_id = JobIdOf(graph);

  Attempt attempt;
  attempt.checkpoints = checkpoints;
  const std::string restore_path = config_.GetString(options::kSavepointPath);
  if (!restore_path.empty()) {
    ASSIGN_OR_RETURN(attempt.restore, LoadForRestore(restore_path, checkpoints.checkpoints_dir, job_id));
  }
  std::shared_ptr<const LoadedCheckpoint> initial = attempt.restore;
  JobResult total;
  if (initial != nullptr) total.restored_from = initial->directory();
  int restarts = 0;
  while (true) {
    if (attempt.restore != nullptr) {
      RETURN_IF_ERROR(CheckRestorable(*attempt.restore, graph));
      attempt.first_checkpoint_id = attempt.restore->manifest().checkpoint_id + 1;
    }
    attempt.result = JobResult();
    const int64_t started = MonotonicNanos();
    Status status = RunAttempt(graph, attempt);
    total.checkpoints += attempt.checkpoints_completed;
    if (status.ok() || stop_requested_.load()) {
      JobResult result = attempt.result;
      result.checkpoints = total.checkpoints;
      result.restarts = restarts;
      result.restored_from = total.restored_from;
      RETURN_IF_ERROR(status);
      return result;
    }
    const int64_t delay = restart.NextDelay(MonotonicNanos() - started);
    if (delay < 0) {
      if (restarts > 0 || restart.name() != "none") {
        return status.WithContext(fmt::format("after {} restart(s) (restart-strategy {})", restarts, restart.name()));
      }
      return status;
    }
    ++restarts;
    // Restart from the newest completed checkpoint of this job, or from where the job started.
    std::shared_ptr<const LoadedCheckpoint> next = initial;
    if (!checkpoints.checkpoints_dir.empty()) {
      Result<std::shared_ptr<const LoadedCheckpoint>> latest =
          LoadForRestore("latest", checkpoints.checkpoints_dir, job_id);
      if (!latest.ok()) return latest.status();
      if (*latest != nullptr) next = *latest;
    }
    LogInfo("the job failed: {}; restart {} of {} ({}) in {} ms from {}", status.ToString(), restarts,
            restart.attempts(), restart.name(), delay / 1'000'000,
            next != nullptr ? next->directory() : std::string("the beginning"));
    const int64_t until = MonotonicNanos() + delay;
    while (MonotonicNanos() < until && !stop_requested_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(10, (until - MonotonicNanos()) / 1'000'000 + 1)));
    }
    if (stop_requested_.load()) return status;
    attempt.restore = std::move(next);
  }
}

Status JobRunner::RunAttempt(const JobGraph& graph, Attempt& attempt) {

  // --- Configuration.
  const int64_t segment_size = config_.GetMemorySize(options::kSegmentSize);
  if (segment_size < 4096 || (segment_size & (segment_size - 1)) != 0 || segment_size > (1 << 30)) {
    return InvalidArgument("taskmanager.memory.segment-size must be a power of two between 4kb and "
                           "1gb, got {} bytes", segment_size);
  }
  const int64_t buffer_timeout = config_.GetDurationNanos(options::kBufferTimeout);
  const bool chaining = config_.GetBool(options::kChaining);
  const int64_t capacity = config_.GetInt(options::kChannelCapacity);
  if (capacity < 1 || capacity > 4096) {
    return InvalidArgument("taskmanager.network.memory.buffers-per-channel must be in [1, 4096], got {}",
                           capacity);
  }
  const size_t channel_capacity = std::bit_ceil(static_cast<size_t>(capacity));

  std::optional<memory::Topology> detected;
  if (topology_ == nullptr) {
    ASSIGN_OR_RETURN(detected, memory::Topology::Detect());
  }
  const memory::Topology& topology = topology_ != nullptr ? *topology_ : *detected;
  int workers = static_cast<int>(config_.GetInt(options::kWorkers));
  if (workers < 0) return InvalidArgument("taskmanager.numberOfTaskSlots must be >= 0, got {}", workers);
  if (workers == 0) workers = topology.num_cores();
  const bool pin = config_.GetBool(options::kCpuPinning);
  const std::vector<int> worker_cores = topology.PlaceWorkers(workers);

  // --- Chains.
  const size_t vertex_count = graph.vertices.size();
  std::vector<std::vector<size_t>> in_edges(vertex_count), out_edges(vertex_count);
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    out_edges[graph.edges[e].source].push_back(e);
    in_edges[graph.edges[e].target].push_back(e);
  }
  std::vector<bool> chained(graph.edges.size(), false);
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    const JobEdge& edge = graph.edges[e];
    const JobVertex& source = graph.vertices[edge.source];
    const JobVertex& target = graph.vertices[edge.target];
    // One producer feeding one consumer is a forward edge whatever its partitioning (a keyBy at
    // parallelism 1): chaining it saves the encode, the channel and the decode.
    const bool single = source.parallelism == 1 && target.parallelism == 1;
    chained[e] = chaining && (edge.partitioning == Partitioning::kForward || single) &&
                 source.parallelism == target.parallelism && in_edges[edge.target].size() == 1 &&
                 source.slot_sharing_group == target.slot_sharing_group && !target.is_source;
  }
  std::vector<ChainPlan> chains;
  std::vector<int> chain_of(vertex_count, -1);
  for (size_t v = 0; v < vertex_count; ++v) {
    bool is_chained_target = in_edges[v].size() == 1 && chained[in_edges[v][0]];
    if (is_chained_target) continue;
    ChainPlan plan{static_cast<int>(v), {}};
    std::vector<int> stack{static_cast<int>(v)};
    while (!stack.empty()) {
      int current = stack.back();
      stack.pop_back();
      plan.vertices.push_back(current);
      chain_of[current] = static_cast<int>(chains.size());
      for (auto it = out_edges[current].rbegin(); it != out_edges[current].rend(); ++it) {
        if (chained[*it]) stack.push_back(graph.edges[*it].target);
      }
    }
    chains.push_back(std::move(plan));
  }
  for (size_t v = 0; v < vertex_count; ++v) {
    if (chain_of[v] < 0) return InvalidArgument("operator '{}' is part of a cycle", graph.vertices[v].name);
  }

  // --- Slot-sharing groups -> worker offsets.
  std::map<std::string, int> group_offset;
  {
    std::vector<std::string> order;
    std::map<std::string, int> group_width;
    for (const JobVertex& vertex : graph.vertices) {
      if (!group_width.count(vertex.slot_sharing_group)) order.push_back(vertex.slot_sharing_group);
      group_width[vertex.slot_sharing_group] =
          std::max(group_width[vertex.slot_sharing_group], vertex.parallelism);
    }
    int offset = 0;
    for (const std::string& group : order) {
      group_offset[group] = offset;
      offset += group_width[group];
    }
  }

  // --- Memory: one network pool and one managed pool per NUMA node in use.
  auto graph_state = std::make_unique<ExecutionGraph>();
  ExecutionGraph& execution = *graph_state;
  const int nodes = std::max(1, topology.num_numa_nodes());
  const int64_t network_bytes = config_.GetMemorySize(options::kNetworkMemory);
  const int64_t managed_bytes = config_.GetMemorySize(options::kManagedMemory);
  execution.managed_memory = std::make_unique<memory::MemoryBudget>(managed_bytes);
  std::vector<int> used_nodes;
  for (int core : worker_cores) used_nodes.push_back(topology.NumaNodeOfCore(core));
  std::sort(used_nodes.begin(), used_nodes.end());
  used_nodes.erase(std::unique(used_nodes.begin(), used_nodes.end()), used_nodes.end());
  execution.network_pools.resize(nodes);
  execution.state_pools.resize(nodes);
  for (int node : used_nodes) {
    memory::SegmentPool::Options network;
    network.segment_size = static_cast<uint32_t>(segment_size);
    network.segment_count =
        std::max<size_t>(64, network_bytes / segment_size / used_nodes.size());
    network.numa_node = node;
    network.topology = &topology;
    network.prefault = true;
    ASSIGN_OR_RETURN(execution.network_pools[node], memory::SegmentPool::Create(network));
    memory::SegmentPool::Options managed = network;
    managed.segment_count = std::max<size_t>(16, managed_bytes / segment_size / used_nodes.size());
    managed.prefault = false;  // state grows into its budget: faulted a little ahead of use
    managed.fault_ahead_bytes = kManagedFaultAheadBytes;
    managed.config_key = "taskmanager.memory.managed.size";
    ASSIGN_OR_RETURN(execution.state_pools[node], memory::SegmentPool::Create(managed));
  }

  // Sources end their input when this is set (a stop without a savepoint).
  std::atomic<bool> drain_requested{false};

  // --- Tasks, operators, wiring inside chains.
  std::map<std::pair<int, int>, StreamTask*> task_of;  // (chain, subtask) -> task
  std::map<StreamTask*, int> worker_of_task;
  std::map<std::pair<int, int>, operators::StreamOperator*> operator_of;  // (vertex, subtask)
  for (size_t c = 0; c < chains.size(); ++c) {
    const ChainPlan& plan = chains[c];
    const JobVertex& head = graph.vertices[plan.head];
    for (int subtask = 0; subtask < head.parallelism; ++subtask) {
      std::string task_name;
      for (int v : plan.vertices) {
        if (!task_name.empty()) task_name += " -> ";
        task_name += graph.vertices[v].name;
      }
      task_name += fmt::format(" ({}/{})", subtask + 1, head.parallelism);
      auto task = std::make_unique<StreamTask>(task_name, &drain_requested);
      const int worker =
          (group_offset[head.slot_sharing_group] + subtask) % static_cast<int>(worker_cores.size());
      const int node = topology.NumaNodeOfCore(worker_cores[worker]);
      for (int v : plan.vertices) {
        const JobVertex& vertex = graph.vertices[v];
        auto context = std::make_unique<operators::OperatorContext>();
        context->task_name = fmt::format("{} ({}/{})", vertex.name, subtask + 1, vertex.parallelism);
        context->subtask_index = subtask;
        context->parallelism = vertex.parallelism;
        context->max_parallelism = graph.max_parallelism;
        context->config = &config_;
        context->state_pool = execution.state_pools[node].get();
        context->managed_memory = execution.managed_memory.get();
        std::unique_ptr<operators::StreamOperator> op = vertex.factory->Create(subtask);
        operator_of[{v, subtask}] = op.get();
        task->AddOperator(std::move(op), std::move(context));
      }
      task_of[{static_cast<int>(c), subtask}] = task.get();
      worker_of_task[task.get()] = worker;
      execution.task_workers.push_back(worker);
      execution.tasks.push_back(std::move(task));
    }
  }

  // Channels of every exchange edge.
  ChannelWriter::Options writer_options;
  writer_options.buffer_timeout_nanos = buffer_timeout;
  auto channel_for = [&](size_t edge, int producer, int consumer) {
    auto& slot = execution.channels[{edge, producer, consumer}];
    if (slot == nullptr) slot = std::make_unique<StreamChannel>(channel_capacity);
    return slot.get();
  };
  auto reaches = [&](const JobEdge& edge, int producer, int consumer) {
    return edge.partitioning != Partitioning::kForward || producer == consumer;
  };

  // Outputs of every operator: chained successors' inputs plus writers of exchange edges.
  for (size_t v = 0; v < vertex_count; ++v) {
    const JobVertex& vertex = graph.vertices[v];
    const int chain = chain_of[v];
    for (int subtask = 0; subtask < vertex.parallelism; ++subtask) {
      StreamTask* task = task_of[{chain, subtask}];
      const int worker = worker_of_task[task];
      writer_options.pool = execution.network_pools[topology.NumaNodeOfCore(worker_cores[worker])].get();
      // Consumers of the main output, and of each side output by tag.
      std::vector<operators::OutputBase*> outputs;
      std::map<std::string, std::vector<operators::OutputBase*>> side_outputs;
      for (size_t e : out_edges[v]) {
        const JobEdge& edge = graph.edges[e];
        std::vector<operators::OutputBase*>& into =
            edge.side_output.empty() ? outputs : side_outputs[edge.side_output];
        if (chained[e]) {
          into.push_back(operator_of[{edge.target, subtask}]->input());
          continue;
        }
        const JobVertex& target = graph.vertices[edge.target];
        std::vector<StreamChannel*> channels;
        for (int consumer = 0; consumer < target.parallelism; ++consumer) {
          if (reaches(edge, subtask, consumer)) channels.push_back(channel_for(e, subtask, consumer));
        }
        auto writer = edge.exchange->CreateWriter(subtask, std::move(channels), writer_options,
                                                  graph.max_parallelism);
        into.push_back(writer->output());
        task->AddWriter(std::move(writer));
      }
      operators::StreamOperator* op = operator_of[{static_cast<int>(v), subtask}];
      if (vertex.fan_out == nullptr) {
        if (!outputs.empty() || !side_outputs.empty()) {
          return Internal("sink '{}' has consumers", vertex.name);
        }
        continue;
      }
      // Side outputs get the operator's records for their tag; their consumers get the
      // operator's watermarks and end of input through the main output (as followers).
      std::vector<operators::OutputBase*> followers;
      for (auto& [tag, consumers] : side_outputs) {
        auto factory = vertex.side_fan_outs.find(tag);
        if (factory == vertex.side_fan_outs.end()) {
          return Internal("operator '{}' has no side output '{}'", vertex.name, tag);
        }
        operators::OutputBase* side = consumers[0];
        if (consumers.size() > 1) {
          auto fan_out = factory->second->Create(std::move(consumers));
          side = fan_out.get();
          task->AddFanOut(std::move(fan_out));
        }
        op->SetSideOutput(tag, side);
        followers.push_back(side);
      }
      if (outputs.size() == 1 && followers.empty()) {
        op->SetOutput(outputs[0]);
      } else {
        auto fan_out = vertex.fan_out->Create(std::move(outputs), std::move(followers));
        op->SetOutput(fan_out.get());
        task->AddFanOut(std::move(fan_out));
      }
    }
  }

  // Inputs of every chain head: one gate per channel of each incoming exchange edge.
  for (size_t c = 0; c < chains.size(); ++c) {
    const int head = chains[c].head;
    const JobVertex& vertex = graph.vertices[head];
    for (int subtask = 0; subtask < vertex.parallelism; ++subtask) {
      StreamTask* task = task_of[{static_cast<int>(c), subtask}];
      for (size_t e : in_edges[head]) {
        const JobEdge& edge = graph.edges[e];
        BatchDecoder* decoder =
            task->AddDecoder(edge.exchange->CreateDecoder(operator_of[{head, subtask}]->input()));
        for (int producer = 0; producer < graph.vertices[edge.source].parallelism; ++producer) {
          if (reaches(edge, producer, subtask)) task->AddInput(channel_for(e, producer, subtask), decoder);
        }
      }
    }
  }

  // --- Checkpoints and restore.
  std::vector<CheckpointCoordinator::TaskInfo> task_infos;
  for (size_t c = 0; c < chains.size(); ++c) {
    const JobVertex& head = graph.vertices[chains[c].head];
    for (int subtask = 0; subtask < head.parallelism; ++subtask) {
      CheckpointCoordinator::TaskInfo info;
      StreamTask* task = task_of[{static_cast<int>(c), subtask}];
      info.name = std::string(task->name());
      info.is_source = head.is_source;
      for (int v : chains[c].vertices) info.operators.emplace_back(v, subtask);
      task_infos.push_back(std::move(info));
    }
  }
  std::unique_ptr<CheckpointCoordinator> coordinator;
  const CheckpointOptions& checkpoint_options = attempt.checkpoints;
  if (checkpoint_options.enabled() || !checkpoint_options.savepoints_dir.empty()) {
    coordinator = std::make_unique<CheckpointCoordinator>(checkpoint_options, graph, task_infos,
                                                          attempt.first_checkpoint_id);
    int index = 0;
    for (size_t c = 0; c < chains.size(); ++c) {
      for (int subtask = 0; subtask < graph.vertices[chains[c].head].parallelism; ++subtask) {
        task_of[{static_cast<int>(c), subtask}]->SetCheckpointing(coordinator.get(), index,
                                                                   task_infos[static_cast<size_t>(index)].operators);
        ++index;
      }
    }
  }
  if (attempt.restore != nullptr) {
    for (size_t c = 0; c < chains.size(); ++c) {
      for (int subtask = 0; subtask < graph.vertices[chains[c].head].parallelism; ++subtask) {
        std::vector<std::unique_ptr<state::RestoreReader>> readers;
        for (int v : chains[c].vertices) {
          readers.push_back(MakeRestoreReader(attempt.restore, OperatorUidOf(graph, v), subtask,
                                              graph.vertices[static_cast<size_t>(v)].parallelism));
        }
        task_of[{static_cast<int>(c), subtask}]->SetRestore(std::move(readers));
      }
    }
  }

  // --- Workers.
  sched::Executor::Options executor_options;
  executor_options.workers = static_cast<int>(worker_cores.size());
  if (pin && !topology.is_synthetic()) {
    for (int core : worker_cores) executor_options.cpus.push_back(topology.cores()[core].os_pu);
  }
  executor_options.busy_poll = buffer_timeout == 0;
  executor_options.park_timeout_nanos = std::max<int64_t>(buffer_timeout, 50'000);
  sched::Executor executor(executor_options);
  for (size_t t = 0; t < execution.tasks.size(); ++t) {
    executor.worker(execution.task_workers[t]).AddTask(execution.tasks[t].get());
  }
  for (auto& [key, channel] : execution.channels) {
    const auto& [edge, producer, consumer] = key;
    const JobEdge& job_edge = graph.edges[edge];
    auto worker_of = [&](int vertex, int subtask) {
      return worker_of_task[task_of[{chain_of[vertex], subtask}]];
    };
    channel->Bind(&executor.worker(worker_of(job_edge.source, producer)),
                  &executor.worker(worker_of(job_edge.target, consumer)));
  }

  // The supervisor: turns a stop request into a savepoint (or a drain), and a coordinator's
  // failure into a failed job.
  std::mutex failure_mutex;
  Status coordinator_failure;
  if (coordinator != nullptr) {
    RETURN_IF_ERROR(coordinator->Start([&](Status failure) {
      {
        std::lock_guard lock(failure_mutex);
        if (coordinator_failure.ok()) coordinator_failure = std::move(failure);
      }
      executor.RequestStop();
    }));
  }
  std::atomic<bool> run_done{false};
  std::string savepoint_path;
  std::thread supervisor([&] {
    bool handled = false;
    while (!run_done.load()) {
      if (!handled && stop_requested_.load(std::memory_order_relaxed)) {
        handled = true;
        if (coordinator != nullptr && !checkpoint_options.savepoints_dir.empty()) {
          LogInfo("stopping with a savepoint");
          Result<std::string> savepoint = coordinator->TriggerSavepoint();
          if (savepoint.ok()) {
            savepoint_path = *savepoint;
            executor.RequestStop();
            continue;
          }
          LogInfo("the savepoint failed ({}): draining the job instead", savepoint.status().ToString());
        }
        drain_requested.store(true, std::memory_order_relaxed);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });

  const int64_t start = MonotonicNanos();
  const int64_t cpu_start = ProcessCpuNanos();
  Status run_status = executor.Run();
  run_done.store(true);
  supervisor.join();
  if (coordinator != nullptr) coordinator->Stop();
  JobResult& result = attempt.result;
  result.seconds = (MonotonicNanos() - start) / 1e9;
  result.cpu_seconds = (ProcessCpuNanos() - cpu_start) / 1e9;
  result.stopped = stop_requested_.load();
  result.tasks = static_cast<int>(execution.tasks.size());
  result.workers = static_cast<int>(worker_cores.size());
  result.savepoint_path = savepoint_path;
  if (coordinator != nullptr) {
    attempt.checkpoints_completed = coordinator->checkpoints_completed();
    attempt.last_completed_id = coordinator->last_completed_id();
  }
  {
    std::lock_guard lock(failure_mutex);
    if (!coordinator_failure.ok()) run_status = coordinator_failure;
  }
  // Stopped with a savepoint: the job ended on purpose, right after it.
  const bool stopped_with_savepoint = !savepoint_path.empty() && run_status.code() == StatusCode::kCancelled;
  if (stopped_with_savepoint) run_status = Status::Ok();

  // --- Finalize. A checkpoint that completed after a task last looked is announced now, so its
  // sinks commit what it covers; then sinks commit the rest on success and discard it otherwise
  // (a stop with savepoint discards what came after the savepoint: the restore replays it).
  const int64_t completed = coordinator != nullptr ? coordinator->completed() : 0;
  const bool success = run_status.ok() && !stopped_with_savepoint;
  Status finalize_status;
  for (auto& task : execution.tasks) {
    if (completed > 0) task->NotifyCompletedUpTo(completed);
    for (auto& op : task->operators()) {
      Status status = op->Finalize(success);
      if (!status.ok() && finalize_status.ok()) finalize_status = status;
    }
    for (auto& op : task->operators()) {
      if (auto* source = dynamic_cast<operators::SourceOperatorBase*>(op.get())) {
        result.records_in += source->records_emitted();
        result.bytes_in += source->bytes_read();
        result.records_skipped += source->records_skipped();
      }
    }
  }
  RETURN_IF_ERROR(run_status);
  return finalize_status;
}

}  // namespace weir::runtime
