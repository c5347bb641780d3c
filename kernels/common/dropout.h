// Keras-style inverted dropout driven by Philox4x32-10, written once for the CPU and the device.
//
// Promise: the mask is counter-based.  Whether element e of a layer's output is dropped is a
// pure function of (seed, call, layer, e), so the CPU twin and any CUDA launch shape compute
// the same mask, element by element, in any order, and a kept element is x * keep_scale(rate)
// rounded once.  Checked in tests/test_philox.cpp.
//
// Stream layout.  e is the flat row-major index into the layer's output [B x N]; call counts the
// predict calls (0, 1, 2, ...: each call draws a fresh mask from the next counter); layer numbers
// the dropout layers.  One Philox block serves four consecutive elements:
//   ctr = { uint32(e/4), uint32((e/4) >> 32), uint32(call), (uint32(call >> 32) & 0xffff) | (layer << 16) }
//   key = { uint32(seed), uint32(seed >> 32) }
//   word(e) = philox4x32_10(ctr, key)[e % 4]
// Distinct (call, layer, e/4) give distinct counters as long as call < 2^48 and layer < 2^16
// (higher bits are cut off by the packing above and would repeat streams).
//
// Drop rule: element e is DROPPED when word(e) < drop_threshold(rate), so it is dropped with
// probability threshold / 2^32 (rate rounded to a multiple of 2^-32); kept elements are scaled by
// 1 / (1 - rate) so the expected output equals the input (Keras's inverted dropout).
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/philox.h"

namespace driftlab::dropout {

// The random word for element e of dropout layer `layer` in predict call `call`; see the header.
DL_HD std::uint32_t dropout_word(std::uint64_t seed, std::uint64_t call, std::uint32_t layer, std::uint64_t e) {
  const std::uint64_t block = e / 4;
  const std::uint32_t ctr[4] = {
      static_cast<std::uint32_t>(block),
      static_cast<std::uint32_t>(block >> 32),
      static_cast<std::uint32_t>(call),
      (static_cast<std::uint32_t>(call >> 32) & 0xffffu) | (layer << 16),
  };
  const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  std::uint32_t out[4];
  philox::philox4x32_10(ctr, key, out);
  return out[e % 4];
}

// Words below this are dropped: round(rate * 2^32) (halves rounded up), computed in double
// (exact: a float times a power of two), clamped to [0, 2^32 - 1].
//   rate <= 0 or NaN: 0, nothing is dropped.
//   rate >= 1: saturates at 2^32 - 1, so the word 0xffffffff is still kept: all but a 2^-32
//   fraction is dropped, not all.  Callers reject rate >= 1 (keep_scale would be infinite too).
DL_HD std::uint32_t drop_threshold(float rate) {
  const double v = static_cast<double>(rate) * 4294967296.0;  // * 2^32
  if (!(v > 0.0)) return 0u;                                   // also catches NaN
  if (v >= 4294967295.0) return 0xffffffffu;
  const std::uint64_t t = static_cast<std::uint64_t>(v);       // floor, v is positive
  const double frac = v - static_cast<double>(t);              // exact by Sterbenz (t <= v < 2t) or t == 0
  return static_cast<std::uint32_t>(frac >= 0.5 ? t + 1 : t);  // t + 1 <= 2^32 - 1 here
}

// Keras's inverted scaling, 1 / (1 - rate), computed in float: one rounded subtraction (exact
// for rate in [0.5, 1] by Sterbenz) and one rounded division.
DL_HD float keep_scale(float rate) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(1.0f, __fsub_rn(1.0f, rate));  // IEEE even under -prec-div=false
#else
  return 1.0f / (1.0f - rate);
#endif
}

// One element: dropped -> +0.0, kept -> x * scale, one rounded float multiply.  On the device
// __fmul_rn keeps the product from being fused into a caller's following add once inlined.
DL_HD float apply(float x, std::uint32_t word, std::uint32_t threshold, float scale) {
  if (word < threshold) return 0.0f;
#if defined(__CUDA_ARCH__)
  return __fmul_rn(x, scale);
#else
  return x * scale;
#endif
}

}  // namespace driftlab::dropout
