// Test helper: runs a keyed operator over a stream of records, watermarks and processing-time
// advances, optionally taking a checkpoint (checkpoint_fake.h) after a given step, destroying the
// operators, and restoring fresh ones (at the same or another parallelism) that process the rest.
//
// Records go to the subtask owning their key group, as the keyed exchange routes them; watermarks
// and processing-time advances go to every subtask. What the operators emit is recorded per step
// as a sorted list of rendered strings: the output of one step (one record, or all firings of one
// watermark) is compared as a multiset (timers of equal time fire in unspecified order, and
// different subtasks' outputs interleave), the steps in order. So two runs agree when every step
// emits the same results, which implies the same rows in the same per-key order.
//
// After a restore the harness re-sends the last watermark and processing time the old operators
// saw (what the sources' watermark generators would emit again; the operator itself starts from
// no watermark, as Flink's does) and expects that to emit nothing: everything due by then fired
// before the checkpoint. (So an input must not register timers behind the current watermark or
// processing time: such a timer fires at the first watermark or time after a restore, where an
// uninterrupted run fires it at the next one -- Flink's semantics, not comparable step by step.)
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint_fake.h"
#include "collecting_output.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "operators/stream_operator.h"

namespace weir::operators::testing {

enum class StepKind { kRecord, kWatermark, kProcessingTime };

template <typename In>
struct Step {
  StepKind kind = StepKind::kRecord;
  In value{};
  Timestamp time = 0;  // the record's timestamp, the watermark or the processing time

  static Step Record(In value, Timestamp timestamp) { return {StepKind::kRecord, std::move(value), timestamp}; }
  static Step Watermark(Timestamp watermark) { return {StepKind::kWatermark, In{}, watermark}; }
  static Step ProcessingTime(Timestamp now) { return {StepKind::kProcessingTime, In{}, now}; }
};

// What a run emitted: per step, the sorted renderings of its outputs; plus the sum over the final
// subtasks of the operator's counter (late records dropped, say).
struct RunResult {
  std::vector<std::vector<std::string>> steps;
  int64_t counter = 0;
  size_t checkpoint_entries = 0;  // table entries the checkpoint held (0 without one)
  size_t outputs = 0;
};

template <typename In, typename Out>
class RestoreHarness {
 public:
  using Operator = OneInputOperator<In, Out>;
  struct Hooks {
    std::function<std::unique_ptr<Operator>()> make;
    // The key group of a record (KeyGroupForHash of its encoded key's hash).
    std::function<int(const In&)> key_group;
    std::function<std::string(const Out&, Timestamp)> render;
    // Optional: a counter of the operator, summed over the final subtasks.
    std::function<int64_t(Operator&)> counter;
  };

  explicit RestoreHarness(Hooks hooks, int max_parallelism = 128)
      : hooks_(std::move(hooks)), max_parallelism_(max_parallelism) {
    memory::SegmentPool::Options options;
    options.segment_size = 16 * 1024;
    options.segment_count = 8192;
    options.prefault = false;
    pool_ = std::move(*memory::SegmentPool::Create(options));
  }

  // Runs every step at parallelism `before`; with `cut` < steps.size(), checkpoints after step
  // `cut - 1` (cut steps processed), restores at parallelism `after` and runs the rest there.
  // `restore` false skips RestoreState (the fresh operators start empty): what a test checks to
  // show that its comparison detects lost state.
  RunResult Run(const std::vector<Step<In>>& steps, size_t cut, int before, int after, bool restore = true) {
    RunResult result;
    std::vector<std::unique_ptr<Subtask>> subtasks = Start(before);
    Timestamp watermark = kMinTimestamp;
    Timestamp now = kMinTimestamp;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (i == cut) {
        FakeCheckpoint checkpoint(before);
        for (int s = 0; s < before; ++s) {
          FakeSnapshotWriter writer(&checkpoint, s);
          const Status snapshot = subtasks[s]->op->SnapshotState(writer);
          EXPECT_TRUE(snapshot.ok()) << snapshot.ToString();
        }
        result.checkpoint_entries = checkpoint.entry_count();
        Stop(subtasks);
        subtasks = Start(after);
        for (int s = 0; s < after && restore; ++s) {
          FakeRestoreReader reader(&checkpoint, s, after, max_parallelism_);
          const Status restored = subtasks[s]->op->RestoreState(reader);
          EXPECT_TRUE(restored.ok()) << restored.ToString();
        }
        for (auto& subtask : subtasks) {
          if (watermark != kMinTimestamp) subtask->op->EmitWatermark(watermark);
          if (now != kMinTimestamp) subtask->op->OnProcessingTime(now);
          EXPECT_TRUE(subtask->out.values.empty() || !restore)
              << "re-sending the last watermark and time after a restore emitted results";
          subtask->out.values.clear();
          subtask->out.timestamps.clear();
        }
      }
      const Step<In>& step = steps[i];
      switch (step.kind) {
        case StepKind::kRecord: {
          const int owner = state::OperatorIndexForKeyGroup(max_parallelism_, static_cast<int>(subtasks.size()),
                                                            hooks_.key_group(step.value));
          subtasks[owner]->op->Collect(step.value, step.time);
          break;
        }
        case StepKind::kWatermark:
          watermark = step.time;
          for (auto& subtask : subtasks) subtask->op->EmitWatermark(step.time);
          break;
        case StepKind::kProcessingTime:
          now = step.time;
          for (auto& subtask : subtasks) subtask->op->OnProcessingTime(step.time);
          break;
      }
      std::vector<std::string> emitted;
      for (auto& subtask : subtasks) {
        EXPECT_FALSE(subtask->context.failed()) << subtask->context.status().ToString();
        for (size_t k = 0; k < subtask->out.values.size(); ++k) {
          emitted.push_back(hooks_.render(subtask->out.values[k], subtask->out.timestamps[k]));
        }
        subtask->out.values.clear();
        subtask->out.timestamps.clear();
      }
      std::sort(emitted.begin(), emitted.end());
      result.outputs += emitted.size();
      result.steps.push_back(std::move(emitted));
    }
    if (hooks_.counter) {
      for (auto& subtask : subtasks) result.counter += hooks_.counter(*subtask->op);
    }
    Stop(subtasks);
    return result;
  }

 private:
  struct Subtask {
    OperatorContext context;
    CollectingOutput<Out> out;
    std::unique_ptr<Operator> op;
  };

  std::vector<std::unique_ptr<Subtask>> Start(int parallelism) {
    std::vector<std::unique_ptr<Subtask>> subtasks;
    for (int s = 0; s < parallelism; ++s) {
      auto subtask = std::make_unique<Subtask>();
      subtask->context.task_name = "Op (" + std::to_string(s + 1) + "/" + std::to_string(parallelism) + ")";
      subtask->context.subtask_index = s;
      subtask->context.parallelism = parallelism;
      subtask->context.max_parallelism = max_parallelism_;
      subtask->context.state_pool = pool_.get();
      subtask->context.managed_memory = &budget_;
      subtask->op = hooks_.make();
      subtask->op->SetOutput(&subtask->out);
      const Status opened = subtask->op->Open(&subtask->context);
      EXPECT_TRUE(opened.ok()) << opened.ToString();
      subtasks.push_back(std::move(subtask));
    }
    return subtasks;
  }

  static void Stop(std::vector<std::unique_ptr<Subtask>>& subtasks) {
    for (auto& subtask : subtasks) subtask->op->Close();
    subtasks.clear();
  }

  Hooks hooks_;
  int max_parallelism_;
  std::unique_ptr<memory::SegmentPool> pool_;
  memory::MemoryBudget budget_{1LL << 30};
};

// Runs `steps` uninterrupted at parallelism 1 (the reference), then with a checkpoint and restore
// after each step index in `cuts`, for every (before, after) parallelism pair, and expects every
// run to emit what the reference emitted, step by step.
template <typename In, typename Out>
void ExpectRestoresMatchUninterrupted(RestoreHarness<In, Out>& harness, const std::vector<Step<In>>& steps,
                                      const std::vector<size_t>& cuts,
                                      const std::vector<std::pair<int, int>>& parallelisms = {{1, 1}, {2, 1}, {1, 2}, {2, 3}}) {
  const RunResult reference = harness.Run(steps, steps.size(), 1, 1);
  ASSERT_GT(reference.outputs, 0u) << "the input produces no output: the test would prove nothing";
  for (size_t cut : cuts) {
    for (const auto& [before, after] : parallelisms) {
      SCOPED_TRACE("checkpoint after " + std::to_string(cut) + " steps, parallelism " + std::to_string(before) +
                   " -> " + std::to_string(after));
      const RunResult restored = harness.Run(steps, cut, before, after);
      EXPECT_GT(restored.checkpoint_entries, 0u) << "the checkpoint held no state";
      ASSERT_EQ(restored.steps.size(), reference.steps.size());
      for (size_t i = 0; i < reference.steps.size(); ++i) {
        ASSERT_EQ(restored.steps[i], reference.steps[i]) << "step " << i;
      }
      EXPECT_EQ(restored.counter, reference.counter);
    }
  }
}

}  // namespace weir::operators::testing
