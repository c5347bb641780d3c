// Philox4x32-10 against Random123's known-answer vectors, and the counter-based dropout built on
// it: drop rate within statistical bounds, exact inverted scaling, and a mask that is a pure
// function of (seed, call, layer, element), whatever the order elements are computed in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/common/dropout.h"
#include "kernels/common/philox.h"
#include "tests/test_helpers.h"

namespace driftlab {
namespace {

using philox::philox4x32_10;
using philox::uniform01;
using testing::same_bits;

struct Kat {
  std::uint32_t ctr[4], key[2], out[4];
};

// tests/kat_vectors of DEShawResearch/random123, lines "philox4x32 10 ...".
constexpr Kat kKat[] = {
    {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u}, {0x00000000u, 0x00000000u},
     {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

TEST(Philox, KnownAnswerVectors) {
  for (const Kat& k : kKat) {
    std::uint32_t out[4];
    philox4x32_10(k.ctr, k.key, out);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], k.out[i]) << "word " << i;
  }
}

TEST(Philox, OutputMayAliasCounter) {
  std::uint32_t c[4] = {kKat[2].ctr[0], kKat[2].ctr[1], kKat[2].ctr[2], kKat[2].ctr[3]};
  philox4x32_10(c, kKat[2].key, c);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c[i], kKat[2].out[i]);
}

TEST(Philox, Uniform01RangeAndExactness) {
  EXPECT_TRUE(same_bits(uniform01(0u), 0.0f));
  EXPECT_EQ(uniform01(0xffu), 0.0f);  // the low 8 bits are discarded
  EXPECT_EQ(uniform01(0x100u), 0x1.0p-24f);
  EXPECT_EQ(uniform01(0x80000000u), 0.5f);
  EXPECT_EQ(uniform01(0xffffffffu), 1.0f - 0x1.0p-24f);
  EXPECT_LT(uniform01(0xffffffffu), 1.0f);
  // Exact: the float equals the rational (u >> 8) / 2^24, checked in double, for a spread of u.
  for (std::uint64_t u = 0; u <= 0xffffffffull; u += 0x10001ull) {
    const auto w = static_cast<std::uint32_t>(u);
    const float f = uniform01(w);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_EQ(static_cast<double>(f), static_cast<double>(w >> 8) / 16777216.0) << w;
  }
}

constexpr std::uint64_t kSeed = 0x5eed'1234'abcd'0042ull;
constexpr std::uint64_t kN = 1000000;

TEST(Dropout, WordIsOnePhiloxBlockPerFourElements) {
  const std::uint64_t seed = 0x0123456789abcdefull, call = 0x0000'abcd'1234'5678ull;
  const std::uint32_t layer = 7;
  const std::uint64_t e0 = (0x3ull << 34) + 40;  // block index 3 * 2^32 + 10: above 2^32, so ctr[1] = 3
  const std::uint32_t ctr[4] = {10u, 3u, 0x12345678u, 0xabcdu | (7u << 16)};  // literals: the packing by hand
  const std::uint32_t key[2] = {0x89abcdefu, 0x01234567u};
  std::uint32_t out[4];
  philox4x32_10(ctr, key, out);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(dropout::dropout_word(seed, call, layer, e0 + i), out[i]);
}

TEST(Dropout, Threshold) {
  using dropout::drop_threshold;
  EXPECT_EQ(drop_threshold(0.0f), 0u);
  EXPECT_EQ(drop_threshold(-0.0f), 0u);
  EXPECT_EQ(drop_threshold(-0.5f), 0u);
  EXPECT_EQ(drop_threshold(NAN), 0u);
  EXPECT_EQ(drop_threshold(0.5f), 0x80000000u);
  EXPECT_EQ(drop_threshold(0.25f), 0x40000000u);
  EXPECT_EQ(drop_threshold(0x1.0p-32f), 1u);
  EXPECT_EQ(drop_threshold(0x1.0p-33f), 1u);   // exactly one half rounds up
  EXPECT_EQ(drop_threshold(0x1.0p-34f), 0u);
  EXPECT_EQ(drop_threshold(0x1.8p-32f), 2u);   // 1.5 rounds up
  EXPECT_EQ(drop_threshold(0.1f), static_cast<std::uint32_t>(std::llround(static_cast<double>(0.1f) * 0x1.0p32)));
  EXPECT_EQ(drop_threshold(1.0f - 0x1.0p-24f), 0xffffff00u);
  // rate >= 1 saturates: the word 0xffffffff is still kept (callers reject rate >= 1).
  EXPECT_EQ(drop_threshold(1.0f), 0xffffffffu);
  EXPECT_EQ(drop_threshold(2.0f), 0xffffffffu);
  EXPECT_EQ(dropout::apply(1.0f, 0xffffffffu, drop_threshold(1.0f), 1.0f), 1.0f);
}

TEST(Dropout, KeepScaleIsFloatDivision) {
  EXPECT_EQ(dropout::keep_scale(0.0f), 1.0f);
  EXPECT_EQ(dropout::keep_scale(0.5f), 2.0f);
  EXPECT_EQ(dropout::keep_scale(0.75f), 4.0f);
  volatile float one = 1.0f, r = 0.1f;  // volatile: force the float ops at run time
  const float sub = one - r;
  EXPECT_TRUE(same_bits(dropout::keep_scale(0.1f), one / sub));
}

TEST(Dropout, RateWithinStatisticalBounds) {
  for (const float rate : {0.1f, 0.5f, 0.9f}) {
    const std::uint32_t th = dropout::drop_threshold(rate);
    std::uint64_t dropped = 0;
    for (std::uint64_t e = 0; e < kN; ++e) dropped += dropout::dropout_word(kSeed, 3, 1, e) < th;
    const double p = static_cast<double>(th) * 0x1.0p-32;
    const double frac = static_cast<double>(dropped) / static_cast<double>(kN);
    const double sd = std::sqrt(p * (1 - p) / static_cast<double>(kN));
    EXPECT_LE(std::fabs(frac - p), 6 * sd) << "rate " << rate << " dropped " << frac;
  }
}

TEST(Dropout, RateZeroDropsNothing) {
  const std::uint32_t th = dropout::drop_threshold(0.0f);
  const float scale = dropout::keep_scale(0.0f);
  for (std::uint64_t e = 0; e < kN; e += 7) {
    const float x = static_cast<float>(e) * 0.37f - 1000.0f;
    ASSERT_TRUE(same_bits(dropout::apply(x, dropout::dropout_word(kSeed, 0, 0, e), th, scale), x)) << e;
  }
}

TEST(Dropout, ScalingIsExact) {
  for (const float rate : {0.1f, 0.3f, 0.5f}) {
    const std::uint32_t th = dropout::drop_threshold(rate);
    const float scale = dropout::keep_scale(rate);
    std::uint64_t kept = 0;
    for (std::uint64_t e = 0; e < 100000; ++e) {
      const float x = uniform01(dropout::dropout_word(~kSeed, 9, 2, e)) * 8.0f - 4.0f;
      const std::uint32_t w = dropout::dropout_word(kSeed, 0, 0, e);
      const float y = dropout::apply(x, w, th, scale);
      if (w < th) {
        ASSERT_TRUE(same_bits(y, 0.0f)) << e;  // +0.0, not -0.0
      } else {
        volatile float xv = x, sv = scale;
        const float want = xv * sv;
        ASSERT_TRUE(same_bits(y, want)) << e;
        ++kept;
      }
    }
    EXPECT_GT(kept, 0u);
  }
}

std::vector<std::uint32_t> words(std::uint64_t seed, std::uint64_t call, std::uint32_t layer, std::uint64_t n) {
  std::vector<std::uint32_t> w(n);
  for (std::uint64_t e = 0; e < n; ++e) w[e] = dropout::dropout_word(seed, call, layer, e);
  return w;
}

// Fraction of elements on which two word streams disagree about dropping at rate 0.5.
double mask_difference(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
  const std::uint32_t th = dropout::drop_threshold(0.5f);
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (a[i] < th) != (b[i] < th);
  return static_cast<double>(diff) / static_cast<double>(a.size());
}

constexpr std::uint64_t kM = 200000;

TEST(Dropout, SameInputsRepeatExactly) {
  EXPECT_EQ(words(kSeed, 5, 3, kM), words(kSeed, 5, 3, kM));
}

TEST(Dropout, CallsDiffer) {
  const auto c0 = words(kSeed, 0, 0, kM);
  // Independent masks at rate 0.5 disagree on half the elements; the bound is ~45 sd wide.
  EXPECT_GT(mask_difference(c0, words(kSeed, 1, 0, kM)), 0.45);
  EXPECT_GT(mask_difference(c0, words(kSeed, 1ull << 32, 0, kM)), 0.45);  // high call bits count
  EXPECT_GT(mask_difference(c0, words(kSeed + 1, 0, 0, kM)), 0.45);       // so does the seed
  EXPECT_GT(mask_difference(c0, words(kSeed + (1ull << 32), 0, 0, kM)), 0.45);
}

TEST(Dropout, LayersDiffer) {
  const auto l0 = words(kSeed, 0, 0, kM);
  EXPECT_GT(mask_difference(l0, words(kSeed, 0, 1, kM)), 0.45);
  EXPECT_GT(mask_difference(words(kSeed, 0, 1, kM), words(kSeed, 0, 2, kM)), 0.45);
}

TEST(Dropout, IndependentOfElementOrder) {
  const auto forward = words(kSeed, 2, 4, kM);
  std::vector<std::uint32_t> reverse(kM);
  for (std::uint64_t i = kM; i-- > 0;) reverse[i] = dropout::dropout_word(kSeed, 2, 4, i);
  EXPECT_EQ(forward, reverse);
  // A strided (GPU grid-like) order gives the same words too.
  std::vector<std::uint32_t> strided(kM);
  for (std::uint64_t start = 0; start < 97; ++start)
    for (std::uint64_t i = start; i < kM; i += 97) strided[i] = dropout::dropout_word(kSeed, 2, 4, i);
  EXPECT_EQ(forward, strided);
}

}  // namespace
}  // namespace driftlab
