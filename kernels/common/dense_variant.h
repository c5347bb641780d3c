// The dense-layer variants: names, determinism levels, one line each (order: dense_order.h).
// The table drives the help and error lists, the figures and the GPU summary (sum_variant.h).
#pragma once

#include <optional>
#include <string_view>

#include "kernels/common/variant_info.h"

namespace driftlab {

enum class DenseVariant { atomic, tree, invariant, cublas };

struct DenseVariantInfo {
  DenseVariant variant;
  const char* name;
  const char* determinism;
  const char* what;
  Level level;
  unsigned backends;  // kCpu, kCuda or kBoth
  bool splits_k;      // cuts K into S slices (--split-k, dense_slices); S shows in the output
  PlotStyle plot;     // one scale with the sum table's (they share figures)
};

inline constexpr DenseVariantInfo kDenseVariants[] = {
    {DenseVariant::atomic, "atomic", "none",
     "split-K: slice partials atomically added into an output that starts as the bias",
     Level::none, kBoth, true, {"#ff7f0e", "o", 30}},
    {DenseVariant::tree, "tree", "run to run (not batch-invariant)",
     "split-K, partials combined by a fixed pairwise tree; S depends on the batch size",
     Level::run_to_run, kBoth, true, {"#1f77b4", "s", 40}},
    {DenseVariant::invariant, "invariant", "run to run, across batch sizes and devices",
     "one fused multiply-add chain over k per output: the order depends on K alone",
     Level::batch_invariant, kBoth, false, {"#2ca02c", "D", 60}},
    {DenseVariant::cublas, "cublas", "run to run on one GPU model",
     "cublasSgemm in FP32 (no TF32), the vendor baseline (CUDA only)",
     Level::run_to_run, kCuda, false, {"#000000", "P", 90}},
};

static_assert(table_in_enum_order(kDenseVariants), "kDenseVariants lists its enum in order");

inline constexpr const DenseVariantInfo& info(DenseVariant v) { return kDenseVariants[static_cast<int>(v)]; }

// The vendor-library variant: CUDA only.
inline constexpr bool cuda_only(DenseVariant v) { return cuda_only(info(v)); }
inline constexpr bool splits_k(DenseVariant v) { return info(v).splits_k; }

inline std::optional<DenseVariant> parse_dense_variant(std::string_view s) {
  for (const auto& i : kDenseVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
