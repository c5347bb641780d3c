// `driftlab scenarios`: its flags and help, then the run, the table and the JSON.
#include "host/scenarios/scenarios.h"
#include <optional>

#include "host/common/cli_args.h"
#include "host/io/json.h"

namespace driftlab {

const char* const kScenariosHelp = R"(usage: driftlab scenarios [--backend cpu|cuda|auto] [--threads T] [--quick] [--json FILE]
                          [--keras FILE]

Runs the article's claims (Examples 1-3, Explanations 1-3, the Conclusion; one row per bullet or
sentence group, quoted verbatim with where it is) and others that are not in it, each for
real -- calls within one process and separate child processes -- and prints the claim as the
article words it, where it comes from, what was run, the measured counts and a verdict computed
from them (holds / does not hold / holds only when ... / not tested; rules in docs/verdicts.md).

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
