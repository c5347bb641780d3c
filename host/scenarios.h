// `driftlab scenarios`: the article's claims, each run for real (calls within a process and
// separate processes), with the measured numbers and a verdict computed from them.
#pragma once

#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace driftlab {

enum class Verdict { holds, holds_only_when, does_not_hold };
const char* verdict_name(Verdict v);

struct ScenarioResult {
  int id = 0;
  std::string claim;     // a short quote from the article
  std::string ran;       // what was run
  std::string measured;  // the numbers
  Verdict verdict = Verdict::does_not_hold;
  std::string verdict_text;  // the verdict in words ("holds only when ...")
  std::vector<std::pair<std::string, double>> numbers;  // for --json
};

// --- Verdicts: pure functions of measurements (tests feed them both outcomes) ---------------
struct VerdictText {
  Verdict verdict;
  std::string text;
};
// 1: dropout at predict time varies the output.
VerdictText verdict_dropout_varies(std::size_t distinct_calls);
// 2: a fixed seed makes repeated predictions identical, within a process and across processes.
VerdictText verdict_fixed_seed(std::size_t distinct_within_process, std::size_t distinct_across_processes);
// 3: inference mode is deterministic without any seed (deterministic kernels; atomic kernels).
VerdictText verdict_inference(std::size_t distinct_deterministic, std::size_t distinct_atomic);
// 4: unseeded initialisation changes outputs between processes; seeded does not.
VerdictText verdict_init(std::size_t distinct_unseeded, std::size_t distinct_seeded);
// 5: parallel reductions cause small drift.
VerdictText verdict_reduction_drift(std::uint64_t max_ulp, std::size_t argmax_flips, double max_abs_diff);
// 6: the batch size changes a row's bits with split-K (and cublas), not with invariant.
VerdictText verdict_batch(std::size_t splitk_batch_distinct, std::size_t invariant_batch_distinct);

struct ScenarioOptions {
  std::string backend = "auto";
  int threads = 0;
  bool quick = false;  // fewer runs and processes, and a smaller wide model
  // The wide model of scenarios 3, 5 and 6 (quick: 256,1024,1024,10).
  std::vector<std::size_t> wide = {784, 4096, 4096, 10};
};

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress);
void print_scenarios(const std::vector<ScenarioResult>& rs, std::ostream& out);
void write_scenarios_json(const std::vector<ScenarioResult>& rs, std::ostream& out);

int scenarios_main(std::span<const std::string_view> args, std::ostream& out);
extern const char* const kScenariosHelp;

}  // namespace driftlab
