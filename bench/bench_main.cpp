// driftlab_bench: every summation variant with its baselines in one binary, one run, so every
// ratio (tree vs read probe, exact vs tree, tree vs cub) can be read off one JSON file.
#include <benchmark/benchmark.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include <cstdio>

#include "bench_common.h"
#include "cpu/isa.h"
#include "data.h"

namespace driftlab::bench {

const HostArray& cached_input(DType d, Dist dist, std::size_t n) {
  static std::map<std::tuple<int, int, std::size_t>, HostArray> cache;
  auto key = std::make_tuple(static_cast<int>(d), static_cast<int>(dist), n);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_input(dist, d, n, 12345)).first;
  return it->second;
}

}  // namespace driftlab::bench

extern "C" char* openblas_get_corename(void);

// OpenBLAS picks its kernels by CPU model; Debian's 0.3.21 does not know newer Xeons and falls
// back to its SSE3 "Prescott" kernels, a baseline 7x too slow to compare with honestly.  Then we
// restart with OPENBLAS_CORETYPE naming the best kernel family the CPU runs, and say so.
static void use_best_openblas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  const std::string core = openblas_get_corename();
  if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "Sandybridge") return;
  const char* best = __builtin_cpu_supports("avx512f") ? "SkylakeX" : (__builtin_cpu_supports("avx2") ? "Haswell" : nullptr);
  if (!best) return;
  std::fprintf(stderr, "driftlab_bench: OpenBLAS chose its '%s' kernels for this CPU; restarting with OPENBLAS_CORETYPE=%s\n",
               core.c_str(), best);
  setenv("OPENBLAS_CORETYPE", best, 1);
  execv("/proc/self/exe", argv);
}

int main(int argc, char** argv) {
  // DRIFTLAB_ISA caps every CPU kernel (kernels/cpu/isa.h): checked before any work or output.
  if (const auto isa_error = driftlab::cpu::isa_env_error()) {
    std::fprintf(stderr, "driftlab_bench: %s\n", isa_error->c_str());
    return 2;
  }
  use_best_openblas_kernels(argv);
  benchmark::AddCustomContext("driftlab_isa", driftlab::cpu::isa_name(driftlab::cpu::isa_level()));
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  driftlab::bench::register_cpu_sum_benchmarks();
  driftlab::bench::register_cuda_sum_benchmarks();
  driftlab::bench::register_cpu_dense_benchmarks();
  driftlab::bench::register_cuda_dense_benchmarks();
  driftlab::bench::register_cpu_trace_benchmarks();
  std::string out_file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--benchmark_out=", 0) == 0) out_file = a.substr(16);
  }
  struct stat before {};
  const bool existed = !out_file.empty() && stat(out_file.c_str(), &before) == 0;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Google Benchmark exits 0 when the filter matches nothing and when the output file was a device
  // or was not rewritten; a caller (driftlab report) must see a failure in both cases.
  if (!out_file.empty()) {
    struct stat st {};
    const bool found = stat(out_file.c_str(), &st) == 0;
    const bool rewritten = !existed || st.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                           st.st_mtim.tv_nsec != before.st_mtim.tv_nsec || st.st_ino != before.st_ino;
    if (!found || !S_ISREG(st.st_mode) || st.st_size == 0 || !rewritten) {
      std::fprintf(stderr, "driftlab_bench: cannot write --benchmark_out=%s\n", out_file.c_str());
      return 1;
    }
  }
  if (ran == 0) return 1;  // Google Benchmark has said "Failed to match any benchmarks" on stderr
  return 0;
}
