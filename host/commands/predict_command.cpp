#include "predict_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include "atomic_file.h"
#include "backend.h"
#include "cli_args.h"
#include "memory_bound.h"
#include "common/float_bits.h"
#include "common/rng.h"
#include "data.h"
#include "gpu.h"
#include "json.h"
#include "model.h"
#include "model_backend.h"
#include "npy.h"
#include "progress.h"
#include "variants_command.h"

extern char** environ;

namespace driftlab {

const std::string kPredictHelp = std::string(R"(usage: driftlab predict [options]

Runs a small Keras-like MLP's predict many times -- in one process and in separate processes --
with each dense variant, and measures how its output drifts, what it costs, and whether a row's
bits depend on the batch it is in.

model:
  --layers L0,L1,...    layer sizes (default 10,20,10: the article's model)
  --dropout RATE        Dropout after every hidden layer (default 0.5; 0 for none)
  --weights FILE.npz    a user's model: arrays W0,b0,W1,b1,... (kernel [K x N], bias [N]), float32,
                        float16 or bfloat16 (as --input)
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
  --split-k S           force S slices (1..32) for atomic and tree
  --backend cpu|cuda|auto
  --threads T           cpu backend: worker threads, 0 to 4096 (default 0: every hardware thread)
  --schedule shuffle:SEED
                        cpu backend: add atomic partials in a seeded random order per call -- a
                        reproducible MODEL of a GPU scheduler -- instead of racing real threads
  --batch-sweep LIST    also run row 0 inside batches of these sizes (e.g. 1,7,64,513) and report
                        batch_distinct and batch_max_ulp for row 0's output
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
      a.layers = parse_sizes(std::string(r.value()));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--layers: ") + e.what());
    }
  } else if (f == "--dropout") {
    a.dropout = parse_rate(r.value(), "--dropout");
  } else if (f == "--act") {
    const std::string_view v = r.value();
    if (v.empty()) throw UsageError("--act: expected relu or linear per layer, got an empty list");
    a.acts = parse_names(std::string(v));
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
  if (!a.acts.empty() && !a.weights && a.acts.size() != a.layers.size() - 1)
    throw UsageError("--act: " + std::to_string(a.acts.size()) + " activations for " + std::to_string(a.layers.size() - 1) +
                     " layers");
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
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab predict --help)");
  }
  check_model_flags(a, batch_given);
  return a;
}

std::vector<std::string> to_argv(const PredictArgs& a) {
  // --dropout as a hex float: the child reads back the parent's float bit for bit.
  std::vector<std::string> v = {"--runs", std::to_string(a.runs), "--backend", a.backend, "--variant", a.variant,
                                "--seed", std::to_string(a.seed), "--layers", join(a.layers), "--dropout",
                                float_text(a.dropout)};
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
  opt("--init-seed", a.init_seed);
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

namespace {

// What one process reports, in order: begin (once), then per variant: variant, run (per run),
// end_variant; then vendor (per run: the same inference through OpenBLAS or cuBLAS).  In one process the sink is the Collector; a child streams the same calls to its
// parent through a pipe (ChildWriter), and the parent replays them into its Collector.
struct LocalInfo {
  std::string backend, device, atomic_note, model, origin;
  std::size_t B = 0, N = 0;
};
struct RunSink {
  virtual ~RunSink() = default;
  virtual void begin(const LocalInfo& info) = 0;
  virtual void variant(DenseVariant v, const std::vector<std::size_t>& slices) = 0;
  virtual void run(std::span<const float> output, double ms) = 0;
  // A 16-bit model: the run's float32 output before the rounding, just before its run().
  virtual void run_before(std::span<const float> output) = 0;
  virtual void end_variant(double ref_err) = 0;
  virtual void vendor(const std::string& name, double ms) = 0;
  // One process on a backend whose outputs stay on the device (CUDA): runs after run 0 report
  // only their time, and the variant's drift comes whole from the device tracker.
  virtual bool wants_device_drift() const { return false; }
  virtual void run_on_device(double /*ms*/) { throw std::logic_error("this sink takes host outputs only"); }
  virtual void device_drift(const OutputDrift& /*d*/) { throw std::logic_error("this sink takes host outputs only"); }
};

}  // namespace

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

std::vector<DenseVariant> pick_variants(const PredictArgs& a, const ModelBackend& b) {
  std::vector<DenseVariant> vs;
  if (a.variant == "all") {
    for (const auto& i : kDenseVariants)
      if (b.has(i.variant)) vs.push_back(i.variant);
    return vs;
  }
  const DenseVariant v = *parse_dense_variant(a.variant);
  if (!b.has(v))
    throw UsageError(unavailable(info(v), b.name()));
  return {v};
}

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
// A right-aligned table column of width w that always keeps one blank before its text, so a value
// wider than its column pushes the row right instead of running into its neighbour.
struct Col {
  int w;
};
std::ostream& operator<<(std::ostream& o, Col c) { return o << ' ' << std::setw(c.w - 1); }

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

namespace {

void run_local(const PredictArgs& a, RunSink& sink) {
  auto backend = pick_backend(a);
  const Model model = build_model(a, a.init_seed ? *a.init_seed : entropy_seed());
  std::size_t B = 0;
  const std::vector<float> x = build_input(a, model, B);
  backend->set_model(model);
  const std::uint64_t dropout_seed = a.dropout_seed ? *a.dropout_seed : entropy_seed();

  sink.begin(LocalInfo{backend->name(), backend->device(), backend->atomic_note(a.shuffle_seed.has_value()),
                       model.shape_text(), model.origin, B, model.outputs()});
  for (const DenseVariant v : pick_variants(a, *backend)) {
    std::vector<std::size_t> slices;
    if (splits_k(v))
      for (const auto& l : model.layers) slices.push_back(a.split_k ? a.split_k : dense::split_k(B, l.K, l.N));
    sink.variant(v, slices);
    PredictCall c{v, a.training, dropout_seed, 0, a.split_k, std::nullopt};
    std::vector<float> out(B * model.outputs()), first, pre;
    const bool half = model.dtype != DType::f32;
    if (half) {
      pre.resize(out.size());
      c.pre_round = pre.data();
    }
    c.call = std::uint64_t(1) << 40;  // warm-up on a call number no run uses
    backend->predict(c, x.data(), B, out.data());
    // CUDA, one process: outputs are compared with run 0's on the device; only run 0 comes back
    // (for the reference error and --save-output).
    // (16-bit outputs always come back: their drift is counted on the host, before and after rounding.)
    const auto tracker = sink.wants_device_drift() && !half ? backend->track_outputs(B, model.outputs()) : nullptr;
    for (std::size_t r = 0; r < a.runs; ++r) {
      c.call = r;
      if (a.shuffle_seed) c.schedule_seed = mix_seed(*a.shuffle_seed, r);
      c.output_to_host = !tracker || r == 0;
      const double ms = backend->predict(c, x.data(), B, out.data());
      if (tracker) tracker->add_last_output();
      if (r == 0) first = out;
      if (half) sink.run_before(pre);
      if (c.output_to_host) sink.run(out, ms);
      else sink.run_on_device(ms);
    }
    if (tracker) sink.device_drift(tracker->result());
    std::vector<DropoutMask> masks;
    if (a.training && model.dropout > 0)
      for (std::size_t li = 0; li + 1 < model.layers.size(); ++li)
        masks.push_back(dropout_mask(B * model.layers[li].N, model.dropout, dropout_seed, 0, static_cast<std::uint32_t>(li)));
    sink.end_variant(max_rel_err(first, reference_forward(model, x.data(), B, masks)));
  }
  // The vendor baseline of cost_vs_vendor: the same inference, same threads, as many calls.
  const std::string vendor = backend->vendor();
  std::vector<float> out(B * model.outputs());
  backend->vendor_predict(x.data(), B, out.data());  // warm-up
  for (std::size_t r = 0; r < a.runs; ++r) sink.vendor(vendor, backend->vendor_predict(x.data(), B, out.data()));
}

// What the parent keeps: per variant, run 0 and the streaming drift state, the times, and
// process 0's reference error.  Memory does not grow with --runs (8 bytes a run for the times).
struct VariantState {
  DenseVariant variant{};
  std::vector<std::size_t> slices;
  std::optional<OutputDriftStream> drift;  // run 0, and every run unless `device` is set
  std::optional<OutputDriftStream> before;  // a 16-bit model: the float32 outputs before rounding
  std::optional<OutputDrift> device;       // the whole drift from the device tracker (CUDA)
  std::vector<double> ms;
  double ref_err = 0;
};

class Collector : public RunSink {
 public:
  // device_drift: one process, so a backend that keeps outputs on the device may compare them there.
  Collector(std::size_t total_runs, bool device_drift, bool half)
      : progress_("driftlab predict: runs", total_runs), device_drift_(device_drift), half_(half) {}
  void begin(const LocalInfo& info) override {
    ++process_;
    k_ = 0;
    if (process_ == 1) info_ = info;
    else if (info.B != info_.B || info.N != info_.N || info.model != info_.model)
      throw std::runtime_error("child processes disagree on the model or batch");
  }
  void variant(DenseVariant v, const std::vector<std::size_t>& slices) override {
    if (process_ == 1) {
      VariantState s;
      s.variant = v;
      s.slices = slices;
      s.drift.emplace(info_.B, info_.N);
      if (half_) s.before.emplace(info_.B, info_.N);
      variants_.push_back(std::move(s));
    } else if (k_ >= variants_.size() || variants_[k_].variant != v) {
      throw std::runtime_error("child processes disagree on the variants");
    }
    cur_ = &variants_[k_++];
  }
  void run(std::span<const float> output, double ms) override {
    if (!cur_) throw std::runtime_error("child result: a run before its variant");
    cur_->drift->add(output);
    cur_->ms.push_back(ms);
    progress_.step(++done_);
  }
  void run_before(std::span<const float> output) override {
    if (!cur_ || !cur_->before) throw std::runtime_error("child result: an unexpected pre-rounding output");
    cur_->before->add(output);
  }
  void end_variant(double ref_err) override {
    if (process_ == 1 && cur_) cur_->ref_err = ref_err;
    cur_ = nullptr;
  }
  void vendor(const std::string& name, double ms) override {
    vendor_ = name;
    vendor_ms_.push_back(ms);
  }
  bool wants_device_drift() const override { return device_drift_; }
  void run_on_device(double ms) override {
    if (!cur_) throw std::runtime_error("a run before its variant");
    cur_->ms.push_back(ms);
    progress_.step(++done_);
  }
  void device_drift(const OutputDrift& d) override {
    if (cur_) cur_->device = d;
  }
  const LocalInfo& info() const { return info_; }
  const std::vector<VariantState>& variants() const { return variants_; }
  const std::string& vendor_name() const { return vendor_; }
  const std::vector<double>& vendor_ms() const { return vendor_ms_; }

 private:
  LoopProgress progress_;
  LocalInfo info_;
  std::vector<VariantState> variants_;
  VariantState* cur_ = nullptr;
  std::string vendor_;
  std::vector<double> vendor_ms_;  // 8 bytes a run, as the variants' times
  std::size_t process_ = 0, k_ = 0;
  std::uint64_t done_ = 0;
  bool device_drift_ = false, half_ = false;
};

// --- The parent/child protocol: the child streams its sink calls through a pipe whose write end
// is the descriptor named by kChildFdEnv.  Only the parent sets that variable (there is no
// command-line flag for it), and the child checks that the descriptor is a pipe.
constexpr const char* kChildFdEnv = "DRIFTLAB_PREDICT_CHILD_FD";
constexpr int kChildFd = 3;
enum class Tag : std::uint8_t { begin = 1, variant = 2, run = 3, end_variant = 4, done = 5, vendor = 6, run_before = 7 };

class ChildWriter : public RunSink {
 public:
  explicit ChildWriter(std::FILE* f) : f_(f) { put_raw("DLPR", 4); }
  void begin(const LocalInfo& i) override {
    put(Tag::begin);
    for (const auto* s : {&i.backend, &i.device, &i.atomic_note, &i.model, &i.origin}) put_str(*s);
    put<std::uint64_t>(i.B);
    put<std::uint64_t>(i.N);
  }
  void variant(DenseVariant v, const std::vector<std::size_t>& slices) override {
    put(Tag::variant);
    put<std::int32_t>(static_cast<std::int32_t>(v));
    put<std::uint64_t>(slices.size());
    for (auto s : slices) put<std::uint64_t>(s);
  }
  void run(std::span<const float> output, double ms) override {
    put(Tag::run);
    put<double>(ms);
    put_raw(output.data(), output.size() * sizeof(float));
  }
  void run_before(std::span<const float> output) override {
    put(Tag::run_before);
    put_raw(output.data(), output.size() * sizeof(float));
  }
  void end_variant(double ref_err) override {
    put(Tag::end_variant);
    put<double>(ref_err);
  }
  void vendor(const std::string& name, double ms) override {
    put(Tag::vendor);
    put_str(name);
    put<double>(ms);
  }
  void finish() {
    put(Tag::done);
    if (std::fflush(f_) != 0) throw std::runtime_error("cannot write the results to the parent process");
  }

 private:
  void put_raw(const void* p, std::size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw std::runtime_error("cannot write the results to the parent process");
  }
  template <class T> void put(const T& v) { put_raw(&v, sizeof v); }
  void put_str(const std::string& s) {
    put<std::uint64_t>(s.size());
    put_raw(s.data(), s.size());
  }
  std::FILE* f_;
};

struct ChildStreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Replays a child's stream into `sink`; every size is checked before it is used.
void replay_child(std::FILE* f, RunSink& sink) {
  auto raw = [&](void* p, std::size_t n) {
    if (n && std::fread(p, 1, n, f) != n) throw ChildStreamError("its results ended early");
  };
  auto get = [&]<class T>(T v) {
    raw(&v, sizeof v);
    return v;
  };
  auto get_str = [&] {
    const auto n = get(std::uint64_t{});
    if (n > (1u << 16)) throw ChildStreamError("its results are corrupt");
    std::string s(n, '\0');
    raw(s.data(), n);
    return s;
  };
  char magic[4] = {};
  raw(magic, 4);
  if (std::memcmp(magic, "DLPR", 4) != 0) throw ChildStreamError("its results are corrupt");
  std::size_t count = 0;
  std::vector<float> out;
  for (;;) {
    const Tag t = get(Tag{});
    if (t == Tag::done) return;
    if (t == Tag::begin) {
      LocalInfo i;
      for (auto* s : {&i.backend, &i.device, &i.atomic_note, &i.model, &i.origin}) *s = get_str();
      i.B = get(std::uint64_t{});
      i.N = get(std::uint64_t{});
      if (i.B == 0 || i.N == 0 || i.B > (std::uint64_t(1) << 20) || i.N > (std::uint64_t(1) << 24) || i.B * i.N > (std::uint64_t(1) << 32))
        throw ChildStreamError("its results are corrupt (sizes)");
      count = i.B * i.N;
      out.assign(count, 0.0f);
      sink.begin(i);
    } else if (t == Tag::variant) {
      const auto v = get(std::int32_t{});
      if (v < 0 || v >= static_cast<std::int32_t>(std::size(kDenseVariants))) throw ChildStreamError("its results are corrupt (variant)");
      const auto n = get(std::uint64_t{});
      if (n > 4096) throw ChildStreamError("its results are corrupt (slices)");
      std::vector<std::size_t> slices(n);
      for (auto& s : slices) s = get(std::uint64_t{});
      sink.variant(static_cast<DenseVariant>(v), slices);
    } else if (t == Tag::run) {
      if (!count) throw ChildStreamError("its results are corrupt (a run before the sizes)");
      const double ms = get(double{});
      raw(out.data(), count * sizeof(float));
      sink.run(out, ms);
    } else if (t == Tag::run_before) {
      if (!count) throw ChildStreamError("its results are corrupt (a run before the sizes)");
      raw(out.data(), count * sizeof(float));
      sink.run_before(out);
    } else if (t == Tag::end_variant) {
      sink.end_variant(get(double{}));
    } else if (t == Tag::vendor) {
      const std::string name = get_str();
      sink.vendor(name, get(double{}));
    } else {
      throw ChildStreamError("its results are corrupt (tag)");
    }
  }
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

// The first line of what a failed child wrote on stderr, without its "driftlab: " prefix.
std::string child_message(std::FILE* err) {
  std::string text;
  std::rewind(err);
  for (int c; (c = std::fgetc(err)) != EOF && c != '\n' && text.size() < 500;) text += static_cast<char>(c);
  if (text.starts_with("driftlab: ")) text = text.substr(10);
  return text;
}

// Runs `processes` children of this program, one after another, and streams their results into
// `sink`.  A child's stderr goes to an unlinked temporary file, so a failure is reported in one
// line by the parent; nothing is left on disk.
void run_children(const PredictArgs& a, RunSink& sink) {
  const std::string exe = self_exe();
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with(std::string(kChildFdEnv) + "=")) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildFdEnv) + "=" + std::to_string(kChildFd));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {exe, "predict"};
  for (auto& s : to_argv(a)) args.push_back(s);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  for (std::size_t p = 0; p < a.processes; ++p) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe for a child process");
    // The descriptors the child gets by dup2 are moved above 2 and kChildFd first, so that no
    // dup2 in the child overwrites the source of another.
    auto high = [](int& fd) {
      const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
      if (moved >= 0) {
        close(fd);
        fd = moved;
      }
    };
    high(fds[1]);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> err(std::tmpfile(), &std::fclose);
    if (!err) {
      close(fds[0]);
      close(fds[1]);
      throw std::runtime_error("cannot create a temporary file for a child process's messages");
    }
    int err_fd = fileno(err.get());
    if (err_fd <= kChildFd) err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 10);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], kChildFd);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err_fd != fileno(err.get())) close(err_fd);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot start a child process: " + std::string(std::strerror(rc)));
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(fdopen(fds[0], "rb"), &std::fclose);
    std::string stream_error;
    try {
      if (!in) throw ChildStreamError("cannot read its results");
      replay_child(in.get(), sink);
    } catch (const ChildStreamError& e) {
      stream_error = e.what();
    } catch (...) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw;
    }
    in.reset();
    // The read end is closed: a child still writing gets EPIPE and ends, so this wait is bounded.
    int status = 0;
    waitpid(pid, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok || !stream_error.empty()) {
      std::string why = child_message(err.get());
      if (why.empty())
        why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
              : !ok               ? "exit status " + std::to_string(WEXITSTATUS(status))
                                  : stream_error;
      throw std::runtime_error("predict child process " + std::to_string(p) + " failed: " + why);
    }
  }
}

// The child's side: the descriptor must be the pipe its parent made.
int child_main(const PredictArgs& a, const char* fd_text) {
  const std::string v(fd_text);
  unsetenv(kChildFdEnv);
  struct stat st {};
  if (v != std::to_string(kChildFd) || fstat(kChildFd, &st) != 0 || !S_ISFIFO(st.st_mode))
    throw UsageError(std::string(kChildFdEnv) + " is set by driftlab predict --processes for its own children; unset it");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(fdopen(kChildFd, "wb"), &std::fclose);
  if (!f) throw std::runtime_error("cannot open the pipe to the parent process");
  PredictArgs local = a;
  local.processes = 1;
  ChildWriter w(f.get());
  run_local(local, w);
  w.finish();
  return 0;
}

// The ULP unit of a 16-bit model's outputs.
std::uint64_t (*ulp16_of(DType d))(float, float) { return d == DType::bf16 ? &ulp_distance_bf16 : &ulp_distance_f16; }

// Row 0 of x inside batches of each size (the other rows random, seeded by the size).
void batch_sweep(const PredictArgs& a, PredictReport& rep) {
  auto backend = pick_backend(a);
  const Model model = build_model(a, a.init_seed ? *a.init_seed : entropy_seed());
  std::size_t B = 0;
  const std::vector<float> x = build_input(a, model, B);
  backend->set_model(model);
  const std::size_t K = model.inputs(), N = model.outputs();
  const std::uint64_t dropout_seed = a.dropout_seed ? *a.dropout_seed : entropy_seed();
  for (auto& row : rep.rows) {
    OutputDriftStream row0(1, N);
    for (const std::size_t bs : a.batch_sweep) {
      std::vector<float> xb = make_input(Dist::uniform, DType::f32, bs * K, a.seed + 1000003 * bs).f32;
      round_values(xb, model.dtype);
      std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(K), xb.begin());
      std::vector<float> out(bs * N);
      PredictCall c{row.variant, a.training, dropout_seed, 0, a.split_k,
                    a.shuffle_seed ? std::optional<std::uint64_t>(*a.shuffle_seed) : std::nullopt};
      backend->predict(c, xb.data(), bs, out.data());
      row0.add(std::span<const float>(out.data(), N));
    }
    const OutputDrift d = row0.result();
    row.batch_distinct = d.distinct_outputs;
    row.batch_max_ulp = a.dtype == DType::f32 ? d.max_ulp : row0.max_ulp_by(ulp16_of(a.dtype));
  }
}

// --save-output FILE with several variants: FILE.<variant>.npy, always in FILE's own folder.
std::string variant_path(const std::string& path, const char* variant) {
  const std::string folder = parent_folder(path), name = file_name(path);
  const std::string stem = name.size() > 4 && name.ends_with(".npy") ? name.substr(0, name.size() - 4) : name;
  return (path.find('/') == std::string::npos ? std::string() : folder + (folder == "/" ? "" : "/")) + stem + "." +
         variant + ".npy";
}

}  // namespace

PredictReport run_predict(const PredictArgs& a) {
  if (a.save_output) check_output_path(*a.save_output, "--save-output");
  if (a.json) check_output_path(*a.json, "--json");
  Collector c(static_cast<std::uint64_t>(a.runs) * a.processes * (a.variant == "all" ? std::size(kDenseVariants) : 1),
              a.processes == 1, a.dtype != DType::f32);
  if (a.processes > 1) run_children(a, c);
  else run_local(a, c);
  const LocalInfo& first = c.info();

  PredictReport rep;
  rep.backend = first.backend;
  rep.device = first.device;
  rep.atomic_note = first.atomic_note;
  rep.model = first.model;
  rep.origin = first.origin;
  rep.batch = first.B;
  rep.outputs = first.N;
  rep.runs = a.runs;
  rep.processes = a.processes;
  rep.training = a.training;
  rep.batch_sweep = a.batch_sweep;
  rep.dtype = a.dtype;
  rep.seeds = std::string("init ") + (a.init_seed ? std::to_string(*a.init_seed) : "unseeded") + ", dropout " +
              (a.dropout_seed ? std::to_string(*a.dropout_seed) : "unseeded") + ", input " + std::to_string(a.seed);
  for (const VariantState& v : c.variants()) {
    PredictRow row;
    row.variant = v.variant;
    row.slices = v.slices;
    row.drift = v.device ? *v.device : v.drift->result();
    if (row.drift.runs != a.runs * a.processes) throw std::runtime_error("child processes returned too few runs");
    if (v.before) {  // a 16-bit model: ULPs of its type after the rounding, float32 ULPs before
      row.drift.max_ulp = v.drift->max_ulp_by(ulp16_of(a.dtype));
      row.before = v.before->result();
      if (row.before->runs != row.drift.runs) throw std::runtime_error("child processes returned too few runs");
    }
    row.ref_max_rel_err = v.ref_err;
    row.median_ms = median(v.ms);
    row.samples_per_s = row.median_ms > 0 ? static_cast<double>(first.B) / (row.median_ms * 1e-3) : 0;
    rep.rows.push_back(std::move(row));
  }
  const auto atomic = std::find_if(rep.rows.begin(), rep.rows.end(),
                                   [](const PredictRow& r) { return r.variant == DenseVariant::atomic; });
  if (a.variant == "all" && atomic != rep.rows.end() && atomic->median_ms > 0)
    for (auto& r : rep.rows) r.cost_vs_atomic = r.median_ms / atomic->median_ms;
  rep.vendor = c.vendor_name();
  if (const double v = c.vendor_ms().empty() ? 0.0 : median(c.vendor_ms()); v > 0)
    for (auto& r : rep.rows) r.cost_vs_vendor = r.median_ms / v;
  if (!a.batch_sweep.empty()) batch_sweep(a, rep);

  if (a.save_output) {
    for (const VariantState& v : c.variants()) {
      const std::string path = c.variants().size() > 1 ? variant_path(*a.save_output, info(v.variant).name) : *a.save_output;
      HostArray o;
      o.dtype = DType::f32;
      o.shape = {first.B, first.N};
      o.f32 = v.drift->first();
      try {
        npy::write(path, o);
      } catch (const npy::NpyError& e) {
        throw std::runtime_error(std::string("--save-output ") + e.what());
      }
    }
  }
  return rep;
}

void print_predict_table(const PredictReport& r, std::ostream& out) {
  out << "driftlab predict: model " << r.model << " (" << r.origin << "), batch " << r.batch << ", "
      << (r.training ? "training=True (dropout active)" : "inference (training=False)") << "\n"
      << r.runs << " calls x " << r.processes << (r.processes > 1 ? " processes" : " process") << "; seeds: " << r.seeds
      << "\nbackend " << r.backend << ": " << r.device << "\n"
      << r.atomic_note << "\n";
  if (r.dtype != DType::f32)
    out << "dtype " << dtype_name(r.dtype) << ": 16-bit weights, input and activations, float32 accumulation; "
        << "the table is the " << dtype_name(r.dtype) << " output (max_ulp in " << dtype_name(r.dtype) << " ULPs)\n";
  out << "\n";
  const bool sweep = !r.batch_sweep.empty();
  out << std::left << std::setw(11) << "variant" << std::setw(44) << "determinism" << std::setw(12) << "slices"
      << std::right << Col{9} << "distinct" << Col{10} << "non_equal" << Col{9} << "max_ulp"
      << Col{11} << "max_abs" << Col{8} << "argmax" << Col{10} << "ref_err" << Col{11}
      << "median_ms" << Col{11} << "samples/s" << Col{8} << "cost" << Col{11} << "vs_vendor";
  if (sweep) out << Col{10} << "batch_dst" << Col{10} << "batch_ulp";
  out << "\n";
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    out << std::left << std::setw(11) << info(row.variant).name << std::setw(44) << info(row.variant).determinism
        << std::setw(12) << (row.slices.empty() ? std::string("-") : join(row.slices, "/")) << std::right << Col{9} << d.distinct_outputs << Col{10}
        << sig(d.ratio_non_equal, 2) << Col{9} << ulp_text(d.max_ulp) << Col{11} << sig(d.max_abs_diff, 2)
        << Col{8} << d.argmax_flips << Col{10} << sig(row.ref_max_rel_err, 2) << Col{11}
        << sig(row.median_ms, 4) << Col{11} << sig(row.samples_per_s, 4) << Col{8}
        << (row.cost_vs_atomic ? sig(*row.cost_vs_atomic, 3) + "x" : std::string("-")) << Col{11}
        << (row.cost_vs_vendor ? sig(*row.cost_vs_vendor, 3) + "x" : std::string("-"));
    if (sweep) out << Col{10} << *row.batch_distinct << Col{10} << ulp_text(*row.batch_max_ulp);
    out << "\n";
  }
  out << "\ncost = median time relative to atomic; vs_vendor = relative to " << r.vendor << " (inference, same threads"
      << (r.dtype == DType::f32   ? ")."
          : r.backend == "cuda" ? "; cublasGemmEx with 16-bit inputs and float32 accumulation)."
                                : "; sgemm on the widened weights, float32 throughout).")
      << "\nslices = split-K S per layer.  distinct = distinct bit patterns of the whole output over "
      << r.runs * r.processes << " runs.\nargmax = rows whose argmax changed from run 0.";
  if (sweep) out << "  batch_dst/batch_ulp: row 0 inside batches of " << join(r.batch_sweep) << ".";
  out << "\n";
  if (r.dtype == DType::f32) return;
  // What the rounding did to the same runs' drift: the last layer's float32 output before it.
  out << "\nbefore rounding to " << dtype_name(r.dtype) << " (the last layer's float32 output, float32 ULPs) -> after:\n"
      << std::left << std::setw(11) << "variant" << std::right << Col{16} << "distinct" << Col{18}
      << "non_equal" << Col{22} << "max_ulp" << Col{12} << "argmax" << "\n";
  for (const auto& row : r.rows) {
    if (!row.before) continue;
    const auto& b = *row.before;
    const auto& d = row.drift;
    auto pair = [](const std::string& x, const std::string& y) { return x + " -> " + y; };
    out << std::left << std::setw(11) << info(row.variant).name << std::right << Col{16}
        << pair(std::to_string(b.distinct_outputs), std::to_string(d.distinct_outputs)) << Col{18}
        << pair(sig(b.ratio_non_equal, 2), sig(d.ratio_non_equal, 2)) << Col{22}
        << pair(ulp_text(b.max_ulp), ulp_text(d.max_ulp)) << Col{12}
        << pair(std::to_string(b.argmax_flips), std::to_string(d.argmax_flips)) << "\n";
  }
}

void write_predict_json(const PredictReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "predict").key("rows").begin_array();
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    j.begin_object()
        .field("backend", r.backend)
        .field("device", r.device)
        .field("variant", info(row.variant).name)
        .field("determinism", info(row.variant).determinism)
        .field("model", r.model)
        .field("origin", r.origin)
        .field("batch", static_cast<std::uint64_t>(r.batch))
        .field("runs", static_cast<std::uint64_t>(r.runs))
        .field("processes", static_cast<std::uint64_t>(r.processes))
        .field("training", r.training)
        .field("dtype", dtype_name(r.dtype))
        .field("ulp_unit", dtype_name(r.dtype))
        .field("seeds", r.seeds)
        .field("slices", row.slices.empty() ? std::string("-") : join(row.slices, "/"))
        .field("distinct_outputs", static_cast<std::uint64_t>(d.distinct_outputs))
        .field("ratio_non_equal", d.ratio_non_equal);
    j.key("max_ulp");
    j.value_or_null(d.max_ulp, kUnorderedUlp);
    j.field("max_abs_diff", d.max_abs_diff)
        .field("argmax_flips", static_cast<std::uint64_t>(d.argmax_flips))
        .field("ref_max_rel_err", row.ref_max_rel_err)
        .field("median_ms", row.median_ms)
        .field("samples_per_s", row.samples_per_s);
    j.key("cost_vs_atomic");
    j.value_or_null(row.cost_vs_atomic);
    j.field("vendor", r.vendor).key("cost_vs_vendor");
    j.value_or_null(row.cost_vs_vendor);
    if (row.before) {  // a 16-bit model: the same runs' float32 output before the rounding
      const auto& b = *row.before;
      j.key("before_rounding")
          .begin_object()
          .field("ulp_unit", "f32")
          .field("distinct_outputs", static_cast<std::uint64_t>(b.distinct_outputs))
          .field("ratio_non_equal", b.ratio_non_equal);
      j.key("max_ulp");
      j.value_or_null(b.max_ulp, kUnorderedUlp);
      j.field("max_abs_diff", b.max_abs_diff).field("argmax_flips", static_cast<std::uint64_t>(b.argmax_flips)).end_object();
    }
    if (row.batch_distinct) {
      j.field("batch_sizes", join(r.batch_sweep))
          .field("batch_distinct", static_cast<std::uint64_t>(*row.batch_distinct))
          .key("batch_max_ulp");
      j.value_or_null(*row.batch_max_ulp, kUnorderedUlp);
    }
    j.end_object();
  }
  j.end_array().end_object();
}

int predict_main(std::span<const std::string_view> args, std::ostream& out) {
  const PredictArgs a = parse_predict_args(args);
  if (a.help) {
    out << kPredictHelp;
    return 0;
  }
  if (const char* fd = std::getenv(kChildFdEnv)) return child_main(a, fd);  // a child of --processes
  const PredictReport rep = run_predict(a);
  print_predict_table(rep, out);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_predict_json(rep, f); });
  return 0;
}

}  // namespace driftlab
