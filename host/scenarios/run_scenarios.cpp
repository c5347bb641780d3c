// The scenarios' runs: each row group runs driftlab's predict (and attention) as the claim needs,
// and the row's verdict is computed from its counts by the rule the claim names.  Over 500 lines
// on purpose: one table of row groups that share counts (Example 1's runs serve three rows), read
// top to bottom in the order the rows are printed.
#include "host/scenarios/scenarios.h"
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "host/scenarios/allreduce_scenario.h"
#include "host/scenarios/tp_scenario.h"
#include "host/scenarios/attention_scenario.h"
#include "host/common/cli_args.h"
#include "host/common/temp_folder.h"
#include "host/backends/gpu.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/io/npy.h"
#include "host/io/npz.h"
#include "host/commands/predict_command.h"

namespace driftlab {

namespace {
std::string n(std::size_t v) { return std::to_string(v); }
std::string rel(double ppb) {  // a relative difference given in parts per billion, 2 digits
  std::ostringstream s;
  s << std::setprecision(2) << ppb * 1e-9;
  return s.str();
}
}  // namespace

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
  // The article's model (10-20-10, dropout 0.5) on the invariant kernel, so only dropout and the
  // weights can vary; seeds as driftlab's model of Keras places them.
  PredictArgs small(KerasSeeding s, std::uint64_t seed) const {
    PredictArgs a = base();
    a.variant = "invariant";
    const ModelSeeds m = keras_model_seeds(s, seed);
    a.init_seed = m.init;
    a.dropout_seed = m.dropout;
    return a;
  }
  std::size_t distinct(PredictArgs a, const std::string& what) const {
    return only_row(predict(a, what), DenseVariant::invariant).drift.distinct_outputs;
  }
  PredictReport predict(PredictArgs a, const std::string& what) const {
    if (progress) *progress << "  running: " << what << "\n" << std::flush;
    return run_predict(a);
  }
};

std::string g2(double v) {
  std::ostringstream s;
  s << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

namespace {

// Reads the .npy files a --save-output run wrote (one per variant) and removes them.
std::vector<float> take_npy(const std::string& path) {
  HostArray h = npy::read(path);
  std::filesystem::remove(path);
  return h.f32;
}

}  // namespace

namespace {
// One call's output of a single variant (save_output), read back and removed.
std::vector<float> one_output(const Runner& run, PredictArgs a, const std::filesystem::path& tmp, const std::string& name,
                              const std::string& what) {
  a.runs = 1;
  a.processes = 1;
  a.save_output = (tmp / (name + ".npy")).string();
  run.predict(a, what);
  return take_npy(*a.save_output);
}
// (argmax flips, max |difference| relative to max |ref|, in parts per billion, rounded up).
std::pair<std::size_t, std::size_t> effect(const std::vector<float>& ref, const std::vector<float>& other, std::size_t B,
                                           double max_abs_diff_override = -1) {
  const OutputDrift d = output_drift({ref, other}, B, ref.size() / B);
  double scale = 0;
  for (const float v : ref) scale = std::max(scale, std::abs(double(v)));
  const double diff = max_abs_diff_override >= 0 ? max_abs_diff_override : d.max_abs_diff;
  return {d.argmax_flips, static_cast<std::size_t>(std::ceil(diff / (scale > 0 ? scale : 1) * 1e9))};
}
}  // namespace

namespace {

// The state the row groups share: the options, the run sizes, a temporary folder, the rows so far
// and the counts one group measures for the next (Example 1's runs serve Example 3's first row
// and the Conclusion's; the restored row's rebuilds serve the init row).
struct Scenarios {
  const ScenarioOptions& o;
  std::ostream* progress;
  Runner run{o, progress};
  std::size_t calls = o.quick ? 4 : 10, procs = o.quick ? 3 : 4;
  std::string wide = "the " + join(o.wide, "-") + " model";
  bool cpu_backend = o.backend == "cpu" || (o.backend == "auto" && !gpu_status().usable);
  std::filesystem::path tmp{};
  std::vector<ScenarioResult> out{};
  std::size_t as_written = 0, training_true = 0;  // Example 1
  std::size_t unseeded = 0;                       // the restored row's rebuilds

  // A row: its claim, source and rule from scenario_claims(), its verdict from the rule on its
  // counts.  `context` names the model in the verdict's words (default: the wide model).
  void add(ScenarioResult r, const std::string& context = "") {
    const auto& cs = scenario_claims();
    const auto c = std::find_if(cs.begin(), cs.end(), [&](const ScenarioClaim& x) { return x.key == r.key; });
    if (c == cs.end()) throw std::logic_error("scenario " + r.key + " has no claim");
    r.source = c->source;
    r.claim = c->claim;
    r.rule = c->rule;
    std::map<std::string, double> counts(r.numbers.begin(), r.numbers.end());
    const VerdictText v = verdict_by_rule(r.rule, counts, context.empty() ? wide : context);
    r.id = static_cast<int>(out.size()) + 1;
    r.verdict = v.verdict;
    r.verdict_text = v.text;
    out.push_back(std::move(r));
  }

  // Example 1 as written: model(input_data) with no training argument runs in inference mode in
  // Keras; model.predict does too.  driftlab's predict without --training is that mode.
  void example1() {
    PredictArgs a = run.small(KerasSeeding::none, 0);
    a.runs = 4 * calls;
    as_written = run.distinct(a, "Example 1 as written (inference mode), unseeded");
    a.training = true;
    a.runs = calls;
    training_true = run.distinct(a, "Example 1 with training=True, unseeded");
    add({.key = "example1",
         .ran = "the article's 10-20-10 model, dropout 0.5, no seed: " + n(4 * calls) +
                  " calls as written (no training argument = inference mode), " + n(calls) +
                  " calls with training=True, invariant kernel, real runs",
         .measured = "as written: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " + n(training_true) +
                  " of " + n(calls),
         .numbers = {{"as_written", double(as_written)}, {"training_true", double(training_true)}}});
    add({.key = "predict_dropout",
         .ran = "the as-written runs above: driftlab's model of Keras 3's model.predict is inference mode (it has no training "
                  "argument: keras_check.py measures the TypeError)",
         .measured = "model.predict (inference mode): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls",
         .numbers = {{"predict", double(as_written)}}});
    add({.key = "remnant_dropout",
         .ran = "nothing: driftlab's model has no dropout code on the training=False path, so it cannot keep dropout there; "
                  "only real TensorFlow can answer this (scripts/keras_check.py, then --keras)",
         .measured = "not measurable in driftlab's model (its " + n(4 * calls) + " training=False calls above gave " + n(as_written) +
                  " distinct output(s), by construction)",
         .numbers = {{"distinct", 0.0}}});
  }

  // Example 2, within a process and across fresh processes, for the article's two seeds and for
  // keras.utils.set_random_seed.
  void example2() {
    for (const auto& [seeding, key, what] :
         {std::tuple{KerasSeeding::tf_and_numpy, "article", "tf.random.set_seed(42); np.random.seed(42)"},
          std::tuple{KerasSeeding::set_random_seed, "keras_seed", "keras.utils.set_random_seed(42)"}}) {
      const ModelSeeds ms = keras_model_seeds(seeding, 42);
      const std::string seeds_text = std::string(what) + " -> driftlab init seed " +
                                     (ms.init ? std::to_string(*ms.init) : "fresh") + ", dropout seed " +
                                     (ms.dropout ? std::to_string(*ms.dropout) : "fresh");
      PredictArgs a = run.small(seeding, 42);
      a.runs = calls;
      const std::size_t w_as = run.distinct(a, std::string("Example 2 within a process, ") + what);
      a.training = true;
      const std::size_t w_tr = run.distinct(a, std::string("Example 2 within a process, training=True, ") + what);
      add({.key = std::string("example2_within_") + key,
           .ran = seeds_text + "; " + n(calls) + " calls as written and " + n(calls) + " with training=True, one process",
           .measured = "as written: " + n(w_as) + " distinct of " + n(calls) + "; training=True: " + n(w_tr) + " of " + n(calls),
           .numbers = {{"as_written", double(w_as)}, {"training_true", double(w_tr)}}});
      a.runs = 1;
      a.processes = procs;
      a.training = false;
      const std::size_t x_as = run.distinct(a, std::string("Example 2 across processes, ") + what);
      if (seeding == KerasSeeding::tf_and_numpy) {
        // np.random.seed fixes the NumPy input (driftlab: the input's --seed, fixed); the weights'
        // seeds come from where driftlab's model of Keras 3 places them (fresh).
        PredictArgs in = run.small(KerasSeeding::set_random_seed, 42);  // weights fixed: only the input can differ
        in.runs = 1;
        in.processes = procs;
        const std::size_t inputs = run.distinct(in, "Example 2: the NumPy input across processes (weights fixed)");
        add({.key = "example2_outside_graph",
             .ran = seeds_text + "; " + n(procs) + " fresh processes: the input (NumPy's, seeded) with the weights fixed, then "
                      "the weights as the article's seeds leave them",
             .measured = "input: " + n(inputs) + " distinct output(s) of " + n(procs) + " processes; weights: " + n(x_as) + " of " +
                      n(procs),
             .numbers = {{"input", double(inputs)}, {"weights", double(x_as)}}});
      }
      a.training = true;
      const std::size_t x_tr = run.distinct(a, std::string("Example 2 across processes, training=True, ") + what);
      add({.key = std::string("example2_across_") + key,
           .ran = seeds_text + "; the first call in " + n(procs) + " fresh processes, as written and with training=True",
           .measured = "as written: " + n(x_as) + " distinct of " + n(procs) + " processes; training=True: " + n(x_tr) + " of " + n(procs),
           .numbers = {{"as_written", double(x_as)}, {"training_true", double(x_tr)}}});
    }
  }

  // Example 3 as written (the article's model, training=False, no seed) on the fixed-order
  // kernels; then the atomic kernels on the wide model, where split-K partials can race.
  void example3() {
    PredictArgs a = run.base();
    a.runs = 4 * calls;
    a.variant = "all";
    const auto rep = run.predict(a, "Example 3 as written: the article's model, training=False, unseeded, every kernel");
    std::size_t det = 1;
    for (const auto v : {DenseVariant::tree, DenseVariant::invariant})
      det = std::max(det, only_row(rep, v).drift.distinct_outputs);
    const std::size_t small_atomic = only_row(rep, DenseVariant::atomic).drift.distinct_outputs;
    add({.key = "example3_disables",
         .ran = "the Example 1 runs: the article's 10-20-10 model, dropout 0.5, no seed, " + n(4 * calls) +
                  " calls with training=False and " + n(calls) + " with training=True, real runs",
         .measured = "training=False: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " +
                  n(training_true) + " of " + n(calls),
         .numbers = {{"training_false", double(as_written)}, {"training_true", double(training_true)}}});
    PredictArgs w = run.base();
    w.runs = calls;
    w.layers = o.wide;  // big enough for split-K atomics to have partials to race
    w.batch = 16;
    w.init_seed = 3;  // seeded, so that the scheduler model's count is the same every run
    w.variant = "atomic";
    const auto wrep = run.predict(w, "Example 3 on the wide model: atomic kernels, real runs");
    const PredictRow real = only_row(wrep, DenseVariant::atomic);
    std::string measured = "the article's model, " + n(4 * calls) + " calls each: tree and invariant " + n(det) +
                           " distinct output(s), atomic " + n(small_atomic) + " (real runs); " + wide +
                           ", batch 16, atomic: " + n(real.drift.distinct_outputs) + " distinct of " + n(calls) +
                           " calls in real runs (" + wrep.atomic_note.substr(0, wrep.atomic_note.find(" --")) + ")";
    std::size_t model_distinct = 0;
    if (cpu_backend) {  // CPU atomics rarely race on 2 cores, and not the same way twice: the seeded model counts
      w.shuffle_seed = 1;
      const auto m = only_row(run.predict(w, "Example 3: atomic kernels under the seeded scheduler model"), DenseVariant::atomic);
      model_distinct = m.drift.distinct_outputs;
      measured += "; under the seeded GPU-scheduler MODEL: " + n(model_distinct) + " distinct, up to " +
                  std::to_string(m.drift.max_ulp) + " ULP (the verdict counts the model: real 2-core races depend on timing)";
    } else {
      model_distinct = real.drift.distinct_outputs;  // a GPU's atomics: the real runs are the count
    }
    add({.key = "example3",
         .ran = "the article's model as written (10-20-10, training=False, no seed, " + n(4 * calls) + " calls, tree, invariant, "
                  "atomic, " + rep.backend + "); " + wide + " (init seed 3), batch 16, " + n(calls) + " calls, atomic kernels" +
                  (cpu_backend ? ", real and under the seeded scheduler model" : ""),
         .measured = measured,
         .numbers = {{"deterministic", double(det)},
                  {"atomic", double(model_distinct)},
                  {"article_model_atomic_real_distinct", double(small_atomic)},
                  {"wide_atomic_real_distinct", double(real.drift.distinct_outputs)}}},
        wide + (cpu_backend ? " under the seeded GPU-scheduler model" : " in real GPU runs"));
  }

  // Weights restored from a saved file in fresh processes (Explanation 2, sentence 1).
  void restored() {
    const Model m = make_model({10, 20, 10}, 0.5f, entropy_seed());
    std::map<std::string, HostArray> arrays;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      const Layer& l = m.layers[i];
      arrays["W" + std::to_string(i)] = HostArray{DType::f32, {l.K, l.N}, l.W, {}, {}};
      arrays["b" + std::to_string(i)] = HostArray{DType::f32, {l.N}, l.b, {}, {}};
    }
    const std::string path = (tmp / "restored.npz").string();
    npz::write(path, arrays, false);
    PredictArgs a = run.small(KerasSeeding::none, 0);
    a.weights = path;
    a.runs = 1;
    a.processes = procs;
    const std::size_t restored = run.distinct(a, "weights from an unseeded init, saved, restored in separate processes");
    a = run.small(KerasSeeding::none, 0);
    a.runs = 1;
    a.processes = procs;
    unseeded = run.distinct(a, "weights from unseeded init, separate processes");
    add({.key = "restored",
         .ran = "the article's 10-20-10 model initialised unseeded once, its weights saved to an .npz and restored (--weights) "
                  "in " + n(procs) + " fresh processes, training=False; beside it " + n(procs) + " processes rebuilding it unseeded",
         .measured = "restored: " + n(restored) + " distinct output(s) of " + n(procs) + " processes; rebuilt unseeded: " + n(unseeded) +
                  " of " + n(procs),
         .numbers = {{"restored", double(restored)}, {"rebuilt", double(unseeded)}}});
  }

  // Weight initialisation across processes, without and with a seed.
  void init() {
    PredictArgs a = run.small(KerasSeeding::set_random_seed, 7);
    a.runs = 1;
    a.processes = procs;
    const std::size_t seeded = run.distinct(a, "weights from seeded init, separate processes");
    add({.key = "init",
         .ran = "10-20-10, training=False, " + n(procs) + " processes, init unseeded (the restored row's rebuilds) vs seeded "
                  "(set_random_seed(7) -> init seed 7)",
         .measured = "unseeded: " + n(unseeded) + " distinct outputs of " + n(procs) + " processes; seeded: " + n(seeded),
         .numbers = {{"unseeded", double(unseeded)}, {"seeded", double(seeded)}}});
  }

  // Parallel reductions: drift of real runs, and of atomics under the scheduler model on the CPU.
  void drift_and_lesser() {
    PredictArgs a = run.base();
    a.runs = calls;
    a.layers = o.wide;
    a.batch = 64;
    a.init_seed = 3;
    a.variant = "all";
    const auto rep = run.predict(a, "parallel reductions: every kernel, wide model, real runs");
    const auto atomic = only_row(rep, DenseVariant::atomic);
    std::size_t fixed = 1, fixed_flips = 0;
    std::uint64_t fixed_ulp = 0;
    for (const auto v : {DenseVariant::tree, DenseVariant::invariant}) {
      const auto& d = only_row(rep, v).drift;
      fixed = std::max(fixed, d.distinct_outputs);
      fixed_ulp = std::max(fixed_ulp, d.max_ulp);
      fixed_flips = std::max(fixed_flips, d.argmax_flips);
    }
    std::optional<OutputDrift> model;
    if (cpu_backend) {  // real 2-core races are rare and timing-dependent: the seeded GPU-scheduler model counts
      a.variant = "atomic";
      a.shuffle_seed = 5;
      model = only_row(run.predict(a, "parallel reductions: atomic under the seeded scheduler model"), DenseVariant::atomic).drift;
    }
    // The verdict's real count: on the CPU the fixed-order kernels (stable), on a GPU every kernel.
    const std::uint64_t real_ulp = cpu_backend ? fixed_ulp : std::max(fixed_ulp, atomic.drift.max_ulp);
    const std::size_t real_flips = cpu_backend ? fixed_flips : std::max(fixed_flips, atomic.drift.argmax_flips);
    add({.key = "drift",
         .ran = wide + ", batch 64, training=False, " + n(calls) + " calls, " + rep.backend + ", every kernel" +
                  (cpu_backend ? "; atomic also under the seeded GPU-scheduler model" : ""),
         .measured = "tree and invariant (real runs): " + n(fixed) + " distinct, max " + std::to_string(fixed_ulp) +
                  " ULP; atomic (real runs): " + n(atomic.drift.distinct_outputs) + " distinct of " + n(calls) + ", max " +
                  std::to_string(atomic.drift.max_ulp) + " ULP, argmax changed in " + n(atomic.drift.argmax_flips) +
                  " of 64 rows" + (cpu_backend ? " (2-core races depend on timing: reported, not counted)" : "") +
                  (model ? "; atomic under the seeded GPU-scheduler MODEL: " + n(model->distinct_outputs) + " distinct, up to " +
                  std::to_string(model->max_ulp) + " ULP, max |diff| " + g2(model->max_abs_diff) +
                  ", argmax changed in " + n(model->argmax_flips) + " of 64 rows"
                  : std::string()),
         .numbers = {{"max_ulp", double(real_ulp)},
                  {"model_max_ulp", double(model ? model->max_ulp : 0)},
                  {"argmax_flips", double(real_flips)},
                  {"distinct_fixed_order", double(fixed)},
                  {"real_atomic_distinct", double(atomic.drift.distinct_outputs)},
                  {"real_atomic_max_ulp", double(atomic.drift.max_ulp)},
                  {"model_atomic_distinct", double(model ? model->distinct_outputs : 0)},
                  {"model_argmax_flips", double(model ? model->argmax_flips : 0)}}});
    // Explanation 3's "less significant contributor": the accumulation order's effect (atomics
    // under the seeded model on the CPU, real atomics on a GPU) against dropout on and against
    // other weights, on the same wide model, batch 64.
    PredictArgs t = run.base();
    t.layers = o.wide;
    t.batch = 64;
    t.init_seed = 3;
    t.variant = "tree";
    const auto y0 = one_output(run, t, tmp, "ref", "less significant: the reference output (tree)");
    t.training = true;
    t.dropout_seed = 1;
    const auto yd = one_output(run, t, tmp, "dropout", "less significant: training=True (dropout seed 1)");
    t.training = false;
    t.init_seed = 4;
    const auto yw = one_output(run, t, tmp, "weights", "less significant: other weights (init seed 4)");
    const OutputDrift& bd = model ? *model : atomic.drift;
    const std::size_t br = effect(y0, y0, 64, bd.max_abs_diff).second;  // the order's own max |diff|, scaled
    const auto [df, dr] = effect(y0, yd, 64);
    const auto [wf, wr] = effect(y0, yw, 64);
    add({.key = "lesser",
         .ran = wide + ", batch 64, init seed 3, training=False: the accumulation order (atomics, " +
                  (model ? std::string("under the seeded GPU-scheduler model") : "real runs") + ", " + n(calls) +
                  " calls) against training=True (dropout seed 1) and against init seed 4's weights",
         .measured = "argmax changed in " + n(bd.argmax_flips) + " / " + n(df) + " / " + n(wf) +
                  " of 64 rows; max |diff| relative to max |output|: " + rel(double(br)) + " / " + rel(double(dr)) + " / " +
                  rel(double(wr)) + " (order / dropout / weights)",
         .numbers = {{"backend_flips", double(bd.argmax_flips)},
                  {"dropout_flips", double(df)},
                  {"weights_flips", double(wf)},
                  {"backend_rel_ppb", double(br)},
                  {"dropout_rel_ppb", double(dr)},
                  {"weights_rel_ppb", double(wr)}}});
  }

  // The Conclusion's training=False advice, from the Example 1 runs.
  void conclusion() {
    add({.key = "conclusion_training_false",
         .ran = "the Example 1 runs (training=False); that model.predict has no training parameter is driftlab's model of "
                  "Keras 3 (keras_check.py measures the TypeError)",
         .measured = "model(x, training=False): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls",
         .numbers = {{"predict_takes_training", 0.0}, {"distinct", double(as_written)}}});
  }

  // Batch size: the same row in batches of different sizes.
  void batch() {
    PredictArgs a = run.base();
    a.runs = 1;
    a.layers = o.wide;
    a.init_seed = 3;
    a.batch_sweep = {1, 7, 64, 513};
    a.variant = "all";
    const auto rep = run.predict(a, "row 0 inside batches of 1, 7, 64, 513");
    std::size_t splitk = 1;
    std::uint64_t splitk_ulp = 0;
    std::string per;
    for (const auto& row : rep.rows) {
      per += (per.empty() ? "" : ", ") + std::string(info(row.variant).name) + " " + n(*row.batch_distinct) + " (" +
             std::to_string(*row.batch_max_ulp) + " ULP)";
      if (row.variant != DenseVariant::invariant) {
        splitk = std::max(splitk, *row.batch_distinct);
        splitk_ulp = std::max(splitk_ulp, *row.batch_max_ulp);
      }
    }
    const auto inv = only_row(rep, DenseVariant::invariant);
    add({.key = "batch",
         .ran = rep.model + ", row 0 in batches of 1, 7, 64, 513, training=False, " + rep.backend,
         .measured = "distinct row-0 outputs across batch sizes: " + per,
         .numbers = {{"splitk", double(splitk)}, {"invariant", double(*inv.batch_distinct)}, {"batch_max_ulp", double(splitk_ulp)}}});
  }

  // Thread count: the CPU backend with 1 and 2 worker threads, the outputs compared bitwise.
  void threads() {
    std::map<std::string, std::vector<std::vector<float>>> outs;  // variant -> outputs at 1, 2 threads
    std::string model;
    for (const int t : {1, 2}) {
      PredictArgs a = run.base();
      a.backend = "cpu";
      a.threads = t;
      a.runs = 1;
      a.layers = o.wide;
      a.batch = 64;
      a.init_seed = 3;
      a.variant = "all";
      const std::string stem = (tmp / ("t" + std::to_string(t) + ".npy")).string();
      a.save_output = stem;
      const auto rep = run.predict(a, "thread count: cpu backend, " + std::to_string(t) + " thread(s)");
      model = rep.model;
      for (const auto& row : rep.rows) {
        const std::string name = info(row.variant).name;
        outs[name].push_back(take_npy((tmp / ("t" + std::to_string(t) + "." + name + ".npy")).string()));
      }
    }
    std::size_t kernels = 1, atomic = 1;
    std::uint64_t worst = 0;
    std::string per;
    for (const auto& [name, o2] : outs) {
      const OutputDrift d = output_drift(o2, 64, o2[0].size() / 64);
      per += (per.empty() ? "" : ", ") + name + " " + n(d.distinct_outputs) + " (" + std::to_string(d.max_ulp) + " ULP)";
      if (name == "atomic") atomic = d.distinct_outputs;
      else kernels = std::max(kernels, d.distinct_outputs);
      if (name != "atomic") worst = std::max(worst, d.max_ulp);
    }
    add({.key = "threads",
         .ran = model + ", batch 64, training=False, cpu backend with 1 and 2 threads, real runs",
         .measured = "distinct outputs across thread counts: " + per +
                  " (the atomic kernel's count depends on whether a real 2-core race happened: reported, not counted)",
         .numbers = {{"kernels", double(kernels)}, {"atomic", 0.0}, {"threads_max_ulp", double(worst)},
                  {"real_atomic_distinct", double(atomic)}}});
  }

  // Not in the article: the same question for LLM decode attention (issue 12), whose split is
  // chosen from the batch; sequence 0 in batches of other sizes and beside other KV lengths.
  void attention() {
    if (progress) *progress << "  running: attention decode, sequence 0 across batches\n" << std::flush;
    add(attention_batch_scenario(0, o.backend, o.threads, o.quick));
  }

  // Not in the article: the 16-bit output (issue 11).  The same runs of a bf16 model measured
  // before the last rounding (the last layer's float32 output) and after it (the stored bf16),
  // beside the float32 model under the same schedules.  Every layer split 8 ways, as a GPU
  // splits K for small batches, so that every layer's atomics can move bits.
  void bf16() {
    PredictArgs a = run.base();
    a.runs = 2 * calls;
    a.layers = o.wide;
    a.batch = 64;
    a.init_seed = 3;
    a.split_k = 8;
    a.variant = "atomic";
    a.dtype = DType::bf16;
    const PredictRow real = only_row(run.predict(a, "bf16 model, atomic kernels, real runs"), DenseVariant::atomic);
    std::optional<PredictRow> model;
    if (cpu_backend) {  // 2-core races are rare and timing-dependent: the seeded scheduler model counts
      a.shuffle_seed = 5;
      model = only_row(run.predict(a, "bf16 model, atomic kernels under the seeded scheduler model"), DenseVariant::atomic);
    }
    const PredictRow& m = model ? *model : real;
    a.dtype = DType::f32;
    const PredictRow f32 = only_row(run.predict(a, "the same float32 model and schedules"), DenseVariant::atomic);
    auto words = [](const PredictRow& r) {
      const OutputDrift& b = *r.before;
      const OutputDrift& d = r.drift;
      return n(b.distinct_outputs) + " -> " + n(d.distinct_outputs) + " distinct outputs, elements differing from run 0 " +
             g2(b.ratio_non_equal) + " -> " + g2(d.ratio_non_equal) + ", max " + std::to_string(b.max_ulp) +
             " float32 ULP -> " + std::to_string(d.max_ulp) + " bf16 ULP, argmax changed in " + n(b.argmax_flips) +
             " -> " + n(d.argmax_flips) + " of 64 rows";
    };
    add({.key = "bf16_rounding",
         .ran = "a bf16 " + join(o.wide, "-") + " model (weights and input rounded once, every layer's output rounded), "
                  "batch 64, training=False, split-K 8 on every layer, " + n(a.runs) + " calls, atomic kernels on " +
                  (cpu_backend ? "cpu, real runs and the seeded scheduler model" : "cuda") +
                  "; beside it the float32 model under the same schedules",
         .measured = "before -> after the final rounding to bf16: " + std::string(model ? "under the seeded GPU-scheduler MODEL " : "") +
                  words(m) +
                  (model ? "; real runs (timing-dependent on 2 cores: reported, not counted) " + words(real) : std::string()) +
                  ". The float32 model: " + n(f32.drift.distinct_outputs) + " distinct outputs, max " +
                  std::to_string(f32.drift.max_ulp) + " ULP",
         .numbers = {{"max_ulp", double(model ? 0 : real.drift.max_ulp)},
                  {"model_max_ulp", double(model ? model->drift.max_ulp : 0)},
                  {"argmax_flips", double(m.drift.argmax_flips)},
                  {"distinct_before", double(m.before->distinct_outputs)},
                  {"distinct_after", double(m.drift.distinct_outputs)},
                  {"frac_differ_before", m.before->ratio_non_equal},
                  {"frac_differ_after", m.drift.ratio_non_equal},
                  {"argmax_flips_before", double(m.before->argmax_flips)},
                  {"max_ulp_f32_before", double(m.before->max_ulp)},
                  {"f32_model_distinct", double(f32.drift.distinct_outputs)},
                  {"f32_model_max_ulp", double(f32.drift.max_ulp)},
                  {"real_distinct_after", double(real.drift.distinct_outputs)},
                  {"real_max_ulp_after", double(real.drift.max_ulp)}}});
  }

  // Not in the article: the same question one level up, where data-parallel training and
  // tensor-parallel inference meet it (issue 23): the all-reduce over 1, 2, 3, 4 and 8 ranks.
  void ranks() {
    if (progress) *progress << "  running: all-reduce across rank counts (simulated; Open MPI when it runs)\n" << std::flush;
    add(allreduce_ranks_scenario(o.quick));
    if (progress) *progress << "  running: predict across TP sizes (simulated; Open MPI when it runs)\n" << std::flush;
    add(tp_ranks_scenario(o.quick));
  }
};

// The row groups, in the order the rows are printed.  A group may use counts an earlier one set.
constexpr void (Scenarios::*kGroups[])() = {
    &Scenarios::example1, &Scenarios::example2, &Scenarios::example3, &Scenarios::restored,
    &Scenarios::init,     &Scenarios::drift_and_lesser, &Scenarios::conclusion, &Scenarios::batch,
    &Scenarios::threads,  &Scenarios::attention, &Scenarios::bf16,   &Scenarios::ranks};

}  // namespace

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress) {
  Scenarios s{o, progress};
  const TempFolder tmp("scenarios");  // removed at the end, and on SIGINT, SIGTERM, SIGHUP
  s.tmp = tmp.path();
  for (const auto group : kGroups) (s.*group)();
  return std::move(s.out);
}


}  // namespace driftlab
