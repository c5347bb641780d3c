// invariant_tc: a batch-invariant dense layer on tensor cores (16-bit storage; issue 18, optional,
// measured only).  Benchmark- and test-only: it is not in the variant table (dense_variant.h),
// since its bits are not the CPU's.
//
// What it promises, and what it does not:
//   - run to run and across batch sizes, on one GPU model: every output (i, j) is computed by the
//     same instructions whatever B is -- fixed 128 x 128 block tiles, no split-K, k tiles of 32 in
//     increasing k, each k step of 16 one mma.m16n8k16 (float32 accumulators) per 16 x 8 outputs,
//     rows past B zeros that no other row reads; no atomics.  The block that holds row i and its
//     place in the grid change with B; the instructions that compute row i do not.
//   - NOT equal to the CPU twin or to `invariant`: the tensor core's order (and rounding) of the 16
//     products inside one instruction is the hardware's, undocumented, and may differ on another
//     GPU model.  Tests bound its distance from the exact product instead.
//
// The tile (dense_order.h's dense::tc): 8 warps as 2 x 4, a warp 64 x 32 outputs = 4 x 4 mma tiles
// of 16 x 8; A (x) and B (W) tiles copied by 16-byte cp.async (zeros past B rows, K and N) into 3
// shared stages (two tiles in flight while one is multiplied, one barrier a tile), rows padded by
// 16 bytes so that each ldmatrix phase (8 rows of 16 bytes) is conflict-free.  Per k step of 16 a
// warp issues 4 ldmatrix.x4 (A), 2 ldmatrix.x4.trans (B) and 16 mma.  The epilogue writes from the
// accumulators: + b, act, float32 out (then narrowed, dense_half's rule).  (nvcuda::wmma was tried
// first: its bf16 fragment loads compile to generic LD, not LDSM, on sm_90 with nvcc 13.0.)
#include <cstdint>
#include <type_traits>

#include "kernels/common/dense_order.h"
#include "kernels/common/half.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dense.cuh"
#include "kernels/cuda/launch.h"

namespace driftlab::cuda {
namespace {

using dense::Activation;
namespace tc = dense::tc;

__device__ __forceinline__ unsigned smem_addr(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void cp_async16z(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}

__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}

// c += a . b on one 16 x 8 tile, k 16: bf16 or f16 inputs, float32 accumulators.
template <class S>
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  if constexpr (std::is_same_v<S, bf16>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <class S>
__global__ void __launch_bounds__(tc::kThreads, 2)
    invariant_tc_kernel(const std::uint16_t* __restrict__ A, const std::uint16_t* __restrict__ Bm, float* __restrict__ C,
                        std::size_t M, std::size_t N, std::size_t K, const std::uint16_t* __restrict__ bias,
                        Activation act) {
  extern __shared__ __align__(128) std::uint16_t tc_smem[];
  std::uint16_t* As = tc_smem + tc::kSmemA / 2;  // [kStages][kBM][kLdA]
  std::uint16_t* Bs = tc_smem + tc::kSmemB / 2;  // [kStages][kBK][kLdB]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / tc::kWarpsN, wn = warp % tc::kWarpsN;
  const std::size_t row0 = static_cast<std::size_t>(blockIdx.y) * tc::kBM, col0 = static_cast<std::size_t>(blockIdx.x) * tc::kBN;

  // Tile t <- k [kt, kt + 32) into stage st: copy e of A is row r, k c .. c+7; of B row kk, columns
  // c .. c+7 (tc::a_copy, b_copy); K % 8 == 0 and N % 8 == 0, so a copy is all in or all out.
  auto load = [&](int st, std::size_t kt) {
#pragma unroll
    for (int q = 0; q < tc::kCopies; ++q) {
      int r, c;
      tc::a_copy(tid + q * tc::kThreads, r, c);
      const bool ok = row0 + r < M && kt + c < K;
      cp_async16z(&As[(st * tc::kBM + r) * tc::kLdA + c], ok ? A + (row0 + r) * K + kt + c : A, ok);
    }
#pragma unroll
    for (int q = 0; q < tc::kCopies; ++q) {
      int kk, c;
      tc::b_copy(tid + q * tc::kThreads, kk, c);
      const bool ok = kt + kk < K && col0 + c < N;
      cp_async16z(&Bs[(st * tc::kBK + kk) * tc::kLdB + c], ok ? Bm + (kt + kk) * N + col0 + c : Bm, ok);
    }
  };

  float acc[tc::kTilesM][tc::kTilesN][4];
#pragma unroll
  for (int i = 0; i < tc::kTilesM; ++i)
#pragma unroll
    for (int j = 0; j < tc::kTilesN; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;

  int ar, ak, bk, bn;  // this lane's ldmatrix rows (tc::ldsm_a, ldsm_b)
  tc::ldsm_a(lane, ar, ak);
  tc::ldsm_b(lane, bk, bn);
  const std::size_t tiles = (K + tc::kBK - 1) / tc::kBK;
#pragma unroll
  for (int t = 0; t < tc::kStages - 1; ++t) {  // the first kStages - 1 tiles in flight
    if (static_cast<std::size_t>(t) < tiles) load(t, static_cast<std::size_t>(t) * tc::kBK);
    asm volatile("cp.async.commit_group;\n" ::: "memory");
  }
  for (std::size_t t = 0; t < tiles; ++t) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(tc::kStages - 2) : "memory");  // tile t landed (this thread's)
    __syncthreads();                                                             // everyone's; all past t - 1
    const std::size_t next = t + tc::kStages - 1;                                // into tile t - 1's stage
    if (next < tiles) load(static_cast<int>(next % tc::kStages), next * tc::kBK);
    asm volatile("cp.async.commit_group;\n" ::: "memory");
    const int st = static_cast<int>(t % tc::kStages);
    const std::uint16_t* a = As + (st * tc::kBM + wm * tc::kWarpM + ar) * tc::kLdA + ak;
    const std::uint16_t* b = Bs + (st * tc::kBK + bk) * tc::kLdB + wn * tc::kWarpN + bn;
#pragma unroll
    for (int kk = 0; kk < tc::kBK; kk += 16) {  // increasing k
      unsigned fa[tc::kTilesM][4], fb[tc::kTilesN / 2][4];
#pragma unroll
      for (int i = 0; i < tc::kTilesM; ++i) ldsm_x4(fa[i], a + (i * 16) * tc::kLdA + kk);
#pragma unroll
      for (int j2 = 0; j2 < tc::kTilesN / 2; ++j2) ldsm_x4_trans(fb[j2], b + kk * tc::kLdB + j2 * 16);
#pragma unroll
      for (int i = 0; i < tc::kTilesM; ++i)
#pragma unroll
        for (int j = 0; j < tc::kTilesN; ++j) mma16816<S>(acc[i][j], fa[i], fb[j / 2][2 * (j % 2)], fb[j / 2][2 * (j % 2) + 1]);
    }
  }
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");  // no copy outlives the block (the last groups are empty)

  // + b, act, out, straight from the accumulators (tc::acc_at).
#pragma unroll
  for (int i = 0; i < tc::kTilesM; ++i)
#pragma unroll
    for (int j = 0; j < tc::kTilesN; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        int r, n;
        tc::acc_at(lane, c, r, n);
        const std::size_t gi = row0 + wm * tc::kWarpM + i * 16 + r, gj = col0 + wn * tc::kWarpN + j * 8 + n;
        if (gi < M && gj < N) C[gi * N + gj] = dense::activate(dense::add(acc[i][j][c], widen(S{bias[gj]})), act);
      }
}

}  // namespace

template <class S>
cudaError_t dense_invariant_tc(const std::uint16_t* d_x, const std::uint16_t* d_W, const std::uint16_t* d_b, float* d_y32,
                               std::uint16_t* d_y, std::size_t B, std::size_t K, std::size_t N, dense::Activation act,
                               cudaStream_t stream) {
  static_assert(std::is_same_v<S, bf16> || std::is_same_v<S, f16>, "16-bit storage only");
  if (B == 0) return cudaSuccess;  // as dense() with no output: nothing launched
  if (!tc::supports(B, K, N, d_x, d_W) || !d_b || !d_y32) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((N + tc::kBN - 1) / tc::kBN), static_cast<unsigned>((B + tc::kBM - 1) / tc::kBM));
  // above the default 48 KiB of dynamic shared memory: opt in, once per device (launch.h)
  CUDA_RETURN_IF_ERROR(allow_dynamic_smem(invariant_tc_kernel<S>, tc::kSmemBytes));
  invariant_tc_kernel<S><<<grid, tc::kThreads, tc::kSmemBytes, stream>>>(d_x, d_W, d_y32, B, N, K, d_b, act);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return d_y ? narrow(d_y32, d_y, B * N, std::is_same_v<S, bf16>, stream) : cudaSuccess;
}

template cudaError_t dense_invariant_tc<bf16>(const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, float*,
                                              std::uint16_t*, std::size_t, std::size_t, std::size_t, dense::Activation,
                                              cudaStream_t);
template cudaError_t dense_invariant_tc<f16>(const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, float*,
                                             std::uint16_t*, std::size_t, std::size_t, std::size_t, dense::Activation,
                                             cudaStream_t);

}  // namespace driftlab::cuda
