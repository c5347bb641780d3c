// The order of driftlab's deterministic `tree` sum: written down once, included by the CPU
// twin (kernels/cpu/sum.cpp) and the CUDA kernel (kernels/cuda/sum.cu).
//
// Determinism level: run to run, across thread counts, and across devices (CPU and GPU).
// The order is a pure function of n; it never depends on thread timing, SM count or device.
//
//   1. Tiles.  The input is cut into tiles of kTileItems consecutive elements; the last tile
//      may be short.  Tile t covers x[t*kTileItems, min(n, (t+1)*kTileItems)).
//   2. Lanes.  A tile is read as rows of kLanes elements.  Lane j starts at -0.0 (the exact
//      identity of IEEE addition) and adds the elements j, j + kLanes, j + 2*kLanes, ... of the
//      tile, rows in increasing order, one rounded addition each.  Missing elements of a short
//      last row are skipped.
//   3. In-tile tree.  The kLanes lane sums are combined by halving: for s = kLanes/2, ..., 2, 1
//      lane j += lane j+s for every j < s.  Lane 0 is the tile's partial.
//   4. Tile partials.  If there is more than one tile, the partials p_0 ... p_{P-1} are reduced
//      by steps 1-3 as if they were the input, until one value remains.
//   5. NaN.  A tile partial that is a NaN is written as the canonical quiet NaN (sign 0, quiet
//      bit, zero payload: 0x7fc00000, 0x7ff8000000000000), so the result is too.  IEEE 754 fixes
//      that inf - inf and NaN + x give a NaN, not which one: x86 makes 0xffc00000 from inf - inf
//      and passes an operand's payload on, NVIDIA GPUs make 0x7fffffff.  The first GPU run
//      (H200, 2026-12-04) found f16 inputs that overflow to +-inf giving those two NaNs.
//   n == 0 gives +0.0.
//
// The GPU maps lanes to threads as kThreads threads x kLanesPerThread lanes: thread i owns
// lanes kLanesPerThread*i ... kLanesPerThread*i + 3 (one 16-byte load of a row for float).
// The halving steps with s >= kLanesPerThread are steps between threads at thread stride
// s / kLanesPerThread; the last two steps happen inside a thread (quad_finish below).  The
// functions in this header are that per-thread arithmetic; tests/test_sum_order.cpp replays
// the GPU mapping on the CPU with them and checks it against the plain lane order.
#pragma once

#include <cstddef>

#include "kernels/common/float_bits.h"
#include "kernels/common/hd.h"

namespace driftlab::order {

inline constexpr std::size_t kLanes = 1024;
inline constexpr std::size_t kRowsPerTile = 64;
inline constexpr std::size_t kTileItems = kLanes * kRowsPerTile;  // 65536 elements
inline constexpr int kLanesPerThread = 4;
inline constexpr int kThreads = static_cast<int>(kLanes) / kLanesPerThread;  // 256

// One rounded addition.  On the GPU __fadd_rn/__dadd_rn are never contracted or reordered.
DL_HD float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
DL_HD double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

template <class T> DL_HD T identity() { return T(-0.0); }

// Step 5: a NaN partial becomes the canonical quiet NaN; every other value is kept bit for bit.
DL_HD float canonical_nan(float v) { return v != v ? from_bits<float>(0x7fc00000u) : v; }
DL_HD double canonical_nan(double v) { return v != v ? from_bits<double>(0x7ff8000000000000ull) : v; }

DL_HD constexpr std::size_t num_tiles(std::size_t n) { return (n + kTileItems - 1) / kTileItems; }

// Step 3 between two threads: a's lanes += b's lanes (thread stride s / kLanesPerThread).
template <class T> DL_HD void quad_combine(T (&a)[kLanesPerThread], const T (&b)[kLanesPerThread]) {
  for (int c = 0; c < kLanesPerThread; ++c) a[c] = add(a[c], b[c]);
}

// Step 3's last two halvings (s = 2, s = 1), inside thread 0.
template <class T> DL_HD T quad_finish(const T (&a)[kLanesPerThread]) {
  const T l0 = add(a[0], a[2]);
  const T l1 = add(a[1], a[3]);
  return add(l0, l1);
}

// Step 3 on a plain array of kLanes lane sums (the CPU twin's form).  Destroys `lanes`.
template <class T> inline T lanes_tree(T* lanes) {
  for (std::size_t s = kLanes / 2; s >= 1; s /= 2)
    for (std::size_t j = 0; j < s; ++j) lanes[j] = add(lanes[j], lanes[j + s]);
  return lanes[0];
}

// Steps 2 and 3 for one tile of `count` <= kTileItems elements (the CPU twin's plain form; its
// vector paths, kernels/cpu/sum_tile.cpp, make the same additions a block of lanes at a time,
// each block held in registers across every row, and are tested bitwise against this order).
// S: the stored type, widened to the accumulator T by `widen` as it is added (16-bit inputs: an
// exact widening to float; float and double: the value itself).
template <class T, class S, class Widen> inline T reduce_tile(const S* x, std::size_t count, Widen widen) {
  alignas(64) T lanes[kLanes];
  for (std::size_t j = 0; j < kLanes; ++j) lanes[j] = identity<T>();
  const std::size_t full_rows = count / kLanes;
  for (std::size_t r = 0; r < full_rows; ++r) {
    const S* row = x + r * kLanes;
    for (std::size_t j = 0; j < kLanes; ++j) lanes[j] = add(lanes[j], widen(row[j]));
  }
  const std::size_t rest = count - full_rows * kLanes;
  const S* row = x + full_rows * kLanes;
  for (std::size_t j = 0; j < rest; ++j) lanes[j] = add(lanes[j], widen(row[j]));
  return lanes_tree(lanes);
}
template <class T> inline T reduce_tile(const T* x, std::size_t count) {
  return reduce_tile<T>(x, count, [](T v) { return v; });
}

}  // namespace driftlab::order
