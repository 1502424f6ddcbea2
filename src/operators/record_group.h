// RecordGroup<T>: up to 64 records with their timestamps, gathered for one Output::CollectBatch
// call. A source that produces records one at a time (a generator), or a decoder walking a record
// batch, sets them here and flushes the group when it is full and wherever the records must not
// wait (before an event, at the end of a poll). Only for plain records (kGroupable: trivially
// copyable, default constructible, up to 256 bytes): they are copied in, which also aligns them.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <span>
#include <type_traits>

#include "base/clock.h"
#include "operators/output.h"

namespace weir::operators {

template <typename T>
inline constexpr bool kGroupable =
    std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T> && sizeof(T) <= 256;

template <typename T>
class RecordGroup {
 public:
  static_assert(kGroupable<T>, "a record group holds plain records");
  static constexpr size_t kCapacity = 64;

  // Record `index` of the group. The caller counts the records it has set in a local: a count
  // kept here would be reloaded and stored around every opaque call (the user's generator) in
  // the caller's loop.
  void Set(size_t index, const T& value, Timestamp timestamp) {
    values_[index] = value;
    timestamps_[index] = timestamp;
  }
  // Record `index` of the group made by `make()`, built in its slot: a record a function returns
  // (the user's generator, called out of line) is written straight into the group. Returned
  // through a temporary instead, the function's field-by-field stores would be read back with
  // one wide load, which must wait for them all to retire (a failed store-to-load forward: about
  // a quarter of a generator job's time).
  template <typename Make>
  void Emplace(size_t index, Make&& make, Timestamp timestamp) {
    ::new (static_cast<void*>(&values_[index])) T(make());  // T is trivially copyable
    timestamps_[index] = timestamp;
  }
  // Hands records [0, count) to `out` in one CollectBatch (none: no call).
  void FlushTo(Output<T>& out, size_t count) const {
    if (count == 0) return;
    out.CollectBatch(std::span<const T>(values_.data(), count),
                     std::span<const Timestamp>(timestamps_.data(), count));
  }

 private:
  std::array<T, kCapacity> values_{};
  std::array<Timestamp, kCapacity> timestamps_{};
};

// A RecordGroup<T> member for types that are groupable, nothing for the others.
struct NoRecordGroup {};
template <typename T>
using RecordGroupIfGroupable = std::conditional_t<kGroupable<T>, RecordGroup<T>, NoRecordGroup>;

}  // namespace weir::operators
