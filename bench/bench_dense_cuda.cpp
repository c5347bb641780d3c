// CUDA dense benchmarks: every dense variant at 4096^3 with cublasSgemm (FP32) in the same run
// (and invariant_prev, the invariant kernel of the first H200 run, and invariant_1block, today's at
// one block an SM, at 4096^3: benchmark-only;
// invariant_tc, the tensor-core variant of 16-bit storage, beside cublasGemmEx bf16),
// cudaEvents around each call (UseManualTime), and predict throughput on the GPU.  x, W and b
// are N(0,1) values made on the device (bench_inputs.h), not uploaded; predict keeps its host
// input (what the model backend takes).  A CUDA error skips the benchmark with its message
// (cuda_timed.h's guarded), never a terminate.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "bench/bench_inputs.h"
#include "kernels/common/dense_order.h"
#include "kernels/common/half.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_check.h"
#include "bench/cuda_timed.h"
#include "kernels/cuda/dense.cuh"
#include "host/io/data.h"
#include "host/backends/gpu.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"

namespace driftlab::bench {
namespace {

// Device memory freed on every path (device.h's DeviceBuffer); the cuBLAS handle likewise.
struct DeviceDense {
  DeviceBuffer x, W, b, y, y32, temp;  // y32: the float32 output of a 16-bit call; temp null when unused
  std::size_t temp_bytes = 0;
  std::optional<cuda::CublasHandle> blas;  // the cublas variant's only (cublas_loader.h)
  cublasHandle_t handle() const { return blas ? blas->get() : nullptr; }
  // cuBLAS loaded and its handle made for the cublas variant; false (the benchmark skipped with the
  // reason) when it cannot be.
  bool cublas_for(benchmark::State& s, DenseVariant v) {
    if (v != DenseVariant::cublas) return true;
    try {
      blas.emplace();
      return true;
    } catch (const std::runtime_error& e) {
      s.SkipWithError(e.what());
      return false;
    }
  }
};

// n values N(0,1) (float32, or bf16 bits) made on the device with `seed`.
template <class T> DeviceBuffer device_normal(std::size_t n, GenType t, std::uint64_t seed) {
  DeviceBuffer p(n * sizeof(T));
  CUDA_CHECK(device_fill(p.get(), t, GenDist::normal, n, seed));
  return p;
}

// tiles (invariant only): another tile kernel (dense.cuh's dense_invariant_tiles: prev, the kernel
// of the first H200 run; one_block, today's at one block an SM), benchmark-only, timed beside
// today's in the same step.
void run_dense(benchmark::State& s, DenseVariant v, std::optional<cuda::InvariantTiles> tiles = std::nullopt) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const auto B = static_cast<std::size_t>(s.range(0)), K = static_cast<std::size_t>(s.range(1)),
             N = static_cast<std::size_t>(s.range(2));
  DeviceDense d;
  d.x = device_normal<float>(B * K, GenType::f32, 1);
  d.W = device_normal<float>(K * N, GenType::f32, 2);
  d.b = device_normal<float>(N, GenType::f32, 3);
  d.y.ensure(B * N * sizeof(float));
  const std::size_t S = dense::split_k(B, K, N);
  d.temp_bytes = cuda::dense_temp_bytes(v, B, K, N, S);
  if (d.temp_bytes) d.temp.ensure(d.temp_bytes);
  if (!d.cublas_for(s, v)) return;
  auto call = [&] {
    if (tiles)
      CUDA_CHECK(cuda::dense_invariant_tiles(*tiles, d.x.as<float>(), d.W.as<float>(), d.b.as<float>(), d.y.as<float>(),
                                             B, K, N, dense::Activation::relu, nullptr));
    else
      CUDA_CHECK(cuda::dense(v, d.x.as<float>(), d.W.as<float>(), d.b.as<float>(), d.y.as<float>(), B, K, N,
                             dense::Activation::relu, S, d.temp.get(), d.temp_bytes, d.handle(), nullptr));
  };
  timed(s, call);  // a warm-up call, then event-timed iterations (cuda_timed.h)
  s.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(B * K * N) * static_cast<double>(s.iterations()),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  if (splits_k(v)) s.counters["slices"] = static_cast<double>(S);
}

// 16-bit storage (bf16), float32 accumulation: cuda::dense_half (tiles widen the bf16 bits,
// float32 chains, output narrowed); for cublas, cublasGemmEx with CUDA_R_16BF inputs and
// CUBLAS_COMPUTE_32F.  The float32 output buffer and the narrowing are inside the timed call.
// tc: invariant_tc instead (dense_tc.cu; optional in issue 18, measured only): tensor cores, the
// same inputs, float32 output and narrowing, timed the same way (v unused).
void run_dense_bf16(benchmark::State& s, DenseVariant v, std::size_t B, std::size_t K, std::size_t N, bool tc = false) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  DeviceDense d;
  d.x = device_normal<std::uint16_t>(B * K, GenType::bf16, 1);
  d.W = device_normal<std::uint16_t>(K * N, GenType::bf16, 2);
  d.b = device_normal<std::uint16_t>(N, GenType::bf16, 3);
  d.y.ensure(B * N * sizeof(std::uint16_t));
  d.y32.ensure(B * N * sizeof(float));
  const std::size_t S = tc ? 1 : dense::split_k(B, K, N);
  d.temp_bytes = tc ? 0 : cuda::dense_temp_bytes(v, B, K, N, S);
  if (d.temp_bytes) d.temp.ensure(d.temp_bytes);
  if (!tc && !d.cublas_for(s, v)) return;
  auto call = [&] {
    if (tc)
      CUDA_CHECK(cuda::dense_invariant_tc<bf16>(d.x.as<std::uint16_t>(), d.W.as<std::uint16_t>(), d.b.as<std::uint16_t>(),
                                                d.y32.as<float>(), d.y.as<std::uint16_t>(), B, K, N,
                                                dense::Activation::relu, nullptr));
    else
      CUDA_CHECK(cuda::dense_half<bf16>(v, d.x.as<std::uint16_t>(), d.W.as<std::uint16_t>(), d.b.as<std::uint16_t>(),
                                        d.y32.as<float>(), d.y.as<std::uint16_t>(), B, K, N, dense::Activation::relu, S,
                                        d.temp.get(), d.temp_bytes, d.handle(), nullptr));
  };
  timed(s, call);  // a warm-up call, then event-timed iterations (cuda_timed.h)
  s.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(B * K * N) * static_cast<double>(s.iterations()),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  if (!tc && splits_k(v)) s.counters["slices"] = static_cast<double>(S);
}

void run_predict(benchmark::State& s, const std::vector<std::size_t>& sizes, DenseVariant v, DType dtype = DType::f32) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const auto B = static_cast<std::size_t>(s.range(0));
  Model m = make_model(sizes, 0.5f, 1);
  round_model(m, dtype);
  auto backend = make_cuda_model_backend();
  backend->set_model(m);
  const std::vector<float> x = make_input(Dist::uniform, DType::f32, B * sizes.front(), 4).f32;
  std::vector<float> y(B * sizes.back());
  backend->predict({v, false, 0, 0, 0, std::nullopt}, x.data(), B, y.data());  // warm-up
  for (auto _ : s) s.SetIterationTime(backend->predict({v, false, 0, 0, 0, std::nullopt}, x.data(), B, y.data()) * 1e-3);
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * B));
}

}  // namespace

void register_cuda_dense_benchmarks() {
  for (const auto& i : kDenseVariants) {
    auto* b = benchmark::RegisterBenchmark((std::string("dense/cuda/") + i.name).c_str(),
                                           guarded([v = i.variant](benchmark::State& s) { run_dense(s, v); }));
    for (int B = 1; B <= 4096; B *= 4) b->Args({B, 10, 20})->Args({B, 4096, 4096});
    b->Args({128, 4096, 4096});  // a mid batch: the small-batch kernel when the tiles fill <= 1/4 of the SMs
    b->ArgNames({"B", "K", "N"});
    b->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("dense/cuda/invariant_prev", guarded([](benchmark::State& s) {
                                 run_dense(s, DenseVariant::invariant, cuda::InvariantTiles::prev);
                               }))
      ->Args({4096, 4096, 4096})
      ->Args({128, 4096, 4096})  // the tile kernel where `invariant` takes the small-batch one (not in the device plan)
      ->ArgNames({"B", "K", "N"})
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("dense/cuda/invariant_1block", guarded([](benchmark::State& s) {
                                 run_dense(s, DenseVariant::invariant, cuda::InvariantTiles::one_block);
                               }))
      ->Args({4096, 4096, 4096})
      ->ArgNames({"B", "K", "N"})
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  for (const auto& sizes : {std::vector<std::size_t>{10, 20, 10}, std::vector<std::size_t>{784, 4096, 4096, 10}})
    for (const auto& i : kDenseVariants) {
      std::string shape;
      for (std::size_t k = 0; k < sizes.size(); ++k) {
        if (k) shape += '-';
        shape += std::to_string(sizes[k]);
      }
      auto* b = benchmark::RegisterBenchmark(("predict/cuda/" + shape + "/" + i.name).c_str(),
                                             guarded([sizes, v = i.variant](benchmark::State& s) { run_predict(s, sizes, v); }));
      for (const int batch : {1, 64, 4096}) b->Arg(batch);
      b->ArgName("batch")->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  // bf16 storage at 4096^3 (issue 11): invariant against cublasGemmEx bf16, beside the float32
  // names above (unchanged); the dtype is the last component.
  // (Only these two at 4096^3 in 16 bits, and invariant_tc below: the GPU check times them all.)
  for (const DenseVariant v : {DenseVariant::invariant, DenseVariant::cublas})
    benchmark::RegisterBenchmark((std::string("dense/cuda/") + info(v).name + "/B:4096/K:4096/N:4096/dtype:bf16").c_str(),
                                 guarded([v](benchmark::State& s) { run_dense_bf16(s, v, 4096, 4096, 4096); }))
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  // invariant_tc beside them (batch-invariant on one GPU model, not the CPU's bits; B = 64 is
  // registered for a GPU session to time, outside the device plan)
  for (const std::size_t B : {std::size_t{4096}, std::size_t{64}})
    benchmark::RegisterBenchmark(("dense/cuda/invariant_tc/B:" + std::to_string(B) + "/K:4096/N:4096/dtype:bf16").c_str(),
                                 guarded([B](benchmark::State& s) { run_dense_bf16(s, DenseVariant::invariant, B, 4096, 4096, /*tc=*/true); }))
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  const std::vector<std::size_t> wide{784, 4096, 4096, 10};
  for (const DenseVariant v : {DenseVariant::atomic, DenseVariant::invariant})
    benchmark::RegisterBenchmark(("predict/cuda/784-4096-4096-10/" + std::string(info(v).name) + "/dtype:bf16").c_str(),
                                 guarded([wide, v](benchmark::State& s) { run_predict(s, wide, v, DType::bf16); }))
        ->Arg(64)
        ->ArgName("batch")
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace driftlab::bench
