#include "host/backends/gpu.h"

#if DRIFTLAB_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include <cstdio>

namespace driftlab {

bool built_with_cuda() { return DRIFTLAB_HAVE_CUDA != 0; }

namespace {
GpuStatus probe() {
  GpuStatus s;
#if DRIFTLAB_HAVE_CUDA
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.reason = std::string("no usable GPU: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return s;
  }
  if (count == 0) {
    s.reason = "no usable GPU: the CUDA runtime reports 0 devices";
    return s;
  }
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
    s.reason = "no usable GPU: cudaGetDeviceProperties failed";
    return s;
  }
  int driver = 0;
  cudaDriverGetVersion(&driver);
  char buf[128];
  std::snprintf(buf, sizeof buf, ", %.0f GiB, sm_%d%d, %d SMs, driver %d.%d",
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024 * 1024), p.major, p.minor,
                p.multiProcessorCount, driver / 1000, (driver % 1000) / 10);
  s.usable = true;
  s.name = std::string(p.name) + buf;
#else
  s.reason = "built without CUDA (DRIFTLAB_CUDA=OFF, or nvcc was not found at configure time)";
#endif
  return s;
}
}  // namespace

const GpuStatus& gpu_status() {
  static const GpuStatus s = probe();
  return s;
}

}  // namespace driftlab
