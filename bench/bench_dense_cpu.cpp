// CPU dense benchmarks: every dense variant at B x K x N with OpenBLAS's sgemm (same threads)
// as the baseline in the same run, and predict throughput of the default and the wide MLP.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/dense_half.h"
#include "kernels/cpu/sum.h"
#include "host/io/data.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "host/backends/openblas_kernels.h"


namespace driftlab::bench {
namespace {

cpu::ThreadPool& pool() {
  static cpu::ThreadPool p(0);
  return p;
}

struct DenseInputs {
  std::vector<float> x, W, b, y;
};
const DenseInputs& inputs(std::size_t B, std::size_t K, std::size_t N) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t>, DenseInputs> cache;
  auto& d = cache[{B, K, N}];
  if (d.x.empty()) {
    d.x = make_input(Dist::normal, DType::f32, B * K, 1).f32;
    d.W = make_input(Dist::normal, DType::f32, K * N, 2).f32;
    d.b = make_input(Dist::normal, DType::f32, N, 3).f32;
    d.y.resize(B * N);
  }
  return d;
}

void set_flops(benchmark::State& s, std::size_t B, std::size_t K, std::size_t N) {
  s.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(B * K * N) * static_cast<double>(s.iterations()),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  s.counters["threads"] = pool().size();
}

void run_dense(benchmark::State& s, DenseVariant v) {
  const auto B = static_cast<std::size_t>(s.range(0)), K = static_cast<std::size_t>(s.range(1)),
             N = static_cast<std::size_t>(s.range(2));
  auto& d = const_cast<DenseInputs&>(inputs(B, K, N));
  const cpu::DenseContext ctx{&pool(), std::nullopt, 0};
  for (auto _ : s) {
    cpu::dense(v, d.x.data(), d.W.data(), d.b.data(), d.y.data(), B, K, N, dense::Activation::relu, ctx);
    benchmark::DoNotOptimize(d.y.data());
  }
  set_flops(s, B, K, N);
  if (v != DenseVariant::invariant) s.counters["slices"] = static_cast<double>(cpu::dense_slices(B, K, N, ctx));
}

// 16-bit storage (bf16/f16), float32 accumulation: the same inputs rounded to S.  Every call
// widens x and W and packs W (as the float32 benchmark packs W every call), then narrows y.
template <class S> void run_dense_half(benchmark::State& s, DenseVariant v, std::size_t B, std::size_t K, std::size_t N) {
  const DenseInputs& d = inputs(B, K, N);
  auto narrow_all = [](const std::vector<float>& f) {
    std::vector<std::uint16_t> h(f.size());
    cpu::narrow_into<S>(f.data(), h.data(), f.size());
    return h;
  };
  const std::vector<std::uint16_t> x = narrow_all(d.x), W = narrow_all(d.W), b = narrow_all(d.b);
  std::vector<float> y32(B * N);
  std::vector<std::uint16_t> y(B * N);
  const cpu::DenseContext ctx{&pool(), std::nullopt, 0};
  for (auto _ : s) {
    cpu::dense_half<S>(v, x.data(), W.data(), b.data(), y32.data(), y.data(), B, K, N, dense::Activation::relu, ctx);
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(s, B, K, N);
  if (v != DenseVariant::invariant) s.counters["slices"] = static_cast<double>(cpu::dense_slices(B, K, N, ctx));
}

// OpenBLAS sgemm (y = x W) plus the same bias+relu pass the variants do.
void run_openblas(benchmark::State& s) {
  const auto B = static_cast<std::size_t>(s.range(0)), K = static_cast<std::size_t>(s.range(1)),
             N = static_cast<std::size_t>(s.range(2));
  auto& d = const_cast<DenseInputs&>(inputs(B, K, N));
  // Or the reason, under a tight ulimit -v: thrown, so that the run fails (register_cpu) rather
  // than report its variants without their baseline.
  set_openblas_threads(static_cast<int>(pool().size()));
  for (auto _ : s) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(B), static_cast<int>(N),
                static_cast<int>(K), 1.0f, d.x.data(), static_cast<int>(K), d.W.data(), static_cast<int>(N), 0.0f,
                d.y.data(), static_cast<int>(N));
    for (std::size_t i = 0; i < B; ++i)  // the same bias + relu pass the variants do
      for (std::size_t j = 0; j < N; ++j) d.y[i * N + j] = dense::activate(d.y[i * N + j] + d.b[j], dense::Activation::relu);
    benchmark::DoNotOptimize(d.y.data());
  }
  set_flops(s, B, K, N);
}

// The read probe's bandwidth (bytes/s) on this run's pool: the median of 5 passes over 256 MiB,
// measured right before each predict benchmark, so its roofline sees the same machine state.
double probe_bandwidth() {
  const double bw = [] {
    const std::size_t n = std::size_t(1) << 26;
    const auto& x = cached_input(DType::f32, Dist::uniform, n).f32;
    const cpu::SumContext ctx{&pool(), std::nullopt};
    std::vector<double> secs;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(cpu::read_probe(x.data(), n, ctx));
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    return static_cast<double>(n * sizeof(float)) / secs[2];
  }();
  return bw;
}

// predict of a whole model at one batch size: samples/s, and the weight-streaming roofline (a
// call reads every weight and bias once: samples/s <= B * probe bandwidth / weight bytes).
void run_predict(benchmark::State& s, const std::vector<std::size_t>& sizes, DenseVariant v, DType dtype = DType::f32) {
  const auto B = static_cast<std::size_t>(s.range(0));
  static std::map<std::pair<std::vector<std::size_t>, DType>, Model> models;
  auto it = models.find({sizes, dtype});
  if (it == models.end()) {
    Model m = make_model(sizes, 0.5f, 1);
    round_model(m, dtype);  // bf16/f16: weights stored in 16 bits, widened and packed once by set_model
    it = models.emplace(std::make_pair(sizes, dtype), std::move(m)).first;
  }
  static auto backend = make_cpu_model_backend(0);
  backend->set_model(it->second);
  const std::vector<float> x = make_input(Dist::uniform, DType::f32, B * sizes.front(), 4).f32;
  std::vector<float> y(B * sizes.back());
  const double bw = probe_bandwidth();
  cpu::detail::reset_paths();  // the label (register_cpu) names predict's kernels, not the probe's
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : s) {
    backend->predict({v, false, 0, 0, 0, std::nullopt}, x.data(), B, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * B));  // items = samples
  double weight_bytes = 0;
  const double elem = dtype == DType::f32 ? sizeof(float) : sizeof(std::uint16_t);  // the stored weights
  for (const Layer& l : it->second.layers) weight_bytes += static_cast<double>(l.W.size() + l.b.size()) * elem;
  const double roofline = static_cast<double>(B) * bw / weight_bytes;
  s.counters["roofline_samples/s"] = roofline;
  s.counters["probe_GB/s"] = bw / 1e9;
  s.counters["of_roofline"] = static_cast<double>(s.iterations() * B) / secs / roofline;
}

std::string shape_name(const std::vector<std::size_t>& sizes) {
  std::string s;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += '-';
    s += std::to_string(sizes[i]);
  }
  return s;
}

}  // namespace

// B x K x N points: the 1024^3 target, and batch 1 ... 4096 for the article's first layer
// (10 x 20) and a wide one (4096 x 4096).
void dense_args(benchmark::internal::Benchmark* b) {
  b->Args({1024, 1024, 1024});
  for (int B = 1; B <= 4096; B *= 4) {
    b->Args({B, 10, 20});
    b->Args({B, 4096, 4096});
  }
  b->ArgNames({"B", "K", "N"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

void register_cpu_dense_benchmarks() {
  dense_args(register_cpu("dense/cpu/openblas", run_openblas));
  for (const auto& i : kDenseVariants) {
    if (cuda_only(i)) continue;
    dense_args(register_cpu(std::string("dense/cpu/") + i.name,
                                            [v = i.variant](benchmark::State& s) { run_dense(s, v); }));
  }
  for (const auto& sizes : {std::vector<std::size_t>{10, 20, 10}, std::vector<std::size_t>{784, 4096, 4096, 10}})
    for (const auto& i : kDenseVariants) {
      if (cuda_only(i)) continue;
      auto* b = register_cpu("predict/cpu/" + shape_name(sizes) + "/" + i.name,
                                             [sizes, v = i.variant](benchmark::State& s) { run_predict(s, sizes, v); });
      for (const int batch : {1, 64, 4096}) b->Arg(batch);
      b->ArgName("batch")->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  // 16-bit storage (issue 11): names end in a dtype component, so the float32 names stay as they
  // were and a filter on ".../N:1024/" pairs the two dtypes in one run.
  struct Shape {
    std::size_t B, K, N;
  };
  for (const Shape sh : {Shape{1024, 1024, 1024}, Shape{64, 4096, 4096}})
    for (const auto& i : kDenseVariants) {
      if (cuda_only(i)) continue;
      const std::string dims = "/B:" + std::to_string(sh.B) + "/K:" + std::to_string(sh.K) + "/N:" + std::to_string(sh.N);
      register_cpu(std::string("dense/cpu/") + i.name + dims + "/dtype:bf16",
                                   [v = i.variant, sh](benchmark::State& s) { run_dense_half<bf16>(s, v, sh.B, sh.K, sh.N); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      if (i.variant == DenseVariant::invariant && sh.B == 1024)
        register_cpu(std::string("dense/cpu/") + i.name + dims + "/dtype:f16",
                                     [v = i.variant, sh](benchmark::State& s) { run_dense_half<f16>(s, v, sh.B, sh.K, sh.N); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  const std::vector<std::size_t> wide{784, 4096, 4096, 10};
  for (const DenseVariant v : {DenseVariant::atomic, DenseVariant::invariant}) {
    auto* b = register_cpu("predict/cpu/" + shape_name(wide) + "/" + info(v).name + "/dtype:bf16",
                                           [wide, v](benchmark::State& s) { run_predict(s, wide, v, DType::bf16); });
    for (const int batch : {1, 64}) b->Arg(batch);
    b->ArgName("batch")->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace driftlab::bench
