#include "api/job_builder.h"

namespace weir::api::internal {

int JobBuilder::AddVertex(std::string name, std::shared_ptr<const operators::OperatorFactory> factory,
                          std::shared_ptr<const runtime::FanOutFactory> fan_out, bool is_source,
                          int parallelism) {
  VertexEntry entry;
  entry.vertex.id = static_cast<int>(vertices_.size());
  entry.vertex.name = std::move(name);
  entry.vertex.parallelism = parallelism > 0 ? parallelism : default_parallelism_;
  entry.vertex.factory = std::move(factory);
  entry.vertex.fan_out = std::move(fan_out);
  entry.vertex.is_source = is_source;
  entry.parallelism_fixed = parallelism > 0;
  vertices_.push_back(std::move(entry));
  return static_cast<int>(vertices_.size()) - 1;
}

void JobBuilder::AddEdge(int source, int target, std::optional<runtime::Partitioning> partitioning,
                         ExchangeMaker exchange, std::string side_output) {
  edges_.push_back({source, target, partitioning, std::move(exchange), std::move(side_output)});
}

void JobBuilder::AddSideOutput(int vertex, const std::string& tag,
                               std::shared_ptr<const runtime::FanOutFactory> fan_out) {
  vertices_[vertex].vertex.side_fan_outs.emplace(tag, std::move(fan_out));
}

void JobBuilder::set_default_parallelism(int parallelism) {
  default_parallelism_ = parallelism;
  for (VertexEntry& entry : vertices_) {
    if (!entry.parallelism_fixed) entry.vertex.parallelism = parallelism;
  }
}

Result<runtime::JobGraph> JobBuilder::Build(std::string name) const {
  runtime::JobGraph graph;
  graph.name = std::move(name);
  graph.max_parallelism = max_parallelism_;
  for (const VertexEntry& entry : vertices_) graph.vertices.push_back(entry.vertex);
  // A side-output stream runs at its producer's parallelism (Flink's side outputs are virtual
  // nodes of their producer), unless the user set it; producers come before their consumers.
  for (size_t v = 0; v < vertices_.size(); ++v) {
    const VertexEntry& entry = vertices_[v];
    if (entry.follows >= 0 && !entry.parallelism_fixed) {
      graph.vertices[v].parallelism = graph.vertices[entry.follows].parallelism;
    }
  }
  for (const EdgeEntry& edge : edges_) {
    runtime::Partitioning partitioning =
        edge.partitioning.value_or(graph.vertices[edge.source].parallelism ==
                                           graph.vertices[edge.target].parallelism
                                       ? runtime::Partitioning::kForward
                                       : runtime::Partitioning::kRebalance);
    graph.edges.push_back(
        {edge.source, edge.target, partitioning, edge.exchange(partitioning), edge.side_output});
  }
  RETURN_IF_ERROR(graph.Validate());
  return graph;
}

}  // namespace weir::api::internal
