// `driftlab allreduce`: the all-reduce variants (mpi, ring, tree, exact) on Open MPI, one mpirun
// per rank count, each execution compared bit for bit with its simulation; or, with --simulate,
// the orders alone in one process at any rank count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/distributed/allreduce_sim.h"
#include "host/io/data.h"

namespace driftlab {

struct AllreduceArgs {
  std::size_t n = std::size_t(1) << 16;  // floats per shard
  std::size_t shards = 8;
  bool shards_given = false;
  std::vector<std::size_t> ranks = {1, 2, 3, 4, 8};
  std::string variant = "all";
  Dist dist = Dist::uniform;
  std::uint64_t seed = 1;
  std::size_t runs = 3;
  std::vector<std::size_t> channels = {1};
  std::vector<std::size_t> fusion = {0};
  std::vector<std::string> algorithms = {"default"};  // Open MPI's choice, or forced by MCA parameters
  bool simulate = false;
  std::optional<std::string> json;
  double timeout_s = 120;  // per mpirun
  // Internal: this process is one rank of an execution that `driftlab allreduce` launched.
  bool mpi_worker = false;
  std::optional<std::string> mpi_out;
  bool help = false;
};

AllreduceArgs parse_allreduce_args(std::span<const std::string_view> args);  // throws UsageError
extern const char* const kAllreduceHelp;

struct AllreduceRow {
  allreduce::Variant variant;
  std::size_t configs = 0;           // executions (rank counts x algorithms x channels x fusion sizes)
  std::size_t distinct_outputs = 0;  // distinct result vectors over every execution
  std::size_t ranks_distinct = 0;    // ... over the rank counts (first algorithm, channel count, fusion size)
  std::uint64_t ranks_max_ulp = 0;   // largest ULP distance of one element between two rank counts
  std::uint64_t max_ulp = 0;         // ... between any two executions
  std::uint64_t error_ulp = 0;       // largest ULP distance of one element from the exact sum
  bool equals_exact = false;         // every execution bitwise equal to the exact sum per element
  std::size_t runs_non_equal = 0;   // runs that differ from their execution's run 0 (MPI only)
  std::optional<std::size_t> sim_equal;  // MPI executions bitwise equal to their simulation (not mpi)
  std::optional<double> median_ms;   // MPI only: median over executions of the slowest rank's median
  std::uint64_t payload_bytes = 0;   // most bytes one rank hands to MPI in one all-reduce (MPI only)
  std::optional<double> cost_vs_mpi;
};

struct AllreduceReport {
  AllreduceArgs args;
  std::string mode;  // "mpi" or "simulate"
  std::size_t exact_fallback = 0;  // elements the exact variant sends through its fallback
  std::vector<AllreduceRow> rows;
  std::vector<std::string> mismatches;  // "ring at 3 ranks (...): element i" for MPI != simulation
};

AllreduceReport run_allreduce(const AllreduceArgs& a);
void print_allreduce_table(const AllreduceReport& r, std::ostream& out);
void write_allreduce_json(const AllreduceReport& r, std::ostream& out);

// The all-reduce across rank counts as `driftlab scenarios` and `driftlab report` run it (a, with
// its ranks, n, shards, dist, seed and runs): the simulation of ring, tree and exact always (in
// one process, milliseconds), and the Open MPI execution of every variant when this build has MPI
// and mpirun runs (one mpirun per rank count, each limited to a.timeout_s); otherwise `mpi_why`
// says in one line why only the simulation ran.
struct AllreduceAcrossRanks {
  AllreduceReport simulated;
  std::optional<AllreduceReport> mpi;
  std::string mpi_why;  // empty when `mpi` is set
};
AllreduceAcrossRanks allreduce_across_ranks(const AllreduceArgs& a);

int allreduce_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
