// The order of driftlab's split-KV attention decode: written down once, used by the CPU twins
// (kernels/cpu/attention.cpp) and the CUDA kernels (kernels/cuda/attention.cu).
//
// One decode step: B sequences, H heads, head dim d; sequence b has its own KV length L_b >= 1.
// For every (b, h): out = softmax(q . K^T * scale) . V, scale = 1/sqrt(d) as two float
// operations, each correctly rounded (sqrt of float(d), then its reciprocal), computed once
// (on the host, `softmax_scale`).  Every operation below is one IEEE float operation with
// round-to-nearest: mul, add, sub, div and fma (one rounding), never contracted or reordered.
//
// Layout: q [B][H][d]; K and V of sequence b are [H][L_b][d] (head-major, sequences one after
// another: element (b, h, t, i) at ((off_b * H) + h * L_b + t) * d + i, off_b = L_0 + ... +
// L_{b-1}); out [B][H][d].
//
// 1. Chunks.  The L_b tokens of (b, h) are cut into chunks [j*C, min(L_b, (j+1)*C)) of C
//    tokens (the last may be short), n_b = ceil(L_b / C) chunks, none empty.  C is the only
//    thing the variants choose differently:
//      single       C = L_b (one chunk).
//      fixed_split  C = the split size (default 256 tokens), whatever the batch.
//      split_count  S = num_splits(B*H, SMs, ceil(L_max / block_n)) -- FlashAttention-2's
//      and atomic   heuristic, below -- and C = block_n * ceil(ceil(L_max / block_n) / S), so C
//                   depends on the batch size and on the longest sequence in the batch.
// 2. Partial of a chunk [t0, t1): m = -inf, l = +0, acc[0..d) = +0.  The chunk is read in tiles
//    of kTile = 32 consecutive tokens from t0 (the last may be short).  Per tile:
//      a. s_t = mul(dot_t, scale), dot_t = fma chain over i = 0 .. d-1 from +0:
//         dot = fma(q[i], k_t[i], dot);
//      b. m_new = max(m, s_t for t in the tile)  (exact; NaN-free inputs assumed);
//      c. alpha = (m == -inf) ? 0 : exp(m - m_new); l = mul(l, alpha); acc[i] = mul(acc[i], alpha);
//      d. for t in the tile, in increasing t: p = exp(s_t - m_new); l = add(l, p);
//         acc[i] = fma(p, v_t[i], acc[i]) for every i;
//      e. m = m_new.
//    A max may return either zero when +0 meets -0; that never reaches an output: m is used
//    only through differences x - m and exp(+0) = exp(-0) = 1 exactly.
// 3. Merge (split_count, fixed_split, single).  merge(a, b), a the earlier chunk:
//      M = max(m_a, m_b); ca = rescale(m_a, M); cb = rescale(m_b, M);
//      l = add(mul(l_a, ca), mul(l_b, cb)); acc[i] = add(mul(acc_a[i], ca), mul(acc_b[i], cb)).
//    The n_b partials are merged by a fixed pairwise tree: for stride = 1, 2, 4, ... < n_b,
//    P_j = merge(P_j, P_{j+stride}) for j = 0, 2*stride, 4*stride, ... with j + stride < n_b.
//    out[i] = div(acc_0[i], l_0) (0 when l_0 == 0).
// 4. atomic.  The same chunks as split_count.  M = max over all n_b chunks' m (exact);
//    L = +0, O[i] = +0; each chunk adds mul(l_j, c_j) to L and mul(acc_j[i], c_j) to O[i],
//    c_j = rescale(m_j, M), with atomic adds in whatever order the chunks finish; out = div(O, L).
//
// exp is not the C library's (glibc's expf and CUDA's expf differ in bits): `exp_nonpos` below
// is Cephes's expf -- Cody-Waite reduction by ln 2 and a degree-6 polynomial -- written with
// explicit fma, mul and add, so both backends compute the same bits.  Arguments are always
// <= 0 here; below -87 (e^-87 < 2^-125) it returns +0.
//
// Determinism: single and fixed_split depend only on q, K, V and L_b of their own (b, h) (and
// the split size): run to run, batch-invariant, and the same bits on CPU and GPU.
// split_count: run to run, but C depends on B, H, the SM count and L_max.  atomic: none.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/common/attention_variant.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/hd.h"
#include "kernels/common/sum_order.h"

namespace driftlab::attention {

inline constexpr std::size_t kTile = 32;         // tokens per tile (one per lane of a warp)
inline constexpr std::size_t kMaxHeadDim = 256;  // the CUDA kernel keeps d / 128 <= 2 values per thread
inline constexpr std::size_t kDefaultSplitSize = 256;
inline constexpr int kMaxSplits = 128;           // FlashAttention-2's cap
// The SM count the CPU backend plans split_count with: a stated, fixed nominal device (an H100
// SXM / H200 has 132 SMs), so that the CPU shows the heuristic's batch dependence as a GPU would.
inline constexpr int kNominalSms = 132;

using order::add;  // one rounded addition, never contracted (sum_order.h)

DL_HD float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
using fp::fma;  // one rounded fused multiply-add (hd.h)
DL_HD float div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
DL_HD float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
// b if b > a, else a: the first argument is kept on ties.
DL_HD float max(float a, float b) { return b > a ? b : a; }

// e^x for x <= 0: Cephes expf (S. Moshier), |relative error| of a few float ulps on [-87, 0]
// (tests/test_attention.cpp measures it against a float64 exp).
DL_HD float exp_nonpos(float x) {
  if (!(x >= -87.0f)) return x != x ? x : 0.0f;  // NaN passes; e^x < 2^-125 flushes to +0
  const float t = mul(x, 1.44269504088896341f);   // x / ln 2
  const float k = add(add(t, 12582912.0f), -12582912.0f);  // nearest integer (|t| < 2^22), -126..0
  float r = fma(k, -0.693359375f, x);             // x - k ln2, ln2 = C1 + C2 (Cody-Waite)
  r = fma(k, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fma(p, r, 1.3981999507e-3f);
  p = fma(p, r, 8.3334519073e-3f);
  p = fma(p, r, 4.1665795894e-2f);
  p = fma(p, r, 1.6666665459e-1f);
  p = fma(p, r, 5.0000001201e-1f);
  const float y = add(fma(p, mul(r, r), r), 1.0f);  // e^r
  const int ki = static_cast<int>(k);
  return mul(y, from_bits<float>(static_cast<std::uint32_t>(ki + 127) << 23));  // * 2^k
}

// The factor a partial with max m_old is rescaled by when the running max becomes m_new.
DL_HD float rescale(float m_old, float m_new) {
  return m_old == -INFINITY ? 0.0f : exp_nonpos(sub(m_old, m_new));
}

// Step 2a: one token's logit.
DL_HD float score(const float* q, const float* k, std::size_t d, float scale) {
  float dot = 0.0f;
  for (std::size_t i = 0; i < d; ++i) dot = fma(q[i], k[i], dot);
  return mul(dot, scale);
}

// 1/sqrt(d): float sqrt of float(d), then a float division, each correctly rounded (so not
// always the once-rounded 1/sqrt(d): d = 6, 7, 17, ... differ); computed on the host.
inline float softmax_scale(std::size_t d) { return 1.0f / std::sqrt(static_cast<float>(d)); }

// FlashAttention-2's block_n for the split-KV kernel: 256, 128 or 64 keys by head dim.
DL_HD std::size_t block_n(std::size_t d) { return d <= 64 ? 256 : (d <= 128 ? 128 : 64); }

// FlashAttention-2's num_splits_heuristic (flash_api.cpp): one split when B*H almost fills the
// SMs; otherwise the fewest splits whose wave efficiency is within 85% of the best.
inline int num_splits(std::size_t batch_heads, int num_sms, std::size_t num_n_blocks, int max_splits = kMaxSplits) {
  if (static_cast<double>(batch_heads) >= 0.8 * num_sms) return 1;
  std::size_t cap = static_cast<std::size_t>(max_splits);
  if (static_cast<std::size_t>(num_sms) < cap) cap = static_cast<std::size_t>(num_sms);
  if (num_n_blocks < cap) cap = num_n_blocks;
  auto ceildiv = [](std::size_t a, std::size_t b) { return (a + b - 1) / b; };
  auto eligible = [&](std::size_t s) { return s == 1 || ceildiv(num_n_blocks, s) != ceildiv(num_n_blocks, s - 1); };
  auto efficiency = [&](std::size_t s) {
    const float waves = static_cast<float>(batch_heads * s) / static_cast<float>(num_sms);
    return waves / std::ceil(waves);
  };
  float best = 0.0f;
  for (std::size_t s = 1; s <= cap; ++s)
    if (eligible(s) && efficiency(s) > best) best = efficiency(s);
  for (std::size_t s = 1; s <= cap; ++s)
    if (eligible(s) && efficiency(s) >= 0.85f * best) return static_cast<int>(s);
  return 1;
}

// The weight of a token with logit s under running max m (step 2d).
DL_HD float weight(float s, float m) { return exp_nonpos(sub(s, m)); }

// Step 1 for split_count and atomic: the chunk length C shared by every sequence of the batch.
inline std::size_t split_count_chunk(std::size_t B, std::size_t H, std::size_t d, std::size_t max_len, int num_sms) {
  const std::size_t bn = block_n(d);
  const std::size_t blocks = (max_len + bn - 1) / bn;
  const std::size_t S = static_cast<std::size_t>(num_splits(B * H, num_sms, blocks));
  return bn * ((blocks + S - 1) / S);
}

// Step 1: the chunk length C a variant uses for a batch whose longest KV is max_len; 0 for single
// (each sequence its own length).
inline std::size_t plan_chunk(AttentionVariant v, std::size_t B, std::size_t H, std::size_t d, std::size_t max_len,
                              std::size_t split_size, int num_sms) {
  switch (v) {
    case AttentionVariant::single: return 0;
    case AttentionVariant::fixed_split: return split_size;
    case AttentionVariant::split_count:
    case AttentionVariant::atomic: return split_count_chunk(B, H, d, max_len, num_sms);
  }
  return 0;
}

// C for sequence b: `chunk` (the batch's) or, when chunk == 0 (single), its own length.
DL_HD std::size_t chunk_len(std::size_t chunk, std::size_t L) { return chunk == 0 ? L : chunk; }
DL_HD std::size_t num_chunks(std::size_t chunk, std::size_t L) {
  const std::size_t c = chunk_len(chunk, L);
  return c == 0 ? 0 : (L + c - 1) / c;
}

// Step 3 on one value of two partials: the factors are computed once per pair of partials.
struct MergeFactors {
  float m, ca, cb;
};
DL_HD MergeFactors merge_factors(float m_a, float m_b) {
  const float M = max(m_a, m_b);
  return {M, rescale(m_a, M), rescale(m_b, M)};
}
DL_HD float merge_value(float a, float b, const MergeFactors& f) { return add(mul(a, f.ca), mul(b, f.cb)); }

DL_HD float finish(float acc, float l) { return l == 0.0f ? 0.0f : div(acc, l); }

// The CUDA partial kernel's block mapping (kernels/cuda/attention.cu), written here so that the CPU
// tests replay the kernel's own per-thread steps (tests/test_attention.cpp, AttentionBlockReplay).
// It changes no order: one block of kThreads threads runs one chunk's step 2 tile by tile; lane t
// of warp 0 computes token t's score chain and weight, and thread tid owns dims tid + kThreads * c
// (c < kDimsPerThread), whose values run step 2c-2d in the written order.  A tile's K and V rows
// are contiguous in memory and copied to shared memory in 16-byte pieces (4-byte when d % 4 != 0):
// piece e of the tile is token e / (d/4), dims 4 * (e % (d/4)) .. +3.  K rows are padded to
// k_ld(d) floats (a warp's 16-byte score reads of 32 rows hit distinct banks), V rows to v_ld(d).
namespace block {
inline constexpr int kThreads = 128;  // 4 warps
inline constexpr int kDimsPerThread = static_cast<int>(kMaxHeadDim) / kThreads;  // 2
DL_HD std::size_t v_ld(std::size_t d) { return (d + 3) / 4 * 4; }
DL_HD std::size_t k_ld(std::size_t d) { return v_ld(d) + 4; }
// A block's shared memory, in floats from its start; the kernel carves it by this, and its size is
// `end` (the tests check that the parts are disjoint, inside it, and 16-byte aligned where the kernel
// reads or copies 16 bytes): q (d floats), the tile's weights p (kTile), f (alpha and m_new; 4
// floats, so that K starts 16-byte aligned), two stages of K (kTile rows of k_ld(d)) and of V (v_ld).
struct Smem {
  std::size_t q, p, f, k, v, end;
};
DL_HD Smem smem(std::size_t d) {
  const std::size_t p = v_ld(d), f = p + kTile, k = f + 4, v = k + 2 * kTile * k_ld(d);
  return {0, p, f, k, v, v + 2 * kTile * v_ld(d)};
}
// The largest head dim whose block fits `bytes` of shared memory (0 if none): 256 on H100/H200
// (227 KiB) and A100 (163 KiB), 192 where a block gets about 99 KiB (compute capability 8.6, 8.9, 12.0).
inline std::size_t max_head_dim(std::size_t bytes) {
  std::size_t most = 0;
  for (std::size_t d = 1; d <= kMaxHeadDim; ++d)
    if (smem(d).end * sizeof(float) <= bytes) most = d;
  return most;
}
// Piece e (of `width` floats: 4 or 1) of a tile: its token and first dim.
DL_HD void tile_piece(std::size_t e, std::size_t d, std::size_t width, std::size_t& t, std::size_t& i) {
  const auto per_row = static_cast<std::uint32_t>(d / width), ue = static_cast<std::uint32_t>(e);  // < 2^13
  t = ue / per_row;
  i = width * (ue % per_row);
}
// Steps 2c-2d of one tile for thread tid's dims: alpha and the n weights p[0..n) are the tile's
// (computed by warp 0); Vs holds the tile's V rows at stride ldv.
DL_HD void tile_update(float& l, float (&acc)[kDimsPerThread], float alpha, const float* p, std::size_t n,
                       const float* Vs, std::size_t ldv, std::size_t d, int tid) {
  l = mul(l, alpha);
  for (int c = 0; c < kDimsPerThread; ++c) acc[c] = mul(acc[c], alpha);
#if defined(__CUDA_ARCH__)
#pragma unroll 4
#endif
  for (std::size_t t = 0; t < n; ++t) {
    const float pt = p[t];
    l = add(l, pt);
    for (int c = 0; c < kDimsPerThread; ++c) {
      const std::size_t i = static_cast<std::size_t>(tid) + kThreads * static_cast<std::size_t>(c);
      if (i < d) acc[c] = fma(pt, Vs[t * ldv + i], acc[c]);
    }
  }
}
}  // namespace block

}  // namespace driftlab::attention
