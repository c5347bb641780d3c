// The CUDA model backend: weights uploaded once; each call uploads x, runs the layers (and dropout)
// on the device, and copies the output back (unless the call keeps it there for the device
// tracker, which compares it with run 0's on the GPU).  The reported time is the device time of the
// layers (cudaEvents), not the transfers.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <stdexcept>

#include "common/dense_order.h"
#include "cuda/cuda_check.h"
#include "cuda/dense.cuh"
#include "cuda/drift.cuh"
#include "gpu.h"
#include "model_backend.h"

namespace driftlab {
namespace {

struct DeviceFloats {
  float* p = nullptr;
  std::size_t count = 0;
  DeviceFloats() = default;
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  DeviceFloats(DeviceFloats&& o) noexcept : p(o.p), count(o.count) { o.p = nullptr; o.count = 0; }
  ~DeviceFloats() { cudaFree(p); }
  void ensure(std::size_t n) {
    if (n <= count) return;
    cudaFree(p);
    p = nullptr;
    count = 0;
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), std::max<std::size_t>(n, 1) * sizeof(float)));
    count = n;
  }
  void upload(const std::vector<float>& v) {
    ensure(v.size());
    CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
};

class CudaModelBackend final : public ModelBackend {
 public:
  CudaModelBackend() {
    if (cublasCreate(&handle_) != CUBLAS_STATUS_SUCCESS) throw BackendError("--backend cuda: cublasCreate failed");
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~CudaModelBackend() override {
    cublasDestroy(handle_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  std::string name() const override { return "cuda"; }
  std::string device() const override { return gpu_status().name; }
  bool has(DenseVariant) const override { return true; }
  std::string atomic_note(bool) const override {
    return "atomic order: float atomics on the GPU -- the order is whatever the memory system serialises";
  }
  void set_model(const Model& m) override {
    model_ = &m;
    weights_.resize(m.layers.size());
    biases_.resize(m.layers.size());
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      weights_[i].upload(m.layers[i].W);
      biases_[i].upload(m.layers[i].b);
    }
  }

  double predict(const PredictCall& c, const float* x, std::size_t B, float* out) override {
    return run(c, x, B, out, nullptr);
  }
  double predict_stages(const PredictCall& c, const float* x, std::size_t B, float* out,
                        std::vector<LayerStages>& stages) override {
    stages.assign(model_->layers.size(), {});
    return run(c, x, B, out, &stages);
  }

  std::string vendor() const override { return "cublas"; }
  double vendor_predict(const float* x, std::size_t B, float* out) override {
    return predict({DenseVariant::cublas, false, 0, 0, 0, std::nullopt}, x, B, out);
  }

  std::unique_ptr<OutputTracker> track_outputs(std::size_t B, std::size_t N) override;
  const float* last_output() const { return last_; }

 private:
  // predict's one path; with `stages`, each layer's stages are copied to the host on the way
  // (synchronous copies between the layers: the device time then includes them).
  double run(const PredictCall& c, const float* x, std::size_t B, float* out, std::vector<LayerStages>* stages) {
    const auto& layers = model_->layers;
    std::size_t widest = model_->inputs(), temp = 0;
    for (const auto& l : layers) {
      widest = std::max(widest, l.N);
      const std::size_t S = c.split_k ? c.split_k : dense::split_k(B, l.K, l.N);
      temp = std::max(temp, cuda::dense_temp_bytes(c.variant, B, l.K, l.N, S));
    }
    act_[0].ensure(B * widest);
    act_[1].ensure(B * widest);
    temp_.ensure(temp / sizeof(float) + 1);
    if (stages) matmul_.ensure(B * widest);
    auto keep = [&](std::size_t li, TraceStage stage, const float* d_src, std::size_t count) {
      std::vector<float> v(count);
      CUDA_CHECK(cudaMemcpy(v.data(), d_src, count * sizeof(float), cudaMemcpyDeviceToHost));
      (*stages)[li].push_back({stage, std::move(v)});
    };
    CUDA_CHECK(cudaMemcpy(act_[0].p, x, B * model_->inputs() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaEventRecord(start_));
    for (std::size_t li = 0; li < layers.size(); ++li) {
      const Layer& l = layers[li];
      const std::size_t S = c.split_k ? c.split_k : dense::split_k(B, l.K, l.N);
      float* in = act_[li % 2].p;
      float* y = act_[(li + 1) % 2].p;
      CUDA_CHECK(cuda::dense(c.variant, in, weights_[li].p, biases_[li].p, y, B, l.K, l.N, l.act, S, temp_.p,
                             temp_.count * sizeof(float), handle_, nullptr, stages ? matmul_.p : nullptr));
      if (stages) {
        keep(li, TraceStage::matmul, matmul_.p, B * l.N);
        keep(li, TraceStage::bias_act, y, B * l.N);
      }
      if (li + 1 < layers.size() && c.training && model_->dropout > 0) {
        CUDA_CHECK(cuda::dropout(y, B * l.N, model_->dropout, c.dropout_seed, c.call, static_cast<std::uint32_t>(li),
                                 nullptr));
        if (stages) keep(li, TraceStage::dropout, y, B * l.N);
      }
    }
    CUDA_CHECK(cudaEventRecord(stop_));
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    last_ = act_[layers.size() % 2].p;
    if (c.output_to_host)
      CUDA_CHECK(cudaMemcpy(out, last_, B * model_->outputs() * sizeof(float), cudaMemcpyDeviceToHost));
    return ms;
  }

  cublasHandle_t handle_{};
  cudaEvent_t start_{}, stop_{};
  const Model* model_ = nullptr;
  std::vector<DeviceFloats> weights_, biases_;
  DeviceFloats act_[2], temp_, matmul_;
  const float* last_ = nullptr;  // the last call's output, on the device
};

class DeviceTracker final : public OutputTracker {
 public:
  DeviceTracker(const CudaModelBackend& b, std::size_t B, std::size_t N) : backend_(b), drift_(B, N), count_(B * N) {}
  void add_last_output() override {
    if (!backend_.last_output()) throw std::logic_error("device tracker: no predict call yet");
    drift_.add(backend_.last_output());
  }
  OutputDrift result() const override {
    const cuda::DeviceDriftResult r = drift_.result();
    OutputDrift d;
    d.runs = r.runs;
    d.distinct_outputs = r.distinct_outputs;
    d.ratio_non_equal = r.runs > 1 && count_ ? static_cast<double>(r.differing) / static_cast<double>((r.runs - 1) * count_) : 0.0;
    d.max_ulp = r.max_ulp;
    d.max_abs_diff = r.max_abs_diff;
    d.argmax_flips = r.argmax_flips;
    return d;
  }

 private:
  const CudaModelBackend& backend_;
  cuda::DeviceOutputDrift drift_;
  std::size_t count_;
};

std::unique_ptr<OutputTracker> CudaModelBackend::track_outputs(std::size_t B, std::size_t N) {
  return std::make_unique<DeviceTracker>(*this, B, N);
}

}  // namespace

std::unique_ptr<ModelBackend> make_cuda_model_backend() {
  const GpuStatus& s = gpu_status();
  if (!s.usable) throw BackendError("--backend cuda: " + s.reason);
  try {
    return std::make_unique<CudaModelBackend>();
  } catch (const cuda::CudaError& e) {
    throw BackendError(std::string("--backend cuda: ") + e.what());
  }
}

}  // namespace driftlab
