// `driftlab variants [--json]`: the variant tables of kernels/common/*_variant.h as a table or
// as JSON (plots/variants.json is that JSON, which plots/ and scripts/ read), and the text the
// commands' help and error lines take from the tables.
#pragma once

#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "kernels/common/variant_info.h"

namespace driftlab {

// "a, b, c": every name of a table, in its order (the error lists: "... (a, b, c, all)").
template <class Row, std::size_t N> std::string variant_names(const Row (&table)[N]) {
  std::string s;
  for (const auto& r : table) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

// "a, b, cub, thrust (CUDA only)": the help's list; CUDA-only variants come last in a table.
template <class Row, std::size_t N> std::string variant_choices(const Row (&table)[N]) {
  std::string s = variant_names(table);
  if (N > 0 && cuda_only(table[N - 1])) s += " (CUDA only)";
  return s;
}

// "variant 'X' is not available on the B backend[ (X is CUDA only)]".
template <class Row> std::string unavailable(const Row& r, const std::string& backend) {
  return "variant '" + std::string(r.name) + "' is not available on the " + backend + " backend" +
         (cuda_only(r) ? " (" + std::string(r.name) + " is CUDA only)" : "");
}

void write_variants_json(std::ostream& out);
int variants_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
