// CUDA summation benchmarks: cudaEvents around each launch (UseManualTime), inputs rotated
// across enough buffers to exceed the L2 cache, scratch sized before the timed region.
// Baselines in the same run: cub::DeviceReduce::Sum (variant `cub`) and a device-to-device copy;
// for f32 at the largest size also `exact_prev`, the previous exact kernel (benchmark-only).
// Inputs are made on the device (bench_inputs.h: make_input's laws, other values; the 2^28
// ill-conditioned input in milliseconds instead of ~37 s of host shuffle).  A CUDA error skips
// the benchmark with its message (cuda_timed.h's guarded), never a terminate.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "bench/bench_common.h"
#include "bench/bench_inputs.h"
#include "bench/cuda_timed.h"
#include "bench/rotation.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sum.cuh"
#include "host/backends/gpu.h"

namespace driftlab::bench {
namespace {

// n = 2^10 ... 2^28 (even powers), and 2^27 for f64: 1 GiB, the size the GPU check times.
std::vector<std::size_t> cuda_sizes(DType d) {
  std::vector<std::size_t> v;
  for (int k = 10; k <= 28; k += 2) {
    if (d == DType::f64 && k == 28) v.push_back(std::size_t(1) << 27);
    v.push_back(std::size_t(1) << k);
  }
  return v;
}

// Enough copies of the input, in one pool, that one pass over all of them exceeds twice the L2
// cache (rotation.h); scratch sized once, before the timed region.
// Device memory freed on every path (device.h's DeviceBuffer).
struct DeviceInputs {
  DeviceBuffer pool;
  std::size_t copies = 0, stride = 0;
  DeviceBuffer out;
  DeviceBuffer temp;  // null when the variant needs no scratch
  std::size_t temp_bytes = 0;
  const void* copy(std::size_t k) const { return pool.as<const char>() + (k % copies) * stride; }
  void* d_out() const { return out.get(); }
  void* d_temp() const { return temp.get(); }
};

// The generator's type and law for stored type T and input dist.
template <class T> GenType gen_type() {
  if constexpr (std::is_same_v<T, bf16>) return GenType::bf16;
  else if constexpr (std::is_same_v<T, f16>) return GenType::f16;
  else return sizeof(T) == 4 ? GenType::f32 : GenType::f64;
}
inline GenDist gen_dist(Dist d) {
  return d == Dist::uniform ? GenDist::uniform : (d == Dist::normal ? GenDist::normal : GenDist::illcond);
}
template <class T> std::size_t temp_bytes(SumVariant v, std::size_t n) {
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) return cuda::sum_half_temp_bytes<T>(v, n);
  else return cuda::sum_temp_bytes<T>(v, n);
}
// One launch of variant v; T is the stored type (a 16-bit input sums into a float).
template <class T>
cudaError_t launch(SumVariant v, const T* d_in, std::size_t n, void* d_out, void* d_temp, std::size_t temp_bytes) {
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>)
    return cuda::sum_half<T>(v, d_in, n, static_cast<float*>(d_out), d_temp, temp_bytes, nullptr);
  else return cuda::sum<T>(v, d_in, n, static_cast<T*>(d_out), d_temp, temp_bytes, nullptr);
}

template <class T> void prepare(DeviceInputs& in, Dist dist, std::size_t n, SumVariant v) {
  int dev = 0, l2 = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
  const std::size_t bytes = n * sizeof(T);
  in.copies = rotation_copies(bytes, static_cast<std::size_t>(l2));
  in.stride = rotation_stride(bytes);
  in.pool.ensure(in.copies * in.stride);
  CUDA_CHECK(device_fill(in.pool.get(), gen_type<T>(), gen_dist(dist), n, 12345));
  for (std::size_t filled = 1; filled < in.copies;) {  // double the filled copies each step
    const std::size_t m = std::min(filled, in.copies - filled);
    CUDA_CHECK(cudaMemcpy(in.pool.as<char>() + filled * in.stride, in.pool.get(), m * in.stride,
                          cudaMemcpyDeviceToDevice));
    filled += m;
  }
  in.out.ensure(std::max<std::size_t>(bytes, sizeof(double)));  // the copy baseline writes n
  in.temp_bytes = temp_bytes<T>(v, n);
  if (in.temp_bytes) in.temp.ensure(in.temp_bytes);
}

// exact_prev (float only): the previous exact kernel, benchmark-only (sum.cuh's sum_exact_prev),
// measured beside `exact` in the same run.
template <class T> void run_sum(benchmark::State& state, Dist dist, SumVariant v, bool exact_prev = false) {
  if (!gpu_status().usable) {
    state.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  DeviceInputs in;
  prepare<T>(in, dist, n, v);
  auto call = [&](const T* d_in) {
    if constexpr (std::is_same_v<T, float>)
      if (exact_prev) return cuda::sum_exact_prev(d_in, n, static_cast<float*>(in.d_out()), in.d_temp(), in.temp_bytes, nullptr);
    return launch<T>(v, d_in, n, in.d_out(), in.d_temp(), in.temp_bytes);
  };
  EventPair ev;
  CUDA_CHECK(call(static_cast<const T*>(in.copy(0))));  // warm-up: module load
  CUDA_CHECK(cudaDeviceSynchronize());
  std::size_t k = 0;
  for (auto _ : state) {
    const T* d_in = static_cast<const T*>(in.copy(k++));
    ev.record_start();
    CUDA_CHECK(call(d_in));
    ev.record_stop();
    state.SetIterationTime(ev.seconds());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * sizeof(T)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// Device-to-device copy: bytes_per_second counts bytes read plus bytes written.
template <class T> void run_copy(benchmark::State& state, Dist dist) {
  if (!gpu_status().usable) {
    state.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  DeviceInputs in;
  prepare<T>(in, dist, n, SumVariant::atomic);
  EventPair ev;
  std::size_t k = 0;
  for (auto _ : state) {
    ev.record_start();
    CUDA_CHECK(cudaMemcpyAsync(in.d_out(), in.copy(k++), n * sizeof(T), cudaMemcpyDeviceToDevice));
    ev.record_stop();
    state.SetIterationTime(ev.seconds());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * n * sizeof(T)));
}

template <class T> void register_dtype(DType d, Dist dist) {
  const std::size_t largest = cuda_sizes(d).back();
  auto* copy = benchmark::RegisterBenchmark(sum_name("cuda", d, dist, "d2d_copy").c_str(),
                                            guarded([dist](benchmark::State& s) { run_copy<T>(s, dist); }));
  for (std::size_t n : cuda_sizes(d))
    if (sum_dist_at(dist, n, largest)) copy->Arg(static_cast<std::int64_t>(n));
  copy->UseManualTime()->Unit(benchmark::kMillisecond);
  for (const auto& i : kSumVariants) {
    if (!cuda::has_sum_variant(i.variant)) continue;
    std::vector<std::size_t> sizes;  // f64 atomic_element stops at 2^26 (double atomics: seconds per call)
    for (std::size_t n : cuda_sizes(d))
      if (!(i.variant == SumVariant::atomic_element && n > (std::size_t(1) << 26) && sizeof(T) == 8)) sizes.push_back(n);
    auto* b = benchmark::RegisterBenchmark(sum_name("cuda", d, dist, i.name).c_str(),
                                           guarded([dist, v = i.variant](benchmark::State& s) { run_sum<T>(s, dist, v); }));
    for (std::size_t n : sizes)
      if (sum_dist_at(dist, n, sizes.back())) b->Arg(static_cast<std::int64_t>(n));
    b->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  if constexpr (std::is_same_v<T, float>) {  // the previous exact kernel, at the largest size only
    auto* b = benchmark::RegisterBenchmark(sum_name("cuda", d, dist, "exact_prev").c_str(),
                                           guarded([dist](benchmark::State& s) { run_sum<T>(s, dist, SumVariant::exact, true); }));
    b->Arg(static_cast<std::int64_t>(largest))->UseManualTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

void register_cuda_sum_benchmarks() {
  for (const Dist dist : kSumDists) {
    register_dtype<float>(DType::f32, dist);
    register_dtype<double>(DType::f64, dist);
  }
  for (const Dist dist : kSumDists) {  // 16-bit inputs, float32 sums (cuda::sum_half)
    register_dtype<bf16>(DType::bf16, dist);
    register_dtype<f16>(DType::f16, dist);
  }
}

}  // namespace driftlab::bench
