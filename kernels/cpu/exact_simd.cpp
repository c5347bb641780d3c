#include "exact_simd.h"

#include <atomic>
#include <cmath>

#include "../common/exact.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DRIFTLAB_X86 1
#else
#define DRIFTLAB_X86 0
#endif

namespace driftlab::cpu::detail {
namespace {
std::atomic<bool> g_force_scalar{false};
std::uint32_t exact_bits(float x) { return to_bits(x); }
}

void force_scalar_exact(bool on) { g_force_scalar.store(on); }

#if DRIFTLAB_X86

bool exact_simd_available() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 && !g_force_scalar.load(std::memory_order_relaxed);
}

// Eight terms: window terms (and zeros) into two double accumulators, the others to packed bins.
__attribute__((target("avx2"), always_inline)) inline void window_step(const float* p, __m256i win_lo,
                                                                       __m256i win_span, std::uint64_t* packed,
                                                                       __m256i& not_neg_zero, __m256d& a0,
                                                                       __m256d& a1) {
  const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), zero = _mm256_setzero_si256();
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  not_neg_zero = _mm256_or_si256(not_neg_zero, _mm256_xor_si256(b, sign));
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

__attribute__((target("avx2"))) void exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins,
                                                          std::uint64_t* packed, std::uint32_t& flags) {
  const std::size_t full = count / 8 * 8;
  // The window: two binades above the largest exponent among the first 512 terms (Inf/NaN
  // excluded), 16 below that.  A poor guess costs speed (more terms take the scalar path), never
  // exactness.
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(count, 512); ++i) {
    const std::uint32_t e = (exact_bits(x[i]) >> 23) & 0xffu;
    if (e != 0xffu) top = std::max(top, e);
  }
  const std::uint32_t hi = std::min<std::uint32_t>(std::max<std::uint32_t>(top + 2, 17), 254);
  const std::uint32_t lo = hi - 16;

  const __m256i win_lo = _mm256_set1_epi32(static_cast<int>(lo << 23));
  const __m256i win_span = _mm256_set1_epi32(static_cast<int>(((hi - lo) << 23) | 0x7fffffu));
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd(), acc2 = _mm256_setzero_pd(),
          acc3 = _mm256_setzero_pd();
  __m256i not_neg_zero = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 16 <= full; i += 16) {
    window_step(x + i, win_lo, win_span, packed, not_neg_zero, acc0, acc1);
    window_step(x + i + 8, win_lo, win_span, packed, not_neg_zero, acc2, acc3);
  }
  if (i < full) window_step(x + i, win_lo, win_span, packed, not_neg_zero, acc0, acc1);
  for (std::size_t i = full; i < count; ++i) exact::add_packed(packed, x[i]);

  // Lane sums are integers times 2^(lo-150) below 2^52: scale them to integers exactly.  Their
  // total (below 2^56) is split into 32-bit chunks at bins lo and lo+32, so that a bin grows by at
  // most 2^32 per tile and never overflows over 2^31 tiles.
  std::int64_t window = 0;
  for (const __m256d a : {acc0, acc1, acc2, acc3}) {
    alignas(32) double d[4];
    _mm256_store_pd(d, a);
    for (double v : d) window += static_cast<std::int64_t>(std::ldexp(v, 150 - static_cast<int>(lo)));
  }
  bins[lo] += window & 0xffffffff;
  bins[lo + 32] += window >> 32;  // arithmetic shift: window = (window >> 32) * 2^32 + low bits
  if (full) {
    flags |= exact::kSeen;
    if (!_mm256_testz_si256(not_neg_zero, not_neg_zero)) flags |= exact::kNotNegZero;
  }
}

#else

bool exact_simd_available() { return false; }
void exact_tile_f32_avx2(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) {}

#endif

}  // namespace driftlab::cpu::detail
