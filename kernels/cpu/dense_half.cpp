// Dense layers with 16-bit storage on the CPU: the float32 variants of dense.cpp over widened
// inputs, then the output narrowed (dense_half.h says why that is the whole definition).
#include "kernels/cpu/dense_half.h"

#include <stdexcept>
#include <type_traits>

namespace driftlab::cpu {
namespace {

// Per-thread scratch that only grows: a call does not allocate once warm.
std::vector<float>& scratch(int which, std::size_t floats) {
  thread_local std::vector<float> v[3];
  if (v[which].size() < floats) v[which].resize(floats);
  return v[which];
}

}  // namespace

template <class S> void widen_weights(const std::uint16_t* W, std::size_t K, std::size_t N, WidenedW& out) {
  out.source = W;
  out.K = K;
  out.N = N;
  out.W32.resize(K * N);
  widen_into<S>(W, out.W32.data(), K * N);
  out.packed = PackedB(out.W32.data(), N, K, N);
}

template <class S>
void dense_half(DenseVariant v, const std::uint16_t* x, const std::uint16_t* W, const std::uint16_t* b, float* y32,
                std::uint16_t* y, std::size_t B, std::size_t K, std::size_t N, dense::Activation act,
                const DenseContext& ctx, const WidenedW* w) {
  if (ctx.packed_W) throw std::invalid_argument("dense_half: pass the 16-bit W's packing as WidenedW, not packed_W");
  if (w && (w->source != W || w->K != K || w->N != N))
    throw std::invalid_argument("dense_half: the widened W was widened from another matrix");
  float* const x32 = scratch(0, B * K).data();
  widen_into<S>(x, x32, B * K);
  float* const b32 = scratch(1, N).data();
  widen_into<S>(b, b32, N);
  DenseContext c = ctx;
  c.packed_W = w && B > kGemvMaxRows ? &w->packed : nullptr;
  // Small batches stream the 16-bit W itself (gemv_half.h: widened in registers, the same chains),
  // so a float32 copy is read only by larger ones.
  const bool stream16 = B <= kGemvMaxRows;
  if (stream16) {
    c.W16 = W;
    c.W16_kind = std::is_same_v<S, bf16> ? HalfKind::bf16 : HalfKind::f16;
  }
  const float* W32 = nullptr;
  if (w) {
    W32 = w->W32.data();
  } else if (!stream16) {
    float* own = scratch(2, K * N).data();
    widen_into<S>(W, own, K * N);
    W32 = own;
  }
  std::vector<float> local;
  float* out = y32;
  if (!out) {
    local.resize(B * N);
    out = local.data();
  }
  dense(v, x32, W32, b32, out, B, K, N, act, c);
  if (y) narrow_into<S>(out, y, B * N);
}

template void widen_weights<bf16>(const std::uint16_t*, std::size_t, std::size_t, WidenedW&);
template void widen_weights<f16>(const std::uint16_t*, std::size_t, std::size_t, WidenedW&);
template void dense_half<bf16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, float*,
                               std::uint16_t*, std::size_t, std::size_t, std::size_t, dense::Activation,
                               const DenseContext&, const WidenedW*);
template void dense_half<f16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, float*,
                              std::uint16_t*, std::size_t, std::size_t, std::size_t, dense::Activation,
                              const DenseContext&, const WidenedW*);

}  // namespace driftlab::cpu
