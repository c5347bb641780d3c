// `driftlab predict --tp`: the table and the JSON rows (predict_tp.h).
#include <iomanip>

#include "host/common/columns.h"
#include "host/commands/predict_tp.h"
#include "host/common/cli_args.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"

namespace driftlab {

namespace {
std::string times_text(const std::vector<double>& ms) {
  std::string s;
  for (const double t : ms) {
    if (!s.empty()) s += ',';
    s += sig(t, 3);
  }
  return s.empty() ? "-" : s;
}
}  // namespace

void print_tp_table(const TpReport& r, std::ostream& out) {
  out << "driftlab predict --tp (" << (r.mode == "mpi" ? "Open MPI" : "simulated in one process") << "): model " << r.model
      << " (" << r.origin << "), batch " << r.batch << ", cpu f32 inference; TP sizes " << join(r.tp);
  if (r.mode == "mpi") {
    out << "; algorithms ";
    for (std::size_t i = 0; i < r.algorithms.size(); ++i) out << (i ? "," : "") << r.algorithms[i];
    out << "; " << r.runs << " runs each";
  }
  out << "\n\n"
      << std::left << std::setw(10) << "variant" << std::setw(32) << "determinism" << std::right << std::setw(12)
      << "tp_distinct" << std::setw(11) << "tp_max_ulp" << std::setw(13) << "max_abs_diff" << std::setw(8) << "flips"
      << std::setw(12) << "ref_err" << std::setw(8) << "single" << std::setw(8) << "sim" << std::setw(10) << "non_equal"
      << "  median_ms per execution\n";
  for (const auto& row : r.rows) {
    out << std::left << std::setw(10) << tp::info(row.variant).name << std::setw(32) << tp::info(row.variant).determinism
        << std::right << Col{12} << row.drift.distinct_outputs << Col{11} << ulp_text(row.drift.max_ulp)
        << Col{13} << sig(row.drift.max_abs_diff, 3) << Col{8} << row.drift.argmax_flips << Col{12}
        << sig(row.ref_max_rel_err, 3) << Col{8}
        << (row.equals_single ? (*row.equals_single ? "yes" : "NO") : "-") << Col{8}
        << (row.sim_equal ? std::to_string(*row.sim_equal) + "/" + std::to_string(r.tp.size() * r.algorithms.size()) : std::string("-"))
        << Col{10} << (r.mode == "mpi" ? std::to_string(row.runs_non_equal) : std::string("-")) << "  "
        << times_text(row.median_ms) << "\n";
  }
  out << "\ntp_distinct = distinct outputs [B x N] across the TP sizes (and algorithms); tp_max_ulp = largest ULP\n"
         "distance of an element between two of them; flips = rows whose argmax moves; ref_err = max relative error against\n"
         "a float64 forward pass; single = invariant bitwise equal to its single-process order at every TP size;\n"
         "sim = MPI executions bitwise equal to their in-process simulation; median_ms = slowest rank's forward,\n"
         "per execution (TP size major, then algorithm).\n";
  for (const auto& m : r.mismatches) out << "MISMATCH: " << m << "\n";
}

void write_tp_json(const TpReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "predict").field("mode", r.mode).key("rows").begin_array();
  for (const auto& row : r.rows) {
    j.begin_object()
        .field("tp_variant", tp::info(row.variant).name)
        .field("determinism", tp::info(row.variant).determinism)
        .field("mode", r.mode)
        .field("model", r.model)
        .field("init_seed", r.init_seed)
        .field("batch", static_cast<std::uint64_t>(r.batch))
        .field("runs", static_cast<std::uint64_t>(r.runs));
    j.key("tp").begin_array();
    for (const auto p : r.tp) j.value(static_cast<std::uint64_t>(p));
    j.end_array().key("mpi_algorithms").begin_array();
    for (const auto& s : r.algorithms) j.value(s);
    j.end_array()
        .field("tp_distinct", static_cast<std::uint64_t>(row.drift.distinct_outputs))
        .field("tp_max_ulp", row.drift.max_ulp)
        .field("max_abs_diff", row.drift.max_abs_diff)
        .field("ratio_non_equal", row.drift.ratio_non_equal)
        .field("argmax_flips", static_cast<std::uint64_t>(row.drift.argmax_flips))
        .field("ref_max_rel_err", row.ref_max_rel_err);
    j.key("equals_single_process");
    j.value_or_null(row.equals_single);
    j.key("matches_simulation");
    row.sim_equal ? j.value(static_cast<std::uint64_t>(*row.sim_equal)) : j.null();
    j.key("runs_non_equal");
    r.mode == "mpi" ? j.value(static_cast<std::uint64_t>(row.runs_non_equal)) : j.null();
    j.key("median_ms").begin_array();
    for (const double t : row.median_ms) j.value(t);
    j.end_array().end_object();
  }
  j.end_array().end_object();
}

}  // namespace driftlab
