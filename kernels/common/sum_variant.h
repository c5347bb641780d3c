// The summation variants: names, determinism levels and one line on what each does.
// The command line, the JSON and the benchmark names all take their spelling from here.
#pragma once

#include <optional>
#include <string_view>

namespace driftlab {

enum class SumVariant { serial, atomic_element, atomic, tree, exact, cub, thrust };

struct SumVariantInfo {
  SumVariant variant;
  const char* name;
  const char* determinism;  // CUB's vocabulary, extended: none, fixed_order, run_to_run, ...
  const char* what;
};

inline constexpr SumVariantInfo kSumVariants[] = {
    {SumVariant::serial, "serial", "fixed order",
     "left-to-right fold from +0, std::accumulate's order: the textbook reference"},
    {SumVariant::atomic_element, "atomic_element", "none",
     "every element atomically added to one accumulator: the worst case"},
    {SumVariant::atomic, "atomic", "none",
     "fixed in-tile tree per block, then one atomic add of each block's partial (CUB's not_guaranteed)"},
    {SumVariant::tree, "tree", "run to run, across threads and devices",
     "fixed 65536-element tiles, fixed in-tile tree, partials combined by a fixed tree: order is a function of n"},
    {SumVariant::exact, "exact", "any order, any device",
     "exact sum in a wide fixed-point accumulator, rounded once to nearest-even"},
    {SumVariant::cub, "cub", "run to run (same GPU model)",
     "cub::DeviceReduce::Sum, the vendor baseline (CUDA only)"},
    {SumVariant::thrust, "thrust", "run to run (same GPU model; built on CUB)",
     "thrust::reduce with thrust::plus: what CUDA users write first; returns to the host, allocates per call (CUDA only)"},
};

// The vendor-library variants: CUDA only.
inline constexpr bool cuda_only(SumVariant v) { return v == SumVariant::cub || v == SumVariant::thrust; }

inline const SumVariantInfo& info(SumVariant v) { return kSumVariants[static_cast<int>(v)]; }

inline std::optional<SumVariant> parse_sum_variant(std::string_view s) {
  for (const auto& i : kSumVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
