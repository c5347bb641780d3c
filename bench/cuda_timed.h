// The CUDA benchmarks' shared pieces: the timed loop (one warm-up launch for module load and
// cuBLAS heuristics, then each iteration timed by CUDA events around `launch`, reported as manual
// time), and `guarded`, which every CUDA benchmark body runs in: a CUDA error (CUDA_CHECK throws
// cuda::CudaError) or any other exception becomes State::SkipWithError -- the benchmark is
// reported with error_occurred and its message, the GPU check's summary fails on it, and the
// process goes on to the next benchmark and writes its JSON -- never a terminate.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <exception>
#include <string>

#include "cuda/cuda_check.h"

namespace driftlab::bench {

// Two CUDA events, destroyed on every path (an exception included).
struct EventPair {
  cudaEvent_t start{}, stop{};
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start));
    if (const cudaError_t e = cudaEventCreate(&stop); e != cudaSuccess) {
      cudaEventDestroy(start);
      CUDA_CHECK(e);
    }
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  double seconds() const {  // after stop was recorded
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }
};

// Device memory freed on every path.
struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) { CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1)); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T> T* as() const { return static_cast<T*>(p); }
};

template <class Launch> void timed(benchmark::State& s, Launch&& launch) {
  EventPair ev;
  launch();
  CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : s) {
    CUDA_CHECK(cudaEventRecord(ev.start));
    launch();
    CUDA_CHECK(cudaEventRecord(ev.stop));
    s.SetIterationTime(ev.seconds());
  }
}

// The benchmark body `body(State&)` with every exception turned into SkipWithError (the message
// is the CUDA call, file and line).  A sticky error (an illegal address) leaves the context
// unusable: the later benchmarks of the process then skip with their own error, and the JSON is
// still written.  A non-sticky one is cleared so the next benchmark starts clean.
template <class Body> auto guarded(Body body) {
  return [body](benchmark::State& s) {
    try {
      body(s);
    } catch (const std::exception& e) {
      cudaGetLastError();
      s.SkipWithError(e.what());
    } catch (...) {
      cudaGetLastError();
      s.SkipWithError("unknown exception");
    }
  };
}

}  // namespace driftlab::bench
