// CUDA summation against the CPU backend (ggml's test-backend-ops idea): tree and exact must be
// bitwise equal to the CPU twin; the atomic variants and cub within the error bound.
// Skipped, with the reason, when there is no usable GPU or CUDA is not built in.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <iterator>
#include <limits>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "bench/rotation.h"
#include "host/backends/backend.h"
#include "kernels/common/float_bits.h"
#include "kernels/cpu/sum.h"
#include "host/io/data.h"
#include "host/backends/gpu.h"
#include "tests/test_helpers.h"

#if DRIFTLAB_HAVE_CUDA
#include "kernels/cuda/sum.cuh"
#endif

namespace driftlab {
namespace {

using testing::sum_error_bound;

class CudaSum : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu_status().usable) GTEST_SKIP() << gpu_status().reason;
  }
};

// 42 sizes: odd ones, the edges of a warp, a row (1024 lanes), a tile (65536) and of the second
// level of the tree (1024 tiles = 2^26), and large odd ones.
const std::size_t kSizes[] = {0, 1, 2, 3, 5, 7, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 1027,
                              4095, 4096, 4097, 65535, 65536, 65537, 65536 + 1023, 65536 + 1024, 65536 + 1025,
                              2 * 65536 - 1, 2 * 65536, 2 * 65536 + 1, 3 * 65536 + 7, 99991, (1u << 20) - 1,
                              1u << 20, (1u << 20) + 1, 1000003, 10000019, (1u << 24) + 5, (1u << 26) - 1,
                              (1u << 26) + 1, (1u << 26) + 3};
static_assert(std::size(kSizes) >= 40, "the GPU check's target: tree and exact bitwise at 40 sizes or more");

template <class T> T value(const SumRun& r) { return from_bits<T>(static_cast<typename FloatBits<T>::UInt>(r.bits)); }

template <class T> void parity(DType dtype) {
  auto gpu = make_cuda_backend();
  cpu::ThreadPool pool(0);
  const cpu::SumContext ctx{&pool, std::nullopt};
  for (const Dist d : {Dist::uniform, Dist::illcond}) {
    for (const std::size_t n : kSizes) {
      const HostArray x = make_input(d, dtype, n, 17 + n);
      const auto& v = x.values<T>();
      gpu->set_input(x);
      const T cpu_tree = cpu::sum_tree(v.data(), n, ctx), cpu_exact = cpu::sum_exact(v.data(), n, ctx);
      for (int rep = 0; rep < 3; ++rep) {
        EXPECT_EQ(gpu->run(SumVariant::tree, rep).bits, to_bits(cpu_tree)) << dist_name(d) << " n=" << n;
        EXPECT_EQ(gpu->run(SumVariant::exact, rep).bits, to_bits(cpu_exact)) << dist_name(d) << " n=" << n;
      }
      const double bound = sum_error_bound(v);
      for (const SumVariant var : {SumVariant::atomic, SumVariant::atomic_element, SumVariant::cub, SumVariant::thrust}) {
        if (var == SumVariant::atomic_element && n > (1u << 20) + 1) continue;  // slow by design
        const T s = value<T>(gpu->run(var, 0));
        EXPECT_LE(std::fabs(static_cast<double>(s) - static_cast<double>(cpu_exact)), bound)
            << info(var).name << " " << dist_name(d) << " n=" << n;
      }
    }
  }
}

TEST_F(CudaSum, TreeAndExactBitwiseEqualToCpuF32) { parity<float>(DType::f32); }
TEST_F(CudaSum, TreeAndExactBitwiseEqualToCpuF64) { parity<double>(DType::f64); }

// The benchmarks' input rotation (no GPU needed): at every size a pass over the copies moves more
// than twice an H200's 60 MB L2, so no timed call reads its input from the cache.
TEST(CudaBenchRotation, EveryPassExceedsTwiceTheL2) {
  const std::size_t l2 = 60u << 20;
  for (int k = 10; k <= 28; ++k)
    for (const std::size_t width : {4u, 8u}) {
      const std::size_t bytes = (std::size_t(1) << k) * width;
      const std::size_t copies = bench::rotation_copies(bytes, l2);
      EXPECT_GT(copies * bytes, 2 * l2) << "n=2^" << k << " width " << width;
      EXPECT_LE((copies - 1) * bytes, 2 * l2 + bytes) << "no more copies than needed";
      EXPECT_EQ(bench::rotation_stride(bytes) % 256, 0u);
      EXPECT_GE(bench::rotation_stride(bytes), bytes);
    }
}

// thrust::reduce: within the atomic variants' bound of the exact sum; its run-to-run drift is
// reported as measured (CCCL documents run to run on one GPU model; the test does not assume it).
template <class T> void thrust_drift(DType dtype) {
  auto gpu = make_cuda_backend();
  const std::size_t n = (1u << 24) + 3;
  const HostArray x = make_input(Dist::illcond, dtype, n, 5);
  const auto& v = x.values<T>();
  gpu->set_input(x);
  const T exact = cpu::sum_exact(v.data(), n, {});
  const double bound = sum_error_bound(v);
  std::set<std::uint64_t> bits;
  for (int rep = 0; rep < 20; ++rep) {
    const SumRun r = gpu->run(SumVariant::thrust, rep);
    bits.insert(r.bits);
    EXPECT_LE(std::fabs(static_cast<double>(value<T>(r)) - static_cast<double>(exact)), bound) << "run " << rep;
  }
  ::testing::Test::RecordProperty(std::string("thrust_distinct_outputs_") + dtype_name(dtype), std::to_string(bits.size()));
  std::cout << "thrust " << dtype_name(dtype) << ": " << bits.size() << " distinct output(s) over 20 runs at n=" << n
            << " (measured, not asserted)\n";
}
TEST_F(CudaSum, ThrustWithinTheBoundAndItsDriftMeasuredF32) { thrust_drift<float>(DType::f32); }
TEST_F(CudaSum, ThrustWithinTheBoundAndItsDriftMeasuredF64) { thrust_drift<double>(DType::f64); }

TEST_F(CudaSum, ExactHandlesSpecialsAndSignedZerosLikeTheCpu) {
  auto gpu = make_cuda_backend();
  const float inf = INFINITY, nan = NAN;
  const std::vector<std::vector<float>> cases = {
      {-0.0f, -0.0f, -0.0f}, {-0.0f, 0.0f}, {1.0f, -1.0f}, {inf, 1.0f}, {inf, -inf}, {nan, 1.0f},
      {3.4028235e38f, 3.4028235e38f, -3.4028235e38f}, {1e-45f, 1e-45f, -3e-45f}};
  for (const auto& c : cases) {
    HostArray x;
    x.dtype = DType::f32;
    x.f32 = c;
    x.shape = {c.size()};
    gpu->set_input(x);
    const float want = cpu::sum_exact(c.data(), c.size(), {});
    EXPECT_EQ(gpu->run(SumVariant::exact, 0).bits, to_bits(want)) << "case of size " << c.size();
  }
}

// The same specials inside the kernels' full steps (a block's step reads 4096 floats or more, and the
// small cases above end in the tail): every NaN and infinity, -0 and subnormal placed past the
// first step, and at the edges of a step, in float and double; tree and exact both the CPU's bits.
template <class T> void specials_in_full_steps(DType dtype) {
  auto gpu = make_cuda_backend();
  cpu::ThreadPool pool(0);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T tiny = std::numeric_limits<T>::denorm_min(), big = std::numeric_limits<T>::max();
  struct Case {
    const char* what;
    std::size_t n;
    std::vector<std::pair<std::size_t, T>> at;  // positions set over a base of small values
    bool zeros;                                 // base of -0 instead of values in [-1, 1)
  };
  const std::vector<Case> cases = {
      {"5000 x -0", 5000, {}, true},
      {"70000 x -0 and one +0 at 65536", 70000, {{65536, T(0)}}, true},
      {"inf at 4100", 8192, {{4100, inf}}, false},
      {"-inf at 4095 and 4096", 8193, {{4095, -inf}, {4096, -inf}}, false},
      {"inf at 4100, -inf at 6000", 8192, {{4100, inf}, {6000, -inf}}, false},
      {"NaN at 4096", 8192, {{4096, nan}}, false},
      {"NaN at 16383 of 16384", 16384, {{16383, nan}}, false},
      {"max, max, -max past a step", 12288, {{5000, big}, {9000, big}, {12000, -big}}, false},
      {"subnormals inside -0s", 9000, {{4097, tiny}, {8191, tiny}, {8192, -tiny}, {8999, tiny}}, true},
  };
  for (const Case& c : cases) {
    HostArray x = make_input(Dist::uniform, dtype, c.n, 91 + c.n);
    auto& v = x.values<T>();
    if (c.zeros) std::fill(v.begin(), v.end(), -T(0));
    for (const auto& [i, val] : c.at) v[i] = val;
    gpu->set_input(x);
    const T cpu_tree = cpu::sum_tree(v.data(), c.n, ctx), cpu_exact = cpu::sum_exact(v.data(), c.n, ctx);
    EXPECT_EQ(gpu->run(SumVariant::tree, 0).bits, to_bits(cpu_tree)) << dtype_name(dtype) << " tree: " << c.what;
    EXPECT_EQ(gpu->run(SumVariant::exact, 0).bits, to_bits(cpu_exact)) << dtype_name(dtype) << " exact: " << c.what;
  }
}
#if DRIFTLAB_HAVE_CUDA
// A misaligned input, scratch or result is refused before anything is launched or dereferenced (so
// this runs without a GPU: the pointers are never used), for every variant and stored type.
template <class S, class T> void refuses_misaligned(const char* type) {
  alignas(256) static unsigned char arena[1024];
  const auto at = [](std::size_t off) { return static_cast<void*>(arena + off); };
  for (const auto& i : kSumVariants) {
    if (!cuda::has_sum_variant(i.variant)) continue;
    const auto call = [&](std::size_t in, std::size_t temp, std::size_t out) {
      if constexpr (std::is_same_v<S, T>)
        return cuda::sum<T>(i.variant, static_cast<const T*>(at(in)), 4, static_cast<T*>(at(out)), at(temp), 1 << 20, nullptr);
      else
        return cuda::sum_half<S>(i.variant, static_cast<const S*>(at(in)), 4, static_cast<float*>(at(out)), at(temp), 1 << 20,
                                 nullptr);
    };
    EXPECT_EQ(call(4, 256, 512), cudaErrorMisalignedAddress) << type << " " << i.name << ": input 4 bytes off";
    EXPECT_EQ(call(0, 264, 512), cudaErrorMisalignedAddress) << type << " " << i.name << ": scratch 8 bytes off";
    EXPECT_EQ(call(0, 256, 513), cudaErrorMisalignedAddress) << type << " " << i.name << ": result 1 byte off";
  }
}
TEST(CudaSumArgs, MisalignedPointersAreRefusedBeforeAnyLaunch) {
  refuses_misaligned<float, float>("f32");
  refuses_misaligned<double, double>("f64");
  refuses_misaligned<bf16, float>("bf16");
  refuses_misaligned<f16, float>("f16");
}
#endif

TEST_F(CudaSum, SpecialsInsideFullStepsGiveTheCpuBitsF32) { specials_in_full_steps<float>(DType::f32); }
TEST_F(CudaSum, SpecialsInsideFullStepsGiveTheCpuBitsF64) { specials_in_full_steps<double>(DType::f64); }

}  // namespace
}  // namespace driftlab
