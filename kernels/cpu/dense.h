// Dense layers on the CPU: atomic, tree and invariant side by side, the CPU twins of
// kernels/cuda/dense.cu.  The order of each is written in kernels/common/dense_order.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernels/common/dense_order.h"
#include "kernels/common/dense_variant.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/thread_pool.h"

namespace driftlab::cpu {

struct DenseContext {
  ThreadPool* pool = nullptr;  // null: the calling thread alone
  // Set: atomic partials are added in an order drawn from this seed (a reproducible model of a
  // GPU's scheduler) instead of racing real threads.
  std::optional<std::uint64_t> shuffle_seed;
  std::size_t split_k = 0;  // 0: dense::split_k(B, K, N); else forced (1..kMaxSlices)
  // Set: W already packed (its source must be the W passed to dense, K x N); saves packing W on
  // every call.  Results are bitwise the same with or without it.
  const PackedB* packed_W = nullptr;
  // The trace hook (driftlab trace): set, it receives [B x N], the accumulator before the
  // epilogue -- x.W in the variant's order (invariant, tree); atomic's accumulator starts at b
  // (dense_order.h), so its copy is x.W + b before the activation.  Null: no copy, no cost.
  float* matmul_out = nullptr;
  // Set (dense_half, 16-bit models): W's 16-bit source [K x N] of kind W16_kind.  Batches of up to
  // kGemvMaxRows then stream it, widened in registers (gemv_half.h), instead of the float32 W:
  // half the bytes, bitwise the same chains.  The float32 W must still be given (larger batches).
  const std::uint16_t* W16 = nullptr;
  HalfKind W16_kind = HalfKind::bf16;
};

// y [B x N] = act(x [B x K] . W [K x N] + b [N]).  `cublas` is not a CPU variant
// (std::invalid_argument); so is a forced split_k outside 1..kMaxSlices.
void dense(DenseVariant v, const float* x, const float* W, const float* b, float* y, std::size_t B,
           std::size_t K, std::size_t N, dense::Activation act, const DenseContext& ctx);

// The S a split-K variant uses for this shape and context.
std::size_t dense_slices(std::size_t B, std::size_t K, std::size_t N, const DenseContext& ctx);

}  // namespace driftlab::cpu
