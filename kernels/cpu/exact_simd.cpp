// The exact sum's vector tiles (exact_simd.h): the float windows, the split span and the 16-bit
// paths, at AVX2 and at AVX-512.  Over 500 lines on purpose: each ISA level's tile has the same
// shape as the other's (block loop, fast block, span, windows, flush), and keeping them side by side
// in one file is how a change to one is checked against the other; the bins they fill are integers,
// so every path gives the same bits (SumCpu.Exact*, HalfSumCpu.Exact* at every level).
#include "kernels/cpu/exact_simd.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <type_traits>

#include "kernels/common/exact.h"
#include "kernels/cpu/simd.h"

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
  std::uint32_t lo;   // biased exponent where window 0 starts; window w is [lo + bw, lo + bw + b - 1]
  int count;          // 0: not worth it
  std::uint32_t top;  // the largest finite exponent among the sampled terms
};
// A term's float bits: bf16 widens exactly by a shift (windows then read bf16 tiles directly).
std::uint32_t term_bits(float x) { return to_bits(x); }
std::uint32_t term_bits(bf16 x) { return std::uint32_t{x.bits} << 16; }
float term_value(float x) { return x; }
float term_value(bf16 x) { return widen(x); }

// The exponents of a tile's first 512 terms, read once: how many nonzero terms (by |bits|) have
// each biased exponent, as prefix sums, and the largest finite exponent.  windows_for and span_for
// choose from it (one pass over the sample, where each candidate used to rescan it).
struct Sample {
  std::size_t size = 0;          // terms sampled
  std::uint32_t top = 0;         // the largest finite exponent among them (0 when none)
  std::uint16_t below[257] = {}; // below[e]: nonzero terms with exponent < e
  // Nonzero terms with an exponent outside [lo, hi] (1 <= lo <= hi <= 254).
  std::size_t outside(std::uint32_t lo, std::uint32_t hi) const {
    return below[256] - (below[hi + 1] - below[lo]);
  }
};
template <class S> Sample sample_of(const S* x, std::size_t count) {
  Sample s;
  s.size = std::min<std::size_t>(count, 512);
  // Eight histograms, term i into hist[i % 8]: one would chain most increments through one
  // counter's store and load (most terms share a few exponents).
  constexpr std::size_t kCopies = 8;
  std::uint16_t counts[kCopies][256] = {};
  std::size_t i = 0;
  for (; i + kCopies <= s.size; i += kCopies)
    for (std::size_t k = 0; k < kCopies; ++k) {
      const std::uint32_t b = term_bits(x[i + k]) & 0x7fffffffu;
      counts[k][b >> 23] += b != 0;
    }
  for (; i < s.size; ++i) {
    const std::uint32_t b = term_bits(x[i]) & 0x7fffffffu;
    counts[0][b >> 23] += b != 0;
  }
  std::uint16_t hist[256];
  for (std::uint32_t e = 0; e < 256; ++e) {
    std::uint16_t h = 0;
    for (std::size_t k = 0; k < kCopies; ++k) h = static_cast<std::uint16_t>(h + counts[k][e]);
    hist[e] = h;
  }
  for (std::uint32_t e = 0; e < 256; ++e) s.below[e + 1] = static_cast<std::uint16_t>(s.below[e] + hist[e]);
  for (std::uint32_t e = 254; e > 0; --e)
    if (hist[e]) {
      s.top = e;
      break;
    }
  return s;
}

inline Windows windows_for(const Sample& s, std::uint32_t binades, int max_windows) {
  for (int w = 1; w <= max_windows; ++w) {
    const std::uint32_t span = binades * static_cast<std::uint32_t>(w);
    const std::uint32_t hi = std::min<std::uint32_t>(std::max<std::uint32_t>(s.top + 2, span), 254);
    const std::uint32_t lo = hi + 1 - span;  // >= 1: window sums are on the grid of normal floats
    const std::size_t outside = s.outside(lo, hi);
    if (outside * 64 <= s.size || (w == max_windows && outside * 8 <= s.size)) return {lo, w, s.top};
  }
  return {0, 0, s.top};
}

// A window's total (an integer number of 2^(lo-150) units, |total| < 2^63) is split into 32-bit
// chunks at bins lo and lo+32, so that a bin grows by at most 2^32 per tile and never overflows
// over 2^31 tiles.
void add_window(std::int64_t window, std::uint32_t lo, std::int64_t* bins) {
  bins[lo] += window & 0xffffffff;
  bins[lo + 32] += window >> 32;  // arithmetic shift: window = (window >> 32) * 2^32 + low bits
}

// Lane sums are integers times 2^(lo-150) below 2^52: scale them to integers exactly (their total
// is below 2^57) by one power of two (2^-104 .. 2^149, a normal double: the products are exact).
void add_lanes(const double* lanes, int count, std::uint32_t lo, std::int64_t* bins) {
  const double scale = std::ldexp(1.0, 150 - static_cast<int>(lo));
  std::int64_t window = 0;
  for (int i = 0; i < count; ++i) window += static_cast<std::int64_t>(lanes[i] * scale);
  add_window(window, lo, bins);
}

// The flag-checked lanes' sums (exact_simd.h): each an exact double, a sum of at most 2^13 float
// terms (a tile's eight lane vectors summed), so a multiple of 2^-149 below 2^141.  Each goes in
// as its 53-bit significand in units of its own ulp (or of 2^-149 when that is finer: the
// significand then shifts right exactly), at bins q+150 and q+182 <= 270.  Per lane a bin grows
// by less than 2^32: at most 128 lanes a tile (AVX-512's split lanes taken one by one), with the
// windows' and the span's few, below 2^40 a tile; n < kMaxTermsPerBin = 2^39 terms make at most
// 2^23 tiles, so a bin stays below 2^63.
void add_exact_lanes(const double* lanes, int count, std::int64_t* bins) {
  for (int i = 0; i < count; ++i) {
    const std::uint64_t b = to_bits(lanes[i]);
    const int e = static_cast<int>((b >> 52) & 0x7ffu);
    if (e == 0) continue;  // +-0 (never subnormal: |lane| >= 2^-149 or 0)
    std::int64_t m = static_cast<std::int64_t>((b & 0xfffffffffffffull) | (1ull << 52));
    int q = e - 1075;  // lane = m * 2^q
    if (q < -149) {
      m >>= -149 - q;
      q = -149;
    }
    add_window((b >> 63) ? -m : m, static_cast<std::uint32_t>(q + 150), bins);
  }
}

// Integer lane sums in units of 2^(lo-150), whose magnitudes add up to less than 2^63.
void add_int_lanes(const std::int64_t* lanes, int count, std::uint32_t lo, std::int64_t* bins) {
  std::int64_t window = 0;
  for (int i = 0; i < count; ++i) window += lanes[i];
  add_window(window, lo, bins);
}

// The split span (exact_simd.h), the fallback for blocks that miss one window: y = x * 2^k
// (exact), hi = round(y) to nearest (an int32), lo = y - hi (exact, |lo| <= 1/2).  With |y| < 2^T
// an int32 lane takes 2^(31-T) hi parts; lo parts are multiples of 2^-G when ulp(y) >= 2^-G, so a
// double lane that starts at M = 1.5 * 2^52 such steps stays exact (its bits minus M's bits are
// then its integer sum) while its lo parts add up to at most 2^51 steps: 2^(52-G) of them.  Each
// level's constants say how many terms a lane takes per block.  The span covers biased exponents
// [e_lo, e_hi], T + G - 23 binades; hi counts units of 2^-k (bin hb = 150 - k), lo units of
// 2^(-G-k) (bin hb - G = e_lo).
struct Span {
  bool ok;
  int k;                   // y = x * 2^k
  std::uint32_t e_lo, e_hi;
};
// `top`: the sample's largest finite exponent (Windows::top).
inline Span span_for(const Sample& s, int T, int G) {
  const auto binades = static_cast<std::uint32_t>(T + G - 23);
  const std::uint32_t e_hi = std::clamp<std::uint32_t>(s.top + 2, binades, 254);  // e_lo >= 1
  const std::uint32_t e_lo = e_hi + 1 - binades;
  return {s.outside(e_lo, e_hi) * 64 <= s.size, 126 + T - static_cast<int>(e_hi), e_lo, e_hi};
}

// A signed 128-bit total in units of 2^(lo-150), in 32-bit chunks at bins lo, lo+32 and lo+64.
void add_window128(__int128 v, std::uint32_t lo, std::int64_t* bins) {
  bins[lo] += static_cast<std::int64_t>(v & 0xffffffff);
  v >>= 32;  // arithmetic: v = (v >> 32) * 2^32 + low bits
  bins[lo + 32] += static_cast<std::int64_t>(v & 0xffffffff);
  bins[lo + 64] += static_cast<std::int64_t>(v >> 32);
}

// The span's totals: hi lanes (int64, exact) and lo lanes (int64 sums of the bits of doubles
// that started at the magic value M = 1.5 * 2^52 units each flush, `bias` = flushes per lane times
// the bits of M, which the wrapping lane sums subtract modulo 2^64).
void add_span(const std::int64_t* hi, int hi_count, const std::int64_t* lo, int lo_count, std::uint64_t bias,
              const Span& sp, int G, std::int64_t* bins) {
  std::int64_t h = 0;  // below 2^47
  for (int i = 0; i < hi_count; ++i) h += hi[i];
  __int128 l = 0;
  for (int i = 0; i < lo_count; ++i)
    l += static_cast<std::int64_t>(static_cast<std::uint64_t>(lo[i]) - bias);  // each below 2^61
  const auto hb = static_cast<std::uint32_t>(150 - sp.k);
  add_window(h, hb, bins);
  add_window128(l, hb - static_cast<std::uint32_t>(G), bins);
}

}  // namespace

namespace {
std::atomic<std::size_t> g_prefetch_bytes{cpu_is_intel() ? std::size_t(2048) : std::size_t(0)};
std::atomic<bool> g_split_lanes_first{cpu_is_intel()};
std::atomic<bool> g_flag_paths{true};
}  // namespace

std::size_t exact_prefetch_bytes() { return g_prefetch_bytes.load(std::memory_order_relaxed); }
void force_exact_prefetch_bytes(std::size_t bytes) { g_prefetch_bytes.store(bytes, std::memory_order_relaxed); }
bool exact_split_lanes_first() { return g_split_lanes_first.load(std::memory_order_relaxed); }
void force_exact_split_lanes_first(bool on) { g_split_lanes_first.store(on, std::memory_order_relaxed); }
bool exact_flag_paths() { return g_flag_paths.load(std::memory_order_relaxed); }
void force_exact_flag_paths(bool on) { g_flag_paths.store(on, std::memory_order_relaxed); }

#if DRIFTLAB_X86

// The window (0..W-1) that holds every nonzero term of a block, from the block's largest |bits|
// (top) and smallest nonzero |bits| minus one (low; 0xffffffff when all are zero), or -1 when
// there is none.  Inf and NaN (exponent 255) are above every window (the top one ends at 254);
// subnormals are below every window (lo >= 1).
inline int block_window(std::uint32_t top, std::uint32_t low, std::uint32_t lo, std::uint32_t binades, int W) {
  if (top == 0) return 0;  // only zeros: every lane sum stays zero
  const std::uint32_t e = top >> 23;
  if (e < lo) return -1;
  const std::uint32_t w = (e - lo) / binades;
  if (w >= static_cast<std::uint32_t>(W)) return -1;
  const std::uint32_t start = (lo + w * binades) << 23;  // |bits| of the window's smallest normal
  return low >= start - 1 ? static_cast<int>(w) : -1;
}

// bf16's fast block in float32 lanes (both levels).  A bf16 term is s * 2^(e - 134), s = 128..255 (e
// its biased exponent, 1..254 when normal): a multiple of 2^(e_lo - 134) below 2^(8 + e - e_lo)
// such units when e_lo <= e.  A float32 lane that takes kF32Terms = 8 terms of exponents within
// [e_lo, e_lo + kF32Span] has every partial sum a multiple of that unit below 8 * 2^(8 + 13) =
// 2^24 units: exact (the unit is at least 2^-133, a normal float).  32 terms a step at AVX-512, 16
// at AVX2: a 32-bit word holds an even term in its low half and an odd one in its high half, so
// `w << 16` and `w & 0xffff0000` are both halves widened (exact), and the block's |bits| are
// tracked as 16-bit lanes.  Half the uops of the double lanes' fast step per term, and no conversion until the block
// is kept.
constexpr int kF32Terms = 8;
constexpr std::uint32_t kF32Span = 13;  // e_hi - e_lo at most: 8 terms of 8 bits plus 13 binades = 24 bits
static_assert(kF32Terms == 8 && kF32Span + 8 + 3 == 24, "a float32 lane's sum of 8 bf16 terms stays exact");

// A block's largest |bits| and smallest nonzero |bits| - 1, as float bits (block_range16*).
struct BlockRange {
  std::uint32_t top, low;
};
// Whether a block of bf16 terms with this range sums exactly in float32 lanes of kF32Terms terms:
// every nonzero exponent within kF32Span of the largest (and the largest at most 250, so that
// 8 terms stay below 2^128).  Only zeros: yes.
inline bool block_fits_f32(BlockRange r) {
  if (r.top == 0) return true;
  const std::uint32_t e_top = r.top >> 23, e_low = (r.low + 1) >> 23;
  return e_top <= 250 && e_top - e_low <= kF32Span;
}

// From the 16-bit lanes' largest |bits| and smallest nonzero |bits| - 1 (0xffff: only zeros), the
// float bits block_window reads: top << 16, ((low + 1) << 16) - 1 (0xffffffff when all are zero).
inline BlockRange block_range_of16(std::uint32_t top16, std::uint32_t low16) {
  return {top16 << 16, low16 == 0xffffu ? 0xffffffffu : ((low16 + 1) << 16) - 1};
}

// What a bf16 float32 fast block does next, from its range: kept in window `window` as it is; or
// redone with a floor (`floor`: the smallest biased exponent kept; smaller terms go to the packed
// bins) when its largest term has a window but its smallest ones lie more than kF32Span binades
// lower or under that window (uniform data: about 1 block in 18; normal: 1 in 10) -- in
// one-window tiles only (W == 1: whose sample fits one window); or neither (window -1): the
// double lanes' fast block tries it.  `binades`: the level's window width.
struct F32Block {
  int window = -1;
  std::uint32_t floor = 0;  // 0: kept as it is
};
inline F32Block plan_f32_block(BlockRange r, std::uint32_t lo, std::uint32_t binades, int W) {
  F32Block p;
  p.window = block_fits_f32(r) ? block_window(r.top, r.low, lo, binades, W) : -1;
  if (const std::uint32_t e_top = r.top >> 23;
      p.window < 0 && W == 1 && e_top >= lo && e_top <= 250 && (e_top - lo) / binades < 1) {
    p.window = 0;
    p.floor = std::max(e_top > kF32Span ? e_top - kF32Span : 0u, lo);
  }
  return p;
}
// After a kept block: when more than 16 terms fell under its floor (not few even in a one-window
// tile), the next blocks skip the fast blocks as after a miss (a term into the packed bins costs
// about what a vector step does); else the backoff resets.
inline void after_f32_block(int outs, int& skip, int& backoff) {
  if (outs > 16) {
    skip = backoff;
    backoff = std::min(backoff * 2, 64);
  } else {
    backoff = 1;
  }
}

__attribute__((target("avx2"))) inline std::uint32_t hmax_epu32(__m256i v) {
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xb1));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(m));
}
__attribute__((target("avx2"))) inline std::uint32_t hmin_epu32(__m256i v) {
  __m128i m = _mm_min_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0xb1));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(m));
}

// 16 bf16 terms (two to a 32-bit word) widened into float32 lanes: the even ones by `w << 16`, the
// odd ones by `w & 0xffff0000` (both exact).  The float32 fast block's adds, and the flag-checked
// lanes' for bf16.
__attribute__((target("avx2"), always_inline)) inline void add_step8_f32(__m256i w, __m256& even, __m256& odd) {
  even = _mm256_add_ps(even, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  odd = _mm256_add_ps(odd, _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0xffff0000u)))));
}

// bf16's float32 fast block at AVX2 (see above): 16 terms a step.
__attribute__((target("avx2"), always_inline)) inline void fast_step8_f32(const bf16* p, __m256i& mx, __m256i& mn,
                                                                         __m256& even, __m256& odd) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i a = _mm256_and_si256(w, _mm256_set1_epi16(0x7fff));
  mx = _mm256_max_epu16(mx, a);
  mn = _mm256_min_epu16(mn, _mm256_sub_epi16(a, _mm256_set1_epi16(1)));  // |bits| - 1; a zero wraps to 0xffff
  add_step8_f32(w, even, odd);
}
// The same with a floor (floor_step512_f32): terms with |bits| below it to the packed bins, zeroed.
__attribute__((target("avx2"), always_inline)) inline void floor_step8_f32(const bf16* p, __m256i floor,
                                                                          std::uint64_t* packed, int& outs,
                                                                          __m256& even, __m256& odd) {
  __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i a = _mm256_and_si256(w, _mm256_set1_epi16(0x7fff));
  const __m256i keep = _mm256_cmpeq_epi16(_mm256_max_epu16(a, floor), a);  // a >= floor (unsigned)
  const __m256i zero = _mm256_cmpeq_epi16(a, _mm256_setzero_si256());
  // one bit a byte: a term's two bits are set together
  if (const auto out = static_cast<std::uint32_t>(~_mm256_movemask_epi8(_mm256_or_si256(keep, zero)))) [[unlikely]] {
    outs += __builtin_popcount(out) / 2;
    for (int k = 0; k < 16; ++k)
      if ((out >> (2 * k)) & 1) exact::add_packed(packed, term_value(p[k]));
    w = _mm256_and_si256(w, keep);
  }
  add_step8_f32(w, even, odd);
}
__attribute__((target("avx2"), always_inline)) inline BlockRange block_range16_avx2(__m256i mx, __m256i mn) {
  const __m256i half = _mm256_set1_epi32(0xffff);
  return block_range_of16(hmax_epu32(_mm256_max_epu32(_mm256_and_si256(mx, half), _mm256_srli_epi32(mx, 16))),
                          hmin_epu32(_mm256_min_epu32(_mm256_and_si256(mn, half), _mm256_srli_epi32(mn, 16))));
}

// Eight terms, W windows of 24 binades.  g[w] = (|bits| > ((lo + 24w) << 23) - 1), i.e. the term's
// exponent is at least window w's first one; the term is in window w when g[w] and not g[w+1],
// and its value goes to that window's two double accumulators.  Zeros (no g set) add nothing;
// other terms not in a window (below lo, above the top window, subnormals, specials) go to the
// packed bins.
__attribute__((target("avx2"), always_inline)) inline __m256i load_bits8(const float* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
__attribute__((target("avx2"), always_inline)) inline __m256i load_bits8(const bf16* p) {  // widened: a shift
  return _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16);
}

template <int W, class S>
__attribute__((target("avx2"), always_inline)) inline void windows_step(const S* p, const __m256i (&starts)[W + 1],
                                                                        std::uint64_t* packed, __m256d (&acc)[W][2]) {
  const __m256i b = load_bits8(p);
  const __m256i a = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
  __m256i g[W + 1];
#pragma GCC unroll 4
  for (int w = 0; w <= W; ++w) g[w] = _mm256_cmpgt_epi32(a, starts[w]);
  const __m256i in = _mm256_or_si256(_mm256_andnot_si256(g[W], g[0]), _mm256_cmpeq_epi32(a, _mm256_setzero_si256()));
  const int inside = _mm256_movemask_ps(_mm256_castsi256_ps(in));
  if (inside != 0xff) [[unlikely]]
    for (int k = 0; k < 8; ++k)
      if (!((inside >> k) & 1)) exact::add_packed(packed, term_value(p[k]));
#pragma GCC unroll 4
  for (int w = 0; w < W; ++w) {
    const __m256i m = _mm256_xor_si256(g[w], g[w + 1]);  // g[w + 1] implies g[w]
    const __m256 v = _mm256_castsi256_ps(_mm256_and_si256(b, m));
    acc[w][0] = _mm256_add_pd(acc[w][0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[w][1] = _mm256_add_pd(acc[w][1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
}

// AVX2 span (see Span): T = 27, G = 48.  A block gives each int32 lane 16 hi parts (below
// 16 * 2^27) and each double lane 16 lo parts (at most 8 = 2^51 steps of 2^-48): 52 binades.  AVX2
// has no rounding in the instruction: hi is rounded by MXCSR, so a tile takes the span only when
// MXCSR rounds to nearest (the default; span_rounds_to_nearest).
constexpr int kSpanT2 = 27, kSpanG2 = 48;
inline bool span_rounds_to_nearest() { return (_mm_getcsr() & 0x6000u) == 0; }

// Eight terms of a span block, as span_step512.
template <class S>
__attribute__((target("avx2"), always_inline)) inline void span_step(const S* p, __m256i bias, __m256i limit,
                                                                    __m256 scale, std::uint64_t* packed, __m256i& h,
                                                                    __m256d& l0, __m256d& l1) {
  __m256i b = load_bits8(p);
  const __m256i a = _mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff));
  // (a - base) <u limit, as a signed compare: bias = 2^31 - base, limit = (e_hi + 1 - e_lo) << 23 - 2^31.
  const __m256i in = _mm256_cmpgt_epi32(limit, _mm256_add_epi32(a, bias));
  const int inside = _mm256_movemask_ps(_mm256_castsi256_ps(in));
  if (inside != 0xff) [[unlikely]] {
    const int zero = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_setzero_si256())));
    const int out = ~(inside | zero) & 0xff;
    for (int k = 0; k < 8; ++k)
      if ((out >> k) & 1) exact::add_packed(packed, term_value(p[k]));
    b = _mm256_and_si256(b, in);
  }
  const __m256 y = _mm256_mul_ps(_mm256_castsi256_ps(b), scale);
  const __m256i hi = _mm256_cvtps_epi32(y);  // to nearest (MXCSR, checked per tile)
  h = _mm256_add_epi32(h, hi);
  const __m256 lo = _mm256_sub_ps(y, _mm256_cvtepi32_ps(hi));  // exact: hi is y's nearest integer
  l0 = _mm256_add_pd(l0, _mm256_cvtps_pd(_mm256_castps256_ps128(lo)));
  l1 = _mm256_add_pd(l1, _mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1)));
}

// The flag-checked span block (AVX2): its terms go into hi and lo unmasked and the block is kept
// only when it raised no MXCSR flag; otherwise it is redone masked (span_step).  hi = round(y) by
// VROUNDPS, which raises no inexact flag, so that inexact can only come from a lo part off the
// 2^-G grid (a term below the span; an on-grid one is exact wherever it lies), overflow from the
// probe y * 2^(128 - T) of a term at or above 2^T, invalid from Inf or NaN in the conversion, and
// denormal from a subnormal operand.  It saves the range check's four vector uops and its branch.
// Taken only when MXCSR is the default but for its flags (every exception masked, round to
// nearest, no flush-to-zero, no denormals-are-zero: DAZ would drop subnormal terms silently); the
// tile leaves MXCSR as it found it.
constexpr std::uint32_t kCsrFlags = 0x3fu, kCsrInexact = 0x20u;
// Where the AVX-512 flag-checked lanes split a term of a wide tile: lo = d - round(d, 2^-15).
constexpr int kLaneSplit = 15;
inline bool csr_is_default(std::uint32_t csr) { return (csr & ~kCsrFlags) == 0x1f80u; }

// The flags of a float tile's Inf and NaN terms (kSeen and kNotNegZero with them), from a mask of
// the specials among 16 terms at a time.
inline std::uint32_t special_flags_of(const float* p, unsigned mask) {
  std::uint32_t fl = 0;
  for (int k = 0; k < 16; ++k)
    if ((mask >> k) & 1) fl |= exact::term_flags(p[k]);
  return fl;
}
inline std::uint32_t special_flags_tail(const float* x, std::size_t i, std::size_t count) {
  std::uint32_t fl = 0;
  for (; i < count; ++i)
    if (exact::is_special(x[i])) fl |= exact::term_flags(x[i]);
  return fl;
}
// A bf16 tile's (AVX2 flag-checked lanes that took an Inf or NaN: rare, so one term at a time).
inline std::uint32_t special_flags_tail(const bf16* x, std::size_t i, std::size_t count) {
  std::uint32_t fl = 0;
  for (; i < count; ++i)
    if ((x[i].bits & 0x7f80u) == 0x7f80u) fl |= exact::term_flags(widen(x[i]));
  return fl;
}

template <class S>
__attribute__((target("avx2"), always_inline)) inline void span_step_flags(const S* p, __m256 scale, __m256 probe,
                                                                          __m256i& h, __m256d& l0, __m256d& l1,
                                                                          __m256& sink) {
  const __m256 y = _mm256_mul_ps(_mm256_castsi256_ps(load_bits8(p)), scale);
  sink = _mm256_mul_ps(y, probe);  // overflows (a flag) when |y| >= 2^T
  __asm__ volatile("" : "+x"(sink));  // each step's probe is live (the next step overwrites sink)
  const __m256 r = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  h = _mm256_add_epi32(h, _mm256_cvtps_epi32(r));  // exact: r is an integer below 2^T
  const __m256 lo = _mm256_sub_ps(y, r);            // exact, |lo| <= 1/2
  l0 = _mm256_add_pd(l0, _mm256_cvtps_pd(_mm256_castps256_ps128(lo)));
  l1 = _mm256_add_pd(l1, _mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1)));
}

// A span block's int32 hi lanes and lo doubles into the tile's int64 totals.
__attribute__((target("avx2"), always_inline)) inline void span_block_add(const __m256i (&h)[2], const __m256d (&l)[4],
                                                                          __m256i& hi, __m256i (&lo)[2]) {
#pragma GCC unroll 2
  for (int k = 0; k < 2; ++k) {
    hi = _mm256_add_epi64(hi, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(h[k])));
    hi = _mm256_add_epi64(hi, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(h[k], 1)));
    lo[0] = _mm256_add_epi64(lo[0], _mm256_castpd_si256(l[2 * k]));
    lo[1] = _mm256_add_epi64(lo[1], _mm256_castpd_si256(l[2 * k + 1]));
  }
}

__attribute__((target("avx2"))) std::uint32_t special_flags_f32_avx2(const float* x, std::size_t count) {
  const __m256i e = _mm256_set1_epi32(0x7f800000);
  std::uint32_t fl = 0;
  std::size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 8));
    const __m256i s0 = _mm256_cmpeq_epi32(_mm256_and_si256(b0, e), e), s1 = _mm256_cmpeq_epi32(_mm256_and_si256(b1, e), e);
    if (!_mm256_testz_si256(_mm256_or_si256(s0, s1), _mm256_or_si256(s0, s1))) [[unlikely]]
      fl |= special_flags_of(x + i, static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(s0)) |
                                                         _mm256_movemask_ps(_mm256_castsi256_ps(s1)) << 8));
  }
  return fl | special_flags_tail(x, i, count);
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
// The flag-checked lanes' blocks at AVX2 (windows_tile_avx2), as flag_blocks512: from block c on
// while their adds stay exact; returns the first block that raised inexact (the lanes as that
// block found them), or q.  Not inlined, for the same reason (the tile's state spilled its loads).
template <class S>
__attribute__((target("avx2"), noinline)) std::size_t flag_blocks256(const S* x, std::size_t q, std::size_t c,
                                                                     __m256d* lanes, std::uint32_t clean_csr,
                                                                     bool& csr_dirty) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
  constexpr std::size_t kChunk = 64;
  for (; c < q; c += kChunk) {
    const S* xs[4] = {x + c, x + q + c, x + 2 * q + c, x + 3 * q + c};
    __m256d u[8];
    // bf16: the block's terms first go into 32 float32 lanes (8 terms each, as its fast block,
    // without the range), which then go into the double lanes: 5 uops per 16 terms, against 9.
    // The double lanes are loaded only for those adds (held over the whole block, they left 4 of
    // the 16 registers and GCC spilled the block's terms), so the clear orders the float adds.
    __m256 f[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    if constexpr (!std::is_same_v<S, bf16>) {
      for (int r = 0; r < 8; ++r) u[r] = lanes[r];
      if (csr_dirty)
        __asm__ volatile("ldmxcsr %8"
                         : "+x"(u[0]), "+x"(u[1]), "+x"(u[2]), "+x"(u[3]), "+x"(u[4]), "+x"(u[5]), "+x"(u[6]),
                           "+x"(u[7])
                         : "m"(clean_csr));
    } else if (csr_dirty) {
      __asm__ volatile("ldmxcsr %4" : "+x"(f[0]), "+x"(f[1]), "+x"(f[2]), "+x"(f[3]) : "m"(clean_csr));
    }
    if constexpr (std::is_same_v<S, bf16>) {
      for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {  // streams 0-1 into f[0..1], 2-3 into f[2..3], as fast_step8_f32
          if (j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
          add_step8_f32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[k] + j)), f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
        }
      }
      for (int r = 0; r < 8; ++r) u[r] = lanes[r];
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        u[2 * r] = _mm256_add_pd(u[2 * r], _mm256_cvtps_pd(_mm256_castps256_ps128(f[r])));
        u[2 * r + 1] = _mm256_add_pd(u[2 * r + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(f[r], 1)));
      }
    } else
    for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const float* g = xs[k] + j;
        _mm_prefetch(reinterpret_cast<const char*>(g) + pf_bytes, _MM_HINT_T0);
        u[2 * k] = _mm256_add_pd(u[2 * k], _mm256_cvtps_pd(_mm_loadu_ps(g)));
        u[2 * k + 1] = _mm256_add_pd(u[2 * k + 1], _mm256_cvtps_pd(_mm_loadu_ps(g + 4)));
        u[2 * k] = _mm256_add_pd(u[2 * k], _mm256_cvtps_pd(_mm_loadu_ps(g + 8)));
        u[2 * k + 1] = _mm256_add_pd(u[2 * k + 1], _mm256_cvtps_pd(_mm_loadu_ps(g + 12)));
        __asm__("" : "+x"(u[2 * k]), "+x"(u[2 * k + 1]));  // as at AVX-512
      }
    }
    std::uint32_t after;
    __asm__ volatile("stmxcsr %0"
                     : "=m"(after), "+x"(u[0]), "+x"(u[1]), "+x"(u[2]), "+x"(u[3]), "+x"(u[4]), "+x"(u[5]),
                       "+x"(u[6]), "+x"(u[7]));
    csr_dirty = (after & kCsrInexact) != 0;
    if (!csr_dirty) {
      for (int r = 0; r < 8; ++r) lanes[r] = u[r];
      continue;
    }
    break;  // this block raised inexact: the tile redoes it
  }
  return c;
}

template <int W, class S>
__attribute__((target("avx2"))) void windows_tile_avx2(const S* x, std::size_t count, std::uint32_t lo,
                                                       const Span& sp, std::int64_t* bins, std::uint64_t* packed,
                                                       std::uint32_t& flags) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
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
  // MXCSR as the tile found it, and the same without its flags: the flag-checked lanes (f32 and bf16;
  // exact_simd.h: 32 double lanes kept over the tile's blocks) and span clear and read its flags,
  // and the tile's end restores it.
  const std::uint32_t csr = _mm_getcsr(), clean_csr = csr & ~kCsrFlags;
  const bool flag_lanes = csr_is_default(csr) && exact_flag_paths();  // f32 and bf16
  __m256d lanes[8];
  for (auto& v : lanes) v = _mm256_setzero_pd();
  const std::size_t full = count / 8 * 8;
  std::size_t i = 0;
  {
    // Four streams, one per quarter of the tile, read side by side (as the AVX-512 loop): a block
    // is 64 terms of each stream, 16 terms per double lane (below 2^51 units: windows_flush).
    constexpr std::size_t kChunk = 64;
    const std::size_t q = full / (4 * kChunk) * kChunk;
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), ones = _mm256_set1_epi32(-1);
    // The span (when sp.ok): its constants, its per-tile int64 totals and how often they took a block.
    const __m256i sbias = _mm256_set1_epi32(static_cast<int>(0x80000000u - (sp.e_lo << 23)));
    const __m256i slimit = _mm256_set1_epi32(static_cast<int>(((sp.e_hi + 1 - sp.e_lo) << 23) - 0x80000000u));
    const __m256 scale = _mm256_set1_ps(std::ldexp(1.0f, sp.k));
    const __m256d smagic = _mm256_set1_pd(std::ldexp(1.5, 52 - kSpanG2));
    __m256i span_hi = _mm256_setzero_si256(), span_lo[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    std::uint64_t span_blocks = 0;
    // Blocks to take the per-term path after a block missed one window.  When the tile's sample
    // already needs more than one window (W > 1) a block of 256 terms rarely fits in one, so the
    // first try waits as long as the longest backoff (each failed try costs most of a block).
    int skip = W > 1 ? 64 : 0, backoff = W > 1 ? 64 : 1;
    // The flag-checked span (span_step_flags), and the blocks to take the masked span after a
    // flagged one, as skip and backoff.
    const bool flag_span = sp.ok && csr_is_default(csr) && exact_flag_paths();
    const __m256 probe = _mm256_set1_ps(std::ldexp(1.0f, 128 - kSpanT2));
    int span_skip = 0, span_backoff = 1;
    // The flag-checked lanes' state, as at AVX-512.
    bool csr_dirty = true;
    int lane_skip = skip, lane_backoff = backoff;
    for (std::size_t c = 0; c < q; c += kChunk) {
      if (flag_lanes && lane_skip == 0) {
        // As at AVX-512 (flag_blocks256): every term into the lanes, kept when no add raised inexact.
        const std::size_t stop = flag_blocks256<S>(x, q, c, lanes, clean_csr, csr_dirty);
        if (stop != c) lane_backoff = 1;
        if (stop >= q) break;  // every block kept
        c = stop;  // the block to redo
        lane_skip = lane_backoff;  // redo this block below; skip the next lane_backoff - 1 tries
        lane_backoff = std::min(lane_backoff * 2, 64);
      }
      const S* xs[4] = {x + c, x + q + c, x + 2 * q + c, x + 3 * q + c};
      --lane_skip;
      if (skip == 0) {
        if constexpr (std::is_same_v<S, bf16>) {
          // bf16 first tries its float32 fast block, as at AVX-512: 4 float vectors, each lane 8
          // terms (2 streams x 4 steps), widened into the block's 16 double lanes (16 terms each,
          // as below) and flushed to the window's int64 lanes.
          __m256 f[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
          __m256i mx = _mm256_setzero_si256(), mn = ones;
          for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
              if (j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
              fast_step8_f32(xs[k] + j, mx, mn, f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
            }
          }
          const F32Block plan = plan_f32_block(block_range16_avx2(mx, mn), lo, kWindowBinades2, W);
          const int bw = plan.window;
          int outs = 0;
          if (plan.floor) {  // redone with a floor (plan_f32_block)
            const __m256i floor = _mm256_set1_epi16(static_cast<short>(plan.floor << 7));
            for (auto& v : f) v = _mm256_setzero_ps();
            for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
              for (int k = 0; k < 4; ++k)
                floor_step8_f32(xs[k] + j, floor, packed, outs, f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
            }
          }
          if (bw >= 0) {
#pragma GCC unroll 4
            for (int w = 0; w < W; ++w)
              if (w == bw) {
                __m256d a0[1][2], a1[1][2];
#pragma GCC unroll 2
                for (int h = 0; h < 2; ++h) {  // streams 0-1 into a0, 2-3 into a1
                  __m256d(&a)[1][2] = h == 0 ? a0 : a1;
                  const __m256 e = f[2 * h], o = f[2 * h + 1];
                  a[0][0] = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_castps256_ps128(o)));
                  a[0][1] = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(o, 1)));
                }
                __m256i s0[1][2] = {{total0[w][0], total0[w][1]}}, s1[1][2] = {{total1[w][0], total1[w][1]}};
                const __m256d m[1] = {magic[w]};
                windows_flush<1>(m, a0, s0);
                windows_flush<1>(m, a1, s1);
                total0[w][0] = s0[0][0];
                total0[w][1] = s0[0][1];
                total1[w][0] = s1[0][0];
                total1[w][1] = s1[0][1];
              }
            after_f32_block(outs, skip, backoff);
            continue;
          }
          // Its largest term in no window (or Inf, NaN, over 2^124): the double lanes' fast block
          // below tries it.
        }
        // Fast block (see exact_simd.h): every term into one set of double lanes, unmasked, with
        // the block's largest |bits| and smallest nonzero |bits| - 1; kept only when the whole
        // block lies in one window.
        __m256d t[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
        __m256i mx = _mm256_setzero_si256(), mn = ones;
        for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            const S* f = xs[k] + j;
            if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(f) + pf_bytes, _MM_HINT_T0);
            const __m256i b0 = load_bits8(f), b1 = load_bits8(f + 8);
            const __m256i a0 = _mm256_and_si256(b0, abs_mask), a1 = _mm256_and_si256(b1, abs_mask);
            mx = _mm256_max_epu32(mx, _mm256_max_epu32(a0, a1));
            mn = _mm256_min_epu32(mn, _mm256_min_epu32(_mm256_add_epi32(a0, ones), _mm256_add_epi32(a1, ones)));
            __m256d& u0 = t[2 * (k & 1)];
            __m256d& u1 = t[2 * (k & 1) + 1];
            if constexpr (sizeof(S) == 4) {  // the loads fold into the conversions
              const float* g = reinterpret_cast<const float*>(f);
              u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(g)));
              u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm_loadu_ps(g + 4)));
              u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(g + 8)));
              u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm_loadu_ps(g + 12)));
            } else {
              const __m256 v0 = _mm256_castsi256_ps(b0), v1 = _mm256_castsi256_ps(b1);
              u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm256_castps256_ps128(v0)));
              u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1)));
              u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm256_castps256_ps128(v1)));
              u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm256_extractf128_ps(v1, 1)));
            }
          }
        }
        const std::uint32_t top = hmax_epu32(mx), low = hmin_epu32(mn);  // low: min nonzero |bits| - 1
        const int bw = block_window(top, low, lo, kWindowBinades2, W);
        if (bw >= 0) {
#pragma GCC unroll 4
          for (int w = 0; w < W; ++w)
            if (w == bw) {
              __m256d a0[1][2] = {{t[0], t[1]}}, a1[1][2] = {{t[2], t[3]}};
              __m256i s0[1][2] = {{total0[w][0], total0[w][1]}}, s1[1][2] = {{total1[w][0], total1[w][1]}};
              const __m256d m[1] = {magic[w]};
              windows_flush<1>(m, a0, s0);
              windows_flush<1>(m, a1, s1);
              total0[w][0] = s0[0][0];
              total0[w][1] = s0[0][1];
              total1[w][0] = s1[0][0];
              total1[w][1] = s1[0][1];
            }
          backoff = 1;
          continue;
        }
        skip = backoff;  // redo this block term by term; skip the next backoff - 1 blocks' try
        backoff = std::min(backoff * 2, 64);
      }
      --skip;
      if (sp.ok) {
        // Span block: streams 0 and 2 share one int32 hi vector and two double lo vectors, as do
        // streams 1 and 3 (16 terms a lane).
        __m256i h[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        __m256d l[4] = {smagic, smagic, smagic, smagic};
        if (flag_span) {
          if (span_skip == 0) {
            // The flags are cleared before the block's first multiply and read after its last
            // add: the asm statements take the vectors those depend on, so nothing moves across.
            __m256 fscale = scale, fprobe = probe, sink = _mm256_setzero_ps();
            __asm__ volatile("ldmxcsr %2" : "+x"(fscale), "+x"(fprobe) : "m"(clean_csr));
            for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
              for (int k = 0; k < 4; ++k) {
                if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
                __m256i& hk = h[k & 1];
                __m256d &l0 = l[2 * (k & 1)], &l1 = l[2 * (k & 1) + 1];
                span_step_flags(xs[k] + j, fscale, fprobe, hk, l0, l1, sink);
                span_step_flags(xs[k] + j + 8, fscale, fprobe, hk, l0, l1, sink);
                // Keeps GCC from hoisting later steps' conversions above these adds (it then
                // spills them); no arithmetic changes.
                __asm__("" : "+x"(hk), "+x"(l0), "+x"(l1), "+x"(sink));
              }
            }
            std::uint32_t after;
            __asm__ volatile("stmxcsr %0"
                             : "=m"(after)
                             : "x"(h[0]), "x"(h[1]), "x"(l[0]), "x"(l[1]), "x"(l[2]), "x"(l[3]), "x"(sink));
            if ((after & kCsrFlags) == 0) {
              span_block_add(h, l, span_hi, span_lo);
              ++span_blocks;
              span_backoff = 1;
              continue;
            }
            span_skip = span_backoff;  // redo this block masked; skip the next tries as the windows do
            span_backoff = std::min(span_backoff * 2, 64);
            h[0] = h[1] = _mm256_setzero_si256();
            l[0] = l[1] = l[2] = l[3] = smagic;
          }
          --span_skip;
        }
        for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
            span_step(xs[k] + j, sbias, slimit, scale, packed, h[k & 1], l[2 * (k & 1)], l[2 * (k & 1) + 1]);
            span_step(xs[k] + j + 8, sbias, slimit, scale, packed, h[k & 1], l[2 * (k & 1)], l[2 * (k & 1) + 1]);
          }
        }
        span_block_add(h, l, span_hi, span_lo);
        ++span_blocks;
        continue;
      }
      for (std::size_t j = 0; j < kChunk; j += 8) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          if (j % (64 / sizeof(S)) == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
          if (k & 1) windows_step<W>(xs[k] + j, starts, packed, acc1);
          else windows_step<W>(xs[k] + j, starts, packed, acc0);
        }
      }
      windows_flush<W>(magic, acc0, total0);
      windows_flush<W>(magic, acc1, total1);
    }
    if (span_blocks) {
      alignas(32) std::int64_t hi_lanes[4], lo_lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(hi_lanes), span_hi);
      _mm256_store_si256(reinterpret_cast<__m256i*>(lo_lanes), span_lo[0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(lo_lanes + 4), span_lo[1]);
      // Each lo lane took 2 doubles per span block, each starting at the magic value.
      const std::uint64_t bias = 2 * span_blocks * to_bits(std::ldexp(1.5, 52 - kSpanG2));
      add_span(hi_lanes, 4, lo_lanes, 8, bias, sp, kSpanG2, bins);
    }
    i = 4 * q;
  }
  while (i + 16 <= full) {
    const std::size_t end = std::min(full / 16 * 16, i + kFlushTerms);
    for (; i < end; i += 16) {
      _mm_prefetch(reinterpret_cast<const char*>(x + i) + pf_bytes, _MM_HINT_T0);  // as the AVX-512 loop
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
  for (i = full; i < count; ++i) exact::add_packed(packed, term_value(x[i]));
  if (csr_is_default(csr)) __asm__ volatile("ldmxcsr %0" : : "m"(csr));  // as the tile found it
  if (flag_lanes) {
    alignas(32) double v[32];
    for (int r = 0; r < 8; ++r) _mm256_store_pd(v + 4 * r, lanes[r]);
    // As at AVX-512: a non-finite lane took an Inf or NaN, which decides the sum.
    if (std::all_of(v, v + 32, [](double d) { return std::isfinite(d); })) add_exact_lanes(v, 32, bins);
    else if constexpr (std::is_same_v<S, float>) flags |= special_flags_f32_avx2(x, count);
    else flags |= special_flags_tail(x, 0, count);
  }
  for (int w = 0; w < W; ++w) {
    alignas(32) std::int64_t lanes[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total0[w][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 4), total0[w][1]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 8), total1[w][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 12), total1[w][1]);
    add_int_lanes(lanes, 16, lo + kWindowBinades2 * static_cast<std::uint32_t>(w), bins);
  }
}

template <class S>
__attribute__((target("avx2"))) bool exact_tile_windows_avx2(const S* x, std::size_t count, std::int64_t* bins,
                                                             std::uint64_t* packed, std::uint32_t& flags) {
  const Sample sample = sample_of(x, count);
  const Windows w = windows_for(sample, kWindowBinades2, kMaxWindows2);
  Span sp = span_for(sample, kSpanT2, kSpanG2);
  sp.ok = sp.ok && span_rounds_to_nearest();
  switch (w.count) {
    case 1: windows_tile_avx2<1>(x, count, w.lo, sp, bins, packed, flags); break;
    case 2: windows_tile_avx2<2>(x, count, w.lo, sp, bins, packed, flags); break;
    case 3: windows_tile_avx2<3>(x, count, w.lo, sp, bins, packed, flags); break;
    default: return false;
  }
  if (count) flags |= exact::kSeen;
  return true;
}

__attribute__((target("avx2"))) bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins,
                                                          std::uint64_t* packed, std::uint32_t& flags) {
  return exact_tile_windows_avx2(x, count, bins, packed, flags);
}
__attribute__((target("avx2"))) bool exact_tile_bf16_windows_avx2(const bf16* x, std::size_t count, std::int64_t* bins,
                                                                   std::uint64_t* packed, std::uint32_t& flags) {
  return exact_tile_windows_avx2(x, count, bins, packed, flags);
}

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which trips a false
// -Wmaybe-uninitialized inside the headers themselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Sixteen terms, with mask registers: as windows_step, each window's terms by a masked add.
__attribute__((target("avx512f"), always_inline)) inline __m512i load_bits16(const float* p) {
  return _mm512_loadu_si512(p);
}
__attribute__((target("avx512f"), always_inline)) inline __m512i load_bits16(const bf16* p) {  // widened: a shift
  return _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16);
}

// Sixteen terms of a fast block: |bits| into the block's max and (min - 1), the values into two
// double lane vectors.
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void fast_step512(const float* p, __m512i abs_mask,
                                                                                   __m512i ones, __m512i& mx, __m512i& mn,
                                                                                   __m512d& t0, __m512d& t1) {
  const __m512i a = _mm512_and_si512(_mm512_loadu_si512(p), abs_mask);
  mx = _mm512_max_epu32(mx, a);
  mn = _mm512_min_epu32(mn, _mm512_add_epi32(a, ones));  // |bits| - 1: a zero wraps to the top
  t0 = _mm512_add_pd(t0, _mm512_cvtps_pd(_mm256_loadu_ps(p)));  // the loads fold into the conversions
  t1 = _mm512_add_pd(t1, _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)));
}
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void fast_step512(const bf16* p, __m512i abs_mask,
                                                                                   __m512i ones, __m512i& mx, __m512i& mn,
                                                                                   __m512d& t0, __m512d& t1) {
  const __m512i b = load_bits16(p);
  const __m512i a = _mm512_and_si512(b, abs_mask);
  mx = _mm512_max_epu32(mx, a);
  mn = _mm512_min_epu32(mn, _mm512_add_epi32(a, ones));
  const __m512 v = _mm512_castsi512_ps(b);
  t0 = _mm512_add_pd(t0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  t1 = _mm512_add_pd(t1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

// 32 bf16 terms into float32 lanes, as add_step8_f32.
__attribute__((target("avx512f"), always_inline)) inline void add_step512_f32(__m512i w, __m512& even, __m512& odd) {
  even = _mm512_add_ps(even, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  odd = _mm512_add_ps(odd, _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(static_cast<int>(0xffff0000u)))));
}

__attribute__((target("avx512f,avx512bw"), always_inline)) inline void fast_step512_f32(const bf16* p, __m512i& mx,
                                                                                       __m512i& mn, __m512& even,
                                                                                       __m512& odd) {
  const __m512i w = _mm512_loadu_si512(p);
  const __m512i a = _mm512_and_si512(w, _mm512_set1_epi16(0x7fff));
  mx = _mm512_max_epu16(mx, a);
  mn = _mm512_min_epu16(mn, _mm512_sub_epi16(a, _mm512_set1_epi16(1)));  // |bits| - 1; a zero wraps to 0xffff
  add_step512_f32(w, even, odd);
}

// The same step for a block redone with a floor: terms with |bits| below `floor` (exponents under
// the block's float32 span, or under its window) go to the packed bins one by one and are zeroed;
// `outs` counts them.
__attribute__((target("avx512f,avx512bw"), always_inline)) inline void floor_step512_f32(const bf16* p, __m512i floor,
                                                                                        std::uint64_t* packed, int& outs,
                                                                                        __m512& even, __m512& odd) {
  __m512i w = _mm512_loadu_si512(p);
  const __m512i a = _mm512_and_si512(w, _mm512_set1_epi16(0x7fff));
  const __mmask32 keep = _mm512_cmpge_epu16_mask(a, floor);
  if (const auto out = static_cast<std::uint32_t>(~keep & _mm512_test_epi16_mask(a, a))) [[unlikely]] {
    outs += __builtin_popcount(out);
    for (int k = 0; k < 32; ++k)
      if ((out >> k) & 1) exact::add_packed(packed, term_value(p[k]));
    w = _mm512_maskz_mov_epi16(keep, w);
  }
  add_step512_f32(w, even, odd);
}

__attribute__((target("avx512f,avx512bw"), always_inline)) inline BlockRange block_range16(__m512i mx, __m512i mn) {
  const __m512i half = _mm512_set1_epi32(0xffff);
  const std::uint32_t top = _mm512_reduce_max_epu32(_mm512_max_epu32(_mm512_and_si512(mx, half), _mm512_srli_epi32(mx, 16)));
  const std::uint32_t low = _mm512_reduce_min_epu32(_mm512_min_epu32(_mm512_and_si512(mn, half), _mm512_srli_epi32(mn, 16)));
  return block_range_of16(top, low);
}

__attribute__((target("avx512f"))) std::uint32_t special_flags_f32_avx512(const float* x, std::size_t count) {
  const __m512i e = _mm512_set1_epi32(0x7f800000);
  std::uint32_t fl = 0;
  std::size_t i = 0;
  for (; i + 16 <= count; i += 16)
    if (const __mmask16 m = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512(x + i), e), e)) [[unlikely]]
      fl |= special_flags_of(x + i, m);
  return fl | special_flags_tail(x, i, count);
}

// The flag-checked lanes at the end of a tile: eight vectors of exact double lane sums, added
// into one (kept when no add raised inexact; else all 64 lanes go in one by one), then into the
// bins (add_exact_lanes).  False, with no bins, when a lane is Inf or NaN: their sum is then not
// finite either (finite lanes cannot overflow it).  Leaves MXCSR's flags dirty.
__attribute__((target("avx512f"))) bool flush_lanes512(const __m512d* lanes, std::uint32_t clean_csr,
                                                       std::int64_t* bins) {
  __m512d t[4] = {lanes[0], lanes[1], lanes[2], lanes[3]};
  const __m512d t4 = lanes[4], t5 = lanes[5], t6 = lanes[6], t7 = lanes[7];
  __asm__ volatile("ldmxcsr %4" : "+v"(t[0]), "+v"(t[1]), "+v"(t[2]), "+v"(t[3]) : "m"(clean_csr));
  __m512d sum = _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(t[0], t4), _mm512_add_pd(t[1], t5)),
                              _mm512_add_pd(_mm512_add_pd(t[2], t6), _mm512_add_pd(t[3], t7)));
  std::uint32_t after;
  __asm__ volatile("stmxcsr %0" : "=m"(after), "+v"(sum));
  alignas(64) double v[64];
  _mm512_store_pd(v, sum);
  if (!std::all_of(v, v + 8, [](double d) { return std::isfinite(d); })) return false;
  if ((after & kCsrInexact) == 0) {
    add_exact_lanes(v, 8, bins);
  } else {
    for (int r = 0; r < 8; ++r) _mm512_store_pd(v + 8 * r, lanes[r]);
    add_exact_lanes(v, 64, bins);
  }
  return true;
}

template <int W, class S>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void windows_step512(const S* p, __m512i base,
                                                                                       __m512i limit,
                                                                                       std::uint64_t* packed,
                                                                                       __m512d (&acc)[W][2]) {
  const __m512i b = load_bits16(p);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __m512i d = _mm512_sub_epi32(a, base);
  const __mmask16 in = _mm512_cmplt_epu32_mask(d, limit) | _mm512_testn_epi32_mask(a, a);
  if (in != 0xffff) [[unlikely]]
    for (int k = 0; k < 16; ++k)
      if (!((in >> k) & 1)) exact::add_packed(packed, term_value(p[k]));
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

// AVX-512 span (see Span): T = 28, G = 49.  A block gives each int32 lane 8 hi parts (below
// 8 * 2^28) and each double lane 8 lo parts (at most 4 = 2^51 steps of 2^-49): 54 binades.
constexpr int kSpanT512 = 28, kSpanG512 = 49;

// Sixteen terms of a span block: the terms outside the span (zeros aside) go to the packed bins
// and are zeroed; hi rounded with the rounding given in the instruction (MXCSR plays no part).
template <class S>
__attribute__((target("avx512f,avx512dq"), always_inline)) inline void span_step512(const S* p, __m512i base,
                                                                                   __m512i limit, __m512 scale,
                                                                                   std::uint64_t* packed, __m512i& h,
                                                                                   __m512d& l0, __m512d& l1) {
  const __m512i b = load_bits16(p);
  const __m512i a = _mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 in = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(a, base), limit);
  if (in != 0xffff) [[unlikely]] {
    const auto out = static_cast<unsigned>(static_cast<__mmask16>(~in) & _mm512_test_epi32_mask(a, a));
    for (int k = 0; k < 16; ++k)
      if ((out >> k) & 1) exact::add_packed(packed, term_value(p[k]));
  }
  const __m512 y = _mm512_maskz_mul_ps(in, _mm512_castsi512_ps(b), scale);
  const __m512i hi = _mm512_cvt_roundps_epi32(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  h = _mm512_add_epi32(h, hi);
  // lo = y - (y rounded to nearest-even integer): VREDUCEPS with M = 0 and the same rounding as hi,
  // one instruction for cvtdq2ps + subps (exact: hi is y's nearest integer, so |lo| <= 1/2).
  const __m512 lo = _mm512_reduce_round_ps(y, _MM_FROUND_TO_NEAREST_INT, _MM_FROUND_NO_EXC);
  l0 = _mm512_add_pd(l0, _mm512_cvtps_pd(_mm512_castps512_ps256(lo)));
  l1 = _mm512_add_pd(l1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(lo, 1)));
}

// The flag-checked lanes' blocks (windows_tile_avx512), from block c on while their adds stay
// exact: returns the first block that raised inexact (the lanes as that block found them), or q.
// A function of its own, not inlined into the tile: there GCC kept the tile's window, span and
// lane state live across this loop and spilled the block's loads to the stack.
template <class S, bool kSplit>
__attribute__((target("avx512f,avx512dq,avx512bw"), noinline)) std::size_t flag_blocks512(
    const S* x, std::size_t q, std::size_t c, __m512d* lanes, std::uint32_t clean_csr, bool& csr_dirty) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
  constexpr std::size_t kChunk = 128;
  for (; c < q; c += kChunk) {
    const S* xs[4] = {x + c, x + q + c, x + 2 * q + c, x + 3 * q + c};
    __m512d u[8], v[8];  // u: the terms (one-window tiles) or their hi parts; v: lo parts
    for (int r = 0; r < 8; ++r) u[r] = lanes[r];
    if constexpr (kSplit)
      for (int r = 0; r < 8; ++r) v[r] = lanes[8 + r];
    // bf16: the block's terms first go into 64 float32 lanes, 8 terms each (as its fast
    // block, without the range), whose sums then go into the double lanes (as f32 terms).
    __m512 f[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    if (csr_dirty)
      __asm__ volatile("ldmxcsr %8"
                       : "+v"(u[0]), "+v"(u[1]), "+v"(u[2]), "+v"(u[3]), "+v"(u[4]), "+v"(u[5]), "+v"(u[6]),
                         "+v"(u[7])
                       : "m"(clean_csr));
    if constexpr (std::is_same_v<S, bf16>)  // f's adds after the clear too
      __asm__("" : "+v"(f[0]), "+v"(f[1]), "+v"(f[2]), "+v"(f[3]) : "v"(u[0]));
    if constexpr (kSplit)  // v's adds after the clear too
      __asm__("" : "+v"(v[0]), "+v"(v[1]), "+v"(v[2]), "+v"(v[3]), "+v"(v[4]), "+v"(v[5]), "+v"(v[6]), "+v"(v[7]) : "v"(u[0]));
    if constexpr (std::is_same_v<S, bf16>) {
      for (std::size_t j = 0; j < kChunk; j += 32) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {  // streams 0-1 into f[0..1], 2-3 into f[2..3], as fast_step512_f32
          _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
          add_step512_f32(_mm512_loadu_si512(xs[k] + j), f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {  // one-window tiles only (flag_lanes): no split
        u[2 * r] = _mm512_add_pd(u[2 * r], _mm512_cvtps_pd(_mm512_castps512_ps256(f[r])));
        u[2 * r + 1] = _mm512_add_pd(u[2 * r + 1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(f[r], 1)));
      }
    } else
    for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const float* g = xs[k] + j;
        _mm_prefetch(reinterpret_cast<const char*>(g) + pf_bytes, _MM_HINT_T0);
        const __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(g)), d1 = _mm512_cvtps_pd(_mm256_loadu_ps(g + 8));
        if constexpr (kSplit) {
          const __m512d l0 = _mm512_reduce_round_pd(d0, kLaneSplit << 4, _MM_FROUND_NO_EXC);
          const __m512d l1 = _mm512_reduce_round_pd(d1, kLaneSplit << 4, _MM_FROUND_NO_EXC);
          u[2 * k] = _mm512_add_pd(u[2 * k], _mm512_sub_pd(d0, l0));
          u[2 * k + 1] = _mm512_add_pd(u[2 * k + 1], _mm512_sub_pd(d1, l1));
          v[2 * k] = _mm512_add_pd(v[2 * k], l0);
          v[2 * k + 1] = _mm512_add_pd(v[2 * k + 1], l1);
          __asm__("" : "+v"(v[2 * k]), "+v"(v[2 * k + 1]));
        } else {
          u[2 * k] = _mm512_add_pd(u[2 * k], d0);
          u[2 * k + 1] = _mm512_add_pd(u[2 * k + 1], d1);
        }
        // Keeps GCC from hoisting later steps' conversions above these adds (it then spills
        // them, as at AVX2); no arithmetic changes.
        __asm__("" : "+v"(u[2 * k]), "+v"(u[2 * k + 1]));
      }
    }
    std::uint32_t after;
    if constexpr (kSplit)
      __asm__ volatile("stmxcsr %0"
                       : "=m"(after), "+v"(u[0]), "+v"(u[1]), "+v"(u[2]), "+v"(u[3]), "+v"(u[4]), "+v"(u[5]),
                         "+v"(u[6]), "+v"(u[7])
                       : "v"(v[0]), "v"(v[1]), "v"(v[2]), "v"(v[3]), "v"(v[4]), "v"(v[5]), "v"(v[6]), "v"(v[7]));
    else
      __asm__ volatile("stmxcsr %0"
                       : "=m"(after), "+v"(u[0]), "+v"(u[1]), "+v"(u[2]), "+v"(u[3]), "+v"(u[4]), "+v"(u[5]),
                         "+v"(u[6]), "+v"(u[7]));
    csr_dirty = (after & kCsrInexact) != 0;
    if (!csr_dirty) {
      for (int r = 0; r < 8; ++r) lanes[r] = u[r];
      if constexpr (kSplit)
        for (int r = 0; r < 8; ++r) lanes[8 + r] = v[r];
      continue;
    }
    break;  // this block raised inexact
  }
  return c;
}

// kSplitLanes: whether a float tile of more than one window takes the split lanes.  A template
// argument, and not inlined into exact_tile_windows_avx512: a tile without them then keeps its
// span loop free of their code (measured on Zen 4, one illcond tile: 0.91-0.94x the time of the
// same choice made at run time, or of both forms inlined into one function).
template <int W, class S, bool kSplitLanes>
__attribute__((target("avx512f,avx512dq,avx512bw"), noinline)) void windows_tile_avx512(const S* x, std::size_t count,
                                                                     std::uint32_t lo, const Span& sp,
                                                                     std::int64_t* bins, std::uint64_t* packed,
                                                                     std::uint32_t& flags) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
  const __m512i base = _mm512_set1_epi32(static_cast<int>(lo << 23));
  const __m512i limit = _mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(W) << 27));
  __m512d acc0[W][2], acc1[W][2];  // 32 lanes per window, at most 2^11 terms each
  for (int w = 0; w < W; ++w) acc0[w][0] = acc0[w][1] = acc1[w][0] = acc1[w][1] = _mm512_setzero_pd();
  // The flag-checked lanes (f32 and bf16; exact_simd.h): 64 double lanes kept over the tile's
  // blocks; MXCSR as found, and the same without its flags.
  // Tiles of more than one window split each term at 2^-kLaneSplit (exact_simd.h): lanes 0-7 the
  // hi parts, 8-15 the lo parts.  bf16 takes the lanes in one-window tiles only: its float32 lanes
  // of 8 terms are rarely exact in wider ones (measured: illcond 0.96-1.09x with them).
  constexpr bool kSplit = W > 1;
  const std::uint32_t csr = _mm_getcsr(), clean_csr = csr & ~kCsrFlags;
  const bool flag_lanes = csr_is_default(csr) && exact_flag_paths() &&
                          (std::is_same_v<S, float> ? kSplitLanes || !kSplit : !kSplit);
  __m512d lanes[16];
  for (auto& v : lanes) v = _mm512_setzero_pd();
  const std::size_t full = count / 16 * 16;
  std::size_t i = 0;
  {
    // Four streams, one per quarter of the tile, read side by side (as the tree's 32 rows): one
    // sequential stream per thread keeps too few lines in flight (measured: the loop stalls on
    // its loads).  A block is 128 terms of each stream: 16 terms per double lane.
    constexpr std::size_t kChunk = 128;
    const std::size_t q = full / (4 * kChunk) * kChunk;
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), ones = _mm512_set1_epi32(-1);
    // The span (when sp.ok): its constants, its per-tile int64 totals and how often they took a block.
    const __m512i sbase = _mm512_set1_epi32(static_cast<int>(sp.e_lo << 23));
    const __m512i slimit = _mm512_set1_epi32(static_cast<int>((sp.e_hi + 1 - sp.e_lo) << 23));
    const __m512 scale = _mm512_set1_ps(std::ldexp(1.0f, sp.k));
    const __m512d magic = _mm512_set1_pd(std::ldexp(1.5, 52 - kSpanG512));
    __m512i span_hi = _mm512_setzero_si512(), span_lo[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    std::uint64_t span_blocks = 0;
    int skip = W > 1 ? 64 : 0, backoff = W > 1 ? 64 : 1;  // as the AVX2 loop
    // The flag-checked lanes' state: whether MXCSR's flags must be cleared before the next try,
    // and the blocks to skip the try after one that raised inexact (as skip and backoff).
    bool csr_dirty = true;
    int lane_skip = 0, lane_backoff = 1;
    for (std::size_t c = 0; c < q; c += kChunk) {
      if (flag_lanes && lane_skip == 0) {
        // Every term into the lanes, unmasked; a block is kept when no add raised inexact
        // (flag_blocks512).  A block that was not: redo it below; skip the next lane_backoff - 1
        // tries.
        const std::size_t stop = flag_blocks512<S, kSplit>(x, q, c, lanes, clean_csr, csr_dirty);
        if (stop != c) lane_backoff = 1;
        if (stop >= q) break;
        c = stop;
        lane_skip = lane_backoff;
        lane_backoff = std::min(lane_backoff * 2, 64);
      }
      const S* xs[4] = {x + c, x + q + c, x + 2 * q + c, x + 3 * q + c};
      --lane_skip;
      if (skip == 0) {
        if constexpr (std::is_same_v<S, bf16>) {
          // bf16 first tries its float32 fast block (fast_step512_f32): 4 float vectors, each lane 8
          // terms (2 streams x 4 steps); kept when the block lies in one window and fits float32,
          // then widened into the window's double lanes, 16 terms a double lane (as below).
          __m512 f[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
          __m512i mx = _mm512_setzero_si512(), mn = ones;
          for (std::size_t j = 0; j < kChunk; j += 32) {
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
              _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
              fast_step512_f32(xs[k] + j, mx, mn, f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
            }
          }
          const F32Block plan = plan_f32_block(block_range16(mx, mn), lo, kWindowBinades, W);
          const int bw = plan.window;
          int outs = 0;
          if (plan.floor) {  // redone with a floor (plan_f32_block)
            const __m512i floor = _mm512_set1_epi16(static_cast<short>(plan.floor << 7));
            for (auto& v : f) v = _mm512_setzero_ps();
            for (std::size_t j = 0; j < kChunk; j += 32) {
#pragma GCC unroll 4
              for (int k = 0; k < 4; ++k)
                floor_step512_f32(xs[k] + j, floor, packed, outs, f[2 * (k >> 1)], f[2 * (k >> 1) + 1]);
            }
          }
          if (bw >= 0) {
#pragma GCC unroll 4
            for (int w = 0; w < W; ++w)
              if (w == bw) {
#pragma GCC unroll 2
                for (int h = 0; h < 2; ++h) {  // streams 0-1 into acc0, 2-3 into acc1
                  __m512d(&acc)[2] = h == 0 ? acc0[w] : acc1[w];
                  const __m512 e = f[2 * h], o = f[2 * h + 1];
                  acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
                  acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
                  acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(o)));
                  acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(o, 1)));
                }
              }
            after_f32_block(outs, skip, backoff);
            continue;
          }
          // Its largest term in no window (or Inf, NaN, over 2^124): the double lanes' fast block
          // below tries it, and fails over to the span or the windows.
        }
        // Fast block (see exact_simd.h): every term into one set of double lanes, unmasked, with
        // the block's largest |bits| and smallest nonzero |bits| - 1; kept only when the whole
        // block lies in one window.
        __m512d t[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
        __m512i mx = _mm512_setzero_si512(), mn = ones;
        for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            const S* f = xs[k] + j;
            if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(f) + pf_bytes, _MM_HINT_T0);
            fast_step512(f, abs_mask, ones, mx, mn, t[2 * (k & 1)], t[2 * (k & 1) + 1]);
          }
        }
        const int bw = block_window(_mm512_reduce_max_epu32(mx), _mm512_reduce_min_epu32(mn), lo, kWindowBinades, W);
        if (bw >= 0) {
#pragma GCC unroll 4
          for (int w = 0; w < W; ++w)
            if (w == bw) {
              acc0[w][0] = _mm512_add_pd(acc0[w][0], t[0]);
              acc0[w][1] = _mm512_add_pd(acc0[w][1], t[1]);
              acc1[w][0] = _mm512_add_pd(acc1[w][0], t[2]);
              acc1[w][1] = _mm512_add_pd(acc1[w][1], t[3]);
            }
          backoff = 1;
          continue;
        }
        skip = backoff;  // redo this block term by term; skip the next backoff - 1 blocks' try
        backoff = std::min(backoff * 2, 64);
      }
      --skip;
      if (sp.ok) {
        // Span block: per stream one int32 hi vector and two double lo vectors (8 terms a lane).
        __m512i h[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        __m512d l[8];
        for (auto& v : l) v = magic;
        for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
            span_step512(xs[k] + j, sbase, slimit, scale, packed, h[k], l[2 * k], l[2 * k + 1]);
          }
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          span_hi = _mm512_add_epi64(span_hi, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(h[k])));
          span_hi = _mm512_add_epi64(span_hi, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(h[k], 1)));
          span_lo[0] = _mm512_add_epi64(span_lo[0], _mm512_castpd_si512(l[2 * k]));
          span_lo[1] = _mm512_add_epi64(span_lo[1], _mm512_castpd_si512(l[2 * k + 1]));
        }
        ++span_blocks;
        continue;
      }
      for (std::size_t j = 0; j < kChunk; j += 16) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          if (sizeof(S) == 4 || j % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(xs[k] + j) + pf_bytes, _MM_HINT_T0);
          if (k & 1) windows_step512<W>(xs[k] + j, base, limit, packed, acc1);
          else windows_step512<W>(xs[k] + j, base, limit, packed, acc0);
        }
      }
    }
    if (span_blocks) {
      alignas(64) std::int64_t hi_lanes[8], lo_lanes[16];
      _mm512_store_si512(hi_lanes, span_hi);
      _mm512_store_si512(lo_lanes, span_lo[0]);
      _mm512_store_si512(lo_lanes + 8, span_lo[1]);
      // Each lo lane took 4 doubles per span block, each starting at the magic value.
      const std::uint64_t bias = 4 * span_blocks * to_bits(std::ldexp(1.5, 52 - kSpanG512));
      add_span(hi_lanes, 8, lo_lanes, 16, bias, sp, kSpanG512, bins);
    }
    i = 4 * q;
  }
  for (; i + 32 <= full; i += 32) {
    // Software prefetch pf_bytes ahead (exact_prefetch_bytes: on the Xeon this loop's misses alone
    // kept too few lines in flight).
    const char* ahead = reinterpret_cast<const char*>(x + i) + pf_bytes;
    _mm_prefetch(ahead, _MM_HINT_T0);
    if constexpr (sizeof(S) == 4) _mm_prefetch(ahead + 64, _MM_HINT_T0);
    windows_step512<W>(x + i, base, limit, packed, acc0);
    windows_step512<W>(x + i + 16, base, limit, packed, acc1);
  }
  if (i < full) windows_step512<W>(x + i, base, limit, packed, acc0);
  for (i = full; i < count; ++i) exact::add_packed(packed, term_value(x[i]));
  if (flag_lanes) {
    // A non-finite lane took an Inf or NaN (finite terms cannot overflow a double lane): the
    // special decides the sum (exact.h's round_limbs), so the tile's flags say which, no bins.
    const bool finite = flush_lanes512(lanes, clean_csr, bins) && (!kSplit || flush_lanes512(lanes + 8, clean_csr, bins));
    __asm__ volatile("ldmxcsr %0" : : "m"(csr));  // MXCSR as the tile found it
    if (!finite) {
      if constexpr (std::is_same_v<S, float>) flags |= special_flags_f32_avx512(x, count);
      else flags |= special_flags_tail(x, 0, count);
    }
  }
  for (int w = 0; w < W; ++w) {
    alignas(64) double lanes[32];
    _mm512_store_pd(lanes, acc0[w][0]);
    _mm512_store_pd(lanes + 8, acc0[w][1]);
    _mm512_store_pd(lanes + 16, acc1[w][0]);
    _mm512_store_pd(lanes + 24, acc1[w][1]);
    add_lanes(lanes, 32, lo + kWindowBinades * static_cast<std::uint32_t>(w), bins);
  }
}

template <class S>
__attribute__((target("avx512f,avx512dq,avx512bw"))) bool exact_tile_windows_avx512(const S* x, std::size_t count,
                                                                            std::int64_t* bins, std::uint64_t* packed,
                                                                            std::uint32_t& flags) {
  const Sample sample = sample_of(x, count);
  const Windows w = windows_for(sample, kWindowBinades, kMaxWindows);
  const Span sp = span_for(sample, kSpanT512, kSpanG512);
  // A wide float tile takes the split lanes first where they are faster (exact_split_lanes_first)
  // or where the span does not cover it (the masked windows are slower still: a 58-binade tile
  // 1.25x the time without them on Zen 4).
  const bool split = std::is_same_v<S, float> && (exact_split_lanes_first() || !sp.ok);
  switch (w.count) {
    case 1: windows_tile_avx512<1, S, true>(x, count, w.lo, sp, bins, packed, flags); break;
    case 2: split ? windows_tile_avx512<2, S, true>(x, count, w.lo, sp, bins, packed, flags)
                  : windows_tile_avx512<2, S, false>(x, count, w.lo, sp, bins, packed, flags); break;
    case 3: split ? windows_tile_avx512<3, S, true>(x, count, w.lo, sp, bins, packed, flags)
                  : windows_tile_avx512<3, S, false>(x, count, w.lo, sp, bins, packed, flags); break;
    case 4: split ? windows_tile_avx512<4, S, true>(x, count, w.lo, sp, bins, packed, flags)
                  : windows_tile_avx512<4, S, false>(x, count, w.lo, sp, bins, packed, flags); break;
    default: return false;
  }
  if (count) flags |= exact::kSeen;
  return true;
}

__attribute__((target("avx512f,avx512dq,avx512bw"))) bool exact_tile_f32_avx512(const float* x, std::size_t count,
                                                                        std::int64_t* bins, std::uint64_t* packed,
                                                                        std::uint32_t& flags) {
  return exact_tile_windows_avx512(x, count, bins, packed, flags);
}
__attribute__((target("avx512f,avx512dq,avx512bw"))) bool exact_tile_bf16_windows_avx512(const bf16* x, std::size_t count,
                                                                                 std::int64_t* bins, std::uint64_t* packed,
                                                                                 std::uint32_t& flags) {
  return exact_tile_windows_avx512(x, count, bins, packed, flags);
}
// ---- 16-bit inputs, straight from their bits (exact_simd.h) ----
// (GCC 12's _mm512_cvtepu16_epi64 trips a false -Wuninitialized inside the header itself.)
#pragma GCC diagnostic ignored "-Wuninitialized"
// A term with fraction f, exponent e (e' = max(e, 1)) is M * 2^(e' - K), M = f plus the hidden bit
// when e != 0 (K = bias + fraction bits: 134 for bf16, 25 for f16).  Group g = e' >> 5 holds
// v = M << (e' & 31) in int64 lanes, in units of 2^(32g - K): below 2^(11 + 31) per term and 2^13
// terms per lane per tile, so every integer addition is exact.  Float bin b counts units of
// 2^(b - 150) (exact.h), so group g lands in bin 32g - K + 150, its high half 32 bins higher.
template <int F, int kExpMax, int K>
__attribute__((target("avx512f"))) void exact_tile_half_avx512_impl(const std::uint16_t* x, std::size_t count,
                                                                    std::int64_t* bins, std::uint32_t& flags) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
  constexpr int G = kExpMax / 32 + 1;  // bf16: 8 groups; f16: 1
  __m512i acc[G];
  for (int g = 0; g < G; ++g) acc[g] = _mm512_setzero_si512();
  const __m512i fmask = _mm512_set1_epi64((1 << F) - 1), hidden = _mm512_set1_epi64(1 << F);
  const __m512i emax = _mm512_set1_epi64(kExpMax), one = _mm512_set1_epi64(1), m31 = _mm512_set1_epi64(31);
  const __m512i sign = _mm512_set1_epi64(0x8000), zero = _mm512_setzero_si512();
  __m512i not_neg_zero = zero;  // OR of bits ^ 0x8000: nonzero once a term is not -0.0
  std::int64_t tail[G] = {};
  __mmask8 nan_seen = 0, neg_seen = 0, pos_seen = 0;  // the lanes that met NaN, -Inf, +Inf
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    // pf_bytes ahead (exact_prefetch_bytes): this loop reads only 16 bytes per ~10 cycles, too few
    // misses in flight for the Xeon's hardware prefetchers alone (measured: twice as slow without).
    if (i % 32 == 0) _mm_prefetch(reinterpret_cast<const char*>(x + i) + pf_bytes, _MM_HINT_T0);
    const __m512i u = _mm512_cvtepu16_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    not_neg_zero = _mm512_or_si512(not_neg_zero, _mm512_xor_si512(u, sign));
    const __m512i e = _mm512_and_si512(_mm512_srli_epi64(u, F), emax);
    const __m512i m = _mm512_mask_or_epi64(_mm512_and_si512(u, fmask), _mm512_test_epi64_mask(e, e),
                                           _mm512_and_si512(u, fmask), hidden);
    const __m512i ep = _mm512_max_epu64(e, one);
    __m512i v = _mm512_sllv_epi64(m, _mm512_and_si512(ep, m31));
    v = _mm512_mask_sub_epi64(v, _mm512_test_epi64_mask(u, sign), zero, v);
    const __mmask8 special = _mm512_cmpeq_epi64_mask(e, emax);
    if (special) {  // Inf and NaN: flags only, from masks (a lane at a time cost 24x the tree's time
                    // on f16 input that overflowed to Inf in a third of its terms)
      const __mmask8 nan = special & _mm512_test_epi64_mask(u, fmask);
      const __mmask8 neg = static_cast<__mmask8>(special & ~nan & _mm512_test_epi64_mask(u, sign));
      nan_seen |= nan;
      neg_seen |= neg;
      pos_seen |= static_cast<__mmask8>(special & ~nan & ~neg);
      v = _mm512_maskz_mov_epi64(static_cast<__mmask8>(~special), v);
    }
    if constexpr (G == 1) {
      acc[0] = _mm512_add_epi64(acc[0], v);
    } else {
      const __m512i g = _mm512_srli_epi64(ep, 5);
#pragma GCC unroll 8
      for (int k = 0; k < G; ++k)
        acc[k] = _mm512_mask_add_epi64(acc[k], _mm512_cmpeq_epi64_mask(g, _mm512_set1_epi64(k)), acc[k], v);
    }
  }
  if (nan_seen) flags |= exact::kNaN;
  if (neg_seen) flags |= exact::kNegInf;
  if (pos_seen) flags |= exact::kPosInf;
  bool tail_not_neg_zero = false;
  for (; i < count; ++i) {
    const std::uint32_t b = x[i];
    tail_not_neg_zero |= b != 0x8000u;
    const int e = static_cast<int>((b >> F) & kExpMax);
    if (e == kExpMax) {
      flags |= (b & ((1u << F) - 1)) ? exact::kNaN : ((b & 0x8000u) ? exact::kNegInf : exact::kPosInf);
      continue;
    }
    const int ep = e > 1 ? e : 1;
    const std::int64_t mag = static_cast<std::int64_t>((b & ((1u << F) - 1)) | (e ? (1u << F) : 0u)) << (ep & 31);
    tail[ep >> 5] += (b & 0x8000u) ? -mag : mag;
  }
  for (int g = 0; g < G; ++g) {
    const std::int64_t total = _mm512_reduce_add_epi64(acc[g]) + tail[g];  // below 2^57
    if (!total) continue;
    const int b = 32 * g - K + 150;
    bins[b] += total & 0xffffffffll;
    bins[b + 32] += total >> 32;
  }
  if (count) flags |= exact::kSeen;
  if (tail_not_neg_zero || _mm512_test_epi64_mask(not_neg_zero, not_neg_zero)) flags |= exact::kNotNegZero;
}

__attribute__((target("avx512f"))) void exact_tile_bf16_avx512(const std::uint16_t* x, std::size_t count,
                                                               std::int64_t* bins, std::uint32_t& flags) {
  exact_tile_half_avx512_impl<7, 0xff, 134>(x, count, bins, flags);
}
// A tile with an f16 Inf or NaN: its flags only (kNaN, kPosInf, kNegInf, kSeen, kNotNegZero), no
// bins -- exact.h's round_limbs returns the special from the flags whatever the bins hold, so the
// finite terms of such a sum cannot matter.  32 terms a step.
__attribute__((target("avx512f,avx512bw"))) void special_flags_f16_avx512(const std::uint16_t* x, std::size_t count,
                                                                          std::uint32_t& flags) {
  const __m512i exp = _mm512_set1_epi16(0x7c00), frac = _mm512_set1_epi16(0x03ff);
  const __m512i sign = _mm512_set1_epi16(static_cast<short>(0x8000));
  __mmask32 nan = 0, neg = 0, pos = 0;
  std::size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m512i h = _mm512_loadu_si512(x + i);
    const __mmask32 special = _mm512_cmpeq_epi16_mask(_mm512_and_si512(h, exp), exp);
    const __mmask32 n = special & _mm512_test_epi16_mask(h, frac);
    const __mmask32 s = _mm512_test_epi16_mask(h, sign);
    nan |= n;
    neg |= special & ~n & s;
    pos |= special & ~n & ~s;
  }
  for (; i < count; ++i) flags |= exact::term_flags(widen(f16{x[i]}));  // the last terms
  if (nan) flags |= exact::kNaN;
  if (neg) flags |= exact::kNegInf;
  if (pos) flags |= exact::kPosInf;
  if (count) flags |= exact::kSeen | exact::kNotNegZero;  // an Inf or NaN is not -0
}

// f16 in split float32 lanes (exact_simd.h), AVX-512.  a = an f16 widened (exact): a multiple of
// 2^-24 with |a| <= 65504.  lo = VREDUCEPS(a, 4) = a - round(16 a) / 16, rounded to nearest even by
// the instruction whatever MXCSR says, with no precision flag: a multiple of 2^-24, |lo| <= 2^-5.
// hi = a - lo: a multiple of 2^-4, |hi| <= 65504.  Both exact.  A float32 lane adds 16 of either
// exactly: 16 hi parts stay below 16 * 65504 < 2^20 steps of 2^-4, 16 lo parts at most 2^-1 = 2^23
// steps of 2^-24 (24-bit significands; 17 terms would still be exact, as a term with a 1/16 bit is
// below 128, but 18 would not: HalfSumCpu.F16SplitLanesAtTheirEdges).  Every 16 steps the lanes are scaled to those steps and
// converted (both exact: integers below 2^24) into int32 lanes, each of which takes at most 2048
// terms of a tile of kF16SplitMaxTerms: below 2048 * 65504 * 16 < 2^31 (hi) and 2^30 (lo).  An Inf
// or NaN leaves its lane non-finite (Inf - 0, or NaN) until the flush, which checks the lanes
// first: such a tile records its flags only (special_flags_f16_avx512).  Every lane's sum is exact
// whatever the exponents, so no term is ever redone.  No kNotNegZero: the caller settles a zero sum.
__attribute__((target("avx512f,avx512dq,avx512bw"))) void exact_tile_f16_avx512(const std::uint16_t* x, std::size_t count,
                                                                         std::int64_t* bins, std::uint32_t& flags) {
  constexpr int kSteps = 16;  // 32-term steps between flushes: 16 terms a float32 lane
  const __m512 to_hi = _mm512_set1_ps(16.0f), to_lo = _mm512_set1_ps(0x1p24f);
  __m512 hf[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}, lf[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  __m512i hi[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()}, lo[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
  const std::size_t full = std::min(count, kF16SplitMaxTerms) / 32 * 32;
  std::size_t i = 0;
  while (i < full) {
    const std::size_t end = std::min(full, i + 32 * kSteps);
    for (; i < end; i += 32) {
      // One 64-byte line a step, 2 KiB ahead on every CPU (not exact_prefetch_bytes): measured with
      // the double lanes on the Xeon, without it 10.3 ms against 5.3 at 2^26; on Zen 4 these split
      // lanes take 0.96-0.97x the time with it (2^26, 1 and 2 threads), where the other loops lose.
      _mm_prefetch(reinterpret_cast<const char*>(x + i) + 2048, _MM_HINT_T0);
#pragma GCC unroll 2
      for (int k = 0; k < 2; ++k) {  // the loads fold into the conversions
        const __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 16 * k)));
        const __m512 l = _mm512_reduce_round_ps(a, 4 << 4, _MM_FROUND_NO_EXC);  // a - round(16 a) / 16
        hf[k] = _mm512_add_ps(hf[k], _mm512_sub_ps(a, l));
        lf[k] = _mm512_add_ps(lf[k], l);
      }
    }
    // The flush: any non-finite lane means an Inf or NaN, which decides the sum.
    __mmask16 special = 0;
    for (int k = 0; k < 2; ++k) special |= _mm512_fpclass_ps_mask(hf[k], 0x99) | _mm512_fpclass_ps_mask(lf[k], 0x99);
    if (special) return special_flags_f16_avx512(x, count, flags);
    for (int k = 0; k < 2; ++k) {
      hi[k] = _mm512_add_epi32(hi[k], _mm512_cvtps_epi32(_mm512_mul_ps(hf[k], to_hi)));
      lo[k] = _mm512_add_epi32(lo[k], _mm512_cvtps_epi32(_mm512_mul_ps(lf[k], to_lo)));
      hf[k] = lf[k] = _mm512_setzero_ps();
    }
  }
  // The int32 lanes, widened: hi in steps of 2^-4, lo in steps of 2^-24.
  std::int64_t his = 0, los = 0;
  for (int k = 0; k < 2; ++k) {
    his += _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(hi[k]))) +
           _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(hi[k], 1)));
    los += _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(lo[k]))) +
           _mm512_reduce_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(lo[k], 1)));
  }
  std::uint32_t tail_flags = 0;
  std::int64_t tail_bins[exact::Layout<float>::kBins] = {};
  exact_tile_half_avx512_impl<10, 0x1f, 25>(x + i, count - i, tail_bins, tail_flags);  // the last < 32 terms
  for (int b = 0; b < exact::Layout<float>::kBins; ++b) bins[b] += tail_bins[b];
  flags |= tail_flags;
  add_window(his * (std::int64_t{1} << 20) + los, 126, bins);  // bin 126 counts steps of 2^(126 - 150) = 2^-24
  if (count) flags |= exact::kSeen;
}

#pragma GCC diagnostic pop

// special_flags_f16_avx512's scan at AVX2, 16 terms a step: the flags of a tile that holds an
// f16 Inf or NaN, and no bins.
__attribute__((target("avx2"))) void special_flags_f16_avx2(const std::uint16_t* x, std::size_t count,
                                                            std::uint32_t& flags) {
  const __m256i exp = _mm256_set1_epi16(0x7c00), frac = _mm256_set1_epi16(0x03ff), zero = _mm256_setzero_si256();
  __m256i nan = zero, neg = zero, pos = zero;
  std::size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i special = _mm256_cmpeq_epi16(_mm256_and_si256(h, exp), exp);
    const __m256i no_frac = _mm256_cmpeq_epi16(_mm256_and_si256(h, frac), zero);
    const __m256i inf = _mm256_and_si256(special, no_frac), minus = _mm256_srai_epi16(h, 15);
    nan = _mm256_or_si256(nan, _mm256_andnot_si256(no_frac, special));
    neg = _mm256_or_si256(neg, _mm256_and_si256(inf, minus));
    pos = _mm256_or_si256(pos, _mm256_andnot_si256(minus, inf));
  }
  for (; i < count; ++i) flags |= exact::term_flags(widen(f16{x[i]}));  // the last terms
  if (!_mm256_testz_si256(nan, nan)) flags |= exact::kNaN;
  if (!_mm256_testz_si256(neg, neg)) flags |= exact::kNegInf;
  if (!_mm256_testz_si256(pos, pos)) flags |= exact::kPosInf;
  if (count) flags |= exact::kSeen | exact::kNotNegZero;  // an Inf or NaN is not -0
}

// f16 in split float32 lanes at AVX2 (F16C), as exact_tile_f16_avx512 without VREDUCEPS: t = a + M,
// M = 1.5 * 2^19, rounds a to a multiple of 2^-4 (t stays in [2^19, 2^20) for |a| <= 65504, whose
// ulp is 2^-4), so t's bits minus M's are 16 hi with hi = t - M, and lo = a - hi.  All exact, in
// any rounding mode (MXCSR's: |lo| < 2^-4 whichever way t rounded); under DAZ and FTZ too (every
// value is zero or a multiple of 2^-24, never subnormal in float32).  t's bits go straight into
// int32 lanes (an integer add that wraps: the lane less its count of M's bits is the exact sum of
// 16 hi, below 2048 * 65504 * 16 < 2^31); lo into float32 lanes, 16 terms a lane (below 2^0 = 2^24
// steps of 2^-24), then scaled and converted into int32 lanes (below 2^31).  32 lanes: at most 2048
// terms each in a tile of kF16SplitMaxTerms.  An Inf or NaN makes lo a NaN (Inf - Inf); the flush
// checks the lanes first, and such a tile records its flags only.  No kNotNegZero (the caller
// settles a zero sum); returns false only where AVX2 is not compiled in.
__attribute__((target("avx2,f16c"))) bool exact_tile_f16_avx2(const std::uint16_t* x, std::size_t count,
                                                             std::int64_t* bins, std::uint32_t& flags) {
  const std::size_t pf_bytes = exact_prefetch_bytes();
  constexpr int kSteps = 16;  // 32-term steps between flushes: 16 terms a float32 lane
  constexpr float kMagic = 0x1.8p19f;
  const __m256 magic = _mm256_set1_ps(kMagic), to_lo = _mm256_set1_ps(0x1p24f);
  __m256i tb[4], lo[4];
  __m256 lf[4];
  for (int k = 0; k < 4; ++k) {
    tb[k] = lo[k] = _mm256_setzero_si256();
    lf[k] = _mm256_setzero_ps();
  }
  const std::size_t full = std::min(count, kF16SplitMaxTerms) / 32 * 32;
  std::size_t i = 0;
  while (i < full) {
    const std::size_t end = std::min(full, i + 32 * kSteps);
    for (; i < end; i += 32) {
      // Every other line (measured with the double lanes: a prefetch per line was 8% slower).
      if (i % 64 == 0) _mm_prefetch(reinterpret_cast<const char*>(x + i) + pf_bytes, _MM_HINT_T0);
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 8 * k)));
        const __m256 t = _mm256_add_ps(a, magic);
        tb[k] = _mm256_add_epi32(tb[k], _mm256_castps_si256(t));
        lf[k] = _mm256_add_ps(lf[k], _mm256_sub_ps(a, _mm256_sub_ps(t, magic)));
      }
    }
    // The flush: a NaN lane means an Inf or NaN term, which decides the sum.
    __m256 nan = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) nan = _mm256_or_ps(nan, _mm256_cmp_ps(lf[k], lf[k], _CMP_UNORD_Q));
    if (!_mm256_testz_ps(nan, nan)) {
      special_flags_f16_avx2(x, count, flags);
      return true;
    }
    for (int k = 0; k < 4; ++k) {
      lo[k] = _mm256_add_epi32(lo[k], _mm256_cvtps_epi32(_mm256_mul_ps(lf[k], to_lo)));
      lf[k] = _mm256_setzero_ps();
    }
  }
  // Each t lane took i / 32 terms: less that many of M's bits (mod 2^32), 16 times its hi parts' sum.
  const auto magics = static_cast<std::uint32_t>(i / 32) * std::bit_cast<std::uint32_t>(kMagic);
  alignas(32) std::int32_t t_lanes[32], lo_lanes[32];
  for (int k = 0; k < 4; ++k) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(t_lanes + 8 * k), tb[k]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lo_lanes + 8 * k), lo[k]);
  }
  std::int64_t his = 0, los = 0;  // steps of 2^-4 and 2^-24
  for (int k = 0; k < 32; ++k) {
    his += static_cast<std::int32_t>(static_cast<std::uint32_t>(t_lanes[k]) - magics);
    los += lo_lanes[k];
  }
  std::int64_t total = his * (std::int64_t{1} << 20) + los;  // steps of 2^-24: below 2^56
  for (; i < count; ++i) {  // the last < 32 terms
    const std::uint32_t b = x[i];
    if ((b & 0x7c00u) == 0x7c00u) {
      special_flags_f16_avx2(x, count, flags);
      return true;
    }
    total += static_cast<std::int64_t>(std::ldexp(static_cast<double>(widen(f16{static_cast<std::uint16_t>(b)})), 24));
  }
  add_window(total, 126, bins);  // bin 126 counts steps of 2^(126 - 150) = 2^-24
  if (count) flags |= exact::kSeen;
  return true;
}

#else

bool exact_tile_f32_avx2(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
bool exact_tile_bf16_windows_avx2(const bf16*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
bool exact_tile_f32_avx512(const float*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
bool exact_tile_bf16_windows_avx512(const bf16*, std::size_t, std::int64_t*, std::uint64_t*, std::uint32_t&) { return false; }
void exact_tile_bf16_avx512(const std::uint16_t*, std::size_t, std::int64_t*, std::uint32_t&) {}
void exact_tile_f16_avx512(const std::uint16_t*, std::size_t, std::int64_t*, std::uint32_t&) {}
bool exact_tile_f16_avx2(const std::uint16_t*, std::size_t, std::int64_t*, std::uint32_t&) { return false; }

#endif

}  // namespace driftlab::cpu::detail
