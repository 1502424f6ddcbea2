#include "runtime/job_graph.h"

namespace weir::runtime {

std::string_view PartitioningName(Partitioning partitioning) {
  switch (partitioning) {
    case Partitioning::kForward: return "FORWARD";
    case Partitioning::kRebalance: return "REBALANCE";
    case Partitioning::kBroadcast: return "BROADCAST";
    case Partitioning::kKeyGroups: return "HASH";
    case Partitioning::kGlobal: return "GLOBAL";
  }
  return "?";
}

Status JobGraph::Validate() const {
  if (max_parallelism < 1 || max_parallelism > 32768) {
    return InvalidArgument("pipeline.max-parallelism must be in [1, 32768], got {}", max_parallelism);
  }
  for (size_t i = 0; i < vertices.size(); ++i) {
    const JobVertex& vertex = vertices[i];
    if (vertex.id != static_cast<int>(i)) return Internal("vertex {} has id {}", i, vertex.id);
    if (vertex.parallelism < 1 || vertex.parallelism > max_parallelism) {
      return InvalidArgument("operator '{}' has parallelism {}; it must be in [1, {}] "
                             "(pipeline.max-parallelism)",
                             vertex.name, vertex.parallelism, max_parallelism);
    }
    if (vertex.factory == nullptr) return Internal("operator '{}' has no factory", vertex.name);
  }
  for (const JobEdge& edge : edges) {
    if (edge.source < 0 || edge.target < 0 || edge.source >= static_cast<int>(vertices.size()) ||
        edge.target >= static_cast<int>(vertices.size())) {
      return Internal("edge {} -> {} names a missing vertex", edge.source, edge.target);
    }
    const JobVertex& source = vertices[edge.source];
    const JobVertex& target = vertices[edge.target];
    if (edge.partitioning == Partitioning::kForward && source.parallelism != target.parallelism) {
      return InvalidArgument(
          "forward partitioning does not allow a change of parallelism: '{}' ({}) -> '{}' ({}); "
          "use rebalance()",
          source.name, source.parallelism, target.name, target.parallelism);
    }
    if (edge.exchange == nullptr) return Internal("edge {} -> {} has no exchange", source.name, target.name);
  }
  return Status::Ok();
}

}  // namespace weir::runtime
