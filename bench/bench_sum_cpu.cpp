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

template <class T> void run_sum(benchmark::State& state, SumVariant v) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto& x = cached_input(sizeof(T) == 4 ? DType::f32 : DType::f64, n).template values<T>();
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::sum(v, x.data(), n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(T)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class T> void run_probe(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto& x = cached_input(sizeof(T) == 4 ? DType::f32 : DType::f64, n).template values<T>();
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::read_probe(x.data(), n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(T)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class T> void register_dtype(DType d) {
  auto* probe = benchmark::RegisterBenchmark(sum_name("cpu", d, "read_probe").c_str(), run_probe<T>);
  for (std::size_t n : cpu_sizes()) probe->Arg(static_cast<std::int64_t>(n));
  probe->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& i : kSumVariants) {
    if (i.variant == SumVariant::cub) continue;
    auto* b = benchmark::RegisterBenchmark(sum_name("cpu", d, i.name).c_str(),
                                           [v = i.variant](benchmark::State& s) { run_sum<T>(s, v); });
    for (std::size_t n : cpu_sizes()) b->Arg(static_cast<std::int64_t>(n));
    b->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace

void register_cpu_sum_benchmarks() {
  register_dtype<float>(DType::f32);
  register_dtype<double>(DType::f64);
}

}  // namespace driftlab::bench
