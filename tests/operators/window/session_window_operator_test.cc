#include "operators/window/session_window_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "operators/collecting_output.h"
#include "operators/window/assigners.h"
#include "operators/window/triggers.h"
#include "operators/window/window_functions.h"
#include "operators/window/window_operator.h"
#include "state/snapshot.h"
#include "state/table_snapshot.h"

namespace weir::operators::window {
namespace {

using operators::testing::CollectingOutput;

struct Event {
  int64_t key;
  int64_t value;
};

// One step of an input stream: an element with its timestamp, or a watermark.
struct Step {
  bool is_watermark;
  Event event;
  Timestamp time;
};

// A session result with its key and window, as the window functions below emit it.
template <typename R>
struct Emitted {
  int64_t key;
  Timestamp start;
  Timestamp end;
  R value;
  Timestamp timestamp;  // filled from the output's record timestamp
  friend bool operator==(const Emitted&, const Emitted&) = default;
  friend auto operator<=>(const Emitted&, const Emitted&) = default;
};

template <typename R>
std::ostream& operator<<(std::ostream& out, const Emitted<R>& e) {
  return out << "{key " << e.key << " [" << e.start << "," << e.end << ") value " << e.value
             << " ts " << e.timestamp << "}";
}

using Late = std::tuple<int64_t, int64_t, Timestamp>;  // (key, value, timestamp)

struct KeyOf {
  int64_t operator()(const Event& event) const { return event.key; }
};

struct WithWindow {
  template <typename R>
  void operator()(const int64_t& key, const TimeWindow& window, const R& result,
                  Collector<Emitted<R>>& out) const {
    out.Collect({key, window.start, window.end, result, 0});
  }
};

// The same output from the generic operator's aggregate(f, processWindowFunction).
template <typename R>
class WithWindowProcess final : public ProcessWindowFunction<R, Emitted<R>, int64_t, TimeWindow> {
 public:
  void Process(const int64_t& key, WindowContext<TimeWindow>& context, std::span<const R> results,
               Collector<Emitted<R>>& out) override {
    for (const R& result : results) {
      out.Collect({key, context.window().start, context.window().end, result, 0});
    }
  }
};

struct SumAggregate {  // in-place Add, value-returning Merge
  int64_t CreateAccumulator() const { return 0; }
  void Add(const Event& event, int64_t& sum) const { sum += event.value; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
  int64_t GetResult(const int64_t& sum) const { return sum; }
};
struct CountAggregate {  // Flink's shape: Add returns the new accumulator
  int64_t CreateAccumulator() const { return 0; }
  int64_t Add(const Event&, int64_t count) const { return count + 1; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
  int64_t GetResult(const int64_t& count) const { return count; }
};
struct MaxAggregate {  // in-place Merge (the generic operator's state takes the other shape only)
  int64_t CreateAccumulator() const { return std::numeric_limits<int64_t>::min(); }
  void Add(const Event& event, int64_t& max) const { max = std::max(max, event.value); }
  void Merge(const int64_t& from, int64_t& into) const { into = std::max(into, from); }
  int64_t GetResult(const int64_t& max) const { return max; }
};
struct AverageAggregate {  // a two-field accumulator
  struct Acc {
    int64_t sum;
    int64_t count;
  };
  Acc CreateAccumulator() const { return {0, 0}; }
  void Add(const Event& event, Acc& acc) const {
    acc.sum += event.value;
    ++acc.count;
  }
  Acc Merge(const Acc& a, const Acc& b) const { return {a.sum + b.sum, a.count + b.count}; }
  double GetResult(const Acc& acc) const { return static_cast<double>(acc.sum) / acc.count; }
};

int64_t ReferenceSum(const std::vector<int64_t>& values) {
  int64_t sum = 0;
  for (int64_t v : values) sum += v;
  return sum;
}
int64_t ReferenceMax(const std::vector<int64_t>& values) {
  return *std::max_element(values.begin(), values.end());
}
int64_t ReferenceCount(const std::vector<int64_t>& values) {
  return static_cast<int64_t>(values.size());
}
double ReferenceAverage(const std::vector<int64_t>& values) {
  return static_cast<double>(ReferenceSum(values)) / static_cast<double>(values.size());
}

// A seeded stream: time advances 0..2 ms per element with pauses of up to `pause` ms (which end
// sessions), timestamps are up to `bound` ms behind the clock, a `late_fraction` of them up to
// `late_extra` ms more; a bounded-out-of-orderness watermark (max timestamp - bound - 1) every
// 10 elements; the maximum watermark last.
std::vector<Step> RandomStream(uint64_t seed, int count, int keys, Timestamp bound, Timestamp pause,
                               double late_fraction, Timestamp late_extra) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<Step> steps;
  Timestamp now = 0;
  Timestamp max_time = kMinTimestamp;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    now += static_cast<Timestamp>(rng() % 3);
    if (pause > 0 && rng() % 50 == 0) now += static_cast<Timestamp>(rng() % (pause + 1));
    Timestamp time = now - static_cast<Timestamp>(rng() % (bound + 1));
    if (unit(rng) < late_fraction) time -= static_cast<Timestamp>(rng() % (late_extra + 1));
    const Event event{static_cast<int64_t>(rng() % keys), static_cast<int64_t>(rng() % 2001) - 1000};
    steps.push_back({false, event, time});
    max_time = std::max(max_time, time);
    if (i % 10 == 9 && max_time - bound - 1 > watermark) {
      watermark = max_time - bound - 1;
      steps.push_back({true, {}, watermark});
    }
  }
  steps.push_back({true, {}, kMaxTimestamp});
  return steps;
}

// Flink's session semantics simulated from their definition, with no timers: each key's open
// sessions hold their elements' values; an element's window [t, t + gap) absorbs every session
// it intersects until none is left (touching windows intersect); a window whose end - 1 +
// lateness <= watermark is late; a window whose end - 1 <= watermark fires at once; a watermark
// fires the sessions it passes (in order of end) and drops those past their lateness.
template <typename R>
class ReferenceSessions {
 public:
  ReferenceSessions(const SessionWindowOptions& options, R (*function)(const std::vector<int64_t>&))
      : gap_(options.gap_ms), lateness_(options.allowed_lateness_ms), function_(function) {}

  void Element(const Event& event, Timestamp time) {
    std::vector<Session>& open = open_[event.key];
    Session merged{time, time + gap_, {}, false};
    size_t absorbed = 0;
    for (bool again = true; again;) {
      again = false;
      for (size_t i = 0; i < open.size(); ++i) {
        if (open[i].start <= merged.end && open[i].end >= merged.start) {
          merged.start = std::min(merged.start, open[i].start);
          merged.end = std::max(merged.end, open[i].end);
          merged.values.insert(merged.values.end(), open[i].values.begin(), open[i].values.end());
          open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
          ++absorbed;
          again = true;
          break;
        }
      }
    }
    if (merged.end - 1 + lateness_ <= watermark_) {
      late.emplace_back(event.key, event.value, time);
      return;
    }
    bridges += absorbed >= 2;
    merged.values.push_back(event.value);
    merged.fired = merged.end - 1 <= watermark_;
    if (merged.fired) {
      Fire(event.key, merged);
      ++late_firings;
    }
    open.push_back(std::move(merged));
  }

  void Advance(Timestamp watermark) {
    watermark_ = watermark;
    for (auto& [key, open] : open_) {
      std::sort(open.begin(), open.end(),
                [](const Session& a, const Session& b) { return a.end < b.end; });
      for (Session& session : open) {
        if (!session.fired && session.end - 1 <= watermark) {
          Fire(key, session);
          session.fired = true;
        }
      }
      std::erase_if(open, [&](const Session& session) {
        return session.end - 1 + lateness_ <= watermark;
      });
    }
  }

  std::map<int64_t, std::vector<Emitted<R>>> per_key;
  std::vector<Late> late;
  size_t bridges = 0;
  size_t late_firings = 0;

 private:
  struct Session {
    Timestamp start;
    Timestamp end;
    std::vector<int64_t> values;
    bool fired;
  };
  void Fire(int64_t key, const Session& session) {
    per_key[key].push_back(
        {key, session.start, session.end, function_(session.values), session.end - 1});
  }

  Timestamp gap_;
  Timestamp lateness_;
  R (*function_)(const std::vector<int64_t>&);
  Timestamp watermark_ = kMinTimestamp;
  std::map<int64_t, std::vector<Session>> open_;
};

class SessionWindowOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 1024;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "SessionWindow (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  template <typename Aggregate, typename R>
  using Operator = SessionWindowOperator<Event, Emitted<R>, KeyOf, Aggregate, WithWindow>;

  template <typename R>
  struct Outcome {
    std::map<int64_t, std::vector<Emitted<R>>> per_key;  // results per key, in emission order
    std::vector<Late> late;
    int64_t late_dropped = 0;
  };

  template <typename R>
  static std::map<int64_t, std::vector<Emitted<R>>> PerKey(const CollectingOutput<Emitted<R>>& sink) {
    return operators::testing::ValuesPerKey(sink);
  }
  static void Feed(Output<Event>& op, const std::vector<Step>& steps) {
    for (const Step& step : steps) {
      if (step.is_watermark) {
        op.EmitWatermark(step.time);
      } else {
        op.Collect(step.event, step.time);
      }
    }
  }

  // Runs the session operator; all sessions must be cleaned up after the maximum watermark.
  template <typename Aggregate, typename R>
  Outcome<R> RunSessions(const SessionWindowOptions& options, const std::vector<Step>& steps) {
    OperatorContext context = context_;
    Operator<Aggregate, R> op(KeyOf(), Aggregate(), options);
    CollectingOutput<Emitted<R>> sink;
    CollectingOutput<Event> late;
    op.SetOutput(&sink);
    if (options.late_data_tag) op.SetSideOutput(*options.late_data_tag, &late);
    EXPECT_TRUE(op.Open(&context).ok());
    Feed(op, steps);
    EXPECT_FALSE(context.failed()) << context.status();
    EXPECT_EQ(op.session_count(), 0);
    EXPECT_EQ(op.key_count(), 0u);
    Outcome<R> outcome{PerKey(sink), {}, op.late_dropped()};
    for (size_t i = 0; i < late.values.size(); ++i) {
      outcome.late.emplace_back(late.values[i].key, late.values[i].value, late.timestamps[i]);
    }
    op.Close();
    return outcome;
  }

  // Runs Flink's generic WindowOperator with EventTimeSessionWindows.withGap, EventTimeTrigger
  // and aggregate(f, window function).
  template <typename Aggregate, typename R>
  Outcome<R> RunGeneric(const SessionWindowOptions& options, const std::vector<Step>& steps) {
    using Assigner = decltype(EventTimeSessionWindows::WithGap(std::chrono::milliseconds(1)));
    using Contents =
        internal::AggregateContents<Event, int64_t, TimeWindow, Aggregate, WithWindowProcess<R>>;
    using Generic = WindowOperator<Event, KeyOf, Assigner, EventTimeTrigger, Contents>;
    WindowOptions<Event> window_options;
    window_options.allowed_lateness = options.allowed_lateness_ms;
    if (options.late_data_tag) window_options.late_data_tag.emplace(*options.late_data_tag);
    OperatorContext context = context_;
    Generic op(KeyOf(), EventTimeSessionWindows::WithGap(std::chrono::milliseconds(options.gap_ms)),
               EventTimeTrigger(), Contents(Aggregate(), WithWindowProcess<R>()), NoEvictor(),
               window_options);
    CollectingOutput<Emitted<R>> sink;
    CollectingOutput<Event> late;
    op.SetOutput(&sink);
    if (options.late_data_tag) op.SetSideOutput(*options.late_data_tag, &late);
    EXPECT_TRUE(op.Open(&context).ok());
    Feed(op, steps);
    EXPECT_FALSE(context.failed()) << context.status();
    Outcome<R> outcome{PerKey(sink), {}, op.num_late_records_dropped()};
    for (size_t i = 0; i < late.values.size(); ++i) {
      outcome.late.emplace_back(late.values[i].key, late.values[i].value, late.timestamps[i]);
    }
    op.Close();
    return outcome;
  }

  struct Coverage {
    size_t late = 0;
    size_t late_firings = 0;
    size_t bridges = 0;
    size_t results = 0;
  };

  // The operator against the definition-level simulation: per key the same results in the same
  // order, the same late elements (or their count when no late output is set).
  template <typename Aggregate, typename R>
  Coverage CheckAgainstReference(const SessionWindowOptions& options, const std::vector<Step>& steps,
                                 R (*function)(const std::vector<int64_t>&)) {
    SCOPED_TRACE(::testing::Message() << "gap " << options.gap_ms << " lateness "
                                      << options.allowed_lateness_ms << " late tag "
                                      << options.late_data_tag.has_value());
    ReferenceSessions<R> reference(options, function);
    for (const Step& step : steps) {
      if (step.is_watermark) {
        reference.Advance(step.time);
      } else {
        reference.Element(step.event, step.time);
      }
    }
    const Outcome<R> actual = RunSessions<Aggregate, R>(options, steps);
    EXPECT_EQ(actual.per_key, reference.per_key);
    if (options.late_data_tag) {
      EXPECT_EQ(actual.late, reference.late);
      EXPECT_EQ(actual.late_dropped, 0);
    } else {
      EXPECT_EQ(actual.late_dropped, static_cast<int64_t>(reference.late.size()));
    }
    Coverage coverage{reference.late.size(), reference.late_firings, reference.bridges, 0};
    for (const auto& [key, results] : reference.per_key) coverage.results += results.size();
    EXPECT_GT(coverage.results, 0u);
    return coverage;
  }

  // The operator against the generic WindowOperator: the same multiset of (key, window, result,
  // timestamp), the same late elements, the same dropped count.
  template <typename Aggregate, typename R>
  void CheckAgainstGeneric(const SessionWindowOptions& options, const std::vector<Step>& steps) {
    SCOPED_TRACE(::testing::Message() << "generic: gap " << options.gap_ms << " lateness "
                                      << options.allowed_lateness_ms);
    const Outcome<R> fast = RunSessions<Aggregate, R>(options, steps);
    const Outcome<R> generic = RunGeneric<Aggregate, R>(options, steps);
    std::multiset<Emitted<R>> fast_results;
    std::multiset<Emitted<R>> generic_results;
    for (const auto& [key, results] : fast.per_key) fast_results.insert(results.begin(), results.end());
    for (const auto& [key, results] : generic.per_key) {
      generic_results.insert(results.begin(), results.end());
    }
    EXPECT_GT(generic_results.size(), 0u);
    EXPECT_EQ(fast_results, generic_results);
    EXPECT_EQ(fast.late, generic.late);
    EXPECT_EQ(fast.late_dropped, generic.late_dropped);
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{256 << 20};
  OperatorContext context_;
};

SessionWindowOptions Options(int64_t gap, int64_t lateness, bool late_tag) {
  SessionWindowOptions options = SessionWindowOptions::WithGap(gap);
  options.allowed_lateness_ms = lateness;
  if (late_tag) options.late_data_tag = "late";
  return options;
}

TEST_F(SessionWindowOperatorTest, InOrderSessionsAreTheGapSplitOfEachKeysElements) {
  // In order, nothing is late and every session fires once: per key, sort the elements by time
  // and cut where the next element starts after the current session's end (an element at exactly
  // the end touches the session and joins it).
  for (const int64_t gap : {1, 5, 20, 100}) {
    SCOPED_TRACE(::testing::Message() << "gap " << gap);
    auto steps = RandomStream(static_cast<uint64_t>(gap), 5000, 7, 0, 8 * gap, 0, 0);
    // The watermark two behind the largest timestamp: a session [s, e) fires once an element at
    // e + 1 arrived, so an element at e (touching it) is never behind the watermark.
    for (Step& step : steps) {
      if (step.is_watermark && step.time != kMaxTimestamp) --step.time;
    }
    std::map<int64_t, std::vector<std::pair<Timestamp, int64_t>>> elements;
    for (const Step& step : steps) {
      if (!step.is_watermark) elements[step.event.key].emplace_back(step.time, step.event.value);
    }
    std::map<int64_t, std::vector<Emitted<int64_t>>> expected;
    for (auto& [key, list] : elements) {
      std::stable_sort(list.begin(), list.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      Emitted<int64_t> current{key, list[0].first, list[0].first + gap, 0, 0};
      for (const auto& [time, value] : list) {
        if (time > current.end) {
          current.timestamp = current.end - 1;
          expected[key].push_back(current);
          current = {key, time, time + gap, 0, 0};
        }
        current.end = std::max(current.end, time + gap);
        current.value += value;
      }
      current.timestamp = current.end - 1;
      expected[key].push_back(current);
    }
    const Outcome<int64_t> actual =
        RunSessions<SumAggregate, int64_t>(Options(gap, 0, true), steps);
    EXPECT_EQ(actual.per_key, expected);
    EXPECT_TRUE(actual.late.empty());
    size_t sessions = 0;
    for (const auto& [key, results] : expected) sessions += results.size();
    EXPECT_GT(sessions, 7u * 3);  // the pauses cut sessions
  }
}

TEST_F(SessionWindowOperatorTest, OutOfOrderStreamsMatchReference) {
  uint64_t seed = 100;
  for (const int64_t gap : {3, 10, 30}) {
    const auto steps = RandomStream(seed++, 4000, 9, 40, 6 * gap, 0, 0);
    const Coverage coverage =
        CheckAgainstReference<SumAggregate, int64_t>(Options(gap, 0, true), steps, &ReferenceSum);
    EXPECT_GT(coverage.bridges, 0u);
    CheckAgainstReference<CountAggregate, int64_t>(Options(gap, 0, true), steps, &ReferenceCount);
    CheckAgainstReference<MaxAggregate, int64_t>(Options(gap, 0, true), steps, &ReferenceMax);
    CheckAgainstReference<AverageAggregate, double>(Options(gap, 0, false), steps,
                                                    &ReferenceAverage);
  }
}

TEST_F(SessionWindowOperatorTest, LateElementsAreDroppedOrSentToTheLateOutput) {
  uint64_t seed = 200;
  for (const int64_t gap : {2, 10, 25}) {
    const auto steps = RandomStream(seed++, 4000, 5, 10, 5 * gap, 0.1, 150);
    const Coverage coverage =
        CheckAgainstReference<SumAggregate, int64_t>(Options(gap, 0, false), steps, &ReferenceSum);
    EXPECT_GT(coverage.late, 50u);
    EXPECT_EQ(coverage.late_firings, 0u);
    CheckAgainstReference<SumAggregate, int64_t>(Options(gap, 0, true), steps, &ReferenceSum);
  }
}

TEST_F(SessionWindowOperatorTest, AllowedLatenessFiresSessionsAgainUntilCleanup) {
  uint64_t seed = 300;
  for (const int64_t lateness : {5, 30, 100}) {
    for (const int64_t gap : {3, 20}) {
      const auto steps = RandomStream(seed++, 3000, 5, 15, 5 * gap, 0.15, 200);
      const Coverage coverage = CheckAgainstReference<SumAggregate, int64_t>(
          Options(gap, lateness, true), steps, &ReferenceSum);
      EXPECT_GT(coverage.late_firings, 0u);
      EXPECT_GT(coverage.late, 0u);
      CheckAgainstReference<AverageAggregate, double>(Options(gap, lateness, false), steps,
                                                      &ReferenceAverage);
    }
  }
}

TEST_F(SessionWindowOperatorTest, MatchesTheGenericWindowOperator) {
  uint64_t seed = 400;
  size_t bridges = 0;
  size_t late = 0;
  size_t late_firings = 0;
  for (const int64_t lateness : {0, 7, 60}) {
    for (const int64_t gap : {1, 4, 25}) {
      for (const bool late_tag : {true, false}) {
        const auto steps = RandomStream(seed++, 3000, 6, 30, 5 * gap, 0.1, 120);
        CheckAgainstGeneric<SumAggregate, int64_t>(Options(gap, lateness, late_tag), steps);
        CheckAgainstGeneric<AverageAggregate, double>(Options(gap, lateness, late_tag), steps);
        const Coverage coverage = CheckAgainstReference<SumAggregate, int64_t>(
            Options(gap, lateness, late_tag), steps, &ReferenceSum);
        bridges += coverage.bridges;
        late += coverage.late;
        if (lateness > 0) late_firings += coverage.late_firings;
      }
    }
  }
  // The streams reach the cases that differ from an in-order run.
  EXPECT_GT(bridges, 0u);
  EXPECT_GT(late, 0u);
  EXPECT_GT(late_firings, 0u);
}

TEST_F(SessionWindowOperatorTest, BridgesAndLateMergesMatchTheGenericWindowOperator) {
  // Gap 10. Sessions of one key bridged before they fire, after the first fired (a fired and an
  // unfired one), and late elements inside a fired session (late firings with lateness 20).
  const std::vector<Step> steps = {
      {false, {1, 1}, 0},    {false, {1, 2}, 18},   {false, {1, 4}, 40},  // [0,10) [18,28) [40,50)
      {true, {}, 5},         {false, {1, 8}, 9},                           // bridge: [0, 28)
      {true, {}, 30},                                                      // [0, 28) fires
      {false, {1, 16}, 20},                                                // inside a fired session
      {false, {1, 32}, 33},                                                // [33, 50)
      {false, {1, 64}, 26},                                                // bridge: [0, 50)
      {true, {}, 60},        {false, {1, 128}, 55},                        // [55, 65)
      {false, {1, 256}, 45},                                               // bridge: [0, 65)
      {true, {}, 64},        {false, {1, 512}, 3},                         // late firing
      {true, {}, 200},       {false, {1, 1024}, 1},                        // cleaned up: late
      {true, {}, kMaxTimestamp},
  };
  for (const int64_t lateness : {0, 20}) {
    CheckAgainstGeneric<SumAggregate, int64_t>(Options(10, lateness, true), steps);
    const Coverage coverage =
        CheckAgainstReference<SumAggregate, int64_t>(Options(10, lateness, true), steps, &ReferenceSum);
    EXPECT_GT(coverage.bridges, 0u);
    if (lateness > 0) {
      EXPECT_GT(coverage.late_firings, 0u);
    }
  }
}

TEST_F(SessionWindowOperatorTest, MaximumWatermarkFiresEverySession) {
  std::vector<Step> steps;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    steps.push_back({false, {static_cast<int64_t>(rng() % 3), 1}, static_cast<Timestamp>(rng() % 20000)});
  }
  steps.push_back({true, {}, kMaxTimestamp});
  CheckAgainstReference<CountAggregate, int64_t>(Options(10, 0, true), steps, &ReferenceCount);
  CheckAgainstGeneric<CountAggregate, int64_t>(Options(10, 0, true), steps);
}

TEST_F(SessionWindowOperatorTest, TimersFollowGrowingSessionsWithoutOneTimerPerElement) {
  // One key extended every millisecond for 10 s with a 1 s gap: the session fires once, at the
  // end, and the timers registered are about one per gap of event time.
  Operator<CountAggregate, int64_t> op(KeyOf(), CountAggregate(), SessionWindowOptions::WithGap(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  size_t max_timers = 0;
  for (Timestamp time = 0; time < 10'000; ++time) {
    op.Collect({1, 1}, time);
    if (time % 100 == 99) op.EmitWatermark(time - 1);
    max_timers = std::max(max_timers, op.timer_count());
  }
  EXPECT_EQ(max_timers, 1u);
  EXPECT_TRUE(sink.values.empty());
  op.EmitWatermark(kMaxTimestamp);
  ASSERT_EQ(sink.values.size(), 1u);
  EXPECT_EQ(sink.values[0].start, 0);
  EXPECT_EQ(sink.values[0].end, 10'999);
  EXPECT_EQ(sink.values[0].value, 10'000);
  EXPECT_EQ(sink.timestamps[0], 10'998);
  EXPECT_EQ(op.session_count(), 0);
}

TEST_F(SessionWindowOperatorTest, DefaultWindowFunctionEmitsTheResult) {
  SessionWindowOperator<Event, int64_t, KeyOf, SumAggregate> op(KeyOf(), SumAggregate(),
                                                                SessionWindowOptions::WithGap(10));
  CollectingOutput<int64_t> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 5}, 3);
  op.Collect({1, 6}, 13);  // touches [3, 13): joins it
  op.Collect({1, 7}, 24);  // after [3, 23): a new session
  op.EmitWatermark(22);
  EXPECT_EQ(sink.values, std::vector<int64_t>({11}));
  EXPECT_EQ(sink.timestamps, std::vector<Timestamp>({22}));
  // Watermarks are forwarded after the sessions they fired.
  EXPECT_EQ(sink.watermarks, std::vector<Timestamp>({22}));
}

TEST_F(SessionWindowOperatorTest, ReduceAggregateKeepsArrivalOrderWithinASession) {
  auto last = [](const Event&, const Event& b) { return b; };
  using Reduce = ReduceAggregate<Event, decltype(last)>;
  SessionWindowOperator<Event, Event, KeyOf, Reduce> op(KeyOf(), Reduce(last),
                                                        SessionWindowOptions::WithGap(100));
  CollectingOutput<Event> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 10}, 50);
  op.Collect({1, 20}, 5);
  op.Collect({2, 30}, 99);
  op.EmitWatermark(kMaxTimestamp);
  ASSERT_EQ(sink.values.size(), 2u);
  std::map<int64_t, int64_t> by_key;
  for (const Event& e : sink.values) by_key[e.key] = e.value;
  EXPECT_EQ(by_key, (std::map<int64_t, int64_t>{{1, 20}, {2, 30}}));
}

TEST_F(SessionWindowOperatorTest, RejectsInvalidOptions) {
  for (const SessionWindowOptions& options :
       {SessionWindowOptions::WithGap(0), SessionWindowOptions::WithGap(-5), Options(10, -1, false)}) {
    Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), options);
    CollectingOutput<Emitted<int64_t>> sink;
    op.SetOutput(&sink);
    const Status status = op.Open(&context_);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    op.Close();
  }
}

TEST_F(SessionWindowOperatorTest, ElementWithoutTimestampFailsTheTask) {
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SessionWindowOptions::WithGap(100));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect({1, 1}, kMinTimestamp);
  ASSERT_TRUE(context_.failed());
  EXPECT_EQ(context_.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(context_.status().ToString().find("timestamp"), std::string::npos);
}

TEST_F(SessionWindowOperatorTest, BudgetExhaustionFailsWithResourceExhaustedNamingTheOperator) {
  memory::MemoryBudget small(16 << 20);
  context_.managed_memory = &small;
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SessionWindowOptions::WithGap(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  int64_t key = 0;
  for (; key < 10'000'000 && !context_.failed(); ++key) op.Collect({key, 1}, 500);
  ASSERT_TRUE(context_.failed()) << "10 M sessions fit in 16 MiB";
  EXPECT_LT(key, 10'000'000);
  EXPECT_EQ(context_.status().code(), StatusCode::kResourceExhausted);
  const std::string message = context_.status().ToString();
  EXPECT_NE(message.find("SessionWindow (1/1)"), std::string::npos) << message;
  EXPECT_NE(message.find("taskmanager.memory.managed.size"), std::string::npos) << message;
  EXPECT_LE(small.used(), small.total());
  op.Close();
  EXPECT_EQ(small.used(), 0);
}

// Pins every table it is given with StateTable::Snapshot, as a checkpoint's synchronous part does.
class SealingWriter : public state::SnapshotWriter {
 public:
  int64_t checkpoint_id() const override { return 1; }
  Status AddTable(std::string_view, state::StateTable& table) override {
    pins_.push_back(table.Snapshot());
    return Status::Ok();
  }
  void AddKeyedRecord(std::string_view, int, std::string_view) override {}
  void AddBlob(std::string_view, std::string) override {}

 private:
  std::vector<std::shared_ptr<state::TableSnapshot>> pins_;
};

// Firing a session rewrites its entry; after a checkpoint sealed it, that first moves the entry,
// which needs memory. With none left the task must fail, not skip the session as if it had none.
TEST_F(SessionWindowOperatorTest, FiringSealedSessionsWithoutMemoryFailsTheTask) {
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SessionWindowOptions::WithGap(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  constexpr int64_t kKeys = 20'000;  // about a megabyte of sessions: many segments to relocate into
  for (int64_t key = 0; key < kKeys; ++key) op.Collect({key, key}, 500);
  ASSERT_FALSE(context_.failed()) << context_.status();
  SealingWriter checkpoint;
  ASSERT_TRUE(op.SnapshotState(checkpoint).ok());
  auto rest = budget_.Reserve("another operator", budget_.available());
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  op.EmitWatermark(1499);
  ASSERT_TRUE(context_.failed()) << sink.values.size() << " of " << kKeys
                                 << " sessions fired and the rest were skipped";
  EXPECT_EQ(context_.status().code(), StatusCode::kResourceExhausted) << context_.status();
  EXPECT_LT(sink.values.size(), static_cast<size_t>(kKeys));
  op.Close();
}

TEST_F(SessionWindowOperatorTest, KeysWithinTheBudgetFitAndFire) {
  Operator<SumAggregate, int64_t> op(KeyOf(), SumAggregate(), SessionWindowOptions::WithGap(1000));
  CollectingOutput<Emitted<int64_t>> sink;
  op.SetOutput(&sink);
  ASSERT_TRUE(op.Open(&context_).ok());
  constexpr int64_t kKeys = 200'000;
  for (int64_t key = 0; key < kKeys; ++key) op.Collect({key, key}, 500);
  ASSERT_FALSE(context_.failed()) << context_.status();
  EXPECT_EQ(op.session_count(), kKeys);
  EXPECT_LE(op.memory_bytes(), budget_.used());
  op.EmitWatermark(1499);
  EXPECT_EQ(sink.values.size(), static_cast<size_t>(kKeys));
  EXPECT_EQ(op.session_count(), 0);
  EXPECT_EQ(op.key_count(), 0u);
}

}  // namespace
}  // namespace weir::operators::window
