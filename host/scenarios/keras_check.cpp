// The Keras cross-check's file (scripts/keras_check.py --out FILE): read, checked, set beside
// driftlab's rows, and why the two disagree where they do.
#include "host/scenarios/scenarios.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "host/io/input_file.h"
#include "host/io/json_read.h"
#include "host/metrics/metrics.h"
#include "host/io/npy.h"

namespace driftlab {

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
    if (r.verdict != "holds" && r.verdict != "holds only when" && r.verdict != "does not hold" &&
        r.verdict != "not tested")
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
double num(const std::map<std::string, double>& m, const char* k) {
  const auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}
double num(const std::vector<std::pair<std::string, double>>& v, const char* k) {
  for (const auto& [name, x] : v)
    if (name == k) return x;
  return 0;
}
std::string u(double v) { return std::to_string(static_cast<std::uint64_t>(v)); }
}  // namespace

std::string explain_disagreement(const ScenarioResult& r, const KerasRow& k) {
  if (k.verdict == verdict_name(r.verdict)) return "";
  const auto& d = r.numbers;
  const auto& t = k.numbers;
  if (r.verdict == Verdict::not_tested)
    return "driftlab's model cannot test this claim; the Keras column is the only measurement of it";
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

void attach_keras(std::vector<ScenarioResult>& rs, const KerasCheck& k) {
  for (auto& r : rs) {
    const auto it = k.rows.find(r.key);
    if (it == k.rows.end()) continue;
    r.keras = it->second;
    r.disagreement = explain_disagreement(r, it->second);
  }
}

}  // namespace driftlab
