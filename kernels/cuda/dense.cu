// Dense layers on CUDA, every variant side by side.
//
//   invariant  a chain kernel with Epilogue::bias_act: one FMA chain over all of K per output
//              (__fmaf_rn, increasing k), then + b and act.  No atomics.  The chain kernels
//              (launch_chain picks one; every one runs dense_order.h's chains, the same bits):
//              chain_skinny_kernel  B <= 64 (<= 128 when 128 x 128 tiles would fill <= 1/4 of the SMs),
//                                   K % 4 == 0 (16-bit: K % 8 == 0, N even): a thread a column
//                                   and 1-8 rows, k streamed through 6 cp.async stages (small
//                                   batches; 16-bit stages widened into a float stage);
//              chain_gemm_vec_kernel  float, K and N multiples of 4, aligned: 128 x 128 tiles of
//                                   8 x 8 a thread, A and B copied by 16 bytes (A row-major);
//              chain_gemm_kernel    anything else (and 16-bit storage): the same tiles, A copied
//                                   by 4 bytes (transposed).  dense_invariant_tiles(prev) forces it
//                                   (benchmark-only: the kernel of the first H200 run), and
//                                   dense_invariant_tiles(one_block) the vec kernel at one block an SM.
//   tree       a chain kernel with Epilogue::store, one grid z-slice per K-slice, partials to
//              d_temp; tree_combine_kernel adds them in dense_order.h's fixed tree.  No atomics.
//   atomic     bias_rows_kernel (y = b), a chain kernel with Epilogue::atomic_add: float atomics
//              ACCUMULATE the slice partials -- nondeterministic order; then act_kernel.
//   cublas     cublasSgemm (FP32) and bias_act_kernel.
//
// 16-bit storage (dense_half: bf16 or f16 x, W, b): the same kernels, instantiated on the storage
// type S; tiles load the 16-bit bits and widen them with half.h (exact), the chains are the float32
// ones above, and narrow_kernel rounds the float32 output to S (half.h's RNE).  chain_skinny_kernel
// copies the bits by 16 bytes (skinny::use16; W by 4 bytes when N % 8 != 0, N even); chain_gemm_kernel
// loads and widens them by 2 bytes.
// cublas becomes cublasGemmEx with CUDA_R_16BF / CUDA_R_16F inputs, a float32 output and CUBLAS_COMPUTE_32F.
#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "kernels/common/dropout.h"
#include "kernels/common/half.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dense.cuh"
#include "kernels/cuda/launch.h"

namespace driftlab::cuda {
namespace {

using dense::Activation;

enum class Epilogue { store, atomic_add, bias_act };

namespace tl = dense::tile;
constexpr int kBM = tl::kBM, kBN = tl::kBN, kBK = tl::kBK, kThreads = tl::kThreads, kTM = tl::kTM, kTN = tl::kTN;
static_assert(kTM == 8 && kTN == 8 && kThreads == 256 && kBM == 128 && kBN == 128, "the 2 x 2 sub-tiles of 4 x 4");

// cp.async: 4 or 16 bytes from global to shared without a register round trip; src_bytes 0
// writes zeros (a padded element) and reads nothing.
__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 4 : 0) : "memory");
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
// The same with the byte count in a register: 16 (a copy) or 0 (zeros; the source is not read).
__device__ __forceinline__ void cp_async16n(float* dst, const void* src, int src_bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// A thread's kTM x kTN outputs of the block tile at (row0, col0), slice s: stored to its plane
// (store), atomically added (atomic_add), or + bias and act (bias_act, with the trace hook).
// kVecMap: the outputs of tile::vec_thread_row / vec_thread_col (chain_gemm_vec_kernel), else of
// tile::thread_row / thread_col (chain_gemm_kernel).
template <Epilogue kEp, bool kVecMap = false, class T>
__device__ __forceinline__ void write_outputs(const float (&acc)[kTM][kTN], float* C, std::size_t M, std::size_t N,
                                              std::size_t s, std::size_t row0, std::size_t col0, int tid,
                                              const T* __restrict__ bias, Activation act, float* matmul) {
  float* plane = C + (kEp == Epilogue::store ? s * M * N : 0);
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const std::size_t r = row0 + (kVecMap ? tl::vec_thread_row(tid, i) : tl::thread_row(tid, i));
    if (r >= M) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const std::size_t c = col0 + (kVecMap ? tl::vec_thread_col(tid, j) : tl::thread_col(tid, j));
      if (c >= N) continue;
      if constexpr (kEp == Epilogue::store) plane[r * N + c] = acc[i][j];
      else if constexpr (kEp == Epilogue::atomic_add) atomicAdd(&plane[r * N + c], acc[i][j]);
      else {
        if (matmul) matmul[r * N + c] = acc[i][j];  // the trace hook
        plane[r * N + c] = dense::activate(dense::add(acc[i][j], widen(bias[c])), act);
      }
    }
  }
}

// The tiled core of every chain variant.  Block tile 128 x 128 outputs, k tiles of 16, 256
// threads of 8 x 8 outputs each (dense_order.h's tile:: mapping); two shared stages: tile t+1 is
// copied (cp.async) while tile t is computed, one barrier per tile.  Per k step a thread reads
// its 8 A and 8 B values with four 16-byte shared loads (conflict-free: a warp reads 2 A vectors,
// broadcast, and 16 consecutive B vectors) and runs 64 fmas; full tiles are unrolled by kBK.
// Each output is one fma chain over [k0, k1) in increasing k: dense_order.h's chain.
// T: the storage type of A, B and bias (float, bf16 or f16).  float tiles are copied with
// cp.async (A 4 bytes, transposed; B 16 bytes when vec_b: N % 4 == 0 and B 16-byte aligned);
// 16-bit tiles are loaded, widened (exact) and stored by the threads.
template <Epilogue kEp, class T = float>
__global__ void __launch_bounds__(kThreads)
    chain_gemm_kernel(const T* __restrict__ A, const T* __restrict__ B, float* C, std::size_t M,
                      std::size_t N, std::size_t K, std::size_t S, const T* __restrict__ bias, Activation act,
                      float* matmul, bool vec_b) {
  __shared__ __align__(16) float As[2][kBK][tl::kLdA];
  __shared__ __align__(16) float Bs[2][kBK][kBN];
  const std::size_t s = blockIdx.z;
  const std::size_t k0 = dense::slice_begin(K, S, s), k1 = dense::slice_end(K, S, s);
  const std::size_t row0 = static_cast<std::size_t>(blockIdx.y) * kBM, col0 = static_cast<std::size_t>(blockIdx.x) * kBN;
  const int tid = threadIdx.x;

  // The copies' sources (dense_order.h's tile::a_copy and b_copy*): copy q of A reads row
  // ra0 + 32 * (q / 2), k ka0 + 8 * (q % 2) of the tile; rows are checked once, k per tile.
  int ra_first, ka0;
  tl::a_copy(tid, 0, ra_first, ka0);
  const std::size_t a_rows = 32 * K;
  bool row_ok[tl::kACopies / 2];
#pragma unroll
  for (int p = 0; p < tl::kACopies / 2; ++p) row_ok[p] = row0 + ra_first + 32 * p < M;
  const T* a_src = A + (row0 + ra_first) * K + ka0;  // + (q / 2) * a_rows + 8 * (q % 2) + kt

  // Stage `st` <- the tile of k [kt, kt + kBK): rows beyond M, columns beyond N, k beyond k1 are 0.
  auto load_tile = [&](int st, std::size_t kt) {
#pragma unroll
    for (int q = 0; q < tl::kACopies; ++q) {
      int r, kk;
      tl::a_copy(tid, q, r, kk);  // = (ra_first + 32 * (q / 2), ka0 + 8 * (q % 2))
      const bool ok = row_ok[q / 2] && kt + kk < k1;
      const T* src = a_src + (q / 2) * a_rows + (8 * (q % 2) + kt);
      if constexpr (std::is_same_v<T, float>) cp_async4(&As[st][kk][r], ok ? src : A, ok);
      else As[st][kk][r] = ok ? widen(*src) : 0.0f;
    }
    if (std::is_same_v<T, float> && vec_b) {
#pragma unroll
      for (int q = 0; q < tl::kBCopiesVec; ++q) {
        int kk, c;
        tl::b_copy_vec(tid, q, kk, c);
        const std::size_t gk = kt + kk, gc = col0 + c;
        const bool ok = gk < k1 && gc < N;  // N % 4 == 0: the 4 columns are all in or all out
        cp_async16(&Bs[st][kk][c], ok ? B + gk * N + gc : B, ok);
      }
    } else {
#pragma unroll
      for (int q = 0; q < tl::kBCopies; ++q) {
        int kk, c;
        tl::b_copy(tid, q, kk, c);
        const std::size_t gk = kt + kk, gc = col0 + c;
        const bool ok = gk < k1 && gc < N;
        if constexpr (std::is_same_v<T, float>) cp_async4(&Bs[st][kk][c], ok ? B + gk * N + gc : B, ok);
        else Bs[st][kk][c] = ok ? widen(B[gk * N + gc]) : 0.0f;
      }
    }
  };

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;

  // The fragments: rows thread_row(tid, 0..3) and (tid, 4..7) are two runs of 4 (likewise columns).
  const int ra0 = tl::thread_row(tid, 0), ra1 = tl::thread_row(tid, 4);
  const int cb0 = tl::thread_col(tid, 0), cb1 = tl::thread_col(tid, 4);
  auto step = [&](int st, int kk) {
    const float4 a0 = *reinterpret_cast<const float4*>(&As[st][kk][ra0]);
    const float4 a1 = *reinterpret_cast<const float4*>(&As[st][kk][ra1]);
    const float4 b0 = *reinterpret_cast<const float4*>(&Bs[st][kk][cb0]);
    const float4 b1 = *reinterpret_cast<const float4*>(&Bs[st][kk][cb1]);
    const float a[kTM] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    const float b[kTN] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    tl::fma_step(acc, a, b);
  };

  const std::size_t tiles = (k1 - k0 + kBK - 1) / kBK;
  if (tiles > 0) load_tile(0, k0);
  cp_async_commit();
  for (std::size_t t = 0; t < tiles; ++t) {
    cp_async_wait_all();
    __syncthreads();  // tile t is in stage t % 2 for everyone; everyone is done with tile t - 1
    const int cur = static_cast<int>(t & 1);
    if (t + 1 < tiles) load_tile(cur ^ 1, k0 + (t + 1) * kBK);
    cp_async_commit();
    const std::size_t kt = k0 + t * kBK;
    if (k1 - kt >= static_cast<std::size_t>(kBK)) {
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) step(cur, kk);
    } else {  // the last, short tile: only its real k steps
      const int n = tl::steps(kt, k1);
#pragma unroll 1
      for (int kk = 0; kk < n; ++kk) step(cur, kk);
    }
  }

  write_outputs<kEp>(acc, C, M, N, s, row0, col0, tid, bias, act, matmul);
}

// The 16-byte path (dense_order.h's tile::vec_copies: float, K and N multiples of 4, aligned, slices
// starting at multiples of 4): the kernel above with A's tile row-major, As[r][kLdAr], so that A is
// copied like B, by 16-byte cp.async (2 of A and 2 of B per thread per tile, was 8 + 2: the copies'
// address arithmetic was about 150 of the 1300 instructions of a tile).  Per 4 k a thread reads its
// 8 rows' 4 k values (eight 16-byte loads, each shared by lanes n and n ^ 2) and its B vectors
// (shared by lanes n and n ^ 1: tile::vec_thread_row / vec_thread_col), then runs the 4 fma_steps
// in increasing k.  Same chains as chain_gemm_kernel: the same bits.
// The copies' sources advance by kBK (A) and kBK rows (B) a tile from pointers made once; copy q
// is copy 0 plus compile-time row steps (tile::kARowStep, kBRowStep), which keeps the registers
// below 128 without spilling the copies' indices (session 19).
// kMinBlocks 2 (the one dense(invariant) runs): two blocks an SM (16 warps; 128 registers, 36 KiB
// shared each): the measured one-block kernel reached 56% of the FP32 peak where its instruction
// count allowed 85%, the rest stalls at the barrier and on shared loads that a second block's warps
// can fill.  At 128 registers ptxas keeps 8 bytes in local memory in the bias_act build (1 L1
// load a tile, outside the k steps; none in the others).  kMinBlocks 1 (benchmark-only,
// invariant_1block: registers up to the 255 of one block an SM, 167 used on sm_90, as the measured
// kernel ran) is timed beside it,
// so that the GPU decides which occupancy this tile wants; both run the same chains, the same bits.
template <Epilogue kEp, int kMinBlocks = 2>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    chain_gemm_vec_kernel(const float* __restrict__ A, const float* __restrict__ B, float* C, std::size_t M,
                          std::size_t N, std::size_t K, std::size_t S, const float* __restrict__ bias, Activation act,
                          float* matmul) {
  constexpr int kLd = tl::kLdAr;
  __shared__ __align__(16) float As[2][kBM][kLd];
  __shared__ __align__(16) float Bs[2][kBK][kBN];
  const std::size_t s = blockIdx.z;
  const std::size_t k0 = dense::slice_begin(K, S, s), k1 = dense::slice_end(K, S, s);
  const std::size_t row0 = static_cast<std::size_t>(blockIdx.y) * kBM, col0 = static_cast<std::size_t>(blockIdx.x) * kBN;
  const int tid = threadIdx.x;
  __builtin_assume(tid >= 0 && tid < kThreads);  // the block shape: signed divisions become shifts

  // Copy q: A row ar + q * kARowStep, k ak .. +3 (dense_order.h's a_copy_vec); B row bk + q *
  // kBRowStep, columns bc .. +3 (b_copy_vec).  An A row beyond M or B columns beyond N are never
  // read: 0 bytes copied (zeros), from a source that stays inside x and W in every full tile (row 0
  // of A; columns 0..3 of B; N % 4 == 0 so N >= 4).  The B copies share their columns, so one
  // source serves both (copy q at + q * kBRowStep rows).
  int ar, ak, bk, bc;
  tl::a_copy_vec(tid, 0, ar, ak);
  tl::b_copy_vec(tid, 0, bk, bc);
  const float* a_src[tl::kACopiesVec];  // the next tile's sources: advanced by kBK (A), kBK rows (B)
  unsigned a_in = 0;                    // bit q: A copy q's row is < M
#pragma unroll
  for (int q = 0; q < tl::kACopiesVec; ++q) {
    const std::size_t r = row0 + ar + q * tl::kARowStep;
    a_in |= r < M ? 1u << q : 0u;
    a_src[q] = A + (r < M ? r * K : 0) + k0 + ak;
  }
  const bool b_in = col0 + bc < N;  // N % 4 == 0: the 4 columns are all in or all out
  const float* b_src = B + (k0 + bk) * N + (b_in ? col0 + bc : 0);
  const std::size_t b_step = static_cast<std::size_t>(kBK) * N, b_q = static_cast<std::size_t>(tl::kBRowStep) * N;
  float* const a_dst = &As[0][ar][ak];  // copy q of stage st: + st * kBM * kLd + q * kARowStep * kLd
  float* const b_dst = &Bs[0][bk][bc];  // + st * kBK * kBN + q * kBRowStep * kBN

  // Stage `st` <- the next tile, `real` k steps of it, then the sources advance.  A full tile (the
  // common case) copies with no test; the last, short one copies 0 bytes (zeros, from x or W
  // itself) at k >= k1: a 16-byte chunk never straddles k1 (every slice starts and ends at a
  // multiple of 4).
  auto load_tile = [&](int st, std::size_t kt) {
    const int real = tl::steps(kt, k1);
    float* const ad = a_dst + st * (kBM * kLd);
    float* const bd = b_dst + st * (kBK * kBN);
    if (real == kBK) {
#pragma unroll
      for (int q = 0; q < tl::kACopiesVec; ++q) cp_async16n(ad + q * tl::kARowStep * kLd, a_src[q], a_in >> q & 1 ? 16 : 0);
#pragma unroll
      for (int q = 0; q < tl::kBCopiesVec; ++q) cp_async16n(bd + q * tl::kBRowStep * kBN, b_src + q * b_q, b_in ? 16 : 0);
    } else {
#pragma unroll
      for (int q = 0; q < tl::kACopiesVec; ++q) {
        const bool ok = (a_in >> q & 1) && ak < real;
        cp_async16(ad + q * tl::kARowStep * kLd, ok ? a_src[q] : A, ok);
      }
#pragma unroll
      for (int q = 0; q < tl::kBCopiesVec; ++q) {
        const bool ok = b_in && bk + q * tl::kBRowStep < real;
        cp_async16(bd + q * tl::kBRowStep * kBN, ok ? b_src + q * b_q : B, ok);
      }
    }
#pragma unroll
    for (int q = 0; q < tl::kACopiesVec; ++q) a_src[q] += kBK;
    b_src += b_step;
  };

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;

  int rows[kTM];
#pragma unroll
  for (int i = 0; i < kTM; ++i) rows[i] = tl::vec_thread_row(tid, i);
  const int cb0 = tl::vec_thread_col(tid, 0), cb1 = tl::vec_thread_col(tid, 4);
  auto b_step_k = [&](int st, int kk, const float (&a)[kTM]) {
    const float4 b0 = *reinterpret_cast<const float4*>(&Bs[st][kk][cb0]);
    const float4 b1 = *reinterpret_cast<const float4*>(&Bs[st][kk][cb1]);
    const float b[kTN] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
    tl::fma_step(acc, a, b);
  };

  const std::size_t tiles = (k1 - k0 + kBK - 1) / kBK;
  if (tiles > 0) load_tile(0, k0);
  cp_async_commit();
  for (std::size_t t = 0; t < tiles; ++t) {
    cp_async_wait_all();
    __syncthreads();  // tile t is in stage t % 2 for everyone; everyone is done with tile t - 1
    const int cur = static_cast<int>(t & 1);
    if (t + 1 < tiles) load_tile(cur ^ 1, k0 + (t + 1) * kBK);
    cp_async_commit();
    const std::size_t kt = k0 + t * kBK;
    if (k1 - kt >= static_cast<std::size_t>(kBK)) {
#pragma unroll
      for (int k4 = 0; k4 < kBK; k4 += 4) {
        float4 a4[kTM];
#pragma unroll
        for (int i = 0; i < kTM; ++i) a4[i] = *reinterpret_cast<const float4*>(&As[cur][rows[i]][k4]);
        {
          float a[kTM];
#pragma unroll
          for (int i = 0; i < kTM; ++i) a[i] = a4[i].x;
          b_step_k(cur, k4, a);
        }
        {
          float a[kTM];
#pragma unroll
          for (int i = 0; i < kTM; ++i) a[i] = a4[i].y;
          b_step_k(cur, k4 + 1, a);
        }
        {
          float a[kTM];
#pragma unroll
          for (int i = 0; i < kTM; ++i) a[i] = a4[i].z;
          b_step_k(cur, k4 + 2, a);
        }
        {
          float a[kTM];
#pragma unroll
          for (int i = 0; i < kTM; ++i) a[i] = a4[i].w;
          b_step_k(cur, k4 + 3, a);
        }
      }
    } else {  // the last, short tile: only its real k steps
      const int n = tl::steps(kt, k1);
#pragma unroll 1
      for (int kk = 0; kk < n; ++kk) {
        float a[kTM];
#pragma unroll
        for (int i = 0; i < kTM; ++i) a[i] = As[cur][rows[i]][kk];
        b_step_k(cur, kk, a);
      }
    }
  }
  write_outputs<kEp, true>(acc, C, M, N, s, row0, col0, tid, bias, act, matmul);
}

// Small batches (dense_order.h's skinny::, M <= 64, x copied by 16 bytes): a thread owns one column
// and R rows, a warp 32 columns, a block `warps` warps stacked over the rows; k streams through
// kStages shared stages of kSK (cp.async: x by 16 bytes, W by 16 or 4), refilled one stage ahead.  Per
// k a thread reads its W value (32 consecutive floats a warp) and, per 4 k, its rows' x vectors
// (a broadcast), then one fma per row in increasing k: chain(i, j, k0, k1), the same bits.
namespace sk = dense::skinny;

template <int kPending>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory"); }

// 16 bits (T = bf16, f16; dense_order.h's skinny::use16): the ring holds the bits (x by 16 bytes,
// 8 values; W by 16, or by 4 bytes, 2 values, when !vec_w: vec_w16); a landed stage is widened into one float stage (Ws, Xs) between two barriers,
// and the k steps below read that: the float kernel's steps on the same values.
template <class T>
__device__ __forceinline__ void widen8(const T* __restrict__ src, float* __restrict__ dst) {
  const uint4 v = *reinterpret_cast<const uint4*>(src);
  const unsigned w[4] = {v.x, v.y, v.z, v.w};
  float f[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = widen(T{static_cast<std::uint16_t>(w[i] & 0xffffu)});
    f[2 * i + 1] = widen(T{static_cast<std::uint16_t>(w[i] >> 16)});
  }
  reinterpret_cast<float4*>(dst)[0] = make_float4(f[0], f[1], f[2], f[3]);
  reinterpret_cast<float4*>(dst)[1] = make_float4(f[4], f[5], f[6], f[7]);
}

template <Epilogue kEp, int R, class T = float>
__global__ void __launch_bounds__(sk::kMaxWarps * 32)
    chain_skinny_kernel(const T* __restrict__ A, const T* __restrict__ B, float* C, std::size_t M,
                        std::size_t N, std::size_t K, std::size_t S, const T* __restrict__ bias, Activation act,
                        float* matmul, bool vec_w) {
  constexpr bool kHalf = !std::is_same_v<T, float>;
  extern __shared__ __align__(16) float sk_smem[];
  const int threads = static_cast<int>(blockDim.x), rows = threads / 32 * R;
  // float: the ring, read in place.  16 bits: the float stage first (Ws [kSK][kCols], Xs [rows][kSK]),
  // then the ring of bits (Wr [kStages][kSK][kCols], Xr [kStages][rows][kSK]).  skinny::smem.
  const sk::Smem L = sk::smem(rows, kHalf);
  unsigned char* base = reinterpret_cast<unsigned char*>(sk_smem);
  float* Ws = reinterpret_cast<float*>(base + L.ws);
  float* Xs = reinterpret_cast<float*>(base + L.xs);
  T* Wr = reinterpret_cast<T*>(base + L.wr);
  T* Xr = reinterpret_cast<T*>(base + L.xr);
  const std::size_t s = blockIdx.z;
  const std::size_t k0 = dense::slice_begin(K, S, s), k1 = dense::slice_end(K, S, s);
  const std::size_t row0 = static_cast<std::size_t>(blockIdx.y) * rows, col0 = static_cast<std::size_t>(blockIdx.x) * sk::kCols;
  const int tid = threadIdx.x, lane = tid % 32, w = tid / 32;

  // Stage st <- k [kt, kt + kSK): W rows beyond k1 or columns beyond N, x rows beyond M or k
  // beyond k1 are zeros (0 bytes copied; a 16-byte copy never straddles k1: tile::vec_copies).
  auto load = [&](int st, std::size_t kt) {
    const int real = sk::steps(kt, k1);
    if constexpr (kHalf) {
      // W: copies of 8 values (vec_w: N % 8 == 0) or 2 (N even); a copy's columns are all in or all out
      for (int e = tid; e < sk::kSK * sk::kCols / (vec_w ? 8 : 2); e += threads) {
        int kk, c;
        if (vec_w) sk::w_copy16(e, kk, c);
        else sk::w_copy16_2(e, kk, c);
        const bool ok = kk < real && col0 + c < N;
        T* dst = &Wr[(st * sk::kSK + kk) * sk::kCols + c];
        const T* src = ok ? B + (kt + kk) * N + col0 + c : B;
        if (vec_w) cp_async16(dst, src, ok);
        else cp_async4(dst, src, ok);
      }
      for (int e = tid; e < rows * sk::kSK / 8; e += threads) {
        int r, kk;
        sk::x_copy16(e, r, kk);
        const bool ok = row0 + r < M && kk < real;
        cp_async16(&Xr[(st * rows + r) * sk::kSK + kk], ok ? A + (row0 + r) * K + kt + kk : A, ok);
      }
    } else {
      if (vec_w) {
        for (int e = tid; e < sk::kSK * sk::kCols / 4; e += threads) {
          int kk, c;
          sk::w_copy(e, kk, c);
          const bool ok = kk < real && col0 + c < N;  // N % 4 == 0: the 4 columns are all in or all out
          cp_async16(&Ws[(st * sk::kSK + kk) * sk::kCols + c], ok ? B + (kt + kk) * N + col0 + c : B, ok);
        }
      } else {
        for (int e = tid; e < sk::kSK * sk::kCols; e += threads) {
          int kk, c;
          sk::w_copy4(e, kk, c);
          const bool ok = kk < real && col0 + c < N;
          cp_async4(&Ws[(st * sk::kSK + kk) * sk::kCols + c], ok ? B + (kt + kk) * N + col0 + c : B, ok);
        }
      }
      for (int e = tid; e < rows * sk::kSK / 4; e += threads) {
        int r, kk;
        sk::x_copy(e, r, kk);
        const bool ok = row0 + r < M && kk < real;
        cp_async16(&Xs[(st * rows + r) * sk::kSK + kk], ok ? A + (row0 + r) * K + kt + kk : A, ok);
      }
    }
  };

  const std::size_t stages = (k1 - k0 + sk::kSK - 1) / sk::kSK;
#pragma unroll
  for (int t = 0; t < sk::kStages - 1; ++t) {  // the first kStages - 1 stages in flight
    if (static_cast<std::size_t>(t) < stages) load(t, k0 + static_cast<std::size_t>(t) * sk::kSK);
    cp_async_commit();
  }
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  for (std::size_t t = 0; t < stages; ++t) {
    cp_async_wait<sk::kStages - 2>();  // this thread's copies of stage t have landed
    __syncthreads();                   // everyone's have; everyone is done with stage t - 1
    const std::size_t next = t + sk::kStages - 1;  // into stage t - 1's buffer
    if (next < stages) load(static_cast<int>(next % sk::kStages), k0 + next * sk::kSK);
    cp_async_commit();
    int st = static_cast<int>(t % sk::kStages);
    if constexpr (kHalf) {  // stage t's bits, landed for everyone, widened into the float stage
      for (int e = tid; e < sk::kSK * sk::kCols / 8; e += threads) widen8(&Wr[st * sk::kSK * sk::kCols + 8 * e], &Ws[8 * e]);
      for (int e = tid; e < rows * sk::kSK / 8; e += threads) widen8(&Xr[st * rows * sk::kSK + 8 * e], &Xs[8 * e]);
      __syncthreads();
      st = 0;
    }
    const float* wv = &Ws[st * sk::kSK * sk::kCols + lane];
    const float* xv = &Xs[(st * rows + w * R) * sk::kSK];
    const std::size_t kt = k0 + t * sk::kSK;
    if (k1 - kt >= static_cast<std::size_t>(sk::kSK)) {
#pragma unroll
      for (int k4 = 0; k4 < sk::kSK; k4 += 4) {
        float4 x4[R];
#pragma unroll
        for (int r = 0; r < R; ++r) x4[r] = *reinterpret_cast<const float4*>(&xv[r * sk::kSK + k4]);
        const float w0 = wv[(k4 + 0) * sk::kCols], w1 = wv[(k4 + 1) * sk::kCols], w2 = wv[(k4 + 2) * sk::kCols],
                    w3 = wv[(k4 + 3) * sk::kCols];
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = dense::fma(x4[r].x, w0, acc[r]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = dense::fma(x4[r].y, w1, acc[r]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = dense::fma(x4[r].z, w2, acc[r]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = dense::fma(x4[r].w, w3, acc[r]);
      }
    } else {  // the last, short stage: only its real k steps
      const int n = sk::steps(kt, k1);
#pragma unroll 1
      for (int kk = 0; kk < n; ++kk) {
        const float wk = wv[kk * sk::kCols];
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] = dense::fma(xv[r * sk::kSK + kk], wk, acc[r]);
      }
    }
  }
  cp_async_wait<0>();  // no copy outlives the block (the last groups are empty)

  const std::size_t c = col0 + lane;
  if (c >= N) return;
  float* plane = C + (kEp == Epilogue::store ? s * M * N : 0);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::size_t i = row0 + w * R + r;
    if (i >= M) break;
    if constexpr (kEp == Epilogue::store) plane[i * N + c] = acc[r];
    else if constexpr (kEp == Epilogue::atomic_add) atomicAdd(&plane[i * N + c], acc[r]);
    else {
      if (matmul) matmul[i * N + c] = acc[r];  // the trace hook
      plane[i * N + c] = dense::activate(dense::add(acc[r], widen(bias[c])), act);
    }
  }
}

template <class T>
__global__ void bias_rows_kernel(float* y, const T* b, std::size_t count, std::size_t N) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = widen(b[e % N]);
}

__global__ void act_kernel(float* y, std::size_t count, Activation act) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dense::activate(y[e], act);
}

template <class T>
__global__ void bias_act_kernel(float* y, const T* b, std::size_t count, std::size_t N, Activation act) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dense::activate(dense::add(y[e], widen(b[e % N])), act);
}

// The stored 16-bit output: y32 rounded to S (half.h, ties to even).
template <class S>
__global__ void narrow_kernel(const float* y32, S* y, std::size_t count) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = Narrow<S>::from(y32[e]);
}

template <class T>
__global__ void tree_combine_kernel(const float* p, float* y, const T* b, std::size_t count, std::size_t N,
                                    std::size_t S, Activation act, float* matmul) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float v = dense::tree_combine(p + e, S, count);
    if (matmul) matmul[e] = v;  // the trace hook
    y[e] = dense::activate(dense::add(v, widen(b[e % N])), act);
  }
}

__global__ void dropout_kernel(float* y, std::size_t count, std::uint32_t threshold, float scale, std::uint64_t seed,
                               std::uint64_t call, std::uint32_t layer) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[e] = dropout::apply(y[e], dropout::dropout_word(seed, call, layer, e), threshold, scale);
}

unsigned elementwise_grid(std::size_t count) {
  const std::size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 65535 ? (blocks ? blocks : 1) : 65535);
}

// B tiles by 16-byte copies: float storage, rows of a multiple of 4 floats, a 16-byte aligned W.
template <class T>
bool vec_b(const T* d_W, std::size_t N) {
  return std::is_same_v<T, float> && N % 4 == 0 && reinterpret_cast<std::uintptr_t>(d_W) % 16 == 0;
}

// tile::grid: checked by dense_any (tile::Grid::fits) before any launch.
dim3 gemm_grid(std::size_t M, std::size_t N, std::size_t slices) {
  const tl::Grid g = tl::grid(M, N, slices);
  return dim3(static_cast<unsigned>(g.x), static_cast<unsigned>(g.y), static_cast<unsigned>(g.z));
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }
bool aligned4(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 4 == 0; }

// The small-batch kernel (dense_order.h's skinny::): float (x by 16 bytes, W by 16 or 4: vec_w) or
// 16-bit storage (x by 16 bytes, W by 16 or 4: vec_w16).
template <Epilogue kEp, class T>
cudaError_t launch_skinny(const T* A, const T* B, float* C, std::size_t M, std::size_t N, std::size_t K, std::size_t S,
                          const T* bias, Activation act, float* matmul, cudaStream_t stream, bool vec_w, int sms) {
  const sk::Launch l = sk::launch(M, N, S, sms);
  const int R = l.R, warps = l.warps;
  const dim3 grid(static_cast<unsigned>((N + sk::kCols - 1) / sk::kCols), static_cast<unsigned>(l.row_blocks),
                  static_cast<unsigned>(S));
  const std::size_t smem = sk::smem(warps * R, !std::is_same_v<T, float>).end;
  auto go = [&](auto kernel) {
    CUDA_RETURN_IF_ERROR(allow_dynamic_smem(kernel, smem));  // over 48 KiB (33-64 rows): opt in, once per device
    kernel<<<grid, 32 * warps, smem, stream>>>(A, B, C, M, N, K, S, bias, act, matmul, vec_w);
    return cudaGetLastError();
  };
  switch (R) {
    case 1: return go(chain_skinny_kernel<kEp, 1, T>);
    case 2: return go(chain_skinny_kernel<kEp, 2, T>);
    case 4: return go(chain_skinny_kernel<kEp, 4, T>);
    default: return go(chain_skinny_kernel<kEp, 8, T>);
  }
}

// One chain product of any epilogue: chain_skinny_kernel for at most skinny::kMaxRows rows, or
// kMaxMidRows when the tiles would leave most SMs idle (skinny::use for float, skinny::use16 for
// 16-bit storage), else for float chain_gemm_vec_kernel
// on the 16-byte path (tile::vec_copies); else chain_gemm_kernel.  `tiles` (benchmark-only,
// dense_invariant_tiles) forces one tile kernel instead: prev, chain_gemm_kernel (the kernel of the
// first H200 run), or one_block, chain_gemm_vec_kernel at one block an SM (the 16-byte path only).
template <Epilogue kEp, class T>
cudaError_t launch_chain(const T* A, const T* B, float* C, std::size_t M, std::size_t N, std::size_t K, std::size_t S,
                         const T* bias, Activation act, float* matmul, cudaStream_t stream,
                         std::optional<InvariantTiles> tiles = std::nullopt) {
  const bool forced = tiles.has_value();  // a tile kernel named: never the small-batch one
  // the SM count (launch.h; 0 if unknown): for mid batches (skinny::rows_fit) and small grids (skinny::launch)
  const int sms = M > 1 && M <= static_cast<std::size_t>(sk::kMaxMidRows) ? sm_count() : 0;
  if constexpr (std::is_same_v<T, float>) {
    if (!forced && sk::use(M, K, N, S, aligned16(A), sms))
      return launch_skinny<kEp>(A, B, C, M, N, K, S, bias, act, matmul, stream, sk::vec_w(N, aligned16(B)), sms);
    if (tiles != InvariantTiles::prev && tl::vec_copies(K, N, S, aligned16(A) && aligned16(B))) {
      if constexpr (kEp == Epilogue::bias_act) {  // the one-block build exists for invariant only
        if (tiles == InvariantTiles::one_block) {
          chain_gemm_vec_kernel<kEp, 1><<<gemm_grid(M, N, S), kThreads, 0, stream>>>(A, B, C, M, N, K, S, bias, act, matmul);
          return cudaGetLastError();
        }
      }
      chain_gemm_vec_kernel<kEp><<<gemm_grid(M, N, S), kThreads, 0, stream>>>(A, B, C, M, N, K, S, bias, act, matmul);
      return cudaGetLastError();
    }
    if (tiles == InvariantTiles::one_block) return cudaErrorInvalidValue;  // not on the 16-byte path: no such kernel
  } else {
    if (!forced && sk::use16(M, K, N, S, aligned16(A), aligned4(B), sms))
      return launch_skinny<kEp>(A, B, C, M, N, K, S, bias, act, matmul, stream, sk::vec_w16(N, aligned16(B)), sms);
  }
  chain_gemm_kernel<kEp, T><<<gemm_grid(M, N, S), kThreads, 0, stream>>>(A, B, C, M, N, K, S, bias, act, matmul, vec_b(B, N));
  return cudaGetLastError();
}

}  // namespace

std::size_t dense_temp_bytes(DenseVariant v, std::size_t B, std::size_t K, std::size_t N, std::size_t S) {
  (void)K;
  return v == DenseVariant::tree ? S * B * N * sizeof(float) : 0;
}

namespace {

// The one body of dense and dense_half: T is the storage type of x, W and b.
template <class T>
cudaError_t dense_any(DenseVariant v, const T* d_x, const T* d_W, const T* d_b, float* d_y, std::size_t B, std::size_t K,
                      std::size_t N, Activation act, std::size_t S, void* d_temp, std::size_t temp_bytes,
                      cublasHandle_t handle, cudaStream_t stream, float* d_matmul) {
  const std::size_t count = B * N;
  if (count == 0) return cudaSuccess;
  // S: the split-K variants' slices; invariant and cublas ignore it (dense.cuh), as the CPU twin does.
  const bool split = v == DenseVariant::tree || v == DenseVariant::atomic;
  if (split && (S < 1 || S > dense::kMaxSlices)) return cudaErrorInvalidValue;
  // The tile kernels' grid (more than tile::kMaxRows rows: 65535 row blocks), and cuBLAS's int sizes.
  if (v != DenseVariant::cublas && !tl::grid(B, N, split ? S : 1).fits()) return cudaErrorInvalidValue;
  if (v == DenseVariant::cublas && (B > INT_MAX || K > INT_MAX || N > INT_MAX)) return cudaErrorInvalidValue;
  switch (v) {
    case DenseVariant::invariant:
      return launch_chain<Epilogue::bias_act>(d_x, d_W, d_y, B, N, K, 1, d_b, act, d_matmul, stream);
    case DenseVariant::tree: {
      if (temp_bytes < dense_temp_bytes(v, B, K, N, S)) return cudaErrorInvalidValue;
      auto* d_p = static_cast<float*>(d_temp);
      CUDA_RETURN_IF_ERROR((launch_chain<Epilogue::store, T>(d_x, d_W, d_p, B, N, K, S, nullptr, act, nullptr, stream)));
      tree_combine_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_p, d_y, d_b, count, N, S, act, d_matmul);
      return cudaGetLastError();
    }
    case DenseVariant::atomic:
      bias_rows_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, d_b, count, N);
      CUDA_RETURN_IF_ERROR(cudaGetLastError());
      CUDA_RETURN_IF_ERROR((launch_chain<Epilogue::atomic_add, T>(d_x, d_W, d_y, B, N, K, S, nullptr, act, nullptr, stream)));
      if (d_matmul)
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_matmul, d_y, count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      act_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, count, act);
      return cudaGetLastError();
    case DenseVariant::cublas: {
      // Row-major y = x W is column-major y^T = W^T x^T: an (N x K) by (K x B) product.
      // cuBLAS is loaded on first use (cublas_loader.h): a handle made there means it is.
      const CublasApi* blas = cublas_api();
      if (!handle || !blas) return cudaErrorInvalidValue;
      if (blas->set_stream(handle, stream) != CUBLAS_STATUS_SUCCESS ||
          blas->set_math_mode(handle, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
        return cudaErrorUnknown;
      const float one = 1.0f, zero = 0.0f;
      if constexpr (std::is_same_v<T, float>) {
        if (blas->sgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(B), static_cast<int>(K),
                        &one, d_W, static_cast<int>(N), d_x, static_cast<int>(std::max<std::size_t>(K, 1)), &zero, d_y,
                        static_cast<int>(N)) != CUBLAS_STATUS_SUCCESS)
          return cudaErrorUnknown;
      } else {  // 16-bit inputs, float32 output and accumulation
        const cudaDataType_t in = std::is_same_v<T, bf16> ? CUDA_R_16BF : CUDA_R_16F;
        if (blas->gemm_ex(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(B), static_cast<int>(K),
                         &one, d_W, in, static_cast<int>(N), d_x, in, static_cast<int>(std::max<std::size_t>(K, 1)), &zero, d_y, CUDA_R_32F,
                         static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
          return cudaErrorUnknown;
      }
      if (d_matmul)
        CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(d_matmul, d_y, count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
      bias_act_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, d_b, count, N, act);
      return cudaGetLastError();
    }
  }
  return cudaErrorNotSupported;
}

}  // namespace

cudaError_t dense(DenseVariant v, const float* d_x, const float* d_W, const float* d_b, float* d_y, std::size_t B,
                  std::size_t K, std::size_t N, Activation act, std::size_t S, void* d_temp, std::size_t temp_bytes,
                  cublasHandle_t handle, cudaStream_t stream, float* d_matmul) {
  return dense_any(v, d_x, d_W, d_b, d_y, B, K, N, act, S, d_temp, temp_bytes, handle, stream, d_matmul);
}

cudaError_t dense_invariant_tiles(InvariantTiles which, const float* d_x, const float* d_W, const float* d_b, float* d_y,
                                  std::size_t B, std::size_t K, std::size_t N, Activation act, cudaStream_t stream) {
  if (B * N == 0) return cudaSuccess;
  if (!tl::grid(B, N, 1).fits()) return cudaErrorInvalidValue;
  return launch_chain<Epilogue::bias_act>(d_x, d_W, d_y, B, N, K, 1, d_b, act, nullptr, stream, which);
}

template <class S16>
cudaError_t dense_half(DenseVariant v, const std::uint16_t* d_x, const std::uint16_t* d_W, const std::uint16_t* d_b,
                       float* d_y32, std::uint16_t* d_y, std::size_t B, std::size_t K, std::size_t N, Activation act,
                       std::size_t S, void* d_temp, std::size_t temp_bytes, cublasHandle_t handle, cudaStream_t stream,
                       float* d_matmul) {
  // The 16-bit patterns are read and written as the tag type (one uint16_t each, the same bytes).
  CUDA_RETURN_IF_ERROR(dense_any(v, reinterpret_cast<const S16*>(d_x), reinterpret_cast<const S16*>(d_W),
                                 reinterpret_cast<const S16*>(d_b), d_y32, B, K, N, act, S, d_temp, temp_bytes, handle,
                                 stream, d_matmul));
  return narrow(d_y32, d_y, B * N, std::is_same_v<S16, bf16>, stream);
}

template cudaError_t dense_half<bf16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*,
                                      float*, std::uint16_t*, std::size_t, std::size_t, std::size_t, Activation,
                                      std::size_t, void*, std::size_t, cublasHandle_t, cudaStream_t, float*);
template cudaError_t dense_half<f16>(DenseVariant, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*,
                                     float*, std::uint16_t*, std::size_t, std::size_t, std::size_t, Activation,
                                     std::size_t, void*, std::size_t, cublasHandle_t, cudaStream_t, float*);

cudaError_t narrow(const float* d_y32, std::uint16_t* d_y, std::size_t count, bool to_bf16, cudaStream_t stream) {
  if (count == 0 || !d_y) return cudaSuccess;
  if (to_bf16)
    narrow_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y32, reinterpret_cast<bf16*>(d_y), count);
  else
    narrow_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y32, reinterpret_cast<f16*>(d_y), count);
  return cudaGetLastError();
}

cudaError_t dropout(float* d_y, std::size_t count, float rate, std::uint64_t seed, std::uint64_t call,
                    std::uint32_t layer, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  dropout_kernel<<<elementwise_grid(count), 256, 0, stream>>>(d_y, count, dropout::drop_threshold(rate),
                                                             dropout::keep_scale(rate), seed, call, layer);
  return cudaGetLastError();
}

}  // namespace driftlab::cuda
