// What a model command runs, built once for predict, trace and scenarios: the backend
// (--backend), the model (--weights or --layers, rounded for --dtype), the input (--input or
// --seed), and the memory checks that refuse what cannot fit, naming the flag.
#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>

#include "host/common/cli_args.h"
#include "host/io/data.h"
#include "host/backends/gpu.h"
#include "host/common/memory_bound.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "host/io/npy.h"
#include "host/commands/predict_command.h"

namespace driftlab {

std::unique_ptr<ModelBackend> pick_backend(const PredictArgs& a) {
  const bool cuda = use_cuda(a.backend);
  if (cuda) {
    if (a.shuffle_seed) throw UsageError("--schedule models a GPU scheduler on the cpu backend; use --backend cpu");
    if (a.threads) throw UsageError("--threads applies to the cpu backend; use --backend cpu");
    return make_cuda_model_backend();
  }
  return make_cpu_model_backend(a.threads);
}

// The one memory bound (memory_bound.h): physical memory capped by ulimit -v / -d.
std::size_t physical_memory_bytes() { return usable_memory_bytes(); }

namespace {

// Refuses up front, naming the flag and the amount, a model or batch that cannot fit in memory:
// the weights, the activations of every layer (float, and double for the reference pass) and the
// drift state (run 0 and per-element extremes).  Nothing here grows with --runs.
void check_memory(const PredictArgs& a, const std::vector<std::size_t>& layers, std::size_t B, const char* batch_flag) {
  double weights = 0, widths = 0;
  for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
    weights += static_cast<double>(layers[i]) * static_cast<double>(layers[i + 1]) + static_cast<double>(layers[i + 1]);
    widths += static_cast<double>(layers[i + 1]);
  }
  const double rows = static_cast<double>(std::max(B, a.batch_sweep.empty() ? B : *std::max_element(a.batch_sweep.begin(), a.batch_sweep.end())));
  const double bytes = 4 * 2 * weights + rows * (static_cast<double>(layers.front()) + widths) * (4 * 2 + 8) +
                       rows * static_cast<double>(layers.back()) * 4 * 4;
  const double mem = static_cast<double>(physical_memory_bytes());
  if (mem > 0 && bytes > 0.7 * mem) {
    std::ostringstream s;
    s << (a.weights ? std::string("--weights ") + *a.weights : "--layers " + join(layers)) << " with " << batch_flag
      << " " << static_cast<std::uint64_t>(rows) << ": needs about " << static_cast<std::uint64_t>(bytes / (1 << 20))
      << " MiB, more than this machine's memory allows (" << static_cast<std::uint64_t>(mem / (1 << 20)) << " MiB)";
    throw UsageError(s.str());
  }
}

}  // namespace

void check_model_fits(const Model& m, DType d, std::string_view what) {
  if (!is_half(d)) return;
  // The smallest magnitude that rounds (nearest even) to infinity: f16 65520, bf16 0x1.ffp127.
  const float limit = d == DType::f16 ? 65520.0f : 0x1.ffp127f;
  for (std::size_t l = 0; l < m.layers.size(); ++l)
    for (const auto* v : {&m.layers[l].W, &m.layers[l].b})
      for (std::size_t i = 0; i < v->size(); ++i) {
        const float x = (*v)[i];
        if (std::isfinite(x) && std::fabs(x) >= limit)
          throw UsageError(std::string(what) + " " + dtype_name(d) + ": " + (v == &m.layers[l].W ? "W" : "b") +
                           std::to_string(l) + "[" + std::to_string(i) + "] = " + round_trip(x) + " overflows " +
                           dtype_name(d) + " (it would become inf); keep this model in f32" +
                           (d == DType::f16 ? " or use bf16" : ""));
      }
}

namespace {

// A 16-bit model says so where it says where its weights came from.
void round_model_noted(Model& m, DType d) {
  if (d == DType::f32) return;
  check_model_fits(m, d, "--dtype");
  round_model(m, d);
  m.origin += std::string("; weights and input rounded to ") + dtype_name(d) + " (round to nearest even)";
}
}  // namespace

Model build_model(const PredictArgs& a, std::uint64_t init_seed) {
  if (a.weights) {
    try {
      Model m = load_model(*a.weights, a.acts, a.dropout, a.dtype == DType::bf16);
      round_model_noted(m, a.dtype);
      return m;
    } catch (const std::invalid_argument& e) {  // --act does not fit the file: a command-line error
      throw UsageError(e.what());
    }
  }
  check_memory(a, a.layers, a.input ? 1 : a.batch, "--batch");
  Model m = make_model(a.layers, a.dropout, init_seed);
  for (std::size_t i = 0; i < a.acts.size() && i < m.layers.size(); ++i) m.layers[i].act = parse_activation(a.acts[i]);
  m.origin = std::string("glorot-uniform, init seed ") + (a.init_seed ? std::to_string(*a.init_seed) : "from std::random_device");
  round_model_noted(m, a.dtype);
  return m;
}

std::vector<float> build_input(const PredictArgs& a, const Model& m, std::size_t& B) {
  std::vector<std::size_t> widths = {m.inputs()};
  for (const auto& l : m.layers) widths.push_back(l.N);
  if (a.input) {
    HostArray x = npy::read(*a.input, npy::ReadOptions{a.dtype == DType::bf16});
    if (x.dtype == DType::f64)
      throw UsageError("--input " + *a.input + ": expected float32, float16 or bfloat16, got f64");
    const std::size_t K = x.shape.size() == 2 ? x.shape[1] : (x.shape.size() == 1 ? x.shape[0] : 0);
    if (K != m.inputs() || x.shape.size() > 2 || x.shape.empty())
      throw UsageError("--input " + *a.input + ": expected shape [B x " + std::to_string(m.inputs()) + "] for a " +
                       m.shape_text() + " model");
    B = x.shape.size() == 2 ? x.shape[0] : 1;
    if (B == 0) throw UsageError("--input " + *a.input + ": no rows");
    check_memory(a, widths, B, "--input rows");
    std::vector<float> v = float32_values(x, "--input " + *a.input);  // 16-bit: widened exactly
    round_values(v, m.dtype);
    return v;
  }
  B = a.batch;
  check_memory(a, widths, B, "--batch");
  std::vector<float> x = make_input(Dist::uniform, DType::f32, B * m.inputs(), a.seed).f32;
  round_values(x, m.dtype);
  return x;
}

}  // namespace driftlab
