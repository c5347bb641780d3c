// `driftlab trace`: the two sides built from the model flags, run plain and traced, every stage
// compared, timed.  Flags: trace_args.cpp; the table and JSON: trace_output.cpp.
#include "host/commands/trace_command.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <sstream>

#include "host/io/atomic_file.h"
#include "host/backends/backend.h"
#include "host/common/cli_args.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/bit_compare.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"
#include "host/commands/variants_command.h"

namespace driftlab {

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

// Timing: repetitions of (plain pair, traced pair and comparison) until their time reaches the
// budget; one when a single repetition exceeds it.
constexpr double kTimingBudgetMs = 20;
constexpr std::size_t kMaxTimingReps = 1001;

}  // namespace

// The element work is cpu::compare_bits (kernels/cpu/bit_compare.h: vectorized, the same result at
// every ISA level); here its integers become the row's numbers.
StageDiff compare_stage(std::span<const float> a, std::span<const float> b) {
  StageDiff d;
  d.elements = a.size();
  if (a.size() != b.size()) throw std::logic_error("trace: the two sides' stages differ in size");
  const std::size_t n = a.size();
  const cpu::BitCompare c = cpu::compare_bits(a.data(), b.data(), n);
  if (c.differ) d.first_index = c.first;
  d.differ = c.differ;
  d.sign_changes = c.sign_changes;
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
