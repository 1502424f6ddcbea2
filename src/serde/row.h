// Row: weir's schema-driven binary row, in the spirit of Flink's BinaryRowData. SQL operators,
// keyed state and the text formats all work on rows in this form, in place, in segments.
//
// Layout of a row of n fields (all offsets relative to the row's first byte, so a row can be
// memcpy'd anywhere; fixed-width integers little-endian; no alignment required, reads use memcpy):
//
//   header   RowHeaderSize(n) = 8 * ceil((n + 8) / 64) bytes: a bitset whose first byte (bits 0-7)
//            is the RowKind and whose bit 8 + i is set when field i is NULL (BinaryRowData's layout)
//   slots    8 bytes per field, at RowHeaderSize(n) + 8 * i:
//              BOOLEAN        1 byte 0/1, then 7 zero bytes
//              INT            int32 in the first 4 bytes, then 4 zero bytes
//              BIGINT, DECIMAL (unscaled), TIMESTAMP(3) (epoch millis)   int64
//              DOUBLE         the IEEE-754 bits
//              VARCHAR        uint32 offset of the bytes (from the row start) in the low 4 bytes,
//                             uint32 length in the high 4 bytes. Every string, however short, lives
//                             in the tail (unlike BinaryRowData, which inlines strings of <= 7 bytes):
//                             GetVarchar is then one load and no branch, and the 8-byte slot of a
//                             short string costs the same either way.
//            a NULL field's slot is all zero bytes.
//   tail     the VARCHAR bytes in the order they were written, unpadded; the row's total size is
//            rounded up to a multiple of 8 with zero bytes.
//
// A row written by RowWriter is deterministic: the same row kind and values written in the same
// order give the same bytes (header, padding and null slots are zeroed).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "serde/schema.h"
#include "serde/types.h"

namespace weir::serde {

static_assert(std::endian::native == std::endian::little, "the row format assumes a little-endian host");

// Flink's RowKind, with Flink's byte values (the changelog kind of a row).
enum class RowKind : uint8_t { kInsert = 0, kUpdateBefore = 1, kUpdateAfter = 2, kDelete = 3 };

// "+I", "-U", "+U", "-D" (Flink's RowKind.shortString()).
std::string_view RowKindShortString(RowKind kind);

// Bytes of the header (row kind + null bits) of a row with `field_count` fields.
constexpr size_t RowHeaderSize(int field_count) {
  return static_cast<size_t>((field_count + 8 + 63) / 64) * 8;
}
// Bytes of the header and slots: the smallest row of `field_count` fields.
constexpr size_t RowFixedSize(int field_count) {
  return RowHeaderSize(field_count) + 8 * static_cast<size_t>(field_count);
}

// A zero-copy, read-only view of one row. Cheap to copy (a pointer, a size, a slot pointer).
// It does not own the bytes: it is valid while the memory it points to is (typically while the
// record is being processed). Accessors are inline and do not check types: reading a field as the
// type the schema gives it is the caller's contract (DCHECKed field bounds only).
class RowView {
 public:
  RowView() = default;
  // REQUIRES: data holds a row of `field_count` fields as RowWriter writes it, `size` bytes long
  // (ValidateRow checks bytes from an untrusted source, such as a file).
  RowView(const std::byte* data, size_t size, int field_count)
      : data_(data),
        slots_(data + RowHeaderSize(field_count)),
        size_(static_cast<uint32_t>(size)),
        field_count_(field_count) {}

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  int field_count() const { return field_count_; }

  RowKind row_kind() const { return static_cast<RowKind>(data_[0]); }

  bool IsNull(int i) const {
    WEIR_DCHECK(i >= 0 && i < field_count_);
    const int bit = i + 8;
    return (static_cast<uint8_t>(data_[bit >> 3]) >> (bit & 7)) & 1;
  }

  // The value of field i; for a NULL field every getter returns the zero value ("" for VARCHAR).
  bool GetBool(int i) const { return static_cast<uint8_t>(slots_[Check(i) * 8]) != 0; }
  int32_t GetInt(int i) const { return Load<int32_t>(i); }
  int64_t GetBigInt(int i) const { return Load<int64_t>(i); }
  double GetDouble(int i) const { return Load<double>(i); }
  // The unscaled value (the number times 10^scale of the field's type).
  int64_t GetDecimal(int i) const { return Load<int64_t>(i); }
  // Epoch milliseconds.
  int64_t GetTimestamp(int i) const { return Load<int64_t>(i); }
  std::string_view GetVarchar(int i) const {
    const uint64_t slot = Load<uint64_t>(i);
    return std::string_view(reinterpret_cast<const char*>(data_) + static_cast<uint32_t>(slot),
                            static_cast<size_t>(slot >> 32));
  }
  // The raw 8-byte slot of field i.
  uint64_t GetSlot(int i) const { return Load<uint64_t>(i); }

 private:
  size_t Check(int i) const {
    WEIR_DCHECK(i >= 0 && i < field_count_);
    return static_cast<size_t>(i);
  }
  template <typename T>
  T Load(int i) const {
    T value;
    std::memcpy(&value, slots_ + Check(i) * 8, sizeof(T));
    return value;
  }

  const std::byte* data_ = nullptr;
  const std::byte* slots_ = nullptr;
  uint32_t size_ = 0;
  int field_count_ = 0;
};

// Checks that `size` bytes at `data` are a well-formed row of `schema` before a RowView reads them
// (rows restored from files or received from elsewhere): the size covers header and slots and is
// a multiple of 8, the row kind is known, and every non-null VARCHAR lies inside the tail.
// Errors are DataLoss.
[[nodiscard]] Status ValidateRow(const std::byte* data, size_t size, const Schema& schema);

// Writes rows of one schema into caller-provided memory, one row at a time, without allocating:
//
//   writer.Reset(buffer);                 // zeroes header and slots: kind +I, no nulls
//   writer.WriteBigInt(0, 42);
//   writer.WriteVarchar(1, "abc");
//   writer.SetNull(2);
//   if (writer.Finish()) { use writer.size() bytes } else { Reset in a bigger buffer, write again }
//
// Each field should be written (or set NULL) once per row; a field never written reads as the
// zero value. VARCHAR bytes go to the tail in write order. When the row does not fit, the writes
// still run (into a scratch area for header and slots; strings that do not fit are skipped) so
// that Finish() can report the size the row needs; nothing is written past the buffer's capacity.
//
// Write methods DCHECK that the field has the matching type. Not thread-safe: one writer per
// thread; the writer may be reused for any number of rows.
class RowWriter {
 public:
  explicit RowWriter(const Schema& schema);
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;

  // Starts a row at buffer.data(). REQUIRES: buffer.size() < 2^32.
  void Reset(std::span<std::byte> buffer) { Reset(buffer.data(), buffer.size()); }
  void Reset(std::byte* buffer, size_t capacity) {
    WEIR_DCHECK(capacity <= UINT32_MAX);
    if (capacity >= fixed_size_) {
      base_ = buffer;
      capacity_ = capacity;
    } else {
      base_ = scratch_.get();
      capacity_ = 0;
    }
    std::memset(base_, 0, fixed_size_);
    tail_ = fixed_size_;
    size_ = 0;
  }

  void SetRowKind(RowKind kind) { base_[0] = static_cast<std::byte>(kind); }

  // Marks field i NULL and zeroes its slot. REQUIRES: 0 <= i < field_count(); DCHECKs nullability.
  void SetNull(int i) {
    WEIR_DCHECK(i >= 0 && i < field_count() && nullable_[static_cast<size_t>(i)]);
    const int bit = i + 8;
    base_[bit >> 3] |= static_cast<std::byte>(1u << (bit & 7));
    std::memset(Slot(i), 0, 8);
  }

  void WriteBool(int i, bool value) {
    DcheckKind(i, TypeKind::kBoolean);
    *Slot(i) = static_cast<std::byte>(value ? 1 : 0);
  }
  void WriteInt(int i, int32_t value) { Store(i, TypeKind::kInt, value); }
  void WriteBigInt(int i, int64_t value) { Store(i, TypeKind::kBigInt, value); }
  void WriteDouble(int i, double value) { Store(i, TypeKind::kDouble, value); }
  // The unscaled value. REQUIRES (unchecked): |unscaled| < 10^precision of the field's type.
  void WriteDecimal(int i, int64_t unscaled) { Store(i, TypeKind::kDecimal, unscaled); }
  // Epoch milliseconds.
  void WriteTimestamp(int i, int64_t epoch_millis) { Store(i, TypeKind::kTimestamp, epoch_millis); }
  // Copies the bytes into the row's tail. REQUIRES: value.size() < 2^32.
  void WriteVarchar(int i, std::string_view value) {
    DcheckKind(i, TypeKind::kVarchar);
    const size_t offset = tail_;
    if (offset + value.size() <= capacity_ && !value.empty()) {
      std::memcpy(base_ + offset, value.data(), value.size());
    }
    tail_ = offset + value.size();
    const uint64_t slot = (static_cast<uint64_t>(value.size()) << 32) | static_cast<uint32_t>(offset);
    std::memcpy(Slot(i), &slot, 8);
  }

  // Ends the row: pads it to a multiple of 8 and returns whether it fit in the buffer. size() is
  // then the row's size in bytes, also when it did not fit (the capacity a retry needs).
  [[nodiscard]] bool Finish() {
    size_ = (tail_ + 7) & ~size_t{7};
    if (size_ > capacity_) return false;
    std::memset(base_ + tail_, 0, size_ - tail_);
    return true;
  }

  // REQUIRES: Finish() was called.
  size_t size() const { return size_; }
  // REQUIRES: Finish() returned true.
  RowView view() const { return RowView(base_, size_, field_count()); }

  int field_count() const { return static_cast<int>(kinds_.size()); }
  // Bytes of header and slots: every row of this schema needs at least this much.
  size_t fixed_size() const { return fixed_size_; }

 private:
  std::byte* Slot(int i) { return base_ + header_size_ + static_cast<size_t>(i) * 8; }
  void DcheckKind(int i, TypeKind kind) const {
    WEIR_DCHECK(i >= 0 && i < field_count() && kinds_[static_cast<size_t>(i)] == kind);
  }
  template <typename T>
  void Store(int i, TypeKind kind, T value) {
    DcheckKind(i, kind);
    std::memcpy(Slot(i), &value, sizeof(T));
  }

  std::vector<TypeKind> kinds_;
  std::vector<bool> nullable_;
  size_t header_size_;
  size_t fixed_size_;
  std::unique_ptr<std::byte[]> scratch_;  // header and slots of a row that does not fit
  std::byte* base_ = nullptr;
  size_t capacity_ = 0;
  size_t tail_ = 0;
  size_t size_ = 0;
};

// Appends the row as Flink's Row.toString prints it: "+I[1, abc, 2.50, 2024-01-01 00:00:00.000]"
// (row kind short string, fields separated by ", ", NULL as "null", DECIMAL with its scale,
// TIMESTAMP as "YYYY-MM-DD HH:MM:SS.mmm", DOUBLE as Java prints it, strings as-is).
// REQUIRES: view is a row of `schema`.
void AppendRow(std::string& out, const RowView& view, const Schema& schema);
std::string FormatRow(const RowView& view, const Schema& schema);

// Appends field i of the row as text the way AppendRow prints it ("null" for NULL).
void AppendFieldText(std::string& out, const RowView& view, const Schema& schema, int i);

// Parses the text of a (non-NULL) value of `type` and writes it to field i: the inverse of
// AppendFieldText, shared by the text formats. BOOLEAN true/false (any case); INT and BIGINT
// decimal integers with an optional sign; DOUBLE as ParseDouble; DECIMAL as ParseDecimal with the
// type's precision and scale; TIMESTAMP as ParseTimestamp; VARCHAR as-is. Errors are
// InvalidArgument saying what is wrong with the text (the caller adds where it was).
[[nodiscard]] Status ParseFieldText(RowWriter& writer, int i, const DataType& type, std::string_view text);

}  // namespace weir::serde
