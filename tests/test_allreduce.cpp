// The all-reduce orders (kernels/common/allreduce_order.h) and their simulation
// (host/distributed/allreduce_sim.cpp): exact gives the same bits for every rank count, channel
// count, fusion size and combination order, equal to the CPU exact sum of each element's M
// values; ring and tree move with the rank count on ordinary data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "host/distributed/allreduce_exact_local.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/allreduce_sim.h"
#include "tests/mpi_skip.h"
#include "tests/cli_helpers.h"
#include "host/io/json_read.h"
#include "host/io/npy.h"
#include "kernels/common/allreduce_order.h"
#include "kernels/common/exact.h"
#include "tests/test_helpers.h"

namespace driftlab {
namespace {

using testing::mpi_skip_reason;

using allreduce::Data;
using allreduce::IntOrder;
using allreduce::SimConfig;
using allreduce::Variant;

bool same_vector(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
std::string bits_key(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
// Index of the first element whose bits differ, or -1.
long first_diff(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!testing::same_bits(a[i], b[i])) return static_cast<long>(i);
  return -1;
}

TEST(AllreduceOrder, ShardGroupsAreContiguousAndCoverEveryShard) {
  for (std::size_t M : {1u, 3u, 8u, 13u})
    for (std::size_t P : {1u, 2u, 3u, 8u, 1024u}) {
      std::size_t next = 0;
      for (std::size_t r = 0; r < P; ++r) {
        const auto g = allreduce::rank_shards(M, P, r);
        EXPECT_EQ(g.first, next);
        next += g.count;
      }
      EXPECT_EQ(next, M);
    }
}

TEST(AllreduceOrder, RingChunkStartsAtTheNextRank) {
  // 1e8 + 1 rounds back to 1e8, so which pair meets first decides the result.
  const float v[3] = {1e8f, 1.0f, -1e8f};
  EXPECT_EQ(allreduce::ring_combine(v, 3, 0), 0.0f);  // (1 + -1e8) + 1e8
  EXPECT_EQ(allreduce::ring_combine(v, 3, 1), 1.0f);  // (-1e8 + 1e8) + 1
  EXPECT_EQ(allreduce::ring_combine(v, 3, 2), 0.0f);  // (1e8 + 1) + -1e8
  float t[3] = {1e8f, 1.0f, -1e8f};
  EXPECT_EQ(allreduce::tree_combine(t, 3), 0.0f);  // (x0 + x1) + x2
  float u[3] = {1.0f, 1e8f, -1e8f};
  EXPECT_EQ(allreduce::tree_combine(u, 3), 0.0f);
  float w[4] = {1e8f, -1e8f, 1.0f, 0.0f};
  EXPECT_EQ(allreduce::tree_combine(w, 4), 1.0f);  // (x0 + x1) + (x2 + x3)
}

TEST(AllreduceOrder, RingPlaceFollowsNcclChunking) {
  // 6000 floats, 3 ranks, 1 channel: ceil(6000/3) = 2000 rounds up to 2048.
  EXPECT_EQ(allreduce::ring_place(0, 6000, 3, 1).chunk, 0u);
  EXPECT_EQ(allreduce::ring_place(2047, 6000, 3, 1).chunk, 0u);
  EXPECT_EQ(allreduce::ring_place(2048, 6000, 3, 1).chunk, 1u);
  EXPECT_EQ(allreduce::ring_place(5999, 6000, 3, 1).chunk, 2u);
  // 2 channels: ceil(6000/6) = 1000 -> 1024; channel 0 covers [0, 3072), channel 1 the rest.
  EXPECT_EQ(allreduce::ring_place(3071, 6000, 3, 2).channel, 0u);
  EXPECT_EQ(allreduce::ring_place(3071, 6000, 3, 2).chunk, 2u);
  EXPECT_EQ(allreduce::ring_place(3072, 6000, 3, 2).channel, 1u);
  EXPECT_EQ(allreduce::ring_place(3072, 6000, 3, 2).chunk, 0u);
  // Large buffers loop in chunks of kRingChunk: the second loop starts over at chunk 0.
  const std::size_t loop = 2 * allreduce::kRingChunk;
  EXPECT_EQ(allreduce::ring_place(allreduce::kRingChunk, 3 * loop, 2, 1).chunk, 1u);
  EXPECT_EQ(allreduce::ring_place(loop, 3 * loop, 2, 1).chunk, 0u);
}

// round_fixed is exact::finalize of the same integer placed in one bin.
TEST(AllreduceExact, RoundFixedMatchesFinalize) {
  std::mt19937_64 g(7);
  std::vector<std::int64_t> vs = {1, -1, 3, (1ll << 24) - 1, (1ll << 24) + 1, (1ll << 25) + 3, (1ll << 25) + 1,
                                  std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
  for (int k = 0; k < 2000; ++k) {
    std::int64_t v = static_cast<std::int64_t>(g() >> (g() % 63));
    if (g() & 1) v = -v;
    if (v) vs.push_back(v);
  }
  for (const std::int64_t v : vs)
    for (int lsb : {0, 1, 5, 23, 24, 40, 100, 180, 200, 230, 250}) {
      std::int64_t bins[exact::Layout<float>::kBins] = {};
      bins[lsb + 1] = v;  // bin b weighs 2^(max(b,1)-1) u
      const float want = exact::finalize<float>(bins, exact::kSeen | exact::kNotNegZero);
      const float got = allreduce::round_fixed(v, lsb);
      ASSERT_TRUE(testing::same_bits(got, want)) << "v=" << v << " lsb=" << lsb << " got " << got << " want " << want;
    }
}

// The promise: one distinct output over ranks 1-8 and 1024, channels 1-32, three fusion
// sizes and every integer combination order, equal to the CPU exact sum per element.
TEST(AllreduceExact, SameBitsForEveryRankCountChannelsAndFusion) {
  for (const Dist dist : {Dist::uniform, Dist::normal, Dist::illcond}) {
    const Data d = allreduce::make_data(dist, 1000, 8, 3);
    const std::vector<float> ref = allreduce::exact_reference(d);
    std::set<std::string> distinct;
    for (std::size_t P : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 1024u})
      for (std::size_t C = 1; C <= 32; C += (P == 1024 ? 31 : 1))
        for (std::size_t F : {0u, 96u, 333u})
          for (const IntOrder o : {IntOrder::ring, IntOrder::tree, IntOrder::linear}) {
            if (o != IntOrder::ring && C > 1) continue;  // channels only change the ring
            const auto out = allreduce::simulate(Variant::exact, d, SimConfig{P, C, F, o});
            distinct.insert(bits_key(out));
            ASSERT_TRUE(same_vector(out, ref)) << dist_name(dist) << " P=" << P << " C=" << C << " F=" << F
                                               << " first diff at " << first_diff(out, ref);
          }
    EXPECT_EQ(distinct.size(), 1u) << dist_name(dist);
  }
}

// 1024 shards on 1024 ranks (one shard each) and on fewer.
TEST(AllreduceExact, ThousandRanksOneShardEach) {
  const Data d = allreduce::make_data(Dist::normal, 64, 1024, 11);
  const auto ref = allreduce::exact_reference(d);
  for (std::size_t P : {1u, 3u, 1000u, 1024u}) {
    const auto out = allreduce::simulate(Variant::exact, d, SimConfig{P, 32, 0, IntOrder::ring});
    EXPECT_TRUE(same_vector(out, ref)) << "P=" << P << " first diff at " << first_diff(out, ref);
  }
}

// The fallback (values spanning more binades than the window, Inf, NaN, signed zeros) is taken
// and exact too.
TEST(AllreduceExact, FallbackAndSpecialsAreExact) {
  Data d = allreduce::make_data(Dist::normal, 16, 6, 5);
  auto at = [&](std::size_t k, std::size_t i) -> float& { return d.values[k * d.n + i]; };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  at(0, 0) = 1e30f; at(3, 0) = 1e-30f;                                  // a wide span
  at(2, 1) = inf;                                                       // +Inf
  at(1, 2) = inf; at(4, 2) = -inf;                                      // NaN from Inf - Inf
  at(5, 3) = nan;                                                       // NaN
  for (std::size_t k = 0; k < 6; ++k) at(k, 4) = -0.0f;                 // every term -0.0: -0.0
  for (std::size_t k = 0; k < 6; ++k) at(k, 5) = k == 2 ? 0.0f : -0.0f; // one +0.0: +0.0
  at(0, 6) = 3.0f; at(1, 6) = -3.0f;                                    // an exact zero with other terms
  for (std::size_t k = 2; k < 6; ++k) at(k, 6) = 0.0f;
  at(0, 7) = std::numeric_limits<float>::denorm_min(); at(1, 7) = 1.0f; // a subnormal below 1.0's window
  at(0, 8) = std::numeric_limits<float>::max(); at(1, 8) = std::numeric_limits<float>::max();  // overflows to Inf
  EXPECT_GE(allreduce::exact_fallback_count(d), 5u);
  const auto ref = allreduce::exact_reference(d);
  EXPECT_TRUE(std::isinf(ref[8]));
  EXPECT_TRUE(std::signbit(ref[4]));
  EXPECT_FALSE(std::signbit(ref[5]));
  for (std::size_t P : {1u, 2u, 3u, 6u, 7u}) {
    const auto out = allreduce::simulate(Variant::exact, d, SimConfig{P, 3, 5, IntOrder::ring});
    for (std::size_t i = 0; i < d.n; ++i)
      EXPECT_TRUE(testing::same_bits(out[i], ref[i])) << "P=" << P << " element " << i << ": " << out[i] << " vs " << ref[i];
  }
}

// Ill-conditioned data takes the fallback on some elements and the window on the others.
TEST(AllreduceExact, IllConditionedDataUsesBothPaths) {
  const Data d = allreduce::make_data(Dist::illcond, 2000, 8, 2);
  const std::size_t f = allreduce::exact_fallback_count(d);
  EXPECT_GT(f, 0u);
  EXPECT_LT(f, d.n);
}

// The block edges of the exact design (allreduce_order.h, exact): a block whose elements span many
// binades (small elements escape to the int64 pass, or to the fallback), zeros and specials beside
// ordinary elements of one block, elements on both sides of block and buffer boundaries, n and
// buffer sizes that are not multiples of the block: every element equals the exact sum.
TEST(AllreduceExact, BlockEdgesAreExact) {
  constexpr std::size_t B = allreduce::kExactBlock;
  const std::size_t n = 3 * B + 37;  // not a multiple of the block
  Data d = allreduce::make_data(Dist::normal, n, 5, 21);
  auto at = [&](std::size_t k, std::size_t i) -> float& { return d.values[k * d.n + i]; };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Block 0: a large element (and 3e10 on its last) raises the block's byte; its neighbours' low bits fall below the
  // int32 window (escape to int64) and, for tiny values, below the int64 window too (fallback).
  for (std::size_t k = 0; k < 5; ++k) at(k, 3) = 0x1p20f * static_cast<float>(k + 1);
  at(0, 4) = 1.0f + 0x1p-23f;                              // escapes pass 2, fits pass 3
  at(1, 5) = 1e-20f;                                       // spans more than W2 itself: fallback
  for (std::size_t k = 0; k < 5; ++k) at(k, 6) = -0.0f;    // all -0.0 in a wide block: -0.0
  at(0, 7) = 0x1p10f; at(1, 7) = -0x1p10f;                 // an exact zero in a wide block: +0.0
  for (std::size_t k = 2; k < 5; ++k) at(k, 7) = -0.0f;
  // Block 1: specials beside ordinary elements; signed zeros in a narrow block.
  at(2, B + 1) = inf;
  at(0, B + 2) = inf; at(3, B + 2) = -inf;
  at(4, B + 3) = nan;
  for (std::size_t k = 0; k < 5; ++k) at(k, B + 4) = -0.0f;
  for (std::size_t k = 0; k < 5; ++k) at(k, B + 5) = k == 4 ? 0.0f : -0.0f;
  at(0, B + 6) = 1.5f; at(1, B + 6) = -1.5f; at(2, B + 6) = 0x1p-10f; at(3, B + 6) = -0x1p-10f; at(4, B + 6) = -0.0f;
  // Block and buffer boundaries: a wide span on the last element of a block, the first of the
  // next, and in the short last block.
  at(0, B - 1) = 3e10f; at(1, B - 1) = 1.0f + 0x1p-23f;
  at(0, B) = 3e10f;
  at(0, 2 * B - 2) = 0x1p100f; at(1, 2 * B) = 0x1p-100f + 0x1p-120f;
  at(0, n - 1) = std::numeric_limits<float>::max(); at(1, n - 1) = std::numeric_limits<float>::max();
  at(2, n - 2) = std::numeric_limits<float>::denorm_min();
  // Block 2: subnormals and -0.0 beside one small normal value (its first element): the windows
  // start at u or just above (the subnormals escape pass 2 and fit pass 3).
  for (std::size_t k = 0; k < 5; ++k)
    for (std::size_t i = 2 * B + 2; i < 2 * B + 40; ++i) at(k, i) = (i % 3 == 0) ? -0.0f : static_cast<float>(i) * 0x1p-140f * (k % 2 ? -1.0f : 1.0f);
  const auto ref = allreduce::exact_reference(d);
  ASSERT_TRUE(std::signbit(ref[6]));
  ASSERT_FALSE(std::signbit(ref[7]));
  ASSERT_TRUE(std::signbit(ref[B + 4]));
  ASSERT_FALSE(std::signbit(ref[B + 5]));
  ASSERT_TRUE(std::isinf(ref[n - 1]));
  // The paths are taken: element 4 escapes pass 2 but not pass 3, element 5 takes the fallback.
  const int W1 = allreduce::narrow_window_bits(5), W2 = allreduce::window_bits(5);
  std::uint8_t E0 = 0;
  for (std::size_t k = 0; k < 5; ++k)
    for (std::size_t i = 0; i < B; ++i) E0 = std::max(E0, allreduce::block_byte(at(k, i)));
  auto own = [&](std::size_t i) {  // pass 3's byte: the element's own
    std::uint8_t e = 0;
    for (std::size_t k = 0; k < 5; ++k) e = std::max(e, allreduce::block_byte(at(k, i)));
    return e;
  };
  std::int32_t a32 = 0;
  std::int64_t a64 = 0;
  EXPECT_FALSE(allreduce::narrow_add(a32, at(0, 4), allreduce::window_lsb(E0, W1)));
  EXPECT_TRUE(allreduce::wide_add(a64, at(0, 4), allreduce::window_lsb(own(4), W2)));
  // The block's byte alone would send element 4 to the fallback when the block holds 2^60.
  EXPECT_FALSE(allreduce::wide_add(a64, at(0, 4), allreduce::window_lsb(E0 + 40, W2)));
  a32 = 0;
  bool escapes = false;
  for (std::size_t k = 0; k < 5; ++k) escapes |= !allreduce::narrow_add(a32, at(k, 5), allreduce::window_lsb(E0, W1));
  EXPECT_TRUE(escapes);
  EXPECT_FALSE(allreduce::wide_add(a64, at(1, 5), allreduce::window_lsb(own(5), W2)));
  const std::size_t fallbacks = allreduce::exact_fallback_count(d);
  // The specials B+1, B+2, B+3 and the elements whose own values (with the other shards' normal
  // values) span more than W2: 5, B-1, 2B-2, 2B, n-2, n-1.  Every other element fits.
  EXPECT_EQ(fallbacks, 9u);
  for (std::size_t P : {1u, 2u, 3u, 5u, 7u})
    for (std::size_t F : {0u, 64u, 100u, 129u})
      for (const IntOrder o : {IntOrder::ring, IntOrder::tree, IntOrder::linear}) {
        const auto out = allreduce::simulate(Variant::exact, d, SimConfig{P, 2, F, o});
        ASSERT_TRUE(same_vector(out, ref)) << "P=" << P << " F=" << F << " first diff at " << first_diff(out, ref);
      }
}

// The MPI execution's local passes (allreduce_exact_local.h): the scalar and the AVX2 paths give
// the integers, escape masks, block bytes, results and zero masks of the plain statement
// (block_byte, narrow_add, round_fixed), on values of every kind and block lengths 1-64.
TEST(AllreduceExact, LocalPassesMatchTheOrderOnEveryPath) {
  std::mt19937_64 g(5);
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::max(), std::numeric_limits<float>::min(), 1.0f, -3.0f};
  std::vector<cpu::Isa> paths = {cpu::Isa::scalar};
  if (cpu::isa_detected() >= cpu::Isa::avx2) paths.push_back(cpu::Isa::avx2);
  for (int trial = 0; trial < 400; ++trial) {
    const std::size_t count = 1 + trial % 64;
    std::vector<float> x(count);
    const int spread = 1 + static_cast<int>(g() % 60), centre = static_cast<int>(g() % 250) - 125;
    for (auto& v : x) {
      if (g() % 8 == 0) v = specials[g() % std::size(specials)];
      else v = std::ldexp(static_cast<float>(static_cast<std::int32_t>(g() >> 40) - (1 << 23)) * 0x1p-23f,
                          centre - static_cast<int>(g() % static_cast<unsigned>(spread)));
      if (g() % 4 == 0) v = from_bits<float>(to_bits(v) & ~0xfffu);  // fewer low bits: fits more often
    }
    std::uint8_t E = 0;
    for (const float v : x) E = std::max(E, allreduce::block_byte(v));
    const std::size_t M = 1 + g() % 8;
    const int lsb1 = allreduce::window_lsb(E, allreduce::narrow_window_bits(M));
    std::vector<std::int32_t> want(count, 0);
    std::uint64_t want_esc = 0, want_zero = 0;
    for (std::size_t o = 0; o < count; ++o) {
      if (!allreduce::narrow_add(want[o], x[o], lsb1)) want_esc |= std::uint64_t(1) << o, want[o] = 0;
      want_zero |= static_cast<std::uint64_t>(want[o] == 0) << o;
    }
    for (const cpu::Isa isa : paths) {
      cpu::detail::reset_paths();
      EXPECT_EQ(allreduce::local::block_max(isa, x.data(), count), E) << cpu::isa_name(isa);
      std::vector<std::int32_t> acc(count, 0);
      EXPECT_EQ(allreduce::local::narrow(isa, x.data(), count, lsb1, acc.data()), want_esc) << cpu::isa_name(isa);
      ASSERT_EQ(acc, want) << cpu::isa_name(isa) << " trial " << trial;
      // Accumulating a second shard adds to acc (the int32s of a rank with several shards).
      allreduce::local::narrow(isa, x.data(), count, lsb1, acc.data());
      // Twice one shard may pass the window's headroom: the int32 lanes wrap (two's complement).
      for (std::size_t o = 0; o < count; ++o)
        ASSERT_EQ(acc[o], static_cast<std::int32_t>(2u * static_cast<std::uint32_t>(want[o])));
      std::vector<float> out(count);
      EXPECT_EQ(allreduce::local::round_block(isa, want.data(), count, lsb1, out.data()), want_zero);
      for (std::size_t o = 0; o < count; ++o) {
        if (want[o] != 0) {
          ASSERT_TRUE(testing::same_bits(out[o], allreduce::round_fixed(want[o], lsb1))) << cpu::isa_name(isa);
        }
      }
      // Each path compared is the one asked for (isa.h's notes), not the scalar one twice.
      EXPECT_EQ(cpu::detail::paths_run(cpu::detail::IsaFamily::allreduce), 1u << static_cast<int>(isa)) << cpu::isa_name(isa);
    }
  }
}

std::string slurp(const std::string& path);

// The promise in the user's terms: an element's exact all-reduce is what `driftlab sum --variant
// exact` prints for that element's M values (saved as a .npy), bit for bit.
TEST(AllreduceExact, EqualsDriftlabSumExactOfTheElementsValues) {
  const Data d = allreduce::make_data(Dist::illcond, 64, 7, 9);
  const auto out = allreduce::simulate(Variant::exact, d, SimConfig{3, 2, 10, IntOrder::ring});
  for (std::size_t i : {0u, 17u, 63u}) {
    HostArray col;
    col.dtype = DType::f32;
    col.shape = {d.shards};
    for (std::size_t k = 0; k < d.shards; ++k) col.f32.push_back(d.shard_ptrs[k][i]);
    const std::string npy = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-col.npy";
    const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-col.json";
    npy::write(npy, col);
    const auto r = testing::cli({"sum", "--input", npy, "--variant", "exact", "--backend", "cpu", "--runs", "1", "--json", json});
    ASSERT_EQ(r.code, 0) << r.err;
    const JsonValue j = parse_json(slurp(json));
    char want[16];
    std::snprintf(want, sizeof want, "0x%08x", to_bits(out[i]));
    EXPECT_EQ(j.find("rows")->items.at(0).find("result_bits")->str, want) << "element " << i;
    std::filesystem::remove(npy);
    std::filesystem::remove(json);
  }
}

std::size_t distinct_over_ranks(Variant v, const Data& d, std::size_t C, std::size_t F) {
  std::set<std::string> s;
  for (std::size_t P = 1; P <= 8; ++P) s.insert(bits_key(allreduce::simulate(v, d, SimConfig{P, C, F, IntOrder::ring})));
  return s.size();
}

// Drift is real: on ordinary data ring and tree give several outputs across rank counts, and
// ring's bits move with the channel count and the fusion size at a fixed rank count >= 3.
TEST(AllreduceDrift, RingAndTreeMoveWithTheRankCount) {
  const Data d = allreduce::make_data(Dist::uniform, 4096, 8, 1);
  EXPECT_GT(distinct_over_ranks(Variant::ring, d, 1, 0), 2u);
  EXPECT_GT(distinct_over_ranks(Variant::tree, d, 1, 0), 2u);
  const Data n = allreduce::make_data(Dist::normal, 4096, 8, 1);
  EXPECT_GT(distinct_over_ranks(Variant::ring, n, 4, 1000), 2u);
  EXPECT_GT(distinct_over_ranks(Variant::tree, n, 1, 0), 2u);
}

TEST(AllreduceDrift, RingMovesWithChannelsAndFusionFromThreeRanks) {
  const Data d = allreduce::make_data(Dist::uniform, 4096, 3, 4);
  for (std::size_t P : {2u, 3u}) {
    std::set<std::string> s;
    for (std::size_t C : {1u, 2u, 4u, 32u})
      for (std::size_t F : {0u, 1000u, 3000u}) s.insert(bits_key(allreduce::simulate(Variant::ring, d, SimConfig{P, C, F})));
    if (P == 2) EXPECT_EQ(s.size(), 1u) << "two ranks: a + b = b + a";
    else EXPECT_GT(s.size(), 1u) << "three ranks: the chunk's starting rank changes the sum";
  }
  // tree does not see channels or fusion.
  std::set<std::string> t;
  for (std::size_t C : {1u, 8u})
    for (std::size_t F : {0u, 1000u}) t.insert(bits_key(allreduce::simulate(Variant::tree, d, SimConfig{3, C, F})));
  EXPECT_EQ(t.size(), 1u);
}

TEST(AllreduceSim, MpiIsNotSimulated) {
  const Data d = allreduce::make_data(Dist::uniform, 8, 2, 1);
  EXPECT_THROW(allreduce::simulate(Variant::mpi, d, SimConfig{}), std::invalid_argument);
}

// --- the command -----------------------------------------------------------------------------

struct Proc {
  int code;
  std::string out, err;
};
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// Runs the driftlab binary (a real process: mpirun starts the same binary as the ranks).
Proc run_driftlab(const std::string& args, const std::string& env = "") {
  const std::string base = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-" + std::to_string(::getpid());
  const std::string cmd = env + " timeout 120 '" + DRIFTLAB_EXE + "' allreduce " + args + " >'" + base + ".out' 2>'" + base + ".err'";
  const int st = std::system(cmd.c_str());
  Proc p{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(base + ".out"), slurp(base + ".err")};
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return p;
}

TEST(AllreduceCli, SimulateReportsDriftAndExactAtThousandRanks) {
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-sim.json";
  const auto r = testing::cli({"allreduce", "--simulate", "--ranks", "1,3,1024", "--channels", "1,32", "--n", "512",
                               "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  const JsonValue j = parse_json(slurp(json));
  std::map<std::string, const JsonValue*> rows;
  for (const auto& row : j.find("rows")->items) rows[row.find("variant")->str] = &row;
  ASSERT_EQ(rows.size(), 3u);  // no mpi row: it is measured, not simulated
  EXPECT_EQ(rows["exact"]->find("distinct_outputs")->num, 1);
  EXPECT_TRUE(rows["exact"]->find("equals_exact")->b);
  EXPECT_GT(rows["ring"]->find("ranks_distinct")->num, 1);
  EXPECT_GT(rows["ring"]->find("ranks_max_ulp")->num, 0);
  EXPECT_GT(rows["tree"]->find("ranks_distinct")->num, 1);
  EXPECT_TRUE(rows["ring"]->find("median_ms")->is(JsonValue::Kind::null));
  std::filesystem::remove(json);
}

TEST(AllreduceCli, BadInputIsOneLine) {
  testing::expect_one_line_error(testing::cli({"allreduce", "--ranks", "0"}), "--ranks");
  testing::expect_one_line_error(testing::cli({"allreduce", "--ranks", "1,x"}), "--ranks");
  testing::expect_one_line_error(testing::cli({"allreduce", "--ranks", "300"}), "256");
  testing::expect_one_line_error(testing::cli({"allreduce", "--variant", "nccl"}), "--variant");
  testing::expect_one_line_error(testing::cli({"allreduce", "--channels", "0"}), "--channels");
  testing::expect_one_line_error(testing::cli({"allreduce", "--mpi-algorithm", "bruck"}), "--mpi-algorithm");
  testing::expect_one_line_error(testing::cli({"allreduce", "--simulate", "--variant", "mpi"}), "simulated");
  testing::expect_one_line_error(testing::cli({"allreduce", "--shards", "0"}), "--shards");
  EXPECT_EQ(testing::cli({"allreduce", "--ranks", "0"}).code, 2);
  // An output that cannot be written is found before the work: one line, exit 1, nothing made.
  const std::string missing = std::string(DRIFTLAB_TEST_TMP) + "/no-such-folder/a.json";
  const auto r = testing::cli({"allreduce", "--simulate", "--n", "8", "--json", missing});
  EXPECT_EQ(r.code, 1);
  testing::expect_one_line_error(r, "--json");
  EXPECT_FALSE(std::filesystem::exists(missing));
  // What cannot fit in memory is refused up front, naming the flags.
  testing::expect_one_line_error(testing::cli({"allreduce", "--simulate", "--n", "2^28", "--shards", "2^20"}), "--n");
}

// Internal flags used directly: --mpi-out without --mpi-worker, and --mpi-worker outside mpirun.
TEST(AllreduceCli, InternalFlagsOutsideMpirunAreRefused) {
  const auto out = testing::cli({"allreduce", "--mpi-out", std::string(DRIFTLAB_TEST_TMP) + "/never.bin"});
  EXPECT_EQ(out.code, 2);
  testing::expect_one_line_error(out, "--mpi-out");
  EXPECT_FALSE(std::filesystem::exists(std::string(DRIFTLAB_TEST_TMP) + "/never.bin"));
  if (!allreduce::mpi_built()) GTEST_SKIP() << "built without MPI: --mpi-worker says why (WithoutMpiSaysWhy)";
  const auto worker = testing::cli({"allreduce", "--mpi-worker", "--n", "8"});
  EXPECT_EQ(worker.code, 2);
  testing::expect_one_line_error(worker, "internal");
}

TEST(AllreduceCli, WithoutMpiSaysWhy) {
  if (allreduce::mpi_built()) GTEST_SKIP() << "this build has MPI (the message is allreduce_no_mpi.cpp's)";
  const auto r = testing::cli({"allreduce", "--ranks", "2"});
  EXPECT_EQ(r.code, 1);
  testing::expect_one_line_error(r, "without MPI");
}

// Every MPI execution of ring, tree and exact equals its simulation bit for bit, over rank counts,
// channel counts and fusion sizes; exact is one output, equal to the exact sum.
TEST(AllreduceMpi, EveryExecutionEqualsItsSimulation) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-mpi.json";
  const auto r = run_driftlab("--ranks 1,3,4 --n 3000 --runs 2 --channels 1,3 --fusion 0,1100 --dist normal --json '" + json + "'");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const JsonValue j = parse_json(slurp(json));
  std::map<std::string, const JsonValue*> rows;
  for (const auto& row : j.find("rows")->items) rows[row.find("variant")->str] = &row;
  ASSERT_EQ(rows.size(), 4u);
  for (const char* v : {"ring", "tree", "exact"}) {
    EXPECT_EQ(rows[v]->find("executions")->num, 12) << v;
    EXPECT_EQ(rows[v]->find("matches_simulation")->num, 12) << v;
    EXPECT_EQ(rows[v]->find("runs_non_equal")->num, 0) << v;
  }
  EXPECT_EQ(rows["exact"]->find("distinct_outputs")->num, 1);
  EXPECT_TRUE(rows["exact"]->find("equals_exact")->b);
  EXPECT_GT(rows["ring"]->find("ranks_distinct")->num, 1);
  EXPECT_GT(rows["mpi"]->find("ranks_distinct")->num, 1);  // the local sums alone move the bits
  std::filesystem::remove(json);
}

// exact under every algorithm Open MPI has, forced through the MCA parameters, at 3 ranks.
TEST(AllreduceMpi, ExactIsOneOutputUnderEveryMpiAlgorithm) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-alg.json";
  const auto ok = run_driftlab("--ranks 3 --n 2000 --runs 1 --variant exact,mpi --mpi-algorithm all --dist illcond --json '" + json + "'");
  ASSERT_EQ(ok.code, 0) << ok.err;
  const JsonValue j = parse_json(slurp(json));
  for (const auto& row : j.find("rows")->items) {
    EXPECT_EQ(row.find("executions")->num, 6);
    if (row.find("variant")->str == "exact") {
      EXPECT_EQ(row.find("distinct_outputs")->num, 1);
      EXPECT_TRUE(row.find("equals_exact")->b);
      EXPECT_EQ(row.find("matches_simulation")->num, 6);
      EXPECT_GT(row.find("exact_fallback_elements")->num, 0);  // illcond exercises the fallback
    }
  }
  std::filesystem::remove(json);
}

// The MPI execution's scalar local passes (DRIFTLAB_ISA=scalar) as well as the vector ones: equal
// to the simulation and the exact sum, on data that escapes and falls back.
TEST(AllreduceMpi, ExactScalarPathEqualsItsSimulation) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/allreduce-scalar.json";
  const auto r = run_driftlab("--ranks 2,3 --n 1000 --runs 1 --variant exact --fusion 0,333 --dist illcond --json '" + json + "'",
                              "DRIFTLAB_ISA=scalar");
  ASSERT_EQ(r.code, 0) << r.err;
  const JsonValue j = parse_json(slurp(json));
  const auto& row = j.find("rows")->items.at(0);
  EXPECT_EQ(row.find("matches_simulation")->num, 4);
  EXPECT_EQ(row.find("distinct_outputs")->num, 1);
  EXPECT_TRUE(row.find("equals_exact")->b);
  EXPECT_GT(row.find("exact_fallback_elements")->num, 0);
  std::filesystem::remove(json);
}

TEST(AllreduceMpi, MissingMpirunIsOneLine) {
  if (!allreduce::mpi_built()) GTEST_SKIP() << "built without MPI";
  const auto r = run_driftlab("--ranks 2 --n 100", "DRIFTLAB_MPIRUN=/nonexistent/mpirun");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("mpirun not found"), std::string::npos) << r.err;
}

TEST(AllreduceMpi, TimeoutKillsTheJob) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const auto r = run_driftlab("--ranks 2 --n 2^20 --runs 100000 --variant tree --timeout 2");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("did not finish within --timeout 2 s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace driftlab
