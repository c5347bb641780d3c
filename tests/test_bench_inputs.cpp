// The laws of the benchmarks' device-made inputs (bench/bench_inputs_law.h, the code the CUDA
// kernel runs), checked on the host: the permutation is a bijection, the ill-conditioned input
// has make_input's structure (pairs that cancel, exponents over 2^-20..2^20, a sum far below the
// sum of magnitudes), uniform stays in [0, 1), normal has mean 0 and variance 1, nothing is zero.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bench/bench_inputs_law.h"

namespace law = driftlab::bench::law;

TEST(BenchInputs, PermutationIsABijectionOfEverySize) {
  for (const std::uint64_t n : {1ull, 2ull, 3ull, 5ull, 64ull, 1000ull, 4096ull, 65537ull, 300001ull}) {
    const law::Perm p = law::Perm::make(n, 12345);
    std::vector<char> seen(n, 0);
    std::uint64_t moved = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t j = p(i);
      ASSERT_LT(j, n) << "n=" << n;
      ASSERT_EQ(seen[j], 0) << "n=" << n << ": " << j << " hit twice";
      seen[j] = 1;
      moved += j != i;
    }
    if (n >= 64) {
      EXPECT_GT(moved, n * 9 / 10) << "n=" << n << ": hardly permuted";
    }
  }
}

TEST(BenchInputs, IllcondHasPairsThatCancelAndAWideExponentRange) {
  for (const std::uint64_t n : {100001ull, 1ull << 17}) {
    const law::Perm p = law::Perm::make(n, 7);
    std::vector<float> x(n);
    for (std::uint64_t i = 0; i < n; ++i) x[i] = law::draw<float>(law::illcond, 7, i, n, p);
    double sum = 0, mag = 0;
    int lo = 100, hi = -100, zeros = 0;
    for (const float v : x) {
      sum += v;
      mag += std::fabs(v);
      zeros += v == 0.0f;
      if (v != 0.0f) {
        lo = std::min(lo, std::ilogb(v));
        hi = std::max(hi, std::ilogb(v));
      }
    }
    EXPECT_LT(zeros, static_cast<int>(n / 1000));
    EXPECT_LE(lo, -20);
    EXPECT_GE(hi, 19);
    EXPECT_LT(std::fabs(sum), 1e-6 * mag) << "n=" << n << ": the pairs do not cancel";
    // element j and its partner j + n/2 (before the permutation): negations up to 1e-3 N(0,1)
    const std::uint64_t half = n / 2;
    for (std::uint64_t j = 0; j < 1000; ++j) {
      const float a = law::illcond_pre<float>(7, j, n), b = law::illcond_pre<float>(7, j + half, n);
      EXPECT_LT(std::fabs(static_cast<double>(a) + b), 0.01) << j;
    }
    // the permutation spreads the big halves: the first 1000 positions hold both kinds
    int big = 0;
    for (std::uint64_t i = 0; i < 1000; ++i) big += p(i) < half;
    EXPECT_GT(big, 400);
    EXPECT_LT(big, 600);
  }
}

TEST(BenchInputs, UniformAndNormalFollowTheirLaws) {
  const std::uint64_t n = 200000;
  const law::Perm p = law::Perm::make(n, 3);
  double mean = 0, var = 0, umin = 1, umax = 0;
  int zeros = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const float u = law::draw<float>(law::uniform, 3, i, n, p);
    const double d = law::draw<double>(law::uniform, 3, i, n, p);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    umin = std::min<double>(umin, u);
    umax = std::max<double>(umax, u);
    const double z = law::draw<double>(law::normal_dist, 3, i, n, p);
    zeros += z == 0.0;
    mean += z;
    var += z * z;
  }
  mean /= n;
  var = var / n - mean * mean;
  EXPECT_LT(umin, 1e-4);
  EXPECT_GT(umax, 1 - 1e-4);
  EXPECT_LT(std::fabs(mean), 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
  EXPECT_EQ(zeros, 0);
  // other seeds give other values
  EXPECT_NE(law::draw<double>(law::normal_dist, 3, 5, n, p), law::draw<double>(law::normal_dist, 4, 5, n, p));
}
