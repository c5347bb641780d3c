// A small Keras-like MLP: Dense layers with optional Dropout after every hidden layer.
// The default is the article's model: 10 -> Dense(20, relu) -> Dropout(0.5) -> Dense(10), batch 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/dense_order.h"

namespace driftlab {

struct Layer {
  std::size_t K = 0, N = 0;   // inputs, outputs
  std::vector<float> W;       // [K x N], Keras's kernel layout
  std::vector<float> b;       // [N]
  dense::Activation act = dense::Activation::linear;
  // Bump after changing W in place: a backend that keeps W packed (the CPU one) repacks when
  // this, W's address or its size differs from what it packed.
  std::uint64_t weights_version = 0;
};

struct Model {
  std::vector<Layer> layers;
  float dropout = 0.0f;  // rate of the Dropout after every hidden layer (0: none)
  std::string origin;    // how it was made: "glorot-uniform (init seed 42)", "weights.npz", ...

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
// shape mismatches, missing or extra arrays, and non-float32 data.
Model load_model(const std::string& npz_path, const std::vector<std::string>& acts, float dropout);

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
