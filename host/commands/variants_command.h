// `driftlab variants [--json]`: the variant tables of kernels/common/*_variant.h as a table or
// as JSON (plots/variants.json is that JSON, which plots/ and scripts/ read), and the text the
// commands' help and error lines take from the tables.
#pragma once

#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "host/common/cli_args.h"
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

// "a, b": the names of a table's rows that pred accepts, in the table's order.
template <class Row, std::size_t N, class Pred> std::string variant_names_if(const Row (&table)[N], Pred pred) {
  std::string s;
  for (const auto& r : table)
    if (pred(r)) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

// A flag that changes only some variants (--schedule: those whose atomic adds race; --split-k:
// those that cut K), given when a command runs none of them, would be silently inert: refused,
// "FLAG: variant 'X'[ (NOTE)] has no ... (FLAG applies to a, b)".  chosen: the variants the command
// runs (empty: all of them, which always includes one that pred accepts); lacks: what they lack
// ("no atomic adds to reorder"); note: said after the names (e.g. that they are a default).
template <class Row, std::size_t N, class Variant, class Pred>
void check_flag_applies(bool given, std::string_view flag, std::span<const Variant> chosen, const Row (&table)[N],
                        Pred pred, std::string_view lacks, std::string_view note = {}) {
  if (!given || chosen.empty()) return;
  for (const Variant v : chosen)
    if (pred(table[static_cast<int>(v)])) return;
  std::string names;
  for (const Variant v : chosen) names += (names.empty() ? "'" : "' and '") + std::string(table[static_cast<int>(v)].name);
  throw UsageError(std::string(flag) + ": variant" + (chosen.size() > 1 ? "s " : " ") + names + "'" +
                   (note.empty() ? "" : " (" + std::string(note) + ")") + (chosen.size() > 1 ? " have " : " has ") +
                   std::string(lacks) + " (" + std::string(flag) + " applies to " + variant_names_if(table, pred) + ")");
}

// A variant whose level is none: its adds race, so a --schedule reorders them.
inline constexpr auto races = [](const auto& row) { return row.level == Level::none; };

void write_variants_json(std::ostream& out);
int variants_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
