// `driftlab trace`: where the bits start to move.  invariant never diverges across batch sizes;
// tree does, at layer 0's matmul, when split-K depends on the batch; seeded atomic runs diverge;
// the traced last stage is predict's output bit for bit; JSON keys; bad command lines.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/cli_helpers.h"
#include "kernels/common/dropout.h"
#include "host/backends/gpu.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "host/io/npy.h"
#include "host/io/npz.h"
#include "host/commands/trace_command.h"

namespace driftlab {
namespace {

using testing::cli;
using testing::expect_one_line_error;

std::string tmp(const std::string& name) { return std::string(DRIFTLAB_TEST_TMP) + "/trace_" + name; }

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

TraceReport trace(const std::vector<std::string>& args) {
  const auto v = views(args);
  return run_trace(parse_trace_args(v));
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

// A model where split-K depends on the batch: layer 0 (K 128, N 256) takes 32 slices at batch 1
// and 1 at batch 64 (dense::split_k).
const std::vector<std::string> kModel = {"--backend", "cpu", "--layers", "128,256,64,10", "--init-seed", "3",
                                         "--dropout", "0.25", "--training", "--dropout-seed", "9", "--threads", "2"};

std::vector<std::string> with(std::vector<std::string> extra) {
  std::vector<std::string> v = kModel;
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

TEST(Trace, CompareStageCountsBitsNotValues) {
  const std::vector<float> a = {1.0f, 0.0f, 2.0f, std::nanf("")};
  const std::vector<float> b = {1.0f, -0.0f, std::nextafter(2.0f, 3.0f), std::nanf("")};
  const StageDiff d = compare_stage(a, b);
  EXPECT_EQ(d.elements, 4u);
  EXPECT_EQ(d.frac_differ, 0.5);      // -0.0 against +0.0 differs in bits
  EXPECT_EQ(d.max_ulp, 1u);           // ... but is 0 ULPs apart; 2 and its successor are 1
  ASSERT_TRUE(d.first_index);
  EXPECT_EQ(*d.first_index, 1u);
  EXPECT_DOUBLE_EQ(d.max_rel_diff, (std::nextafter(2.0f, 3.0f) - 2.0f) / 2.0);
  EXPECT_FALSE(compare_stage(a, a).first_index);
}

// compare_stage is branch-free integer work per element; this is the plain definition it must
// equal on every input: NaNs of several payloads, infinities, signed zeros, subnormals, numbers.
StageDiff reference_compare(const std::vector<float>& a, const std::vector<float>& b) {
  StageDiff d;
  d.elements = a.size();
  std::size_t differ = 0;
  double scale_a = 0, scale_b = 0, max_abs = 0;
  bool unordered = false;
  for (std::size_t e = 0; e < a.size(); ++e) {
    if (std::isfinite(a[e])) scale_a = std::max(scale_a, std::fabs(static_cast<double>(a[e])));
    if (std::isfinite(b[e])) scale_b = std::max(scale_b, std::fabs(static_cast<double>(b[e])));
    if (std::bit_cast<std::uint32_t>(a[e]) == std::bit_cast<std::uint32_t>(b[e])) continue;
    if (!d.first_index) d.first_index = e;
    ++differ;
    d.max_ulp = std::max(d.max_ulp, ulp_distance(a[e], b[e]));
    const double diff = std::fabs(static_cast<double>(a[e]) - static_cast<double>(b[e]));
    if (std::isnan(diff)) unordered = true;
    else max_abs = std::max(max_abs, diff);
  }
  d.differ = differ;
  d.frac_differ = a.empty() ? 0.0 : static_cast<double>(differ) / static_cast<double>(a.size());
  const double scale = scale_a > 0 ? scale_a : scale_b;
  d.max_rel_diff = unordered ? std::nan("") : (scale > 0 ? max_abs / scale : max_abs);
  return d;
}

TEST(Trace, CompareStageEqualsItsPlainDefinition) {
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, std::nanf(""), -std::nanf(""),
                            std::bit_cast<float>(0x7f800001u), std::bit_cast<float>(0xffc00123u), 1e-45f, -1e-45f,
                            1.17549435e-38f, 3.4028235e38f, -3.4028235e38f, 1.0f, -1.0f};
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state >> 32);
  };
  auto pick = [&](float like) -> float {
    switch (next() % 6) {
      case 0: return specials[next() % std::size(specials)];
      case 1: return std::bit_cast<float>(next());                              // any bits
      case 2: return like;                                                       // the same bits
      case 3: return std::nextafter(like, next() % 2 ? INFINITY : -INFINITY);    // 1 ULP away
      case 4: return std::bit_cast<float>(std::bit_cast<std::uint32_t>(like) ^ (1u << (next() % 32)));
      default: return static_cast<float>(static_cast<int>(next() % 2001) - 1000) / 7.0f;
    }
  };
  std::size_t with_nan = 0, with_diff = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t n = next() % 40;
    std::vector<float> a(n), b(n);
    const bool mostly_equal = trial % 3 == 0;
    for (std::size_t e = 0; e < n; ++e) {
      a[e] = pick(static_cast<float>(e) - 3.5f);
      b[e] = mostly_equal && next() % 8 ? a[e] : pick(a[e]);
    }
    const StageDiff got = compare_stage(a, b), want = reference_compare(a, b);
    ASSERT_EQ(got.elements, want.elements);
    ASSERT_EQ(got.max_ulp, want.max_ulp) << "trial " << trial;
    ASSERT_EQ(got.frac_differ, want.frac_differ) << "trial " << trial;
    ASSERT_EQ(got.differ, want.differ) << "trial " << trial;
    ASSERT_EQ(got.first_index, want.first_index) << "trial " << trial;
    if (std::isnan(want.max_rel_diff)) {
      ASSERT_TRUE(std::isnan(got.max_rel_diff)) << "trial " << trial;
      ++with_nan;
    } else {
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got.max_rel_diff), std::bit_cast<std::uint64_t>(want.max_rel_diff))
          << "trial " << trial;
      with_diff += want.max_rel_diff > 0;
    }
  }
  EXPECT_GT(with_nan, 100u);   // both outcomes were exercised
  EXPECT_GT(with_diff, 100u);
}

// The hook returns what the kernel computed: each layer's bias_act stage is its matmul stage
// through the epilogue of dense_order.h, and its dropout stage is bias_act through the mask.
TEST(Trace, StagesChainThroughTheEpilogueAndTheMask) {
  const Model m = make_model({64, 96, 33, 10}, 0.3f, 5);
  std::vector<float> x(7 * 64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  auto backend = make_cpu_model_backend(2);
  backend->set_model(m);
  for (const DenseVariant v : {DenseVariant::invariant, DenseVariant::tree, DenseVariant::atomic}) {
    const PredictCall c{v, true, 17, 2, 0, std::uint64_t{99}};
    std::vector<float> out(7 * 10);
    std::vector<LayerStages> st;
    backend->predict_stages(c, x.data(), 7, out.data(), st);
    ASSERT_EQ(st.size(), 3u);
    for (std::size_t li = 0; li < 3; ++li) {
      const Layer& l = m.layers[li];
      ASSERT_EQ(st[li].size(), li < 2 ? 3u : 2u);
      const auto& mm = st[li][0].values;
      const auto& ba = st[li][1].values;
      for (std::size_t e = 0; e < mm.size(); ++e) {
        // atomic's accumulator starts at b: its matmul stage already holds the bias.
        const float pre = v == DenseVariant::atomic ? mm[e] : dense::add(mm[e], l.b[e % l.N]);
        ASSERT_EQ(std::bit_cast<std::uint32_t>(dense::activate(pre, l.act)), std::bit_cast<std::uint32_t>(ba[e]))
            << info(v).name << " layer " << li << " element " << e;
      }
      if (li < 2) {
        const auto& dr = st[li][2].values;
        const std::uint32_t thr = dropout::drop_threshold(m.dropout);
        for (std::size_t e = 0; e < dr.size(); ++e)
          ASSERT_EQ(std::bit_cast<std::uint32_t>(dropout::apply(ba[e], dropout::dropout_word(17, 2, li, e), thr,
                                                               dropout::keep_scale(m.dropout))),
                    std::bit_cast<std::uint32_t>(dr[e]));
      }
    }
    EXPECT_TRUE(same_bits(st[2][1].values, out));
  }
}

TEST(Trace, InvariantNeverDivergesBetweenBatch1And64) {
  const TraceReport r = trace(with({"--variant", "invariant", "--compare", "batch:1,64"}));
  EXPECT_FALSE(r.first) << "layer " << r.first->layer << " " << stage_name(r.first->stage);
  ASSERT_EQ(r.rows.size(), 3u * 3u - 1u);  // matmul, bias_act, dropout per hidden layer; no dropout on the last
  for (const auto& d : r.rows) {
    EXPECT_EQ(d.frac_differ, 0.0);
    EXPECT_EQ(d.elements, std::vector<std::size_t>({256, 64, 10})[d.layer]);  // row R's outputs only
  }
}

// Row 5 alone sits at position 0, inside the batch at position 5: the dense layers give it the
// same bits, but the dropout mask is drawn per element position in the batch (dropout.h), so the
// first bits that differ are layer 0's dropout stage -- what trace is for.
TEST(Trace, ARowsDropoutMaskFollowsItsPositionInTheBatch) {
  const TraceReport r = trace(with({"--variant", "invariant", "--compare", "batch:1,64", "--row", "5"}));
  ASSERT_TRUE(r.first);
  EXPECT_EQ(r.first->layer, 0u);
  EXPECT_EQ(r.first->stage, TraceStage::dropout);
  EXPECT_EQ(r.rows[0].frac_differ, 0.0);  // layer 0 matmul
  EXPECT_EQ(r.rows[1].frac_differ, 0.0);  // layer 0 bias_act
  // Without dropout the row's bits do not depend on its position at all.
  std::vector<std::string> off = with({"--variant", "invariant", "--compare", "batch:1,64", "--row", "5"});
  std::erase(off, std::string("--training"));  // a flag is given once (cli_args.h)
  off.push_back("--training=false");
  EXPECT_FALSE(trace(off).first);
}

TEST(Trace, TreeDivergesAtLayer0MatmulBetweenBatch1And64) {
  const TraceReport r = trace(with({"--variant", "tree", "--compare", "batch:1,64"}));
  ASSERT_EQ(r.a.slices.front(), 32u);
  ASSERT_EQ(r.b.slices.front(), 1u);
  ASSERT_TRUE(r.first);
  EXPECT_EQ(r.first->layer, 0u);
  EXPECT_EQ(r.first->stage, TraceStage::matmul);
  EXPECT_NE(std::bit_cast<std::uint32_t>(r.first->a), std::bit_cast<std::uint32_t>(r.first->b));
  EXPECT_GT(r.rows.front().frac_differ, 0.0);
  EXPECT_GT(r.rows.front().max_ulp, 0u);
}

TEST(Trace, TreeAgainstInvariantDivergesAtTheFirstMatmul) {
  const TraceReport r = trace(with({"--batch", "4", "--compare", "variant:tree,invariant"}));
  ASSERT_TRUE(r.first);
  EXPECT_EQ(r.first->layer, 0u);
  EXPECT_EQ(r.first->stage, TraceStage::matmul);
  EXPECT_EQ(r.a.variant, "tree");
  EXPECT_EQ(r.b.variant, "invariant");
}

TEST(Trace, SeededAtomicRunsDivergeAndReproduce) {
  const auto args = with({"--batch", "4", "--variant", "atomic", "--schedule", "shuffle:7", "--compare", "runs:0,1"});
  const TraceReport r = trace(args);
  ASSERT_TRUE(r.first);  // two calls, two seeded orders of the slice partials
  const TraceReport again = trace(args);  // the schedule is a seeded model: the same report
  ASSERT_TRUE(again.first);
  EXPECT_EQ(again.first->layer, r.first->layer);
  EXPECT_EQ(again.first->index, r.first->index);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(again.first->b), std::bit_cast<std::uint32_t>(r.first->b));
  ASSERT_EQ(again.rows.size(), r.rows.size());
  for (std::size_t i = 0; i < r.rows.size(); ++i) EXPECT_EQ(again.rows[i].max_ulp, r.rows[i].max_ulp);
  // The same call twice: the same order, the same mask, no divergence.
  EXPECT_FALSE(trace(with({"--batch", "4", "--variant", "atomic", "--schedule", "shuffle:7", "--compare", "runs:3,3"})).first);
}

TEST(Trace, ThreadCountsDoNotMoveTree) {
  const TraceReport r = trace({"--backend", "cpu", "--layers", "128,256,10", "--init-seed", "3", "--batch", "64",
                               "--variant", "tree", "--compare", "threads:1,2"});
  EXPECT_FALSE(r.first);
}

// The last stage trace compares is what predict returns for the same call, bit for bit.
TEST(Trace, FinalStageIsPredictsOutput) {
  struct Case {
    std::string variant;
    std::vector<std::string> extra;
  };
  for (const Case& c : {Case{"invariant", {}}, Case{"tree", {}}, Case{"atomic", {"--schedule", "shuffle:11"}}}) {
    const std::string saved = tmp("predict_" + c.variant + ".npy");
    std::vector<std::string> p = with({"--batch", "8", "--variant", c.variant, "--runs", "1", "--save-output", saved});
    p.insert(p.end(), c.extra.begin(), c.extra.end());
    p.insert(p.begin(), "predict");
    const auto pr = cli(p);
    ASSERT_EQ(pr.code, 0) << pr.err;
    const HostArray y = npy::read(saved);
    std::vector<std::string> t = with({"--batch", "8", "--variant", c.variant, "--compare", "runs:0,1"});
    t.insert(t.end(), c.extra.begin(), c.extra.end());
    const TraceReport r = trace(t);
    ASSERT_EQ(y.f32.size(), 8u * 10u);
    EXPECT_TRUE(same_bits(r.final_a, y.f32)) << c.variant;
  }
}

TEST(Trace, UsersNpzModelAndNpyInput) {
  HostArray W0{DType::f32, {3, 4}, {0.5f, -1, 2, 0.25f, 1, 1, -3, 0.5f, 0.125f, 2, 1, -1}, {}, {}};
  HostArray b0{DType::f32, {4}, {0.f, 1.f, -2.f, 3.f}, {}, {}};
  HostArray W1{DType::f32, {4, 2}, std::vector<float>(8, -1.0f), {}, {}}, b1{DType::f32, {2}, {0.f, 0.5f}, {}, {}};
  const std::string model = tmp("model.npz"), input = tmp("x.npy"), json = tmp("npz.json");
  npz::write(model, {{"W0", W0}, {"b0", b0}, {"W1", W1}, {"b1", b1}}, true);
  npy::write(input, HostArray{DType::f32, {3, 3}, {1, 2, 3, 0.1f, 0.2f, 0.3f, -1, 0, 1}, {}, {}});
  const auto r = cli({"trace", "--backend", "cpu", "--weights", model, "--input", input, "--compare", "batch:1,3",
                      "--row", "2", "--variant", "invariant", "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("model 3-4-2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("first divergence: none"), std::string::npos) << r.out;
  // Too few rows in the file for the batch asked: a command-line error.
  expect_one_line_error(cli({"trace", "--backend", "cpu", "--weights", model, "--input", input, "--compare",
                             "batch:1,4"}),
                        "needs 4");
}

TEST(Trace, JsonHasARowPerLayerAndStageAndTheFirstDivergence) {
  const std::string json = tmp("keys.json");
  std::remove(json.c_str());
  std::vector<std::string> args = with({"--variant", "tree", "--compare", "batch:1,64", "--json", json});
  args.insert(args.begin(), "trace");
  const auto r = cli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::regex row("\\{\\s*\"layer\": [0-9]+,\\s*\"stage\": \"(matmul|bias_act|dropout)\",\\s*\"elements\": [0-9]+,"
                       "\\s*\"max_ulp\": [0-9]+,\\s*\"sign_changes\": [0-9]+,\\s*\"frac_differ\": [-0-9.e]+,\\s*\"max_rel_diff\": [-0-9.e]+\\s*\\}");
  EXPECT_EQ(std::distance(std::sregex_iterator(text.begin(), text.end(), row), std::sregex_iterator()), 8) << text;
  const std::regex first("\"first_divergence\": \\{\\s*\"layer\": 0,\\s*\"stage\": \"matmul\",\\s*\"index\": [0-9]+,"
                         "\\s*\"a\": \"[^\"]+\",\\s*\"b\": \"[^\"]+\"");
  EXPECT_TRUE(std::regex_search(text, first)) << text;

  args = with({"--variant", "invariant", "--compare", "batch:1,64", "--json", json});
  args.insert(args.begin(), "trace");
  ASSERT_EQ(cli(args).code, 0);
  std::ifstream g(json);
  const std::string none((std::istreambuf_iterator<char>(g)), std::istreambuf_iterator<char>());
  EXPECT_NE(none.find("\"first_divergence\": null"), std::string::npos) << none;
}

TEST(Trace, BadCommandLines) {
  expect_one_line_error(cli({"trace", "--backend", "cpu"}), "--compare");
  expect_one_line_error(cli({"trace", "--compare", "dtype:f32,f32"}), "must differ in dtype");
  expect_one_line_error(cli({"trace", "--compare", "dtype:bf16,fp8"}), "fp8");
  expect_one_line_error(cli({"trace", "--compare", "colour:1,2"}), "--compare");
  expect_one_line_error(cli({"trace", "--compare", "batch:1"}), "--compare");
  expect_one_line_error(cli({"trace", "--compare", "batch:1,2,3"}), "--compare");
  expect_one_line_error(cli({"trace", "--compare", "batch:0,64"}), "batch sizes");
  expect_one_line_error(cli({"trace", "--compare", "batch:1,x"}), "--compare batch");
  expect_one_line_error(cli({"trace", "--compare", "variant:tree,gemm"}), "gemm");
  expect_one_line_error(cli({"trace", "--compare", "backend:cpu,tpu"}), "tpu");
  expect_one_line_error(cli({"trace", "--compare", "threads:1,5000"}), "--compare threads: expected 0");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--row", "3"}), "--row");
  expect_one_line_error(cli({"trace", "--compare", "batch:1,64", "--batch", "8"}), "--batch");
  expect_one_line_error(cli({"trace", "--compare", "variant:tree,atomic", "--variant", "tree"}), "--variant");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--variant", "fast"}), "fast");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--layers", "10"}), "--layers");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--backend", "cpu", "--variant", "cublas"}),
                        "cublas is CUDA only");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--frobnicate"}), "--frobnicate");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--backend", "cpu", "--weights", tmp("missing.npz")}),
                        "missing.npz");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--backend", "cpu", "--json", tmp("no/such/dir.json")}),
                        "--json");
  const auto dtype = cli({"trace", "--compare", "dtype:f32,f32"});
  EXPECT_EQ(dtype.code, 2);
  const auto missing = cli({"trace", "--compare", "runs:0,1", "--backend", "cpu", "--weights", tmp("missing.npz")});
  EXPECT_EQ(missing.code, 1);
}

// dtype:A,B -- the same float32 model and input, rounded to each side's type.  Rounding the input
// and weights moves layer 0's matmul already; every layer has a round stage; the last stage of
// the bf16 side is predict --dtype bf16's output bit for bit.
// A trace keeps every stage of both sides: more than predict holds for the same batch.  A batch
// that predict's own check lets through but whose trace cannot fit is refused in one line before
// anything large is allocated (the size is set from this machine's memory).
TEST(Trace, RefusesATraceThatCannotFitInMemory) {
  const double mem = static_cast<double>(physical_memory_bytes());
  if (mem <= 0) GTEST_SKIP() << "this machine's memory size is unknown";
  const double widths = 4096 + 4096 + 10, predict_per_row = (784 + widths) * 16;
  const double trace_per_row = widths * 4 * 2 * 2 + 4096 * 4 * 3 * 2;  // 2 stages, 2 sides; activations
  const auto rows = static_cast<std::size_t>(0.7 * mem / trace_per_row * 1.1);
  ASSERT_LT(static_cast<double>(rows) * predict_per_row, 0.7 * mem);  // predict alone would run it
  const auto r = cli({"trace", "--backend", "cpu", "--layers", "784,4096,4096,10", "--init-seed", "1", "--batch",
                      std::to_string(rows), "--compare", "variant:tree,invariant"});
  expect_one_line_error(r, "both sides' stages need about");
  EXPECT_EQ(r.code, 2);
}

TEST(Trace, DtypeComparisonStartsAtLayer0AndEndsOnPredictsOutput) {
  const std::string saved = tmp("predict_bf16.npy"), json = tmp("dtype.json");
  std::vector<std::string> p = with({"--batch", "8", "--variant", "tree", "--runs", "1", "--dtype", "bf16", "--save-output", saved});
  p.insert(p.begin(), "predict");
  const auto pr = cli(p);
  ASSERT_EQ(pr.code, 0) << pr.err;
  const HostArray y = npy::read(saved);
  std::vector<std::string> t = with({"--batch", "8", "--variant", "tree", "--compare", "dtype:f32,bf16", "--json", json});
  const TraceReport r = trace(t);
  EXPECT_TRUE(same_bits(r.final_b, y.f32));
  for (float v : r.final_b) EXPECT_EQ(std::bit_cast<std::uint32_t>(v) & 0xffffu, 0u);  // widened bf16
  ASSERT_TRUE(r.first);
  EXPECT_EQ(r.first->layer, 0u);
  EXPECT_EQ(r.first->stage, TraceStage::matmul);
  std::size_t rounds = 0;
  for (const StageDiff& d : r.rows) rounds += d.stage == TraceStage::round;
  EXPECT_EQ(rounds, 3u);
  EXPECT_EQ(r.dtype, "f32 vs bf16");
  t.insert(t.begin(), "trace");
  const auto c = cli(t);
  ASSERT_EQ(c.code, 0) << c.err;
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"ulp_unit\": \"f32\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"stage\": \"round\""), std::string::npos) << text;
  EXPECT_NE(c.out.find("max_ulp in f32 ULPs"), std::string::npos) << c.out;
  // sign_changes: the last row's count is the final values' (sign -, 0 or + differs), and the
  // table explains the column when a row has any, as rounding to bf16 gives here.
  std::size_t changes = 0;
  auto sign = [](float v) { return (v > 0) - (v < 0); };
  for (std::size_t i = 0; i < r.final_a.size(); ++i) changes += sign(r.final_a[i]) != sign(r.final_b[i]);
  EXPECT_EQ(r.rows.back().sign_changes, changes);
  std::size_t rows_with = 0;
  for (const StageDiff& d : r.rows) rows_with += d.sign_changes > 0;
  EXPECT_GT(rows_with, 0u);
  EXPECT_NE(c.out.find("sign_changes"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ULPs are counted\nfrom zero and through it"), std::string::npos) << c.out;
  EXPECT_NE(text.find("\"sign_changes\": "), std::string::npos) << text;
  // No sign changes, no note: invariant at batch 1 and 64 has the same bits everywhere.
  std::vector<std::string> same = with({"--variant", "invariant", "--compare", "batch:1,64"});
  same.insert(same.begin(), "trace");
  const auto s = cli(same);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("sign_changes"), std::string::npos) << s.out;  // the column
  EXPECT_EQ(s.out.find("ULPs are counted"), std::string::npos) << s.out;  // not the note
}

// --dtype with another kind: both sides 16-bit; invariant never diverges between batch 1 and 64,
// round stage included, and tree does (at layer 0's matmul, as in float32).
TEST(Trace, Bf16BatchComparisonKeepsTheDeterminismLevels) {
  const TraceReport inv = trace(with({"--variant", "invariant", "--compare", "batch:1,64", "--dtype", "bf16"}));
  EXPECT_FALSE(inv.first);
  ASSERT_FALSE(inv.rows.empty());
  EXPECT_EQ(inv.rows.back().stage, TraceStage::round);
  const TraceReport tree = trace(with({"--variant", "tree", "--compare", "batch:1,64", "--dtype", "f16"}));
  ASSERT_TRUE(tree.first);
  EXPECT_EQ(tree.first->layer, 0u);
  EXPECT_EQ(tree.first->stage, TraceStage::matmul);
}

TEST(Trace, BackendCudaWithoutAGpuIsOneLine) {
  if (gpu_status().usable) GTEST_SKIP() << "a GPU is present: see Trace.CpuAgainstCudaTreeAndInvariantAreBitwiseEqual";
  const auto r = cli({"trace", "--layers", "128,256,10", "--init-seed", "3", "--compare", "backend:cpu,cuda"});
  expect_one_line_error(r, "cuda");
  EXPECT_EQ(r.code, 1);
}

TEST(Trace, CpuAgainstCudaTreeAndInvariantAreBitwiseEqual) {
  if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  for (const char* v : {"tree", "invariant"}) {
    const TraceReport r = trace({"--layers", "128,256,64,10", "--init-seed", "3", "--dropout", "0.25", "--training",
                                 "--dropout-seed", "9", "--batch", "33", "--variant", v, "--compare", "backend:cpu,cuda"});
    EXPECT_FALSE(r.first) << v << ": layer " << r.first->layer << " " << stage_name(r.first->stage);
    EXPECT_EQ(r.rows.size(), 8u);
  }
}

}  // namespace
}  // namespace driftlab
