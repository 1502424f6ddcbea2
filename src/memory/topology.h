// Topology: the machine's cores, NUMA nodes and packages, read with hwloc -- or a synthetic machine
// described in hwloc's synthetic syntax ("package:2 numa:2 core:4 pu:1"), so that placement
// decisions can be tested on a one-node machine.
//
// Cores are numbered densely 0..num_cores()-1 in hwloc's logical order (packages, then NUMA
// nodes, then cores). Only the cores this process may run on are listed (hwloc's default).
//
// Ownership: a Topology owns its hwloc_topology_t (destroyed with the last copy). Copies and moves
// are cheap and share it; that is safe because a loaded hwloc topology is never modified again, and
// it lets a SegmentPool keep the topology its memory came from alive for hwloc_free. Every method
// is safe to call from any thread. A default-constructed or moved-from Topology is empty: no cores,
// hwloc_handle() == nullptr, BindCurrentThread fails.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace weir::memory {

class Topology {
 public:
  struct Core {
    int index;      // dense, 0-based
    int os_pu;      // OS cpu id of the core's first hardware thread (for pinning)
    int numa_node;  // logical NUMA node index, 0-based
    int package;    // logical package index, 0-based
  };

  // This machine, as far as this process may use it (its cpuset).
  static Result<Topology> Detect();
  // A made-up machine in hwloc's synthetic syntax; InvalidArgument when hwloc rejects the text.
  static Result<Topology> FromSynthetic(std::string_view description);

  int num_packages() const { return num_packages_; }
  int num_numa_nodes() const { return num_numa_nodes_; }
  int num_cores() const { return static_cast<int>(cores_.size()); }
  const std::vector<Core>& cores() const { return cores_; }
  bool is_synthetic() const { return synthetic_; }

  // REQUIRES: 0 <= core < num_cores().
  int NumaNodeOfCore(int core) const { return cores_[core].numa_node; }

  // Cores for `workers` worker threads. Policy: fill NUMA node 0's cores, then node 1's, and so on,
  // so that consecutive workers (which exchange most with each other: subtask i of one operator and
  // subtask i of the next share a worker or sit next to each other) share a node's memory and
  // caches; when there are more workers than cores, wrap around.
  // Precisely: order the cores by (numa_node, index); worker w gets order[w % num_cores()]. Returns
  // dense core indices (see cores()), `workers` of them; empty for workers <= 0 or no cores.
  std::vector<int> PlaceWorkers(int workers) const;

  // Pins the calling thread to the core's first hardware thread (hwloc_set_cpubind with
  // HWLOC_CPUBIND_THREAD). FailedPrecondition on a synthetic or empty topology (there is no such
  // core to run on); InvalidArgument for a core out of range; IoError when the kernel refuses.
  Status BindCurrentThread(int core) const;

  // The hwloc_topology_t (as void*, so that users need not include hwloc.h); nullptr when empty.
  // Valid while this Topology or a copy of it lives. Read-only: do not modify or destroy it.
  void* hwloc_handle() const;

  // Binds [address, address + bytes) to the memory of `numa_node` (best effort: NotFound/IoError
  // when the kernel refuses, e.g. without NUMA support; the memory stays usable, unbound). A no-op
  // on a synthetic or empty topology. SegmentPool allocates bound memory instead of using this.
  Status BindMemory(void* address, size_t bytes, int numa_node) const;

 private:
  struct Handle;
  static Result<Topology> Load(std::string_view synthetic);

  std::shared_ptr<Handle> handle_;
  std::vector<Core> cores_;
  int num_packages_ = 1;
  int num_numa_nodes_ = 1;
  bool synthetic_ = false;
};

// Busy-polling pinned workers (--latency-mode) own their CPUs: the process's other threads (the
// main thread, the job's supervisor, checkpoint writers, helpers) run on the remaining ones, so
// none of them preempts such a worker, which the kernel would otherwise share with whichever
// thread woke on its CPU (measured on T3: the index-mapping helper and the main thread took the
// worker's CPU for up to 4 ms while the other CPU idled). A pinned worker that parks reserves
// nothing: its CPU is free for the others while it is parked. When the busy-polling workers' CPUs
// are all there is, nothing is reserved and every thread may run anywhere.
//
// RegisterPinnedWorker(cpu, exclusive): the calling thread, just pinned to `cpu`, is a worker and
// keeps its pin whatever other workers reserve. With `exclusive` (busy polling) every thread of
// the process that is not a pinned worker is moved off the exclusive workers' CPUs (best effort:
// threads that refuse, such as io_uring's kernel workers, keep theirs). UnregisterPinnedWorker():
// the calling worker is done; when it was exclusive, the others get its CPU back. Threads started
// later inherit their creator's affinity, hence UnpinCurrentThread below.
void RegisterPinnedWorker(int cpu, bool exclusive);
void UnregisterPinnedWorker();

// Gives the calling thread the CPUs of the process's threads that are not pinned workers (see
// above; the process's whole set when no worker is exclusive). A thread inherits its creator's
// affinity, which may be one pinned worker's core: a helper thread (page faults ahead of use, an
// index mapped in the background) calls this first, so it runs beside that worker instead of
// taking turns with it. Best effort: a failure leaves the affinity as it was.
void UnpinCurrentThread();

}  // namespace weir::memory
