// A CUDA error inside a benchmark body becomes SkipWithError (cuda_timed.h's guarded), and the
// run goes on: ctest Bench.CudaErrorSkipsTheBenchmark runs this probe and reads its JSON.  The
// error is real on every machine: a 1 PiB cudaMalloc fails on a GPU (out of memory) and without
// one (no driver or no device), thrown by CUDA_CHECK inside the timed loop.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include "bench/cuda_timed.h"

namespace {

void cuda_error(benchmark::State& s) {
  for (auto _ : s) {
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, std::size_t(1) << 50));
    cudaFree(p);
  }
}

void after(benchmark::State& s) {
  int x = 0;
  for (auto _ : s) benchmark::DoNotOptimize(++x);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("probe/cuda_error", driftlab::bench::guarded(cuda_error));
  benchmark::RegisterBenchmark("probe/after", driftlab::bench::guarded(after));
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
