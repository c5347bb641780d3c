// The verdict rules of `driftlab scenarios`: pure functions of counts (docs/verdicts.md; the
// Python twin is in scripts/keras_check.py), and where driftlab's model of Keras 3 takes seeds.
#include "host/scenarios/scenarios.h"
#include <algorithm>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace driftlab {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::holds: return "holds";
    case Verdict::holds_only_when: return "holds only when";
    case Verdict::does_not_hold: return "does not hold";
    case Verdict::not_tested: return "not tested";
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
  // Count 0: nothing measured it.  The opening must not read as a refutation.
  return {Verdict::not_tested,
          "not tested here: driftlab's model has no dropout on its training=False path by construction, so only real "
          "TensorFlow can test this claim (scripts/keras_check.py, then --keras)"};
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
                "); the real runs counted here, of the fixed-order kernels, did not drift (real 2-core atomic races depend "
                "on timing: reported beside this, not counted)"};
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
  return {Verdict::does_not_hold, "does not hold: every kernel counted gave the same bits at every thread count tried"};
}

VerdictText verdict_ranks(std::size_t order, std::size_t exact) {
  if (order > 1 && exact == 1)
    return {Verdict::holds_only_when,
            "holds only when the all-reduce adds the ranks' partial sums in an order that follows the rank count: the "
            "exact all-reduce kept every element's bits at every rank count"};
  if (order > 1 || exact > 1)
    return {Verdict::holds, "holds: the all-reduced vector took " + n(std::max(order, exact)) +
                                " distinct values across rank counts"};
  return {Verdict::does_not_hold, "does not hold: the all-reduce gave the same bits at every rank count"};
}

VerdictText verdict_tp(std::size_t order, std::size_t invariant) {
  if (order > 1 && invariant == 1)
    return {Verdict::holds_only_when,
            "holds only when each GPU's share of a layer's sum follows the TP size: the invariant split (fixed K chunks, "
            "combined exactly) kept every output's bits at every TP size"};
  if (order > 1 || invariant > 1)
    return {Verdict::holds, "holds: predict's output took " + n(std::max(order, invariant)) + " distinct values across TP sizes"};
  return {Verdict::does_not_hold, "does not hold: predict gave the same bits at every TP size"};
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
  if (rule == "ranks") return verdict_ranks(get("order"), get("exact"));
  if (rule == "tp") return verdict_tp(get("order"), get("invariant"));
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

}  // namespace driftlab
