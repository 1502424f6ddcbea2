// WindowOperator: Flink's WindowOperator and EvictingWindowOperator for keyed windows of any
// assigner, trigger, evictor and window function.
//
// Per element (Flink's processElement), for the element's key:
//   1. the assigner gives its windows; with a merging assigner (sessions) each is added to the
//      key's MergingWindowSet, which may merge windows: the trigger's OnMerge runs for the result,
//      the merged windows' trigger state and cleanup timers are cleared, and their contents are
//      merged into the result's state window (MergeNamespaces);
//   2. a window that is late (event time, and window end + allowed lateness <= watermark) is
//      skipped (a merged late window is retired);
//   3. otherwise the element is added to the window's contents and the trigger's OnElement decides:
//      FIRE evaluates the window function (results carry window.MaxTimestamp()), PURGE clears the
//      contents; then the window's cleanup timer is registered (event time: window end - 1 +
//      allowed lateness; processing time: window end - 1; never for a window ending at the
//      maximum timestamp);
//   4. an element skipped by every window whose timestamp + allowed lateness <= watermark is late:
//      it goes to the late-data side output when one is set, else it is counted
//      (num_late_records_dropped(), Flink's numLateRecordsDropped).
// Per timer (Flink's onEventTime / onProcessingTime), for the timer's key and window (ignored when
// a merging window was merged away): the trigger's OnEventTime/OnProcessingTime decides as above;
// then, if the timer is the window's cleanup time, all its state is cleared: contents, trigger
// state (Clear), the function's per-window state (Clear), its merging-set entry.
//
// With an evictor (Flink's EvictingWindowOperator) the contents are every element with its
// timestamp (ListState "window-contents"); on firing: EvictBefore -> function over the remaining
// elements -> EvictAfter, and what remains is written back.
//
// Template parameters are held by value, so per element there is no virtual call (except a user
// trigger deriving from Trigger<T, W> that is not final): Assigner (assigners.h), TriggerT
// (triggers.h), Contents (window_functions.h: ReduceContents / AggregateContents /
// ProcessContents), EvictorT (evictors.h, NoEvictor for none). Windows are namespace bytes held in
// the operator (no allocation); assigned windows and scratch vectors are reused.
//
// Threads: one operator instance belongs to one task thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "operators/keyed_operator.h"
#include "operators/window/assigners.h"
#include "operators/window/evictors.h"
#include "operators/window/merging_window_set.h"
#include "operators/window/time_window.h"
#include "operators/window/triggers.h"
#include "operators/window/window_functions.h"

namespace weir::operators::window {

// How the window operator treats late data.
template <typename In>
struct WindowOptions {
  // Flink's allowedLateness: how long after a window's end its state is kept, so that late
  // elements still fire it (late firings). Only for event-time windows.
  Timestamp allowed_lateness = 0;
  // Flink's sideOutputLateData: where elements too late for every window go (instead of being
  // dropped and counted).
  std::optional<OutputTag<In>> late_data_tag;
};

template <typename In, typename KeySelector, typename Assigner, typename TriggerT, typename Contents,
          typename EvictorT = NoEvictor>
class WindowOperator final
    : public KeyedOneInputOperator<In, typename Contents::Out, KeySelector> {
 public:
  using Out = typename Contents::Out;
  using Base = KeyedOneInputOperator<In, Out, KeySelector>;
  using Key = typename Base::Key;
  using W = typename Assigner::Window;
  static constexpr bool kEvicting = !std::is_same_v<EvictorT, NoEvictor>;
  static constexpr bool kMerging = Assigner::kMerging;
  static constexpr bool kEventTime = Assigner::kIsEventTime;

  WindowOperator(KeySelector key_selector, Assigner assigner, TriggerT trigger, Contents contents,
                 EvictorT evictor, WindowOptions<In> options)
      : Base(std::move(key_selector)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        contents_(std::move(contents)),
        evictor_(std::move(evictor)),
        options_(std::move(options)) {
    WEIR_CHECK_MSG(options_.allowed_lateness >= 0, "allowed lateness must be >= 0, got {} ms",
                   options_.allowed_lateness);
  }
  WindowOperator(const WindowOperator&) = delete;
  WindowOperator& operator=(const WindowOperator&) = delete;

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(Base::Open(context));
    if constexpr (kMerging) {
      if (!trigger_.CanMerge()) {
        return FailedPrecondition("{}: a merging window assigner cannot be used with a trigger that "
                                  "does not support merging", context->task_name);
      }
      merging_set_ = std::make_unique<MergingWindowSet<W>>(
          this->backend().template GetListState<WindowMapping<W>>("merging-window-set"));
    }
    trigger_context_ = std::make_unique<OnMergeContext>(&this->backend(), &this->timers(), &clock_);
    window_context_.Bind(&this->backend(), &clock_, &watermark_, &this->side_outputs());
    if constexpr (kEvicting) {
      elements_ = this->backend().template GetListState<Stored>(internal::kContentsStateName);
    } else {
      contents_.Open(this->backend());
    }
    if (options_.late_data_tag.has_value()) late_output_ = this->side_outputs().Find(*options_.late_data_tag);
    collector_ = Collector<Out>(this->output());
    return Status::Ok();
  }

  void Collect(const In& value, Timestamp timestamp) override {
    this->SetCurrentKeyOf(value);
    windows_.clear();
    if (Status assigned = assigner_.AssignWindows(value, timestamp, assigner_context_, windows_);
        !assigned.ok()) [[unlikely]] {
      this->context()->Fail(std::move(assigned));
      return;
    }
    bool skipped = true;
    if constexpr (kMerging) {
      merging_set_->Load();
      for (const W& window : windows_) {
        const W actual = merging_set_->AddWindow(
            window, assigner_,
            [this](const W& result, std::span<const W> merged, const W& state_result,
                   std::span<const W> merged_state) { OnMerge(result, merged, state_result, merged_state); });
        if (IsWindowLate(actual)) {
          merging_set_->RetireWindow(actual);
          continue;
        }
        skipped = false;
        const W* state_window = merging_set_->GetStateWindow(actual);
        WEIR_CHECK_MSG(state_window != nullptr, "window has no state window");
        window_bytes_.Set(actual);
        state_bytes_.Set(*state_window);
        AddElement(value, timestamp, actual, state_bytes_.view());
      }
      merging_set_->Persist();
    } else {
      for (const W& window : windows_) {
        if (IsWindowLate(window)) continue;
        skipped = false;
        window_bytes_.Set(window);
        AddElement(value, timestamp, window, window_bytes_.view());
      }
    }
    if (skipped && IsElementLate(timestamp)) {
      if (late_output_ != nullptr) {
        late_output_->Collect(value, timestamp);
      } else {
        ++late_records_dropped_;
      }
    }
    this->CheckState();
  }

  void EmitWatermark(Timestamp watermark) override {
    watermark_ = watermark;
    Base::EmitWatermark(watermark);
  }

  // Checkpoints: everything but the late-data counter is keyed state or timers, which the base
  // pins (contents, trigger and function state, merging window sets: "keyed/<state name>").
  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(Base::SnapshotState(writer));
    this->SnapshotCounter(writer, "late-records-dropped", late_records_dropped_);
    return Status::Ok();
  }
  Status RestoreState(state::RestoreReader& reader) override {
    RETURN_IF_ERROR(Base::RestoreState(reader));
    ASSIGN_OR_RETURN(late_records_dropped_, this->RestoreCounter(reader, "late-records-dropped"));
    return Status::Ok();
  }

  // Elements dropped because they were late for every window and no late-data output was set.
  int64_t num_late_records_dropped() const { return late_records_dropped_; }
  // Replaces the processing-time clock (wall-clock milliseconds by default); for tests that drive
  // processing time explicitly.
  void set_clock(std::function<Timestamp()> clock) { clock_ = std::move(clock); }

 protected:
  void OnEventTime(const state::FiredTimer& timer) override { OnTimer<true>(timer); }
  void OnProcessingTimer(const state::FiredTimer& timer) override { OnTimer<false>(timer); }

 private:
  // Evicting windows keep each element with its timestamp; plain structs stay plain bytes.
  using Stored = std::conditional_t<state::internal::kPlainBytes<In>, TimestampedValue<In>,
                                    std::pair<Timestamp, In>>;

  // Adds the element to `window` (contents under `state_ns`), asks the trigger, fires or purges,
  // registers the cleanup timer. REQUIRES: window_bytes_ holds `window`.
  void AddElement(const In& value, Timestamp timestamp, const W& window, std::string_view state_ns) {
    if constexpr (kEvicting) {
      elements_->SetCurrentNamespace(state_ns);
      if constexpr (state::internal::kPlainBytes<In>) {
        elements_->Add(Stored{value, timestamp});
      } else {
        elements_->Add(Stored(timestamp, value));
      }
    } else {
      contents_.SetNamespace(state_ns);
      contents_.Add(value);
    }
    trigger_context_->SetWindow(window_bytes_.view());
    const TriggerResult result = trigger_.OnElement(value, timestamp, window, *trigger_context_);
    if (IsFire(result)) {
      // As Flink: a window without contents neither purges nor registers its cleanup timer.
      if (!Emit(window, state_ns)) return;
    }
    if (IsPurge(result)) ClearContents(state_ns);
    RegisterCleanupTimer(window);
  }

  template <bool kEventTimer>
  void OnTimer(const state::FiredTimer& timer) {
    const W window = W::Decode(timer.ns);
    window_bytes_.Set(window);
    std::string_view state_ns = window_bytes_.view();
    if constexpr (kMerging) {
      merging_set_->Load();
      const W* state_window = merging_set_->GetStateWindow(window);
      if (state_window == nullptr) return;  // a timer of a window that was merged away
      state_bytes_.Set(*state_window);
      state_ns = state_bytes_.view();
    }
    trigger_context_->SetWindow(window_bytes_.view());
    TriggerResult result;
    if constexpr (kEventTimer) {
      result = trigger_.OnEventTime(timer.timestamp, window, *trigger_context_);
    } else {
      result = trigger_.OnProcessingTime(timer.timestamp, window, *trigger_context_);
    }
    if (IsFire(result)) Emit(window, state_ns);
    if (IsPurge(result)) ClearContents(state_ns);
    if (kEventTimer == kEventTime && timer.timestamp == CleanupTime(window)) ClearAllState(window, state_ns);
    if constexpr (kMerging) merging_set_->Persist();
  }

  void OnMerge(const W& result, std::span<const W> merged, const W& state_result,
               std::span<const W> merged_state) {
    if constexpr (kEventTime) {
      if (SaturatingAdd(result.MaxTimestamp(), options_.allowed_lateness) <= watermark_) [[unlikely]] {
        this->context()->Fail(FailedPrecondition(
            "the end timestamp of an event-time window cannot become earlier than the current "
            "watermark by merging (watermark {}, window [{}, {}))", watermark_, result.start, result.end));
      }
    } else {
      if (result.MaxTimestamp() <= clock_()) [[unlikely]] {
        this->context()->Fail(FailedPrecondition(
            "the end timestamp of a processing-time window cannot become earlier than the current "
            "processing time by merging (window [{}, {}))", result.start, result.end));
      }
    }
    merged_bytes_.resize(merged.size());
    merged_views_.resize(merged.size());
    for (size_t i = 0; i < merged.size(); ++i) {
      merged_bytes_[i].Set(merged[i]);
      merged_views_[i] = merged_bytes_[i].view();
    }
    merge_result_bytes_.Set(result);
    trigger_context_->SetWindow(merge_result_bytes_.view());
    trigger_context_->SetMergedWindows(merged_views_);
    trigger_.OnMerge(result, *trigger_context_);
    for (size_t i = 0; i < merged.size(); ++i) {
      trigger_context_->SetWindow(merged_views_[i]);
      trigger_.Clear(merged[i], *trigger_context_);
      DeleteCleanupTimer(merged[i], merged_views_[i]);
    }
    // The contents: the other state windows into the result's state window.
    merge_state_bytes_.resize(merged_state.size());
    merge_state_views_.resize(merged_state.size());
    for (size_t i = 0; i < merged_state.size(); ++i) {
      merge_state_bytes_[i].Set(merged_state[i]);
      merge_state_views_[i] = merge_state_bytes_[i].view();
    }
    merge_target_bytes_.Set(state_result);
    if constexpr (kEvicting) {
      elements_->MergeNamespaces(merge_target_bytes_.view(), merge_state_views_);
    } else {
      contents_.MergeNamespaces(merge_target_bytes_.view(), merge_state_views_);
    }
  }

  // Evaluates `window` whose contents are under `state_ns`; false when it has none.
  bool Emit(const W& window, std::string_view state_ns) {
    collector_.set_timestamp(window.MaxTimestamp());
    window_context_.SetWindow(window, window_bytes_.view());
    const Key key = this->GetCurrentKey();
    if constexpr (kEvicting) {
      elements_->SetCurrentNamespace(state_ns);
      evicting_.clear();
      elements_->ForEach([this](const Stored& stored) {
        if constexpr (state::internal::kPlainBytes<In>) {
          evicting_.push_back(stored);
        } else {
          evicting_.push_back(TimestampedValue<In>{stored.second, stored.first});
        }
      });
      if (evicting_.empty()) return false;
      const EvictorContext evictor_context{clock_(), watermark_};
      evictor_.EvictBefore(evicting_, evicting_.size(), window, evictor_context);
      projected_.clear();
      for (const TimestampedValue<In>& element : evicting_) projected_.push_back(element.value);
      contents_.FireElements(key, window_context_, std::span<const In>(projected_), collector_);
      evictor_.EvictAfter(evicting_, evicting_.size(), window, evictor_context);
      // Write back what remains (Update encodes before it replaces, so the views read from the
      // old list stay valid while it does).
      remaining_.clear();
      for (const TimestampedValue<In>& element : evicting_) {
        if constexpr (state::internal::kPlainBytes<In>) {
          remaining_.push_back(element);
        } else {
          remaining_.emplace_back(element.timestamp, element.value);
        }
      }
      elements_->SetCurrentNamespace(state_ns);
      elements_->Update(remaining_);
      return true;
    } else {
      contents_.SetNamespace(state_ns);
      return contents_.Fire(key, window_context_, collector_);
    }
  }

  void ClearContents(std::string_view state_ns) {
    if constexpr (kEvicting) {
      elements_->SetCurrentNamespace(state_ns);
      elements_->Clear();
    } else {
      contents_.SetNamespace(state_ns);
      contents_.Clear();
    }
  }

  // REQUIRES: window_bytes_ holds `window`.
  void ClearAllState(const W& window, std::string_view state_ns) {
    ClearContents(state_ns);
    trigger_context_->SetWindow(window_bytes_.view());
    trigger_.Clear(window, *trigger_context_);
    window_context_.SetWindow(window, window_bytes_.view());
    contents_.ClearFunction(window_context_);
    if constexpr (kMerging) merging_set_->RetireWindow(window);
  }

  static Timestamp SaturatingAdd(Timestamp a, Timestamp b) {
    Timestamp sum;
    return __builtin_add_overflow(a, b, &sum) ? kMaxTimestamp : sum;
  }
  // When the window's state is dropped (Flink's cleanupTime): kMaxTimestamp means never.
  Timestamp CleanupTime(const W& window) const {
    if constexpr (kEventTime) {
      return SaturatingAdd(window.MaxTimestamp(), options_.allowed_lateness);
    } else {
      return window.MaxTimestamp();
    }
  }
  bool IsWindowLate(const W& window) const {
    return kEventTime && CleanupTime(window) <= watermark_;
  }
  bool IsElementLate(Timestamp timestamp) const {
    return kEventTime && SaturatingAdd(timestamp, options_.allowed_lateness) <= watermark_;
  }
  // REQUIRES: window_bytes_ holds `window`.
  void RegisterCleanupTimer(const W& window) {
    const Timestamp time = CleanupTime(window);
    if (time == kMaxTimestamp) return;
    // The default triggers registered this very timer already (the window's end, which is its
    // cleanup time without lateness): skip the duplicate's probe. An event-time window at or
    // past the watermark cannot be here without lateness (it is late).
    if constexpr (std::is_same_v<TriggerT, EventTimeTrigger> || std::is_same_v<TriggerT, ProcessingTimeTrigger>) {
      if (time == window.MaxTimestamp()) return;
    }
    const state::CurrentKey& key = this->backend().current_key();
    if constexpr (kEventTime) {
      this->timers().RegisterEventTimeTimer(key, window_bytes_.view(), time);
    } else {
      this->timers().RegisterProcessingTimeTimer(key, window_bytes_.view(), time);
    }
  }
  void DeleteCleanupTimer(const W& window, std::string_view window_ns) {
    const Timestamp time = CleanupTime(window);
    if (time == kMaxTimestamp) return;
    const state::CurrentKey& key = this->backend().current_key();
    if constexpr (kEventTime) {
      this->timers().DeleteEventTimeTimer(key, window_ns, time);
    } else {
      this->timers().DeleteProcessingTimeTimer(key, window_ns, time);
    }
  }

  Assigner assigner_;
  TriggerT trigger_;
  Contents contents_;
  EvictorT evictor_;
  WindowOptions<In> options_;

  std::function<Timestamp()> clock_ = [] { return WallMillis(); };
  WindowAssignerContext assigner_context_{[this] { return clock_(); }};
  Timestamp watermark_ = kMinTimestamp;
  std::unique_ptr<OnMergeContext> trigger_context_;
  WindowContext<W> window_context_;
  Collector<Out> collector_{nullptr};
  Output<In>* late_output_ = nullptr;
  int64_t late_records_dropped_ = 0;

  std::unique_ptr<MergingWindowSet<W>> merging_set_;
  state::ListState<Stored>* elements_ = nullptr;

  // Reused scratch: the element's windows, namespace bytes, evicting buffers.
  std::vector<W> windows_;
  WindowBytes<W> window_bytes_;
  WindowBytes<W> state_bytes_;
  WindowBytes<W> merge_result_bytes_;
  WindowBytes<W> merge_target_bytes_;
  std::vector<WindowBytes<W>> merged_bytes_;
  std::vector<std::string_view> merged_views_;
  std::vector<WindowBytes<W>> merge_state_bytes_;
  std::vector<std::string_view> merge_state_views_;
  std::vector<TimestampedValue<In>> evicting_;
  std::vector<In> projected_;
  std::vector<Stored> remaining_;
};

}  // namespace weir::operators::window
