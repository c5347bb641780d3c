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

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"

namespace driftlab::bench {

// Events and device memory freed on every path: kernels/cuda/device.h, shared with the backends.
using cuda::DeviceBuffer;
using cuda::EventPair;

template <class Launch> void timed(benchmark::State& s, Launch&& launch) {
  EventPair ev;
  launch();
  CUDA_CHECK(cudaDeviceSynchronize());
  for (auto _ : s) {
    ev.record_start();
    launch();
    ev.record_stop();
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
