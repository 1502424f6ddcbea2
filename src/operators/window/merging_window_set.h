// MergingWindowSet: the in-flight windows of one key for a merging assigner (sessions), and for
// each the "state window" whose namespace holds its contents (Flink's MergingWindowSet).
//
// Why state windows: when windows merge, the merged window's contents must be the union of theirs.
// Instead of moving contents to a namespace named after the new window, one of the merged windows'
// state windows is kept as the state window of the result, and only the others' contents are
// merged into it (MergeNamespaces). So the common case -- an element extending one session --
// moves no state at all.
//
// Storage: the mapping (window -> state window) of the current key is a ListState of plain
// {window, state window} pairs under the empty namespace. Load() reads it into a reused vector
// (one probe), the operator adds and retires windows, Persist() writes it back if it changed.
// Sessions of one key are few, so lookups scan the vector.
//
// Threads: belongs to one operator subtask.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "base/check.h"
#include "state/keyed_state.h"

namespace weir::operators::window {

template <typename W>
struct WindowMapping {
  W window;
  W state_window;
};

template <typename W>
class MergingWindowSet {
 public:
  using MappingState = state::ListState<WindowMapping<W>>;

  // `state` (owned by the backend) holds the mapping of each key.
  explicit MergingWindowSet(MappingState* state) : state_(state) {}
  MergingWindowSet(const MergingWindowSet&) = delete;
  MergingWindowSet& operator=(const MergingWindowSet&) = delete;

  // Reads the current key's mapping.
  void Load() {
    mapping_.clear();
    changed_ = false;
    state_->SetCurrentNamespace({});
    state_->ForEach([this](const WindowMapping<W>& entry) { mapping_.push_back(entry); });
  }
  // Writes the mapping back if it changed since Load().
  void Persist() {
    if (!changed_) return;
    state_->SetCurrentNamespace({});
    state_->Update(mapping_);
    changed_ = false;
  }

  // The state window of `window`, or nullptr when `window` is not in flight (a timer of a window
  // that was merged away).
  const W* GetStateWindow(const W& window) const {
    for (const WindowMapping<W>& entry : mapping_) {
      if (entry.window == window) return &entry.state_window;
    }
    return nullptr;
  }

  // Removes `window` (its state was cleared). REQUIRES: it is in flight.
  void RetireWindow(const W& window) {
    const bool removed = Remove(window, nullptr);
    WEIR_CHECK_MSG(removed, "window is not in the in-flight window set");
  }

  // Adds `new_window`, merging it with the in-flight windows it intersects (transitively), and
  // returns the window it ended up in. For every merge of two or more windows this calls
  //   merge(const W& merge_result, std::span<const W> merged_windows,
  //         const W& state_window_of_result, std::span<const W> merged_state_windows)
  // where merged_windows are the in-flight windows that disappeared into merge_result (not
  // `new_window`, which never had state) and merged_state_windows are the state windows whose
  // contents must be merged into state_window_of_result. No merge is reported when `new_window`
  // only falls inside one existing window.
  template <typename Assigner, typename Merge>
  W AddWindow(const W& new_window, const Assigner& assigner, Merge&& merge) {
    windows_.clear();
    for (const WindowMapping<W>& entry : mapping_) windows_.push_back(entry.window);
    windows_.push_back(new_window);
    groups_.clear();
    members_.clear();
    assigner.MergeWindows(std::span<W>(windows_), [this](std::span<const W> group, const W& cover) {
      groups_.push_back({cover, members_.size(), members_.size() + group.size()});
      members_.insert(members_.end(), group.begin(), group.end());
    });

    W result = new_window;
    bool merged_new_window = false;
    for (const Group& group : groups_) {
      merged_.assign(members_.begin() + static_cast<std::ptrdiff_t>(group.begin),
                     members_.begin() + static_cast<std::ptrdiff_t>(group.end));
      // The new window becomes part of the merge result; it has no state of its own.
      if (auto it = std::find(merged_.begin(), merged_.end(), new_window); it != merged_.end()) {
        merged_.erase(it);
        merged_new_window = true;
        result = group.result;
      }
      // Any merged window's state window serves the result: take the first one's.
      const W* first_state = GetStateWindow(merged_.front());
      WEIR_CHECK(first_state != nullptr);
      const W state_window = *first_state;
      merged_state_.clear();
      for (const W& window : merged_) {
        W removed;
        if (Remove(window, &removed)) merged_state_.push_back(removed);
      }
      Put(group.result, state_window);
      if (auto it = std::find(merged_state_.begin(), merged_state_.end(), state_window);
          it != merged_state_.end()) {
        merged_state_.erase(it);
      }
      // A single existing window that covers the new one is not a merge.
      const bool only_existing_window = merged_.size() == 1 && merged_.front() == group.result;
      if (!only_existing_window) merge(group.result, std::span<const W>(merged_), state_window,
                                       std::span<const W>(merged_state_));
    }
    // The new window stands alone: it is its own state window.
    if (groups_.empty() || (result == new_window && !merged_new_window)) Put(result, result);
    return result;
  }

  // The in-flight windows and their state windows (tests, debugging).
  const std::vector<WindowMapping<W>>& mapping() const { return mapping_; }

 private:
  struct Group {
    W result;
    size_t begin;
    size_t end;
  };

  bool Remove(const W& window, W* state_window) {
    for (size_t i = 0; i < mapping_.size(); ++i) {
      if (mapping_[i].window == window) {
        if (state_window != nullptr) *state_window = mapping_[i].state_window;
        mapping_[i] = mapping_.back();
        mapping_.pop_back();
        changed_ = true;
        return true;
      }
    }
    return false;
  }
  void Put(const W& window, const W& state_window) {
    changed_ = true;
    for (WindowMapping<W>& entry : mapping_) {
      if (entry.window == window) {
        entry.state_window = state_window;
        return;
      }
    }
    mapping_.push_back({window, state_window});
  }

  MappingState* state_;
  std::vector<WindowMapping<W>> mapping_;
  bool changed_ = false;
  // Scratch reused by AddWindow (no allocation once grown).
  std::vector<W> windows_;
  std::vector<Group> groups_;
  std::vector<W> members_;
  std::vector<W> merged_;
  std::vector<W> merged_state_;
};

}  // namespace weir::operators::window
