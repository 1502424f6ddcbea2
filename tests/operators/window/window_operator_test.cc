#include "operators/window/window_operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace weir::operators::window {
namespace {

using std::chrono::milliseconds;

// (key, id): ids are unique, so a window's contents are identified by its ids.
using Event = std::pair<int64_t, int64_t>;
struct KeyOf {
  int64_t operator()(const Event& event) const { return event.first; }
};
// (key, window start, window end, ids in the order the function saw them).
using Result = std::tuple<int64_t, Timestamp, Timestamp, std::string>;
// A result with its record timestamp and how many watermarks had passed when it was emitted.
using Emitted = std::tuple<Result, Timestamp, size_t>;

std::string Join(const std::vector<int64_t>& ids) {
  std::string out;
  for (int64_t id : ids) out += std::to_string(id) + ",";
  return out;
}

template <typename W>
std::pair<Timestamp, Timestamp> Bounds(const W& window) {
  if constexpr (std::is_same_v<W, TimeWindow>) {
    return {window.start, window.end};
  } else {
    return {0, 0};
  }
}

// Emits the window's ids, in order or sorted.
template <typename W>
class ListIds final : public ProcessWindowFunction<Event, Result, int64_t, W> {
 public:
  explicit ListIds(bool sorted = false) : sorted_(sorted) {}
  void Process(const int64_t& key, WindowContext<W>& context, std::span<const Event> elements,
               Collector<Result>& out) override {
    std::vector<int64_t> ids;
    for (const Event& event : elements) ids.push_back(event.second);
    if (sorted_) std::sort(ids.begin(), ids.end());
    const auto [start, end] = Bounds(context.window());
    out.Collect(Result{key, start, end, Join(ids)});
  }

 private:
  bool sorted_;
};

class Sink final : public Output<Result> {
 public:
  void Collect(const Result& value, Timestamp timestamp) override {
    emitted.emplace_back(value, timestamp, watermarks);
  }
  void EmitWatermark(Timestamp) override { ++watermarks; }
  void EndInput() override {}
  std::vector<Emitted> emitted;
  size_t watermarks = 0;
};

class LateSink final : public Output<Event> {
 public:
  void Collect(const Event& value, Timestamp) override { ids.push_back(value.second); }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}
  std::vector<int64_t> ids;
};

// One step of an input: an element or a watermark.
struct Step {
  bool is_watermark = false;
  Event event;
  Timestamp timestamp = 0;
};

// A seeded out-of-order stream: timestamps advance with jitter; a bounded-out-of-orderness
// watermark after every few elements; one element in ten is a straggler far behind it; the maximum
// watermark last.
std::vector<Step> RandomSteps(uint64_t seed, int count, int keys, Timestamp max_delay,
                              Timestamp min_timestamp = 0) {
  std::mt19937_64 random(seed);
  std::vector<Step> steps;
  Timestamp clock = min_timestamp;
  Timestamp watermark = kMinTimestamp;
  for (int i = 0; i < count; ++i) {
    clock += static_cast<Timestamp>(random() % 4);
    Timestamp delay = static_cast<Timestamp>(random() % (max_delay + 1));
    if (random() % 10 == 0) delay += 2 * max_delay;  // a straggler, often late
    const Timestamp timestamp = clock - delay;
    steps.push_back({false, Event{static_cast<int64_t>(random() % keys), i}, timestamp});
    if (random() % 5 == 0) {
      const Timestamp next = clock - max_delay / 2;
      if (next > watermark) {
        watermark = next;
        steps.push_back({true, {}, watermark});
      }
    }
  }
  steps.push_back({true, {}, kMaxTimestamp});
  return steps;
}

class WindowOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::SegmentPool::Options options;
    options.segment_size = 32 * 1024;
    options.segment_count = 1024;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
    context_.task_name = "Window (1/1)";
    context_.state_pool = pool_.get();
    context_.managed_memory = &budget_;
  }

  // Runs `steps` through a new operator; returns what it emitted.
  template <typename Assigner, typename TriggerT, typename Contents, typename EvictorT = NoEvictor>
  void Run(const std::vector<Step>& steps, Assigner assigner, TriggerT trigger, Contents contents,
           EvictorT evictor = {}, Timestamp lateness = 0, bool late_output = true) {
    WindowOptions<Event> options;
    options.allowed_lateness = lateness;
    if (late_output) options.late_data_tag.emplace("late");
    using Operator = WindowOperator<Event, KeyOf, Assigner, TriggerT, Contents, EvictorT>;
    auto op = std::make_unique<Operator>(KeyOf(), assigner, trigger, contents, evictor, options);
    op->SetOutput(&sink_);
    if (late_output) op->SetSideOutput("late", &late_);
    ASSERT_TRUE(op->Open(&context_).ok());
    for (const Step& step : steps) {
      if (step.is_watermark) {
        op->EmitWatermark(step.timestamp);
      } else {
        op->Collect(step.event, step.timestamp);
      }
      ASSERT_FALSE(context_.failed()) << context_.status().ToString();
    }
    dropped_ = op->num_late_records_dropped();
    op->Close();
  }

  std::multiset<Emitted> AllEmitted() const { return {sink_.emitted.begin(), sink_.emitted.end()}; }

  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{256 << 20};
  OperatorContext context_;
  Sink sink_;
  LateSink late_;
  int64_t dropped_ = 0;
};


// ---------------------------------------------------------------------------------------------
// Reference for non-merging time windows: a plain simulation from the definitions (a window
// [s, s + size) for every s = offset (mod slide) with s <= ts < s + size; a window takes elements
// until the watermark reaches its end - 1 + lateness; it fires as its trigger says).

enum class TriggerKind { kEventTime, kCount, kPurgingCount, kContinuous };
enum class EvictorKind { kNone, kCount, kTime, kDelta };
enum class Format { kIds, kSum };

struct Reference {
  Timestamp size = 10, slide = 10, offset = 0, lateness = 0;
  TriggerKind trigger = TriggerKind::kEventTime;
  int64_t count = 0;
  Timestamp interval = 0;
  EvictorKind evictor = EvictorKind::kNone;
  bool evict_after = false;
  int64_t max_count = 0;
  Timestamp evict_size = 0;
  int64_t delta_threshold = 0;
  Format format = Format::kIds;

  struct WindowState {
    std::vector<std::pair<Timestamp, int64_t>> elements;  // (timestamp, id) in arrival order
    int64_t count = 0;
    std::optional<Timestamp> next_fire;  // continuous trigger
  };

  std::multiset<Emitted> emitted;
  std::vector<int64_t> late;

  static Timestamp FloorMod(Timestamp a, Timestamp b) { return ((a % b) + b) % b; }

  std::vector<std::pair<Timestamp, Timestamp>> WindowsOf(Timestamp ts) const {
    std::vector<std::pair<Timestamp, Timestamp>> windows;
    for (Timestamp start = ts - FloorMod(ts - offset, slide); start + size > ts; start -= slide) {
      windows.emplace_back(start, start + size);
    }
    return windows;
  }

  void Evict(std::vector<std::pair<Timestamp, int64_t>>& elements) const {
    switch (evictor) {
      case EvictorKind::kNone:
        return;
      case EvictorKind::kCount:
        if (static_cast<int64_t>(elements.size()) > max_count) {
          elements.erase(elements.begin(), elements.end() - max_count);
        }
        return;
      case EvictorKind::kTime: {
        Timestamp newest = kMinTimestamp;
        for (auto [ts, id] : elements) newest = std::max(newest, ts);
        std::vector<std::pair<Timestamp, int64_t>> kept;
        for (auto element : elements) {
          if (element.first > newest - evict_size) kept.push_back(element);
        }
        elements = kept;
        return;
      }
      case EvictorKind::kDelta: {
        const int64_t last = elements.back().second;
        std::vector<std::pair<Timestamp, int64_t>> kept;
        for (auto element : elements) {
          if (std::abs(element.second - last) < delta_threshold) kept.push_back(element);
        }
        elements = kept;
        return;
      }
    }
  }

  void Fire(int64_t key, std::pair<Timestamp, Timestamp> window, WindowState& state, size_t epoch) {
    auto elements = state.elements;
    if (elements.empty()) return;
    if (!evict_after) Evict(elements);
    std::vector<int64_t> ids;
    for (auto [ts, id] : elements) ids.push_back(id);
    if (format == Format::kSum) {
      int64_t sum = 0;
      for (int64_t id : ids) sum += id;
      ids = {sum};
    }
    emitted.insert(Emitted{Result{key, window.first, window.second, Join(ids)}, window.second - 1, epoch});
    if (evict_after) Evict(elements);
    if (evictor != EvictorKind::kNone) state.elements = elements;
  }

  void Run(const std::vector<Step>& steps) {
    std::map<std::pair<int64_t, std::pair<Timestamp, Timestamp>>, WindowState> windows;
    Timestamp watermark = kMinTimestamp;
    size_t epoch = 0;
    for (const Step& step : steps) {
      if (step.is_watermark) {
        for (auto it = windows.begin(); it != windows.end();) {
          const auto& [key, window] = it->first;
          WindowState& state = it->second;
          const Timestamp max = window.second - 1;
          if (trigger == TriggerKind::kEventTime && max > watermark && max <= step.timestamp) {
            Fire(key, window, state, epoch);
          }
          if (trigger == TriggerKind::kContinuous) {
            while (state.next_fire.has_value() && *state.next_fire <= step.timestamp) {
              Fire(key, window, state, epoch);
              if (*state.next_fire == max) {
                state.next_fire.reset();
              } else {
                state.next_fire = std::min(*state.next_fire + interval, max);
              }
            }
          }
          if (max + lateness <= step.timestamp) {
            it = windows.erase(it);
          } else {
            ++it;
          }
        }
        watermark = step.timestamp;
        ++epoch;
        continue;
      }
      const int64_t key = step.event.first;
      const Timestamp ts = step.timestamp;
      bool taken = false;
      for (auto window : WindowsOf(ts)) {
        const Timestamp max = window.second - 1;
        if (max + lateness <= watermark) continue;
        taken = true;
        WindowState& state = windows[{key, window}];
        state.elements.emplace_back(ts, step.event.second);
        switch (trigger) {
          case TriggerKind::kEventTime:
            if (max <= watermark) Fire(key, window, state, epoch);
            break;
          case TriggerKind::kCount:
          case TriggerKind::kPurgingCount:
            if (++state.count >= count) {
              state.count = 0;
              Fire(key, window, state, epoch);
              if (trigger == TriggerKind::kPurgingCount) state.elements.clear();
            }
            break;
          case TriggerKind::kContinuous:
            if (max <= watermark) {
              Fire(key, window, state, epoch);
            } else if (state.elements.size() == 1) {
              state.next_fire = std::min(ts - ts % interval + interval, max);
            }
            break;
        }
      }
      if (!taken && ts + lateness <= watermark) late.push_back(step.event.second);
    }
  }
};

struct SumIds {
  Event operator()(const Event& a, const Event& b) const { return Event{a.first, a.second + b.second}; }
};
// Emits the single pre-aggregated value (a sum of ids) of a window.
template <typename In, typename W>
class EmitSum final : public ProcessWindowFunction<In, Result, int64_t, W> {
 public:
  void Process(const int64_t& key, WindowContext<W>& context, std::span<const In> elements,
               Collector<Result>& out) override {
    EXPECT_EQ(elements.size(), 1u);
    int64_t sum;
    if constexpr (std::is_same_v<In, Event>) {
      sum = elements[0].second;
    } else {
      sum = elements[0];
    }
    const auto [start, end] = Bounds(context.window());
    out.Collect(Result{key, start, end, Join({sum})});
  }
};
struct SumAggregate {
  int64_t CreateAccumulator() const { return 0; }
  int64_t Add(const Event& event, const int64_t& sum) const { return sum + event.second; }
  int64_t GetResult(const int64_t& sum) const { return sum; }
  int64_t Merge(const int64_t& a, const int64_t& b) const { return a + b; }
};
struct IdDelta {
  double operator()(const Event& a, const Event& b) const { return static_cast<double>(std::abs(a.second - b.second)); }
};

using ProcessIds = internal::ProcessContents<Event, int64_t, TimeWindow, ListIds<TimeWindow>>;

// Every input id is in some output, in the late output or counted as dropped.
void ExpectNoLoss(const std::vector<Step>& steps, const std::vector<Emitted>& emitted,
                  const std::vector<int64_t>& late, int64_t dropped) {
  std::set<int64_t> seen(late.begin(), late.end());
  for (const auto& [result, ts, epoch] : emitted) {
    const std::string& ids = std::get<3>(result);
    for (size_t start = 0; start < ids.size();) {
      const size_t comma = ids.find(',', start);
      seen.insert(std::stoll(ids.substr(start, comma - start)));
      start = comma + 1;
    }
  }
  size_t inputs = 0;
  for (const Step& step : steps) {
    if (step.is_watermark) continue;
    ++inputs;
  }
  EXPECT_EQ(seen.size() + static_cast<size_t>(dropped), inputs);
}

TEST_F(WindowOperatorTest, TumblingEventTimeMatchesReference) {
  for (Timestamp lateness : {Timestamp{0}, Timestamp{15}}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(testing::Message() << "lateness " << lateness << " seed " << seed);
      const auto steps = RandomSteps(seed, 3000, 7, 30, /*min_timestamp=*/-500);
      Reference reference;
      reference.size = reference.slide = 20;
      reference.offset = 3;
      reference.lateness = lateness;
      reference.Run(steps);
      sink_ = Sink();
      late_ = LateSink();
      Run(steps, TumblingEventTimeWindows::Of(milliseconds(20), milliseconds(3)), EventTimeTrigger(),
          ProcessIds(ListIds<TimeWindow>()), NoEvictor(), lateness);
      EXPECT_EQ(AllEmitted(), reference.emitted);
      EXPECT_EQ(late_.ids, reference.late);
      EXPECT_FALSE(reference.late.empty());
      ExpectNoLoss(steps, sink_.emitted, late_.ids, dropped_);
    }
  }
}

TEST_F(WindowOperatorTest, SlidingEventTimeWithLatenessMatchesReferenceAndCountsDroppedRecords) {
  const auto steps = RandomSteps(5, 3000, 5, 40);
  Reference reference;
  reference.size = 30;
  reference.slide = 10;
  reference.offset = -4;
  reference.lateness = 10;
  reference.Run(steps);
  Run(steps, SlidingEventTimeWindows::Of(milliseconds(30), milliseconds(10), milliseconds(-4)),
      EventTimeTrigger(), ProcessIds(ListIds<TimeWindow>()), NoEvictor(), 10, /*late_output=*/false);
  EXPECT_EQ(AllEmitted(), reference.emitted);
  EXPECT_EQ(dropped_, static_cast<int64_t>(reference.late.size()));
  EXPECT_GT(dropped_, 0);
  ExpectNoLoss(steps, sink_.emitted, {}, dropped_);
}

TEST_F(WindowOperatorTest, IncrementalReduceAndAggregateMatchReference) {
  const auto steps = RandomSteps(8, 3000, 6, 30);
  Reference reference;
  reference.size = 30;
  reference.slide = 15;
  reference.lateness = 20;
  reference.format = Format::kSum;
  reference.Run(steps);
  const auto assigner = SlidingEventTimeWindows::Of(milliseconds(30), milliseconds(15));
  Run(steps, assigner, EventTimeTrigger(),
      internal::ReduceContents<Event, int64_t, TimeWindow, SumIds, EmitSum<Event, TimeWindow>>(
          SumIds(), EmitSum<Event, TimeWindow>()),
      NoEvictor(), 20);
  EXPECT_EQ(AllEmitted(), reference.emitted);
  sink_ = Sink();
  Run(steps, assigner, EventTimeTrigger(),
      internal::AggregateContents<Event, int64_t, TimeWindow, SumAggregate, EmitSum<int64_t, TimeWindow>>(
          SumAggregate(), EmitSum<int64_t, TimeWindow>()),
      NoEvictor(), 20);
  EXPECT_EQ(AllEmitted(), reference.emitted);
}

TEST_F(WindowOperatorTest, CountAndPurgingCountTriggersMatchReference) {
  const auto steps = RandomSteps(13, 3000, 4, 30);
  for (bool purging : {false, true}) {
    SCOPED_TRACE(purging ? "purging" : "count");
    Reference reference;
    reference.size = reference.slide = 25;
    reference.lateness = 5;
    reference.trigger = purging ? TriggerKind::kPurgingCount : TriggerKind::kCount;
    reference.count = 3;
    reference.Run(steps);
    sink_ = Sink();
    late_ = LateSink();
    const auto assigner = TumblingEventTimeWindows::Of(milliseconds(25));
    if (purging) {
      Run(steps, assigner, PurgingTrigger<CountTrigger>::Of(CountTrigger::Of(3)),
          ProcessIds(ListIds<TimeWindow>()), NoEvictor(), 5);
    } else {
      Run(steps, assigner, CountTrigger::Of(3), ProcessIds(ListIds<TimeWindow>()), NoEvictor(), 5);
    }
    EXPECT_EQ(AllEmitted(), reference.emitted);
    EXPECT_EQ(late_.ids, reference.late);
  }
}

TEST_F(WindowOperatorTest, ContinuousEventTimeTriggerMatchesReference) {
  const auto steps = RandomSteps(21, 3000, 5, 20);
  Reference reference;
  reference.size = reference.slide = 30;
  reference.trigger = TriggerKind::kContinuous;
  reference.interval = 7;
  reference.Run(steps);
  Run(steps, TumblingEventTimeWindows::Of(milliseconds(30)),
      ContinuousEventTimeTrigger::Of(milliseconds(7)), ProcessIds(ListIds<TimeWindow>()));
  EXPECT_EQ(AllEmitted(), reference.emitted);
  EXPECT_EQ(late_.ids, reference.late);
}

TEST_F(WindowOperatorTest, EvictorsBeforeAndAfterMatchReference) {
  const auto steps = RandomSteps(34, 2000, 4, 40);
  for (EvictorKind kind : {EvictorKind::kCount, EvictorKind::kTime, EvictorKind::kDelta}) {
    for (bool after : {false, true}) {
      SCOPED_TRACE(testing::Message() << "evictor " << static_cast<int>(kind) << " after " << after);
      Reference reference;
      reference.size = reference.slide = 40;
      reference.lateness = 20;
      reference.evictor = kind;
      reference.evict_after = after;
      reference.max_count = 3;
      reference.evict_size = 10;
      reference.delta_threshold = 30;
      reference.Run(steps);
      sink_ = Sink();
      late_ = LateSink();
      const auto assigner = TumblingEventTimeWindows::Of(milliseconds(40));
      const ProcessIds contents{ListIds<TimeWindow>()};
      switch (kind) {
        case EvictorKind::kCount:
          Run(steps, assigner, EventTimeTrigger(), contents, CountEvictor::Of(3, after), 20);
          break;
        case EvictorKind::kTime:
          Run(steps, assigner, EventTimeTrigger(), contents, TimeEvictor::Of(milliseconds(10), after), 20);
          break;
        default:
          Run(steps, assigner, EventTimeTrigger(), contents, DeltaEvictor<IdDelta>::Of(30, IdDelta(), after), 20);
          break;
      }
      EXPECT_EQ(AllEmitted(), reference.emitted);
      EXPECT_EQ(late_.ids, reference.late);
    }
  }
}

TEST_F(WindowOperatorTest, EvictingReduceSumsTheRemainingElements) {
  const auto steps = RandomSteps(55, 2000, 4, 40);
  Reference reference;
  reference.size = reference.slide = 40;
  reference.lateness = 20;
  reference.evictor = EvictorKind::kCount;
  reference.max_count = 2;
  reference.format = Format::kSum;
  reference.Run(steps);
  Run(steps, TumblingEventTimeWindows::Of(milliseconds(40)), EventTimeTrigger(),
      internal::ReduceContents<Event, int64_t, TimeWindow, SumIds, EmitSum<Event, TimeWindow>>(
          SumIds(), EmitSum<Event, TimeWindow>()),
      CountEvictor::Of(2), 20);
  EXPECT_EQ(AllEmitted(), reference.emitted);
}

// ---------------------------------------------------------------------------------------------
// Sessions: a reference that keeps each key's sessions as intervals with their ids and merges an
// element's [ts, ts + gap) with every session it overlaps or touches (transitively).

struct SessionReference {
  Timestamp lateness = 0;
  std::function<Timestamp(int64_t id)> gap;

  struct Session {
    Timestamp start, end;
    std::vector<int64_t> ids;
  };
  std::multiset<Emitted> emitted;
  std::vector<int64_t> late;

  void Fire(int64_t key, const Session& session, size_t epoch) {
    std::vector<int64_t> ids = session.ids;
    std::sort(ids.begin(), ids.end());
    emitted.insert(Emitted{Result{key, session.start, session.end, Join(ids)}, session.end - 1, epoch});
  }

  void Run(const std::vector<Step>& steps) {
    std::map<int64_t, std::vector<Session>> sessions;
    Timestamp watermark = kMinTimestamp;
    size_t epoch = 0;
    for (const Step& step : steps) {
      if (step.is_watermark) {
        for (auto& [key, list] : sessions) {
          for (auto it = list.begin(); it != list.end();) {
            const Timestamp max = it->end - 1;
            if (max > watermark && max <= step.timestamp) Fire(key, *it, epoch);
            if (max + lateness <= step.timestamp) {
              it = list.erase(it);
            } else {
              ++it;
            }
          }
        }
        watermark = step.timestamp;
        ++epoch;
        continue;
      }
      const int64_t key = step.event.first;
      const int64_t id = step.event.second;
      Session merged{step.timestamp, step.timestamp + gap(id), {id}};
      std::vector<Session>& list = sessions[key];
      bool absorbed_any = false;
      for (bool absorbed = true; absorbed;) {
        absorbed = false;
        for (auto it = list.begin(); it != list.end(); ++it) {
          if (it->start <= merged.end && it->end >= merged.start) {
            merged.start = std::min(merged.start, it->start);
            merged.end = std::max(merged.end, it->end);
            merged.ids.insert(merged.ids.end(), it->ids.begin(), it->ids.end());
            list.erase(it);
            absorbed = absorbed_any = true;
            break;
          }
        }
      }
      if (!absorbed_any && merged.end - 1 + lateness <= watermark) {
        if (step.timestamp + lateness <= watermark) late.push_back(id);
        continue;
      }
      list.push_back(merged);
      if (merged.end - 1 <= watermark) Fire(key, merged, epoch);
    }
  }
};

struct IdGap {
  int64_t operator()(const Event& event) const { return 1 + event.second % 17; }
};

TEST_F(WindowOperatorTest, EventTimeSessionsWithStaticAndDynamicGapMatchReference) {
  using Contents = internal::ProcessContents<Event, int64_t, TimeWindow, ListIds<TimeWindow>>;
  for (Timestamp lateness : {Timestamp{0}, Timestamp{25}}) {
    for (bool dynamic : {false, true}) {
      SCOPED_TRACE(testing::Message() << "lateness " << lateness << " dynamic " << dynamic);
      const auto steps = RandomSteps(dynamic ? 77 : 78, 3000, 9, 30);
      SessionReference reference;
      reference.lateness = lateness;
      if (dynamic) {
        reference.gap = [](int64_t id) { return IdGap()(Event{0, id}); };
      } else {
        reference.gap = [](int64_t) { return Timestamp{10}; };
      }
      reference.Run(steps);
      sink_ = Sink();
      late_ = LateSink();
      if (dynamic) {
        Run(steps, EventTimeSessionWindows::WithDynamicGap(IdGap()), EventTimeTrigger(),
            Contents(ListIds<TimeWindow>(/*sorted=*/true)), NoEvictor(), lateness);
      } else {
        Run(steps, EventTimeSessionWindows::WithGap(milliseconds(10)), EventTimeTrigger(),
            Contents(ListIds<TimeWindow>(/*sorted=*/true)), NoEvictor(), lateness);
      }
      EXPECT_EQ(AllEmitted(), reference.emitted);
      EXPECT_EQ(late_.ids, reference.late);
      ExpectNoLoss(steps, sink_.emitted, late_.ids, dropped_);
    }
  }
}

TEST_F(WindowOperatorTest, SessionsMergeIncrementalReduceState) {
  // Sums of ids per session: the reduce state of merged sessions is merged.
  const auto steps = RandomSteps(91, 3000, 9, 30);
  SessionReference reference;
  reference.lateness = 15;
  reference.gap = [](int64_t) { return Timestamp{10}; };
  reference.Run(steps);
  std::multiset<Emitted> sums;
  for (const auto& [result, ts, epoch] : reference.emitted) {
    int64_t sum = 0;
    const std::string& ids = std::get<3>(result);
    for (size_t start = 0; start < ids.size();) {
      const size_t comma = ids.find(',', start);
      sum += std::stoll(ids.substr(start, comma - start));
      start = comma + 1;
    }
    sums.insert(Emitted{Result{std::get<0>(result), std::get<1>(result), std::get<2>(result), Join({sum})}, ts, epoch});
  }
  Run(steps, EventTimeSessionWindows::WithGap(milliseconds(10)), EventTimeTrigger(),
      internal::ReduceContents<Event, int64_t, TimeWindow, SumIds, EmitSum<Event, TimeWindow>>(
          SumIds(), EmitSum<Event, TimeWindow>()),
      NoEvictor(), 15);
  EXPECT_EQ(AllEmitted(), sums);
}

// ---------------------------------------------------------------------------------------------
// Global windows: a per-key arrival-order reference.

using GlobalIds = internal::ProcessContents<Event, int64_t, GlobalWindow, ListIds<GlobalWindow>>;

struct GlobalReference {
  // decide(key's ids so far, out fired ids) -> whether the window fires; it may trim the ids
  // (eviction, purging).
  std::multiset<Emitted> emitted;
  template <typename Decide>
  void Run(const std::vector<Step>& steps, Decide decide) {
    std::map<int64_t, std::vector<int64_t>> elements;
    size_t epoch = 0;
    for (const Step& step : steps) {
      if (step.is_watermark) {
        ++epoch;
        continue;
      }
      std::vector<int64_t>& ids = elements[step.event.first];
      ids.push_back(step.event.second);
      std::vector<int64_t> fired;
      if (decide(ids, fired)) {
        emitted.insert(Emitted{Result{step.event.first, 0, 0, Join(fired)}, kMaxTimestamp, epoch});
      }
    }
  }
};

TEST_F(WindowOperatorTest, GlobalWindowsWithCountTriggersAndEvictorsMatchReference) {
  const auto steps = RandomSteps(3, 3000, 6, 10);
  {
    SCOPED_TRACE("tumbling count window: purging count trigger of 4");
    GlobalReference reference;
    reference.Run(steps, [](std::vector<int64_t>& ids, std::vector<int64_t>& fired) {
      if (ids.size() < 4) return false;
      fired = ids;
      ids.clear();
      return true;
    });
    sink_ = Sink();
    Run(steps, GlobalWindows::Create(), PurgingTrigger<CountTrigger>::Of(CountTrigger::Of(4)),
        GlobalIds(ListIds<GlobalWindow>()));
    EXPECT_EQ(AllEmitted(), reference.emitted);
  }
  {
    SCOPED_TRACE("sliding count window: count evictor of 5, count trigger of 2");
    GlobalReference reference;
    size_t count = 0;
    std::map<const std::vector<int64_t>*, size_t> since_firing;  // per key's element list
    reference.Run(steps, [&](std::vector<int64_t>& ids, std::vector<int64_t>& fired) {
      if (++since_firing[&ids] < 2) return false;
      since_firing[&ids] = 0;
      if (ids.size() > 5) ids.erase(ids.begin(), ids.end() - 5);
      fired = ids;
      ++count;
      return true;
    });
    sink_ = Sink();
    Run(steps, GlobalWindows::Create(), CountTrigger::Of(2), GlobalIds(ListIds<GlobalWindow>()),
        CountEvictor::Of(5));
    EXPECT_EQ(AllEmitted(), reference.emitted);
    EXPECT_GT(count, 100u);
  }
}

TEST_F(WindowOperatorTest, GlobalWindowsNeverFireWithTheDefaultTrigger) {
  const auto steps = RandomSteps(4, 500, 3, 10);
  Run(steps, GlobalWindows::Create(), NeverTrigger(), GlobalIds(ListIds<GlobalWindow>()));
  EXPECT_TRUE(sink_.emitted.empty());
}

TEST_F(WindowOperatorTest, DeltaTriggerFiresWhenTheDeltaToTheLastFiringExceedsTheThreshold) {
  const auto steps = RandomSteps(6, 3000, 5, 10);
  GlobalReference reference;
  int64_t fired_count = 0;
  // Per key's element list: the id of the last firing (at first: the first) element.
  std::map<const std::vector<int64_t>*, int64_t> last_of;
  reference.Run(steps, [&](std::vector<int64_t>& ids, std::vector<int64_t>& fired) {
    int64_t& previous = last_of.try_emplace(&ids, ids.front()).first->second;
    if (ids.size() == 1) return false;
    if (std::abs(ids.back() - previous) <= 20) return false;
    previous = ids.back();
    // The evictor keeps the newest 6 (before the function) and the list is written back.
    if (ids.size() > 6) ids.erase(ids.begin(), ids.end() - 6);
    fired = ids;
    ++fired_count;
    return true;
  });
  Run(steps, GlobalWindows::Create(), DeltaTrigger<IdDelta>::Of(20, IdDelta()),
      GlobalIds(ListIds<GlobalWindow>()), CountEvictor::Of(6));
  EXPECT_EQ(AllEmitted(), reference.emitted);
  EXPECT_GT(fired_count, 50);
}

// ---------------------------------------------------------------------------------------------
// Processing time, user triggers, per-window and per-key state.

TEST_F(WindowOperatorTest, ProcessingTimeWindowsFireWhenTheClockPassesTheirEnd) {
  using Contents = internal::ProcessContents<Event, int64_t, TimeWindow, ListIds<TimeWindow>>;
  using Operator = WindowOperator<Event, KeyOf, TumblingProcessingTimeWindows, ProcessingTimeTrigger, Contents>;
  Operator op(KeyOf(), TumblingProcessingTimeWindows::Of(milliseconds(10)), ProcessingTimeTrigger(),
              Contents(ListIds<TimeWindow>()), NoEvictor(), {});
  Timestamp now = 1000;
  op.set_clock([&now] { return now; });
  op.SetOutput(&sink_);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect(Event{1, 1}, kMinTimestamp);  // processing time ignores event timestamps
  now = 1005;
  op.Collect(Event{1, 2}, 5);
  op.Collect(Event{2, 3}, 5);
  EXPECT_EQ(op.NextProcessingTime(), 1009);
  now = 1012;
  op.Collect(Event{1, 4}, 5);
  op.OnProcessingTime(1009);  // the task calls back once the clock reached 1009
  EXPECT_EQ(AllEmitted(), (std::multiset<Emitted>{
                              {Result{1, 1000, 1010, "1,2,"}, 1009, 0},
                              {Result{2, 1000, 1010, "3,"}, 1009, 0},
                          }));
  EXPECT_EQ(op.NextProcessingTime(), 1019);
  now = 1030;
  op.OnProcessingTime(1030);
  EXPECT_EQ(sink_.emitted.size(), 3u);
  EXPECT_EQ(std::get<0>(sink_.emitted.back()), (Result{1, 1010, 1020, "4,"}));
  EXPECT_EQ(op.NextProcessingTime(), kMaxTimestamp);
  op.Close();
}

TEST_F(WindowOperatorTest, ProcessingTimeSessionsMergeAndFireOnce) {
  using Contents = internal::ProcessContents<Event, int64_t, TimeWindow, ListIds<TimeWindow>>;
  using Assigner = decltype(ProcessingTimeSessionWindows::WithGap(milliseconds(5)));
  using Operator = WindowOperator<Event, KeyOf, Assigner, ProcessingTimeTrigger, Contents>;
  Operator op(KeyOf(), ProcessingTimeSessionWindows::WithGap(milliseconds(5)), ProcessingTimeTrigger(),
              Contents(ListIds<TimeWindow>(/*sorted=*/true)), NoEvictor(), {});
  Timestamp now = 100;
  op.set_clock([&now] { return now; });
  op.SetOutput(&sink_);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect(Event{1, 1}, 0);  // [100, 105)
  now = 103;
  op.Collect(Event{1, 2}, 0);  // [103, 108) merges: [100, 108)
  now = 120;
  op.OnProcessingTime(120);    // the timer of [100, 105) was deleted by the merge
  op.Collect(Event{1, 3}, 0);  // [120, 125)
  now = 130;
  op.OnProcessingTime(130);
  EXPECT_EQ(AllEmitted(), (std::multiset<Emitted>{
                              {Result{1, 100, 108, "1,2,"}, 107, 0},
                              {Result{1, 120, 125, "3,"}, 124, 0},
                          }));
  op.Close();
}

// A user trigger in Flink's shape: fires and purges at every element whose id is a multiple of
// `every`, counts elements in its own per-window state, fires at the window's end.
class MarkerTrigger final : public Trigger<Event, TimeWindow> {
 public:
  explicit MarkerTrigger(int64_t every) : every_(every) {}
  TriggerResult OnElement(const Event& element, Timestamp, const TimeWindow& window,
                          TriggerContext& ctx) override {
    state::ValueState<int64_t>* seen = ctx.GetValueState<int64_t>("seen");
    seen->Update(seen->Value().value_or(0) + 1);
    ctx.RegisterEventTimeTimer(window.MaxTimestamp());
    return element.second % every_ == 0 ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
  TriggerResult OnEventTime(Timestamp time, const TimeWindow& window, TriggerContext&) override {
    return time == window.MaxTimestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  TriggerResult OnProcessingTime(Timestamp, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::kContinue;
  }
  void Clear(const TimeWindow& window, TriggerContext& ctx) override {
    ctx.GetValueState<int64_t>("seen")->Clear();
    ctx.DeleteEventTimeTimer(window.MaxTimestamp());
  }

 private:
  int64_t every_;
};

// Numbers each firing of a window (per-window state) and of a key (per-key state); emits
// (key, window start, "firing of window,firing of key,element count,"); tags windows whose
// first element is odd into a side output.
class FiringCounter final : public ProcessWindowFunction<Event, Result, int64_t, TimeWindow> {
 public:
  void Process(const int64_t& key, Context& context, std::span<const Event> elements,
               Collector<Result>& out) override {
    state::ValueState<int64_t>* window_firings = context.WindowState().GetValueState<int64_t>("window-firings");
    const int64_t window_firing = window_firings->Value().value_or(0) + 1;
    window_firings->Update(window_firing);
    state::ValueState<int64_t>* key_firings = context.GlobalState().GetValueState<int64_t>("key-firings");
    const int64_t key_firing = key_firings->Value().value_or(0) + 1;
    key_firings->Update(key_firing);
    out.Collect(Result{key, context.window().start, context.window().end,
                       Join({window_firing, key_firing, static_cast<int64_t>(elements.size())})});
    if (elements[0].second % 2 == 1) context.Output(OutputTag<Event>("odd"), elements[0]);
  }
  void Clear(Context& context) override {
    context.WindowState().GetValueState<int64_t>("window-firings")->Clear();
  }
};

TEST_F(WindowOperatorTest, UserTriggerAndProcessFunctionStateFollowTheWindowLifecycle) {
  using Contents = internal::ProcessContents<Event, int64_t, TimeWindow, FiringCounter>;
  using Operator = WindowOperator<Event, KeyOf, TumblingEventTimeWindows, MarkerTrigger, Contents>;
  WindowOptions<Event> options;
  options.allowed_lateness = 10;
  Operator op(KeyOf(), TumblingEventTimeWindows::Of(milliseconds(10)), MarkerTrigger(3),
              Contents(FiringCounter()), NoEvictor(), options);
  LateSink odd;
  op.SetOutput(&sink_);
  op.SetSideOutput("odd", &odd);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect(Event{7, 1}, 1);   // window [0, 10)
  op.Collect(Event{7, 3}, 2);   // marker: fires {1, 3} (window firing 1, key firing 1), purges
  op.Collect(Event{7, 5}, 4);
  op.Collect(Event{7, 7}, 12);  // window [10, 20)
  op.EmitWatermark(9);          // end of [0, 10): fires {5}
  op.Collect(Event{7, 8}, 5);   // late within lateness: the trigger re-registers the past timer 9
  op.Collect(Event{7, 9}, 6);   // marker: fires {5, 8, 9}, purges
  op.EmitWatermark(19);         // timer 9 again: nothing left to fire; cleanup of [0, 10);
                                // end of [10, 20): fires {7} (the key's 4th firing)
  op.EmitWatermark(29);         // cleanup of [10, 20)
  op.Collect(Event{7, 11}, 3);  // too late: dropped (no late output)
  EXPECT_EQ(AllEmitted(), (std::multiset<Emitted>{
                              {Result{7, 0, 10, "1,1,2,"}, 9, 0},
                              {Result{7, 0, 10, "2,2,1,"}, 9, 0},
                              {Result{7, 0, 10, "3,3,3,"}, 9, 1},
                              {Result{7, 10, 20, "1,4,1,"}, 19, 1},
                          }));
  EXPECT_EQ(odd.ids, (std::vector<int64_t>{1, 5, 5, 7}));
  EXPECT_EQ(op.num_late_records_dropped(), 1);
  op.Close();
}

TEST_F(WindowOperatorTest, MergingWindowsRejectTriggersThatCannotMerge) {
  using Contents = internal::ProcessContents<Event, int64_t, TimeWindow, ListIds<TimeWindow>>;
  using Assigner = decltype(EventTimeSessionWindows::WithGap(milliseconds(5)));
  using Operator = WindowOperator<Event, KeyOf, Assigner, DeltaTrigger<IdDelta>, Contents>;
  Operator op(KeyOf(), EventTimeSessionWindows::WithGap(milliseconds(5)), DeltaTrigger<IdDelta>::Of(1, IdDelta()),
              Contents(ListIds<TimeWindow>()), NoEvictor(), {});
  op.SetOutput(&sink_);
  const Status status = op.Open(&context_);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  op.Close();
}

TEST_F(WindowOperatorTest, RecordsWithoutTimestampFailEventTimeWindows) {
  using Operator = WindowOperator<Event, KeyOf, TumblingEventTimeWindows, EventTimeTrigger, ProcessIds>;
  Operator op(KeyOf(), TumblingEventTimeWindows::Of(milliseconds(5)), EventTimeTrigger(),
              ProcessIds(ListIds<TimeWindow>()), NoEvictor(), {});
  op.SetOutput(&sink_);
  ASSERT_TRUE(op.Open(&context_).ok());
  op.Collect(Event{1, 1}, kMinTimestamp);
  EXPECT_TRUE(context_.failed());
  EXPECT_EQ(context_.status().code(), StatusCode::kInvalidArgument);
  op.Close();
}

}  // namespace
}  // namespace weir::operators::window
