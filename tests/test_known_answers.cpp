// Known answers for every written order (issue 25).  Each order in kernels/common/*_order.h (and
// half.h's narrowing, exact.h's rounding, dropout.h's Philox mapping) is evaluated by the CPU twin
// and the CUDA kernel alike, so comparing the two cannot see a change of the header itself.  The
// expected bits here come from tests/kat/make_kat.py, an independent Python implementation of each
// header's prose (NumPy float scalars, Fraction fma and rounding), stored in
// tests/fixtures/kat/kat.json.  Every comparison is bitwise (a NaN is checked as "is NaN": its
// payload is not an order), on every CPU ISA level, for several thread counts, and on the CUDA
// backend where a GPU is usable.  scripts/mutation_check.py shows these tests catching one-line
// changes of the orders (docs/mutation.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "host/backends/attention_backend.h"
#include "host/backends/backend.h"
#include "kernels/common/attention_order.h"
#include "kernels/common/dense_order.h"
#include "kernels/common/dropout.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/sum_order.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/exact_simd.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/sum.h"
#include "host/backends/gpu.h"
#include "host/io/json_read.h"

namespace driftlab {
namespace {

// ---- the fixture ----------------------------------------------------------------------------

const JsonValue& fixture() {
  static const JsonValue root = [] {
    const std::string path = std::string(DRIFTLAB_SOURCE_DIR) + "/tests/fixtures/kat/kat.json";
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_json(ss.str());
  }();
  return root;
}

const JsonValue& member(const JsonValue& v, const char* k) {
  const JsonValue* m = v.find(k);
  if (!m) throw std::runtime_error(std::string("kat.json: missing member ") + k);
  return *m;
}
std::uint64_t hex(const JsonValue& v) { return std::stoull(v.str, nullptr, 16); }
std::size_t count(const JsonValue& v, const char* k) { return static_cast<std::size_t>(member(v, k).num); }

// make_kat.py's gen_hash / gen_bits: input generation shared with the script (not an order).
std::uint32_t fmix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// The input bit patterns of `spec` ({"hex": [...]} or {"gen": {...}}) for dtype f32, f64, bf16, f16.
std::vector<std::uint64_t> input_bits(const JsonValue& spec, const std::string& dtype) {
  std::vector<std::uint64_t> out;
  if (const JsonValue* h = spec.find("hex")) {
    for (const JsonValue& x : h->items) out.push_back(hex(x));
    return out;
  }
  const JsonValue& g = member(spec, "gen");
  const auto seed = static_cast<std::uint32_t>(count(g, "seed"));
  const auto bmin = static_cast<std::uint64_t>(count(g, "bmin")), brange = static_cast<std::uint64_t>(count(g, "brange"));
  const std::size_t n = count(g, "n");
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t h = fmix32(seed * 0x9E3779B1u + static_cast<std::uint32_t>(i) * 0x85EBCA77u + 0x165667B1u);
    const std::uint64_t sign = h >> 31, biased = bmin + ((h >> 23) & 0xffu) % brange;
    if (dtype == "f32") out.push_back((sign << 31) | (biased << 23) | (h & 0x7fffffu));
    else if (dtype == "bf16") out.push_back((sign << 15) | (biased << 7) | (h & 0x7fu));
    else if (dtype == "f16") out.push_back((sign << 15) | (biased << 10) | (h & 0x3ffu));
    else out.push_back((sign << 63) | (biased << 52) | (std::uint64_t(h & 0x7fffffu) << 29) | (fmix32(h ^ 0x5BD1E995u) & 0x1fffffffu));
  }
  return out;
}

std::vector<float> floats(const JsonValue& spec) {
  std::vector<float> v;
  for (const std::uint64_t b : input_bits(spec, "f32")) v.push_back(from_bits<float>(static_cast<std::uint32_t>(b)));
  return v;
}

std::string hex_of(std::uint64_t bits, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(bits));
  return buf;
}

// Bits equal, or both NaN where the fixture says "nan".
template <class T> ::testing::AssertionResult same(const std::string& expect, T got) {
  const std::string g = hex_of(to_bits(got), 2 * static_cast<int>(sizeof(T)));
  if (expect == "nan" ? std::isnan(got) : std::stoull(expect, nullptr, 16) == to_bits(got))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << expect << ", got " << g;
}

// ---- the ISA levels and thread counts -----------------------------------------------------------

// The one place that forces a CPU ISA level for every dispatcher these tests reach (gemm_chain,
// the attention tiles, the exact sum's windows, the 16-bit conversions).  DRIFTLAB_ISA, read once
// per process, still caps all of them from above.
const char* const kIsaNames[] = {"scalar", "avx2", "avx512"};
void force_cpu_isa(int level) {  // 0 scalar, 1 avx2, 2 avx512 (the best this CPU runs): every family
  for (int f = 0; f < static_cast<int>(cpu::detail::IsaFamily::count); ++f)
    cpu::detail::force_isa(static_cast<cpu::detail::IsaFamily>(f), static_cast<cpu::Isa>(level));
}
struct IsaReset {
  ~IsaReset() { force_cpu_isa(2); }
};

// Thread counts that change how tiles, rows and heads are shared out: none (the calling thread),
// 2, 3 (uneven shares) and 5.
const int kThreadCounts[] = {0, 2, 3, 5};
std::unique_ptr<cpu::ThreadPool> pool_of(int threads) {
  return threads ? std::make_unique<cpu::ThreadPool>(threads) : nullptr;
}

// Runs body(where) for every ISA level x thread count; `where` names the configuration.
template <class F> void every_cpu_config(F body) {
  IsaReset reset;
  for (int level = 0; level < 3; ++level) {
    force_cpu_isa(level);
    // The level's own paths ran, no other (isa.h's note_path: the bits cannot tell).
    const unsigned own = 1u << std::min(level, static_cast<int>(cpu::isa_level()));
    for (const int threads : kThreadCounts) {
      auto pool = pool_of(threads);
      const std::string where = std::string(" [isa ") + kIsaNames[level] + ", threads " + std::to_string(threads) + "]";
      cpu::detail::reset_paths();
      body(pool.get(), where);
      for (int f = 0; f < static_cast<int>(cpu::detail::IsaFamily::count); ++f) {
        const unsigned marks = cpu::detail::paths_run(static_cast<cpu::detail::IsaFamily>(f));
        EXPECT_TRUE(marks == 0 || marks == own) << "family " << f << " ran paths " << marks << ", not " << own << where;
      }
    }
  }
}

// ---- sum_order.h (tree; f32, f64, bf16/f16 leaves) and exact.h (exact) ---------------------------

template <class T> T run_cpu_sum(SumVariant v, const std::vector<std::uint64_t>& bits, cpu::ThreadPool* pool) {
  std::vector<T> x;
  for (const std::uint64_t b : bits) x.push_back(from_bits<T>(static_cast<typename FloatBits<T>::UInt>(b)));
  return cpu::sum(v, x.data(), x.size(), cpu::SumContext{pool, std::nullopt});
}
template <class S> float run_cpu_sum_half(SumVariant v, const std::vector<std::uint64_t>& bits, cpu::ThreadPool* pool) {
  std::vector<S> x;
  for (const std::uint64_t b : bits) x.push_back(S{static_cast<std::uint16_t>(b)});
  return cpu::sum_half(v, x.data(), x.size(), cpu::SumContext{pool, std::nullopt});
}

TEST(KnownAnswers, SumTreeAndExactOnTheCpu) {
  std::size_t checked = 0;
  every_cpu_config([&](cpu::ThreadPool* pool, const std::string& where) {
    for (const JsonValue& c : member(fixture(), "sum").items) {
      const std::string dtype = member(c, "dtype").str, name = member(c, "name").str, expect = member(c, "expect").str;
      const SumVariant v = member(c, "variant").str == "tree" ? SumVariant::tree : SumVariant::exact;
      const auto bits = input_bits(member(c, "input"), dtype);
      const std::string what = member(c, "variant").str + " " + dtype + " " + name + where;
      if (dtype == "f32") EXPECT_TRUE(same(expect, run_cpu_sum<float>(v, bits, pool))) << what;
      else if (dtype == "f64") EXPECT_TRUE(same(expect, run_cpu_sum<double>(v, bits, pool))) << what;
      else if (dtype == "bf16") EXPECT_TRUE(same(expect, run_cpu_sum_half<bf16>(v, bits, pool))) << what;
      else EXPECT_TRUE(same(expect, run_cpu_sum_half<f16>(v, bits, pool))) << what;
      ++checked;
    }
  });
  EXPECT_GE(checked, 3u * 4u * 60u);
}

// The header's own plain form of the tree order (order::reduce_tile and the steps around it,
// sum_order.h 1-5): the reference that tests/test_sum_order.cpp holds the GPU's block mapping to and
// that sum_tile's vector paths are compared with.  The CPU twin runs sum_tile.cpp, so nothing above
// runs this form; it is held to the known answers here (mutation check H4: a short last row added
// to the last lanes survived the known-answer tests once the CPU tiles moved to sum_tile.cpp).
template <class T> T header_tree_sum(const std::vector<std::uint64_t>& bits) {
  std::vector<T> level;
  for (const std::uint64_t b : bits) level.push_back(from_bits<T>(static_cast<typename FloatBits<T>::UInt>(b)));
  if (level.empty()) return T(0);
  for (;;) {  // steps 1-3 and 5 on each tile, then step 4 on the partials
    std::vector<T> next(order::num_tiles(level.size()));
    for (std::size_t t = 0; t < next.size(); ++t) {
      const std::size_t begin = t * order::kTileItems, count = std::min(order::kTileItems, level.size() - begin);
      next[t] = order::canonical_nan(order::reduce_tile(level.data() + begin, count));
    }
    if (next.size() == 1) return next[0];
    level.swap(next);
  }
}

TEST(KnownAnswers, SumTreeByTheHeadersPlainForm) {
  std::size_t checked = 0, short_rows = 0;
  for (const JsonValue& c : member(fixture(), "sum").items) {
    const std::string dtype = member(c, "dtype").str;
    if (member(c, "variant").str != "tree" || (dtype != "f32" && dtype != "f64")) continue;
    const auto bits = input_bits(member(c, "input"), dtype);
    const std::string what = "tree " + dtype + " " + member(c, "name").str + " (order::reduce_tile)";
    if (dtype == "f32") EXPECT_TRUE(same(member(c, "expect").str, header_tree_sum<float>(bits))) << what;
    else EXPECT_TRUE(same(member(c, "expect").str, header_tree_sum<double>(bits))) << what;
    ++checked;
    short_rows += bits.size() % order::kLanes != 0;
  }
  EXPECT_GE(checked, 20u);  // 17 f32 and 4 f64 cases in the fixture
  EXPECT_GE(short_rows, 8u) << "the fixture's short last rows";
}

// ---- half.h: narrowing to bf16 / f16 ------------------------------------------------------------

TEST(KnownAnswers, NarrowingRoundsToNearestEven) {
  IsaReset reset;
  for (const JsonValue& c : member(fixture(), "narrow").items) {
    const bool is_bf16 = member(c, "kind").str == "bf16";
    std::vector<float> x;
    for (const JsonValue& h : member(c, "input").items) x.push_back(from_bits<float>(static_cast<std::uint32_t>(hex(h))));
    const auto& expect = member(c, "expect").items;
    ASSERT_EQ(expect.size(), x.size());
    for (int level = 0; level < 3; ++level) {
      force_cpu_isa(level);
      std::vector<std::uint16_t> bulk(x.size());
      (is_bf16 ? cpu::narrow_bf16 : cpu::narrow_f16)(x.data(), bulk.data(), x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        const std::uint16_t one = is_bf16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
        const std::string what = member(c, "kind").str + " of " + hex_of(to_bits(x[i]), 8) + " [isa " + kIsaNames[level] + "]";
        if (expect[i].str == "nan") {
          const float w1 = is_bf16 ? bf16_to_f32(one) : f16_to_f32(one), w2 = is_bf16 ? bf16_to_f32(bulk[i]) : f16_to_f32(bulk[i]);
          EXPECT_TRUE(std::isnan(w1) && std::isnan(w2)) << what;
        } else {
          EXPECT_EQ(hex_of(one, 4), expect[i].str) << what << " (half.h)";
          EXPECT_EQ(hex_of(bulk[i], 4), expect[i].str) << what << " (cpu bulk narrow)";
        }
      }
    }
  }
}

// ---- dense_order.h: the invariant chain and the split-K tree ------------------------------------

TEST(KnownAnswers, DenseChainAndSplitKTree) {
  std::size_t checked = 0;
  every_cpu_config([&](cpu::ThreadPool* pool, const std::string& where) {
    for (const JsonValue& c : member(fixture(), "dense").items) {
      const std::size_t B = count(c, "B"), K = count(c, "K"), N = count(c, "N");
      const auto x = floats(member(c, "x")), W = floats(member(c, "W")), b = floats(member(c, "b"));
      const bool tree = member(c, "variant").str == "tree";
      cpu::DenseContext ctx;
      ctx.pool = pool;
      if (tree) ctx.split_k = count(c, "S");
      std::vector<float> y(B * N, -1.0f);
      cpu::dense(tree ? DenseVariant::tree : DenseVariant::invariant, x.data(), W.data(), b.data(), y.data(), B, K, N,
                 member(c, "act").str == "relu" ? dense::Activation::relu : dense::Activation::linear, ctx);
      const auto& expect = member(c, "expect").items;
      ASSERT_EQ(expect.size(), y.size());
      for (std::size_t i = 0; i < y.size(); ++i)
        EXPECT_TRUE(same(expect[i].str, y[i])) << member(c, "name").str << " y[" << i << "]" << where;
      ++checked;
    }
  });
  EXPECT_GE(checked, 3u * 4u * 9u);
}

// ---- attention_order.h: online softmax, merge tree, finish --------------------------------------

struct AttentionCase {
  std::string name;
  AttentionVariant variant;
  std::size_t split_size;
  AttentionInput in;
  std::vector<std::string> expect;
};

std::vector<AttentionCase> attention_cases() {
  std::vector<AttentionCase> out;
  for (const JsonValue& c : member(fixture(), "attention").items) {
    AttentionCase a;
    a.name = member(c, "name").str;
    a.variant = member(c, "variant").str == "single" ? AttentionVariant::single : AttentionVariant::fixed_split;
    a.split_size = count(c, "split_size") ? count(c, "split_size") : attention::kDefaultSplitSize;
    a.in.B = count(c, "B");
    a.in.H = count(c, "H");
    a.in.d = count(c, "d");
    for (const JsonValue& l : member(c, "kv_len").items) a.in.kv_len.push_back(static_cast<std::size_t>(l.num));
    a.in.q = floats(member(c, "q"));
    a.in.K = floats(member(c, "K"));
    a.in.V = floats(member(c, "V"));
    for (const JsonValue& e : member(c, "expect").items) a.expect.push_back(e.str);
    out.push_back(std::move(a));
  }
  return out;
}

TEST(KnownAnswers, AttentionSoftmaxMergeAndFinish) {
  const auto cases = attention_cases();
  ASSERT_GE(cases.size(), 6u);
  every_cpu_config([&](cpu::ThreadPool* pool, const std::string& where) {
    for (const AttentionCase& a : cases) {
      cpu::AttentionProblem p{a.in.q.data(), a.in.K.data(), a.in.V.data(), a.in.B, a.in.H, a.in.d, a.in.kv_len.data()};
      cpu::AttentionContext ctx;
      ctx.pool = pool;
      ctx.split_size = a.split_size;
      std::vector<float> out(a.in.B * a.in.H * a.in.d, -1.0f);
      cpu::attention(a.variant, p, out.data(), ctx);
      ASSERT_EQ(out.size(), a.expect.size()) << a.name;
      for (std::size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(same(a.expect[i], out[i])) << a.name << " out[" << i << "]" << where;
    }
  });
}

// ---- dropout.h / philox.h: the counter mapping, the threshold and the scale ---------------------

TEST(KnownAnswers, DropoutPhiloxMapping) {
  const JsonValue& d = member(fixture(), "dropout");
  ASSERT_GE(member(d, "words").items.size(), 32u);
  for (const JsonValue& w : member(d, "words").items) {
    const std::uint32_t got = dropout::dropout_word(hex(member(w, "seed")), hex(member(w, "call")),
                                                    static_cast<std::uint32_t>(member(w, "layer").num), hex(member(w, "e")));
    EXPECT_EQ(hex_of(got, 8), member(w, "word").str) << "seed " << member(w, "seed").str << " call " << member(w, "call").str
                                                     << " layer " << member(w, "layer").num << " e " << member(w, "e").str;
  }
  for (const JsonValue& t : member(d, "thresholds").items) {
    const float rate = from_bits<float>(static_cast<std::uint32_t>(hex(member(t, "rate"))));
    EXPECT_EQ(hex_of(dropout::drop_threshold(rate), 8), member(t, "threshold").str) << "rate " << member(t, "rate").str;
  }
  for (const JsonValue& s : member(d, "keep_scales").items) {
    const float rate = from_bits<float>(static_cast<std::uint32_t>(hex(member(s, "rate"))));
    EXPECT_TRUE(same(member(s, "scale").str, dropout::keep_scale(rate))) << "rate " << member(s, "rate").str;
  }
}

// ---- header functions only the CUDA kernels call ------------------------------------------------
// The CPU twins do this arithmetic in their own loops (vector lanes, whole planes), so these
// functions are checked directly: a change to them shows here without a GPU.

float f32(const JsonValue& v, const char* k) { return from_bits<float>(static_cast<std::uint32_t>(hex(member(v, k)))); }

TEST(KnownAnswers, HeaderFunctionsTheGpuCalls) {
  const JsonValue& fn = member(fixture(), "functions");
  ASSERT_GE(member(fn, "exp_nonpos").items.size(), 40u);
  for (const JsonValue& e : member(fn, "exp_nonpos").items)
    EXPECT_TRUE(same(member(e, "y").str, attention::exp_nonpos(f32(e, "x")))) << "exp_nonpos(" << member(e, "x").str << ")";
  for (const JsonValue& c : member(fn, "score").items) {
    const auto q = floats(member(c, "q")), k = floats(member(c, "k"));
    const std::size_t d = count(c, "d");
    EXPECT_TRUE(same(member(c, "scale").str, attention::softmax_scale(d))) << "softmax_scale(" << d << ")";
    EXPECT_TRUE(same(member(c, "s").str, attention::score(q.data(), k.data(), d, f32(c, "scale")))) << "score, d = " << d;
  }
  for (const JsonValue& c : member(fn, "merge").items) {
    const attention::MergeFactors f = attention::merge_factors(f32(c, "m_a"), f32(c, "m_b"));
    const std::string what = "merge of m_a " + member(c, "m_a").str + ", m_b " + member(c, "m_b").str;
    EXPECT_TRUE(same(member(c, "M").str, f.m)) << what;
    EXPECT_TRUE(same(member(c, "ca").str, f.ca)) << what;
    EXPECT_TRUE(same(member(c, "cb").str, f.cb)) << what;
    const float l = attention::merge_value(f32(c, "l_a"), f32(c, "l_b"), f);
    const float acc = attention::merge_value(f32(c, "acc_a"), f32(c, "acc_b"), f);
    EXPECT_TRUE(same(member(c, "l").str, l)) << what;
    EXPECT_TRUE(same(member(c, "acc").str, acc)) << what;
    EXPECT_TRUE(same(member(c, "out").str, attention::finish(acc, l))) << what;
  }
  for (const JsonValue& c : member(fn, "finish").items)
    EXPECT_TRUE(same(member(c, "out").str, attention::finish(f32(c, "acc"), f32(c, "l"))))
        << "finish(" << member(c, "acc").str << ", " << member(c, "l").str << ")";
  const auto partials = floats(member(fn, "tree_partials"));
  for (const JsonValue& c : member(fn, "tree_combine").items) {
    const std::size_t S = count(c, "S"), stride = count(c, "stride");
    ASSERT_LE((S - 1) * stride, partials.size() - 1);
    EXPECT_TRUE(same(member(c, "out").str, dense::tree_combine(partials.data(), S, stride))) << "tree_combine S = " << S;
  }
  for (const JsonValue& c : member(fn, "quad_finish").items) {
    float a[order::kLanesPerThread];
    for (int i = 0; i < order::kLanesPerThread; ++i) a[i] = from_bits<float>(static_cast<std::uint32_t>(hex(member(c, "a").items.at(i))));
    EXPECT_TRUE(same(member(c, "out").str, order::quad_finish(a))) << "quad_finish of " << member(c, "a").items[0].str << "...";
  }
}

// dense::tree_combine pads its 32 slots with +0.0 and adds only where s + stride < S: the padding
// never enters a sum.  Known by IEEE 754 alone: -0 + -0 = -0, so S partials of -0 combine to -0
// at every S (a padding +0.0 added in would give +0), and the last partial always counts.
TEST(KnownAnswers, TreeCombineAddsNoPadding) {
  for (std::size_t S = 1; S <= dense::kMaxSlices; ++S) {
    std::vector<float> p(S, -0.0f);
    EXPECT_EQ(to_bits(dense::tree_combine(p.data(), S, 1)), 0x80000000u) << "S = " << S;
    p.back() = 1.0f;
    EXPECT_EQ(dense::tree_combine(p.data(), S, 1), 1.0f) << "S = " << S;
  }
}

// ---- the CUDA backend ---------------------------------------------------------------------------

class KnownAnswersCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  }
};

TEST_F(KnownAnswersCuda, SumTreeAndExact) {
  auto gpu = make_cuda_backend();
  for (const JsonValue& c : member(fixture(), "sum").items) {
    const std::string dtype = member(c, "dtype").str, expect = member(c, "expect").str;
    const auto bits = input_bits(member(c, "input"), dtype);
    if (bits.empty()) continue;  // the CUDA backend takes no empty input; n == 0 is the CPU's case
    HostArray x;
    x.shape = {bits.size()};
    if (dtype == "f32") {
      x.dtype = DType::f32;
      for (const auto b : bits) x.f32.push_back(from_bits<float>(static_cast<std::uint32_t>(b)));
    } else if (dtype == "f64") {
      x.dtype = DType::f64;
      for (const auto b : bits) x.f64.push_back(from_bits<double>(b));
    } else {
      x.dtype = dtype == "bf16" ? DType::bf16 : DType::f16;
      for (const auto b : bits) x.u16.push_back(static_cast<std::uint16_t>(b));
    }
    gpu->set_input(x);
    const SumVariant v = member(c, "variant").str == "tree" ? SumVariant::tree : SumVariant::exact;
    const std::uint64_t got = gpu->run(v, 0).bits;
    const std::string what = member(c, "variant").str + " " + dtype + " " + member(c, "name").str + " [cuda]";
    if (dtype == "f64") EXPECT_TRUE(same(expect, from_bits<double>(got))) << what;
    else EXPECT_TRUE(same(expect, from_bits<float>(static_cast<std::uint32_t>(got)))) << what;
  }
}

TEST_F(KnownAnswersCuda, AttentionSoftmaxMergeAndFinish) {
  auto gpu = make_cuda_attention_backend();
  for (const AttentionCase& a : attention_cases()) {
    gpu->set_input(a.in);
    AttentionCall call;
    call.variant = a.variant;
    call.split_size = a.split_size;
    std::vector<float> out(a.in.B * a.in.H * a.in.d, -1.0f);
    gpu->run(call, out.data());
    for (std::size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(same(a.expect[i], out[i])) << a.name << " out[" << i << "] [cuda]";
  }
}

}  // namespace
}  // namespace driftlab
