// `driftlab trace`'s output: the table on standard output and the --json rows
// (docs/commands/trace.md).
#include <iomanip>
#include <sstream>
#include <string>

#include "host/common/cli_args.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"
#include "host/commands/trace_command.h"

namespace driftlab {

void print_trace_table(const TraceReport& r, std::ostream& out) {
  out << "driftlab trace: model " << r.model << " (" << r.origin << "), variant " << r.variant << ", compare "
      << r.compare << "\ndtype " << r.dtype << "; max_ulp in " << r.ulp_unit
      << " ULPs (16-bit values compared widened to float32)\nseeds: " << r.seeds << "\n";
  for (const TraceSide* s : {&r.a, &r.b})
    out << (s == &r.a ? "A: " : "B: ") << s->label << ", " << s->variant << " on " << s->backend << " (" << s->device
        << ")" << (s->slices.empty() ? std::string() : ", split-K slices per layer " + join(s->slices, "/")) << "\n";
  out << "\n"
      << std::left << std::setw(7) << "layer" << std::setw(10) << "stage" << std::right << std::setw(10) << "elements"
      << std::setw(12) << "max_ulp" << std::setw(14) << "sign_changes" << std::setw(13) << "frac_differ" << std::setw(14)
      << "max_rel_diff" << "\n";
  bool changes = false;
  for (const StageDiff& d : r.rows) {
    out << std::left << std::setw(7) << d.layer << std::setw(10) << stage_name(d.stage) << std::right << std::setw(10)
        << d.elements << std::setw(12) << ulp_text(d.max_ulp) << std::setw(14) << d.sign_changes << std::setw(13)
        << sig(d.frac_differ, 3) << std::setw(14) << sig(d.max_rel_diff, 3) << "\n";
    changes = changes || d.sign_changes > 0;
  }
  if (changes)
    out << "\nsign_changes: elements whose sign (negative, zero, positive) differs in A and B.  ULPs are counted\n"
           "from zero and through it (0 and 1e-4 are 9.5e8 ULPs apart, 1e-8 and -1e-8 1.7e9), so a row with\n"
           "sign changes can owe its max_ulp to one value at or near zero: read max_rel_diff there.\n";
  out << "\n";
  if (!r.first) {
    out << "first divergence: none -- every stage of every layer has the same bits in A and B\n";
  } else {
    const Divergence& f = *r.first;
    out << "first divergence: layer " << f.layer << ", stage " << stage_name(f.stage) << ", index " << f.index
        << " (row " << (r.row ? *r.row : f.index / f.width) << ", column " << f.index % f.width << "): A = "
        << round_trip(f.a) << " (" << hex_bits(std::bit_cast<std::uint32_t>(f.a), 4) << "), B = " << round_trip(f.b)
        << " (" << hex_bits(std::bit_cast<std::uint32_t>(f.b), 4) << "), " << ulp_text(ulp_distance(f.a, f.b))
        << " ulp\n";
  }
  out << "time" << (r.timing_reps > 1 ? " (medians of " + std::to_string(r.timing_reps) + " interleaved repetitions)" : std::string())
      << ": the two plain predict calls " << sig(r.predict_ms, 3) << " ms; the two traced calls and the comparison "
      << sig(r.trace_ms, 3) << " ms (" << sig(r.predict_ms > 0 ? r.trace_ms / r.predict_ms : 0, 3) << "x)\n";
}

void write_trace_json(const TraceReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object()
      .field("command", "trace")
      .field("model", r.model)
      .field("origin", r.origin)
      .field("compare", r.compare)
      .field("variant", r.variant)
      .field("dtype", r.dtype)
      .field("ulp_unit", r.ulp_unit)
      .field("seeds", r.seeds);
  j.key("row");
  r.row ? j.value(static_cast<std::uint64_t>(*r.row)) : j.null();
  for (const TraceSide* s : {&r.a, &r.b}) {
    j.key(s == &r.a ? "a" : "b")
        .begin_object()
        .field("label", s->label)
        .field("backend", s->backend)
        .field("device", s->device)
        .field("variant", s->variant)
        .field("batch", static_cast<std::uint64_t>(s->batch))
        .field("slices", s->slices.empty() ? std::string("-") : join(s->slices, "/"))
        .end_object();
  }
  j.key("rows").begin_array();
  for (const StageDiff& d : r.rows) {
    j.begin_object()
        .field("layer", static_cast<std::uint64_t>(d.layer))
        .field("stage", stage_name(d.stage))
        .field("elements", static_cast<std::uint64_t>(d.elements))
        .key("max_ulp");
    j.value_or_null(d.max_ulp, kUnorderedUlp);
    j.field("sign_changes", static_cast<std::uint64_t>(d.sign_changes))
        .field("frac_differ", d.frac_differ)
        .field("max_rel_diff", d.max_rel_diff)
        .end_object();
  }
  j.end_array().key("first_divergence");
  if (!r.first) {
    j.null();
  } else {
    const Divergence& f = *r.first;
    j.begin_object()
        .field("layer", static_cast<std::uint64_t>(f.layer))
        .field("stage", stage_name(f.stage))
        .field("index", static_cast<std::uint64_t>(f.index))
        .field("a", round_trip(f.a))
        .field("b", round_trip(f.b))
        .field("a_bits", hex_bits(std::bit_cast<std::uint32_t>(f.a), 4))
        .field("b_bits", hex_bits(std::bit_cast<std::uint32_t>(f.b), 4))
        .end_object();
  }
  j.field("predict_ms", r.predict_ms)
      .field("trace_ms", r.trace_ms)
      .field("timing_reps", static_cast<std::uint64_t>(r.timing_reps))
      .end_object();
}

}  // namespace driftlab
