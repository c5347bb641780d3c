// CPU attention-decode benchmarks: every variant at B x H x d x L with the streaming-read probe
// over the same K and V bytes (same threads) as the roofline, in the same run.  Bytes processed =
// the K and V read, so GB/s comes out in the JSON.  Registered at load time (this file stands
// alone: bench_main.cpp needs no change).
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_common.h"
#include "host/backends/attention_backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/sum.h"

namespace driftlab::bench {
namespace {

cpu::ThreadPool& pool() {
  static cpu::ThreadPool p(0);
  return p;
}

const AttentionInput& input(std::size_t B, std::size_t H, std::size_t d, std::size_t L) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, std::size_t>, AttentionInput> cache;
  auto& in = cache[{B, H, d, L}];
  if (in.q.empty()) in = make_attention_input(B, H, d, std::vector<std::size_t>(B, L), 2024);
  return in;
}

struct Shape {
  std::size_t B, H, d, L;
};
Shape shape(const benchmark::State& s) {
  return {static_cast<std::size_t>(s.range(0)), static_cast<std::size_t>(s.range(1)), static_cast<std::size_t>(s.range(2)),
          static_cast<std::size_t>(s.range(3))};
}

void set_bytes(benchmark::State& s, const AttentionInput& in) {
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 2 * in.kv_floats() * sizeof(float)));
  s.counters["threads"] = pool().size();
}

void run_variant(benchmark::State& s, AttentionVariant v) {
  const Shape sh = shape(s);
  const AttentionInput& in = input(sh.B, sh.H, sh.d, sh.L);
  std::vector<float> out(sh.B * sh.H * sh.d);
  const cpu::AttentionProblem p{in.q.data(), in.K.data(), in.V.data(), in.B, in.H, in.d, in.kv_len.data()};
  const cpu::AttentionContext ctx{&pool(), std::nullopt, attention::kDefaultSplitSize, attention::kNominalSms};
  for (auto _ : s) {
    cpu::attention(v, p, out.data(), ctx);
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(s, in);
  const std::size_t C = cpu::attention_chunk(v, sh.B, sh.H, sh.d, in.kv_len.data(), ctx.split_size, ctx.num_sms);
  s.counters["chunk"] = static_cast<double>(C ? C : sh.L);
}

void run_probe(benchmark::State& s) {
  const Shape sh = shape(s);
  const AttentionInput& in = input(sh.B, sh.H, sh.d, sh.L);
  const cpu::SumContext ctx{&pool(), std::nullopt};
  for (auto _ : s) {
    benchmark::DoNotOptimize(cpu::read_probe(in.K.data(), in.K.size(), ctx));
    benchmark::DoNotOptimize(cpu::read_probe(in.V.data(), in.V.size(), ctx));
  }
  set_bytes(s, in);
}

// The target shape (B=8, H=8, d=128, L=4096: 268 MB of K and V) and the batch dependence
// at H=8, L=1024.
void args(benchmark::internal::Benchmark* b) {
  b->Args({8, 8, 128, 4096});
  for (int B = 1; B <= 16; B *= 2) b->Args({B, 8, 128, 1024});
  b->ArgNames({"B", "H", "d", "L"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

const bool registered = [] {
  args(register_cpu("attention/cpu/read_probe", run_probe));
  for (const auto& i : kAttentionVariants)
    args(register_cpu(std::string("attention/cpu/") + i.name,
                                      [v = i.variant](benchmark::State& s) { run_variant(s, v); }));
  return true;
}();

}  // namespace
}  // namespace driftlab::bench
