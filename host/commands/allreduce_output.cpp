// `driftlab allreduce`'s output: the table on the terminal and the JSON rows (allreduce_command.h).
#include <iomanip>

#include "host/common/columns.h"
#include "host/commands/allreduce_command.h"
#include "host/common/cli_args.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"

namespace driftlab {

void print_allreduce_table(const AllreduceReport& r, std::ostream& out) {
  const AllreduceArgs& a = r.args;
  out << "driftlab allreduce (" << (r.mode == "mpi" ? "Open MPI" : "simulated in one process") << "): " << a.shards
      << " shards of n=" << a.n << " floats, " << dist_name(a.dist) << " (seed " << a.seed << "); ranks "
      << join(a.ranks) << "; channels " << join(a.channels) << "; fusion " << join(a.fusion);
  if (r.mode == "mpi") {
    out << "; algorithms ";
    for (std::size_t i = 0; i < a.algorithms.size(); ++i) out << (i ? "," : "") << a.algorithms[i];
    out << "; " << a.runs << " runs each";
  }
  out << "\nexact: " << r.exact_fallback << " of " << a.n << " elements take the fallback (values spanning more binades than one int64 holds)\n\n";
  out << std::left << std::setw(8) << "variant" << std::setw(46) << "determinism" << std::right << std::setw(7) << "execs"
      << std::setw(9) << "distinct" << std::setw(13) << "ranks_dist" << std::setw(14) << "ranks_max_ulp" << std::setw(9)
      << "max_ulp" << std::setw(10) << "error_ulp" << std::setw(7) << "exact" << std::setw(8) << "sim" << std::setw(11)
      << "median_ms" << std::setw(12) << "bytes" << std::setw(8) << "cost" << "\n";
  for (const auto& row : r.rows) {
    out << std::left << std::setw(8) << allreduce::info(row.variant).name << std::setw(46)
        << allreduce::info(row.variant).determinism << std::right << Col{7} << row.configs << Col{9}
        << row.distinct_outputs << Col{13} << row.ranks_distinct << Col{14} << ulp_text(row.ranks_max_ulp)
        << Col{9} << ulp_text(row.max_ulp) << Col{10} << ulp_text(row.error_ulp) << Col{7}
        << (row.equals_exact ? "yes" : "no") << Col{8}
        << (row.sim_equal ? std::to_string(*row.sim_equal) + "/" + std::to_string(row.configs) : std::string("-"))
        << Col{11} << (row.median_ms ? sig(*row.median_ms, 4) : std::string("-")) << Col{12}
        << (r.mode == "mpi" ? std::to_string(row.payload_bytes) : std::string("-")) << Col{8}
        << (row.cost_vs_mpi ? sig(*row.cost_vs_mpi, 3) + "x" : std::string("-")) << "\n";
  }
  out << "\ndistinct = distinct result vectors over every execution; ranks_* over the rank counts; exact = every\n"
         "element bitwise equal to the exact sum of its M values; sim = MPI executions bitwise equal to the\n"
         "simulation of their order; bytes = most bytes one rank hands to MPI per all-reduce.\n";
  for (const auto& m : r.mismatches) out << "MISMATCH: " << m << "\n";
}

void write_allreduce_json(const AllreduceReport& r, std::ostream& out) {
  const AllreduceArgs& a = r.args;
  JsonWriter j(out);
  j.begin_object().field("command", "allreduce").key("rows").begin_array();
  for (const auto& row : r.rows) {
    j.begin_object()
        .field("variant", allreduce::info(row.variant).name)
        .field("determinism", allreduce::info(row.variant).determinism)
        .field("mode", r.mode)
        .field("n", static_cast<std::uint64_t>(a.n))
        .field("shards", static_cast<std::uint64_t>(a.shards))
        .field("dist", dist_name(a.dist))
        .field("seed", a.seed)
        .field("runs", static_cast<std::uint64_t>(a.runs));
    j.key("ranks").begin_array();
    for (const auto p : a.ranks) j.value(static_cast<std::uint64_t>(p));
    j.end_array().key("channels").begin_array();
    for (const auto c : a.channels) j.value(static_cast<std::uint64_t>(c));
    j.end_array().key("fusion").begin_array();
    for (const auto f : a.fusion) j.value(static_cast<std::uint64_t>(f));
    j.end_array().key("mpi_algorithms").begin_array();
    if (r.mode == "mpi")
      for (const auto& s : a.algorithms) j.value(s);
    j.end_array()
        .field("executions", static_cast<std::uint64_t>(row.configs))
        .field("distinct_outputs", static_cast<std::uint64_t>(row.distinct_outputs))
        .field("ranks_distinct", static_cast<std::uint64_t>(row.ranks_distinct))
        .field("ranks_max_ulp", row.ranks_max_ulp)
        .field("max_ulp", row.max_ulp)
        .field("error_ulp", row.error_ulp)
        .field("equals_exact", row.equals_exact)
        .field("exact_fallback_elements", static_cast<std::uint64_t>(r.exact_fallback))
        .field("runs_non_equal", static_cast<std::uint64_t>(row.runs_non_equal));
    j.key("matches_simulation");
    row.sim_equal ? j.value(static_cast<std::uint64_t>(*row.sim_equal)) : j.null();
    j.key("median_ms");
    j.value_or_null(row.median_ms);
    j.key("payload_bytes");
    r.mode == "mpi" ? j.value(row.payload_bytes) : j.null();
    j.key("cost_vs_mpi");
    j.value_or_null(row.cost_vs_mpi);
    j.end_object();
  }
  j.end_array().end_object();
}

}  // namespace driftlab
