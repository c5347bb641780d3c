// Two float arrays compared by their bits, element by element, in one pass: what `driftlab trace`
// computes for every stage of every layer (host/commands/trace_command.cpp's compare_stage), so
// that tracing a call costs little more than the call.  Vectorized and chosen at run time under
// the DRIFTLAB_ISA ceiling (kernels/cpu/isa.h):
//   avx512  16 lanes, mask registers; |a - b| on 8 doubles at a time;
//   avx2    8 lanes; |a - b| on 4 doubles at a time;
//   scalar  one element at a time, the definition below (also every vector path's tail).
// Every quantity is integer work or one exactly rounded double subtraction, and maxima and counts
// do not depend on order, so every level gives the same result for every input
// (tests/test_bit_compare.cpp forces each level).  The level changes speed only.
//
// Per element, with ma = |a| and mb = |b| as bits (a non-negative float's bits order as its value):
//   differ     a and b differ in bits (-0 against +0 differs; two NaNs of the same bits do not);
//   scale      the largest finite |a| (|b|) over all elements;
//   ulp        on the ordered-integer mapping (kernels/common/output_compare.h: -0 and +0 both 0):
//              |ma - mb| when the signs agree, ma + mb when they differ (< 2^32 for non-NaNs); a
//              pair with exactly one NaN has no distance (one_nan), two NaNs are 0 apart;
//   change     a pair without a NaN whose signs differ, a sign being negative, zero (either zero)
//              or positive: the pairs whose ULP distance is counted from or through zero (0 and
//              1e-4 are 9.5e8 ULPs apart, 1e-8 and -1e-8 1.7e9), so that a ReLU that switched or a
//              value near zero that changed sign reads as a billion ULPs;
//   diff       |double(a) - double(b)| for pairs that differ in bits, as the double's bits with the
//              sign cleared: those also order as the value, and a NaN (inf - inf, a NaN against
//              anything) lies above every number.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/isa.h"

namespace driftlab::cpu {

struct BitCompare {
  std::size_t differ = 0;          // elements whose bits differ
  std::size_t sign_changes = 0;    // pairs whose signs (negative, zero, positive) differ
  std::size_t first = 0;           // the first of them; n when none
  std::uint32_t max_ulp = 0;       // over pairs without a NaN
  bool one_nan = false;            // some pair has exactly one NaN
  std::uint64_t max_diff_bits = 0; // max |a - b| (double) bits over differing pairs; > 0x7ff0...: a NaN
  std::uint32_t scale_a = 0, scale_b = 0;  // bits of the largest finite |a|, |b| (0 when none)
};

BitCompare compare_bits(const float* a, const float* b, std::size_t n);

namespace detail {
using CompareIsa = Isa;  // the one dispatcher's levels (isa.h)
inline CompareIsa compare_isa_level() { return isa_level(IsaFamily::compare); }
// One level forced (tests): a level above compare_isa_level() runs the best available instead.
BitCompare compare_bits_at(CompareIsa level, const float* a, const float* b, std::size_t n);
}  // namespace detail

}  // namespace driftlab::cpu
