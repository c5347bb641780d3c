// Run-against-run drift: the element-wise pieces shared by host and device
// (kernels/common/output_compare.h) against the host metrics, on the CPU; and, with a GPU, the
// Thrust tracker (kernels/cuda/drift.cu) against the host reference output_drift on the same
// outputs: signed zeros, NaN payloads, infinities, subnormals, random drift.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/common/float_bits.h"
#include "kernels/common/output_compare.h"
#include "host/backends/gpu.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#if DRIFTLAB_HAVE_CUDA
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/drift.cuh"
#endif

namespace driftlab {
namespace {

float bits_f(std::uint32_t u) { return from_bits<float>(u); }

// Values that stress the ordering: signed zeros, subnormals, the largest finite, infinities,
// and two NaNs with different payloads.
std::vector<float> awkward() {
  return {0.0f, -0.0f, bits_f(1), bits_f(0x80000001u), bits_f(0x007fffffu), 1.0f, -1.0f,
          std::nextafter(1.0f, 2.0f), 3.4028235e38f, -3.4028235e38f, INFINITY, -INFINITY,
          bits_f(0x7fc00000u), bits_f(0x7fc00001u), bits_f(0xffc00000u)};
}

TEST(DriftCompare, UlpDistanceMatchesTheHostMetric) {
  const auto v = awkward();
  for (const float a : v)
    for (const float b : v) {
      EXPECT_EQ(compare::ulp_distance(a, b), ulp_distance(a, b)) << a << " vs " << b;
      EXPECT_EQ(compare::ordered(a), ordered_int(a)) << a;
    }
  EXPECT_EQ(compare::kUnorderedUlp, kUnorderedUlp);
}

TEST(DriftCompare, RangeMetricsOfOneElementFollowTheHostRules) {
  // An element seen as -0.0 then +0.0: equal values, 0 ULP apart, no difference.
  float lo = 0, hi = 0;
  std::uint8_t seen = 0;
  compare::range_add(-0.0f, lo, hi, seen);
  compare::range_add(0.0f, lo, hi, seen);
  auto m = compare::range_metrics(lo, hi, seen);
  EXPECT_EQ(m.max_ulp, 0u);
  EXPECT_EQ(m.max_abs_diff, 0.0);
  EXPECT_FALSE(m.mixed);
  // One ULP apart around 1.0.
  seen = 0;
  compare::range_add(1.0f, lo, hi, seen);
  compare::range_add(std::nextafter(1.0f, 2.0f), lo, hi, seen);
  m = compare::range_metrics(lo, hi, seen);
  EXPECT_EQ(m.max_ulp, 1u);
  EXPECT_EQ(m.max_abs_diff, static_cast<double>(std::nextafter(1.0f, 2.0f)) - 1.0);
  // NaN in one run, a number in another: no distance.
  compare::range_add(NAN, lo, hi, seen);
  m = compare::range_metrics(lo, hi, seen);
  EXPECT_EQ(m.max_ulp, compare::kUnorderedUlp);
  EXPECT_TRUE(m.mixed);
  // NaN in every run (any payloads): equal.
  seen = 0;
  compare::range_add(bits_f(0x7fc00000u), lo, hi, seen);
  compare::range_add(bits_f(0x7fc00001u), lo, hi, seen);
  m = compare::range_metrics(lo, hi, seen);
  EXPECT_EQ(m.max_ulp, 0u);
  EXPECT_FALSE(m.mixed);
}

// An element's range starts at its first number, whatever lo and hi held before (the host's
// arrays start at 0, so an element seen only as negative numbers must not keep hi = 0); the
// metrics' maximum keeps "mixed" from either side; argmax is the first largest, never reads past
// the row, and a NaN is never the larger.
TEST(DriftCompare, RangesStartAtTheFirstNumberAndArgmaxIsTheFirstLargest) {
  float lo = 0, hi = 0;
  std::uint8_t seen = 0;
  compare::range_add(-2.0f, lo, hi, seen);
  compare::range_add(std::nextafter(-2.0f, -3.0f), lo, hi, seen);
  EXPECT_EQ(compare::range_metrics(lo, hi, seen).max_ulp, 1u) << "lo " << lo << ", hi " << hi;
  lo = hi = 5.0f;  // stale values from another element
  seen = 0;
  compare::range_add(1.0f, lo, hi, seen);
  compare::range_add(2.0f, lo, hi, seen);
  EXPECT_EQ(lo, 1.0f);
  EXPECT_EQ(hi, 2.0f);
  EXPECT_EQ(compare::range_metrics(lo, hi, seen).max_ulp, 1u << 23);
  compare::RangeMetrics mixed, plain;
  mixed.mixed = true;
  plain.max_ulp = 7;
  EXPECT_TRUE(compare::range_max(mixed, plain).mixed);
  EXPECT_TRUE(compare::range_max(plain, mixed).mixed);
  EXPECT_EQ(compare::range_max(mixed, plain).max_ulp, 7u);
  const float ties[] = {1, 3, 3, 2}, second[] = {0, 5, 1}, past[] = {1, 2, 9}, nan_first[] = {NAN, 1, 2}, nan_mid[] = {1, NAN, 0};
  EXPECT_EQ(compare::argmax_row(ties, 4), 1u);
  EXPECT_EQ(compare::argmax_row(second, 3), 1u);
  EXPECT_EQ(compare::argmax_row(past, 2), 1u);
  EXPECT_EQ(compare::argmax_row(nan_first, 3), 0u);
  EXPECT_EQ(compare::argmax_row(nan_mid, 3), 0u);
}

TEST(DriftCompare, HashIsASumSoAnySplitOfTheOutputGivesTheSameHash) {
  std::mt19937 gen(3);
  std::vector<std::uint32_t> bits(1000);
  for (auto& b : bits) b = gen();
  compare::Hash128 forward, backward, halves[2];
  for (std::size_t i = 0; i < bits.size(); ++i) forward = compare::hash_plus(forward, compare::hash_element(i, bits[i]));
  for (std::size_t i = bits.size(); i-- > 0;) backward = compare::hash_plus(backward, compare::hash_element(i, bits[i]));
  for (std::size_t i = 0; i < bits.size(); ++i)
    halves[i % 2] = compare::hash_plus(halves[i % 2], compare::hash_element(i, bits[i]));
  const auto split = compare::hash_plus(halves[0], halves[1]);
  EXPECT_EQ(forward.a, backward.a);
  EXPECT_EQ(forward.b, backward.b);
  EXPECT_EQ(forward.a, split.a);
  EXPECT_EQ(forward.b, split.b);
  // Position matters: swapping two different elements changes the hash.
  compare::Hash128 swapped;
  std::swap(bits[3], bits[7]);
  for (std::size_t i = 0; i < bits.size(); ++i) swapped = compare::hash_plus(swapped, compare::hash_element(i, bits[i]));
  EXPECT_NE(forward.a, swapped.a);
}

#if DRIFTLAB_HAVE_CUDA
// Runs the same outputs through the host reference and the device tracker.
void expect_same_metrics(const std::vector<std::vector<float>>& runs, std::size_t B, std::size_t N) {
  const OutputDrift host = output_drift(runs, B, N);
  cuda::DeviceOutputDrift dev(B, N);
  cuda::DeviceBuffer d_mem;  // freed on a throw too
  d_mem.ensure(B * N * sizeof(float), sizeof(float));
  for (const auto& r : runs) {
    d_mem.upload(r);
    dev.add(d_mem.as<float>());
  }
  const cuda::DeviceDriftResult d = dev.result();
  EXPECT_EQ(d.runs, host.runs);
  EXPECT_EQ(d.distinct_outputs, host.distinct_outputs);
  const std::size_t count = B * N;
  const double ratio = d.runs > 1 && count > 0 ? static_cast<double>(d.differing) / static_cast<double>((d.runs - 1) * count) : 0.0;
  EXPECT_EQ(to_bits(ratio), to_bits(host.ratio_non_equal));
  EXPECT_EQ(d.max_ulp, host.max_ulp);
  EXPECT_EQ(std::isnan(d.max_abs_diff), std::isnan(host.max_abs_diff));
  if (!std::isnan(host.max_abs_diff)) {
    EXPECT_EQ(d.max_abs_diff, host.max_abs_diff);
  }
  EXPECT_EQ(d.argmax_flips, host.argmax_flips);
}

class DriftCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  }
};

TEST_F(DriftCuda, AwkwardValuesGiveTheHostMetrics) {
  const auto v = awkward();
  const std::size_t N = v.size();
  std::vector<std::vector<float>> runs;
  for (std::size_t r = 0; r < N; ++r) {  // every run a rotation: each element meets every value
    std::vector<float> o(N);
    for (std::size_t e = 0; e < N; ++e) o[e] = v[(e + r) % N];
    runs.push_back(o);
  }
  runs.push_back(runs[0]);  // a repeat: one fewer distinct output than runs
  expect_same_metrics(runs, 1, N);
  expect_same_metrics(runs, 3, N / 3);
}

TEST_F(DriftCuda, RandomDriftOnALargeOutputGivesTheHostMetrics) {
  const std::size_t B = 513, N = 1000;
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  std::vector<float> base(B * N);
  for (auto& x : base) x = normal(gen);
  std::vector<std::vector<float>> runs{base};
  for (int r = 0; r < 6; ++r) {  // a few ULPs of drift on a few elements, one run repeated
    auto o = r == 3 ? runs[1] : base;
    if (r != 3)
      for (int k = 0; k < 200; ++k) {
        const std::size_t e = gen() % o.size();
        o[e] = from_bits<float>(to_bits(o[e]) + 1 + gen() % 4);
      }
    runs.push_back(o);
  }
  expect_same_metrics(runs, B, N);
  expect_same_metrics({base}, B, N);  // one run: no drift at all
}

// predict's CUDA path: the backend's device tracker against the host stream, on the same calls
// (atomic drifts on a GPU; the deterministic variants must give one output).
TEST_F(DriftCuda, ModelBackendTrackerGivesTheHostMetricsOfTheSameCalls) {
  const Model m = make_model({784, 1024, 1024, 10}, 0.5f, 3);
  const std::size_t B = 64, N = m.outputs();
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(B * m.inputs());
  for (auto& v : x) v = u(gen);
  auto backend = make_cuda_model_backend();
  backend->set_model(m);
  for (const DenseVariant v : {DenseVariant::atomic, DenseVariant::tree, DenseVariant::invariant}) {
    OutputDriftStream host(B, N);
    const auto tracker = backend->track_outputs(B, N);
    ASSERT_NE(tracker, nullptr);
    std::vector<float> out(B * N);
    for (std::uint64_t r = 0; r < 30; ++r) {
      backend->predict(PredictCall{v, true, 9, r % 2, 0, std::nullopt}, x.data(), B, out.data());
      tracker->add_last_output();
      host.add(out);
    }
    const OutputDrift h = host.result(), d = tracker->result();
    EXPECT_EQ(d.runs, h.runs);
    EXPECT_EQ(d.distinct_outputs, h.distinct_outputs) << info(v).name;
    EXPECT_EQ(to_bits(d.ratio_non_equal), to_bits(h.ratio_non_equal)) << info(v).name;
    EXPECT_EQ(d.max_ulp, h.max_ulp) << info(v).name;
    EXPECT_EQ(d.argmax_flips, h.argmax_flips) << info(v).name;
    if (v != DenseVariant::atomic) {
      EXPECT_EQ(d.distinct_outputs, 2u) << "two dropout masks (calls 0 and 1), no drift";
    }
  }
}
#endif

}  // namespace
}  // namespace driftlab
