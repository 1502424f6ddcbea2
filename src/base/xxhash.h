// xxh3 over bytes: the one hash weir uses for keys (exchanges, key groups, state tables).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

// xxHash's AVX-512 path trips GCC 12's -Wmaybe-uninitialized on intrinsics it initializes itself.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define XXH_INLINE_ALL
#include <xxhash.h>
#pragma GCC diagnostic pop

namespace weir {

inline uint64_t Hash64(const void* data, size_t size) { return XXH3_64bits(data, size); }
inline uint64_t Hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }
inline uint64_t Hash64(const void* data, size_t size, uint64_t seed) {
  return XXH3_64bits_withSeed(data, size, seed);
}

}  // namespace weir
