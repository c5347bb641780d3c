// `driftlab scenarios`' runs: the row groups (scenario_rows.h) in the order the rows are printed, each
// running driftlab's predict (and attention) as its claim needs; a row's verdict is computed from
// its counts by the rule its claim names.  Here: that order, the shared helpers and the row step.
#include "host/scenarios/scenarios.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

#include "host/common/temp_folder.h"
#include "host/io/npy.h"
#include "host/metrics/metrics.h"
#include "host/scenarios/scenario_rows.h"

namespace driftlab {
namespace scenario_rows {

std::string n(std::size_t v) { return std::to_string(v); }

std::string rel(double ppb) {
  std::ostringstream s;
  s << std::setprecision(2) << ppb * 1e-9;
  return s.str();
}

std::string g2(double v) {
  std::ostringstream s;
  s << std::setprecision(2) << v;
  return s.str();
}

PredictRow only_row(const PredictReport& r, DenseVariant v) {
  for (const auto& row : r.rows)
    if (row.variant == v) return row;
  throw std::runtime_error(std::string("scenario: no row for ") + info(v).name);
}

std::vector<float> take_npy(const std::string& path) {
  HostArray h = npy::read(path);
  std::filesystem::remove(path);
  return h.f32;
}

std::vector<float> one_output(const Runner& run, PredictArgs a, const std::filesystem::path& tmp, const std::string& name,
                              const std::string& what) {
  a.runs = 1;
  a.processes = 1;
  a.save_output = (tmp / (name + ".npy")).string();
  run.predict(a, what);
  return take_npy(*a.save_output);
}

std::pair<std::size_t, std::size_t> effect(const std::vector<float>& ref, const std::vector<float>& other, std::size_t B,
                                           double max_abs_diff_override) {
  const OutputDrift d = output_drift({ref, other}, B, ref.size() / B);
  double scale = 0;
  for (const float v : ref) scale = std::max(scale, std::abs(double(v)));
  const double diff = max_abs_diff_override >= 0 ? max_abs_diff_override : d.max_abs_diff;
  return {d.argmax_flips, static_cast<std::size_t>(std::ceil(diff / (scale > 0 ? scale : 1) * 1e9))};
}

void Scenarios::add(ScenarioResult r, const std::string& context) {
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

}  // namespace scenario_rows

namespace {

using scenario_rows::Scenarios;

// The row groups, in the order the rows are printed.  A group may use counts an earlier one set.
constexpr void (Scenarios::*kGroups[])() = {
    &Scenarios::example1, &Scenarios::example2, &Scenarios::example3, &Scenarios::restored,
    &Scenarios::init,     &Scenarios::drift_and_lesser, &Scenarios::conclusion, &Scenarios::batch,
    &Scenarios::threads,  &Scenarios::attention, &Scenarios::bf16,   &Scenarios::ranks};

}  // namespace

std::vector<ScenarioResult> run_scenarios(const ScenarioOptions& o, std::ostream* progress) {
  Scenarios s{o, progress};
  const TempFolder tmp("scenarios");  // removed at the end, and on a stop signal (signals.h)
  s.tmp = tmp.path();
  for (const auto group : kGroups) (s.*group)();
  return std::move(s.out);
}

}  // namespace driftlab
