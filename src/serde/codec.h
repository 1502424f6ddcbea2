// Codec<T>: how a C++ value becomes bytes in a segment and is read back in place.
//
// The DataStream API is typed (DataStream<T>), but records cross exchanges and live in state as
// bytes. Codec<T> is the one place that maps between the two:
//   - trivially copyable T (ints, doubles, plain structs such as a tick): the bytes of the object;
//     reads are zero-copy (a reference into the segment, which RecordBatch keeps 8-byte aligned);
//   - std::string_view / std::string: u32 length + bytes; a string_view read points into the
//     segment (zero-copy), a std::string read copies;
//   - std::pair / std::tuple of encodable types: the members back to back (members are read with
//     memcpy, so they need no alignment).
// A value read from a segment, and every view inside it, is valid only while the record is being
// processed: an operator that keeps a record must copy it (into state, as bytes). This is Flink's
// object-reuse contract, and what lets weir process records without allocating.
//
// A Codec provides:
//   static size_t Size(const T&);                   // encoded size in bytes
//   static void Write(const T&, std::byte* out);     // writes exactly Size() bytes
//   static T-or-const-T& Read(const std::byte* in);  // reads a value written by Write
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weir::serde {

// memcpy for the short byte strings of records (words, symbols): inline, without a libc call for
// sizes up to 16.
inline void CopyBytes(std::byte* out, const void* in, size_t size) {
  const auto* from = static_cast<const std::byte*>(in);
  if (size >= 8 && size <= 16) {
    uint64_t head, tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + size - 8, 8);
    std::memcpy(out, &head, 8);
    std::memcpy(out + size - 8, &tail, 8);
  } else if (size >= 4 && size < 8) {
    uint32_t head, tail;
    std::memcpy(&head, from, 4);
    std::memcpy(&tail, from + size - 4, 4);
    std::memcpy(out, &head, 4);
    std::memcpy(out + size - 4, &tail, 4);
  } else if (size < 4) {
    for (size_t i = 0; i < size; ++i) out[i] = from[i];
  } else {
    std::memcpy(out, from, size);
  }
}

template <typename T, typename Enable = void>
struct Codec;  // unspecialized: T cannot cross an exchange or live in state

template <typename T>
concept Encodable = requires(const T& value, std::byte* out, const std::byte* in) {
  { Codec<T>::Size(value) } -> std::convertible_to<size_t>;
  Codec<T>::Write(value, out);
  Codec<T>::Read(in);
};

template <typename T>
struct IsStringLike : std::false_type {};
template <>
struct IsStringLike<std::string_view> : std::true_type {};
template <>
struct IsStringLike<std::string> : std::true_type {};

template <typename T>
struct IsTupleLike : std::false_type {};
template <typename A, typename B>
struct IsTupleLike<std::pair<A, B>> : std::true_type {};
template <typename... Ts>
struct IsTupleLike<std::tuple<Ts...>> : std::true_type {};

// Plain bytes: trivially copyable types that are not tuples (std::pair<int,int> is trivially
// copyable in practice but is read member-wise like every tuple, so pairs stay uniform).
template <typename T>
struct Codec<T, std::enable_if_t<std::is_trivially_copyable_v<T> && !IsTupleLike<T>::value &&
                                 !IsStringLike<T>::value>> {
  static constexpr bool kFixedSize = true;
  static constexpr size_t Size(const T&) { return sizeof(T); }
  static void Write(const T& value, std::byte* out) { std::memcpy(out, &value, sizeof(T)); }
  // Zero-copy when the bytes are suitably aligned (RecordBatch payloads are 8-byte aligned, and
  // state values too); the launder makes the in-place object visible to the optimizer.
  static const T& Read(const std::byte* in) {
    static_assert(alignof(T) <= 8, "typed records must have alignment <= 8");
    return *std::launder(reinterpret_cast<const T*>(in));
  }
};

template <>
struct Codec<std::string_view> {
  static constexpr bool kFixedSize = false;
  static size_t Size(std::string_view value) { return sizeof(uint32_t) + value.size(); }
  static void Write(std::string_view value, std::byte* out) {
    uint32_t length = static_cast<uint32_t>(value.size());
    std::memcpy(out, &length, sizeof(length));
    CopyBytes(out + sizeof(length), value.data(), value.size());
  }
  static std::string_view Read(const std::byte* in) {
    uint32_t length;
    std::memcpy(&length, in, sizeof(length));
    return {reinterpret_cast<const char*>(in + sizeof(length)), length};
  }
};

template <>
struct Codec<std::string> {
  static constexpr bool kFixedSize = false;
  static size_t Size(const std::string& value) { return Codec<std::string_view>::Size(value); }
  static void Write(const std::string& value, std::byte* out) {
    Codec<std::string_view>::Write(value, out);
  }
  static std::string Read(const std::byte* in) {
    return std::string(Codec<std::string_view>::Read(in));
  }
};

namespace internal {
// Reads a member that may be unaligned: fixed-size members by memcpy, others by their codec.
template <typename T>
T ReadMember(const std::byte* in) {
  if constexpr (std::is_trivially_copyable_v<T> && !IsTupleLike<T>::value && !IsStringLike<T>::value) {
    T value;
    std::memcpy(&value, in, sizeof(T));
    return value;
  } else {
    return Codec<T>::Read(in);
  }
}
}  // namespace internal

template <typename... Ts>
struct Codec<std::tuple<Ts...>, std::enable_if_t<(Encodable<Ts> && ...)>> {
  static constexpr bool kFixedSize = (Codec<Ts>::kFixedSize && ...);
  static size_t Size(const std::tuple<Ts...>& value) {
    return std::apply([](const Ts&... members) { return (size_t{0} + ... + Codec<Ts>::Size(members)); },
                      value);
  }
  static void Write(const std::tuple<Ts...>& value, std::byte* out) {
    std::apply(
        [&out](const Ts&... members) {
          ((Codec<Ts>::Write(members, out), out += Codec<Ts>::Size(members)), ...);
        },
        value);
  }
  static std::tuple<Ts...> Read(const std::byte* in) { return ReadFrom<0>(in); }

 private:
  template <size_t I>
  static auto ReadFrom(const std::byte* in) {
    if constexpr (I == sizeof...(Ts)) {
      return std::tuple<>();
    } else {
      using Member = std::tuple_element_t<I, std::tuple<Ts...>>;
      Member head = internal::ReadMember<Member>(in);
      const std::byte* next = in + Codec<Member>::Size(head);
      return std::tuple_cat(std::tuple<Member>(std::move(head)), ReadFrom<I + 1>(next));
    }
  }
};

template <typename A, typename B>
struct Codec<std::pair<A, B>, std::enable_if_t<Encodable<A> && Encodable<B>>> {
  static constexpr bool kFixedSize = Codec<A>::kFixedSize && Codec<B>::kFixedSize;
  static size_t Size(const std::pair<A, B>& value) {
    return Codec<A>::Size(value.first) + Codec<B>::Size(value.second);
  }
  static void Write(const std::pair<A, B>& value, std::byte* out) {
    Codec<A>::Write(value.first, out);
    Codec<B>::Write(value.second, out + Codec<A>::Size(value.first));
  }
  static std::pair<A, B> Read(const std::byte* in) {
    A first = internal::ReadMember<A>(in);
    const std::byte* second = in + Codec<A>::Size(first);
    return {std::move(first), internal::ReadMember<B>(second)};
  }
};

// Reads a value from bytes of any alignment (state values, tuple members): plain-bytes types by
// memcpy into a value, the others through their codec.
template <typename T>
T ReadUnaligned(const std::byte* in) {
  return internal::ReadMember<T>(in);
}

// Byte offset of member I inside an encoded pair or tuple (members before it are skipped by their
// encoded sizes), so one fixed-size member can be updated in place.
template <typename T, size_t I>
size_t MemberOffset(const std::byte* in) {
  size_t offset = 0;
  [&]<size_t... J>(std::index_sequence<J...>) {
    ((offset += Codec<std::tuple_element_t<J, T>>::Size(
          internal::ReadMember<std::tuple_element_t<J, T>>(in + offset))),
     ...);
  }(std::make_index_sequence<I>());
  return offset;
}

// The type a Codec reads back: `const T&` for plain bytes, a value otherwise.
template <typename T>
using ReadType = decltype(Codec<T>::Read(std::declval<const std::byte*>()));

}  // namespace weir::serde
