// Dense layers on CUDA: atomic, tree, invariant and cublas (kernels in dense.cu), plus dropout.
// Host-callable from plain C++.  Orders: kernels/common/dense_order.h; tree and invariant return
// bitwise the CPU twin's result (kernels/cpu/dense.cpp).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/dense_order.h"
#include "kernels/common/dense_variant.h"
#include "kernels/common/half.h"

namespace driftlab::cuda {

// Scratch bytes `dense` needs (tree: the S partial planes).  Query outside the timed region.
std::size_t dense_temp_bytes(DenseVariant v, std::size_t B, std::size_t K, std::size_t N, std::size_t S);

// d_y [B x N] = act(d_x [B x K] . d_W [K x N] + d_b), asynchronously on `stream`.  S: the slices
// of the split-K variants (dense::split_k or forced), ignored by invariant and cublas.
// `handle` is only used by cublas (its math mode is set to CUBLAS_DEFAULT_MATH: FP32, no TF32), and
// its stream and math mode are set on every call: one handle per host thread (each backend owns one).
// d_matmul (the trace hook, null: none): receives [B x N], the accumulator before the epilogue, as
// the CPU's DenseContext::matmul_out does (x.W; atomic: x.W + b, its accumulator starts at b).
cudaError_t dense(DenseVariant v, const float* d_x, const float* d_W, const float* d_b, float* d_y, std::size_t B,
                  std::size_t K, std::size_t N, dense::Activation act, std::size_t S, void* d_temp,
                  std::size_t temp_bytes, cublasHandle_t handle, cudaStream_t stream, float* d_matmul = nullptr);

// Benchmark-only: `dense(invariant)` run by another tile kernel, timed beside today's.  Same order,
// same bits (GPU test DenseCuda.EveryInvariantTileKernelGivesTheSameBits).
//   prev       the kernel of the first H200 run (chain_gemm_kernel, A copied by 4 bytes; 0.752x
//              cuBLAS at 4096^3; bench name dense/cuda/invariant_prev/...);
//   one_block  today's 16-byte kernel (chain_gemm_vec_kernel) at one block an SM (up to 255
//              registers; 168 on sm_90) instead of two blocks at 128 registers
//              (dense/cuda/invariant_1block/...), so that the GPU decides the occupancy;
//              cudaErrorInvalidValue off the 16-byte path (K or N not a multiple of 4, x or W not
//              16-byte aligned).
enum class InvariantTiles { prev, one_block };
cudaError_t dense_invariant_tiles(InvariantTiles which, const float* d_x, const float* d_W, const float* d_b, float* d_y,
                                  std::size_t B, std::size_t K, std::size_t N, dense::Activation act,
                                  cudaStream_t stream);

// 16-bit storage (S = driftlab::bf16 or driftlab::f16, raw bit patterns in uint16_t): d_y32 [B x N]
// = the float32 result of `dense` over the widened d_x, d_W, d_b (same kernels, same order, same
// bits), then d_y (optional, null: not written) = d_y32 rounded to S (half.h's RNE).  cublas:
// cublasGemmEx with 16-bit inputs and CUBLAS_COMPUTE_32F.  The CPU twin: kernels/cpu/dense_half.h.
template <class S>
cudaError_t dense_half(DenseVariant v, const std::uint16_t* d_x, const std::uint16_t* d_W, const std::uint16_t* d_b,
                       float* d_y32, std::uint16_t* d_y, std::size_t B, std::size_t K, std::size_t N,
                       dense::Activation act, std::size_t S_slices, void* d_temp, std::size_t temp_bytes,
                       cublasHandle_t handle, cudaStream_t stream, float* d_matmul = nullptr);

// invariant_tc (dense_tc.cu; optional in issue 18, benchmark- and test-only): d_y32 [B x N] =
// act(x . W + b) on tensor cores from 16-bit x, W, b (S = bf16 or f16), float32 accumulators, then
// d_y (optional) = d_y32 rounded to S.  Batch-invariant and run to run on one GPU model (fixed
// tiles, no split-K: dense_order.h's dense::tc); NOT the CPU twin's bits.  B = 0: nothing to do,
// cudaSuccess; cudaErrorInvalidValue for a shape or pointer dense::tc::supports refuses (K or N
// under 8 or not a multiple of 8, x or W not 16-byte aligned).
template <class S>
cudaError_t dense_invariant_tc(const std::uint16_t* d_x, const std::uint16_t* d_W, const std::uint16_t* d_b, float* d_y32,
                               std::uint16_t* d_y, std::size_t B, std::size_t K, std::size_t N, dense::Activation act,
                               cudaStream_t stream);

// d_y [count] = d_y32 rounded to bf16 (to_bf16) or f16, half.h's rules (a model's rounding after dropout).
cudaError_t narrow(const float* d_y32, std::uint16_t* d_y, std::size_t count, bool to_bf16, cudaStream_t stream);

// Inverted dropout in place on d_y [count], Philox words of (seed, call, layer) as
// kernels/common/dropout.h defines them: the same mask as the CPU's for the same arguments.
cudaError_t dropout(float* d_y, std::size_t count, float rate, std::uint64_t seed, std::uint64_t call,
                    std::uint32_t layer, cudaStream_t stream);

}  // namespace driftlab::cuda
