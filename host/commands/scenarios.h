// `driftlab scenarios`: the article's claims, quoted as written, each run for real (calls within a
// process and separate processes), with the measured counts and a verdict computed from them.
// `--keras FILE` sets beside each verdict the one real TensorFlow/Keras gave (scripts/keras_check.py).
// The verdict rules are written once in words in docs/verdicts.md, here in C++ and in
// scripts/keras_check.py; both are tested on tests/fixtures/verdict_cases.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace driftlab {

enum class Verdict { holds, holds_only_when, does_not_hold };
const char* verdict_name(Verdict v);  // the opening: "holds", "holds only when", "does not hold"

// --- Verdicts: pure functions of counts.  A count of 0 means "not measured". -----------------
struct VerdictText {
  Verdict verdict;
  std::string text;  // starts with verdict_name(verdict)
};
// Repeated calls vary (dropout): as written (no training argument) vs with training=True.
VerdictText verdict_dropout_call(std::size_t as_written, std::size_t training_true);
// Calls within one process stay constant (a fixed seed): as written vs with training=True.
VerdictText verdict_constant_within(std::size_t as_written, std::size_t training_true);
// Fresh processes give the same bits (a fixed seed): as written vs with training=True.
VerdictText verdict_same_across(std::size_t as_written, std::size_t training_true);
// training=False is deterministic without a seed: fixed-order kernels vs atomic kernels.
VerdictText verdict_inference(std::size_t deterministic, std::size_t atomic);
// training=False still has remnant dropout.
VerdictText verdict_remnant(std::size_t distinct);
// Re-initialising without a seed changes the outputs (processes unseeded vs seeded).
VerdictText verdict_init(std::size_t unseeded, std::size_t seeded);
// Parallel reductions drift run to run: measured, under the scheduler model (0: not run).
VerdictText verdict_drift(std::uint64_t max_ulp, std::uint64_t model_max_ulp, std::size_t argmax_flips);
// Row 0's bits change with the batch size: kernels that split K by batch shape vs invariant.
VerdictText verdict_batch(std::size_t splitk, std::size_t invariant);
// A row's bits change with the thread count: fixed-order kernels vs atomic kernels.
VerdictText verdict_threads(std::size_t kernels, std::size_t atomic);
// The rule named `rule` (docs/verdicts.md) on counts by name; throws std::invalid_argument for
// an unknown rule or a missing count.
VerdictText verdict_by_rule(std::string_view rule, const std::map<std::string, double>& counts);

// --- driftlab's model of where Keras 3 takes the seeds of layers built without one ----------
// Measured with scripts/keras_check.py (TensorFlow 2.21.0, Keras 3.15.1): the article's
// tf.random.set_seed(42) + np.random.seed(42) left weights and dropout masks different in every
// fresh process; adding Python's random.seed(42) made them repeat, and so did
// keras.utils.set_random_seed(42).  Keras 3 draws a default seed from Python's `random`.
enum class KerasSeeding { none, tf_and_numpy, set_random_seed };
struct ModelSeeds {
  std::optional<std::uint64_t> init, dropout;  // nullopt: fresh entropy in every process
};
ModelSeeds keras_model_seeds(KerasSeeding s, std::uint64_t seed);

// --- The Keras cross-check's file (scripts/keras_check.py --out FILE) ------------------------
struct KerasRow {
  std::string key, source, ran, verdict, verdict_text;
  std::map<std::string, double> numbers;  // numeric fields of its "numbers" object
};
struct KerasCheck {
  std::string path, tensorflow, keras;
  std::map<std::string, KerasRow> rows;  // by scenario key
};
// Throws std::runtime_error with one line naming the file when it is missing or not a
// keras_check.py output.
KerasCheck load_keras_check(const std::string& path);
// The same from the file's text (`path` names it in messages); tests/fuzz/fuzz_keras.cpp.
KerasCheck parse_keras_check(std::string_view text, const std::string& path);

// The claims, in the order they are run: key (as in keras_check.py), source, verdict rule, and
// the article's sentence(s) verbatim (driftlab's own words when the source is "not in the article").
struct ScenarioClaim {
  std::string key, source, rule, claim;
};
const std::vector<ScenarioClaim>& scenario_claims();

struct ScenarioResult {
  int id = 0;
  std::string key;       // matches keras_check.py's scenario key
  std::string source;    // "Example 1".."Example 3", "Explanation 1".."Explanation 3", "not in the article"
  std::string claim;     // the article's sentence(s) verbatim; driftlab's own words when not in the article
  std::string rule;      // the verdict rule (docs/verdicts.md)
  std::string ran;       // what was run
  std::string measured;  // the numbers in words
  Verdict verdict = Verdict::does_not_hold;
  std::string verdict_text;
  std::vector<std::pair<std::string, double>> numbers;  // the rule's counts first, then extras
  std::optional<KerasRow> keras;                        // with --keras
  std::string disagreement;                             // with --keras, when the openings differ
};

struct ScenarioOptions {
  std::string backend = "auto";
  int threads = 0;
  bool quick = false;  // fewer runs and processes, and a smaller wide model
  // The wide model of the drift, batch and thread scenarios (quick: 256,1024,1024,10).
  std::vector<std::size_t> wide = {784, 4096, 4096, 10};
};

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress);
// Sets r.keras and r.disagreement for every row the check has.
void attach_keras(std::vector<ScenarioResult>& rs, const KerasCheck& k);
// Why driftlab and Keras disagree on a scenario (empty when the openings agree).
std::string explain_disagreement(const ScenarioResult& r, const KerasRow& k);
void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k = nullptr);
void write_scenarios_json(const std::vector<ScenarioResult>& rs, std::ostream& out, const KerasCheck* k = nullptr);
// A markdown table of the side-by-side comparison (for REPORT.md and the README).
std::string scenarios_markdown(const std::vector<ScenarioResult>& rs, const KerasCheck* k);

int scenarios_main(std::span<const std::string_view> args, std::ostream& out);
extern const char* const kScenariosHelp;

}  // namespace driftlab
