// Backends that run a Model's predict: every dense variant, dropout in training mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/backends/backend.h"
#include "kernels/common/dense_variant.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"

namespace driftlab {

struct PredictCall {
  DenseVariant variant = DenseVariant::invariant;
  bool training = false;            // dropout active (Keras's training=True)
  std::uint64_t dropout_seed = 0;   // Philox key of the dropout masks
  std::uint64_t call = 0;           // call number within the process: each call a new mask
  std::size_t split_k = 0;          // 0: the shape heuristic (dense::split_k)
  std::optional<std::uint64_t> schedule_seed;  // cpu: seeded shuffle model of this call's atomics
  bool output_to_host = true;  // false: the output stays where it was computed (CUDA); `out` is not written
  // A 16-bit model (Model::dtype): set, it receives [B x outputs], the last layer's float32 output
  // BEFORE the rounding to the 16-bit type (`out` holds the rounded output, widened).  Ignored for f32.
  float* pre_round = nullptr;
};

// Drift of one process's outputs, tracked where they are computed: the CUDA backend compares each
// call's output with run 0's on the device (Thrust, kernels/cuda/drift.cuh) and copies back only
// the numbers.  The host reference (OutputDriftStream) counts the same things.
class OutputTracker {
 public:
  virtual ~OutputTracker() = default;
  virtual void add_last_output() = 0;  // the output of the backend's last predict call
  virtual OutputDrift result() const = 0;
};

// The stages a layer's output passes through in one call, in order (driftlab trace).  matmul: the
// kernel's accumulator before its epilogue (x.W; atomic's starts at b, so x.W + b); bias_act:
// the dense layer's output; dropout: after the mask (hidden layers in training mode only); round:
// a 16-bit model's layer output rounded to its type (after dropout), widened (f32 models have no
// round stage).  A new stage is added here, named in stage_name, and filled by both backends.
enum class TraceStage { matmul, bias_act, dropout, round };
const char* stage_name(TraceStage s);
struct StageOutput {
  TraceStage stage{};
  std::vector<float> values;  // [B x N]
};
using LayerStages = std::vector<StageOutput>;  // one layer's stages, in order

// A layer's next stage in predict_stages, its buffer reused from call to call (a trace repeats its
// calls to time them; once the shapes have been seen, keeping a stage allocates nothing): st[k]
// becomes `stage` with `count` values, returned for the caller to write, and k advances.  After
// the layer's last stage the backend truncates st to k.
inline float* next_stage(LayerStages& st, std::size_t& k, TraceStage stage, std::size_t count) {
  if (k == st.size()) st.emplace_back();
  StageOutput& o = st[k++];
  o.stage = stage;
  o.values.resize(count);
  return o.values.data();
}

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual std::string name() const = 0;
  virtual std::string device() const = 0;
  virtual bool has(DenseVariant v) const = 0;
  virtual std::string atomic_note(bool shuffle) const = 0;
  // Copies or uploads the weights once; a 16-bit model (m.dtype) runs with its 16-bit W16/b16,
  // x rounded to its type on entry, and float32 accumulation (kernels/cpu/dense_half.h).
  virtual void set_model(const Model& m) = 0;
  // One call: out [B x outputs] from x [B x inputs]; returns the call's time in ms (CUDA: device
  // time of the layers, cudaEvents; CPU: wall time).
  virtual double predict(const PredictCall& c, const float* x, std::size_t B, float* out) = 0;
  // The trace hook: the same call as predict (same kernels, same order, same bits in `out`), that
  // also keeps every layer's stages; stages is resized to the layer count, its buffers reused.
  virtual double predict_stages(const PredictCall& c, const float* x, std::size_t B, float* out,
                                std::vector<LayerStages>& stages) = 0;
  // The vendor baseline every cost is also given against: the model's inference through OpenBLAS's
  // sgemm on the CPU (same threads), cuBLAS on CUDA; one call, timed as predict is.
  virtual std::string vendor() const = 0;
  virtual double vendor_predict(const float* x, std::size_t B, float* out) = 0;
  // A tracker of [B x N] outputs on the device; nullptr where outputs are on the host anyway.
  virtual std::unique_ptr<OutputTracker> track_outputs(std::size_t /*B*/, std::size_t /*N*/) { return nullptr; }
};

std::unique_ptr<ModelBackend> make_cpu_model_backend(int threads);
std::unique_ptr<ModelBackend> make_cuda_model_backend();  // throws BackendError without a GPU

// invariant_tc (kernels/cuda/dense_tc.cu; optional in issue 18, tests and benchmarks only): one
// dense layer act(x . W + b) on tensor cores from host arrays of 16-bit bits (dtype bf16 or f16;
// x [B x K], W [K x N], b [N]), its float32 output [B x N] back to the host.  Batch-invariant and
// run to run on one GPU model; NOT the CPU twin's bits.  Throws BackendError without CUDA or a
// usable GPU, for a refused shape (dense::tc::supports), or on a CUDA error.
std::vector<float> dense_invariant_tc(DType dtype, const std::vector<std::uint16_t>& x, const std::vector<std::uint16_t>& W,
                                      const std::vector<std::uint16_t>& b, std::size_t B, std::size_t K, std::size_t N,
                                      bool relu);

// The dropout factors (0 or the keep scale) the backends apply to hidden layer `layer`'s output
// in a call: for the float64 reference and for tests.
DropoutMask dropout_mask(std::size_t count, float rate, std::uint64_t seed, std::uint64_t call, std::uint32_t layer);

}  // namespace driftlab
