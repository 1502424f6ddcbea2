// Faulting fresh anonymous memory in: memory::FaultInPages against its two halves alone,
// MADV_POPULATE_WRITE over the whole range (the baseline, fastest, but it holds the process's
// memory-map lock throughout) and a write per 4 KiB page (no memory-map lock, but a page fault
// each). 64 MiB per iteration, mapped fresh each time, with and without MADV_HUGEPAGE
// (`range(0)` = 1 advises huge pages). Read bytes_per_second.
#include "memory/mapping.h"

#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

namespace weir::memory {
namespace {

constexpr size_t kBytes = size_t{64} << 20;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kPage = 4096;

enum class Method { kFaultInPages, kPopulateWrite, kTouchEachPage };

void Run(benchmark::State& state, Method method) {
  const bool huge = state.range(0) != 0;
  for (auto _ : state) {
    state.PauseTiming();
    void* base = ::mmap(nullptr, kBytes + kHugePage, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) std::abort();
    auto* data = reinterpret_cast<std::byte*>(
        (reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~uintptr_t{kHugePage - 1});
    if (huge) ::madvise(data, kBytes, MADV_HUGEPAGE);
    state.ResumeTiming();
    switch (method) {
      case Method::kFaultInPages:
        FaultInPages(data, kBytes);
        break;
      case Method::kPopulateWrite:
        if (::madvise(data, kBytes, MADV_POPULATE_WRITE) != 0) std::abort();
        break;
      case Method::kTouchEachPage:
        for (size_t offset = 0; offset < kBytes; offset += kPage) {
          __atomic_fetch_or(reinterpret_cast<unsigned char*>(data + offset),
                            static_cast<unsigned char>(0), __ATOMIC_RELAXED);
        }
        break;
    }
    state.PauseTiming();
    ::munmap(base, kBytes + kHugePage);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBytes));
}

void BM_FaultInPages(benchmark::State& state) { Run(state, Method::kFaultInPages); }
void BM_PopulateWrite(benchmark::State& state) { Run(state, Method::kPopulateWrite); }
void BM_TouchEachPage(benchmark::State& state) { Run(state, Method::kTouchEachPage); }
BENCHMARK(BM_FaultInPages)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PopulateWrite)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TouchEachPage)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::memory
