// Split-KV attention decode on the CPU: split_count, atomic, fixed_split and single side by side,
// the CPU twins of kernels/cuda/attention.cu.  The order of each is in
// kernels/common/attention_order.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernels/common/attention_order.h"
#include "kernels/common/attention_variant.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace driftlab::cpu {

// One decode step's inputs (layout: attention_order.h).  kv_len[b] >= 1 for every b.
struct AttentionProblem {
  const float* q = nullptr;  // [B][H][d]
  const float* K = nullptr;  // per sequence [H][L_b][d], sequences one after another
  const float* V = nullptr;
  std::size_t B = 0, H = 0, d = 0;
  const std::size_t* kv_len = nullptr;  // [B]
};

struct AttentionContext {
  ThreadPool* pool = nullptr;  // null: the calling thread alone
  // Set: atomic's chunk contributions are added in an order drawn from this seed (a reproducible
  // model of a GPU's scheduler) instead of racing real threads.
  std::optional<std::uint64_t> shuffle_seed;
  std::size_t split_size = attention::kDefaultSplitSize;  // fixed_split's C
  int num_sms = attention::kNominalSms;                   // split_count's device model (stated)
};

// The chunk length C the variant uses for this batch; 0 for single (each sequence's own length).
std::size_t attention_chunk(AttentionVariant v, std::size_t B, std::size_t H, std::size_t d, const std::size_t* kv_len,
                            std::size_t split_size, int num_sms);

// out [B][H][d].  Throws std::invalid_argument for d outside 1..kMaxHeadDim, a KV length of 0,
// or a split size of 0.
void attention(AttentionVariant v, const AttentionProblem& p, float* out, const AttentionContext& ctx);

namespace detail {
// Tests: cap the vector width of the tile code (gemm.h's levels) to check that every build
// gives the same bits; the default is the best the CPU runs.
// One family of the dispatcher (isa.h): attention_isa() is isa_level() capped by this.
inline void force_attention_isa(GemmIsa cap) { force_isa(IsaFamily::attention, cap); }
inline GemmIsa attention_isa() { return isa_level(IsaFamily::attention); }
}  // namespace detail

}  // namespace driftlab::cpu
