// Device-side benchmark inputs (bench_inputs.h states the distributions; bench_inputs_law.h
// writes them, for this kernel and for the host test).
#include <cstdint>

#include "bench/bench_inputs.h"
#include "bench/bench_inputs_law.h"
#include "kernels/common/half.h"

namespace driftlab::bench {
namespace {

static_assert(static_cast<int>(GenDist::uniform) == law::uniform && static_cast<int>(GenDist::normal) == law::normal_dist &&
              static_cast<int>(GenDist::illcond) == law::illcond);

template <class T>
__global__ void fill_kernel(T* out, int dist, std::uint64_t n, std::uint64_t seed, law::Perm p) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = law::draw<T>(dist, seed, i, n, p);
}

template <bool IsBf16>
__global__ void fill_half_kernel(std::uint16_t* out, int dist, std::uint64_t n, std::uint64_t seed, law::Perm p) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float x = law::draw<float>(dist, seed, i, n, p);
    out[i] = IsBf16 ? f32_to_bf16(x) : f32_to_f16(x);
  }
}

}  // namespace

cudaError_t device_fill(void* d_dst, GenType t, GenDist dist, std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const law::Perm p = law::Perm::make(n, seed);
  const int d = static_cast<int>(dist);
  const unsigned threads = 256;
  const std::uint64_t want = (n + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(want < 8192 ? want : 8192);
  switch (t) {
    case GenType::f32: fill_kernel<float><<<blocks, threads, 0, stream>>>(static_cast<float*>(d_dst), d, n, seed, p); break;
    case GenType::f64: fill_kernel<double><<<blocks, threads, 0, stream>>>(static_cast<double*>(d_dst), d, n, seed, p); break;
    case GenType::bf16: fill_half_kernel<true><<<blocks, threads, 0, stream>>>(static_cast<std::uint16_t*>(d_dst), d, n, seed, p); break;
    case GenType::f16: fill_half_kernel<false><<<blocks, threads, 0, stream>>>(static_cast<std::uint16_t*>(d_dst), d, n, seed, p); break;
  }
  return cudaGetLastError();
}

}  // namespace driftlab::bench
