#include "host/commands/variants_command.h"

#include <iomanip>

#include "host/common/cli_args.h"
#include "kernels/common/attention_variant.h"
#include "kernels/common/dense_variant.h"
#include "kernels/common/sum_variant.h"
#include "host/distributed/allreduce_sim.h"
#include "host/distributed/tp_sim.h"
#include "host/io/json.h"

namespace driftlab {
namespace {

const char* const kVariantsHelp = R"(usage: driftlab variants [--json]

Prints the variant tables (sum, dense, attention, allreduce, tp): name, determinism level, backends,
whether it splits K (dense), and how the figures draw it.  --json prints them as JSON on standard
output: plots/variants.json is that output, which plots/ and scripts/ read.

levels, weakest first: none (order follows timing), documented (run to run as its library
documents it, not asserted here), run_to_run (same bits every run), batch_invariant (and the
same bits whatever the batch), any_order (the same bits whatever the order).
)";

std::string backends_text(unsigned b) {
  return b == kBoth ? "cpu,cuda" : b == kCuda ? "cuda" : "cpu";
}

template <class Row, std::size_t N>
void write_table(JsonWriter& j, const char* op, const Row (&table)[N]) {
  j.key(op).begin_array();
  for (const auto& r : table) {
    j.begin_object().field("name", r.name).field("level", level_name(r.level)).key("backends").begin_array();
    if (r.backends & kCpu) j.value("cpu");
    if (r.backends & kCuda) j.value("cuda");
    j.end_array();
    if constexpr (requires { r.splits_k; }) j.field("splits_k", r.splits_k);
    j.field("colour", r.plot.colour).field("marker", r.plot.marker).key("plot_order");
    j.value_or_null(r.plot.order, -1);
    j.field("determinism", r.determinism).field("what", r.what).end_object();
  }
  j.end_array();
}

template <class Row, std::size_t N>
void print_table(std::ostream& out, const char* op, const Row (&table)[N]) {
  constexpr bool has_splits = requires { table[0].splits_k; };
  out << op << ":\n" << std::left << "  " << std::setw(16) << "variant" << std::setw(17) << "level" << std::setw(10)
      << "backends" << (has_splits ? "splits_k  " : "") << "determinism\n";
  for (const auto& r : table) {
    out << "  " << std::setw(16) << r.name << std::setw(17) << level_name(r.level) << std::setw(10)
        << backends_text(r.backends);
    if constexpr (has_splits) out << std::setw(10) << (r.splits_k ? "yes" : "no");
    out << r.determinism << "\n";
  }
}

}  // namespace

void write_variants_json(std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "variants");
  write_table(j, "sum", kSumVariants);
  write_table(j, "dense", kDenseVariants);
  write_table(j, "attention", kAttentionVariants);
  write_table(j, "allreduce", allreduce::kVariants);
  write_table(j, "tp", tp::kTpVariants);
  j.end_object();
  out << "\n";
}

int variants_main(std::span<const std::string_view> args, std::ostream& out) {
  bool json = false;
  ArgReader r(args);
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      out << kVariantsHelp;
      return 0;
    }
    if (f == "--json") json = r.bool_value();
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab variants --help)");
  }
  if (json) {
    write_variants_json(out);
    return 0;
  }
  print_table(out, "sum", kSumVariants);
  out << "\n";
  print_table(out, "dense", kDenseVariants);
  out << "\n";
  print_table(out, "attention", kAttentionVariants);
  out << "\n";
  print_table(out, "allreduce", allreduce::kVariants);
  out << "\n";
  print_table(out, "tp", tp::kTpVariants);
  return 0;
}

}  // namespace driftlab
