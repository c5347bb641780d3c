// gemm_chain against the literal fused multiply-add chain, bit for bit, on every instruction set
// this machine runs, with and without thread pools.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/thread_pool.h"

namespace driftlab::cpu {
namespace {

using detail::GemmIsa;

// The contract, written out literally (B's columns copied out first, only so that the inner
// loop walks memory in order).
void reference_chain(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C, std::size_t ldc,
                     std::size_t M, std::size_t N, std::size_t k_begin, std::size_t k_end) {
  std::vector<float> column(k_end);
  for (std::size_t j = 0; j < N; ++j) {
    for (std::size_t k = k_begin; k < k_end; ++k) column[k] = B[k * ldb + j];
    for (std::size_t i = 0; i < M; ++i) {
      float acc = +0.0f;
      for (std::size_t k = k_begin; k < k_end; ++k) acc = std::fma(A[i * lda + k], column[k], acc);
      C[i * ldc + j] = acc;
    }
  }
}

// Standard normal scaled by 2^e, e uniform in [lo_exp, hi_exp]; a few +0.0 and -0.0.
std::vector<float> random_matrix(std::size_t count, std::mt19937_64& rng, int lo_exp = -24, int hi_exp = 8) {
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> expo(lo_exp, hi_exp), pick(0, 99);
  std::vector<float> x(count);
  for (float& v : x) {
    const int p = pick(rng);
    v = p < 4 ? 0.0f : p < 8 ? -0.0f : std::ldexp(normal(rng), expo(rng));
  }
  return x;
}

// Garbage that a correct kernel never reads (C's old contents) or never writes (C's padding).
constexpr std::uint32_t kSentinelBits = 0x7fc12345u;  // a quiet NaN with a payload
float sentinel() {
  float f;
  std::memcpy(&f, &kSentinelBits, sizeof f);
  return f;
}

std::vector<GemmIsa> available_isas() {
  detail::force_gemm_isa(GemmIsa::avx512);
  const GemmIsa best = detail::gemm_isa();
  std::vector<GemmIsa> out;
  for (GemmIsa level : {GemmIsa::scalar, GemmIsa::avx2, GemmIsa::avx512})
    if (static_cast<int>(level) <= static_cast<int>(best)) out.push_back(level);
  return out;
}

// Restores the default cap when a test ends, passed or not.
struct IsaGuard {
  ~IsaGuard() { detail::force_gemm_isa(GemmIsa::avx512); }
};

struct Shape {
  std::size_t M, N, k_begin, k_end;
  std::size_t lda_pad = 0, ldb_pad = 0, ldc_pad = 0;
};

std::string describe(const Shape& s, GemmIsa isa, int threads) {
  return "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " k=[" + std::to_string(s.k_begin) + "," +
         std::to_string(s.k_end) + ") pads=" + std::to_string(s.lda_pad) + "/" + std::to_string(s.ldb_pad) + "/" +
         std::to_string(s.ldc_pad) + " isa=" + isa_name(isa) + " threads=" + std::to_string(threads);
}

// Runs gemm_chain on one shape for every ISA and pool and compares with the reference bitwise,
// including C's padding columns, which must keep the sentinel.  The scalar fallback (slow,
// above all under sanitizers) runs with the last pool only, and not at all with_scalar = false:
// the blocking and the threading are the same code for every ISA.
void check_shape(const Shape& s, const std::vector<ThreadPool*>& pools, std::mt19937_64& rng,
                 bool with_scalar = true) {
  const std::size_t K = std::max(s.k_begin, s.k_end);
  const std::size_t lda = K + s.lda_pad, ldb = s.N + s.ldb_pad, ldc = s.N + s.ldc_pad;
  const std::vector<float> A = random_matrix(s.M * lda, rng), B = random_matrix(K * ldb, rng);
  std::vector<float> want(s.M * ldc, sentinel());
  reference_chain(A.data(), lda, B.data(), ldb, want.data(), ldc, s.M, s.N, s.k_begin, s.k_end);
  IsaGuard guard;
  for (GemmIsa isa : available_isas()) {
    if (isa == GemmIsa::scalar && !with_scalar) continue;
    detail::force_gemm_isa(isa);
    ASSERT_EQ(detail::gemm_isa(), isa);
    for (std::size_t p = 0; p < pools.size(); ++p) {
      if (isa == GemmIsa::scalar && p + 1 != pools.size()) continue;
      ThreadPool* const pool = pools[p];
      std::vector<float> got(s.M * ldc, sentinel());
      gemm_chain(A.data(), lda, B.data(), ldb, got.data(), ldc, s.M, s.N, s.k_begin, s.k_end, pool);
      const int threads = pool ? pool->size() : 0;
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << describe(s, isa, threads);
    }
  }
}

class GemmPools {
 public:
  GemmPools() {
    for (int t = 1; t <= 4; ++t) owned_.push_back(std::make_unique<ThreadPool>(t));
    all_.push_back(nullptr);
    for (auto& p : owned_) all_.push_back(p.get());
  }
  const std::vector<ThreadPool*>& all() const { return all_; }
  ThreadPool* get(int threads) const { return owned_[static_cast<std::size_t>(threads - 1)].get(); }

 private:
  std::vector<std::unique_ptr<ThreadPool>> owned_;
  std::vector<ThreadPool*> all_;
};

TEST(Gemm, IsaNamesAndCap) {
  IsaGuard guard;
  EXPECT_STREQ(isa_name(GemmIsa::scalar), "scalar");
  EXPECT_STREQ(isa_name(GemmIsa::avx2), "avx2");
  EXPECT_STREQ(isa_name(GemmIsa::avx512), "avx512");
  detail::force_gemm_isa(GemmIsa::scalar);
  EXPECT_EQ(detail::gemm_isa(), GemmIsa::scalar);
  const std::vector<GemmIsa> isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(detail::gemm_isa(), isas.back());  // available_isas lifts the cap again
  std::printf("gemm ISA levels on this machine up to: %s\n", isa_name(isas.back()));
}

TEST(Gemm, EdgeShapesMatchTheChainBitwise) {
  const GemmPools pools;
  std::mt19937_64 rng(1);
  const std::vector<Shape> shapes = {
      {1, 1, 0, 1},       {1, 1, 0, 7},        {1, 37, 0, 19},     {29, 1, 0, 23},     {1, 1000, 0, 300},
      {300, 1, 0, 200},   {7, 9, 0, 1},        {64, 64, 0, 1},     {14, 32, 0, 256},   {15, 33, 0, 257},
      {13, 31, 0, 255},   {28, 64, 0, 512},    {6, 16, 0, 10},     {5, 15, 0, 10},     {17, 47, 3, 40},
      {33, 65, 100, 613}, {40, 50, 250, 260}, {3, 100, 0, 1000},  {100, 3, 500, 999},
      {31, 45, 5, 66, 3, 7, 11},               {70, 90, 0, 50, 1, 1, 1},                {45, 130, 17, 300, 64, 5, 33},
  };
  for (const Shape& s : shapes) check_shape(s, pools.all(), rng);
}

TEST(Gemm, EmptyChainIsPositiveZero) {
  const GemmPools pools;
  std::mt19937_64 rng(2);
  // k_end == k_begin (also k_begin > 0): the reference writes +0.0f inside the N columns and
  // leaves the padding alone; C's old contents are a NaN sentinel.
  for (const Shape& s : std::vector<Shape>{{5, 7, 0, 0}, {5, 7, 9, 9}, {300, 200, 4, 4, 1, 2, 3}, {1, 1, 3, 3}})
    check_shape(s, pools.all(), rng);
  // M == 0 or N == 0: nothing is written.
  std::vector<float> C(16, sentinel());
  const float a = 1.0f, b = 2.0f;
  gemm_chain(&a, 1, &b, 1, C.data(), 4, 0, 4, 0, 1, pools.get(2));
  gemm_chain(&a, 1, &b, 1, C.data(), 4, 4, 0, 0, 1, pools.get(2));
  for (float c : C) EXPECT_EQ(std::memcmp(&c, &kSentinelBits, sizeof c), 0);
}

TEST(Gemm, ZeroProductsGivePositiveZero) {
  // fma(-0 * x, +0) is +0 while the product alone is -0: the chain starts at +0 and must fma.
  const std::size_t M = 20, N = 40, K = 3;
  std::vector<float> A(M * K, -0.0f), B(K * N, 1.5f);
  std::vector<float> want(M * N), got(M * N, sentinel());
  reference_chain(A.data(), K, B.data(), N, want.data(), N, M, N, 0, K);
  IsaGuard guard;
  for (GemmIsa isa : available_isas()) {
    detail::force_gemm_isa(isa);
    gemm_chain(A.data(), K, B.data(), N, got.data(), N, M, N, 0, K, nullptr);
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << isa_name(isa);
    EXPECT_FALSE(std::signbit(got[0]));
  }
}

TEST(Gemm, SubnormalsAreNotFlushed) {
  // Factors near 2^-67: products and partial sums fall in the subnormal range (below 2^-126).
  const GemmPools pools;
  std::mt19937_64 rng(3);
  const std::size_t M = 37, N = 70, K = 90;
  const std::vector<float> A = random_matrix(M * K, rng, -70, -64), B = random_matrix(K * N, rng, -70, -64);
  std::vector<float> want(M * N);
  reference_chain(A.data(), K, B.data(), N, want.data(), N, M, N, 0, K);
  bool any_subnormal = false;
  for (float w : want) any_subnormal |= std::fpclassify(w) == FP_SUBNORMAL;
  EXPECT_TRUE(any_subnormal);
  IsaGuard guard;
  for (GemmIsa isa : available_isas()) {
    detail::force_gemm_isa(isa);
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), pools.get(3)}) {
      std::vector<float> got(M * N, sentinel());
      gemm_chain(A.data(), K, B.data(), N, got.data(), N, M, N, 0, K, pool);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << isa_name(isa);
    }
  }
}

TEST(Gemm, RandomShapesMatchTheChainBitwise) {
  const GemmPools pools;
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<std::size_t> dim(1, 120), kdim(0, 140), small(0, 3), pad(0, 19);
  for (int trial = 0; trial < 40; ++trial) {
    Shape s{dim(rng), dim(rng), 0, 0};
    s.k_begin = small(rng) == 0 ? kdim(rng) / 2 : 0;
    s.k_end = s.k_begin + kdim(rng);
    if (small(rng) == 0) {
      s.lda_pad = pad(rng);
      s.ldb_pad = pad(rng);
      s.ldc_pad = pad(rng);
    }
    check_shape(s, pools.all(), rng);
    if (HasFatalFailure()) return;
  }
}

TEST(Gemm, LargeShapeMatchesTheChainBitwise) {
  const GemmPools pools;
  std::mt19937_64 rng(5);
  // Vector kernels only: the scalar fallback would dominate the run time (above all under
  // sanitizers), and it takes every other shape, the next one included.
  check_shape({257, 1000, 0, 333}, {nullptr, pools.get(2), pools.get(3)}, rng, /*with_scalar=*/false);
  // Long k: several k blocks continued through C, and more than one packed column chunk of B.
  check_shape({5, 1100, 7, 2107, 1, 3, 5}, {pools.get(4)}, rng);
  // k longer than AVX2's longest k block (4096: two blocks of 2299 here, the second continued
  // through C) and N over two of its 16 MiB column chunks (912 columns at this K), edge rows and
  // columns included.
  check_shape({13, 1000, 3, 4600, 2, 0, 1}, {nullptr, pools.get(2)}, rng);
  // The same boundaries for AVX-512 (k blocks of up to 4096 from A packed once per call, every
  // 14-row panel k-major over all of K; 16 MiB column chunks, 864 columns at this K), with several
  // row panels and a partial one (31 rows), packed by one, two and three threads, and k_begin > 0
  // with a padded A, so a second k block starts inside each packed panel.
  check_shape({31, 1000, 5, 4700, 3, 0, 2}, {nullptr, pools.get(2), pools.get(3)}, rng, /*with_scalar=*/false);
}

TEST(Gemm, ConcurrentCallsInsidePoolTasks) {
  // Callers may run gemm_chain without a pool from inside their own pool's tasks (a row block
  // per task, as the atomic dense variant does): per-thread scratch, no shared state.
  const GemmPools pools;
  std::mt19937_64 rng(7);
  const std::size_t M = 90, N = 150, K = 300, kRows = 7;
  const std::vector<float> A = random_matrix(M * K, rng), B = random_matrix(K * N, rng);
  std::vector<float> want(M * N);
  reference_chain(A.data(), K, B.data(), N, want.data(), N, M, N, 0, K);
  IsaGuard guard;
  for (GemmIsa isa : available_isas()) {
    detail::force_gemm_isa(isa);
    std::vector<float> got(M * N, sentinel());
    pools.get(4)->parallel_for((M + kRows - 1) / kRows, [&](std::size_t t, int) {
      const std::size_t r0 = t * kRows, rows = std::min(kRows, M - r0);
      gemm_chain(A.data() + r0 * K, K, B.data(), N, got.data() + r0 * N, N, rows, N, 0, K, nullptr);
    });
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << isa_name(isa);
  }
}

TEST(Gemm, BatchInvariantRowByRow) {
  // Row r of a batch equals the same row computed alone (M = 1), bitwise, whatever the batch
  // size, the row's position, the pool or the ISA.
  const GemmPools pools;
  std::mt19937_64 rng(6);
  const std::size_t M = 61, N = 203, k_begin = 2, k_end = 301, lda = 310, ldb = N + 1;
  const std::vector<float> A = random_matrix(M * lda, rng), B = random_matrix(k_end * ldb, rng);
  IsaGuard guard;
  std::vector<float> first;
  for (GemmIsa isa : available_isas()) {
    detail::force_gemm_isa(isa);
    for (int threads : {1, 2, 4}) {
      std::vector<float> batch(M * N);
      gemm_chain(A.data(), lda, B.data(), ldb, batch.data(), N, M, N, k_begin, k_end, pools.get(threads));
      for (std::size_t r = 0; r < M; ++r) {
        std::vector<float> alone(N, sentinel());
        gemm_chain(A.data() + r * lda, lda, B.data(), ldb, alone.data(), N, 1, N, k_begin, k_end,
                   pools.get(threads));
        ASSERT_EQ(std::memcmp(alone.data(), batch.data() + r * N, N * sizeof(float)), 0)
            << "row " << r << " isa=" << isa_name(isa) << " threads=" << threads;
      }
      // A sub-batch starting mid-way gives the same rows again.
      std::vector<float> sub(17 * N);
      gemm_chain(A.data() + 23 * lda, lda, B.data(), ldb, sub.data(), N, 17, N, k_begin, k_end, pools.get(threads));
      ASSERT_EQ(std::memcmp(sub.data(), batch.data() + 23 * N, sub.size() * sizeof(float)), 0);
      // And every ISA and pool gives the bits of the first.
      if (first.empty()) first = batch;
      ASSERT_EQ(std::memcmp(first.data(), batch.data(), batch.size() * sizeof(float)), 0)
          << "isa=" << isa_name(isa) << " threads=" << threads;
    }
  }
}

TEST(Gemm, GemvPathMatchesTheChainBitwise) {
  // M <= kGemvMaxRows streams B unpacked, eight k per pass (then four, then one; scalar: four):
  // k counts that are not multiples of eight or four, k_begin offsets, column counts off the
  // vector widths, and wide N (several column chunks per thread) must all give the chain's bits
  // on every ISA and pool.
  const GemmPools pools;
  std::mt19937_64 rng(8);
  const std::vector<Shape> shapes = {
      {1, 1, 0, 5},          {1, 15, 0, 3},       {2, 17, 1, 10},        {3, 31, 0, 4},
      {4, 33, 2, 9},         {4, 16, 0, 1},       {1, 7000, 0, 37},      {4, 4100, 3, 70, 2, 9, 5},
      {kGemvMaxRows, 1031, 0, 257},               {kGemvMaxRows + 1, 1031, 0, 257},
  };
  for (const Shape& s : shapes) check_shape(s, pools.all(), rng);
}

TEST(Gemm, PackedBMatchesTheChainBitwise) {
  // B packed once gives the bits of the chain for any M (GEMV or blocked), any k range of it,
  // any pool, and also when the ISA in use is not the one it was packed for (it falls back).
  // Packed alone or by a pool, each time into the storage a packing of a NaN matrix left behind
  // (so a panel left unpacked would show).
  const GemmPools pools;
  std::mt19937_64 rng(9);
  const std::size_t K = 600, N = 203;
  const std::vector<float> B = random_matrix(K * N, rng);
  IsaGuard guard;
  for (GemmIsa pack_isa : available_isas())
  for (ThreadPool* pack_pool : {static_cast<ThreadPool*>(nullptr), pools.get(2)}) {
    detail::force_gemm_isa(pack_isa);
    {
      const std::vector<float> junk(K * N, sentinel());
      const PackedB scrap(junk.data(), N, K, N);
    }
    const PackedB packed(B.data(), N, K, N, pack_pool);
    ASSERT_EQ(packed.source(), B.data());
    ASSERT_EQ(packed.rows(), K);
    ASSERT_EQ(packed.cols(), N);
    for (GemmIsa isa : available_isas()) {
      detail::force_gemm_isa(isa);
      for (const std::size_t M : {std::size_t(1), std::size_t(4), std::size_t(5), std::size_t(37)})
        for (const auto& [k0, k1] : {std::pair<std::size_t, std::size_t>{0, K}, {7, 300}, {256, 600}, {5, 5}}) {
          const std::vector<float> A = random_matrix(M * K, rng);
          std::vector<float> want(M * N, sentinel());
          reference_chain(A.data(), K, B.data(), N, want.data(), N, M, N, k0, k1);
          for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), pools.get(3)}) {
            if (isa == GemmIsa::scalar && pool) continue;  // slow, and the same code
            std::vector<float> got(M * N, sentinel());
            gemm_chain(A.data(), K, packed, got.data(), N, M, k0, k1, pool);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                << "M=" << M << " k=[" << k0 << "," << k1 << ") packed for " << isa_name(pack_isa)
                << (pack_pool ? " by a pool" : "")
                << " run on " << isa_name(isa);
          }
        }
    }
  }
}

// gemm_chain_cols' contract: a range of whole panels [col_begin, col_end) within the packed matrix.
// Each way to break it is refused on its own (a misaligned start, an end past the matrix, a start
// after the end: std::invalid_argument, C untouched); an empty range is no work; k_end past the
// packed rows is std::out_of_range; a good range gives the chain's bits on its columns only.
TEST(Gemm, ChainColsRefusesEachBadRangeOnItsOwn) {
  std::mt19937_64 rng(12);
  const std::size_t K = 40, N = 70, M = 9;  // M > kGemvMaxRows: the packed path, not the fallback
  const std::vector<float> B = random_matrix(K * N, rng), A = random_matrix(M * K, rng);
  IsaGuard guard;
  for (GemmIsa isa : available_isas()) {
    detail::force_gemm_isa(isa);
    const PackedB packed(B.data(), N, K, N);
    const std::size_t nr = packed.panel_cols();
    ASSERT_GT(nr, 1u);
    ASSERT_LT(nr, N);
    std::vector<float> C(M * N, sentinel());
    const auto untouched = [&] {
      for (float c : C)
        if (std::memcmp(&c, &kSentinelBits, sizeof c) != 0) return false;
      return true;
    };
    const auto cols = [&](std::size_t b, std::size_t e, std::size_t k_end) {
      gemm_chain_cols(A.data(), K, packed, b, e, C.data(), N, M, 0, k_end, nullptr);
    };
    EXPECT_THROW(cols(1, nr, K), std::invalid_argument) << "a misaligned start, " << isa_name(isa);
    EXPECT_THROW(cols(0, N + 1, K), std::invalid_argument) << "an end past the matrix, " << isa_name(isa);
    EXPECT_THROW(cols(nr, 0, K), std::invalid_argument) << "a start after the end, " << isa_name(isa);
    EXPECT_NO_THROW(cols(nr, nr, K)) << "an empty range, " << isa_name(isa);
    EXPECT_TRUE(untouched()) << isa_name(isa);
    EXPECT_THROW(cols(0, N, K + 1), std::out_of_range) << isa_name(isa);
    std::vector<float> want(M * N, sentinel());
    reference_chain(A.data(), K, B.data() + nr, N, want.data() + nr, N, M, N - nr, 0, K);
    gemm_chain_cols(A.data(), K, packed, nr, N, C.data() + nr, N, M, 0, K, nullptr);
    EXPECT_EQ(std::memcmp(C.data(), want.data(), C.size() * sizeof(float)), 0) << isa_name(isa);
  }
}

}  // namespace
}  // namespace driftlab::cpu
