#include "memory/mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "memory/topology.h"

namespace weir::memory {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;  // x86-64 transparent huge pages

size_t PageSize() {
  static const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

// The process's one helper thread: a queue of mappings to fault in or to drop.
class MappingHelper {
 public:
  // Null when no thread could be started.
  static MappingHelper* Get() {
    // Never destroyed: the detached thread may still wait on it while the process exits.
    static MappingHelper* const helper = [] {
      auto* created = new MappingHelper();
      try {
        std::thread([created] { created->Run(); }).detach();
      } catch (const std::system_error&) {
        delete created;
        return static_cast<MappingHelper*>(nullptr);
      }
      return created;
    }();
    return helper;
  }

  // A job: create and fault in `prepare`'s mapping, or drop the reference to `release`.
  struct Job {
    std::shared_ptr<Mapping::Prepared> prepare;
    std::shared_ptr<Mapping> release;
  };
  void Push(Job job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  void Run() {
    UnpinCurrentThread();
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !jobs_.empty(); });
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      if (job.prepare != nullptr) Mapping::Fill(*job.prepare);
      job.release.reset();  // the munmap, when this was the last reference
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;  // GUARDED_BY(mutex_)
};

std::shared_ptr<Mapping> Mapping::Create(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t page = PageSize();
  const size_t size = (bytes + page - 1) / page * page;
  const bool huge = size >= kHugePageBytes;
  // A huge-page-sized mapping is mapped with 2 MiB of slack and used from its first 2 MiB
  // boundary, so every 2 MiB of it can be one huge page.
  const size_t mapped = huge ? size + kHugePageBytes : size;
  void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  auto* data = static_cast<std::byte*>(base);
  if (huge) {
    const auto address = reinterpret_cast<uintptr_t>(base);
    const uintptr_t aligned = (address + kHugePageBytes - 1) & ~uintptr_t{kHugePageBytes - 1};
    data = reinterpret_cast<std::byte*>(aligned);
    (void)::madvise(data, size, MADV_HUGEPAGE);
  }
  return std::shared_ptr<Mapping>(new Mapping(data, size, base, mapped));
}

Mapping::~Mapping() { ::munmap(base_, mapped_); }

void Mapping::StartHelper() { (void)MappingHelper::Get(); }

std::shared_ptr<Mapping::Prepared> Mapping::PrepareInBackground(size_t bytes) {
  std::shared_ptr<Prepared> prepared(new Prepared(bytes));
  if (MappingHelper* helper = MappingHelper::Get()) helper->Push({prepared, nullptr});
  return prepared;
}

void Mapping::Fill(Prepared& prepared) {
  std::shared_ptr<Mapping> mapping = Create(prepared.bytes_);
  if (mapping != nullptr) mapping->Populate();
  prepared.mapping_ = std::move(mapping);
  prepared.ready_.store(true, std::memory_order_release);
}

void Mapping::FaultIn() {
  if (faulted()) return;
  Populate();
}

void FaultInPages(std::byte* data, size_t bytes) {
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t end = begin + bytes;
  for (uintptr_t block = begin; block < end;) {
    const uintptr_t block_end =
        std::min(end, (block + kHugePageBytes) & ~uintptr_t{kHugePageBytes - 1});
    __atomic_fetch_or(reinterpret_cast<unsigned char*>(block), static_cast<unsigned char>(0),
                      __ATOMIC_RELAXED);
    if (::madvise(reinterpret_cast<void*>(block & ~uintptr_t{PageSize() - 1}),
                  block_end - (block & ~uintptr_t{PageSize() - 1}), MADV_POPULATE_WRITE) != 0) {
      // No MADV_POPULATE_WRITE (Linux < 5.14): a touch per page.
      for (uintptr_t page = block & ~uintptr_t{PageSize() - 1}; page < block_end;
           page += PageSize()) {
        auto* byte = reinterpret_cast<unsigned char*>(std::max(page, block));
        __atomic_fetch_or(byte, static_cast<unsigned char>(0), __ATOMIC_RELAXED);
      }
    }
    block = block_end;
  }
}

void Mapping::Populate() {
  FaultInPages(data_, size_);
  faulted_.store(true, std::memory_order_release);
}

void Mapping::ReleaseInBackground(std::shared_ptr<Mapping> mapping) {
  if (mapping == nullptr) return;
  if (MappingHelper* helper = MappingHelper::Get()) helper->Push({nullptr, std::move(mapping)});
}

}  // namespace weir::memory
