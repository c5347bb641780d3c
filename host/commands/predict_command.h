// `driftlab predict`: a Keras-like MLP's predict run many times, in one process and in separate
// processes, per dense variant; drift of the whole output, speed, and batch invariance.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/dense_variant.h"
#include "metrics.h"

namespace driftlab {

struct PredictArgs {
  std::size_t runs = 5;        // calls per process
  std::size_t processes = 1;   // > 1: that many real child processes, each doing the same
  std::string backend = "auto";
  std::string variant = "all";
  std::size_t batch = 1;
  std::vector<std::size_t> batch_sweep;
  bool training = false;
  std::optional<std::uint64_t> dropout_seed;  // unseeded: std::random_device, per process
  std::optional<std::uint64_t> init_seed;     // unseeded: std::random_device, per process
  int threads = 0;
  std::optional<std::uint64_t> shuffle_seed;
  std::optional<std::string> save_output, json, weights, input;
  std::vector<std::size_t> layers = {10, 20, 10};  // the article's model
  float dropout = 0.5f;
  std::vector<std::string> acts;
  std::size_t split_k = 0;
  std::uint64_t seed = 1;  // the input's seed (uniform [0,1), like np.random.rand)
  bool help = false;
};

PredictArgs parse_predict_args(std::span<const std::string_view> args);  // throws UsageError
std::vector<std::string> to_argv(const PredictArgs& a);  // the flags that reproduce `a`
extern const char* const kPredictHelp;

struct PredictRow {
  DenseVariant variant{};
  std::vector<std::size_t> slices;  // S per layer at this batch (split-K variants)
  OutputDrift drift;
  double ref_max_rel_err = 0;       // run 0 against the float64 reference
  double median_ms = 0, samples_per_s = 0;
  std::optional<double> cost_vs_atomic;
  std::optional<std::size_t> batch_distinct;  // with --batch-sweep
  std::optional<std::uint64_t> batch_max_ulp;
  std::optional<double> cost_vs_vendor;  // median time / the vendor baseline's (PredictReport::vendor)
};

struct PredictReport {
  std::string backend, device, atomic_note, model, origin, seeds;
  std::size_t batch = 1, runs = 0, processes = 1, outputs = 0;
  bool training = false;
  std::vector<std::size_t> batch_sweep;
  std::vector<PredictRow> rows;
  std::string vendor;  // the baseline of cost_vs_vendor: openblas (cpu) or cublas (cuda)
};

PredictReport run_predict(const PredictArgs& args);
void print_predict_table(const PredictReport& r, std::ostream& out);
void write_predict_json(const PredictReport& r, std::ostream& out);

int predict_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
