// Drift of a float output [B x N] over runs, computed on the GPU with Thrust: run 0 stays on the
// device, each later run is compared with it where it was computed, and only a few numbers come
// back per run (the differing count and a 128-bit hash). The host reference is
// host/metrics/metrics.h's OutputDriftStream; both use kernels/common/output_compare.h, and tests feed
// both the same outputs and assert equal metrics. Host-callable from plain C++.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/cuda/device.h"

namespace driftlab::cuda {

struct DeviceDriftResult {
  std::size_t runs = 0;
  std::size_t distinct_outputs = 0;  // distinct 128-bit hashes of the runs' bits
  std::uint64_t differing = 0;       // elements differing (bits) from run 0, summed over runs 1..R-1
  std::uint64_t max_ulp = 0;         // largest element-wise ULP span over runs (~0: NaN and number)
  double max_abs_diff = 0;           // largest element-wise value span (NaN when NaN and number mix)
  std::size_t argmax_flips = 0;      // rows whose argmax differs from run 0's in some run
};

class DeviceOutputDrift {
 public:
  // Device memory: 3 floats and 1 byte per element, 9 bytes per row. Throws CudaError.
  DeviceOutputDrift(std::size_t B, std::size_t N, cudaStream_t stream = nullptr);
  DeviceOutputDrift(const DeviceOutputDrift&) = delete;
  DeviceOutputDrift& operator=(const DeviceOutputDrift&) = delete;

  // d_y: one run's output on the device, B*N floats. Waits for `stream`.
  void add(const float* d_y);
  DeviceDriftResult result() const;

 private:
  std::size_t B_, N_, runs_ = 0;
  cudaStream_t stream_;
  // Freed on every path, a throw from the constructor included (device.h).
  DeviceBuffer first_, lo_, hi_;  // floats, B*N each
  DeviceBuffer seen_;             // bytes, B*N
  DeviceBuffer flipped_;          // bytes, B
  DeviceBuffer argmax0_;          // uint64, B
  std::uint64_t differing_ = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> hashes_;  // sorted, distinct
};

}  // namespace driftlab::cuda
