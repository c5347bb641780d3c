// The attention-decode variants: names, determinism levels, one line each (order: attention_order.h).
#pragma once

#include <optional>
#include <string_view>

namespace driftlab {

enum class AttentionVariant { split_count, atomic, fixed_split, single };

struct AttentionVariantInfo {
  AttentionVariant variant;
  const char* name;
  const char* determinism;
  const char* what;
};

inline constexpr AttentionVariantInfo kAttentionVariants[] = {
    {AttentionVariant::split_count, "split_count", "run to run (not batch-invariant)",
     "KV cut into S chunks, S from B*H, the SM count and the longest KV (FlashAttention-2's heuristic); "
     "partials merged by a fixed tree"},
    {AttentionVariant::atomic, "atomic", "none",
     "split_count's chunks, rescaled partials added into the output with atomics in completion order"},
    {AttentionVariant::fixed_split, "fixed_split", "run to run, batch-invariant, CPU = GPU",
     "chunks of a fixed size (default 256 tokens) whatever the batch, merged by a fixed tree"},
    {AttentionVariant::single, "single", "run to run, batch-invariant, CPU = GPU",
     "one pass over the whole KV per sequence and head: the reference order"},
};

inline const AttentionVariantInfo& info(AttentionVariant v) { return kAttentionVariants[static_cast<int>(v)]; }

inline std::optional<AttentionVariant> parse_attention_variant(std::string_view s) {
  for (const auto& i : kAttentionVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

}  // namespace driftlab
