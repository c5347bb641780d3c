// SplitMix64: a small, seedable, platform-independent generator.  Used for input data and for
// the seeded shuffle schedules, so the same seed gives the same bits on every machine.
#pragma once

#include <cstdint>

namespace driftlab {

struct SplitMix64 {
  std::uint64_t state;
  explicit SplitMix64(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bias-free by rejection.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~0ull - (~0ull % bound);
    std::uint64_t r;
    do r = next(); while (r >= limit);
    return r % bound;
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// Seed for run r of a schedule seeded with `seed`: distinct streams per run, reproducible.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t r) {
  SplitMix64 g(seed ^ (0xd1b54a32d192ed03ull * (r + 1)));
  return g.next();
}

}  // namespace driftlab
