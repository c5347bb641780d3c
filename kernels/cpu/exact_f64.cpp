// The exact sum's float64 vector tile (exact_f64.h): one window of binades, integers in int64
// lanes.  Every step is exact, so the bins get the same integers as the scalar add_term would give
// them, in another grouping: the sum's bits are those of every other level (SumCpu.Exact*).
#include "kernels/cpu/exact_f64.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "kernels/common/exact.h"
#include "kernels/cpu/simd.h"

namespace driftlab::cpu::detail {
namespace {

using L = exact::Layout<double>;
constexpr std::uint64_t kAbs = ~(std::uint64_t{1} << 63);

// The two forms of the window (exact_f64.h): its width in binades, and the grids its parts are cut
// on.  A term y (an integer below 2^(52 + W)) is cut into parts p = 0 .. P-1 with y = sum p_k, part
// k a multiple of 2^shift[k]; the last part's shift is 0.  Each part over 2^shift fits int64 lanes
// with 2^12 terms a lane to spare: (2) hi < 2^50, lo <= 2^32; (3) hi < 2^50, mid <= 2^31, lo <= 2^31.
struct Form {
  int parts;
  std::uint32_t width;  // binades
  int shift[3];
  double magic[2];  // 1.5 * 2^(52 + shift[k]): adding it rounds to a multiple of 2^shift[k]
};
constexpr Form kForm2{2, 30, {32, 0, 0}, {0x1.8p84, 0}};
constexpr Form kForm3{3, 60, {62, 31, 0}, {0x1.8p114, 0x1.8p83}};
static_assert(kForm2.width == kF64WindowBinades && kForm3.width == 2 * kF64WindowBinades);

// The window starts at 52 or above (the scale 2^(1075 - lo) is then a normal double) and its
// parts' bins (each part's total at bins lo + shift, + 26, and its signed rest at + 52) stay
// within L::kBins: lo + 62 + 52 <= 2073 for the widest part.
constexpr std::uint32_t kMinLo = 52;
constexpr std::uint32_t max_lo(const Form& f) { return static_cast<std::uint32_t>(L::kBins - 1 - f.shift[0] - 2 * L::kSplit); }
static_assert(max_lo(kForm2) + kForm2.width - 1 >= 1990 && max_lo(kForm3) + kForm3.width - 1 >= 1990,
              "the windows reach values near 2^967");

struct Window {
  const Form* form;  // null: not worth it
  std::uint32_t lo;
};

// The window of a tile, its top two binades above the largest finite exponent among the tile's
// first 512 terms: the 30-binade form when it leaves at most 1/64 of the sampled nonzero terms
// outside, else the 60-binade form when it leaves at most an eighth, else none (the scalar loop).
Window window_of(const double* x, std::size_t count) {
  const std::size_t s = std::min<std::size_t>(count, 512);
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < s; ++i) {
    const auto e = static_cast<std::uint32_t>((std::bit_cast<std::uint64_t>(x[i]) >> 52) & 0x7ffu);
    if (e != 0x7ffu) top = std::max(top, e);
  }
  for (const Form* f : {&kForm2, &kForm3}) {
    const std::uint32_t want = top + 2 >= f->width - 1 ? top + 2 - (f->width - 1) : 0;
    const std::uint32_t lo = std::clamp(want, kMinLo, max_lo(*f));
    std::size_t outside = 0;
    for (std::size_t i = 0; i < s; ++i) {
      const std::uint64_t a = std::bit_cast<std::uint64_t>(x[i]) & kAbs;
      outside += a != 0 && (a < std::uint64_t{lo} << 52 || a >= std::uint64_t{lo + f->width} << 52);
    }
    if (outside * (f == &kForm2 ? 64 : 8) <= s) return {f, lo};
  }
  return {nullptr, 0};
}

// A part's total T (units of 2^(bin - 1075), |T| < 2^100) into the bins: bits [0, 26) at bin,
// [26, 52) at bin + 26, the signed rest at bin + 52.  Bin b counts units of 2^(b - 1075) (exact.h's
// decode), so this adds exactly T; every add is below 2^26 in magnitude, as a scalar term's part
// is, so the bins' headroom (L::kMaxTermsPerBin terms) holds.
void add_total(__int128 t, std::uint32_t bin, std::int64_t* bins) {
  constexpr __int128 kMask = (__int128{1} << L::kSplit) - 1;
  for (int k = 0; k < 2; ++k) {
    bins[bin + static_cast<std::uint32_t>(k * L::kSplit)] += static_cast<std::int64_t>(t & kMask);
    t >>= L::kSplit;  // arithmetic: the rest keeps the sign
  }
  bins[bin + 2 * L::kSplit] += static_cast<std::int64_t>(t);
}

// The lanes of each part (kLanes int64 each, part k at lanes + k * kLanes) into the bins.
template <int kLanes> void flush(const std::int64_t* lanes, const Form& f, std::uint32_t lo, std::int64_t* bins) {
  for (int k = 0; k < f.parts; ++k) {
    __int128 t = 0;
    for (int j = 0; j < kLanes; ++j) t += lanes[k * kLanes + j];
    add_total(t, lo + static_cast<std::uint32_t>(f.shift[k]), bins);
  }
}

// A term the window does not take (zero is taken), as the scalar loop takes it.
inline void scalar_term(double v, std::int64_t* bins, std::uint32_t& flags) {
  exact::add_term(bins, v);  // a special adds garbage to the Inf/NaN bins; its flag wins
  if (exact::is_special(v)) flags |= exact::term_flags(v);
}

}  // namespace

#if DRIFTLAB_X86

// GCC 12's AVX-512 headers build the rounding intrinsics' results from _mm512_undefined_pd(),
// which trips a false -Wmaybe-uninitialized inside the headers themselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// Per 8 terms: in = |bits| in the window or zero; y = x * 2^(1075 - lo), an integer below
// 2^(52 + W), exact (a power of two; no overflow; never subnormal); then each part but the last:
// t = r + magic rounded to nearest by the instruction (not MXCSR), a multiple of 2^shift since
// r + magic lies in [2^(52+shift+2), 2^(52+shift+3)); part = t - magic and r -= part, both exact
// (the rest of a rounding to a coarser grid is a double); part / 2^shift converted to int64
// exactly.  32 lanes a part over four vectors: at most 2048 terms a lane a tile.
template <int P>
__attribute__((target("avx512f,avx512dq"))) void tile512(const double* x, std::size_t count, const Form& f, std::uint32_t lo,
                                                         std::int64_t* bins, std::int64_t* scalar_bins, std::uint32_t& flags) {
  const __m512i abs_mask = _mm512_set1_epi64(static_cast<long long>(kAbs));
  const __m512i start = _mm512_set1_epi64(static_cast<long long>(std::uint64_t{lo} << 52));
  const __m512i width = _mm512_set1_epi64(static_cast<long long>(std::uint64_t{f.width} << 52));
  const __m512d scale = _mm512_set1_pd(std::bit_cast<double>(std::uint64_t{2098 - lo} << 52));  // 2^(1075 - lo)
  __m512d magic[P - 1], down[P - 1];
  for (int k = 0; k < P - 1; ++k) {
    magic[k] = _mm512_set1_pd(f.magic[k]);
    down[k] = _mm512_set1_pd(std::ldexp(1.0, -f.shift[k]));
  }
  constexpr int kRn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  __m512i acc[P][4];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_si512();
  const std::size_t full = count / 32 * 32;
  for (std::size_t i = 0; i < full; i += 32) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const double* p = x + i + 8 * k;
      const __m512d v = _mm512_loadu_pd(p);
      const __m512i a = _mm512_and_si512(_mm512_castpd_si512(v), abs_mask);
      const __mmask8 in = _mm512_cmplt_epu64_mask(_mm512_sub_epi64(a, start), width) | _mm512_testn_epi64_mask(a, a);
      __m512d r = _mm512_maskz_mul_pd(in, v, scale);
#pragma GCC unroll 2
      for (int q = 0; q < P - 1; ++q) {
        const __m512d part = _mm512_sub_round_pd(_mm512_add_round_pd(r, magic[q], kRn), magic[q], kRn);
        r = _mm512_sub_round_pd(r, part, kRn);
        acc[q][k] = _mm512_add_epi64(acc[q][k], _mm512_cvt_roundpd_epi64(_mm512_mul_round_pd(part, down[q], kRn), kRn));
      }
      acc[P - 1][k] = _mm512_add_epi64(acc[P - 1][k], _mm512_cvt_roundpd_epi64(r, kRn));
      for (unsigned out = static_cast<__mmask8>(~in); out; out &= out - 1)
        scalar_term(p[__builtin_ctz(out)], scalar_bins, flags);
    }
  }
  for (std::size_t i = full; i < count; ++i) scalar_term(x[i], scalar_bins, flags);  // the last < 32 terms
  alignas(64) std::int64_t lanes[P * 32];
  for (int q = 0; q < P; ++q)
    for (int k = 0; k < 4; ++k) _mm512_store_si512(lanes + 32 * q + 8 * k, acc[q][k]);
  flush<32>(lanes, f, lo, bins);
}

// AVX2: the same steps on 4 terms a vector, with MXCSR's rounding for t (any mode gives a multiple
// of 2^shift within 2^shift of r; the 30-binade form's rest is then exact in any mode, the
// 60-binade form runs only under round-to-nearest: exact_tile_f64_avx2) and
// the int64 conversions by the 1.5 * 2^52 trick (every part over 2^shift is below 2^51: the sum's
// bits less the magic's are the integer).  The term is masked before the product, so a term
// outside (an Inf, a NaN, a huge one) raises no flag; t raises and discards inexact, which the
// caller's masked exceptions allow (exact_simd.h).  16 lanes a part: at most 4096 terms a lane.
// An integer-valued double below 2^51 in magnitude to int64: its sum with 1.5 * 2^52, less the
// magic's bits (exact in any rounding mode: the sum is an integer in [2^52, 2^53)).
__attribute__((target("avx2"), always_inline)) inline __m256i to_int(__m256d v, __m256d cvt, __m256i cvt_bits) {
  return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(v, cvt)), cvt_bits);
}

template <int P>
__attribute__((target("avx2"))) void tile256(const double* x, std::size_t count, const Form& f, std::uint32_t lo,
                                             std::int64_t* bins, std::int64_t* scalar_bins, std::uint32_t& flags) {
  const __m256i abs_mask = _mm256_set1_epi64x(static_cast<long long>(kAbs));
  // a in the window: start - 1 < a < end (signed compares: a < 2^63).
  const __m256i below = _mm256_set1_epi64x(static_cast<long long>((std::uint64_t{lo} << 52) - 1));
  const __m256i end = _mm256_set1_epi64x(static_cast<long long>(std::uint64_t{lo + f.width} << 52));
  const __m256i zero = _mm256_setzero_si256();
  const __m256d scale = _mm256_set1_pd(std::bit_cast<double>(std::uint64_t{2098 - lo} << 52));
  const __m256d cvt = _mm256_set1_pd(0x1.8p52);
  const __m256i cvt_bits = _mm256_castpd_si256(cvt);
  __m256d magic[P - 1], down[P - 1];
  for (int k = 0; k < P - 1; ++k) {
    magic[k] = _mm256_set1_pd(f.magic[k]);
    down[k] = _mm256_set1_pd(std::ldexp(1.0, -f.shift[k]));
  }
  __m256i acc[P][4];
  for (auto& a : acc)
    for (auto& v : a) v = _mm256_setzero_si256();
  const std::size_t full = count / 16 * 16;
  for (std::size_t i = 0; i < full; i += 16) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const double* p = x + i + 4 * k;
      const __m256d v = _mm256_loadu_pd(p);
      const __m256i a = _mm256_and_si256(_mm256_castpd_si256(v), abs_mask);
      const __m256i in = _mm256_or_si256(_mm256_and_si256(_mm256_cmpgt_epi64(a, below), _mm256_cmpgt_epi64(end, a)),
                                         _mm256_cmpeq_epi64(a, zero));
      __m256d r = _mm256_mul_pd(_mm256_and_pd(v, _mm256_castsi256_pd(in)), scale);
#pragma GCC unroll 2
      for (int q = 0; q < P - 1; ++q) {
        const __m256d part = _mm256_sub_pd(_mm256_add_pd(r, magic[q]), magic[q]);
        r = _mm256_sub_pd(r, part);
        acc[q][k] = _mm256_add_epi64(acc[q][k], to_int(_mm256_mul_pd(part, down[q]), cvt, cvt_bits));
      }
      acc[P - 1][k] = _mm256_add_epi64(acc[P - 1][k], to_int(r, cvt, cvt_bits));
      for (unsigned out = ~static_cast<unsigned>(_mm256_movemask_pd(_mm256_castsi256_pd(in))) & 0xfu; out; out &= out - 1)
        scalar_term(p[__builtin_ctz(out)], scalar_bins, flags);
    }
  }
  for (std::size_t i = full; i < count; ++i) scalar_term(x[i], scalar_bins, flags);
  alignas(32) std::int64_t lanes[P * 16];
  for (int q = 0; q < P; ++q)
    for (int k = 0; k < 4; ++k) _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 16 * q + 4 * k), acc[q][k]);
  flush<16>(lanes, f, lo, bins);
}

}  // namespace

bool exact_tile_f64_avx512(const double* x, std::size_t count, std::int64_t* bins, std::int64_t* scalar_bins,
                           std::uint32_t& flags) {
  const Window w = window_of(x, count);
  if (!w.form) return false;
  if (w.form->parts == 2) tile512<2>(x, count, *w.form, w.lo, bins, scalar_bins, flags);
  else tile512<3>(x, count, *w.form, w.lo, bins, scalar_bins, flags);
  if (count) flags |= exact::kSeen;
  return true;
}

bool exact_tile_f64_avx2(const double* x, std::size_t count, std::int64_t* bins, std::int64_t* scalar_bins,
                         std::uint32_t& flags) {
  const Window w = window_of(x, count);
  if (!w.form) return false;
  // The 60-binade form's first cut is exact only when rounded to nearest: rounded up, a term below
  // 2^61 would leave a rest of 62 bits.  The 30-binade form's rest is exact in any mode.
  if (w.form->parts == 3 && (_mm_getcsr() & 0x6000u) != 0) return false;
  if (w.form->parts == 2) tile256<2>(x, count, *w.form, w.lo, bins, scalar_bins, flags);
  else tile256<3>(x, count, *w.form, w.lo, bins, scalar_bins, flags);
  if (count) flags |= exact::kSeen;
  return true;
}

#pragma GCC diagnostic pop

#else

bool exact_tile_f64_avx512(const double*, std::size_t, std::int64_t*, std::int64_t*, std::uint32_t&) { return false; }
bool exact_tile_f64_avx2(const double*, std::size_t, std::int64_t*, std::int64_t*, std::uint32_t&) { return false; }

#endif

}  // namespace driftlab::cpu::detail
