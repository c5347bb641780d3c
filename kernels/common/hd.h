// Host/device qualifiers so one function serves the CPU twin and the CUDA kernel.
#pragma once

#if defined(__CUDACC__)
#define DL_HD __host__ __device__ __forceinline__
#else
#define DL_HD inline
#endif
