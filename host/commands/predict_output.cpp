// `driftlab predict`'s output: the table on standard output and the --json rows
// (docs/commands/predict.md).
#include <iomanip>
#include <string>

#include "host/common/columns.h"
#include "host/common/cli_args.h"
#include "host/io/data.h"
#include "host/io/json.h"
#include "host/commands/predict_command.h"
#include "host/commands/row_json.h"

namespace driftlab {
namespace {

// A right-aligned table column of width w that always keeps one blank before its text, so a value
// wider than its column pushes the row right instead of running into its neighbour.

}  // namespace

void print_predict_table(const PredictReport& r, std::ostream& out) {
  out << "driftlab predict: model " << r.model << " (" << r.origin << "), batch " << r.batch << ", "
      << (r.training ? "training=True (dropout active)" : "inference (training=False)") << "\n"
      << r.runs << " calls x " << r.processes << (r.processes > 1 ? " processes" : " process") << "; seeds: " << r.seeds
      << "\nbackend " << r.backend << ": " << r.device << "\n"
      << r.atomic_note << "\n";
  if (r.dtype != DType::f32)
    out << "dtype " << dtype_name(r.dtype) << ": 16-bit weights, input and activations, float32 accumulation; "
        << "the table is the " << dtype_name(r.dtype) << " output (max_ulp in " << dtype_name(r.dtype) << " ULPs)\n";
  out << "\n";
  const bool sweep = !r.batch_sweep.empty();
  out << std::left << std::setw(11) << "variant" << std::setw(44) << "determinism" << std::setw(12) << "slices"
      << std::right << Col{9} << "distinct" << Col{10} << "non_equal" << Col{9} << "max_ulp"
      << Col{11} << "max_abs" << Col{8} << "argmax" << Col{10} << "ref_err" << Col{11}
      << "median_ms" << Col{11} << "samples/s" << Col{8} << "cost" << Col{11} << "vs_vendor";
  if (sweep) out << Col{10} << "batch_dst" << Col{10} << "batch_ulp";
  out << "\n";
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    out << std::left << std::setw(11) << info(row.variant).name << std::setw(44) << info(row.variant).determinism
        << std::setw(12) << (row.slices.empty() ? std::string("-") : join(row.slices, "/")) << std::right << Col{9} << d.distinct_outputs << Col{10}
        << sig(d.ratio_non_equal, 2) << Col{9} << ulp_text(d.max_ulp) << Col{11} << sig(d.max_abs_diff, 2)
        << Col{8} << d.argmax_flips << Col{10} << sig(row.ref_max_rel_err, 2) << Col{11}
        << sig(row.median_ms, 4) << Col{11} << sig(row.samples_per_s, 4) << Col{8}
        << (row.cost_vs_atomic ? sig(*row.cost_vs_atomic, 3) + "x" : std::string("-")) << Col{11}
        << (row.cost_vs_vendor ? sig(*row.cost_vs_vendor, 3) + "x" : std::string("-"));
    if (sweep) out << Col{10} << *row.batch_distinct << Col{10} << ulp_text(*row.batch_max_ulp);
    out << "\n";
  }
  out << "\ncost = median time relative to atomic; vs_vendor = relative to " << r.vendor << " (inference, same threads"
      << (r.dtype == DType::f32   ? ")."
          : r.backend == "cuda" ? "; cublasGemmEx with 16-bit inputs and float32 accumulation)."
                                : "; sgemm on the widened weights, float32 throughout).")
      << "\nslices = split-K S per layer.  distinct = distinct bit patterns of the whole output over "
      << r.runs * r.processes << " runs.\nargmax = rows whose argmax changed from run 0.";
  if (sweep) out << "  batch_dst/batch_ulp: row 0 inside batches of " << join(r.batch_sweep) << ".";
  out << "\n";
  if (r.dtype == DType::f32) return;
  // What the rounding did to the same runs' drift: the last layer's float32 output before it.
  out << "\nbefore rounding to " << dtype_name(r.dtype) << " (the last layer's float32 output, float32 ULPs) -> after:\n"
      << std::left << std::setw(11) << "variant" << std::right << Col{16} << "distinct" << Col{18}
      << "non_equal" << Col{22} << "max_ulp" << Col{12} << "argmax" << "\n";
  for (const auto& row : r.rows) {
    if (!row.before) continue;
    const auto& b = *row.before;
    const auto& d = row.drift;
    auto pair = [](const std::string& x, const std::string& y) { return x + " -> " + y; };
    out << std::left << std::setw(11) << info(row.variant).name << std::right << Col{16}
        << pair(std::to_string(b.distinct_outputs), std::to_string(d.distinct_outputs)) << Col{18}
        << pair(sig(b.ratio_non_equal, 2), sig(d.ratio_non_equal, 2)) << Col{22}
        << pair(ulp_text(b.max_ulp), ulp_text(d.max_ulp)) << Col{12}
        << pair(std::to_string(b.argmax_flips), std::to_string(d.argmax_flips)) << "\n";
  }
}

void write_predict_json(const PredictReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "predict").key("rows").begin_array();
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    row_header(j.begin_object(), r.backend, r.device, info(row.variant))
        .field("model", r.model)
        .field("origin", r.origin)
        .field("batch", static_cast<std::uint64_t>(r.batch))
        .field("runs", static_cast<std::uint64_t>(r.runs))
        .field("processes", static_cast<std::uint64_t>(r.processes))
        .field("training", r.training)
        .field("dtype", dtype_name(r.dtype))
        .field("ulp_unit", dtype_name(r.dtype))
        .field("seeds", r.seeds)
        .field("slices", row.slices.empty() ? std::string("-") : join(row.slices, "/"));
    drift_fields(j, d)
        .field("max_abs_diff", d.max_abs_diff)
        .field("argmax_flips", static_cast<std::uint64_t>(d.argmax_flips))
        .field("ref_max_rel_err", row.ref_max_rel_err)
        .field("median_ms", row.median_ms)
        .field("samples_per_s", row.samples_per_s);
    cost_fields(j, row.cost_vs_atomic, r.vendor, row.cost_vs_vendor);
    if (row.before) {  // a 16-bit model: the same runs' float32 output before the rounding
      const auto& b = *row.before;
      drift_fields(j.key("before_rounding").begin_object().field("ulp_unit", "f32"), b)
          .field("max_abs_diff", b.max_abs_diff).field("argmax_flips", static_cast<std::uint64_t>(b.argmax_flips)).end_object();
    }
    if (row.batch_distinct) {
      j.field("batch_sizes", join(r.batch_sweep))
          .field("batch_distinct", static_cast<std::uint64_t>(*row.batch_distinct))
          .key("batch_max_ulp");
      j.value_or_null(*row.batch_max_ulp, kUnorderedUlp);
    }
    j.end_object();
  }
  j.end_array().end_object();
}

}  // namespace driftlab
