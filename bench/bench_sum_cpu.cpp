// CPU summation benchmarks: every variant on every hardware thread, and the streaming-read
// probe (the same threads and tiles, OR-folding the words) as the bandwidth ceiling.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/sum_tile.h"

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

// The tree's and the probe's two forms (sum_tile.h) on each side of the stream threshold: the
// callers stream an input of at least stream_threshold_bytes() and run the blocked form below it.
// These force one form at every size, so the crossover that threshold stands for is measured, not
// assumed: tune/cpu/stream_form/<f32|bf16>/<sum|probe>/<blocked|stream>/<n>, n from 256 KiB to
// 256 MiB of input.  Speed only: both forms give the same bits (SumCpu tests); the scalar level has one.
void run_stream_form(benchmark::State& state, DType d, bool probe, bool stream) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const HostArray& in = cached_input(d, Dist::uniform, n);
  const cpu::SumContext ctx{&pool(), std::nullopt};
  const double threshold_mib = static_cast<double>(cpu::detail::stream_threshold_bytes()) / (1 << 20);  // the real one
  // 0: every input streams; SIZE_MAX: none does.  Put back when the benchmark ends, by an exception
  // too (register_cpu lets the other benchmarks run: they must not inherit the forced form).
  struct Forced {
    explicit Forced(std::size_t t) { cpu::detail::force_stream_threshold(t); }
    ~Forced() { cpu::detail::force_stream_threshold(std::nullopt); }
  } forced(stream ? std::size_t{0} : SIZE_MAX);
  if (d == DType::f32) {
    const float* x = in.values<float>().data();
    for (auto _ : state) benchmark::DoNotOptimize(probe ? cpu::read_probe(x, n, ctx) : cpu::sum(SumVariant::tree, x, n, ctx));
  } else {
    const auto* x = reinterpret_cast<const bf16*>(in.u16.data());
    for (auto _ : state)
      benchmark::DoNotOptimize(probe ? cpu::read_probe_half(x, n, ctx) : cpu::sum_half(SumVariant::tree, x, n, ctx));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * dtype_size(d)));
  state.counters["threads"] = pool().size();
  state.counters["threshold_MiB"] = threshold_mib;
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
  for (const DType d : {DType::f32, DType::bf16})
    for (const bool probe : {false, true})
      for (const bool stream : {false, true}) {
        if (d == DType::bf16 && probe) continue;  // the probe reads bytes: f32's is the same code
        auto* b = register_cpu(std::string("tune/cpu/stream_form/") + dtype_name(d) + (probe ? "/probe/" : "/sum/") +
                                   (stream ? "stream" : "blocked"),
                               [d, probe, stream](benchmark::State& s) { run_stream_form(s, d, probe, stream); });
        for (int k = 18; k <= 28; ++k) {  // 256 KiB ... 256 MiB of input, and 1.5x each power below
          const std::int64_t bytes = std::int64_t{1} << k, elem = static_cast<std::int64_t>(dtype_size(d));
          b->Arg(bytes / elem);
          if (k < 28) b->Arg(3 * bytes / 2 / elem);
        }
        b->Unit(benchmark::kMillisecond)->UseRealTime();
      }
}

}  // namespace driftlab::bench
