// Every CUDA call is checked; a failure carries the call, file and line.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace driftlab::cuda {

struct CudaError : std::runtime_error {
  cudaError_t code;
  CudaError(cudaError_t c, const char* expr, const char* file, int line)
      : std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(c) + " (" + expr + " at " + file + ":" +
                           std::to_string(line) + ")"),
        code(c) {}
};

}  // namespace driftlab::cuda

#define CUDA_CHECK(expr)                                                                         \
  do {                                                                                           \
    const cudaError_t driftlab_err_ = (expr);                                                    \
    if (driftlab_err_ != cudaSuccess) throw ::driftlab::cuda::CudaError(driftlab_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// Inside functions that return cudaError_t: return the first failure.
#define CUDA_RETURN_IF_ERROR(expr)                      \
  do {                                                  \
    const cudaError_t driftlab_err_ = (expr);           \
    if (driftlab_err_ != cudaSuccess) return driftlab_err_; \
  } while (0)
