// Built without CUDA: no CUDA benchmarks to register.  The binary says so in the benchmark
// context ("cuda": "not built"), printed at the top of the console output and in the JSON, never
// as a line of its own on stderr (stderr carries one line, and only for an error).
#include <benchmark/benchmark.h>

#include "bench/bench_common.h"

namespace driftlab::bench {
void register_cuda_sum_benchmarks() { benchmark::AddCustomContext("cuda", "not built: CUDA benchmarks are not registered"); }
void register_cuda_dense_benchmarks() {}
}  // namespace driftlab::bench
