// The CUDA benchmarks' timed loop: one warm-up launch (module load, cuBLAS heuristics), then each
// iteration timed by CUDA events around `launch` and reported as manual time.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include "cuda/cuda_check.h"

namespace driftlab::bench {

template <class Launch> void timed(benchmark::State& s, Launch&& launch) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  launch();
  CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : s) {
    CUDA_CHECK(cudaEventRecord(start));
    launch();
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    s.SetIterationTime(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace driftlab::bench
