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
  ~DeviceOutputDrift();
  DeviceOutputDrift(const DeviceOutputDrift&) = delete;
  DeviceOutputDrift& operator=(const DeviceOutputDrift&) = delete;

  // d_y: one run's output on the device, B*N floats. Waits for `stream`.
  void add(const float* d_y);
  DeviceDriftResult result() const;

 private:
  void free_all();
  std::size_t B_, N_, runs_ = 0;
  cudaStream_t stream_;
  float *d_first_ = nullptr, *d_lo_ = nullptr, *d_hi_ = nullptr;
  std::uint8_t *d_seen_ = nullptr, *d_flipped_ = nullptr;
  std::uint64_t* d_argmax0_ = nullptr;
  std::uint64_t differing_ = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> hashes_;  // sorted, distinct
};

}  // namespace driftlab::cuda
