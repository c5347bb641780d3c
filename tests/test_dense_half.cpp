// Dense layers with bf16/f16 storage and float32 accumulation (kernels/cpu/dense_half.h): every
// variant is bitwise the float32 variant over the widened inputs, then narrowed; invariant is
// batch-invariant in 16 bits too; thread counts and ISA levels change no bit; every stored output
// is the nearest 16-bit value by an independent reference (double arithmetic, not half.h); the
// 16-bit model path (CPU backend) follows the layer-by-layer definition; and on a GPU (skipped
// without one) tree and invariant give the CPU's bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/dense_half.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"
#include "host/backends/gpu.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "tests/test_helpers.h"

namespace driftlab {
namespace {

using dense::Activation;
using cpu::detail::GemmIsa;

// --- An independent decoding of the 16-bit formats, in double (no half.h) ---------------------
// bf16: 1 sign, 8 exponent (bias 127), 7 fraction bits; f16: 1, 5 (bias 15), 10.
double decode(std::uint16_t h, int exp_bits, int frac_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int e = (h >> frac_bits) & ((1 << exp_bits) - 1);
  const int m = h & ((1 << frac_bits) - 1);
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  if (e == (1 << exp_bits) - 1) return m ? NAN : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(static_cast<double>(m), 1 - bias - frac_bits);
  return sign * std::ldexp(static_cast<double>(m + (1 << frac_bits)), e - bias - frac_bits);
}

// The 16-bit pattern nearest to v by distance, ties to the even pattern: a binary search over the
// positive finite patterns (decode is monotone in them), then the closer of the two neighbours.
// Only finite v inside the finite range are asked for here.
std::uint16_t nearest(float v, int exp_bits, int frac_bits) {
  const double a = std::fabs(static_cast<double>(v));
  const std::uint16_t max_finite = static_cast<std::uint16_t>(((((1u << exp_bits) - 1u) << frac_bits)) - 1u);
  std::uint32_t lo = 0, hi = max_finite;  // decode(lo) <= a; find the largest such
  while (lo < hi) {
    const std::uint32_t mid = (lo + hi + 1) / 2;
    if (decode(static_cast<std::uint16_t>(mid), exp_bits, frac_bits) <= a) lo = mid;
    else hi = mid - 1;
  }
  std::uint32_t best = lo;
  if (lo < max_finite) {
    const double below = a - decode(static_cast<std::uint16_t>(lo), exp_bits, frac_bits);
    const double above = decode(static_cast<std::uint16_t>(lo + 1), exp_bits, frac_bits) - a;
    if (above < below || (above == below && (lo & 1u))) best = lo + 1;
  }
  return static_cast<std::uint16_t>(best | (std::signbit(v) ? 0x8000u : 0u));
}

template <class S> struct Format;
template <> struct Format<bf16> {
  static constexpr int exp_bits = 8, frac_bits = 7;
  static constexpr const char* name = "bf16";
};
template <> struct Format<f16> {
  static constexpr int exp_bits = 5, frac_bits = 10;
  static constexpr const char* name = "f16";
};

struct Problem16 {
  std::size_t B, K, N;
  std::vector<std::uint16_t> x, W, b;
};

// Normal-ish values rounded to S (half.h's narrowing: it is the input, not what is checked).
template <class S> Problem16 make_problem(std::size_t B, std::size_t K, std::size_t N, std::uint64_t seed) {
  Problem16 p{B, K, N, std::vector<std::uint16_t>(B * K), std::vector<std::uint16_t>(K * N), std::vector<std::uint16_t>(N)};
  SplitMix64 g(seed);
  auto normal = [&] {
    const double u1 = 1.0 - g.uniform01(), u2 = g.uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  for (auto& v : p.x) v = Narrow<S>::from(static_cast<float>(normal())).bits;
  for (auto& v : p.W) v = Narrow<S>::from(static_cast<float>(normal() / std::sqrt(static_cast<double>(K)))).bits;
  for (auto& v : p.b) v = Narrow<S>::from(static_cast<float>(0.1 * normal())).bits;
  return p;
}

template <class S> std::vector<float> widened(const std::vector<std::uint16_t>& h) {
  std::vector<float> f(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) f[i] = widen(S{h[i]});
  return f;
}

bool same(const void* a, const void* b, std::size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

struct Out16 {
  std::vector<float> y32;
  std::vector<std::uint16_t> y;
};

template <class S>
Out16 run16(DenseVariant v, const Problem16& p, Activation act, const cpu::DenseContext& ctx,
            const cpu::WidenedW* w = nullptr) {
  Out16 o{std::vector<float>(p.B * p.N), std::vector<std::uint16_t>(p.B * p.N)};
  cpu::dense_half<S>(v, p.x.data(), p.W.data(), p.b.data(), o.y32.data(), o.y.data(), p.B, p.K, p.N, act, ctx, w);
  return o;
}

// The float32 variant on the widened inputs: what dense_half must equal before its rounding.
template <class S> std::vector<float> run32(DenseVariant v, const Problem16& p, Activation act, const cpu::DenseContext& ctx) {
  const std::vector<float> x = widened<S>(p.x), W = widened<S>(p.W), b = widened<S>(p.b);
  std::vector<float> y(p.B * p.N);
  cpu::dense(v, x.data(), W.data(), b.data(), y.data(), p.B, p.K, p.N, act, ctx);
  return y;
}

std::vector<GemmIsa> isas() {
  cpu::detail::force_gemm_isa(GemmIsa::avx512);
  const GemmIsa best = cpu::detail::gemm_isa();
  std::vector<GemmIsa> out;
  for (GemmIsa level : {GemmIsa::scalar, GemmIsa::avx2, GemmIsa::avx512})
    if (static_cast<int>(level) <= static_cast<int>(best)) out.push_back(level);
  return out;
}
struct IsaGuard {
  ~IsaGuard() { cpu::detail::force_gemm_isa(GemmIsa::avx512); }
};

cpu::DenseContext on(cpu::ThreadPool* pool) {
  cpu::DenseContext c;
  c.pool = pool;
  return c;
}

template <class S> class DenseHalf : public ::testing::Test {};
using Storages = ::testing::Types<bf16, f16>;
TYPED_TEST_SUITE(DenseHalf, Storages);

// Shapes through the GEMV path (B <= 4), the packed path, edges of the panels and K slices.
const std::size_t kShapes[][3] = {{1, 1, 1}, {1, 31, 33}, {3, 64, 17}, {4, 100, 40}, {5, 33, 31}, {17, 257, 65}, {64, 128, 96}};

TYPED_TEST(DenseHalf, EveryVariantIsTheFloat32VariantOnWidenedInputsThenNarrowed) {
  using S = TypeParam;
  cpu::ThreadPool pool(3);
  std::uint64_t seed = 1;
  for (const auto& sh : kShapes)
    for (Activation act : {Activation::linear, Activation::relu}) {
      const Problem16 p = make_problem<S>(sh[0], sh[1], sh[2], seed++);
      cpu::DenseContext ctx = on(&pool);
      ctx.shuffle_seed = 7;  // atomic under a seeded schedule is reproducible: comparable bitwise
      cpu::WidenedW w;
      cpu::widen_weights<S>(p.W.data(), p.K, p.N, w);
      for (DenseVariant v : {DenseVariant::invariant, DenseVariant::tree, DenseVariant::atomic}) {
        const std::string what = std::string(Format<S>::name) + " " + info(v).name + " B=" + std::to_string(p.B) +
                                 " K=" + std::to_string(p.K) + " N=" + std::to_string(p.N);
        const std::vector<float> want32 = run32<S>(v, p, act, ctx);
        for (const cpu::WidenedW* ww : {static_cast<const cpu::WidenedW*>(nullptr), static_cast<const cpu::WidenedW*>(&w)}) {
          const Out16 got = run16<S>(v, p, act, ctx, ww);
          ASSERT_TRUE(same(got.y32.data(), want32.data(), want32.size() * 4)) << what;
          for (std::size_t e = 0; e < want32.size(); ++e)
            ASSERT_EQ(got.y[e], Narrow<S>::from(want32[e]).bits) << what << " element " << e;
        }
      }
    }
}

TYPED_TEST(DenseHalf, StoredOutputsAreTheNearest16BitValuesByAnIndependentReference) {
  using S = TypeParam;
  std::size_t checked = 0, inexact = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const Problem16 p = make_problem<S>(9, 300, 70, 100 + seed);
    for (DenseVariant v : {DenseVariant::invariant, DenseVariant::tree}) {
      const Out16 o = run16<S>(v, p, Activation::linear, {});
      for (std::size_t e = 0; e < o.y.size(); ++e) {
        ASSERT_TRUE(std::isfinite(o.y32[e]));
        ASSERT_EQ(o.y[e], nearest(o.y32[e], Format<S>::exp_bits, Format<S>::frac_bits))
            << Format<S>::name << " " << info(v).name << " element " << e << " float32 " << o.y32[e];
        ++checked;
        inexact += decode(o.y[e], Format<S>::exp_bits, Format<S>::frac_bits) != static_cast<double>(o.y32[e]);
      }
    }
  }
  // The check means something only if the outputs needed rounding.
  EXPECT_GT(inexact, checked / 2);
}

TEST(DenseHalfRounding, ReferenceAgreesOnTiesAndSubnormals) {
  // Constructed cases for the reference itself and half.h: exact ties go to the even pattern,
  // f16 subnormals are kept.
  const float tie_bf16 = std::bit_cast<float>(0x3f808000u);  // halfway between 0x3f80 and 0x3f81
  EXPECT_EQ(nearest(tie_bf16, 8, 7), 0x3f80u);
  EXPECT_EQ(f32_to_bf16(tie_bf16), 0x3f80u);
  const float tie_odd = std::bit_cast<float>(0x3f818000u);  // halfway between 0x3f81 and 0x3f82
  EXPECT_EQ(nearest(tie_odd, 8, 7), 0x3f82u);
  EXPECT_EQ(f32_to_bf16(tie_odd), 0x3f82u);
  const float sub = std::ldexp(3.0f, -24);  // 3 f16 subnormal steps
  EXPECT_EQ(nearest(sub, 5, 10), 3u);
  EXPECT_EQ(f32_to_f16(sub), 3u);
  const float neg_tie = -std::ldexp(2.5f, -24);  // between subnormals 2 and 3: to 2 (even)
  EXPECT_EQ(nearest(neg_tie, 5, 10), 0x8002u);
  EXPECT_EQ(f32_to_f16(neg_tie), 0x8002u);
}

TYPED_TEST(DenseHalf, InvariantIsBatchInvariantAndTreeDependsOnTheBatchOnlyThroughS) {
  using S = TypeParam;
  const std::size_t K = 512, N = 48;
  const Problem16 big = make_problem<S>(64, K, N, 9);
  cpu::ThreadPool pool(2);
  cpu::WidenedW w;
  cpu::widen_weights<S>(big.W.data(), K, N, w);
  const Out16 all = run16<S>(DenseVariant::invariant, big, Activation::relu, on(&pool), &w);
  for (std::size_t B : {1, 2, 4, 5, 7, 33, 63}) {
    for (std::size_t start : {std::size_t(0), 64 - B}) {
      Problem16 part{B, K, N, std::vector<std::uint16_t>(big.x.begin() + start * K, big.x.begin() + (start + B) * K), big.W,
                     big.b};
      cpu::WidenedW wp;  // the part's own copy of W
      cpu::widen_weights<S>(part.W.data(), K, N, wp);
      const Out16 o = run16<S>(DenseVariant::invariant, part, Activation::relu, on(&pool), &wp);
      ASSERT_TRUE(same(o.y.data(), all.y.data() + start * N, B * N * 2)) << "B=" << B << " start=" << start;
      ASSERT_TRUE(same(o.y32.data(), all.y32.data() + start * N, B * N * 4)) << "B=" << B << " start=" << start;
    }
  }
  // tree at batch 1 uses more K slices than at 64 (dense_order.h's split_k): equal to the float32
  // tree with the same S, whatever the batch.
  Problem16 one{1, K, N, std::vector<std::uint16_t>(big.x.begin(), big.x.begin() + K), big.W, big.b};
  ASSERT_NE(dense::split_k(1, K, N), dense::split_k(64, K, N));
  const Out16 t1 = run16<S>(DenseVariant::tree, one, Activation::relu, on(&pool));
  const std::vector<float> t1_32 = run32<S>(DenseVariant::tree, one, Activation::relu, on(&pool));
  EXPECT_TRUE(same(t1.y32.data(), t1_32.data(), N * 4));
}

TYPED_TEST(DenseHalf, ThreadCountsAndIsaLevelsChangeNoBit) {
  using S = TypeParam;
  IsaGuard guard;
  const Problem16 p = make_problem<S>(37, 300, 77, 21);
  std::vector<std::unique_ptr<cpu::ThreadPool>> pools;
  for (int t : {1, 2, 4}) pools.push_back(std::make_unique<cpu::ThreadPool>(t));
  for (DenseVariant v : {DenseVariant::invariant, DenseVariant::tree}) {
    std::optional<Out16> ref;
    for (GemmIsa isa : isas()) {
      cpu::detail::force_gemm_isa(isa);
      for (const auto& pool : pools) {
        for (cpu::ThreadPool* pp : {static_cast<cpu::ThreadPool*>(nullptr), pool.get()}) {
          cpu::WidenedW w;  // packed for the ISA in force
          cpu::widen_weights<S>(p.W.data(), p.K, p.N, w);
          const Out16 o = run16<S>(v, p, Activation::linear, on(pp), &w);
          if (!ref) ref = o;
          ASSERT_TRUE(same(o.y.data(), ref->y.data(), o.y.size() * 2))
              << info(v).name << " isa " << cpu::isa_name(isa) << " threads " << (pp ? pp->size() : 0);
          ASSERT_TRUE(same(o.y32.data(), ref->y32.data(), o.y32.size() * 4));
        }
      }
    }
  }
}

TEST(DenseHalf, RefusesAPackedFloat32WAndAWidenedWOfAnotherMatrix) {
  const Problem16 p = make_problem<bf16>(8, 16, 16, 3);
  const std::vector<float> W32 = widened<bf16>(p.W);
  const cpu::PackedB packed(W32.data(), 16, 16, 16);
  cpu::DenseContext ctx;
  ctx.packed_W = &packed;
  EXPECT_THROW(run16<bf16>(DenseVariant::invariant, p, Activation::linear, ctx), std::invalid_argument);
  const Problem16 q = make_problem<bf16>(8, 16, 16, 4);
  cpu::WidenedW w;
  cpu::widen_weights<bf16>(q.W.data(), 16, 16, w);
  EXPECT_THROW(run16<bf16>(DenseVariant::invariant, p, Activation::linear, {}, &w), std::invalid_argument);
}

// --- The 16-bit model (predict --dtype) on the CPU backend -------------------------------------

// The model's definition, written out with dense_half layer by layer: x rounded, each layer's
// float32 output rounded to S (after dropout), the last one too.
template <class S>
std::vector<std::uint16_t> model_by_the_book(const Model& m, const std::vector<float>& x, std::size_t B,
                                             DenseVariant v, std::vector<float>* last32) {
  std::vector<std::uint16_t> in(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) in[e] = Narrow<S>::from(x[e]).bits;
  for (std::size_t li = 0; li < m.layers.size(); ++li) {
    const Layer& l = m.layers[li];
    std::vector<float> y32(B * l.N);
    std::vector<std::uint16_t> y(B * l.N);
    cpu::dense_half<S>(v, in.data(), l.W16.data(), l.b16.data(), y32.data(), y.data(), B, l.K, l.N, l.act, {});
    if (last32) *last32 = y32;
    in.swap(y);
  }
  return in;
}

TYPED_TEST(DenseHalf, ModelPathIsTheLayerByLayerDefinitionAndBatchInvariant) {
  using S = TypeParam;
  const DType d = std::is_same_v<S, bf16> ? DType::bf16 : DType::f16;
  Model m = make_model({40, 96, 64, 10}, 0.0f, 5);
  const Model f32 = m;
  round_model(m, d);
  ASSERT_EQ(m.dtype, d);
  for (std::size_t li = 0; li < m.layers.size(); ++li)
    for (std::size_t e = 0; e < m.layers[li].W.size(); ++e) {
      ASSERT_EQ(m.layers[li].W16[e], Narrow<S>::from(f32.layers[li].W[e]).bits);
      ASSERT_EQ(std::bit_cast<std::uint32_t>(m.layers[li].W[e]), std::bit_cast<std::uint32_t>(widen(S{m.layers[li].W16[e]})));
    }
  const std::size_t B = 24;
  std::vector<float> x(B * m.inputs());
  SplitMix64 g(11);
  for (auto& v : x) v = static_cast<float>(g.uniform01());
  auto backend = make_cpu_model_backend(3);
  backend->set_model(m);
  for (DenseVariant v : {DenseVariant::invariant, DenseVariant::tree}) {
    std::vector<float> last32, out(B * m.outputs()), pre(B * m.outputs());
    const std::vector<std::uint16_t> want = model_by_the_book<S>(m, x, B, v, &last32);
    PredictCall c{v, false, 0, 0, 0, std::nullopt};
    c.pre_round = pre.data();
    backend->predict(c, x.data(), B, out.data());
    for (std::size_t e = 0; e < want.size(); ++e)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[e]), std::bit_cast<std::uint32_t>(widen(S{want[e]}))) << e;
    ASSERT_TRUE(same(pre.data(), last32.data(), pre.size() * 4));
    // The stages end with round, bitwise predict's output; bias_act is the pre-rounding output.
    std::vector<LayerStages> stages;
    std::vector<float> out2(out.size());
    backend->predict_stages({v, false, 0, 0, 0, std::nullopt}, x.data(), B, out2.data(), stages);
    ASSERT_TRUE(same(out2.data(), out.data(), out.size() * 4));
    ASSERT_EQ(stages.back().back().stage, TraceStage::round);
    ASSERT_TRUE(same(stages.back().back().values.data(), out.data(), out.size() * 4));
    ASSERT_EQ(stages.back()[1].stage, TraceStage::bias_act);
    ASSERT_TRUE(same(stages.back()[1].values.data(), pre.data(), pre.size() * 4));
  }
  // invariant: row 5 alone has the bits it has inside the batch of 24.
  std::vector<float> all(B * m.outputs()), alone(m.outputs());
  backend->predict({DenseVariant::invariant, false, 0, 0, 0, std::nullopt}, x.data(), B, all.data());
  backend->predict({DenseVariant::invariant, false, 0, 0, 0, std::nullopt}, x.data() + 5 * m.inputs(), 1, alone.data());
  EXPECT_TRUE(same(alone.data(), all.data() + 5 * m.outputs(), alone.size() * 4));
}

TEST(DenseHalf, UlpDistanceIn16BitUnits) {
  const float one = 1.0f, next_bf16 = bf16_to_f32(0x3f81), next_f16 = f16_to_f32(0x3c01);
  EXPECT_EQ(ulp_distance_bf16(one, next_bf16), 1u);
  EXPECT_EQ(ulp_distance(one, next_bf16), 65536u);
  EXPECT_EQ(ulp_distance_f16(one, next_f16), 1u);
  EXPECT_EQ(ulp_distance_bf16(-bf16_to_f32(0x0001), bf16_to_f32(0x0001)), 2u);  // across zero
  EXPECT_EQ(ulp_distance_f16(f16_to_f32(0x0001), f16_to_f32(0x0400)), 0x3ffu);  // subnormals up to the smallest normal
  EXPECT_EQ(ulp_distance_bf16(NAN, 1.0f), kUnorderedUlp);
}

// --- On a GPU: tree and invariant in 16 bits give the CPU twin's bits ---------------------------
TYPED_TEST(DenseHalf, CudaTreeAndInvariantMatchTheCpuBitwise) {
  using S = TypeParam;
  if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  const DType d = std::is_same_v<S, bf16> ? DType::bf16 : DType::f16;
  // The first model takes the 128 x 128 tiles (K, N not multiples of 8); the second the 16-bit
  // small-batch kernel at B <= 64, and at B = 100 where the tiles would fill few SMs (dense_order.h's
  // skinny::use16 and rows_fit; slices of 8 in tree at B = 1);
  // the third's last layer (N = 10) too, with W copied by 4 bytes (skinny::vec_w16 false).
  for (const std::vector<std::size_t>& dims : {std::vector<std::size_t>{300, 257, 33}, std::vector<std::size_t>{256, 64, 40},
                                              std::vector<std::size_t>{256, 64, 10}}) {
    Model m = make_model(dims, 0.0f, 8);
    round_model(m, d);
    auto cpu = make_cpu_model_backend(2);
    auto gpu = make_cuda_model_backend();
    cpu->set_model(m);
    gpu->set_model(m);
    for (std::size_t B : {1, 5, 64, 100, 129}) {
      std::vector<float> x(B * m.inputs());
      SplitMix64 g(B);
      for (auto& v : x) v = static_cast<float>(g.uniform01() - 0.5);
      for (DenseVariant v : {DenseVariant::invariant, DenseVariant::tree}) {
        std::vector<float> yc(B * m.outputs()), yg(yc.size()), pc(yc.size()), pg(yc.size());
        PredictCall c{v, false, 0, 0, 0, std::nullopt};
        c.pre_round = pc.data();
        cpu->predict(c, x.data(), B, yc.data());
        c.pre_round = pg.data();
        gpu->predict(c, x.data(), B, yg.data());
        ASSERT_TRUE(same(yc.data(), yg.data(), yc.size() * 4)) << info(v).name << " B=" << B << " K=" << dims[0];
        ASSERT_TRUE(same(pc.data(), pg.data(), pc.size() * 4)) << info(v).name << " B=" << B;
      }
      // cublasGemmEx with 16-bit inputs runs (its order is cuBLAS's: near, not bitwise).
      std::vector<float> yb(B * m.outputs()), yi(yb.size());
      gpu->predict({DenseVariant::cublas, false, 0, 0, 0, std::nullopt}, x.data(), B, yb.data());
      gpu->predict({DenseVariant::invariant, false, 0, 0, 0, std::nullopt}, x.data(), B, yi.data());
      for (std::size_t e = 0; e < yb.size(); ++e)
        EXPECT_LE(d == DType::bf16 ? ulp_distance_bf16(yb[e], yi[e]) : ulp_distance_f16(yb[e], yi[e]), 64u) << e;
    }
  }
}

// --- invariant_tc (tensor cores; optional in issue 18, measured only) ------------------------------
namespace tc = dense::tc;

// The tile's copies fill every slot of both tiles once and stay inside them; the padded rows put
// the 8 rows of each ldmatrix phase (16 bytes a row) in 8 different groups of 4 banks, and every
// row an ldmatrix reads starts 16-byte aligned.
TEST(DenseTc, TileCopiesAndSharedLayoutAreSound) {
  std::vector<int> a_hits(tc::kBM * tc::kBK), b_hits(tc::kBK * tc::kBN);
  for (int e = 0; e < tc::kCopies * tc::kThreads; ++e) {
    int r, c, kk, cb;
    tc::a_copy(e, r, c);
    tc::b_copy(e, kk, cb);
    ASSERT_TRUE(r >= 0 && r < tc::kBM && c >= 0 && c + 8 <= tc::kBK && c % 8 == 0) << e;
    ASSERT_TRUE(kk >= 0 && kk < tc::kBK && cb >= 0 && cb + 8 <= tc::kBN && cb % 8 == 0) << e;
    for (int q = 0; q < 8; ++q) {
      ++a_hits[r * tc::kBK + c + q];
      ++b_hits[kk * tc::kBN + cb + q];
    }
  }
  EXPECT_EQ(std::count(a_hits.begin(), a_hits.end(), 1), static_cast<long>(a_hits.size()));
  EXPECT_EQ(std::count(b_hits.begin(), b_hits.end(), 1), static_cast<long>(b_hits.size()));
  EXPECT_EQ(tc::kLdA * 2 % 16, 0);  // rows (and so every 8-value ldmatrix row) 16-byte aligned
  EXPECT_EQ(tc::kLdB * 2 % 16, 0);
  EXPECT_EQ(tc::kStages * tc::kBM * tc::kLdA * 2 % 128, 0);  // B's stages start aligned after A's
  for (const int pitch : {tc::kLdA * 2, tc::kLdB * 2}) {
    std::vector<int> quads;
    for (int row = 0; row < 8; ++row) quads.push_back((row * pitch / 16) % 8);  // 16-byte bank group of the row
    std::sort(quads.begin(), quads.end());
    EXPECT_EQ(std::unique(quads.begin(), quads.end()) - quads.begin(), 8) << "pitch " << pitch << " bytes: bank conflicts";
  }
  EXPECT_LE(2 * tc::kSmemBytes, 227u * 1024u);  // two blocks an SM on sm_90
  // The kernel carves As and Bs at kSmemA and kSmemB of kSmemBytes: its stages of A and of B,
  // 128-byte aligned (cp.async 16 bytes, ldmatrix rows of 16), apart and inside.
  EXPECT_EQ(testing::layout_fault({{"A stages", tc::kSmemA, std::size_t{tc::kStages} * tc::kBM * tc::kLdA * 2, 128},
                                   {"B stages", tc::kSmemB, std::size_t{tc::kStages} * tc::kBK * tc::kLdB * 2, 128}},
                                  tc::kSmemBytes),
            "");
  alignas(16) static const std::uint16_t p[16] = {};
  EXPECT_TRUE(tc::supports(1, 8, 8, p, p));
  EXPECT_TRUE(tc::supports(4096, 4096, 4096, p, p));
  EXPECT_FALSE(tc::supports(0, 8, 8, p, p));
  EXPECT_FALSE(tc::supports(1, 10, 8, p, p));  // K % 8
  EXPECT_FALSE(tc::supports(1, 8, 12, p, p));  // N % 8
  EXPECT_FALSE(tc::supports(1, 8, 8, p + 1, p));
  EXPECT_FALSE(tc::supports(1, 8, 8, p, p + 4));
  EXPECT_FALSE(tc::supports(1, 8, 8, nullptr, p));
}

// The warp's fragments replayed by the PTX ISA's layouts (ldmatrix .x4 and .x4.trans; mma.m16n8k16
// .row.col): lanes give the row addresses tc::ldsm_a / ldsm_b say, the kernel's register choices are
// followed, and the accumulators read back through tc::acc_at must be the tile's product.  Small
// integers: every order gives the exact sum, so only the layout is tested.
namespace tcreplay {
using Regs = std::array<std::array<std::array<int, 2>, 4>, 32>;  // [lane][register][low, high half]
// ldmatrix .x4: matrix m's 8 rows come from lanes 8m .. 8m+7 (each lane one row address, 8 values);
// lane t receives, of matrix m, row t / 4, values 2 (t % 4) and + 1; with .trans, the transposed
// matrix's: stored rows 2 (t % 4) and + 1, column t / 4.
Regs ldsm(const std::array<const int*, 32>& rows, bool trans) {
  Regs r{};
  for (int t = 0; t < 32; ++t)
    for (int m = 0; m < 4; ++m)
      for (int h = 0; h < 2; ++h)
        r[t][m][h] = trans ? rows[8 * m + 2 * (t % 4) + h][t / 4] : rows[8 * m + t / 4][2 * (t % 4) + h];
  return r;
}
// mma.m16n8k16 row.col: lane t (g = t / 4, q = t % 4) holds a0 = A[g][2q, 2q+1], a1 = A[g+8][..],
// a2 = A[g][2q+8, ..], a3 = A[g+8][2q+8, ..]; b0 = B[2q, 2q+1][g], b1 = B[2q+8, ..][g];
// c0, c1 = C[g][2q, 2q+1], c2, c3 = C[g+8][..].
void mma(std::array<std::array<long, 4>, 32>& c, const Regs& a, const Regs& b, int b0i, int b1i) {
  int A[16][16], B[16][8];
  for (int t = 0; t < 32; ++t) {
    const int g = t / 4, q = t % 4;
    for (int h = 0; h < 2; ++h) {
      A[g][2 * q + h] = a[t][0][h];
      A[g + 8][2 * q + h] = a[t][1][h];
      A[g][2 * q + 8 + h] = a[t][2][h];
      A[g + 8][2 * q + 8 + h] = a[t][3][h];
      B[2 * q + h][g] = b[t][b0i][h];
      B[2 * q + 8 + h][g] = b[t][b1i][h];
    }
  }
  for (int t = 0; t < 32; ++t)
    for (int reg = 0; reg < 4; ++reg) {
      const int row = t / 4 + 8 * (reg / 2), col = 2 * (t % 4) + reg % 2;
      for (int k = 0; k < 16; ++k) c[t][reg] += static_cast<long>(A[row][k]) * B[k][col];
    }
}
}  // namespace tcreplay

TEST(DenseTc, WarpFragmentsByThePtxLayoutsGiveTheTileProduct) {
  // one stage, small integers at the kernel's padded pitches
  std::vector<int> As(tc::kBM * tc::kLdA), Bs(tc::kBK * tc::kLdB);
  SplitMix64 g(77);
  for (auto& v : As) v = static_cast<int>(g.next() % 7) - 3;
  for (auto& v : Bs) v = static_cast<int>(g.next() % 7) - 3;
  std::vector<int> hits(tc::kBM * tc::kBN);
  for (int warp = 0; warp < tc::kWarps; ++warp) {
    const int wm = warp / tc::kWarpsN, wn = warp % tc::kWarpsN;
    std::array<std::array<std::array<long, 4>, 32>, tc::kTilesM * tc::kTilesN> acc{};
    for (int kk = 0; kk < tc::kBK; kk += 16) {
      std::array<tcreplay::Regs, tc::kTilesM> fa;
      std::array<tcreplay::Regs, tc::kTilesN / 2> fb;
      for (int i = 0; i < tc::kTilesM; ++i) {
        std::array<const int*, 32> rows;
        for (int lane = 0; lane < 32; ++lane) {
          int ar, ak;
          tc::ldsm_a(lane, ar, ak);
          rows[lane] = &As[(wm * tc::kWarpM + ar + i * 16) * tc::kLdA + ak + kk];
        }
        fa[i] = tcreplay::ldsm(rows, false);
      }
      for (int j2 = 0; j2 < tc::kTilesN / 2; ++j2) {
        std::array<const int*, 32> rows;
        for (int lane = 0; lane < 32; ++lane) {
          int bk, bn;
          tc::ldsm_b(lane, bk, bn);
          rows[lane] = &Bs[(bk + kk) * tc::kLdB + wn * tc::kWarpN + bn + j2 * 16];
        }
        fb[j2] = tcreplay::ldsm(rows, true);
      }
      for (int i = 0; i < tc::kTilesM; ++i)
        for (int j = 0; j < tc::kTilesN; ++j)
          tcreplay::mma(acc[i * tc::kTilesN + j], fa[i], fb[j / 2], 2 * (j % 2), 2 * (j % 2) + 1);
    }
    for (int i = 0; i < tc::kTilesM; ++i)
      for (int j = 0; j < tc::kTilesN; ++j)
        for (int lane = 0; lane < 32; ++lane)
          for (int c = 0; c < 4; ++c) {
            int r, n;
            tc::acc_at(lane, c, r, n);
            const int row = wm * tc::kWarpM + i * 16 + r, col = wn * tc::kWarpN + j * 8 + n;
            long want = 0;
            for (int k = 0; k < tc::kBK; ++k) want += static_cast<long>(As[row * tc::kLdA + k]) * Bs[k * tc::kLdB + col];
            ASSERT_EQ(acc[i * tc::kTilesN + j][lane][c], want) << "warp " << warp << " tile " << i << "," << j << " lane " << lane;
            ++hits[row * tc::kBN + col];
          }
  }
  EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), static_cast<long>(hits.size()));  // every output of the block once
}

TEST(DenseTc, RefusesABadShapeBeforeAnyGpuWork) {
  const std::vector<std::uint16_t> x(10), W(100), b(10);
  try {
    dense_invariant_tc(DType::bf16, x, W, b, 1, 10, 10, false);
    FAIL() << "K = 10 was taken";
  } catch (const BackendError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(built_with_cuda() ? "refused shape" : "without CUDA"), std::string::npos) << what;
  }
  EXPECT_THROW(dense_invariant_tc(DType::f32, x, W, b, 1, 10, 10, false), BackendError);
  EXPECT_THROW(dense_invariant_tc(DType::bf16, x, W, b, 2, 8, 8, false), BackendError);  // sizes disagree
}

// On a GPU: the same bits run to run and at every batch size (row i of a batch of B is row i of the
// batch of 300), for bf16 and f16; near the float64 product (each of the two roundings' worth of
// error per term, generously); relu is max(linear, 0).  K = 520 ends in a short k tile of 8, N = 200
// in a short column block of 72.
TYPED_TEST(DenseHalf, CudaInvariantTcIsBatchInvariantAndNearTheProduct) {
  using S = TypeParam;
  if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  const DType d = std::is_same_v<S, bf16> ? DType::bf16 : DType::f16;
  const std::size_t Bmax = 300, K = 520, N = 200;
  SplitMix64 g(5150);
  auto bits = [&](std::size_t n) {
    std::vector<std::uint16_t> v(n);
    for (auto& e : v) e = Narrow<S>::from(static_cast<float>(g.uniform01() * 2.0 - 1.0)).bits;
    return v;
  };
  const std::vector<std::uint16_t> x = bits(Bmax * K), W = bits(K * N), b = bits(N);
  const std::vector<float> y = dense_invariant_tc(d, x, W, b, Bmax, K, N, false);
  ASSERT_TRUE(same(y.data(), dense_invariant_tc(d, x, W, b, Bmax, K, N, false).data(), y.size() * 4)) << "run to run";
  for (const std::size_t B : {1, 7, 128, 129, 257}) {
    const std::vector<std::uint16_t> xb(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(B * K));
    const std::vector<float> yb = dense_invariant_tc(d, xb, W, b, B, K, N, false);
    ASSERT_TRUE(same(yb.data(), y.data(), yb.size() * 4)) << "batch " << B << " against the batch of " << Bmax;
  }
  const std::vector<float> yr = dense_invariant_tc(d, x, W, b, Bmax, K, N, true);
  for (std::size_t e = 0; e < y.size(); ++e) ASSERT_EQ(to_bits(yr[e]), to_bits(y[e] < 0.0f ? 0.0f : y[e])) << e;
  auto w16 = [](std::uint16_t h) { return widen(S{h}); };
  double worst = 0;
  for (std::size_t i = 0; i < Bmax; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      double exact = 0, mag = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double t = static_cast<double>(w16(x[i * K + k])) * w16(W[k * N + j]);
        exact += t;
        mag += std::fabs(t);
      }
      exact += w16(b[j]);
      mag += std::fabs(w16(b[j]));
      const double err = std::fabs(y[i * N + j] - exact), bound = (2.0 * K + 8) * std::ldexp(1.0, -24) * mag;
      ASSERT_LE(err, bound) << "row " << i << " column " << j;
      worst = std::max(worst, err / bound);
    }
  std::cout << "invariant_tc " << (d == DType::bf16 ? "bf16" : "f16") << ": worst error " << worst << " of the bound\n";
}

}  // namespace
}  // namespace driftlab
