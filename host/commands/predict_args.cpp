// `driftlab predict`'s flags: the help, the model flags that trace shares, the checks across
// them, and to_argv (the flags a child process gets, round-tripping every value).
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "host/common/cli_args.h"
#include "kernels/common/dense_variant.h"
#include "host/io/data.h"
#include "host/commands/predict_command.h"
#include "host/commands/predict_tp.h"
#include "host/commands/variants_command.h"

namespace driftlab {

const std::string kPredictHelp = std::string(R"(usage: driftlab predict [options]

Runs a small Keras-like MLP's predict many times -- in one process and in separate processes --
with each dense variant, and measures how its output drifts, what it costs, and whether a row's
bits depend on the batch it is in.

model:
  --layers L0,L1,...    layer sizes (default 10,20,10: the article's model)
  --dropout RATE        Dropout after every hidden layer (default 0.5; 0 for none)
  --weights FILE.npz    a user's model: arrays W0,b0,W1,b1,... (kernel [K x N], bias [N]), float32,
                        float16 or bfloat16 (as --input); the file sets the layer sizes (not
                        with --layers)
  --act A0,A1,...       activations per layer (relu|linear; default relu hidden, linear last)
  --dtype f32|bf16|f16  storage of weights, input and activations (default f32).  bf16/f16: the
                        weights (init or .npz) and the input are rounded once to the type (round
                        to nearest even), every variant accumulates in float32 in its own order,
                        and each layer's output is rounded to the type after dropout, the final
                        output too; drift is reported after the rounding (ULPs of the 16-bit
                        type) and before it (the last layer's float32 output)
  --init-seed S         seed of the Glorot-uniform initialisation (unseeded: std::random_device,
                        so every process gets different weights)
input:
  --batch B             rows per call (default 1); input uniform [0,1) from --seed (default 1)
  --input FILE.npy      x [B x K] instead: float32, float16, or bfloat16 (ml_dtypes' <V2, with
                        --dtype bf16); 16-bit values are widened exactly, then rounded to --dtype
runs:
  --runs R              predict calls per process (default 5)
  --processes P         P real child processes, each doing the same (default 1: this process)
  --training            dropout active, as Keras's training=True (--training=false: off)
  --dropout-seed S      seed the dropout masks: each call draws a new mask from the next counter,
                        every process repeats the same sequence (Keras's SeedGenerator);
                        unseeded: std::random_device per process
  --variant NAME|all    )") + variant_choices(kDenseVariants) + R"(, or all (default)
  --split-k S           force S slices (1..32) for atomic and tree (refused when --variant runs
                        neither of them)
  --backend cpu|cuda|auto
  --threads T           cpu backend: worker threads, 0 to 4096 (default 0: every hardware thread)
  --schedule shuffle:SEED
                        cpu backend: add atomic partials in a seeded random order per call -- a
                        reproducible MODEL of a GPU scheduler -- instead of racing real threads
                        (refused when --variant does not run atomic)
  --batch-sweep LIST    also run row 0 inside batches of these sizes (e.g. 1,7,64,513) and report
                        batch_distinct and batch_max_ulp for row 0's output
tensor parallelism (Open MPI; cpu, f32, inference only; kernels/common/tp_order.h):
  --tp LIST             TP sizes, e.g. 1,2,3,4,8: each dense layer's K split over P ranks, the
                        partial outputs all-reduced (one mpirun per size, launched by driftlab;
                        1 to 256, --simulate: 1 to 4096); reports tp_distinct and tp_max_ulp
  --tp-variant NAME|all mpi, ring, exact, invariant, a comma-separated list, or all (default).
                        invariant: K cut into 256-chunks whatever P, chunk partials summed exactly
  --simulate            with --tp: the orders in one process, no MPI (mpi is then not run)
  --timeout SECONDS     with --tp: limit for each mpirun (default 120)
  --mpi-algorithm LIST  with --tp: default, linear, recursive_doubling, ring, segmented_ring,
                        rabenseifner, or all: Open MPI's all-reduce algorithm, forced through the
                        MCA parameters, each run at every TP size
                        Under your own `mpirun -np P driftlab predict --tp P --init-seed S ...`
                        rank 0 prints the table of that one size.  --tp refuses --processes,
                        --batch-sweep, --training, --dropout-seed, --variant, --split-k,
                        --schedule, --threads, --save-output, --backend cuda and --dtype bf16/f16
outputs:
  --save-output FILE.npy  run 0's output [B x N] (with --variant all: FILE.<variant>.npy)
  --json FILE           the rows as JSON
  --help                this text

metrics per variant: distinct_outputs (distinct bit patterns of the whole output over all runs
and processes), ratio_non_equal (output elements differing from run 0), max_ulp, max_abs_diff,
argmax_flips (rows whose argmax differs from run 0's in some run), ref_max_rel_err (run 0 vs a
float64 forward pass: max|y-ref|/max|ref|), median_ms, samples_per_s, cost_vs_atomic,
cost_vs_vendor (relative to the model's inference through OpenBLAS on cpu, cuBLAS on cuda).
)";

namespace {

std::uint64_t parse_seed(std::string_view v, const char* flag) { return parse_count(v, flag); }

}  // namespace

std::uint64_t entropy_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

bool parse_model_flag(std::string_view f, ArgReader& r, PredictArgs& a, bool& batch_given) {
  if (f == "--backend") a.backend = parse_backend(r.value());
  else if (f == "--batch") {
    a.batch = parse_count(r.value(), "--batch");
    if (a.batch < 1 || a.batch > (1u << 20)) throw UsageError("--batch: expected 1 to 2^20");
    batch_given = true;
  } else if (f == "--training") a.training = r.bool_value();
  else if (f == "--dropout-seed") a.dropout_seed = parse_seed(r.value(), "--dropout-seed");
  else if (f == "--init-seed") a.init_seed = parse_seed(r.value(), "--init-seed");
  else if (f == "--seed") a.seed = parse_seed(r.value(), "--seed");
  else if (f == "--threads") a.threads = parse_threads(r.value());
  else if (f == "--schedule") {
    const std::string_view v = r.value();
    if (v.substr(0, 8) != "shuffle:") throw UsageError("--schedule: expected shuffle:SEED, got '" + std::string(v) + "'");
    a.shuffle_seed = parse_count(v.substr(8), "--schedule shuffle:SEED");
  } else if (f == "--weights") a.weights = parse_path(r.value(), "--weights");
  else if (f == "--input") a.input = parse_path(r.value(), "--input");
  else if (f == "--layers") {
    try {
      const std::string_view v = r.value();
      split_list(v, "--layers");  // the list rule; sizes may repeat
      a.layers = parse_sizes(std::string(v));
      a.layers_given = true;
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--layers: ") + e.what());
    }
  } else if (f == "--dropout") {
    a.dropout = parse_rate(r.value(), "--dropout");
  } else if (f == "--act") {
    const std::string_view v = r.value();
    if (v.empty()) throw UsageError("--act: expected relu or linear per layer, got an empty list");
    a.acts = split_list(v, "--act");  // one per layer: they may repeat
    for (const auto& s : a.acts)
      if (s != "relu" && s != "linear") throw UsageError("--act: unknown activation '" + s + "' (relu or linear)");
  } else if (f == "--dtype") {
    const std::string_view v = r.value();
    const auto d = parse_model_dtype(v);
    if (!d) throw UsageError("--dtype: expected f32, bf16 or f16, got '" + std::string(v) + "'");
    a.dtype = *d;
  } else if (f == "--split-k") {
    a.split_k = parse_count(r.value(), "--split-k");
    if (a.split_k < 1 || a.split_k > dense::kMaxSlices) throw UsageError("--split-k: expected 1 to 32");
  } else return false;
  return true;
}

void check_model_flags(const PredictArgs& a, bool batch_given) {
  if (a.input && batch_given) throw UsageError("--batch and --input cannot be used together (the file sets B)");
  if (a.weights && a.layers_given)
    throw UsageError("--layers and --weights cannot be used together (the file sets the layer sizes)");
  if (a.weights && a.init_seed)
    throw UsageError("--init-seed and --weights cannot be used together (the file sets the weights)");
  if (!a.acts.empty() && !a.weights && a.acts.size() != a.layers.size() - 1)
    throw UsageError("--act: " + std::to_string(a.acts.size()) + " activations for " + std::to_string(a.layers.size() - 1) +
                     " layers");
}

void check_dense_variant_flags(const PredictArgs& a, std::span<const DenseVariant> chosen, std::string_view note) {
  check_flag_applies(a.split_k != 0, "--split-k", chosen, kDenseVariants, [](const auto& r) { return r.splits_k; },
                     "no slices of K", note);
  check_flag_applies(a.shuffle_seed.has_value(), "--schedule", chosen, kDenseVariants, races,
                     "no atomic adds to reorder", note);
}

PredictArgs parse_predict_args(std::span<const std::string_view> argv) {
  PredictArgs a;
  ArgReader r(argv);
  bool batch_given = false;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") a.help = true;
    else if (parse_model_flag(f, r, a, batch_given)) continue;
    else if (f == "--runs") {
      a.runs = parse_count(r.value(), "--runs");
      if (a.runs < 1 || a.runs > 100000) throw UsageError("--runs: expected 1 to 100000");
    } else if (f == "--processes") {
      a.processes = parse_count(r.value(), "--processes");
      if (a.processes < 1 || a.processes > 256) throw UsageError("--processes: expected 1 to 256");
    } else if (f == "--variant") {
      a.variant = r.value();
      if (a.variant != "all" && !parse_dense_variant(a.variant))
        throw UsageError("--variant: unknown variant '" + a.variant + "' (" + variant_names(kDenseVariants) + ", all)");
    } else if (f == "--batch-sweep") a.batch_sweep = parse_list(r.value(), "--batch-sweep", 1, std::size_t(1) << 20, "sizes must be 1 to 2^20");
    else if (f == "--save-output") a.save_output = parse_path(r.value(), "--save-output");
    else if (f == "--json") a.json = parse_path(r.value(), "--json");
    else if (parse_tp_flag(f, r, a)) continue;
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab predict --help)");
  }
  check_model_flags(a, batch_given);
  check_tp_flags(a);
  std::vector<DenseVariant> chosen;  // empty: all
  if (a.variant != "all") chosen.push_back(*parse_dense_variant(a.variant));
  check_dense_variant_flags(a, chosen);
  return a;
}

std::vector<std::string> to_argv(const PredictArgs& a) {
  // --dropout as a hex float: the child reads back the parent's float bit for bit.
  std::vector<std::string> v = {"--runs", std::to_string(a.runs), "--backend", a.backend, "--variant", a.variant,
                                "--seed", std::to_string(a.seed), "--dropout", float_text(a.dropout)};
  if (!a.weights) v.insert(v.end(), {"--layers", join(a.layers)});  // with --weights the file sets them
  auto opt = [&](const char* flag, const auto& o) {
    if (o) {
      v.push_back(flag);
      std::ostringstream s;
      s << *o;
      v.push_back(s.str());
    }
  };
  if (!a.input) v.insert(v.end(), {"--batch", std::to_string(a.batch)});
  if (a.training) v.push_back("--training");
  opt("--dropout-seed", a.dropout_seed);
  if (!a.weights) opt("--init-seed", a.init_seed);  // with --weights the file sets the weights
  opt("--weights", a.weights);
  opt("--input", a.input);
  if (a.threads) v.insert(v.end(), {"--threads", std::to_string(a.threads)});
  if (a.shuffle_seed) v.insert(v.end(), {"--schedule", "shuffle:" + std::to_string(*a.shuffle_seed)});
  if (!a.acts.empty()) {
    std::string s;
    for (std::size_t i = 0; i < a.acts.size(); ++i) s += (i ? "," : "") + a.acts[i];
    v.insert(v.end(), {"--act", s});
  }
  if (a.split_k) v.insert(v.end(), {"--split-k", std::to_string(a.split_k)});
  if (a.dtype != DType::f32) v.insert(v.end(), {"--dtype", dtype_name(a.dtype)});
  return v;
}

}  // namespace driftlab
