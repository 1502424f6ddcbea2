#include "runtime/job_runner.h"

#include <algorithm>
#include <map>
#include <optional>
#include <memory>
#include <thread>

#include "base/clock.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "memory/topology.h"
#include "runtime/stream_task.h"
#include "sched/executor.h"

namespace weir::runtime {
namespace {

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

Result<JobResult> JobRunner::Run(const JobGraph& graph) {
  RETURN_IF_ERROR(graph.Validate());
  if (graph.vertices.empty()) return InvalidArgument("the job '{}' has no operators", graph.name);

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
    managed.prefault = false;  // faulted on first use: state grows into its budget
    managed.config_key = "taskmanager.memory.managed.size";
    ASSIGN_OR_RETURN(execution.state_pools[node], memory::SegmentPool::Create(managed));
  }

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
      auto task = std::make_unique<StreamTask>(task_name, &stop_requested_);
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

  const int64_t start = MonotonicNanos();
  const int64_t cpu_start = ProcessCpuNanos();
  Status run_status = executor.Run();
  JobResult result;
  result.seconds = (MonotonicNanos() - start) / 1e9;
  result.cpu_seconds = (ProcessCpuNanos() - cpu_start) / 1e9;
  result.stopped = stop_requested_.load();
  result.tasks = static_cast<int>(execution.tasks.size());
  result.workers = static_cast<int>(worker_cores.size());

  // --- Finalize: sinks commit on success, discard otherwise.
  Status finalize_status;
  for (auto& task : execution.tasks) {
    for (auto& op : task->operators()) {
      Status status = op->Finalize(run_status.ok());
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
  RETURN_IF_ERROR(finalize_status);
  return result;
}

}  // namespace weir::runtime
