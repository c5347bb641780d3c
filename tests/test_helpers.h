// Shared test helpers: bitwise comparison, inputs, and the error bound for sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
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

// A kernel's shared-memory layout, part by part: start and length (bytes, or any one unit), and
// the alignment its accesses need.  layout_fault gives the first fault -- a part not aligned, past
// `end`, or overlapping another -- or "" when there is none.  The lengths are the tests' own (what
// the kernel reads and writes), not the layout's.
struct Part {
  const char* name;
  std::size_t start, len, align;
};
inline std::string layout_fault(const std::vector<Part>& parts, std::size_t end) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Part& a = parts[i];
    if (a.align && a.start % a.align != 0) return std::string(a.name) + " is not aligned";
    if (a.start + a.len > end) return std::string(a.name) + " ends past the end";
    for (std::size_t j = 0; j < i; ++j) {
      const Part& b = parts[j];
      if (a.len && b.len && a.start < b.start + b.len && b.start < a.start + a.len)
        return std::string(a.name) + " overlaps " + b.name;
    }
  }
  return "";
}

}  // namespace driftlab::testing
