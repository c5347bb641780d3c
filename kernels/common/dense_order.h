// The order of driftlab's dense layer y = act(x W + b), x [B x K] row-major, W [K x N] (Keras's
// kernel layout), b [N]: written down once, used by the CPU twins (kernels/cpu/dense.cpp) and the
// CUDA kernels (kernels/cuda/dense.cu).
//
//   chain(i, j, k0, k1):  acc = +0.0f; for k = k0 .. k1-1: acc = fma(x[i][k], W[k][j], acc)
//                         (one fused multiply-add per step, increasing k)
//
// invariant  determinism: run to run, across batch sizes, row positions and devices.
//            y[i][j] = act(chain(i, j, 0, K) + b[j]).  The order depends on K alone.
// Split-K (atomic, tree): K is cut into S slices of ks = ceil(K / S); slice s covers
//            [s*ks, min(K, (s+1)*ks)) (possibly empty) and p_s = chain(i, j, slice s).
//            S = split_k(B, K, N) below: like vendor heuristics it depends on the batch size.
// tree       determinism: run to run (not across batch sizes: S depends on B).
//            The partials are combined by a fixed pairwise tree: for stride = 1, 2, 4, ... < S,
//            p_s += p_{s+stride} for s = 0, 2*stride, 4*stride, ... with s + stride < S;
//            then y = act(p_0 + b[j]).
// atomic     determinism: none.  y starts as b[j]; each slice's partial is atomically added in
//            whatever order the slices finish; then act.
// cublas     (CUDA only) cublasSgemm in FP32 (no TF32), then + b and act.
//
// act: linear, or relu(v) = (v < 0 ? +0 : v) (NaN and -0.0 pass through unchanged).
#pragma once

#include <cstddef>

#include "hd.h"
#include "sum_order.h"

namespace driftlab::dense {

enum class Activation { linear, relu };

DL_HD float activate(float v, Activation a) { return (a == Activation::relu && v < 0.0f) ? 0.0f : v; }

using order::add;  // one rounded addition, never contracted (sum_order.h)

// The split-K heuristic: double the slices until B*N*S reaches kTargetOutputs (enough parallel
// work to fill a device), but keep slices at least kMinSliceK long and at most kMaxSlices.
inline constexpr std::size_t kTargetOutputs = 8192;
inline constexpr std::size_t kMinSliceK = 4;
inline constexpr std::size_t kMaxSlices = 32;

DL_HD std::size_t split_k(std::size_t B, std::size_t K, std::size_t N) {
  const std::size_t outputs = B * N;
  if (outputs == 0 || K == 0) return 1;
  std::size_t s = 1;
  while (s < kMaxSlices && s * outputs < kTargetOutputs) s *= 2;
  const std::size_t cap = K / kMinSliceK > 1 ? K / kMinSliceK : 1;
  return s < cap ? s : cap;
}

DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return (K + S - 1) / S; }
DL_HD std::size_t slice_begin(std::size_t K, std::size_t S, std::size_t s) {
  const std::size_t b = s * slice_len(K, S);
  return b < K ? b : K;
}
DL_HD std::size_t slice_end(std::size_t K, std::size_t S, std::size_t s) { return slice_begin(K, S, s + 1); }

// The fixed pairwise tree over S partials p[0], p[stride_elems], ...; returns the combined p_0.
DL_HD float tree_combine(const float* p, std::size_t S, std::size_t stride_elems) {
  float v[kMaxSlices];
  for (std::size_t s = 0; s < S; ++s) v[s] = p[s * stride_elems];
  for (std::size_t stride = 1; stride < S; stride *= 2)
    for (std::size_t s = 0; s + stride < S; s += 2 * stride) v[s] = add(v[s], v[s + stride]);
  return v[0];
}

}  // namespace driftlab::dense
