// The attention-decode variants: names, determinism levels, one line each (order: attention_order.h).
// The table drives the help and error lists, the figures and the GPU summary (sum_variant.h).
#pragma once

#include <optional>
#include <string_view>

#include "kernels/common/variant_info.h"

namespace driftlab {

enum class AttentionVariant { split_count, atomic, fixed_split, single };

struct AttentionVariantInfo {
  AttentionVariant variant;
  const char* name;
  const char* determinism;
  const char* what;
  Level level;
  unsigned backends;  // kCpu, kCuda or kBoth
  PlotStyle plot;     // plots/plot_attention.py
};

inline constexpr AttentionVariantInfo kAttentionVariants[] = {
    {AttentionVariant::split_count, "split_count", "run to run (not batch-invariant)",
     "KV cut into S chunks, S from B*H, the SM count and the longest KV (FlashAttention-2's heuristic); "
     "partials merged by a fixed tree",
     Level::run_to_run, kBoth, {"tab:red", "o", 10}},
    {AttentionVariant::atomic, "atomic", "none",
     "split_count's chunks, rescaled partials added into the output with atomics in completion order",
     Level::none, kBoth, {"tab:orange", "x", 20}},
    {AttentionVariant::fixed_split, "fixed_split", "run to run, batch-invariant, CPU = GPU",
     "chunks of a fixed size (default 256 tokens) whatever the batch, merged by a fixed tree",
     Level::batch_invariant, kBoth, {"tab:blue", "s", 30}},
    {AttentionVariant::single, "single", "run to run, batch-invariant, CPU = GPU",
     "one pass over the whole KV per sequence and head: the reference order",
     Level::batch_invariant, kBoth, {"tab:green", "^", 40}},
};

static_assert(table_in_enum_order(kAttentionVariants), "kAttentionVariants lists its enum in order");

inline constexpr const AttentionVariantInfo& info(AttentionVariant v) { return kAttentionVariants[static_cast<int>(v)]; }

inline std::optional<AttentionVariant> parse_attention_variant(std::string_view s) {
  for (const auto& i : kAttentionVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
