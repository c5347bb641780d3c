#include "kernels/cpu/bit_compare.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "kernels/cpu/simd.h"

// GCC 12's AVX-512 intrinsics (conversions, extracts, reductions) start from _mm512_undefined_*
// and warn that it "is used uninitialized": a known false positive of the header, silenced here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace driftlab::cpu {
namespace {

constexpr std::uint32_t kAbs = 0x7fffffffu, kInf = 0x7f800000u;
constexpr std::uint64_t kAbs64 = 0x7fffffffffffffffull;

// What a pass accumulates (BitCompare less `first`).
struct Acc {
  std::uint64_t differ = 0, changes = 0;
  std::uint32_t max_ulp = 0, scale_a = 0, scale_b = 0;
  bool one_nan = false;
  std::uint64_t max_diff = 0;
};

// ---- scalar: the definition in bit_compare.h, one element (every vector path's tail) ----
inline void step(float fa, float fb, Acc& s) {
  const std::uint32_t ua = std::bit_cast<std::uint32_t>(fa), ub = std::bit_cast<std::uint32_t>(fb);
  const std::uint32_t ma = ua & kAbs, mb = ub & kAbs;
  s.scale_a = std::max(s.scale_a, ma < kInf ? ma : 0u);
  s.scale_b = std::max(s.scale_b, mb < kInf ? mb : 0u);
  if (ua == ub) return;
  ++s.differ;
  const bool na = ma > kInf, nb = mb > kInf;
  if (na != nb) s.one_nan = true;
  const bool za = ma == 0, zb = mb == 0;
  s.changes += !na && !nb && (za != zb || (!za && (ua ^ ub) >> 31));
  if (!na && !nb) s.max_ulp = std::max(s.max_ulp, (ua ^ ub) >> 31 ? ma + mb : (ma > mb ? ma - mb : mb - ma));
  const std::uint64_t d = std::bit_cast<std::uint64_t>(static_cast<double>(fa) - static_cast<double>(fb)) & kAbs64;
  s.max_diff = std::max(s.max_diff, d);
}

void run_scalar(const float* a, const float* b, std::size_t n, Acc& s) {
  for (std::size_t i = 0; i < n; ++i) step(a[i], b[i], s);
}

#if DRIFTLAB_X86
// ---- avx2: 8 lanes.  ma, mb < 2^31, so signed 32-bit compares order them; the diff bits < 2^63,
// so a signed 64-bit compare does too. ----
__attribute__((target("avx2"))) inline __m256i max_epi64(__m256i x, __m256i y) {
  return _mm256_blendv_epi8(x, y, _mm256_cmpgt_epi64(y, x));
}

__attribute__((target("avx2,popcnt"))) std::size_t run_avx2(const float* a, const float* b, std::size_t n, Acc& s) {
  const __m256i abs = _mm256_set1_epi32(static_cast<int>(kAbs)), inf = _mm256_set1_epi32(static_cast<int>(kInf));
  const __m256i abs64 = _mm256_set1_epi64x(static_cast<long long>(kAbs64));
  __m256i sa = _mm256_setzero_si256(), sb = sa, mu = sa, on = sa, md = sa;
  const __m256i zero = _mm256_setzero_si256();
  std::uint64_t cnt = 0, changes = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 fa = _mm256_loadu_ps(a + i), fb = _mm256_loadu_ps(b + i);
    const __m256i ua = _mm256_castps_si256(fa), ub = _mm256_castps_si256(fb);
    const __m256i ma = _mm256_and_si256(ua, abs), mb = _mm256_and_si256(ub, abs);
    const __m256i eq = _mm256_cmpeq_epi32(ua, ub);
    cnt += 8 - static_cast<unsigned>(_mm_popcnt_u32(static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(eq)))));
    sa = _mm256_max_epi32(sa, _mm256_and_si256(ma, _mm256_cmpgt_epi32(inf, ma)));
    sb = _mm256_max_epi32(sb, _mm256_and_si256(mb, _mm256_cmpgt_epi32(inf, mb)));
    const __m256i na = _mm256_cmpgt_epi32(ma, inf), nb = _mm256_cmpgt_epi32(mb, inf);
    on = _mm256_or_si256(on, _mm256_xor_si256(na, nb));
    const __m256i signs_differ = _mm256_srai_epi32(_mm256_xor_si256(ua, ub), 31);
    const __m256i same_sign = _mm256_sub_epi32(_mm256_max_epi32(ma, mb), _mm256_min_epi32(ma, mb));
    __m256i dist = _mm256_blendv_epi8(same_sign, _mm256_add_epi32(ma, mb), signs_differ);
    const __m256i no_nan = _mm256_andnot_si256(_mm256_or_si256(na, nb), _mm256_cmpeq_epi32(zero, zero));
    const __m256i za = _mm256_cmpeq_epi32(ma, zero), zb = _mm256_cmpeq_epi32(mb, zero);
    const __m256i across =
        _mm256_or_si256(_mm256_xor_si256(za, zb), _mm256_andnot_si256(_mm256_or_si256(za, zb), signs_differ));
    const __m256i change = _mm256_and_si256(no_nan, across);
    const int change_bits = _mm256_movemask_ps(_mm256_castsi256_ps(change));
    changes += static_cast<unsigned>(_mm_popcnt_u32(static_cast<unsigned>(change_bits)));
    dist = _mm256_and_si256(no_nan, dist);
    mu = _mm256_max_epu32(mu, dist);
    const __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(fa)), _mm256_cvtps_pd(_mm256_castps256_ps128(fb)));
    const __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(fa, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(fb, 1)));
    const __m256i eq_lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(eq));
    const __m256i eq_hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(eq, 1));
    md = max_epi64(md, _mm256_andnot_si256(eq_lo, _mm256_and_si256(_mm256_castpd_si256(lo), abs64)));
    md = max_epi64(md, _mm256_andnot_si256(eq_hi, _mm256_and_si256(_mm256_castpd_si256(hi), abs64)));
  }
  alignas(32) std::uint32_t v_sa[8], v_sb[8], v_mu[8], v_on[8];
  alignas(32) std::uint64_t v_md[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v_sa), sa);
  _mm256_store_si256(reinterpret_cast<__m256i*>(v_sb), sb);
  _mm256_store_si256(reinterpret_cast<__m256i*>(v_mu), mu);
  _mm256_store_si256(reinterpret_cast<__m256i*>(v_on), on);
  _mm256_store_si256(reinterpret_cast<__m256i*>(v_md), md);
  for (int l = 0; l < 8; ++l) {
    s.scale_a = std::max(s.scale_a, v_sa[l]);
    s.scale_b = std::max(s.scale_b, v_sb[l]);
    s.max_ulp = std::max(s.max_ulp, v_mu[l]);
    s.one_nan = s.one_nan || v_on[l] != 0;
  }
  for (int l = 0; l < 4; ++l) s.max_diff = std::max(s.max_diff, v_md[l]);
  s.differ += cnt;
  s.changes += changes;
  return i;
}

// ---- avx512: 16 lanes, the same steps under mask registers ----
__attribute__((target("avx512f,popcnt"))) std::size_t run_avx512(const float* a, const float* b, std::size_t n,
                                                                   Acc& s) {
  const __m512i abs = _mm512_set1_epi32(static_cast<int>(kAbs)), inf = _mm512_set1_epi32(static_cast<int>(kInf));
  const __m512i abs64 = _mm512_set1_epi64(static_cast<long long>(kAbs64)), zero = _mm512_setzero_si512();
  __m512i sa = zero, sb = zero, mu = zero, md = zero;
  unsigned on = 0;
  std::uint64_t cnt = 0, changes = 0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 fa = _mm512_loadu_ps(a + i), fb = _mm512_loadu_ps(b + i);
    const __m512i ua = _mm512_castps_si512(fa), ub = _mm512_castps_si512(fb);
    const __m512i ma = _mm512_and_si512(ua, abs), mb = _mm512_and_si512(ub, abs);
    const __mmask16 ne = _mm512_cmpneq_epi32_mask(ua, ub);
    cnt += static_cast<unsigned>(_mm_popcnt_u32(ne));
    sa = _mm512_mask_max_epu32(sa, _mm512_cmplt_epu32_mask(ma, inf), sa, ma);
    sb = _mm512_mask_max_epu32(sb, _mm512_cmplt_epu32_mask(mb, inf), sb, mb);
    const __mmask16 na = _mm512_cmpgt_epu32_mask(ma, inf), nb = _mm512_cmpgt_epu32_mask(mb, inf);
    on |= static_cast<unsigned>(na ^ nb);
    const __mmask16 signs_differ = _mm512_cmplt_epi32_mask(_mm512_xor_si512(ua, ub), zero);
    const __m512i same_sign = _mm512_sub_epi32(_mm512_max_epu32(ma, mb), _mm512_min_epu32(ma, mb));
    const __m512i dist = _mm512_mask_add_epi32(same_sign, signs_differ, ma, mb);
    const __mmask16 no_nan = static_cast<__mmask16>(~(na | nb));
    const __mmask16 za = _mm512_testn_epi32_mask(ma, ma), zb = _mm512_testn_epi32_mask(mb, mb);
    const __mmask16 across = static_cast<__mmask16>((za ^ zb) | (~(za | zb) & signs_differ));
    changes += static_cast<unsigned>(_mm_popcnt_u32(static_cast<unsigned>(across & no_nan)));
    mu = _mm512_mask_max_epu32(mu, no_nan, mu, dist);
    const __m256 fa_hi = _mm256_castsi256_ps(_mm512_extracti64x4_epi64(ua, 1));
    const __m256 fb_hi = _mm256_castsi256_ps(_mm512_extracti64x4_epi64(ub, 1));
    const __m512d lo = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(fa)), _mm512_cvtps_pd(_mm512_castps512_ps256(fb)));
    const __m512d hi = _mm512_sub_pd(_mm512_cvtps_pd(fa_hi), _mm512_cvtps_pd(fb_hi));
    md = _mm512_mask_max_epu64(md, static_cast<__mmask8>(ne), md, _mm512_and_si512(_mm512_castpd_si512(lo), abs64));
    md = _mm512_mask_max_epu64(md, static_cast<__mmask8>(ne >> 8), md, _mm512_and_si512(_mm512_castpd_si512(hi), abs64));
  }
  s.scale_a = std::max(s.scale_a, static_cast<std::uint32_t>(_mm512_reduce_max_epu32(sa)));
  s.scale_b = std::max(s.scale_b, static_cast<std::uint32_t>(_mm512_reduce_max_epu32(sb)));
  s.max_ulp = std::max(s.max_ulp, static_cast<std::uint32_t>(_mm512_reduce_max_epu32(mu)));
  s.max_diff = std::max(s.max_diff, static_cast<std::uint64_t>(_mm512_reduce_max_epu64(md)));
  s.one_nan = s.one_nan || on != 0;
  s.differ += cnt;
  s.changes += changes;
  return i;
}
#endif

// The first element whose bits differ (n: none): whole blocks by memcmp, then one at a time.
std::size_t first_difference(const float* a, const float* b, std::size_t n) {
  std::size_t i = 0;
  while (i + 256 <= n && std::memcmp(a + i, b + i, 256 * sizeof(float)) == 0) i += 256;
  while (i + 16 <= n && std::memcmp(a + i, b + i, 16 * sizeof(float)) == 0) i += 16;
  for (; i < n; ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return i;
  return n;
}

}  // namespace

namespace detail {

BitCompare compare_bits_at(CompareIsa level, const float* a, const float* b, std::size_t n) {
  level = static_cast<CompareIsa>(std::min(static_cast<int>(level), static_cast<int>(compare_isa_level())));
  Acc s;
  std::size_t done = 0;
  CompareIsa ran = CompareIsa::scalar;
#if DRIFTLAB_X86
  if (level == CompareIsa::avx512) {
    done = run_avx512(a, b, n, s);
    ran = CompareIsa::avx512;
  } else if (level == CompareIsa::avx2) {
    done = run_avx2(a, b, n, s);
    ran = CompareIsa::avx2;
  }
#endif
  note_path(IsaFamily::compare, ran);
  run_scalar(a + done, b + done, n - done, s);
  BitCompare r;
  r.differ = s.differ;
  r.sign_changes = s.changes;
  r.first = s.differ ? first_difference(a, b, n) : n;
  r.max_ulp = s.max_ulp;
  r.one_nan = s.one_nan;
  r.max_diff_bits = s.max_diff;
  r.scale_a = s.scale_a;
  r.scale_b = s.scale_b;
  return r;
}

}  // namespace detail

BitCompare compare_bits(const float* a, const float* b, std::size_t n) {
  return detail::compare_bits_at(detail::compare_isa_level(), a, b, n);
}

}  // namespace driftlab::cpu
