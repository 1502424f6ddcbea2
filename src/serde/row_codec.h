// Codec<RowView>: rows cross exchanges and live in state like any other record. A RowView needs
// its field count to be read, so the encoding is a u32 row size and a u32 field count followed by
// the row's bytes; the 8-byte prefix keeps the row 8-aligned inside a RecordBatch.
#pragma once

#include <cstring>

#include "serde/codec.h"
#include "serde/row.h"

namespace weir::serde {

template <>
struct Codec<RowView> {
  static constexpr bool kFixedSize = false;
  static size_t Size(const RowView& row) { return 8 + row.size(); }
  static void Write(const RowView& row, std::byte* out) {
    const uint32_t header[2] = {static_cast<uint32_t>(row.size()), static_cast<uint32_t>(row.field_count())};
    std::memcpy(out, header, sizeof(header));
    std::memcpy(out + 8, row.data(), row.size());
  }
  static RowView Read(const std::byte* in) {
    uint32_t header[2];
    std::memcpy(header, in, sizeof(header));
    return RowView(in + 8, header[0], static_cast<int>(header[1]));
  }
};

}  // namespace weir::serde
