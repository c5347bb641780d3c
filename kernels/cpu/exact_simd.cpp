#include "exact_simd.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "../common/exact.h"
#include "simd.h"

namespace driftlab::cpu::detail {
namespace {

// The windows of a tile (see exact_simd.h): W consecutive windows of `binades` binades each
// (16 on AVX-512, 24 on AVX2), the top one ending two binades above the largest exponent among the
// tile's first 512 terms; W (1..max_windows) is the fewest that leave at most 1/64 of the sampled
// terms outside.  Not worth it (the scalar packed loop is faster) when even max_windows leave more
// than an eighth outside.
constexpr int kMaxWindows = 4;             // AVX-512: 16-binade windows, up to 64 binades
constexpr std::uint32_t kWindowBinades = 16;
constexpr int kMaxWindows2 = 3;            // AVX2: 24-binade windows, up to 72 binades
constexpr std::uint32_t kWindowBinades2 = 24;
struct Windows {
  std::uint32_t lo;  // biased exponent where window 0 starts; window w is [lo + bw, lo + bw + b - 1]
  int count;         // 0: not worth it
};
Windows windows_for(const float* x, std::size_t count, std::uint32_t binades, int max_windows) {
  const std::size_t sample = std::min<std::size_t>(count, 512);
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < sample; ++i) {
    const std::uint32_t e = (to_bits(x[i]) >> 23) & 0xffu;
    if (e != 0xffu) top = std::max(top, e);
  }
  for (int w = 1; w <= max_windows; ++w) {
    const std::uint32_t span = binades * static_cast<std::uint32_t>(w);
    const std::uint32_t hi = std::min<std::uint32_t>(std::max<std::uint32_t>(top + 2, span), 254);
    const std::uint32_t lo = hi + 1 - span;  // >= 1: window sums are on the grid of normal floats
    std::size_t outside = 0;
    for (std::size_t i = 0; i < sample; ++i) {
      const std::uint32_t b = to_bits(x[i]) & 0x7fffffffu, e = b >> 23;
      outside += b != 0 && (e < lo || e > hi);
    }
    if (outside * 64 <= sample || (w == max_windows && outside * 8 <= sample)) return {lo, w};
  }
  return {0, 0};
}

// A window's total (an integer number of 2^(lo-150) units, |total| < 2^63) is split into 32-bit
// chunks at bins lo and lo+32, so that a bin grows by at most 2^32 per tile and never overflows
// over 2^31 tiles.
void add_window(std::int64_t window, std::uint32_t lo, std::int64_t* bins) {
  bins[lo] += window & 0xffffffff;
  bins[lo + 32] += window >> 32;  // arithmetic shift: window = (window >> 32) * 2^32 + low bits
}

// Lane sums are integers times 2^(lo-150) below 2^52: scale them to integers exactly (their total
// is below 2^57).
void add_lanes(const double* lanes, int count, std::uint32_t lo, std::int64_t* bins) {
  std::int64_t window = 0;
  for (int i = 0; i < count; ++i)
    window += static_cast<std::int64_t>(std::ldexp(lanes[i], 150 - static_cast<int>(lo)));
  add_window(window, lo, bins);
}

// Integer lane sums in units of 2^(lo-150), whose magnitudes add up to less than 2^63.
void add_int_lanes(const std::int64_t* lanes, int count, std::uint32_t lo, std::int64_t* bins) {
  std::int64_t window = 0;
  for (int i = 0; i < count; ++i) window += lanes[i];
  add_window(window, lo, bins);
}

}  // namespace

#if DRIFTLAB_X86

// Eight terms, W windows of 24 binades.  g[w] = (|bits| > ((lo + 24w) << 23) - 1), i.e. the term's
// exponent is at least window w's first one; the term is in window w when g[w] and not g[w+1],
// and its value goes to that window's two double accumulators.  Zeros (no g set) add nothing;
// other terms not in a window (below lo, above the top window, subnormals, specials) go to the
// packed bins.
template <int W>
__attribute__((target("avx2"), always_inline)) inline void windows_step(const float* p, const __m256i (&starts)[W + 1],
                                                                        std::uint64_t* packed, __m256d (&acc)[W][2]) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i a = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
  __m256i g[W + 1];
#pragma GCC unroll 4
  for (int w = 0; w <= W; ++w) g[w] = _mm256_cmpgt_epi32(a, starts[w]);
  const __m256i in = _mm256_or_si256(_mm256_andnot_si256(g[W], g[0]), _mm256_cmpeq_epi32(a, _mm256_setzero_si256()));
  const int inside = _mm256_movemask_ps(_mm256_castsi256_ps(in));
  if (inside != 0xff) [[unlikely]]
    for (int k = 0; k < 8; ++k)
      if (!((inside >> k) & 1)) exact::add_packed(packed, p[k]);
#pragma GCC unroll 4
  for (int w = 0; w < W; ++w) {
    const __m256i m = _mm256_xor_si256(g[w], g[w + 1]);  // g[w + 1] implies g[w]
    const __m256 v = _mm256_castsi256_ps(_mm256_and_si256(b, m));
    acc[w][0] = _mm256_add_pd(acc[w][0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[w][1] = _mm256_add_pd(acc[w][1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
}

// Moves double lane sums (integers times 2^(lo_w-150), below 2^51 of them) into int64 lanes and
// zeroes them: adding 1.5 * 2^52 units is exact and leaves the integer in the low mantissa bits.
template <int W>
__attribute__((target("avx2"), always_inline)) inline void windows_flush(const __m256d (&magic)[W], __m256d (&acc)[W][2],
                                                                         __m256i (&total)[W][2]) {
  for (int w = 0; w < W; ++w)
    for (int h = 0; h < 2; ++h) {
      const __m256i y = _mm256_castpd_si256(_mm256_add_pd(acc[w][h], magic[w]));
      total[w][h] = _mm256_add_epi64(total[w][h], _mm256_sub_epi64(y, _mm256_castpd_si256(magic[w])));
      acc[w][h] = _mm256_setzero_pd();
    }
}

// A window-w term is a multiple of 2^(lo_w-150) below 2^(lo_w-150+47); a double lane takes 16 of
// them (below 2^51 units, where windows_flush is exact) before it is flushed to its int64 lane,
// which takes at most 2^12 terms per tile (below 2^59).
template <int W>
__attribute__((target("avx2"))) void windows_tile_avx2(const float* x, std::size_t count, std::uint32_t lo,
                                                       std::int64_t* bins, std::uint64_t* packed) {
  __m256i starts[W + 1];
  for (int w = 0; w <= W; ++w)
    starts[w] = _mm256_set1_epi32(static_cast<int>(((lo + kWindowBinades2 * static_cast<std::uint32_t>(w)) << 23) - 1));
  __m256d magic[W];
  for (int w = 0; w < W; ++w)
    magic[w] = _mm256_set1_pd(std::ldexp(1.5, 52 + static_cast<int>(lo + kWindowBinades2 * w) - 150));
  __m256d acc0[W][2], acc1[W][2];  // 16 double lanes per window, flushed every 16 terms per lane
  __m256i total0[W][2], total1[W][2];
  for (int w = 0; w < W; ++w)
    for (int h = 0; h < 2; ++h) {
      acc0[w][h] = acc1[w][h] = _mm256_setzero_pd();
      total0[w][h] = total1[w][h] = _mm256_setzero_si256();
    }
  constexpr std::size_t kFlushTerms = 16 * 16;  // 16 step pairs of 16 terms
  const std::size_t full = count / 8 * 8;
  std::size_t i = 0;
  while (i + 16 <= full) {
    const std::size_t end = std::min(full / 16 * 16, i + kFlushTerms);
    for (; i < end; i += 16) {
      windows_step<W>(x + i, starts, packed, acc0);
      windows_step<W>(x + i + 8, starts, packed, acc1);
    }
    windows_flush<W>(magic, acc0, total0);
    windows_flush<W>(magic, acc1, total1);
  }
  if (i < full) {
    windows_step<W>(x + i, starts, packed, acc0);
    windows_flush<W>(magic, acc0, total0);
  }
  for (i = full; i < count; ++i) exact::add_packed(packed, x[i]);
  for (int w = 0; w < W; ++w) {
    alignas(32) std::int64_t lanes[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total0[w][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 4), total0[w][1]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 8), total1[w][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 12), total1[w][1]);
    add_int_lanes(lanes, 16, lo + kWindowBinades2 * static_cast<std::uint32_t>(w), bins);
  }
}

__attribute__((target("avx2"))) bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins,
                                                          std::uint64_t* packed, std::uint32_t& flags) {
  const Windows w = windows_for(x, count, kWindowBinades2, kMaxWindows2);
  switch (w.count) {
    case 1: windows_tile_avx2<1>(x, count, w.lo, bins, packed); break;
    case 2: windows_tile_avx2<2>(x, count, w.lo, bins, packed); break;
    case 3: windows_tile_avx2<3>(x, count, w.lo, bins, packed); break;
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
  const Windows w = windows_for(x, count, kWindowBinades, kMaxWindows);
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

bool exact_tile_f32_avx2(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
bool exact_tile_f32_avx512(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }

#endif

}  // namespace driftlab::cpu::detail
