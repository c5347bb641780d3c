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
#include "model.h"
#include "npy.h"
#include "npz.h"
#include "predict_command.h"

namespace driftlab {

const char* const kScenariosHelp = R"(usage: driftlab scenarios [--backend cpu|cuda|auto] [--threads T] [--quick] [--json FILE]
                          [--keras FILE]

Runs the article's claims (Examples 1-3, Explanations 1-3, the Conclusion; one row per bullet or
sentence group, quoted verbatim with where it is) and others that are not in it, each for
real -- calls within one process and separate child processes -- and prints the claim as the
article words it, where it comes from, what was run, the measured counts and a verdict computed
from them (holds / does not hold / holds only when ...; rules in docs/verdicts.md).

driftlab's model of Keras: a call with no training argument and model.predict run in inference
mode (no dropout); layers built without a seed draw one from a source that tf.random.set_seed and
np.random.seed do not fix (Keras 3 uses Python's random), keras.utils.set_random_seed does.

  --backend cpu|cuda|auto  where the dense and attention kernels run (default auto: cuda when a
                usable GPU is present).  On the CPU, atomic kernels rarely race on a few cores and
                not the same way twice, so their verdicts count the seeded GPU-scheduler model and
                report the real races beside it; the thread-count row always runs on the CPU.
  --threads T   worker threads of the CPU backend (default 0: one per core)
  --quick       fewer calls (4, not 10) and processes (3, not 4), and a smaller wide model
                (256-1024-1024-10, not 784-4096-4096-10): about 10 s of CPU time on 2 cores
  --json FILE   also write the rows (claim, source, rule, what ran, counts, verdict) as JSON
  --keras FILE  the output of scripts/keras_check.py (real TensorFlow/Keras): its verdict is
                printed beside driftlab's, and where they disagree, why; the rows only real
                TensorFlow measures (oneDNN, op determinism, predict's batch size, tf_keras)
                follow driftlab's
  --help        this text
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
namespace {
std::string rel(double ppb) {  // a relative difference given in parts per billion, 2 digits
  std::ostringstream s;
  s << std::setprecision(2) << ppb * 1e-9;
  return s.str();
}
std::string or_wide(const std::string& wide) { return wide.empty() ? "the wide model" : wide; }
}  // namespace

VerdictText verdict_dropout_call(std::size_t as_written, std::size_t training_true) {
  if (as_written > 1) return {Verdict::holds, "holds: " + n(as_written) + " distinct outputs from repeated calls as written"};
  if (training_true > 1)
    return {Verdict::does_not_hold,
            "does not hold as written: calls without a training argument run in inference mode and gave identical bits; "
            "the outputs vary only with training=True (a new dropout mask each call)"};
  return {Verdict::does_not_hold, "does not hold: identical bits with and without training=True"};
}

VerdictText verdict_predict(std::size_t predict) {
  if (predict > 1) return {Verdict::holds, "holds: " + n(predict) + " distinct outputs from model.predict calls"};
  return {Verdict::does_not_hold,
          "does not hold: model.predict takes no training argument and always runs in inference mode (no dropout): its "
          "calls gave identical bits"};
}

VerdictText verdict_constant_within(std::size_t as_written, std::size_t training_true) {
  if (as_written == 1)
    return {Verdict::holds,
            std::string("holds as written: calls without a training argument run in inference mode (no dropout), so "
                        "every call gave identical bits") +
                (training_true > 1 ? "; with training=True each call drew a new mask" : std::string())};
  return {Verdict::does_not_hold, "does not hold: " + n(as_written) + " distinct outputs from calls as written"};
}

VerdictText verdict_same_across(std::size_t as_written, std::size_t training_true) {
  if (as_written == 1 && training_true <= 1)
    return {Verdict::holds, "holds: every fresh process gave the same bits, with and without dropout"};
  if (as_written == 1)
    return {Verdict::holds_only_when,
            "holds only when dropout is off: the weights repeat across processes, the first dropout mask does not"};
  return {Verdict::does_not_hold, "does not hold: " + n(as_written) +
                                      " distinct outputs across processes even without dropout (the weights differ)"};
}

VerdictText verdict_outside_graph(std::size_t input, std::size_t weights) {
  if (input == 1 && weights == 1)
    return {Verdict::holds, "holds: with both seeds the NumPy input and the weights repeated in every fresh process"};
  if (input == 1)
    return {Verdict::does_not_hold,
            "does not hold: np.random.seed fixed the NumPy input (1 distinct across fresh processes), but the weights, "
            "seeded outside the TensorFlow graph from a source neither seed fixes, still differed (" + n(weights) +
                " distinct)"};
  return {Verdict::does_not_hold, "does not hold: " + n(input) + " distinct inputs across processes despite np.random.seed"};
}

VerdictText verdict_disables(std::size_t training_false, std::size_t training_true) {
  if (training_false == 1)
    return {Verdict::holds, std::string("holds: calls with training=False gave identical bits") +
                                (training_true > 1 ? "; with training=True the outputs vary (dropout on)" : std::string())};
  return {Verdict::does_not_hold, "does not hold: " + n(training_false) + " distinct outputs with training=False"};
}

VerdictText verdict_inference(std::size_t deterministic, std::size_t atomic, const std::string& wide) {
  if (deterministic == 1)
    return {Verdict::holds,
            "holds for the article's model: its training=False calls gave identical bits" +
                (atomic > 1 ? "; not for kernels that add partial sums with atomics in a changing order: " + n(atomic) +
                                  " distinct outputs on " + or_wide(wide)
                            : std::string())};
  return {Verdict::does_not_hold, "does not hold: " + n(deterministic) + " distinct outputs with training=False and no seed"};
}

VerdictText verdict_remnant(std::size_t distinct) {
  if (distinct > 1) return {Verdict::holds, "holds: " + n(distinct) + " distinct outputs with training=False"};
  if (distinct == 1)
    return {Verdict::does_not_hold,
            "does not hold in the TensorFlow/Keras measured: identical bits from every training=False and model.predict call"};
  return {Verdict::does_not_hold,
          "does not hold in driftlab's model by construction (its training=False path has no dropout), so driftlab cannot "
          "test this claim; only real TensorFlow can (scripts/keras_check.py, then --keras)"};
}

VerdictText verdict_init(std::size_t unseeded, std::size_t seeded) {
  if (unseeded > 1 && seeded <= 1)
    return {Verdict::holds, "holds: " + n(unseeded) + " distinct outputs from unseeded processes; a seed made them repeat"};
  if (unseeded > 1)
    return {Verdict::holds, "holds: " + n(unseeded) + " distinct outputs from unseeded processes; seeded ones differ too (" +
                                n(seeded) + ")"};
  return {Verdict::does_not_hold, "does not hold: unseeded processes gave the same bits"};
}

VerdictText verdict_restored(std::size_t restored, std::size_t rebuilt) {
  if (restored == 1 && rebuilt > 1)
    return {Verdict::holds, "holds: weights restored from a saved file gave identical bits in every fresh process; rebuilt "
                            "without a seed, " + n(rebuilt) + " distinct outputs"};
  if (restored > 1) return {Verdict::does_not_hold, "does not hold: " + n(restored) + " distinct outputs from the restored weights"};
  return {Verdict::does_not_hold, "does not hold: unseeded rebuilds gave the same bits too"};
}

VerdictText verdict_lesser(std::size_t backend_flips, std::size_t dropout_flips, std::size_t weights_flips,
                           std::size_t backend_rel_ppb, std::size_t dropout_rel_ppb, std::size_t weights_rel_ppb,
                           const std::string& wide) {
  const std::string what = "the backend moved the outputs by " + rel(double(backend_rel_ppb)) + " relative and changed " +
                           n(backend_flips) + " argmax; dropout (training=True): " + rel(double(dropout_rel_ppb)) +
                           " relative, " + n(dropout_flips) + " argmax changed; other weights: " +
                           rel(double(weights_rel_ppb)) + " relative, " + n(weights_flips) + " argmax changed";
  if (backend_rel_ppb < std::min(dropout_rel_ppb, weights_rel_ppb) && backend_flips <= std::min(dropout_flips, weights_flips))
    return {Verdict::holds, "holds on " + or_wide(wide) + ": " + what};
  return {Verdict::does_not_hold, "does not hold on " + or_wide(wide) + ": " + what};
}

VerdictText verdict_drift(std::uint64_t max_ulp, std::uint64_t model_max_ulp, std::size_t argmax_flips,
                          const std::string& wide) {
  if (max_ulp > 0)
    return {Verdict::holds, "holds: drift of up to " + std::to_string(max_ulp) + " ULP between real runs, " +
                                n(argmax_flips) + " prediction(s) (argmax) changed"};
  if (model_max_ulp > 0)
    return {Verdict::holds_only_when,
            "holds only when the accumulation order changes between runs: up to " + std::to_string(model_max_ulp) +
                " ULP under the seeded GPU-scheduler model (atomics, " + or_wide(wide) +
                "); no real run counted here drifted (real 2-core atomic races depend on timing: reported, not counted)"};
  return {Verdict::does_not_hold, "does not hold here: identical bits in every real run"};
}

VerdictText verdict_batch(std::size_t splitk, std::size_t invariant) {
  if (splitk > 1 && invariant == 1)
    return {Verdict::holds_only_when,
            "holds only when the reduction is split by batch shape (split-K): the batch-invariant kernel kept row 0's bits"};
  if (splitk > 1 || invariant > 1)
    return {Verdict::holds, "holds: row 0 took " + n(std::max(splitk, invariant)) + " distinct values across batch sizes"};
  return {Verdict::does_not_hold, "does not hold: row 0 kept its bits at every batch size"};
}

VerdictText verdict_split_kv(std::size_t splitkv, std::size_t invariant) {
  if (splitkv > 1 && invariant == 1)
    return {Verdict::holds_only_when,
            "holds only when the KV cache is split by the batch (split-KV): the batch-invariant variants kept sequence 0's bits"};
  if (splitkv > 1 || invariant > 1)
    return {Verdict::holds, "holds: sequence 0 took " + n(std::max(splitkv, invariant)) + " distinct values across batches"};
  return {Verdict::does_not_hold, "does not hold: sequence 0 kept its bits in every batch"};
}

VerdictText verdict_threads(std::size_t kernels, std::size_t atomic) {
  if (kernels > 1) return {Verdict::holds, "holds: " + n(kernels) + " distinct outputs across thread counts"};
  if (atomic > 1)
    return {Verdict::holds_only_when, "holds only when the kernels accumulate with atomics: fixed-order kernels kept the bits"};
  return {Verdict::does_not_hold, "does not hold: the same bits at every thread count"};
}

VerdictText verdict_changes(std::size_t distinct, std::uint64_t max_ulp) {
  if (distinct > 1)
    return {Verdict::holds, "holds: " + n(distinct) + " distinct outputs, up to " + std::to_string(max_ulp) + " ULP apart"};
  return {Verdict::does_not_hold, "does not hold: identical bits"};
}

VerdictText verdict_method_param(std::size_t predict_takes_training, std::size_t distinct) {
  if (distinct > 1) return {Verdict::does_not_hold, "does not hold: " + n(distinct) + " distinct outputs with training=False"};
  if (predict_takes_training >= 1)
    return {Verdict::holds,
            "holds: training=False is a parameter of model.predict and of the model call, and gave identical bits"};
  return {Verdict::holds_only_when,
          "holds only when the method is the model call: model(x, training=False) gave identical bits; model.predict has "
          "no training parameter (TypeError) and always runs in inference mode"};
}

VerdictText verdict_by_rule(std::string_view rule, const std::map<std::string, double>& c, const std::string& wide) {
  auto get = [&](const char* k) -> std::size_t {
    const auto it = c.find(k);
    if (it == c.end()) throw std::invalid_argument("verdict rule " + std::string(rule) + ": no count '" + k + "'");
    if (!(it->second >= 0)) throw std::invalid_argument("verdict rule " + std::string(rule) + ": negative count '" + k + "'");
    return static_cast<std::size_t>(it->second);
  };
  if (rule == "dropout_call") return verdict_dropout_call(get("as_written"), get("training_true"));
  if (rule == "predict") return verdict_predict(get("predict"));
  if (rule == "constant_within") return verdict_constant_within(get("as_written"), get("training_true"));
  if (rule == "same_across") return verdict_same_across(get("as_written"), get("training_true"));
  if (rule == "outside_graph") return verdict_outside_graph(get("input"), get("weights"));
  if (rule == "disables") return verdict_disables(get("training_false"), get("training_true"));
  if (rule == "inference") return verdict_inference(get("deterministic"), get("atomic"), wide);
  if (rule == "remnant") return verdict_remnant(get("distinct"));
  if (rule == "init") return verdict_init(get("unseeded"), get("seeded"));
  if (rule == "restored") return verdict_restored(get("restored"), get("rebuilt"));
  if (rule == "lesser")
    return verdict_lesser(get("backend_flips"), get("dropout_flips"), get("weights_flips"), get("backend_rel_ppb"),
                          get("dropout_rel_ppb"), get("weights_rel_ppb"), wide);
  if (rule == "drift") return verdict_drift(get("max_ulp"), get("model_max_ulp"), get("argmax_flips"), wide);
  if (rule == "batch") return verdict_batch(get("splitk"), get("invariant"));
  if (rule == "split_kv") return verdict_split_kv(get("splitkv"), get("invariant"));
  if (rule == "threads") return verdict_threads(get("kernels"), get("atomic"));
  if (rule == "changes") return verdict_changes(get("distinct"), get("max_ulp"));
  if (rule == "method_param") return verdict_method_param(get("predict_takes_training"), get("distinct"));
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
    // Keys of the claims only TensorFlow measures (keras_only_claims) are rows of their own.
    auto named = [&](const std::vector<ScenarioClaim>& claims) {
      return std::any_of(claims.begin(), claims.end(), [&](const ScenarioClaim& c) { return c.key == r.key; });
    };
    if (!named(scenario_claims()) && !named(keras_only_claims()))
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

std::string g2(double v) {
  std::ostringstream s;
  s << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

// Quotes, copied from the article exactly, one bullet or sentence group each, with where it is
// (tests/test_scenarios.cpp finds each in the article after collapsing whitespace, nothing else).
const std::vector<ScenarioClaim>& scenario_claims() {
  static const std::vector<ScenarioClaim> claims = {
      {"example1", "Example 1, commentary bullet 2", "dropout_call",
       "When the model is called multiple times, we can see varying outputs, even with identical input data. This is "
       "because of random application of dropout during each call."},
      {"predict_dropout", "Explanation 1, sentences 2-3", "predict",
       "During inference (i.e. when `model.predict` is called), if `training=True` is not explicitly set to `False`, "
       "these dropout masks will still be applied, albeit with a different random mask each time the method is called. "
       "This causes varying outputs because different units are dropped during each prediction."},
      {"remnant_dropout", "Explanation 1, sentence 4", "remnant",
       "Even if `training=False` is specified during the prediction, the internal mechanisms in some versions of "
       "TensorFlow might still have remnant dropout functionality."},
      {"example2_within_article", "Example 2, commentary bullet 2, sentence 1", "constant_within",
       "Notice that the predictions now remain constant across multiple calls."},
      {"example2_outside_graph", "Example 2, commentary bullet 2, sentence 2", "outside_graph",
       "Setting both TensorFlow and Numpy seeds helps capture any variation introduced outside the TensorFlow graph."},
      {"example2_across_article", "Example 2, commentary bullet 1", "same_across",
       "`tf.random.set_seed(42)` and `np.random.seed(42)` are used before model instantiation. This ensures that dropout "
       "masks are generated using the same initial seed."},
      {"example2_within_keras_seed", "not in the article", "constant_within",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: the predictions remain constant across "
       "multiple calls"},
      {"example2_across_keras_seed", "not in the article", "same_across",
       "keras.utils.set_random_seed(42) in place of the article's two seeds: every fresh process draws the same weights "
       "and dropout masks"},
      {"example3_disables", "Example 3, commentary bullet 1", "disables",
       "When `training=False` is explicitly set during prediction, it disables dropout layers."},
      {"example3", "Example 3, commentary bullet 2", "inference",
       "You should expect deterministic results across different predictions even if no seed is specified."},
      {"restored", "Explanation 2, sentence 1", "restored",
       "If, during the loading process or a re-initialization of the weights (which should ideally not occur between "
       "inference runs using the same saved model), there is no fixed seed set for random number generators, model "
       "weights can change if not restored explicitly from previously saved states."},
      {"init", "Explanation 2, sentence 3", "init",
       "If users are re-building a model and re-initializing the weights multiple times, such variations in starting "
       "points will have an impact."},
      {"lesser", "Explanation 3, sentence 2", "lesser",
       "This is especially true with operations involving floating-point arithmetic and is more difficult to isolate, "
       "making it a less significant contributor to overall variability when working with a pre-trained, fixed model."},
      {"drift", "Explanation 3, sentence 3", "drift",
       "Operations like summation that, in a serial calculation, would be equivalent to associative, can sometimes "
       "produce very slightly different output values in concurrent calculations."},
      {"conclusion_training_false", "Conclusion, sentence 3", "method_param",
       "However, the most appropriate method for achieving this is to ensure `training=False` is set in the method "
       "parameters for model inference."},
      {"batch", "not in the article", "batch", "the batch a row is predicted in changes its bits"},
      {"threads", "not in the article", "threads", "the number of threads changes a row's bits"},
      {"attention_batch", "not in the article", "split_kv",
       "(LLM serving) the batch you are served in changes your output: decode attention whose KV split is chosen from "
       "the batch (split-KV)"},
      {"bf16_rounding", "not in the article", "drift",
       "(bf16 inference) float32 drift survives rounding the output to bfloat16: weights and activations in bf16, "
       "float32 accumulation, atomic kernels"},
  };
  return claims;
}

const std::vector<ScenarioClaim>& keras_only_claims() {
  static const std::vector<ScenarioClaim> claims = {
      {"predict_batch", "not in the article", "changes",
       "model.predict(x, batch_size=1) and model.predict(x, batch_size=32) give the same 32 rows different bits"},
      {"onednn", "not in the article", "changes", "switching oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) changes a row's bits"},
      {"op_determinism", "not in the article", "changes",
       "with enable_op_determinism() or TF_DETERMINISTIC_OPS=1, the batch still changes row 0's bits"},
      {"legacy_seeds", "not in the article", "same_across",
       "under tf_keras 2.21 (TF_USE_LEGACY_KERAS=1) the article's two seeds make Example 2 repeat across fresh processes"},
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

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress) {
  const Runner run{o, progress};
  const std::size_t calls = o.quick ? 4 : 10, procs = o.quick ? 3 : 4;
  const std::string wide = "the " + join(o.wide, "-") + " model";
  const bool cpu_backend = o.backend == "cpu" || (o.backend == "auto" && !gpu_status().usable);
  std::vector<ScenarioResult> out;
  auto add = [&](ScenarioResult r, const std::string& context = "") {
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
  };
  const auto tmp = std::filesystem::temp_directory_path() / ("driftlab-scenarios-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } cleanup{tmp};

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
         "the article's 10-20-10 model, dropout 0.5, no seed: " + n(4 * calls) +
             " calls as written (no training argument = inference mode), " + n(calls) +
             " calls with training=True, invariant kernel, real runs",
         "as written: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " + n(training_true) +
             " of " + n(calls),
         {}, "", {{"as_written", double(as_written)}, {"training_true", double(training_true)}}, {}, ""});
    add({0, "predict_dropout", "", "", "",
         "the as-written runs above: driftlab's model of Keras 3's model.predict is inference mode (it has no training "
         "argument: keras_check.py measures the TypeError)",
         "model.predict (inference mode): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls", {}, "",
         {{"predict", double(as_written)}}, {}, ""});
    add({0, "remnant_dropout", "", "", "",
         "nothing: driftlab's model has no dropout code on the training=False path, so it cannot keep dropout there; "
         "only real TensorFlow can answer this (scripts/keras_check.py, then --keras)",
         "not measurable in driftlab's model (its " + n(4 * calls) + " training=False calls above gave " + n(as_written) +
             " distinct output(s), by construction)",
         {}, "", {{"distinct", 0.0}}, {}, ""});
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
    if (seeding == KerasSeeding::tf_and_numpy) {
      // np.random.seed fixes the NumPy input (driftlab: the input's --seed, fixed); the weights'
      // seeds come from where driftlab's model of Keras 3 places them (fresh).
      PredictArgs in = run.small(KerasSeeding::set_random_seed, 42);  // weights fixed: only the input can differ
      in.runs = 1;
      in.processes = procs;
      const std::size_t inputs = run.distinct(in, "Example 2: the NumPy input across processes (weights fixed)");
      add({0, "example2_outside_graph", "", "", "",
           seeds_text + "; " + n(procs) + " fresh processes: the input (NumPy's, seeded) with the weights fixed, then "
               "the weights as the article's seeds leave them",
           "input: " + n(inputs) + " distinct output(s) of " + n(procs) + " processes; weights: " + n(x_as) + " of " +
               n(procs),
           {}, "", {{"input", double(inputs)}, {"weights", double(x_as)}}, {}, ""});
    }
    a.training = true;
    const std::size_t x_tr = run.distinct(a, std::string("Example 2 across processes, training=True, ") + what);
    add({0, std::string("example2_across_") + key, "", "", "",
         seeds_text + "; the first call in " + n(procs) + " fresh processes, as written and with training=True",
         "as written: " + n(x_as) + " distinct of " + n(procs) + " processes; training=True: " + n(x_tr) + " of " + n(procs), {},
         "", {{"as_written", double(x_as)}, {"training_true", double(x_tr)}}, {}, ""});
  }
  // Example 3 as written (the article's model, training=False, no seed) on the fixed-order
  // kernels; then the atomic kernels on the wide model, where split-K partials can race.
  {
    PredictArgs a = run.base();
    a.runs = 4 * calls;
    a.variant = "all";
    const auto rep = run.predict(a, "Example 3 as written: the article's model, training=False, unseeded, every kernel");
    std::size_t det = 1;
    for (const auto v : {DenseVariant::tree, DenseVariant::invariant})
      det = std::max(det, only_row(rep, v).drift.distinct_outputs);
    const std::size_t small_atomic = only_row(rep, DenseVariant::atomic).drift.distinct_outputs;
    add({0, "example3_disables", "", "", "",
         "the Example 1 runs: the article's 10-20-10 model, dropout 0.5, no seed, " + n(4 * calls) +
             " calls with training=False and " + n(calls) + " with training=True, real runs",
         "training=False: " + n(as_written) + " distinct output(s) of " + n(4 * calls) + "; training=True: " +
             n(training_true) + " of " + n(calls),
         {}, "", {{"training_false", double(as_written)}, {"training_true", double(training_true)}}, {}, ""});
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
    add({0, "example3", "", "", "",
         "the article's model as written (10-20-10, training=False, no seed, " + n(4 * calls) + " calls, tree, invariant, "
             "atomic, " + rep.backend + "); " + wide + " (init seed 3), batch 16, " + n(calls) + " calls, atomic kernels" +
             (cpu_backend ? ", real and under the seeded scheduler model" : ""),
         measured, {}, "",
         {{"deterministic", double(det)},
          {"atomic", double(model_distinct)},
          {"article_model_atomic_real_distinct", double(small_atomic)},
          {"wide_atomic_real_distinct", double(real.drift.distinct_outputs)}},
         {}, ""},
        wide + (cpu_backend ? " under the seeded GPU-scheduler model" : " in real GPU runs"));
  }
  std::size_t unseeded = 0;
  {  // Weights restored from a saved file in fresh processes (Explanation 2, sentence 1).
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
    add({0, "restored", "", "", "",
         "the article's 10-20-10 model initialised unseeded once, its weights saved to an .npz and restored (--weights) "
         "in " + n(procs) + " fresh processes, training=False; beside it " + n(procs) + " processes rebuilding it unseeded",
         "restored: " + n(restored) + " distinct output(s) of " + n(procs) + " processes; rebuilt unseeded: " + n(unseeded) +
             " of " + n(procs),
         {}, "", {{"restored", double(restored)}, {"rebuilt", double(unseeded)}}, {}, ""});
  }
  {  // Weight initialisation across processes, without and with a seed.
    PredictArgs a = run.small(KerasSeeding::set_random_seed, 7);
    a.runs = 1;
    a.processes = procs;
    const std::size_t seeded = run.distinct(a, "weights from seeded init, separate processes");
    add({0, "init", "", "", "",
         "10-20-10, training=False, " + n(procs) + " processes, init unseeded (the restored row's rebuilds) vs seeded "
             "(set_random_seed(7) -> init seed 7)",
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
    add({0, "drift", "", "", "",
         wide + ", batch 64, training=False, " + n(calls) + " calls, " + rep.backend + ", every kernel" +
             (cpu_backend ? "; atomic also under the seeded GPU-scheduler model" : ""),
         "tree and invariant (real runs): " + n(fixed) + " distinct, max " + std::to_string(fixed_ulp) +
             " ULP; atomic (real runs): " + n(atomic.drift.distinct_outputs) + " distinct of " + n(calls) + ", max " +
             std::to_string(atomic.drift.max_ulp) + " ULP, argmax changed in " + n(atomic.drift.argmax_flips) +
             " of 64 rows" + (cpu_backend ? " (2-core races depend on timing: reported, not counted)" : "") +
             (model ? "; atomic under the seeded GPU-scheduler MODEL: " + n(model->distinct_outputs) + " distinct, up to " +
                          std::to_string(model->max_ulp) + " ULP, max |diff| " + g2(model->max_abs_diff) +
                          ", argmax changed in " + n(model->argmax_flips) + " of 64 rows"
                    : std::string()),
         {}, "",
         {{"max_ulp", double(real_ulp)},
          {"model_max_ulp", double(model ? model->max_ulp : 0)},
          {"argmax_flips", double(real_flips)},
          {"distinct_fixed_order", double(fixed)},
          {"real_atomic_distinct", double(atomic.drift.distinct_outputs)},
          {"real_atomic_max_ulp", double(atomic.drift.max_ulp)},
          {"model_atomic_distinct", double(model ? model->distinct_outputs : 0)},
          {"model_argmax_flips", double(model ? model->argmax_flips : 0)}},
         {}, ""});
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
    add({0, "lesser", "", "", "",
         wide + ", batch 64, init seed 3, training=False: the accumulation order (atomics, " +
             (model ? std::string("under the seeded GPU-scheduler model") : "real runs") + ", " + n(calls) +
             " calls) against training=True (dropout seed 1) and against init seed 4's weights",
         "argmax changed in " + n(bd.argmax_flips) + " / " + n(df) + " / " + n(wf) +
             " of 64 rows; max |diff| relative to max |output|: " + rel(double(br)) + " / " + rel(double(dr)) + " / " +
             rel(double(wr)) + " (order / dropout / weights)",
         {}, "",
         {{"backend_flips", double(bd.argmax_flips)},
          {"dropout_flips", double(df)},
          {"weights_flips", double(wf)},
          {"backend_rel_ppb", double(br)},
          {"dropout_rel_ppb", double(dr)},
          {"weights_rel_ppb", double(wr)}},
         {}, ""});
  }
  add({0, "conclusion_training_false", "", "", "",
       "the Example 1 runs (training=False); that model.predict has no training parameter is driftlab's model of "
       "Keras 3 (keras_check.py measures the TypeError)",
       "model(x, training=False): " + n(as_written) + " distinct output(s) of " + n(4 * calls) + " calls", {}, "",
       {{"predict_takes_training", 0.0}, {"distinct", double(as_written)}}, {}, ""});
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
    add({0, "threads", "", "", "",
         model + ", batch 64, training=False, cpu backend with 1 and 2 threads, real runs",
         "distinct outputs across thread counts: " + per +
             " (the atomic kernel's count depends on whether a real 2-core race happened: reported, not counted)",
         {}, "",
         {{"kernels", double(kernels)}, {"atomic", 0.0}, {"threads_max_ulp", double(worst)},
          {"real_atomic_distinct", double(atomic)}},
         {}, ""});
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
    add({0, "bf16_rounding", "", "", "",
         "a bf16 " + join(o.wide, "-") + " model (weights and input rounded once, every layer's output rounded), "
             "batch 64, training=False, split-K 8 on every layer, " + n(a.runs) + " calls, atomic kernels on " +
             (cpu_backend ? "cpu, real runs and the seeded scheduler model" : "cuda") +
             "; beside it the float32 model under the same schedules",
         "before -> after the final rounding to bf16: " + std::string(model ? "under the seeded GPU-scheduler MODEL " : "") +
             words(m) +
             (model ? "; real runs (timing-dependent on 2 cores: reported, not counted) " + words(real) : std::string()) +
             ". The float32 model: " + n(f32.drift.distinct_outputs) + " distinct outputs, max " +
             std::to_string(f32.drift.max_ulp) + " ULP",
         {}, "",
         {{"max_ulp", double(model ? 0 : real.drift.max_ulp)},
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
          {"real_max_ulp_after", double(real.drift.max_ulp)}},
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
    return "both gave identical bits for the article's model; driftlab also counts its atomic kernels on the wide model "
           "under the seeded GPU-scheduler model (" + u(num(d, "atomic")) + " distinct), which TensorFlow's CPU kernels "
           "have no counterpart of";
  if ((r.key == "drift" || r.key == "bf16_rounding") && num(t, "max_ulp") == 0)
    return "TensorFlow's CPU kernels gave 0 ULP between real runs (every process measured, and across processes), as "
           "driftlab's fixed-order kernels did (tree, invariant: " + u(num(d, "distinct_fixed_order")) +
           " distinct); driftlab's drift is its atomic kernels' under the seeded GPU-scheduler model (" +
           u(num(d, "model_max_ulp")) + " ULP; real 2-core runs: " + u(num(d, "real_atomic_max_ulp")) +
           " ULP this time, not counted)";
  if (r.key == "batch" && num(t, "splitk") > 1)
    return "TensorFlow's CPU matmul changed row 0's bits with the batch size (up to " + u(num(t, "batch_max_ulp")) +
           " ULP), as driftlab's split-K kernels do (" + u(num(d, "batch_max_ulp")) +
           " ULP); only driftlab's batch-invariant kernel kept them";
  if (r.key == "threads" && num(t, "kernels") > 1 && num(d, "kernels") == 1)
    return "TensorFlow with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) changed the bits between 1 and 2 intra-op threads (" +
           u(num(t, "threads_max_ulp_onednn_off")) + " ULP); with oneDNN on, the default, it kept them (" +
           u(num(t, "threads_max_ulp_onednn_on")) + " ULP), as driftlab's fixed-order kernels do";
  if (r.key == "threads" && num(t, "kernels") == 1)
    return "TensorFlow's CPU kernels gave the same bits with 1 and 2 intra-op threads (oneDNN on and off), as "
           "driftlab's fixed-order kernels did";
  return "the counts differ: driftlab " + r.verdict_text + "; Keras " + k.verdict_text;
}

std::vector<const KerasRow*> keras_only_rows(const std::vector<ScenarioResult>& rs, const KerasCheck& k) {
  std::vector<const KerasRow*> out;
  for (const auto& entry : k.rows)  // not a structured binding: clang 14 cannot capture one
    if (std::none_of(rs.begin(), rs.end(), [&](const ScenarioResult& r) { return r.key == entry.first; }))
      out.push_back(&entry.second);
  return out;
}

std::string keras_only_claim(const std::string& key) {
  for (const auto& c : keras_only_claims())
    if (c.key == key) return c.claim;
  return "(" + key + ")";
}

void attach_keras(std::vector<ScenarioResult>& rs, const KerasCheck& k) {
  for (auto& r : rs) {
    const auto it = k.rows.find(r.key);
    if (it == k.rows.end()) continue;
    r.keras = it->second;
    r.disagreement = explain_disagreement(r, it->second);
  }
}

namespace {
std::string section(const std::string& source) { return source.substr(0, source.find(',')); }
}  // namespace

void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k) {
  out << "driftlab scenarios: the article's claims, run for real\n";
  if (k) out << "beside driftlab: real TensorFlow " << k->tensorflow << " / Keras " << k->keras << " (" << k->path << ")\n";
  out << "\n" << std::left << std::setw(4) << "#" << std::setw(20) << "source" << std::setw(18) << "driftlab";
  if (k) out << std::setw(18) << "keras";
  out << "claim\n";
  auto cut = [](std::string c) {
    if (c.size() > 90) c = c.substr(0, 87) + "...";  // the whole quote is printed below
    return c;
  };
  for (const auto& r : rs) {
    out << std::setw(4) << r.id << std::setw(20) << section(r.source) << std::setw(18) << upper(verdict_name(r.verdict));
    if (k) out << std::setw(18) << (r.keras ? upper(r.keras->verdict) : "(not run)");
    out << cut(r.source == "not in the article" ? r.claim : "\"" + r.claim + "\"") << "\n";
  }
  const auto only = k ? keras_only_rows(rs, *k) : std::vector<const KerasRow*>{};
  for (const KerasRow* kr : only)
    out << std::setw(4) << "-" << std::setw(20) << section(kr->source) << std::setw(18) << "(TF only)" << std::setw(18)
        << upper(kr->verdict) << cut(keras_only_claim(kr->key)) << "\n";
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
  for (const KerasRow* kr : only) {
    out << "-. [" << kr->source << ", real TensorFlow only] " << keras_only_claim(kr->key) << "\n"
        << "   keras ran:         " << kr->ran << "\n   keras measured:   ";
    bool first = true;
    for (const auto& [name, v] : kr->numbers) {
      out << (first ? " " : ", ") << name << " " << sig(v);
      first = false;
    }
    out << "\n   keras verdict:     " << kr->verdict_text << "\n\n";
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
  j.end_array();
  if (k) {  // rows only real TensorFlow measures
    j.key("keras_only").begin_array();
    for (const KerasRow* kr : keras_only_rows(rs, *k)) {
      j.begin_object().field("key", kr->key).field("source", kr->source).field("claim", keras_only_claim(kr->key))
          .field("ran", kr->ran).field("verdict", kr->verdict).field("verdict_text", kr->verdict_text).key("numbers")
          .begin_object();
      for (const auto& [name, v] : kr->numbers) j.field(name, v);
      j.end_object().end_object();
    }
    j.end_array();
  }
  j.end_object();
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
  if (k)
    for (const KerasRow* kr : keras_only_rows(rs, *k))
      md += row({"-", kr->source, keras_only_claim(kr->key), "(real TensorFlow only)", kr->verdict_text, ""});
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
