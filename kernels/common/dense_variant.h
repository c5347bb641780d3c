// The dense-layer variants: names, determinism levels, one line each (order: dense_order.h).
#pragma once

#include <optional>
#include <string_view>

namespace driftlab {

enum class DenseVariant { atomic, tree, invariant, cublas };

struct DenseVariantInfo {
  DenseVariant variant;
  const char* name;
  const char* determinism;
  const char* what;
};

inline constexpr DenseVariantInfo kDenseVariants[] = {
    {DenseVariant::atomic, "atomic", "none",
     "split-K: slice partials atomically added into an output that starts as the bias"},
    {DenseVariant::tree, "tree", "run to run (not batch-invariant)",
     "split-K, partials combined by a fixed pairwise tree; S depends on the batch size"},
    {DenseVariant::invariant, "invariant", "run to run, across batch sizes and devices",
     "one fused multiply-add chain over k per output: the order depends on K alone"},
    {DenseVariant::cublas, "cublas", "run to run on one GPU model",
     "cublasSgemm in FP32 (no TF32), the vendor baseline (CUDA only)"},
};

inline const DenseVariantInfo& info(DenseVariant v) { return kDenseVariants[static_cast<int>(v)]; }

inline std::optional<DenseVariant> parse_dense_variant(std::string_view s) {
  for (const auto& i : kDenseVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
