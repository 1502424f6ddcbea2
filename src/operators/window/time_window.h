// The windows of the window operator (Flink's TimeWindow and GlobalWindow) and their encoding as
// state namespaces.
//
// A window is a small value type. Its state (window contents, trigger state, the user's per-window
// state) and its timers are kept under the window's namespace bytes:
//   TimeWindow   16 bytes: start then end, each an int64 in native byte order;
//   GlobalWindow 1 byte (0), so it never equals Flink's VoidNamespace "" that per-key (global)
//                state uses.
// Both are plain structs, so a list of windows (the merging window set) is stored as their bytes.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

#include "base/check.h"
#include "base/clock.h"

namespace weir::operators::window {

// The half-open interval [start, end) of event or processing time.
struct TimeWindow {
  Timestamp start = 0;
  Timestamp end = 0;

  static constexpr size_t kEncodedSize = 16;

  // The largest timestamp that still belongs to the window: results of the window carry it.
  Timestamp MaxTimestamp() const { return end - 1; }
  // Whether the two windows overlap or touch (Flink: merging sessions [0,5) and [5,10) merge).
  bool Intersects(const TimeWindow& other) const { return start <= other.end && end >= other.start; }
  // The smallest window containing both.
  TimeWindow Cover(const TimeWindow& other) const {
    return {std::min(start, other.start), std::max(end, other.end)};
  }

  void EncodeTo(char* out) const {
    std::memcpy(out, &start, sizeof(start));
    std::memcpy(out + sizeof(start), &end, sizeof(end));
  }
  // REQUIRES: bytes came from EncodeTo.
  static TimeWindow Decode(std::string_view bytes) {
    WEIR_DCHECK(bytes.size() == kEncodedSize);
    TimeWindow window;
    std::memcpy(&window.start, bytes.data(), sizeof(window.start));
    std::memcpy(&window.end, bytes.data() + sizeof(window.start), sizeof(window.end));
    return window;
  }

  // The start of the window of length `size` (aligned to `offset`) that contains `timestamp`
  // (Flink's TimeWindow.getWindowStartWithOffset): the largest start <= timestamp with
  // start = offset (mod size), also for negative timestamps.
  // REQUIRES: size > 0.
  static Timestamp WindowStartWithOffset(Timestamp timestamp, Timestamp offset, Timestamp size) {
    const Timestamp remainder = (timestamp - offset) % size;
    return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder;
  }

  // Flink's TimeWindow.mergeWindows: sorts `windows` by start and calls
  // merge(std::span<const TimeWindow> group, const TimeWindow& cover) for every run of two or
  // more windows that intersect transitively (a run is contiguous once sorted), with the window
  // covering the run.
  template <typename Merge>
  static void MergeWindows(std::span<TimeWindow> windows, Merge&& merge) {
    std::sort(windows.begin(), windows.end(),
              [](const TimeWindow& a, const TimeWindow& b) { return a.start < b.start; });
    size_t first = 0;
    while (first < windows.size()) {
      TimeWindow cover = windows[first];
      size_t last = first + 1;
      while (last < windows.size() && cover.Intersects(windows[last])) {
        cover = cover.Cover(windows[last]);
        ++last;
      }
      if (last - first > 1) merge(std::span<const TimeWindow>(windows.data() + first, last - first), cover);
      first = last;
    }
  }

  friend bool operator==(const TimeWindow&, const TimeWindow&) = default;
  friend auto operator<=>(const TimeWindow&, const TimeWindow&) = default;
};

// The one window of GlobalWindows: all elements of a key. It never ends (MaxTimestamp is the
// maximum timestamp), so only a custom trigger (count, delta, ...) fires it.
struct GlobalWindow {
  static constexpr size_t kEncodedSize = 1;

  Timestamp MaxTimestamp() const { return kMaxTimestamp; }
  void EncodeTo(char* out) const { out[0] = 0; }
  static GlobalWindow Decode(std::string_view) { return {}; }

  friend bool operator==(const GlobalWindow&, const GlobalWindow&) { return true; }
  friend auto operator<=>(const GlobalWindow&, const GlobalWindow&) { return std::strong_ordering::equal; }
};

// A window's namespace bytes, held by value (no allocation): the view stays valid as long as this
// object does.
template <typename W>
class WindowBytes {
 public:
  WindowBytes() = default;
  explicit WindowBytes(const W& window) { Set(window); }
  void Set(const W& window) { window.EncodeTo(bytes_.data()); }
  std::string_view view() const { return {bytes_.data(), bytes_.size()}; }

 private:
  std::array<char, W::kEncodedSize> bytes_{};
};

}  // namespace weir::operators::window
