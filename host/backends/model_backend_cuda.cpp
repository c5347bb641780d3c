// The CUDA model backend: weights uploaded once; each call uploads x, runs the layers (and dropout)
// on the device, and copies the output back (unless the call keeps it there for the device
// tracker, which compares it with run 0's on the GPU).  The reported time is the device time of the
// layers (cudaEvents), not the transfers.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

#include "kernels/common/dense_order.h"
#include "kernels/common/half.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/dense.cuh"
#include "kernels/cuda/drift.cuh"
#include "host/backends/gpu.h"
#include "host/backends/model_backend.h"

namespace driftlab {
namespace {

// Floats (or 16-bit patterns, two to a float slot) in device memory: the one DeviceBuffer
// (kernels/cuda/device.h), counted in floats.  Never null once ensured (an empty request takes
// one float).
struct DeviceFloats : cuda::DeviceBuffer {
  float* f() const { return as<float>(); }
  std::uint16_t* u16() const { return as<std::uint16_t>(); }
  void ensure(std::size_t n) { DeviceBuffer::ensure(n * sizeof(float), sizeof(float)); }
  void upload(const std::vector<float>& v) { DeviceBuffer::upload(v, sizeof(float)); }
  void ensure16(std::size_t n) { ensure((n + 1) / 2); }
  void upload16(const std::vector<std::uint16_t>& v) {
    ensure16(v.size());
    if (!v.empty()) CUDA_CHECK(cudaMemcpy(get(), v.data(), v.size() * sizeof(std::uint16_t), cudaMemcpyHostToDevice));
  }
};

class CudaModelBackend final : public ModelBackend {
 public:
  CudaModelBackend() = default;
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
      if (m.dtype == DType::f32) {
        weights_[i].upload(m.layers[i].W);
        biases_[i].upload(m.layers[i].b);
      } else {  // the 16-bit model's own bits
        weights_[i].upload16(m.layers[i].W16);
        biases_[i].upload16(m.layers[i].b16);
      }
    }
  }

  double predict(const PredictCall& c, const float* x, std::size_t B, float* out) override {
    check_batch(B);
    return model_->dtype == DType::f32 ? run(c, x, B, out, nullptr) : run_half(c, x, B, out, nullptr);
  }
  double predict_stages(const PredictCall& c, const float* x, std::size_t B, float* out,
                        std::vector<LayerStages>& stages) override {
    check_batch(B);
    stages.resize(model_->layers.size());
    return model_->dtype == DType::f32 ? run(c, x, B, out, &stages) : run_half(c, x, B, out, &stages);
  }

  std::string vendor() const override { return "cublas"; }
  double vendor_predict(const float* x, std::size_t B, float* out) override {
    return predict({DenseVariant::cublas, false, 0, 0, 0, std::nullopt}, x, B, out);
  }

  std::unique_ptr<OutputTracker> track_outputs(std::size_t B, std::size_t N) override;
  const float* last_output() const { return last_; }

 private:
  // The tile kernels' grid takes at most dense::tile::kMaxRows rows a call (65535 row blocks of 128);
  // the CPU backend has no such limit.
  static void check_batch(std::size_t B) {
    if (B > dense::tile::kMaxRows)
      throw std::runtime_error("the CUDA backend takes at most " + std::to_string(dense::tile::kMaxRows) +
                               " rows a call (65535 row blocks of 128); this batch has " + std::to_string(B) +
                               " (--backend cpu has no such limit)");
  }
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
    std::size_t k = 0;  // the current layer's next stage
    auto keep = [&](std::size_t li, TraceStage stage, const float* d_src, std::size_t count) {
      float* dst = next_stage((*stages)[li], k, stage, count);
      CUDA_CHECK(cudaMemcpy(dst, d_src, count * sizeof(float), cudaMemcpyDeviceToHost));
    };
    CUDA_CHECK(cudaMemcpy(act_[0].f(), x, B * model_->inputs() * sizeof(float), cudaMemcpyHostToDevice));
    const cublasHandle_t blas = cublas_for(c.variant);  // made before the timing starts
    events_.record_start();
    for (std::size_t li = 0; li < layers.size(); ++li) {
      const Layer& l = layers[li];
      const std::size_t S = c.split_k ? c.split_k : dense::split_k(B, l.K, l.N);
      float* in = act_[li % 2].f();
      float* y = act_[(li + 1) % 2].f();
      CUDA_CHECK(cuda::dense(c.variant, in, weights_[li].f(), biases_[li].f(), y, B, l.K, l.N, l.act, S, temp_.f(),
                             temp_.bytes(), blas, nullptr, stages ? matmul_.f() : nullptr));
      k = 0;
      if (stages) {
        keep(li, TraceStage::matmul, matmul_.f(), B * l.N);
        keep(li, TraceStage::bias_act, y, B * l.N);
      }
      if (li + 1 < layers.size() && c.training && model_->dropout > 0) {
        CUDA_CHECK(cuda::dropout(y, B * l.N, model_->dropout, c.dropout_seed, c.call, static_cast<std::uint32_t>(li),
                                 nullptr));
        if (stages) keep(li, TraceStage::dropout, y, B * l.N);
      }
      if (stages) (*stages)[li].resize(k);
    }
    events_.record_stop();
    const float ms = events_.ms();
    last_ = act_[layers.size() % 2].f();
    if (c.output_to_host)
      CUDA_CHECK(cudaMemcpy(out, last_, B * model_->outputs() * sizeof(float), cudaMemcpyDeviceToHost));
    return ms;
  }

  // A 16-bit model: x rounded to the type on the host (half.h) and uploaded as bits; each layer
  // cuda::dense_half into a float32 buffer, dropout there, then cuda::narrow into the 16-bit
  // activations (the next layer's input).  The output comes back widened (and, with pre_round,
  // the last layer's float32 output).  Outputs always come back to the host here.
  double run_half(const PredictCall& c, const float* x, std::size_t B, float* out, std::vector<LayerStages>* stages) {
    const auto& layers = model_->layers;
    const bool bf = model_->dtype == DType::bf16;
    std::size_t widest = model_->inputs(), temp = 0;
    for (const auto& l : layers) {
      widest = std::max(widest, l.N);
      const std::size_t S = c.split_k ? c.split_k : dense::split_k(B, l.K, l.N);
      temp = std::max(temp, cuda::dense_temp_bytes(c.variant, B, l.K, l.N, S));
    }
    act_[0].ensure16(B * widest);
    act_[1].ensure16(B * widest);
    y32_.ensure(B * widest);
    temp_.ensure(temp / sizeof(float) + 1);
    if (stages) matmul_.ensure(B * widest);
    std::vector<std::uint16_t> h16(B * model_->inputs());
    if (bf) cpu::narrow_bf16(x, h16.data(), h16.size());
    else cpu::narrow_f16(x, h16.data(), h16.size());
    std::size_t k = 0;  // the current layer's next stage
    auto keep = [&](std::size_t li, TraceStage stage, const float* d_src, std::size_t count) {
      float* dst = next_stage((*stages)[li], k, stage, count);
      CUDA_CHECK(cudaMemcpy(dst, d_src, count * sizeof(float), cudaMemcpyDeviceToHost));
    };
    auto widened = [&](const std::uint16_t* d_src, std::size_t count, float* dst) {
      std::vector<std::uint16_t> bits(count);
      CUDA_CHECK(cudaMemcpy(bits.data(), d_src, count * sizeof(std::uint16_t), cudaMemcpyDeviceToHost));
      for (std::size_t e = 0; e < count; ++e) dst[e] = bf ? bf16_to_f32(bits[e]) : f16_to_f32(bits[e]);
    };
    CUDA_CHECK(cudaMemcpy(act_[0].u16(), h16.data(), h16.size() * sizeof(std::uint16_t), cudaMemcpyHostToDevice));
    const cublasHandle_t blas = cublas_for(c.variant);  // made before the timing starts
    events_.record_start();
    for (std::size_t li = 0; li < layers.size(); ++li) {
      const Layer& l = layers[li];
      const std::size_t S = c.split_k ? c.split_k : dense::split_k(B, l.K, l.N), count = B * l.N;
      const std::uint16_t* in = act_[li % 2].u16();
      std::uint16_t* y = act_[(li + 1) % 2].u16();
      auto* dense_fn = bf ? &cuda::dense_half<bf16> : &cuda::dense_half<f16>;
      CUDA_CHECK(dense_fn(c.variant, in, weights_[li].u16(), biases_[li].u16(), y32_.f(), nullptr, B, l.K, l.N, l.act, S,
                          temp_.f(), temp_.bytes(), blas, nullptr, stages ? matmul_.f() : nullptr));
      k = 0;
      if (stages) {
        keep(li, TraceStage::matmul, matmul_.f(), count);
        keep(li, TraceStage::bias_act, y32_.f(), count);
      }
      if (li + 1 < layers.size() && c.training && model_->dropout > 0) {
        CUDA_CHECK(cuda::dropout(y32_.f(), count, model_->dropout, c.dropout_seed, c.call, static_cast<std::uint32_t>(li),
                                 nullptr));
        if (stages) keep(li, TraceStage::dropout, y32_.f(), count);
      }
      CUDA_CHECK(cuda::narrow(y32_.f(), y, count, bf, nullptr));
      if (stages) {
        widened(y, count, next_stage((*stages)[li], k, TraceStage::round, count));
        (*stages)[li].resize(k);
      }
    }
    events_.record_stop();
    const float ms = events_.ms();
    last_ = nullptr;  // no device tracker for 16-bit outputs
    const std::size_t n_out = B * model_->outputs();
    widened(act_[layers.size() % 2].u16(), n_out, out);
    if (c.pre_round) CUDA_CHECK(cudaMemcpy(c.pre_round, y32_.f(), n_out * sizeof(float), cudaMemcpyDeviceToHost));
    return ms;
  }

  // cuBLAS is loaded and its handle made only for the cublas variant (the vendor baseline):
  // cublas_loader.h.  Its absence is then one line naming the library.
  cublasHandle_t cublas_for(DenseVariant v) {
    if (v != DenseVariant::cublas) return nullptr;
    if (!cublas_) {
      try {
        cublas_.emplace();
      } catch (const std::runtime_error& e) {
        throw BackendError(std::string("--backend cuda: ") + e.what());
      }
    }
    return cublas_->get();
  }
  std::optional<cuda::CublasHandle> cublas_;
  cuda::EventPair events_;  // around the timed launches
  const Model* model_ = nullptr;
  std::vector<DeviceFloats> weights_, biases_;
  DeviceFloats act_[2], temp_, matmul_, y32_;
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

std::vector<float> dense_invariant_tc(DType dtype, const std::vector<std::uint16_t>& x, const std::vector<std::uint16_t>& W,
                                      const std::vector<std::uint16_t>& b, std::size_t B, std::size_t K, std::size_t N,
                                      bool relu) {
  if (dtype != DType::bf16 && dtype != DType::f16) throw BackendError("invariant_tc: 16-bit storage only (bf16, f16)");
  if (x.size() != B * K || W.size() != K * N || b.size() != N)
    throw BackendError("invariant_tc: x, W and b must hold B x K, K x N and N values");
  if (!dense::tc::shape_ok(B, K, N))  // before any GPU work
    throw BackendError("invariant_tc: refused shape B=" + std::to_string(B) + " K=" + std::to_string(K) + " N=" +
                       std::to_string(N) + " (K and N must be multiples of 8)");
  const GpuStatus& s = gpu_status();
  if (!s.usable) throw BackendError("invariant_tc: " + s.reason);
  try {
    DeviceFloats dx, dW, db, dy;
    dx.upload16(x);
    dW.upload16(W);
    db.upload16(b);
    dy.ensure(B * N);
    const auto act = relu ? dense::Activation::relu : dense::Activation::linear;
    CUDA_CHECK(dtype == DType::bf16
                   ? cuda::dense_invariant_tc<bf16>(dx.u16(), dW.u16(), db.u16(), dy.f(), nullptr, B, K, N, act, nullptr)
                   : cuda::dense_invariant_tc<f16>(dx.u16(), dW.u16(), db.u16(), dy.f(), nullptr, B, K, N, act, nullptr));
    std::vector<float> y(B * N);
    CUDA_CHECK(cudaMemcpy(y.data(), dy.f(), y.size() * sizeof(float), cudaMemcpyDeviceToHost));
    return y;
  } catch (const cuda::CudaError& e) {
    throw BackendError(std::string("invariant_tc: ") + e.what());
  }
}

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
