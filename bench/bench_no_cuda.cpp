// Built without CUDA: no CUDA benchmarks to register.  The binary says so once at start.
#include <cstdio>

#include "bench_common.h"

namespace driftlab::bench {
void register_cuda_sum_benchmarks() {
  std::fprintf(stderr, "driftlab_bench: built without CUDA; CUDA benchmarks are not registered\n");
}
void register_cuda_dense_benchmarks() {}
}  // namespace driftlab::bench
