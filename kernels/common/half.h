// The 16-bit storage types, bfloat16 and IEEE binary16 (f16), and their conversions to and from
// float32.  One definition serves the CPU (scalar and SIMD paths are tested against it), the
// CUDA kernels (which load __nv_bfloat16 / __half bits but convert with these rules) and the
// host's file readers, so a 16-bit value means the same bits everywhere.
//
// Rules (written once here):
//   widen  (16 -> 32): exact; a NaN keeps its sign and payload (an f16 NaN is also quieted,
//                      as F16C's vcvtph2ps does; a bf16 is just shifted into the top half).
//   narrow (32 -> 16): round to nearest, ties to even, subnormals kept (no flush), overflow to
//                      infinity.  A NaN becomes a quiet NaN with its sign and the top payload
//                      bits: the result x86's F16C (vcvtps2ph) gives, and for bf16 the same
//                      truncate-and-quiet rule.  (AVX-512 BF16's vcvtneps2bf16 flushes
//                      subnormals, so it is not one of the paths.)
#pragma once

#include <cstdint>

#include "kernels/common/float_bits.h"
#include "kernels/common/hd.h"

namespace driftlab {

// Storage types: 16 bits and nothing else (trivially copyable; an array of them is the file's
// or the device's bytes).  The tag keeps bf16 and f16 apart in overloads and templates.
struct bf16 { std::uint16_t bits; };
struct f16 { std::uint16_t bits; };

// ---- bfloat16: the top half of a float32 ----
DL_HD float bf16_to_f32(std::uint16_t h) { return from_bits<float>(static_cast<std::uint32_t>(h) << 16); }

DL_HD std::uint16_t f32_to_bf16(float x) {
  const std::uint32_t u = to_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  // Round to nearest even on the 16 dropped bits; a carry walks into the exponent (and to
  // infinity from the largest finite values), which is the right answer.
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// ---- IEEE binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits ----
DL_HD float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu;
  const std::uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return from_bits<float>(sign | 0x7f800000u | (m ? 0x400000u : 0u) | (m << 13));  // Inf; NaN quieted
  if (e != 0) return from_bits<float>(sign | ((e + 112u) << 23) | (m << 13));  // normal
  if (m == 0) return from_bits<float>(sign);                                   // +-0
  // Subnormal m * 2^-24: normalise the 10-bit fraction (exact in float32).
  int shift = 0;
  std::uint32_t mm = m;
  while ((mm & 0x400u) == 0) { mm <<= 1; ++shift; }
  return from_bits<float>(sign | ((113u - static_cast<std::uint32_t>(shift)) << 23) | ((mm & 0x3ffu) << 13));
}

DL_HD std::uint16_t f32_to_f16(float x) {
  const std::uint32_t u = to_bits(x);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520: rounds to Inf
  if (a >= 0x38800000u) {  // >= 2^-14: normal in f16
    const std::uint32_t r = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    return static_cast<std::uint16_t>(sign | r);
  }
  if (a <= 0x33000000u) return sign;  // <= 2^-25: half the smallest subnormal or less, to even 0
  // Subnormal: q = round(|x| * 2^24), ties to even.  |x| = m * 2^(e-150), so q = m >> (126 - e).
  const std::uint32_t e = a >> 23;
  const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const std::uint32_t s = 126u - e;  // 14..24
  std::uint32_t q = m >> s;
  const std::uint32_t rem = m & ((1u << s) - 1u);
  const std::uint32_t half = 1u << (s - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // q == 0x400 is the smallest normal: right
  return static_cast<std::uint16_t>(sign | q);
}

// Generic access for templates over the storage type S (float, double, bf16, f16).
DL_HD float widen(bf16 h) { return bf16_to_f32(h.bits); }
DL_HD float widen(f16 h) { return f16_to_f32(h.bits); }
DL_HD float widen(float x) { return x; }
DL_HD double widen(double x) { return x; }

template <class S> struct Narrow;
template <> struct Narrow<bf16> { DL_HD static bf16 from(float x) { return bf16{f32_to_bf16(x)}; } };
template <> struct Narrow<f16> { DL_HD static f16 from(float x) { return f16{f32_to_f16(x)}; } };
template <> struct Narrow<float> { DL_HD static float from(float x) { return x; } };
// x rounded to the storage type S and widened back: what a framework's 16-bit tensor holds.
template <class S> DL_HD float round_through(float x) { return widen(Narrow<S>::from(x)); }

}  // namespace driftlab
