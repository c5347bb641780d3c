// CUDA attention-decode benchmarks: every variant at B x H x d x L (cudaEvents around the launches,
// UseManualTime; scratch sized before the timed region) with a device-to-device copy of the same K
// and V bytes as the roofline, in the same run.  bytes_per_second: K and V read (the copy: read
// plus written).  q, K and V are N(0,1) values made on the device (bench_inputs.h; the values do
// not change the traffic; they are never zeros): no host copies.  A CUDA error skips the
// benchmark with its message (cuda_timed.h's guarded).  Registered at load time.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>
#include <vector>

#include "host/backends/attention_backend.h"
#include "bench/bench_inputs.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "bench/cuda_timed.h"
#include "host/backends/gpu.h"

namespace driftlab::bench {
namespace {

// Device memory freed on every path (device.h's DeviceBuffer).
struct DeviceAttention {
  DeviceBuffer q, K, V, out, len, off, temp;  // len, off: unsigned long long per row; temp null when unused
  std::size_t kv_floats = 0;
};

void fill(float* d_dst, std::size_t count, std::uint64_t seed) {
  CUDA_CHECK(device_fill(d_dst, GenType::f32, GenDist::normal, count, seed));
}

void prepare(DeviceAttention& a, std::size_t B, std::size_t H, std::size_t d, std::size_t L) {
  a.kv_floats = B * H * L * d;
  a.q.ensure(B * H * d * sizeof(float));
  a.out.ensure(B * H * d * sizeof(float));
  a.K.ensure(a.kv_floats * sizeof(float));
  a.V.ensure(a.kv_floats * sizeof(float));
  fill(a.q.as<float>(), B * H * d, 7);
  fill(a.K.as<float>(), a.kv_floats, 8);
  fill(a.V.as<float>(), a.kv_floats, 9);
  std::vector<unsigned long long> len(B, L), off(B);
  for (std::size_t b = 0; b < B; ++b) off[b] = b * L;
  a.len.upload(len);
  a.off.upload(off);
}

void run_variant(benchmark::State& s, AttentionVariant v) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const auto B = static_cast<std::size_t>(s.range(0)), H = static_cast<std::size_t>(s.range(1)),
             d = static_cast<std::size_t>(s.range(2)), L = static_cast<std::size_t>(s.range(3));
  DeviceAttention a;
  prepare(a, B, H, d, L);
  const int sms = cuda::sm_count();  // the current device's
  if (sms < 1) {
    s.SkipWithError("CUDA: the current device's SM count could not be read");
    return;
  }
  cuda::AttentionDeviceArgs args;
  args.d_q = a.q.as<float>();
  args.d_K = a.K.as<float>();
  args.d_V = a.V.as<float>();
  args.d_kv_len = a.len.as<unsigned long long>();
  args.d_kv_off = a.off.as<unsigned long long>();
  args.B = B;
  args.H = H;
  args.d = d;
  args.chunk = attention::plan_chunk(v, B, H, d, L, attention::kDefaultSplitSize, sms);
  args.max_chunks = attention::num_chunks(args.chunk, L);
  const std::size_t temp = cuda::attention_temp_bytes(v, B, H, d, args.max_chunks);
  if (temp) a.temp.ensure(temp);
  timed(s, [&] { CUDA_CHECK(cuda::attention(v, args, a.out.as<float>(), a.temp.get(), temp, nullptr)); });
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 2 * a.kv_floats * sizeof(float)));
  s.counters["chunk"] = static_cast<double>(args.chunk ? args.chunk : L);
}

// K and V copied to a second buffer: bytes read plus written.
void run_copy(benchmark::State& s) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const auto B = static_cast<std::size_t>(s.range(0)), H = static_cast<std::size_t>(s.range(1)),
             d = static_cast<std::size_t>(s.range(2)), L = static_cast<std::size_t>(s.range(3));
  DeviceAttention a;
  prepare(a, B, H, d, L);
  DeviceBuffer dst(a.kv_floats * sizeof(float));
  timed(s, [&] {
    CUDA_CHECK(cudaMemcpyAsync(dst.get(), a.K.get(), a.kv_floats * sizeof(float), cudaMemcpyDeviceToDevice));
    CUDA_CHECK(cudaMemcpyAsync(dst.get(), a.V.get(), a.kv_floats * sizeof(float), cudaMemcpyDeviceToDevice));
  });
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * 4 * a.kv_floats * sizeof(float)));
}

// The H200 sweep: H=32, d=128, B = 1..64 at L = 4096, and L up to 32768 at small B.
void args(benchmark::internal::Benchmark* b) {
  for (int B = 1; B <= 64; B *= 4) b->Args({B, 32, 128, 4096});
  for (const int L : {8192, 16384, 32768}) b->Args({1, 32, 128, L});
  b->Args({8, 32, 128, 32768});
  b->ArgNames({"B", "H", "d", "L"})->UseManualTime()->Unit(benchmark::kMillisecond);
}

const bool registered = [] {
  args(benchmark::RegisterBenchmark("attention/cuda/d2d_copy", guarded(run_copy)));
  for (const auto& i : kAttentionVariants)
    args(benchmark::RegisterBenchmark((std::string("attention/cuda/") + i.name).c_str(),
                                      guarded([v = i.variant](benchmark::State& s) { run_variant(s, v); })));
  return true;
}();

}  // namespace
}  // namespace driftlab::bench
