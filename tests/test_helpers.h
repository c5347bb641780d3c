// Shared test helpers: bitwise comparison, inputs, and the error bound for sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/common/float_bits.h"

namespace driftlab::testing {

template <class T> bool same_bits(T a, T b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Any summation order of n terms: |s - S| <= ((1 + u)^(n-1) - 1) * sum|x| (Higham, Accuracy and
// Stability, the step before eq. 4.4), plus the final rounding of the exact value.  Higham's
// gamma_{n-1} = (n-1) u / (1 - (n-1) u) bounds (1 + u)^(n-1) - 1 only while (n-1) u < 1: for
// float32 above 2^24 terms it is negative, and the first GPU run (2026-12-04) failed every bound
// check at n = 2^24 + 3 and 2^26 + 3 on it.  (1 + u)^(n-1) - 1 holds at every n.
template <class T> double sum_error_bound(const std::vector<T>& x) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  double abs_sum = 0;
  for (T v : x) abs_sum += std::fabs(static_cast<double>(v));
  const double k = x.empty() ? 0.0 : static_cast<double>(x.size() - 1);
  return (std::expm1(k * std::log1p(u)) + 2 * u) * abs_sum * (1 + 1e-9);
}

}  // namespace driftlab::testing
