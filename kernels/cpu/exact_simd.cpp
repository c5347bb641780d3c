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

// The windows of a tile (see exact_simd.h): W consecutive windows of 16 binades each, the top one
// ending two binades above the largest exponent among the tile's first 512 terms; W (1..kMaxWindows)
// is the fewest that leave at most 1/64 of the sampled terms outside.  Not worth it (the scalar
// packed loop is faster) when even kMaxWindows leave more than an eighth outside.
constexpr int kMaxWindows = 4;
constexpr std::uint32_t kWindowBinades = 16;
struct Windows {
  std::uint32_t lo;  // biased exponent where window 0 starts; window w is [lo + 16w, lo + 16w + 15]
  int count;         // 0: not worth it
};
Windows windows_for(const float* x, std::size_t count) {
  const std::size_t sample = std::min<std::size_t>(count, 512);
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < sample; ++i) {
    const std::uint32_t e = (to_bits(x[i]) >> 23) & 0xffu;
    if (e != 0xffu) top = std::max(top, e);
  }
  for (int w = 1; w <= kMaxWindows; ++w) {
    const std::uint32_t span = kWindowBinades * static_cast<std::uint32_t>(w);
    const std::uint32_t hi = std::min<std::uint32_t>(std::max<std::uint32_t>(top + 2, span), 254);
    const std::uint32_t lo = hi + 1 - span;  // >= 1: window sums are on the grid of normal floats
    std::size_t outside = 0;
    for (std::size_t i = 0; i < sample; ++i) {
      const std::uint32_t b = to_bits(x[i]) & 0x7fffffffu, e = b >> 23;
      outside += b != 0 && (e < lo || e > hi);
    }
    if (outside * 64 <= sample || (w == kMaxWindows && outside * 8 <= sample)) return {lo, w};
  }
  return {0, 0};
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

// Eight terms.  d = |bits| - (lo << 23), modulo 2^32: a term is in window d >> 27 when that is
// below W, and its value goes to that window's two double accumulators; zeros
// (d wraps to a window >= 16) add nothing; other terms go to the packed bins.
template <int W>
__attribute__((target("avx2"), always_inline)) inline void windows_step(const float* p, __m256i base, __m256i windows,
                                                                        std::uint64_t* packed, __m256d (&acc)[W][2]) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), zero = _mm256_setzero_si256();
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i a = _mm256_and_si256(b, abs_mask);
  const __m256i idx = _mm256_srli_epi32(_mm256_sub_epi32(a, base), 27);  // 0..31
  const __m256i in = _mm256_or_si256(_mm256_cmpgt_epi32(windows, idx), _mm256_cmpeq_epi32(a, zero));
  const int inside = _mm256_movemask_ps(_mm256_castsi256_ps(in));
  if (inside != 0xff) [[unlikely]]
    for (int k = 0; k < 8; ++k)
      if (!((inside >> k) & 1)) exact::add_packed(packed, p[k]);
#pragma GCC unroll 4
  for (int w = 0; w < W; ++w) {
    const __m256i m = _mm256_cmpeq_epi32(idx, _mm256_set1_epi32(w));
    const __m256 v = _mm256_and_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(m));
    acc[w][0] = _mm256_add_pd(acc[w][0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[w][1] = _mm256_add_pd(acc[w][1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
}

template <int W>
__attribute__((target("avx2"))) void windows_tile_avx2(const float* x, std::size_t count, std::uint32_t lo,
                                                       std::int64_t* bins, std::uint64_t* packed) {
  const __m256i base = _mm256_set1_epi32(static_cast<int>(lo << 23));
  const __m256i windows = _mm256_set1_epi32(W);
  __m256d acc0[W][2], acc1[W][2];  // 16 lanes per window, at most 2^12 terms each
  for (int w = 0; w < W; ++w) acc0[w][0] = acc0[w][1] = acc1[w][0] = acc1[w][1] = _mm256_setzero_pd();
  const std::size_t full = count / 8 * 8;
  std::size_t i = 0;
  for (; i + 16 <= full; i += 16) {
    windows_step<W>(x + i, base, windows, packed, acc0);
    windows_step<W>(x + i + 8, base, windows, packed, acc1);
  }
  if (i < full) windows_step<W>(x + i, base, windows, packed, acc0);
  for (i = full; i < count; ++i) exact::add_packed(packed, x[i]);
  for (int w = 0; w < W; ++w) {
    alignas(32) double lanes[16];
    _mm256_store_pd(lanes, acc0[w][0]);
    _mm256_store_pd(lanes + 4, acc0[w][1]);
    _mm256_store_pd(lanes + 8, acc1[w][0]);
    _mm256_store_pd(lanes + 12, acc1[w][1]);
    add_lanes(lanes, 16, lo + kWindowBinades * static_cast<std::uint32_t>(w), bins);
  }
}

__attribute__((target("avx2"))) bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins,
                                                          std::uint64_t* packed, std::uint32_t& flags) {
  const Windows w = windows_for(x, count);
  switch (w.count) {
    case 1: windows_tile_avx2<1>(x, count, w.lo, bins, packed); break;
    case 2: windows_tile_avx2<2>(x, count, w.lo, bins, packed); break;
    case 3: windows_tile_avx2<3>(x, count, w.lo, bins, packed); break;
    case 4: windows_tile_avx2<4>(x, count, w.lo, bins, packed); break;
    default: return false;
  }
  if (count) flags |= exact::kSeen;
  return true;
}

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which trips a false
// -Wmaybe-uninitialized inside the headers themselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Sixteen terms, with mask registers: as windows_step, each window's terms by a masked add.
template <int W>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void windows_step512(const float* p, __m512i base,
                                                                                       __m512i limit,
                                                                                       std::uint64_t* packed,
                                                                                       __m512d (&acc)[W][2]) {
  const __m512i b = _mm512_loadu_si512(p);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __m512i d = _mm512_sub_epi32(a, base);
  const __mmask16 in = _mm512_cmplt_epu32_mask(d, limit) | _mm512_testn_epi32_mask(a, a);
  if (in != 0xffff) [[unlikely]]
    for (int k = 0; k < 16; ++k)
      if (!((in >> k) & 1)) exact::add_packed(packed, p[k]);
  const __m512 v = _mm512_castsi512_ps(b);
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  const __m512i idx = _mm512_srli_epi32(d, 27);
#pragma GCC unroll 4
  for (int w = 0; w < W; ++w) {
    const __mmask16 m = _mm512_cmpeq_epi32_mask(idx, _mm512_set1_epi32(w));
    acc[w][0] = _mm512_mask_add_pd(acc[w][0], static_cast<__mmask8>(m), acc[w][0], lo);
    acc[w][1] = _mm512_mask_add_pd(acc[w][1], static_cast<__mmask8>(m >> 8), acc[w][1], hi);
  }
}

template <int W>
__attribute__((target("avx512f,avx512dq"))) void windows_tile_avx512(const float* x, std::size_t count,
                                                                     std::uint32_t lo, std::int64_t* bins,
                                                                     std::uint64_t* packed) {
  const __m512i base = _mm512_set1_epi32(static_cast<int>(lo << 23));
  const __m512i limit = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(W) << 27));
  __m512d acc0[W][2], acc1[W][2];  // 32 lanes per window, at most 2^11 terms each
  for (int w = 0; w < W; ++w) acc0[w][0] = acc0[w][1] = acc1[w][0] = acc1[w][1] = _mm512_setzero_pd();
  const std::size_t full = count / 16 * 16;
  std::size_t i = 0;
  for (; i + 32 <= full; i += 32) {
    windows_step512<W>(x + i, base, limit, packed, acc0);
    windows_step512<W>(x + i + 16, base, limit, packed, acc1);
  }
  if (i < full) windows_step512<W>(x + i, base, limit, packed, acc0);
  for (i = full; i < count; ++i) exact::add_packed(packed, x[i]);
  for (int w = 0; w < W; ++w) {
    alignas(64) double lanes[32];
    _mm512_store_pd(lanes, acc0[w][0]);
    _mm512_store_pd(lanes + 8, acc0[w][1]);
    _mm512_store_pd(lanes + 16, acc1[w][0]);
    _mm512_store_pd(lanes + 24, acc1[w][1]);
    add_lanes(lanes, 32, lo + kWindowBinades * static_cast<std::uint32_t>(w), bins);
  }
}

__attribute__((target("avx512f,avx512dq"))) bool exact_tile_f32_avx512(const float* x, std::size_t count,
                                                                        std::int64_t* bins, std::uint64_t* packed,
                                                                        std::uint32_t& flags) {
  const Windows w = windows_for(x, count);
  switch (w.count) {
    case 1: windows_tile_avx512<1>(x, count, w.lo, bins, packed); break;
    case 2: windows_tile_avx512<2>(x, count, w.lo, bins, packed); break;
    case 3: windows_tile_avx512<3>(x, count, w.lo, bins, packed); break;
    case 4: windows_tile_avx512<4>(x, count, w.lo, bins, packed); break;
    default: return false;
  }
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
