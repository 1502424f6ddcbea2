// WatermarkStrategy<T>: how a stream gets event time (Flink's WatermarkStrategy family): a
// timestamp assigner that reads each record's event timestamp, and a factory of watermark
// generators that turn the timestamps seen into watermarks.
//
//   auto strategy = WatermarkStrategy<Event>::ForBoundedOutOfOrderness(std::chrono::seconds(5))
//                       .WithTimestampAssigner([](const Event& e, Timestamp) { return e.time; })
//                       .WithIdleness(std::chrono::minutes(1));
//   stream.AssignTimestampsAndWatermarks(strategy);      // or env.ReadTextFile(path, strategy)
//
// Strategies are values of class templates, not objects behind virtual interfaces: each builder
// step returns a new WatermarkStrategy type with its parts as template arguments, so the operator
// that runs it calls the assigner and the generator directly (inlined) for every record.
//
// Generators (Flink's exact watermark values):
// * ForBoundedOutOfOrderness(d): after events with maximum timestamp m, OnPeriodicEmit emits
//   m - d - 1 (an event at m - d may still come; the watermark says "no more <= m - d - 1").
//   Before any event it emits kMinTimestamp (which an emitter drops: it is no progress).
//   REQUIRES: d >= 0.
// * ForMonotonousTimestamps(): ForBoundedOutOfOrderness(0), so m - 1.
// * ForGenerator(factory): a user generator, punctuated (emits from OnEvent) or periodic (from
//   OnPeriodicEmit): any type with
//       void OnEvent(const T& event, Timestamp timestamp, WatermarkOutput& output);
//       void OnPeriodicEmit(WatermarkOutput& output);
//   (a WatermarkGenerator<T> subclass is one), made per parallel instance by
//   `factory(const WatermarkGeneratorContext&)` or `factory()`, returning it by value or as a
//   std::unique_ptr.
// * NoWatermarks(): never emits (only the end of input's maximum watermark passes).
// * .WithIdleness(t) (Flink's WatermarksWithIdleness): wraps the generator; idleness is judged in
//   OnPeriodicEmit only. The first periodic call that saw no event since the previous one starts
//   a countdown on the input-activity clock; a later periodic call that still saw no event and
//   finds strictly more than t elapsed on that clock marks the output idle (once) instead of
//   asking the inner generator. An event resets the countdown; the output becomes active again
//   when the inner generator next emits a watermark above the last one. So a stream is marked
//   idle no earlier than t after its last event. REQUIRES: t > 0.
// * .WithTimestampAssigner(f): `Timestamp f(const T&, Timestamp record_timestamp)` or
//   `Timestamp f(const T&)`. Without one the record's existing timestamp is kept (Flink's
//   RecordTimestampAssigner), kMinTimestamp when it has none.
//
// The input-activity clock (WatermarkGeneratorContext): the clock idleness is measured on. It
// should stand still while the input could not make progress for reasons other than having no
// data (a backpressured source), so backpressure is not mistaken for idleness; sources pass a
// PausableRelativeClock paused while they are blocked, the operator passes the system clock.
// Tests inject a manual clock.
//
// Threads: a strategy is copied into every parallel instance; a generator and its clock belong
// to one task thread.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "base/check.h"
#include "base/clock.h"

namespace weir::operators {

// Where a generator sends watermarks and idleness (Flink's WatermarkOutput).
class WatermarkOutput {
 public:
  virtual ~WatermarkOutput() = default;
  // A watermark; one not above the last emitted one is ignored by every output.
  virtual void EmitWatermark(Timestamp watermark) = 0;
  // The stream has no data for now: downstream does not wait for its watermark.
  virtual void MarkIdle() = 0;
  // The stream has data again (also implied by emitting a watermark above the last one).
  virtual void MarkActive() = 0;
};

// Flink's WatermarkGenerator<T> interface, for generators written as subclasses. Any class with
// these two methods works with ForGenerator; it need not derive from this.
template <typename T>
class WatermarkGenerator {
 public:
  virtual ~WatermarkGenerator() = default;
  virtual void OnEvent(const T& event, Timestamp timestamp, WatermarkOutput& output) = 0;
  virtual void OnPeriodicEmit(WatermarkOutput& output) = 0;
};

template <typename G, typename T>
concept WatermarkGeneratorFor = requires(G& generator, const T& event, WatermarkOutput& output) {
  generator.OnEvent(event, Timestamp{0}, output);
  generator.OnPeriodicEmit(output);
};

// Whether a generator may emit from OnEvent (a punctuated one). The built-in periodic generators
// say `static constexpr bool kEmitsOnEvent = false`; any other generator is taken to emit. A
// batch of records (Output::CollectBatch) passes a periodic generator's OnEvent calls after the
// whole batch, where they change nothing a downstream operator sees.
template <typename G>
constexpr bool EmitsOnEvent() {
  if constexpr (requires { G::kEmitsOnEvent; }) {
    return G::kEmitsOnEvent;
  } else {
    return true;
  }
}

// A monotonic nanosecond clock that only needs to be consistent with itself (Flink's
// RelativeClock). Read only in periodic calls, never per record.
class RelativeClock {
 public:
  virtual ~RelativeClock() = default;
  virtual int64_t RelativeTimeNanos() const = 0;
};

// MonotonicNanos().
class SystemRelativeClock final : public RelativeClock {
 public:
  int64_t RelativeTimeNanos() const override { return MonotonicNanos(); }
  // A shared instance (stateless, so sharing it across threads is safe).
  static const SystemRelativeClock& Get() {
    static const SystemRelativeClock clock;
    return clock;
  }
};

// A clock that stands still while paused (Flink's PausableRelativeClock): the time of `base`
// minus every paused interval. Pause/Unpause are idempotent.
class PausableRelativeClock final : public RelativeClock {
 public:
  explicit PausableRelativeClock(const RelativeClock* base) : base_(base) {}
  int64_t RelativeTimeNanos() const override {
    const int64_t now = paused_ ? paused_at_ : base_->RelativeTimeNanos();
    return now - paused_total_;
  }
  void Pause() {
    if (paused_) return;
    paused_ = true;
    paused_at_ = base_->RelativeTimeNanos();
  }
  void Unpause() {
    if (!paused_) return;
    paused_ = false;
    paused_total_ += base_->RelativeTimeNanos() - paused_at_;
  }
  bool paused() const { return paused_; }

 private:
  const RelativeClock* base_;
  bool paused_ = false;
  int64_t paused_at_ = 0;
  int64_t paused_total_ = 0;
};

// What a generator factory gets when a parallel instance creates its generator.
struct WatermarkGeneratorContext {
  const RelativeClock* input_activity_clock = &SystemRelativeClock::Get();
};

// Flink's BoundedOutOfOrdernessWatermarks (see the file comment for its values).
class BoundedOutOfOrdernessWatermarks {
 public:
  static constexpr bool kEmitsOnEvent = false;
  explicit BoundedOutOfOrdernessWatermarks(int64_t out_of_orderness_millis)
      : out_of_orderness_(out_of_orderness_millis),
        max_timestamp_(kMinTimestamp + out_of_orderness_millis + 1) {
    WEIR_CHECK_MSG(out_of_orderness_millis >= 0, "max out-of-orderness must not be negative: {} ms",
                   out_of_orderness_millis);
  }
  template <typename T>
  void OnEvent(const T&, Timestamp timestamp, WatermarkOutput&) {
    if (timestamp > max_timestamp_) max_timestamp_ = timestamp;
  }
  void OnPeriodicEmit(WatermarkOutput& output) {
    output.EmitWatermark(max_timestamp_ - out_of_orderness_ - 1);
  }

 private:
  int64_t out_of_orderness_;
  Timestamp max_timestamp_;
};

// Flink's NoWatermarksGenerator.
class NoWatermarksGenerator {
 public:
  static constexpr bool kEmitsOnEvent = false;
  template <typename T>
  void OnEvent(const T&, Timestamp, WatermarkOutput&) {}
  void OnPeriodicEmit(WatermarkOutput&) {}
};

// Flink's WatermarksWithIdleness.IdlenessTimer: see WithIdleness in the file comment.
class IdlenessTimer {
 public:
  IdlenessTimer(const RelativeClock* clock, int64_t idle_timeout_nanos)
      : clock_(clock), idle_timeout_nanos_(idle_timeout_nanos) {}
  void Activity() { ++counter_; }
  // True when no activity was seen for more than the timeout, counted from the first check that
  // found none.
  bool CheckIfIdle() {
    if (counter_ != last_counter_) {
      last_counter_ = counter_;
      counting_ = false;
      return false;
    }
    if (!counting_) {
      counting_ = true;
      inactive_since_ = clock_->RelativeTimeNanos();
      return false;
    }
    return clock_->RelativeTimeNanos() - inactive_since_ > idle_timeout_nanos_;
  }

 private:
  const RelativeClock* clock_;
  int64_t idle_timeout_nanos_;
  uint64_t counter_ = 0;
  uint64_t last_counter_ = 0;
  bool counting_ = false;
  int64_t inactive_since_ = 0;
};

// Flink's WatermarksWithIdleness around the generator `Inner`.
template <typename Inner>
class WatermarksWithIdleness {
 public:
  static constexpr bool kEmitsOnEvent = EmitsOnEvent<Inner>();
  WatermarksWithIdleness(Inner inner, std::chrono::milliseconds idle_timeout,
                         const RelativeClock* clock)
      : inner_(std::move(inner)),
        timer_(clock, std::chrono::duration_cast<std::chrono::nanoseconds>(idle_timeout).count()) {}
  template <typename T>
  void OnEvent(const T& event, Timestamp timestamp, WatermarkOutput& output) {
    inner_.OnEvent(event, timestamp, output);
    timer_.Activity();
    idle_ = false;
  }
  void OnPeriodicEmit(WatermarkOutput& output) {
    if (timer_.CheckIfIdle()) {
      if (!idle_) {
        output.MarkIdle();
        idle_ = true;
      }
    } else {
      inner_.OnPeriodicEmit(output);
    }
  }

 private:
  Inner inner_;
  IdlenessTimer timer_;
  bool idle_ = false;
};

// Flink's RecordTimestampAssigner: keeps the timestamp the record already has.
struct RecordTimestampAssigner {
  template <typename T>
  Timestamp operator()(const T&, Timestamp record_timestamp) const {
    return record_timestamp;
  }
};

namespace internal {

struct NoWatermarksFactory {
  NoWatermarksGenerator operator()(const WatermarkGeneratorContext&) const { return {}; }
};

struct BoundedOutOfOrdernessFactory {
  int64_t out_of_orderness_millis;
  BoundedOutOfOrdernessWatermarks operator()(const WatermarkGeneratorContext&) const {
    return BoundedOutOfOrdernessWatermarks(out_of_orderness_millis);
  }
};

// A generator held by pointer (a factory returned a std::unique_ptr).
template <typename G>
class OwnedGenerator {
 public:
  explicit OwnedGenerator(std::unique_ptr<G> generator) : generator_(std::move(generator)) {
    WEIR_CHECK_MSG(generator_ != nullptr, "watermark generator factory returned null");
  }
  template <typename T>
  void OnEvent(const T& event, Timestamp timestamp, WatermarkOutput& output) {
    generator_->OnEvent(event, timestamp, output);
  }
  void OnPeriodicEmit(WatermarkOutput& output) { generator_->OnPeriodicEmit(output); }

 private:
  std::unique_ptr<G> generator_;
};

template <typename>
inline constexpr bool kIsUniquePtr = false;
template <typename G>
inline constexpr bool kIsUniquePtr<std::unique_ptr<G>> = true;

// A user factory: `factory(const WatermarkGeneratorContext&)` or `factory()`.
template <typename Factory>
struct UserGeneratorFactory {
  Factory factory;
  auto operator()(const WatermarkGeneratorContext& context) const {
    auto made = [&] {
      if constexpr (std::is_invocable_v<const Factory&, const WatermarkGeneratorContext&>) {
        return factory(context);
      } else {
        return factory();
      }
    }();
    if constexpr (kIsUniquePtr<decltype(made)>) {
      return OwnedGenerator<typename decltype(made)::element_type>(std::move(made));
    } else {
      return made;
    }
  }
};

template <typename Inner>
struct IdlenessFactory {
  Inner inner;
  std::chrono::milliseconds idle_timeout;
  auto operator()(const WatermarkGeneratorContext& context) const {
    return WatermarksWithIdleness<decltype(inner(context))>(inner(context), idle_timeout,
                                                            context.input_activity_clock);
  }
};

// A user assigner: `f(const T&, Timestamp)` or `f(const T&)`.
template <typename T, typename F>
struct UserTimestampAssigner {
  F function;
  Timestamp operator()(const T& value, Timestamp record_timestamp) const {
    if constexpr (std::is_invocable_v<const F&, const T&, Timestamp>) {
      return function(value, record_timestamp);
    } else {
      return function(value);
    }
  }
};

}  // namespace internal

template <typename T, typename GeneratorFactory = internal::NoWatermarksFactory,
          typename Assigner = RecordTimestampAssigner>
class WatermarkStrategy {
 public:
  using ValueType = T;
  using Generator = std::invoke_result_t<const GeneratorFactory&, const WatermarkGeneratorContext&>;
  static_assert(WatermarkGeneratorFor<Generator, T>,
                "a watermark generator needs OnEvent(const T&, Timestamp, WatermarkOutput&) and "
                "OnPeriodicEmit(WatermarkOutput&)");

  WatermarkStrategy() = default;
  WatermarkStrategy(GeneratorFactory factory, Assigner assigner)
      : factory_(std::move(factory)), assigner_(std::move(assigner)) {}

  // --- The Flink builders (static: WatermarkStrategy<Event>::ForMonotonousTimestamps()).
  static WatermarkStrategy<T, internal::BoundedOutOfOrdernessFactory> ForBoundedOutOfOrderness(
      std::chrono::milliseconds max_out_of_orderness) {
    WEIR_CHECK_MSG(max_out_of_orderness.count() >= 0,
                   "max out-of-orderness must not be negative: {} ms", max_out_of_orderness.count());
    return {internal::BoundedOutOfOrdernessFactory{max_out_of_orderness.count()}, {}};
  }
  static WatermarkStrategy<T, internal::BoundedOutOfOrdernessFactory> ForMonotonousTimestamps() {
    return ForBoundedOutOfOrderness(std::chrono::milliseconds(0));
  }
  template <typename Factory>
  static WatermarkStrategy<T, internal::UserGeneratorFactory<Factory>> ForGenerator(Factory factory) {
    return {internal::UserGeneratorFactory<Factory>{std::move(factory)}, {}};
  }
  static WatermarkStrategy<T> NoWatermarks() { return {}; }

  // --- Decorators: each returns a new strategy.
  template <typename F>
  WatermarkStrategy<T, GeneratorFactory, internal::UserTimestampAssigner<T, F>>
  WithTimestampAssigner(F function) const {
    static_assert(std::is_invocable_r_v<Timestamp, const F&, const T&, Timestamp> ||
                      std::is_invocable_r_v<Timestamp, const F&, const T&>,
                  "a timestamp assigner is Timestamp(const T&, Timestamp) or Timestamp(const T&)");
    return {factory_, internal::UserTimestampAssigner<T, F>{std::move(function)}};
  }
  WatermarkStrategy<T, internal::IdlenessFactory<GeneratorFactory>, Assigner> WithIdleness(
      std::chrono::milliseconds idle_timeout) const {
    WEIR_CHECK_MSG(idle_timeout.count() > 0, "idle timeout must be positive: {} ms",
                   idle_timeout.count());
    return {internal::IdlenessFactory<GeneratorFactory>{factory_, idle_timeout}, assigner_};
  }

  // --- What the operators call.
  Generator CreateWatermarkGenerator(const WatermarkGeneratorContext& context) const {
    return factory_(context);
  }
  Timestamp ExtractTimestamp(const T& value, Timestamp record_timestamp) const {
    return assigner_(value, record_timestamp);
  }

 private:
  GeneratorFactory factory_;
  Assigner assigner_;
};

template <typename S>
inline constexpr bool kIsWatermarkStrategy = false;
template <typename T, typename F, typename A>
inline constexpr bool kIsWatermarkStrategy<WatermarkStrategy<T, F, A>> = true;

// A WatermarkStrategy for records of type T (what the API's strategy overloads accept).
template <typename S, typename T>
concept WatermarkStrategyFor =
    kIsWatermarkStrategy<S> && std::is_same_v<typename S::ValueType, T>;

}  // namespace weir::operators
