// The order of driftlab's dense layer y = act(x W + b), x [B x K] row-major, W [K x N] (Keras's
// kernel layout), b [N]: written down once, used by the CPU twins (kernels/cpu/dense.cpp) and the
// CUDA kernels (kernels/cuda/dense.cu).
//
//   chain(i, j, k0, k1):  acc = +0.0f; for k = k0 .. k1-1: acc = fma(x[i][k], W[k][j], acc)
//                         (one fused multiply-add per step, increasing k)
//
// invariant  determinism: run to run, across batch sizes, row positions and devices.
//            y[i][j] = act(chain(i, j, 0, K) + b[j]).  The order depends on K alone.
// Split-K (atomic, tree): K is cut into S slices of ks = ceil(K / S); slice s covers
//            [s*ks, min(K, (s+1)*ks)) (possibly empty) and p_s = chain(i, j, slice s).
//            S = split_k(B, K, N) below: like vendor heuristics it depends on the batch size.
// tree       determinism: run to run (not across batch sizes: S depends on B).
//            The partials are combined by a fixed pairwise tree: for stride = 1, 2, 4, ... < S,
//            p_s += p_{s+stride} for s = 0, 2*stride, 4*stride, ... with s + stride < S;
//            then y = act(p_0 + b[j]).
// atomic     determinism: none.  y starts as b[j]; each slice's partial is atomically added in
//            whatever order the slices finish; then act.
// cublas     (CUDA only) cublasSgemm in FP32 (no TF32), then + b and act.
//
// act: linear, or relu(v) = (v < 0 ? +0 : v) (NaN and -0.0 pass through unchanged).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/sum_order.h"

namespace driftlab::dense {

enum class Activation { linear, relu };

DL_HD float activate(float v, Activation a) { return (a == Activation::relu && v < 0.0f) ? 0.0f : v; }

using order::add;  // one rounded addition, never contracted (sum_order.h)

// The split-K heuristic: double the slices until B*N*S reaches kTargetOutputs (enough parallel
// work to fill a device), but keep slices at least kMinSliceK long and at most kMaxSlices.
inline constexpr std::size_t kTargetOutputs = 8192;
inline constexpr std::size_t kMinSliceK = 4;
inline constexpr std::size_t kMaxSlices = 32;

DL_HD std::size_t split_k(std::size_t B, std::size_t K, std::size_t N) {
  const std::size_t outputs = B * N;
  if (outputs == 0 || K == 0) return 1;
  std::size_t s = 1;
  while (s < kMaxSlices && s * outputs < kTargetOutputs) s *= 2;
  const std::size_t cap = K / kMinSliceK > 1 ? K / kMinSliceK : 1;
  return s < cap ? s : cap;
}

DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return (K + S - 1) / S; }
DL_HD std::size_t slice_begin(std::size_t K, std::size_t S, std::size_t s) {
  const std::size_t b = s * slice_len(K, S);
  return b < K ? b : K;
}
DL_HD std::size_t slice_end(std::size_t K, std::size_t S, std::size_t s) { return slice_begin(K, S, s + 1); }

// The fixed pairwise tree over S <= kMaxSlices partials p[0], p[stride_elems], ...; returns the
// combined p_0.  The loops run to the compile-time kMaxSlices and the guards say which steps
// happen (the same steps, in the same order, as loops bounded by S): on the GPU every index is a
// constant once unrolled, so v stays in registers (with bounds of S it was a 128-byte local array).
DL_HD float tree_combine(const float* p, std::size_t S, std::size_t stride_elems) {
  float v[kMaxSlices];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (std::size_t s = 0; s < kMaxSlices; ++s) v[s] = s < S ? p[s * stride_elems] : 0.0f;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (std::size_t stride = 1; stride < kMaxSlices; stride *= 2)
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (std::size_t s = 0; s + stride < kMaxSlices; s += 2 * stride)
      if (s + stride < S) v[s] = add(v[s], v[s + stride]);
  return v[0];
}

// One rounded fused multiply-add, the chain's step (the same bits on host and device; hd.h).
using fp::fma;

// The CUDA chain kernel's thread mapping (kernels/cuda/dense.cu), written here so that the CPU
// tests replay the kernel's own per-thread steps (tests/test_dense.cpp, DenseTileReplay) against
// the chain above.  None of it changes the order: every output is still chain(i, j, k0, k1), one
// fma per k in increasing k; the mapping only says which thread runs which chains and which
// thread copies which element of a tile into shared memory.
//
// Block tile kBM x kBN outputs, k tiles of kBK, kThreads threads, each owning kTM x kTN outputs
// as 2 x 2 sub-tiles of 4 x 4 (rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, ty = tid / 16; columns
// likewise with tx = tid % 16): a thread reads its 8 A values and 8 B values of one k as four
// 16-byte shared loads.  Shared tiles are k-major: As[kk][kLdA] (A transposed, padded by 4 so the
// transposing copies of a warp hit 32 distinct banks), Bs[kk][kBN].
namespace tile {
inline constexpr int kBM = 128, kBN = 128, kBK = 16, kThreads = 256, kTM = 8, kTN = 8;
inline constexpr int kLdA = kBM + 4;
inline constexpr int kACopies = kBM * kBK / kThreads;        // 4-byte copies of A per thread per tile (8)
inline constexpr int kBCopiesVec = kBN * kBK / 4 / kThreads;  // 16-byte copies of B per thread per tile (2)
inline constexpr int kBCopies = kBN * kBK / kThreads;        // 4-byte copies of B (unaligned shapes) (8)

// Row (within the block tile) of a thread's output i (0 .. kTM-1); column of its output j.
DL_HD int thread_row(int tid, int i) { return (i / 4) * (kBM / 2) + (tid / 16) * 4 + i % 4; }
DL_HD int thread_col(int tid, int j) { return (j / 4) * (kBN / 2) + (tid % 16) * 4 + j % 4; }

// Copy q of A by thread tid: element (row r, k kk) of the tile.  A warp covers 4 rows x 8 k: one
// 32-byte sector per row in global memory, banks 4*kk + r (all distinct) in As.
DL_HD void a_copy(int tid, int q, int& r, int& kk) {
  const int w = tid / 32, lane = tid % 32;
  r = 32 * (q / 2) + 4 * w + lane / 8;
  kk = 8 * (q % 2) + lane % 8;
}
// Copy q of B by thread tid, 16 bytes: row kk, columns c .. c+3 (a warp: one 512-byte row).
DL_HD void b_copy_vec(int tid, int q, int& kk, int& c) {
  const int e = tid + kThreads * q;
  kk = e / (kBN / 4);
  c = 4 * (e % (kBN / 4));
}
// Copy q of B by thread tid, 4 bytes (N not a multiple of 4 or an unaligned W).
DL_HD void b_copy(int tid, int q, int& kk, int& c) {
  const int e = tid + kThreads * q;
  kk = e / kBN;
  c = e % kBN;
}

// The 16-byte path (chain_gemm_vec_kernel, since session 8): float storage, K and N multiples of 4,
// x and W 16-byte aligned, every slice starting at a multiple of 4 (vec_copies below).  A's tile is
// then kept row-major, As[r][kLdAr], and copied 16 bytes (4 k of one row) at a time, like B's; a
// thread reads its 8 rows' next 4 k values as eight 16-byte loads, then runs those 4 k steps, each
// one fma_step in increasing k: the same chains, the same bits.
//
// Its threads' outputs (vec_thread_row / vec_thread_col, since session 19) are laid out for the
// shared-memory loads of the k steps, which every output's fmas wait on.  A warp covers 8 rows (lane
// bit 0 picks one of 2 row runs of 4) x 64 columns (lane bits 1-4 pick one of 16 column runs of 4),
// twice over (i / 4, j / 4).  So a warp's 16-byte fragment load is shared by lane pairs: lanes n and
// n ^ 2 read the same A vector, lanes n and n ^ 1 the same B vector.  Such an LDS.128 takes 2
// shared-memory wavefronts instead of 4 by the rule given on NVIDIA's developer forum for compute
// capability 7.x, which also fits Nsight Compute counts published for an H100 (the model and its
// sources: tests/test_dense.cpp, lds128_wavefronts); the thread_row / thread_col mapping above left
// the B loads unpaired (4 each).  The two A vectors of a load (rows r and r + 4) lie in different
// banks: rows are padded to kLdAr = kBK + 4 floats (80 bytes: row r + 4 starts 16 banks further).
// A quarter warp's A copies write rows r and r + 4 (a_copy_vec): 128 distinct bytes of banks.
// tests/test_dense.cpp checks each of these by the layout functions; the GPU times it (the bits do
// not depend on which thread holds an output).
inline constexpr int kLdAr = kBK + 4;                           // row-major A: kBK floats + 4 of padding
inline constexpr int kACopiesVec = kBM * kBK / 4 / kThreads;    // 16-byte copies of A per thread per tile (2)
DL_HD int vec_thread_row(int tid, int i) {
  return (i / 4) * (kBM / 2) + (2 * (tid / 32) + (tid & 1)) * 4 + i % 4;
}
DL_HD int vec_thread_col(int tid, int j) { return (j / 4) * (kBN / 2) + ((tid % 32) / 2) * 4 + j % 4; }
// Copy q of A: 16 bytes, row r, k kk .. kk+3.  Thread tid's copies take chunk tid % 4 of runs
// t = tid / 4 + q * kARowStep; the runs t = 2m, 2m + 1 (one quarter warp) are rows R and R + 4 of
// an 8-row group.  Copy q is copy 0 moved down q * kARowStep rows (B's: q * kBRowStep rows), so the
// kernel keeps copy 0's addresses and adds compile-time offsets.
inline constexpr int kARowStep = kThreads / (kBK / 4), kBRowStep = kThreads / (kBN / 4);  // 64, 8
static_assert(kARowStep % 8 == 0, "a_copy_vec permutes rows within groups of 8");
DL_HD void a_copy_vec(int tid, int q, int& r, int& kk) {
  const int t = tid / (kBK / 4);
  r = (t / 8) * 8 + (t % 2) * 4 + (t / 2) % 4 + q * kARowStep;
  kk = 4 * (tid % (kBK / 4));
}
// Whether a product takes the 16-byte path (aligned16: x and W start on 16-byte boundaries): a
// 16-byte copy of A holds k .. k+3 of one slice only when every slice starts at a multiple of 4.
DL_HD bool vec_copies(std::size_t K, std::size_t N, std::size_t S, bool aligned16) {
  return aligned16 && K % 4 == 0 && N % 4 == 0 && (S == 1 || slice_len(K, S) % 4 == 0);
}

// The k steps of the tile starting at kt in a chain ending at k1: kBK, or fewer in the last
// tile.  Only these are run (an fma with a padded zero would turn an accumulated -0.0 into +0.0).
DL_HD int steps(std::size_t kt, std::size_t k1) {
  return k1 - kt < static_cast<std::size_t>(kBK) ? static_cast<int>(k1 - kt) : kBK;
}

// The grid of the 128 x 128 tile kernels (chain_gemm_kernel, chain_gemm_vec_kernel): x the column
// blocks, y the row blocks, z the k slices.  The y and z axes take at most 65535 blocks on every
// CUDA device, so a call takes at most kMaxRows rows (8388480): fits() says whether a shape launches.
// The block order changes no chain; only this limit is the GPU's own (the CPU twins have none).
struct Grid {
  std::size_t x, y, z;
  DL_HD bool fits() const { return x >= 1 && x <= 2147483647u && y >= 1 && y <= 65535u && z >= 1 && z <= 65535u; }
};
DL_HD Grid grid(std::size_t M, std::size_t N, std::size_t S) {
  return {(N + kBN - 1) / kBN, (M + kBM - 1) / kBM, S};
}
inline constexpr std::size_t kMaxRows = 65535u * static_cast<std::size_t>(kBM);

// One k step of a thread's outputs: acc[i][j] = fma(a[i], b[j], acc[i][j]).
DL_HD void fma_step(float (&acc)[kTM][kTN], const float (&a)[kTM], const float (&b)[kTN]) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int i = 0; i < kTM; ++i)
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int j = 0; j < kTN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
}
}  // namespace tile

// The CUDA kernel of small batches (chain_skinny_kernel, kernels/cuda/dense.cu): M <= kMaxRows (64)
// rows, float storage with x copied by 16 bytes (use below), or 16-bit storage (use16, at the end).  A 128 x 128 block tile wastes 127/128 of its work
// at B = 1 and leaves most SMs idle (32 blocks at N = 4096); here a thread owns ONE column and
// R rows (1, 2, 4 or 8: rows_per_warp), a warp 32 columns, a block 1 to 8 warps stacked over the
// rows (warps), so B = 1 runs N threads, each reading its column of W once for its R rows.  The
// chains are still chain(i, j, k0, k1), one fma per k in increasing k: the same bits.
// k moves through shared memory in stages of kSK, kStages of them in flight (cp.async: W rows of
// kCols floats by 16 bytes, or 4 (vec_w); x rows of kSK floats by 16 bytes).  Copy e of a stage (e = tid, tid + threads, ...):
// W row kk, columns c .. c+3 (w_copy); x row r, k kk .. kk+3 (x_copy).  A quarter warp copies one
// 128-byte row (conflict-free); a warp reads 32 consecutive W floats of one k and broadcasts x.
namespace skinny {
inline constexpr int kCols = 32, kSK = 32, kStages = 6, kMaxWarps = 8;
inline constexpr int kMaxRows = 8 * kMaxWarps;  // 64
DL_HD int rows_per_warp(std::size_t M) { return M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8; }
// Warps of R rows a block: enough for M rows, at most kMaxWarps (at least 1).
DL_HD int warps(std::size_t M, int R) {
  const std::size_t w = (M + R - 1) / R;
  return w <= 1 ? 1 : w >= static_cast<std::size_t>(kMaxWarps) ? kMaxWarps : static_cast<int>(w);
}
DL_HD int warps(std::size_t M) { return warps(M, rows_per_warp(M)); }
// The launch: R rows a warp, `warps` warps a block, `row_blocks` blocks over the rows (grid.y).
// By M alone (rows_per_warp, warps), unless that grid would give fewer than half of the device's
// `sms` SMs a block (since session 10): then R halves, down to 1, and the row blocks multiply.  A
// layer of 10 outputs at B = 64 is one block of 64 rows by M alone (one SM runs all 640 chains
// of K fmas) and 8 blocks of 8 rows here.  R never changes the bits: every thread runs whole
// chains, whichever rows it holds.  sms = 0: by M alone.
struct Launch {
  int R, warps;
  std::size_t row_blocks;
};
DL_HD Launch launch(std::size_t M, std::size_t N, std::size_t S, int sms) {
  const std::size_t col_blocks = (N + kCols - 1) / kCols * S;
  Launch l{rows_per_warp(M), 1, 1};
  for (;;) {
    l.warps = warps(M, l.R);
    const std::size_t rows = static_cast<std::size_t>(l.warps) * l.R;
    l.row_blocks = M == 0 ? 1 : (M + rows - 1) / rows;
    if (l.R == 1 || sms <= 0 || 2 * col_blocks * l.row_blocks >= static_cast<std::size_t>(sms)) return l;
    l.R /= 2;
  }
}
// Mid batches (since session 9): 64 < M <= kMaxMidRows rows take this kernel too, in row blocks of
// 64 (grid.y = ceil(M / 64)), when the 128 x 128 tiles would give at most a quarter of the device's
// `sms` SMs a block: B = 128 at N = 4096 is 32 tiles for an H200's 132 SMs, and 256 blocks here.
// Which kernel runs never changes the bits (both run the chains above); sms = 0: never.
inline constexpr int kMaxMidRows = 128;
DL_HD bool rows_fit(std::size_t M, std::size_t N, std::size_t S, int sms) {
  if (M >= 1 && M <= static_cast<std::size_t>(kMaxRows)) return true;
  const std::size_t tiles = (M + 127) / 128 * ((N + 127) / 128) * S;
  return M <= static_cast<std::size_t>(kMaxMidRows) && sms > 0 && tiles * 4 <= static_cast<std::size_t>(sms);
}
DL_HD void w_copy(int e, int& kk, int& c) {
  kk = e / (kCols / 4);
  c = 4 * (e % (kCols / 4));
}
// W by 4 bytes (N not a multiple of 4, or W unaligned): copy e is row kk, column c.
DL_HD void w_copy4(int e, int& kk, int& c) {
  kk = e / kCols;
  c = e % kCols;
}
DL_HD void x_copy(int e, int& r, int& kk) {
  r = e / (kSK / 4);
  kk = 4 * (e % (kSK / 4));
}
// A block's shared memory for `rows` rows (warps x rows_per_warp), in bytes from its start; the
// kernel carves it by this, and its size is `end` (the tests check that the parts are disjoint,
// 16-byte aligned and inside it).  Float storage: the ring of kStages stages, read in place (ws:
// W [kStages][kSK][kCols], xs: x [kStages][rows][kSK]).  16-bit storage (use16 below): ONE float
// stage (ws: W [kSK][kCols], xs: x [rows][kSK]), then the ring of bits (wr: W
// [kStages][kSK][kCols], xr: x [kStages][rows][kSK], 2 bytes a value).
struct Smem {
  std::size_t ws, xs, wr, xr, end;
};
DL_HD Smem smem(int rows, bool half) {
  const std::size_t w = static_cast<std::size_t>(kSK) * kCols, x = static_cast<std::size_t>(rows) * kSK;  // a stage
  const std::size_t float_stages = half ? 1 : kStages, bits = float_stages * (w + x) * sizeof(float);
  return {0, float_stages * w * sizeof(float), bits, bits + kStages * w * 2, bits + (half ? kStages * (w + x) * 2 : 0)};
}
// 48 KiB at 32 rows, 72 KiB at 64 (the kernel's launch raises the 48 KiB default when needed).
DL_HD std::size_t smem_bytes(int rows) { return smem(rows, false).end; }
// x is copied by 16 bytes (K a multiple of 4, x aligned, every slice starting at a multiple of 4);
// W by 16 bytes when vec_w (N a multiple of 4, W aligned), else by 4 (a layer of 10 outputs).
DL_HD bool use(std::size_t M, std::size_t K, std::size_t N, std::size_t S, bool x_aligned16, int sms = 0) {
  return rows_fit(M, N, S, sms) && x_aligned16 && K % 4 == 0 && (S == 1 || slice_len(K, S) % 4 == 0);
}
DL_HD bool vec_w(std::size_t N, bool w_aligned16) { return w_aligned16 && N % 4 == 0; }
// The k steps of the stage starting at kt in a chain ending at k1.
DL_HD int steps(std::size_t kt, std::size_t k1) {
  return k1 - kt < static_cast<std::size_t>(kSK) ? static_cast<int>(k1 - kt) : kSK;
}

// 16-bit storage (bf16, f16; since session 9): the same kernel on the raw bits.  A 16-byte copy
// holds 8 values: W row kk, columns c .. c+7 (w_copy16); x row r, k kk .. kk+7 (x_copy16).  The
// ring of kStages holds the bits; when a stage has landed (and every thread is past the previous
// stage), the threads widen it (half.h, exact) into ONE float stage, element by element at the
// same positions, and after a second barrier run the float kernel's k steps on it: the same
// chains, the same bits as the CPU twin's widened values.  x needs K % 8 == 0 with every slice
// starting at a multiple of 8 (a copy never straddles a slice end).  W is copied by 16 bytes when
// vec_w16 (N % 8 == 0, W 16-byte aligned), else by 4 bytes, 2 values (w_copy16_2; since session
// 10: a layer of 10 outputs), which needs N even and W 4-byte aligned; an odd N (there is no
// 2-byte cp.async) takes the 128 x 128 tile kernel.
DL_HD void w_copy16(int e, int& kk, int& c) {
  kk = e / (kCols / 8);
  c = 8 * (e % (kCols / 8));
}
DL_HD void w_copy16_2(int e, int& kk, int& c) {
  kk = e / (kCols / 2);
  c = 2 * (e % (kCols / 2));
}
DL_HD void x_copy16(int e, int& r, int& kk) {
  r = e / (kSK / 8);
  kk = 8 * (e % (kSK / 8));
}
DL_HD bool use16(std::size_t M, std::size_t K, std::size_t N, std::size_t S, bool x_aligned16, bool w_aligned4,
                 int sms = 0) {
  return rows_fit(M, N, S, sms) && x_aligned16 && w_aligned4 && K % 8 == 0 && N % 2 == 0 &&
         (S == 1 || slice_len(K, S) % 8 == 0);
}
DL_HD bool vec_w16(std::size_t N, bool w_aligned16) { return w_aligned16 && N % 8 == 0; }
// The ring of bits (2 bytes a value) and the one float stage: 48 KiB at 64 rows.
DL_HD std::size_t smem_bytes16(int rows) { return smem(rows, true).end; }
}  // namespace skinny

// invariant_tc (kernels/cuda/dense_tc.cu: tensor cores, 16-bit storage; benchmark- and test-only,
// not in the variant table).  It has NO order here: inside one tensor-core instruction the order of
// the products is the hardware's.  What is fixed is everything around it, by K and N alone: block
// tiles of kBM x kBN outputs, no split-K, k tiles of kBK in increasing k, so each output is computed
// by the same instructions at every batch size (batch-invariant and run-to-run on one GPU model,
// not equal to the CPU).  Here: the tile's shape, its copies, its shared layout and the warp's
// fragment addressing (ldmatrix, mma.m16n8k16), which the CPU tests replay against the PTX ISA's
// fragment layouts (every slot copied once; rows padded by 16 bytes; the fragments give x . W).
namespace tc {
inline constexpr int kBM = 128, kBN = 128, kBK = 32, kWarpsM = 2, kWarpsN = 4, kWarps = kWarpsM * kWarpsN;
inline constexpr int kThreads = 32 * kWarps, kStages = 3;
inline constexpr int kWarpM = kBM / kWarpsM, kWarpN = kBN / kWarpsN;  // 64 x 32 outputs a warp
inline constexpr int kTilesM = kWarpM / 16, kTilesN = kWarpN / 8;     // 4 x 4 mma tiles of 16 x 8
inline constexpr int kLdA = kBK + 8, kLdB = kBN + 8;                  // row pitches (values), 16 bytes of padding
inline constexpr int kCopies = kBM * kBK / 8 / kThreads;              // 16-byte copies of A (and of B) a thread a tile
static_assert(kBM * kBK == kBK * kBN && kCopies * kThreads * 8 == kBM * kBK, "whole copies of both tiles");
// Copy e (0 .. kCopies x kThreads) of A: row r, k c .. c+7; of B: k row kk, columns c .. c+7.
DL_HD void a_copy(int e, int& r, int& c) {
  r = e / (kBK / 8);
  c = 8 * (e % (kBK / 8));
}
DL_HD void b_copy(int e, int& kk, int& c) {
  kk = e / (kBN / 8);
  c = 8 * (e % (kBN / 8));
}
// A warp's fragments, a k step of 16 (PTX ISA, mma.m16n8k16 with 16-bit inputs and ldmatrix .x4):
// - A, 16 x 16 from rows m0, k k0 (ldmatrix.x4): lane l gives the address of row m0 + l % 16, k
//   k0 + 8 (l / 16): its 4 registers are then a0..a3 (rows +0/+8, k +0/+8);
// - B, k 16 x n 16 from k k0, column n0 (ldmatrix.x4.trans): lane l gives k row k0 + l % 16, column
//   n0 + 8 (l / 16): registers 0, 1 are b0, b1 of the 16 x 8 tile at n0, registers 2, 3 those at n0 + 8;
// - the float32 accumulator of a 16 x 8 tile: register c of lane l holds row l / 4 + 8 (c / 2),
//   column 2 (l % 4) + c % 2.
DL_HD void ldsm_a(int lane, int& r, int& k) {
  r = lane % 16;
  k = 8 * (lane / 16);
}
DL_HD void ldsm_b(int lane, int& k, int& n) {
  k = lane % 16;
  n = 8 * (lane / 16);
}
DL_HD void acc_at(int lane, int c, int& r, int& n) {
  r = lane / 4 + 8 * (c / 2);
  n = 2 * (lane % 4) + c % 2;
}
// Dynamic shared memory, in bytes from its start: kStages stages of A ([kStages][kBM][kLdA]), then
// of B ([kStages][kBK][kLdB]), 2 bytes a value; kSmemBytes in all (56 KiB: opted in at launch).
inline constexpr std::size_t kSmemA = 0;
inline constexpr std::size_t kSmemB = kSmemA + static_cast<std::size_t>(kStages) * kBM * kLdA * 2;
inline constexpr std::size_t kSmemBytes = kSmemB + static_cast<std::size_t>(kStages) * kBK * kLdB * 2;
// The shapes it takes: K and N multiples of 8 (a 16-byte copy is all in or all out), at most 65535
// row blocks; and the pointers: x and W 16-byte aligned.
inline bool shape_ok(std::size_t B, std::size_t K, std::size_t N) {
  return B >= 1 && K >= 8 && N >= 8 && K % 8 == 0 && N % 8 == 0 && (B + kBM - 1) / kBM <= 65535;
}
inline bool supports(std::size_t B, std::size_t K, std::size_t N, const void* x, const void* W) {
  const auto a16 = [](const void* p) { return p && reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return shape_ok(B, K, N) && a16(x) && a16(W);
}
}  // namespace tc

}  // namespace driftlab::dense
