#include "host/scenarios/allreduce_scenario.h"

#include <algorithm>
#include <string>

#include "host/commands/allreduce_command.h"
#include "host/common/cli_args.h"

namespace driftlab {

namespace {

// "ring 5 (3 ULP), tree 4 (3 ULP), exact 1 (0 ULP)": each variant's distinct results across the
// rank counts and the largest ULP distance of one element between two of them.
std::string per_variant(const AllreduceReport& r) {
  std::string s;
  for (const auto& row : r.rows)
    s += (s.empty() ? "" : ", ") + std::string(allreduce::info(row.variant).name) + " " +
         std::to_string(row.ranks_distinct) + " (" + std::to_string(row.ranks_max_ulp) + " ULP)";
  return s;
}

}  // namespace

ScenarioResult allreduce_ranks_scenario(bool quick) {
  AllreduceArgs a;
  a.ranks = {1, 2, 3, 4, 8};
  a.shards = 8;
  a.n = quick ? 4096 : 65536;
  a.runs = 1;
  a.timeout_s = 60;
  const AllreduceAcrossRanks x = allreduce_across_ranks(a);
  const AllreduceReport& counted = x.mpi ? *x.mpi : x.simulated;

  std::size_t order = 0, exact = 0;
  for (const auto& row : counted.rows) {
    std::size_t& c = row.variant == allreduce::Variant::exact ? exact : order;
    c = std::max(c, row.ranks_distinct);
  }

  ScenarioResult r;
  r.key = "allreduce_ranks";
  const std::string data = std::to_string(a.shards) + " gradient shards of " + std::to_string(a.n) + " " +
                           dist_name(a.dist) + " floats (seed " + std::to_string(a.seed) + "), all-reduced over " +
                           join(a.ranks, ", ") + " ranks";
  r.ran = data + ": the in-process simulation of ring, tree and exact (driftlab allreduce --simulate), and " +
          (x.mpi ? std::string("on Open MPI (one mpirun per rank count, oversubscribed) mpi, ring, tree and exact; the "
                               "verdict counts the MPI executions")
                 : "no Open MPI execution (" + x.mpi_why + "): the verdict counts the simulation");
  r.measured = "distinct results across rank counts, simulated: " + per_variant(x.simulated);
  std::size_t sim_equal = 0, sim_checked = 0;
  if (x.mpi) {
    for (const auto& row : x.mpi->rows)
      if (row.sim_equal) {
        sim_equal += *row.sim_equal;
        sim_checked += row.configs;
      }
    r.measured += "; on Open MPI: " + per_variant(*x.mpi) + "; MPI executions of ring, tree and exact bitwise equal to " +
                  "their simulation: " + std::to_string(sim_equal) + " of " + std::to_string(sim_checked);
  }
  r.numbers = {{"order", double(order)}, {"exact", double(exact)}, {"mpi_executed", x.mpi ? 1.0 : 0.0}};
  for (const auto& row : x.simulated.rows)
    r.numbers.emplace_back(std::string("sim_") + allreduce::info(row.variant).name + "_ranks_distinct",
                           double(row.ranks_distinct));
  if (x.mpi) {
    for (const auto& row : x.mpi->rows) {
      const std::string v = allreduce::info(row.variant).name;
      r.numbers.emplace_back("mpi_" + v + "_ranks_distinct", double(row.ranks_distinct));
      r.numbers.emplace_back("mpi_" + v + "_ranks_max_ulp", double(row.ranks_max_ulp));
    }
    r.numbers.emplace_back("mpi_matches_simulation", double(sim_equal));
    r.numbers.emplace_back("mpi_checked_against_simulation", double(sim_checked));
  }
  return r;
}

}  // namespace driftlab
