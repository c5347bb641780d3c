// Drift metrics of a large output on CUDA, host side against device side (issue: Thrust): one
// later run of a [B x N] output compared with run 0 -- `host` copies the output back and folds it
// into the host stream (OutputDriftStream, what predict did on every backend), `device` folds it
// into the Thrust tracker on the GPU (kernels/cuda/drift.cuh), which returns a few numbers.
// Wall time per comparison (both end synchronised with the device).  A CUDA error skips the
// benchmark with its message (cuda_timed.h's guarded).  Registered at load time.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/drift.cuh"
#include "bench/cuda_timed.h"
#include "host/backends/gpu.h"
#include "host/metrics/metrics.h"

namespace driftlab::bench {
namespace {

// Two device outputs: run 0, and a copy with a few ULPs of drift on one element in 64.
// Device memory freed on every path (device.h's DeviceBuffer).
struct Outputs {
  DeviceBuffer run0_dev, run1_dev;
  std::vector<float> run0;
  const float* d_run0() const { return run0_dev.as<const float>(); }
  const float* d_run1() const { return run1_dev.as<const float>(); }
};

void prepare(Outputs& o, std::size_t count) {
  std::mt19937 gen(17);
  std::normal_distribution<float> normal;
  o.run0.resize(count);
  for (auto& v : o.run0) v = normal(gen);
  std::vector<float> run1 = o.run0;
  for (std::size_t e = 0; e < count; e += 64) run1[e] = std::nextafter(run1[e], 10.0f);
  o.run0_dev.upload(o.run0);
  o.run1_dev.upload(run1);
}

void run(benchmark::State& state, bool device) {
  if (!gpu_status().usable) {
    state.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const std::size_t B = static_cast<std::size_t>(state.range(0)), N = static_cast<std::size_t>(state.range(1));
  Outputs o;
  prepare(o, B * N);
  if (device) {
    cuda::DeviceOutputDrift d(B, N);
    d.add(o.d_run0());
    for (auto _ : state) d.add(o.d_run1());
    benchmark::DoNotOptimize(d.result().max_ulp);
  } else {
    OutputDriftStream s(B, N);
    s.add(o.run0);
    std::vector<float> host(B * N);
    for (auto _ : state) {
      CUDA_CHECK(cudaMemcpy(host.data(), o.d_run1(), host.size() * sizeof(float), cudaMemcpyDeviceToHost));
      s.add(host);
    }
    benchmark::DoNotOptimize(s.result().max_ulp);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * B * N * sizeof(float)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));  // comparisons per second
}

const bool registered = [] {
  for (const bool device : {false, true})
    benchmark::RegisterBenchmark((std::string("drift/cuda/") + (device ? "device" : "host")).c_str(),
                                 guarded([device](benchmark::State& s) { run(s, device); }))
        ->Args({4096, 4096})
        ->ArgNames({"B", "N"})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace driftlab::bench
