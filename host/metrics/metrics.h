// Drift metrics over R runs of one computation on the same input.  Every later command reuses
// these: distinct bit patterns, how often and how far results move, and how far from exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kernels/common/output_compare.h"

namespace driftlab {

// ULP distance for pairs involving exactly one NaN: the two are not on the number line.
inline constexpr std::uint64_t kUnorderedUlp = compare::kUnorderedUlp;

// Maps a float's bits to an integer whose order is the order of the values: -0.0 and +0.0 both
// map to 0, the smallest subnormals to -1 and +1, so ULPs are counted across zero.
std::int64_t ordered_int(float x);
std::int64_t ordered_int(double x);

// Number of representable values between a and b: 0 for equal values (including -0.0 vs +0.0,
// and NaN vs NaN), kUnorderedUlp when exactly one is NaN.
std::uint64_t ulp_distance(float a, float b);
std::uint64_t ulp_distance(double a, double b);

// ULP distance counted in a 16-bit type: a and b are 16-bit values widened to float (each is
// narrowed back exactly), ordered as ordered_int orders floats; NaN rules as ulp_distance.
std::uint64_t ulp_distance_bf16(float a, float b);
std::uint64_t ulp_distance_f16(float a, float b);

struct Drift {
  std::size_t runs = 0;
  std::size_t distinct_outputs = 0;  // distinct bit patterns among the runs
  double ratio_non_equal = 0;        // fraction of runs whose bits differ from run 0
  std::uint64_t max_ulp = 0;         // largest ULP distance between any two runs
  double vs_max = 0;                 // max |1 - s_r / s_exact| (Shanmugavelu et al.'s Vs)
  double max_abs_diff = 0;           // largest |s_i - s_j|
  std::uint64_t error_ulp = 0;       // ULP distance of run 0 from the exact sum
  double result = 0;                 // run 0's value
  std::uint64_t result_bits = 0;     // run 0's IEEE bits
};

// results: one value per run (at least one).  exact: the correctly rounded sum.
template <class T> Drift drift(std::span<const T> results, T exact);

// Shortest decimal text that reads back to the same value ("inf", "-inf", "nan" for specials).
std::string round_trip(float x);
std::string round_trip(double x);
// IEEE bits as 0x-prefixed hex of the type's width.
std::string hex_bits(std::uint64_t bits, std::size_t bytes);

double median(std::vector<double> v);

// Table text: `prec` significant digits; a ULP count, or "nan" for kUnorderedUlp.
std::string sig(double v, int prec = 3);
std::string ulp_text(std::uint64_t u);

// Drift of a whole output [B x N] over runs (runs of one process, then of the next).
struct OutputDrift {
  std::size_t runs = 0;
  std::size_t distinct_outputs = 0;  // distinct bit patterns of the whole output
  double ratio_non_equal = 0;        // output elements differing from run 0, over all compared
  std::uint64_t max_ulp = 0;         // largest ULP distance of an element between any two runs
  double max_abs_diff = 0;           // largest |difference| of an element between any two runs
  std::size_t argmax_flips = 0;      // rows whose argmax differs from run 0's in some run
};
OutputDrift output_drift(const std::vector<std::vector<float>>& outputs, std::size_t B, std::size_t N);

// The same metrics computed as the runs arrive: run 0 is kept, each later run is compared with it
// and folded into per-element extremes, so memory is a few copies of one output [B x N] plus 16
// bytes per distinct bit pattern (a 128-bit hash of the whole output), whatever the run count.
class OutputDriftStream {
 public:
  OutputDriftStream(std::size_t B, std::size_t N);
  void add(std::span<const float> output);  // one run's [B x N] output
  OutputDrift result() const;
  const std::vector<float>& first() const { return first_; }  // run 0 (empty before it)
  std::size_t runs() const { return runs_; }
  // result().max_ulp with another ULP unit (e.g. ulp_distance_bf16 for widened bf16 outputs).
  std::uint64_t max_ulp_by(std::uint64_t (*ulp)(float, float)) const;

 private:
  std::size_t B_, N_, runs_ = 0, differing_ = 0;
  std::vector<float> first_, lo_, hi_;
  std::vector<std::uint8_t> seen_, flipped_;  // seen_: output_compare.h's kSawNaN | kSawNumber
  std::vector<std::uint64_t> argmax0_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> hashes_;  // sorted, distinct
};

// max |y - ref| / max |ref| (normwise; the absolute error when ref is all zeros).  NaN when any
// y or ref is NaN (an all-NaN output is no match); Inf where an error is infinite.
double max_rel_err(const std::vector<float>& y, const std::vector<double>& ref);

}  // namespace driftlab
