// 16-bit inputs (bf16, f16) for `sum`: the CPU variants on widened values in their written
// order (tree bitwise across thread counts and against an independent transcription; exact equal
// to an integer reference), the CUDA twins bitwise (skipped without a GPU), .npy files, and the
// command line's answers to bad input.
#include <gtest/gtest.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <limits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "host/backends/backend.h"
#include "tests/cli_helpers.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/sum_tile.h"
#include "host/io/data.h"
#include "host/backends/gpu.h"
#include "host/metrics/metrics.h"
#include "host/io/npy.h"
#include "host/io/npz.h"
#include "tests/test_helpers.h"
#include "tests/exact_modes.h"

namespace driftlab {
namespace {

namespace fs = std::filesystem;
using testing::cli;
using testing::expect_one_line_error;
using testing::same_bits;

const std::size_t kSizes[] = {0, 1, 31, 32, 33, 1023, 1025, 65535, 65536, 65537, 3 * 65536 + 7, (1u << 20) + 1};

// Widening by half.h one element at a time (the library's bulk path is not used here).
std::vector<float> widened(const HostArray& x) {
  std::vector<float> w(x.u16.size());
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = x.dtype == DType::bf16 ? bf16_to_f32(x.u16[i]) : f16_to_f32(x.u16[i]);
  return w;
}

// An independent transcription of sum_order.h's steps 1-5 on float values.
float tree_by_the_book(std::vector<float> level) {
  if (level.empty()) return 0.0f;
  do {  // one pass at least: a lone element is a tile too (step 5 applies to it)
    std::vector<float> next;
    for (std::size_t begin = 0; begin < level.size(); begin += 65536) {
      const std::size_t end = std::min(level.size(), begin + 65536);
      std::vector<float> lanes(1024, -0.0f);
      for (std::size_t k = begin; k < end; ++k) lanes[(k - begin) % 1024] += level[k];
      for (std::size_t s = 512; s >= 1; s /= 2)
        for (std::size_t j = 0; j < s; ++j) lanes[j] += lanes[j + s];
      // Step 5: a NaN partial is the canonical quiet NaN (0x7fc00000 / 0x7ff8000000000000).
      next.push_back(std::isnan(lanes[0]) ? std::numeric_limits<float>::quiet_NaN() : lanes[0]);
    }
    level = next;
  } while (level.size() > 1);
  return level[0];
}

float half_sum(SumVariant v, const HostArray& x, const cpu::SumContext& ctx) {
  return x.dtype == DType::bf16 ? cpu::sum_half(v, reinterpret_cast<const bf16*>(x.u16.data()), x.u16.size(), ctx)
                                : cpu::sum_half(v, reinterpret_cast<const f16*>(x.u16.data()), x.u16.size(), ctx);
}

HostArray half_array(DType d, std::vector<std::uint16_t> bits) {
  HostArray a;
  a.dtype = d;
  a.shape = {bits.size()};
  a.u16 = std::move(bits);
  return a;
}

// Small integers (exact in bf16 and f16) sum exactly in float32 in every order, so every variant
// under every schedule must give the integer sum itself: a schedule that loses, repeats or negates
// a warp or tile cannot hide behind an error bound (the operator sweep of session 24).
TEST(HalfSumCpu, EveryVariantUnderEveryScheduleSumsSmallIntegersExactly) {
  const std::size_t n = 5 * 65536 + 33;  // the last warp one element
  SplitMix64 g(8);
  std::vector<float> values(n);
  double want = 0;
  for (auto& v : values) {
    v = static_cast<float>(g.below(16));
    want += v;
  }
  cpu::ThreadPool pool(3);
  std::vector<cpu::SumContext> contexts = {{nullptr, std::nullopt}, {&pool, std::nullopt}};
  for (std::uint64_t seed = 1; seed <= 3; ++seed) contexts.push_back({&pool, seed});
  for (const DType d : {DType::bf16, DType::f16}) {
    std::vector<std::uint16_t> bits(n);
    for (std::size_t i = 0; i < n; ++i) bits[i] = d == DType::bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
    const HostArray x = half_array(d, std::move(bits));
    for (const SumVariant v : {SumVariant::serial, SumVariant::atomic_element, SumVariant::atomic, SumVariant::tree,
                               SumVariant::exact})
      for (std::size_t c = 0; c < contexts.size(); ++c)
        EXPECT_EQ(static_cast<double>(half_sum(v, x, contexts[c])), want)
            << dtype_name(d) << " " << info(v).name << " context " << c;
  }
}

TEST(HalfInput, GeneratedInputIsTheFloat32InputRoundedToNearestEven) {
  const HostArray f = make_input(Dist::normal, DType::f32, 5000, 9);
  for (const DType d : {DType::bf16, DType::f16}) {
    const HostArray h = make_input(Dist::normal, d, 5000, 9);
    ASSERT_EQ(h.dtype, d);
    ASSERT_EQ(h.u16.size(), 5000u);
    EXPECT_TRUE(h.f64.empty() && h.f32.empty());
    for (std::size_t i = 0; i < 5000; ++i)
      ASSERT_EQ(h.u16[i], d == DType::bf16 ? f32_to_bf16(f.f32[i]) : f32_to_f16(f.f32[i])) << i;
  }
}

TEST(HalfSumCpu, TreeIsTheWrittenOrderOnWidenedValuesAtAnyThreadCount) {
  for (const DType d : {DType::bf16, DType::f16})
    for (const Dist dist : {Dist::uniform, Dist::illcond})
      for (const std::size_t n : kSizes) {
        const HostArray x = make_input(dist, d, n, 5 + n);
        const float want = tree_by_the_book(widened(x));
        for (const int threads : {1, 2, 5}) {
          cpu::ThreadPool pool(threads);
          const float got = half_sum(SumVariant::tree, x, cpu::SumContext{&pool, std::nullopt});
          ASSERT_TRUE(same_bits(want, got)) << dtype_name(d) << " " << dist_name(dist) << " n=" << n
                                            << " threads=" << threads << ": " << want << " vs " << got;
        }
      }
}

TEST(HalfSumCpu, FixedOrderVariantsAreTheirFoldsOnWidenedValues) {
  for (const DType d : {DType::bf16, DType::f16})
    for (const std::size_t n : {std::size_t{0}, std::size_t{33}, std::size_t{65537}, std::size_t{3 * 65536 + 7}}) {
      const HostArray x = make_input(Dist::normal, d, n, 11);
      const std::vector<float> w = widened(x);
      float fold = 0.0f;  // std::accumulate's order from +0
      for (float v : w) fold += v;
      const cpu::SumContext inline_ctx{};  // one thread, tiles in order: the atomics cannot race
      EXPECT_TRUE(same_bits(fold, half_sum(SumVariant::serial, x, inline_ctx))) << dtype_name(d) << " n=" << n;
      EXPECT_TRUE(same_bits(fold, half_sum(SumVariant::atomic_element, x, inline_ctx))) << dtype_name(d) << " n=" << n;
      // atomic: each tile's partial by the tree order, the partials added in tile order from +0.
      float partials = 0.0f;
      for (std::size_t b = 0; b < n; b += 65536)
        partials += tree_by_the_book(std::vector<float>(w.begin() + b, w.begin() + std::min(n, b + 65536)));
      EXPECT_TRUE(same_bits(partials, half_sum(SumVariant::atomic, x, inline_ctx))) << dtype_name(d) << " n=" << n;
      // A seeded shuffle schedule is reproducible.
      cpu::ThreadPool pool(3);
      const cpu::SumContext shuffled{&pool, 42};
      EXPECT_TRUE(same_bits(half_sum(SumVariant::atomic, x, shuffled), half_sum(SumVariant::atomic, x, shuffled)));
      EXPECT_TRUE(same_bits(half_sum(SumVariant::atomic_element, x, shuffled),
                            half_sum(SumVariant::atomic_element, x, shuffled)));
    }
}

// A seeded schedule moves the atomics' bits, as on float32 (SumCpu.ShuffleSchedulesMove...): a
// schedule that had become the fixed order would still repeat and still sum right (the operator
// sweep of session 24: a warp range that swallowed the whole input survived).
TEST(HalfSumCpu, ShuffleSchedulesMoveTheAtomics) {
  cpu::ThreadPool pool(2);
  for (const DType d : {DType::bf16, DType::f16}) {
    // On f16 the illcond input gave one result under all 8 schedules (session 24); normal moves.
    const HostArray x = make_input(d == DType::bf16 ? Dist::illcond : Dist::normal, d, 8 * 65536 + 5, 11);
    for (const SumVariant v : {SumVariant::atomic, SumVariant::atomic_element}) {
      std::set<std::uint32_t> bits;
      for (std::uint64_t seed = 1; seed <= 8; ++seed) bits.insert(to_bits(half_sum(v, x, cpu::SumContext{&pool, seed})));
      EXPECT_GE(bits.size(), 2u) << dtype_name(d) << " " << info(v).name << " gave one result under 8 schedules";
    }
  }
}

// The exact sum of 16-bit values as an integer count of their finest step, rounded once to float.
// f16: every finite value is a multiple of 2^-24 below 2^16, so n <= 2^20 values sum below 2^60
// steps: int64 holds it exactly, and int64 -> float is one rounding to nearest even.
float f16_exact_reference(const std::vector<std::uint16_t>& bits) {
  std::int64_t steps = 0;
  for (std::uint16_t h : bits) {
    const std::int64_t v = static_cast<std::int64_t>(std::ldexp(static_cast<double>(f16_to_f32(h)), 24));
    steps += v;
  }
  return std::ldexp(static_cast<float>(steps), -24);  // the scaling is exact (|result| >= 2^-24 or 0)
}

TEST(HalfSumCpu, ExactIsTheExactSumRoundedOnceToFloat32) {
  testing::each_flag_mode([&] {
    std::mt19937 rng(7);
    for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{65537}, std::size_t{1} << 20}) {
      // f16: random finite patterns, subnormals included, both signs: heavy cancellation.
      std::vector<std::uint16_t> bits(n);
      for (auto& b : bits) {
        do b = static_cast<std::uint16_t>(rng()); while ((b & 0x7c00u) == 0x7c00u);
      }
      const HostArray x = half_array(DType::f16, bits);
      const float want = f16_exact_reference(bits);
      for (const int threads : {1, 2, 5}) {
        cpu::ThreadPool pool(threads);
        const float got = half_sum(SumVariant::exact, x, cpu::SumContext{&pool, std::nullopt});
        ASSERT_TRUE(same_bits(want, got)) << "f16 n=" << n << " threads=" << threads << ": " << want << " vs " << got;
      }
      // bf16 with exponents in [-20, 12]: multiples of 2^-27 below 2^13, so int64 again.
      for (auto& b : bits) {
        const unsigned e = 127 - 20 + static_cast<unsigned>(rng() % 33);
        b = static_cast<std::uint16_t>((rng() & 0x8000u) | (e << 7) | (rng() & 0x7fu));
      }
      std::int64_t steps = 0;
      for (std::uint16_t h : bits) steps += static_cast<std::int64_t>(std::ldexp(static_cast<double>(bf16_to_f32(h)), 27));
      const float want_bf16 = std::ldexp(static_cast<float>(steps), -27);
      HostArray y = half_array(DType::bf16, bits);
      cpu::ThreadPool pool(5);
      const cpu::SumContext ctx{&pool, std::nullopt};
      ASSERT_TRUE(same_bits(want_bf16, half_sum(SumVariant::exact, y, ctx))) << "bf16 n=" << n;
      // Order-free: a permutation gives the same bits.
      std::shuffle(y.u16.begin(), y.u16.end(), rng);
      ASSERT_TRUE(same_bits(want_bf16, half_sum(SumVariant::exact, y, ctx))) << "bf16 permuted n=" << n;
    }
    // Signed zeros and specials follow exact.h's rules on the widened values.
    const cpu::SumContext one{};
    EXPECT_TRUE(same_bits(-0.0f, half_sum(SumVariant::exact, half_array(DType::bf16, {0x8000, 0x8000}), one)));
    EXPECT_TRUE(same_bits(0.0f, half_sum(SumVariant::exact, half_array(DType::f16, {0x8000, 0x0000}), one)));
    EXPECT_TRUE(same_bits(0.0f, half_sum(SumVariant::exact, half_array(DType::f16, {0x3c00, 0xbc00}), one)));
    EXPECT_TRUE(std::isnan(half_sum(SumVariant::exact, half_array(DType::f16, {0x7c00, 0xfc00}), one)));
    EXPECT_TRUE(same_bits(INFINITY, half_sum(SumVariant::exact, half_array(DType::bf16, {0x7f80, 0x3f80}), one)));
    // f16 sums pass 65504 (f16's largest) without overflow: the accumulator is float32.
    EXPECT_EQ(half_sum(SumVariant::exact, half_array(DType::f16, {0x7bff, 0x7bff}), one), 131008.0f);
    EXPECT_EQ(half_sum(SumVariant::tree, half_array(DType::f16, {0x7bff, 0x7bff}), one), 131008.0f);
  });
}

// bf16 blocks of terms over 2^124 in one window: the float32 fast block refuses them (its lanes
// could overflow), so the double lanes' fast block takes them (flag-checked paths off), or the redo
// after the flag-checked lanes overflowed (on).  The big terms come in pairs that cancel, and one
// term in 37 is unpaired, 2^114 .. 2^116 (inside the big terms' window): every lane's adds show.
// Then a block with one term far below its window, which the fast block must refuse.
TEST(HalfSumCpu, ExactDoubleLaneFastBlocksTakeHugeBf16Terms) {
  testing::each_flag_mode([&] {
    constexpr std::size_t T = 65536, Q = T / 4, N = 3 * T;
    std::mt19937 rng(23);
    auto bf = [&](unsigned e) { return static_cast<std::uint16_t>((rng() & 0x8000u) | (e << 7) | (rng() & 0x7fu)); };
    std::vector<std::uint16_t> bits(N);
    for (std::size_t t = 0; t < N; t += T)
      for (const std::size_t h : {std::size_t{0}, 2 * Q})
        for (std::size_t p = 0; p < Q; ++p) {
          bits[t + h + p] = bf(127 + 124 + rng() % 2);  // [2^124, 2^126)
          bits[t + h + Q + p] = static_cast<std::uint16_t>(bits[t + h + p] ^ 0x8000u);
        }
    for (std::size_t at = 5; at < N; at += 37) {
      bits[at] = bf(127 + 114 + rng() % 2);
      bits[(at % T) / Q % 2 ? at - Q : at + Q] = 0;
    }
    // Every term is a multiple of 2^107 below 2^126: int64 steps, one rounding to float.
    std::int64_t steps = 0;
    for (const std::uint16_t h : bits) steps += static_cast<std::int64_t>(std::ldexp(static_cast<double>(bf16_to_f32(h)), -107));
    const float want = std::ldexp(static_cast<float>(steps), 107);
    ASSERT_TRUE(std::isfinite(want));
    // And the big pairs alone with one term of 2^-100 (its partner zeroed, in the same block): far
    // below the block's window, so the block must not be kept; the sum is that term.
    std::vector<std::uint16_t> tiny(N);
    for (std::size_t i = 0; i < N; ++i)
      tiny[i] = (i % T) / Q % 2 ? static_cast<std::uint16_t>(tiny[i - Q] ^ 0x8000u) : bf(127 + 124 + rng() % 2);
    tiny[T + 4096 + 3] = static_cast<std::uint16_t>((127 - 100) << 7);
    tiny[T + Q + 4096 + 3] = 0;
    const std::pair<const char*, std::pair<std::vector<std::uint16_t>, float>> inputs[] = {
        {"unpaired terms of 2^114 .. 2^116", {bits, want}}, {"one term of 2^-100", {tiny, 0x1p-100f}}};
    const cpu::SumContext one{};
    for (const auto& [what, input] : inputs) {
      const HostArray x = half_array(DType::bf16, input.first);
      for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
        cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
        const float got = half_sum(SumVariant::exact, x, one);
        EXPECT_TRUE(same_bits(input.second, got))
            << what << ", " << cpu::isa_name(static_cast<cpu::Isa>(l)) << ": " << input.second << " vs " << got;
      }
    }
    cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
  });
}

// The conversion level (cpu/half_convert.h) changes speed only: every variant's bits are the same.
TEST(HalfSumCpu, EveryConversionLevelGivesTheSameSums) {
  using cpu::detail::HalfIsa;
  cpu::ThreadPool pool(2);
  const cpu::SumContext ctx{&pool, std::nullopt}, inline_ctx{};
  for (const DType d : {DType::bf16, DType::f16}) {
    const HostArray x = make_input(Dist::illcond, d, 3 * 65536 + 1029, 31);
    auto sums = [&] {
      return std::vector<float>{half_sum(SumVariant::tree, x, ctx), half_sum(SumVariant::exact, x, ctx),
                                half_sum(SumVariant::serial, x, inline_ctx), half_sum(SumVariant::atomic, x, inline_ctx),
                                half_sum(SumVariant::atomic_element, x, inline_ctx)};
    };
    cpu::detail::force_half_isa(HalfIsa::scalar);
    const std::vector<float> want = sums();
    for (const HalfIsa level : {HalfIsa::avx2, HalfIsa::avx512}) {
      cpu::detail::force_half_isa(level);
      const std::vector<float> got = sums();
      for (std::size_t k = 0; k < want.size(); ++k)
        EXPECT_TRUE(same_bits(want[k], got[k])) << dtype_name(d) << " " << cpu::isa_name(level) << " sum " << k;
    }
  }
  cpu::detail::force_half_isa(HalfIsa::avx512);
}

// exact reads the 16-bit bits directly (AVX-512: int64 lanes per group of binades; else packed bins
// by sign and exponent; no float32 buffer): at every level, the same bits as the float exact sum of
// the widened values, on every 16-bit pattern (subnormals, signed zeros, Inf, NaN), on odd lengths
// (the vector loop's tail) and across the packed bins' fold every 256 tiles of one worker.
TEST(HalfSumCpu, ExactOnTheBitsEqualsExactOnTheWidenedValues) {
  testing::each_flag_mode([&] {
    const cpu::SumContext one{};
    cpu::ThreadPool pool(2);
    for (const DType d : {DType::bf16, DType::f16}) {
      auto check = [&](const std::vector<std::uint16_t>& bits, const cpu::SumContext& ctx, const std::string& what) {
        std::vector<float> wide(bits.size());
        for (std::size_t i = 0; i < bits.size(); ++i) wide[i] = d == DType::bf16 ? bf16_to_f32(bits[i]) : f16_to_f32(bits[i]);
        const float want = cpu::sum_exact(wide.data(), wide.size(), ctx);
        const HostArray h = half_array(d, bits);
        for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {  // AVX-512's group lanes, the packed bins
          cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
          const float got = half_sum(SumVariant::exact, h, ctx);
          EXPECT_TRUE(same_bits(want, got)) << dtype_name(d) << " " << what << " " << cpu::isa_name(static_cast<cpu::Isa>(l))
                                            << ": " << want << " vs " << got;
        }
        cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
      };
      std::vector<std::uint16_t> finite;  // every finite pattern once, then each alone with its negation
      for (std::uint32_t b = 0; b < 65536; ++b) {
        const std::uint32_t e = d == DType::bf16 ? (b >> 7) & 0xff : (b >> 10) & 0x1f;
        if (e != (d == DType::bf16 ? 0xffu : 0x1fu)) finite.push_back(static_cast<std::uint16_t>(b));
      }
      check(finite, one, "every finite pattern");
      check(finite, cpu::SumContext{&pool, std::nullopt}, "every finite pattern, 2 threads");
      const std::uint16_t inf = d == DType::bf16 ? 0x7f80 : 0x7c00, nan = d == DType::bf16 ? 0x7fc1 : 0x7e01;
      for (const auto& v : std::vector<std::vector<std::uint16_t>>{{0x8000}, {0x8000, 0x8000}, {0x8000, 0x0000}, {0x0001, 0x8001},
                                                                    {inf, 0x3c00}, {static_cast<std::uint16_t>(inf | 0x8000), inf},
                                                                    {nan, 0x0000}, {static_cast<std::uint16_t>(inf | 0x8000)}})
        check(v, one, "specials");
      std::vector<std::uint16_t> odd(finite.begin(), finite.begin() + 1021);  // 127 vectors of 8 and a tail of 5
      odd[1017] = inf;
      check(odd, one, "a tail with Inf");
      odd[3] = nan;
      check(odd, one, "NaN in the vector loop");
      std::vector<std::uint16_t> vec(finite.begin(), finite.begin() + 1021);  // specials only before the tail
      vec[40] = inf;
      check(vec, one, "Inf in the vector loop, a finite tail");
      vec[41] = static_cast<std::uint16_t>(inf | 0x8000);
      check(vec, one, "+Inf and -Inf in the vector loop");
      vec[40] = finite[40];
      vec[41] = finite[41];
      vec[900] = nan;
      check(vec, one, "NaN alone in the vector loop");
      // One worker, 257 tiles and a short one: the packed bins fold after 256 tiles and at the end.
      std::vector<std::uint16_t> many(257 * 65536 + 3);
      SplitMix64 g(5);
      for (auto& b : many) {
        b = static_cast<std::uint16_t>(g.next());
        const std::uint32_t e = d == DType::bf16 ? (b >> 7) & 0xff : (b >> 10) & 0x1f;
        if (e == (d == DType::bf16 ? 0xffu : 0x1fu)) b ^= d == DType::bf16 ? 0x0080 : 0x0400;  // finite
      }
      check(many, one, "257 tiles on one worker");
    }
  });
}

// f16's split float32 lanes (exact_simd.cpp, AVX-512 and AVX2): each term split at 2^-4 into hi
// and lo, 16 terms a float32 lane between flushes into int32 lanes, at most 2048 terms a lane per
// tile.  Each case sits on one of those edges, at every level, against the int64 reference:
//  - a lane's 16 hi parts at 15 x 65504 + 1/16 (24 bits: exact; a 17th term would round the 1/16
//    away), the +65504 half of the tile cancelled by a -65504 half, so that only the 1/16s remain;
//  - whole tiles of +-65504 (2048 x 65504 x 16 < 2^31 in every int32 lane);
//  - lo parts at their largest under every rounding mode MXCSR can hold on the calling thread (the
//    AVX2 split rounds by MXCSR; |lo| < 2^-4 whichever way);
//  - signed zeros over whole steps (the lanes skip kNotNegZero: the zero sum is settled after);
//  - Inf and NaN in the first and in a later flush, and lengths at the step and flush edges.
TEST(HalfSumCpu, F16SplitLanesAtTheirEdges) {
  constexpr std::uint16_t kMax = 0x7bff, kMinusMax = 0xfbff, kSixteenth = 0x2c00;  // 65504, -65504, 1/16
  const cpu::SumContext one{};
  cpu::ThreadPool pool(2);
  const cpu::SumContext two{&pool, std::nullopt};
  auto at_every_level = [&](const std::vector<std::uint16_t>& bits, float want, const std::string& what) {
    const HostArray h = half_array(DType::f16, bits);
    for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
      cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
      for (const cpu::SumContext* ctx : {&one, &two}) {
        const float got = half_sum(SumVariant::exact, h, *ctx);
        EXPECT_TRUE(same_bits(want, got)) << what << " at " << cpu::isa_name(static_cast<cpu::Isa>(l)) << ": "
                                          << want << " vs " << got;
      }
    }
    cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
  };
  auto check = [&](const std::vector<std::uint16_t>& bits, const std::string& what) {
    at_every_level(bits, f16_exact_reference(bits), what);
  };
  {  // Every 16th 32-term step is 1/16s: each lane's flush window holds 15 x 65504 and one 1/16.
    std::vector<std::uint16_t> bits(65536);
    for (std::size_t i = 0; i < bits.size(); ++i)
      bits[i] = (i / 32) % 16 == 15 ? kSixteenth : (i < bits.size() / 2 ? kMax : kMinusMax);
    ASSERT_EQ(f16_exact_reference(bits), 256.0f);  // 4096 sixteenths; the bigs cancel
    check(bits, "15 x 65504 and 1/16 a lane");
    bits.resize(65536 + 1000, kSixteenth);  // and a second, short tile
    check(bits, "15 x 65504 and 1/16 a lane, two tiles");
  }
  for (const std::uint16_t big : {kMax, kMinusMax}) {  // int32 lanes at 2048 x 65504 x 16
    std::vector<std::uint16_t> bits(3 * 65536, big);
    bits[5] = 0x0001;  // 2^-24: rounded away, but it must not disturb the rest
    check(bits, big == kMax ? "three tiles of +65504" : "three tiles of -65504");
  }
  {  // lo at its largest: terms just off and just on the 2^-4 grid, under each rounding mode.
    std::vector<std::uint16_t> bits;
    for (int r = 0; r < 4096; ++r)
      for (const std::uint16_t b : {std::uint16_t{0x0001}, std::uint16_t{0x2bff}, std::uint16_t{0x8001},
                                    std::uint16_t{0xabff}, std::uint16_t{0x3c01}, std::uint16_t{0xbc01},
                                    std::uint16_t{0x2a00}, std::uint16_t{0xaa00}})
        bits.push_back(b);  // 2^-24, 1/16 - 2^-15, their negations, +-(1 + 2^-10), +-3/64
    // They cancel: a lane that lost a 2^-24 would show in the sum.  (Under rounding down, -2^-24
    // splits into -1/16 and lo = 1/16 - 2^-24, 16 of which are 2^24 - 16 steps: one more, and
    // the lane would round.)
    const float want = f16_exact_reference(bits);
    ASSERT_TRUE(same_bits(want, 0.0f));
    check(bits, "lo at its largest");
#if defined(__x86_64__)
    const std::uint32_t csr = _mm_getcsr();
    for (const std::uint32_t rc : {0x2000u, 0x4000u, 0x6000u}) {  // down, up, toward zero
      _mm_setcsr((csr & ~0x6000u) | rc);
      const HostArray h = half_array(DType::f16, bits);
      for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
        cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
        const float got = half_sum(SumVariant::exact, h, one);  // on this thread, in this mode
        EXPECT_TRUE(same_bits(want, got)) << "rounding " << std::hex << rc << std::dec << " at "
                                          << cpu::isa_name(static_cast<cpu::Isa>(l)) << ": " << want << " vs " << got;
      }
      _mm_setcsr(csr);
    }
    cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
#endif
  }
  // Signed zeros over whole steps and flushes.
  at_every_level(std::vector<std::uint16_t>(1000, 0x8000), -0.0f, "-0 only");
  at_every_level(std::vector<std::uint16_t>(65536 + 64, 0x8000), -0.0f, "-0 only, two tiles");
  std::vector<std::uint16_t> zeros(1000, 0x8000);
  zeros[600] = 0x0000;
  at_every_level(zeros, 0.0f, "-0 and one +0 in a later flush");
  std::vector<std::uint16_t> pairs(2048);
  for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i] = i % 2 ? 0xbc00 : 0x3c00;  // 1, -1, ...
  at_every_level(pairs, 0.0f, "cancelling to zero");
  // Inf and NaN in the first flush window, in a later one, and +Inf and -Inf in two.
  std::vector<std::uint16_t> finite(5000);
  SplitMix64 g(11);
  for (auto& b : finite) {
    b = static_cast<std::uint16_t>(g.next());
    if ((b & 0x7c00u) == 0x7c00u) b ^= 0x0400;
  }
  check(finite, "finite");
  for (const std::size_t at : {std::size_t{3}, std::size_t{700}, std::size_t{4999}}) {
    std::vector<std::uint16_t> v = finite;
    v[at] = 0x7c00;
    at_every_level(v, INFINITY, "+Inf at " + std::to_string(at));
    v[at] = 0xfc00;
    at_every_level(v, -INFINITY, "-Inf at " + std::to_string(at));
    v[at] = 0x7e01;
    at_every_level(v, std::numeric_limits<float>::quiet_NaN(), "NaN at " + std::to_string(at));
  }
  std::vector<std::uint16_t> both = finite;
  both[10] = 0x7c00;
  both[3000] = 0xfc00;
  at_every_level(both, std::numeric_limits<float>::quiet_NaN(), "+Inf and -Inf in two flushes");
  // Lengths at the edges of a step (32 terms) and a flush (512).
  for (const std::size_t n : {31, 32, 33, 511, 512, 513, 544, 1023, 1024, 1025})
    check(std::vector<std::uint16_t>(finite.begin(), finite.begin() + static_cast<std::ptrdiff_t>(n)),
          "n = " + std::to_string(n));
}

// bf16's float32 fast block (exact_simd.cpp, AVX2 and AVX-512): a float32 lane takes 8 terms, exact while
// the block's exponents lie within 13 binades (kF32Span) and below 251.  One tile of 8192 terms
// (four streams of 2048): streams 0-1 hold +B (s = 255 at exponent T + 2) after a sample of +A (at
// T, so that the window reaches T - 13), streams 2-3 the same negated, and one +B becomes a small
// term (s = 129) d binades lower.  The bigs cancel, so the sum is -B + small exactly, and the lane
// that holds the small term adds 7 B + small: 7 * 255 * 2^d + 129 units, below 2^24 at d = 13 (the
// block taken in float32), over it and odd at d = 14 (a float32 lane would round it by one unit:
// the block is redone with the small term in the packed bins), and at d = 17 under the window.  At the top, exponents 247 and 254: 8 terms a lane overflow float32
// from exponent 251 on, and the block must not be taken there.
TEST(HalfSumCpu, ExactFloat32FastBlocksAtTheirEdges) {
  testing::each_flag_mode([&] {
    if (cpu::isa_level() < cpu::Isa::avx2) GTEST_SKIP() << "the float32 fast blocks are AVX2's and AVX-512's";
    const cpu::SumContext one{};
    auto bits_of = [](std::uint32_t e, std::uint32_t s) { return static_cast<std::uint16_t>((e << 7) | (s - 128)); };
    auto value = [](std::uint32_t e, std::uint32_t s) { return std::ldexp(static_cast<double>(s), static_cast<int>(e) - 134); };
    for (const std::uint32_t T : {14u, 127u, 245u, 252u})
      for (const std::uint32_t d : {12u, 13u, 14u, 17u}) {
        const std::uint32_t eb = std::min(T + 2, 254u);
        if (eb <= d) continue;  // the small term would not be a normal bf16
        const std::uint32_t es = eb - d;
        std::vector<std::uint16_t> x(8192);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const std::uint16_t b = i % 4096 < 512 ? bits_of(T, 255) : bits_of(eb, 255);
          x[i] = static_cast<std::uint16_t>(i < 4096 ? b : b | 0x8000);
        }
        const std::uint32_t ss = d > 16 ? 130 : 129;  // odd where the sum's float grid allows (d <= 16)
        x[1024] = bits_of(es, ss);   // stream 0, its ninth block
        x[1200] = 0x0001;            // the next block: a subnormal (under every window) and -0 for +B's
        x[1201] = 0x8000;            // in streams 0-1, their negations for -B's across (the B's cancel)
        x[1200 + 4096] = 0x8001;
        x[1201 + 4096] = 0x0000;
        const double want = -value(eb, 255) + value(es, ss);
        ASSERT_EQ(static_cast<double>(static_cast<float>(want)), want) << "the test's sum is a float";
        const HostArray h = half_array(DType::bf16, x);
        for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
          cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
          const float got = half_sum(SumVariant::exact, h, one);
          EXPECT_TRUE(same_bits(static_cast<float>(want), got))
              << "T = " << T << ", d = " << d << ", " << cpu::isa_name(static_cast<cpu::Isa>(l)) << ": " << want << " vs " << got;
        }
        cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
      }
  });
}

// The tree and atomic tiles of 16-bit inputs at every ISA level (isa.h): the widening is inline in
// the register-blocked passes, and each level gives the bits of the plain (scalar) tile.
TEST(HalfSumCpu, EverySumIsaLevelGivesTheSameTreeAndAtomicBits) {
  using cpu::detail::IsaFamily;
  cpu::ThreadPool pool(3);
  const cpu::SumContext ctx{&pool, std::nullopt}, shuffled{&pool, std::uint64_t{9}};
  for (const DType d : {DType::bf16, DType::f16}) {
    for (const std::size_t n : {std::size_t{1}, std::size_t{1025}, std::size_t{65535}, std::size_t{65537},
                                std::size_t{2 * 65536 + 1}, std::size_t{3 * 65536 + 1029}}) {
      const HostArray x = make_input(Dist::illcond, d, n, 17 + n);
      cpu::detail::force_isa(IsaFamily::sum, cpu::Isa::scalar);
      const float want_tree = half_sum(SumVariant::tree, x, ctx), want_atomic = half_sum(SumVariant::atomic, x, shuffled);
      for (int l = 1; l <= static_cast<int>(cpu::isa_level()); ++l) {
        cpu::detail::force_isa(IsaFamily::sum, static_cast<cpu::Isa>(l));
        // The tiles' stream form (sum_tile.h) on every input, then the blocked form: the same bits.
        for (const std::size_t threshold : {std::size_t{0}, std::numeric_limits<std::size_t>::max()}) {
          cpu::detail::force_stream_threshold(threshold);
          const char* form = threshold ? " blocked" : " stream";
          EXPECT_TRUE(same_bits(want_tree, half_sum(SumVariant::tree, x, ctx)))
              << dtype_name(d) << " n=" << n << " " << cpu::isa_name(static_cast<cpu::Isa>(l)) << form;
          EXPECT_TRUE(same_bits(want_atomic, half_sum(SumVariant::atomic, x, shuffled)))
              << dtype_name(d) << " n=" << n << " " << cpu::isa_name(static_cast<cpu::Isa>(l)) << form;
        }
      }
    }
  }
  cpu::detail::force_stream_threshold(std::nullopt);
  cpu::detail::force_isa(IsaFamily::sum, cpu::Isa::avx512);
}

TEST(HalfSumCpu, ReadProbeReadsEveryByte) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{9}, std::size_t{65537}, std::size_t{3 * 65536 + 5}}) {
    std::vector<std::uint16_t> bits(n, 0);
    bits[n - 1] = 0x0100;                // the last value of an odd-length input
    if (n > 2) bits[n / 2 | 1] = 0x0002;  // an odd index: the high half of its word
    if (n > 65536) bits[65534] |= 0x0400;  // the last word of a full tile
    std::uint64_t want = 0;
    for (std::size_t i = 0; i < n; i += 2) want |= bits[i] | (i + 1 < n ? std::uint32_t{bits[i + 1]} << 16 : 0u);
    cpu::ThreadPool pool(2);
    EXPECT_EQ(cpu::read_probe_half(reinterpret_cast<const bf16*>(bits.data()), n, cpu::SumContext{&pool, std::nullopt}),
              want)
        << "n=" << n;
  }
}

// An exact zero is -0.0 only when every term is -0.0, on inputs long enough for the vector paths
// (the float windows and split lanes do not track -0.0 themselves: the sum settles it after them).
// The operator sweep of session 24 found that only two-term inputs were tested, which no vector
// path takes.
TEST(HalfSumCpu, ExactZeroIsNegativeOnlyWhenEveryTermIs) {
  testing::each_flag_mode([&] {
    cpu::ThreadPool pool(2);
    SplitMix64 g(5);
    for (const DType d : {DType::bf16, DType::f16}) {
      for (const std::size_t n : {std::size_t{64}, std::size_t{4096}, std::size_t{2 * 65536 + 100}}) {
        std::vector<std::uint16_t> pairs(n);  // v, -v: an exact zero from terms that are not -0.0
        for (std::size_t i = 0; i + 1 < n; i += 2) {
          const float v = static_cast<float>(g.below(1000) + 1) / 64.0f;
          pairs[i] = d == DType::bf16 ? f32_to_bf16(v) : f32_to_f16(v);
          pairs[i + 1] = static_cast<std::uint16_t>(pairs[i] ^ 0x8000u);
        }
        std::vector<std::uint16_t> neg(n, 0x8000);
        std::vector<std::uint16_t> one_pos = neg;
        one_pos[n - 1] = 0x0000;
        std::vector<std::uint16_t> neg_then_pair = neg;
        neg_then_pair[n / 2] = pairs[0];
        neg_then_pair[n / 2 + 1] = pairs[1];
        const struct {
          const std::vector<std::uint16_t>& bits;
          float want;
          const char* what;
        } cases[] = {{pairs, 0.0f, "cancelling pairs"}, {neg, -0.0f, "all -0.0"}, {one_pos, 0.0f, "-0.0 and one +0.0"},
                     {neg_then_pair, 0.0f, "-0.0 and one cancelling pair"}};
        for (const auto& c : cases) {
          const HostArray h = half_array(d, c.bits);
          for (int l = 0; l <= static_cast<int>(cpu::isa_level()); ++l) {
            cpu::detail::force_isa(cpu::detail::IsaFamily::exact, static_cast<cpu::Isa>(l));
            for (const cpu::SumContext& ctx : {cpu::SumContext{}, cpu::SumContext{&pool, std::nullopt}})
              EXPECT_TRUE(same_bits(c.want, half_sum(SumVariant::exact, h, ctx)))
                  << dtype_name(d) << " n=" << n << " " << c.what << " " << cpu::isa_name(static_cast<cpu::Isa>(l));
          }
          cpu::detail::force_isa(cpu::detail::IsaFamily::exact, cpu::Isa::avx512);
        }
      }
    }
  });
}

TEST(HalfSumCpu, CubAndThrustAreNotCpuVariants) {
  const HostArray x = half_array(DType::bf16, {0x3f80});
  EXPECT_THROW(half_sum(SumVariant::cub, x, cpu::SumContext{}), std::invalid_argument);
}

// ---- CUDA: the twins bitwise; the rest within the error bound (skipped without a GPU) ----
class CudaHalfSum : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  }
};

// NaN, infinities, -0 and subnormals inside the kernels' full steps (a step reads 4096 values or
// more; the generated inputs above hold no bf16 special at all), bf16 and f16: the CPU's bits.
TEST_F(CudaHalfSum, SpecialsInsideFullStepsGiveTheCpuBits) {
  auto gpu = make_cuda_backend();
  cpu::ThreadPool pool(0);
  const cpu::SumContext ctx{&pool, std::nullopt};
  for (const DType d : {DType::bf16, DType::f16}) {
    const bool b = d == DType::bf16;
    const std::uint16_t inf = b ? 0x7f80 : 0x7c00, ninf = b ? 0xff80 : 0xfc00, nan = b ? 0x7fc1 : 0x7e01;
    const std::uint16_t nzero = 0x8000, tiny = 0x0001, ntiny = 0x8001, one = b ? 0x3f80 : 0x3c00;
    struct Case {
      const char* what;
      std::size_t n;
      std::uint16_t base;
      std::vector<std::pair<std::size_t, std::uint16_t>> at;
    };
    const std::vector<Case> cases = {
        {"5000 x -0", 5000, nzero, {}},
        {"inf at 4100", 8192, one, {{4100, inf}}},
        {"inf at 4100, -inf at 6000", 8192, one, {{4100, inf}, {6000, ninf}}},
        {"NaN (a payload) at 4096", 8192, one, {{4096, nan}}},
        {"subnormals inside -0s", 9000, nzero, {{4097, tiny}, {8191, tiny}, {8192, ntiny}, {8999, tiny}}},
    };
    for (const Case& c : cases) {
      std::vector<std::uint16_t> bits(c.n, c.base);
      for (const auto& [i, val] : c.at) bits[i] = val;
      const HostArray x = half_array(d, std::move(bits));
      gpu->set_input(x);
      const float tree = half_sum(SumVariant::tree, x, ctx), exact = half_sum(SumVariant::exact, x, ctx);
      EXPECT_EQ(gpu->run(SumVariant::tree, 0).bits, to_bits(tree)) << dtype_name(d) << " tree: " << c.what;
      EXPECT_EQ(gpu->run(SumVariant::exact, 0).bits, to_bits(exact)) << dtype_name(d) << " exact: " << c.what;
    }
  }
}

TEST_F(CudaHalfSum, TreeAndExactBitwiseEqualToTheCpuTwin) {
  auto gpu = make_cuda_backend();
  cpu::ThreadPool pool(0);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const std::size_t sizes[] = {0, 1, 3, 31, 32, 33, 1023, 1024, 1025, 65535, 65536, 65537, 3 * 65536 + 7,
                               (1u << 20) + 1, 10000019, (1u << 26) + 3};
  for (const DType d : {DType::bf16, DType::f16})
    for (const Dist dist : {Dist::uniform, Dist::illcond})
      for (const std::size_t n : sizes) {
        const HostArray x = make_input(dist, d, n, 23 + n);
        gpu->set_input(x);
        const float tree = half_sum(SumVariant::tree, x, ctx), exact = half_sum(SumVariant::exact, x, ctx);
        for (int rep = 0; rep < 2; ++rep) {
          EXPECT_EQ(gpu->run(SumVariant::tree, rep).bits, to_bits(tree)) << dtype_name(d) << " " << dist_name(dist) << " n=" << n;
          EXPECT_EQ(gpu->run(SumVariant::exact, rep).bits, to_bits(exact)) << dtype_name(d) << " " << dist_name(dist) << " n=" << n;
        }
        const std::vector<float> w = widened(x);
        const double bound = testing::sum_error_bound(w);
        for (const SumVariant v : {SumVariant::atomic, SumVariant::atomic_element, SumVariant::cub, SumVariant::thrust}) {
          if (v == SumVariant::atomic_element && n > (1u << 20) + 1) continue;  // slow by design
          const float s = from_bits<float>(static_cast<std::uint32_t>(gpu->run(v, 0).bits));
          if (!std::isfinite(exact)) {  // f16 values past 65504 widen to +-inf: inf - inf is NaN in any order
            EXPECT_TRUE(std::isnan(exact) ? std::isnan(s) : s == exact) << info(v).name << " " << dtype_name(d) << " n=" << n;
            continue;
          }
          EXPECT_LE(std::fabs(static_cast<double>(s) - static_cast<double>(exact)), bound)
              << info(v).name << " " << dtype_name(d) << " n=" << n;
        }
      }
}

// ---- .npy ----
fs::path tmp_dir(const std::string& name) {
  const fs::path d = fs::path(DRIFTLAB_TEST_TMP) / "half_sum" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
const fs::path kFixtures = fs::path(DRIFTLAB_SOURCE_DIR) / "tests/fixtures/half";

TEST(HalfNpy, ReadsWhatNumpyAndMlDtypesWrite) {
  // tests/fixtures/half/make_half.py: np.save of float16 ('<f2', '>f2') and ml_dtypes.bfloat16.
  const std::vector<std::uint16_t> f16_bits = {0x3c00, 0xc100, 0x0001, 0x7bff, 0x2e66};
  for (const char* name : {"f16_numpy.npy", "f16_big_endian.npy"}) {
    const HostArray a = npy::read((kFixtures / name).string());
    EXPECT_EQ(a.dtype, DType::f16) << name;
    EXPECT_EQ(a.shape, std::vector<std::size_t>{5}) << name;
    EXPECT_EQ(a.u16, f16_bits) << name;
  }
  EXPECT_EQ(f16_to_f32(f16_bits[4]), static_cast<float>(static_cast<_Float16>(0.1)));  // numpy's 0.1 as float16
  // '<V2' is refused unless the caller says the records are bfloat16.
  try {
    npy::read((kFixtures / "bf16_ml_dtypes.npy").string());
    ADD_FAILURE() << "a '<V2' file was read without being asked";
  } catch (const npy::NpyError& e) {
    EXPECT_NE(std::string(e.what()).find("'<V2'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--dtype bf16"), std::string::npos) << e.what();
  }
  const HostArray b = npy::read((kFixtures / "bf16_ml_dtypes.npy").string(), npy::ReadOptions{true});
  EXPECT_EQ(b.dtype, DType::bf16);
  EXPECT_EQ(b.u16, (std::vector<std::uint16_t>{0x3f80, 0xc020, 0x0018, 0x4780, 0x3dcd}));
  EXPECT_EQ(bf16_to_f32(b.u16[2]), std::ldexp(3.0f, -130));  // a subnormal, kept
}

TEST(HalfNpy, WriteAndReadBackBitForBit) {
  const fs::path d = tmp_dir("roundtrip");
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);  // NaN payloads too
  for (const DType dt : {DType::f16, DType::bf16}) {
    HostArray a = half_array(dt, all);
    a.shape = {256, 256};
    const fs::path p = d / (std::string(dtype_name(dt)) + ".npy");
    npy::write(p.string(), a);
    const std::string bytes = slurp(p);
    EXPECT_NE(bytes.find(dt == DType::f16 ? "'descr': '<f2'" : "'descr': '<V2'"), std::string::npos);
    EXPECT_EQ(bytes.size() % 64, 0u);  // header padded to 64, then 2 * 65536 bytes
    const HostArray back = npy::read(p.string(), npy::ReadOptions{dt == DType::bf16});
    EXPECT_EQ(back.dtype, dt);
    EXPECT_EQ(back.shape, a.shape);
    EXPECT_EQ(back.u16, all);
  }
}

TEST(HalfNpy, NpzMembersFollowTheSameRules) {
  const fs::path p = tmp_dir("npz") / "m.npz";
  npz::write(p.string(), {{"h", half_array(DType::f16, {0x3c00, 0x0001})}, {"b", half_array(DType::bf16, {0x3f80, 0x0018})}},
             true);
  try {
    npz::read(p.string());
    ADD_FAILURE() << "a '<V2' member was read without being asked";
  } catch (const npz::NpzError& e) {
    EXPECT_NE(std::string(e.what()).find("'<V2'"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  const auto m = npz::read(p.string(), npy::ReadOptions{true});
  EXPECT_EQ(m.at("h").dtype, DType::f16);
  EXPECT_EQ(m.at("h").u16, (std::vector<std::uint16_t>{0x3c00, 0x0001}));
  EXPECT_EQ(m.at("b").dtype, DType::bf16);
  EXPECT_EQ(m.at("b").u16, (std::vector<std::uint16_t>{0x3f80, 0x0018}));
}

std::string npy_image(const std::string& descr, const std::string& data, const std::string& shape = "(2,)") {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string img = std::string("\x93NUMPY\x01\x00", 8);
  img += static_cast<char>(header.size() & 0xff);
  img += static_cast<char>(header.size() >> 8);
  return img + header + data;
}
HostArray parse_text(const std::string& img, npy::ReadOptions o = {}) {
  return npy::parse(std::span(reinterpret_cast<const std::byte*>(img.data()), img.size()), o);
}

TEST(HalfNpy, ByteOrdersAndRefusals) {
  const std::string le("\x00\x3c\x00\xc1", 4), be("\x3c\x00\xc1\x00", 4);
  for (const auto& [descr, data] : {std::pair{"<f2", le}, {"=f2", le}, {"|f2", le}, {">f2", be}}) {
    const HostArray a = parse_text(npy_image(descr, data));
    EXPECT_EQ(a.dtype, DType::f16) << descr;
    EXPECT_EQ(a.u16, (std::vector<std::uint16_t>{0x3c00, 0xc100})) << descr;
  }
  EXPECT_EQ(parse_text(npy_image("|V2", le), {true}).dtype, DType::bf16);
  EXPECT_THROW(parse_text(npy_image("|V2", le)), npy::NpyError);
  EXPECT_THROW(parse_text(npy_image("<V4", le + le), {true}), npy::NpyError);  // not 2-byte records
  EXPECT_THROW(parse_text(npy_image("<i2", le)), npy::NpyError);
  EXPECT_THROW(parse_text(npy_image("<f2", le.substr(0, 3))), npy::NpyError);  // truncated
  EXPECT_THROW(parse_text(npy_image("<f2", le + "x")), npy::NpyError);         // trailing byte
  // Fortran order: the 16-bit bits reordered like any element.
  const HostArray f = parse_text(npy_image("<f2", std::string("\x01\x00\x02\x00\x03\x00\x04\x00", 8), "(2, 2)").replace(
      npy_image("<f2", "", "(2, 2)").find("False"), 5, "True "));
  EXPECT_EQ(f.u16, (std::vector<std::uint16_t>{1, 3, 2, 4}));
}

// ---- the command line ----
TEST(HalfSumCli, SumSaysTheInputIs16BitAndTheResultFloat32) {
  const fs::path d = tmp_dir("cli");
  const std::string json = (d / "sum.json").string();
  const auto r = cli({"sum", "--backend", "cpu", "--dtype", "bf16", "--n", "70001", "--runs", "2", "--threads", "2",
                      "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("n=70001 bf16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generated in float32, rounded to bf16 (nearest even)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("results are float32"), std::string::npos) << r.out;
  const std::string j = slurp(json);
  EXPECT_NE(j.find("\"dtype\": \"bf16\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"result_dtype\": \"f32\""), std::string::npos) << j;
  // The exact row's result is the library's exact sum of the same 16-bit input, as float32 bits.
  const HostArray x = make_input(Dist::uniform, DType::bf16, 70001, 1);
  const float exact = half_sum(SumVariant::exact, x, cpu::SumContext{});
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", to_bits(exact));
  EXPECT_NE(j.find(std::string("\"result_bits\": \"") + hex + "\""), std::string::npos) << hex << "\n" << j;
}

TEST(HalfSumCli, Float32FileIsRoundedWhenAskedAndHalfFilesAreRead) {
  const fs::path d = tmp_dir("files");
  HostArray f32;
  f32.dtype = DType::f32;
  f32.shape = {3};
  f32.f32 = {1.0f, 0.1f, 3.0f};
  npy::write((d / "x32.npy").string(), f32);
  auto r = cli({"sum", "--backend", "cpu", "--variant", "exact", "--runs", "1", "--dtype", "f16", "--input",
                (d / "x32.npy").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("float32 file rounded to f16 (nearest even)"), std::string::npos) << r.out;
  const float want = 1.0f + f16_to_f32(f32_to_f16(0.1f)) + 3.0f;  // exact here: few bits
  EXPECT_NE(r.out.find(round_trip(want)), std::string::npos) << round_trip(want) << "\n" << r.out;

  r = cli({"sum", "--backend", "cpu", "--variant", "tree", "--runs", "1", "--input", (kFixtures / "f16_numpy.npy").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("n=5 f16"), std::string::npos) << r.out;
  r = cli({"sum", "--backend", "cpu", "--variant", "tree", "--runs", "1", "--dtype", "bf16", "--input",
           (kFixtures / "bf16_ml_dtypes.npy").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("n=5 bf16"), std::string::npos) << r.out;
}

TEST(HalfSumCli, BadInputIsOneLineAndTheRightExitCode) {
  auto r = cli({"sum", "--dtype", "bf17"});
  expect_one_line_error(r, "--dtype: expected f32, f64, bf16 or f16, got 'bf17'");
  EXPECT_EQ(r.code, 2);
  const fs::path v2 = kFixtures / "bf16_ml_dtypes.npy", f2 = kFixtures / "f16_numpy.npy";
  r = cli({"sum", "--backend", "cpu", "--runs", "1", "--input", v2.string()});  // '<V2' without --dtype bf16
  expect_one_line_error(r, "--dtype bf16");
  EXPECT_EQ(r.code, 1);
  r = cli({"sum", "--backend", "cpu", "--runs", "1", "--dtype", "f16", "--input", v2.string()});
  expect_one_line_error(r, "'<V2'");
  EXPECT_EQ(r.code, 1);
  r = cli({"sum", "--backend", "cpu", "--runs", "1", "--dtype", "f32", "--input", f2.string()});
  expect_one_line_error(r, "holds f16 but --dtype says f32");
  EXPECT_EQ(r.code, 2);
  r = cli({"sum", "--backend", "cpu", "--runs", "1", "--dtype", "bf16", "--input", f2.string()});
  expect_one_line_error(r, "holds f16 but --dtype says bf16");
  EXPECT_EQ(r.code, 2);
  // A float64 file is not rounded to 16 bits (that would round twice, via float32): refused.
  const fs::path d = tmp_dir("bad");
  HostArray f64;
  f64.dtype = DType::f64;
  f64.f64 = {1.0, 2.0};
  npy::write((d / "x64.npy").string(), f64);
  r = cli({"sum", "--backend", "cpu", "--runs", "1", "--dtype", "bf16", "--input", (d / "x64.npy").string()});
  expect_one_line_error(r, "holds f64 but --dtype says bf16");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace driftlab
