// Throughput and latency of the sched module's queues, each against a std::mutex + std::deque
// queue with the same bounded try-push/try-pop interface, measured in the same run.
//
// Producer and consumer run on two different cpus (the first two this process may use), busy
// polling, so the numbers are the cost of the queue and of moving cache lines between cores.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "sched/channel.h"
#include "sched/executor.h"
#include "sched/spsc_queue.h"
#include "sched/task.h"

namespace weir::sched {
namespace {

// The baseline: a bounded queue guarded by a mutex.
template <typename T>
class MutexDequeQueue {
 public:
  explicit MutexDequeQueue(size_t capacity) : capacity_(capacity) {}
  bool TryPush(T&& value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (items_.size() == capacity_) return false;
    items_.push_back(std::move(value));
    return true;
  }
  bool TryPop(T& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (items_.empty()) return false;
    out = std::move(items_.front());
    items_.pop_front();
    return true;
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::deque<T> items_;
};

// The first two cpus in this process's affinity mask; -1 where there are fewer.
std::pair<int, int> TwoCpus() {
  cpu_set_t allowed;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  if (cpus.size() < 2) return {-1, -1};
  return {cpus[0], cpus[1]};
}

// Pins the calling thread for the lifetime of the object, then restores its previous mask.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    pthread_getaffinity_np(pthread_self(), sizeof(previous_), &previous_);
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  ~ScopedPin() { pthread_setaffinity_np(pthread_self(), sizeof(previous_), &previous_); }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

 private:
  cpu_set_t previous_;
};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Items per second from a producer thread to the benchmark thread through a 1024-slot queue.
template <typename Queue>
void QueueThroughput(benchmark::State& state) {
  constexpr uint64_t kItems = 1 << 20;
  const auto [consumer_cpu, producer_cpu] = TwoCpus();
  ScopedPin pin(consumer_cpu);
  uint64_t checksum = 0;
  for (auto _ : state) {
    Queue queue(1024);
    std::thread producer([&queue, cpu = producer_cpu] {
      ScopedPin producer_pin(cpu);
      for (uint64_t i = 0; i < kItems; ++i) {
        uint64_t value = i;
        while (!queue.TryPush(std::move(value))) CpuRelax();
      }
    });
    for (uint64_t received = 0; received < kItems;) {
      uint64_t value;
      if (queue.TryPop(value)) {
        checksum += value;
        ++received;
      } else {
        CpuRelax();
      }
    }
    producer.join();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(state.iterations() * kItems);
}

void BM_SpscQueue_Throughput(benchmark::State& state) {
  QueueThroughput<SpscQueue<uint64_t>>(state);
}
void BM_MutexDeque_Throughput(benchmark::State& state) {
  QueueThroughput<MutexDequeQueue<uint64_t>>(state);
}
BENCHMARK(BM_SpscQueue_Throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MutexDeque_Throughput)->Unit(benchmark::kMillisecond)->UseRealTime();

void ReportPercentiles(benchmark::State& state, std::vector<int64_t>& round_trips) {
  if (round_trips.empty()) return;
  std::sort(round_trips.begin(), round_trips.end());
  state.counters["p50_ns"] = static_cast<double>(round_trips[round_trips.size() / 2]);
  state.counters["p99_ns"] = static_cast<double>(round_trips[round_trips.size() * 99 / 100]);
}

// One item goes to a busy-polling echo thread and back; each iteration is one round trip. The
// iteration time includes two MonotonicNanos() reads (vDSO, ~20 ns each) used for the percentiles.
template <typename Queue>
void QueuePingPong(benchmark::State& state) {
  const auto [pinger_cpu, ponger_cpu] = TwoCpus();
  ScopedPin pin(pinger_cpu);
  Queue to_ponger(1);
  Queue to_pinger(1);
  std::atomic<bool> done{false};
  std::thread ponger([&, cpu = ponger_cpu] {
    ScopedPin ponger_pin(cpu);
    uint64_t value;
    while (!done.load(std::memory_order_relaxed)) {
      if (!to_ponger.TryPop(value)) {
        CpuRelax();
        continue;
      }
      while (!to_pinger.TryPush(std::move(value))) CpuRelax();
    }
  });
  std::vector<int64_t> round_trips;
  round_trips.reserve(1 << 22);
  uint64_t sequence = 0;
  for (auto _ : state) {
    const int64_t start = MonotonicNanos();
    uint64_t ping = sequence++;
    while (!to_ponger.TryPush(std::move(ping))) CpuRelax();
    uint64_t pong;
    while (!to_pinger.TryPop(pong)) CpuRelax();
    const int64_t end = MonotonicNanos();
    if (round_trips.size() < round_trips.capacity()) round_trips.push_back(end - start);
    benchmark::DoNotOptimize(pong);
  }
  done.store(true, std::memory_order_relaxed);
  ponger.join();
  ReportPercentiles(state, round_trips);
}

void BM_Channel_PingPong_Latency(benchmark::State& state) {
  QueuePingPong<Channel<uint64_t>>(state);
}
void BM_MutexDeque_PingPong_Latency(benchmark::State& state) {
  QueuePingPong<MutexDequeQueue<uint64_t>>(state);
}
BENCHMARK(BM_Channel_PingPong_Latency)->UseRealTime();
BENCHMARK(BM_MutexDeque_PingPong_Latency)->UseRealTime();

// The same round trip between two tasks on two Workers of an Executor, through two bound
// Channels: adds the worker loop and the wake-up protocol. Arg 0: busy poll; 1: default spinning
// before parking; 2: park at once (every round trip pays two futex wake-ups).
class TimedPinger final : public Task {
 public:
  TimedPinger(Channel<uint64_t>* out, Channel<uint64_t>* in, std::vector<int64_t>* round_trips)
      : out_(out), in_(in), round_trips_(round_trips) {}
  Progress RunOnce(int64_t) override {
    if (awaiting_) {
      uint64_t reply;
      if (!in_->TryPop(reply)) return Progress::kIdle;
      round_trips_->push_back(MonotonicNanos() - sent_at_);
      awaiting_ = false;
      if (round_trips_->size() == round_trips_->capacity()) return Progress::kFinished;
    }
    uint64_t ping = round_trips_->size();
    sent_at_ = MonotonicNanos();
    if (!out_->TryPush(std::move(ping))) return Progress::kIdle;
    awaiting_ = true;
    return Progress::kDidWork;
  }
  std::string_view name() const override { return "pinger"; }

 private:
  Channel<uint64_t>* out_;
  Channel<uint64_t>* in_;
  std::vector<int64_t>* round_trips_;
  int64_t sent_at_ = 0;
  bool awaiting_ = false;
};

class Echo final : public Task {
 public:
  Echo(Channel<uint64_t>* in, Channel<uint64_t>* out, uint64_t rounds)
      : in_(in), out_(out), rounds_(rounds) {}
  Progress RunOnce(int64_t) override {
    uint64_t value;
    if (!in_->TryPop(value)) return Progress::kIdle;
    while (!out_->TryPush(std::move(value)))
      CpuRelax();  // capacity 1 and the pinger waits: never full
    return ++echoed_ == rounds_ ? Progress::kFinished : Progress::kDidWork;
  }
  std::string_view name() const override { return "echo"; }

 private:
  Channel<uint64_t>* in_;
  Channel<uint64_t>* out_;
  uint64_t rounds_;
  uint64_t echoed_ = 0;
};

void BM_Worker_PingPong_Latency(benchmark::State& state) {
  constexpr size_t kRounds = 20'000;
  const auto [first_cpu, second_cpu] = TwoCpus();
  std::vector<int64_t> all_round_trips;
  for (auto _ : state) {
    Executor::Options options;
    options.workers = 2;
    if (first_cpu >= 0) options.cpus = {first_cpu, second_cpu};
    options.busy_poll = state.range(0) == 0;
    if (state.range(0) == 2) options.spin_nanos = 0;
    Executor executor(options);
    Channel<uint64_t> to_echo(1);
    Channel<uint64_t> to_pinger(1);
    to_echo.Bind(&executor.worker(0), &executor.worker(1));
    to_pinger.Bind(&executor.worker(1), &executor.worker(0));
    std::vector<int64_t> round_trips;
    round_trips.reserve(kRounds);
    TimedPinger pinger(&to_echo, &to_pinger, &round_trips);
    Echo echo(&to_echo, &to_pinger, kRounds);
    executor.worker(0).AddTask(&pinger);
    executor.worker(1).AddTask(&echo);
    if (!executor.Run().ok()) state.SkipWithError("executor run failed");
    int64_t total = 0;
    for (int64_t round_trip : round_trips) total += round_trip;
    state.SetIterationTime(static_cast<double>(total) / 1e9);
    all_round_trips.insert(all_round_trips.end(), round_trips.begin(), round_trips.end());
  }
  state.SetItemsProcessed(state.iterations() * kRounds);
  state.counters["round_trip_ns"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kRounds),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  ReportPercentiles(state, all_round_trips);
}
BENCHMARK(BM_Worker_PingPong_Latency)
    ->ArgName("mode")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace weir::sched
