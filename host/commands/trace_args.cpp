// `driftlab trace`'s flags: the help, --compare KIND:A,B and the model flags it shares with predict.
#include <string>
#include <vector>

#include "host/common/cli_args.h"
#include "kernels/common/dense_variant.h"
#include "host/io/data.h"
#include "host/commands/trace_command.h"
#include "host/commands/variants_command.h"

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
  --help; --weights sets the layer sizes, not with --layers).  Without --init-seed or --dropout-seed one random seed is drawn and both sides use it.

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

namespace {

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
  std::vector<DenseVariant> sides;  // the variants the two sides run
  if (t.kind == TraceKind::variant) sides = {*parse_dense_variant(t.a), *parse_dense_variant(t.b)};
  else sides = {*parse_dense_variant(t.variant)};
  check_dense_variant_flags(t.model, sides, t.kind != TraceKind::variant && !variant_given ? "trace's default" : "");
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

}  // namespace driftlab
