#include "scenarios.h"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "cli_args.h"
#include "gpu.h"
#include "json.h"
#include "predict_command.h"

namespace driftlab {

const char* const kScenariosHelp = R"(usage: driftlab scenarios [--backend cpu|cuda|auto] [--threads T] [--quick] [--json FILE]

Reproduces the article's Examples 1-3 and its other claims about why tf.keras predict varies,
each run for real -- calls within one process and separate child processes -- and prints the
claim, what was run, the measured numbers and a verdict computed from them.
)";

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::holds: return "holds";
    case Verdict::holds_only_when: return "holds only when";
    case Verdict::does_not_hold: return "does not hold";
  }
  return "?";
}

namespace {
std::string n(std::size_t v) { return std::to_string(v); }
}  // namespace

VerdictText verdict_dropout_varies(std::size_t distinct_calls) {
  if (distinct_calls > 1) return {Verdict::holds, "holds: every call drew a new dropout mask"};
  return {Verdict::does_not_hold, "does not hold: repeated calls gave identical bits"};
}

VerdictText verdict_fixed_seed(std::size_t within, std::size_t across) {
  if (within == 1 && across == 1) return {Verdict::holds, "holds, within a process and across processes"};
  if (within > 1 && across == 1)
    return {Verdict::holds_only_when,
            "holds only across processes (each process repeats the same sequence); calls within a process still "
            "differ, since each call draws the next mask"};
  if (within == 1) return {Verdict::holds_only_when, "holds only within a process"};
  return {Verdict::does_not_hold, "does not hold: outputs differ within and across processes"};
}

VerdictText verdict_inference(std::size_t deterministic, std::size_t atomic) {
  if (deterministic == 1 && atomic == 1) return {Verdict::holds, "holds: identical bits with every kernel measured"};
  if (deterministic == 1)
    return {Verdict::holds_only_when, "holds only when the kernels are deterministic: atomic kernels gave " + n(atomic) +
                                          " distinct outputs"};
  return {Verdict::does_not_hold, "does not hold: even deterministic kernels gave " + n(deterministic) + " outputs"};
}

VerdictText verdict_init(std::size_t unseeded, std::size_t seeded) {
  if (unseeded > 1 && seeded == 1) return {Verdict::holds, "holds: every unseeded process drew other weights"};
  if (unseeded > 1) return {Verdict::does_not_hold, "does not hold: seeded processes differ too"};
  return {Verdict::does_not_hold, "does not hold: unseeded processes agreed"};
}

VerdictText verdict_reduction_drift(std::uint64_t max_ulp, std::size_t flips, double max_abs_diff) {
  std::ostringstream s;
  s << std::setprecision(2) << max_abs_diff;
  if (max_ulp == 0) return {Verdict::does_not_hold, "does not hold here: no drift at all was measured"};
  if (flips == 0)
    return {Verdict::holds, "holds: drift of up to " + std::to_string(max_ulp) + " ULP (|diff| up to " + s.str() +
                                "), no prediction (argmax) changed"};
  return {Verdict::holds_only_when, "holds only for the values: the drift (up to " + std::to_string(max_ulp) +
                                        " ULP) changed " + n(flips) + " predictions (argmax)"};
}

VerdictText verdict_batch(std::size_t splitk, std::size_t invariant) {
  if (splitk > 1 && invariant == 1)
    return {Verdict::holds, "holds: split-K changed row 0's bits across batch sizes; invariant did not"};
  if (invariant > 1) return {Verdict::does_not_hold, "does not hold: the invariant kernel changed bits too"};
  return {Verdict::does_not_hold, "does not hold here: split-K gave the same bits at every batch size"};
}

namespace {

PredictRow only_row(const PredictReport& r, DenseVariant v) {
  for (const auto& row : r.rows)
    if (row.variant == v) return row;
  throw std::runtime_error(std::string("scenario: no row for ") + info(v).name);
}

struct Runner {
  ScenarioOptions o;
  std::ostream* progress;

  PredictArgs base() const {
    PredictArgs a;
    a.backend = o.backend;
    a.threads = o.threads;
    return a;
  }
  PredictReport predict(PredictArgs a, const std::string& what) const {
    if (progress) *progress << "  running: " << what << "\n" << std::flush;
    return run_predict(a);
  }
};

std::string ran_text(const PredictArgs& a, const PredictReport& r) {
  std::ostringstream s;
  s << r.model << ", batch " << r.batch << ", " << (a.training ? "training=True" : "training=False") << ", "
    << a.runs << " calls x " << a.processes << (a.processes > 1 ? " processes" : " process") << ", " << r.backend;
  return s.str();
}

}  // namespace

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress) {
  const Runner run{o, progress};
  const std::size_t calls = o.quick ? 4 : 10, procs = o.quick ? 3 : 4;
  std::vector<ScenarioResult> out;
  auto add = [&](ScenarioResult r, const VerdictText& v) {
    r.verdict = v.verdict;
    r.verdict_text = v.text;
    out.push_back(std::move(r));
  };

  {  // 1. Example 1: dropout left on at predict time, no seed.
    PredictArgs a = run.base();
    a.training = true;
    a.runs = calls;
    a.variant = "invariant";
    const auto rep = run.predict(a, "Example 1: dropout active, unseeded");
    const auto row = only_row(rep, DenseVariant::invariant);
    ScenarioResult r{1, "\"if training=True ... dropout masks will still be applied ... with a different random mask each time\"",
                     ran_text(a, rep) + ", invariant kernels (so only dropout can vary)",
                     n(row.drift.distinct_outputs) + " distinct outputs of " + n(row.drift.runs) + " calls; argmax changed in " +
                         n(row.drift.argmax_flips) + " of " + n(rep.batch) + " rows",
                     {}, "", {{"distinct_outputs", double(row.drift.distinct_outputs)}, {"argmax_flips", double(row.drift.argmax_flips)}}};
    add(r, verdict_dropout_varies(row.drift.distinct_outputs));
  }
  {  // 2. Example 2: tf.random.set_seed(42) -- a fixed seed, still training=True.
    PredictArgs a = run.base();
    a.training = true;
    a.dropout_seed = 42;
    a.init_seed = 42;
    a.variant = "invariant";
    a.runs = calls;
    const auto within = only_row(run.predict(a, "Example 2: seeded, calls within a process"), DenseVariant::invariant);
    a.runs = 1;
    a.processes = procs;
    const auto rep = run.predict(a, "Example 2: seeded, first call of separate processes");
    const auto across = only_row(rep, DenseVariant::invariant);
    ScenarioResult r{2, "\"Setting a global random seed ... the predictions now remain constant across multiple calls\"",
                     rep.model + ", training=True, dropout and init seeded (42): " + n(calls) + " calls in one process; call 0 in " +
                         n(procs) + " processes",
                     "within a process: " + n(within.drift.distinct_outputs) + " distinct outputs of " + n(calls) +
                         " calls; across processes: " + n(across.drift.distinct_outputs) + " distinct of " + n(procs),
                     {}, "", {{"distinct_within_process", double(within.drift.distinct_outputs)},
                              {"distinct_across_processes", double(across.drift.distinct_outputs)}}};
    add(r, verdict_fixed_seed(within.drift.distinct_outputs, across.drift.distinct_outputs));
  }
  {  // 3. Example 3: training=False, no seed at all.
    PredictArgs a = run.base();
    a.runs = calls;
    a.layers = o.wide;  // big enough for split-K atomics to have partials to race
    a.batch = 16;
    a.variant = "all";
    const auto rep = run.predict(a, "Example 3: inference, unseeded, every kernel");
    std::size_t det = 1;
    for (const auto v : {DenseVariant::tree, DenseVariant::invariant})
      det = std::max(det, only_row(rep, v).drift.distinct_outputs);
    const auto atomic = only_row(rep, DenseVariant::atomic);
    std::size_t atomic_distinct = atomic.drift.distinct_outputs;
    std::string measured = "tree and invariant: " + n(det) + " distinct output(s) of " + n(calls) + "; atomic: " +
                           n(atomic.drift.distinct_outputs) + " (" + rep.atomic_note.substr(0, rep.atomic_note.find(" --")) + ")";
    if (rep.backend == "cpu") {  // CPU atomics rarely race on 2 cores: also run the scheduler model
      a.variant = "atomic";
      a.shuffle_seed = 1;
      const auto model = only_row(run.predict(a, "Example 3: atomic kernels under the seeded scheduler model"),
                                  DenseVariant::atomic);
      measured += "; atomic under the seeded GPU-scheduler MODEL: " + n(model.drift.distinct_outputs) + " distinct, up to " +
                  std::to_string(model.drift.max_ulp) + " ULP";
      atomic_distinct = std::max(atomic_distinct, model.drift.distinct_outputs);
    }
    ScenarioResult r{3, "\"When training=False is explicitly set ... You should expect deterministic results ... even if no seed is specified\"",
                     ran_text(a, rep) + ", variants atomic, tree, invariant", measured, {}, "",
                     {{"distinct_deterministic", double(det)}, {"distinct_atomic", double(atomic_distinct)}}};
    add(r, verdict_inference(det, atomic_distinct));
  }
  {  // 4. Unseeded weight initialisation across processes.
    PredictArgs a = run.base();
    a.runs = 1;
    a.processes = procs;
    a.variant = "invariant";
    const auto unseeded = only_row(run.predict(a, "weights from unseeded init, separate processes"), DenseVariant::invariant);
    a.init_seed = 7;
    const auto rep = run.predict(a, "weights from seeded init, separate processes");
    const auto seeded = only_row(rep, DenseVariant::invariant);
    ScenarioResult r{4, "\"If users are re-building a model and re-initializing the weights ... such variations in starting points will have an impact\"",
                     rep.model + ", training=False, " + n(procs) + " processes, init unseeded vs --init-seed 7",
                     "unseeded: " + n(unseeded.drift.distinct_outputs) + " distinct outputs of " + n(procs) + " processes (argmax changed in " +
                         n(unseeded.drift.argmax_flips) + " row); seeded: " + n(seeded.drift.distinct_outputs),
                     {}, "", {{"distinct_unseeded", double(unseeded.drift.distinct_outputs)},
                              {"distinct_seeded", double(seeded.drift.distinct_outputs)}}};
    add(r, verdict_init(unseeded.drift.distinct_outputs, seeded.drift.distinct_outputs));
  }
  {  // 5. Parallel reductions: how small is the drift, and does it flip predictions?
    PredictArgs a = run.base();
    a.runs = calls;
    a.layers = o.wide;
    a.batch = 64;
    a.init_seed = 3;
    a.variant = "atomic";
    const bool cpu = !(o.backend == "cuda" || (o.backend == "auto" && gpu_status().usable));
    if (cpu) a.shuffle_seed = 5;  // the seeded scheduler model: real 2-core races are rare
    const auto rep = run.predict(a, "parallel reductions: atomic split-K, wide model");
    const auto row = only_row(rep, DenseVariant::atomic);
    ScenarioResult r{5, "\"operations like summation ... can sometimes produce very slightly different output values in concurrent calculations\"",
                     ran_text(a, rep) + ", atomic split-K" + (cpu ? " under the seeded GPU-scheduler MODEL" : ""),
                     n(row.drift.distinct_outputs) + " distinct outputs; max " + std::to_string(row.drift.max_ulp) + " ULP, max |diff| " +
                         [&] { std::ostringstream s; s << std::setprecision(2) << row.drift.max_abs_diff; return s.str(); }() +
                         "; argmax changed in " + n(row.drift.argmax_flips) + " of " + n(rep.batch) + " rows",
                     {}, "", {{"distinct_outputs", double(row.drift.distinct_outputs)}, {"max_ulp", double(row.drift.max_ulp)},
                              {"max_abs_diff", row.drift.max_abs_diff}, {"argmax_flips", double(row.drift.argmax_flips)}}};
    add(r, verdict_reduction_drift(row.drift.max_ulp, row.drift.argmax_flips, row.drift.max_abs_diff));
  }
  {  // 6. Batch size: the same row in batches of different sizes.
    PredictArgs a = run.base();
    a.runs = 1;
    a.layers = o.wide;
    a.init_seed = 3;
    a.batch_sweep = {1, 7, 64, 513};
    a.variant = "all";
    const auto rep = run.predict(a, "row 0 inside batches of 1, 7, 64, 513");
    std::size_t splitk = 1;
    std::string per;
    for (const auto& row : rep.rows) {
      per += (per.empty() ? "" : ", ") + std::string(info(row.variant).name) + " " + n(*row.batch_distinct) + " (" +
             std::to_string(*row.batch_max_ulp) + " ULP)";
      if (row.variant != DenseVariant::invariant) splitk = std::max(splitk, *row.batch_distinct);
    }
    const auto inv = only_row(rep, DenseVariant::invariant);
    ScenarioResult r{6, "(not in the article) the batch a row is predicted in changes its bits",
                     rep.model + ", row 0 in batches of 1, 7, 64, 513, " + rep.backend,
                     "distinct row-0 outputs across batch sizes: " + per, {}, "",
                     {{"splitk_batch_distinct", double(splitk)}, {"invariant_batch_distinct", double(*inv.batch_distinct)}}};
    add(r, verdict_batch(splitk, *inv.batch_distinct));
  }
  return out;
}

void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out) {
  out << "driftlab scenarios: the article's claims, run for real\n\n";
  out << std::left << std::setw(3) << "#" << std::setw(18) << "verdict" << "claim\n";
  for (const auto& r : rs) {
    std::string v = verdict_name(r.verdict);
    for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out << std::left << std::setw(3) << r.id << std::setw(18) << v << r.claim << "\n"
        << std::setw(21) << "" << "ran:      " << r.ran << "\n"
        << std::setw(21) << "" << "measured: " << r.measured << "\n"
        << std::setw(21) << "" << "verdict:  " << r.verdict_text << "\n\n";
  }
}

void write_scenarios_json(const std::vector<ScenarioResult>& rs, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "scenarios").key("rows").begin_array();
  for (const auto& r : rs) {
    j.begin_object()
        .field("id", r.id)
        .field("claim", r.claim)
        .field("ran", r.ran)
        .field("measured", r.measured)
        .field("verdict", verdict_name(r.verdict))
        .field("verdict_text", r.verdict_text)
        .key("numbers")
        .begin_object();
    for (const auto& [k, v] : r.numbers) j.field(k, v);
    j.end_object().end_object();
  }
  j.end_array().end_object();
}

int scenarios_main(std::span<const std::string_view> args, std::ostream& out) {
  ScenarioOptions o;
  std::optional<std::string> json;
  ArgReader r(args);
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      out << kScenariosHelp;
      return 0;
    } else if (f == "--backend") {
      o.backend = parse_backend(r.value());
    } else if (f == "--threads") {
      o.threads = parse_threads(r.value());
    } else if (f == "--quick") {
      if (!r.bool_value()) continue;
      o.quick = true;
      o.wide = {256, 1024, 1024, 10};
    } else if (f == "--json") {
      json = std::string(r.value());
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab scenarios --help)");
    }
  }
  if (json) check_output_path(*json, "--json");  // before the work, not after it
  const auto rs = run_scenarios(o, &out);
  out << "\n";
  print_scenarios(rs, out);
  if (json) write_json_file(*json, [&](std::ostream& f) { write_scenarios_json(rs, f); });
  return 0;
}

}  // namespace driftlab
