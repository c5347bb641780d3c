// Drift metrics on hand-made cases: ULPs across zero, NaN, signed zeros, and each field.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <string>
#include <limits>
#include <vector>

#include "host/metrics/metrics.h"

namespace driftlab {
namespace {

const float kMinSub = std::numeric_limits<float>::denorm_min();

TEST(Metrics, UlpDistanceCountsAcrossZero) {
  EXPECT_EQ(ulp_distance(kMinSub, -kMinSub), 2u);
  EXPECT_EQ(ulp_distance(0.0f, kMinSub), 1u);
  EXPECT_EQ(ulp_distance(-0.0f, kMinSub), 1u);
  EXPECT_EQ(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)), 1u);
  EXPECT_EQ(ulp_distance(1.0f, -1.0f), 2u * 0x3f800000u);
  EXPECT_EQ(ulp_distance(std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity()), 1u);
  EXPECT_EQ(ulp_distance(1.0, std::nextafter(std::nextafter(1.0, 2.0), 2.0)), 2u);
}

TEST(Metrics, SignedZerosAreZeroUlpsApart) {
  EXPECT_EQ(ulp_distance(0.0f, -0.0f), 0u);
  EXPECT_EQ(ulp_distance(-0.0, 0.0), 0u);
  EXPECT_EQ(ordered_int(-0.0f), ordered_int(0.0f));
}

TEST(Metrics, NanIsUnorderedAgainstNumbers) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(ulp_distance(nan, 1.0f), kUnorderedUlp);
  EXPECT_EQ(ulp_distance(0.0f, nan), kUnorderedUlp);
  EXPECT_EQ(ulp_distance(nan, -nan), 0u);
}

TEST(Metrics, IdenticalRunsHaveNoDrift) {
  const std::vector<float> r = {1.5f, 1.5f, 1.5f};
  const Drift d = drift<float>(r, 1.5f);
  EXPECT_EQ(d.runs, 3u);
  EXPECT_EQ(d.distinct_outputs, 1u);
  EXPECT_EQ(d.ratio_non_equal, 0.0);
  EXPECT_EQ(d.max_ulp, 0u);
  EXPECT_EQ(d.vs_max, 0.0);
  EXPECT_EQ(d.max_abs_diff, 0.0);
  EXPECT_EQ(d.error_ulp, 0u);
  EXPECT_EQ(d.result, 1.5);
  EXPECT_EQ(d.result_bits, 0x3fc00000u);
}

TEST(Metrics, DriftFieldsOnAHandMadeCase) {
  const float up = std::nextafter(1.0f, 2.0f), down = std::nextafter(1.0f, 0.0f);
  const std::vector<float> r = {1.0f, up, 1.0f, down};
  const Drift d = drift<float>(r, down);
  EXPECT_EQ(d.distinct_outputs, 3u);
  EXPECT_DOUBLE_EQ(d.ratio_non_equal, 0.5);
  EXPECT_EQ(d.max_ulp, 2u);  // down .. up
  EXPECT_DOUBLE_EQ(d.max_abs_diff, static_cast<double>(up) - static_cast<double>(down));
  EXPECT_EQ(d.error_ulp, 1u);  // run 0 (1.0) vs exact (down)
  EXPECT_DOUBLE_EQ(d.vs_max, std::fabs(1.0 - static_cast<double>(up) / static_cast<double>(down)));
}

TEST(Metrics, SignedZeroResultsAreDistinctPatternsButZeroUlps) {
  const std::vector<double> r = {0.0, -0.0};
  const Drift d = drift<double>(r, 0.0);
  EXPECT_EQ(d.distinct_outputs, 2u);
  EXPECT_DOUBLE_EQ(d.ratio_non_equal, 0.5);
  EXPECT_EQ(d.max_ulp, 0u);
  EXPECT_EQ(d.vs_max, 0.0);  // exact zero, every run zero
}

TEST(Metrics, ExactZeroWithNonzeroRunGivesInfiniteVs) {
  const std::vector<float> r = {0.0f, kMinSub};
  EXPECT_TRUE(std::isinf(drift<float>(r, 0.0f).vs_max));
}

TEST(Metrics, NanRunsMakeDriftUnordered) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> r = {1.0f, nan};
  const Drift d = drift<float>(r, 1.0f);
  EXPECT_EQ(d.max_ulp, kUnorderedUlp);
  EXPECT_TRUE(std::isnan(d.max_abs_diff));
  EXPECT_TRUE(std::isnan(d.vs_max));
  const std::vector<float> all_nan = {nan, nan};
  EXPECT_EQ(drift<float>(all_nan, nan).max_ulp, 0u);
}

TEST(Metrics, RoundTripTextReadsBack) {
  // from_chars, not stof: stof throws on subnormals (ERANGE).
  auto parse = [](const std::string& s, auto zero) {
    decltype(zero) v{};
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  };
  for (const float f : {0.1f, 1.0f / 3.0f, kMinSub, std::numeric_limits<float>::max(), -2.5e-30f}) {
    EXPECT_EQ(parse(round_trip(f), 0.0f), f) << round_trip(f);
  }
  for (const double v : {0.1, 1.0 / 3.0, 5e-324, -1.7976931348623157e308}) {
    EXPECT_EQ(parse(round_trip(v), 0.0), v) << round_trip(v);
  }
  EXPECT_EQ(round_trip(0.1f), "0.1");
  EXPECT_EQ(round_trip(-0.0f), "-0");
  EXPECT_EQ(round_trip(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(round_trip(std::numeric_limits<float>::quiet_NaN()), "nan");
}

TEST(Metrics, HexBitsAndMedian) {
  EXPECT_EQ(hex_bits(0x3f800000u, 4), "0x3f800000");
  EXPECT_EQ(hex_bits(1, 8), "0x0000000000000001");
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 2, 3}), 2.5);
  EXPECT_EQ(median({}), 0);
}

}  // namespace
}  // namespace driftlab
