#include "host/model/model.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "kernels/common/half.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/half_convert.h"
#include "host/io/npz.h"

namespace driftlab {

std::string Model::shape_text() const {
  std::string s = std::to_string(inputs());
  for (const auto& l : layers) {
    s += '-';
    s += std::to_string(l.N);
  }
  return s;
}

std::vector<std::size_t> parse_sizes(const std::string& list) {
  std::vector<std::size_t> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t pos = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != item.size() || item.empty() || item[0] == '-' || v == 0 || v > (1ull << 24))
      throw std::invalid_argument("expected a comma-separated list of layer sizes (1 to 2^24), got '" + list + "'");
    out.push_back(static_cast<std::size_t>(v));
  }
  if (out.size() < 2) throw std::invalid_argument("need at least an input and an output size, got '" + list + "'");
  return out;
}

std::vector<std::string> parse_names(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

dense::Activation parse_activation(const std::string& s) {
  if (s == "relu") return dense::Activation::relu;
  if (s == "linear") return dense::Activation::linear;
  throw std::invalid_argument("unknown activation '" + s + "' (relu or linear)");
}

Model make_model(const std::vector<std::size_t>& sizes, float dropout, std::uint64_t init_seed) {
  Model m;
  m.dropout = dropout;
  SplitMix64 g(init_seed);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    Layer l;
    l.K = sizes[i];
    l.N = sizes[i + 1];
    const double limit = std::sqrt(6.0 / static_cast<double>(l.K + l.N));
    l.W.resize(l.K * l.N);
    for (auto& w : l.W) w = static_cast<float>((2.0 * g.uniform01() - 1.0) * limit);
    l.b.assign(l.N, 0.0f);
    l.act = i + 2 < sizes.size() ? dense::Activation::relu : dense::Activation::linear;
    m.layers.push_back(std::move(l));
  }
  return m;
}

std::vector<float> float32_values(const HostArray& a, const std::string& what) {
  switch (a.dtype) {
    case DType::f32: return a.f32;
    case DType::bf16: {
      std::vector<float> v(a.u16.size());
      cpu::widen_bf16(a.u16.data(), v.data(), v.size());
      return v;
    }
    case DType::f16: {
      std::vector<float> v(a.u16.size());
      cpu::widen_f16(a.u16.data(), v.data(), v.size());
      return v;
    }
    case DType::f64: break;
  }
  throw std::runtime_error(what + ": float64 is not read (it would be rounded, not widened); save it as float32, float16 or bfloat16");
}

Model load_model(const std::string& path, const std::vector<std::string>& acts, float dropout, bool void2_as_bf16) {
  const auto arrays = npz::read(path, npy::ReadOptions{void2_as_bf16});
  Model m;
  m.dropout = dropout;
  m.origin = path;
  std::size_t used = 0;
  for (std::size_t i = 0;; ++i) {
    const std::string index = std::to_string(i), w_name = std::string(1, 'W').append(index),
                      b_name = std::string(1, 'b').append(index);
    const auto w = arrays.find(w_name);
    const auto b = arrays.find(b_name);
    if (w == arrays.end() && b == arrays.end()) break;
    const std::string where = path + ": layer " + index;
    if (w == arrays.end() || b == arrays.end())
      throw std::runtime_error(where + " needs both " + w_name + " and " + b_name);
    if (w->second.shape.size() != 2) throw std::runtime_error(where + ": W must be 2-D [K x N]");
    if (b->second.shape.size() != 1) throw std::runtime_error(where + ": b must be 1-D [N]");
    Layer l;
    l.K = w->second.shape[0];
    l.N = w->second.shape[1];
    if (b->second.shape[0] != l.N)
      throw std::runtime_error(where + ": b has " + std::to_string(b->second.shape[0]) + " entries but W has " +
                               std::to_string(l.N) + " columns");
    if (!m.layers.empty() && m.layers.back().N != l.K)
      throw std::runtime_error(where + ": W has " + std::to_string(l.K) + " rows but the previous layer has " +
                               std::to_string(m.layers.back().N) + " outputs");
    if (l.K == 0 || l.N == 0) throw std::runtime_error(where + ": empty layer");
    l.W = float32_values(w->second, where + " " + w_name);
    l.b = float32_values(b->second, where + " " + b_name);
    m.layers.push_back(std::move(l));
    used += 2;
  }
  if (m.layers.empty()) throw std::runtime_error(path + ": no arrays W0, b0 found");
  if (used != arrays.size()) throw std::runtime_error(path + ": has arrays other than W0, b0, W1, b1, ... in sequence");
  if (!acts.empty() && acts.size() != m.layers.size())
    throw std::invalid_argument("--act: " + std::to_string(acts.size()) + " activations for " +
                             std::to_string(m.layers.size()) + " layers");
  for (std::size_t i = 0; i < m.layers.size(); ++i)
    m.layers[i].act = acts.empty() ? (i + 1 < m.layers.size() ? dense::Activation::relu : dense::Activation::linear)
                                   : parse_activation(acts[i]);
  return m;
}

namespace {

template <class S> std::vector<std::uint16_t> narrow_all(std::vector<float>& v) {
  std::vector<std::uint16_t> bits(v.size());
  cpu::narrow(v.data(), reinterpret_cast<S*>(bits.data()), v.size());
  cpu::widen(reinterpret_cast<const S*>(bits.data()), v.data(), v.size());
  return bits;
}

}  // namespace

std::optional<DType> parse_model_dtype(std::string_view s) {
  if (s == "f32") return DType::f32;
  if (s == "bf16") return DType::bf16;
  if (s == "f16") return DType::f16;
  return std::nullopt;
}

void round_values(std::vector<float>& x, DType d) {
  if (d == DType::bf16) narrow_all<bf16>(x);
  else if (d == DType::f16) narrow_all<f16>(x);
  else if (d != DType::f32) throw std::invalid_argument("a model's dtype is f32, bf16 or f16");
}

void round_model(Model& m, DType d) {
  if (d == DType::f32) return;
  if (!is_half(d)) throw std::invalid_argument("a model's dtype is f32, bf16 or f16");
  for (Layer& l : m.layers) {
    l.W16 = d == DType::bf16 ? narrow_all<bf16>(l.W) : narrow_all<f16>(l.W);
    l.b16 = d == DType::bf16 ? narrow_all<bf16>(l.b) : narrow_all<f16>(l.b);
    ++l.weights_version;
  }
  m.dtype = d;
}

std::vector<double> reference_forward(const Model& m, const float* x, std::size_t B,
                                      const std::vector<DropoutMask>& masks) {
  std::vector<double> a(x, x + B * m.inputs());
  for (std::size_t li = 0; li < m.layers.size(); ++li) {
    const Layer& l = m.layers[li];
    std::vector<double> y(B * l.N);
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t j = 0; j < l.N; ++j) {
        double acc = 0;
        for (std::size_t k = 0; k < l.K; ++k) acc += a[i * l.K + k] * static_cast<double>(l.W[k * l.N + j]);
        acc += l.b[j];
        if (l.act == dense::Activation::relu && acc < 0) acc = 0;
        if (li < masks.size() && !masks[li].factor.empty()) acc *= masks[li].factor[i * l.N + j];
        y[i * l.N + j] = acc;
      }
    a.swap(y);
  }
  return a;
}

}  // namespace driftlab
