// TaggedUnion<L, R>: a record of one of two streams, so that an operator with two logical inputs
// (window joins, coGroup, interval joins) runs as a one-input keyed operator over the union of
// both streams, as Flink builds its coGroup (TaggedUnion + union + keyBy). Both inputs then share
// one keyed exchange, one watermark valve (the task's minimum over both streams' channels) and
// one keyed state backend.
//
// Encoding: a 8-byte tag word (0 = left, 1 = right, padded so a plain-struct payload stays 8-byte
// aligned for in-place reads) followed by the active side's Codec encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "serde/codec.h"

namespace weir::operators {

template <typename L, typename R>
struct TaggedUnion {
  bool is_left = true;
  L left{};
  R right{};

  static TaggedUnion Left(const L& value) {
    TaggedUnion result;
    result.is_left = true;
    result.left = value;
    return result;
  }
  static TaggedUnion Right(const R& value) {
    TaggedUnion result;
    result.is_left = false;
    result.right = value;
    return result;
  }
};

}  // namespace weir::operators

namespace weir::serde {

// Encoded side by side like a tuple, never as the raw bytes of the struct (whose inactive side
// and views must not cross an exchange).
template <typename L, typename R>
struct IsTupleLike<operators::TaggedUnion<L, R>> : std::true_type {};

template <typename L, typename R>
struct Codec<operators::TaggedUnion<L, R>> {
  static constexpr bool kFixedSize = false;
  static size_t Size(const operators::TaggedUnion<L, R>& value) {
    return 8 + (value.is_left ? Codec<L>::Size(value.left) : Codec<R>::Size(value.right));
  }
  static void Write(const operators::TaggedUnion<L, R>& value, std::byte* out) {
    const uint64_t tag = value.is_left ? 0 : 1;
    std::memcpy(out, &tag, 8);
    if (value.is_left) {
      Codec<L>::Write(value.left, out + 8);
    } else {
      Codec<R>::Write(value.right, out + 8);
    }
  }
  static operators::TaggedUnion<L, R> Read(const std::byte* in) {
    uint64_t tag;
    std::memcpy(&tag, in, 8);
    operators::TaggedUnion<L, R> value;
    value.is_left = tag == 0;
    if (value.is_left) {
      value.left = Codec<L>::Read(in + 8);
    } else {
      value.right = Codec<R>::Read(in + 8);
    }
    return value;
  }
};

}  // namespace weir::serde
