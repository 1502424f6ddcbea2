#include "memory/topology.h"

#include <dirent.h>
#include <hwloc.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace weir::memory {

struct Topology::Handle {
  hwloc_topology_t topology = nullptr;
  ~Handle() {
    if (topology != nullptr) hwloc_topology_destroy(topology);
  }
};

Result<Topology> Topology::Detect() { return Load({}); }

Result<Topology> Topology::FromSynthetic(std::string_view description) {
  if (description.empty()) return InvalidArgument("empty synthetic topology description");
  return Load(description);
}

Result<Topology> Topology::Load(std::string_view synthetic) {
  auto handle = std::make_shared<Handle>();
  if (hwloc_topology_init(&handle->topology) != 0) {
    handle->topology = nullptr;
    return Internal("hwloc_topology_init failed");
  }
  if (!synthetic.empty()) {
    const std::string description(synthetic);
    if (hwloc_topology_set_synthetic(handle->topology, description.c_str()) != 0) {
      return InvalidArgument("'{}' is not a valid hwloc synthetic topology", synthetic);
    }
  }
  if (hwloc_topology_load(handle->topology) != 0) {
    return ErrnoStatus(errno, "loading the machine topology with hwloc");
  }
  hwloc_topology_t topology = handle->topology;

  Topology result;
  result.handle_ = handle;
  result.synthetic_ = !synthetic.empty();
  result.num_packages_ = std::max(1, hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PACKAGE));
  result.num_numa_nodes_ = std::max(1, hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE));
  // Cores; a machine (or VM) that reports none is described by its hardware threads instead.
  hwloc_obj_type_t unit = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE
                                                                                  : HWLOC_OBJ_PU;
  const int count = hwloc_get_nbobjs_by_type(topology, unit);
  for (int i = 0; i < count; ++i) {
    hwloc_obj_t object = hwloc_get_obj_by_type(topology, unit, static_cast<unsigned>(i));
    Core core{i, 0, 0, 0};
    hwloc_obj_t pu = object->type == HWLOC_OBJ_PU
                         ? object
                         : hwloc_get_obj_inside_cpuset_by_type(topology, object->cpuset, HWLOC_OBJ_PU, 0);
    core.os_pu = pu != nullptr ? static_cast<int>(pu->os_index) : i;
    const int node_os = object->nodeset != nullptr ? hwloc_bitmap_first(object->nodeset) : -1;
    if (node_os >= 0) {
      hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(topology, static_cast<unsigned>(node_os));
      if (node != nullptr) core.numa_node = static_cast<int>(node->logical_index);
    }
    if (hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_PACKAGE, object)) {
      core.package = static_cast<int>(package->logical_index);
    }
    result.cores_.push_back(core);
  }
  if (result.cores_.empty()) return Internal("hwloc reports no core this process may run on");
  return result;
}

std::vector<int> Topology::PlaceWorkers(int workers) const {
  if (workers <= 0 || cores_.empty()) return {};
  std::vector<int> order(cores_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [this](int a, int b) { return cores_[a].numa_node < cores_[b].numa_node; });
  std::vector<int> placement;
  placement.reserve(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) placement.push_back(order[static_cast<size_t>(w) % order.size()]);
  return placement;
}

void* Topology::hwloc_handle() const { return handle_ != nullptr ? handle_->topology : nullptr; }

Status Topology::BindCurrentThread(int core) const {
  if (synthetic_) return FailedPrecondition("cannot pin a thread to a core of a synthetic topology");
  if (handle_ == nullptr) return FailedPrecondition("cannot pin a thread with an empty topology");
  if (core < 0 || core >= num_cores()) return InvalidArgument("no core {}", core);
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  hwloc_bitmap_only(set, static_cast<unsigned>(cores_[core].os_pu));
  const int rc = hwloc_set_cpubind(handle_->topology, set, HWLOC_CPUBIND_THREAD);
  const int err = errno;
  hwloc_bitmap_free(set);
  if (rc != 0) return ErrnoStatus(err, fmt::format("pinning a thread to cpu {}", cores_[core].os_pu));
  return Status::Ok();
}

Status Topology::BindMemory(void* address, size_t bytes, int numa_node) const {
  if (synthetic_ || handle_ == nullptr) return Status::Ok();  // no real memory to bind to
  hwloc_obj_t node = hwloc_get_obj_by_type(handle_->topology, HWLOC_OBJ_NUMANODE,
                                           static_cast<unsigned>(numa_node));
  if (node == nullptr) return NotFound("no NUMA node {}", numa_node);
  if (hwloc_set_area_membind(handle_->topology, address, bytes, node->nodeset, HWLOC_MEMBIND_BIND,
                             HWLOC_MEMBIND_BYNODESET) != 0) {
    return ErrnoStatus(errno, fmt::format("binding memory to NUMA node {}", numa_node));
  }
  return Status::Ok();
}

namespace {

// The pinned workers (thread id -> CPU and whether it is theirs alone), and the process's CPU
// set from before the first of them.
struct PinnedWorker {
  int cpu;
  bool exclusive;
};
struct CpuReservations {
  std::mutex mutex;
  std::map<pid_t, PinnedWorker> workers;
  cpu_set_t process_cpus;
  bool AnyExclusive() const {
    return std::any_of(workers.begin(), workers.end(), [](const auto& worker) { return worker.second.exclusive; });
  }
};

CpuReservations& Reservations() {
  static auto* const reservations = new CpuReservations();  // never destroyed: threads may outlive exit
  return reservations[0];
}

// The CPUs of threads that are not pinned workers. REQUIRES: the mutex.
cpu_set_t OtherThreadsCpus(const CpuReservations& reservations) {
  cpu_set_t cpus = reservations.process_cpus;
  for (const auto& [tid, worker] : reservations.workers) {
    if (worker.exclusive && worker.cpu >= 0 && worker.cpu < CPU_SETSIZE) CPU_CLR(worker.cpu, &cpus);
  }
  return CPU_COUNT(&cpus) > 0 ? cpus : reservations.process_cpus;
}

// Gives every thread of the process but the pinned workers `cpus`. REQUIRES: the mutex.
void ApplyToOtherThreads(const CpuReservations& reservations, const cpu_set_t& cpus) {
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return;
  while (const dirent* entry = ::readdir(tasks)) {
    char* end = nullptr;
    const long tid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || tid <= 0) continue;  // "." and ".."
    if (reservations.workers.count(static_cast<pid_t>(tid)) != 0) continue;
    (void)::sched_setaffinity(static_cast<pid_t>(tid), sizeof(cpus), &cpus);
  }
  ::closedir(tasks);
}

}  // namespace

void RegisterPinnedWorker(int cpu, bool exclusive) {
  CpuReservations& reservations = Reservations();
  std::lock_guard lock(reservations.mutex);
  if (reservations.workers.empty() &&
      ::sched_getaffinity(::getpid(), sizeof(reservations.process_cpus), &reservations.process_cpus) != 0) {
    return;
  }
  reservations.workers[::gettid()] = {cpu, exclusive};
  if (!exclusive) return;
  // Pinned again: another worker's reservation may have moved this one between its pinning and
  // this call (it was not reserved yet).
  if (cpu >= 0 && cpu < CPU_SETSIZE) {
    cpu_set_t own;
    CPU_ZERO(&own);
    CPU_SET(cpu, &own);
    (void)::sched_setaffinity(0, sizeof(own), &own);
  }
  ApplyToOtherThreads(reservations, OtherThreadsCpus(reservations));
}

void UnregisterPinnedWorker() {
  CpuReservations& reservations = Reservations();
  std::lock_guard lock(reservations.mutex);
  const auto it = reservations.workers.find(::gettid());
  if (it == reservations.workers.end()) return;
  const bool exclusive = it->second.exclusive;
  reservations.workers.erase(it);
  if (exclusive) ApplyToOtherThreads(reservations, OtherThreadsCpus(reservations));
}

void UnpinCurrentThread() {
  CpuReservations& reservations = Reservations();
  std::lock_guard lock(reservations.mutex);
  cpu_set_t cpus;
  if (!reservations.AnyExclusive()) {
    if (::sched_getaffinity(::getpid(), sizeof(cpus), &cpus) != 0) return;
  } else {
    cpus = OtherThreadsCpus(reservations);
  }
  (void)::sched_setaffinity(0, sizeof(cpus), &cpus);
}

}  // namespace weir::memory
