#include "trace_command.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <sstream>

#include "atomic_file.h"
#include "backend.h"
#include "cli_args.h"
#include "common/rng.h"
#include "cpu/bit_compare.h"
#include "json.h"
#include "metrics.h"
#include "variants_command.h"

namespace driftlab {

const std::string kTraceHelp = std::string(R"(usage: driftlab trace [model and input flags] --compare KIND:A,B [options]

Runs the same model and input under two configurations, A and B, and compares every layer's
output at every stage -- after the matmul, after bias and activation, after dropout, after the
16-bit rounding -- and names the first layer and stage whose bits differ: where the drift starts.

comparisons (--compare KIND:A,B):
  batch:A,B             row R inside a batch of A rows against inside a batch of B rows (e.g.
                        batch:1,64: alone against among 64); each batch is consecutive input
                        rows holding row R, only row R's outputs are compared
  runs:A,B              call A against call B of the same configuration (atomic drift; with
                        --training each call draws its own dropout mask, as predict's calls do)
  threads:A,B           cpu backend with A against B worker threads (0: every hardware thread)
  variant:A,B           dense variant A against B ()") + variant_names(kDenseVariants) + R"()
  backend:A,B           cpu against cuda (cuda: needs a GPU)
  dtype:A,B             storage dtype A against B (f32, bf16, f16; e.g. dtype:f32,bf16): the same
                        float32 weights and input, rounded to each side's type; values are
                        compared as float32 (16-bit ones widened), max_ulp in float32 ULPs
options:
  --variant NAME        the dense variant of both sides (default tree; not with variant:A,B)
  --row R               batch: the row compared (default 0)
  --json FILE           one row per layer and stage, and first_divergence (null: no bit differs)
  --help                this text
model and input flags, as for predict: --layers, --weights, --act, --dropout, --init-seed,
  --input, --batch, --seed, --training, --dropout-seed, --split-k, --backend, --threads,
  --schedule shuffle:SEED, --dtype (both sides; not with dtype:A,B) (see driftlab predict
  --help).  Without --init-seed or --dropout-seed one random seed is drawn and both sides use it.

stages: matmul = the kernel's accumulator before its epilogue (x.W; for atomic, whose
accumulator starts at b, x.W + b); bias_act = the dense layer's output; dropout = after the mask
(hidden layers, --training only); round = a 16-bit model's output rounded to its type (after
dropout), widened -- with dtype:A,B an f32 side's round stage is its stored output, unrounded.
max_ulp is in float32 ULPs throughout (16-bit values compared widened).  The stages come from
the kernels predict runs (a hook in the model backends), and the last stage is bitwise
predict's output for the same call.
per layer and stage: max_ulp, frac_differ (elements whose bits differ), max_rel_diff
(max |a - b| / max |a|, the layer's scale).
time: the two plain predict calls against the two traced calls and the comparison, wall time
after a warm-up of each; pairs far below a millisecond are repeated, interleaved, for 20 ms, and
the line gives medians and the count (the report is the last repetition's comparison).
)";

namespace trace_detail {

// One side of the comparison, ready to run.
struct Side {
  std::unique_ptr<ModelBackend> own;
  ModelBackend* backend = nullptr;
  PredictCall call;
  const float* x = nullptr;
  std::size_t B = 0;
  std::size_t first_row = 0, rows = 0;  // the rows compared
  TraceSide info;
  std::vector<LayerStages> stages;
  std::vector<float> out;
};


}  // namespace trace_detail
using trace_detail::Side;

namespace {

const char* kind_name(TraceKind k) {
  switch (k) {
    case TraceKind::batch: return "batch";
    case TraceKind::runs: return "runs";
    case TraceKind::threads: return "threads";
    case TraceKind::variant: return "variant";
    case TraceKind::backend: return "backend";
    case TraceKind::dtype: return "dtype";
  }
  return "?";
}

// The warm-up call's number: predict's, one no compared call uses.
constexpr std::uint64_t kWarmupCall = std::uint64_t(1) << 40;

// Timing: repetitions of (plain pair, traced pair and comparison) until their time reaches the
// budget; one when a single repetition exceeds it.
constexpr double kTimingBudgetMs = 20;
constexpr std::size_t kMaxTimingReps = 1001;

void parse_compare(std::string_view v, TraceArgs& t) {
  const auto colon = v.find(':');
  const std::string_view kind = v.substr(0, colon);
  const std::string bad = "--compare: expected KIND:A,B with KIND batch, runs, threads, variant, backend or dtype, got '" +
                          std::string(v) + "'";
  if (colon == std::string_view::npos) throw UsageError(bad);
  const std::string_view sides = v.substr(colon + 1);
  const auto comma = sides.find(',');
  if (comma == std::string_view::npos || sides.find(',', comma + 1) != std::string_view::npos) throw UsageError(bad);
  t.a = std::string(sides.substr(0, comma));
  t.b = std::string(sides.substr(comma + 1));
  const std::string what = "--compare " + std::string(kind);
  if (kind == "batch") {
    t.kind = TraceKind::batch;
    for (const auto& s : {t.a, t.b}) {
      const auto n = parse_count(s, what);
      if (n < 1 || n > (1u << 20)) throw UsageError(what + ": batch sizes must be 1 to 2^20, got '" + s + "'");
    }
  } else if (kind == "runs") {
    t.kind = TraceKind::runs;
    for (const auto& s : {t.a, t.b})
      if (parse_count(s, what) >= kWarmupCall) throw UsageError(what + ": call numbers must be below 2^40");
  } else if (kind == "threads") {
    t.kind = TraceKind::threads;
    for (const auto& s : {t.a, t.b}) parse_threads(s, "--compare threads");
  } else if (kind == "variant") {
    t.kind = TraceKind::variant;
    for (const auto& s : {t.a, t.b})
      if (!parse_dense_variant(s))
        throw UsageError(what + ": unknown variant '" + s + "' (" + variant_names(kDenseVariants) + ")");
  } else if (kind == "dtype") {
    t.kind = TraceKind::dtype;
    for (const auto& s : {t.a, t.b})
      if (!parse_model_dtype(s)) throw UsageError(what + ": expected f32, bf16 or f16, got '" + s + "'");
    if (t.a == t.b) throw UsageError(what + ":" + t.a + "," + t.b + ": the two sides must differ in dtype");
  } else if (kind == "backend") {
    t.kind = TraceKind::backend;
    for (const auto& s : {t.a, t.b})
      if (s != "cpu" && s != "cuda") throw UsageError(what + ": expected cpu or cuda, got '" + s + "'");
  } else {
    throw UsageError(bad);
  }
}

}  // namespace

TraceArgs parse_trace_args(std::span<const std::string_view> argv) {
  TraceArgs t;
  ArgReader r(argv);
  bool batch_given = false, compare_given = false, row_given = false, variant_given = false;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") t.help = true;
    else if (parse_model_flag(f, r, t.model, batch_given)) continue;
    else if (f == "--compare") {
      parse_compare(r.value(), t);
      compare_given = true;
    } else if (f == "--variant") {
      t.variant = std::string(r.value());
      if (!parse_dense_variant(t.variant))
        throw UsageError("--variant: unknown variant '" + t.variant + "' (" + variant_names(kDenseVariants) + ")");
      variant_given = true;
    } else if (f == "--row") {
      t.row = parse_count(r.value(), "--row");
      row_given = true;
    } else if (f == "--json") t.json = parse_path(r.value(), "--json");
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab trace --help)");
  }
  if (t.help) return t;
  check_model_flags(t.model, batch_given);
  if (!compare_given) throw UsageError("--compare KIND:A,B is required (see driftlab trace --help)");
  if (row_given && t.kind != TraceKind::batch) throw UsageError("--row applies to --compare batch:A,B");
  if (t.kind == TraceKind::batch) {
    if (batch_given) throw UsageError("--batch and --compare batch:A,B cannot be used together (the sides set B)");
    if (t.row >= (1u << 20)) throw UsageError("--row: expected 0 to 2^20 - 1");
  }
  if (t.kind == TraceKind::variant && variant_given)
    throw UsageError("--variant and --compare variant:A,B cannot be used together (the sides set the variant)");
  if (t.kind == TraceKind::threads) {
    if (t.model.threads) throw UsageError("--threads and --compare threads:A,B cannot be used together");
    if (t.model.backend == "cuda") throw UsageError("--compare threads:A,B compares cpu thread counts; use --backend cpu");
  }
  if (t.kind == TraceKind::dtype && t.model.dtype != DType::f32)
    throw UsageError("--dtype and --compare dtype:A,B cannot be used together (the sides set the dtype)");
  if (t.kind == TraceKind::backend) {
    if (t.model.backend != "auto") throw UsageError("--backend and --compare backend:A,B cannot be used together");
    if (t.model.shuffle_seed && (t.a == "cuda" || t.b == "cuda"))
      throw UsageError("--schedule models a GPU scheduler on the cpu backend; it cannot apply to a cuda side");
  }
  return t;
}

// The element work is cpu::compare_bits (kernels/cpu/bit_compare.h: vectorized, the same result at
// every ISA level); here its integers become the row's numbers.
StageDiff compare_stage(std::span<const float> a, std::span<const float> b) {
  StageDiff d;
  d.elements = a.size();
  if (a.size() != b.size()) throw std::logic_error("trace: the two sides' stages differ in size");
  const std::size_t n = a.size();
  const cpu::BitCompare c = cpu::compare_bits(a.data(), b.data(), n);
  if (c.differ) d.first_index = c.first;
  d.max_ulp = c.one_nan ? kUnorderedUlp : c.max_ulp;
  d.frac_differ = n == 0 ? 0.0 : static_cast<double>(c.differ) / static_cast<double>(n);
  const double sa = std::bit_cast<float>(c.scale_a), sb = std::bit_cast<float>(c.scale_b);
  const double scale = sa > 0 ? sa : sb;
  const double max_abs = std::bit_cast<double>(c.max_diff_bits);
  d.max_rel_diff = c.max_diff_bits > 0x7ff0000000000000ull ? std::nan("") : (scale > 0 ? max_abs / scale : max_abs);
  return d;
}

namespace {

// The two sides' kept stages, layer by layer and stage by stage, into rep's rows, first divergence
// and final values (each cleared first: a trace compares once per timing repetition).
void compare_sides(const Side (&sides)[2], const std::vector<Layer>& layers, bool by_dtype, TraceReport& rep) {
  rep.rows.clear();
  rep.first.reset();
  // dtype:A,B: an f32 side has no round stage; its stored output (its last stage) stands in for
  // it (no copy: the same values), so every layer compares the values the next layer reads.
  auto stage_at = [&](const LayerStages& st, std::size_t k) -> const StageOutput& {
    return k < st.size() ? st[k] : st.back();
  };
  for (std::size_t li = 0; li < layers.size(); ++li) {
    const LayerStages& sa = sides[0].stages[li];
    const LayerStages& sb = sides[1].stages[li];
    const bool pad = by_dtype && !sa.empty() && !sb.empty() &&
                     (sa.back().stage == TraceStage::round) != (sb.back().stage == TraceStage::round);
    if (sa.size() != sb.size() && !pad) throw std::logic_error("trace: the two sides kept different stages");
    const std::size_t stages = std::max(sa.size(), sb.size());
    const std::size_t N = layers[li].N;
    for (std::size_t k = 0; k < stages; ++k) {
      const StageOutput& oa = stage_at(sa, k);
      const StageOutput& ob = stage_at(sb, k);
      const std::span<const float> va(oa.values.data() + sides[0].first_row * N, sides[0].rows * N);
      const std::span<const float> vb(ob.values.data() + sides[1].first_row * N, sides[1].rows * N);
      StageDiff d = compare_stage(va, vb);
      d.layer = li;
      d.stage = k + 1 == stages && pad ? TraceStage::round : oa.stage;
      if (d.first_index && !rep.first)
        rep.first = Divergence{li, d.stage, *d.first_index, N, va[*d.first_index], vb[*d.first_index]};
      rep.rows.push_back(d);
      if (li + 1 == layers.size() && k + 1 == stages) {
        rep.final_a.assign(va.begin(), va.end());
        rep.final_b.assign(vb.begin(), vb.end());
      }
    }
  }
}

}  // namespace

namespace {

// Refuses up front, in one line, a trace that cannot fit in memory: both sides keep every stage of
// every layer (up to four: matmul, bias_act, dropout, round) besides their activations, and each
// backend holds the weights packed (and widened, for 16-bit models) beside the model's own.
void check_trace_memory(const TraceArgs& t, const Model& model, std::size_t rows, std::size_t input_values) {
  double widths = 0, weights = 0, widest = static_cast<double>(model.inputs());
  for (const auto& l : model.layers) {
    widths += static_cast<double>(l.N);
    widest = std::max(widest, static_cast<double>(l.N));
    weights += static_cast<double>(l.K) * static_cast<double>(l.N);
  }
  const bool sixteen = t.kind == TraceKind::dtype || model.dtype != DType::f32;
  const double stages = 2 + (t.model.training && model.dropout > 0 ? 1 : 0) + (sixteen ? 1 : 0);
  double bytes = 4.0 * static_cast<double>(input_values) * (t.kind == TraceKind::dtype ? 3 : 1) + 4 * 4 * weights;
  for (const std::string& side : {t.a, t.b}) {
    const double B = static_cast<double>(t.kind == TraceKind::batch ? parse_count(side, "") : rows);
    bytes += B * widths * 4 * stages + B * widest * 4 * 3;
  }
  const double mem = static_cast<double>(physical_memory_bytes());
  if (mem > 0 && bytes > 0.7 * mem)
    throw UsageError("trace: model " + model.shape_text() + " with " +
                     (t.kind == TraceKind::batch ? "batches " + t.a + " and " + t.b : std::to_string(rows) + " rows") +
                     ": both sides' stages need about " + std::to_string(static_cast<std::uint64_t>(bytes / (1 << 20))) +
                     " MiB, more than this machine's memory allows (" +
                     std::to_string(static_cast<std::uint64_t>(mem / (1 << 20))) + " MiB)");
}

}  // namespace

// Everything a trace holds between its calls: the model (and its rounded copies), the input, the
// backends and the two sides.
struct TraceRun::State {
  Model model;
  Model models[2];
  bool by_dtype = false;
  std::vector<float> x, xs[2];
  std::unique_ptr<ModelBackend> shared;
  Side sides[2];
  TraceReport header;
};

TraceRun::~TraceRun() = default;

TraceRun::TraceRun(const TraceArgs& t) : st_(std::make_unique<State>()) {
  State& S = *st_;
  const PredictArgs& p = t.model;
  try {
    S.model = build_model(p, p.init_seed ? *p.init_seed : entropy_seed());
  } catch (const std::exception& e) {
    // A bf16 file ('<V2' records) is read only with --dtype bf16, which --compare dtype cannot take:
    // say what does work instead of advising a flag that is then refused.
    if (t.kind == TraceKind::dtype && std::string_view(e.what()).find("only with --dtype bf16") != std::string_view::npos)
      throw UsageError(std::string(e.what()) + "; --compare dtype:A,B starts from float32 weights and cannot take "
                       "--dtype: save the model as float32 (the bf16 values widen exactly), or trace the bf16 model "
                       "with --dtype bf16 and another --compare kind");
    throw;
  }
  const Model& model = S.model;
  // dtype:A,B: `model` is the float32 one (p.dtype is f32 there); each side gets it rounded to its
  // type, and the input likewise (models[s], xs[s]).
  Model (&models)[2] = S.models;
  S.by_dtype = t.kind == TraceKind::dtype;
  const bool by_dtype = S.by_dtype;
  if (by_dtype)
    for (int s = 0; s < 2; ++s) {
      models[s] = model;
      const DType d = *parse_model_dtype(s == 0 ? t.a : t.b);
      check_model_fits(models[s], d, "--compare dtype");
      round_model(models[s], d);
      if (d != DType::f32) models[s].origin += std::string("; rounded to ") + dtype_name(d) + " (round to nearest even)";
    }
  const std::uint64_t dropout_seed = p.dropout_seed ? *p.dropout_seed : entropy_seed();

  // The input: batch needs max(A, B, R + 1) rows; the other kinds run the whole input on both sides.
  std::size_t rows = 0;
  std::vector<float>& x = S.x;
  std::size_t need = 0;
  if (t.kind == TraceKind::batch) {
    need = std::max<std::size_t>({parse_count(t.a, ""), parse_count(t.b, ""), t.row + 1});
    PredictArgs q = p;
    if (!q.input) q.batch = need;
    x = build_input(q, model, rows);
    if (rows < need)
      throw UsageError("--input " + *p.input + ": has " + std::to_string(rows) + " rows; --compare batch:" + t.a + "," +
                       t.b + " with --row " + std::to_string(t.row) + " needs " + std::to_string(need));
  } else {
    x = build_input(p, model, rows);
  }
  const std::size_t K = model.inputs();
  std::vector<float> (&xs)[2] = S.xs;
  if (by_dtype)
    for (int s = 0; s < 2; ++s) {
      xs[s] = x;
      round_values(xs[s], models[s].dtype);
    }

  check_trace_memory(t, model, rows, x.size());
  Side (&sides)[2] = S.sides;
  const std::string names[2] = {t.a, t.b};
  std::unique_ptr<ModelBackend>& shared = S.shared;
  for (int s = 0; s < 2; ++s) {
    Side& side = sides[s];
    const std::string& v = names[s];
    // The backend: its own per side where the sides differ in it, else one shared.
    if (t.kind == TraceKind::threads) side.own = make_cpu_model_backend(static_cast<int>(parse_count(v, "")));
    else if (t.kind == TraceKind::backend)
      side.own = v == "cuda" ? make_cuda_model_backend() : make_cpu_model_backend(p.threads);
    else if (by_dtype) side.own = pick_backend(p);  // a backend holds one model: one per dtype
    else if (!shared) shared = pick_backend(p);
    side.backend = side.own ? side.own.get() : shared.get();
    const std::string variant = t.kind == TraceKind::variant ? v : t.variant;
    const DenseVariant dv = *parse_dense_variant(variant);
    if (!side.backend->has(dv))
      throw UsageError(unavailable(info(dv), side.backend->name()));
    const std::uint64_t call = t.kind == TraceKind::runs ? parse_count(v, "") : 0;
    side.call = PredictCall{dv, p.training, dropout_seed, call, p.split_k, std::nullopt};
    if (p.shuffle_seed && side.backend->name() == "cpu") side.call.schedule_seed = mix_seed(*p.shuffle_seed, call);
    if (t.kind == TraceKind::batch) {
      side.B = parse_count(v, "");
      const std::size_t start = t.row < side.B ? 0 : t.row + 1 - side.B;  // the batch holds row R
      side.x = x.data() + start * K;
      side.first_row = t.row - start;
      side.rows = 1;
    } else {
      side.B = rows;
      side.x = by_dtype ? xs[s].data() : x.data();
      side.first_row = 0;
      side.rows = rows;
    }
    std::ostringstream label;
    switch (t.kind) {
      case TraceKind::batch:
        label << "batch " << side.B << " (row " << t.row << " at position " << side.first_row << ")";
        break;
      case TraceKind::runs: label << "call " << call; break;
      case TraceKind::threads: label << (v == "0" ? std::string("every hardware thread") : v + " threads"); break;
      case TraceKind::variant: label << v; break;
      case TraceKind::backend: label << v; break;
      case TraceKind::dtype: label << v << (v == "f32" ? "" : " (float32 accumulation)"); break;
    }
    side.info.label = label.str();
    side.info.backend = side.backend->name();
    side.info.device = side.backend->device();
    side.info.variant = variant;
    side.info.batch = side.B;
    if (splits_k(dv))
      for (const auto& l : model.layers) side.info.slices.push_back(p.split_k ? p.split_k : dense::split_k(side.B, l.K, l.N));
  }
  if (by_dtype) {
    for (int s = 0; s < 2; ++s) sides[s].backend->set_model(models[s]);
  } else {
    for (auto* b : {sides[0].own.get(), sides[1].own.get(), shared.get()})
      if (b) b->set_model(model);
  }

  // Per side: a warm-up call (as predict makes one), plain and traced (the first traced call of a
  // process sizes every stage's buffer; that is not what tracing costs per call).
  for (Side& side : sides) {
    side.out.resize(side.B * model.outputs());
    PredictCall warm = side.call;
    warm.call = kWarmupCall;
    warm.schedule_seed.reset();
    side.backend->predict(warm, side.x, side.B, side.out.data());
    side.backend->predict_stages(warm, side.x, side.B, side.out.data(), side.stages);
  }

  TraceReport& rep = S.header;
  rep.model = model.shape_text();
  rep.origin = model.origin;
  rep.dtype = by_dtype ? t.a + " vs " + t.b : dtype_name(model.dtype);
  rep.compare = std::string(kind_name(t.kind)) + ":" + t.a + "," + t.b;
  rep.variant = t.kind == TraceKind::variant ? t.a + " vs " + t.b : t.variant;
  if (t.kind == TraceKind::batch) rep.row = t.row;
  rep.seeds = std::string("init ") + (p.init_seed ? std::to_string(*p.init_seed) : "unseeded") + ", dropout " +
              (p.dropout_seed ? std::to_string(*p.dropout_seed) : "unseeded") + ", input " +
              (p.input ? *p.input : std::to_string(p.seed)) +
              (p.shuffle_seed ? ", schedule shuffle:" + std::to_string(*p.shuffle_seed) : std::string());
  rep.a = sides[0].info;
  rep.b = sides[1].info;
}


void TraceRun::plain() {
  for (Side& side : st_->sides) side.backend->predict(side.call, side.x, side.B, side.out.data());
}

void TraceRun::traced(TraceReport& rep) {
  for (Side& side : st_->sides) side.backend->predict_stages(side.call, side.x, side.B, side.out.data(), side.stages);
  compare_sides(st_->sides, st_->model.layers, st_->by_dtype, rep);
}

const TraceReport& TraceRun::header() const { return st_->header; }

TraceReport run_trace(const TraceArgs& t) {
  if (t.json) check_output_path(*t.json, "--json");
  TraceRun run(t);
  TraceReport rep = run.header();
  // One repetition: the two plain calls predict makes, then the two traced calls and the
  // comparison, each pair timed.  Calls far shorter than a millisecond are repeated, interleaved,
  // and each pair's median taken (a single sub-microsecond call is mostly clock noise); the report
  // is the last repetition's comparison.
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  std::vector<double> plain_ms, traced_ms;
  double spent = 0;
  while (true) {
    auto t0 = Clock::now();
    run.plain();
    plain_ms.push_back(ms_since(t0));
    t0 = Clock::now();
    run.traced(rep);
    traced_ms.push_back(ms_since(t0));
    spent += plain_ms.back() + traced_ms.back();
    if (spent >= kTimingBudgetMs || plain_ms.size() >= kMaxTimingReps) break;
  }
  rep.predict_ms = median(plain_ms);
  rep.trace_ms = median(traced_ms);
  rep.timing_reps = plain_ms.size();
  return rep;
}

void print_trace_table(const TraceReport& r, std::ostream& out) {
  out << "driftlab trace: model " << r.model << " (" << r.origin << "), variant " << r.variant << ", compare "
      << r.compare << "\ndtype " << r.dtype << "; max_ulp in " << r.ulp_unit
      << " ULPs (16-bit values compared widened to float32)\nseeds: " << r.seeds << "\n";
  for (const TraceSide* s : {&r.a, &r.b})
    out << (s == &r.a ? "A: " : "B: ") << s->label << ", " << s->variant << " on " << s->backend << " (" << s->device
        << ")" << (s->slices.empty() ? std::string() : ", split-K slices per layer " + join(s->slices, "/")) << "\n";
  out << "\n"
      << std::left << std::setw(7) << "layer" << std::setw(10) << "stage" << std::right << std::setw(10) << "elements"
      << std::setw(12) << "max_ulp" << std::setw(13) << "frac_differ" << std::setw(14) << "max_rel_diff" << "\n";
  for (const StageDiff& d : r.rows)
    out << std::left << std::setw(7) << d.layer << std::setw(10) << stage_name(d.stage) << std::right << std::setw(10)
        << d.elements << std::setw(12) << ulp_text(d.max_ulp) << std::setw(13) << sig(d.frac_differ, 3) << std::setw(14)
        << sig(d.max_rel_diff, 3) << "\n";
  out << "\n";
  if (!r.first) {
    out << "first divergence: none -- every stage of every layer has the same bits in A and B\n";
  } else {
    const Divergence& f = *r.first;
    out << "first divergence: layer " << f.layer << ", stage " << stage_name(f.stage) << ", index " << f.index
        << " (row " << (r.row ? *r.row : f.index / f.width) << ", column " << f.index % f.width << "): A = "
        << round_trip(f.a) << " (" << hex_bits(std::bit_cast<std::uint32_t>(f.a), 4) << "), B = " << round_trip(f.b)
        << " (" << hex_bits(std::bit_cast<std::uint32_t>(f.b), 4) << "), " << ulp_text(ulp_distance(f.a, f.b))
        << " ulp\n";
  }
  out << "time" << (r.timing_reps > 1 ? " (medians of " + std::to_string(r.timing_reps) + " interleaved repetitions)" : std::string())
      << ": the two plain predict calls " << sig(r.predict_ms, 3) << " ms; the two traced calls and the comparison "
      << sig(r.trace_ms, 3) << " ms (" << sig(r.predict_ms > 0 ? r.trace_ms / r.predict_ms : 0, 3) << "x)\n";
}

void write_trace_json(const TraceReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object()
      .field("command", "trace")
      .field("model", r.model)
      .field("origin", r.origin)
      .field("compare", r.compare)
      .field("variant", r.variant)
      .field("dtype", r.dtype)
      .field("ulp_unit", r.ulp_unit)
      .field("seeds", r.seeds);
  j.key("row");
  r.row ? j.value(static_cast<std::uint64_t>(*r.row)) : j.null();
  for (const TraceSide* s : {&r.a, &r.b}) {
    j.key(s == &r.a ? "a" : "b")
        .begin_object()
        .field("label", s->label)
        .field("backend", s->backend)
        .field("device", s->device)
        .field("variant", s->variant)
        .field("batch", static_cast<std::uint64_t>(s->batch))
        .field("slices", s->slices.empty() ? std::string("-") : join(s->slices, "/"))
        .end_object();
  }
  j.key("rows").begin_array();
  for (const StageDiff& d : r.rows) {
    j.begin_object()
        .field("layer", static_cast<std::uint64_t>(d.layer))
        .field("stage", stage_name(d.stage))
        .field("elements", static_cast<std::uint64_t>(d.elements))
        .key("max_ulp");
    j.value_or_null(d.max_ulp, kUnorderedUlp);
    j.field("frac_differ", d.frac_differ).field("max_rel_diff", d.max_rel_diff).end_object();
  }
  j.end_array().key("first_divergence");
  if (!r.first) {
    j.null();
  } else {
    const Divergence& f = *r.first;
    j.begin_object()
        .field("layer", static_cast<std::uint64_t>(f.layer))
        .field("stage", stage_name(f.stage))
        .field("index", static_cast<std::uint64_t>(f.index))
        .field("a", round_trip(f.a))
        .field("b", round_trip(f.b))
        .field("a_bits", hex_bits(std::bit_cast<std::uint32_t>(f.a), 4))
        .field("b_bits", hex_bits(std::bit_cast<std::uint32_t>(f.b), 4))
        .end_object();
  }
  j.field("predict_ms", r.predict_ms)
      .field("trace_ms", r.trace_ms)
      .field("timing_reps", static_cast<std::uint64_t>(r.timing_reps))
      .end_object();
}

int trace_main(std::span<const std::string_view> args, std::ostream& out) {
  const TraceArgs t = parse_trace_args(args);
  if (t.help) {
    out << kTraceHelp;
    return 0;
  }
  const TraceReport rep = run_trace(t);
  print_trace_table(rep, out);
  if (t.json) write_json_file(*t.json, [&](std::ostream& f) { write_trace_json(rep, f); });
  return 0;
}

}  // namespace driftlab
