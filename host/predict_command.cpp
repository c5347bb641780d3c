#include "predict_command.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>

#include "backend.h"
#include "cli_args.h"
#include "common/float_bits.h"
#include "common/rng.h"
#include "data.h"
#include "gpu.h"
#include "json.h"
#include "model.h"
#include "model_backend.h"
#include "npy.h"

extern char** environ;

namespace driftlab {

const char* const kPredictHelp = R"(usage: driftlab predict [options]

Runs a small Keras-like MLP's predict many times -- in one process and in separate processes --
with each dense variant, and measures how its output drifts, what it costs, and whether a row's
bits depend on the batch it is in.

model:
  --layers L0,L1,...    layer sizes (default 10,20,10: the article's model)
  --dropout RATE        Dropout after every hidden layer (default 0.5; 0 for none)
  --weights FILE.npz    a user's model: arrays W0,b0,W1,b1,... (kernel [K x N], bias [N])
  --act A0,A1,...       activations per layer (relu|linear; default relu hidden, linear last)
  --init-seed S         seed of the Glorot-uniform initialisation (unseeded: std::random_device,
                        so every process gets different weights)
input:
  --batch B             rows per call (default 1); input uniform [0,1) from --seed (default 1)
  --input FILE.npy      x [B x K] float32 instead
runs:
  --runs R              predict calls per process (default 5)
  --processes P         P real child processes, each doing the same (default 1: this process)
  --training            dropout active, as Keras's training=True
  --dropout-seed S      seed the dropout masks: each call draws a new mask from the next counter,
                        every process repeats the same sequence (Keras's SeedGenerator);
                        unseeded: std::random_device per process
  --variant NAME|all    atomic, tree, invariant, cublas (CUDA only), or all (default)
  --split-k S           force S slices (1..32) for atomic and tree
  --backend cpu|cuda|auto
  --threads T           cpu backend: worker threads (default: every hardware thread)
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

std::vector<std::size_t> parse_list(std::string_view v, const char* flag) {
  std::vector<std::size_t> out;
  std::stringstream ss{std::string(v)};
  for (std::string item; std::getline(ss, item, ',');) {
    const auto n = parse_count(item, flag);
    if (n == 0 || n > (1u << 20)) throw UsageError(std::string(flag) + ": sizes must be 1 to 2^20");
    out.push_back(static_cast<std::size_t>(n));
  }
  if (out.empty()) throw UsageError(std::string(flag) + ": expected a comma-separated list");
  return out;
}

std::string join(const std::vector<std::size_t>& v, const char* sep = ",") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

std::uint64_t entropy_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

PredictArgs parse_predict_args(std::span<const std::string_view> argv) {
  PredictArgs a;
  ArgReader r(argv);
  bool batch_given = false;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") a.help = true;
    else if (f == "--runs") {
      a.runs = parse_count(r.value(), "--runs");
      if (a.runs < 1 || a.runs > 100000) throw UsageError("--runs: expected 1 to 100000");
    } else if (f == "--processes") {
      a.processes = parse_count(r.value(), "--processes");
      if (a.processes < 1 || a.processes > 256) throw UsageError("--processes: expected 1 to 256");
    } else if (f == "--backend") {
      a.backend = parse_backend(r.value());
    } else if (f == "--variant") {
      a.variant = r.value();
      if (a.variant != "all" && !parse_dense_variant(a.variant))
        throw UsageError("--variant: unknown variant '" + a.variant + "' (atomic, tree, invariant, cublas, all)");
    } else if (f == "--batch") {
      a.batch = parse_count(r.value(), "--batch");
      if (a.batch < 1 || a.batch > (1u << 20)) throw UsageError("--batch: expected 1 to 2^20");
      batch_given = true;
    } else if (f == "--batch-sweep") a.batch_sweep = parse_list(r.value(), "--batch-sweep");
    else if (f == "--training") a.training = true;
    else if (f == "--dropout-seed") a.dropout_seed = parse_seed(r.value(), "--dropout-seed");
    else if (f == "--init-seed") a.init_seed = parse_seed(r.value(), "--init-seed");
    else if (f == "--seed") a.seed = parse_seed(r.value(), "--seed");
    else if (f == "--threads") {
      const auto t = parse_count(r.value(), "--threads");
      if (t > 4096) throw UsageError("--threads: at most 4096");
      a.threads = static_cast<int>(t);
    } else if (f == "--schedule") {
      const std::string_view v = r.value();
      if (v.substr(0, 8) != "shuffle:") throw UsageError("--schedule: expected shuffle:SEED, got '" + std::string(v) + "'");
      a.shuffle_seed = parse_count(v.substr(8), "--schedule shuffle:SEED");
    } else if (f == "--save-output") a.save_output = std::string(r.value());
    else if (f == "--json") a.json = std::string(r.value());
    else if (f == "--weights") a.weights = std::string(r.value());
    else if (f == "--input") a.input = std::string(r.value());
    else if (f == "--layers") {
      try {
        a.layers = parse_sizes(std::string(r.value()));
      } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--layers: ") + e.what());
      }
    } else if (f == "--dropout") {
      const std::string v(r.value());
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(d >= 0.0 && d < 1.0)) throw UsageError("--dropout: expected a rate in [0, 1), got '" + v + "'");
      a.dropout = static_cast<float>(d);
    } else if (f == "--act") {
      a.acts = parse_names(std::string(r.value()));
      for (const auto& s : a.acts)
        if (s != "relu" && s != "linear") throw UsageError("--act: unknown activation '" + s + "' (relu or linear)");
    } else if (f == "--split-k") {
      a.split_k = parse_count(r.value(), "--split-k");
      if (a.split_k < 1 || a.split_k > dense::kMaxSlices) throw UsageError("--split-k: expected 1 to 32");
    } else if (f == "--child-out") a.child_out = std::string(r.value());
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab predict --help)");
  }
  if (a.input && batch_given) throw UsageError("--batch and --input cannot be used together (the file sets B)");
  if (!a.acts.empty() && !a.weights && a.acts.size() != a.layers.size() - 1)
    throw UsageError("--act: " + std::to_string(a.acts.size()) + " activations for " + std::to_string(a.layers.size() - 1) +
                     " layers");
  return a;
}

std::vector<std::string> to_argv(const PredictArgs& a) {
  std::vector<std::string> v = {"--runs", std::to_string(a.runs), "--backend", a.backend, "--variant", a.variant,
                                "--seed", std::to_string(a.seed), "--layers", join(a.layers), "--dropout",
                                std::to_string(a.dropout)};
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
  return v;
}

namespace {

// What one process measured for one variant.
struct VariantRuns {
  DenseVariant variant{};
  std::vector<std::vector<float>> outputs;  // per run: [B x N]
  std::vector<double> ms;
  double ref_err = 0;  // run 0 vs the float64 reference
};

struct LocalResult {
  std::string backend, device, atomic_note, model, origin;
  std::size_t B = 0, N = 0;
  std::vector<std::vector<std::size_t>> slices;  // per variant, per layer
  std::vector<VariantRuns> variants;
  std::string vendor;
  std::vector<double> vendor_ms;  // the vendor baseline's calls (ModelBackend::vendor_predict)
};

std::unique_ptr<ModelBackend> pick_backend(const PredictArgs& a) {
  const bool cuda = a.backend == "cuda" || (a.backend == "auto" && gpu_status().usable);
  if (cuda) {
    if (a.shuffle_seed) throw UsageError("--schedule models a GPU scheduler on the cpu backend; use --backend cpu");
    if (a.threads) throw UsageError("--threads applies to the cpu backend; use --backend cpu");
    return make_cuda_model_backend();
  }
  return make_cpu_model_backend(a.threads);
}

std::vector<DenseVariant> pick_variants(const PredictArgs& a, const ModelBackend& b) {
  std::vector<DenseVariant> vs;
  if (a.variant == "all") {
    for (const auto& i : kDenseVariants)
      if (b.has(i.variant)) vs.push_back(i.variant);
    return vs;
  }
  const DenseVariant v = *parse_dense_variant(a.variant);
  if (!b.has(v))
    throw UsageError("variant '" + a.variant + "' is not available on the " + b.name() + " backend" +
                     (v == DenseVariant::cublas ? " (cublas is CUDA only)" : ""));
  return {v};
}

Model build_model(const PredictArgs& a, std::uint64_t init_seed) {
  if (a.weights) return load_model(*a.weights, a.acts, a.dropout);
  Model m = make_model(a.layers, a.dropout, init_seed);
  for (std::size_t i = 0; i < a.acts.size() && i < m.layers.size(); ++i) m.layers[i].act = parse_activation(a.acts[i]);
  m.origin = std::string("glorot-uniform, init seed ") + (a.init_seed ? std::to_string(*a.init_seed) : "from std::random_device");
  return m;
}

std::vector<float> build_input(const PredictArgs& a, const Model& m, std::size_t& B) {
  if (a.input) {
    HostArray x = npy::read(*a.input);
    if (x.dtype != DType::f32) throw UsageError("--input " + *a.input + ": expected float32, got " + dtype_name(x.dtype));
    const std::size_t K = x.shape.size() == 2 ? x.shape[1] : (x.shape.size() == 1 ? x.shape[0] : 0);
    if (K != m.inputs() || x.shape.size() > 2 || x.shape.empty())
      throw UsageError("--input " + *a.input + ": expected shape [B x " + std::to_string(m.inputs()) + "] for a " +
                       m.shape_text() + " model");
    B = x.shape.size() == 2 ? x.shape[0] : 1;
    if (B == 0) throw UsageError("--input " + *a.input + ": no rows");
    return x.f32;
  }
  B = a.batch;
  return make_input(Dist::uniform, DType::f32, B * m.inputs(), a.seed).f32;
}

LocalResult run_local(const PredictArgs& a) {
  auto backend = pick_backend(a);
  const Model model = build_model(a, a.init_seed ? *a.init_seed : entropy_seed());
  std::size_t B = 0;
  const std::vector<float> x = build_input(a, model, B);
  backend->set_model(model);
  const std::uint64_t dropout_seed = a.dropout_seed ? *a.dropout_seed : entropy_seed();

  LocalResult res;
  res.backend = backend->name();
  res.device = backend->device();
  res.atomic_note = backend->atomic_note(a.shuffle_seed.has_value());
  res.model = model.shape_text();
  res.origin = model.origin;
  res.B = B;
  res.N = model.outputs();
  for (const DenseVariant v : pick_variants(a, *backend)) {
    VariantRuns vr;
    vr.variant = v;
    std::vector<std::size_t> slices;
    if (v == DenseVariant::atomic || v == DenseVariant::tree)
      for (const auto& l : model.layers) slices.push_back(a.split_k ? a.split_k : dense::split_k(B, l.K, l.N));
    res.slices.push_back(slices);
    PredictCall c{v, a.training, dropout_seed, 0, a.split_k, std::nullopt};
    std::vector<float> out(B * model.outputs());
    c.call = std::uint64_t(1) << 40;  // warm-up on a call number no run uses
    backend->predict(c, x.data(), B, out.data());
    for (std::size_t r = 0; r < a.runs; ++r) {
      c.call = r;
      if (a.shuffle_seed) c.schedule_seed = mix_seed(*a.shuffle_seed, r);
      vr.ms.push_back(backend->predict(c, x.data(), B, out.data()));
      vr.outputs.push_back(out);
    }
    std::vector<DropoutMask> masks;
    if (a.training && model.dropout > 0)
      for (std::size_t li = 0; li + 1 < model.layers.size(); ++li)
        masks.push_back(dropout_mask(B * model.layers[li].N, model.dropout, dropout_seed, 0, static_cast<std::uint32_t>(li)));
    vr.ref_err = max_rel_err(vr.outputs[0], reference_forward(model, x.data(), B, masks));
    res.variants.push_back(std::move(vr));
  }
  res.vendor = backend->vendor();
  std::vector<float> out(B * model.outputs());
  backend->vendor_predict(x.data(), B, out.data());  // warm-up
  for (std::size_t r = 0; r < a.runs; ++r) res.vendor_ms.push_back(backend->vendor_predict(x.data(), B, out.data()));
  return res;
}

// --- The parent/child protocol: a child writes its LocalResult in a small binary file.
void put_str(std::ostream& o, const std::string& s) {
  const std::uint64_t n = s.size();
  o.write(reinterpret_cast<const char*>(&n), sizeof n).write(s.data(), static_cast<std::streamsize>(n));
}
std::string get_str(std::istream& i) {
  std::uint64_t n = 0;
  i.read(reinterpret_cast<char*>(&n), sizeof n);
  if (!i || n > (1u << 20)) throw std::runtime_error("child result: corrupt");
  std::string s(n, '\0');
  i.read(s.data(), static_cast<std::streamsize>(n));
  return s;
}
template <class T> void put(std::ostream& o, const T& v) { o.write(reinterpret_cast<const char*>(&v), sizeof v); }
template <class T> T get(std::istream& i) {
  T v{};
  i.read(reinterpret_cast<char*>(&v), sizeof v);
  if (!i) throw std::runtime_error("child result: truncated");
  return v;
}

void write_child(const LocalResult& r, const std::string& path) {
  std::ofstream o(path, std::ios::binary);
  o.write("DLPR", 4);
  for (const auto* s : {&r.backend, &r.device, &r.atomic_note, &r.model, &r.origin}) put_str(o, *s);
  put<std::uint64_t>(o, r.B);
  put<std::uint64_t>(o, r.N);
  put<std::uint64_t>(o, r.variants.size());
  for (std::size_t k = 0; k < r.variants.size(); ++k) {
    const auto& v = r.variants[k];
    put<std::int32_t>(o, static_cast<std::int32_t>(v.variant));
    put<std::uint64_t>(o, r.slices[k].size());
    for (auto s : r.slices[k]) put<std::uint64_t>(o, s);
    put<std::uint64_t>(o, v.outputs.size());
    for (std::size_t run = 0; run < v.outputs.size(); ++run) {
      o.write(reinterpret_cast<const char*>(v.outputs[run].data()), static_cast<std::streamsize>(v.outputs[run].size() * 4));
      put<double>(o, v.ms[run]);
    }
    put<double>(o, v.ref_err);
  }
  put_str(o, r.vendor);
  put<std::uint64_t>(o, r.vendor_ms.size());
  for (const double ms : r.vendor_ms) put<double>(o, ms);
  if (!o.flush()) throw std::runtime_error("cannot write child result " + path);
}

LocalResult read_child(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  char magic[4] = {};
  i.read(magic, 4);
  if (!i || std::memcmp(magic, "DLPR", 4) != 0) throw std::runtime_error("child result missing or corrupt: " + path);
  LocalResult r;
  for (auto* s : {&r.backend, &r.device, &r.atomic_note, &r.model, &r.origin}) *s = get_str(i);
  r.B = get<std::uint64_t>(i);
  r.N = get<std::uint64_t>(i);
  if (r.B * r.N > (std::uint64_t(1) << 32)) throw std::runtime_error("child result: corrupt sizes");
  const auto nv = get<std::uint64_t>(i);
  for (std::uint64_t k = 0; k < nv && k < 16; ++k) {
    VariantRuns v;
    v.variant = static_cast<DenseVariant>(get<std::int32_t>(i));
    std::vector<std::size_t> slices(get<std::uint64_t>(i) % 4096);
    for (auto& s : slices) s = get<std::uint64_t>(i);
    r.slices.push_back(slices);
    const auto runs = get<std::uint64_t>(i);
    for (std::uint64_t run = 0; run < runs && run < 1000000; ++run) {
      std::vector<float> out(r.B * r.N);
      i.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size() * 4));
      v.outputs.push_back(std::move(out));
      v.ms.push_back(get<double>(i));
    }
    v.ref_err = get<double>(i);
    r.variants.push_back(std::move(v));
  }
  r.vendor = get_str(i);
  const auto nvendor = get<std::uint64_t>(i);
  for (std::uint64_t run = 0; run < nvendor && run < 1000000; ++run) r.vendor_ms.push_back(get<double>(i));
  return r;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

// Runs `processes` children of this program, one after another, and collects their results.
std::vector<LocalResult> run_children(const PredictArgs& a) {
  const std::string exe = self_exe();
  std::vector<LocalResult> results;
  char dir_template[] = "/tmp/driftlab-predict-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (!dir) throw std::runtime_error("cannot create a temporary directory under /tmp");
  for (std::size_t p = 0; p < a.processes; ++p) {
    const std::string out = std::string(dir) + "/child" + std::to_string(p) + ".bin";
    std::vector<std::string> args = {exe, "predict"};
    for (auto& s : to_argv(a)) args.push_back(s);
    args.insert(args.end(), {"--child-out", out});
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start a child process");
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error("child process " + std::to_string(p) + " failed (exit status " +
                               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
    results.push_back(read_child(out));
    std::remove(out.c_str());
  }
  rmdir(dir);
  return results;
}

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
    std::vector<std::vector<float>> row0;
    for (const std::size_t bs : a.batch_sweep) {
      std::vector<float> xb = make_input(Dist::uniform, DType::f32, bs * K, a.seed + 1000003 * bs).f32;
      std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(K), xb.begin());
      std::vector<float> out(bs * N);
      PredictCall c{row.variant, a.training, dropout_seed, 0, a.split_k,
                    a.shuffle_seed ? std::optional<std::uint64_t>(*a.shuffle_seed) : std::nullopt};
      backend->predict(c, xb.data(), bs, out.data());
      row0.emplace_back(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(N));
    }
    const OutputDrift d = output_drift(row0, 1, N);
    row.batch_distinct = d.distinct_outputs;
    row.batch_max_ulp = d.max_ulp;
  }
}

}  // namespace

PredictReport run_predict(const PredictArgs& a) {
  std::vector<LocalResult> parts;
  if (a.processes > 1) parts = run_children(a);
  else parts.push_back(run_local(a));
  const LocalResult& first = parts.front();

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
  rep.seeds = std::string("init ") + (a.init_seed ? std::to_string(*a.init_seed) : "unseeded") + ", dropout " +
              (a.dropout_seed ? std::to_string(*a.dropout_seed) : "unseeded") + ", input " + std::to_string(a.seed);
  for (std::size_t k = 0; k < first.variants.size(); ++k) {
    PredictRow row;
    row.variant = first.variants[k].variant;
    row.slices = first.slices[k];
    std::vector<std::vector<float>> all;
    std::vector<double> ms;
    for (const auto& p : parts) {
      if (k >= p.variants.size() || p.B != first.B || p.N != first.N)
        throw std::runtime_error("child processes disagree on the model or batch");
      all.insert(all.end(), p.variants[k].outputs.begin(), p.variants[k].outputs.end());
      ms.insert(ms.end(), p.variants[k].ms.begin(), p.variants[k].ms.end());
    }
    row.drift = output_drift(all, first.B, first.N);
    row.ref_max_rel_err = first.variants[k].ref_err;
    row.median_ms = median(ms);
    row.samples_per_s = row.median_ms > 0 ? static_cast<double>(first.B) / (row.median_ms * 1e-3) : 0;
    rep.rows.push_back(std::move(row));
  }
  const auto atomic = std::find_if(rep.rows.begin(), rep.rows.end(),
                                   [](const PredictRow& r) { return r.variant == DenseVariant::atomic; });
  if (a.variant == "all" && atomic != rep.rows.end() && atomic->median_ms > 0)
    for (auto& r : rep.rows) r.cost_vs_atomic = r.median_ms / atomic->median_ms;
  std::vector<double> vendor_ms;
  for (const auto& p : parts) vendor_ms.insert(vendor_ms.end(), p.vendor_ms.begin(), p.vendor_ms.end());
  rep.vendor = first.vendor;
  if (const double v = vendor_ms.empty() ? 0.0 : median(vendor_ms); v > 0)
    for (auto& r : rep.rows) r.cost_vs_vendor = r.median_ms / v;
  if (!a.batch_sweep.empty()) batch_sweep(a, rep);

  if (a.save_output) {
    for (std::size_t k = 0; k < first.variants.size(); ++k) {
      std::string path = *a.save_output;
      if (first.variants.size() > 1) {
        const auto dot = path.rfind(".npy");
        const std::string tag = std::string(".") + info(first.variants[k].variant).name;
        path = dot == std::string::npos ? path + tag : path.substr(0, dot) + tag + ".npy";
      }
      HostArray o;
      o.dtype = DType::f32;
      o.shape = {first.B, first.N};
      o.f32 = first.variants[k].outputs[0];
      npy::write(path, o);
    }
  }
  return rep;
}

void print_predict_table(const PredictReport& r, std::ostream& out) {
  out << "driftlab predict: model " << r.model << " (" << r.origin << "), batch " << r.batch << ", "
      << (r.training ? "training=True (dropout active)" : "inference (training=False)") << "\n"
      << r.runs << " calls x " << r.processes << (r.processes > 1 ? " processes" : " process") << "; seeds: " << r.seeds
      << "\nbackend " << r.backend << ": " << r.device << "\n"
      << r.atomic_note << "\n\n";
  const bool sweep = !r.batch_sweep.empty();
  out << std::left << std::setw(11) << "variant" << std::setw(44) << "determinism" << std::setw(12) << "slices"
      << std::right << std::setw(9) << "distinct" << std::setw(10) << "non_equal" << std::setw(9) << "max_ulp"
      << std::setw(11) << "max_abs" << std::setw(8) << "argmax" << std::setw(10) << "ref_err" << std::setw(11)
      << "median_ms" << std::setw(11) << "samples/s" << std::setw(8) << "cost" << std::setw(11) << "vs_vendor";
  if (sweep) out << std::setw(10) << "batch_dst" << std::setw(10) << "batch_ulp";
  out << "\n";
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    out << std::left << std::setw(11) << info(row.variant).name << std::setw(44) << info(row.variant).determinism
        << std::setw(12) << (row.slices.empty() ? std::string("-") : join(row.slices, "/")) << std::right << std::setw(9) << d.distinct_outputs << std::setw(10)
        << sig(d.ratio_non_equal, 2) << std::setw(9) << ulp_text(d.max_ulp) << std::setw(11) << sig(d.max_abs_diff, 2)
        << std::setw(8) << d.argmax_flips << std::setw(10) << sig(row.ref_max_rel_err, 2) << std::setw(11)
        << sig(row.median_ms, 4) << std::setw(11) << sig(row.samples_per_s, 4) << std::setw(8)
        << (row.cost_vs_atomic ? sig(*row.cost_vs_atomic, 3) + "x" : std::string("-")) << std::setw(11)
        << (row.cost_vs_vendor ? sig(*row.cost_vs_vendor, 3) + "x" : std::string("-"));
    if (sweep) out << std::setw(10) << *row.batch_distinct << std::setw(10) << ulp_text(*row.batch_max_ulp);
    out << "\n";
  }
  out << "\ncost = median time relative to atomic; vs_vendor = relative to " << r.vendor << " (inference, same threads)."
      << "\nslices = split-K S per layer.  distinct = distinct bit patterns of the whole output over "
      << r.runs * r.processes << " runs.\nargmax = rows whose argmax changed from run 0.";
  if (sweep) out << "  batch_dst/batch_ulp: row 0 inside batches of " << join(r.batch_sweep) << ".";
  out << "\n";
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
        .field("seeds", r.seeds)
        .field("slices", row.slices.empty() ? std::string("-") : join(row.slices, "/"))
        .field("distinct_outputs", static_cast<std::uint64_t>(d.distinct_outputs))
        .field("ratio_non_equal", d.ratio_non_equal);
    j.key("max_ulp");
    d.max_ulp == kUnorderedUlp ? j.null() : j.value(d.max_ulp);
    j.field("max_abs_diff", d.max_abs_diff)
        .field("argmax_flips", static_cast<std::uint64_t>(d.argmax_flips))
        .field("ref_max_rel_err", row.ref_max_rel_err)
        .field("median_ms", row.median_ms)
        .field("samples_per_s", row.samples_per_s);
    j.key("cost_vs_atomic");
    row.cost_vs_atomic ? j.value(*row.cost_vs_atomic) : j.null();
    j.field("vendor", r.vendor).key("cost_vs_vendor");
    row.cost_vs_vendor ? j.value(*row.cost_vs_vendor) : j.null();
    if (row.batch_distinct) {
      j.field("batch_sizes", join(r.batch_sweep))
          .field("batch_distinct", static_cast<std::uint64_t>(*row.batch_distinct))
          .key("batch_max_ulp");
      *row.batch_max_ulp == kUnorderedUlp ? j.null() : j.value(*row.batch_max_ulp);
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
  if (a.child_out) {  // a child: measure, hand the results to the parent, print nothing
    PredictArgs local = a;
    local.processes = 1;
    write_child(run_local(local), *a.child_out);
    return 0;
  }
  const PredictReport rep = run_predict(a);
  print_predict_table(rep, out);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_predict_json(rep, f); });
  return 0;
}

}  // namespace driftlab
