// Split-KV attention decode on CUDA, every variant side by side.
//
//   single       partial_kernel with one chunk per (b, h), writing out = acc / l directly.
//   fixed_split  partial_kernel, one warp per (b, h, chunk), partials to d_temp;
//   split_count  tree_merge_kernel merges them by attention_order.h's fixed tree.  No atomics.
//   atomic       partial_kernel, then atomic_merge_kernel: float atomics ACCUMULATE the rescaled
//                partials into out and L in completion order -- nondeterministic; finish_kernel.
//
// partial_kernel is attention_order.h step 2 with lane t of a warp owning token t of a tile: the
// tile's K rows go to shared memory (coalesced), each lane runs its token's fma chain over d, the
// tile max is a butterfly of exact maxes, and the tokens' weights are broadcast in increasing t
// to every lane, which updates its dims i = lane, lane + 32, ... -- the CPU twin's order exactly.
#include "../common/float_bits.h"
#include "attention.cuh"
#include "cuda_check.h"

namespace driftlab::cuda {
namespace {

namespace at = attention;
constexpr int kWarp = 32;
constexpr int kDimsPerLane = static_cast<int>(at::kMaxHeadDim) / kWarp;  // 8
static_assert(at::kTile == kWarp, "one token per lane");

struct Seq {
  std::size_t L, C, n, base_tokens;  // length, chunk length, chunks, token offset of (b, h)
};
__device__ Seq seq_of(const AttentionDeviceArgs& a, std::size_t bh) {
  const std::size_t b = bh / a.H, h = bh % a.H;
  const std::size_t L = a.d_kv_len[b];
  return {L, at::chunk_len(a.chunk, L), at::num_chunks(a.chunk, L), a.d_kv_off[b] * a.H + h * L};
}

// grid (max_chunks, B*H), one warp per block.  Shared: q [d], K tile [32][d + 1].
__global__ void __launch_bounds__(kWarp) partial_kernel(AttentionDeviceArgs a, float scale, float* d_m, float* d_l,
                                                        float* d_acc, float* d_out) {
  extern __shared__ float smem[];
  const std::size_t d = a.d, bh = blockIdx.y, j = blockIdx.x;
  const Seq s = seq_of(a, bh);
  if (j >= s.n) return;
  const int lane = threadIdx.x;
  float* q = smem;
  float* kt = smem + d;
  const std::size_t ld = d + 1;  // padded: lane t reads row t, distinct banks
  for (std::size_t i = lane; i < d; i += kWarp) q[i] = a.d_q[bh * d + i];
  const std::size_t t0 = j * s.C, t1 = t0 + s.C < s.L ? t0 + s.C : s.L;
  const float* K = a.d_K + s.base_tokens * d;
  const float* V = a.d_V + s.base_tokens * d;
  float m = -INFINITY, l = 0.0f, acc[kDimsPerLane];
#pragma unroll
  for (int c = 0; c < kDimsPerLane; ++c) acc[c] = 0.0f;
  for (std::size_t tt = t0; tt < t1; tt += kWarp) {
    const std::size_t n = t1 - tt < static_cast<std::size_t>(kWarp) ? t1 - tt : kWarp;
    __syncwarp();
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t i = lane; i < d; i += kWarp) kt[t * ld + i] = K[(tt + t) * d + i];
    __syncwarp();
    const float sc = static_cast<std::size_t>(lane) < n ? at::score(q, kt + lane * ld, d, scale) : -INFINITY;
    float mx = sc;
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) mx = at::max(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const float m_new = at::max(m, mx);
    const float alpha = at::rescale(m, m_new);
    l = at::mul(l, alpha);
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) acc[c] = at::mul(acc[c], alpha);
    const float p_mine = static_cast<std::size_t>(lane) < n ? at::weight(sc, m_new) : 0.0f;
    for (std::size_t t = 0; t < n; ++t) {
      const float p = __shfl_sync(0xffffffffu, p_mine, static_cast<int>(t));
      l = at::add(l, p);
      const float* v = V + (tt + t) * d;
#pragma unroll
      for (int c = 0; c < kDimsPerLane; ++c) {
        const std::size_t i = lane + kWarp * c;
        if (i < d) acc[c] = at::fma(p, v[i], acc[c]);
      }
    }
    m = m_new;
  }
  if (d_out) {  // single: the only partial is the result
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) {
      const std::size_t i = lane + kWarp * c;
      if (i < d) d_out[bh * d + i] = at::finish(acc[c], l);
    }
    return;
  }
  const std::size_t slot = bh * a.max_chunks + j;
  if (lane == 0) {
    d_m[slot] = m;
    d_l[slot] = l;
  }
#pragma unroll
  for (int c = 0; c < kDimsPerLane; ++c) {
    const std::size_t i = lane + kWarp * c;
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
  const std::size_t smem = (a.d + kWarp * (a.d + 1)) * sizeof(float);
  if (smem > 48 * 1024) CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(partial_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                                  static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(a.max_chunks), static_cast<unsigned>(BH));
  if (v == AttentionVariant::single) {
    partial_kernel<<<grid, kWarp, smem, stream>>>(a, scale, nullptr, nullptr, nullptr, d_out);
    return cudaGetLastError();
  }
  const std::size_t slots = BH * a.max_chunks;
  float* d_m = static_cast<float*>(d_temp);
  float* d_l = d_m + slots;
  float* d_acc = d_l + slots;
  partial_kernel<<<grid, kWarp, smem, stream>>>(a, scale, d_m, d_l, d_acc, nullptr);
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
