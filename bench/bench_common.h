// Shared pieces of driftlab_bench: names that Google Benchmark's compare.py can pair (the
// variant is one path component: sum/<backend>/<dtype>/<dist>/<variant>/<n>) and cached inputs.
#pragma once

#include <cstddef>
#include <string>

#include "host/io/array.h"
#include "host/io/data.h"

namespace driftlab::bench {

inline std::string sum_name(const char* backend, DType d, Dist dist, const char* variant) {
  return std::string("sum/") + backend + "/" + dtype_name(d) + "/" + dist_name(dist) + "/" + variant;
}

// The inputs a summation benchmark runs on: every variant on uniform [0,1) at every size, and on
// normal and ill-conditioned input at the largest size only (the speed of `exact` depends on the
// exponents it meets; the others should not care, and these rows show whether they do).
inline constexpr Dist kSumDists[] = {Dist::uniform, Dist::normal, Dist::illcond};
inline bool sum_dist_at(Dist dist, std::size_t n, std::size_t largest) {
  return dist == Dist::uniform || n == largest;
}

// An input of n elements (never all zeros), generated once per (dtype, dist, n).
const HostArray& cached_input(DType d, Dist dist, std::size_t n);

void register_cpu_sum_benchmarks();
void register_cuda_sum_benchmarks();  // bench_sum_cuda.cpp, or a no-op without CUDA
void register_cpu_dense_benchmarks();
void register_cuda_dense_benchmarks();  // bench_dense_cuda.cpp, or a no-op without CUDA
void register_cpu_trace_benchmarks();   // bench_trace_cpu.cpp

}  // namespace driftlab::bench
