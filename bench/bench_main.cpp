// driftlab_bench: every summation variant with its baselines in one binary, one run, so every
// ratio (tree vs read probe, exact vs tree, tree vs cub) can be read off one JSON file.
#include <benchmark/benchmark.h>

#include <map>
#include <utility>

#include "bench_common.h"
#include "data.h"

namespace driftlab::bench {

const HostArray& cached_input(DType d, std::size_t n) {
  static std::map<std::pair<int, std::size_t>, HostArray> cache;
  auto key = std::make_pair(static_cast<int>(d), n);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_input(Dist::uniform, d, n, 12345)).first;
  return it->second;
}

}  // namespace driftlab::bench

int main(int argc, char** argv) {
  driftlab::bench::register_cpu_sum_benchmarks();
  driftlab::bench::register_cuda_sum_benchmarks();
  driftlab::bench::register_cpu_dense_benchmarks();
  driftlab::bench::register_cuda_dense_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
