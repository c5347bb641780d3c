// Summation on CUDA: every variant side by side, with why each differs (one file on purpose, so
// over 500 lines: a reader sees every sum kernel and its reason in one place; STYLE.md, 1).
//
//   atomic_element  every element atomicAdd-ed into *d_out: float atomics ACCUMULATE -> order is
//                   whatever the memory system serialises: determinism none.
//   atomic          tile_kernel<kAtomic = true>: fixed in-tile tree, then one float atomicAdd of
//                   the block's partial: determinism none (the order of partials is timing).
//   tree            tile_kernel<kAtomic = false>: partials to d_partials[tile], then the same
//                   kernel over the partials: no atomics at all; order of sum_order.h.
//   exact           32-bit integer atomics into (sign, exponent) magnitude words in shared memory,
//                   their wraps counted as carries (exact.h), folded into 64-bit exponent bins;
//                   integer addition is associative, so the order does not matter; then one
//                   rounding in exact_finalize_kernel (one block lists the nonzero bins, one
//                   thread adds them and rounds).  Float accumulators (f32, bf16, f16 input):
//                   exact_lanes_kernel (one private copy of the words per lane: conflict-free, every
//                   atomic of a step in flight together); double: exact_kernel.  The previous float
//                   kernel (exact_kernel<float>) stays, benchmark-only, as sum_exact_prev.
//   cub             cub::DeviceReduce::Sum: CUB's run-to-run guarantee on one GPU model.
//   thrust          thrust::reduce(par.on(stream), ..., thrust::plus): built on CUB's reduction, so
//                   documented run to run on one GPU model; it returns the sum to the host (a stream
//                   synchronisation) and allocates its scratch on every call: both are its real cost.
//
// 16-bit inputs (storage S = bf16 or f16, accumulator A = float): the same kernels templated on S
// and A.  Each kernel loads 16-bit words and widens them with half.h's __host__ __device__
// functions; every addition is a float32 addition in the variant's order, so `tree` is bitwise
// the CPU twin's (sum_order.h with widened leaves).  Only the first tree level reads S; the
// levels above reduce float partials with the float kernel.  cub and thrust reduce over a
// transform iterator that widens (cub::DeviceReduce::Sum, thrust::transform_reduce): the same
// determinism as for float (run to run on one GPU model).
#include <cub/device/device_reduce.cuh>
#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/transform_reduce.h>
#include <thrust/reduce.h>
#include <thrust/system/cuda/error.h>
#include <thrust/system/system_error.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernels/common/exact.h"
#include "kernels/common/half.h"
#include "kernels/common/sum_order.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/sum.cuh"

namespace driftlab::cuda {
namespace {

using namespace driftlab::order;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarp = 32;
// Resident blocks per SM the tile kernel is built for; the grid strides over tiles.  4 x 256
// threads at up to 64 registers a thread: room for a batch of rows in flight (kBatchRows below;
// at 8 blocks, 32 registers, the loop held one load at a time).  tests/check_spills.py and
// tests/check_sass.py hold the registers and the loads in flight.
template <class T> constexpr int kBlocksPerSm = 4;
// Rows a thread loads before it adds them (in row order): 8 x 16 bytes for float, 4 x 32 for
// double, 16 x 8 for the 16-bit types: 128 bytes in flight per thread, 128 KiB per SM.
template <class S> constexpr int kBatchRows = sizeof(S) == 4 ? 8 : (sizeof(S) == 8 ? 4 : 16);
constexpr int kStreamBlocksPerSm = 8;  // atomic_element: a grid-stride kernel
// exact: float keeps 8 sets of its 512 words, lane l of every warp adding to set l % 8, so that at
// most 4 lanes of a warp instruction hit one address (same-address shared atomics serialise); sets
// kWords + 1 words apart, so that one word's 8 copies lie in 8 banks.  16 KiB + 2 KiB a block: 8
// blocks fit an SM.  double: one set of 4148 words plus its carries (33 KiB), so 4 blocks.
template <class T> constexpr int kExactBlocksPerSm = sizeof(T) == 4 ? 8 : 4;
template <class T> constexpr int kExactCopies = sizeof(T) == 4 ? 8 : 1;
template <class T> constexpr int kExactStride = exact::Magnitude<T>::kWords + 1;
constexpr int kExactQuads = 2;  // quads a thread loads per step (two 16-byte loads in flight)
// exact_lanes_kernel (float accumulators): 32 lane-private copies of the 512 words (exact.h's
// lane_word_index), 64 KiB of dynamic shared memory a block (+ 2 KiB of carries), so 3 blocks an
// SM on sm_90 (228 KiB); 4 quads (four 16-byte loads, 16 atomics) in flight per thread per step.
constexpr int kExactLanesBlocksPerSm = 3;
constexpr int kExactLanesQuads = 4;
constexpr std::size_t kExactLanesSmem =
    static_cast<std::size_t>(exact::Magnitude<float>::kWords) * exact::kLaneCopies * sizeof(std::uint32_t);

static_assert(kThreads == 256 && kLanesPerThread == 4, "the lane-to-thread mapping below assumes 256 x 4");

std::size_t round_up(std::size_t bytes) { return (bytes + 255) / 256 * 256; }
std::size_t ceil_div(std::size_t n, std::size_t d) { return (n + d - 1) / d; }

int grid_for(std::size_t blocks_wanted, int blocks_per_sm) {
  // the SM count (launch.h: asked once per device; sum() runs inside timed regions), 1 if unknown
  const std::size_t cap = static_cast<std::size_t>(std::max(1, sm_count())) * static_cast<std::size_t>(blocks_per_sm);
  return static_cast<int>(blocks_wanted < cap ? (blocks_wanted ? blocks_wanted : 1) : cap);
}

// Lanes 4i..4i+3 of one full row, as loaded (16-byte loads; 8 bytes for 16-bit storage), and
// as values: a batch of rows is loaded raw, then unpacked (widened) row by row as it is added.
struct RawQuadF64 {
  double2 a, b;
};
template <class S> using RawQuad = std::conditional_t<sizeof(S) == 4, float4, std::conditional_t<sizeof(S) == 8, RawQuadF64, uint2>>;
__device__ __forceinline__ float4 load_raw(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ RawQuadF64 load_raw(const double* p) {
  return {__ldg(reinterpret_cast<const double2*>(p)), __ldg(reinterpret_cast<const double2*>(p) + 1)};
}
template <class S> __device__ __forceinline__ uint2 load_raw(const S* p) { return __ldg(reinterpret_cast<const uint2*>(p)); }
__device__ __forceinline__ void unpack(const float4& q, float (&v)[4]) {
  v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
}
__device__ __forceinline__ void unpack(const RawQuadF64& q, double (&v)[4]) {
  v[0] = q.a.x; v[1] = q.a.y; v[2] = q.b.x; v[3] = q.b.y;
}
// 16-bit storage: four 16-bit words, each widened (half.h).
template <class S> __device__ __forceinline__ void unpack(const uint2& q, float (&v)[4]) {
  v[0] = widen(S{static_cast<std::uint16_t>(q.x & 0xffffu)});
  v[1] = widen(S{static_cast<std::uint16_t>(q.x >> 16)});
  v[2] = widen(S{static_cast<std::uint16_t>(q.y & 0xffffu)});
  v[3] = widen(S{static_cast<std::uint16_t>(q.y >> 16)});
}
template <class S, class T> __device__ __forceinline__ void unpack_quad(const RawQuad<S>& q, T (&v)[4]) {
  if constexpr (sizeof(S) == 2) unpack<S>(q, v);
  else unpack(q, v);
}
template <class S, class T> __device__ __forceinline__ void load_quad(const S* p, T (&v)[4]) {
  unpack_quad<S>(load_raw(p), v);
}

// The accumulator of a storage type: float for float and the 16-bit types, double for double.
template <class S> using Acc = decltype(widen(S{}));

// Widening functor for CUB's and Thrust's transform iterators.
template <class S> struct WidenOp {
  __host__ __device__ float operator()(S h) const { return widen(h); }
};

// Steps 2 and 3 of sum_order.h for one tile of `count` elements, by one block of kThreads
// threads.  Thread i owns lanes 4i..4i+3.  The result is valid in thread 0.  S is the stored
// type, T the accumulator (T = S, or float for a 16-bit S).
template <class S, class T = Acc<S>>
__device__ T block_reduce_tile(const S* tile, std::size_t count, T (*s_quads)[kLanesPerThread]) {
  const int i = threadIdx.x;
  T a[kLanesPerThread];
#pragma unroll
  for (int c = 0; c < kLanesPerThread; ++c) a[c] = identity<T>();

  // Step 2: lane folds, rows in order.  A batch of kBatchRows rows is loaded first (independent
  // loads, all in flight together), then added row by row: the order of sum_order.h unchanged.
  constexpr int kBatch = kBatchRows<S>;
  const std::size_t full_rows = count / kLanes;
  const std::size_t batched_rows = full_rows / kBatch * kBatch;
  const S* p = tile + kLanesPerThread * i;
#pragma unroll 1
  for (std::size_t r = 0; r < batched_rows; r += kBatch) {
    RawQuad<S> raw[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) raw[b] = load_raw(p + (r + b) * kLanes);
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      T v[kLanesPerThread];
      unpack_quad<S>(raw[b], v);
      quad_combine(a, v);
    }
  }
#pragma unroll 1
  for (std::size_t r = batched_rows; r < full_rows; ++r) {  // fewer than kBatch rows of a short tile
    T v[kLanesPerThread];
    load_quad(p + r * kLanes, v);
    quad_combine(a, v);
  }
  const std::size_t rest = count - full_rows * kLanes;
  const S* row = tile + full_rows * kLanes;
#pragma unroll
  for (int c = 0; c < kLanesPerThread; ++c) {
    const std::size_t j = static_cast<std::size_t>(kLanesPerThread * i + c);
    if (j < rest) a[c] = add(a[c], widen(row[j]));
  }

  // Step 3, lane strides 512..128: thread strides 128..32 through shared memory.
  for (int s = kThreads / 2; s >= kWarp; s /= 2) {
    if (i >= s && i < 2 * s)
      for (int c = 0; c < kLanesPerThread; ++c) s_quads[i - s][c] = a[c];
    __syncthreads();
    if (i < s) {
      T b[kLanesPerThread];
      for (int c = 0; c < kLanesPerThread; ++c) b[c] = s_quads[i][c];
      quad_combine(a, b);
    }
    __syncthreads();
  }
  // Lane strides 64..4: thread strides 16..1 inside warp 0.
  T result = T(0);
  if (i < kWarp) {
    for (int s = kWarp / 2; s >= 1; s /= 2) {
      T b[kLanesPerThread];
#pragma unroll
      for (int c = 0; c < kLanesPerThread; ++c) b[c] = __shfl_down_sync(kFullMask, a[c], s);
      quad_combine(a, b);
    }
    result = quad_finish(a);  // lane strides 2 and 1, inside thread 0
  }
  return result;
}

// One launch = one level of the tree (kAtomic = false) or the whole atomic variant (true).
// Atomic use: kAtomic ACCUMULATES floats (nondeterministic); kAtomic = false uses none.
template <class S, bool kAtomic, class T = Acc<S>>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm<T>) tile_kernel(const S* d_in, std::size_t num_items, T* d_out) {
  __shared__ T s_quads[kThreads / 2][kLanesPerThread];
  const std::size_t tiles = num_tiles(num_items);
  for (std::size_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::size_t begin = t * kTileItems;
    const std::size_t count = num_items - begin < kTileItems ? num_items - begin : kTileItems;
    const T partial = order::canonical_nan(block_reduce_tile(d_in + begin, count, s_quads));  // step 5
    if (threadIdx.x == 0) {
      if constexpr (kAtomic) atomicAdd(d_out, partial);
      else d_out[t] = partial;
    }
  }
}

// Atomic use: every element ACCUMULATED with a float atomic (the worst case).
template <class S, class T = Acc<S>>
__global__ void __launch_bounds__(kThreads) atomic_element_kernel(const S* d_in, std::size_t num_items, T* d_out) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < num_items; i += stride)
    atomicAdd(d_out, widen(d_in[i]));
}

// Exact: 32-bit magnitude words in shared memory (exact.h's Magnitude layout, kExactCopies sets);
// each add is one native 32-bit shared atomic (no 64-bit compare-and-swap loop), and the rare lane
// whose add wrapped its word counts a carry.  At the end each word's total (its sets' partials +
// carries * 2^32) goes to the 64-bit global bins with one integer atomic (native on global memory).
// Integer addition is associative: order-free.  `words` is this lane's set.  No branch but the rare
// carry: Inf and NaN add magnitude 0 and are reported (true) for the caller's flags (exact.h).
template <class U>
__device__ __forceinline__ bool exact_add(float v, std::uint32_t* words, std::uint32_t* carries, U& not_neg_zero) {
  not_neg_zero |= exact::not_neg_zero_bits(v);
  const exact::MagnitudeF32 t = exact::decode_magnitude(v);
  const std::uint32_t old = atomicAdd(&words[t.word], t.mag);
  if (exact::add_carry(old, t.mag)) atomicAdd(&carries[t.word], 1u);
  return exact::is_special_word(t);
}
template <class U>
__device__ __forceinline__ bool exact_add(double v, std::uint32_t* words, std::uint32_t* carries, U& not_neg_zero) {
  not_neg_zero |= exact::not_neg_zero_bits(v);
  const exact::MagnitudeF64 t = exact::decode_magnitude(v);
  const std::uint32_t old_lo = atomicAdd(&words[t.word_lo], t.mag_lo);
  if (exact::add_carry(old_lo, t.mag_lo)) atomicAdd(&carries[t.word_lo], 1u);
  const std::uint32_t old_hi = atomicAdd(&words[t.word_hi], t.mag_hi);
  if (exact::add_carry(old_hi, t.mag_hi)) atomicAdd(&carries[t.word_hi], 1u);
  return exact::is_special_word(t);
}

template <class S, class T = Acc<S>>
__global__ void __launch_bounds__(kThreads, kExactBlocksPerSm<T>)
    exact_kernel(const S* d_in, std::size_t num_items, unsigned long long* d_bins, unsigned* d_flags) {
  constexpr int kWords = exact::Magnitude<T>::kWords;
  constexpr int kCopies = kExactCopies<T>;
  constexpr int kStride = kExactStride<T>;
  __shared__ std::uint32_t s_words[kCopies * kStride];
  __shared__ std::uint32_t s_carries[kWords];
  __shared__ unsigned s_flags;
  for (int w = threadIdx.x; w < kCopies * kStride; w += blockDim.x) s_words[w] = 0;
  for (int w = threadIdx.x; w < kWords; w += blockDim.x) s_carries[w] = 0;
  if (threadIdx.x == 0) s_flags = 0;
  __syncthreads();

  std::uint32_t* my_words = s_words + (static_cast<int>(threadIdx.x) % kWarp) % kCopies * kStride;
  std::uint32_t flags = 0;
  typename FloatBits<T>::UInt not_neg_zero = 0;
  // Each step a block reads kExactQuads consecutive spans of blockDim.x quads (coalesced), every
  // load of the step issued before the first add.  Steps wholly inside the input skip the bounds.
  const std::size_t span = static_cast<std::size_t>(blockDim.x) * kLanesPerThread;
  const std::size_t step = static_cast<std::size_t>(gridDim.x) * span * kExactQuads;
  const std::size_t first = static_cast<std::size_t>(blockIdx.x) * span * kExactQuads;
  const std::size_t mine = static_cast<std::size_t>(threadIdx.x) * kLanesPerThread;
  if (first < num_items) flags = exact::kSeen;  // OR-ed over the grid: set iff num_items > 0
  std::size_t base = first;
  for (; base + kExactQuads * span <= num_items; base += step) {
    T v[kExactQuads][kLanesPerThread];
#pragma unroll
    for (int q = 0; q < kExactQuads; ++q) load_quad(d_in + base + q * span + mine, v[q]);
    bool special = false;
#pragma unroll
    for (int q = 0; q < kExactQuads; ++q)
#pragma unroll
      for (int c = 0; c < kLanesPerThread; ++c) special |= exact_add(v[q][c], my_words, s_carries, not_neg_zero);
    if (special)  // rare: an Inf or NaN in this step; read again (keeping v alive would spill)
#pragma unroll 1
      for (int k = 0; k < kExactQuads * kLanesPerThread; ++k)
        flags |= exact::term_flags(widen(d_in[base + k / kLanesPerThread * span + mine + k % kLanesPerThread]));
  }
  if (base < num_items) {  // the block's last, partial step (only one block has one)
    for (int q = 0; q < kExactQuads; ++q) {
      const std::size_t i = base + q * span + mine;
      for (int c = 0; c < kLanesPerThread; ++c)
        if (i + c < num_items) {
          const T x = widen(d_in[i + c]);
          if (exact_add(x, my_words, s_carries, not_neg_zero)) flags |= exact::term_flags(x);
        }
    }
  }
  if (not_neg_zero) flags |= exact::kNotNegZero;
  atomicOr(&s_flags, flags);
  __syncthreads();
  for (int w = threadIdx.x; w < kWords; w += blockDim.x) {
    const std::uint64_t total = exact::magnitude_total(s_words + w, kCopies, kStride, s_carries[w]);
    if (total) {
      const exact::WideAdd a = exact::wide_add<T>(w, total);
      atomicAdd(&d_bins[a.bin], static_cast<unsigned long long>(a.value));
    }
  }
  if (threadIdx.x == 0) atomicOr(d_flags, s_flags);
}

// Exact, float accumulators: the same words, adds and carries as exact_kernel, laid out and
// issued so that the shared atomics run at full rate.  What the sm_90 SASS of exact_kernel<float>
// showed (tests/check_sass.py, family exact_lanes; docs/gpu-roofline.md):
//   1. each ATOMS.ADD's returned value feeds the carry test and its branch (BSSY ... BRA ... BSYNC)
//      before the next ATOMS.ADD issues: one shared atomic in flight per thread, so each thread
//      waits out a shared-memory round trip per element;
//   2. the 8 sets of 513 words by lane % 8 put lanes with neighbouring exponents in one bank
//      (bank = set + word mod 32): for uniform [0,1) input about 6 lanes meet on the busiest bank
//      of each warp's atomic (a 6-way replay), about 3.7 for the ill-conditioned input (a
//      Monte-Carlo count of the layout, not a measurement).
// Here: (1) a step's 16 terms are decoded, then its 16 atomics issued back to back (no result read
// in between), then the carries of all 16 tested at once, with one rarely taken branch;
// (2) each lane has its own copy of the words, word w of lane l at w * 32 + l: every atomic of a
// warp instruction in its own bank (bank = lane), whatever the data.
// Same result, bit for bit: every term adds the same magnitude to the same word (its top 9 bits)
// as in exact_kernel; only the copy differs.  A copy's 32-bit word wraps at most once per add
// (magnitude < 2^24) and the adding lane sees the wrap in the exact old value its atomic returns,
// so for every word, (its 32 copies summed) + 2^32 * (its carries) is the exact integer sum of the
// magnitudes added to it, whatever the copy and the order of each add.  So each word's total, the
// 64-bit global bins (integer atomics), the flags (the same OR) and the one rounding are those of
// exact_kernel and of the CPU's sum_exact (CudaSum.* and CudaHalfSum.* assert it bitwise on a GPU;
// tests/test_exact.cpp's ExactMagnitudeWords replays this layout on the CPU).
template <class U>
__device__ __forceinline__ bool exact_add_lane(float v, std::uint32_t* s_words, int lane, std::uint32_t* carries,
                                               U& not_neg_zero) {
  not_neg_zero |= exact::not_neg_zero_bits(v);
  const exact::MagnitudeF32 t = exact::decode_magnitude(v);
  const std::uint32_t old = atomicAdd(&s_words[exact::lane_word_index(static_cast<int>(t.word), lane)], t.mag);
  if (exact::add_carry(old, t.mag)) atomicAdd(&carries[t.word], 1u);
  return exact::is_special_word(t);
}

template <class S>
__global__ void __launch_bounds__(kThreads, kExactLanesBlocksPerSm)
    exact_lanes_kernel(const S* d_in, std::size_t num_items, unsigned long long* d_bins, unsigned* d_flags) {
  static_assert(std::is_same_v<Acc<S>, float>, "the lane-private layout is Magnitude<float>'s");
  constexpr int kWords = exact::Magnitude<float>::kWords;
  constexpr int kQuads = kExactLanesQuads;
  constexpr int kTerms = kQuads * kLanesPerThread;
  extern __shared__ uint4 s_dynamic[];  // kExactLanesSmem bytes: kWords x 32 lane copies
  std::uint32_t* s_words = reinterpret_cast<std::uint32_t*>(s_dynamic);
  __shared__ std::uint32_t s_carries[kWords];
  __shared__ unsigned s_flags;
  for (int i = threadIdx.x; i < static_cast<int>(kExactLanesSmem / sizeof(uint4)); i += blockDim.x)
    s_dynamic[i] = make_uint4(0u, 0u, 0u, 0u);
  for (int w = threadIdx.x; w < kWords; w += blockDim.x) s_carries[w] = 0;
  if (threadIdx.x == 0) s_flags = 0;
  __syncthreads();

  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  std::uint32_t flags = 0;
  std::uint32_t not_neg_zero = 0;
  // As exact_kernel: each step a block reads kQuads consecutive spans of blockDim.x quads
  // (coalesced), every load of the step issued before the first add.
  const std::size_t span = static_cast<std::size_t>(blockDim.x) * kLanesPerThread;
  const std::size_t step = static_cast<std::size_t>(gridDim.x) * span * kQuads;
  const std::size_t first = static_cast<std::size_t>(blockIdx.x) * span * kQuads;
  const std::size_t mine = static_cast<std::size_t>(threadIdx.x) * kLanesPerThread;
  if (first < num_items) flags = exact::kSeen;  // OR-ed over the grid: set iff num_items > 0
  std::size_t base = first;
  for (; base + kQuads * span <= num_items; base += step) {
    float v[kQuads][kLanesPerThread];
#pragma unroll
    for (int q = 0; q < kQuads; ++q) load_quad(d_in + base + q * span + mine, v[q]);
    std::uint32_t word[kTerms], mag[kTerms], old[kTerms];
    bool special = false;
#pragma unroll
    for (int k = 0; k < kTerms; ++k) {
      const float x = v[k / kLanesPerThread][k % kLanesPerThread];
      not_neg_zero |= exact::not_neg_zero_bits(x);
      const exact::MagnitudeF32 t = exact::decode_magnitude(x);
      word[k] = t.word;
      mag[k] = t.mag;
      special |= exact::is_special_word(t);
    }
#pragma unroll
    for (int k = 0; k < kTerms; ++k)  // all 16 atomics in flight: no returned value read yet
      old[k] = atomicAdd(&s_words[exact::lane_word_index(static_cast<int>(word[k]), lane)], mag[k]);
    std::uint32_t carry = 0;
#pragma unroll
    for (int k = 0; k < kTerms; ++k) carry |= exact::add_carry(old[k], mag[k]) << k;
    if (carry) {  // rare: some copy passed a multiple of 2^32 (unrolled: word[] stays in registers)
#pragma unroll
      for (int k = 0; k < kTerms; ++k)
        if ((carry >> k) & 1u) atomicAdd(&s_carries[word[k]], 1u);
    }
    if (special)  // rare: an Inf or NaN in this step; read again (keeping v alive would spill)
#pragma unroll 1
      for (int k = 0; k < kTerms; ++k)
        flags |= exact::term_flags(widen(d_in[base + k / kLanesPerThread * span + mine + k % kLanesPerThread]));
  }
  if (base < num_items) {  // the block's last, partial step (only one block has one)
    for (int q = 0; q < kQuads; ++q) {
      const std::size_t i = base + q * span + mine;
      for (int c = 0; c < kLanesPerThread; ++c)
        if (i + c < num_items) {
          const float x = widen(d_in[i + c]);
          if (exact_add_lane(x, s_words, lane, s_carries, not_neg_zero)) flags |= exact::term_flags(x);
        }
    }
  }
  if (not_neg_zero) flags |= exact::kNotNegZero;
  atomicOr(&s_flags, flags);
  __syncthreads();
  // Each warp folds whole words: lane l reads copy l (32 banks), a shuffle tree sums the 32
  // copies in 64 bits (integers: exact), and lane 0 adds the carries and the global bin.
  const int warp = static_cast<int>(threadIdx.x) / kWarp, warps = static_cast<int>(blockDim.x) / kWarp;
  for (int w = warp; w < kWords; w += warps) {
    unsigned long long part = s_words[exact::lane_word_index(w, lane)];
#pragma unroll
    for (int o = kWarp / 2; o > 0; o /= 2) part += __shfl_xor_sync(kFullMask, part, o);
    if (lane == 0) {
      const std::uint64_t total = part + (static_cast<std::uint64_t>(s_carries[w]) << 32);
      if (total) {
        const exact::WideAdd a = exact::wide_add<float>(w, total);
        atomicAdd(&d_bins[a.bin], static_cast<unsigned long long>(a.value));
      }
    }
  }
  if (threadIdx.x == 0) atomicOr(d_flags, s_flags);
}

// The one rounding, by one block.  Every thread reads the bins once (coalesced) and lists the
// nonzero ones in shared memory (an atomic count: the list's order varies from run to run, the
// integer sums do not); then one thread adds the listed bins (exact::sum_listed_bins) and rounds
// (exact::round_limbs), the CPU's finalize split at the same seams.  It was one thread
// walking every bin in global memory: a dependent L2 load a bin, 288 of them for a float
// accumulator and 2074 for double (about 40 and 290 us, estimated from the SASS: docs/gpu-roofline.md).
inline constexpr int kFinalizeThreads = 256;
template <class T>
__global__ void __launch_bounds__(kFinalizeThreads)
    exact_finalize_kernel(const unsigned long long* d_bins, const unsigned* d_flags, T* d_out) {
  constexpr int kBins = exact::Layout<T>::kBins;
  constexpr int kLimbs = exact::Layout<T>::kLimbs;
  __shared__ std::int64_t s_value[kBins];
  __shared__ std::uint16_t s_bin[kBins];
  __shared__ int s_count;
  if (threadIdx.x == 0) s_count = 0;
  __syncthreads();
  exact::list_nonzero_bins<T>(d_bins, static_cast<int>(threadIdx.x), kFinalizeThreads, &s_count, s_value, s_bin);
  __syncthreads();
  if (threadIdx.x != 0) return;
  std::uint64_t limbs[kLimbs];
  exact::sum_listed_bins<T>(s_value, s_bin, s_count, limbs);
  *d_out = exact::round_limbs<T>(limbs, *d_flags);
}

template <class T> std::size_t tree_level_items(std::size_t n, int level) {
  std::size_t items = n;
  for (int l = 0; l <= level; ++l) items = num_tiles(items);
  return items;
}

// What CUB and Thrust read: the input itself, or a widening view of a 16-bit input.
template <class S> auto input_iter(const S* p) {
  if constexpr (std::is_same_v<S, Acc<S>>) return p;
  else return thrust::make_transform_iterator(p, WidenOp<S>{});
}

template <class S> std::size_t temp_bytes_impl(SumVariant v, std::size_t n) {
  using T = Acc<S>;
  switch (v) {
    case SumVariant::tree:  // two ping-pong levels of partials
      return round_up(tree_level_items<T>(n, 0) * sizeof(T)) + round_up(tree_level_items<T>(n, 1) * sizeof(T));
    case SumVariant::exact:
      return round_up(exact::Layout<T>::kBins * sizeof(unsigned long long)) + round_up(sizeof(unsigned));
    case SumVariant::cub: {
      std::size_t bytes = 0;
      cub::DeviceReduce::Sum(nullptr, bytes, input_iter(static_cast<const S*>(nullptr)), static_cast<T*>(nullptr),
                             static_cast<std::int64_t>(n));
      return bytes;
    }
    default:
      return 0;
  }
}

// S is the stored type, T = Acc<S> the accumulator and result type.
// exact_prev: for v == exact with a float accumulator, the previous kernel (benchmark-only).
template <class S, class T = Acc<S>>
cudaError_t sum_impl(SumVariant v, const S* d_in, std::size_t n, T* d_out, void* d_temp, std::size_t temp_bytes,
                     cudaStream_t stream, bool exact_prev = false) {
  if (reinterpret_cast<std::uintptr_t>(d_in) % 16 != 0) return cudaErrorMisalignedAddress;
  // The scratch holds 64-bit atomic bins (exact) and T partials (tree); the result is a T: both as
  // sum.cuh asks (cudaMalloc's alignment serves), so that a misuse is an error, not a fault.
  if (reinterpret_cast<std::uintptr_t>(d_temp) % 16 != 0 || reinterpret_cast<std::uintptr_t>(d_out) % sizeof(T) != 0)
    return cudaErrorMisalignedAddress;
  // tree and exact size their scratch by arithmetic; CUB checks its own (no query in the timed region).
  if (v != SumVariant::cub && temp_bytes < temp_bytes_impl<S>(v, n)) return cudaErrorInvalidValue;
  // CUB takes a null scratch as a size query and sums nothing: *d_out would keep its old bits.
  if (v == SumVariant::cub && d_temp == nullptr) return cudaErrorInvalidValue;
  switch (v) {
    case SumVariant::atomic_element:
      CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_out, 0, sizeof(T), stream));
      if (n == 0) return cudaSuccess;  // nothing launched: cudaGetLastError would report an older call's error
      atomic_element_kernel<S><<<grid_for((n + kThreads - 1) / kThreads, kStreamBlocksPerSm), kThreads, 0, stream>>>(d_in, n, d_out);
      return cudaGetLastError();
    case SumVariant::atomic:
      CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_out, 0, sizeof(T), stream));
      if (n == 0) return cudaSuccess;
      tile_kernel<S, true><<<grid_for(num_tiles(n), kBlocksPerSm<T>), kThreads, 0, stream>>>(d_in, n, d_out);
      return cudaGetLastError();
    case SumVariant::tree: {
      if (n == 0) return cudaMemsetAsync(d_out, 0, sizeof(T), stream);
      T* bufs[2] = {static_cast<T*>(d_temp),
                    reinterpret_cast<T*>(static_cast<char*>(d_temp) + round_up(num_tiles(n) * sizeof(T)))};
      // Level 0 reads the stored type; the levels above reduce T partials.
      std::size_t tiles = num_tiles(n);
      T* dst = tiles == 1 ? d_out : bufs[0];
      tile_kernel<S, false><<<grid_for(tiles, kBlocksPerSm<T>), kThreads, 0, stream>>>(d_in, n, dst);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      if (tiles == 1) return cudaSuccess;
      const T* src = dst;
      n = tiles;
      for (int level = 1;; ++level) {
        tiles = num_tiles(n);
        dst = tiles == 1 ? d_out : bufs[level % 2];
        tile_kernel<T, false><<<grid_for(tiles, kBlocksPerSm<T>), kThreads, 0, stream>>>(src, n, dst);
        CUDA_RETURN_IF_ERROR(cudaGetLastError());
        if (tiles == 1) return cudaSuccess;
        src = dst;
        n = tiles;
      }
    }
    case SumVariant::exact: {
      auto* d_bins = static_cast<unsigned long long*>(d_temp);
      auto* d_flags = reinterpret_cast<unsigned*>(static_cast<char*>(d_temp) +
                                                  round_up(exact::Layout<T>::kBins * sizeof(unsigned long long)));
      if (n >= exact::Layout<T>::kMaxTermsPerBin) return cudaErrorInvalidValue;
      CUDA_RETURN_IF_ERROR(cudaMemsetAsync(d_temp, 0, temp_bytes_impl<S>(v, n), stream));
      if (n) {
        if constexpr (std::is_same_v<T, float>) {
          // exact_prev takes float input only (sum_exact_prev): exact_kernel<bf16|f16> is never built.
          bool prev = false;
          if constexpr (std::is_same_v<S, float>) {
            if (exact_prev) {
              exact_kernel<S><<<grid_for(ceil_div(n, kThreads * kLanesPerThread * kExactQuads), kExactBlocksPerSm<T>),
                                kThreads, 0, stream>>>(d_in, n, d_bins, d_flags);
              prev = true;
            }
          }
          if (!prev) {
            CUDA_RETURN_IF_ERROR(allow_dynamic_smem(exact_lanes_kernel<S>, kExactLanesSmem));
            static std::atomic<int> resident[kMaxDevices] = {};  // 2 on sm_80, 1 on sm_86/89/120
            const int per_sm = resident_blocks(resident, reinterpret_cast<const void*>(exact_lanes_kernel<S>), kThreads,
                                               kExactLanesSmem, kExactLanesBlocksPerSm);
            exact_lanes_kernel<S><<<grid_for(ceil_div(n, kThreads * kLanesPerThread * kExactLanesQuads), per_sm),
                                    kThreads, kExactLanesSmem, stream>>>(d_in, n, d_bins, d_flags);
          }
        } else {
          exact_kernel<S><<<grid_for(ceil_div(n, kThreads * kLanesPerThread * kExactQuads), kExactBlocksPerSm<T>),
                            kThreads, 0, stream>>>(d_in, n, d_bins, d_flags);
        }
        CUDA_RETURN_IF_ERROR(cudaGetLastError());
      }
      exact_finalize_kernel<T><<<1, kFinalizeThreads, 0, stream>>>(d_bins, d_flags, d_out);
      return cudaGetLastError();
    }
    case SumVariant::cub:
      return cub::DeviceReduce::Sum(d_temp, temp_bytes, input_iter(d_in), d_out, static_cast<std::int64_t>(n), stream);
    case SumVariant::thrust:
      try {
        T s;
        if constexpr (std::is_same_v<S, T>)
          s = thrust::reduce(thrust::cuda::par.on(stream), d_in, d_in + n, T(0), thrust::plus<T>());
        else
          s = thrust::transform_reduce(thrust::cuda::par.on(stream), d_in, d_in + n, WidenOp<S>{}, T(0), thrust::plus<T>());
        // From pageable memory the copy returns once `s` is staged: safe for a local.
        return cudaMemcpyAsync(d_out, &s, sizeof(T), cudaMemcpyHostToDevice, stream);
      } catch (const thrust::system_error& e) {
        return e.code().category() == thrust::cuda_category() ? static_cast<cudaError_t>(e.code().value())
                                                              : cudaErrorUnknown;
      } catch (const std::bad_alloc&) {
        return cudaErrorMemoryAllocation;
      }
    case SumVariant::serial:
      break;
  }
  return cudaErrorNotSupported;
}

}  // namespace

bool has_sum_variant(SumVariant v) { return (info(v).backends & kCuda) != 0; }  // the table says (serial: cpu only)

template <class T> std::size_t sum_temp_bytes(SumVariant v, std::size_t n) { return temp_bytes_impl<T>(v, n); }

template <class T>
cudaError_t sum(SumVariant v, const T* d_in, std::size_t n, T* d_out, void* d_temp, std::size_t temp_bytes,
                cudaStream_t stream) {
  return sum_impl<T>(v, d_in, n, d_out, d_temp, temp_bytes, stream);
}

cudaError_t sum_exact_prev(const float* d_in, std::size_t n, float* d_out, void* d_temp, std::size_t temp_bytes,
                           cudaStream_t stream) {
  return sum_impl<float>(SumVariant::exact, d_in, n, d_out, d_temp, temp_bytes, stream, /*exact_prev=*/true);
}

template <class S> std::size_t sum_half_temp_bytes(SumVariant v, std::size_t n) { return temp_bytes_impl<S>(v, n); }

template <class S>
cudaError_t sum_half(SumVariant v, const S* d_in, std::size_t n, float* d_out, void* d_temp, std::size_t temp_bytes,
                     cudaStream_t stream) {
  return sum_impl<S>(v, d_in, n, d_out, d_temp, temp_bytes, stream);
}

template std::size_t sum_temp_bytes<float>(SumVariant, std::size_t);
template std::size_t sum_temp_bytes<double>(SumVariant, std::size_t);
template cudaError_t sum<float>(SumVariant, const float*, std::size_t, float*, void*, std::size_t, cudaStream_t);
template cudaError_t sum<double>(SumVariant, const double*, std::size_t, double*, void*, std::size_t, cudaStream_t);
template std::size_t sum_half_temp_bytes<bf16>(SumVariant, std::size_t);
template std::size_t sum_half_temp_bytes<f16>(SumVariant, std::size_t);
template cudaError_t sum_half<bf16>(SumVariant, const bf16*, std::size_t, float*, void*, std::size_t, cudaStream_t);
template cudaError_t sum_half<f16>(SumVariant, const f16*, std::size_t, float*, void*, std::size_t, cudaStream_t);

}  // namespace driftlab::cuda
