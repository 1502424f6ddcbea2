#include "runtime/stream_task.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "api/stream_execution_environment.h"
#include "runtime/typed_exchange.h"

namespace weir::runtime {
namespace {

// What reached the end of a chain: watermarks and status changes in order.
class EventRecorder final : public operators::SinkOperator<int64_t> {
 public:
  void Collect(const int64_t&, Timestamp) override {}
  void EmitWatermark(Timestamp watermark) override { watermarks.push_back(watermark); }
  void EmitWatermarkStatus(bool idle) override { statuses.push_back(idle); }
  void EndInput() override { ended = true; }

  std::vector<Timestamp> watermarks;
  std::vector<bool> statuses;
  bool ended = false;
};

// A task whose head is an EventRecorder fed by `inputs` channels that the test fills by hand.
class ValveHarness {
 public:
  explicit ValveHarness(int inputs) : task_("valve", nullptr) {
    auto recorder = std::make_unique<EventRecorder>();
    recorder_ = recorder.get();
    auto context = std::make_unique<operators::OperatorContext>();
    context->task_name = "recorder";
    task_.AddOperator(std::move(recorder), std::move(context));
    BatchDecoder* decoder = task_.AddDecoder(
        std::make_unique<TypedBatchDecoder<int64_t>>(static_cast<operators::Output<int64_t>*>(recorder_)));
    for (int i = 0; i < inputs; ++i) {
      channels_.push_back(std::make_unique<StreamChannel>(16));
      task_.AddInput(channels_.back().get(), decoder);
    }
    EXPECT_TRUE(task_.Open().ok());
  }
  ~ValveHarness() { task_.Close(); }

  // Delivers one message on `input` and lets the task process everything queued.
  void Send(int input, StreamMessage message) {
    ASSERT_TRUE(channels_[input]->TryPush(std::move(message)));
    while (task_.RunOnce(MonotonicNanos()) == sched::Task::Progress::kDidWork) {
    }
  }
  void Watermark(int input, Timestamp watermark) { Send(input, StreamMessage::Watermark(watermark)); }
  void Idle(int input, bool idle) { Send(input, StreamMessage::WatermarkStatus(idle)); }
  void End(int input) { Send(input, StreamMessage::EndOfInput()); }

  const EventRecorder& recorder() const { return *recorder_; }
  Timestamp last() const { return recorder_->watermarks.empty() ? kMinTimestamp : recorder_->watermarks.back(); }

 private:
  StreamTask task_;
  EventRecorder* recorder_;
  std::vector<std::unique_ptr<StreamChannel>> channels_;
};

// What a decoder's head and event handler saw, in one log: "r<value>@<ts>" per record,
// "batch<n>" before each CollectBatch's records, "w<value>" per watermark event.
template <typename T>
class DecodeLog final : public operators::Output<T>, public BatchEventHandler {
 public:
  void Collect(const T& value, Timestamp timestamp) override {
    entries.push_back(fmt::format("r{}@{}", Describe(value), timestamp));
  }
  void CollectBatch(std::span<const T> values, std::span<const Timestamp> timestamps) override {
    entries.push_back(fmt::format("batch{}", values.size()));
    operators::Output<T>::CollectBatch(values, timestamps);
  }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}
  void OnEvent(serde::BatchEvent event, int64_t value) override {
    entries.push_back(fmt::format("w{}", value));
  }
  static std::string Describe(const T& value) {
    if constexpr (std::is_same_v<T, std::string_view>) {
      return std::string(value);
    } else {
      return std::to_string(value.a) + "/" + std::to_string(value.b);
    }
  }
  std::vector<std::string> entries;
};

struct PlainRecord {
  int64_t a;
  int32_t b;
};

// A batch of plain records reaches the head in CollectBatch calls of at most 64 that end at each
// event, so the head sees every record, timestamp and event in batch order; a type read in place
// (strings) goes one Collect per record.
TEST(TypedBatchDecoderTest, PlainRecordsArriveInGroupsCutAtEventsAndInBatchOrder) {
  serde::RecordBatch batch = serde::RecordBatch::Oversized(64 * 1024);
  std::vector<std::string> records;  // the same without the batch markers
  int pending = 0;
  std::vector<int> groups;
  for (int i = 0; i < 300; ++i) {
    if (i == 10 || i == 11 || i == 200) {
      ASSERT_TRUE(batch.TryAppendEvent(serde::BatchEvent::kWatermark, i));
      groups.push_back(pending);
      pending = 0;
      records.push_back(fmt::format("w{}", i));
    }
    ASSERT_TRUE(batch.TryAppend(PlainRecord{i * 3, -i}, 1000 + i));
    records.push_back(fmt::format("r{}/{}@{}", i * 3, -i, 1000 + i));
    if (++pending == 64) {
      groups.push_back(pending);
      pending = 0;
    }
  }
  groups.push_back(pending);
  DecodeLog<PlainRecord> log;
  TypedBatchDecoder<PlainRecord> decoder(&log);
  decoder.Decode(batch, log);
  std::vector<std::string> seen;
  std::vector<int> seen_groups;
  for (const std::string& entry : log.entries) {
    if (entry.starts_with("batch")) {
      seen_groups.push_back(std::stoi(entry.substr(5)));
    } else {
      seen.push_back(entry);
    }
  }
  EXPECT_EQ(seen, records);
  groups.erase(std::remove(groups.begin(), groups.end(), 0), groups.end());
  EXPECT_EQ(seen_groups, groups);

  serde::RecordBatch strings = serde::RecordBatch::Oversized(4096);
  ASSERT_TRUE(strings.TryAppend(std::string_view("one"), 1));
  ASSERT_TRUE(strings.TryAppendEvent(serde::BatchEvent::kWatermark, 5));
  ASSERT_TRUE(strings.TryAppend(std::string_view("two"), 2));
  DecodeLog<std::string_view> string_log;
  TypedBatchDecoder<std::string_view> string_decoder(&string_log);
  string_decoder.Decode(strings, string_log);
  EXPECT_EQ(string_log.entries, (std::vector<std::string>{"rone@1", "w5", "rtwo@2"}));
}

TEST(StreamTaskTest, WatermarkIsTheMinimumOverActiveInputs) {
  ValveHarness valve(2);
  valve.Watermark(0, 10);
  EXPECT_TRUE(valve.recorder().watermarks.empty());  // input 1 has said nothing yet
  valve.Watermark(1, 5);
  EXPECT_EQ(valve.last(), 5);
  valve.Watermark(1, 20);
  EXPECT_EQ(valve.last(), 10);
  valve.Watermark(0, 30);
  EXPECT_EQ(valve.last(), 20);
}

TEST(StreamTaskTest, IdleInputDoesNotHoldTheWatermarkBack) {
  ValveHarness valve(2);
  valve.Watermark(0, 100);
  valve.Watermark(1, 10);
  EXPECT_EQ(valve.last(), 10);
  valve.Idle(1, true);
  EXPECT_EQ(valve.last(), 100);  // only input 0 counts
  EXPECT_TRUE(valve.recorder().statuses.empty());  // input 0 is active: the task is not idle
  valve.Watermark(1, 50);  // an idle input's watermark is ignored
  EXPECT_EQ(valve.last(), 100);
  valve.Watermark(0, 200);
  EXPECT_EQ(valve.last(), 200);
}

TEST(StreamTaskTest, ReturningInputCountsOnlyOnceCaughtUp) {
  ValveHarness valve(2);
  valve.Watermark(0, 100);
  valve.Watermark(1, 10);
  valve.Idle(1, true);
  EXPECT_EQ(valve.last(), 100);
  valve.Idle(1, false);          // back, but its watermark (10) is behind the task's (100)
  valve.Watermark(0, 150);
  EXPECT_EQ(valve.last(), 150);  // input 1 is not aligned yet: it does not pull time back
  valve.Watermark(1, 120);       // still behind 150
  valve.Watermark(0, 300);
  EXPECT_EQ(valve.last(), 300);
  valve.Watermark(1, 310);       // caught up: aligned again
  valve.Watermark(0, 400);
  EXPECT_EQ(valve.last(), 310);
  // Watermarks never go backwards.
  const auto& seen = valve.recorder().watermarks;
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST(StreamTaskTest, AllInputsIdleFlushesTheMaximumAndGoesIdle) {
  ValveHarness valve(2);
  valve.Watermark(0, 40);
  valve.Watermark(1, 70);
  EXPECT_EQ(valve.last(), 40);
  valve.Idle(0, true);
  EXPECT_EQ(valve.last(), 70);
  valve.Idle(1, true);
  EXPECT_EQ(valve.recorder().statuses, std::vector<bool>{true});
  valve.Idle(0, false);
  EXPECT_EQ(valve.recorder().statuses, (std::vector<bool>{true, false}));
}

TEST(StreamTaskTest, EndedInputsLeaveTheValveAndTheLastEndSendsTheMaximum) {
  ValveHarness valve(3);
  valve.Watermark(0, 5);
  valve.Watermark(1, 50);
  valve.Watermark(2, 60);
  EXPECT_EQ(valve.last(), 5);
  valve.End(0);
  EXPECT_EQ(valve.last(), 50);
  valve.Idle(1, true);
  EXPECT_EQ(valve.last(), 60);
  valve.End(2);  // only an idle input remains: the task is idle
  EXPECT_EQ(valve.recorder().statuses, std::vector<bool>{true});
  EXPECT_FALSE(valve.recorder().ended);
  valve.End(1);
  EXPECT_EQ(valve.last(), kMaxTimestamp);
  EXPECT_TRUE(valve.recorder().ended);
}

TEST(StreamTaskTest, RandomMessagesKeepTheValveInvariants) {
  // Against a reference: the emitted watermark never decreases and never exceeds the minimum of
  // the aligned active inputs' watermarks at the time it was emitted.
  std::mt19937_64 random(7);
  for (int round = 0; round < 50; ++round) {
    const int inputs = 1 + static_cast<int>(random() % 4);
    ValveHarness valve(inputs);
    std::vector<Timestamp> sent(inputs, kMinTimestamp);
    for (int step = 0; step < 200; ++step) {
      const int input = static_cast<int>(random() % inputs);
      if (random() % 5 == 0) {
        valve.Idle(input, random() % 2 == 0);
      } else {
        sent[input] = std::max(sent[input], static_cast<Timestamp>(random() % 1000));
        const size_t before = valve.recorder().watermarks.size();
        valve.Watermark(input, sent[input]);
        if (valve.recorder().watermarks.size() > before) {
          EXPECT_LE(valve.last(), *std::max_element(sent.begin(), sent.end()));
        }
      }
    }
    const auto& seen = valve.recorder().watermarks;
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a watermark repeated";
  }
}

// Even numbers to the main output, odd ones to the side output "odd" (as strings, to check the
// side output's own type).
struct SplitByParity : operators::ProcessFunction<int64_t, int64_t> {
  operators::OutputTag<std::string> odd{"odd"};
  void ProcessElement(const int64_t& value, Context& context, operators::Collector<int64_t>& out) override {
    if (value % 2 == 0) {
      out.Collect(value);
    } else {
      context.Output(odd, std::to_string(value));
    }
  }
};

template <typename T>
class SharedCollector final : public operators::SinkOperator<T> {
 public:
  SharedCollector(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::multiset<T>> values)
      : mutex_(std::move(mutex)), values_(std::move(values)) {}
  void Collect(const T& value, Timestamp) override {
    std::lock_guard lock(*mutex_);
    values_->insert(value);
  }

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::multiset<T>> values_;
};

TEST(StreamTaskTest, SideOutputsReachTheirConsumersAtAnyParallelism) {
  for (int parallelism : {1, 2}) {
    for (bool consume_main : {true, false}) {
      Configuration config;
      ASSERT_TRUE(config.Set("parallelism.default", std::to_string(parallelism)).ok());
      api::StreamExecutionEnvironment env(config);
      auto mutex = std::make_shared<std::mutex>();
      auto evens = std::make_shared<std::multiset<int64_t>>();
      auto odds = std::make_shared<std::multiset<std::string>>();
      auto split = env.FromSequence(1, 10'000).Rebalance().Process(SplitByParity());
      if (consume_main) {
        split.SinkTo("Evens", [mutex, evens](int) {
          return std::make_unique<SharedCollector<int64_t>>(mutex, evens);
        });
      }
      // The side output crosses a rebalance into a single subtask, so it needs its own exchange.
      split.GetSideOutput(operators::OutputTag<std::string>("odd"))
          .Rebalance()
          .SinkTo("Odds", [mutex, odds](int) {
            return std::make_unique<SharedCollector<std::string>>(mutex, odds);
          })
          .SetParallelism(1);
      auto result = env.Execute("side outputs");
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      std::multiset<int64_t> expected_evens;
      std::multiset<std::string> expected_odds;
      for (int64_t v = 1; v <= 10'000; ++v) {
        if (v % 2 == 0) {
          expected_evens.insert(v);
        } else {
          expected_odds.insert(std::to_string(v));
        }
      }
      if (consume_main) EXPECT_EQ(*evens, expected_evens) << "p=" << parallelism;
      EXPECT_EQ(*odds, expected_odds) << "p=" << parallelism << " main consumed: " << consume_main;
    }
  }
}

// Counts processing-time callbacks: asks for one 20 ms after opening, then every 20 ms, five
// times, and passes its input through.
class TickingOperator final : public operators::OneInputOperator<int64_t, int64_t> {
 public:
  explicit TickingOperator(std::shared_ptr<std::atomic<int>> ticks) : ticks_(std::move(ticks)) {}
  Status Open(operators::OperatorContext* context) override {
    next_ = WallMillis() + 20;
    return OneInputOperator::Open(context);
  }
  void Collect(const int64_t& value, Timestamp timestamp) override {
    output()->Collect(value, timestamp);
  }
  Timestamp NextProcessingTime() const override { return next_; }
  void OnProcessingTime(Timestamp now) override {
    EXPECT_GE(now, next_);
    next_ = ticks_->fetch_add(1) + 1 < 5 ? now + 20 : kMaxTimestamp;
  }

 private:
  std::shared_ptr<std::atomic<int>> ticks_;
  Timestamp next_ = kMaxTimestamp;
};

// A source that never ends until the test stops the job (a quiet socket).
class QuietSource final : public operators::SourceOperator<int64_t> {
 public:
  Result<operators::SourceStatus> Poll(int) override { return operators::SourceStatus::kNothingNow; }
};

TEST(StreamTaskTest, ProcessingTimeCallbacksFireWhileTheTaskHasNoInput) {
  Configuration config;
  api::StreamExecutionEnvironment env(config);
  auto ticks = std::make_shared<std::atomic<int>>(0);
  env.AddSource<int64_t>("Quiet", [](int) { return std::make_unique<QuietSource>(); })
      .Then<int64_t>("Ticking", [ticks](int) { return std::make_unique<TickingOperator>(ticks); })
      .Discard();
  std::thread stopper([&env, ticks] {
    const int64_t deadline = MonotonicNanos() + 10'000'000'000;
    while (ticks->load() < 5 && MonotonicNanos() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    env.RequestStop();
  });
  const int64_t start = MonotonicNanos();
  auto result = env.Execute("ticks");
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(ticks->load(), 5);
  EXPECT_GE(MonotonicNanos() - start, 90'000'000);  // five ticks 20 ms apart
}

// Emits `count` records, each followed by a watermark at its value.
class WatermarkEveryRecordSource final : public operators::SourceOperator<int64_t> {
 public:
  explicit WatermarkEveryRecordSource(int64_t count) : count_(count) {}
  Result<operators::SourceStatus> Poll(int max_records) override {
    for (int i = 0; i < max_records && next_ < count_; ++i, ++next_) {
      output()->Collect(next_, next_);
      output()->EmitWatermark(next_);
    }
    return next_ < count_ ? operators::SourceStatus::kMoreAvailable : operators::SourceStatus::kEndOfInput;
  }

 private:
  int64_t count_;
  int64_t next_ = 0;
};

// Records the largest watermark seen and the records, checking each record is ahead of it.
class WatermarkOrderSink final : public operators::SinkOperator<int64_t> {
 public:
  WatermarkOrderSink(std::shared_ptr<std::mutex> mutex, std::shared_ptr<std::multiset<int64_t>> values)
      : mutex_(std::move(mutex)), values_(std::move(values)) {}
  void Collect(const int64_t& value, Timestamp timestamp) override {
    EXPECT_GT(timestamp, watermark_) << "a record arrived behind the watermark";
    std::lock_guard lock(*mutex_);
    values_->insert(value);
  }
  void EmitWatermark(Timestamp watermark) override {
    EXPECT_GE(watermark, watermark_);
    watermark_ = watermark;
  }

 private:
  std::shared_ptr<std::mutex> mutex_;
  std::shared_ptr<std::multiset<int64_t>> values_;
  Timestamp watermark_ = kMinTimestamp;
};

TEST(StreamTaskTest, FrequentWatermarksTravelInBandWithoutExhaustingNetworkBuffers) {
  // A watermark after every record into three keyed exchanges: were each watermark a flush of
  // every lane into a message of its own, one poll would need thousands of segments.
  Configuration config;
  ASSERT_TRUE(config.Set("parallelism.default", "2").ok());
  ASSERT_TRUE(config.Set("taskmanager.memory.network.max", "4mb").ok());
  api::StreamExecutionEnvironment env(config);
  auto source = env.AddSource<int64_t>("Watermarks", [](int) {
    return std::make_unique<WatermarkEveryRecordSource>(200'000);
  }, 1);
  auto mutex = std::make_shared<std::mutex>();
  std::vector<std::shared_ptr<std::multiset<int64_t>>> outputs;
  for (int i = 0; i < 3; ++i) {
    outputs.push_back(std::make_shared<std::multiset<int64_t>>());
    source.KeyBy([](const int64_t& v) { return v % 101; })
        .Reduce([](const int64_t&, const int64_t& latest) { return latest; })
        .SinkTo("Check", [mutex, into = outputs.back()](int) {
          return std::make_unique<WatermarkOrderSink>(mutex, into);
        });
  }
  auto result = env.Execute("in-band watermarks");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  for (const auto& output : outputs) EXPECT_EQ(output->size(), 200'000u);
}

}  // namespace
}  // namespace weir::runtime
