// Summation on CUDA: atomic_element, atomic, tree, exact, cub and thrust (kernels in sum.cu).
// Host-callable from plain C++; no CUDA syntax here.
//
// Determinism levels: atomic_element and atomic none (float atomics), tree run to run and across
// devices (the order of kernels/common/sum_order.h, bitwise the CPU twin's), exact any order and
// any device (kernels/common/exact.h), cub and thrust run to run on one GPU model (CUB's default;
// thrust::reduce is built on it).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/common/half.h"
#include "kernels/common/sum_variant.h"

namespace driftlab::cuda {

// True for the variants this backend has (not `serial`).
bool has_sum_variant(SumVariant v);

// Scratch bytes `sum` needs for this variant and size: query once, outside the timed region.
template <class T> std::size_t sum_temp_bytes(SumVariant v, std::size_t n);

// Writes the sum of d_in[0, n) to *d_out (device memory), asynchronously on `stream`.
// d_in and d_temp must be 16-byte aligned and d_out aligned to its type (cudaMalloc's pointers
// are), else cudaErrorMisalignedAddress.  Launch errors are returned.
template <class T>
cudaError_t sum(SumVariant v, const T* d_in, std::size_t n, T* d_out, void* d_temp, std::size_t temp_bytes,
                cudaStream_t stream);

// Benchmark-only (issue 18): `exact` on float input by the previous kernel (8 shared sets of the
// words by lane % 8, one atomic in flight per thread), so that one GPU run measures both kernels
// side by side (bench name sum/cuda/f32/<dist>/exact_prev/<n>).  Same bits as sum(exact); the
// same scratch (sum_temp_bytes<float>(exact, n)).
cudaError_t sum_exact_prev(const float* d_in, std::size_t n, float* d_out, void* d_temp, std::size_t temp_bytes,
                           cudaStream_t stream);

// 16-bit inputs (S = bf16 or f16; the device holds their 16-bit patterns): every variant above
// on the widened values, accumulated in float32 in its order; the float32 result to *d_out.
// Determinism levels as for float; tree is bitwise cpu::sum_half's tree.
template <class S> std::size_t sum_half_temp_bytes(SumVariant v, std::size_t n);
template <class S>
cudaError_t sum_half(SumVariant v, const S* d_in, std::size_t n, float* d_out, void* d_temp, std::size_t temp_bytes,
                     cudaStream_t stream);

}  // namespace driftlab::cuda
