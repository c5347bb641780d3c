// Bulk conversions between the 16-bit storage types (bf16, f16) and float32, vectorized and
// chosen at run time under the DRIFTLAB_ISA ceiling (kernels/cpu/isa.h):
//   avx512  f16: _mm512_cvtph_ps / _mm512_cvtps_ph(round to nearest even, no exceptions);
//           bf16: integer shifts and adds on 16 lanes (not vcvtneps2bf16, which flushes
//           subnormals);
//   avx2    f16: F16C _mm256_cvtph_ps / _mm256_cvtps_ph; bf16: the same integer ops on 8 lanes;
//   scalar  kernels/common/half.h one element at a time.
// Every level gives the bits of half.h's rules (RNE, subnormals kept, F16C's NaN rule) for every
// input: tests/test_half_convert.cpp forces each level over all 65536 patterns (widen) and a
// dense set of floats (narrow).  The level changes speed only.
//
// API (in, out may not overlap; n may be 0):
//   cpu::widen(const bf16* in, float* out, n)    cpu::widen(const f16* in, float* out, n)
//   cpu::narrow(const float* in, bf16* out, n)   cpu::narrow(const float* in, f16* out, n)
// and the same on raw bit patterns (std::uint16_t, as HostArray::u16 holds them):
//   cpu::widen_bf16 / widen_f16 (const uint16_t*, float*, n), cpu::narrow_bf16 / narrow_f16.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/cpu/isa.h"

namespace driftlab::cpu {

void widen_bf16(const std::uint16_t* in, float* out, std::size_t n);
void widen_f16(const std::uint16_t* in, float* out, std::size_t n);
void narrow_bf16(const float* in, std::uint16_t* out, std::size_t n);
void narrow_f16(const float* in, std::uint16_t* out, std::size_t n);

// bf16 and f16 are 16-bit standard-layout structs: an array of them is an array of uint16_t bits.
static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2);
inline void widen(const bf16* in, float* out, std::size_t n) {
  widen_bf16(reinterpret_cast<const std::uint16_t*>(in), out, n);
}
inline void widen(const f16* in, float* out, std::size_t n) {
  widen_f16(reinterpret_cast<const std::uint16_t*>(in), out, n);
}
inline void narrow(const float* in, bf16* out, std::size_t n) {
  narrow_bf16(in, reinterpret_cast<std::uint16_t*>(out), n);
}
inline void narrow(const float* in, f16* out, std::size_t n) {
  narrow_f16(in, reinterpret_cast<std::uint16_t*>(out), n);
}

namespace detail {
using HalfIsa = Isa;  // the one dispatcher's levels (isa.h)
// The level the conversions use: isa_level() capped by force_half_isa.
inline HalfIsa half_isa_level() { return isa_level(IsaFamily::half); }
// Caps the level (tests check every level against half.h on one machine).
inline void force_half_isa(HalfIsa cap) { force_isa(IsaFamily::half, cap); }
}  // namespace detail

}  // namespace driftlab::cpu
