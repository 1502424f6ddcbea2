// SessionWindowOperator: the fast path of event-time session windows with an incremental
// aggregate (Flink's window(EventTimeSessionWindows.withGap(g)).aggregate(f) and .reduce(f) with
// the default EventTimeTrigger and no evictor). Its results, late firings and late elements are
// those of Flink's WindowOperator with a MergingWindowSet (window_operator.h), at a fraction of the
// cost per element.
//
// Why a separate operator
// -----------------------
// The generic operator treats every element as a new window [t, t + gap): it loads the key's
// MergingWindowSet, merges the new window into a session (a merge of namespaces, the trigger's
// OnMerge, the old window's timers deleted and the new window's registered) and writes the set
// back. Here the session is the state: an element that extends a session is one hash probe and an
// update in place, with no timer operation.
//
// State: one StateTable entry per key (managed memory), key = the record's key bytes, empty
// namespace, value = the key's open sessions as an array of Session {start, end, timer, fired,
// accumulator}, sorted by start. Sessions of a key are disjoint and do not touch (touching windows
// merge), so the sessions an element's window meets are adjacent in the array, and a window of
// length gap meets at most two of them (every session is at least gap long). The array is usually
// one session; it is rewritten (Put) only when a session is added, bridged or removed.
//
// Timers (the base's TimerService, empty namespace) chase the sessions instead of following every
// extension. Each session has a next action: its on-time firing at end - 1 while its current
// window has not fired, else its cleanup at end - 1 + allowed lateness. Session::timer names a
// registered, not yet fired timer of the key at or before that action. A new session registers
// one at its action; an extension moves the action later and needs nothing; a change that moves
// the action earlier than the session's timer (a late element reopening a fired session)
// registers one at the new action. When a timer fires at T, each session whose timer is T either
// acts (its action is T) or registers a timer at its now later action (the chase: one timer per
// gap of event time for a session that keeps growing). Merged sessions keep the earliest of their
// timers; a timer no session names any more fires and does nothing.
//
// Semantics (Flink's WindowOperator, merging branch, with EventTimeTrigger, for one key):
// * An element with timestamp t opens the window [t, t + gap); it merges with every session it
//   intersects (start <= other.end && end >= other.start, so touching sessions merge), bridging
//   two sessions when it meets both. Accumulators are merged as Merge(earlier session, later
//   session), then the element is added (Flink merges the namespaces, then adds the element;
//   which session's accumulator Flink keeps as the target depends on a HashSet's order, so an
//   aggregate whose Merge is not commutative is unspecified there too).
// * A session fires when the watermark reaches its end - 1, emitting GetResult with timestamp
//   end - 1 (through the window function with the key and [start, end)).
// * Allowed lateness L: a session is kept until the watermark reaches end - 1 + L. An element
//   that lands in (or merges into) a session whose end - 1 <= watermark fires it again at once
//   with its whole contents (a late firing, once per such element); a session that grows past the
//   watermark this way fires again when the watermark reaches its new end - 1. A window whose
//   end - 1 + L <= watermark is late: the element is dropped (Flink's isWindowLate after merging).
//   An element no session takes is late (timestamp + L <= watermark always holds then): it goes
//   to the late-data side output when one is set and consumed, else it is counted in
//   late_dropped(). A session ending at the maximum timestamp is never cleaned up (as Flink).
// * End of input: the task sends the maximum watermark first, which fires every session.
// * An element without a timestamp (kMinTimestamp) fails the task, as Flink throws.
// * Order: for one key, results are emitted in order of end - 1 within a watermark; late firings
//   at the element that causes them.
//
// The AggregateFunction and WindowFunction are those of SlicingWindowOperator
// (slicing_window_operator.h: CreateAccumulator, Add, Merge in either shape, GetResult;
// EmitWindowResult by default; ReduceAggregate adapts a ReduceFunction).
// REQUIRES: Acc is trivially copyable with alignment <= 8 (it is stored as its bytes).
//
// Failures: a session or timer the memory budget cannot hold fails the task with the state
// table's (or timer service's) ResourceExhausted, naming the operator subtask and
// taskmanager.memory.managed.size; the record is not added. Bad options fail Open with
// InvalidArgument.
//
// Threads: one instance belongs to one task thread, like every operator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/clock.h"
#include "base/status.h"
#include "operators/key_encoder.h"
#include "operators/keyed_operator.h"
#include "operators/output.h"
#include "operators/window/slicing_window_operator.h"
#include "operators/window/time_window.h"
#include "state/key_groups.h"
#include "state/state_table.h"

namespace weir::operators::window {

struct SessionWindowOptions {
  int64_t gap_ms = 0;
  int64_t allowed_lateness_ms = 0;
  // Id of the OutputTag<In> receiving late elements (Flink's sideOutputLateData); none = count.
  std::optional<std::string> late_data_tag;

  static SessionWindowOptions WithGap(int64_t gap_ms) {
    SessionWindowOptions options;
    options.gap_ms = gap_ms;
    return options;
  }
  // Flink's checks: gap > 0, lateness >= 0.
  [[nodiscard]] Status Validate() const {
    if (gap_ms <= 0) return InvalidArgument("session window gap ({} ms) must be positive", gap_ms);
    if (allowed_lateness_ms < 0) {
      return InvalidArgument("allowed lateness ({} ms) must not be negative", allowed_lateness_ms);
    }
    return Status::Ok();
  }
};

template <typename In, typename Out, typename KeySelector, typename Aggregate,
          typename WindowFunction = EmitWindowResult>
class SessionWindowOperator final : public KeyedOneInputOperator<In, Out, KeySelector> {
  using Base = KeyedOneInputOperator<In, Out, KeySelector>;

 public:
  using Key = typename Base::Key;
  using Acc = std::decay_t<decltype(std::declval<const Aggregate&>().CreateAccumulator())>;
  using Result = std::decay_t<decltype(std::declval<Aggregate&>().GetResult(std::declval<const Acc&>()))>;
  static_assert(std::is_trivially_copyable_v<Acc> && alignof(Acc) <= 8,
                "the session window operator stores accumulators as their bytes");

  SessionWindowOperator(KeySelector key_selector, Aggregate aggregate, SessionWindowOptions options,
                        WindowFunction window_function = WindowFunction())
      : Base(std::move(key_selector)),
        aggregate_(std::move(aggregate)),
        window_function_(std::move(window_function)),
        options_(std::move(options)) {}
  SessionWindowOperator(const SessionWindowOperator&) = delete;
  SessionWindowOperator& operator=(const SessionWindowOperator&) = delete;

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(options_.Validate().WithContext(context->task_name));
    RETURN_IF_ERROR(Base::Open(context));
    gap_ = options_.gap_ms;
    lateness_ = options_.allowed_lateness_ms;
    max_parallelism_ = context->max_parallelism;
    key_group_mask_ = (max_parallelism_ & (max_parallelism_ - 1)) == 0
                          ? static_cast<uint64_t>(max_parallelism_ - 1)
                          : 0;
    sessions_ = std::make_unique<state::StateTable>(context->state_pool, context->managed_memory,
                                                    context->task_name);
    if (options_.late_data_tag) {
      late_output_ = this->side_outputs().Find(OutputTag<In>(*options_.late_data_tag));
    }
    return Status::Ok();
  }
  void Close() override {
    sessions_.reset();
    Base::Close();
  }
  void SetOutput(OutputBase* output) override {
    Base::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }

  void Collect(const In& value, Timestamp timestamp) override {
    if (timestamp == kMinTimestamp) [[unlikely]] {
      this->context()->Fail(InvalidArgument(
          "an event-time session window needs record timestamps; assign them with "
          "AssignTimestampsAndWatermarks or a source watermark strategy"));
      return;
    }
    const EncodedKey encoded = key_encoder_.Encode(this->key_selector()(value));
    // The key's parts stay in registers on the common path: a CurrentKey built here goes through
    // the stack, and a build that read it back as one vector stalled store forwarding (a third of
    // the rate in that build). It is built only where a slow path needs one.
    const std::string_view key_bytes = encoded.bytes;
    const uint64_t key_hash = encoded.hash;
    const int key_group = KeyGroupOf(key_hash);
    const Timestamp watermark = this->timers().current_watermark();
    const Timestamp end = SaturatingAdd(timestamp, gap_);
    if (end - 1 <= watermark) [[unlikely]] {
      // The element's own window has fired or is late: only an open session can take it.
      const std::span<std::byte> stored = sessions_->Find(key_hash, key_group, key_bytes);
      if (RelocationFailed(stored)) [[unlikely]] return;
      AddToSessions(value, timestamp, end, {key_bytes, key_hash, key_group}, stored, watermark);
      this->CheckState();
      return;
    }
    bool inserted = false;
    auto stored = sessions_->FindOrInsert(key_hash, key_group, key_bytes, {}, sizeof(Session), &inserted);
    if (!stored.ok()) [[unlikely]] {
      this->context()->Fail(stored.status());
      return;
    }
    if (inserted) {
      Session& session = *new (stored->data()) Session{timestamp, end, kMaxTimestamp, 0,
                                                       aggregate_.CreateAccumulator()};
      AddTo(value, session.accumulator);
      ++session_count_;
      EnsureTimer({key_bytes, key_hash, key_group}, session, end - 1);
      this->CheckState();
      return;
    }
    // The common case of an ordered stream: the key's one session, extended or hit. Its window
    // stays after the watermark, so nothing fires and its timer stays valid.
    if (stored->size() == sizeof(Session)) [[likely]] {
      Session& session = SessionsOf(*stored)[0];
      if (session.start <= end && session.end >= timestamp && session.fired == 0) [[likely]] {
        session.start = std::min(session.start, timestamp);
        session.end = std::max(session.end, end);
        AddTo(value, session.accumulator);
        return;
      }
    }
    AddToSessions(value, timestamp, end, {key_bytes, key_hash, key_group}, *stored, watermark);
    this->CheckState();
  }

  // Checkpoints: the session table ("sessions") and the timers (the base's "timers/...") are
  // pinned; the late-data counter is operator state. session_count_ is re-derived on restore.
  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(Base::SnapshotState(writer));
    RETURN_IF_ERROR(writer.AddTable("sessions", *sessions_));
    this->SnapshotCounter(writer, "late-dropped", late_dropped_);
    return Status::Ok();
  }
  Status RestoreState(state::RestoreReader& reader) override {
    RETURN_IF_ERROR(Base::RestoreState(reader));
    RETURN_IF_ERROR(reader.RestoreTable("sessions", *sessions_).WithContext(this->context()->task_name));
    ASSIGN_OR_RETURN(late_dropped_, this->RestoreCounter(reader, "late-dropped"));
    session_count_ = 0;
    Status status;
    sessions_->ForEach([&](int, std::string_view, std::string_view, std::span<const std::byte> value) {
      if (value.size() % sizeof(Session) != 0 && status.ok()) {
        status = DataLoss("{}: a restored key's sessions take {} bytes, not a multiple of {}",
                          this->context()->task_name, value.size(), sizeof(Session));
      }
      session_count_ += static_cast<int64_t>(value.size() / sizeof(Session));
    });
    return status;
  }

  // Elements dropped as late because no late-data output takes them (Flink's
  // numLateRecordsDropped).
  int64_t late_dropped() const { return late_dropped_; }
  // Open sessions (not yet cleaned up), of all keys.
  int64_t session_count() const { return session_count_; }
  // Keys with open sessions.
  size_t key_count() const { return sessions_ ? sessions_->size() : 0; }
  // Registered event-time timers (at most one per open session, usually).
  size_t timer_count() { return sessions_ ? this->timers().event_timer_count() : 0; }
  // Managed memory held by the sessions and the timers.
  int64_t memory_bytes() {
    return sessions_ ? sessions_->memory_bytes() + this->timers().memory_bytes() : 0;
  }

 protected:
  // A timer at T: each session relying on it acts (fires at end - 1 == T, is cleaned up at
  // end - 1 + L == T) or chases its later action.
  void OnEventTime(const state::FiredTimer& timer) override {
    const Timestamp time = timer.timestamp;
    const std::span<std::byte> stored =
        sessions_->Find(timer.key.hash, timer.key.key_group, timer.key.bytes);
    if (RelocationFailed(stored) || stored.empty()) return;
    std::span<Session> sessions = SessionsOf(stored);
    size_t kept = 0;
    for (Session& session : sessions) {
      if (session.timer == time) {
        session.timer = kMaxTimestamp;
        const Timestamp max_timestamp = session.end - 1;
        if (session.fired == 0 && max_timestamp <= time) {
          WEIR_DCHECK(max_timestamp == time);
          Emit(timer.key, session);
          session.fired = 1;
        }
        if (session.fired != 0 && CleanupTime(session) <= time) continue;  // cleaned up
        EnsureTimer(timer.key, session, NextAction(session));
      }
      if (&sessions[kept] != &session) sessions[kept] = session;
      ++kept;
    }
    if (kept == sessions.size()) return;
    session_count_ -= static_cast<int64_t>(sessions.size() - kept);
    if (kept == 0) {
      sessions_->Remove(timer.key.hash, timer.key.key_group, timer.key.bytes);
    } else {
      Rewrite(timer.key, sessions.first(kept));
    }
  }

 private:
  // One open session of a key. `timer` is a registered, not yet fired timer of the key at or
  // before the session's next action (kMaxTimestamp: none, the session is never cleaned up).
  // `fired` says that the current window [start, end) has fired (on time or late).
  struct Session {
    Timestamp start;
    Timestamp end;
    Timestamp timer;
    int64_t fired;
    Acc accumulator;
  };
  // The key's array in the table's value bytes (value size = number of sessions * sizeof).
  static std::span<Session> SessionsOf(std::span<std::byte> bytes) {
    return {std::launder(reinterpret_cast<Session*>(bytes.data())), bytes.size() / sizeof(Session)};
  }
  static Timestamp SaturatingAdd(Timestamp time, int64_t delta) {
    Timestamp sum;
    if (__builtin_add_overflow(time, delta, &sum)) return delta > 0 ? kMaxTimestamp : kMinTimestamp;
    return sum;
  }
  Timestamp CleanupTime(const Session& session) const {
    return SaturatingAdd(session.end - 1, lateness_);
  }
  Timestamp NextAction(const Session& session) const {
    return session.fired == 0 ? session.end - 1 : CleanupTime(session);
  }
  int KeyGroupOf(uint64_t hash) const {
    return key_group_mask_ != 0 || max_parallelism_ == 1
               ? static_cast<int>(hash & key_group_mask_)
               : state::KeyGroupForHash(hash, max_parallelism_);
  }

  void AddTo(const In& value, Acc& accumulator) {
    if constexpr (requires { aggregate_.Add(value, accumulator); } &&
                  std::is_void_v<decltype(aggregate_.Add(value, accumulator))>) {
      aggregate_.Add(value, accumulator);
    } else {
      accumulator = aggregate_.Add(value, accumulator);
    }
  }
  void MergeInto(const Acc& from, Acc& into) {
    if constexpr (requires { aggregate_.Merge(from, into); } &&
                  std::is_void_v<decltype(aggregate_.Merge(from, into))>) {
      aggregate_.Merge(from, into);
    } else {
      into = aggregate_.Merge(into, from);
    }
  }

  // Makes sure a timer at or before `action` backs the session. A session's timer is never
  // moved later (only a firing releases it), so it stays a registered one.
  void EnsureTimer(const state::CurrentKey& key, Session& session, Timestamp action) {
    if (action >= session.timer || action == kMaxTimestamp) return;
    this->timers().RegisterEventTimeTimer(key, {}, action);
    session.timer = action;
  }

  void Emit(const state::CurrentKey& key, const Session& session) {
    const Result result = aggregate_.GetResult(session.accumulator);
    collector_.set_timestamp(session.end - 1);
    if constexpr (std::is_same_v<WindowFunction, EmitWindowResult>) {
      collector_.Collect(result);
    } else {
      window_function_(DecodeKey<Key>(key.bytes), TimeWindow{session.start, session.end}, result,
                       collector_);
    }
  }

  void EmitLate(const In& value, Timestamp timestamp) {
    if (late_output_ != nullptr) {
      late_output_->Collect(value, timestamp);
    } else {
      ++late_dropped_;
    }
  }

  // Writes `sessions` (which may point into the table) as the key's array.
  void Rewrite(const state::CurrentKey& key, std::span<const Session> sessions) {
    scratch_.assign(sessions.begin(), sessions.end());
    auto stored = sessions_->Put(
        key.hash, key.key_group, key.bytes, {},
        std::as_bytes(std::span<const Session>(scratch_.data(), scratch_.size())));
    if (!stored.ok()) [[unlikely]] this->context()->Fail(stored.status());
  }

  // The general case (Flink's processElement, merging branch): the element's window [timestamp,
  // end) merges with the sessions in `stored` (the key's array, empty when the key has none) it
  // intersects, or opens a session; late windows drop the element, windows behind the watermark
  // fire at once.
  // Whether Find's empty span `stored` is a failed relocation (an entry a checkpoint sealed, with
  // no budget left to move it) rather than an absent key: then the task fails, as for any write
  // the budget refuses, instead of taking the key's sessions for none.
  bool RelocationFailed(std::span<std::byte> stored) {
    if (stored.data() != nullptr || sessions_->status().ok()) [[likely]] return false;
    this->context()->Fail(sessions_->status());
    return true;
  }

  void AddToSessions(const In& value, Timestamp timestamp, Timestamp end,
                     const state::CurrentKey& key, std::span<std::byte> stored, Timestamp watermark) {
    std::span<Session> sessions = SessionsOf(stored);
    size_t first = 0;
    while (first < sessions.size() && sessions[first].end < timestamp) ++first;
    size_t last = first;
    while (last < sessions.size() && sessions[last].start <= end) ++last;
    const Timestamp start = last > first ? std::min(timestamp, sessions[first].start) : timestamp;
    const Timestamp merged_end = last > first ? std::max(end, sessions[last - 1].end) : end;
    if (SaturatingAdd(merged_end - 1, lateness_) <= watermark) {
      // A late window. Merged sessions are never late (their cleanup timers have not fired), so
      // this is an element no session takes: late, as its timestamp + L <= its window's end - 1
      // + L <= watermark.
      WEIR_DCHECK(last == first);
      EmitLate(value, timestamp);
      return;
    }
    const bool fires = merged_end - 1 <= watermark;
    if (last == first) {
      // A new session at `first`.
      Session session{timestamp, end, kMaxTimestamp, fires ? 1 : 0, aggregate_.CreateAccumulator()};
      AddTo(value, session.accumulator);
      scratch_.assign(sessions.begin(), sessions.end());
      scratch_.insert(scratch_.begin() + static_cast<std::ptrdiff_t>(first), session);
      auto written = sessions_->Put(
          key.hash, key.key_group, key.bytes, {},
          std::as_bytes(std::span<const Session>(scratch_.data(), scratch_.size())));
      if (!written.ok()) [[unlikely]] {
        this->context()->Fail(written.status());
        return;
      }
      ++session_count_;
      Session& stored_session = SessionsOf(*written)[first];
      if (fires) Emit(key, stored_session);
      EnsureTimer(key, stored_session, NextAction(stored_session));
      return;
    }
    // Merge into a copy first, so that a failed rewrite leaves the key's sessions as they were.
    Session merged = sessions[first];
    const bool changed = last - first > 1 || start != merged.start || merged_end != merged.end;
    for (size_t i = first + 1; i < last; ++i) {
      MergeInto(sessions[i].accumulator, merged.accumulator);
      merged.timer = std::min(merged.timer, sessions[i].timer);
    }
    AddTo(value, merged.accumulator);
    merged.start = start;
    merged.end = merged_end;
    if (changed || fires) merged.fired = fires ? 1 : 0;
    Session* target = &sessions[first];
    if (last - first > 1) {
      scratch_.assign(sessions.begin(), sessions.begin() + static_cast<std::ptrdiff_t>(first));
      scratch_.push_back(merged);
      scratch_.insert(scratch_.end(), sessions.begin() + static_cast<std::ptrdiff_t>(last),
                      sessions.end());
      auto written = sessions_->Put(
          key.hash, key.key_group, key.bytes, {},
          std::as_bytes(std::span<const Session>(scratch_.data(), scratch_.size())));
      if (!written.ok()) [[unlikely]] {
        this->context()->Fail(written.status());
        return;
      }
      session_count_ -= static_cast<int64_t>(last - first - 1);
      target = &SessionsOf(*written)[first];
    } else {
      *target = merged;
    }
    if (fires) Emit(key, *target);
    EnsureTimer(key, *target, NextAction(*target));
  }

  Aggregate aggregate_;
  WindowFunction window_function_;
  const SessionWindowOptions options_;
  int64_t gap_ = 0;
  int64_t lateness_ = 0;
  int max_parallelism_ = 1;
  uint64_t key_group_mask_ = 0;  // max_parallelism - 1 when it is a power of two
  KeyEncoder key_encoder_;
  std::unique_ptr<state::StateTable> sessions_;
  std::vector<Session> scratch_;  // reused when a key's array changes length
  Collector<Out> collector_{nullptr};
  Output<In>* late_output_ = nullptr;
  int64_t late_dropped_ = 0;
  int64_t session_count_ = 0;
};

}  // namespace weir::operators::window
