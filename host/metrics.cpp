#include "metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <string>
#include <unordered_set>

#include "common/float_bits.h"

namespace driftlab {
namespace {

template <class T> std::int64_t ordered(T x) {
  using U = typename FloatBits<T>::UInt;
  const U b = to_bits(x);
  const U sign = U(1) << (8 * sizeof(U) - 1);
  const auto mag = static_cast<std::int64_t>(b & ~sign);
  return (b & sign) ? -mag : mag;
}

template <class T> std::uint64_t ulps(T a, T b) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na && nb ? 0 : kUnorderedUlp;
  const std::int64_t x = ordered(a), y = ordered(b);
  return x > y ? static_cast<std::uint64_t>(x - y) : static_cast<std::uint64_t>(y - x);
}

template <class T> std::string shortest(T x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

}  // namespace

std::int64_t ordered_int(float x) { return ordered(x); }
std::int64_t ordered_int(double x) { return ordered(x); }
std::uint64_t ulp_distance(float a, float b) { return ulps(a, b); }
std::uint64_t ulp_distance(double a, double b) { return ulps(a, b); }
std::string round_trip(float x) { return shortest(x); }
std::string round_trip(double x) { return shortest(x); }

std::string hex_bits(std::uint64_t bits, std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", static_cast<int>(2 * bytes), static_cast<unsigned long long>(bits));
  return buf;
}

std::string sig(double v, int prec) {
  std::ostringstream s;
  s << std::setprecision(prec) << v;
  return s.str();
}

std::string ulp_text(std::uint64_t u) { return u == kUnorderedUlp ? "nan" : std::to_string(u); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

template <class T> Drift drift(std::span<const T> results, T exact) {
  Drift d;
  d.runs = results.size();
  if (results.empty()) return d;
  const T first = results[0];
  std::unordered_set<std::uint64_t> patterns;
  std::size_t non_equal = 0;
  // The largest pairwise ULP distance is the span of the ordered integers (O(R), not O(R^2)).
  bool any_nan = false, any_number = false;
  std::int64_t omin = 0, omax = 0;
  for (const T r : results) {
    patterns.insert(to_bits(r));
    non_equal += to_bits(r) != to_bits(first);
    if (std::isnan(r)) { any_nan = true; continue; }
    const std::int64_t o = ordered(r);
    omin = any_number ? std::min(omin, o) : o;
    omax = any_number ? std::max(omax, o) : o;
    any_number = true;
  }
  d.max_ulp = any_nan && any_number ? kUnorderedUlp : static_cast<std::uint64_t>(omax - omin);
  d.distinct_outputs = patterns.size();
  d.ratio_non_equal = static_cast<double>(non_equal) / static_cast<double>(results.size());

  // Extremes by value give max |s_i - s_j|; NaN anywhere makes it NaN.
  const auto [lo, hi] = std::minmax_element(results.begin(), results.end());
  d.max_abs_diff = any_nan ? NAN : static_cast<double>(*hi) - static_cast<double>(*lo);

  const double e = static_cast<double>(exact);
  for (const T r : results) {
    double vs;
    if (std::isnan(r) || std::isnan(e)) vs = (std::isnan(r) && std::isnan(e)) ? 0.0 : NAN;
    else if (e == 0) vs = r == 0 ? 0.0 : INFINITY;
    else if (std::isinf(e)) vs = static_cast<double>(r) == e ? 0.0 : INFINITY;
    else vs = std::fabs(1.0 - static_cast<double>(r) / e);
    if (std::isnan(vs) || vs > d.vs_max) d.vs_max = vs;
    if (std::isnan(d.vs_max)) break;
  }
  d.error_ulp = ulps(first, exact);
  d.result = static_cast<double>(first);
  d.result_bits = to_bits(first);
  return d;
}

template Drift drift<float>(std::span<const float>, float);

namespace {
std::size_t argmax_row(const std::vector<float>& y, std::size_t row, std::size_t N) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < N; ++j)
    if (y[row * N + j] > y[row * N + best]) best = j;  // first maximum, as numpy.argmax
  return best;
}
}  // namespace

OutputDrift output_drift(const std::vector<std::vector<float>>& outputs, std::size_t B, std::size_t N) {
  OutputDrift d;
  d.runs = outputs.size();
  if (outputs.empty()) return d;
  const std::size_t count = B * N;
  std::unordered_set<std::string> patterns;
  for (const auto& o : outputs) patterns.emplace(reinterpret_cast<const char*>(o.data()), o.size() * sizeof(float));
  d.distinct_outputs = patterns.size();
  const auto& first = outputs[0];
  std::size_t differing = 0;
  for (std::size_t r = 1; r < outputs.size(); ++r)
    for (std::size_t e = 0; e < count; ++e) differing += to_bits(outputs[r][e]) != to_bits(first[e]);
  d.ratio_non_equal =
      outputs.size() > 1 ? static_cast<double>(differing) / static_cast<double>((outputs.size() - 1) * count) : 0.0;
  for (std::size_t e = 0; e < count; ++e) {
    float lo = first[e], hi = first[e];
    bool nan = std::isnan(first[e]), number = !nan;
    for (const auto& o : outputs) {
      if (std::isnan(o[e])) { nan = true; continue; }
      if (!number || o[e] < lo) lo = o[e];
      if (!number || o[e] > hi) hi = o[e];
      number = true;
    }
    d.max_ulp = std::max(d.max_ulp, nan && number ? kUnorderedUlp : (number ? ulps(lo, hi) : 0));
    if (number) d.max_abs_diff = std::max(d.max_abs_diff, static_cast<double>(hi) - static_cast<double>(lo));
  }
  for (std::size_t i = 0; i < B && N > 0; ++i) {
    const std::size_t a0 = argmax_row(first, i, N);
    for (std::size_t r = 1; r < outputs.size(); ++r)
      if (argmax_row(outputs[r], i, N) != a0) {
        ++d.argmax_flips;
        break;
      }
  }
  return d;
}

double max_rel_err(const std::vector<float>& y, const std::vector<double>& ref) {
  double err = 0, scale = 0;
  for (std::size_t e = 0; e < y.size() && e < ref.size(); ++e) {
    err = std::max(err, std::fabs(static_cast<double>(y[e]) - ref[e]));
    scale = std::max(scale, std::fabs(ref[e]));
  }
  return scale > 0 ? err / scale : err;
}
template Drift drift<double>(std::span<const double>, double);

}  // namespace driftlab
