#include "scenarios.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "attention_scenario.h"
#include "cli_args.h"
#include "gpu.h"
#include "json.h"
#include "input_file.h"
#include "json_read.h"
#include "metrics.h"
#include "npy.h"
#include "predict_command.h"

namespace driftlab {

const char* const kScenariosHelp = R"(usage: driftlab scenarios [--backend cpu|cuda|auto] [--threads T] [--quick] [--json FILE]
                          [--keras FILE]

Runs the article's claims (Examples 1-3, Explanations 1-3) and others that are not in it, each for
real -- calls within one process and separate child processes -- and prints the claim as the
article words it, where it comes from, what was run, the measured counts and a verdict computed
from them (holds / does not hold / holds only when ...; rules in docs/verdicts.md).

driftlab's model of Keras: a call with no training argument and model.predict run in inference
mode (no dropout); layers built without a seed draw one from a source that tf.random.set_seed and
np.random.seed do not fix (Keras 3 uses Python's random), keras.utils.set_random_seed does.

  --keras FILE  the output of scripts/keras_check.py (real TensorFlow/Keras): its verdict is
                printed beside driftlab's, and where they disagree, why
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

// --- Verdict rules (docs/verdicts.md; the Python twin is in scripts/keras_check.py) ----------
VerdictText verdict_dropout_call(std::size_t as_written, std::size_t training_true) {
  if (as_written > 1) return {Verdict::holds, "holds: " + n(as_written) + " distinct outputs from repeated calls as written"};
  if (training_true > 1)
    return {Verdict::holds_only_when,
            "holds only when training=True is passed: as written (inference mode) the calls gave identical bits; with "
            "training=True " + n(training_true) + " distinct outputs"};
  return {Verdict::does_not_hold, "does not hold: identical bits with and without training=True"};
}

VerdictText verdict_constant_within(std::size_t as_written, std::size_t training_true) {
  if (as_written == 1 && training_true <= 1)
    return {Verdict::holds, "holds: identical bits from every call, with and without dropout"};
  if (as_written == 1)
    return {Verdict::holds_only_when,
            "holds only when the calls run in inference mode (as written, no training argument): with training=True "
            "each call drew a new mask (" + n(training_true) + " distinct outputs)"};
  return {Verdict::does_not_hold, "does not hold: " + n(as_written) + " distinct outputs from calls as written"};
}

VerdictText verdict_same_across(std::size_t as_written, std::size_t training_true) {
  if (as_written == 1 && training_true <= 1)
    return {Verdict::holds, "holds: every fresh process gave the same bits, with and without dropout"};
  if (as_written == 1)
    return {Verdict::holds_only_when,
            "holds only when dropout is off: the weights repeat across processes, the first dropout mask does not (" +
                n(training_true) + " distinct outputs)"};
  return {Verdict::does_not_hold, "does not hold: " + n(as_written) +
                                      " distinct outputs across processes even without dropout (the weights differ)"};
}

VerdictText verdict_inference(std::size_t deterministic, std::size_t atomic) {
  if (deterministic == 1 && atomic <= 1)
    return {Verdict::holds, "holds: identical bits from every call with every kernel measured"};
  if (deterministic == 1)
    return {Verdict::holds_only_when,
            "holds only when the kernels are deterministic: atomic kernels gave " + n(atomic) + " distinct outputs"};
  return {Verdict::does_not_hold, "does not hold: " + n(deterministic) + " distinct outputs with dropout off"};
}

VerdictText verdict_remnant(std::size_t distinct) {
  if (distinct > 1) return {Verdict::holds, "holds: " + n(distinct) + " distinct outputs with training=False"};
  return {Verdict::does_not_hold, "does not hold in the version measured: identical bits from every training=False call"};
}

VerdictText verdict_init(std::size_t unseeded, std::size_t seeded) {
  if (unseeded > 1 && seeded <= 1)
    return {Verdict::holds, "holds: " + n(unseeded) + " distinct outputs from unseeded processes; a seed made them repeat"};
  if (unseeded > 1)
    return {Verdict::holds, "holds: " + n(unseeded) + " distinct outputs from unseeded processes; seeded ones differ too (" +
                                n(seeded) + ")"};
  return {Verdict::does_not_hold, "does not hold: unseeded processes gave the same bits"};
}

VerdictText verdict_drift(std::uint64_t max_ulp, std::uint64_t model_max_ulp, std::size_t argmax_flips) {
  if (max_ulp > 0)
    return {Verdict::holds, "holds: drift of up to " + std::to_string(max_ulp) + " ULP between runs, " + n(argmax_flips) +
                                " prediction(s) (argmax) changed"};
  if (model_max_ulp > 0)
    return {Verdict::holds_only_when,
            "holds only when the accumulation order changes between runs (atomics under a reordering scheduler: up to " +
                std::to_string(model_max_ulp) + " ULP under the scheduler model); real runs here gave identical bits"};
  return {Verdict::does_not_hold, "does not hold here: identical bits in every run"};
}

VerdictText verdict_batch(std::size_t splitk, std::size_t invariant) {
  if (splitk > 1 && invariant == 1)
    return {Verdict::holds_only_when,
            "holds only when the reduction is split by batch shape (split-K): the batch-invariant kernel kept row 0's bits"};
  if (splitk > 1 || invariant > 1)
    return {Verdict::holds, "holds: row 0 took " + n(std::max(splitk, invariant)) + " distinct values across batch sizes"};
  return {Verdict::does_not_hold, "does not hold: row 0 kept its bits at every batch size"};
}

VerdictText verdict_threads(std::size_t kernels, std::size_t atomic) {
  if (kernels > 1) return {Verdict::holds, "holds: " + n(kernels) + " distinct outputs across thread counts"};
  if (atomic > 1)
    return {Verdict::holds_only_when, "holds only when the kernels accumulate with atomics: fixed-order kernels kept the bits"};
  return {Verdict::does_not_hold, "does not hold: the same bits at every thread count"};
}

VerdictText verdict_by_rule(std::string_view rule, const std::map<std::string, double>& c) {
  auto get = [&](const char* k) -> std::size_t {
    const auto it = c.find(k);
    if (it == c.end()) throw std::invalid_argument("verdict rule " + std::string(rule) + ": no count '" + k + "'");
    if (!(it->second >= 0)) throw std::invalid_argument("verdict rule " + std::string(rule) + ": negative count '" + k + "'");
    return static_cast<std::size_t>(it->second);
  };
  if (rule == "dropout_call") return verdict_dropout_call(get("as_written"), get("training_true"));
  if (rule == "constant_within") return verdict_constant_within(get("as_written"), get("training_true"));
  if (rule == "same_across") return verdict_same_across(get("as_written"), get("training_true"));
  if (rule == "inference") return verdict_inference(get("deterministic"), get("atomic"));
  if (rule == "remnant") return verdict_remnant(get("distinct"));
  if (rule == "init") return verdict_init(get("unseeded"), get("seeded"));
  if (rule == "drift") return verdict_drift(get("max_ulp"), get("model_max_ulp"), get("argmax_flips"));
  if (rule == "batch") return verdict_batch(get("splitk"), get("invariant"));
  if (rule == "threads") return verdict_threads(get("kernels"), get("atomic"));
  throw std::invalid_argument("unknown verdict rule '" + std::string(rule) + "'");
}

ModelSeeds keras_model_seeds(KerasSeeding s, std::uint64_t seed) {
  // tf.random.set_seed and np.random.seed leave the source of Keras's default seeds (Python's
  // random) unseeded: weights and masks are as fresh as with no seed at all.
  if (s == KerasSeeding::set_random_seed) return {seed, seed};
  return {};
}

// --- The Keras cross-check's file ------------------------------------------------------------
KerasCheck load_keras_check(const std::string& path) {
  // The one input-file check (input_file.h): a FIFO, a device or a folder is refused at once; the
  // file is read only up to its size, and keras_check.py writes a few kB.
  return parse_keras_check(read_input_file(path, "--keras", std::uint64_t(16) << 20), path);
}

KerasCheck parse_keras_check(std::string_view text, const std::string& path) {
  const std::string where = "--keras " + npy::printable(path) + ": ";
  JsonValue doc;
  try {
    doc = parse_json(text);
  } catch (const JsonError& e) {
    throw std::runtime_error(where + e.what());
  }
  // Text from the file reaches the terminal, REPORT.md and JSON: control bytes (an escape
  // sequence) are shown as \xNN, never sent raw.
  auto str = [&](const JsonValue& o, const char* k) {
    const JsonValue* v = o.find(k);
    if (!v || !v->is(JsonValue::Kind::string))
      throw std::runtime_error(where + "not a scripts/keras_check.py output (no string \"" + k + "\")");
    return shown_path(v->str, v->str.size());  // escaped, never shortened
  };
  const JsonValue* tool = doc.find("tool");
  if (!tool || !tool->is(JsonValue::Kind::string) || tool->str != "keras_check")
    throw std::runtime_error(where + "not a scripts/keras_check.py output (no \"tool\": \"keras_check\")");
  KerasCheck k;
  k.path = path;
  k.tensorflow = str(doc, "tensorflow");
  k.keras = str(doc, "keras");
  const JsonValue* sc = doc.find("scenarios");
  if (!sc || !sc->is(JsonValue::Kind::array) || sc->items.empty())
    throw std::runtime_error(where + "not a scripts/keras_check.py output (no \"scenarios\" list)");
  for (const auto& s : sc->items) {
    KerasRow r;
    r.key = str(s, "key");
    r.source = str(s, "source");
    r.ran = str(s, "ran");
    r.verdict = str(s, "verdict");
    r.verdict_text = str(s, "verdict_text");
    if (r.verdict != "holds" && r.verdict != "holds only when" && r.verdict != "does not hold")
      throw std::runtime_error(where + "scenario " + npy::printable(r.key) + ": unknown verdict '" +
                               npy::printable(r.verdict) + "'");
    // The counts are whole numbers: 1.9 or 1e999 (read as inf) would become another count unseen.
    if (const JsonValue* nums = s.find("numbers"); nums && nums->is(JsonValue::Kind::object))
      for (const auto& [name, v] : nums->members) {
        if (!v.is(JsonValue::Kind::number)) continue;
        if (!(v.num >= 0 && v.num <= 9007199254740992.0 && v.num == std::floor(v.num)))
          throw std::runtime_error(where + "scenario " + r.key + ": count '" + shown_path(name) + "' is " + sig(v.num, 6) +
                                   ", expected a whole number from 0 to 2^53");
        r.numbers[shown_path(name)] = v.num;
      }
    // The Keras column is the check's own verdict; it must follow from the check's own counts.
    const std::string rule = str(s, "rule");
    VerdictText again{};
    try {
      again = verdict_by_rule(rule, r.numbers);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(where + "scenario " + npy::printable(r.key) + ": " + e.what());
    }
    if (r.verdict != verdict_name(again.verdict))
      throw std::runtime_error(where + "scenario " + npy::printable(r.key) + ": verdict '" + r.verdict +
                               "' does not follow from its counts (rule " + npy::printable(rule) + " gives '" +
                               verdict_name(again.verdict) + "')");
    // A key driftlab does not run would leave its row "(not run)" unseen.
    const auto& claims = scenario_claims();
    if (std::none_of(claims.begin(), claims.end(), [&](const ScenarioClaim& c) { return c.key == r.key; }))
      throw std::runtime_error(where + "scenario '" + r.key + "' is not one of driftlab's scenarios (see driftlab scenarios)");
    k.rows[r.key] = std::move(r);
  }
  return k;
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

std::string ran_text(const PredictArgs& a, const PredictReport& r) {
  std::ostringstream s;
  s << r.model << ", batch " << r.batch << ", " << (a.training ? "training=True" : "training=False") << ", "
    << a.runs << " calls x " << a.processes << (a.processes > 1 ? " processes" : " process") << ", " << r.backend;
  return s.str();
}

std::string join_sizes(const std::vector<std::size_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "-" : "") + std::to_string(v[i]);
  return s;
}

std::string g2(double v) {
  std::ostringstream s;
  s << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

// Quotes, copied from the article exactly (tests/test_scenarios.cpp checks them against it).
const std::vector<ScenarioClaim>& scenario_claims() {
  static const std::vector<ScenarioClaim> claims = {
      {"example1", "Example 1", "dropout_call",
       "When the model is called multiple times, we can see varying outputs, even with identical input data. This is "
       "because of random application of dropout during each call."},
      {"predict_dropout", "Explanation 1", "dropout_call",
       "During inference (i.e. when `model.predict` is called), if `training=True` is not explicitly set to `False`, "
       "these dropout masks will still be applied, albeit with a different random mask each time the method is called. "
       "This causes varying outputs because different units are dropped during each prediction."},
      {"example2_within_article", "Example 2", "constant_within",
       "Notice that the predictions now remain constant across multiple calls."},
      {"example2_across_article", "Example 2", "same_across",
       "`tf.random.set_seed(42)` and `np.random.seed(42)` are used before model instantiation. This ensures that dropout "
       "masks are generated using the same initial seed."},
      {"example2_within_keras_seed", "not in the article", "constant_within",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: the predictions remain constant across "
       "multiple calls"},
      {"example2_across_keras_seed", "not in the article", "same_across",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: every fresh process draws the same weights "
       "and dropout masks"},
      {"example3", "Example 3", "inference",
       "When `training=False` is explicitly set during prediction, it disables dropout layers. You should expect "
       "deterministic results across different predictions even if no seed is specified."},
      {"remnant_dropout", "Explanation 1", "remnant",
       "Even if `training=False` is specified during the prediction, the internal mechanisms in some versions of "
       "TensorFlow might still have remnant dropout functionality."},
      {"init", "Explanation 2", "init",
       "If users are re-building a model and re-initializing the weights multiple times, such variations in starting "
       "points will have an impact."},
      {"drift", "Explanation 3", "drift",
       "Operations like summation that, in a serial calculation, would be equivalent to associative, can sometimes "
       "produce very slightly different output values in concurrent calculations."},
      {"batch", "not in the article", "batch", "the batch a row is predicted in changes its bits"},
      {"threads", "not in the article", "threads", "the number of threads changes a row's bits"},
      {"attention_batch", "not in the article", "batch",
       "(LLM serving) the batch you are served in changes your output: decode attention split by batch"},
      {"bf16_rounding", "not in the article", "drift",
       "(bf16 inference) float32 drift survives rounding the output to bfloat16: weights and activations in bf16, "
       "float32 accumulation, atomic kernels"},
  };
  return claims;
}

namespace {

// Reads the .npy files a --save-output run wrote (one per variant) and removes them.
std::vector<float> take_npy(const std::string& path) {
  HostArray h = npy::read(path);
  std::filesystem::remove(path);
  return h.f32;
}

}  // namespace

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress) {
  const Runner run{o, progress};
  const std::size_t calls = o.quick ? 4 : 10, procs = o.quick ? 3 : 4;
  std::vector<ScenarioResult> out;
  auto add = [&](ScenarioResult r) {
    const auto& cs = scenario_claims();
    const auto c = std::find_if(cs.begin(), cs.end(), [&](const ScenarioClaim& x) { return x.key == r.key; });
    if (c == cs.end()) throw std::logic_error("scenario " + r.key + " has no claim");
    r.source = c->source;
    r.claim = c->claim;
    r.rule = c->rule;
    std::map<std::string, double> counts(r.numbers.begin(), r.numbers.end());
    const VerdictText v = verdict_by_rule(r.rule, counts);
    r.id = static_cast<int>(out.size()) + 1;
    r.verdict = v.verdict;
    r.verdict_text = v.text;
    out.push_back(std::move(r));
  };

  // Example 1 as written: model(input_data) with no training argument runs in inference mode in
  // Keras; model.predict does too.  driftlab's predict without --training is that mode.
  std::size_t as_written = 0, training_true = 0;
  {
    PredictArgs a = run.small(KerasSeeding::none, 0);
    a.runs = 4 * calls;
    as_written = run.distinct(a, "Example 1 as written (inference mode), unseeded");
    a.training = true;
    a.runs = calls;
    training_true = run.distinct(a, "Example 1 with training=True, unseeded");
    add({0, "example1", "", "", "",
         "10-20-10, dropout 0.5, no seed: " + n(4 * calls) + " calls as written (no training argument = inference mode), " +
             n(calls) + " calls with training=True, invariant kernel",
         "as written: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " + n(training_true) +
             " of " + n(calls),
         {}, "", {{"as_written", double(as_written)}, {"training_true", double(training_true)}}, {}, ""});
    add({0, "predict_dropout", "", "", "",
         "the same runs: driftlab's predict (no --training) is Keras's model.predict, inference mode",
         "predict: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " + n(training_true) +
             " of " + n(calls),
         {}, "", {{"as_written", double(as_written)}, {"training_true", double(training_true)}}, {}, ""});
  }
  // Example 2, within a process and across fresh processes, for the article's two seeds and for
  // keras.utils.set_random_seed.
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
    add({0, std::string("example2_within_") + key, "", "", "",
         seeds_text + "; " + n(calls) + " calls as written and " + n(calls) + " with training=True, one process",
         "as written: " + n(w_as) + " distinct of " + n(calls) + "; training=True: " + n(w_tr) + " of " + n(calls), {}, "",
         {{"as_written", double(w_as)}, {"training_true", double(w_tr)}}, {}, ""});
    a.runs = 1;
    a.processes = procs;
    a.training = false;
    const std::size_t x_as = run.distinct(a, std::string("Example 2 across processes, ") + what);
    a.training = true;
    const std::size_t x_tr = run.distinct(a, std::string("Example 2 across processes, training=True, ") + what);
    add({0, std::string("example2_across_") + key, "", "", "",
         seeds_text + "; the first call in " + n(procs) + " fresh processes, as written and with training=True",
         "as written: " + n(x_as) + " distinct of " + n(procs) + " processes; training=True: " + n(x_tr) + " of " + n(procs), {},
         "", {{"as_written", double(x_as)}, {"training_true", double(x_tr)}}, {}, ""});
  }
  {  // Example 3: training=False, no seed, on every kernel of the wide model.
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
    add({0, "example3", "", "", "", ran_text(a, rep) + ", variants atomic, tree, invariant",
         measured, {}, "", {{"deterministic", double(det)}, {"atomic", double(atomic_distinct)}}, {}, ""});
  }
  // Remnant dropout with training=False: the as-written (inference) calls of Example 1.
  add({0, "remnant_dropout", "", "", "",
       "the Example 1 runs: " + n(4 * calls) + " calls with training=False, 10-20-10, dropout 0.5, no seed",
       n(as_written) + " distinct output(s) of " + n(4 * calls), {}, "", {{"distinct", double(as_written)}}, {}, ""});
  {  // Weight initialisation across processes, without and with a seed.
    PredictArgs a = run.small(KerasSeeding::none, 0);
    a.runs = 1;
    a.processes = procs;
    const std::size_t unseeded = run.distinct(a, "weights from unseeded init, separate processes");
    a = run.small(KerasSeeding::set_random_seed, 7);
    a.runs = 1;
    a.processes = procs;
    const std::size_t seeded = run.distinct(a, "weights from seeded init, separate processes");
    add({0, "init", "", "", "",
         "10-20-10, training=False, " + n(procs) + " processes, init unseeded vs seeded (set_random_seed(7) -> init seed 7)",
         "unseeded: " + n(unseeded) + " distinct outputs of " + n(procs) + " processes; seeded: " + n(seeded), {}, "",
         {{"unseeded", double(unseeded)}, {"seeded", double(seeded)}}, {}, ""});
  }
  {  // Parallel reductions: drift of real runs, and of atomics under the scheduler model on the CPU.
    PredictArgs a = run.base();
    a.runs = calls;
    a.layers = o.wide;
    a.batch = 64;
    a.init_seed = 3;
    a.variant = "all";
    const auto rep = run.predict(a, "parallel reductions: every kernel, wide model, real runs");
    const auto atomic = only_row(rep, DenseVariant::atomic);
    std::size_t fixed = 1;
    for (const auto v : {DenseVariant::tree, DenseVariant::invariant})
      fixed = std::max(fixed, only_row(rep, v).drift.distinct_outputs);
    std::uint64_t model_ulp = 0;
    std::string model_text;
    if (rep.backend == "cpu") {  // real 2-core races are rare: also the seeded GPU-scheduler model
      a.variant = "atomic";
      a.shuffle_seed = 5;
      const auto m = only_row(run.predict(a, "parallel reductions: atomic under the seeded scheduler model"),
                              DenseVariant::atomic);
      model_ulp = m.drift.max_ulp;
      model_text = "; atomic under the seeded GPU-scheduler MODEL: " + n(m.drift.distinct_outputs) + " distinct, up to " +
                   std::to_string(m.drift.max_ulp) + " ULP";
    }
    add({0, "drift", "", "", "",
         rep.model + ", batch 64, training=False, " + n(calls) + " calls, " + rep.backend + ", every kernel",
         "atomic (real runs): " + n(atomic.drift.distinct_outputs) + " distinct, max " + std::to_string(atomic.drift.max_ulp) +
             " ULP, max |diff| " + g2(atomic.drift.max_abs_diff) + ", argmax changed in " + n(atomic.drift.argmax_flips) +
             " of 64 rows; tree and invariant: " + n(fixed) + " distinct" + model_text,
         {}, "",
         {{"max_ulp", double(atomic.drift.max_ulp)}, {"model_max_ulp", double(model_ulp)},
          {"argmax_flips", double(atomic.drift.argmax_flips)}, {"distinct_fixed_order", double(fixed)},
          {"max_abs_diff", atomic.drift.max_abs_diff}},
         {}, ""});
  }
  {  // Batch size: the same row in batches of different sizes.
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
    add({0, "batch", "", "", "",
         rep.model + ", row 0 in batches of 1, 7, 64, 513, training=False, " + rep.backend,
         "distinct row-0 outputs across batch sizes: " + per, {}, "",
         {{"splitk", double(splitk)}, {"invariant", double(*inv.batch_distinct)}, {"batch_max_ulp", double(splitk_ulp)}}, {},
         ""});
  }
  {  // Thread count: the CPU backend with 1 and 2 worker threads, the outputs compared bitwise.
    const auto tmp = std::filesystem::temp_directory_path() / ("driftlab-scenarios-" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp);
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
    std::filesystem::remove_all(tmp);
    std::size_t kernels = 1, atomic = 1;
    std::uint64_t worst = 0;
    std::string per;
    for (const auto& [name, o2] : outs) {
      const OutputDrift d = output_drift(o2, 64, o2[0].size() / 64);
      per += (per.empty() ? "" : ", ") + name + " " + n(d.distinct_outputs) + " (" + std::to_string(d.max_ulp) + " ULP)";
      if (name == "atomic") atomic = d.distinct_outputs;
      else kernels = std::max(kernels, d.distinct_outputs);
      worst = std::max(worst, d.max_ulp);
    }
    add({0, "threads", "", "", "",
         model + ", batch 64, training=False, cpu backend with 1 and 2 threads",
         "distinct outputs across thread counts: " + per, {}, "",
         {{"kernels", double(kernels)}, {"atomic", double(atomic)}, {"threads_max_ulp", double(worst)}}, {}, ""});
  }
  // Not in the article: the same question for LLM decode attention (issue 12), whose split is
  // chosen from the batch; sequence 0 in batches of other sizes and beside other KV lengths.
  if (progress) *progress << "  running: attention decode, sequence 0 across batches\n" << std::flush;
  add(attention_batch_scenario(0, o.backend, o.threads, o.quick));
  {  // Not in the article: the 16-bit output (issue 11).  The same runs of a bf16 model measured
     // before the last rounding (the last layer's float32 output) and after it (the stored bf16),
     // beside the float32 model under the same schedules.  Every layer split 8 ways, as a GPU
     // splits K for small batches, so that every layer's atomics can move bits.
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
    const bool cpu_backend = a.backend == "cpu" || (a.backend == "auto" && !gpu_status().usable);
    if (cpu_backend) {  // 2-core races are rare: the seeded scheduler model too
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
    add({0, "bf16_rounding", "", "", "",
         "a bf16 " + join_sizes(o.wide) + " model (weights and input rounded once, every layer's output rounded), "
             "batch 64, training=False, split-K 8 on every layer, " + n(a.runs) + " calls, atomic kernels on " +
             (cpu_backend ? "cpu, real runs and the seeded scheduler model" : "cuda") +
             "; beside it the float32 model under the same schedules",
         "before -> after the final rounding to bf16: " + std::string(model ? "under the seeded GPU-scheduler MODEL " : "") +
             words(m) + (model ? "; real runs " + words(real) : std::string()) + ". The float32 model: " +
             n(f32.drift.distinct_outputs) + " distinct outputs, max " + std::to_string(f32.drift.max_ulp) + " ULP",
         {}, "",
         {{"max_ulp", double(real.drift.max_ulp)},
          {"model_max_ulp", double(model ? model->drift.max_ulp : 0)},
          {"argmax_flips", double(m.drift.argmax_flips)},
          {"distinct_before", double(m.before->distinct_outputs)},
          {"distinct_after", double(m.drift.distinct_outputs)},
          {"frac_differ_before", m.before->ratio_non_equal},
          {"frac_differ_after", m.drift.ratio_non_equal},
          {"argmax_flips_before", double(m.before->argmax_flips)},
          {"max_ulp_f32_before", double(m.before->max_ulp)},
          {"f32_model_distinct", double(f32.drift.distinct_outputs)},
          {"f32_model_max_ulp", double(f32.drift.max_ulp)}},
         {}, ""});
  }
  return out;
}

namespace {
double num(const std::map<std::string, double>& m, const char* k) {
  const auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}
double num(const std::vector<std::pair<std::string, double>>& v, const char* k) {
  for (const auto& [name, x] : v)
    if (name == k) return x;
  return 0;
}
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string u(double v) { return std::to_string(static_cast<std::uint64_t>(v)); }
}  // namespace

std::string explain_disagreement(const ScenarioResult& r, const KerasRow& k) {
  if (k.verdict == verdict_name(r.verdict)) return "";
  const auto& d = r.numbers;
  const auto& t = k.numbers;
  if (r.key == "example3" && num(d, "deterministic") == 1 && num(t, "deterministic") == 1)
    return "driftlab's atomic kernels (split-K partials added atomically) vary from call to call; TensorFlow's CPU "
           "kernels gave identical bits, as driftlab's fixed-order kernels (tree, invariant) did";
  if (r.key == "drift" && num(t, "max_ulp") == 0)
    return "TensorFlow's CPU kernels gave 0 ULP between runs (intra-op threads 1 and 2, and across processes), as "
           "driftlab's fixed-order kernels did (tree, invariant: " + u(num(d, "distinct_fixed_order")) +
           " distinct); driftlab's drift comes from its atomic kernels (" + u(num(d, "max_ulp")) + " ULP in real runs, " +
           u(num(d, "model_max_ulp")) + " ULP under the seeded GPU-scheduler model)";
  if (r.key == "batch" && num(t, "splitk") > 1)
    return "TensorFlow's CPU matmul changed row 0's bits with the batch size (up to " + u(num(t, "batch_max_ulp")) +
           " ULP), as driftlab's split-K kernels do (" + u(num(d, "batch_max_ulp")) +
           " ULP); only driftlab's batch-invariant kernel kept them";
  if (r.key == "threads" && num(t, "kernels") == 1)
    return "TensorFlow's CPU kernels gave the same bits with 1 and 2 intra-op threads, as driftlab's fixed-order "
           "kernels did; driftlab's atomic kernel changed with the thread count";
  return "the counts differ: driftlab " + r.verdict_text + "; Keras " + k.verdict_text;
}

void attach_keras(std::vector<ScenarioResult>& rs, const KerasCheck& k) {
  for (auto& r : rs) {
    const auto it = k.rows.find(r.key);
    if (it == k.rows.end()) continue;
    r.keras = it->second;
    r.disagreement = explain_disagreement(r, it->second);
  }
}

void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k) {
  out << "driftlab scenarios: the article's claims, run for real\n";
  if (k) out << "beside driftlab: real TensorFlow " << k->tensorflow << " / Keras " << k->keras << " (" << k->path << ")\n";
  out << "\n" << std::left << std::setw(4) << "#" << std::setw(20) << "source" << std::setw(18) << "driftlab";
  if (k) out << std::setw(18) << "keras";
  out << "claim\n";
  for (const auto& r : rs) {
    std::string claim = r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"";
    if (claim.size() > 90) claim = claim.substr(0, 87) + "...";  // the whole quote is printed below
    out << std::setw(4) << r.id << std::setw(20) << r.source << std::setw(18) << upper(verdict_name(r.verdict));
    if (k) out << std::setw(18) << (r.keras ? upper(r.keras->verdict) : "(not run)");
    out << claim << "\n";
  }
  out << "\n";
  for (const auto& r : rs) {
    out << r.id << ". [" << r.source << "] " << (r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"") << "\n"
        << "   driftlab ran:      " << r.ran << "\n"
        << "   driftlab measured: " << r.measured << "\n"
        << "   driftlab verdict:  " << r.verdict_text << "\n";
    if (r.keras) {
      out << "   keras ran:         " << r.keras->ran << "\n   keras measured:   ";
      bool first = true;
      for (const auto& [name, v] : r.keras->numbers) {
        out << (first ? " " : ", ") << name << " " << sig(v);
        first = false;
      }
      out << "\n   keras verdict:     " << r.keras->verdict_text << "\n";
      if (!r.disagreement.empty()) out << "   they disagree:     " << r.disagreement << "\n";
    }
    out << "\n";
  }
}

void write_scenarios_json(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k) {
  JsonWriter j(out);
  j.begin_object().field("command", "scenarios");
  if (k)
    j.key("keras_check")
        .begin_object()
        .field("path", k->path)
        .field("tensorflow", k->tensorflow)
        .field("keras", k->keras)
        .end_object();
  j.key("rows").begin_array();
  for (const auto& r : rs) {
    j.begin_object()
        .field("id", r.id)
        .field("key", r.key)
        .field("source", r.source)
        .field("claim", r.claim)
        .field("rule", r.rule)
        .field("ran", r.ran)
        .field("measured", r.measured)
        .field("verdict", verdict_name(r.verdict))
        .field("verdict_text", r.verdict_text)
        .key("numbers")
        .begin_object();
    for (const auto& [name, v] : r.numbers) j.field(name, v);
    j.end_object();
    if (r.keras) {
      j.key("keras").begin_object().field("ran", r.keras->ran).field("verdict", r.keras->verdict)
          .field("verdict_text", r.keras->verdict_text).field("agrees", r.disagreement.empty()).key("numbers").begin_object();
      for (const auto& [name, v] : r.keras->numbers) j.field(name, v);
      j.end_object().end_object();
      if (!r.disagreement.empty()) j.field("disagreement", r.disagreement);
    }
    j.end_object();
  }
  j.end_array().end_object();
}

std::string scenarios_markdown(const std::vector<ScenarioResult>& rs, const KerasCheck* k) {
  auto row = [](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (const auto& c : cells) {
      s += ' ';
      for (const char ch : c) {
        if (ch == '|') s += '\\';
        s += ch;
      }
      s += " |";
    }
    return s + "\n";
  };
  std::string md;
  if (k)
    md += "Beside driftlab: real TensorFlow " + k->tensorflow + " / Keras " + k->keras + " (scripts/keras_check.py).\n\n" +
          row({"#", "source", "claim", "driftlab", "keras", "why they differ"}) + row({"---", "---", "---", "---", "---", "---"});
  else
    md += row({"#", "source", "claim", "driftlab", "measured"}) + row({"---", "---", "---", "---", "---"});
  for (const auto& r : rs) {
    const std::string claim = r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"";
    if (k)
      md += row({std::to_string(r.id), r.source, claim, r.verdict_text, r.keras ? r.keras->verdict_text : "(not run)",
                 r.disagreement});
    else
      md += row({std::to_string(r.id), r.source, claim, r.verdict_text, r.measured});
  }
  return md;
}

int scenarios_main(std::span<const std::string_view> args, std::ostream& out) {
  ScenarioOptions o;
  std::optional<std::string> json, keras;
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
      json = parse_path(r.value(), "--json");
    } else if (f == "--keras") {
      keras = parse_path(r.value(), "--keras");
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab scenarios --help)");
    }
  }
  if (json) check_output_path(*json, "--json");  // before the work, not after it
  std::optional<KerasCheck> k;
  if (keras) k = load_keras_check(*keras);  // before the runs: a bad file fails at once
  auto rs = run_scenarios(o, &out);
  if (k) attach_keras(rs, *k);
  out << "\n";
  print_scenarios(rs, out, k ? &*k : nullptr);
  if (json) write_json_file(*json, [&](std::ostream& f) { write_scenarios_json(rs, f, k ? &*k : nullptr); });
  return 0;
}

}  // namespace driftlab
