// Device-side benchmark inputs (bench_inputs.h states the distributions).
#include <cstdint>

#include "bench_inputs.h"
#include "common/half.h"

namespace driftlab::bench {
namespace {

__device__ __forceinline__ std::uint64_t mix(std::uint64_t z) {  // SplitMix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The r-th random word of element i (r < 4): one stream per (seed, i, r).
__device__ __forceinline__ std::uint64_t word(std::uint64_t seed, std::uint64_t i, unsigned r) {
  return mix(seed * 0x9e3779b97f4a7c15ull + (i * 4 + r + 1) * 0xd1b54a32d192ed03ull);
}
__device__ __forceinline__ double u01(std::uint64_t w) { return static_cast<double>(w >> 11) * 0x1.0p-53; }
__device__ double normal(std::uint64_t seed, std::uint64_t i, unsigned r) {  // Box-Muller (words r, r+1)
  const double u1 = 1.0 - u01(word(seed, i, r)), u2 = u01(word(seed, i, r + 1));
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// A keyed bijection of [0, n): a 4-round Feistel network on 2*h bits (4^h >= n), cycle-walked.
struct Perm {
  unsigned h;
  std::uint64_t mask, n, key;
  __device__ std::uint64_t operator()(std::uint64_t x) const {
    do {
      std::uint64_t l = x >> h, r = x & mask;
      for (unsigned round = 0; round < 4; ++round) {
        const std::uint64_t f = mix(key + round * 0x632be59bd9b4e019ull + r) & mask;
        const std::uint64_t t = l ^ f;
        l = r;
        r = t;
      }
      x = (l << h) | r;
    } while (x >= n);
    return x;
  }
};

// The ill-conditioned law's element j (before the permutation), as type S (the stored type for
// f32/f64, float for the 16-bit types, which make_input also draws in float32).
template <class S> __device__ S illcond_pre(std::uint64_t seed, std::uint64_t j, std::uint64_t n) {
  const std::uint64_t half = n / 2;
  auto big = [&](std::uint64_t i) {
    const int k = static_cast<int>(word(seed, i, 3) % 41) - 20;
    return static_cast<S>(ldexp(normal(seed, i, 0), k));
  };
  if (j < half) return big(j);
  if (j < 2 * half) return static_cast<S>(-static_cast<double>(big(j - half)) + 1e-3 * normal(seed, j, 0));
  return static_cast<S>(1e-3 * normal(seed, j, 0));
}

template <class S> __device__ S draw(GenDist dist, std::uint64_t seed, std::uint64_t i, std::uint64_t n, const Perm& p) {
  switch (dist) {
    case GenDist::uniform:
      if constexpr (sizeof(S) == 4) return static_cast<float>(word(seed, i, 0) >> 40) * 0x1.0p-24f;
      else return u01(word(seed, i, 0));
    case GenDist::normal: return static_cast<S>(normal(seed, i, 0));
    case GenDist::illcond: return illcond_pre<S>(seed, p(i), n);
  }
  return S(1);
}

template <class T>
__global__ void fill_kernel(T* out, GenDist dist, std::uint64_t n, std::uint64_t seed, Perm p) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if constexpr (sizeof(T) == 8) out[i] = draw<double>(dist, seed, i, n, p);
    else out[i] = draw<float>(dist, seed, i, n, p);
  }
}

template <bool IsBf16>
__global__ void fill_half_kernel(std::uint16_t* out, GenDist dist, std::uint64_t n, std::uint64_t seed, Perm p) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float x = draw<float>(dist, seed, i, n, p);
    out[i] = IsBf16 ? f32_to_bf16(x) : f32_to_f16(x);
  }
}

}  // namespace

cudaError_t device_fill(void* d_dst, GenType t, GenDist dist, std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  Perm p{1, 1, n, seed * 0x2545f4914f6cdd1dull + 0x1234567ull};
  while ((std::uint64_t(1) << (2 * p.h)) < n) ++p.h;
  p.mask = (std::uint64_t(1) << p.h) - 1;
  const unsigned threads = 256;
  const std::uint64_t want = (n + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(want < 8192 ? want : 8192);
  switch (t) {
    case GenType::f32: fill_kernel<float><<<blocks, threads, 0, stream>>>(static_cast<float*>(d_dst), dist, n, seed, p); break;
    case GenType::f64: fill_kernel<double><<<blocks, threads, 0, stream>>>(static_cast<double*>(d_dst), dist, n, seed, p); break;
    case GenType::bf16: fill_half_kernel<true><<<blocks, threads, 0, stream>>>(static_cast<std::uint16_t*>(d_dst), dist, n, seed, p); break;
    case GenType::f16: fill_half_kernel<false><<<blocks, threads, 0, stream>>>(static_cast<std::uint16_t*>(d_dst), dist, n, seed, p); break;
  }
  return cudaGetLastError();
}

}  // namespace driftlab::bench
