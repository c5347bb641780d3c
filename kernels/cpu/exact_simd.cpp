#include "exact_simd.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "../common/exact.h"
#include "isa.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DRIFTLAB_X86 1
#else
#define DRIFTLAB_X86 0
#endif

namespace driftlab::cpu::detail {
namespace {

std::atomic<int> g_cap{static_cast<int>(ExactSimd::avx512)};

// The window of a tile (see exact_simd.h), and whether it is worth it: when more than an
// eighth of the sampled terms fall outside (inputs spanning many binades), the per-term branch of
// the vector loop costs more than the scalar packed loop.
struct Window {
  std::uint32_t lo, hi;
  bool worth_it;
};
Window window_for(const float* x, std::size_t count) {
  const std::size_t sample = std::min<std::size_t>(count, 512);
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < sample; ++i) {
    const std::uint32_t e = (to_bits(x[i]) >> 23) & 0xffu;
    if (e != 0xffu) top = std::max(top, e);
  }
  const std::uint32_t hi = std::min<std::uint32_t>(std::max<std::uint32_t>(top + 2, 17), 254);
  const std::uint32_t lo = hi - 16;
  std::size_t outside = 0;
  for (std::size_t i = 0; i < sample; ++i) {
    const std::uint32_t b = to_bits(x[i]) & 0x7fffffffu, e = b >> 23;
    outside += b != 0 && (e < lo || e > hi);
  }
  return {lo, hi, outside * 8 <= sample};
}

// Lane sums are integers times 2^(lo-150) below 2^52: scale them to integers exactly.  Their
// total (below 2^57) is split into 32-bit chunks at bins lo and lo+32, so that a bin grows by at
// most 2^32 per tile and never overflows over 2^31 tiles.
void add_lanes(const double* lanes, int count, std::uint32_t lo, std::int64_t* bins) {
  std::int64_t window = 0;
  for (int i = 0; i < count; ++i)
    window += static_cast<std::int64_t>(std::ldexp(lanes[i], 150 - static_cast<int>(lo)));
  bins[lo] += window & 0xffffffff;
  bins[lo + 32] += window >> 32;  // arithmetic shift: window = (window >> 32) * 2^32 + low bits
}

}  // namespace

void force_exact_simd(ExactSimd cap) { g_cap.store(static_cast<int>(cap)); }

const char* exact_simd_name(ExactSimd level) {
  switch (level) {
    case ExactSimd::scalar: return "scalar";
    case ExactSimd::avx2: return "avx2";
    case ExactSimd::avx512: return "avx512";
  }
  return "?";
}

#if DRIFTLAB_X86

ExactSimd exact_simd_level() {
  static const ExactSimd best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                                    ? ExactSimd::avx512
                                    : (__builtin_cpu_supports("avx2") ? ExactSimd::avx2 : ExactSimd::scalar);
  return static_cast<ExactSimd>(
      std::min({static_cast<int>(best), isa_ceiling(), g_cap.load(std::memory_order_relaxed)}));
}

// Eight terms: window terms (and zeros) into two double accumulators, the others to packed bins.
__attribute__((target("avx2"), always_inline)) inline void window_step(const float* p, __m256i win_lo,
                                                                       __m256i win_span, std::uint64_t* packed,
                                                                       __m256d& a0, __m256d& a1) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), zero = _mm256_setzero_si256();
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i a = _mm256_and_si256(b, abs_mask);
  const __m256i d = _mm256_sub_epi32(a, win_lo);  // in the window iff d <= span, unsigned
  const __m256i in = _mm256_or_si256(_mm256_cmpeq_epi32(_mm256_min_epu32(d, win_span), d),
                                     _mm256_cmpeq_epi32(a, zero));  // zeros count as inside
  const int inside = _mm256_movemask_ps(_mm256_castsi256_ps(in));
  if (inside != 0xff) [[unlikely]]
    for (int k = 0; k < 8; ++k)
      if (!((inside >> k) & 1)) exact::add_packed(packed, p[k]);
  const __m256 v = _mm256_and_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(in));
  a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

__attribute__((target("avx2"))) bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins,
                                                          std::uint64_t* packed, std::uint32_t& flags) {
  const Window w = window_for(x, count);
  if (!w.worth_it) return false;
  const __m256i win_lo = _mm256_set1_epi32(static_cast<int>(w.lo << 23));
  const __m256i win_span = _mm256_set1_epi32(static_cast<int>(((w.hi - w.lo) << 23) | 0x7fffffu));
  __m256d acc0 = _mm256_setzero_pd(), acc1 = acc0, acc2 = acc0, acc3 = acc0;  // 16 lanes
  const std::size_t full = count / 8 * 8;
  std::size_t i = 0;
  for (; i + 16 <= full; i += 16) {
    window_step(x + i, win_lo, win_span, packed, acc0, acc1);
    window_step(x + i + 8, win_lo, win_span, packed, acc2, acc3);
  }
  if (i < full) window_step(x + i, win_lo, win_span, packed, acc0, acc1);
  for (i = full; i < count; ++i) exact::add_packed(packed, x[i]);
  alignas(32) double lanes[16];
  _mm256_store_pd(lanes, acc0);
  _mm256_store_pd(lanes + 4, acc1);
  _mm256_store_pd(lanes + 8, acc2);
  _mm256_store_pd(lanes + 12, acc3);
  add_lanes(lanes, 16, w.lo, bins);
  if (count) flags |= exact::kSeen;
  return true;
}

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which trips a false
// -Wmaybe-uninitialized inside the headers themselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Sixteen terms, with mask registers: window terms (and zeros) into two accumulators.
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void window_step512(
    const float* p, __m512i win_lo, __m512i win_span, std::uint64_t* packed, __m512d& a0, __m512d& a1) {
  const __m512i b = _mm512_loadu_si512(p);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 in = _mm512_cmple_epu32_mask(_mm512_sub_epi32(a, win_lo), win_span) | _mm512_testn_epi32_mask(a, a);
  if (in != 0xffff) [[unlikely]]
    for (int k = 0; k < 16; ++k)
      if (!((in >> k) & 1)) exact::add_packed(packed, p[k]);
  const __m512 v = _mm512_castsi512_ps(b);
  a0 = _mm512_mask_add_pd(a0, static_cast<__mmask8>(in), a0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  a1 = _mm512_mask_add_pd(a1, static_cast<__mmask8>(in >> 8), a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

__attribute__((target("avx512f,avx512dq"))) bool exact_tile_f32_avx512(const float* x, std::size_t count,
                                                                        std::int64_t* bins, std::uint64_t* packed,
                                                                        std::uint32_t& flags) {
  const Window w = window_for(x, count);
  if (!w.worth_it) return false;
  const __m512i win_lo = _mm512_set1_epi32(static_cast<int>(w.lo << 23));
  const __m512i win_span = _mm512_set1_epi32(static_cast<int>(((w.hi - w.lo) << 23) | 0x7fffffu));
  __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0, acc2 = acc0, acc3 = acc0;  // 32 lanes
  const std::size_t full = count / 16 * 16;
  std::size_t i = 0;
  for (; i + 32 <= full; i += 32) {
    window_step512(x + i, win_lo, win_span, packed, acc0, acc1);
    window_step512(x + i + 16, win_lo, win_span, packed, acc2, acc3);
  }
  if (i < full) window_step512(x + i, win_lo, win_span, packed, acc0, acc1);
  for (i = full; i < count; ++i) exact::add_packed(packed, x[i]);
  alignas(64) double lanes[32];
  _mm512_store_pd(lanes, acc0);
  _mm512_store_pd(lanes + 8, acc1);
  _mm512_store_pd(lanes + 16, acc2);
  _mm512_store_pd(lanes + 24, acc3);
  add_lanes(lanes, 32, w.lo, bins);
  if (count) flags |= exact::kSeen;
  return true;
}
#pragma GCC diagnostic pop

#else

ExactSimd exact_simd_level() { return ExactSimd::scalar; }
bool exact_tile_f32_avx2(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
bool exact_tile_f32_avx512(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }

#endif

}  // namespace driftlab::cpu::detail
