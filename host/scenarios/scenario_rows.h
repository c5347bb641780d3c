// The scenarios' row groups and what they share: the state one group leaves for the next, the
// runner that calls predict, and the helpers that put counts into words.  run_scenarios.cpp runs
// the groups in the order the rows are printed; article_rows.cpp and reduction_rows.cpp hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "host/backends/gpu.h"
#include "host/commands/predict_command.h"
#include "host/common/cli_args.h"
#include "host/scenarios/scenarios.h"

namespace driftlab::scenario_rows {

std::string n(std::size_t v);
std::string rel(double ppb);  // a relative difference given in parts per billion, 2 digits
std::string g2(double v);     // 2 significant digits

// The row of variant `v` in a predict report; throws std::runtime_error when there is none.
PredictRow only_row(const PredictReport& r, DenseVariant v);

// Runs driftlab's predict with the scenarios' backend and threads, naming each run on `progress`.
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

// Reads the .npy files a --save-output run wrote (one per variant) and removes them.
std::vector<float> take_npy(const std::string& path);

// One call's output of a single variant (save_output), read back and removed.
std::vector<float> one_output(const Runner& run, PredictArgs a, const std::filesystem::path& tmp, const std::string& name,
                              const std::string& what);
// (argmax flips, max |difference| relative to max |ref|, in parts per billion, rounded up).
std::pair<std::size_t, std::size_t> effect(const std::vector<float>& ref, const std::vector<float>& other, std::size_t B,
                                           double max_abs_diff_override = -1);

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
  void add(ScenarioResult r, const std::string& context = "");

  // The row groups (run_scenarios.cpp's kGroups runs them in the order the rows are printed).
  // article_rows.cpp: the article's examples, weights and seeds.
  void example1();
  void example2();
  void example3();
  void restored();
  void init();
  void conclusion();
  // reduction_rows.cpp: parallel reductions, batch size, thread count, attention, bf16, ranks.
  void drift_and_lesser();
  void batch();
  void threads();
  void attention();
  void bf16();
  void ranks();
};

}  // namespace driftlab::scenario_rows
