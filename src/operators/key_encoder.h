// KeyEncoder: turns the key a KeySelector returns into the bytes weir hashes, partitions by and
// stores state under. The bytes are the key's Codec encoding, so equal keys have equal bytes and
// the same function serves the exchange (key group -> subtask) and the keyed state backend.
// The encoder owns a scratch buffer reused for every record: no allocation once it has grown.
// A key that is one string is its own bytes (no length prefix): equal strings are equal bytes, and
// that is the common key of word counts, symbols and ids. A std::string_view key is used in place;
// an owning string is copied to the scratch buffer (the selector's temporary does not outlive the
// call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/xxhash.h"
#include "serde/codec.h"

namespace weir::operators {

struct EncodedKey {
  std::string_view bytes;  // valid until the next Encode on the same encoder
  uint64_t hash;           // xxh3 of bytes
};

class KeyEncoder {
 public:
  template <typename K>
  EncodedKey Encode(const K& key) {
    if constexpr (kFixed8<K>) {
      // An 8-byte number (the usual long id), encoded as its bytes: they go to a register-sized
      // buffer, and xxh3's 4-to-8-byte path is inlined (the value of Hash64(bytes), without the
      // length dispatch and the call).
      const std::string_view bytes = Bytes(key);
      return {bytes,
              XXH3_len_4to8_64b(reinterpret_cast<const xxh_u8*>(&fixed_), 8, XXH3_kSecret, 0)};
    } else {
      const std::string_view bytes = Bytes(key);
      return {bytes, Hash64(bytes)};
    }
  }

  // The bytes of Encode(key), for a caller that has their hash already.
  template <typename K>
  std::string_view Bytes(const K& key) {
    if constexpr (std::is_same_v<K, std::string_view>) {
      return key;
    } else if constexpr (std::is_convertible_v<const K&, std::string_view>) {
      // An owning string (std::string) is copied: a key selector returns it by value, and the
      // temporary dies before the bytes are used.
      const std::string_view view(key);
      Reserve(view.size());
      if (!view.empty()) std::memcpy(buffer_.data(), view.data(), view.size());
      return {reinterpret_cast<const char*>(buffer_.data()), view.size()};
    } else if constexpr (kFixed8<K>) {
      serde::Codec<K>::Write(key, reinterpret_cast<std::byte*>(&fixed_));
      return {reinterpret_cast<const char*>(&fixed_), sizeof(fixed_)};
    } else {
      const size_t size = serde::Codec<K>::Size(key);
      Reserve(size);
      serde::Codec<K>::Write(key, buffer_.data());
      return {reinterpret_cast<const char*>(buffer_.data()), size};
    }
  }

 private:
  template <typename K>
  static constexpr bool kFixed8 = sizeof(K) == 8 && (std::is_arithmetic_v<K> || std::is_enum_v<K>);

  void Reserve(size_t size) {
    if (size > buffer_.size()) buffer_.resize(size * 2);
  }

  std::vector<std::byte> buffer_ = std::vector<std::byte>(64);
  uint64_t fixed_ = 0;  // the bytes of an 8-byte key
};

}  // namespace weir::operators
