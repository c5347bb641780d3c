// Shared pieces of driftlab_bench: names that Google Benchmark's compare.py can pair (the
// variant is one path component: sum/<backend>/<dtype>/<dist>/<variant>/<n>) and cached inputs.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "host/io/array.h"
#include "host/io/data.h"
#include "kernels/cpu/isa.h"

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

// Which code a CPU benchmark timed.  The context's driftlab_isa is the process's level; a kernel
// family's cap or a dispatcher's own choice can run another.  Every CPU benchmark is registered
// through register_cpu, which clears the dispatchers' notes (kernels/cpu/isa.h) before the run and
// labels the run with the levels whose paths were noted: "kernels=avx512", or "kernels=avx2+scalar"
// where two ran; and the sum tiles' form where their level has two ("kernels=avx512 form=stream",
// isa.h's note_form; "stream" when the input's tiles streamed, whatever the tree's small level of
// tile partials ran).  A library baseline (OpenBLAS) notes nothing and gets no label.
// An exception in the body (an input too large for the address space: std::bad_alloc) skips that
// benchmark with the reason, the others still run, and the process then fails: one line, exit 1,
// an existing --benchmark_out unchanged (bench_main.cpp).
std::string kernels_label();  // bench_main.cpp: "" when nothing was noted since the last reset
void note_failure(const std::string& benchmark, const char* what);  // bench_main.cpp

// An exception's line: its what(), or "out of memory (std::bad_alloc)" (whose what() says only
// "std::bad_alloc").
inline const char* failure_text(const std::exception& e) {
  return dynamic_cast<const std::bad_alloc*>(&e) ? "out of memory (std::bad_alloc)" : e.what();
}

template <class F> benchmark::internal::Benchmark* register_cpu(const std::string& name, F fn) {
  return benchmark::RegisterBenchmark(name.c_str(), [name, fn = std::move(fn)](benchmark::State& s) {
    cpu::detail::reset_paths();
    try {
      fn(s);
    } catch (const std::exception& e) {
      note_failure(name, failure_text(e));
      s.SkipWithError(failure_text(e));
      return;
    }
    if (const std::string label = kernels_label(); !label.empty()) s.SetLabel(label);
  });
}

// An input of n elements (never all zeros), generated once per (dtype, dist, n).
const HostArray& cached_input(DType d, Dist dist, std::size_t n);

void register_cpu_sum_benchmarks();
void register_cuda_sum_benchmarks();  // bench_sum_cuda.cpp, or a no-op without CUDA
void register_cpu_dense_benchmarks();
void register_cuda_dense_benchmarks();  // bench_dense_cuda.cpp, or a no-op without CUDA
void register_cpu_trace_benchmarks();   // bench_trace_cpu.cpp

}  // namespace driftlab::bench
