// Split-KV attention decode: the exp of the order header against float64; the CPU twin following
// attention_order.h bit for bit; fixed_split and single batch-invariant (bitwise, over batch sizes,
// positions and the other sequences' KV lengths); split_count changing bits with the batch; every
// variant within a stated bound of float64 (KV lengths 1, one chunk + 1, long); large logits;
// atomic under seeded schedules; the command line; and on a GPU (skipped without one) fixed_split
// and single bitwise equal to the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "host/backends/attention_backend.h"
#include "host/commands/attention_command.h"
#include "host/io/npy.h"
#include "host/scenarios/attention_scenario.h"
#include "tests/cli_helpers.h"
#include "tests/test_helpers.h"
#include "kernels/common/attention_order.h"
#include "kernels/cpu/attention.h"
#include "host/backends/gpu.h"

namespace driftlab {
namespace {

namespace at = attention;
using testing::cli;
using testing::expect_one_line_error;

std::vector<float> run_cpu(AttentionVariant v, const AttentionInput& in, cpu::ThreadPool* pool,
                           std::optional<std::uint64_t> seed = std::nullopt, std::size_t split_size = 256) {
  std::vector<float> out(in.B * in.H * in.d);
  const cpu::AttentionProblem p{in.q.data(), in.K.data(), in.V.data(), in.B, in.H, in.d, in.kv_len.data()};
  cpu::attention(v, p, out.data(), {pool, seed, split_size, at::kNominalSms});
  return out;
}

bool same(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
bool same(const std::vector<float>& a, const std::vector<float>& b) { return a.size() == b.size() && same(a.data(), b.data(), a.size()); }

std::size_t seq_off(const AttentionInput& in, std::size_t b) {
  std::size_t t = 0;
  for (std::size_t i = 0; i < b; ++i) t += in.kv_len[i];
  return t * in.H * in.d;
}

// A literal transcription of attention_order.h steps 1-3 (scalar, one token at a time, always
// multiplying by alpha), for bitwise comparison with the vectorized CPU twin.
std::vector<float> by_the_book(const AttentionInput& in, std::size_t C) {
  const std::size_t d = in.d;
  const float scale = at::softmax_scale(d);
  std::vector<float> out(in.B * in.H * d);
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t h = 0; h < in.H; ++h) {
      const std::size_t L = in.kv_len[b], Cb = at::chunk_len(C, L), n = at::num_chunks(C, L);
      const float* q = in.q.data() + (b * in.H + h) * d;
      const float* K = in.K.data() + seq_off(in, b) + h * L * d;
      const float* V = in.V.data() + seq_off(in, b) + h * L * d;
      std::vector<float> m(n, -INFINITY), l(n, 0.0f);
      std::vector<std::vector<float>> acc(n, std::vector<float>(d, 0.0f));
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t t0 = j * Cb, t1 = std::min(L, t0 + Cb);
        for (std::size_t tt = t0; tt < t1; tt += at::kTile) {
          const std::size_t nt = std::min(at::kTile, t1 - tt);
          std::vector<float> s(nt);
          float m_new = m[j];
          for (std::size_t t = 0; t < nt; ++t) {
            s[t] = at::score(q, K + (tt + t) * d, d, scale);
            m_new = at::max(m_new, s[t]);
          }
          const float alpha = at::rescale(m[j], m_new);
          l[j] = at::mul(l[j], alpha);
          for (auto& a : acc[j]) a = at::mul(a, alpha);
          for (std::size_t t = 0; t < nt; ++t) {
            const float p = at::weight(s[t], m_new);
            l[j] = at::add(l[j], p);
            for (std::size_t i = 0; i < d; ++i) acc[j][i] = std::fma(p, V[(tt + t) * d + i], acc[j][i]);
          }
          m[j] = m_new;
        }
      }
      for (std::size_t stride = 1; stride < n; stride *= 2)
        for (std::size_t j = 0; j + stride < n; j += 2 * stride) {
          const auto f = at::merge_factors(m[j], m[j + stride]);
          m[j] = f.m;
          l[j] = at::merge_value(l[j], l[j + stride], f);
          for (std::size_t i = 0; i < d; ++i) acc[j][i] = at::merge_value(acc[j][i], acc[j + stride][i], f);
        }
      for (std::size_t i = 0; i < d; ++i) out[(b * in.H + h) * d + i] = at::finish(acc[0][i], l[0]);
    }
  return out;
}

// The stated bound.  Per (b, h): a logit's error is at most eps = gamma_{d+2} * scale * sum_i |q_i
// k_i| (d fmas, the scale's rounding and the mul); a weight's relative error at most
// eta = 2 eps + u R + e_exp, R = max_t (m - s_t) <= 87, plus e_exp + u R + 2u per merge level; the
// normalised weights then move by at most 2 eta / (1 - eta), and the sums of L weights and of L
// weighted values add gamma_{L + 2 levels + 4}.  So
//   |out_i - ref_i| <= (4 eta + 3 gamma_{L + 2 levels + 4}) * max_t |v_t,i| + L * 2^-125 * max|v|
// (the last term: weights below e^-87 flushed to zero).  e_exp: exp_nonpos's measured bound, 4 u.
void expect_within_bound(const std::vector<float>& y, const AttentionInput& in, std::size_t C, const std::string& what) {
  const double u = std::ldexp(1.0, -24), e_exp = 4 * u;
  auto gamma = [&](double k) { return k * u / (1 - k * u); };
  const std::vector<double> ref = attention_reference(in);
  const std::size_t d = in.d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t h = 0; h < in.H; ++h) {
      const std::size_t L = in.kv_len[b];
      const float* q = in.q.data() + (b * in.H + h) * d;
      const float* K = in.K.data() + seq_off(in, b) + h * L * d;
      const float* V = in.V.data() + seq_off(in, b) + h * L * d;
      double eps = 0, smax = -INFINITY, smin = INFINITY;
      for (std::size_t t = 0; t < L; ++t) {
        double mag = 0, s = 0;
        for (std::size_t i = 0; i < d; ++i) {
          mag += std::fabs(static_cast<double>(q[i]) * K[t * d + i]);
          s += static_cast<double>(q[i]) * K[t * d + i];
        }
        eps = std::max(eps, gamma(static_cast<double>(d) + 2) * scale * mag);
        smax = std::max(smax, s * scale);
        smin = std::min(smin, s * scale);
      }
      const double R = std::min(87.0, smax - smin);
      const double levels = std::ceil(std::log2(static_cast<double>(at::num_chunks(C, L)))) + 1;
      const double eta = 2 * eps + u * R + e_exp + levels * (e_exp + u * R + 2 * u);
      for (std::size_t i = 0; i < d; ++i) {
        double vmax = 0;
        for (std::size_t t = 0; t < L; ++t) vmax = std::max(vmax, std::fabs(static_cast<double>(V[t * d + i])));
        const double bound = (4 * eta + 3 * gamma(static_cast<double>(L) + 2 * levels + 4)) * vmax +
                             static_cast<double>(L) * std::ldexp(1.0, -125) * vmax;
        const std::size_t e = (b * in.H + h) * d + i;
        ASSERT_TRUE(std::isfinite(y[e])) << what << " b=" << b << " h=" << h << " i=" << i;
        ASSERT_LE(std::fabs(y[e] - ref[e]), bound) << what << " L=" << L << " d=" << d << " b=" << b << " h=" << h << " i=" << i;
      }
    }
}

std::size_t chunk_of(AttentionVariant v, const AttentionInput& in, std::size_t split_size = 256) {
  return cpu::attention_chunk(v, in.B, in.H, in.d, in.kv_len.data(), split_size, at::kNominalSms);
}

const char* detail_isa_name(cpu::detail::GemmIsa isa) { return cpu::isa_name(isa); }

TEST(Attention, ExpOfTheOrderIsWithinFourUlpsOfFloat64) {
  EXPECT_EQ(at::exp_nonpos(0.0f), 1.0f);
  EXPECT_EQ(at::exp_nonpos(-0.0f), 1.0f);
  EXPECT_EQ(at::exp_nonpos(-INFINITY), 0.0f);
  EXPECT_EQ(at::exp_nonpos(-87.5f), 0.0f);
  EXPECT_TRUE(std::isnan(at::exp_nonpos(NAN)));
  double worst = 0;
  for (std::uint32_t k = 0; k <= (1u << 22); ++k) {
    const float x = -87.0f * static_cast<float>(k) / static_cast<float>(1u << 22);
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(at::exp_nonpos(x) - want) / want);
  }
  for (float x = -1e-3f; x < -1e-30f; x *= 0.9f) {  // near 0, where r is tiny
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(at::exp_nonpos(x) - want) / want);
  }
  EXPECT_LE(worst, 4 * std::ldexp(1.0, -24)) << "measured max relative error " << worst;
}

TEST(Attention, SplitCountHeuristicIsFlashAttention2s) {
  EXPECT_EQ(at::num_splits(200, 132, 64), 1);  // B*H fills the SMs
  EXPECT_EQ(at::num_splits(64, 132, 32), 2);   // two waves of 128 blocks: 97% efficiency
  EXPECT_EQ(at::num_splits(8, 132, 8), 8);     // few blocks: as many splits as there are key blocks
  EXPECT_EQ(at::num_splits(24, 132, 8), 4);    // 5..7 splits would give the same split length as 4
  EXPECT_EQ(at::block_n(64), 256u);
  EXPECT_EQ(at::block_n(128), 128u);
  EXPECT_EQ(at::block_n(256), 64u);
  // The chunk depends on the batch size and on the longest KV in the batch.
  EXPECT_NE(at::split_count_chunk(1, 8, 128, 1024, 132), at::split_count_chunk(3, 8, 128, 1024, 132));
  EXPECT_NE(at::split_count_chunk(4, 8, 128, 1024, 132), at::split_count_chunk(4, 8, 128, 4096, 132));
}

struct Case {
  std::vector<std::size_t> lens;
  std::size_t H, d;
};

TEST(Attention, CpuFollowsTheWrittenOrderBitForBitAtEveryVectorWidth) {
  // d: the vector tile update's groups of 8, 4 and 1 vectors at both widths (128, 256, 64, 112, 48,
  // 8; 240: a group of 4 after a group of 8 at both widths, at AVX-512 the only such d) and the
  // plain loop (1, 33).
  const Case cases[] = {{{1}, 2, 128}, {{33}, 3, 64},  {{257, 1, 600}, 2, 128}, {{1000, 31}, 2, 1}, {{300}, 1, 256},
                        {{70, 513}, 4, 33}, {{97, 40}, 2, 112}, {{65}, 3, 48}, {{130, 3}, 2, 8}, {{150, 9}, 2, 240}};
  using cpu::detail::GemmIsa;
  cpu::detail::force_attention_isa(GemmIsa::avx512);
  const GemmIsa best = cpu::detail::attention_isa();
  for (const GemmIsa isa : {GemmIsa::scalar, GemmIsa::avx2, GemmIsa::avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best)) continue;
    cpu::detail::force_attention_isa(isa);
    ASSERT_EQ(cpu::detail::attention_isa(), isa);
    for (const auto& c : cases) {
      const AttentionInput in = make_attention_input(c.lens.size(), c.H, c.d, c.lens, 11 + c.d);
      for (int threads = 1; threads <= 3; ++threads) {
        cpu::ThreadPool pool(threads);
        for (const AttentionVariant v : {AttentionVariant::single, AttentionVariant::fixed_split, AttentionVariant::split_count}) {
          EXPECT_TRUE(same(run_cpu(v, in, &pool), by_the_book(in, chunk_of(v, in))))
              << info(v).name << " d=" << c.d << " threads=" << threads << " isa=" << detail_isa_name(isa);
        }
        EXPECT_TRUE(same(run_cpu(AttentionVariant::fixed_split, in, &pool, std::nullopt, 7), by_the_book(in, 7)));
      }
    }
  }
  cpu::detail::force_attention_isa(GemmIsa::avx512);
}

// Sequence `src_b` of `big` placed at position `at` of a batch of B whose other sequences have KV
// length `other`.
AttentionInput place(const AttentionInput& big, std::size_t src_b, std::size_t B, std::size_t at, std::size_t other,
                     std::uint64_t seed) {
  std::vector<std::size_t> lens(B, other);
  lens[at] = big.kv_len[src_b];
  AttentionInput in = make_attention_input(B, big.H, big.d, lens, seed);
  copy_sequence(big, src_b, in, at);
  return in;
}

TEST(Attention, FixedSplitAndSingleAreBitwiseBatchInvariant) {
  cpu::ThreadPool pool(2);
  const AttentionInput big = make_attention_input(3, 2, 128, {1000, 257, 1}, 5);
  const std::size_t hd = big.H * big.d;
  const AttentionVariant variants[] = {AttentionVariant::fixed_split, AttentionVariant::single};
  const std::vector<float> ref[] = {run_cpu(variants[0], big, &pool), run_cpu(variants[1], big, &pool)};
  for (std::size_t src = 0; src < 3; ++src)
    for (const std::size_t B : {std::size_t(1), std::size_t(2), std::size_t(5), std::size_t(9)})
      for (const std::size_t other : {std::size_t(1), std::size_t(300), std::size_t(2500)}) {
        const std::size_t at = B / 2;
        const AttentionInput in = place(big, src, B, at, other, 77 + B + other);
        for (int k = 0; k < 2; ++k) {
          const std::vector<float> y = run_cpu(variants[k], in, &pool);
          EXPECT_TRUE(same(y.data() + at * hd, ref[k].data() + src * hd, hd))
              << info(variants[k]).name << ": sequence " << src << " at " << at << " of " << B << ", others KV " << other;
        }
      }
}

TEST(Attention, SplitCountChangesBitsWithTheBatch) {
  // Not a promise, a demonstration on a seeded case: the chunk follows B and the longest KV, and
  // with it sequence 0's bits.
  cpu::ThreadPool pool(2);
  const AttentionInput one = make_attention_input(1, 8, 128, {1024}, 3);
  const std::vector<float> y1 = run_cpu(AttentionVariant::split_count, one, &pool);
  const std::size_t hd = one.H * one.d;
  std::size_t changed = 0, chunk_changed = 0;
  for (const std::size_t B : {std::size_t(2), std::size_t(3), std::size_t(4), std::size_t(8), std::size_t(16)}) {
    const AttentionInput in = place(one, 0, B, 0, 1024, 100 + B);
    chunk_changed += chunk_of(AttentionVariant::split_count, in) != chunk_of(AttentionVariant::split_count, one);
    changed += !same(run_cpu(AttentionVariant::split_count, in, &pool).data(), y1.data(), hd);
    // fixed_split on the same batches: unchanged (the contrast the variant exists for)
    EXPECT_TRUE(same(run_cpu(AttentionVariant::fixed_split, in, &pool).data(),
                     run_cpu(AttentionVariant::fixed_split, one, &pool).data(), hd));
  }
  EXPECT_GE(chunk_changed, 1u);
  EXPECT_GE(changed, 1u) << "split_count gave sequence 0 the same bits at every batch size";
  // Another sequence's length alone changes the plan too.
  const AttentionInput longer = place(one, 0, 4, 0, 8192, 9);
  const AttentionInput same_len = place(one, 0, 4, 0, 1024, 9);
  EXPECT_NE(chunk_of(AttentionVariant::split_count, longer), chunk_of(AttentionVariant::split_count, same_len));
  EXPECT_FALSE(same(run_cpu(AttentionVariant::split_count, longer, &pool).data(),
                    run_cpu(AttentionVariant::split_count, same_len, &pool).data(), hd));
}

TEST(Attention, EveryVariantIsWithinTheStatedBoundOfFloat64) {
  cpu::ThreadPool pool(2);
  // KV lengths 1, 2, 31/32/33 (tile edges), 257 (fixed_split's chunk + 1), 129 (split_count's
  // chunk of 128 at this shape, + 1) and long ones.
  const Case cases[] = {{{1, 2, 31, 32, 33}, 2, 64}, {{257, 129, 256}, 4, 128}, {{6000}, 2, 128}, {{3000, 1}, 2, 256},
                        {{100, 9}, 3, 1}};
  for (const auto& c : cases) {
    const AttentionInput in = make_attention_input(c.lens.size(), c.H, c.d, c.lens, 21 + c.d);
    for (const auto& i : kAttentionVariants) {
      expect_within_bound(run_cpu(i.variant, in, &pool), in, chunk_of(i.variant, in), i.name);
      if (i.variant == AttentionVariant::atomic)
        expect_within_bound(run_cpu(i.variant, in, &pool, 42), in, chunk_of(i.variant, in), "atomic (shuffled)");
    }
  }
}

TEST(Attention, LargeLogitsNeitherOverflowNorLoseTheBound) {
  cpu::ThreadPool pool(2);
  // q scaled by 300: logits of several thousand, where a naive exp(s) overflows float.
  const AttentionInput in = make_attention_input(2, 2, 128, {700, 40}, 8, 300.0f);
  double smax = 0;
  for (std::size_t i = 0; i < 128; ++i) smax += std::fabs(in.q[i] * in.K[i]);
  ASSERT_GT(smax / std::sqrt(128.0), 89.0) << "the case must have logits beyond expf's range";
  for (const auto& i : kAttentionVariants) {
    const std::vector<float> y = run_cpu(i.variant, in, &pool);
    for (const float v : y) ASSERT_TRUE(std::isfinite(v)) << i.name;
    expect_within_bound(y, in, chunk_of(i.variant, in), std::string(i.name) + " (large logits)");
  }
}

TEST(Attention, SeededSchedulesMoveAtomicButRepeat) {
  cpu::ThreadPool pool(2);
  const AttentionInput in = make_attention_input(1, 2, 64, {4096}, 31);  // split_count: many chunks
  ASSERT_GE(at::num_chunks(chunk_of(AttentionVariant::atomic, in), 4096), 4u);
  std::set<std::string> atomic;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    const auto a = run_cpu(AttentionVariant::atomic, in, &pool, seed);
    EXPECT_TRUE(same(a, run_cpu(AttentionVariant::atomic, in, &pool, seed))) << "a seeded schedule must repeat";
    atomic.emplace(reinterpret_cast<const char*>(a.data()), a.size() * 4);
  }
  EXPECT_GE(atomic.size(), 2u);
}

TEST(Attention, BadShapesAreRejected) {
  const AttentionInput in = make_attention_input(1, 1, 4, {3}, 1);
  std::vector<float> out(4);
  std::size_t zero = 0;
  const cpu::AttentionProblem p{in.q.data(), in.K.data(), in.V.data(), 1, 1, 4, &zero};
  EXPECT_THROW(cpu::attention(AttentionVariant::single, p, out.data(), {}), std::invalid_argument);
  const cpu::AttentionProblem wide{in.q.data(), in.K.data(), in.V.data(), 1, 1, 257, in.kv_len.data()};
  EXPECT_THROW(cpu::attention(AttentionVariant::single, wide, out.data(), {}), std::invalid_argument);
  // fixed_split with C = 0 (the operator sweep of session 24: accepted by a mutant unnoticed).
  const cpu::AttentionProblem good{in.q.data(), in.K.data(), in.V.data(), 1, 1, 4, in.kv_len.data()};
  cpu::AttentionContext no_split;
  no_split.split_size = 0;
  EXPECT_THROW(cpu::attention(AttentionVariant::fixed_split, good, out.data(), no_split), std::invalid_argument);
  EXPECT_NO_THROW(cpu::attention(AttentionVariant::single, good, out.data(), no_split));  // C is fixed_split's alone
}

// --- The command line ---------------------------------------------------------------------
TEST(AttentionCli, BadInputEndsInOneLine) {
  auto r = cli({"attention", "--head-dim", "0"});
  expect_one_line_error(r, "--head-dim");
  EXPECT_EQ(r.code, 2);
  r = cli({"attention", "--variant", "nope"});
  expect_one_line_error(r, "unknown variant");
  EXPECT_EQ(r.code, 2);
  r = cli({"attention", "--kv-len", "0"});
  expect_one_line_error(r, "--kv-len");
  EXPECT_EQ(r.code, 2);
  r = cli({"attention", "--batch", "2", "--kv-lens", "1,2,3"});
  expect_one_line_error(r, "--kv-lens");
  EXPECT_EQ(r.code, 2);
  r = cli({"attention", "--batch-sweep", "1,x"});
  expect_one_line_error(r, "--batch-sweep");
  EXPECT_EQ(r.code, 2);
  r = cli({"attention", "--frobnicate"});
  expect_one_line_error(r, "unknown option");
  EXPECT_EQ(r.code, 2);
  if (!gpu_status().usable) {
    r = cli({"attention", "--backend", "cuda", "--kv-len", "8", "--batch", "1", "--batch-sweep", "off"});
    expect_one_line_error(r, "--backend cuda");
    EXPECT_EQ(r.code, 1);
  }
}

TEST(AttentionCli, EndToEndDefaultShapeShowsSplitCountMovingSequenceZero) {
  AttentionArgs a = parse_attention_args({});
  a.backend = "cpu";
  a.runs = 1;
  const AttentionReport rep = run_attention(a);
  ASSERT_EQ(rep.rows.size(), 4u);
  for (const auto& row : rep.rows) {
    ASSERT_TRUE(row.batch_distinct.has_value());
    if (row.variant == AttentionVariant::split_count) {
      EXPECT_GE(*row.batch_distinct, 2u);
    }
    if (row.variant == AttentionVariant::fixed_split || row.variant == AttentionVariant::single) {
      EXPECT_EQ(*row.batch_distinct, 1u) << info(row.variant).name;
    }
    EXPECT_LT(row.ref_max_rel_err, 1e-4) << info(row.variant).name;
  }
}

TEST(AttentionCli, JsonRowsUsePredictsMetricNames) {
  const std::string path = std::string(DRIFTLAB_TEST_TMP) + "/attention-test.json";
  const auto r = cli({"attention", "--backend", "cpu", "--batch", "3", "--heads", "2", "--head-dim", "16", "--kv-len", "300",
                      "--runs", "2", "--batch-sweep", "1,3", "--schedule", "shuffle:5", "--json", path});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("split_count"), std::string::npos);
  EXPECT_NE(r.out.find("MODEL"), std::string::npos);
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string j = ss.str();
  for (const char* key : {"\"distinct_outputs\"", "\"max_ulp\"", "\"ref_max_rel_err\"", "\"batch_distinct\"",
                          "\"batch_max_ulp\"", "\"median_ms\"", "\"gbps\"", "\"cost_vs_atomic\"", "\"sweep\"",
                          "\"fixed_split\"", "\"single\"", "\"atomic\""})
    EXPECT_NE(j.find(key), std::string::npos) << key;
}

// --save-output: run 0's output [B x H x D] per variant (FILE.<variant>.npy with several, FILE
// itself with one), bitwise the kernel's own output on the command's input for the run-to-run
// variants; refused up front (one line, nothing written) where it would clash or cannot be written.
TEST(AttentionCli, SaveOutputWritesRunZeroOfEachVariant) {
  const std::string dir = std::string(DRIFTLAB_TEST_TMP), stem = dir + "/attention-save";
  const std::vector<std::size_t> lens = {300, 17, 129};
  const std::vector<std::string> shape = {"--backend", "cpu", "--batch", "3", "--heads", "2", "--head-dim", "16",
                                          "--kv-lens", "300,17,129", "--split-size", "64", "--runs", "2",
                                          "--batch-sweep", "off"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = {"attention"};
    v.insert(v.end(), shape.begin(), shape.end());
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  for (const auto& i : kAttentionVariants) std::remove((stem + "." + i.name + ".npy").c_str());
  const auto r = cli(with({"--save-output", stem + ".npy"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const AttentionInput in = make_attention_input(3, 2, 16, lens, 1);  // the command's default --seed 1
  const std::vector<float> fixed = run_cpu(AttentionVariant::fixed_split, in, nullptr, std::nullopt, 64);
  for (const auto& i : kAttentionVariants) {
    const HostArray y = npy::read(stem + "." + i.name + ".npy");
    ASSERT_EQ(y.shape, (std::vector<std::size_t>{3, 2, 16})) << i.name;
    if (i.variant == AttentionVariant::atomic) {  // real threads: near fixed_split, bits free to move
      for (std::size_t e = 0; e < fixed.size(); ++e) EXPECT_NEAR(y.f32[e], fixed[e], 1e-5) << i.name;
    } else {
      EXPECT_TRUE(same(y.f32, run_cpu(i.variant, in, nullptr, std::nullopt, 64))) << i.name;
    }
  }
  // One variant: FILE itself.
  const std::string one = dir + "/attention-save-fixed.npy";
  std::remove(one.c_str());
  ASSERT_EQ(cli(with({"--variant", "fixed_split", "--save-output", one})).code, 0);
  EXPECT_TRUE(same(npy::read(one).f32, run_cpu(AttentionVariant::fixed_split, in, nullptr, std::nullopt, 64)));
  // Refusals: the same file as --json; a folder that does not exist; a refused run leaves FILE as it was.
  expect_one_line_error(cli(with({"--variant", "fixed_split", "--save-output", one, "--json", one})), "the same file");
  expect_one_line_error(cli(with({"--save-output", dir + "/no-such-folder/x.npy"})), "--save-output");
  {
    std::ofstream f(one, std::ios::binary | std::ios::trunc);
    f << "keep";
  }
  expect_one_line_error(cli(with({"--variant", "fixed_split", "--schedule", "shuffle:1", "--save-output", one})),
                        "--schedule");
  std::ifstream f(one, std::ios::binary);
  std::stringstream kept;
  kept << f.rdbuf();
  EXPECT_EQ(kept.str(), "keep");
}

// --- The scenario ---------------------------------------------------------------------------
TEST(AttentionScenario, QuickRunOnTheCpu) {
  const ScenarioResult r = attention_batch_scenario(7, "cpu", 0, true);
  EXPECT_EQ(r.id, 7);
  EXPECT_EQ(r.key, "attention_batch");
  ASSERT_EQ(r.numbers.size(), 5u);
  EXPECT_EQ(r.numbers[0].first, "splitkv");
  EXPECT_EQ(r.numbers[1].first, "invariant");
  EXPECT_EQ(r.numbers[1].second, 1.0);  // fixed_split and single: one output in every batch
  EXPECT_GT(r.numbers[0].second, 1.0);  // split_count: the quick shape shows the effect
  // run_scenarios gives it the `split_kv` rule's verdict on these counts (split-KV, sequence 0).
  const std::map<std::string, double> counts(r.numbers.begin(), r.numbers.end());
  EXPECT_EQ(verdict_by_rule("split_kv", counts).verdict, Verdict::holds_only_when);
  EXPECT_NE(r.measured.find("split_count"), std::string::npos);
}

// --- CUDA against the CPU twin -------------------------------------------------------------
TEST(AttentionCuda, FixedSplitAndSingleBitwiseEqualToCpuOthersWithinBound) {
  if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  auto gpu = make_cuda_attention_backend();
  auto cpu = make_cpu_attention_backend(0);
  const Case cases[] = {{{1}, 2, 128}, {{33, 257, 1}, 3, 64}, {{4096, 100}, 8, 128}, {{300}, 1, 256}, {{70, 513}, 4, 33},
                        {{20000}, 2, 128}};
  for (const auto& c : cases) {
    const AttentionInput in = make_attention_input(c.lens.size(), c.H, c.d, c.lens, 41 + c.d);
    gpu->set_input(in);
    cpu->set_input(in);
    std::vector<float> yg(in.B * in.H * in.d), yc(yg.size());
    for (const auto& i : kAttentionVariants) {
      for (const std::size_t split : {std::size_t(256), std::size_t(5)}) {
        gpu->run({i.variant, split, std::nullopt}, yg.data());
        if (i.variant == AttentionVariant::fixed_split || i.variant == AttentionVariant::single) {
          cpu->run({i.variant, split, std::nullopt}, yc.data());
          EXPECT_TRUE(same(yg, yc)) << i.name << " split " << split << " d=" << c.d;
        } else {
          const std::size_t C = at::plan_chunk(i.variant, in.B, in.H, in.d, *std::max_element(c.lens.begin(), c.lens.end()),
                                               split, gpu->num_sms());
          expect_within_bound(yg, in, C, std::string(i.name) + " (cuda)");
        }
      }
    }
  }
}

TEST(AttentionCuda, FixedSplitIsBatchInvariantOnTheGpu) {
  if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  auto gpu = make_cuda_attention_backend();
  const AttentionInput one = make_attention_input(1, 8, 128, {3000}, 12);
  gpu->set_input(one);
  std::vector<float> y1(8 * 128);
  gpu->run({AttentionVariant::fixed_split, 256, std::nullopt}, y1.data());
  for (const std::size_t B : {std::size_t(2), std::size_t(7), std::size_t(64)})
    for (const std::size_t other : {std::size_t(1), std::size_t(9000)}) {
      const AttentionInput in = place(one, 0, B, B - 1, other, B * 3 + other);
      gpu->set_input(in);
      std::vector<float> y(B * 8 * 128);
      gpu->run({AttentionVariant::fixed_split, 256, std::nullopt}, y.data());
      EXPECT_TRUE(same(y.data() + (B - 1) * 8 * 128, y1.data(), 8 * 128)) << "B=" << B << " other=" << other;
    }
}

}  // namespace
}  // namespace driftlab

// ---- The CUDA partial kernel's block mapping replayed on the CPU (attention_order.h's block::) ----
// partial_kernel (kernels/cuda/attention.cu) is replayed chunk by chunk with its own per-thread
// functions: the tile's pieces fill the padded shared K and V rows (each slot once), lane t of
// warp 0 computes token t's score and weight with the kernel's butterfly max, lane 0's alpha and
// m_new are shared, and each of the 128 threads runs block::tile_update on its dims.  The partials
// merged by the written tree must equal the literal order (by_the_book) bit for bit.
namespace driftlab {
namespace {

namespace ab = attention::block;

struct Partial {
  float m, l;
  std::vector<float> acc;
};

Partial replay_partial_block(const AttentionInput& in, std::size_t b, std::size_t h, std::size_t t0, std::size_t t1,
                             bool vec) {
  const std::size_t d = in.d, L = in.kv_len[b], ldk = ab::k_ld(d), ldv = ab::v_ld(d);
  const float scale = at::softmax_scale(d);
  const float* q = in.q.data() + (b * in.H + h) * d;
  const float* K = in.K.data() + seq_off(in, b) + h * L * d;
  const float* V = in.V.data() + seq_off(in, b) + h * L * d;
  std::vector<float> Ks(at::kTile * ldk), Vs(at::kTile * ldv);
  std::vector<int> k_hits(Ks.size()), v_hits(Vs.size());
  std::vector<float> m(ab::kThreads, -INFINITY), l(ab::kThreads, 0.0f);
  std::vector<std::array<float, ab::kDimsPerThread>> acc(ab::kThreads);
  for (auto& a : acc) a.fill(0.0f);
  for (std::size_t tt = t0; tt < t1; tt += at::kTile) {
    const std::size_t n = std::min(at::kTile, t1 - tt), width = vec ? 4 : 1;
    std::fill(k_hits.begin(), k_hits.end(), 0);
    std::fill(v_hits.begin(), v_hits.end(), 0);
    for (std::size_t e = 0; e < n * d / width; ++e) {  // the kernel's threads take e = tid, tid + 128, ...
      std::size_t t, i;
      ab::tile_piece(e, d, width, t, i);
      for (std::size_t w = 0; w < width; ++w) {
        Ks[t * ldk + i + w] = K[(tt * d) + width * e + w];
        Vs[t * ldv + i + w] = V[(tt * d) + width * e + w];
        ++k_hits[t * ldk + i + w];
        ++v_hits[t * ldv + i + w];
      }
    }
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t i = 0; i < d; ++i) {
        EXPECT_EQ(k_hits[t * ldk + i], 1);
        EXPECT_EQ(v_hits[t * ldv + i], 1);
      }
    // Warp 0.
    float sc[32], mx[32], p[32];
    for (std::size_t lane = 0; lane < 32; ++lane) mx[lane] = sc[lane] = lane < n ? at::score(q, &Ks[lane * ldk], d, scale) : -INFINITY;
    for (int off = 16; off > 0; off /= 2) {
      float next[32];
      for (int lane = 0; lane < 32; ++lane) next[lane] = at::max(mx[lane], mx[lane ^ off]);
      std::copy(next, next + 32, mx);
    }
    float m_new[32];
    for (std::size_t lane = 0; lane < 32; ++lane) {
      m_new[lane] = at::max(m[0], mx[lane]);
      p[lane] = lane < n ? at::weight(sc[lane], m_new[lane]) : 0.0f;
    }
    const float alpha = at::rescale(m[0], m_new[0]);
    for (int tid = 0; tid < ab::kThreads; ++tid) {
      float a[ab::kDimsPerThread];
      std::copy(acc[tid].begin(), acc[tid].end(), a);
      ab::tile_update(l[tid], a, alpha, p, n, Vs.data(), ldv, d, tid);
      std::copy(a, a + ab::kDimsPerThread, acc[tid].begin());
      m[tid] = m_new[0];
    }
  }
  Partial out{m[0], l[0], std::vector<float>(d)};
  for (int tid = 0; tid < ab::kThreads; ++tid) {
    EXPECT_EQ(std::memcmp(&l[tid], &l[0], sizeof(float)), 0);  // every thread's l is the same
    for (int c = 0; c < ab::kDimsPerThread; ++c) {
      const std::size_t i = tid + static_cast<std::size_t>(ab::kThreads) * c;
      if (i < d) out.acc[i] = acc[tid][c];
    }
  }
  return out;
}

std::vector<float> replay_attention_kernel(const AttentionInput& in, std::size_t C, bool vec) {
  const std::size_t d = in.d;
  std::vector<float> out(in.B * in.H * d);
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t h = 0; h < in.H; ++h) {
      const std::size_t L = in.kv_len[b], Cb = at::chunk_len(C, L), n = at::num_chunks(C, L);
      std::vector<Partial> P;
      for (std::size_t j = 0; j < n; ++j) P.push_back(replay_partial_block(in, b, h, j * Cb, std::min(L, (j + 1) * Cb), vec));
      for (std::size_t stride = 1; stride < n; stride *= 2)
        for (std::size_t j = 0; j + stride < n; j += 2 * stride) {
          const auto f = at::merge_factors(P[j].m, P[j + stride].m);
          for (std::size_t i = 0; i < d; ++i) P[j].acc[i] = at::merge_value(P[j].acc[i], P[j + stride].acc[i], f);
          P[j].l = at::merge_value(P[j].l, P[j + stride].l, f);
          P[j].m = f.m;
        }
      for (std::size_t i = 0; i < d; ++i) out[(b * in.H + h) * d + i] = at::finish(P[0].acc[i], P[0].l);
    }
  return out;
}

TEST(AttentionBlockReplay, KernelThreadStepsGiveTheWrittenOrderBitForBit) {
  for (const std::size_t d : {std::size_t{128}, std::size_t{256}, std::size_t{64}, std::size_t{6}, std::size_t{33}}) {
    for (const float q_scale : {1.0f, 8.0f}) {
      const AttentionInput in = make_attention_input(2, 2, d, {300, 33}, 77 + d, q_scale);
      for (const std::size_t C : {std::size_t{0}, std::size_t{256}, std::size_t{64}}) {  // single, fixed_split sizes
        const std::vector<float> want = by_the_book(in, C);
        for (const bool vec : {false, true}) {
          if (vec && d % 4 != 0) continue;  // the kernel copies 16-byte pieces only when d % 4 == 0
          EXPECT_TRUE(same(replay_attention_kernel(in, C, vec), want)) << "d=" << d << " C=" << C << " vec=" << vec
                                                                       << " q_scale=" << q_scale;
        }
      }
    }
  }
}

// The kernel carves its shared floats by block::smem and asks for smem(d).end of them: q, the
// weights, alpha and m_new, and two stages of K and V rows must be apart and inside at every head
// dim; where it copies and reads 16 bytes (d % 4 == 0), q, K and V start 16-byte aligned (and
// their rows: k_ld and v_ld are multiples of 4).
TEST(AttentionBlockReplay, SharedMemoryPartsAreDisjointAlignedAndInside) {
  using testing::Part;
  for (std::size_t d = 1; d <= at::kMaxHeadDim; ++d) {
    const ab::Smem L = ab::smem(d);
    const std::size_t a = d % 4 == 0 ? 4 : 1;  // floats: 16 bytes
    const std::vector<Part> parts = {{"q", L.q, d, a},
                                     {"weights", L.p, at::kTile, 1},
                                     {"alpha, m_new", L.f, 2, 1},
                                     {"K stages", L.k, 2 * at::kTile * ab::k_ld(d), a},
                                     {"V stages", L.v, 2 * at::kTile * ab::v_ld(d), a}};
    EXPECT_EQ(testing::layout_fault(parts, L.end), "") << "d=" << d;
    EXPECT_GE(ab::k_ld(d), d);
    EXPECT_GE(ab::v_ld(d), d);
    EXPECT_LE(L.end * 4, 227u * 1024u) << "d=" << d;  // within an sm_90 block's shared memory
  }
}

// Which head dims a GPU's shared memory takes (the CUDA backend refuses the rest with this number):
// every one on H100/H200 (227 KiB a block) and A100 (163 KiB), up to 192 where a block gets 99 KiB
// (compute capability 8.6, 8.9, 12.0); the sizes grow with d, so the answer is a prefix.
TEST(AttentionBlockReplay, LargestHeadDimForEachGpusSharedMemory) {
  const auto bytes = [](std::size_t d) { return ab::smem(d).end * sizeof(float); };
  for (std::size_t d = 2; d <= at::kMaxHeadDim; ++d) EXPECT_GE(bytes(d), bytes(d - 1)) << d;
  EXPECT_EQ(ab::max_head_dim(227u * 1024u), at::kMaxHeadDim);
  EXPECT_EQ(ab::max_head_dim(163u * 1024u), at::kMaxHeadDim);
  EXPECT_EQ(ab::max_head_dim(99u * 1024u), 192u);
  EXPECT_LE(bytes(192), 99u * 1024u);
  EXPECT_GT(bytes(193), 99u * 1024u);
  EXPECT_EQ(ab::max_head_dim(0), 0u);
  for (const std::size_t limit : {48u * 1024u, 64u * 1024u, 99u * 1024u}) {
    const std::size_t most = ab::max_head_dim(limit);
    EXPECT_LE(bytes(most), limit);
    if (most < at::kMaxHeadDim) {
      EXPECT_GT(bytes(most + 1), limit);
    }
  }
}

// The kernel's 16-byte score reads: the 8 lanes of each quarter warp read 16-byte pieces of 8
// distinct bank groups (row stride k_ld(d)), and V rows start 16-byte aligned.
TEST(AttentionBlockReplay, PaddedKRowsGiveConflictFreeScoreReads) {
  for (const std::size_t d : {std::size_t{64}, std::size_t{128}, std::size_t{256}}) {
    EXPECT_EQ(ab::k_ld(d) % 4, 0u);
    EXPECT_EQ(ab::v_ld(d) % 4, 0u);
    for (std::size_t quarter = 0; quarter < 4; ++quarter) {
      std::set<std::size_t> groups;
      for (std::size_t lane = 8 * quarter; lane < 8 * quarter + 8; ++lane) groups.insert((lane * ab::k_ld(d) / 4) % 8);
      EXPECT_EQ(groups.size(), 8u) << "d=" << d;
    }
  }
}

}  // namespace
}  // namespace driftlab
