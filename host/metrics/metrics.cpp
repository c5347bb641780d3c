#include "host/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <string>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/output_compare.h"

namespace driftlab {
namespace {

using compare::ordered;
template <class T> std::uint64_t ulps(T a, T b) { return compare::ulp_distance(a, b); }

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

// The element rules (ranges, ULPs, the hash, argmax) are kernels/common/output_compare.h's, which
// the device tracker (kernels/cuda/drift.cu) uses too: both count the same things.
OutputDriftStream::OutputDriftStream(std::size_t B, std::size_t N) : B_(B), N_(N) {}

void OutputDriftStream::add(std::span<const float> o) {
  const std::size_t count = B_ * N_;
  if (o.size() != count) throw std::invalid_argument("output_drift: a run has the wrong size");
  const bool run0 = runs_++ == 0;
  if (run0) {
    first_.assign(o.begin(), o.end());
    lo_.assign(count, 0.0f);
    hi_.assign(count, 0.0f);
    seen_.assign(count, 0);
    argmax0_.resize(B_);
    flipped_.assign(B_, 0);
    for (std::size_t i = 0; i < B_ && N_ > 0; ++i) argmax0_[i] = compare::argmax_row(first_.data() + i * N_, N_);
  } else {
    for (std::size_t i = 0; i < B_ && N_ > 0; ++i)
      if (!flipped_[i]) flipped_[i] = compare::argmax_row(o.data() + i * N_, N_) != argmax0_[i];
  }
  compare::Hash128 h;
  for (std::size_t e = 0; e < count; ++e) {
    const std::uint32_t bits = to_bits(o[e]);
    h = compare::hash_plus(h, compare::hash_element(e, bits));
    if (!run0) differing_ += bits != to_bits(first_[e]);
    compare::range_add(o[e], lo_[e], hi_[e], seen_[e]);
  }
  const std::pair<std::uint64_t, std::uint64_t> key{h.a, h.b ^ count};
  const auto at = std::lower_bound(hashes_.begin(), hashes_.end(), key);
  if (at == hashes_.end() || *at != key) hashes_.insert(at, key);
}

OutputDrift OutputDriftStream::result() const {
  OutputDrift d;
  d.runs = runs_;
  if (runs_ == 0) return d;
  const std::size_t count = B_ * N_;
  d.distinct_outputs = hashes_.size();
  d.ratio_non_equal = runs_ > 1 && count ? static_cast<double>(differing_) / static_cast<double>((runs_ - 1) * count) : 0.0;
  compare::RangeMetrics m;
  for (std::size_t e = 0; e < count; ++e) m = compare::range_max(m, compare::range_metrics(lo_[e], hi_[e], seen_[e]));
  d.max_ulp = m.max_ulp;
  // An element that is NaN in some runs and a number in others has no distance: the metric says nan.
  d.max_abs_diff = m.mixed ? NAN : m.max_abs_diff;
  for (std::size_t i = 0; i < B_; ++i) d.argmax_flips += flipped_[i];
  return d;
}

std::uint64_t OutputDriftStream::max_ulp_by(std::uint64_t (*ulp)(float, float)) const {
  std::uint64_t m = 0;
  for (std::size_t e = 0; e < lo_.size(); ++e) {
    const bool nan = seen_[e] & compare::kSawNaN, number = seen_[e] & compare::kSawNumber;
    const std::uint64_t u = nan && number ? kUnorderedUlp : number ? ulp(lo_[e], hi_[e]) : 0;
    m = std::max(m, u);
  }
  return m;
}

namespace {
template <class S> std::uint64_t ulp16(float a, float b) {
  const bool na = a != a, nb = b != b;
  if (na || nb) return na && nb ? 0 : kUnorderedUlp;
  auto ord = [](float x) {
    const std::uint16_t h = Narrow<S>::from(x).bits;
    const auto mag = static_cast<std::int64_t>(h & 0x7fffu);
    return (h & 0x8000u) ? -mag : mag;
  };
  const std::int64_t x = ord(a), y = ord(b);
  return x > y ? static_cast<std::uint64_t>(x - y) : static_cast<std::uint64_t>(y - x);
}
}  // namespace

std::uint64_t ulp_distance_bf16(float a, float b) { return ulp16<bf16>(a, b); }
std::uint64_t ulp_distance_f16(float a, float b) { return ulp16<f16>(a, b); }

OutputDrift output_drift(const std::vector<std::vector<float>>& outputs, std::size_t B, std::size_t N) {
  OutputDriftStream s(B, N);
  for (const auto& o : outputs) s.add(o);
  return s.result();
}

double max_rel_err(const std::vector<float>& y, const std::vector<double>& ref) {
  double err = 0, scale = 0;
  bool nan = false;
  for (std::size_t e = 0; e < y.size() && e < ref.size(); ++e) {
    const double a = static_cast<double>(y[e]), r = ref[e];
    if (std::isnan(a) || std::isnan(r)) {  // a NaN output is never a match, even for a NaN reference
      nan = true;
      continue;
    }
    if (a != r) err = std::max(err, std::fabs(a - r));  // equal infinities are no error
    if (!std::isinf(r)) scale = std::max(scale, std::fabs(r));
  }
  if (nan) return NAN;
  return scale > 0 ? err / scale : err;
}
template Drift drift<double>(std::span<const double>, double);

}  // namespace driftlab
