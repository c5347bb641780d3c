// What every variant table (sum_variant.h, dense_variant.h, attention_variant.h) says about a
// variant beyond its name: its determinism level as a value, the backends that run it and how
// the figures draw it.  `driftlab variants --json` prints the tables; plots/ and scripts/ read
// that JSON (plots/variants.json) instead of keeping lists of their own.
#pragma once

#include <cstddef>

namespace driftlab {

// CUB's vocabulary, extended (README "Variants"); ordered, weakest first.  `documented`: run to
// run as its library documents it, not asserted by driftlab's checks.
enum class Level { none, documented, run_to_run, batch_invariant, any_order };

inline constexpr const char* level_name(Level l) {
  switch (l) {
    case Level::none: return "none";
    case Level::documented: return "documented";
    case Level::run_to_run: return "run_to_run";
    case Level::batch_invariant: return "batch_invariant";
    case Level::any_order: return "any_order";
  }
  return "?";
}

// The backends that run a variant (a bit set).
inline constexpr unsigned kCpu = 1, kCuda = 2, kBoth = kCpu | kCuda;

// How the figures draw a variant: a matplotlib colour and marker ("" for the default), and its
// place in legends (-1: after the ordered names, alphabetically).  The orders of the sum and
// dense tables share one scale, as they share figures, with plots/plot.py's baselines (openblas:
// 80); steps of 10 leave room for a new variant between two, and no two names share an order.
struct PlotStyle {
  const char* colour;
  const char* marker;
  int order;
};

// info(v) indexes a table by its enum: the rows must list the enum in order.
template <class Row, std::size_t N> constexpr bool table_in_enum_order(const Row (&table)[N]) {
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(table[i].variant) != i) return false;
  return true;
}

template <class Row> constexpr bool cuda_only(const Row& r) { return r.backends == kCuda; }

}  // namespace driftlab
