// RecordBatch: records as bytes in one memory segment, the unit that moves through channels.
//
// Layout: records back to back from the segment's start; each is a 16-byte envelope followed by
// the payload (Codec<T> bytes), padded so the next envelope is 8-byte aligned:
//
//   | u32 length | u8 row kind | u8 flags | u16 reserved | i64 event timestamp | payload | pad |
//
// The batch tracks the used bytes, the record count and the min/max event timestamp (so a window
// operator can skip per-record work when a whole batch falls into one window, and a watermark
// generator can read a batch's max at once). No per-record allocation: appending is a bounds
// check, two stores and a memcpy.
//
// A record larger than a segment goes into an oversized batch (its own heap block, the rare path)
// instead of failing; everything else about it is the same.
//
// Thread safety: a batch is owned by one task at a time; it is moved, never shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "base/clock.h"
#include "memory/segment.h"
#include "serde/codec.h"
#include "serde/row.h"

namespace weir::serde {

struct RecordEnvelope {
  uint32_t length;  // payload bytes
  uint8_t row_kind;
  uint8_t flags;
  uint16_t reserved;
  Timestamp timestamp;  // event time in ms; kMinTimestamp when the record has none
};
static_assert(sizeof(RecordEnvelope) == 16);

// RecordEnvelope::flags: the envelope is not a record but an in-band event of the stream
// (length 0; the event in row_kind, its value in timestamp). Watermarks and watermark status
// travel this way, inside the batch that carries the records before and after them, as Flink
// serializes watermarks into the same buffers as records: an event costs 16 bytes, not a batch.
inline constexpr uint8_t kEventFlag = 1;
enum class BatchEvent : uint8_t { kWatermark = 0, kIdle = 1, kActive = 2 };

inline constexpr size_t RecordFootprint(size_t payload) {
  return sizeof(RecordEnvelope) + ((payload + 7) & ~size_t{7});
}

class RecordBatch {
 public:
  RecordBatch() = default;
  explicit RecordBatch(memory::Segment segment)
      : segment_(std::move(segment)), data_(segment_.data()), capacity_(segment_.size()) {}
  // A batch in its own heap block, for a record larger than a segment.
  static RecordBatch Oversized(size_t capacity);

  RecordBatch(RecordBatch&&) noexcept = default;
  RecordBatch& operator=(RecordBatch&&) noexcept = default;
  RecordBatch(const RecordBatch&) = delete;
  RecordBatch& operator=(const RecordBatch&) = delete;

  bool has_memory() const { return data_ != nullptr; }
  uint32_t count() const { return count_; }
  uint32_t used_bytes() const { return used_; }
  uint32_t capacity() const { return capacity_; }
  // No records and no events.
  bool empty() const { return used_ == 0; }
  Timestamp min_timestamp() const { return min_timestamp_; }
  Timestamp max_timestamp() const { return max_timestamp_; }

  // Appends `value`; false (and nothing written) when it does not fit in the remaining space.
  template <typename T>
  bool TryAppend(const T& value, Timestamp timestamp, RowKind kind = RowKind::kInsert) {
    const size_t payload = Codec<T>::Size(value);
    std::byte* payload_out = Reserve(payload, timestamp, kind);
    if (payload_out == nullptr) return false;
    Codec<T>::Write(value, payload_out);
    return true;
  }

  // Appends raw payload bytes; false when they do not fit.
  bool TryAppendBytes(const void* bytes, size_t size, Timestamp timestamp, RowKind kind) {
    std::byte* payload_out = Reserve(size, timestamp, kind);
    if (payload_out == nullptr) return false;
    std::memcpy(payload_out, bytes, size);
    return true;
  }

  // Reserves room for a payload of `size` bytes and writes its envelope; returns where the payload
  // goes, or nullptr when it does not fit.
  std::byte* Reserve(size_t size, Timestamp timestamp, RowKind kind) {
    const size_t footprint = RecordFootprint(size);
    if (footprint > capacity_ - used_) return nullptr;
    RecordEnvelope envelope{static_cast<uint32_t>(size), static_cast<uint8_t>(kind), 0, 0, timestamp};
    std::memcpy(data_ + used_, &envelope, sizeof(envelope));
    std::byte* payload = data_ + used_ + sizeof(envelope);
    used_ += static_cast<uint32_t>(footprint);
    ++count_;
    if (timestamp < min_timestamp_) min_timestamp_ = timestamp;
    if (timestamp > max_timestamp_) max_timestamp_ = timestamp;
    return payload;
  }

  // Appends an in-band event (see kEventFlag); false when it does not fit. Not counted in count().
  bool TryAppendEvent(BatchEvent event, int64_t value) {
    if (sizeof(RecordEnvelope) > capacity_ - used_) return false;
    const RecordEnvelope envelope{0, static_cast<uint8_t>(event), kEventFlag, 0, value};
    std::memcpy(data_ + used_, &envelope, sizeof(envelope));
    used_ += sizeof(RecordEnvelope);
    return true;
  }

  // Calls visit(const RecordEnvelope&, const std::byte* payload) for each record and event in
  // order; events have kEventFlag set in envelope.flags.
  template <typename Visitor>
  void ForEach(Visitor&& visit) const {
    const std::byte* cursor = data_;
    const std::byte* end = data_ + used_;
    while (cursor < end) {
      const auto& envelope = *std::launder(reinterpret_cast<const RecordEnvelope*>(cursor));
      const std::byte* payload = cursor + sizeof(RecordEnvelope);
      visit(envelope, payload);
      cursor += RecordFootprint(envelope.length);
    }
  }

  // Empties the batch, keeping its memory.
  void Clear() {
    used_ = 0;
    count_ = 0;
    min_timestamp_ = kMaxTimestamp;
    max_timestamp_ = kMinTimestamp;
  }

  // Returns the memory (to its pool, or frees it); the batch becomes empty and memory-less.
  void Release();

 private:
  struct FreeDeleter {
    void operator()(std::byte* block) const;
  };

  memory::Segment segment_;
  std::unique_ptr<std::byte, FreeDeleter> oversized_;
  std::byte* data_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t used_ = 0;
  uint32_t count_ = 0;
  Timestamp min_timestamp_ = kMaxTimestamp;
  Timestamp max_timestamp_ = kMinTimestamp;
};

}  // namespace weir::serde
