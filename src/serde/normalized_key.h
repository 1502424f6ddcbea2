// Normalized keys: fixed-length, order-preserving binary prefixes of sort keys, so a sort compares
// records with memcmp on a few bytes and falls back to a full comparison only on ties (Flink's
// NormalizedKeyComputer). Also WriteKeyBytes: a row's key fields as a compact byte string for
// hashing (Hash64) and equality (grouping, joins, keyed state).
//
// The order of values, which both follow:
//   BOOLEAN false < true; INT, BIGINT, DECIMAL (same scale), TIMESTAMP numerically;
//   DOUBLE numerically, with -0.0 equal to 0.0 and every NaN equal to each other and greater than
//   +Infinity (SQL's order; it differs from Java's Double.compare, which puts -0.0 < 0.0);
//   VARCHAR by unsigned bytes (= by code point for UTF-8), a proper prefix first.
// NULL sorts first or last as each sort field says.
//
// Thread safety: an encoder is immutable after construction; any thread may use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serde/row.h"
#include "serde/schema.h"

namespace weir::serde {

// Order-preserving encodings of one value: for values a < b, memcmp(put(a), put(b)) < 0; equal
// values give equal bytes. Fixed widths: BOOLEAN 1, INT 4, BIGINT/DECIMAL/TIMESTAMP/DOUBLE 8.
void PutNormalizedBool(bool value, std::byte* out);
void PutNormalizedInt(int32_t value, std::byte* out);     // sign bit flipped, big-endian
void PutNormalizedBigInt(int64_t value, std::byte* out);  // sign bit flipped, big-endian
void PutNormalizedDouble(double value, std::byte* out);   // IEEE bits: negatives inverted, else sign set
// The first `prefix_bytes` bytes of value, zero-padded. Different prefixes order as the strings
// do; equal prefixes say nothing (strings longer than the prefix, or ending in zero bytes).
void PutNormalizedVarchar(std::string_view value, size_t prefix_bytes, std::byte* out);

// Whether equal normalized prefixes of this type imply equal values: true for every fixed-width
// type, false for VARCHAR.
bool IsFullKey(const DataType& type);

struct SortKeyField {
  int index = 0;  // field position in the schema
  bool ascending = true;
  bool nulls_first = true;
};

// Computes the normalized key of a row for an ORDER BY over some of its fields.
//
// Key layout, field after field: for a nullable field one null byte (nulls first: NULL 0x00,
// value 0x01; nulls last: NULL 0x01, value 0x00), then the value's normalized bytes (zero for
// NULL), all inverted for a descending field. Fields after the first one that is not a full key
// (a VARCHAR) are left out: their bytes would decide order between rows whose VARCHARs tie on the
// prefix but differ after it, which would be wrong.
//
// Contract: for rows a and b, if their keys differ, memcmp order == Compare order; if IsFullKey(),
// equal keys also mean Compare(a, b) == 0, so a sort needs no fallback comparison.
class NormalizedKeyEncoder {
 public:
  // REQUIRES: every field index is within the schema; varchar_prefix_bytes >= 1.
  NormalizedKeyEncoder(const Schema& schema, std::vector<SortKeyField> fields, size_t varchar_prefix_bytes = 8);

  // Bytes Write produces (the same for every row).
  size_t key_length() const { return key_length_; }
  // Whether equal keys imply equal sort fields.
  bool IsFullKey() const { return full_key_; }

  // Writes key_length() bytes. REQUIRES: row is a row of the schema.
  void Write(const RowView& row, std::byte* out) const;

  // The full comparison of two rows by all sort fields (direction and null order included):
  // negative, zero or positive. REQUIRES: both rows are rows of the schema.
  int Compare(const RowView& a, const RowView& b) const;

 private:
  struct KeyField {
    SortKeyField sort;
    TypeKind kind;
    bool nullable;
    size_t value_bytes;
  };
  std::vector<KeyField> fields_;       // every sort field (Compare)
  size_t encoded_field_count_ = 0;     // leading fields that are in the key
  size_t varchar_prefix_bytes_;
  size_t key_length_ = 0;
  bool full_key_ = true;
};

// Appends the key fields of a row to `out` (the caller clears it for a fresh key; a reused string
// allocates only while it grows). Format, field after field: one byte 0x00 for NULL (nothing
// follows) or 0x01 then the value: BOOLEAN 1 byte 0/1; INT 4 bytes little-endian; BIGINT, DECIMAL
// unscaled, TIMESTAMP 8 bytes little-endian; DOUBLE its 8 IEEE bytes after folding -0.0 into 0.0
// and every NaN into one NaN; VARCHAR a 4-byte little-endian length then the bytes. The encoding
// is injective per schema: two rows give equal bytes iff their key fields are equal (NULL equal to
// NULL, as GROUP BY treats it), so the bytes serve both Hash64 and equality.
// REQUIRES: row is a row of `schema`; key_fields are field positions in it.
void WriteKeyBytes(const RowView& row, const Schema& schema, std::span<const int> key_fields, std::string& out);

}  // namespace weir::serde
