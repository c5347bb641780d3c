// Host/device qualifiers so one function serves the CPU twin and the CUDA kernel.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define DL_HD __host__ __device__ __forceinline__
#else
#define DL_HD inline
#endif

namespace driftlab::fp {
// One rounded fused multiply-add, the same bits on host and device (never contracted or split):
// the step of dense's fma chains and of attention's score.  dense:: and attention:: name it.
DL_HD float fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
}  // namespace driftlab::fp
