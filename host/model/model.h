// A small Keras-like MLP: Dense layers with optional Dropout after every hidden layer.
// The default is the article's model: 10 -> Dense(20, relu) -> Dropout(0.5) -> Dense(10), batch 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/io/array.h"
#include "kernels/common/dense_order.h"

namespace driftlab {

struct Layer {
  std::size_t K = 0, N = 0;   // inputs, outputs
  std::vector<float> W;       // [K x N], Keras's kernel layout
  std::vector<float> b;       // [N]
  dense::Activation act = dense::Activation::linear;
  // Bump after changing W in place: a backend that keeps W packed (the CPU one) repacks when
  // this, W's address or its size differs from what it packed.
  std::uint64_t weights_version = 0;
  // A 16-bit model (Model::dtype bf16 or f16): W and b as stored, their bit patterns; W and b above
  // then hold the same values widened (exact), for the float64 reference and the vendor baseline.
  std::vector<std::uint16_t> W16, b16;
};

struct Model {
  std::vector<Layer> layers;
  float dropout = 0.0f;  // rate of the Dropout after every hidden layer (0: none)
  std::string origin;    // how it was made: "glorot-uniform (init seed 42)", "weights.npz", ...
  // Storage of weights and activations: f32, or bf16/f16 with float32 accumulation (every
  // variant's float32 chain over widened values; hidden outputs rounded to the 16-bit type after
  // dropout, the final output too).  Set by round_model.
  DType dtype = DType::f32;

  std::size_t inputs() const { return layers.empty() ? 0 : layers.front().K; }
  std::size_t outputs() const { return layers.empty() ? 0 : layers.back().N; }
  std::string shape_text() const;  // "10-20-10"
};

// Keras's defaults: Glorot-uniform kernels (limit sqrt(6 / (K + N))), zero biases; relu on hidden
// layers, linear on the last.  sizes = {inputs, hidden..., outputs}.
Model make_model(const std::vector<std::size_t>& sizes, float dropout, std::uint64_t init_seed);

// A user's model from an .npz holding W0, b0, W1, b1, ... (layer i's kernel [K x N] and bias
// [N]); layer sizes come from the arrays.  acts: one per layer ("relu"/"linear"), or empty for
// relu on hidden layers and linear on the last.  Throws std::runtime_error with one line on
// shape mismatches, missing or extra arrays, and float64 data.  float16 and bfloat16 arrays are
// widened exactly (bfloat16: '<V2' members, read as such only when void2_as_bf16 -- npy.h says
// why); round_model then decides what the model computes in.
Model load_model(const std::string& npz_path, const std::vector<std::string>& acts, float dropout,
                 bool void2_as_bf16 = false);

// The values of a float32, float16 or bfloat16 array as float32 (16-bit ones widened exactly, by
// the vectorized conversions of kernels/cpu/half_convert.h).  Throws std::runtime_error naming
// `what` for float64, which would be rounded, not widened.
std::vector<float> float32_values(const HostArray& a, const std::string& what);

// Makes m a 16-bit model (d = bf16 or f16): every weight and bias rounded once to d (round to
// nearest, ties to even; kernels/common/half.h), layers' W16/b16 set and W/b replaced by the
// widened values.  d = f32 leaves m as it is.  Throws std::invalid_argument for f64.
void round_model(Model& m, DType d);
// x rounded to d and widened back in place (the input a 16-bit model sees); f32: unchanged.
void round_values(std::vector<float>& x, DType d);
// Parses "f32", "bf16", "f16"; nullopt otherwise.
std::optional<DType> parse_model_dtype(std::string_view s);

// Parses "784,4096,4096,10" or "relu,linear"; throws std::invalid_argument.
std::vector<std::size_t> parse_sizes(const std::string& list);
std::vector<std::string> parse_names(const std::string& list);
dense::Activation parse_activation(const std::string& s);

// The forward pass in float64 from the same float32 weights: the reference an output is compared
// with.  `keep` (optional): per hidden layer, the dropout mask and scale that were applied.
struct DropoutMask {
  std::vector<float> factor;  // per element of the layer's output: 0 or the keep scale
};
std::vector<double> reference_forward(const Model& m, const float* x, std::size_t B,
                                      const std::vector<DropoutMask>& masks);

}  // namespace driftlab
