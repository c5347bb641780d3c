// Shared test helpers: bitwise comparison, inputs, and the error bound for sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/float_bits.h"

namespace driftlab::testing {

template <class T> bool same_bits(T a, T b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Any summation order of n terms: |s - S| <= gamma_{n-1} * sum|x|, gamma_k = k u / (1 - k u)
// (Higham, Accuracy and Stability, eq. 4.4), plus the final rounding of the exact value.
template <class T> double sum_error_bound(const std::vector<T>& x) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  double abs_sum = 0;
  for (T v : x) abs_sum += std::fabs(static_cast<double>(v));
  const double k = x.empty() ? 0.0 : static_cast<double>(x.size() - 1);
  return (k * u / (1 - k * u) + 2 * u) * abs_sum * (1 + 1e-9);
}

}  // namespace driftlab::testing
