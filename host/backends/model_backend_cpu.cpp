#include <cblas.h>

#include <chrono>

#include "kernels/common/dropout.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/dense_half.h"
#include "host/backends/model_backend.h"
#include "host/backends/openblas_kernels.h"


namespace driftlab {

const char* stage_name(TraceStage s) {
  switch (s) {
    case TraceStage::matmul: return "matmul";
    case TraceStage::bias_act: return "bias_act";
    case TraceStage::dropout: return "dropout";
    case TraceStage::round: return "round";
  }
  return "?";
}

DropoutMask dropout_mask(std::size_t count, float rate, std::uint64_t seed, std::uint64_t call, std::uint32_t layer) {
  DropoutMask m;
  m.factor.resize(count);
  const std::uint32_t thr = dropout::drop_threshold(rate);
  const float scale = dropout::keep_scale(rate);
  for (std::size_t e = 0; e < count; ++e) m.factor[e] = dropout::dropout_word(seed, call, layer, e) < thr ? 0.0f : scale;
  return m;
}

namespace {

class CpuModelBackend final : public ModelBackend {
 public:
  explicit CpuModelBackend(int threads) : pool_(threads) {}
  std::string name() const override { return "cpu"; }
  std::string device() const override { return cpu_device(static_cast<std::size_t>(pool_.size())); }
  bool has(DenseVariant v) const override { return !cuda_only(v); }
  std::string atomic_note(bool shuffle) const override {
    return shuffle ? "atomic order: MODEL -- slice partials added in a seeded random order per call, reproducible"
                   : "atomic order: real atomic adds racing on " + std::to_string(pool_.size()) +
                         " threads -- depends on thread timing (a layer under 2^18 multiply-adds runs on one "
                         "thread, as every variant's does: no race there)";
  }
  void set_model(const Model& m) override {
    model_ = &m;
    packs_.assign(m.layers.size(), {});
    halves_.assign(m.layers.size(), {});
    for (std::size_t li = 0; li < m.layers.size(); ++li) {  // when the model is loaded, not in a call
      if (m.dtype == DType::f32) packed(li);
      else widened(li);
    }
  }

  // With the kernel family OpenBLAS runs (openblas_kernels.h: never an SSE-era one on an AVX2 CPU
  // when the process started through driftlab's main).
  std::string vendor() const override { return "openblas " + openblas_core_name(); }
  double vendor_predict(const float* x, std::size_t B, float* out) override {
    set_openblas_threads(static_cast<int>(pool_.size()));  // or a one-line error under a tight ulimit -v
    const auto t0 = std::chrono::steady_clock::now();
    const float* in = x;
    for (std::size_t li = 0; li < model_->layers.size(); ++li) {
      const Layer& l = model_->layers[li];
      float* y = out;
      if (li + 1 < model_->layers.size()) {
        std::vector<float>& buf = li % 2 ? buf_b_ : buf_a_;
        buf.resize(B * l.N);
        y = buf.data();
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(B), static_cast<int>(l.N),
                  static_cast<int>(l.K), 1.0f, in, static_cast<int>(l.K), l.W.data(), static_cast<int>(l.N), 0.0f, y,
                  static_cast<int>(l.N));
      for (std::size_t i = 0; i < B; ++i)
        for (std::size_t j = 0; j < l.N; ++j) y[i * l.N + j] = dense::activate(y[i * l.N + j] + l.b[j], l.act);
      in = y;
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  double predict(const PredictCall& c, const float* x, std::size_t B, float* out) override {
    return dispatch(c, x, B, out, nullptr);
  }
  double predict_stages(const PredictCall& c, const float* x, std::size_t B, float* out,
                        std::vector<LayerStages>& stages) override {
    stages.resize(model_->layers.size());
    return dispatch(c, x, B, out, &stages);
  }

 private:
  double dispatch(const PredictCall& c, const float* x, std::size_t B, float* out, std::vector<LayerStages>* stages) {
    switch (model_->dtype) {
      case DType::bf16: return run_half<bf16>(c, x, B, out, stages);
      case DType::f16: return run_half<f16>(c, x, B, out, stages);
      default: return run(c, x, B, out, stages);
    }
  }

  // A 16-bit model's path: x rounded to S once; each layer dense_half (float32 chains over the
  // widened 16-bit values, W widened and packed once per weights version), dropout in float32,
  // then the output rounded to S -- the next layer's input, or the model's output.
  template <class S>
  double run_half(const PredictCall& c, const float* x, std::size_t B, float* out, std::vector<LayerStages>* stages) {
    const auto t0 = std::chrono::steady_clock::now();
    cpu::DenseContext ctx{&pool_, c.schedule_seed, c.split_k};
    h_in_.resize(B * model_->inputs());
    cpu::narrow_into<S>(x, h_in_.data(), h_in_.size());
    for (std::size_t li = 0; li < model_->layers.size(); ++li) {
      const Layer& l = model_->layers[li];
      const bool last = li + 1 == model_->layers.size();
      const std::size_t count = B * l.N;
      y32_.resize(count);
      h_out_.resize(count);
      LayerStages* st = stages ? &(*stages)[li] : nullptr;
      std::size_t k = 0;
      if (st) ctx.matmul_out = next_stage(*st, k, TraceStage::matmul, count);
      cpu::dense_half<S>(c.variant, h_in_.data(), l.W16.data(), l.b16.data(), y32_.data(), nullptr, B, l.K, l.N, l.act,
                         ctx, &widened(li));
      ctx.matmul_out = nullptr;
      if (st) std::copy(y32_.begin(), y32_.end(), next_stage(*st, k, TraceStage::bias_act, count));
      if (!last && c.training && model_->dropout > 0) {
        const std::uint32_t thr = dropout::drop_threshold(model_->dropout);
        const float scale = dropout::keep_scale(model_->dropout);
        for (std::size_t e = 0; e < count; ++e)
          y32_[e] = dropout::apply(y32_[e], dropout::dropout_word(c.dropout_seed, c.call, static_cast<std::uint32_t>(li), e),
                                   thr, scale);
        if (st) std::copy(y32_.begin(), y32_.end(), next_stage(*st, k, TraceStage::dropout, count));
      }
      cpu::narrow_into<S>(y32_.data(), h_out_.data(), count);
      if (st) {
        cpu::widen_into<S>(h_out_.data(), next_stage(*st, k, TraceStage::round, count), count);
        st->resize(k);
      }
      if (last) {
        if (c.pre_round) std::copy(y32_.begin(), y32_.end(), c.pre_round);
        cpu::widen_into<S>(h_out_.data(), out, count);
      }
      h_in_.swap(h_out_);
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // Layer li's 16-bit W widened to float32 and packed, once per model and weights version.
  struct Widened {
    cpu::WidenedW w;
    std::uint64_t version = 0;
  };
  const cpu::WidenedW& widened(std::size_t li) {
    const Layer& l = model_->layers[li];
    Widened& h = halves_[li];
    if (h.w.source != l.W16.data() || h.w.K != l.K || h.w.N != l.N || h.version != l.weights_version) {
      if (model_->dtype == DType::bf16) cpu::widen_weights<bf16>(l.W16.data(), l.K, l.N, h.w);
      else cpu::widen_weights<f16>(l.W16.data(), l.K, l.N, h.w);
      h.version = l.weights_version;
    }
    return h.w;
  }

  // predict's one path; with `stages`, each layer's stages are copied out on the way (into buffers
  // kept from the last traced call).
  double run(const PredictCall& c, const float* x, std::size_t B, float* out, std::vector<LayerStages>* stages) {
    const auto t0 = std::chrono::steady_clock::now();
    cpu::DenseContext ctx{&pool_, c.schedule_seed, c.split_k};
    const float* in = x;
    for (std::size_t li = 0; li < model_->layers.size(); ++li) {
      const Layer& l = model_->layers[li];
      const bool last = li + 1 == model_->layers.size();
      float* y = out;
      if (!last) {  // hidden activations ping-pong between two buffers
        std::vector<float>& buf = li % 2 ? buf_b_ : buf_a_;
        buf.resize(B * l.N);
        y = buf.data();
      }
      ctx.packed_W = B > cpu::kGemvMaxRows ? &packed(li) : nullptr;  // small batches stream W unpacked
      LayerStages* st = stages ? &(*stages)[li] : nullptr;
      std::size_t k = 0;
      if (st) ctx.matmul_out = next_stage(*st, k, TraceStage::matmul, B * l.N);
      cpu::dense(c.variant, in, l.W.data(), l.b.data(), y, B, l.K, l.N, l.act, ctx);
      ctx.matmul_out = nullptr;
      if (st) std::copy(y, y + B * l.N, next_stage(*st, k, TraceStage::bias_act, B * l.N));
      if (!last && c.training && model_->dropout > 0) {
        const std::uint32_t thr = dropout::drop_threshold(model_->dropout);
        const float scale = dropout::keep_scale(model_->dropout);
        for (std::size_t e = 0; e < B * l.N; ++e)
          y[e] = dropout::apply(y[e], dropout::dropout_word(c.dropout_seed, c.call, static_cast<std::uint32_t>(li), e),
                                thr, scale);
        if (st) std::copy(y, y + B * l.N, next_stage(*st, k, TraceStage::dropout, B * l.N));
      }
      if (st) st->resize(k);
      in = y;
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // Layer li's W, packed once per model and weights version: set_model packs every layer, and a
  // call repacks a layer whose W moved, resized or changed version since.
  struct Pack {
    cpu::PackedB packed;
    std::uint64_t version = 0;
  };
  const cpu::PackedB& packed(std::size_t li) {
    const Layer& l = model_->layers[li];
    Pack& p = packs_[li];
    if (p.packed.empty() || p.packed.source() != l.W.data() || p.packed.rows() != l.K || p.packed.cols() != l.N ||
        p.version != l.weights_version)
      p = {cpu::PackedB(l.W.data(), l.N, l.K, l.N), l.weights_version};
    return p.packed;
  }

  cpu::ThreadPool pool_;
  const Model* model_ = nullptr;
  std::vector<Pack> packs_;
  std::vector<Widened> halves_;
  std::vector<float> buf_a_, buf_b_, y32_;
  std::vector<std::uint16_t> h_in_, h_out_;  // a 16-bit model's activations
};

}  // namespace

std::unique_ptr<ModelBackend> make_cpu_model_backend(int threads) { return std::make_unique<CpuModelBackend>(threads); }

#if !DRIFTLAB_HAVE_CUDA
std::unique_ptr<ModelBackend> make_cuda_model_backend() {
  throw BackendError("--backend cuda: this driftlab was built without CUDA (configure with -DDRIFTLAB_CUDA=ON)");
}
std::vector<float> dense_invariant_tc(DType, const std::vector<std::uint16_t>&, const std::vector<std::uint16_t>&,
                                      const std::vector<std::uint16_t>&, std::size_t, std::size_t, std::size_t, bool) {
  throw BackendError("invariant_tc: this driftlab was built without CUDA (configure with -DDRIFTLAB_CUDA=ON)");
}
#endif

}  // namespace driftlab
