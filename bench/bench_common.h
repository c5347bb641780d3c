// Shared pieces of driftlab_bench: names that Google Benchmark's compare.py can pair (the
// variant is one path component: sum/<backend>/<dtype>/<variant>/<n>) and cached inputs.
#pragma once

#include <cstddef>
#include <string>

#include "array.h"

namespace driftlab::bench {

inline std::string sum_name(const char* backend, DType d, const char* variant) {
  return std::string("sum/") + backend + "/" + dtype_name(d) + "/" + variant;
}

// Uniform [0,1) input of n elements (never zeros), generated once per (dtype, n).
const HostArray& cached_input(DType d, std::size_t n);

void register_cpu_sum_benchmarks();
void register_cuda_sum_benchmarks();  // bench_sum_cuda.cpp, or a no-op without CUDA
void register_cpu_dense_benchmarks();
void register_cuda_dense_benchmarks();  // bench_dense_cuda.cpp, or a no-op without CUDA

}  // namespace driftlab::bench
