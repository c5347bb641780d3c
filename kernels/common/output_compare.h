// Element-wise pieces of run-against-run drift of an output, shared by the host reference
// (host/metrics/metrics.cpp's OutputDriftStream) and the device tracker (kernels/cuda/drift.cu), so that
// both count the same things: the ULP distance on the ordered-integer mapping, the per-element
// range of values over runs, and an order-free hash of a run's bits.
//
// The hash is a sum (mod 2^64) of per-element mixes of (index, bits): addition is associative
// and commutative, so any reduction order on any device gives the same 128 bits for the same
// output. It only counts distinct outputs; equal hashes of different outputs (probability near
// 2^-128 per pair) would undercount by one.
#pragma once

#include <cstdint>

#include "kernels/common/float_bits.h"
#include "kernels/common/hd.h"

namespace driftlab::compare {

inline constexpr std::uint64_t kUnorderedUlp = ~std::uint64_t(0);  // one NaN, one number

template <class T> DL_HD bool is_nan(T x) { return x != x; }

// -0.0 and +0.0 both map to 0; the smallest subnormals to -1 and +1.
template <class T> DL_HD std::int64_t ordered(T x) {
  using U = typename FloatBits<T>::UInt;
  const U b = to_bits(x);
  const U sign = U(1) << (8 * sizeof(U) - 1);
  const auto mag = static_cast<std::int64_t>(b & ~sign);
  return (b & sign) ? -mag : mag;
}

// 0 for equal values (signed zeros alike, NaN vs NaN), kUnorderedUlp when exactly one is NaN.
template <class T> DL_HD std::uint64_t ulp_distance(T a, T b) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return na && nb ? 0 : kUnorderedUlp;
  const std::int64_t x = ordered(a), y = ordered(b);
  return x > y ? static_cast<std::uint64_t>(x - y) : static_cast<std::uint64_t>(y - x);
}

DL_HD std::uint64_t mix64(std::uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Hash128 {
  std::uint64_t a = 0, b = 0;
};
DL_HD Hash128 hash_element(std::uint64_t index, std::uint32_t bits) {
  return {mix64(index * 0x9e3779b97f4a7c15ull + bits), mix64((index << 32 | bits) ^ 0xd1b54a32d192ed03ull)};
}
DL_HD Hash128 hash_plus(Hash128 x, Hash128 y) { return {x.a + y.a, x.b + y.b}; }

// Per element over the runs so far: the lowest and highest non-NaN value, and whether a NaN
// and whether a number was seen.
enum : std::uint8_t { kSawNaN = 1, kSawNumber = 2 };
DL_HD void range_add(float x, float& lo, float& hi, std::uint8_t& seen) {
  if (is_nan(x)) {
    seen |= kSawNaN;
    return;
  }
  if (!(seen & kSawNumber) || x < lo) lo = x;
  if (!(seen & kSawNumber) || x > hi) hi = x;
  seen |= kSawNumber;
}

// The element's contribution to max_ulp and max_abs_diff: a NaN in some runs and a number in
// others has no distance (kUnorderedUlp, and `mixed`, which makes max_abs_diff NaN).
struct RangeMetrics {
  std::uint64_t max_ulp = 0;
  double max_abs_diff = 0;
  bool mixed = false;
};
DL_HD RangeMetrics range_metrics(float lo, float hi, std::uint8_t seen) {
  RangeMetrics m;
  const bool nan = seen & kSawNaN, number = seen & kSawNumber;
  if (nan && number) {
    m.max_ulp = kUnorderedUlp;
    m.mixed = true;
  } else if (number) {
    m.max_ulp = ulp_distance(lo, hi);
    if (lo != hi) m.max_abs_diff = static_cast<double>(hi) - static_cast<double>(lo);
  }
  return m;
}
DL_HD RangeMetrics range_max(RangeMetrics x, RangeMetrics y) {
  return {x.max_ulp > y.max_ulp ? x.max_ulp : y.max_ulp, x.max_abs_diff > y.max_abs_diff ? x.max_abs_diff : y.max_abs_diff,
          x.mixed || y.mixed};
}

// The first maximum by `>` (the host reference's rule): a NaN is never greater than anything.
DL_HD std::uint64_t argmax_row(const float* row, std::uint64_t n) {
  std::uint64_t best = 0;
  for (std::uint64_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

}  // namespace driftlab::compare
