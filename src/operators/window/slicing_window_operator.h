// SlicingWindowOperator: the fast path of tumbling and sliding time windows with an incremental
// aggregate (Flink's window(Tumbling/SlidingEvent/ProcessingTimeWindows).aggregate(f) and
// .reduce(f) with the default trigger and no evictor), computed with slices as Flink SQL's
// SliceAssigner / SlicingWindowOperator and LightSaber compute them.
//
// Why slices
// ----------
// A sliding window of size 60 s and slide 1 s puts every element into 60 windows; Flink's generic
// WindowOperator adds it to 60 accumulators. Here time is cut into slices of g = gcd(size, slide)
// milliseconds, [k*g + offset, (k+1)*g + offset); an element is added once, to the accumulator of
// its (key, slice), and a window [start, end) is the Merge of its size/g slice accumulators when
// it fires. The cost per record is one hash probe whatever size/slide is. A window of event-time
// sliding windows (size > slide) is computed from a per-key sliding aggregate (Two-Stacks over the
// key's slices, MergeSliding below): about 2 * slide/g probes and merges per firing amortized, so
// 60 s / 1 s costs about what 10 s / 1 s does; other windows (tumbling, gapped, processing time, a
// late firing) merge their size/g slices.
//
// State: one StateTable of the operator (managed memory) holds the slice accumulators, key = the
// record's key bytes, namespace = the slice's end (8 bytes, native int64), value = the
// accumulator's bytes, updated in place. A second table holds the sliding aggregates, key = the
// key's bytes, no namespace; a key has one from its first firing until its windows stop reaching
// a next one (or a late element changes a slice it covers). Timers live in the base's
// TimerService, namespace empty: a timer at t means "window ending t + 1 fires" and, with allowed
// lateness L, "window ending t + 1 - L is cleaned up". One timer is registered per (key, slice),
// when FindOrInsert reports the slice as new: at the end - 1 of the first window containing the
// slice. When a window with elements fires and one of its slices also belongs to the next window,
// the next window's timer is registered (a chain), so every window holding elements of a key fires
// in order of end with at most one timer per (key, window) pending.
//
// Semantics (Flink's WindowOperator with EventTimeTrigger / ProcessingTimeTrigger, per window):
// * Windows: start = Flink's TimeWindow.getWindowStartWithOffset (floor, also for negative
//   times), [start, start + size), starts every `slide` ms; tumbling = slide equal to size. A slide
//   larger than the size leaves gaps that belong to no window (Flink allows it): an element in a
//   gap is dropped, or sent to the late output when it is late.
// * Event time: a window fires when the watermark reaches end - 1, emitting one record per (key,
//   window) holding the aggregate of its elements, with timestamp end - 1. A window with no
//   elements emits nothing. For one key, windows are emitted in order of end.
// * Allowed lateness L: a window is cleaned up (its state freed) when the watermark reaches
//   end - 1 + L. An element is added to every window containing it that is not yet cleaned up;
//   each such window whose end - 1 <= watermark fires again at once with its whole content (a late
//   firing; windows of one element in Flink's order, latest start first). An element no window
//   takes and whose timestamp + L <= watermark is late: it goes to the late-data side output when
//   one is set and consumed, else it is counted in late_dropped().
// * Processing time: windows are assigned by the processing time at arrival (the options' clock,
//   the wall clock by default, which the runtime's OnProcessingTime uses too) and fire when
//   OnProcessingTime(now) reaches end - 1; nothing is late and allowed lateness is ignored (Flink's
//   cleanup time of a processing-time window is its end - 1). One difference, at a millisecond tie
//   only: an element whose clock reads exactly the end - 1 of a sliding window that has already
//   fired goes into the later windows only, where Flink would fire the ended window again with it
//   alone (tumbling windows behave as Flink's).
// * End of input: the task sends the maximum watermark first, which fires every event-time window
//   (the base does this); pending processing-time windows do not fire, as in Flink.
// * An event-time element without a timestamp (kMinTimestamp) fails the task, as Flink throws.
//
// The AggregateFunction (held by value; its calls inline):
//   Acc CreateAccumulator() const;
//   void Add(const In& value, Acc& accumulator)   or   Acc Add(const In& value, Acc accumulator);
//   Acc Merge(const Acc& a, const Acc& b)          or   void Merge(const Acc& from, Acc& into);
//   Result GetResult(const Acc& accumulator);
// REQUIRES: Acc is trivially copyable with alignment <= 8 (it is stored as its bytes). Because a
// window of several slices merges per-slice accumulators, the result must not depend on the
// order of elements across slices (Merge associative, and Add/Merge agreeing with adding the
// elements in any order) -- what Flink asks of AggregateFunction.merge. Sum, count, min, max and
// average qualify; a reduce that keeps "the last element" does so only for tumbling windows (one
// slice per window, elements added in arrival order). ReduceAggregate adapts a ReduceFunction.
//
// The WindowFunction (optional, Flink's aggregate(f, windowFunction)) sees each result with its key
// and window: void(const Key& key, const TimeWindow& window, const Result& result,
// Collector<Out>& out). The default, EmitWindowResult, emits the result itself (Out = Result).
//
// Failures: an accumulator or timer the memory budget cannot hold fails the task with the state
// table's ResourceExhausted (naming the operator subtask and taskmanager.memory.managed.size); the
// record is not added. Bad options fail Open with InvalidArgument.
//
// Threads: one instance belongs to one task thread, like every operator.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/xxhash.h"
#include "operators/key_encoder.h"
#include "operators/keyed_operator.h"
#include "operators/output.h"
#include "operators/window/time_window.h"
#include "state/key_groups.h"
#include "state/state_table.h"

namespace weir::operators::window {

enum class WindowTimeDomain { kEventTime, kProcessingTime };

struct SlicingWindowOptions {
  int64_t size_ms = 0;
  int64_t slide_ms = 0;  // equal to size_ms for tumbling windows
  // Shifts window starts (Flink's offset: e.g. -8 h for days in UTC+8). REQUIRES |offset| < slide.
  int64_t offset_ms = 0;
  WindowTimeDomain time_domain = WindowTimeDomain::kEventTime;
  int64_t allowed_lateness_ms = 0;  // event time only
  // Id of the OutputTag<In> receiving late elements (Flink's sideOutputLateData); none = count.
  std::optional<std::string> late_data_tag;
  // The processing-time clock read per record in processing time (ms since the epoch).
  Timestamp (*processing_clock)() = &WallMillis;

  static SlicingWindowOptions Tumbling(int64_t size_ms, int64_t offset_ms = 0,
                                       WindowTimeDomain domain = WindowTimeDomain::kEventTime) {
    return Sliding(size_ms, size_ms, offset_ms, domain);
  }
  static SlicingWindowOptions Sliding(int64_t size_ms, int64_t slide_ms, int64_t offset_ms = 0,
                                      WindowTimeDomain domain = WindowTimeDomain::kEventTime) {
    SlicingWindowOptions options;
    options.size_ms = size_ms;
    options.slide_ms = slide_ms;
    options.offset_ms = offset_ms;
    options.time_domain = domain;
    return options;
  }
  // Flink's checks: size > 0, slide > 0, |offset| < slide, lateness >= 0.
  [[nodiscard]] Status Validate() const {
    if (size_ms <= 0 || slide_ms <= 0) {
      return InvalidArgument("window size ({} ms) and slide ({} ms) must be positive", size_ms,
                             slide_ms);
    }
    if (offset_ms <= -slide_ms || offset_ms >= slide_ms) {
      return InvalidArgument("window offset ({} ms) must be smaller than the slide ({} ms)",
                             offset_ms, slide_ms);
    }
    if (allowed_lateness_ms < 0) {
      return InvalidArgument("allowed lateness ({} ms) must not be negative", allowed_lateness_ms);
    }
    return Status::Ok();
  }
};

// The default WindowFunction: emits the aggregate's result as it is.
struct EmitWindowResult {
  template <typename Key, typename Result, typename Out>
  void operator()(const Key&, const TimeWindow&, const Result& result,
                  Collector<Out>& out) const {
    out.Collect(result);
  }
};

// Flink's ReduceFunction as an AggregateFunction: T reduce(const T&, const T&). The accumulator
// is the reduced value and whether there is one. REQUIRES: T trivially copyable.
template <typename T, typename Reduce>
class ReduceAggregate {
 public:
  struct Accumulator {
    T value;
    bool present;
  };
  explicit ReduceAggregate(Reduce reduce) : reduce_(std::move(reduce)) {}

  Accumulator CreateAccumulator() const { return {T{}, false}; }
  void Add(const T& value, Accumulator& accumulator) const {
    accumulator.value = accumulator.present ? reduce_(accumulator.value, value) : value;
    accumulator.present = true;
  }
  Accumulator Merge(const Accumulator& a, const Accumulator& b) const {
    if (!a.present) return b;
    if (!b.present) return a;
    return {reduce_(a.value, b.value), true};
  }
  T GetResult(const Accumulator& accumulator) const { return accumulator.value; }

 private:
  Reduce reduce_;
};

template <typename In, typename Out, typename KeySelector, typename Aggregate,
          typename WindowFunction = EmitWindowResult>
class SlicingWindowOperator final : public KeyedOneInputOperator<In, Out, KeySelector> {
  using Base = KeyedOneInputOperator<In, Out, KeySelector>;

 public:
  using Key = typename Base::Key;
  using Acc = std::decay_t<decltype(std::declval<const Aggregate&>().CreateAccumulator())>;
  using Result = std::decay_t<decltype(std::declval<Aggregate&>().GetResult(std::declval<const Acc&>()))>;
  static_assert(std::is_trivially_copyable_v<Acc> && alignof(Acc) <= 8,
                "the slicing window operator stores accumulators as their bytes");

  SlicingWindowOperator(KeySelector key_selector, Aggregate aggregate, SlicingWindowOptions options,
                        WindowFunction window_function = WindowFunction())
      : Base(std::move(key_selector)),
        aggregate_(std::move(aggregate)),
        window_function_(std::move(window_function)),
        options_(std::move(options)) {}

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(options_.Validate().WithContext(context->task_name));
    RETURN_IF_ERROR(Base::Open(context));
    size_ = options_.size_ms;
    slide_ = options_.slide_ms;
    offset_ = options_.offset_ms;
    slice_ = std::gcd(size_, slide_);
    event_time_ = options_.time_domain == WindowTimeDomain::kEventTime;
    lateness_ = event_time_ ? options_.allowed_lateness_ms : 0;
    max_parallelism_ = context->max_parallelism;
    key_group_mask_ = (max_parallelism_ & (max_parallelism_ - 1)) == 0
                          ? static_cast<uint64_t>(max_parallelism_ - 1)
                          : 0;
    slices_ = std::make_unique<state::StateTable>(context->state_pool, context->managed_memory,
                                                  context->task_name);
    window_slices_ = size_ / slice_;
    // Tumbling windows (one slice per window) keep each slice in a table of its own.
    slice_tables_enabled_ = slide_ == size_;
    sliding_size_ = sizeof(SlidingHeader) + sizeof(Acc) * static_cast<size_t>(window_slices_ + 1);
    // Overlapping event-time windows keep a sliding aggregate per key (when it fits an entry).
    if (event_time_ && size_ > slide_ &&
        state::StateTable::kEntryHeaderSize + 64 + sliding_size_ <= slices_->MaxEntrySize()) {
      sliding_ = std::make_unique<state::StateTable>(context->state_pool, context->managed_memory,
                                                     context->task_name);
    }
    if (options_.late_data_tag) {
      late_output_ = this->side_outputs().Find(OutputTag<In>(*options_.late_data_tag));
    }
    this->timers().SetPrefetchHook(&PrefetchForTimer, this);
    return Status::Ok();
  }
  void Close() override {
    slice_tables_.clear();
    sliding_.reset();
    slices_.reset();
    Base::Close();
  }
  void SetOutput(OutputBase* output) override {
    Base::SetOutput(output);
    collector_ = Collector<Out>(this->output());
  }

  void Collect(const In& value, Timestamp timestamp) override {
    Add(value, timestamp, key_encoder_.Encode(this->key_selector()(value)));
  }

  // A batch: Add for each record in order, with the probes' cache misses overlapped. A probe is
  // two dependent loads (the index slot, then the entry it names) that miss the L1 cache once a
  // table outgrows it; one record at a time, each record waits for both. Here the keys of up to
  // kPrefetchGroup records are hashed first and their slots prefetched, then their entries (the
  // slots have arrived by then), then the records are added: the loads of a group are in flight
  // together. Prefetches go to the table the current slice uses (a tumbling window's own table,
  // or the slice table with the current slice as namespace); a record of another slice only
  // loses its prefetch. Nothing else differs from Collect.
  void CollectBatch(std::span<const In> values, std::span<const Timestamp> timestamps) override {
    if (!event_time_) {
      for (size_t i = 0; i < values.size(); ++i) Collect(values[i], timestamps[i]);
      return;
    }
    uint64_t hashes[kPrefetchGroup];
    for (size_t begin = 0; begin < values.size(); begin += kPrefetchGroup) {
      const size_t n = std::min(kPrefetchGroup, values.size() - begin);
      const In* group = values.data() + begin;
      const Timestamp* times = timestamps.data() + begin;
      for (size_t i = 0; i < n; ++i) {
        hashes[i] = key_encoder_.Encode(this->key_selector()(group[i])).hash;
      }
      if (current_.table != nullptr) {
        const state::StateTable& table = *current_.table;
        for (size_t i = 0; i < n; ++i) table.PrefetchSlot(hashes[i]);
        if (table.sealed_any()) {
          for (size_t i = 0; i < n; ++i) table.PrefetchEntryForWrite(hashes[i]);
        } else {
          for (size_t i = 0; i < n; ++i) table.PrefetchEntry(hashes[i]);
        }
      } else if (current_.end != kMinTimestamp) {
        const std::string_view ns = Namespace(current_.end);
        for (size_t i = 0; i < n; ++i) slices_->PrefetchSlot(hashes[i], ns);
        if (slices_->sealed_any()) {
          for (size_t i = 0; i < n; ++i) slices_->PrefetchEntryForWrite(hashes[i], ns);
        } else {
          for (size_t i = 0; i < n; ++i) slices_->PrefetchEntry(hashes[i], ns);
        }
      }
      for (size_t i = 0; i < n; ++i) {
        Add(group[i], times[i],
            EncodedKey{key_encoder_.Bytes(this->key_selector()(group[i])), hashes[i]});
      }
    }
  }

  // Checkpoints. Pinned, not copied: the slice table ("slices"), the sliding aggregates
  // ("sliding"), every live tumbling-window table ("window/<end>") and the base's timers. Copied:
  // the blob "slice-tables" (16 bytes: the time up to which window tables have fired -- the
  // watermark in event time -- and whether new slices take the general path since
  // kMaxSliceTables was reached) and the late counter. Whether a window table has fired follows
  // from the first (tables fire in order of end, and a table created behind the firing point
  // starts fired), so it is not stored per table.
  Status SnapshotState(state::SnapshotWriter& writer) override {
    RETURN_IF_ERROR(Base::SnapshotState(writer));
    RETURN_IF_ERROR(writer.AddTable("slices", *slices_));
    if (sliding_) RETURN_IF_ERROR(writer.AddTable("sliding", *sliding_));
    // In event time every table ending by the watermark has fired (or is gone): the watermark
    // also covers tables another old subtask held, which a restore at another parallelism (or a
    // restore listing every old subtask's tables) creates here.
    Timestamp fired_through = event_time_ ? this->timers().current_watermark() : kMinTimestamp;
    for (SliceTable& slice : slice_tables_) {
      RETURN_IF_ERROR(writer.AddTable(fmt::format("{}{}", kWindowTablePrefix, slice.end), *slice.table));
      if (slice.fired) fired_through = std::max(fired_through, slice.end - 1);
    }
    const int64_t disabled = slide_ == size_ && !slice_tables_enabled_ ? 1 : 0;
    std::string blob(2 * sizeof(int64_t), '\0');
    std::memcpy(blob.data(), &fired_through, sizeof(fired_through));
    std::memcpy(blob.data() + sizeof(int64_t), &disabled, sizeof(disabled));
    writer.AddBlob("slice-tables", std::move(blob));
    this->SnapshotCounter(writer, "late-dropped", late_dropped_);
    return Status::Ok();
  }
  // At another parallelism the blobs of every old subtask combine: a window table fired if it
  // fired anywhere (the subtasks saw the same watermarks at the barrier), and the general path
  // stays on if any old subtask switched to it.
  Status RestoreState(state::RestoreReader& reader) override {
    RETURN_IF_ERROR(Base::RestoreState(reader));
    const std::string& task = this->context()->task_name;
    RETURN_IF_ERROR(reader.RestoreTable("slices", *slices_).WithContext(task));
    if (sliding_) RETURN_IF_ERROR(reader.RestoreTable("sliding", *sliding_).WithContext(task));
    Timestamp fired_through = kMinTimestamp;
    bool disabled = false;
    for (const std::string& blob : reader.Blobs("slice-tables")) {
      if (blob.size() != 2 * sizeof(int64_t)) {
        return DataLoss("{}: blob 'slice-tables' has {} bytes (16 expected)", task, blob.size());
      }
      Timestamp through;
      int64_t off;
      std::memcpy(&through, blob.data(), sizeof(through));
      std::memcpy(&off, blob.data() + sizeof(int64_t), sizeof(off));
      fired_through = std::max(fired_through, through);
      disabled = disabled || off != 0;
    }
    if (disabled) slice_tables_enabled_ = false;
    for (const std::string& name : reader.TableNames(kWindowTablePrefix)) {
      const std::string_view digits = std::string_view(name).substr(kWindowTablePrefix.size());
      Timestamp end = 0;
      const auto [rest, error] = std::from_chars(digits.data(), digits.data() + digits.size(), end);
      if (error != std::errc() || rest != digits.data() + digits.size()) {
        return DataLoss("{}: restored table '{}' does not name a window end", task, name);
      }
      auto table = std::make_unique<state::StateTable>(this->context()->state_pool,
                                                       this->context()->managed_memory, task);
      RETURN_IF_ERROR(reader.RestoreTable(name, *table).WithContext(task));
      auto it = std::lower_bound(slice_tables_.begin(), slice_tables_.end(), end,
                                 [](const SliceTable& slice, Timestamp e) { return slice.end < e; });
      if (it != slice_tables_.end() && it->end == end) {
        return DataLoss("{}: window table ending {} restored twice", task, end);
      }
      slice_tables_.insert(it, SliceTable{end, end - 1 <= fired_through, std::move(table)});
    }
    RETURN_IF_ERROR(MoveRestoredSlicesIntoTables());
    current_ = SliceInfo();
    ASSIGN_OR_RETURN(late_dropped_, this->RestoreCounter(reader, "late-dropped"));
    return Status::Ok();
  }

  // Elements dropped as late because no late-data output takes them (Flink's
  // numLateRecordsDropped).
  int64_t late_dropped() const { return late_dropped_; }
  // Live (key, slice) accumulators.
  size_t slice_count() const {
    size_t count = slices_ ? slices_->size() : 0;
    for (const SliceTable& table : slice_tables_) count += table.table->size();
    return count;
  }
  // Tumbling windows' own slice tables alive (see SliceTable).
  size_t slice_table_count() const { return slice_tables_.size(); }
  // Live per-key sliding aggregates (overlapping event-time windows only).
  size_t sliding_aggregate_count() const { return sliding_ ? sliding_->size() : 0; }
  // Managed memory held by the slices and the timers.
  int64_t memory_bytes() {
    if (!slices_) return 0;
    int64_t bytes = slices_->memory_bytes() + (sliding_ ? sliding_->memory_bytes() : 0) +
                    this->timers().memory_bytes();
    for (const SliceTable& table : slice_tables_) bytes += table.table->memory_bytes();
    return bytes;
  }

  // Tumbling windows' own tables fire as a whole; the base then fires the per-key timers and
  // forwards the watermark.
  void EmitWatermark(Timestamp watermark) override {
    if (event_time_ && !slice_tables_.empty()) FireSliceTables(watermark);
    Base::EmitWatermark(watermark);
  }
  Timestamp NextProcessingTime() const override {
    Timestamp next = Base::NextProcessingTime();
    if (!event_time_) {
      for (const SliceTable& table : slice_tables_) next = std::min(next, table.end - 1);
    }
    return next;
  }
  void OnProcessingTime(Timestamp now) override {
    if (!event_time_ && !slice_tables_.empty()) FireSliceTables(now);
    Base::OnProcessingTime(now);
  }

 protected:
  void OnEventTime(const state::FiredTimer& timer) override { OnTimer(timer); }
  void OnProcessingTimer(const state::FiredTimer& timer) override { OnTimer(timer); }

 private:
  // The slice holding the time of the last record, with what its windows need: it is the same
  // slice for most records of an in-order stream, so the divisions are done once per slice.
  struct SliceInfo {
    Timestamp start = kMaxTimestamp;  // [start, end): empty until the first record
    Timestamp end = kMinTimestamp;
    Timestamp first_window_end = 0;  // end of the first window containing the slice
    Timestamp last_window_end = 0;   // end of the last one
    // first_window_end - 1: the slice needs the slow path once the watermark reaches it;
    // kMinTimestamp when no window contains the slice (a gap of slide > size).
    Timestamp first_fire = kMinTimestamp;
    // last_window_end - 1 + lateness: from here the slice is freed and its elements are late.
    Timestamp last_cleanup = kMinTimestamp;
    // The slice's own table (tumbling windows), or null: the slice is in slices_ with timers.
    state::StateTable* table = nullptr;
  };

  // Tumbling windows: the accumulators of one slice (= one window) in a table of their own, with
  // no namespace and no timers. When the watermark (or the processing-time clock) reaches end - 1
  // the table is walked in segment order, emitting every key's result: a sequential scan instead
  // of a timer pop, a dedup-table removal and two probes per key, which is what bounds the latency
  // of a firing of many keys. The table is dropped whole at end - 1 + lateness (no per-entry
  // removal, no compaction). Late elements (allowed lateness) update it and fire their key's
  // window at once, as below. At most kMaxSliceTables tables live; past that (windows of a few
  // milliseconds with a long lateness or far-ahead timestamps) new slices take the general path
  // (slices_ and per-key timers) for the rest of the run, so a slice never has entries in both.
  struct SliceTable {
    Timestamp end;
    bool fired;
    std::unique_ptr<state::StateTable> table;
  };
  static constexpr size_t kMaxSliceTables = 128;
  // Records whose probes CollectBatch overlaps.
  static constexpr size_t kPrefetchGroup = 16;
  static constexpr std::string_view kWindowTablePrefix = "window/";

  static int64_t FloorMod(int64_t value, int64_t divisor) {
    const int64_t remainder = value % divisor;
    return remainder < 0 ? remainder + divisor : remainder;
  }
  static Timestamp SaturatingAdd(Timestamp time, int64_t delta) {
    Timestamp sum;
    if (__builtin_add_overflow(time, delta, &sum)) return delta > 0 ? kMaxTimestamp : kMinTimestamp;
    return sum;
  }
  static std::string_view Namespace(const Timestamp& slice_end) {
    return {reinterpret_cast<const char*>(&slice_end), sizeof(slice_end)};
  }
  static Acc& AccOf(std::span<std::byte> bytes) {
    return *std::launder(reinterpret_cast<Acc*>(bytes.data()));
  }
  static const Acc& AccOf(std::span<const std::byte> bytes) {
    return *std::launder(reinterpret_cast<const Acc*>(bytes.data()));
  }

  SliceInfo SliceOf(Timestamp time) const {
    SliceInfo info;
    info.start = time - FloorMod(time - offset_, slice_);
    info.end = info.start + slice_;
    // Windows start at offset + k * slide; one contains the slice iff it starts in
    // [slice end - size, slice start].
    const Timestamp last_start = info.start - FloorMod(info.start - offset_, slide_);
    const Timestamp lowest = info.end - size_;
    const Timestamp first_start = lowest + FloorMod(offset_ - lowest, slide_);
    info.first_window_end = first_start + size_;
    info.last_window_end = last_start + size_;
    if (first_start <= last_start) {
      info.first_fire = info.first_window_end - 1;
      info.last_cleanup = SaturatingAdd(info.last_window_end - 1, lateness_);
    }
    return info;
  }
  // The key group of a key hash (KeyGroupForHash, without a division for the usual power-of-two
  // max parallelism).
  int KeyGroupOf(uint64_t hash) const {
    return key_group_mask_ != 0 || max_parallelism_ == 1
               ? static_cast<int>(hash & key_group_mask_)
               : state::KeyGroupForHash(hash, max_parallelism_);
  }
  bool IsWindowEnd(Timestamp end) const { return FloorMod(end - size_ - offset_, slide_) == 0; }

  // The table of the tumbling window ending `end`: the existing one, a new one while fewer than
  // kMaxSliceTables live and none has been refused, else null (the general path).
  state::StateTable* SliceTableFor(Timestamp end) {
    auto it = std::lower_bound(slice_tables_.begin(), slice_tables_.end(), end,
                               [](const SliceTable& table, Timestamp e) { return table.end < e; });
    if (it != slice_tables_.end() && it->end == end) return it->table.get();
    if (!slice_tables_enabled_) return nullptr;
    if (slice_tables_.size() >= kMaxSliceTables) {
      slice_tables_enabled_ = false;  // from now on new slices use slices_ (see SliceTable)
      return nullptr;
    }
    auto table = std::make_unique<state::StateTable>(this->context()->state_pool,
                                                     this->context()->managed_memory,
                                                     this->context()->task_name);
    state::StateTable* raw = table.get();
    // A slice behind the firing point (a late element's window that fired with no elements of
    // this subtask) counts as fired: it is only ever fired per element.
    const bool fired = event_time_ ? end - 1 <= this->timers().current_watermark() : false;
    slice_tables_.insert(it, SliceTable{end, fired, std::move(table)});
    return raw;
  }

  // Fires the tables whose window ends at or before `time` + 1 (in order of end) and drops those
  // whose cleanup time (end - 1 + lateness) has come.
  void FireSliceTables(Timestamp time) {
    for (SliceTable& slice : slice_tables_) {
      if (slice.end - 1 > time) break;
      if (slice.fired) continue;
      slice.fired = true;
      // When the general path holds windows too (after kMaxSliceTables), its earlier timers fire
      // first, so that every key's windows still fire in order of end.
      if (event_time_ && this->timers().event_timer_count() != 0 &&
          this->timers().next_event_time() < slice.end - 1) {
        this->timers().AdvanceWatermark(slice.end - 2, [this](const state::FiredTimer& timer) {
          this->backend().SetCurrentKey(timer.key);
          OnEventTime(timer);
        });
      }
      const TimeWindow window{slice.end - size_, slice.end};
      collector_.set_timestamp(slice.end - 1);
      slice.table->ForEach([&](int, std::string_view key, std::string_view, std::span<const std::byte> value) {
        const Result result = aggregate_.GetResult(*std::launder(reinterpret_cast<const Acc*>(value.data())));
        if constexpr (std::is_same_v<WindowFunction, EmitWindowResult>) {
          collector_.Collect(result);
        } else {
          window_function_(DecodeKey<Key>(key), window, result, collector_);
        }
      });
    }
    const auto cleaned = std::find_if(slice_tables_.begin(), slice_tables_.end(), [&](const SliceTable& slice) {
      return SaturatingAdd(slice.end - 1, lateness_) > time;
    });
    if (cleaned != slice_tables_.begin()) {
      slice_tables_.erase(slice_tables_.begin(), cleaned);
      current_ = SliceInfo();  // it may name a dropped table
    }
  }

  // After a restore at another parallelism: an old subtask may have kept window E in a table while
  // another (past kMaxSliceTables) kept its keys' slices of E in slices_. A key's slice must live
  // in one place (new elements of E go to the table), so those slices move into E's table, which
  // fires them with the others; their timers then find no slice and do nothing. (Tumbling windows
  // only, where a slice is a window; the keys are disjoint, as old subtasks own disjoint key
  // groups.) Runs once per restore; copies only the moved entries.
  Status MoveRestoredSlicesIntoTables() {
    if (slice_tables_.empty() || slices_->size() == 0) return Status::Ok();
    struct Moved {
      int key_group;
      std::string key;
      Timestamp end;
      Acc accumulator;
    };
    std::vector<Moved> moved;
    slices_->ForEach([&](int key_group, std::string_view key, std::string_view ns, std::span<const std::byte> value) {
      Timestamp end;
      if (ns.size() != sizeof(end) || value.size() != sizeof(Acc)) return;
      std::memcpy(&end, ns.data(), sizeof(end));
      if (FindSliceTable(end) == nullptr) return;
      Moved entry{key_group, std::string(key), end, {}};
      std::memcpy(static_cast<void*>(&entry.accumulator), value.data(), sizeof(Acc));
      moved.push_back(std::move(entry));
    });
    for (const Moved& entry : moved) {
      const uint64_t hash = Hash64(entry.key);
      auto stored = FindSliceTable(entry.end)->Put(
          hash, entry.key_group, entry.key, {},
          std::span<const std::byte>(reinterpret_cast<const std::byte*>(&entry.accumulator), sizeof(Acc)));
      if (!stored.ok()) return stored.status().WithContext(this->context()->task_name);
      slices_->Remove(hash, entry.key_group, entry.key, Namespace(entry.end));
    }
    return Status::Ok();
  }
  state::StateTable* FindSliceTable(Timestamp end) {
    auto it = std::lower_bound(slice_tables_.begin(), slice_tables_.end(), end,
                               [](const SliceTable& table, Timestamp e) { return table.end < e; });
    return it != slice_tables_.end() && it->end == end ? it->table.get() : nullptr;
  }

  // Collect's work for a record whose key is encoded.
  [[gnu::always_inline]] void Add(const In& value, Timestamp timestamp, const EncodedKey& encoded) {
    Timestamp time = timestamp;
    if (!event_time_) {
      time = options_.processing_clock();
    } else if (timestamp == kMinTimestamp) [[unlikely]] {
      this->context()->Fail(InvalidArgument(
          "an event-time window needs record timestamps; assign them with "
          "AssignTimestampsAndWatermarks or a source watermark strategy (or use processing-time "
          "windows)"));
      return;
    }
    const Timestamp watermark = event_time_ ? this->timers().current_watermark() : kMinTimestamp;
    if (time < current_.start || time >= current_.end) [[unlikely]] {
      current_ = SliceOf(time);
      // (A slice cleaned up already gets no table: its elements are late.)
      if (current_.last_cleanup > watermark) current_.table = SliceTableFor(current_.end);
    }
    // The key is kept in registers rather than set in the state backend, which the record path
    // does not use (slices are in the operator's own table, timers take the key explicitly).
    const int key_group = KeyGroupOf(encoded.hash);
    if (current_.first_fire <= watermark) [[unlikely]] {
      AddBehindWatermark(value, time, {encoded.bytes, encoded.hash, key_group}, watermark);
      return;
    }
    // The common case: no window of this slice has fired; one probe, the update in place. (The
    // key's parts are passed separately: a CurrentKey built here is copied through the stack.)
    bool inserted = false;
    if (current_.table != nullptr) {
      // A tumbling window's own table: no namespace, no timer (the table fires as a whole).
      Acc* accumulator =
          FindOrInsertIn(*current_.table, encoded.hash, key_group, encoded.bytes, {}, &inserted);
      if (accumulator != nullptr) [[likely]]
        AddTo(value, *accumulator);
      return;
    }
    Acc* accumulator =
        FindOrInsertSlice(encoded.hash, key_group, encoded.bytes, current_.end, &inserted);
    if (accumulator == nullptr) [[unlikely]]
      return;
    AddTo(value, *accumulator);
    if (inserted) {
      RegisterTimer({encoded.bytes, encoded.hash, key_group}, current_.first_fire);
      this->CheckState();
    }
  }

  // The accumulator of (key, ns) in `table`, created with CreateAccumulator() when new
  // (*inserted); nullptr after failing the task when the budget cannot hold it.
  [[gnu::always_inline]] Acc* FindOrInsertIn(state::StateTable& table, uint64_t key_hash,
                                             int key_group, std::string_view key_bytes,
                                             std::string_view ns, bool* inserted) {
    auto stored = table.FindOrInsert(key_hash, key_group, key_bytes, ns, sizeof(Acc), inserted);
    if (!stored.ok()) [[unlikely]] {
      this->context()->Fail(stored.status());
      return nullptr;
    }
    if (*inserted) return new (stored->data()) Acc(aggregate_.CreateAccumulator());
    return &AccOf(*stored);
  }

  // The accumulator of (current key, slice), created with CreateAccumulator() when new
  // (*inserted); nullptr after failing the task when the budget cannot hold it.
  [[gnu::always_inline]] Acc* FindOrInsertSlice(uint64_t key_hash, int key_group,
                                                std::string_view key_bytes,
                                                const Timestamp& slice_end, bool* inserted) {
    auto stored = slices_->FindOrInsert(key_hash, key_group, key_bytes, Namespace(slice_end),
                                        sizeof(Acc), inserted);
    if (!stored.ok()) [[unlikely]] {
      this->context()->Fail(stored.status());
      return nullptr;
    }
    if (*inserted) return new (stored->data()) Acc(aggregate_.CreateAccumulator());
    return &AccOf(*stored);
  }

  void AddTo(const In& value, Acc& accumulator) {
    if constexpr (requires { aggregate_.Add(value, accumulator); } &&
                  std::is_void_v<decltype(aggregate_.Add(value, accumulator))>) {
      aggregate_.Add(value, accumulator);
    } else {
      accumulator = aggregate_.Add(value, accumulator);
    }
  }

  void RegisterTimer(const state::CurrentKey& key, Timestamp time) {
    if (event_time_) {
      this->timers().RegisterEventTimeTimer(key, {}, time);
    } else {
      this->timers().RegisterProcessingTimeTimer(key, {}, time);
    }
  }

  // A record whose slice belongs to a window that fired already (or to none): Flink's per-window
  // treatment of late elements, for each window containing the slice.
  void AddBehindWatermark(const In& value, Timestamp time, const state::CurrentKey key,
                          Timestamp watermark) {
    if (current_.first_fire == kMinTimestamp || current_.last_cleanup <= watermark) {
      // No window takes it. Late when timestamp + lateness <= watermark (always so when a window
      // contains it, since every such window ends after it); otherwise it fell into a gap.
      if (event_time_ && SaturatingAdd(time, lateness_) <= watermark) EmitLate(value, time);
      return;
    }
    bool inserted = false;
    if (current_.table != nullptr) {
      // A tumbling window that fired and is not cleaned up (allowed lateness): it fires again at
      // once with the key's whole content (Flink's late firing).
      Acc* accumulator = FindOrInsertIn(*current_.table, key.hash, key.key_group, key.bytes, {}, &inserted);
      if (accumulator == nullptr) [[unlikely]] return;
      AddTo(value, *accumulator);
      const Result result = aggregate_.GetResult(*accumulator);
      collector_.set_timestamp(current_.end - 1);
      if constexpr (std::is_same_v<WindowFunction, EmitWindowResult>) {
        collector_.Collect(result);
      } else {
        window_function_(DecodeKey<Key>(key.bytes), TimeWindow{current_.end - size_, current_.end}, result,
                         collector_);
      }
      return;
    }
    Acc* accumulator =
        FindOrInsertSlice(key.hash, key.key_group, key.bytes, current_.end, &inserted);
    if (accumulator == nullptr) [[unlikely]] return;
    AddTo(value, *accumulator);
    // The slice may be one the key's sliding aggregate covers: drop it (the next regular firing
    // rebuilds it; late firings merge the slices).
    if (sliding_) sliding_->Remove(key.hash, key.key_group, key.bytes);
    // Windows from the latest start down, as Flink assigns them: the ones still ahead of the
    // watermark need their timer (the first of them; the chain reaches the rest), the ones
    // behind it and not cleaned up fire again now.
    Timestamp first_pending_end = kMinTimestamp;
    for (Timestamp end = current_.last_window_end; end >= current_.first_window_end; end -= slide_) {
      const Timestamp max_timestamp = end - 1;
      if (SaturatingAdd(max_timestamp, lateness_) <= watermark) break;  // cleaned up, as all earlier
      if (max_timestamp > watermark) {
        first_pending_end = end;
        continue;
      }
      FireWindow(key, end, /*late=*/true);
    }
    if (first_pending_end != kMinTimestamp) RegisterTimer(key, first_pending_end - 1);
    this->CheckState();
  }

  void EmitLate(const In& value, Timestamp time) {
    if (late_output_ != nullptr) {
      late_output_->Collect(value, time);
    } else {
      ++late_dropped_;
    }
  }

  // The timer service's look-ahead while firing (see TimerService::SetPrefetchHook): the state a
  // timer at t will read, the key's sliding aggregate or its slice ending t + 1 (a tumbling
  // window's only slice, a sliding window's last).
  static void PrefetchForTimer(void* self, const state::CurrentKey& key, std::string_view, Timestamp time,
                               int stage) {
    auto* op = static_cast<SlicingWindowOperator*>(self);
    const Timestamp end = time + 1;
    const state::StateTable* table = op->sliding_ ? op->sliding_.get() : op->slices_.get();
    const std::string_view ns = op->sliding_ ? std::string_view() : Namespace(end);
    if (stage == 1) {
      table->PrefetchSlot(key.hash, ns);
    } else {
      table->PrefetchEntry(key.hash, ns);
    }
  }

  // A timer at t fires the window ending t + 1 and cleans up the one ending t + 1 - lateness.
  void OnTimer(const state::FiredTimer& timer) {
    if (timer.timestamp == kMaxTimestamp) return;
    const Timestamp end = timer.timestamp + 1;
    if (IsWindowEnd(end)) FireWindow(timer.key, end, /*late=*/false);
    const Timestamp cleanup_end = end - lateness_;
    if (IsWindowEnd(cleanup_end)) FreeWindow(timer.key, cleanup_end);
    this->CheckState();
  }

  // Emits the aggregate of the current key's slices in [end - size, end), if it has any, and
  // registers the window's cleanup timer. A regular firing (from its timer) also registers the next
  // window's timer when one of the slices belongs to it too; a late firing does not: the windows
  // after it have fired already or their timer is registered by AddBehindWatermark.
  void FireWindow(const state::CurrentKey& key, Timestamp end, bool late) {
    const Timestamp start = end - size_;
    Acc merged = aggregate_.CreateAccumulator();
    Timestamp latest = kMinTimestamp;  // end of the window's latest slice holding elements
    const bool any = sliding_ && !late ? MergeSliding(key, end, &merged, &latest)
                                       : MergeSlices(key, end, &merged, &latest);
    if (!any) {
      // (A cleanup timer may fire an empty window; it must not leave a sliding aggregate behind.)
      if (sliding_ && !late) sliding_->Remove(key.hash, key.key_group, key.bytes);
      return;
    }
    // A slice starting at or after the next window's start belongs to it too.
    const bool reaches_next = latest > start + slide_;
    // A key's regular firings end with a window reaching no next one: its sliding aggregate is not
    // needed until new elements start a new chain (which rebuilds it).
    if (sliding_ && !late && !reaches_next) {
      sliding_->Remove(key.hash, key.key_group, key.bytes);
    }
    const Result result = aggregate_.GetResult(merged);
    collector_.set_timestamp(end - 1);
    if constexpr (std::is_same_v<WindowFunction, EmitWindowResult>) {
      collector_.Collect(result);
    } else {
      window_function_(DecodeKey<Key>(key.bytes), TimeWindow{start, end}, result, collector_);
    }
    if (reaches_next && !late) RegisterTimer(key, end + slide_ - 1);
    if (lateness_ > 0) RegisterTimer(key, SaturatingAdd(end - 1, lateness_));
  }

  // older (+) newer, the order in which a left-to-right fold over slices merges.
  Acc Combine(const Acc& older, const Acc& newer) {
    if constexpr (requires(Acc& into) { aggregate_.Merge(newer, into); } &&
                  std::is_void_v<decltype(aggregate_.Merge(newer, std::declval<Acc&>()))>) {
      Acc into = older;
      aggregate_.Merge(newer, into);
      return into;
    } else {
      return aggregate_.Merge(older, newer);
    }
  }

  // The window's aggregate from its size/g slices (*merged, true), or false when it has none.
  bool MergeSlices(const state::CurrentKey& key, Timestamp end, Acc* merged, Timestamp* latest) {
    bool any = false;
    for (Timestamp slice_end = end - size_ + slice_; slice_end <= end; slice_end += slice_) {
      const std::span<const std::byte> stored =
          slices_->Get(key.hash, key.key_group, key.bytes, Namespace(slice_end));
      if (stored.empty()) continue;
      *merged = any ? Combine(*merged, AccOf(stored)) : AccOf(stored);
      any = true;
      *latest = slice_end;
    }
    return any;
  }

  // The sliding aggregate of a key (overlapping event-time windows), Two-Stacks over slices: the
  // "front" holds suffix aggregates of the slices of the window ending front_end, computed in one
  // pass when the aggregate is (re)built; the "back" is the running aggregate of the slices after
  // front_end up to back_end, the end of the key's last regular firing. The window ending E
  // (front_end < E, E - size < front_end) is suffix[first slice of the window] (+) back after the
  // back takes the slices in (back_end, E]: about 2 * slide/g probes per firing amortized instead
  // of size/g. It is a value of `sliding_` under the key, laid out as this header, then the back,
  // then the window_slices_ suffix aggregates (suffix j: the slices ending in
  // [front_end - size + (j + 1) g, front_end]).
  // Validity: every slice it covers ends at or before back_end, so belongs to a window that fired;
  // an element reaching such a slice takes AddBehindWatermark, which drops the aggregate. Slices
  // freed by cleanup precede every later window's start, so they are never queried again.
  struct SlidingHeader {
    Timestamp front_end;
    Timestamp back_end;
    Timestamp front_latest;  // end of the front's latest slice with elements; kMinTimestamp if none
    Timestamp back_latest;   // the same for the back
  };
  static Acc* SlidingAcc(std::byte* base, int64_t index) {  // index -1: the back
    return std::launder(reinterpret_cast<Acc*>(base + sizeof(SlidingHeader) +
                                               sizeof(Acc) * static_cast<size_t>(index + 1)));
  }

  bool MergeSliding(const state::CurrentKey& key, Timestamp end, Acc* merged, Timestamp* latest) {
    bool inserted = false;
    auto stored =
        sliding_->FindOrInsert(key.hash, key.key_group, key.bytes, {}, sliding_size_, &inserted);
    if (!stored.ok()) [[unlikely]] {
      this->context()->Fail(stored.status());
      return false;
    }
    std::byte* base = stored->data();
    auto* header = std::launder(reinterpret_cast<SlidingHeader*>(base));
    const Timestamp start = end - size_;
    if (inserted || start >= header->front_end || start < header->front_end - size_ ||
        end <= header->back_end) {
      // (Re)build: the front becomes this window's slices, the back is empty.
      header->front_end = end;
      header->back_end = end;
      header->front_latest = kMinTimestamp;
      header->back_latest = kMinTimestamp;
      Acc suffix = aggregate_.CreateAccumulator();
      for (int64_t j = window_slices_ - 1; j >= 0; --j) {
        const Timestamp slice_end = start + (j + 1) * slice_;
        const std::span<const std::byte> slice =
            slices_->Get(key.hash, key.key_group, key.bytes, Namespace(slice_end));
        if (!slice.empty()) {
          if (header->front_latest == kMinTimestamp) {
            suffix = AccOf(slice);
            header->front_latest = slice_end;
          } else {
            suffix = Combine(AccOf(slice), suffix);
          }
        }
        if (header->front_latest != kMinTimestamp) new (SlidingAcc(base, j)) Acc(suffix);
      }
      if (header->front_latest == kMinTimestamp) return false;
      *merged = suffix;
      *latest = header->front_latest;
      return true;
    }
    Acc* back = SlidingAcc(base, -1);
    for (Timestamp slice_end = header->back_end + slice_; slice_end <= end; slice_end += slice_) {
      const std::span<const std::byte> slice =
          slices_->Get(key.hash, key.key_group, key.bytes, Namespace(slice_end));
      if (slice.empty()) continue;
      if (header->back_latest == kMinTimestamp) {
        new (back) Acc(AccOf(slice));
      } else {
        *back = Combine(*back, AccOf(slice));
      }
      header->back_latest = slice_end;
    }
    header->back_end = end;
    const bool front = header->front_latest > start;
    const bool back_any = header->back_latest != kMinTimestamp;
    if (front) {
      const Acc& suffix = *SlidingAcc(base, (start - (header->front_end - size_)) / slice_);
      *merged = back_any ? Combine(suffix, *back) : suffix;
    } else if (back_any) {
      *merged = *back;
    } else {
      return false;
    }
    *latest = back_any ? header->back_latest : header->front_latest;
    return true;
  }

  // Frees the current key's slices that no window after the one ending `end` contains.
  void FreeWindow(const state::CurrentKey& key, Timestamp end) {
    const Timestamp start = end - size_;
    const Timestamp limit = std::min(start + slide_, end);
    for (Timestamp slice_start = start; slice_start < limit; slice_start += slice_) {
      slices_->Remove(key.hash, key.key_group, key.bytes, Namespace(slice_start + slice_));
    }
  }

  Aggregate aggregate_;
  WindowFunction window_function_;
  const SlicingWindowOptions options_;
  int64_t size_ = 0;
  int64_t slide_ = 0;
  int64_t offset_ = 0;
  int64_t slice_ = 0;  // gcd(size, slide)
  int64_t lateness_ = 0;
  bool event_time_ = true;
  int max_parallelism_ = 1;
  uint64_t key_group_mask_ = 0;  // max_parallelism - 1 when it is a power of two
  KeyEncoder key_encoder_;
  SliceInfo current_;
  std::unique_ptr<state::StateTable> slices_;
  // Tumbling windows' own tables, in order of end (see SliceTable).
  std::vector<SliceTable> slice_tables_;
  bool slice_tables_enabled_ = false;
  // Per-key sliding aggregates (MergeSliding); null for tumbling, gapped or processing-time
  // windows, and for windows of too many slices.
  std::unique_ptr<state::StateTable> sliding_;
  int64_t window_slices_ = 0;  // size / g
  size_t sliding_size_ = 0;    // bytes of a sliding aggregate
  Collector<Out> collector_{nullptr};
  Output<In>* late_output_ = nullptr;
  int64_t late_dropped_ = 0;
};

}  // namespace weir::operators::window
