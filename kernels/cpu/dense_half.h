// Dense layers with 16-bit storage (bfloat16 or IEEE f16) and float32 accumulation, as models run
// today: x, W and b are stored in the 16-bit type S (driftlab::bf16 or driftlab::f16, half.h);
// each output is the SAME float32 chain as the float32 variant's (kernels/common/dense_order.h)
// over the widened values (widening is exact), then bias and activation in float32, then the
// stored output is rounded to S (round to nearest, ties to even; half.h's Narrow<S>).
//
// So for every variant: dense_half(x16, W16, b16) == narrow(dense(widen(x16), widen(W16),
// widen(b16))) bit for bit, and the determinism level of each variant is the float32 one
// (tests/test_dense_half.cpp asserts it across batch sizes, thread counts and ISA levels).
//
// Storage is raw 16-bit patterns (std::uint16_t, as HostArray::u16 and the device hold them); the
// tag S only says how they are converted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/half_convert.h"

namespace driftlab::cpu {

// The bulk conversions of this file, one call each: the vectorized cpu::widen / cpu::narrow of
// half_convert.h (the same bits as half.h's rules on every ISA level).
template <class S> void widen_into(const std::uint16_t* src, float* dst, std::size_t n) {
  widen(reinterpret_cast<const S*>(src), dst, n);
}
template <class S> void narrow_into(const float* src, std::uint16_t* dst, std::size_t n) {
  narrow(src, reinterpret_cast<S*>(dst), n);
}

// A layer's 16-bit W [K x N] widened to float32 once and packed into the f32 panels: what a layer
// cache keeps (the CPU model backend keeps one per layer and weights_version).  Widening is exact,
// so packing the widened copy is packing the values the 16-bit W holds.
struct WidenedW {
  const std::uint16_t* source = nullptr;
  std::size_t K = 0, N = 0;
  std::vector<float> W32;  // [K x N]
  PackedB packed;          // of W32 (for B > kGemvMaxRows; the GEMV path streams the 16-bit W itself)
};
template <class S> void widen_weights(const std::uint16_t* W, std::size_t K, std::size_t N, WidenedW& out);

// y32 [B x N] (optional, null: not kept) = act(widen(x) . widen(W) + widen(b)) in float32, the
// variant's order; y [B x N] (optional) = y32 rounded to S.  w: W widened and packed
// (widen_weights, source must be W), or null (widened here, every call, for B > kGemvMaxRows;
// batches of up to kGemvMaxRows stream the 16-bit W, gemv_half.h, and read no float32 copy).  ctx.packed_W must be
// null (std::invalid_argument): the packing of a 16-bit W is w's.  ctx.matmul_out as for dense.
template <class S>
void dense_half(DenseVariant v, const std::uint16_t* x, const std::uint16_t* W, const std::uint16_t* b, float* y32,
                std::uint16_t* y, std::size_t B, std::size_t K, std::size_t N, dense::Activation act,
                const DenseContext& ctx, const WidenedW* w = nullptr);

}  // namespace driftlab::cpu
