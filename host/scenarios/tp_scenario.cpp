#include "host/scenarios/tp_scenario.h"

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <string>

#include "host/common/cli_args.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/mpirun_job.h"

namespace driftlab {

namespace {

// "ring 4 (3 ULP), exact 3 (1 ULP), invariant 1 (0 ULP)": each variant's distinct outputs across
// the TP sizes and the largest ULP distance of one element between two of them.
std::string per_variant(const TpReport& r) {
  std::string s;
  for (const auto& row : r.rows)
    s += (s.empty() ? "" : ", ") + std::string(tp::info(row.variant).name) + " " +
         std::to_string(row.drift.distinct_outputs) + " (" + std::to_string(row.drift.max_ulp) + " ULP)";
  return s;
}

}  // namespace

TpAcrossSizes tp_across_sizes(bool quick) {
  TpAcrossSizes r;
  PredictArgs& a = r.args;
  a.tp = {1, 2, 3, 4, 8};
  a.layers = {600, 50, 10};
  a.batch = quick ? 2 : 8;
  a.init_seed = 3;
  a.runs = 1;
  a.tp_timeout_s = 60;
  PredictArgs s = a;
  s.simulate = true;
  s.tp_variant = "all";
  r.simulated = run_predict_tp(s);
  PredictArgs m = a;
  m.simulate = false;
  m.tp_variant = "all";
  r.mpi_why = mpirun::why_no_mpirun();
  if (r.mpi_why.empty()) {
    try {
      r.mpi = run_predict_tp(m);
    } catch (const std::exception& e) {
      r.mpi_why = e.what();
    }
  }
  return r;
}

ScenarioResult tp_ranks_scenario(bool quick) {
  const TpAcrossSizes x = tp_across_sizes(quick);
  const TpReport& counted = x.mpi ? *x.mpi : x.simulated;

  std::size_t order = 0, invariant = 0;
  for (const auto& row : counted.rows) {
    std::size_t& c = row.variant == tp::TpVariant::invariant ? invariant : order;
    c = std::max(c, row.drift.distinct_outputs);
  }

  ScenarioResult r;
  r.key = "tp_ranks";
  const std::string data = "the " + x.simulated.model + " MLP (init seed " + std::to_string(x.simulated.init_seed) +
                           "), batch " + std::to_string(x.simulated.batch) + ", every dense layer's K split over " +
                           join(x.args.tp, ", ") + " ranks";
  r.ran = data + ": the in-process simulation of ring, exact and invariant (driftlab predict --tp --simulate), and " +
          (x.mpi ? std::string("on Open MPI (one mpirun per TP size, oversubscribed) mpi, ring, exact and invariant; the "
                               "verdict counts the MPI executions")
                 : "no Open MPI execution (" + x.mpi_why + "): the verdict counts the simulation");
  r.measured = "distinct outputs across TP sizes, simulated: " + per_variant(x.simulated);
  std::size_t sim_equal = 0, sim_checked = 0;
  if (x.mpi) {
    for (const auto& row : x.mpi->rows)
      if (row.sim_equal) {
        sim_equal += *row.sim_equal;
        sim_checked += x.mpi->tp.size() * std::max<std::size_t>(1, x.mpi->algorithms.size());
      }
    r.measured += "; on Open MPI: " + per_variant(*x.mpi) + "; MPI executions of ring, exact and invariant bitwise " +
                  "equal to their simulation: " + std::to_string(sim_equal) + " of " + std::to_string(sim_checked);
  }
  r.numbers = {{"order", double(order)}, {"invariant", double(invariant)}, {"mpi_executed", x.mpi ? 1.0 : 0.0}};
  for (const auto& row : x.simulated.rows) {
    const std::string v = tp::info(row.variant).name;
    r.numbers.emplace_back("sim_" + v + "_tp_distinct", double(row.drift.distinct_outputs));
    r.numbers.emplace_back("sim_" + v + "_tp_max_ulp", double(row.drift.max_ulp));
  }
  if (x.mpi) {
    for (const auto& row : x.mpi->rows) {
      const std::string v = tp::info(row.variant).name;
      r.numbers.emplace_back("mpi_" + v + "_tp_distinct", double(row.drift.distinct_outputs));
      r.numbers.emplace_back("mpi_" + v + "_tp_max_ulp", double(row.drift.max_ulp));
    }
    r.numbers.emplace_back("mpi_matches_simulation", double(sim_equal));
    r.numbers.emplace_back("mpi_checked_against_simulation", double(sim_checked));
  }
  return r;
}

}  // namespace driftlab
