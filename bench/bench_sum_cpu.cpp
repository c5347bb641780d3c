// CPU summation benchmarks: every variant on every hardware thread, and the streaming-read
// probe (the same threads and tiles, OR-folding the words) as the bandwidth ceiling.
#include <benchmark/benchmark.h>

#include <vector>

#include "bench/bench_common.h"
#include "kernels/cpu/sum.h"

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

// 16-bit inputs (bf16, f16): the input stored in the 16-bit type, every variant widening and
// adding in float32 (cpu::sum_half); bytes processed are the 16-bit input's.
template <class S> void run_sum_half(benchmark::State& state, DType d, Dist dist, SumVariant v) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto* x = reinterpret_cast<const S*>(cached_input(d, dist, n).u16.data());
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::sum_half(v, x, n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(S)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class S> void run_probe_half(benchmark::State& state, DType d, Dist dist) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto* x = reinterpret_cast<const S*>(cached_input(d, dist, n).u16.data());
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(cpu::read_probe_half(x, n, ctx));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(S)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["threads"] = pool().size();
}

template <class S> void register_half(DType d, Dist dist) {
  const std::size_t largest = cpu_sizes().back();
  auto* probe = register_cpu(sum_name("cpu", d, dist, "read_probe"),
                                             [d, dist](benchmark::State& s) { run_probe_half<S>(s, d, dist); });
  for (std::size_t n : cpu_sizes())
    if (sum_dist_at(dist, n, largest)) probe->Arg(static_cast<std::int64_t>(n));
  probe->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& i : kSumVariants) {
    if (cuda_only(i.variant)) continue;
    auto* b = register_cpu(sum_name("cpu", d, dist, i.name),
                                           [d, dist, v = i.variant](benchmark::State& s) { run_sum_half<S>(s, d, dist, v); });
    for (std::size_t n : cpu_sizes())
      if (sum_dist_at(dist, n, largest)) b->Arg(static_cast<std::int64_t>(n));
    b->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

template <class T> void register_dtype(DType d, Dist dist) {
  const std::size_t largest = cpu_sizes().back();
  auto* probe = register_cpu(sum_name("cpu", d, dist, "read_probe"),
                                             [dist](benchmark::State& s) { run_probe<T>(s, dist); });
  for (std::size_t n : cpu_sizes())
    if (sum_dist_at(dist, n, largest)) probe->Arg(static_cast<std::int64_t>(n));
  probe->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& i : kSumVariants) {
    if (cuda_only(i.variant)) continue;  // cub and thrust (registering thrust here crashed the run)
    auto* b = register_cpu(sum_name("cpu", d, dist, i.name),
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
  for (const Dist dist : kSumDists) {  // after f32/f64, so their order in the listing is unchanged
    register_half<bf16>(DType::bf16, dist);
    register_half<f16>(DType::f16, dist);
  }
}

}  // namespace driftlab::bench
