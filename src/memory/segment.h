// Segment: a move-only handle to one fixed-size block of off-heap memory owned by a SegmentPool.
//
// Records, channel buffers and state tables all live in segments. A segment's memory is 64-byte
// aligned, its size is the pool's segment size (a power of two), and it is returned to its pool
// when the handle is destroyed or Reset(). Handles may be moved between threads (a producer fills
// a segment, a consumer on another core releases it); a segment released on another thread lands
// in that thread's cache and flows back to the shared free list in batches (see segment_pool.h).
//
// Not thread-safe itself: one thread at a time owns a handle. REQUIRES: the pool outlives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace weir::memory {

class SegmentPool;

class Segment {
 public:
  Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  Segment(Segment&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(other.size_), pool_(other.pool_) {}
  Segment& operator=(Segment&& other) noexcept {
    if (this != &other) {
      Reset();
      data_ = std::exchange(other.data_, nullptr);
      size_ = other.size_;
      pool_ = other.pool_;
    }
    return *this;
  }
  ~Segment() { Reset(); }

  explicit operator bool() const { return data_ != nullptr; }
  std::byte* data() const { return data_; }
  uint32_t size() const { return size_; }
  SegmentPool* pool() const { return pool_; }

  // Returns the memory to its pool; the handle becomes empty.
  void Reset();

 private:
  friend class SegmentPool;
  Segment(std::byte* data, uint32_t size, SegmentPool* pool) : data_(data), size_(size), pool_(pool) {}

  std::byte* data_ = nullptr;
  uint32_t size_ = 0;
  SegmentPool* pool_ = nullptr;
};

}  // namespace weir::memory
