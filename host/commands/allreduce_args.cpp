// `driftlab allreduce`'s flags and help (allreduce_command.h).
#include <algorithm>

#include "host/commands/allreduce_command.h"
#include "host/common/cli_args.h"
#include "host/common/memory_bound.h"
#include "host/distributed/mpirun_job.h"
#include "kernels/common/allreduce_order.h"

namespace driftlab {

const char* const kAllreduceHelp = R"(usage: driftlab allreduce [options]
       mpirun -np P [--hostfile FILE] driftlab allreduce [options]   (rank 0 prints)

All-reduces M gradient shards of n floats over P ranks with each variant, on Open MPI (one mpirun
per rank count, launched by driftlab) or simulated in one process (--simulate), and measures how
the result moves with the rank count, the MPI algorithm, the channel count and the fusion size.
The shards are the same global data for every rank count, split over the ranks in contiguous
groups; each rank adds its shards in order, then the all-reduce combines the ranks
(kernels/common/allreduce_order.h writes every order down).

options:
  --n N                 floats per shard (decimal or 2^K; default 2^16, or 2^22/M when smaller)
  --shards M            gradient shards (default 8, or the largest --ranks value when larger)
  --ranks LIST          rank counts, e.g. 1,2,3,4,8 (default); MPI: 1 to 256, --simulate: 1 to 65536
  --variant NAME|all    mpi, ring, tree, exact, a comma-separated list, or all (default)
  --dist uniform|normal|illcond
                        the shards' distribution (default uniform)
  --seed S              seed of the shards (default 1)
  --runs R              runs per execution (default 3): run-to-run drift and the median time
  --channels LIST       ring channel counts, 1 to 64 (default 1)
  --fusion LIST         buffer sizes in floats: the n floats are all-reduced as buffers of this
                        many (0, the default: one buffer)
  --mpi-algorithm LIST  default (Open MPI's choice), linear, recursive_doubling, ring,
                        segmented_ring, rabenseifner, or all; forced through the MCA parameters
                        coll_tuned_use_dynamic_rules=1 coll_tuned_allreduce_algorithm=N, for every
                        collective of the execution (exact's integer collectives included)
  --simulate            evaluate the orders in one process, no MPI (mpi is then not run)
  --timeout SECONDS     limit for each mpirun (default 120); past it the job is killed
  --json FILE           also write the rows as JSON
  --help                this text

determinism levels:
  mpi    run to run for one rank count, algorithm and message size (Open MPI's order)
  ring   run to run for one rank count, channel count and buffer size (NCCL's ring order)
  tree   run to run for one rank count (a fixed binomial tree to rank 0, then broadcast)
  exact  any rank count, algorithm, channel count and buffer size: the exact sum of each
         element's M shard values rounded once (bitwise `driftlab sum --variant exact`)

metrics: distinct = distinct result vectors over every execution; ranks_distinct and ranks_max_ulp
over the rank counts; max_ulp over every execution; error_ulp = largest distance of an element
from the exact sum; sim = MPI executions bitwise equal to their simulation; median_ms (slowest
rank); bytes = most bytes one rank hands to MPI per all-reduce; cost = median time / mpi's.
Bad input: one line on stderr, exit 2 (command line) or 1 (MPI missing, mpirun failed or timed out).
)";

AllreduceArgs parse_allreduce_args(std::span<const std::string_view> argv) {
  AllreduceArgs a;
  ArgReader r(argv);
  bool n_given = false, algorithms_given = false;
  std::string ranks_text;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      a.help = true;
    } else if (f == "--n") {
      a.n = parse_count(r.value(), "--n");
      if (a.n < 1 || a.n > (std::size_t(1) << 28)) throw UsageError("--n: expected 1 to 2^28");
      n_given = true;
    } else if (f == "--shards") {
      a.shards = parse_count(r.value(), "--shards");
      if (a.shards < 1 || a.shards > allreduce::kMaxShards) throw UsageError("--shards: expected 1 to 2^20");
      a.shards_given = true;
    } else if (f == "--ranks") {
      ranks_text = r.value();
      a.ranks = parse_list(ranks_text, "--ranks", 1, 65536);
    } else if (f == "--variant") {
      a.variant = r.value();
      if (a.variant != "all") {
        const std::vector<std::string> names = split_list(a.variant, "--variant");
        for (const std::string& item : names)
          if (item == "all") throw UsageError("--variant: all stands alone, not in a list");
          else if (!allreduce::parse_variant(item))
            throw UsageError("--variant: unknown variant '" + item + "' (mpi, ring, tree, exact, all, or a list)");
        refuse_repeats(names, "--variant");
      }
    } else if (f == "--dist") {
      a.dist = parse_dist_flag(r.value());
    } else if (f == "--seed") {
      a.seed = parse_count(r.value(), "--seed");
    } else if (f == "--runs") {
      a.runs = parse_count(r.value(), "--runs");
      if (a.runs < 1 || a.runs > 100000) throw UsageError("--runs: expected 1 to 100000");
    } else if (f == "--channels") {
      a.channels = parse_list(r.value(), "--channels", 1, 64);
    } else if (f == "--fusion") {
      a.fusion = parse_list(r.value(), "--fusion", 0, std::size_t(1) << 28);
    } else if (f == "--mpi-algorithm") {
      a.algorithms = mpirun::parse_algorithms(r.value());
      algorithms_given = true;
    } else if (f == "--simulate") {
      a.simulate = r.bool_value();
    } else if (f == "--timeout") {
      const auto t = parse_count(r.value(), "--timeout");
      if (t < 1 || t > 86400) throw UsageError("--timeout: expected 1 to 86400 seconds");
      a.timeout_s = static_cast<double>(t);
    } else if (f == "--json") {
      a.json = parse_path(r.value(), "--json");
    } else if (f == "--mpi-worker") {
      a.mpi_worker = r.bool_value();
    } else if (f == "--mpi-out") {
      a.mpi_out = parse_path(r.value(), "--mpi-out");
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab allreduce --help)");
    }
  }
  if (a.help) return a;
  if (a.mpi_out && !a.mpi_worker) throw UsageError("--mpi-out is internal: it goes with --mpi-worker");
  const std::size_t max_ranks = *std::max_element(a.ranks.begin(), a.ranks.end());
  if (!a.simulate && !a.mpi_worker && max_ranks > 256)
    throw UsageError("--ranks: MPI executions take 1 to 256 ranks (--simulate takes up to 65536)");
  if (a.simulate && algorithms_given)
    throw UsageError("--mpi-algorithm chooses Open MPI's algorithm; --simulate runs no MPI");
  if (a.simulate && a.variant.find("mpi") != std::string::npos)
    throw UsageError("--variant mpi: Open MPI's order is measured, not simulated (drop --simulate)");
  if (!a.shards_given && max_ranks > a.shards) a.shards = std::min(max_ranks, allreduce::kMaxShards);
  if (!n_given) a.n = std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(1) << 16, (std::size_t(1) << 22) / a.shards));
  // The shards, plus room: every rank of an execution holds the whole data on one machine.
  if (const auto refusal = memory_refusal(4.0 * static_cast<double>(a.n) * static_cast<double>(a.shards) * 3, "--n x --shards"))
    throw UsageError(*refusal);
  if (!a.simulate && a.n > (std::size_t(1) << 26)) throw UsageError("--n: MPI executions take at most 2^26 floats per shard");
  return a;
}

}  // namespace driftlab
