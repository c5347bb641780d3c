// Dense layers on CUDA, every variant side by side.
//
//   invariant  chain_gemm_kernel<Epilogue::bias_act>: one FMA chain over all of K per output
//              (__fmaf_rn, increasing k), then + b and act.  No atomics.
//   tree       chain_gemm_kernel<Epilogue::store> with one grid z-slice per K-slice, partials to
//              d_temp; tree_combine_kernel adds them in dense_order.h's fixed tree.  No atomics.
//   atomic     bias_rows_kernel (y = b), chain_gemm_kernel<Epilogue::atomic_add>: float atomics
//              ACCUMULATE the slice partials -- nondeterministic order; then act_kernel.
//   cublas     cublasSgemm (FP32) and bias_act_kernel.
//
// 16-bit storage (dense_half: bf16 or f16 x, W, b): the same kernels, instantiated on the storage
// type S; tiles load the 16-bit bits and widen them with half.h (exact), the chains are the float32
// ones above, and narrow_kernel rounds the float32 output to S (half.h's RNE).  cublas becomes
// cublasGemmEx with CUDA_R_16BF / CUDA_R_16F inputs, a float32 output and CUBLAS_COMPUTE_32F.
#include <cublas_v2.h>

#include <cstdint>
#include <type_traits>

#include "../common/dropout.h"
#include "../common/half.h"
#include "cuda_check.h"
#include "dense.cuh"

namespace driftlab::cuda {
namespace {

using dense::Activation;

enum class Epilogue { store, atomic_add, bias_act };

// Block tile 128 x 128, k step 8, 256 threads, 8 x 8 outputs per thread at stride 16 (so that
// shared-memory reads of a warp touch distinct banks and global stores coalesce).
constexpr int kBM = 128, kBN = 128, kBK = 8, kThreads = 256, kTM = 8, kTN = 8;

// T: the storage type of A, B and bias (float, bf16 or f16); every load is widened to float32.
template <Epilogue kEp, class T = float>
__global__ void __launch_bounds__(kThreads)
    chain_gemm_kernel(const T* __restrict__ A, const T* __restrict__ B, float* C, std::size_t M,
                      std::size_t N, std::size_t K, std::size_t S, const T* __restrict__ bias, Activation act,
                      float* matmul) {
  __shared__ float As[kBK][kBM];
  __shared__ float Bs[kBK][kBN];
  const std::size_t s = blockIdx.z;
  const std::size_t k0 = dense::slice_begin(K, S, s), k1 = dense::slice_end(K, S, s);
  const std::size_t row0 = static_cast<std::size_t>(blockIdx.y) * kBM, col0 = static_cast<std::size_t>(blockIdx.x) * kBN;
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;

  for (std::size_t kt = k0; kt < k1; kt += kBK) {
#pragma unroll
    for (int q = 0; q < kBM * kBK / kThreads; ++q) {  // A tile: 128 rows x 8 k
      const int e = tid + kThreads * q, r = e / kBK, kk = e % kBK;
      const std::size_t gr = row0 + r, gk = kt + kk;
      As[kk][r] = (gr < M && gk < k1) ? widen(A[gr * K + gk]) : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < kBN * kBK / kThreads; ++q) {  // B tile: 8 k x 128 columns
      const int e = tid + kThreads * q, kk = e / kBN, c = e % kBN;
      const std::size_t gk = kt + kk, gc = col0 + c;
      Bs[kk][c] = (gk < k1 && gc < N) ? widen(B[gk * N + gc]) : 0.0f;
    }
    __syncthreads();
    // Only real k steps: an fma with padded zeros would turn an accumulated -0.0 into +0.0.
    const int steps = k1 - kt < static_cast<std::size_t>(kBK) ? static_cast<int>(k1 - kt) : kBK;
    for (int kk = 0; kk < steps; ++kk) {
      float a[kTM], b[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  float* plane = C + (kEp == Epilogue::store ? s * M * N : 0);
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const std::size_t r = row0 + ty + 16 * i;
    if (r >= M) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const std::size_t c = col0 + tx + 16 * j;
      if (c >= N) continue;
      if constexpr (kEp == Epilogue::store) plane[r * N + c] = acc[i][j];
      else if constexpr (kEp == Epilogue::atomic_add) atomicAdd(&plane[r * N + c], acc[i][j]);
      else {
        if (matmul) matmul[r * N + c] = acc[i][j];  // the trace hook
        plane[r * N + c] = dense::activate(dense::add(acc[i][j], widen(bias[c])), act);
      }
    }
  }
}

template <class T>
__global__ void bias_rows_kernel(float* y, const T* b, std::size_t count, std::size_t N) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = widen(b[e % N]);
}

__global__ void act_kernel(float* y, std::size_t count, Activation act) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dense::activate(y[e], act);
}

template <class T>
__global__ void bias_act_kernel(float* y, const T* b, std::size_t count, std::size_t N, Activation act) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dense::activate(dense::add(y[e], widen(b[e % N])), act);
}

// The stored 16-bit output: y32 rounded to S (half.h, ties to even).
template <class S>
__global__ void narrow_kernel(const float* y32, S* y, std::size_t count) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = Narrow<S>::from(y32[e]);
}

template <class T>
__global__ void tree_combine_kernel(const float* p, float* y, const T* b, std::size_t count, std::size_t N,
                                    std::size_t S, Activation act, float* matmul) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float v = dense::tree_combine(p + e, S, count);
    if (matmul) matmul[e] = v;  // the trace hook
    y[e] = dense::activate(dense::add(v, widen(b[e % N])), act);
  }
}

__global__ void dropout_kernel(float* y, std::size_t count, std::uint32_t threshold, float scale, std::uint64_t seed,
                               std::uint64_t call, std::uint32_t layer) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dropout::apply(y[e], dropout::dropout_word(seed, call, layer, e), threshold, scale);
}

unsigned elementwise_grid(std::size_t count) {
  const std::size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 65535 ? (blocks ? blocks : 1) : 65535);
}

dim3 gemm_grid(std::size_t M, std::size_t N, std::size_t slices) {
  return dim3(static_cast<unsigned>((N + kBN - 1) / kBN), static_cast<unsigned>((M + kBM - 1) / kBM),
              static_cast<unsigned>(slices));
}

}  // namespace

std::size_t dense_temp_bytes(DenseVariant v, std::size_t B, std::size_t K, std::size_t N, std::size_t S) {
  (void)K;
  return v == DenseVariant::tree ? S * B * N * sizeof(float) : 0;
}

namespace {

// The one body of dense and dense_half: T is the storage type of x, W and b.
template <class T>
cudaError_t dense_any(DenseVariant v, const T* d_x, const T* d_W, const T* d_b, float* d_y, std::size_t B, std::size_t K,
                      std::size_t N, Activation act, std::size_t S, void* d_temp, std::size_t temp_bytes,
                      cublasHandle_t handle, cudaStream_t stream, float* d_matmul) {
  const std::size_t count = B * N;
  if (count == 0) return cudaSuccess;
  if (S < 1 || S > dense::kMaxSlices) return cudaErrorInvalidValue;
  switch (v) {
    case DenseVariant::invariant:
      chain_gemm_kernel<Epilogue::bias_act, T><<<gemm_grid(B, N, 1), kThreads, 0, stream>>>(d_x, d_W, d_y, B, N, K, 1, d_b, act, d_matmul);
      return cudaGetLastError();
    case DenseVariant::tree: {
      if (temp_bytes < dense_temp_bytes(v, B, K, N, S)) return cudaErrorInvalidValue;
      auto* d_p = static_cast<float*>(d_temp);
      chain_gemm_kernel<Epilogue::store, T><<<gemm_grid(B, N, S), kThreads, 0, stream>>>(d_x, d_W, d_p, B, N, K, S, nullptr, act, nullptr);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      tree_combine_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_p, d_y, d_b, count, N, S, act, d_matmul);
      return cudaGetLastError();
    }
    case DenseVariant::atomic:
      bias_rows_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, d_b, count, N);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      chain_gemm_kernel<Epilogue::atomic_add, T><<<gemm_grid(B, N, S), kThreads, 0, stream>>>(d_x, d_W, d_y, B, N, K, S, nullptr, act, nullptr);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      if (d_matmul)
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_matmul, d_y, count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      act_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, count, act);
      return cudaGetLastError();
    case DenseVariant::cublas: {
      // Row-major y = x W is column-major y^T = W^T x^T: an (N x K) by (K x B) product.
      if (cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS ||
          cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
        return cudaErrorUnknown;
      const float one = 1.0f, zero = 0.0f;
      if constexpr (std::is_same_v<T, float>) {
        if (cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(B), static_cast<int>(K),
                        &one, d_W, static_cast<int>(N), d_x, static_cast<int>(K), &zero, d_y,
                        static_cast<int>(N)) != CUBLAS_STATUS_SUCCESS)
          return cudaErrorUnknown;
      } else {  // 16-bit inputs, float32 output and accumulation
        const cudaDataType_t in = std::is_same_v<T, bf16> ? CUDA_R_16BF : CUDA_R_16F;
        if (cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(B), static_cast<int>(K),
                         &one, d_W, in, static_cast<int>(N), d_x, in, static_cast<int>(K), &zero, d_y, CUDA_R_32F,
                         static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
          return cudaErrorUnknown;
      }
      if (d_matmul)
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_matmul, d_y, count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      bias_act_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, d_b, count, N, act);
      return cudaGetLastError();
    }
  }
  return cudaErrorNotSupported;
}

}  // namespace

cudaError_t dense(DenseVariant v, const float* d_x, const float* d_W, const float* d_b, float* d_y, std::size_t B,
                  std::size_t K, std::size_t N, Activation act, std::size_t S, void* d_temp, std::size_t temp_bytes,
                  cublasHandle_t handle, cudaStream_t stream, float* d_matmul) {
  return dense_any(v, d_x, d_W, d_b, d_y, B, K, N, act, S, d_temp, temp_bytes, handle, stream, d_matmul);
}

template <class S16>
cudaError_t dense_half(DenseVariant v, const std::uint16_t* d_x, const std::uint16_t* d_W, const std::uint16_t* d_b,
                       float* d_y32, std::uint16_t* d_y, std::size_t B, std::size_t K, std::size_t N, Activation act,
                       std::size_t S, void* d_temp, std::size_t temp_bytes, cublasHandle_t handle, cudaStream_t stream,
                       float* d_matmul) {
  // The 16-bit patterns are read and written as the tag type (one uint16_t each, the same bytes).
  CUDA_RETURN_IF_ERROR(dense_any(v, reinterpret_cast<const S16*>(d_x), reinterpret_cast<const S16*>(d_W),
                                 reinterpret_cast<const S16*>(d_b), d_y32, B, K, N, act, S, d_temp, temp_bytes, handle,
                                 stream, d_matmul));
  return narrow(d_y32, d_y, B * N, std::is_same_v<S16, bf16>, stream);
}

template cudaError_t dense_half<bf16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*,
                                      float*, std::uint16_t*, std::size_t, std::size_t, std::size_t, Activation,
                                      std::size_t, void*, std::size_t, cublasHandle_t, cudaStream_t, float*);
template cudaError_t dense_half<f16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*,
                                     float*, std::uint16_t*, std::size_t, std::size_t, std::size_t, Activation,
                                     std::size_t, void*, std::size_t, cublasHandle_t, cudaStream_t, float*);

cudaError_t narrow(const float* d_y32, std::uint16_t* d_y, std::size_t count, bool to_bf16, cudaStream_t stream) {
  if (count == 0 || !d_y) return cudaSuccess;
  if (to_bf16)
    narrow_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y32, reinterpret_cast<bf16*>(d_y), count);
  else
    narrow_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y32, reinterpret_cast<f16*>(d_y), count);
  return cudaGetLastError();
}

cudaError_t dropout(float* d_y, std::size_t count, float rate, std::uint64_t seed, std::uint64_t call,
                    std::uint32_t layer, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  dropout_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, count, dropout::drop_threshold(rate),
                                                             dropout::keep_scale(rate), seed, call, layer);
  return cudaGetLastError();
}

}  // namespace driftlab::cuda
