// cpu/bit_compare: every ISA level against a plain one-element-at-a-time definition written here
// (ordered() from output_compare.h for the ULPs, double arithmetic for |a - b|), on arrays of
// every length around the vector widths, with NaNs of several payloads, infinities, signed zeros,
// subnormals and near-equal numbers.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/common/output_compare.h"
#include "kernels/cpu/bit_compare.h"

namespace driftlab {
namespace {

using cpu::BitCompare;
using cpu::detail::CompareIsa;

BitCompare reference(const std::vector<float>& a, const std::vector<float>& b) {
  BitCompare r;
  r.first = a.size();
  double scale_a = 0, scale_b = 0, max_diff = 0;
  bool nan_diff = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isfinite(a[i])) scale_a = std::max(scale_a, std::fabs(double(a[i])));
    if (std::isfinite(b[i])) scale_b = std::max(scale_b, std::fabs(double(b[i])));
    if (std::bit_cast<std::uint32_t>(a[i]) == std::bit_cast<std::uint32_t>(b[i])) continue;
    if (r.differ++ == 0) r.first = i;
    auto sign = [](float v) { return (v > 0) - (v < 0); };  // -1, 0 (either zero) or 1; NaN: none
    r.sign_changes += !std::isnan(a[i]) && !std::isnan(b[i]) && sign(a[i]) != sign(b[i]);
    const std::uint64_t u = compare::ulp_distance(a[i], b[i]);
    if (u == compare::kUnorderedUlp) r.one_nan = true;
    else r.max_ulp = std::max<std::uint32_t>(r.max_ulp, static_cast<std::uint32_t>(u));
    const double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) nan_diff = true;
    else max_diff = std::max(max_diff, d);
  }
  r.scale_a = std::bit_cast<std::uint32_t>(static_cast<float>(scale_a));
  r.scale_b = std::bit_cast<std::uint32_t>(static_cast<float>(scale_b));
  r.max_diff_bits = std::bit_cast<std::uint64_t>(max_diff);
  if (nan_diff) r.max_diff_bits = ~std::uint64_t(0);  // only "above every number" is promised
  return r;
}

void expect_same(const BitCompare& got, const BitCompare& want, const std::string& where) {
  EXPECT_EQ(got.differ, want.differ) << where;
  EXPECT_EQ(got.sign_changes, want.sign_changes) << where;
  EXPECT_EQ(got.first, want.first) << where;
  EXPECT_EQ(got.max_ulp, want.max_ulp) << where;
  EXPECT_EQ(got.one_nan, want.one_nan) << where;
  EXPECT_EQ(got.scale_a, want.scale_a) << where;
  EXPECT_EQ(got.scale_b, want.scale_b) << where;
  constexpr std::uint64_t kInf64 = 0x7ff0000000000000ull;
  if (want.max_diff_bits > kInf64) EXPECT_GT(got.max_diff_bits, kInf64) << where;
  else EXPECT_EQ(got.max_diff_bits, want.max_diff_bits) << where;
}

std::vector<CompareIsa> levels() {
  std::vector<CompareIsa> v;
  for (int l = 0; l <= static_cast<int>(cpu::detail::compare_isa_level()); ++l) v.push_back(static_cast<CompareIsa>(l));
  return v;
}

TEST(BitCompare, EveryLevelEqualsThePlainDefinition) {
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, std::nanf(""), -std::nanf(""),
                            std::bit_cast<float>(0x7f800001u), std::bit_cast<float>(0xffc00123u), 1e-45f, -1e-45f,
                            1.17549435e-38f, 3.4028235e38f, -3.4028235e38f, 1.0f, -1.0f};
  std::mt19937_64 g(7);
  auto pick = [&](float like) -> float {
    switch (g() % 7) {
      case 0: return specials[g() % std::size(specials)];
      case 1: return std::bit_cast<float>(static_cast<std::uint32_t>(g()));
      case 2: case 3: return like;
      case 4: return std::nextafter(like, g() % 2 ? INFINITY : -INFINITY);
      case 5: return std::bit_cast<float>(std::bit_cast<std::uint32_t>(like) ^ (1u << (g() % 32)));
      default: return static_cast<float>(static_cast<int>(g() % 2001) - 1000) / 7.0f;
    }
  };
  std::size_t nan_diffs = 0, one_nans = 0, changes = 0, checked = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    // Lengths around the vector widths (8, 16) and the first-difference scan's blocks (16, 256).
    const std::size_t n = trial < 3000 ? g() % 70 : 200 + g() % 700;
    const int kind = trial % 4;  // 0: mostly equal, 1: equal but for one element, 2: equal, 3: random
    std::vector<float> a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) a[i] = kind == 3 ? pick(float(i) - 3.5f) : float(g() % 1000) / 3.0f - 100.0f;
    for (std::size_t i = 0; i < n; ++i) b[i] = kind == 0 ? (g() % 6 ? a[i] : pick(a[i])) : kind == 3 ? pick(a[i]) : a[i];
    if (kind == 1 && n) b[g() % n] = pick(1.5f);
    const BitCompare want = reference(a, b);
    nan_diffs += want.max_diff_bits > 0x7ff0000000000000ull;
    one_nans += want.one_nan;
    changes += want.sign_changes;
    for (CompareIsa l : levels()) {
      expect_same(cpu::detail::compare_bits_at(l, a.data(), b.data(), n), want,
                  std::string(cpu::isa_name(l)) + " trial " + std::to_string(trial));
      ++checked;
    }
    if (HasFailure()) return;
  }
  EXPECT_GT(nan_diffs, 100u);  // both kinds of NaN outcome were exercised
  EXPECT_GT(one_nans, 100u);
  EXPECT_GT(changes, 1000u);  // sign changes were exercised
  EXPECT_GE(checked, 4000u * levels().size());
}

TEST(BitCompare, KnownPairs) {
  for (CompareIsa l : levels()) {
    const std::string where = cpu::isa_name(l);
    // 17 elements: one full AVX-512 vector and a tail, two AVX2 vectors and a tail.
    std::vector<float> a(17, 1.0f), b(17, 1.0f);
    b[3] = -0.0f, a[3] = 0.0f;                          // bits differ, 0 ULPs apart
    b[9] = std::nextafter(-1e-45f, 0.0f), a[9] = 1e-45f; // -0 and the smallest subnormal: 1 ULP
    a[16] = 2.0f, b[16] = std::nextafter(2.0f, 0.0f);    // 1 ULP in the tail
    a[12] = -3.0f, b[12] = 3.0f;                         // across zero: 2 * bits(3)
    BitCompare c = cpu::detail::compare_bits_at(l, a.data(), b.data(), a.size());
    EXPECT_EQ(c.differ, 4u) << where;
    EXPECT_EQ(c.sign_changes, 2u) << where;  // -3 against 3, -0 against 1e-45; not -0 against 0
    EXPECT_EQ(c.first, 3u) << where;
    EXPECT_EQ(c.max_ulp, 2 * std::bit_cast<std::uint32_t>(3.0f)) << where;
    EXPECT_FALSE(c.one_nan) << where;
    EXPECT_EQ(std::bit_cast<double>(c.max_diff_bits), 6.0) << where;
    EXPECT_EQ(c.scale_a, std::bit_cast<std::uint32_t>(3.0f)) << where;
    // Sign changes in the vector bodies and the tails: 9 (opposite signs, infinities and
    // subnormals among them, and a zero of either sign against a number); a NaN, -0 against +0, or
    // one sign on both sides is none.
    std::vector<float> fa(40, 1.0f), fb(40, 1.0f);
    const std::size_t change_at[] = {0, 7, 8, 15, 16, 31, 39};
    const float change_a[] = {-1e-30f, 2.0f, -INFINITY, 2.8e-45f, -3.4028235e38f, 5.0f, -1e-38f};
    for (std::size_t k = 0; k < std::size(change_at); ++k) {
      fa[change_at[k]] = change_a[k];
      fb[change_at[k]] = -change_a[k] * 0.5f;
    }
    fb[7] = -INFINITY;
    fa[2] = std::nanf(""), fb[2] = -1.0f;
    fa[3] = -0.0f, fb[3] = 5.0f;   // a change: zero against positive
    fa[20] = 0.0f, fb[20] = -5.0f; // a change
    fa[21] = -2.0f, fb[21] = -4.0f;
    fa[22] = -0.0f, fb[22] = 0.0f;
    c = cpu::detail::compare_bits_at(l, fa.data(), fb.data(), fa.size());
    EXPECT_EQ(c.sign_changes, 9u) << where;
    EXPECT_EQ(c.differ, 12u) << where;
    // A NaN against a number: no distance; identical NaNs: no difference at all.
    a.assign(17, std::nanf("")), b = a;
    b[5] = 1.0f;
    c = cpu::detail::compare_bits_at(l, a.data(), b.data(), a.size());
    EXPECT_EQ(c.differ, 1u) << where;
    EXPECT_TRUE(c.one_nan) << where;
    EXPECT_EQ(c.max_ulp, 0u) << where;
    EXPECT_GT(c.max_diff_bits, 0x7ff0000000000000ull) << where;
    EXPECT_EQ(c.scale_a, 0u) << where;  // no finite a
    EXPECT_EQ(c.scale_b, std::bit_cast<std::uint32_t>(1.0f)) << where;
    b = a;
    c = cpu::detail::compare_bits_at(l, a.data(), b.data(), a.size());
    EXPECT_EQ(c.differ, 0u) << where;
    EXPECT_EQ(c.first, a.size()) << where;
    EXPECT_EQ(c.max_diff_bits, 0u) << where;
  }
}

}  // namespace
}  // namespace driftlab
