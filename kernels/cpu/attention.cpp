// Split-KV attention decode on the CPU.  Every variant computes its chunks' partials with the same
// tile code (chunk_partial, attention_order.h step 2); they differ only in how long the chunks are
// and how the partials are combined -- which is the point.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "kernels/common/rng.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#endif

namespace driftlab::cpu {
namespace {

namespace at = attention;
constexpr std::size_t kTile = at::kTile;

// Step 2 for one chunk of n tokens (Kc, Vc point at its first token).  The tile is transposed so
// that the 32 tokens' fma chains run side by side in vector lanes: each lane is still one chain
// over i = 0 .. d-1 in order, so the builds below (AVX-512, AVX2+FMA, baseline) give the same
// bits at any vector width; only the speed differs.  They are picked by the CPU's features, as
// every CPU kernel picks its path: through the one dispatcher, isa.h (DRIFTLAB_ISA caps it).
#if defined(__GNUC__)
#define DRIFTLAB_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define DRIFTLAB_ALWAYS_INLINE inline
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns that the intrinsics' internal undefined vectors may be used uninitialized (a known
// false positive of _mm512_unpack*/shuffle_f32x4 at -O2 -Wall).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// dst row c (stride ld_dst) = column c of the 16 x 16 block at src (row stride ld_src).
__attribute__((target("avx512f"))) void transpose16(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ld_dst, r[i]);
}
// A full tile of 32 keys (d a multiple of 16) into kt [d][32]: pure data movement, no arithmetic.
__attribute__((target("avx512f"))) void transpose_tile_avx512(const float* k, std::size_t d, float* kt) {
  for (std::size_t i0 = 0; i0 < d; i0 += 16)
    for (std::size_t t0 = 0; t0 < kTile; t0 += 16) transpose16(k + t0 * d + i0, d, kt + i0 * kTile + t0, kTile);
}
// The same at AVX2: 8 x 8 blocks (dst row c = column c of the block), d a multiple of 8.
__attribute__((target("avx2"))) void transpose8(const float* src, std::size_t ld_src, float* dst, std::size_t ld_dst) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ld_dst, t[i]);
}
__attribute__((target("avx2"))) void transpose_tile_avx2(const float* k, std::size_t d, float* kt) {
  for (std::size_t i0 = 0; i0 < d; i0 += 8)
    for (std::size_t t0 = 0; t0 < kTile; t0 += 8) transpose8(k + t0 * d + i0, d, kt + i0 * kTile + t0, kTile);
}

// Steps c and d for one tile with the accumulators in vector registers: the dims in blocks of one
// vector, G blocks at a time, and for each block every token of the tile in increasing t.  Each
// acc[i] still sees mul(acc[i], alpha) (when alpha != 1), then fma(p_t, v_t[i], acc[i]) for t = 0 ..
// n-1 in order: the bits of the plain loop, which kept acc in memory (a store and a reload per
// token and vector).  v: the tile's first V row (row t at v + t * d); d a multiple of the width.
template <int G>
__attribute__((target("avx512f"))) DRIFTLAB_ALWAYS_INLINE void update_group_avx512(float* acc, const float* v, std::size_t d,
                                                                               const float* p, std::size_t n, float alpha) {
  __m512 a[G];
  for (int g = 0; g < G; ++g) a[g] = _mm512_loadu_ps(acc + 16 * g);
  if (alpha != 1.0f) {
    const __m512 va = _mm512_set1_ps(alpha);
    for (int g = 0; g < G; ++g) a[g] = _mm512_mul_ps(a[g], va);
  }
  for (std::size_t t = 0; t < n; ++t) {
    const __m512 pt = _mm512_set1_ps(p[t]);
    for (int g = 0; g < G; ++g) a[g] = _mm512_fmadd_ps(pt, _mm512_loadu_ps(v + t * d + 16 * g), a[g]);
  }
  for (int g = 0; g < G; ++g) _mm512_storeu_ps(acc + 16 * g, a[g]);
}
__attribute__((target("avx512f"))) void update_tile_avx512(float* acc, const float* v, std::size_t d, const float* p,
                                                           std::size_t n, float alpha) {
  std::size_t i = 0;
  for (; i + 128 <= d; i += 128) update_group_avx512<8>(acc + i, v + i, d, p, n, alpha);
  for (; i + 64 <= d; i += 64) update_group_avx512<4>(acc + i, v + i, d, p, n, alpha);
  for (; i < d; i += 16) update_group_avx512<1>(acc + i, v + i, d, p, n, alpha);
}
template <int G>
__attribute__((target("avx2,fma"))) DRIFTLAB_ALWAYS_INLINE void update_group_avx2(float* acc, const float* v, std::size_t d,
                                                                              const float* p, std::size_t n, float alpha) {
  __m256 a[G];
  for (int g = 0; g < G; ++g) a[g] = _mm256_loadu_ps(acc + 8 * g);
  if (alpha != 1.0f) {
    const __m256 va = _mm256_set1_ps(alpha);
    for (int g = 0; g < G; ++g) a[g] = _mm256_mul_ps(a[g], va);
  }
  for (std::size_t t = 0; t < n; ++t) {
    const __m256 pt = _mm256_set1_ps(p[t]);
    for (int g = 0; g < G; ++g) a[g] = _mm256_fmadd_ps(pt, _mm256_loadu_ps(v + t * d + 8 * g), a[g]);
  }
  for (int g = 0; g < G; ++g) _mm256_storeu_ps(acc + 8 * g, a[g]);
}
__attribute__((target("avx2,fma"))) void update_tile_avx2(float* acc, const float* v, std::size_t d, const float* p,
                                                          std::size_t n, float alpha) {
  std::size_t i = 0;
  for (; i + 64 <= d; i += 64) update_group_avx2<8>(acc + i, v + i, d, p, n, alpha);
  for (; i + 32 <= d; i += 32) update_group_avx2<4>(acc + i, v + i, d, p, n, alpha);
  for (; i < d; i += 8) update_group_avx2<1>(acc + i, v + i, d, p, n, alpha);
}
#else
void transpose_tile_avx512(const float*, std::size_t, float*) {}  // never called off x86
void transpose_tile_avx2(const float*, std::size_t, float*) {}
void update_tile_avx512(float*, const float*, std::size_t, const float*, std::size_t, float) {}
void update_tile_avx2(float*, const float*, std::size_t, const float*, std::size_t, float) {}
#endif

// Which vector code a build of chunk_partial_body runs (the same bits at every level).
enum class TileIsa { baseline, avx2, avx512 };

template <TileIsa kIsa>
DRIFTLAB_ALWAYS_INLINE void chunk_partial_body(const float* q, const float* Kc, const float* Vc, std::size_t n_tokens,
                                               std::size_t d, float scale, float* m_out, float* l_out, float* acc) {
  alignas(64) float kt[at::kMaxHeadDim * kTile];
  alignas(64) float dot[kTile];
  float s[kTile], p[kTile];
  float m = -INFINITY, l = 0.0f;
  for (std::size_t i = 0; i < d; ++i) acc[i] = 0.0f;
  for (std::size_t t0 = 0; t0 < n_tokens; t0 += kTile) {
    const std::size_t n = std::min(kTile, n_tokens - t0);
    const float* k = Kc + t0 * d;
    if (kIsa == TileIsa::avx512 && n == kTile && d % 16 == 0) transpose_tile_avx512(k, d, kt);
    else if (kIsa == TileIsa::avx2 && n == kTile && d % 8 == 0) transpose_tile_avx2(k, d, kt);
    else
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t i = 0; i < d; ++i) kt[i * kTile + t] = k[t * d + i];
    if (n < kTile)
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t t = n; t < kTile; ++t) kt[i * kTile + t] = 0.0f;
    for (std::size_t t = 0; t < kTile; ++t) dot[t] = 0.0f;
    for (std::size_t i = 0; i < d; ++i) {  // step a, one chain per lane
      const float qi = q[i];
      const float* row = kt + i * kTile;
      for (std::size_t t = 0; t < kTile; ++t) dot[t] = std::fma(qi, row[t], dot[t]);
    }
    float m_new = m;
    for (std::size_t t = 0; t < n; ++t) {  // step b
      s[t] = at::mul(dot[t], scale);
      m_new = at::max(m_new, s[t]);
    }
    const float alpha = at::rescale(m, m_new);  // step c (a factor of exactly 1 changes nothing)
    if (alpha != 1.0f) l = at::mul(l, alpha);
    for (std::size_t t = 0; t < n; ++t) {  // step d: the weights and l, in increasing t
      p[t] = at::weight(s[t], m_new);
      l = at::add(l, p[t]);
    }
    const float* v = Vc + t0 * d;
    if (kIsa == TileIsa::avx512 && d % 16 == 0) update_tile_avx512(acc, v, d, p, n, alpha);
    else if (kIsa == TileIsa::avx2 && d % 8 == 0) update_tile_avx2(acc, v, d, p, n, alpha);
    else {
      if (alpha != 1.0f)
        for (std::size_t i = 0; i < d; ++i) acc[i] = at::mul(acc[i], alpha);
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t i = 0; i < d; ++i) acc[i] = std::fma(p[t], v[t * d + i], acc[i]);
    }
    m = m_new;
  }
  *m_out = m;
  *l_out = l;
}

void chunk_partial_baseline(const float* q, const float* Kc, const float* Vc, std::size_t n, std::size_t d, float scale,
                            float* m, float* l, float* acc) {
  chunk_partial_body<TileIsa::baseline>(q, Kc, Vc, n, d, scale, m, l, acc);
}
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx2,fma"))) void chunk_partial_avx2(const float* q, const float* Kc, const float* Vc, std::size_t n,
                                                            std::size_t d, float scale, float* m, float* l, float* acc) {
  chunk_partial_body<TileIsa::avx2>(q, Kc, Vc, n, d, scale, m, l, acc);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void chunk_partial_avx512(const float* q, const float* Kc,
                                                                               const float* Vc, std::size_t n,
                                                                               std::size_t d, float scale, float* m,
                                                                               float* l, float* acc) {
  chunk_partial_body<TileIsa::avx512>(q, Kc, Vc, n, d, scale, m, l, acc);
}
#pragma GCC diagnostic pop  // (pushed before transpose16, which is inlined up to here)
#endif

void chunk_partial(const float* q, const float* Kc, const float* Vc, std::size_t n, std::size_t d, float scale, float* m,
                   float* l, float* acc) {
  switch (detail::attention_isa()) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    case detail::GemmIsa::avx512:
      detail::note_path(detail::IsaFamily::attention, Isa::avx512);
      return chunk_partial_avx512(q, Kc, Vc, n, d, scale, m, l, acc);
    case detail::GemmIsa::avx2:
      detail::note_path(detail::IsaFamily::attention, Isa::avx2);
      return chunk_partial_avx2(q, Kc, Vc, n, d, scale, m, l, acc);
#endif
    default:
      detail::note_path(detail::IsaFamily::attention, Isa::scalar);
      return chunk_partial_baseline(q, Kc, Vc, n, d, scale, m, l, acc);
  }
}

struct Plan {
  std::size_t chunk = 0;        // C (0: single)
  std::size_t max_chunks = 0;   // partial slots per (b, h)
  std::vector<std::size_t> off; // token offset of each sequence
  std::vector<std::size_t> task_bh, task_j;  // chunk tasks, (b, h)-major
};

Plan make_plan(AttentionVariant v, const AttentionProblem& p, const AttentionContext& ctx) {
  if (p.d == 0 || p.d > at::kMaxHeadDim) throw std::invalid_argument("attention: head dim must be 1 to 256");
  if (v == AttentionVariant::fixed_split && ctx.split_size == 0) throw std::invalid_argument("attention: split size must be >= 1");
  Plan plan;
  plan.off.resize(p.B);
  std::size_t off = 0;
  for (std::size_t b = 0; b < p.B; ++b) {
    if (p.kv_len[b] == 0) throw std::invalid_argument("attention: every KV length must be >= 1");
    plan.off[b] = off;
    off += p.kv_len[b];
  }
  plan.chunk = attention_chunk(v, p.B, p.H, p.d, p.kv_len, ctx.split_size, ctx.num_sms);
  for (std::size_t b = 0; b < p.B; ++b) plan.max_chunks = std::max(plan.max_chunks, at::num_chunks(plan.chunk, p.kv_len[b]));
  for (std::size_t b = 0; b < p.B; ++b)
    for (std::size_t h = 0; h < p.H; ++h)
      for (std::size_t j = 0; j < at::num_chunks(plan.chunk, p.kv_len[b]); ++j) {
        plan.task_bh.push_back(b * p.H + h);
        plan.task_j.push_back(j);
      }
  return plan;
}

template <class Fn> void for_tasks(const AttentionContext& ctx, std::size_t n, Fn&& fn) {
  if (ctx.pool) ctx.pool->parallel_for(n, [&](std::size_t t, int) { fn(t); });
  else for (std::size_t t = 0; t < n; ++t) fn(t);
}

struct Partials {
  std::vector<float> m, l, acc;  // [B*H][max_chunks] (acc: x d)
};

Partials compute_partials(const AttentionProblem& p, const Plan& plan, const AttentionContext& ctx) {
  const std::size_t slots = p.B * p.H * plan.max_chunks, d = p.d;
  Partials P{std::vector<float>(slots), std::vector<float>(slots), std::vector<float>(slots * d)};
  const float scale = at::softmax_scale(d);
  for_tasks(ctx, plan.task_bh.size(), [&](std::size_t task) {
    const std::size_t bh = plan.task_bh[task], j = plan.task_j[task], b = bh / p.H, h = bh % p.H;
    const std::size_t L = p.kv_len[b], C = at::chunk_len(plan.chunk, L);
    const std::size_t t0 = j * C, t1 = std::min(L, t0 + C);
    const std::size_t base = (plan.off[b] * p.H + h * L + t0) * d;
    const std::size_t slot = bh * plan.max_chunks + j;
    chunk_partial(p.q + bh * d, p.K + base, p.V + base, t1 - t0, d, scale, &P.m[slot], &P.l[slot], &P.acc[slot * d]);
  });
  return P;
}

// Step 3: the fixed pairwise tree over a (b, h)'s n partials, in place, then out = acc / l.
void tree_merge(Partials& P, std::size_t bh, std::size_t n, std::size_t max_chunks, std::size_t d, float* out) {
  const std::size_t s0 = bh * max_chunks;
  for (std::size_t stride = 1; stride < n; stride *= 2)
    for (std::size_t j = 0; j + stride < n; j += 2 * stride) {
      const std::size_t a = s0 + j, b = s0 + j + stride;
      const at::MergeFactors f = at::merge_factors(P.m[a], P.m[b]);
      P.m[a] = f.m;
      P.l[a] = at::merge_value(P.l[a], P.l[b], f);
      float* acc_a = &P.acc[a * d];
      const float* acc_b = &P.acc[b * d];
      for (std::size_t i = 0; i < d; ++i) acc_a[i] = at::merge_value(acc_a[i], acc_b[i], f);
    }
  for (std::size_t i = 0; i < d; ++i) out[bh * d + i] = at::finish(P.acc[s0 * d + i], P.l[s0]);
}

void attention_tree(const AttentionProblem& p, const Plan& plan, float* out, const AttentionContext& ctx) {
  Partials P = compute_partials(p, plan, ctx);
  for_tasks(ctx, p.B * p.H, [&](std::size_t bh) {
    tree_merge(P, bh, at::num_chunks(plan.chunk, p.kv_len[bh / p.H]), plan.max_chunks, p.d, out);
  });
}

// Step 4: every chunk's rescaled partial added into O and L with atomics.
void attention_atomic(const AttentionProblem& p, const Plan& plan, float* out, const AttentionContext& ctx) {
  Partials P = compute_partials(p, plan, ctx);
  const std::size_t BH = p.B * p.H, d = p.d;
  std::vector<float> M(BH, -INFINITY), L(BH, 0.0f);
  for (std::size_t bh = 0; bh < BH; ++bh)  // the exact max over the chunks: order-free
    for (std::size_t j = 0; j < at::num_chunks(plan.chunk, p.kv_len[bh / p.H]); ++j)
      M[bh] = at::max(M[bh], P.m[bh * plan.max_chunks + j]);
  std::fill(out, out + BH * d, 0.0f);
  auto contribution = [&](std::size_t task, auto&& add_to) {
    const std::size_t bh = plan.task_bh[task], slot = bh * plan.max_chunks + plan.task_j[task];
    const float c = at::rescale(P.m[slot], M[bh]);
    add_to(L[bh], at::mul(P.l[slot], c));
    for (std::size_t i = 0; i < d; ++i) add_to(out[bh * d + i], at::mul(P.acc[slot * d + i], c));
  };
  const std::size_t tasks = plan.task_bh.size();
  if (ctx.shuffle_seed) {  // the model: contributions land in a seeded random order
    std::vector<std::size_t> order(tasks);
    std::iota(order.begin(), order.end(), std::size_t(0));
    SplitMix64 g(*ctx.shuffle_seed);
    for (std::size_t i = tasks; i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
    for (const std::size_t t : order) contribution(t, [](float& dst, float v) { dst = at::add(dst, v); });
  } else {  // real atomics: each task adds as it runs, racing the others
    for_tasks(ctx, tasks, [&](std::size_t t) {
      contribution(t, [](float& dst, float v) { std::atomic_ref<float>(dst).fetch_add(v, std::memory_order_relaxed); });
    });
  }
  for (std::size_t bh = 0; bh < BH; ++bh)
    for (std::size_t i = 0; i < d; ++i) out[bh * d + i] = at::finish(out[bh * d + i], L[bh]);
}

}  // namespace

std::size_t attention_chunk(AttentionVariant v, std::size_t B, std::size_t H, std::size_t d, const std::size_t* kv_len,
                            std::size_t split_size, int num_sms) {
  const std::size_t max_len = B ? *std::max_element(kv_len, kv_len + B) : 0;
  return at::plan_chunk(v, B, H, d, max_len, split_size, num_sms);
}

void attention(AttentionVariant v, const AttentionProblem& p, float* out, const AttentionContext& ctx) {
  if (p.B == 0 || p.H == 0) return;
  (void)detail::attention_isa();  // a bad DRIFTLAB_ISA throws here, on the caller's thread
  const Plan plan = make_plan(v, p, ctx);
  if (v == AttentionVariant::atomic) attention_atomic(p, plan, out, ctx);
  else attention_tree(p, plan, out, ctx);
}

}  // namespace driftlab::cpu
