// The exact all-reduce's local passes on one rank's values, written for speed (the MPI execution
// calls them; allreduce_order.h states the order, allreduce_sim.cpp is its plain simulation).
// One scalar path and one AVX2 path (kernels/cpu/isa.h picks, DRIFTLAB_ISA caps), same integers
// and masks on both: the tests compare them with each other and with narrow_add on edge data.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "kernels/common/allreduce_order.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/simd.h"

namespace driftlab::allreduce::local {

// Pass 1 on count (<= kExactBlock) consecutive values: the largest block_byte.
inline std::uint32_t block_max_scalar(const float* x, std::size_t count) {
  std::uint32_t e = 0;
  for (std::size_t o = 0; o < count; ++o) {
    const std::uint32_t b = to_bits(x[o]);
    const std::uint32_t k = (b >> 23) & 0xffu;
    const std::uint32_t v = (b & 0x7fffffffu) == 0 || k == 0xffu ? 0u : (k ? k : 1u);
    e = std::max(e, v);
  }
  return e;
}

// Pass 2 on count (<= 64) consecutive values of one shard: adds each value's multiple of 2^lsb1 u
// to acc[o]; returns the mask of the elements it escapes (bit o): the test of narrow_add.
inline std::uint64_t narrow_scalar(const float* x, std::size_t count, int lsb1, std::int32_t* acc) {
  std::uint64_t esc = 0;
  for (std::size_t o = 0; o < count; ++o) {
    const std::uint32_t b = to_bits(x[o]);
    const std::uint32_t e = (b >> 23) & 0xffu;
    const std::uint32_t m = (b & 0x7fffffu) | (e ? 0x800000u : 0u);
    const int shift = static_cast<int>(e ? e : 1u) - 1 - lsb1;
    // Left shifts stay below W1 - 23 <= 8 for a finite value of the block (block_byte <= E); an
    // Inf or NaN is escaped whatever its shift.  Shifts are capped at 31: a right shift of 31
    // leaves 0 of a 24-bit significand (so the round trip below tells a lost bit).
    const std::uint32_t sl = static_cast<std::uint32_t>(shift > 0 ? (shift < 31 ? shift : 31) : 0);
    const std::uint32_t sr = static_cast<std::uint32_t>(shift < 0 ? (-shift < 31 ? -shift : 31) : 0);
    const std::uint32_t v = (m >> sr) << sl;
    const bool bad = ((v >> sl) << sr) != m || e == 0xffu;
    const std::uint32_t sv = bad ? 0u : v;
    const std::uint32_t neg = 0u - (b >> 31);
    acc[o] = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc[o]) + ((sv ^ neg) - neg));
    esc |= static_cast<std::uint64_t>(bad) << o;
  }
  return esc;
}

// Pass 2's results of count (<= 64) elements: v * 2^lsb1 u rounded once (exact in a double, then
// one rounding: round_fixed with nothing to cut); returns the mask of the zero integers.
inline std::uint64_t round_scalar(const std::int32_t* a, std::size_t count, int lsb1, float* out) {
  const double scale = from_bits<double>(static_cast<std::uint64_t>(lsb1 - 149 + 1023) << 52);
  std::uint64_t zero = 0;
  for (std::size_t o = 0; o < count; ++o) {
    out[o] = static_cast<float>(static_cast<double>(a[o]) * scale);
    zero |= static_cast<std::uint64_t>(a[o] == 0) << o;
  }
  return zero;
}

#if DRIFTLAB_X86
__attribute__((target("avx2"))) inline std::uint32_t block_max_avx2(const float* x, std::size_t count) {
  const __m256i ff = _mm256_set1_epi32(0xff), one = _mm256_set1_epi32(1), abs = _mm256_set1_epi32(0x7fffffff);
  const __m256i zero = _mm256_setzero_si256();
  __m256i mx = zero;
  std::size_t o = 0;
  for (; o + 8 <= count; o += 8) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + o));
    const __m256i e = _mm256_and_si256(_mm256_srli_epi32(b, 23), ff);
    const __m256i skip = _mm256_or_si256(_mm256_cmpeq_epi32(_mm256_and_si256(b, abs), zero), _mm256_cmpeq_epi32(e, ff));
    mx = _mm256_max_epu32(mx, _mm256_andnot_si256(skip, _mm256_max_epu32(e, one)));
  }
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), mx);
  std::uint32_t e = block_max_scalar(x + o, count - o);
  for (const std::uint32_t l : lanes) e = std::max(e, l);
  return e;
}

__attribute__((target("avx2"))) inline std::uint64_t narrow_avx2(const float* x, std::size_t count, int lsb1,
                                                                 std::int32_t* acc) {
  const __m256i ff = _mm256_set1_epi32(0xff), one = _mm256_set1_epi32(1), hid = _mm256_set1_epi32(0x800000);
  const __m256i mant = _mm256_set1_epi32(0x7fffff), zero = _mm256_setzero_si256();
  const __m256i base = _mm256_set1_epi32(1 + lsb1);
  std::uint64_t esc = 0;
  std::size_t o = 0;
  for (; o + 8 <= count; o += 8) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + o));
    const __m256i e = _mm256_and_si256(_mm256_srli_epi32(b, 23), ff);
    const __m256i m = _mm256_or_si256(_mm256_and_si256(b, mant), _mm256_andnot_si256(_mm256_cmpeq_epi32(e, zero), hid));
    const __m256i shift = _mm256_sub_epi32(_mm256_max_epu32(e, one), base);  // max(e,1) - 1 - lsb1
    // Per-lane shifts by counts of 32 or more give 0 (vpsllvd/vpsrlvd), as the capped scalar ones.
    const __m256i sl = _mm256_max_epi32(shift, zero), sr = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    const __m256i v = _mm256_sllv_epi32(_mm256_srlv_epi32(m, sr), sl);
    const __m256i ok = _mm256_cmpeq_epi32(_mm256_sllv_epi32(_mm256_srlv_epi32(v, sl), sr), m);
    const __m256i bad = _mm256_or_si256(_mm256_andnot_si256(ok, _mm256_set1_epi32(-1)), _mm256_cmpeq_epi32(e, ff));
    const __m256i sv = _mm256_andnot_si256(bad, v);
    const __m256i neg = _mm256_srai_epi32(b, 31);
    __m256i* a = reinterpret_cast<__m256i*>(acc + o);
    _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_sub_epi32(_mm256_xor_si256(sv, neg), neg)));
    esc |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(bad)))) << o;
  }
  // o == 64 (a whole block done by the vectors): shifting a 64-bit word by 64 is undefined.
  return o == count ? esc : esc | (narrow_scalar(x + o, count - o, lsb1, acc + o) << o);
}

__attribute__((target("avx2"))) inline std::uint64_t round_avx2(const std::int32_t* a, std::size_t count, int lsb1,
                                                                float* out) {
  const __m256d scale = _mm256_set1_pd(from_bits<double>(static_cast<std::uint64_t>(lsb1 - 149 + 1023) << 52));
  std::uint64_t zero = 0;
  std::size_t o = 0;
  for (; o + 4 <= count; o += 4) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + o));
    _mm_storeu_ps(out + o, _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtepi32_pd(v), scale)));
    zero |= static_cast<std::uint64_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(v, _mm_setzero_si128())))) << o;
  }
  return o == count ? zero : zero | (round_scalar(a + o, count - o, lsb1, out + o) << o);
}
#endif

// The three at the ISA level given (cpu::Isa::avx2 or above takes the AVX2 path where compiled);
// allreduce_mpi.cpp gives the allreduce family's level (isa.h), and each notes the path it took.
inline std::uint32_t block_max(cpu::Isa isa, const float* x, std::size_t count) {
#if DRIFTLAB_X86
  if (isa >= cpu::Isa::avx2) {
    cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::avx2);
    return block_max_avx2(x, count);
  }
#endif
  (void)isa;
  cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::scalar);
  return block_max_scalar(x, count);
}
inline std::uint64_t narrow(cpu::Isa isa, const float* x, std::size_t count, int lsb1, std::int32_t* acc) {
#if DRIFTLAB_X86
  if (isa >= cpu::Isa::avx2) {
    cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::avx2);
    return narrow_avx2(x, count, lsb1, acc);
  }
#endif
  (void)isa;
  cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::scalar);
  return narrow_scalar(x, count, lsb1, acc);
}
inline std::uint64_t round_block(cpu::Isa isa, const std::int32_t* a, std::size_t count, int lsb1, float* out) {
#if DRIFTLAB_X86
  if (isa >= cpu::Isa::avx2) {
    cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::avx2);
    return round_avx2(a, count, lsb1, out);
  }
#endif
  (void)isa;
  cpu::detail::note_path(cpu::detail::IsaFamily::allreduce, cpu::Isa::scalar);
  return round_scalar(a, count, lsb1, out);
}

}  // namespace driftlab::allreduce::local
