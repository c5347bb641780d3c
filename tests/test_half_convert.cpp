// The 16-bit conversions: half.h against an independent reference (nearest representable value
// found by comparing distances in double, ties to the even significand), and every ISA level of
// cpu/half_convert against half.h, bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/cpu/half_convert.h"

namespace driftlab {
namespace {

using cpu::detail::HalfIsa;

// A binary format with `mant` stored significand bits and exponents [min_exp, max_exp].
struct Format {
  const char* name;
  int mant;
  int min_exp;
  int max_exp;
  int bias;
};
constexpr Format kBf16{"bf16", 7, -126, 127, 127};
constexpr Format kF16{"f16", 10, -14, 15, 15};

// Decodes a 16-bit pattern to its value (exact in double), NaN aside.
double ref_value(const Format& f, std::uint16_t h) {
  const int exp_field = (h >> f.mant) & ((1 << (15 - f.mant)) - 1);
  const int m = h & ((1 << f.mant) - 1);
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  if (exp_field == (1 << (15 - f.mant)) - 1) return sign * INFINITY;  // callers skip NaNs
  if (exp_field == 0) return sign * std::ldexp(static_cast<double>(m), f.min_exp - f.mant);
  return sign * std::ldexp(static_cast<double>((1 << f.mant) + m), exp_field - f.bias - f.mant);
}

// Encodes a value that the format holds exactly (or +-Inf) as its 16-bit pattern.
std::uint16_t ref_encode(const Format& f, double r, bool negative) {
  const std::uint16_t sign = negative ? 0x8000u : 0u;
  const int inf_field = (1 << (15 - f.mant)) - 1;
  if (std::isinf(r)) return static_cast<std::uint16_t>(sign | (inf_field << f.mant));
  if (r == 0) return sign;
  if (r < std::ldexp(1.0, f.min_exp))  // subnormal: a count of the smallest step
    return static_cast<std::uint16_t>(sign | static_cast<int>(std::ldexp(r, f.mant - f.min_exp)));
  const int e = std::ilogb(r);
  const int frac = static_cast<int>(std::ldexp(r, f.mant - e)) - (1 << f.mant);
  return static_cast<std::uint16_t>(sign | ((e + f.bias) << f.mant) | frac);
}

// Narrowing by search: the two neighbours on the format's grid around |x|, the nearer one, a tie
// to the one whose significand is even; beyond the largest finite value, infinity.
std::uint16_t ref_narrow(const Format& f, float x) {
  const std::uint32_t u = to_bits(x);
  const bool negative = (u >> 31) != 0;
  if (std::isnan(x)) {  // the documented NaN rule (F16C's): quiet, sign and top payload bits kept
    if (f.mant == 7) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
    return static_cast<std::uint16_t>(((u >> 16) & 0x8000u) | 0x7e00u | ((u >> 13) & 0x3ffu));
  }
  const double ax = std::fabs(static_cast<double>(x));
  if (std::isinf(ax)) return ref_encode(f, ax, negative);
  const int e = ax < std::ldexp(1.0, f.min_exp) ? f.min_exp : std::ilogb(ax);
  const double q = std::ldexp(1.0, e - f.mant);  // the grid step around |x|
  const double lo = std::floor(ax / q) * q;
  const double hi = lo + q;
  const double d_lo = ax - lo, d_hi = hi - ax;  // exact: all on a grid far finer than double's
  double r;
  if (d_lo < d_hi) r = lo;
  else if (d_hi < d_lo) r = hi;
  else r = std::fmod(lo / q, 2.0) == 0 ? lo : hi;
  const double max_finite = std::ldexp(2.0 - std::ldexp(1.0, -f.mant), f.max_exp);
  if (r > max_finite) r = INFINITY;
  return ref_encode(f, r, negative);
}

// Floats for narrowing: every upper 16 bits (every exponent, both signs, NaN payloads, the
// overflow boundary) with low halves at and around every rounding position (ties, one either
// side, all ones), plus random patterns.
std::vector<float> narrowing_inputs(std::size_t random_count) {
  std::vector<std::uint32_t> lows = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0xfffe, 0x4000, 0xc000};
  for (int s = 1; s <= 16; ++s) {  // tie at bit s-1 (f16 subnormal shifts go up to 24: upper half covers those)
    const std::uint32_t tie = 1u << (s - 1);
    lows.push_back(tie);
    lows.push_back(tie - 1);
    lows.push_back(tie + 1);
    lows.push_back(tie | (tie << 1));
    lows.push_back((tie - 1) | (1u << 15));
  }
  std::vector<float> xs;
  xs.reserve(65536 * lows.size() + random_count);
  for (std::uint32_t hi = 0; hi < 65536; ++hi)
    for (std::uint32_t lo : lows) xs.push_back(from_bits<float>((hi << 16) | (lo & 0xffffu)));
  std::mt19937 rng(20261130);
  for (std::size_t i = 0; i < random_count; ++i) xs.push_back(from_bits<float>(static_cast<std::uint32_t>(rng())));
  return xs;
}

TEST(HalfH, WidenEqualsTheDecodedValueForAll65536Patterns) {
  for (const Format& f : {kBf16, kF16}) {
    for (std::uint32_t h = 0; h < 65536; ++h) {
      const auto bits = static_cast<std::uint16_t>(h);
      const float got = f.mant == 7 ? bf16_to_f32(bits) : f16_to_f32(bits);
      const int exp_field = (h >> f.mant) & ((1 << (15 - f.mant)) - 1);
      const bool nan = exp_field == (1 << (15 - f.mant)) - 1 && (h & ((1u << f.mant) - 1)) != 0;
      if (nan) {
        ASSERT_TRUE(std::isnan(got)) << f.name << " 0x" << std::hex << h;
        ASSERT_EQ(to_bits(got) >> 31, h >> 15) << f.name << " NaN keeps its sign, 0x" << std::hex << h;
        continue;
      }
      const double want = ref_value(f, bits);
      ASSERT_EQ(static_cast<double>(got), want) << f.name << " 0x" << std::hex << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000u) != 0) << f.name << " 0x" << std::hex << h;
      // Every finite value round-trips, bit for bit.
      const std::uint16_t back = f.mant == 7 ? f32_to_bf16(got) : f32_to_f16(got);
      ASSERT_EQ(back, bits) << f.name << " 0x" << std::hex << h;
    }
  }
}

TEST(HalfH, NarrowEqualsTheNearestEvenReferenceOnADenseSetOfFloats) {
  const std::vector<float> xs = narrowing_inputs(1 << 20);
  std::size_t ties_seen = 0;
  for (const Format& f : {kBf16, kF16}) {
    for (float x : xs) {
      const std::uint16_t want = ref_narrow(f, x);
      const std::uint16_t got = f.mant == 7 ? f32_to_bf16(x) : f32_to_f16(x);
      ASSERT_EQ(got, want) << f.name << " x bits 0x" << std::hex << to_bits(x);
      if (f.mant == 7 && (to_bits(x) & 0xffffu) == 0x8000u) ++ties_seen;
    }
  }
  EXPECT_GT(ties_seen, 60000u);  // the set really holds ties
  // Spot values a reader can check by hand.
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bffu);
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bffu);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00u);         // the tie above the largest finite: to Inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001u);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000u);  // its half: tie to even 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001u);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80u);  // 1 + 2^-8: tie, to even 1.0
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82u);  // 1 + 3*2^-8: tie, to even 1 + 2^-6
  EXPECT_EQ(f32_to_bf16(std::ldexp(1.0f, -130)), 0x0008u);  // subnormal kept, not flushed
}

class HalfConvertLevels : public ::testing::TestWithParam<HalfIsa> {
 protected:
  void SetUp() override {
    cpu::detail::force_half_isa(GetParam());
    if (cpu::detail::half_isa_level() != GetParam())
      GTEST_SKIP() << "this CPU (or DRIFTLAB_ISA) does not run " << cpu::isa_name(GetParam());
  }
  void TearDown() override { cpu::detail::force_half_isa(HalfIsa::avx512); }
};

TEST_P(HalfConvertLevels, WidenAll65536PatternsBitwiseAsHalfH) {
  std::vector<std::uint16_t> in(65536 + 21);  // a tail that no vector width divides
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint16_t>(i * 40503u);  // odd: a permutation
  for (std::uint32_t h = 0; h < 65536; ++h) in[h] = static_cast<std::uint16_t>(h);
  std::vector<float> out(in.size());
  for (std::size_t offset : {std::size_t{0}, std::size_t{3}}) {  // unaligned starts too
    const std::size_t n = in.size() - offset;
    cpu::widen_bf16(in.data() + offset, out.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(to_bits(out[i]), to_bits(bf16_to_f32(in[offset + i]))) << "bf16 0x" << std::hex << in[offset + i];
    cpu::widen(reinterpret_cast<const f16*>(in.data() + offset), out.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(to_bits(out[i]), to_bits(f16_to_f32(in[offset + i]))) << "f16 0x" << std::hex << in[offset + i];
  }
}

TEST_P(HalfConvertLevels, NarrowDenseAndRandomFloatsBitwiseAsHalfH) {
  const std::vector<float> xs = narrowing_inputs(3'000'000);
  std::vector<std::uint16_t> out(xs.size());
  for (std::size_t offset : {std::size_t{0}, std::size_t{5}}) {
    const std::size_t n = xs.size() - offset;
    cpu::narrow_bf16(xs.data() + offset, out.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], f32_to_bf16(xs[offset + i])) << "bf16 of 0x" << std::hex << to_bits(xs[offset + i]);
    cpu::narrow(xs.data() + offset, reinterpret_cast<f16*>(out.data()), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], f32_to_f16(xs[offset + i])) << "f16 of 0x" << std::hex << to_bits(xs[offset + i]);
  }
  // n = 0 and short arrays touch nothing past n.
  std::vector<std::uint16_t> guard(40, 0xabcd);
  cpu::narrow_f16(xs.data(), guard.data(), 0);
  cpu::narrow_bf16(xs.data(), guard.data(), 7);
  for (std::size_t i = 7; i < guard.size(); ++i) ASSERT_EQ(guard[i], 0xabcdu);
}

// Every length's tail: the n outputs are the scalar ones and nothing past them is written.  (A
// scalar loop running to i <= n wrote one element past the end unnoticed by the tests above, whose
// outputs are exactly n long: the operator sweep of session 24.)
TEST_P(HalfConvertLevels, EveryLengthWritesExactlyItsOutputs) {
  constexpr std::size_t kGuard = 24;
  const std::vector<float> all = narrowing_inputs(100);
  const std::vector<float> xs(all.end() - 100, all.end());  // the random floats
  std::vector<std::uint16_t> hs(xs.size());
  for (std::size_t i = 0; i < hs.size(); ++i) hs[i] = static_cast<std::uint16_t>(0x3c01u + 977u * i);
  for (std::size_t n = 0; n <= 70; ++n) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{1}}) {
      const std::uint16_t* h = hs.data() + offset;
      const float* x = xs.data() + offset;
      std::vector<float> wide(n + kGuard, -1234.5f);
      cpu::widen_bf16(h, wide.data(), n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(to_bits(wide[i]), to_bits(bf16_to_f32(h[i]))) << "bf16 n=" << n;
      for (std::size_t i = n; i < wide.size(); ++i) ASSERT_EQ(wide[i], -1234.5f) << "widen_bf16 wrote past n=" << n;
      std::fill(wide.begin(), wide.end(), -1234.5f);
      cpu::widen_f16(h, wide.data(), n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(to_bits(wide[i]), to_bits(f16_to_f32(h[i]))) << "f16 n=" << n;
      for (std::size_t i = n; i < wide.size(); ++i) ASSERT_EQ(wide[i], -1234.5f) << "widen_f16 wrote past n=" << n;
      std::vector<std::uint16_t> narrow(n + kGuard, 0xabcd);
      cpu::narrow_bf16(x, narrow.data(), n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(narrow[i], f32_to_bf16(x[i])) << "bf16 n=" << n;
      for (std::size_t i = n; i < narrow.size(); ++i) ASSERT_EQ(narrow[i], 0xabcdu) << "narrow_bf16 wrote past n=" << n;
      std::fill(narrow.begin(), narrow.end(), 0xabcd);
      cpu::narrow_f16(x, narrow.data(), n);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(narrow[i], f32_to_f16(x[i])) << "f16 n=" << n;
      for (std::size_t i = n; i < narrow.size(); ++i) ASSERT_EQ(narrow[i], 0xabcdu) << "narrow_f16 wrote past n=" << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, HalfConvertLevels, ::testing::Values(HalfIsa::scalar, HalfIsa::avx2, HalfIsa::avx512),
                         [](const auto& info) { return std::string(cpu::isa_name(info.param)); });

}  // namespace
}  // namespace driftlab
