#include "host/io/data.h"

#include <cmath>
#include <string>
#include <utility>

#include "host/common/cli_args.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/half_convert.h"

namespace driftlab {

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::uniform: return "uniform";
    case Dist::normal: return "normal";
    case Dist::illcond: return "illcond";
  }
  return "?";
}

std::optional<Dist> parse_dist(std::string_view s) {
  for (Dist d : {Dist::uniform, Dist::normal, Dist::illcond})
    if (s == dist_name(d)) return d;
  return std::nullopt;
}

Dist parse_dist_flag(std::string_view s) {
  const auto d = parse_dist(s);
  if (!d) throw UsageError("--dist: expected uniform, normal or illcond, got '" + std::string(s) + "'");
  return *d;
}

namespace {

double normal(SplitMix64& g) {
  // Box-Muller; 1 - u keeps the log argument in (0, 1].
  const double u1 = 1.0 - g.uniform01(), u2 = g.uniform01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

template <class T> void fill(std::vector<T>& x, Dist dist, SplitMix64& g) {
  const std::size_t n = x.size();
  switch (dist) {
    case Dist::uniform:
      for (auto& v : x) {
        if constexpr (sizeof(T) == 4) v = static_cast<float>(g.next() >> 40) * 0x1.0p-24f;
        else v = g.uniform01();
      }
      return;
    case Dist::normal:
      for (auto& v : x) v = static_cast<T>(normal(g));
      return;
    case Dist::illcond: {
      const std::size_t half = n / 2;
      for (std::size_t i = 0; i < half; ++i) {
        const int k = static_cast<int>(g.below(41)) - 20;
        x[i] = static_cast<T>(std::ldexp(normal(g), k));
      }
      for (std::size_t i = 0; i < half; ++i) x[half + i] = static_cast<T>(-static_cast<double>(x[i]) + 1e-3 * normal(g));
      if (n % 2) x[n - 1] = static_cast<T>(1e-3 * normal(g));
      for (std::size_t i = n; i > 1; --i) std::swap(x[i - 1], x[g.below(i)]);
      return;
    }
  }
}

}  // namespace

HostArray make_input(Dist dist, DType dtype, std::size_t n, std::uint64_t seed) {
  HostArray a;
  a.dtype = dtype;
  a.shape = {n};
  SplitMix64 g(seed);
  if (dtype == DType::f32) {
    a.f32.resize(n);
    fill(a.f32, dist, g);
  } else if (is_half(dtype)) {  // generated in float32, then rounded to nearest even (half.h)
    std::vector<float> x(n);
    fill(x, dist, g);
    a.u16.resize(n);
    if (dtype == DType::bf16) cpu::narrow_bf16(x.data(), a.u16.data(), n);
    else cpu::narrow_f16(x.data(), a.u16.data(), n);
  } else {
    a.f64.resize(n);
    fill(a.f64, dist, g);
  }
  return a;
}

}  // namespace driftlab
