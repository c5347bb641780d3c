// The laws of the benchmarks' device-made inputs (bench_inputs.h states them), written once for
// the device kernel (bench_inputs.cu) and for the host test that checks them
// (tests/test_bench_inputs.cpp): every element a pure function of (seed, position).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace driftlab::bench::law {

DL_HD std::uint64_t mix(std::uint64_t z) {  // SplitMix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The r-th random word of element i (r < 4): one stream per (seed, i, r).
DL_HD std::uint64_t word(std::uint64_t seed, std::uint64_t i, unsigned r) {
  return mix(seed * 0x9e3779b97f4a7c15ull + (i * 4 + r + 1) * 0xd1b54a32d192ed03ull);
}
DL_HD double u01(std::uint64_t w) { return static_cast<double>(w >> 11) * 0x1.0p-53; }
DL_HD double normal(std::uint64_t seed, std::uint64_t i, unsigned r) {  // Box-Muller on words r, r+1
  const double u1 = 1.0 - u01(word(seed, i, r)), u2 = u01(word(seed, i, r + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// A keyed bijection of [0, n): a 4-round Feistel network on 2*h bits (4^h >= n), cycle-walked
// (each walk step stays a bijection of [0, 4^h), so it ends, on average within 4 steps).
struct Perm {
  unsigned h = 1;
  std::uint64_t mask = 1, n = 1, key = 0;
  static Perm make(std::uint64_t n, std::uint64_t seed) {
    Perm p;
    p.n = n;
    p.key = seed * 0x2545f4914f6cdd1dull + 0x1234567ull;
    while ((std::uint64_t(1) << (2 * p.h)) < n) ++p.h;
    p.mask = (std::uint64_t(1) << p.h) - 1;
    return p;
  }
  DL_HD std::uint64_t operator()(std::uint64_t x) const {
    do {
      std::uint64_t l = x >> h, r = x & mask;
      for (unsigned round = 0; round < 4; ++round) {
        const std::uint64_t t = l ^ (mix(key + round * 0x632be59bd9b4e019ull + r) & mask);
        l = r;
        r = t;
      }
      x = (l << h) | r;
    } while (x >= n);
    return x;
  }
};

// The ill-conditioned law's element j before the permutation, in S (float for f32 and the
// 16-bit types, which make_input also draws in float32; double for f64): j < n/2: N(0,1) * 2^k,
// k uniform in [-20, 20]; j in [n/2, 2*(n/2)): minus element j - n/2 as stored, plus 1e-3 N(0,1);
// an odd n's last element: 1e-3 N(0,1).
template <class S> DL_HD S illcond_pre(std::uint64_t seed, std::uint64_t j, std::uint64_t n) {
  const std::uint64_t half = n / 2;
  const std::uint64_t i = j < half ? j : j - half;
  const int k = static_cast<int>(word(seed, i, 3) % 41) - 20;
  const S big = static_cast<S>(std::ldexp(normal(seed, i, 0), k));
  if (j < half) return big;
  if (j < 2 * half) return static_cast<S>(-static_cast<double>(big) + 1e-3 * normal(seed, j, 0));
  return static_cast<S>(1e-3 * normal(seed, j, 0));
}

enum Dist : int { uniform = 0, normal_dist = 1, illcond = 2 };  // GenDist's values

// Element i of n (S = float or double).
template <class S> DL_HD S draw(int dist, std::uint64_t seed, std::uint64_t i, std::uint64_t n, const Perm& p) {
  if (dist == uniform) {
    if constexpr (sizeof(S) == 4) return static_cast<float>(word(seed, i, 0) >> 40) * 0x1.0p-24f;
    else return u01(word(seed, i, 0));
  }
  if (dist == normal_dist) return static_cast<S>(normal(seed, i, 0));
  return illcond_pre<S>(seed, p(i), n);
}

}  // namespace driftlab::bench::law
