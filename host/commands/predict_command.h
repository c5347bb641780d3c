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

#include "host/common/cli_args.h"
#include "kernels/common/dense_variant.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"

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
  bool layers_given = false;  // --layers on the command line (refused with --weights: the file sets them)
  float dropout = 0.5f;
  std::vector<std::string> acts;
  std::size_t split_k = 0;
  std::uint64_t seed = 1;  // the input's seed (uniform [0,1), like np.random.rand)
  DType dtype = DType::f32;  // storage of weights and activations (bf16/f16: float32 accumulation)
  // Tensor parallelism (predict_tp.h): the TP sizes, the variants, simulation only, mpirun's limit;
  // internal: this process is one rank of a job that `predict --tp` launched, rank 0 writes --tp-out.
  std::vector<std::size_t> tp;
  std::string tp_variant = "all";
  bool tp_variant_given = false, simulate = false, timeout_given = false, tp_worker = false, algorithms_given = false;
  double tp_timeout_s = 120;
  std::vector<std::string> tp_algorithms = {"default"};  // Open MPI's allreduce algorithms (mpirun_job.h)
  std::optional<std::string> tp_out;
  bool help = false;
};

PredictArgs parse_predict_args(std::span<const std::string_view> args);  // throws UsageError
std::vector<std::string> to_argv(const PredictArgs& a);

// The model, input and run flags every model command shares (predict, trace): --layers, --weights,
// --act, --dropout, --init-seed, --input, --batch, --seed, --training, --dropout-seed, --split-k,
// --backend, --threads, --schedule, --dtype.  Reads flag f's value into `a` and returns true, or returns
// false when f is none of them.  check_model_flags: the checks across them, after the last flag.
bool parse_model_flag(std::string_view f, ArgReader& r, PredictArgs& a, bool& batch_given);
void check_model_flags(const PredictArgs& a, bool batch_given);
// --split-k and --schedule when none of the variants run (chosen; empty: all) splits K or races:
// a UsageError, as the flag would change nothing (note: said after the variants' names).
void check_dense_variant_flags(const PredictArgs& a, std::span<const DenseVariant> chosen, std::string_view note = {});

// What a model command runs, built as predict builds it: the backend (--backend, refusing cpu-only
// flags on cuda), the model (--weights or --layers from init_seed), the input x [B x K] (--input
// or uniform from --seed; refuses what does not fit the model or memory, naming the flag).
std::unique_ptr<ModelBackend> pick_backend(const PredictArgs& a);
Model build_model(const PredictArgs& a, std::uint64_t init_seed);
std::vector<float> build_input(const PredictArgs& a, const Model& m, std::size_t& B);
std::size_t physical_memory_bytes();  // 0 when unknown
// Refuses (UsageError naming `what`) a model with a finite weight or bias that rounding to the
// 16-bit type `d` would turn into infinity.  Nothing for f32.
void check_model_fits(const Model& m, DType d, std::string_view what);
std::uint64_t entropy_seed();  // an unseeded run's seed: std::random_device  // the flags that reproduce `a`
extern const std::string kPredictHelp;

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
  // A 16-bit model: `drift` is the rounded output's (max_ulp and batch_max_ulp in ULPs of the
  // 16-bit type), `before` the last layer's float32 output before the rounding (float32 ULPs).
  std::optional<OutputDrift> before;
};

struct PredictReport {
  std::string backend, device, atomic_note, model, origin, seeds;
  std::size_t batch = 1, runs = 0, processes = 1, outputs = 0;
  bool training = false;
  std::vector<std::size_t> batch_sweep;
  std::vector<PredictRow> rows;
  std::string vendor;  // the baseline of cost_vs_vendor: openblas (cpu) or cublas (cuda)
  DType dtype = DType::f32;
};

PredictReport run_predict(const PredictArgs& args);
void print_predict_table(const PredictReport& r, std::ostream& out);
void write_predict_json(const PredictReport& r, std::ostream& out);

int predict_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
