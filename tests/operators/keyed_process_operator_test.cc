#include "operators/keyed_process_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "collecting_output.h"
#include "memory/segment_pool.h"

namespace weir::operators {
namespace {

using testing::CollectingOutput;

// A record tells the function what to do: register an event-time timer at `register_at`, delete
// the one at `delete_at` (when not kMinTimestamp), and count itself.
struct Command {
  int64_t key;
  int64_t value;
  Timestamp register_at;
  Timestamp delete_at;
};

struct Fired {
  int64_t key;
  Timestamp time;
  int64_t count;  // the key's record count when the timer fired
  TimeDomain domain;
};

struct KeyOf {
  int64_t operator()(const Command& command) const { return command.key; }
};

const OutputTag<int64_t> kNegative("negative");

// Registers and deletes timers as told; a firing timer whose time is a multiple of 7 registers
// another one 3 ms later (it fires in the same watermark when that covers it). Negative values go
// to the side output "negative".
class TimerFunction final : public KeyedProcessFunction<int64_t, Command, Fired> {
 public:
  Status Open(RuntimeContext& context) override {
    count_ = context.GetState<int64_t>("count");
    seen_ = context.GetListState<int64_t>("seen");
    return Status::Ok();
  }
  void ProcessElement(const Command& command, Context& context, Collector<Fired>& out) override {
    EXPECT_EQ(context.GetCurrentKey(), command.key);
    count_->Update(count_->Value().value_or(0) + 1);
    seen_->Add(command.value);
    if (command.value < 0) context.Output(kNegative, command.value);
    context.TimerService().RegisterEventTimeTimer(command.register_at);
    if (command.delete_at != kMinTimestamp) context.TimerService().DeleteEventTimeTimer(command.delete_at);
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<Fired>& out) override {
    EXPECT_EQ(context.timestamp(), time);
    const int64_t count = count_->Value().value_or(0);
    EXPECT_EQ(static_cast<int64_t>(seen_->Size()), count) << "state of the timer's key";
    out.Collect(Fired{context.GetCurrentKey(), time, count, context.TimeDomain()});
    if (context.TimeDomain() == TimeDomain::kEventTime && time % 7 == 0) {
      context.TimerService().RegisterEventTimeTimer(time + 3);
    }
  }

 private:
  state::ValueState<int64_t>* count_ = nullptr;
  state::ListState<int64_t>* seen_ = nullptr;
};

template <typename Function, typename Out, typename Selector = KeyOf, typename In = Command>
using OperatorOf = KeyedProcessOperator<In, Out, Selector, Function>;

class KeyedProcessOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 512;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "KeyedProcess (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{64 << 20};
  OperatorContext context_;
};

TEST_F(KeyedProcessOperatorTest, EventTimersFireDeduplicatedInOrderAgainstAReference) {
  std::mt19937_64 random(1234);
  OperatorOf<TimerFunction, Fired> op{KeyOf(), TimerFunction()};
  CollectingOutput<Fired> out;
  CollectingOutput<int64_t> negative;
  op.SetOutput(&out);
  op.SetSideOutput(kNegative.id(), &negative);
  ASSERT_TRUE(op.Open(&context_).ok());

  std::set<std::pair<Timestamp, int64_t>> pending;  // (time, key)
  std::map<int64_t, int64_t> counts;
  std::vector<std::pair<int64_t, Timestamp>> expected_negative;
  std::vector<Fired> expected;
  std::vector<Timestamp> record_times;
  Timestamp watermark = 0;
  for (int i = 0; i < 20000; ++i) {
    if (random() % 50 == 0) {
      watermark += static_cast<Timestamp>(random() % 300);
      // Reference: fire in time order; a fired time divisible by 7 adds time + 3.
      while (!pending.empty() && pending.begin()->first <= watermark) {
        const auto [time, key] = *pending.begin();
        pending.erase(pending.begin());
        expected.push_back(Fired{key, time, counts[key], TimeDomain::kEventTime});
        if (time % 7 == 0) pending.emplace(time + 3, key);
      }
      const size_t before = out.values.size();
      op.EmitWatermark(watermark);
      ASSERT_EQ(out.watermarks.back(), watermark) << "timers fire, then the watermark passes";
      ASSERT_EQ(out.values.size(), expected.size());
      // Equal times fire in unspecified order: compare each watermark's firings as multisets,
      // and check the order is by time.
      auto by_time_key = [](const Fired& a, const Fired& b) {
        return std::tie(a.time, a.key) < std::tie(b.time, b.key);
      };
      std::vector<Fired> got(out.values.begin() + static_cast<long>(before), out.values.end());
      std::vector<Fired> want(expected.begin() + static_cast<long>(before), expected.end());
      for (size_t k = 1; k < got.size(); ++k) ASSERT_LE(got[k - 1].time, got[k].time);
      std::sort(got.begin(), got.end(), by_time_key);
      std::sort(want.begin(), want.end(), by_time_key);
      for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].key, want[k].key);
        ASSERT_EQ(got[k].time, want[k].time);
        ASSERT_EQ(got[k].count, want[k].count);
        ASSERT_EQ(got[k].domain, TimeDomain::kEventTime);
        ASSERT_EQ(out.timestamps[before + k], out.values[before + k].time) << "output at the timer's time";
      }
      continue;
    }
    const int64_t key = static_cast<int64_t>(random() % 40);
    // Few distinct times per key, so duplicates and deletions of existing timers are common.
    const Timestamp register_at = watermark + 1 + static_cast<Timestamp>(random() % 20) * 10;
    const Timestamp delete_at =
        random() % 3 == 0 ? watermark + 1 + static_cast<Timestamp>(random() % 20) * 10 : kMinTimestamp;
    const int64_t value = static_cast<int64_t>(random() % 100) - 10;
    const Timestamp record_time = watermark + static_cast<Timestamp>(random() % 100);
    op.Collect(Command{key, value, register_at, delete_at}, record_time);
    ++counts[key];
    pending.emplace(register_at, key);
    if (delete_at != kMinTimestamp) pending.erase({delete_at, key});
    if (value < 0) expected_negative.emplace_back(value, record_time);
  }
  ASSERT_TRUE(context_.status().ok()) << context_.status().ToString();
  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(negative.values.size(), expected_negative.size());
  for (size_t k = 0; k < expected_negative.size(); ++k) {
    EXPECT_EQ(negative.values[k], expected_negative[k].first);
    EXPECT_EQ(negative.timestamps[k], expected_negative[k].second) << "side output at the record's time";
  }
  // End of input: the maximum watermark fires everything left.
  const size_t before = out.values.size();
  op.EmitWatermark(kMaxTimestamp);
  size_t remaining = 0;
  while (!pending.empty()) {
    const auto [time, key] = *pending.begin();
    pending.erase(pending.begin());
    ++remaining;
    if (time % 7 == 0) pending.emplace(time + 3, key);
  }
  EXPECT_EQ(out.values.size() - before, remaining);
  op.Close();
}

// Emits the record's key and count, and on a processing-time timer the key with its domain.
class ProcessingTimeFunction final : public KeyedProcessFunction<std::string, std::string, Fired> {
 public:
  Status Open(RuntimeContext& context) override {
    count_ = context.GetState<int64_t>("count");
    EXPECT_EQ(context.subtask_index(), 0);
    return Status::Ok();
  }
  void ProcessElement(const std::string& word, Context& context, Collector<Fired>& out) override {
    EXPECT_EQ(context.GetCurrentKey(), word);
    const int64_t count = count_->Value().value_or(0) + 1;
    count_->Update(count);
    // Timers at 1000 + word length; the word "delete" removes its own.
    context.TimerService().RegisterProcessingTimeTimer(1000 + static_cast<Timestamp>(word.size()));
    if (word == "delete") context.TimerService().DeleteProcessingTimeTimer(1006);
    EXPECT_EQ(context.TimerService().CurrentWatermark(), kMinTimestamp);
  }
  void OnTimer(Timestamp time, OnTimerContext& context, Collector<Fired>& out) override {
    const std::string key = context.GetCurrentKey();
    out.Collect(Fired{static_cast<int64_t>(key.size()), time, count_->Value().value_or(0),
                      context.TimeDomain()});
    fired_keys->push_back(key);
  }
  std::shared_ptr<std::vector<std::string>> fired_keys = std::make_shared<std::vector<std::string>>();

 private:
  state::ValueState<int64_t>* count_ = nullptr;
};

struct Identity {
  std::string_view operator()(const std::string& word) const { return word; }
};

TEST_F(KeyedProcessOperatorTest, ProcessingTimersFireOnTheTaskCallbackWithoutTimestamp) {
  ProcessingTimeFunction function;
  auto fired_keys = function.fired_keys;
  KeyedProcessOperator<std::string, Fired, Identity, ProcessingTimeFunction> op(Identity(), function);
  CollectingOutput<Fired> out;
  op.SetOutput(&out);
  ASSERT_TRUE(op.Open(&context_).ok());
  const std::vector<std::string> words = {"ab", "abc", "ab", "delete", "hello", "abc", "ab"};
  for (const std::string& word : words) op.Collect(word, 5);
  EXPECT_EQ(op.NextProcessingTime(), 1002);
  op.EmitWatermark(kMaxTimestamp - 1);
  EXPECT_TRUE(out.values.empty()) << "watermarks do not fire processing-time timers";
  op.OnProcessingTime(1003);
  EXPECT_EQ(*fired_keys, (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(op.NextProcessingTime(), 1005);
  op.OnProcessingTime(2000);
  EXPECT_EQ(*fired_keys, (std::vector<std::string>{"ab", "abc", "hello"})) << "'delete' was deleted";
  EXPECT_EQ(op.NextProcessingTime(), kMaxTimestamp);
  ASSERT_EQ(out.values.size(), 3u);
  EXPECT_EQ(out.values[0].count, 3) << "state of the timer's key: 'ab' came three times";
  EXPECT_EQ(out.values[1].count, 2);
  for (size_t k = 0; k < out.values.size(); ++k) {
    EXPECT_EQ(out.values[k].domain, TimeDomain::kProcessingTime);
    EXPECT_EQ(out.timestamps[k], kMinTimestamp) << "processing-time output has no timestamp";
  }
  op.Close();
}

// Counts each key's records, and keeps each (key, value) pair's count under the value as
// namespace; names both in PrefetchElement, which also reads the key's count (a hint may read)
// and logs it with the calls' order.
class PrefetchingFunction final : public KeyedProcessFunction<int64_t, Command, int64_t> {
 public:
  struct Call {
    char what;  // 'p' PrefetchElement, 'e' ProcessElement
    int64_t value;
    int64_t count;       // the key's count the call read
    int64_t pair_count;  // 'e': the (key, value) count it stored
  };
  explicit PrefetchingFunction(std::vector<Call>* log) : log_(log) {}
  Status Open(RuntimeContext& context) override {
    count_ = context.GetState<int64_t>("count");
    per_value_ = context.GetState<int64_t>("per-value");
    return Status::Ok();
  }
  void PrefetchElement(const Command& command, PrefetchContext& prefetch) {
    prefetch.Prefetch(*count_);
    prefetch.Prefetch(*per_value_, Namespace(command.value));
    log_->push_back({'p', command.value, count_->Value().value_or(0), 0});
  }
  void ProcessElement(const Command& command, Context& context, Collector<int64_t>& out) override {
    EXPECT_EQ(context.GetCurrentKey(), command.key);
    const int64_t count = count_->Value().value_or(0) + 1;
    count_->Update(count);
    const std::string ns = Namespace(command.value);
    per_value_->SetCurrentNamespace(ns);
    const int64_t pair_count = per_value_->Value().value_or(0) + 1;
    per_value_->Update(pair_count);
    log_->push_back({'e', command.value, count, pair_count});
    out.Collect(count);
  }

 private:
  static std::string Namespace(int64_t value) { return std::to_string(value); }
  std::vector<Call>* log_;
  state::ValueState<int64_t>* count_ = nullptr;
  state::ValueState<int64_t>* per_value_ = nullptr;
};

// A batch through a function with PrefetchElement: each record's two prefetch calls (slots,
// then entries) come 2 * kPrefetchDistance and kPrefetchDistance records ahead of its
// ProcessElement, with its key current (the count they read is the key's count at that point),
// and ProcessElement runs in input order; the counts it stores equal a reference's.
TEST_F(KeyedProcessOperatorTest, PrefetchElementRunsAheadOfEachRecordWithItsKey) {
  using Op = OperatorOf<PrefetchingFunction, int64_t>;
  constexpr size_t kDistance = Op::kPrefetchDistance;
  std::vector<PrefetchingFunction::Call> log;
  Op op{KeyOf(), PrefetchingFunction(&log)};
  CollectingOutput<int64_t> out;
  op.SetOutput(&out);
  ASSERT_TRUE(op.Open(&context_).ok());

  std::mt19937_64 random(77);
  std::map<int64_t, int64_t> counts;                         // reference: records per key
  std::map<std::pair<int64_t, int64_t>, int64_t> per_value;  // and per (key, value)
  std::vector<int64_t> expected_out;
  std::vector<PrefetchingFunction::Call> expected_log;
  int64_t next_value = 0;
  for (const size_t batch_size : {1, 3, 4, 5, 8, 9, 17, 64, 5, 64, 30}) {
    std::vector<Command> batch;
    std::vector<Timestamp> times;
    for (size_t i = 0; i < batch_size; ++i) {
      // Few keys, so records of one key are often within the distance; values repeat per key.
      batch.push_back(Command{static_cast<int64_t>(random() % 5), next_value++ % 23, 0, kMinTimestamp});
      times.push_back(static_cast<Timestamp>(i));
    }
    // The reference schedule: steps of (stage, record) in the operator's order, each record's
    // state read at the step.
    const size_t n = batch.size();
    std::vector<std::pair<int, size_t>> steps;
    for (size_t i = 0; i < std::min(n, 2 * kDistance); ++i) steps.emplace_back(0, i);
    for (size_t i = 0; i < std::min(n, kDistance); ++i) steps.emplace_back(1, i);
    for (size_t i = 0; i < n; ++i) {
      if (i + 2 * kDistance < n) steps.emplace_back(0, i + 2 * kDistance);
      if (i + kDistance < n) steps.emplace_back(1, i + kDistance);
      steps.emplace_back(2, i);
    }
    std::vector<int> prefetches(n, 0);
    for (const auto& [what, i] : steps) {
      if (what < 2) {
        EXPECT_EQ(prefetches[i]++, what) << "record " << i << " of a batch of " << n;
        expected_log.push_back({'p', batch[i].value, counts[batch[i].key], 0});
      } else {
        EXPECT_EQ(prefetches[i], 2) << "record " << i << " processed before its prefetches";
        const int64_t count = ++counts[batch[i].key];
        const int64_t pair_count = ++per_value[{batch[i].key, batch[i].value}];
        expected_log.push_back({'e', batch[i].value, count, pair_count});
        expected_out.push_back(count);
      }
    }
    op.CollectBatch(batch, times);
  }

  ASSERT_EQ(log.size(), expected_log.size());
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].what, expected_log[i].what) << "call " << i;
    EXPECT_EQ(log[i].value, expected_log[i].value) << "call " << i;
    EXPECT_EQ(log[i].count, expected_log[i].count) << "call " << i;
    EXPECT_EQ(log[i].pair_count, expected_log[i].pair_count) << "call " << i;
  }
  EXPECT_EQ(std::vector<int64_t>(out.values.begin(), out.values.end()), expected_out);
  op.Close();
}

}  // namespace
}  // namespace weir::operators
