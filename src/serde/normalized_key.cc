#include "serde/normalized_key.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"

namespace weir::serde {
namespace {

constexpr uint64_t kCanonicalNaNBits = 0x7ff8000000000000ULL;

// -0.0 -> 0.0, every NaN -> one NaN: the bits that equal doubles share.
uint64_t CanonicalDoubleBits(double value) {
  if (std::isnan(value)) return kCanonicalNaNBits;
  if (value == 0) return 0;
  return std::bit_cast<uint64_t>(value);
}

size_t ValueBytes(TypeKind kind, size_t varchar_prefix_bytes) {
  switch (kind) {
    case TypeKind::kBoolean:
      return 1;
    case TypeKind::kInt:
      return 4;
    case TypeKind::kVarchar:
      return varchar_prefix_bytes;
    default:
      return 8;
  }
}

template <typename T>
int ThreeWay(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

int CompareDoubles(double a, double b) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan || b_nan) return static_cast<int>(a_nan) - static_cast<int>(b_nan);
  return ThreeWay(a, b);  // -0.0 == 0.0
}

}  // namespace

void PutNormalizedBool(bool value, std::byte* out) { out[0] = static_cast<std::byte>(value ? 1 : 0); }

void PutNormalizedInt(int32_t value, std::byte* out) {
  const uint32_t bits = __builtin_bswap32(static_cast<uint32_t>(value) ^ 0x80000000u);
  std::memcpy(out, &bits, 4);
}

void PutNormalizedBigInt(int64_t value, std::byte* out) {
  const uint64_t bits = __builtin_bswap64(static_cast<uint64_t>(value) ^ 0x8000000000000000ULL);
  std::memcpy(out, &bits, 8);
}

void PutNormalizedDouble(double value, std::byte* out) {
  uint64_t bits = CanonicalDoubleBits(value);
  bits = (bits & 0x8000000000000000ULL) ? ~bits : bits | 0x8000000000000000ULL;
  bits = __builtin_bswap64(bits);
  std::memcpy(out, &bits, 8);
}

void PutNormalizedVarchar(std::string_view value, size_t prefix_bytes, std::byte* out) {
  const size_t copied = std::min(value.size(), prefix_bytes);
  std::memcpy(out, value.data(), copied);
  std::memset(out + copied, 0, prefix_bytes - copied);
}

bool IsFullKey(const DataType& type) { return type.kind() != TypeKind::kVarchar; }

NormalizedKeyEncoder::NormalizedKeyEncoder(const Schema& schema, std::vector<SortKeyField> fields,
                                           size_t varchar_prefix_bytes)
    : varchar_prefix_bytes_(varchar_prefix_bytes) {
  WEIR_CHECK(varchar_prefix_bytes >= 1);
  bool encoding = true;
  for (const SortKeyField& sort : fields) {
    WEIR_CHECK_MSG(sort.index >= 0 && sort.index < schema.field_count(), "sort field {}", sort.index);
    const DataType& type = schema.type(sort.index);
    KeyField field{sort, type.kind(), type.nullable(), ValueBytes(type.kind(), varchar_prefix_bytes)};
    fields_.push_back(field);
    if (!encoding) {
      full_key_ = false;  // a field left out of the key
      continue;
    }
    ++encoded_field_count_;
    key_length_ += (field.nullable ? 1 : 0) + field.value_bytes;
    if (!serde::IsFullKey(type)) {
      full_key_ = false;
      encoding = false;
    }
  }
}

void NormalizedKeyEncoder::Write(const RowView& row, std::byte* out) const {
  for (size_t f = 0; f < encoded_field_count_; ++f) {
    const KeyField& field = fields_[f];
    const int i = field.sort.index;
    const bool is_null = row.IsNull(i);
    if (field.nullable) {
      *out++ = static_cast<std::byte>(is_null == field.sort.nulls_first ? 0 : 1);
    }
    if (is_null) {
      std::memset(out, 0, field.value_bytes);
      out += field.value_bytes;
      continue;
    }
    switch (field.kind) {
      case TypeKind::kBoolean:
        PutNormalizedBool(row.GetBool(i), out);
        break;
      case TypeKind::kInt:
        PutNormalizedInt(row.GetInt(i), out);
        break;
      case TypeKind::kBigInt:
      case TypeKind::kDecimal:
      case TypeKind::kTimestamp:
        PutNormalizedBigInt(row.GetBigInt(i), out);
        break;
      case TypeKind::kDouble:
        PutNormalizedDouble(row.GetDouble(i), out);
        break;
      case TypeKind::kVarchar:
        PutNormalizedVarchar(row.GetVarchar(i), field.value_bytes, out);
        break;
    }
    if (!field.sort.ascending) {
      for (size_t b = 0; b < field.value_bytes; ++b) out[b] = ~out[b];
    }
    out += field.value_bytes;
  }
}

int NormalizedKeyEncoder::Compare(const RowView& a, const RowView& b) const {
  for (const KeyField& field : fields_) {
    const int i = field.sort.index;
    const bool a_null = a.IsNull(i);
    const bool b_null = b.IsNull(i);
    if (a_null || b_null) {
      if (a_null && b_null) continue;
      return (a_null == field.sort.nulls_first) ? -1 : 1;
    }
    int result = 0;
    switch (field.kind) {
      case TypeKind::kBoolean:
        result = ThreeWay(a.GetBool(i), b.GetBool(i));
        break;
      case TypeKind::kInt:
        result = ThreeWay(a.GetInt(i), b.GetInt(i));
        break;
      case TypeKind::kBigInt:
      case TypeKind::kDecimal:
      case TypeKind::kTimestamp:
        result = ThreeWay(a.GetBigInt(i), b.GetBigInt(i));
        break;
      case TypeKind::kDouble:
        result = CompareDoubles(a.GetDouble(i), b.GetDouble(i));
        break;
      case TypeKind::kVarchar: {
        const int c = a.GetVarchar(i).compare(b.GetVarchar(i));
        result = ThreeWay(c, 0);
        break;
      }
    }
    if (result != 0) return field.sort.ascending ? result : -result;
  }
  return 0;
}

void WriteKeyBytes(const RowView& row, const Schema& schema, std::span<const int> key_fields, std::string& out) {
  for (const int i : key_fields) {
    if (row.IsNull(i)) {
      out.push_back('\0');
      continue;
    }
    out.push_back('\1');
    switch (schema.type(i).kind()) {
      case TypeKind::kBoolean:
        out.push_back(row.GetBool(i) ? '\1' : '\0');
        break;
      case TypeKind::kInt: {
        const int32_t value = row.GetInt(i);
        out.append(reinterpret_cast<const char*>(&value), 4);
        break;
      }
      case TypeKind::kBigInt:
      case TypeKind::kDecimal:
      case TypeKind::kTimestamp: {
        const int64_t value = row.GetBigInt(i);
        out.append(reinterpret_cast<const char*>(&value), 8);
        break;
      }
      case TypeKind::kDouble: {
        const uint64_t bits = CanonicalDoubleBits(row.GetDouble(i));
        out.append(reinterpret_cast<const char*>(&bits), 8);
        break;
      }
      case TypeKind::kVarchar: {
        const std::string_view value = row.GetVarchar(i);
        const uint32_t length = static_cast<uint32_t>(value.size());
        out.append(reinterpret_cast<const char*>(&length), 4);
        out.append(value);
        break;
      }
    }
  }
}

}  // namespace weir::serde
