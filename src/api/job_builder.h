// JobBuilder: the graph under construction, shared by an environment and every stream made from
// it. Transformations add vertices and edges; Build() fixes the partitioning of edges the user
// left to the default (forward between equal parallelism, rebalance otherwise, as Flink decides
// when it generates its StreamGraph) and returns the runtime's JobGraph.
#pragma once

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/job_graph.h"

namespace weir::api::internal {

using ExchangeMaker = std::function<std::shared_ptr<const runtime::ExchangeFactory>(runtime::Partitioning)>;

class JobBuilder {
 public:
  explicit JobBuilder(int default_parallelism) : default_parallelism_(default_parallelism) {}

  int AddVertex(std::string name, std::shared_ptr<const operators::OperatorFactory> factory,
                std::shared_ptr<const runtime::FanOutFactory> fan_out, bool is_source,
                int parallelism = 0);
  // `partitioning` empty = Flink's default (forward or rebalance by parallelism).
  void AddEdge(int source, int target, std::optional<runtime::Partitioning> partitioning,
               ExchangeMaker exchange, std::string side_output = "");
  // Declares that `vertex` has the side output `tag` consumed by some edge.
  void AddSideOutput(int vertex, const std::string& tag,
                     std::shared_ptr<const runtime::FanOutFactory> fan_out);
  // `vertex` runs at the parallelism of `producer` unless set explicitly (side-output streams).
  void set_follows(int vertex, int producer) { vertices_[vertex].follows = producer; }

  runtime::JobVertex& vertex(int id) { return vertices_[id].vertex; }
  void set_parallelism_fixed(int id) { vertices_[id].parallelism_fixed = true; }
  bool parallelism_fixed(int id) const { return vertices_[id].parallelism_fixed; }
  int default_parallelism() const { return default_parallelism_; }
  void set_default_parallelism(int parallelism);
  int max_parallelism() const { return max_parallelism_; }
  void set_max_parallelism(int max_parallelism) { max_parallelism_ = max_parallelism; }

  Result<runtime::JobGraph> Build(std::string name) const;

 private:
  struct VertexEntry {
    runtime::JobVertex vertex;
    bool parallelism_fixed = false;  // set explicitly by the user (or a non-parallel source)
    int follows = -1;                // takes this vertex's parallelism at Build (side outputs)
  };
  struct EdgeEntry {
    int source;
    int target;
    std::optional<runtime::Partitioning> partitioning;
    ExchangeMaker exchange;
    std::string side_output;
  };
  int default_parallelism_;
  int max_parallelism_ = 128;
  std::vector<VertexEntry> vertices_;
  std::vector<EdgeEntry> edges_;
};

}  // namespace weir::api::internal
