// CPU summation benchmarks: every variant on every hardware thread, and the streaming-read
// probe (the same threads and tiles, OR-folding the words) as the bandwidth ceiling.
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_common.h"
#include "cpu/sum.h"

namespace driftlab::bench {
namespace {

cpu::ThreadPool& pool() {
  static cpu::ThreadPool p(0);
  return p;
}

// n = 2^10 ... 2^26: from L1-resident to far beyond the caches.
std::vector<std::size_t> cpu_sizes() {
  std::vector<std::size_t> v;
  for (int k = 10; k <= 26; k += 2) v.push_back(std::size_t(1) << k);
  return v;
}

template <class T> void run_sum(benchmark::State& state, Dist dist, SumVariant v) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto& x = cached_input(sizeof(T) == 4 ? DType::f32 : DType::f64, dist, n).template values<T>();
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::sum(v, x.data(), n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(T)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class T> void run_probe(benchmark::State& state, Dist dist) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto& x = cached_input(sizeof(T) == 4 ? DType::f32 : DType::f64, dist, n).template values<T>();
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::read_probe(x.data(), n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(T)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class T> void register_dtype(DType d, Dist dist) {
  const std::size_t largest = cpu_sizes().back();
  auto* probe = benchmark::RegisterBenchmark(sum_name("cpu", d, dist, "read_probe").c_str(),
                                             [dist](benchmark::State& s) { run_probe<T>(s, dist); });
  for (std::size_t n : cpu_sizes())
    if (sum_dist_at(dist, n, largest)) probe->Arg(static_cast<std::int64_t>(n));
  probe->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& i : kSumVariants) {
    if (i.variant == SumVariant::cub) continue;
    auto* b = benchmark::RegisterBenchmark(sum_name("cpu", d, dist, i.name).c_str(),
                                           [dist, v = i.variant](benchmark::State& s) { run_sum<T>(s, dist, v); });
    for (std::size_t n : cpu_sizes())
      if (sum_dist_at(dist, n, largest)) b->Arg(static_cast<std::int64_t>(n));
    b->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace

void register_cpu_sum_benchmarks() {
  for (const Dist dist : kSumDists) {
    register_dtype<float>(DType::f32, dist);
    register_dtype<double>(DType::f64, dist);
  }
}

}  // namespace driftlab::bench
