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

enum class Verdict { holds, holds_only_when, does_not_hold, not_tested };  // not_tested: no count measured it
const char* verdict_name(Verdict v);  // the opening: "holds", "holds only when", "does not hold"

// --- Verdicts: pure functions of counts.  A count of 0 means "not measured". -----------------
struct VerdictText {
  Verdict verdict;
  std::string text;  // starts with verdict_name(verdict)
};
// Each rule's openings and words are in docs/verdicts.md.  `wide`: the wide model's name, for the
// rules whose text names it ("" -> "the wide model").
VerdictText verdict_dropout_call(std::size_t as_written, std::size_t training_true);
VerdictText verdict_predict(std::size_t predict);
VerdictText verdict_constant_within(std::size_t as_written, std::size_t training_true);
VerdictText verdict_same_across(std::size_t as_written, std::size_t training_true);
VerdictText verdict_outside_graph(std::size_t input, std::size_t weights);
VerdictText verdict_disables(std::size_t training_false, std::size_t training_true);
VerdictText verdict_inference(std::size_t deterministic, std::size_t atomic, const std::string& wide = "");
VerdictText verdict_remnant(std::size_t distinct);  // 0: not testable (driftlab's model)
VerdictText verdict_init(std::size_t unseeded, std::size_t seeded);
VerdictText verdict_restored(std::size_t restored, std::size_t rebuilt);
VerdictText verdict_lesser(std::size_t backend_flips, std::size_t dropout_flips, std::size_t weights_flips,
                           std::size_t backend_rel_ppb, std::size_t dropout_rel_ppb, std::size_t weights_rel_ppb,
                           const std::string& wide = "");
VerdictText verdict_drift(std::uint64_t max_ulp, std::uint64_t model_max_ulp, std::size_t argmax_flips,
                          const std::string& wide = "");
VerdictText verdict_batch(std::size_t splitk, std::size_t invariant);
VerdictText verdict_split_kv(std::size_t splitkv, std::size_t invariant);
VerdictText verdict_threads(std::size_t kernels, std::size_t atomic);
// `order`: the most distinct all-reduce results across rank counts of a variant whose order follows
// the rank count (mpi, ring, tree); `exact`: the exact all-reduce's (0: not measured).
VerdictText verdict_ranks(std::size_t order, std::size_t exact);
// `order`: the most distinct outputs of predict --tp across TP sizes among mpi, ring and exact
// (whose per-rank partials follow the TP size); `invariant`: the invariant split's (0: not measured).
VerdictText verdict_tp(std::size_t order, std::size_t invariant);
VerdictText verdict_changes(std::size_t distinct, std::uint64_t max_ulp);
VerdictText verdict_method_param(std::size_t predict_takes_training, std::size_t distinct);
// The rule named `rule` (docs/verdicts.md) on counts by name; throws std::invalid_argument for
// an unknown rule or a missing count.
VerdictText verdict_by_rule(std::string_view rule, const std::map<std::string, double>& counts,
                            const std::string& wide = "");

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
// Rows that only real TensorFlow measures (scripts/keras_check.py): driftlab has no oneDNN, no
// op-determinism switch, no legacy Keras.  Printed after driftlab's rows with --keras.
const std::vector<ScenarioClaim>& keras_only_claims();

// Rows are built with named fields (run_scenarios.cpp): every member has a default.
struct ScenarioResult {
  int id = 0;
  std::string key{};       // matches keras_check.py's scenario key
  std::string source{};    // "Example 2, commentary bullet 1", "Explanation 3, sentence 2", ..., "not in the article"
  std::string claim{};     // the article's sentence(s) verbatim; driftlab's own words when not in the article
  std::string rule{};      // the verdict rule (docs/verdicts.md)
  std::string ran{};       // what was run
  std::string measured{};  // the numbers in words
  Verdict verdict = Verdict::does_not_hold;
  std::string verdict_text{};
  std::vector<std::pair<std::string, double>> numbers{};  // the rule's counts first, then extras
  std::optional<KerasRow> keras{};                        // with --keras
  std::string disagreement{};                             // with --keras, when the openings differ
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
