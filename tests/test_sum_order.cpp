// The CUDA kernel's lane-to-thread mapping, replayed on the CPU with the same per-thread
// functions it calls (quad_combine, quad_finish), must give the bits of the plain lane order
// that the CPU twin uses.  This is the GPU's order checked without a GPU.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

#include "kernels/common/sum_order.h"
#include "tests/test_helpers.h"

namespace driftlab {
namespace {

using namespace order;
using testing::same_bits;

// Mirrors block_reduce_tile in kernels/cuda/sum.cu: thread i holds lanes 4i..4i+3 and reads the
// full rows in batches of `batch` rows (all loaded, then added row by row with quad_combine; the
// rows left over, fewer than a batch, one by one); halving steps at thread strides 128, 64, 32
// (shared memory) and 16..1 (shuffles), then quad_finish.
template <class T> T replay_gpu_block(const T* tile, std::size_t count, std::size_t batch) {
  std::vector<std::array<T, kLanesPerThread>> a(kThreads);
  for (auto& q : a) q.fill(identity<T>());
  const std::size_t full_rows = count / kLanes;
  const std::size_t batched_rows = full_rows / batch * batch;
  auto add_row = [&](int i, const T (&v)[kLanesPerThread]) {
    quad_combine(*reinterpret_cast<T(*)[kLanesPerThread]>(a[i].data()), v);
  };
  for (int i = 0; i < kThreads; ++i) {
    for (std::size_t r = 0; r < batched_rows; r += batch) {
      std::vector<std::array<T, kLanesPerThread>> loaded(batch);  // the batch's loads
      for (std::size_t b = 0; b < batch; ++b)
        for (int c = 0; c < kLanesPerThread; ++c) loaded[b][c] = tile[(r + b) * kLanes + kLanesPerThread * i + c];
      for (std::size_t b = 0; b < batch; ++b) add_row(i, *reinterpret_cast<const T(*)[kLanesPerThread]>(loaded[b].data()));
    }
    for (std::size_t r = batched_rows; r < full_rows; ++r)
      add_row(i, *reinterpret_cast<const T(*)[kLanesPerThread]>(&tile[r * kLanes + kLanesPerThread * i]));
  }
  const std::size_t rest = count - full_rows * kLanes;
  for (int i = 0; i < kThreads; ++i)
    for (int c = 0; c < kLanesPerThread; ++c) {
      const std::size_t j = static_cast<std::size_t>(kLanesPerThread * i + c);
      if (j < rest) a[i][c] = add(a[i][c], tile[full_rows * kLanes + j]);
    }
  for (int s = kThreads / 2; s >= 1; s /= 2)
    for (int i = 0; i < s; ++i) {
      T (&ai)[kLanesPerThread] = *reinterpret_cast<T(*)[kLanesPerThread]>(a[i].data());
      const T (&bi)[kLanesPerThread] = *reinterpret_cast<const T(*)[kLanesPerThread]>(a[i + s].data());
      quad_combine(ai, bi);
    }
  const T (&a0)[kLanesPerThread] = *reinterpret_cast<const T(*)[kLanesPerThread]>(a[0].data());
  return quad_finish(a0);
}

template <class T> void check_mapping() {
  std::mt19937_64 g(7);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> expo(-30, 30);
  std::vector<T> x(kTileItems);
  for (auto& v : x) v = static_cast<T>(std::ldexp(normal(g), expo(g)));
  for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(5),
                            std::size_t(1023), std::size_t(1024), std::size_t(1025), std::size_t(4097),
                            std::size_t(9 * 1024 + 5), std::size_t(17 * 1024 - 1), std::size_t(65535), kTileItems}) {
    const T want = reduce_tile(x.data(), count);
    for (std::size_t batch : {1, 4, 8, 16}) {  // sum.cu's kBatchRows: 8 float, 4 double, 16 for 16-bit
      const T got = replay_gpu_block(x.data(), count, batch);
      EXPECT_TRUE(same_bits(want, got)) << "count " << count << " batch " << batch << ": lane order " << want
                                        << ", GPU mapping " << got;
    }
  }
}

TEST(SumOrder, GpuLaneMappingMatchesLaneOrderFloat) { check_mapping<float>(); }
TEST(SumOrder, GpuLaneMappingMatchesLaneOrderDouble) { check_mapping<double>(); }

TEST(SumOrder, IdentityKeepsSignedZeros) {
  EXPECT_TRUE(same_bits(add(identity<float>(), -0.0f), -0.0f));
  EXPECT_TRUE(same_bits(add(identity<float>(), 0.0f), 0.0f));
  const float neg_zeros[5] = {-0.0f, -0.0f, -0.0f, -0.0f, -0.0f};
  EXPECT_TRUE(same_bits(reduce_tile(neg_zeros, 5), -0.0f));
}

// The order is not left-to-right: with 1024 lanes, x[0] and x[1024] meet first.
TEST(SumOrder, LanesFoldStridedElementsFirst) {
  // Two 2^-24 in lane 0 (x[0], x[1024]) meet before 1.0 in lane 1: 1 + 2^-23 is exact.
  std::vector<float> y(2048, 0.0f);
  y[0] = 0x1.0p-24f;
  y[1024] = 0x1.0p-24f;  // lane 0 = 2^-23 exactly
  y[1] = 1.0f;           // lane 1 = 1; tree: 1 + 2^-23 = 1.00000012
  EXPECT_TRUE(same_bits(reduce_tile(y.data(), y.size()), 1.0f + 0x1.0p-23f));
  float serial = 0.0f;
  for (float v : y) serial += v;  // 2^-24 + 1 = 1 (tie), + 2^-24 = 1: a different answer
  EXPECT_TRUE(same_bits(serial, 1.0f));
}

}  // namespace
}  // namespace driftlab
