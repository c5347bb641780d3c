// CPU summation variants: deterministic ones bitwise, atomic ones within the error bound, and
// the seeded shuffle schedule showing (reproducibly) that atomic order changes the bits.
#include <gtest/gtest.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <limits>
#include <numeric>
#include <set>
#include <type_traits>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/common/rng.h"
#include "kernels/common/sum_order.h"
#include "kernels/cpu/exact_simd.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/sum_tile.h"
#include "host/io/data.h"
#include "tests/test_helpers.h"
#include "tests/exact_modes.h"

namespace driftlab {
namespace {

using testing::same_bits;
using testing::sum_error_bound;

const std::size_t kSizes[] = {0, 1, 31, 32, 33, 1023, 1025, 65535, 65536, 65537, (1u << 20) + 1, 3 * 65536 + 7};

// An independent transcription of sum_order.h's steps 1-4, without the library's helpers.
template <class T> T tree_by_the_book(std::vector<T> level) {
  if (level.empty()) return T(0);
  do {  // one pass at least: a lone element is a tile too (step 5 applies to it)
    std::vector<T> next;
    for (std::size_t begin = 0; begin < level.size(); begin += 65536) {
      const std::size_t end = std::min(level.size(), begin + 65536);
      std::vector<T> lanes(1024, T(-0.0));
      for (std::size_t k = begin; k < end; ++k) lanes[(k - begin) % 1024] += level[k];
      for (std::size_t s = 512; s >= 1; s /= 2)
        for (std::size_t j = 0; j < s; ++j) lanes[j] += lanes[j + s];
      // Step 5: a NaN partial is the canonical quiet NaN (0x7fc00000 / 0x7ff8000000000000).
      next.push_back(std::isnan(lanes[0]) ? std::numeric_limits<T>::quiet_NaN() : lanes[0]);
    }
    level = next;
  } while (level.size() > 1);
  return level[0];
}

template <class T> std::vector<T> input(Dist d, std::size_t n, std::uint64_t seed = 3) {
  return make_input(d, sizeof(T) == 4 ? DType::f32 : DType::f64, n, seed).template values<T>();
}

template <class T> void tree_checks() {
  for (const Dist d : {Dist::uniform, Dist::illcond}) {
    for (const std::size_t n : kSizes) {
      const auto x = input<T>(d, n);
      const T want = tree_by_the_book(x);
      for (int threads = 1; threads <= 8; ++threads) {
        cpu::ThreadPool pool(threads);
        const cpu::SumContext ctx{&pool, std::nullopt};
        for (int rep = 0; rep < 2; ++rep) {
          const T got = cpu::sum_tree(x.data(), n, ctx);
          ASSERT_TRUE(same_bits(want, got))
              << dist_name(d) << " n=" << n << " threads=" << threads << ": " << want << " vs " << got;
        }
      }
    }
  }
}

TEST(SumCpu, TreeFollowsTheWrittenOrderAtEveryThreadCountF32) { tree_checks<float>(); }
TEST(SumCpu, TreeFollowsTheWrittenOrderAtEveryThreadCountF64) { tree_checks<double>(); }

// Step 5 of sum_order.h: whatever NaN the hardware makes (x86: 0xffc00000 from inf - inf, an
// operand's payload from NaN + x; NVIDIA: 0x7fffffff), tree returns the canonical quiet NaN, at
// every size (one tile, several tiles, the tail) and every ISA level.  The first GPU run found
// f16 inputs overflowing to +-inf giving the two hardware NaNs.
template <class T> void canonical_nan_checks() {
  const T inf = std::numeric_limits<T>::infinity();
  const T payload_nan = from_bits<T>(static_cast<typename FloatBits<T>::UInt>(to_bits(-std::numeric_limits<T>::quiet_NaN()) | 5u));
  cpu::ThreadPool pool(2);
  for (const std::size_t n : {std::size_t{2}, std::size_t{1025}, order::kTileItems + 3, 3 * order::kTileItems}) {
    for (const int kind : {0, 1}) {
      std::vector<T> x(n, T(1));
      if (kind == 0) {
        x[n / 3] = inf;
        x[n - 1] = -inf;
      } else {
        x[n / 2] = payload_nan;
      }
      for (const cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512}) {
        cpu::detail::force_isa(cpu::detail::IsaFamily::sum, isa);  // capped at what the CPU runs
        const T r = cpu::sum_tree(x.data(), n, cpu::SumContext{&pool, std::nullopt});
        EXPECT_EQ(to_bits(r), to_bits(order::canonical_nan(std::numeric_limits<T>::quiet_NaN())))
            << "n=" << n << (kind ? " a NaN with a payload" : " inf - inf") << " at " << cpu::isa_name(isa);
      }
      cpu::detail::force_isa(cpu::detail::IsaFamily::sum, cpu::Isa::avx512);  // no cap
    }
  }
  EXPECT_EQ(to_bits(order::canonical_nan(T(1.5))), to_bits(T(1.5)));
  EXPECT_EQ(to_bits(order::canonical_nan(-inf)), to_bits(-inf));
}
// Step 4's levels past the first: sum_tree reaches a second level only past 2^32 elements, so the
// partials are given directly (the operator sweep of session 24: a wrong offset of tile t > 0 in
// the levels survived every test).  Up to 3 * 65536 + 1029 partials: four tiles, then one, at
// every ISA level.
template <class T> void reduce_partials_checks() {
  for (const std::size_t n : {std::size_t{2}, std::size_t{65537}, std::size_t{3 * 65536 + 1029}}) {
    for (const Dist d : {Dist::uniform, Dist::illcond}) {
      const auto partials = input<T>(d, n, 11);
      const T want = tree_by_the_book(partials);
      for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
        cpu::detail::force_isa(cpu::detail::IsaFamily::sum, static_cast<cpu::Isa>(l));
        const T got = cpu::detail::reduce_partials(partials);
        EXPECT_TRUE(same_bits(want, got)) << dist_name(d) << " n=" << n << " level " << l << ": " << want << " vs " << got;
      }
    }
  }
  cpu::detail::force_isa(cpu::detail::IsaFamily::sum, cpu::Isa::avx512);
  EXPECT_THROW(cpu::detail::reduce_partials(std::vector<T>{}), std::invalid_argument);
}
TEST(SumCpu, TreeLevelsAboveTheFirstFollowTheWrittenOrderF32) { reduce_partials_checks<float>(); }
TEST(SumCpu, TreeLevelsAboveTheFirstFollowTheWrittenOrderF64) { reduce_partials_checks<double>(); }

TEST(SumCpu, TreeReturnsTheCanonicalNaNF32) { canonical_nan_checks<float>(); }
TEST(SumCpu, TreeReturnsTheCanonicalNaNF64) { canonical_nan_checks<double>(); }

TEST(SumCpu, SerialIsStdAccumulate) {
  for (const std::size_t n : kSizes) {
    const auto f = input<float>(Dist::illcond, n);
    EXPECT_TRUE(same_bits(cpu::sum_serial(f.data(), n), std::accumulate(f.begin(), f.end(), 0.0f))) << n;
    const auto d = input<double>(Dist::normal, n);
    EXPECT_TRUE(same_bits(cpu::sum_serial(d.data(), n), std::accumulate(d.begin(), d.end(), 0.0))) << n;
  }
}

TEST(SumCpu, EmptyInputSumsToPositiveZero) {
  cpu::ThreadPool pool(3);
  const cpu::SumContext ctx{&pool, std::nullopt};
  for (const auto& i : kSumVariants) {
    if (cuda_only(i.variant)) continue;
    EXPECT_TRUE(same_bits(cpu::sum<float>(i.variant, nullptr, 0, ctx), 0.0f)) << i.name;
    EXPECT_TRUE(same_bits(cpu::sum<double>(i.variant, nullptr, 0, ctx), 0.0)) << i.name;
  }
}

TEST(SumCpu, CubIsNotACpuVariant) {
  const float x = 1.0f;
  EXPECT_THROW(cpu::sum<float>(SumVariant::cub, &x, 1, {}), std::invalid_argument);
  EXPECT_THROW(cpu::sum<float>(SumVariant::thrust, &x, 1, {}), std::invalid_argument);
}

// Seeded schedules: reproducible, so never flaky.  An ill-conditioned input over 32 tiles.
template <class T> void shuffle_checks() {
  const std::size_t n = 32 * 65536 + 5;
  const auto x = input<T>(Dist::illcond, n, 11);
  cpu::ThreadPool pool(2);
  const T exact = cpu::sum_exact(x.data(), n, {&pool, std::nullopt});
  const double bound = sum_error_bound(x);
  for (const SumVariant v : {SumVariant::atomic, SumVariant::atomic_element, SumVariant::tree, SumVariant::exact}) {
    std::set<std::uint64_t> bits;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      const cpu::SumContext ctx{&pool, seed};
      const T s = cpu::sum(v, x.data(), n, ctx);
      bits.insert(to_bits(s));
      EXPECT_LE(std::fabs(static_cast<double>(s) - static_cast<double>(exact)), bound) << info(v).name;
      EXPECT_TRUE(same_bits(s, cpu::sum(v, x.data(), n, ctx))) << info(v).name << ": a seeded schedule must repeat";
    }
    if (v == SumVariant::atomic || v == SumVariant::atomic_element)
      EXPECT_GE(bits.size(), 2u) << info(v).name << " gave one result under 8 schedules";
    else
      EXPECT_EQ(bits.size(), 1u) << info(v).name << " changed with the schedule";
  }
}

TEST(SumCpu, ShuffleSchedulesMoveAtomicsNotTreeOrExactF32) { shuffle_checks<float>(); }
TEST(SumCpu, ShuffleSchedulesMoveAtomicsNotTreeOrExactF64) { shuffle_checks<double>(); }

// Small integers sum exactly in every order (every partial sum is below 2^24), so every variant under
// every schedule -- no pool, real threads, seeded schedules -- must give the integer sum itself.  The
// bound checks above cannot see a schedule that loses or repeats a tile or warp, or negates the
// sum, on an ill-conditioned input whose sum is near 0 (the operator sweep of session 24 found
// such mutants surviving every test).
template <class T> void small_integer_checks() {
  const std::size_t n = 5 * 65536 + 33;  // tiles, warps and a tail of each (one element past the last full warp)
  std::vector<T> x(n);
  SplitMix64 g(7);
  double want = 0;
  for (auto& v : x) {
    v = static_cast<T>(g.below(16));
    want += static_cast<double>(v);
  }
  ASSERT_LT(want, 16777216.0);
  cpu::ThreadPool pool(3);
  std::vector<cpu::SumContext> contexts = {{nullptr, std::nullopt}, {&pool, std::nullopt}};
  for (std::uint64_t seed = 1; seed <= 3; ++seed) contexts.push_back({&pool, seed});
  for (const SumVariant v : {SumVariant::serial, SumVariant::atomic_element, SumVariant::atomic, SumVariant::tree,
                             SumVariant::exact})
    for (std::size_t c = 0; c < contexts.size(); ++c)
      for (int rep = 0; rep < 2; ++rep)
        EXPECT_EQ(static_cast<double>(cpu::sum(v, x.data(), n, contexts[c])), want) << info(v).name << " context " << c;
}
TEST(SumCpu, EveryVariantUnderEveryScheduleSumsSmallIntegersExactlyF32) { small_integer_checks<float>(); }
TEST(SumCpu, EveryVariantUnderEveryScheduleSumsSmallIntegersExactlyF64) { small_integer_checks<double>(); }

// Real threads: the drift is measured elsewhere; here only the error bound is asserted.
TEST(SumCpu, RacingAtomicsStayWithinTheBound) {
  const std::size_t n = 8 * 65536 + 3;
  const auto x = input<float>(Dist::illcond, n, 5);
  cpu::ThreadPool pool(4);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const float exact = cpu::sum_exact(x.data(), n, ctx);
  const double bound = sum_error_bound(x);
  for (int r = 0; r < 5; ++r) {
    EXPECT_LE(std::fabs(static_cast<double>(cpu::sum_atomic(x.data(), n, ctx)) - exact), bound);
    EXPECT_LE(std::fabs(static_cast<double>(cpu::sum_atomic_element(x.data(), n, ctx)) - exact), bound);
  }
}

// Many tiles of terms near the top of the vectorized window: a bin that took each tile's whole
// window sum (up to ~2^54) would overflow after ~1000 tiles.  The oracle is integer arithmetic:
// every term is k * 2^(j-24) with k < 2^24 and j < 16, an integer in units of 2^-24.
TEST(SumCpu, ExactOverManyTilesMatchesAnIntegerOracle) {
  const std::size_t n = (std::size_t(1) << 26) + 3;
  std::vector<float> x(n);
  SplitMix64 g(99);
  __int128 units = 0;  // the exact sum in units of 2^-24
  for (auto& v : x) {
    const bool top = g.below(8) != 0;  // most terms in [2^14, 2^15): the top of their window
    auto k = static_cast<std::int64_t>(g.next() >> 40) | (top ? (1 << 23) : 0);
    const int j = top ? 15 : static_cast<int>(g.below(16));
    if (!top && g.below(4) == 0) k = -k;
    v = std::ldexp(static_cast<float>(k), j - 24);
    units += static_cast<__int128>(k) << j;
  }
  const float want = std::ldexp(static_cast<float>(units), -24);  // __int128 -> float rounds once
  cpu::ThreadPool pool(2);
  using cpu::detail::ExactSimd;
  for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
    cpu::detail::force_exact_simd(level);
    const float got = cpu::sum_exact(x.data(), n, {&pool, std::nullopt});
    EXPECT_TRUE(same_bits(got, want)) << cpu::isa_name(cpu::detail::exact_simd_level())
                                      << " path: " << got << " vs " << want;
  }
  cpu::detail::force_exact_simd(ExactSimd::avx512);
}

// Inputs spanning 8 to 80 binades: the vectorized path takes 1 to 4 exponent windows per tile, or
// the scalar path; every level must give the integer oracle's bits.
TEST(SumCpu, ExactOnWideRangesMatchesAnIntegerOracle) {
  testing::each_flag_mode([&] {
    cpu::ThreadPool pool(2);
    using cpu::detail::ExactSimd;
    for (const int span : {8, 20, 30, 45, 60, 80}) {
      const std::size_t n = (std::size_t(1) << 19) + 5;
      std::vector<float> x(n);
      SplitMix64 g(1000 + static_cast<std::uint64_t>(span));
      __int128 units = 0;  // in units of 2^-40
      for (auto& v : x) {
        auto k = static_cast<std::int64_t>(g.next() >> 40);  // 24 bits
        if (g.below(2)) k = -k;
        const int j = static_cast<int>(g.below(static_cast<std::uint64_t>(span)));
        v = std::ldexp(static_cast<float>(k), j - 40);
        units += static_cast<__int128>(k) << j;
      }
      const float want = std::ldexp(static_cast<float>(units), -40);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
        cpu::detail::force_exact_simd(level);
        const float got = cpu::sum_exact(x.data(), n, {&pool, std::nullopt});
        EXPECT_TRUE(same_bits(got, want)) << cpu::isa_name(cpu::detail::exact_simd_level())
                                          << " span " << span << ": " << got << " vs " << want;
      }
    }
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// The AVX2 path's windows are 24 binades wide and its double lanes are flushed to int64 lanes
// every 16 terms, exact only while a lane stays below 2^51 units.  Worst case: seven of every
// eight terms carry a full significand at the top of the lower of two windows, all of one sign,
// so each lane ends a flush just under 2^51 units.  Oracle: integers in units of 2^-35.
TEST(SumCpu, ExactAtTheTopOfWideWindowsMatchesAnIntegerOracle) {
  testing::each_flag_mode([&] {
    const std::size_t n = (std::size_t(1) << 20) + 9;
    cpu::ThreadPool pool(2);
    using cpu::detail::ExactSimd;
    for (const float sign : {1.0f, -1.0f}) {
      std::vector<float> x(n);
      __int128 units = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const bool big = i % 8 == 0;                  // 2^10: sets the top window [2^-11, 2^13)
        const std::int64_t k = big ? (std::int64_t(1) << 45) : 0xffffff;  // else just below 2^-11
        x[i] = sign * std::ldexp(static_cast<float>(k), -35);
        units += k;
      }
      const float want = sign * std::ldexp(static_cast<float>(units), -35);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
        cpu::detail::force_exact_simd(level);
        const float got = cpu::sum_exact(x.data(), n, {&pool, std::nullopt});
        EXPECT_TRUE(same_bits(got, want)) << cpu::isa_name(cpu::detail::exact_simd_level())
                                          << " sign " << sign << ": " << got << " vs " << want;
      }
    }
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// The window tiles' fast blocks (exact_simd.cpp): each tile is read as four quarter streams, a
// block of 128 (AVX-512) or 64 (AVX2) terms per stream is kept when every term lies in one window
// and redone term by term otherwise.  Here the scale depends on the position inside a quarter, so
// whole blocks land in window 0 or in a higher window (the tile's sample spans 25 binades: two
// windows at both levels), and the sprinkled terms (below every window, subnormal, above every
// window, zeros-only runs) make single blocks fall back.  Every level against an integer oracle
// (clean input) and against the scalar packed path (sprinkled).
TEST(SumCpu, ExactFastBlocksInEveryWindowAndTheirFallbacks) {
  testing::each_flag_mode([&] {
    cpu::ThreadPool pool(2);
    using cpu::detail::ExactSimd;
    constexpr std::size_t T = order::kTileItems, Q = T / 4;
    const std::size_t n = 3 * T + 12345;
    SplitMix64 rng{2121};
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      const int scale = static_cast<int>((i % T % Q / 128 + i / T) % 3) * 12;  // 2^0, 2^12, 2^24
      const std::int64_t m = (std::int64_t(1) << 23) + static_cast<std::int64_t>(rng.below(1u << 23));
      x[i] = std::ldexp(static_cast<float>(rng.below(2) ? -m : m), scale - 23);
    }
    // Quarters 1 and 3 of every full tile are quarters 0 and 2 negated, term by term (the same
    // blocks), and the tail cancels pairwise: the clean sum is zero, so every sprinkled term below
    // shows in the result.
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t p = 0; p < Q; ++p) {
        x[t * T + Q + p] = -x[t * T + p];
        x[t * T + 3 * Q + p] = -x[t * T + 2 * Q + p];
      }
    for (std::size_t i = 3 * T; i + 1 < n; i += 2) x[i + 1] = -x[i];
    x[n - 1] = 0.0f;
    auto oracle = [](const std::vector<float>& v) {
      __int128 units = 0;  // in units of 2^-23
      for (float f : v) units += static_cast<std::int64_t>(std::ldexp(static_cast<double>(f), 23));
      return std::ldexp(static_cast<float>(units), -23);  // one rounding (|units| < 2^70)
    };
    for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
      cpu::detail::force_exact_simd(level);
      const float got = cpu::sum_exact(x.data(), n, {&pool, std::nullopt});
      EXPECT_TRUE(same_bits(got, oracle(x))) << cpu::isa_name(cpu::detail::exact_simd_level()) << ": " << got;
    }
    // Sprinkled terms in quarter 0 (their partners in quarter 1 zeroed): below every window, a
    // subnormal, a canceling pair above every window, a zeros-only run; each makes its block fall back.
    std::vector<float> sprinkled = x;
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t p = 1000; p < Q; p += 3001) {
        const int kind = static_cast<int>(p / 3001 % 3);
        sprinkled[t * T + p] = kind == 0 ? 0x1p-40f : (kind == 1 ? -1e-42f : 0x1.8p70f);
        sprinkled[t * T + Q + p] = kind == 2 ? -0x1.8p70f : 0.0f;
      }
    for (std::size_t i = T + 2 * Q; i < T + 2 * Q + 1024; ++i) sprinkled[i] = sprinkled[i + Q] = i % 2 ? 0.0f : -0.0f;
    std::vector<std::vector<float>> cases = {sprinkled};
    sprinkled[100000] = -INFINITY;
    cases.push_back(sprinkled);
    for (const auto& c : cases) {
      cpu::detail::force_exact_simd(ExactSimd::scalar);
      const float scalar = cpu::sum_exact(c.data(), c.size(), {&pool, std::nullopt});
      EXPECT_NE(scalar, 0.0f);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2}) {
        cpu::detail::force_exact_simd(level);
        const float vec = cpu::sum_exact(c.data(), c.size(), {&pool, std::nullopt});
        EXPECT_TRUE(same_bits(scalar, vec)) << cpu::isa_name(cpu::detail::exact_simd_level()) << ": scalar " << scalar
                                            << ", vector " << vec;
      }
    }
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// A fast block is kept only when its smallest nonzero term lies in the block's window: a term one
// binade below the window with every significand bit set (the largest such, its last bit half the
// window's unit) must send its block to the masked path.  AVX-512's windows are 16 binades, AVX2's
// 24: [E - 13, E + 2] and [E - 21, E + 2] for a tile whose sample tops at biased exponent E.  The
// paired terms in [1, 2) cancel, and the term that the small one replaced is added back in a tile
// of its own (a zero in the block would send it to the masked path on its own), so the small term
// is the sum.
TEST(SumCpu, ExactFastBlocksRefuseATermJustBelowTheirWindow) {
  testing::each_flag_mode([&] {
    constexpr std::size_t T = order::kTileItems, Q = T / 4;
    using cpu::detail::ExactSimd;
    const cpu::SumContext one{};
    SplitMix64 rng{77};
    for (const auto& [level, below] : {std::pair{ExactSimd::avx512, 14u}, std::pair{ExactSimd::avx2, 22u}}) {
      std::vector<float> x(T + 1);
      for (const std::size_t h : {std::size_t{0}, 2 * Q})
        for (std::size_t p = 0; p < Q; ++p) {
          x[h + p] = from_bits<float>((127u << 23) | static_cast<std::uint32_t>(rng.below(1u << 23)));
          x[h + Q + p] = -x[h + p];
        }
      const float t = from_bits<float>(((127u - below) << 23) | 0x7fffffu);
      x[T] = x[4096 + 7];
      x[4096 + 7] = t;  // quarter 0, past the tile's 512-term sample
      cpu::detail::force_exact_simd(level);
      const float got = cpu::sum_exact(x.data(), x.size(), one);
      EXPECT_TRUE(same_bits(got, t)) << cpu::isa_name(level) << ": " << got << " vs " << t;
    }
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// The split span (exact_simd.cpp, the fallback for blocks that miss one window) at its edges.
// Each tile's first 512 terms set its top exponent E (the span is [E + 2 - 53, E + 2] at AVX-512,
// [E + 2 - 51, E + 2] at AVX2); the rest of the tile spans 50 binades below E, so no block fits
// one window.  Quarter 1 and 3 negate quarters 0 and 2 term by term, so the sum is that of the
// unpaired terms put in afterwards: each edge and each low bit shows in the result.
float bits_float(std::uint32_t e, std::uint32_t mant, bool negative) {
  return from_bits<float>((negative ? 0x80000000u : 0u) | (e << 23) | mant);
}
// The exact sum of finite terms, rounded once: an integer count of units of the smallest ulp.
float oracle_sum(const std::vector<float>& x) {
  int emin = 255, emax = 0;
  for (float v : x) {
    const std::uint32_t e = (to_bits(v) >> 23) & 0xffu;
    if ((to_bits(v) & 0x7fffffffu) == 0) continue;
    emin = std::min(emin, static_cast<int>(std::max(e, 1u)));
    emax = std::max(emax, static_cast<int>(e));
  }
  EXPECT_LT(emax - emin + 24 + 20, 126) << "the oracle's 128 bits would not hold this input";
  __int128 units = 0;
  for (float v : x) {
    const std::uint32_t b = to_bits(v), e = (b >> 23) & 0xffu;
    if ((b & 0x7fffffffu) == 0) continue;  // a zero adds nothing (and max(e, 1) - emin could be negative)
    const __int128 m = static_cast<__int128>((b & 0x7fffffu) | (e ? 0x800000u : 0u)) << (std::max(e, 1u) - emin);
    units += (b >> 31) ? -m : m;
  }
  return std::ldexp(static_cast<float>(units), emin - 150);  // one rounding; the sums here stay normal
}
TEST(SumCpu, ExactSplitSpanEdgesMatchTheScalarPathAndAnOracle) {
  testing::each_flag_mode([&] {
    cpu::ThreadPool pool(2);
    using cpu::detail::ExactSimd;
    constexpr std::size_t T = order::kTileItems, Q = T / 4;
    SplitMix64 rng{2103};
    // One tile with top exponent E: random terms in [E - 50, E] (not below 1), quarters 1 and 3
    // negating 0 and 2.
    auto tile = [&](std::vector<float>& x, std::size_t t, int E) {
      for (std::size_t p = 0; p < Q; ++p)
        for (std::size_t h : {std::size_t(0), 2 * Q}) {
          const auto e = static_cast<std::uint32_t>(std::max(E - static_cast<int>(rng.below(51)), 1));
          x[t * T + h + p] = bits_float(p == 0 ? static_cast<std::uint32_t>(E) : e, static_cast<std::uint32_t>(rng.below(1u << 23)), rng.below(2));
          x[t * T + h + Q + p] = -x[t * T + h + p];
        }
    };
    // Unpaired terms at the span's edges, after each tile's sample (the sample sets E).
    // (Exponents outside 0..254 are left out; a top below 52 clamps the span to start at 1.)
    auto edges = [&](std::vector<float>& x, std::size_t t, int E) {
      std::size_t p = t * T + 1000;
      const int e_hi = std::max(E + 2, 54), e_hi2 = std::max(E + 2, 52);  // AVX-512, AVX2
      auto term = [](int e, std::uint32_t mant, bool negative) {
        return e < 0 || e > 254 ? 0.0f : bits_float(static_cast<std::uint32_t>(e), mant, negative);
      };
      for (const int e : {e_hi, e_hi + 1, e_hi - 53, e_hi - 54, e_hi2 - 51, e_hi2 - 52, e_hi - 16, e_hi - 17})
        for (const std::uint32_t mant : {0u, 0x7fffffu, 1u, 0x400000u}) {
          x[p] = term(e, mant, rng.below(2));
          x[p + Q] = 0.0f;  // its partner, so that the term stays unpaired
          p += 37;
        }
      // Eight terms of the largest magnitude in the span, one sign, in one lane of one stream's block
      // (AVX-512: 16 terms apart) and the same in quarter 2 (AVX2 adds streams 0 and 2 in one lane):
      // the int32 hi lanes at their headroom.  The block also holds smaller terms, so it misses one
      // window.  Their partners in quarters 1 and 3 cancel them in the end, lane by lane elsewhere.
      for (std::size_t h : {std::size_t(0), 2 * Q})
        for (std::size_t k = 0; k < 8; ++k) {
          x[t * T + h + 4096 + 16 * k + 3] = term(E + 2, 0x7fffffu, false);
          x[t * T + h + Q + 4096 + 16 * k + 3] = term(E + 2, 0x7fffffu, true);
        }
      // Ties of y = x * 2^k at 1/2 (the lo parts at their bound) and odd units at the finest grid,
      // eight a lane, one sign, unpaired.
      for (std::size_t k = 0; k < 8; ++k) {
        x[t * T + 8192 + 16 * k + 5] = term(e_hi - 27, 0x400000u, false);  // y = 1.5 at AVX-512
        x[t * T + Q + 8192 + 16 * k + 5] = 0.0f;
        x[t * T + 8192 + 16 * k + 6] = term(e_hi - 53, 0x7fffffu, false);
        x[t * T + Q + 8192 + 16 * k + 6] = 0.0f;
        x[t * T + 8192 + 16 * k + 7] = term(e_hi2 - 26, 0x400000u, false);  // y = 1.5 at AVX2
        x[t * T + Q + 8192 + 16 * k + 7] = 0.0f;
        x[t * T + 8192 + 16 * k + 8] = term(e_hi2 - 51, 0x7fffffu, false);
        x[t * T + Q + 8192 + 16 * k + 8] = 0.0f;
      }
    };
    const std::size_t n = 4 * T + 777;
    std::vector<float> base(n, 0.0f);
    const int tops[] = {149, 127, 135, 140};  // 77 binades in all, edges included: the oracle holds them
    for (std::size_t t = 0; t < 4; ++t) tile(base, t, tops[t]);
    for (std::size_t i = 4 * T; i + 1 < n; i += 2) {  // the odd tail: pairs that cancel
      base[i] = bits_float(110 + static_cast<std::uint32_t>(i % 40), 12345u, i % 4 == 0);
      base[i + 1] = -base[i];
    }
    std::vector<float> a = base;
    for (std::size_t t = 0; t < 4; ++t) edges(a, t, tops[t]);
    auto check = [&](const std::vector<float>& x, bool with_oracle, const char* what) {
      cpu::detail::force_exact_simd(ExactSimd::scalar);
      const float scalar = cpu::sum_exact(x.data(), x.size(), {&pool, std::nullopt});
      if (with_oracle) {
        EXPECT_TRUE(same_bits(scalar, oracle_sum(x))) << what << ": scalar " << scalar;
      }
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2}) {
        cpu::detail::force_exact_simd(level);
        const float vec = cpu::sum_exact(x.data(), x.size(), {&pool, std::nullopt});
        EXPECT_TRUE(same_bits(scalar, vec)) << what << ", " << cpu::isa_name(cpu::detail::exact_simd_level())
                                            << ": scalar " << scalar << ", vector " << vec;
      }
    };
    check(a, true, "edges");
    // One unpaired term on a sum that cancels exactly, so the result is that term: each side of each
    // edge of tile 0's span (E = 149) at both levels, with the finest and the coarsest fraction.
    for (const int e : {152, 151, 98, 97, 100, 99})
      for (const std::uint32_t mant : {1u, 0x7fffffu}) {
        std::vector<float> probe = base;
        probe[10000] = bits_float(static_cast<std::uint32_t>(e), mant, e % 2);  // quarter 0
        probe[Q + 10000] = 0.0f;
        check(probe, true, "probe");
        EXPECT_TRUE(same_bits(oracle_sum(probe), probe[10000]));
      }
    // The int32 hi lanes at their headroom: sixteen terms of the span's largest magnitude, one sign,
    // in one lane (AVX-512: 8 in one stream's block and 8 in another's; AVX2: 16 in one lane of
    // streams 0 and 2), canceled by one term above the span (the packed bins take it), so that a
    // lane that wrapped shows; plus 2^-40 to show.
    {
      std::vector<float> lanes = base;
      for (std::size_t h : {std::size_t(0), 2 * Q})
        for (std::size_t k = 0; k < 8; ++k) {
          lanes[h + 4096 + 16 * k + 3] = bits_float(151, 0x7fffffu, false);
          lanes[h + Q + 4096 + 16 * k + 3] = 0.0f;
        }
      lanes[Q + 12000] = bits_float(155, 0x7fffffu, true);  // -16 * (2 - 2^-23) * 2^24
      lanes[12000] = 0.0f;
      lanes[4 * T] = 0x1p-40f;
      lanes[4 * T + 1] = 0.0f;
      check(lanes, true, "hi lanes");
      EXPECT_TRUE(same_bits(oracle_sum(lanes), 0x1p-40f));
    }
    // Tiles at the ends of the range: top 253 (the span ends at 254, below Inf and NaN), top 20 (the
    // span is clamped to start at exponent 1; subnormals and zeros of both signs go around it), in
    // place of tiles 2 and 3.
    std::vector<float> b = a;
    tile(b, 2, 253);
    edges(b, 2, 253);
    tile(b, 3, 20);
    edges(b, 3, 20);
    for (std::size_t p = 3 * T + 700; p < 3 * T + Q; p += 1001) {
      b[p] = p % 2 ? 1e-42f : -0x1p-149f;
      b[p + Q] = p % 3 ? -0.0f : 0.0f;
    }
    check(b, false, "range ends");
    for (const float special : {INFINITY, NAN}) {
      std::vector<float> c = b;
      c[2 * T + 3000] = special;  // in the tile whose span ends at 254
      c[2 * T + Q + 3000] = 0.0f;
      check(c, false, "special at the top");
    }
    // Specials inside span blocks: each decides the result.
    for (const float special : {INFINITY, -INFINITY, NAN}) {
      std::vector<float> c = a;
      c[T + 2 * Q + 5000] = special;
      c[T + 3 * Q + 5000] = 0.0f;
      check(c, false, "special");
    }
    std::vector<float> both = a;
    both[5000] = INFINITY;
    both[2 * T + 9000] = -INFINITY;
    check(both, false, "+inf and -inf");
    // Spans too wide: a tile whose sample spans 120 binades (the windows or the scalar path take
    // it), and a tile whose sample fits the span but whose later terms spread over 150 binades (every
    // block sends terms around the span).
    std::vector<float> wide = a;
    for (std::size_t p = 0; p < Q; ++p)
      for (std::size_t h : {std::size_t(0), 2 * Q}) {
        const std::size_t i = T + h + p;
        const auto e = static_cast<std::uint32_t>(p < 512 ? 60 + rng.below(121) : 20 + rng.below(151));
        wide[i] = bits_float(e, static_cast<std::uint32_t>(rng.below(1u << 23)), rng.below(2));
        wide[i + Q] = -wide[i];
        const std::size_t j = 2 * T + h + p;
        const auto f = static_cast<std::uint32_t>(p < 512 ? 140 : 20 + rng.below(151));
        wide[j] = bits_float(f, static_cast<std::uint32_t>(rng.below(1u << 23)), rng.below(2));
        wide[j + Q] = -wide[j];
      }
    wide[T + 777] = 0x1p-60f;  // unpaired, so that the canceled rest must be exact to show it
    wide[T + Q + 777] = 0.0f;
    check(wide, false, "wide");
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// The AVX2 span's flag check (exact_simd.cpp, span_step_flags): a span block goes in unmasked and
// is kept only when it raised no MXCSR flag.  One tile whose terms lie in 40 binades below its
// top E = 149 (the AVX2 span is [100, 151]; every block takes it), quarters 1 and 3 negating 0 and
// 2; then one kind of term the flags must catch, unpaired, so that a block wrongly kept shows:
// below the span off the 2^-48 grid (inexact), eight above it in one int32 lane (overflow:
// they would wrap), a subnormal, Inf.  Each against the expected sum.  Then MXCSR: flags the
// caller had set stay set and its control bits are unchanged; under denormals-are-zero and
// flush-to-zero the tile takes the masked span and still gives the same bits.
TEST(SumCpu, ExactFlagCheckedSpanCatchesWhatTheRangeCheckDid) {
  testing::each_flag_mode([&] {
    using cpu::detail::ExactSimd;
    constexpr std::size_t T = order::kTileItems, Q = T / 4;
    SplitMix64 rng{77};
    std::vector<float> base(T);
    for (std::size_t p = 0; p < Q; ++p)
      for (std::size_t h : {std::size_t(0), 2 * Q}) {
        const auto e = static_cast<std::uint32_t>(p == 0 ? 149 : 149 - rng.below(40));
        base[h + p] = bits_float(e, static_cast<std::uint32_t>(rng.below(1u << 23)), rng.below(2));
        base[h + Q + p] = -base[h + p];
      }
    const cpu::SumContext alone{};  // the calling thread: its MXCSR is the one the test sets
    auto exact_at = [&](const std::vector<float>& x, ExactSimd level) {
      cpu::detail::force_exact_simd(level);
      const float r = cpu::sum_exact(x.data(), x.size(), alone);
      cpu::detail::force_exact_simd(ExactSimd::avx512);
      return r;
    };
    auto unpaired = [&](std::size_t at, float v) {
      std::vector<float> x = base;
      x[at] = v;
      x[at + Q] = 0.0f;
      return x;
    };
    ASSERT_TRUE(same_bits(exact_at(base, ExactSimd::avx2), 0.0f));
    // Below the span, off its grid: y = x * 2^2 = 2^-26 + 2^-49.
    for (const std::uint32_t e : {99u, 90u}) {
      const float t = bits_float(e, 1u, false);
      EXPECT_TRUE(same_bits(exact_at(unpaired(5000, t), ExactSimd::avx2), t)) << "exponent " << e;
    }
    // Eight terms of (2 - 2^-23) * 2^28 (y just below 2^31) in one lane: 4 in stream 0 and 4 in
    // stream 2 of one block, in the first or else the second of each pair of 8-term steps (the loop
    // is unrolled by pairs: a probe lost in either shows).
    for (const std::size_t second : {std::size_t(0), std::size_t(8)}) {
      std::vector<float> x = base;
      const float big = bits_float(155, 0x7fffffu, false);
      for (std::size_t h : {std::size_t(0), 2 * Q})
        for (std::size_t m = 0; m < 4; ++m) {
          x[h + 4096 + 16 * m + second + 3] = big;
          x[h + Q + 4096 + 16 * m + second + 3] = 0.0f;
        }
      EXPECT_TRUE(same_bits(exact_at(x, ExactSimd::avx2), 8.0f * big)) << (second ? "second" : "first") << " steps";
    }
    EXPECT_TRUE(same_bits(exact_at(unpaired(7000, 0x1p-149f), ExactSimd::avx2), 0x1p-149f));
    EXPECT_EQ(exact_at(unpaired(7000, INFINITY), ExactSimd::avx2), INFINITY);
    // MXCSR: the caller's flags (overflow, here) survive; its control bits are unchanged.
    const std::uint32_t csr = _mm_getcsr();
    const std::vector<float> mixed = unpaired(6000, bits_float(90, 1u, true));
    const float want = exact_at(mixed, ExactSimd::scalar);
    _mm_setcsr((csr & ~0x3fu) | 0x08u);
    const float got = exact_at(mixed, ExactSimd::avx2);
    const std::uint32_t after = _mm_getcsr();
    _mm_setcsr(csr);
    EXPECT_TRUE(same_bits(got, want));
    EXPECT_EQ(after & 0x08u, 0x08u) << std::hex << after;
    EXPECT_EQ(after & ~0x3fu, csr & ~0x3fu) << std::hex << after;
    // Denormals-are-zero and flush-to-zero (which would drop a subnormal term from the unmasked
    // block without a flag): the masked span, the same bits.
    {
      const std::vector<float> x = unpaired(8000, -0x1p-140f);
      _mm_setcsr(csr | 0x8040u);
      const float r = exact_at(x, ExactSimd::avx2);
      _mm_setcsr(csr);
      EXPECT_TRUE(same_bits(r, -0x1p-140f)) << "under DAZ and FTZ: " << r;
    }
  });
}

// The vectorized and scalar paths of exact agree bit for bit, specials and zeros included.
TEST(SumCpu, ExactVectorAndScalarPathsAgree) {
  testing::each_flag_mode([&] {
    cpu::ThreadPool pool(2);
    std::vector<std::vector<float>> inputs;
    for (const Dist d : {Dist::uniform, Dist::normal, Dist::illcond})
      for (const std::size_t n : {std::size_t(0), std::size_t(7), std::size_t(513), std::size_t(65537), std::size_t(400009)})
        inputs.push_back(input<float>(d, n, 5 + n));
    std::vector<float> mixed = input<float>(Dist::normal, 200003, 8);
    for (std::size_t i = 0; i < mixed.size(); i += 97) mixed[i] = 0.0f;
    for (std::size_t i = 5; i < mixed.size(); i += 1013) mixed[i] = -0.0f;
    for (std::size_t i = 11; i < mixed.size(); i += 4099) mixed[i] = 1e-42f;  // subnormal
    for (std::size_t i = 13; i < mixed.size(); i += 7919) mixed[i] = 3e38f;
    inputs.push_back(mixed);
    mixed[70001] = INFINITY;
    inputs.push_back(mixed);
    inputs.push_back(std::vector<float>(100000, -0.0f));
    inputs.push_back(std::vector<float>(100000, 0.0f));
    using cpu::detail::ExactSimd;
    for (const auto& x : inputs) {
      cpu::detail::force_exact_simd(ExactSimd::scalar);
      const float scalar = cpu::sum_exact(x.data(), x.size(), {&pool, std::nullopt});
      for (const ExactSimd level : {ExactSimd::avx2, ExactSimd::avx512}) {
        cpu::detail::force_exact_simd(level);
        const float vec = cpu::sum_exact(x.data(), x.size(), {&pool, std::nullopt});
        EXPECT_TRUE(same_bits(scalar, vec)) << cpu::isa_name(cpu::detail::exact_simd_level())
                                            << " n=" << x.size() << ": scalar " << scalar << ", vector " << vec;
      }
    }
    cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// A caller that unmasks floating-point exceptions (feenableexcept, or MXCSR as here; inexact
// included) gets the exact sum's bits and no SIGFPE: the vector tiles raise and discard flags, so
// exact_simd.h sends such a caller to the integer-only scalar path.  Run in a child process: a trap
// kills the child, not the test binary.  (Before the check, AVX2's f32 tile trapped on inexact.)
TEST(SumCpuDeathTest, ExactSumTrapsNoExceptionTheCallerUnmasked) {
  using cpu::detail::ExactSimd;
  std::vector<std::vector<float>> floats;
  for (const Dist d : {Dist::normal, Dist::illcond}) floats.push_back(input<float>(d, 3 * 65536 + 11, 41));
  floats.push_back(floats[0]);
  for (std::size_t i = 0; i < floats[2].size(); i += 1009) floats[2][i] = 1e-42f;  // subnormals
  floats.back()[77777] = INFINITY;
  std::vector<std::vector<bf16>> bf16s;
  std::vector<std::vector<f16>> f16s;
  std::vector<std::vector<double>> doubles;
  for (const auto& x : floats) {
    bf16s.emplace_back();
    f16s.emplace_back();
    for (const float v : x) {
      bf16s.back().push_back(Narrow<bf16>::from(v));
      f16s.back().push_back(Narrow<f16>::from(v * 1e-3f));
    }
    doubles.emplace_back(x.begin(), x.end());
  }
  // The bits every level gives with exceptions masked, on the calling thread alone (the pool's
  // workers keep their own MXCSR).
  const cpu::SumContext alone{};
  const auto run_all = [&](ExactSimd level) {
    cpu::detail::force_exact_simd(level);
    std::vector<std::uint64_t> r;
    for (std::size_t k = 0; k < floats.size(); ++k) {
      r.push_back(to_bits(cpu::sum_exact(floats[k].data(), floats[k].size(), alone)));
      r.push_back(to_bits(cpu::sum_half(SumVariant::exact, bf16s[k].data(), bf16s[k].size(), alone)));
      r.push_back(to_bits(cpu::sum_half(SumVariant::exact, f16s[k].data(), f16s[k].size(), alone)));
      std::uint64_t d;
      const double s = cpu::sum_exact(doubles[k].data(), doubles[k].size(), alone);
      std::memcpy(&d, &s, sizeof d);
      r.push_back(d);
    }
    return r;
  };
  const std::vector<std::uint64_t> want = run_all(ExactSimd::scalar);
  for (const ExactSimd level : {ExactSimd::scalar, ExactSimd::avx2, ExactSimd::avx512}) {
    EXPECT_EQ(run_all(level), want) << "masked, at " << cpu::isa_name(level);
    // Every exception unmasked, then each alone (inexact, overflow, invalid).
    for (const std::uint32_t unmask : {0x1f80u, 0x1000u, 0x0400u, 0x0080u}) {
      EXPECT_EXIT(
          {
            _mm_setcsr(_mm_getcsr() & ~unmask);
            std::exit(run_all(level) == want ? 0 : 3);
          },
          ::testing::ExitedWithCode(0), "")
          << "at " << cpu::isa_name(level) << ", MXCSR mask bits 0x" << std::hex << unmask << " cleared";
    }
  }
  cpu::detail::force_exact_simd(ExactSimd::avx512);
}

// The tree and atomic tiles and the read probe at every ISA level this CPU runs (isa.h): the same
// bits as the transcription of the order, on sizes around the rows and tiles (odd n, 65536*k +- 1,
// short rows) and on inputs with signed zeros, infinities and NaN.
std::vector<cpu::Isa> sum_levels() {
  std::vector<cpu::Isa> v;
  for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) v.push_back(static_cast<cpu::Isa>(l));
  return v;
}

template <class T> void tree_levels_checks() {
  using cpu::detail::IsaFamily;
  const std::size_t sizes[] = {1, 7, 1023, 1024, 1025, 2047, 65535, 65536, 65537, 2 * 65536 - 1, 2 * 65536 + 1,
                               3 * 65536 + 1029, 5 * 65536 - 1};
  std::vector<std::vector<T>> inputs;
  for (const std::size_t n : sizes) {
    inputs.push_back(input<T>(Dist::illcond, n, 7 + n));
    std::vector<T> zeros(n, T(-0.0));  // all -0.0 sums to -0.0; one +0.0 makes it +0.0
    inputs.push_back(zeros);
    zeros[n / 2] = T(0.0);
    inputs.push_back(zeros);
  }
  std::vector<T> special = input<T>(Dist::uniform, 3 * 65536 + 1, 11);
  special[5] = std::numeric_limits<T>::infinity();
  inputs.push_back(special);  // +inf
  special[70000] = -std::numeric_limits<T>::infinity();
  inputs.push_back(special);  // inf - inf: NaN
  special[5] = special[70000] = T(1);
  special[131071] = std::numeric_limits<T>::quiet_NaN();
  inputs.push_back(special);
  cpu::ThreadPool pool(3);
  const cpu::SumContext ctx{&pool, std::nullopt}, shuffled{&pool, std::uint64_t{42}};
  for (const auto& x : inputs) {
    const T want = tree_by_the_book(x);
    T want_atomic{};
    std::uint64_t want_probe = 0;
    for (const cpu::Isa level : sum_levels()) {
      cpu::detail::force_isa(IsaFamily::sum, level);
      ASSERT_EQ(cpu::detail::isa_level(IsaFamily::sum), level);
      // The tiles' stream form (sum_tile.h) on every input, then the blocked form: the same bits.
      for (const std::size_t threshold : {std::size_t{0}, std::numeric_limits<std::size_t>::max()}) {
        cpu::detail::force_stream_threshold(threshold);
        const char* form = threshold ? " blocked" : " stream";
        const T got = cpu::sum_tree(x.data(), x.size(), ctx);
        EXPECT_TRUE(same_bits(want, got)) << "n=" << x.size() << " " << cpu::isa_name(level) << form << ": " << want << " vs " << got;
        const T atomic = cpu::sum_atomic(x.data(), x.size(), shuffled);  // a seeded schedule: reproducible
        const std::uint64_t probe = cpu::read_probe(x.data(), x.size(), ctx);
        if (level == cpu::Isa::scalar && threshold == 0) {
          want_atomic = atomic;
          want_probe = probe;
        }
        EXPECT_TRUE(same_bits(want_atomic, atomic)) << "atomic n=" << x.size() << " " << cpu::isa_name(level) << form;
        EXPECT_EQ(want_probe, probe) << "probe n=" << x.size() << " " << cpu::isa_name(level) << form;
      }
    }
  }
  cpu::detail::force_stream_threshold(std::nullopt);
  cpu::detail::force_isa(IsaFamily::sum, cpu::Isa::avx512);
}

TEST(SumCpu, TreeAtomicAndProbeGiveTheSameBitsAtEveryIsaLevelF32) { tree_levels_checks<float>(); }
TEST(SumCpu, TreeAtomicAndProbeGiveTheSameBitsAtEveryIsaLevelF64) { tree_levels_checks<double>(); }

// The vector tiles at every alignment.  The blocked form loads whole vectors at aligned addresses
// whatever the input's alignment (sum_tile.cpp: a tile m elements past a vector boundary is read
// in vectors that start m lanes early; block 0's first vector carries the previous row's last m
// lanes and adds the last full row's in one extra step); the stream form maps element i to lane
// i % kLanes a cache line at a time, with a scalar tail.  Every element offset from a 64-byte
// boundary, at every ISA level, in both forms, gives the plain order's bits: on mixed-magnitude
// values (a lane that adds a wrong row or misses one changes the sum) and on all -0.0 (an edge
// lane that adds +0.0 instead of the identity turns the sum +0.0).  Counts below one row, at
// one row and past it, short of a line at the end, and whole tiles.
template <class S> void tree_tile_alignment_checks() {
  using Acc = decltype(widen(S{}));
  const auto from_float = [](float v) {
    if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) return S(v);
    else return Narrow<S>::from(v);
  };
  const std::size_t counts[] = {1, 17, 1000, 1024, 1025, 3 * 1024 - 1, 63 * 1024 + 5, order::kTileItems - 1, order::kTileItems};
  const std::size_t slack = 64 / sizeof(S);
  std::vector<S> storage(order::kTileItems + 2 * slack + 64);
  S* const base = reinterpret_cast<S*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 63) & ~std::uintptr_t{63});
  std::uint64_t seed = 0x9e3779b97f4a7c15ull;
  const auto next = [&] {
    seed += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int pattern = 0; pattern < 3; ++pattern) {
    for (const std::size_t count : counts) {
      for (std::size_t off = 0; off < slack; ++off) {
        S* const x = base + off;
        for (std::size_t i = 0; i < count; ++i) {
          const std::uint64_t r = next();
          const float mag = std::ldexp(static_cast<float>(r >> 40) / float(1 << 24), static_cast<int>(r % 41) - 20);
          x[i] = pattern == 0 ? from_float(r & (1ull << 39) ? -mag : mag) : from_float(-0.0f);
        }
        // pattern 2: one +0.0, in the last full row's last lane (a wrapped lane for every m > 0), or
        // the last element when there is no full row
        if (pattern == 2) x[count < order::kLanes ? count - 1 : (count / order::kLanes) * order::kLanes - 1] = from_float(0.0f);
        const Acc want = order::reduce_tile<Acc>(x, count, [](S v) { return widen(v); });
        for (const cpu::Isa level : sum_levels()) {
          for (const bool stream : {false, true}) {
            const Acc got = cpu::detail::tree_tile(x, count, level, stream);
            EXPECT_TRUE(same_bits(want, got)) << "pattern " << pattern << " count " << count << " offset " << off
                                              << " elements, " << cpu::isa_name(level) << (stream ? " stream" : " blocked")
                                              << ": " << want << " vs " << got;
          }
        }
      }
    }
  }
}

TEST(SumCpu, TreeTileGivesTheSameBitsAtEveryAlignment) {
  tree_tile_alignment_checks<float>();
  tree_tile_alignment_checks<double>();
  tree_tile_alignment_checks<bf16>();
  tree_tile_alignment_checks<f16>();
}

// The probe is the benchmark's read ceiling: a tile that skipped a word (or read one twice, or past
// its end) would still OR random data to all ones, so each word is tested alone: one word set,
// every other zero, at every length up to a few vector blocks, at every level and form, from an
// aligned and an unaligned start.  (The operator sweep of session 24 found the probe's index
// arithmetic untested.)
TEST(SumCpu, ReadProbeTileSeesEachWordAloneAtEveryLevel) {
  constexpr std::size_t kMax = 3 * 64 + 5;  // past three AVX-512 blocks of 64 words
  std::vector<std::uint32_t> words(kMax + 2, 0);
  for (const cpu::Isa level : sum_levels())
    for (const bool stream : {false, true})
      for (const std::size_t offset : {std::size_t{0}, std::size_t{1}})
        for (std::size_t n = 0; n <= kMax; ++n) {
          const auto* bytes = reinterpret_cast<const unsigned char*>(words.data() + offset);
          ASSERT_EQ(cpu::detail::probe_tile(bytes, n, level, stream), 0u) << "all zero, n=" << n;
          words[offset + n] = 0xffffffffu;  // just past the end: never seen
          for (std::size_t p = 0; p < n; ++p) {
            const std::uint32_t bit = 1u << (p % 31);
            words[offset + p] = bit;
            ASSERT_EQ(cpu::detail::probe_tile(bytes, n, level, stream), bit)
                << cpu::isa_name(level) << (stream ? " stream" : " blocked") << " offset " << offset << " n=" << n
                << " word " << p;
            words[offset + p] = 0;
          }
          words[offset + n] = 0;
        }
}

// The stream threshold is half the last-level cache that sysfs lists: a misread size moves no bit but
// puts every sum on the wrong side of it (the operator sweep of session 24).
TEST(SumCpu, CacheSizeComesFromTheHighestSysfsLevel) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("driftlab_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto level = [&](int index, const char* text) {
    fs::create_directories(dir / ("index" + std::to_string(index)));
    std::ofstream(dir / ("index" + std::to_string(index)) / "size") << text;
  };
  auto read = [&] { return cpu::detail::cache_bytes_from_sysfs(dir.c_str()); };
  EXPECT_EQ(read(), 0u) << "no folder";
  fs::create_directories(dir);
  EXPECT_EQ(read(), 0u) << "no levels";
  level(0, "32K\n");
  level(1, "32K\n");
  EXPECT_EQ(read(), 0u) << "L1 only: not a last-level cache";
  level(2, "1024K\n");
  EXPECT_EQ(read(), std::size_t{1} << 20) << "L2 when there is no L3";
  level(3, "32768K\n");
  EXPECT_EQ(read(), std::size_t{32} << 20) << "L3 over L2";
  level(3, "96M");
  EXPECT_EQ(read(), std::size_t{96} << 20) << "a size in MiB";
  level(3, "4096");
  EXPECT_EQ(read(), 4096u) << "a size in bytes";
  level(3, "0K");
  EXPECT_EQ(read(), std::size_t{1} << 20) << "a zero L3 falls back to L2";
  level(3, "lots");
  EXPECT_EQ(read(), std::size_t{1} << 20) << "an unreadable L3 falls back to L2";
  for (const char* bad : {"", "-5K", "99999999999999999999999K", "2199023255552"}) {  // the last: 2^41 bytes
    level(3, bad);
    EXPECT_EQ(read(), std::size_t{1} << 20) << "'" << bad << "' falls back to L2";
  }
  level(4, "2M");
  EXPECT_EQ(read(), std::size_t{2} << 20) << "index4 first";
  fs::remove_all(dir);
  EXPECT_EQ(cpu::detail::cache_bytes_from_sysfs(std::string(300, 'a').c_str()), 0u) << "a path too long";
  // This machine: the threshold without the hook is half what its sysfs says (or sysconf's, or 32 MiB).
  cpu::detail::force_stream_threshold(std::nullopt);
  const std::size_t here = cpu::detail::cache_bytes_from_sysfs("/sys/devices/system/cpu/cpu0/cache");
  if (here) {
    EXPECT_EQ(cpu::detail::stream_threshold_bytes(), here / 2);
  }
  EXPECT_GT(cpu::detail::stream_threshold_bytes(), 0u);
}

// A double's high word alone, in the last element of several tiles: the probe reads n * 2 words.
TEST(SumCpu, ReadProbeSeesEveryWordOfDoubles) {
  std::vector<double> x(3 * 65536 + 17, 0.0);
  x.back() = -0.0;  // only the sign bit: the last word of the last, short tile
  cpu::ThreadPool pool(3);
  EXPECT_EQ(cpu::read_probe(x.data(), x.size(), {&pool, std::nullopt}), 0x80000000u);
  x.back() = 0.0;
  x[65536 + 70000 % 65536] = from_bits<double>(std::uint64_t{1} << 40);  // a high word in a middle tile
  EXPECT_EQ(cpu::read_probe(x.data(), x.size(), {&pool, std::nullopt}), 0x100u);
}

TEST(SumCpu, ReadProbeSeesEveryWord) {
  std::vector<float> x(3 * 65536 + 17, 0.0f);
  x.back() = -0.0f;  // only the sign bit, in the last, short tile
  cpu::ThreadPool pool(3);
  EXPECT_EQ(cpu::read_probe(x.data(), x.size(), {&pool, std::nullopt}), 0x80000000u);
}

}  // namespace
}  // namespace driftlab
