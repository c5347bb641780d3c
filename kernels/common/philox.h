// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 library), written once for the CPU and the CUDA device.
//
// Promise: the output is a pure function of (counter, key): the same 128 bits on every host
// compiler, every GPU and every launch shape, so a random stream can be indexed, not iterated.
// Checked against Random123's known-answer vectors in tests/test_philox.cpp.
//
//   round(ctr, key):  (hi0, lo0) = M0 * ctr[0],  (hi1, lo1) = M1 * ctr[2]   (32x32 -> 64 bits)
//                     ctr = { hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0 }
//   philox4x32_10:    10 rounds; between consecutive rounds key += (W0, W1) mod 2^32.
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"

namespace driftlab::philox {

inline constexpr std::uint32_t kM0 = 0xD2511F53u;  // round multipliers (Random123's PHILOX_M4x32_*)
inline constexpr std::uint32_t kM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kW0 = 0x9E3779B9u;  // Weyl key increments: golden ratio, sqrt(3)-1
inline constexpr std::uint32_t kW1 = 0xBB67AE85u;
inline constexpr int kRounds = 10;

// High 32 bits of the 64-bit product a * b; the low 32 bits are just a * b mod 2^32.
DL_HD std::uint32_t mulhi(std::uint32_t a, std::uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);  // one instruction on the device
#else
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(a) * b) >> 32);
#endif
}

// One Philox round (the header's round(ctr, key)), in place.
DL_HD void philox_round(std::uint32_t c[4], std::uint32_t k0, std::uint32_t k1) {
  const std::uint32_t hi0 = mulhi(kM0, c[0]), lo0 = kM0 * c[0];
  const std::uint32_t hi1 = mulhi(kM1, c[2]), lo1 = kM1 * c[2];
  const std::uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// out = Philox4x32-10(ctr, key).  out may alias ctr.
DL_HD void philox4x32_10(const std::uint32_t ctr[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  std::uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  std::uint32_t k0 = key[0], k1 = key[1];
  philox_round(c, k0, k1);
  for (int r = 1; r < kRounds; ++r) {  // Random123 bumps the key before every round but the first
    k0 += kW0;
    k1 += kW1;
    philox_round(c, k0, k1);
  }
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = c[3];
}

// The top 24 bits of u as a float in [0, 1): (u >> 8) * 2^-24.  Exact: a 24-bit integer converts
// to float without rounding and a power-of-two scale only moves the exponent.  Largest 1 - 2^-24.
DL_HD float uniform01(std::uint32_t u) {
  return static_cast<float>(u >> 8) * 0x1.0p-24f;
}

}  // namespace driftlab::philox
