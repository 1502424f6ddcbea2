// JavaRandom: java.util.Random, bit for bit (the 48-bit linear congruential generator of Knuth,
// TAOCP vol. 2, 3.2.1, with the multiplier 0x5DEECE66D and increment 11 that the JDK specifies),
// so that a generator written against Random yields the same values here as in the JVM.
//
// Nexmark's generator seeds one Random per event with the event id and draws that event's fields
// from it in a fixed order; NexmarkGenerator does the same with this class. Only the methods
// Nexmark uses are here, each with the JDK's documented algorithm (the legacy Random algorithms,
// which java.util.Random keeps for compatibility in every JDK release):
//   next(bits)        seed = (seed * 0x5DEECE66D + 0xB) mod 2^48; the top `bits` bits of it
//   nextInt()         next(32)
//   nextInt(bound)    next(31) scaled for a power of two, otherwise next(31) % bound with the
//                     rejection of the final partial range (so the result is exactly uniform)
//   nextLong()        (next(32) << 32) + next(32)        (the second as a signed int)
//   nextDouble()      ((next(26) << 27) + next(27)) * 2^-53
//   nextBoolean()     next(1) != 0
//
// A value type of 8 bytes with everything inline: constructing one per event and drawing a dozen
// values costs a few nanoseconds. Not thread-safe (java.util.Random is; nothing here shares one).
#pragma once

#include <cstdint>

#include "base/check.h"

namespace weir::harness::nexmark {

class JavaRandom {
 public:
  // new Random(seed): the seed is scrambled with the multiplier, as the JDK does.
  explicit JavaRandom(int64_t seed) : seed_((static_cast<uint64_t>(seed) ^ kMultiplier) & kMask) {}

  // Random.next(bits): the top `bits` (1..32) bits of the advanced 48-bit state, as a signed int.
  int32_t Next(int bits) {
    seed_ = (seed_ * kMultiplier + kAddend) & kMask;
    return static_cast<int32_t>(static_cast<uint32_t>(seed_ >> (48 - bits)));
  }

  int32_t NextInt() { return Next(32); }

  // A uniform int in [0, bound). REQUIRES: bound > 0 (Java throws IllegalArgumentException).
  int32_t NextInt(int32_t bound) {
    WEIR_DCHECK(bound > 0);
    int32_t r = Next(31);
    const int32_t m = bound - 1;
    if ((bound & m) == 0) return static_cast<int32_t>((static_cast<int64_t>(bound) * r) >> 31);
    // Java's loop condition `u - r + m < 0` relies on int overflow: it rejects u when the true
    // value u - u % bound + m exceeds Integer.MAX_VALUE (u lies in the last, partial range).
    for (int32_t u = r;; u = Next(31)) {
      r = u % bound;
      if (static_cast<int64_t>(u) - r + m <= INT32_MAX) return r;
    }
  }

  int64_t NextLong() {
    // In unsigned arithmetic: Java's long addition wraps.
    const uint64_t high = static_cast<uint64_t>(static_cast<int64_t>(Next(32))) << 32;
    return static_cast<int64_t>(high + static_cast<uint64_t>(static_cast<int64_t>(Next(32))));
  }

  double NextDouble() {
    const int64_t high = static_cast<int64_t>(Next(26)) << 27;
    return static_cast<double>(high + Next(27)) * 0x1.0p-53;
  }

  bool NextBoolean() { return Next(1) != 0; }

 private:
  static constexpr uint64_t kMultiplier = 0x5DEECE66DULL;
  static constexpr uint64_t kAddend = 0xBULL;
  static constexpr uint64_t kMask = (uint64_t{1} << 48) - 1;

  uint64_t seed_;
};

}  // namespace weir::harness::nexmark
