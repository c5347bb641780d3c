// Split-KV attention decode on CUDA, every variant side by side.
//
//   single       partial_kernel with one chunk per (b, h), writing out = acc / l directly.
//   fixed_split  partial_kernel, one block of 4 warps per (b, h, chunk), partials to d_temp;
//   split_count  tree_merge_kernel merges them by attention_order.h's fixed tree.  No atomics.
//   atomic       partial_kernel, then atomic_merge_kernel: float atomics ACCUMULATE the rescaled
//                partials into out and L in completion order -- nondeterministic; finish_kernel.
//
// partial_kernel is attention_order.h step 2 with a block of 4 warps per chunk: K and V tiles of 32
// tokens copied to shared memory in 16-byte pieces (cp.async, double-buffered), lane t of warp 0
// running token t's score chain, the tile max a butterfly of exact maxes, the weights shared, and
// every thread updating its dims tid, tid + 128 in increasing t -- the CPU twin's order exactly
// (the block mapping: attention_order.h's attention::block).
#include <cstdint>

#include "kernels/common/float_bits.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace driftlab::cuda {
namespace {

namespace at = attention;
namespace ab = attention::block;
constexpr int kWarp = 32;
constexpr int kThreads = ab::kThreads;  // 4 warps
constexpr int kDims = ab::kDimsPerThread;
static_assert(at::kTile == kWarp, "one token per lane of warp 0");

struct Seq {
  std::size_t L, C, n, base_tokens;  // length, chunk length, chunks, token offset of (b, h)
};
__device__ Seq seq_of(const AttentionDeviceArgs& a, std::size_t bh) {
  const std::size_t b = bh / a.H, h = bh % a.H;
  const std::size_t L = a.d_kv_len[b];
  return {L, at::chunk_len(a.chunk, L), at::num_chunks(a.chunk, L), a.d_kv_off[b] * a.H + h * L};
}

__device__ __forceinline__ void cp_async4(float* dst, const float* src) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async16(float* dst, const float* src) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// at::score with 16-byte shared loads (d % 4 == 0, 16-byte aligned rows): the same fma chain.
__device__ __forceinline__ float score_vec4(const float* q, const float* k, std::size_t d, float scale) {
  float dot = 0.0f;
  for (std::size_t i = 0; i < d; i += 4) {
    const float4 qv = *reinterpret_cast<const float4*>(q + i);
    const float4 kv = *reinterpret_cast<const float4*>(k + i);
    dot = at::fma(qv.x, kv.x, dot);
    dot = at::fma(qv.y, kv.y, dot);
    dot = at::fma(qv.z, kv.z, dot);
    dot = at::fma(qv.w, kv.w, dot);
  }
  return at::mul(dot, scale);
}


// grid (max_chunks, B*H), 128 threads (4 warps) per (b, h, chunk).  The chunk's tiles of 32
// tokens are copied K and V at once (contiguous rows, cp.async 16 bytes when vec: d % 4 == 0 and
// K, V 16-byte aligned) into two shared stages, tile t+1 while tile t is computed.  Per tile:
// warp 0 computes the 32 scores (lane t: token t's chain, 16-byte shared reads), the tile max (a
// butterfly of exact maxes), alpha and the weights into shared memory; then every thread runs
// ab::tile_update on its dims -- the CPU twin's order exactly.
__global__ void __launch_bounds__(kThreads) partial_kernel(AttentionDeviceArgs a, float scale, float* d_m, float* d_l,
                                                           float* d_acc, float* d_out, bool vec) {
  extern __shared__ __align__(16) float smem[];
  const std::size_t d = a.d, bh = blockIdx.y, j = blockIdx.x;
  const Seq s = seq_of(a, bh);
  if (j >= s.n) return;
  const int tid = threadIdx.x, lane = tid % kWarp, warp = tid / kWarp;
  const std::size_t ldk = ab::k_ld(d), ldv = ab::v_ld(d);
  const ab::Smem L = ab::smem(d);  // q, the tile's weights, alpha and m_new, two stages of K and V
  float* q = smem + L.q;
  float* p_s = smem + L.p;
  float* f_s = smem + L.f;  // [0] alpha, [1] m_new
  float* Ks = smem + L.k;
  float* Vs = smem + L.v;
  for (std::size_t i = tid; i < d; i += kThreads) q[i] = a.d_q[bh * d + i];
  const std::size_t t0 = j * s.C, t1 = t0 + s.C < s.L ? t0 + s.C : s.L;
  const float* K = a.d_K + s.base_tokens * d;
  const float* V = a.d_V + s.base_tokens * d;

  auto load = [&](int st, std::size_t tt) {  // the tile from token tt into stage st
    const std::size_t n = t1 - tt < at::kTile ? t1 - tt : at::kTile;
    const float* kg = K + tt * d;
    const float* vg = V + tt * d;
    float* kd = Ks + st * at::kTile * ldk;
    float* vd = Vs + st * at::kTile * ldv;
    const std::size_t width = vec ? 4 : 1, pieces = n * d / width;
    for (std::size_t e = tid; e < pieces; e += kThreads) {
      std::size_t t, i;
      ab::tile_piece(e, d, width, t, i);
      if (vec) {
        cp_async16(kd + t * ldk + i, kg + 4 * e);
        cp_async16(vd + t * ldv + i, vg + 4 * e);
      } else {
        cp_async4(kd + t * ldk + i, kg + e);
        cp_async4(vd + t * ldv + i, vg + e);
      }
    }
  };

  float m = -INFINITY, l = 0.0f, acc[kDims];
#pragma unroll
  for (int c = 0; c < kDims; ++c) acc[c] = 0.0f;
  const std::size_t tiles = (t1 - t0 + at::kTile - 1) / at::kTile;
  load(0, t0);
  cp_async_commit();
  for (std::size_t tile = 0; tile < tiles; ++tile) {
    cp_async_wait_all();
    __syncthreads();  // tile `tile` (and q) in place for everyone; everyone done with the last tile
    const int cur = static_cast<int>(tile & 1);
    if (tile + 1 < tiles) load(cur ^ 1, t0 + (tile + 1) * at::kTile);
    cp_async_commit();
    const std::size_t tt = t0 + tile * at::kTile;
    const std::size_t n = t1 - tt < at::kTile ? t1 - tt : at::kTile;
    const float* kt = Ks + cur * at::kTile * ldk;
    const float* vt = Vs + cur * at::kTile * ldv;
    if (warp == 0) {
      const bool mine = static_cast<std::size_t>(lane) < n;
      const float sc = !mine ? -INFINITY
                       : vec ? score_vec4(q, kt + lane * ldk, d, scale)
                             : at::score(q, kt + lane * ldk, d, scale);
      float mx = sc;
#pragma unroll
      for (int off = kWarp / 2; off > 0; off /= 2) mx = at::max(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = at::max(m, mx);
      p_s[lane] = mine ? at::weight(sc, m_new) : 0.0f;
      if (lane == 0) {
        f_s[0] = at::rescale(m, m_new);
        f_s[1] = m_new;
      }
    }
    __syncthreads();  // the weights, alpha and m_new
    ab::tile_update(l, acc, f_s[0], p_s, n, vt, ldv, d, tid);
    m = f_s[1];
  }
  if (d_out) {  // single: the only partial is the result
#pragma unroll
    for (int c = 0; c < kDims; ++c) {
      const std::size_t i = tid + static_cast<std::size_t>(kThreads) * c;
      if (i < d) d_out[bh * d + i] = at::finish(acc[c], l);
    }
    return;
  }
  const std::size_t slot = bh * a.max_chunks + j;
  if (tid == 0) {
    d_m[slot] = m;
    d_l[slot] = l;
  }
#pragma unroll
  for (int c = 0; c < kDims; ++c) {
    const std::size_t i = tid + static_cast<std::size_t>(kThreads) * c;
    if (i < d) d_acc[slot * d + i] = acc[c];
  }
}

// grid B*H, 128 threads: the fixed tree in place over the (b, h)'s partials, then out = acc / l.
// Every thread computes the merge factors itself (from m before the level's writes).
__global__ void tree_merge_kernel(AttentionDeviceArgs a, float* d_m, float* d_l, float* d_acc, float* d_out) {
  const std::size_t d = a.d, bh = blockIdx.x;
  const Seq s = seq_of(a, bh);
  const std::size_t s0 = bh * a.max_chunks;
  for (std::size_t stride = 1; stride < s.n; stride *= 2) {
    for (std::size_t j = 0; j + stride < s.n; j += 2 * stride) {
      const std::size_t pa = s0 + j, pb = s0 + j + stride;
      const at::MergeFactors f = at::merge_factors(d_m[pa], d_m[pb]);
      for (std::size_t i = threadIdx.x; i < d; i += blockDim.x)
        d_acc[pa * d + i] = at::merge_value(d_acc[pa * d + i], d_acc[pb * d + i], f);
      __syncthreads();  // everyone has read m[pa] before it changes
      if (threadIdx.x == 0) {
        d_l[pa] = at::merge_value(d_l[pa], d_l[pb], f);
        d_m[pa] = f.m;
      }
      __syncthreads();
    }
  }
  for (std::size_t i = threadIdx.x; i < d; i += blockDim.x) d_out[bh * d + i] = at::finish(d_acc[s0 * d + i], d_l[s0]);
}

// grid (max_chunks, B*H), 128 threads: chunk j's rescaled partial atomically ADDED into out and L.
__global__ void atomic_merge_kernel(AttentionDeviceArgs a, const float* d_m, const float* d_l, const float* d_acc,
                                    float* d_L, float* d_out) {
  const std::size_t d = a.d, bh = blockIdx.y, j = blockIdx.x;
  const Seq s = seq_of(a, bh);
  if (j >= s.n) return;
  const std::size_t s0 = bh * a.max_chunks;
  float M = -INFINITY;  // the exact max over the chunks: order-free
  for (std::size_t k = 0; k < s.n; ++k) M = at::max(M, d_m[s0 + k]);
  const float c = at::rescale(d_m[s0 + j], M);
  if (threadIdx.x == 0) atomicAdd(&d_L[bh], at::mul(d_l[s0 + j], c));
  for (std::size_t i = threadIdx.x; i < d; i += blockDim.x) atomicAdd(&d_out[bh * d + i], at::mul(d_acc[(s0 + j) * d + i], c));
}

__global__ void finish_kernel(float* d_out, const float* d_L, std::size_t count, std::size_t d) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    d_out[e] = at::finish(d_out[e], d_L[e / d]);
}

}  // namespace

std::size_t attention_temp_bytes(AttentionVariant v, std::size_t B, std::size_t H, std::size_t d, std::size_t max_chunks) {
  if (v == AttentionVariant::single) return 0;
  const std::size_t slots = B * H * max_chunks;
  return (slots * (d + 2) + (v == AttentionVariant::atomic ? B * H : 0)) * sizeof(float);
}

cudaError_t attention(AttentionVariant v, const AttentionDeviceArgs& a, float* d_out, void* d_temp, std::size_t temp_bytes,
                      cudaStream_t stream) {
  const std::size_t BH = a.B * a.H;
  if (BH == 0) return cudaSuccess;
  if (a.d == 0 || a.d > at::kMaxHeadDim || a.max_chunks == 0 || BH > 65535u) return cudaErrorInvalidValue;
  if (temp_bytes < attention_temp_bytes(v, a.B, a.H, a.d, a.max_chunks)) return cudaErrorInvalidValue;
  const float scale = at::softmax_scale(a.d);
  const std::size_t smem = ab::smem(a.d).end * sizeof(float);
  CUDA_RETURN_IF_ERROR(allow_dynamic_smem(partial_kernel, smem));  // over 48 KiB (large d): opt in, once per device
  const bool vec = a.d % 4 == 0 && reinterpret_cast<std::uintptr_t>(a.d_K) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(a.d_V) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(a.max_chunks), static_cast<unsigned>(BH));
  if (v == AttentionVariant::single) {
    partial_kernel<<<grid, kThreads, smem, stream>>>(a, scale, nullptr, nullptr, nullptr, d_out, vec);
    return cudaGetLastError();
  }
  const std::size_t slots = BH * a.max_chunks;
  float* d_m = static_cast<float*>(d_temp);
  float* d_l = d_m + slots;
  float* d_acc = d_l + slots;
  partial_kernel<<<grid, kThreads, smem, stream>>>(a, scale, d_m, d_l, d_acc, nullptr, vec);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  if (v == AttentionVariant::atomic) {
    float* d_L = d_acc + slots * a.d;
    CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_L, 0, BH * sizeof(float), stream));
    CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_out, 0, BH * a.d * sizeof(float), stream));
    atomic_merge_kernel<<<grid, 128, 0, stream>>>(a, d_m, d_l, d_acc, d_L, d_out);
    CUDA_RETURN_IF_ERROR(cudaGetLastError());
    const std::size_t count = BH * a.d;
    const std::size_t blocks = (count + 255) / 256;
    finish_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(d_out, d_L, count, a.d);
    return cudaGetLastError();
  }
  tree_merge_kernel<<<static_cast<unsigned>(BH), 128, 0, stream>>>(a, d_m, d_l, d_acc, d_out);
  return cudaGetLastError();
}

}  // namespace driftlab::cuda
