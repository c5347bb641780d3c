// CUDA dense benchmarks: every dense variant at 4096^3 with cublasSgemm (FP32) in the same run,
// cudaEvents around each call (UseManualTime), and predict throughput on the GPU.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <vector>

#include "bench_common.h"
#include "common/dense_order.h"
#include "common/half.h"
#include "cuda/cuda_check.h"
#include "cuda_timed.h"
#include "cuda/dense.cuh"
#include "data.h"
#include "gpu.h"
#include "model.h"
#include "model_backend.h"

namespace driftlab::bench {
namespace {

struct DeviceDense {
  float *x = nullptr, *W = nullptr, *b = nullptr, *y = nullptr;
  void* temp = nullptr;
  std::size_t temp_bytes = 0;
  cublasHandle_t handle{};
  ~DeviceDense() {
    cudaFree(x), cudaFree(W), cudaFree(b), cudaFree(y), cudaFree(temp);
    if (handle) cublasDestroy(handle);
  }
};

float* upload(const std::vector<float>& v) {
  float* p = nullptr;
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), v.size() * sizeof(float)));
  CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
  return p;
}

void run_dense(benchmark::State& s, DenseVariant v) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  const auto B = static_cast<std::size_t>(s.range(0)), K = static_cast<std::size_t>(s.range(1)),
             N = static_cast<std::size_t>(s.range(2));
  DeviceDense d;
  d.x = upload(make_input(Dist::normal, DType::f32, B * K, 1).f32);
  d.W = upload(make_input(Dist::normal, DType::f32, K * N, 2).f32);
  d.b = upload(make_input(Dist::normal, DType::f32, N, 3).f32);
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d.y), B * N * sizeof(float)));
  const std::size_t S = dense::split_k(B, K, N);
  d.temp_bytes = cuda::dense_temp_bytes(v, B, K, N, S);
  if (d.temp_bytes) CUDA_CHECK(cudaMalloc(&d.temp, d.temp_bytes));
  if (cublasCreate(&d.handle) != CUBLAS_STATUS_SUCCESS) {
    s.SkipWithError("cublasCreate failed");
    return;
  }
  auto call = [&] {
    CUDA_CHECK(cuda::dense(v, d.x, d.W, d.b, d.y, B, K, N, dense::Activation::relu, S, d.temp, d.temp_bytes, d.handle,
                           nullptr));
  };
  timed(s, call);  // a warm-up call, then event-timed iterations (cuda_timed.h)
  s.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(B * K * N) * static_cast<double>(s.iterations()),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  if (v == DenseVariant::atomic || v == DenseVariant::tree) s.counters["slices"] = static_cast<double>(S);
}

// 16-bit storage (bf16), float32 accumulation: cuda::dense_half (tiles widen the bf16 bits,
// float32 chains, output narrowed); for cublas, cublasGemmEx with CUDA_R_16BF inputs and
// CUBLAS_COMPUTE_32F.  The float32 output buffer and the narrowing are inside the timed call.
void run_dense_bf16(benchmark::State& s, DenseVariant v, std::size_t B, std::size_t K, std::size_t N) {
  if (!gpu_status().usable) {
    s.SkipWithError(gpu_status().reason.c_str());
    return;
  }
  auto bits = [](const std::vector<float>& f) {
    std::vector<std::uint16_t> h(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) h[i] = f32_to_bf16(f[i]);
    return h;
  };
  auto upload16 = [](const std::vector<std::uint16_t>& h) {
    std::uint16_t* p = nullptr;
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), h.size() * sizeof(std::uint16_t)));
    CUDA_CHECK(cudaMemcpy(p, h.data(), h.size() * sizeof(std::uint16_t), cudaMemcpyHostToDevice));
    return p;
  };
  std::uint16_t* x = upload16(bits(make_input(Dist::normal, DType::f32, B * K, 1).f32));
  std::uint16_t* W = upload16(bits(make_input(Dist::normal, DType::f32, K * N, 2).f32));
  std::uint16_t* b = upload16(bits(make_input(Dist::normal, DType::f32, N, 3).f32));
  std::uint16_t* y = nullptr;
  float* y32 = nullptr;
  void* temp = nullptr;
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&y), B * N * sizeof(std::uint16_t)));
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&y32), B * N * sizeof(float)));
  const std::size_t S = dense::split_k(B, K, N);
  const std::size_t temp_bytes = cuda::dense_temp_bytes(v, B, K, N, S);
  if (temp_bytes) CUDA_CHECK(cudaMalloc(&temp, temp_bytes));
  cublasHandle_t handle{};
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    s.SkipWithError("cublasCreate failed");
    return;
  }
  auto call = [&] {
    CUDA_CHECK(cuda::dense_half<bf16>(v, x, W, b, y32, y, B, K, N, dense::Activation::relu, S, temp, temp_bytes, handle,
                                      nullptr));
  };
  timed(s, call);  // a warm-up call, then event-timed iterations (cuda_timed.h)
  cublasDestroy(handle);
  cudaFree(x), cudaFree(W), cudaFree(b), cudaFree(y), cudaFree(y32), cudaFree(temp);
  s.counters["FLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(B * K * N) * static_cast<double>(s.iterations()),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  if (v == DenseVariant::atomic || v == DenseVariant::tree) s.counters["slices"] = static_cast<double>(S);
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
                                           [v = i.variant](benchmark::State& s) { run_dense(s, v); });
    for (int B = 1; B <= 4096; B *= 4) b->Args({B, 10, 20})->Args({B, 4096, 4096});
    b->ArgNames({"B", "K", "N"});
    b->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  for (const auto& sizes : {std::vector<std::size_t>{10, 20, 10}, std::vector<std::size_t>{784, 4096, 4096, 10}})
    for (const auto& i : kDenseVariants) {
      std::string shape;
      for (std::size_t k = 0; k < sizes.size(); ++k) {
        if (k) shape += '-';
        shape += std::to_string(sizes[k]);
      }
      auto* b = benchmark::RegisterBenchmark(("predict/cuda/" + shape + "/" + i.name).c_str(),
                                             [sizes, v = i.variant](benchmark::State& s) { run_predict(s, sizes, v); });
      for (const int batch : {1, 64, 4096}) b->Arg(batch);
      b->ArgName("batch")->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  // bf16 storage at 4096^3 (issue 11): invariant against cublasGemmEx bf16, beside the float32
  // names above (unchanged); the dtype is the last component.
  // (Only these two: every benchmark here runs in the GPU check's time budget.)
  for (const DenseVariant v : {DenseVariant::invariant, DenseVariant::cublas})
    benchmark::RegisterBenchmark((std::string("dense/cuda/") + info(v).name + "/B:4096/K:4096/N:4096/dtype:bf16").c_str(),
                                 [v](benchmark::State& s) { run_dense_bf16(s, v, 4096, 4096, 4096); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  const std::vector<std::size_t> wide{784, 4096, 4096, 10};
  for (const DenseVariant v : {DenseVariant::atomic, DenseVariant::invariant})
    benchmark::RegisterBenchmark(("predict/cuda/784-4096-4096-10/" + std::string(info(v).name) + "/dtype:bf16").c_str(),
                                 [wide, v](benchmark::State& s) { run_predict(s, wide, v, DType::bf16); })
        ->Arg(64)
        ->ArgName("batch")
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace driftlab::bench
