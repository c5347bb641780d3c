// The summation variants: names, determinism levels and one line on what each does.
// The command line (its help and error lists), the JSON, the benchmark names and the figures
// (plots/variants.json, from `driftlab variants --json`) all take their spelling from here.
// Adding a variant: docs/adding-a-variant.md.
#pragma once

#include <optional>
#include <string_view>

#include "kernels/common/variant_info.h"

namespace driftlab {

enum class SumVariant { serial, atomic_element, atomic, tree, exact, cub, thrust };

struct SumVariantInfo {
  SumVariant variant;
  const char* name;
  const char* determinism;  // CUB's vocabulary, extended: none, fixed_order, run_to_run, ...
  const char* what;
  Level level;
  unsigned backends;  // kCpu, kCuda or kBoth
  PlotStyle plot;
  const char* help;  // its line under "determinism levels" in `driftlab sum --help`
};

inline constexpr SumVariantInfo kSumVariants[] = {
    {SumVariant::serial, "serial", "fixed order",
     "left-to-right fold from +0, std::accumulate's order: the textbook reference",
     Level::run_to_run, kCpu, {"#7f7f7f", "v", 10}, "fixed order (std::accumulate's left-to-right fold)"},
    {SumVariant::atomic_element, "atomic_element", "none",
     "every element atomically added to one accumulator: the worst case",
     Level::none, kBoth, {"#d62728", "X", 20}, "none: every element is an atomic add; order follows timing"},
    {SumVariant::atomic, "atomic", "none",
     "fixed in-tile tree per block, then one atomic add of each block's partial (CUB's not_guaranteed)",
     Level::none, kBoth, {"#ff7f0e", "o", 30}, "none: fixed in-block tree, then an atomic add per block"},
    {SumVariant::tree, "tree", "run to run, across threads and devices",
     "fixed 65536-element tiles, fixed in-tile tree, partials combined by a fixed tree: order is a function of n",
     Level::run_to_run, kBoth, {"#1f77b4", "s", 40}, "run to run, across thread counts and devices: order is a function of n"},
    {SumVariant::exact, "exact", "any order, any device",
     "exact sum in a wide fixed-point accumulator, rounded once to nearest-even",
     Level::any_order, kBoth, {"#2ca02c", "D", 50}, "any order, any device: exact sum rounded once to nearest-even"},
    {SumVariant::cub, "cub", "run to run (same GPU model)",
     "cub::DeviceReduce::Sum, the vendor baseline (CUDA only)",
     Level::run_to_run, kCuda, {"#9467bd", "^", 70}, "run to run on one GPU model (CUB's default guarantee)"},
    {SumVariant::thrust, "thrust", "run to run (same GPU model; built on CUB)",
     "thrust::reduce with thrust::plus: what CUDA users write first; returns to the host, allocates per call (CUDA only)",
     Level::documented, kCuda, {"#bcbd22", "", -1}, "run to run on one GPU model as documented (thrust::reduce is built on CUB)"},
};

static_assert(table_in_enum_order(kSumVariants), "kSumVariants lists its enum in order");

inline constexpr const SumVariantInfo& info(SumVariant v) { return kSumVariants[static_cast<int>(v)]; }

// The vendor-library variants: CUDA only.
inline constexpr bool cuda_only(SumVariant v) { return cuda_only(info(v)); }

inline std::optional<SumVariant> parse_sum_variant(std::string_view s) {
  for (const auto& i : kSumVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
