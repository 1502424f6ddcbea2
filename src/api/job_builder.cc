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
                         ExchangeMaker exchange) {
  edges_.push_back({source, target, partitioning, std::move(exchange)});
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
  for (const EdgeEntry& edge : edges_) {
    runtime::Partitioning partitioning =
        edge.partitioning.value_or(graph.vertices[edge.source].parallelism ==
                                           graph.vertices[edge.target].parallelism
                                       ? runtime::Partitioning::kForward
                                       : runtime::Partitioning::kRebalance);
    graph.edges.push_back({edge.source, edge.target, partitioning, edge.exchange(partitioning)});
  }
  RETURN_IF_ERROR(graph.Validate());
  return graph;
}

}  // namespace weir::api::internal
