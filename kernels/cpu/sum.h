// Summation on the CPU: every variant, and the CPU twins of the CUDA kernels in
// kernels/cuda/sum.cu.  The deterministic order lives in kernels/common/sum_order.h and the
// exact accumulator in kernels/common/exact.h; both backends include them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/common/sum_variant.h"
#include "kernels/cpu/thread_pool.h"

namespace driftlab::cpu {

struct SumContext {
  ThreadPool* pool = nullptr;  // null: run on the calling thread alone
  // Set: the atomic variants replay block (or warp) completions in an order drawn from this
  // seed instead of racing real threads -- a reproducible model of a GPU block scheduler.
  std::optional<std::uint64_t> shuffle_seed;
};

// serial -- determinism: fixed order.  ((0 + x0) + x1) + ...: std::accumulate(x, x+n, T(0)).
template <class T> T sum_serial(const T* x, std::size_t n);

// atomic_element -- determinism: none.  Each element is a real atomic add into one accumulator
// (threads take 65536-element blocks); under a shuffle schedule, warps of 32 consecutive
// elements land in a seeded random order, lanes of a warp in lane order.
template <class T> T sum_atomic_element(const T* x, std::size_t n, const SumContext& ctx);

// atomic -- determinism: none.  Each block reduces its tile by the fixed in-tile tree of
// sum_order.h, then adds its partial atomically (a real atomic read-modify-write; under a shuffle
// schedule, in a seeded random order of block completions).
template <class T> T sum_atomic(const T* x, std::size_t n, const SumContext& ctx);

// tree -- determinism: run to run, across thread counts and devices (order: sum_order.h).
template <class T> T sum_tree(const T* x, std::size_t n, const SumContext& ctx);

// exact -- determinism: any order, any device (exact.h).  Throws std::length_error when n is
// beyond the accumulator's headroom (2^39 float or 2^36 double terms).
template <class T> T sum_exact(const T* x, std::size_t n, const SumContext& ctx);

// Dispatch by name; `cub` is not a CPU variant (throws std::invalid_argument).
template <class T> T sum(SumVariant v, const T* x, std::size_t n, const SumContext& ctx);

// Streaming-read probe: reads all n*sizeof(T) bytes with the pool's threads and the tiles of
// the sums, folding the words with OR.  The bandwidth ceiling a sum is compared with.
template <class T> std::uint64_t read_probe(const T* x, std::size_t n, const SumContext& ctx);

// 16-bit inputs (S = bf16 or f16): every variant above, on the widened values (half.h; widening
// is exact), accumulated in float32 in that variant's written order -- `tree` is sum_order.h's
// tree with widened leaves, `exact` the exact sum of the 16-bit values rounded once to float32.
// Determinism levels as for float.  tree, atomic and exact read the 16-bit values and widen them
// in registers (exact_simd.h, sum_tile.cpp); serial and atomic_element widen a tile in bulk
// (cpu/half_convert.h) into a per-thread buffer first: the same values in the same order either
// way, so the same bits.
template <class S> float sum_half(SumVariant v, const S* x, std::size_t n, const SumContext& ctx);
// The read probe over the 16-bit input's bytes (n * 2).
template <class S> std::uint64_t read_probe_half(const S* x, std::size_t n, const SumContext& ctx);

namespace detail {
// sum_order.h's step 4 alone: tile partials reduced as if they were the input, level after level,
// at the sum's ISA level.  Exposed for its test: through sum_tree a second level needs more than
// 2^32 elements (65536 tiles of 65536).
template <class T> T reduce_partials(std::vector<T> partials);
}  // namespace detail

}  // namespace driftlab::cpu
