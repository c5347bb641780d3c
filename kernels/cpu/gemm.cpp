// The CPU dense kernels (gemm.h): the fma-chain GEMM and GEMV of dense_order.h, register-blocked,
// at the scalar, AVX2 and AVX-512 levels.  Over 500 lines on purpose: the three levels evaluate the
// same chains and sit side by side so that their blocking can be compared line by line; the
// blocking, packing, the GEMV path and the threading that all levels share are written once below.
#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

#include "kernels/cpu/simd.h"

// How the chain survives the blocking (see gemm.h for the contract):
//  * every C element lives in one vector lane (or one scalar) of a microkernel accumulator and
//    takes exactly one fma per k, in increasing k; lanes never mix;
//  * the first k block starts its accumulators at +0.0f and always does the fma (never acc = a*b,
//    which would differ for a -0.0 product); a later k block reloads the partial value from C,
//    which is the same float the register held, and continues the chain;
//  * zero padding in the packed B panels feeds only lanes that are never stored;
//  * a block of C is one task: one thread runs all its k blocks, in order; blocks are disjoint,
//    so k is never split across threads, and which thread takes a block changes nothing.
// Hence nothing but k_begin and k_end decides the order, and every ISA gives the same bits.

namespace driftlab::cpu {
namespace {

// Packed A: rows of a row block, each at a fixed stride kAs (a k block of kKc and a pad that
// spreads the rows over the L1 sets), so packing is a plain copy and the kernels address row r
// at a constant offset.
constexpr std::size_t kKc = 256;
constexpr std::size_t kAs = kKc + 16;

// A microkernel: rows x nr tile of C (rows <= mr of its ISA) over kc steps of k.
//   Ap: packed A panel, Ap[r*kAs + k];  Bp: packed B panel, Bp[k*nr + j] (zero padded to nr);
//   C: the tile's top-left element; ncols <= nr columns are stored;
//   load_c: continue the chain from C (a later k block) instead of from +0.0f.
using Microkernel = void (*)(std::size_t kc, const float* Ap, const float* Bp, float* C, std::size_t ldc,
                             std::size_t ncols, bool load_c);

constexpr int kMaxMr = 16;

struct KernelSet {
  int mr, nr;
  Microkernel full[kMaxMr + 1];  // by rows, ncols == nr
  Microkernel edge[kMaxMr + 1];  // by rows, ncols < nr
  std::size_t chunk_floats = std::size_t{1} << 21;  // packed B per column chunk (see gemm_run)
  // false: A panel row r at Ap[r*kAs + k], k blocks of kKc; each A panel stays in L1 while the
  // B panels stream from L2.
  // true: A panel packed k-major (Ap[k*mr + r], one contiguous stream), k blocks of at most
  // kc_max (near-equal); each B panel is swept by all the task's A panels before the next.
  bool a_kmajor = false;
  std::size_t kc_max = 0;  // a_kmajor only
  // a_kmajor only: all of A packed once per call (each mr-row panel k-major over all of K, in the
  // calling thread's scratch) before the column chunks, instead of each task's row block once per
  // chunk; a k block of a panel is then a contiguous piece of it.
  bool a_once = false;
};

// Calls f.template operator()<R>() for R = 1 .. sizeof...(R0).
template <int... R0, class F> constexpr void for_rows(std::integer_sequence<int, R0...>, F f) {
  (f.template operator()<R0 + 1>(), ...);
}

// --- Portable fallback: std::fma, mr = 4, nr = 16 -----------------------------------------------
// (Without -mfma std::fma is a libm call: correctly rounded on any CPU, and slow.)
constexpr int kScalarMr = 4, kScalarNr = 16;

template <int R>
void ukr_scalar(std::size_t kc, const float* Ap, const float* Bp, float* C, std::size_t ldc, std::size_t ncols,
                bool load_c) {
  float acc[R][kScalarNr];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < kScalarNr; ++j)
      acc[r][j] = load_c && static_cast<std::size_t>(j) < ncols ? C[r * ldc + j] : 0.0f;
  for (std::size_t k = 0; k < kc; ++k, ++Ap, Bp += kScalarNr)
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < kScalarNr; ++j) acc[r][j] = std::fma(Ap[r * kAs], Bp[j], acc[r][j]);
  for (int r = 0; r < R; ++r)
    for (std::size_t j = 0; j < ncols; ++j) C[r * ldc + j] = acc[r][j];
}

KernelSet scalar_kernels() {
  KernelSet ks{kScalarMr, kScalarNr, {}, {}};
  for_rows(std::make_integer_sequence<int, kScalarMr>{}, [&]<int R>() {
    ks.full[R] = &ukr_scalar<R>;
    ks.edge[R] = &ukr_scalar<R>;
  });
  return ks;
}

#if DRIFTLAB_X86

// --- AVX2 + FMA: mr = 6, nr = 16 (12 ymm accumulators) ----------------------------------------
// A is packed k-major (Ap[k*6 + r]): the six broadcasts of a step read 24 consecutive bytes, and
// a task's A panels are one stream.  In L1 this loop runs at the core's peak (2 FMAs per cycle:
// 116 GFLOP/s on one Zen 4 core, measured).  In a GEMM it lost more the more k blocks there were
// (each stores C and the next reloads it before its first fma): one thread at K=4096 ran at
// 0.80x OpenBLAS with k blocks of 128, 0.88x at 256, 0.93x at 512, 0.96x at 1024, 1.00x at 4096,
// hence the long k blocks (docs/perf-notes.md).
constexpr int kAvx2Mr = 6, kAvx2Nr = 16;

template <int R, bool Full>
__attribute__((target("avx2,fma"))) void ukr_avx2(std::size_t kc, const float* Ap, const float* Bp, float* C,
                                                  std::size_t ldc, std::size_t ncols, bool load_c) {
  __m256i m0 = _mm256_set1_epi32(-1), m1 = m0;
  if constexpr (!Full) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i n = _mm256_set1_epi32(static_cast<int>(ncols));
    m0 = _mm256_cmpgt_epi32(n, idx);
    m1 = _mm256_cmpgt_epi32(n, _mm256_add_epi32(idx, _mm256_set1_epi32(8)));
  }
  __m256 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (load_c) {
      if constexpr (Full) {
        c0[r] = _mm256_loadu_ps(C + r * ldc);
        c1[r] = _mm256_loadu_ps(C + r * ldc + 8);
      } else {
        c0[r] = _mm256_maskload_ps(C + r * ldc, m0);
        c1[r] = ncols > 8 ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
      }
    } else {
      c0[r] = _mm256_setzero_ps();
      c1[r] = _mm256_setzero_ps();
    }
  }
  for (std::size_t k = 0; k < kc; ++k, Ap += kAvx2Mr, Bp += kAvx2Nr) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    // A's stream 16 steps (384 bytes) ahead (a hint: past the block's end it reads nothing).
    _mm_prefetch(reinterpret_cast<const char*>(Ap + 16 * kAvx2Mr), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + r);
      c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if constexpr (Full) {
      _mm256_storeu_ps(C + r * ldc, c0[r]);
      _mm256_storeu_ps(C + r * ldc + 8, c1[r]);
    } else {
      _mm256_maskstore_ps(C + r * ldc, m0, c0[r]);
      if (ncols > 8) _mm256_maskstore_ps(C + r * ldc + 8, m1, c1[r]);
    }
  }
}

KernelSet avx2_kernels() {
  KernelSet ks{kAvx2Mr, kAvx2Nr, {}, {}};
  ks.chunk_floats = std::size_t{1} << 22;
  ks.a_kmajor = true;
  ks.kc_max = 4096;
  for_rows(std::make_integer_sequence<int, kAvx2Mr>{}, [&]<int R>() {
    ks.full[R] = &ukr_avx2<R, true>;
    ks.edge[R] = &ukr_avx2<R, false>;
  });
  return ks;
}

// --- AVX-512: mr = 14, nr = 32 (28 zmm accumulators) -------------------------------------------
// A packed k-major as AVX2 (Ap[k*14 + r]), all of A once per call (KernelSet::a_once), k blocks of
// up to 4096.  Until session 3 it took A row panels (Ap[r*kAs + k]) in L1 and k blocks of 256;
// one thread at B=1024, K=N=4096 went from ~0.95x to ~1.05x OpenBLAS (docs/perf-notes.md, "AVX-512
// long k blocks").
constexpr int kAvx512Mr = 14, kAvx512Nr = 32;

template <int R, bool Full>
__attribute__((target("avx512f"))) void ukr_avx512(std::size_t kc, const float* Ap, const float* Bp, float* C,
                                                   std::size_t ldc, std::size_t ncols, bool load_c) {
  __mmask16 m0 = 0xffff, m1 = 0xffff;
  const bool hi = Full || ncols > 16;  // columns 16..31 exist (else C + 16 is not even formed)
  if constexpr (!Full) {
    m0 = static_cast<__mmask16>(ncols >= 16 ? 0xffffu : (1u << ncols) - 1);
    m1 = static_cast<__mmask16>(ncols >= 32 ? 0xffffu : ncols > 16 ? (1u << (ncols - 16)) - 1 : 0u);
  }
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (load_c) {
      c0[r] = _mm512_maskz_loadu_ps(m0, C + r * ldc);
      c1[r] = hi ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
    } else {
      c0[r] = _mm512_setzero_ps();
      c1[r] = _mm512_setzero_ps();
    }
  }
#pragma GCC unroll 2
  for (std::size_t k = 0; k < kc; ++k, Ap += kAvx512Mr, Bp += kAvx512Nr) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    // A's stream 16 steps (896 bytes) ahead, as AVX2 (a hint: past the end it reads nothing).
    // (B prefetches, 8 steps ahead, measured no better: the B panel sits in L2.)
    _mm_prefetch(reinterpret_cast<const char*>(Ap + 16 * kAvx512Mr), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[r]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(C + r * ldc, m0, c0[r]);
    if (hi) _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1[r]);
  }
}

KernelSet avx512_kernels() {
  KernelSet ks{kAvx512Mr, kAvx512Nr, {}, {}};
  ks.chunk_floats = std::size_t{1} << 22;
  ks.a_kmajor = true;
  ks.kc_max = 4096;
  ks.a_once = true;
  for_rows(std::make_integer_sequence<int, kAvx512Mr>{}, [&]<int R>() {
    ks.full[R] = &ukr_avx512<R, true>;
    ks.edge[R] = &ukr_avx512<R, false>;
  });
  return ks;
}

#endif  // DRIFTLAB_X86

const KernelSet& kernels_for(detail::GemmIsa isa) {
  static const KernelSet scalar = scalar_kernels();
#if DRIFTLAB_X86
  static const KernelSet avx2 = avx2_kernels();
  static const KernelSet avx512 = avx512_kernels();
  if (isa == detail::GemmIsa::avx512) {
    detail::note_path(detail::IsaFamily::gemm, Isa::avx512);
    return avx512;
  }
  if (isa == detail::GemmIsa::avx2) {
    detail::note_path(detail::IsaFamily::gemm, Isa::avx2);
    return avx2;
  }
#else
  (void)isa;
#endif
  detail::note_path(detail::IsaFamily::gemm, Isa::scalar);
  return scalar;
}

// --- Blocking ---------------------------------------------------------------------------------
// kKc (above): one k block.  A task packs its row block of A (<= kMaxMcRows x kKc, in L2); for
// each row panel (mr x kc, in L1) the microkernel sweeps the task's B panels (kc x nr each,
// streamed from L2); only the scalar fallback still does this.  AVX2 and AVX-512
// (KernelSet::a_kmajor) invert the sweep and take k blocks of up to 4096: each B panel (up to 256
// KiB for AVX2, 512 KiB for AVX-512, in L2) meets the task's A panels, which stream in one
// sequence; C is reloaded once per k block, i.e. once for K <= 4096.  AVX-512 packs all of A once
// per call (KernelSet::a_once: M x K floats, rows padded to 14, in the calling thread's scratch).
constexpr std::size_t kMaxMcRows = 288;  // row block cap (packed A <= 306 KiB; AVX2 at kc 4096: 4.5 MiB)
constexpr std::size_t kBSlack = 8 * 32;                    // floats past packed B the prefetches reach (8 steps of nr)

// A 64-byte aligned scratch buffer that only grows; one per thread.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  float* get(std::size_t floats) {
    if (floats > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p_) throw std::bad_alloc();
      cap_ = floats;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  std::size_t cap_ = 0;
};

Scratch& a_scratch() {
  thread_local Scratch s;
  return s;
}
Scratch& b_scratch() {
  thread_local Scratch s;
  return s;
}
Scratch& a_all_scratch() {
  thread_local Scratch s;
  return s;
}

// B panel p of a chunk: columns [p*nr, p*nr + nr) of B (k from 0 to K), as Bp[k*nr + j], zero
// padded past the last column.
template <std::size_t NR> void pack_b_panel_full(const float* B, std::size_t ldb, std::size_t K, float* dst) {
  for (std::size_t k = 0; k < K; ++k, B += ldb, dst += NR) std::memcpy(dst, B, NR * sizeof(float));  // inlined
}

void pack_b_panel(const float* B, std::size_t ldb, std::size_t K, std::size_t cols, std::size_t nr, float* dst) {
  if (cols == nr && nr == 16) return pack_b_panel_full<16>(B, ldb, K, dst);
  if (cols == nr && nr == 32) return pack_b_panel_full<32>(B, ldb, K, dst);
  for (std::size_t k = 0; k < K; ++k, B += ldb, dst += nr) {
    std::memcpy(dst, B, cols * sizeof(float));
    std::fill(dst + cols, dst + nr, 0.0f);
  }
}

// Rows [0, rows) of A, k in [0, kc), as dst[r*kAs + k].
void pack_a_block(const float* A, std::size_t lda, std::size_t rows, std::size_t kc, float* dst) {
  for (std::size_t r = 0; r < rows; ++r) std::memcpy(dst + r * kAs, A + r * lda, kc * sizeof(float));
}

// Rows [0, rows) of A, k in [0, kc), k-major per panel of mr rows: row i*mr + r at
// dst[i*mr*kc + k*mr + r]; the rows past `rows` in the last panel are zero (never stored).
void pack_a_block_kmajor(const float* A, std::size_t lda, std::size_t rows, std::size_t kc, std::size_t mr,
                         float* dst) {
  for (std::size_t i = 0; i < rows; i += mr, dst += mr * kc) {
    const std::size_t r_n = std::min(mr, rows - i);
    if (r_n == 6 && mr == 6) {  // the common case, with the row count known
      const float* src = A + i * lda;
      for (std::size_t k = 0; k < kc; ++k)
        for (std::size_t r = 0; r < 6; ++r) dst[k * 6 + r] = src[r * lda + k];
      continue;
    }
    if (r_n == 14 && mr == 14) {
      const float* src = A + i * lda;
      for (std::size_t k = 0; k < kc; ++k)
        for (std::size_t r = 0; r < 14; ++r) dst[k * 14 + r] = src[r * lda + k];
      continue;
    }
    for (std::size_t r = 0; r < r_n; ++r) {
      const float* src = A + (i + r) * lda;
      for (std::size_t k = 0; k < kc; ++k) dst[k * mr + r] = src[k];
    }
    for (std::size_t r = r_n; r < mr; ++r)
      for (std::size_t k = 0; k < kc; ++k) dst[k * mr + r] = 0.0f;
  }
}

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// Splits [0, n) into `parts` near-equal ranges; part i starts at n*i/parts.
std::size_t part_begin(std::size_t n, std::size_t parts, std::size_t i) { return n * i / parts; }

// --- GEMV path (M <= kGemvMaxRows) -------------------------------------------------------------
// C[r][j0, j1) is the output itself: it starts at +0.0f and takes, per pass, the fmas of up to eight
// (scalar: four) consecutive k (k, k+1, k+2, ... in that order) -- the chain of gemm.h, with one
// load and one store of C per pass.  B's rows stream from memory in order; nothing is packed.
// Kernel: rows M, columns [j0, j1) of C, k in [0, K).
using GemvKernel = void (*)(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C,
                            std::size_t ldc, std::size_t M, std::size_t j0, std::size_t j1, std::size_t K);

// Scalar columns [j0, j1) for one pass of `steps` k (1..4) from k0: the chain, literally.
inline void gemv_cols_scalar(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C,
                             std::size_t ldc, std::size_t M, std::size_t j0, std::size_t j1, std::size_t k0,
                             std::size_t steps) {
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t j = j0; j < j1; ++j) {
      float c = C[r * ldc + j];
      for (std::size_t s = 0; s < steps; ++s) c = std::fma(A[r * lda + k0 + s], B[(k0 + s) * ldb + j], c);
      C[r * ldc + j] = c;
    }
}

void gemv_scalar(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C, std::size_t ldc,
                 std::size_t M, std::size_t j0, std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  for (std::size_t k = 0; k < K; k += 4) gemv_cols_scalar(A, lda, B, ldb, C, ldc, M, j0, j1, k, std::min<std::size_t>(4, K - k));
}

#if DRIFTLAB_X86

template <int Steps>
__attribute__((target("avx2,fma"))) void gemv_pass_avx2(const float* A, std::size_t lda, const float* B,
                                                          std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                          std::size_t j0, std::size_t j1, std::size_t k) {
  __m256 a[kGemvMaxRows][8];
  for (std::size_t r = 0; r < M; ++r)
    for (int s = 0; s < Steps; ++s) a[r][s] = _mm256_broadcast_ss(A + r * lda + k + s);
  const float* b = B + k * ldb;
  std::size_t j = j0;
  for (; j + 8 <= j1; j += 8) {
    __m256 w[8];
    for (int s = 0; s < Steps; ++s) w[s] = _mm256_loadu_ps(b + s * ldb + j);
    for (std::size_t r = 0; r < M; ++r) {
      __m256 c = _mm256_loadu_ps(C + r * ldc + j);
      for (int s = 0; s < Steps; ++s) c = _mm256_fmadd_ps(a[r][s], w[s], c);
      _mm256_storeu_ps(C + r * ldc + j, c);
    }
  }
  if (j < j1) gemv_cols_scalar(A, lda, B, ldb, C, ldc, M, j, j1, k, Steps);
}

__attribute__((target("avx2,fma"))) void gemv_avx2(const float* A, std::size_t lda, const float* B, std::size_t ldb,
                                                    float* C, std::size_t ldc, std::size_t M, std::size_t j0,
                                                    std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  std::size_t k = 0;
  // Eight rows of W per pass, as gemv_avx512 (B=1, K=N=4096: 2.7 ms instead of 3.4 ms).
  for (; k + 8 <= K; k += 8) gemv_pass_avx2<8>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
  if (k + 4 <= K) {
    gemv_pass_avx2<4>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
    k += 4;
  }
  for (; k < K; ++k) gemv_pass_avx2<1>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
}

template <int Steps>
__attribute__((target("avx512f"))) void gemv_pass_avx512(const float* A, std::size_t lda, const float* B,
                                                          std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                          std::size_t j0, std::size_t j1, std::size_t k) {
  __m512 a[kGemvMaxRows][8];
  for (std::size_t r = 0; r < M; ++r)
    for (int s = 0; s < Steps; ++s) a[r][s] = _mm512_set1_ps(A[r * lda + k + s]);
  const float* b = B + k * ldb;
  std::size_t j = j0;
  for (; j + 16 <= j1; j += 16) {
    __m512 w[8];
    for (int s = 0; s < Steps; ++s) w[s] = _mm512_loadu_ps(b + s * ldb + j);
    for (std::size_t r = 0; r < M; ++r) {
      __m512 c = _mm512_loadu_ps(C + r * ldc + j);
      for (int s = 0; s < Steps; ++s) c = _mm512_fmadd_ps(a[r][s], w[s], c);
      _mm512_storeu_ps(C + r * ldc + j, c);
    }
  }
  if (j < j1) {  // masked lanes are neither read nor written
    const __mmask16 m = static_cast<__mmask16>((1u << (j1 - j)) - 1);
    __m512 w[8];
    for (int s = 0; s < Steps; ++s) w[s] = _mm512_maskz_loadu_ps(m, b + s * ldb + j);
    for (std::size_t r = 0; r < M; ++r) {
      __m512 c = _mm512_maskz_loadu_ps(m, C + r * ldc + j);
      for (int s = 0; s < Steps; ++s) c = _mm512_fmadd_ps(a[r][s], w[s], c);
      _mm512_mask_storeu_ps(C + r * ldc + j, m, c);
    }
  }
}

__attribute__((target("avx512f"))) void gemv_avx512(const float* A, std::size_t lda, const float* B,
                                                     std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                     std::size_t j0, std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  std::size_t k = 0;
  // Eight rows of W per pass (eight streams per thread) kept W streaming at 0.78-0.90 of the read
  // probe in predict at batch 1, four rows at 0.64 (docs/perf-notes.md).
  for (; k + 8 <= K; k += 8) gemv_pass_avx512<8>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
  if (k + 4 <= K) {
    gemv_pass_avx512<4>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
    k += 4;
  }
  for (; k < K; ++k) gemv_pass_avx512<1>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
}

#endif  // DRIFTLAB_X86

GemvKernel gemv_for(detail::GemmIsa isa) {
#if DRIFTLAB_X86
  if (isa == detail::GemmIsa::avx512) {
    detail::note_path(detail::IsaFamily::gemm, Isa::avx512);
    return &gemv_avx512;
  }
  if (isa == detail::GemmIsa::avx2) {
    detail::note_path(detail::IsaFamily::gemm, Isa::avx2);
    return &gemv_avx2;
  }
#else
  (void)isa;
#endif
  detail::note_path(detail::IsaFamily::gemm, Isa::scalar);
  return &gemv_scalar;
}

}  // namespace

namespace detail {
// The outputs' footprint a GEMV task keeps in L1 while B streams past (floats).
constexpr std::size_t kGemvFootprint = 4096;

void gemv_split(std::size_t M, std::size_t N, std::size_t K, ThreadPool* pool,
                const std::function<void(std::size_t, std::size_t)>& run) {
  const bool parallel = pool && pool->size() > 1 && M * N * K >= kSerialFmas;
  const std::size_t threads = parallel ? static_cast<std::size_t>(pool->size()) : 1;
  // Column chunks of whole 16-column groups (64-byte lines of C), at least one per thread.
  const std::size_t chunks = std::max(threads, (M * N + kGemvFootprint - 1) / kGemvFootprint);
  const std::size_t width = ((N + chunks - 1) / chunks + 15) / 16 * 16;
  const std::size_t tasks = (N + width - 1) / width;
  auto task = [&](std::size_t t, int) { run(t * width, std::min(N, t * width + width)); };
  if (parallel)
    pool->parallel_for(tasks, task);
  else
    for (std::size_t t = 0; t < tasks; ++t) task(t, 0);
}
}  // namespace detail

namespace {

void gemv_run(GemvKernel kernel, const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C,
              std::size_t ldc, std::size_t M, std::size_t N, std::size_t K, ThreadPool* pool) {
  detail::gemv_split(M, N, K, pool, [&](std::size_t j0, std::size_t j1) { kernel(A, lda, B, ldb, C, ldc, M, j0, j1, K); });
}

// pre: B prepacked (PackedB), pointing at panel 0's row k_begin, panels pre_stride floats apart;
// null: pack B here, a column chunk at a time.
void gemm_run(const KernelSet& ks, const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C,
              std::size_t ldc, std::size_t M, std::size_t N, std::size_t K, ThreadPool* pool,
              const float* pre = nullptr, std::size_t pre_stride = 0) {
  const std::size_t mr = static_cast<std::size_t>(ks.mr), nr = static_cast<std::size_t>(ks.nr);
  const bool parallel = pool && pool->size() > 1 && M * N * K >= kSerialFmas;
  const std::size_t threads = parallel ? static_cast<std::size_t>(pool->size()) : 1;
  auto for_tasks = [&](std::size_t n, const std::function<void(std::size_t, int)>& fn) {
    if (parallel)
      pool->parallel_for(n, fn);
    else
      for (std::size_t t = 0; t < n; ++t) fn(t, 0);
  };

  // Column chunks bound the B panels a k block sweeps (<= ks.chunk_floats over all k: a k block's
  // share, kKc / K of it, streams from L2 beside the packed A), prepacked or not.  The scalar
  // fallback keeps 8 MiB (AVX-512's choice for this order: no clear difference against 4 MiB).
  // AVX2 (k-major A, long k blocks) takes 16 MiB: the A row block is packed once per chunk, so
  // fewer chunks pack it fewer times (docs/perf-notes.md).  AVX-512 (A packed once per call)
  // takes 16 MiB too (8 MiB measured ~3% slower at K=N=4096, one thread).
  const std::size_t chunk_cols = std::max(nr, ks.chunk_floats / K / nr * nr);
  const float* Aall = nullptr;  // a_once: all of A, packed here, a few panels per task
  if (ks.a_once) {
    const std::size_t mp = ceil_div(M, mr);
    float* const dst = a_all_scratch().get(mp * mr * K);
    const std::size_t pack_tasks = std::min(mp, threads * 4);
    for_tasks(pack_tasks, [&](std::size_t t, int) {
      const std::size_t q0 = part_begin(mp, pack_tasks, t), q1 = part_begin(mp, pack_tasks, t + 1);
      if (q0 < q1)
        pack_a_block_kmajor(A + q0 * mr * lda, lda, std::min(M, q1 * mr) - q0 * mr, K, mr, dst + q0 * mr * K);
    });
    Aall = dst;
  }
  for (std::size_t j0 = 0; j0 < N; j0 += chunk_cols) {
    const std::size_t cols = std::min(chunk_cols, N - j0);
    const std::size_t np = ceil_div(cols, nr);
    const float* Bpack = pre ? pre + (j0 / nr) * pre_stride : nullptr;
    std::size_t panel_stride = pre_stride;
    if (!pre) {  // pack the chunk's B panels, a few panels per task
      float* const dst = b_scratch().get(np * nr * K + kBSlack);
      const std::size_t pack_tasks = std::min(np, threads * 4);
      for_tasks(pack_tasks, [&](std::size_t t, int) {
        for (std::size_t p = part_begin(np, pack_tasks, t); p < part_begin(np, pack_tasks, t + 1); ++p)
          pack_b_panel(B + j0 + p * nr, ldb, K, std::min(nr, cols - p * nr), nr, dst + p * nr * K);
      });
      Bpack = dst;
      panel_stride = nr * K;
    }

    // Blocks of C: row blocks of whole mr panels (<= kMaxMcRows rows), column blocks of whole
    // nr panels; with several threads, split further (rows first) towards 8 tasks per thread
    // (a timing-dependent share of the tasks never changes a result, only the balance).
    const std::size_t mp = ceil_div(M, mr);
    const std::size_t max_mc_panels = std::max<std::size_t>(1, kMaxMcRows / mr);
    std::size_t rb = ceil_div(mp, max_mc_panels), cb = 1;
    const std::size_t target = threads > 1 ? threads * 8 : 1;
    while (rb * cb < target) {
      if (mp / (rb + 1) >= 4)
        ++rb;
      else if (np / (cb + 1) >= 4)
        ++cb;
      else
        break;
    }
    for_tasks(rb * cb, [&](std::size_t t, int) {
      const std::size_t p0 = part_begin(np, cb, t % cb), p1 = part_begin(np, cb, t % cb + 1);
      const std::size_t r0 = part_begin(mp, rb, t / cb) * mr, r1 = std::min(M, part_begin(mp, rb, t / cb + 1) * mr);
      if (r0 >= r1 || p0 >= p1) return;
      const std::size_t rows = r1 - r0;
      const std::size_t kcb = ks.a_kmajor ? ceil_div(K, ceil_div(K, ks.kc_max)) : kKc;
      float* const Apack = Aall ? nullptr : a_scratch().get(ceil_div(rows, mr) * mr * std::max(kAs, kcb));
      for (std::size_t pc = 0; pc < K; pc += kcb) {
        const std::size_t kc = std::min(kcb, K - pc);
        if (Aall) {
          // packed before the chunks: panel (r0 + i) / mr at Aall + (r0 + i) * K, k-major
        } else if (ks.a_kmajor) {
          pack_a_block_kmajor(A + r0 * lda + pc, lda, rows, kc, mr, Apack);
        } else {
          pack_a_block(A + r0 * lda + pc, lda, rows, kc, Apack);
        }
        auto tile = [&](std::size_t i, std::size_t p) {
          const std::size_t r = std::min(mr, rows - i);
          const std::size_t ncols = std::min(nr, cols - p * nr);
          float* const Ct = C + (r0 + i) * ldc + j0 + p * nr;
          const Microkernel ukr = ncols == nr ? ks.full[r] : ks.edge[r];
          const float* const Ap = Aall ? Aall + (r0 + i) * K + pc * mr : Apack + i * (ks.a_kmajor ? kc : kAs);
          ukr(kc, Ap, Bpack + p * panel_stride + pc * nr, Ct, ldc, ncols, pc > 0);
        };
        if (ks.a_kmajor) {  // each B panel (kc x nr, in L1 or L2) meets all the task's A panels in turn
          for (std::size_t p = p0; p < p1; ++p)
            for (std::size_t i = 0; i < rows; i += mr) {
              // the next tile's C (the chain continues from it: its loads would stall the fmas)
              const std::size_t ni = i + mr < rows ? i + mr : 0, np_ = i + mr < rows ? p : p + 1;
              if (np_ < p1)
                for (std::size_t ii = 0; ii < std::min(mr, rows - ni); ++ii)
                  for (std::size_t jj = 0; jj < nr && jj < cols - np_ * nr; jj += 16)
                    __builtin_prefetch(C + (r0 + ni + ii) * ldc + j0 + np_ * nr + jj, 1, 3);
              tile(i, p);
            }
          continue;
        }
        // each A panel stays in L1 while the B panels stream from L2
        for (std::size_t i = 0; i < rows; i += mr) {
          const std::size_t r = std::min(mr, rows - i);
          for (std::size_t p = p0; p < p1; ++p) {
            if (p + 1 < p1)  // the next tile's C, for writing, while this one computes
              for (std::size_t ii = 0; ii < r; ++ii)
                for (std::size_t jj = 0; jj < nr && jj < cols - (p + 1) * nr; jj += 16)
                  __builtin_prefetch(C + (r0 + i + ii) * ldc + j0 + (p + 1) * nr + jj, 1, 3);
            tile(i, p);
          }
        }
      }
    });
  }
}

}  // namespace

void gemm_chain(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C, std::size_t ldc,
                std::size_t M, std::size_t N, std::size_t k_begin, std::size_t k_end, ThreadPool* pool) {
  if (M == 0 || N == 0) return;
  if (k_end <= k_begin) {  // the empty chain
    for (std::size_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const detail::GemmIsa isa = detail::gemm_isa();
  if (M <= kGemvMaxRows)
    return gemv_run(gemv_for(isa), A + k_begin, lda, B + k_begin * ldb, ldb, C, ldc, M, N, k_end - k_begin, pool);
  gemm_run(kernels_for(isa), A + k_begin, lda, B + k_begin * ldb, ldb, C, ldc, M, N, k_end - k_begin, pool);
}

namespace {

// One spare packed-B buffer: a dying PackedB leaves its storage here and the next one that fits
// takes it, so a caller that packs W on every call (dense atomic) does not fault in fresh pages
// each time (64 MiB for a 4096 x 4096 W).  Never destroyed: a PackedB may die after exit starts.
struct SpareStorage {
  std::mutex m;
  float* p = nullptr;
  std::size_t bytes = 0;
};
SpareStorage& spare_storage() {
  static SpareStorage* s = new SpareStorage;
  return *s;
}

float* take_storage(std::size_t bytes, std::size_t& got) {
  {
    SpareStorage& s = spare_storage();
    const std::lock_guard<std::mutex> lock(s.m);
    if (s.p && s.bytes >= bytes) {
      got = s.bytes;
      return std::exchange(s.p, nullptr);
    }
  }
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  got = bytes;
  return p;
}

void leave_storage(float* p, std::size_t bytes) {
  SpareStorage& s = spare_storage();
  const std::lock_guard<std::mutex> lock(s.m);
  if (s.p && s.bytes >= bytes) return std::free(p);  // keep the larger one
  std::free(s.p);
  s.p = p;
  s.bytes = bytes;
}

}  // namespace

PackedB::PackedB(const float* B, std::size_t ldb, std::size_t K, std::size_t N, ThreadPool* pool)
    : src_(B), ldb_(ldb), K_(K), N_(N) {
  const detail::GemmIsa isa = detail::gemm_isa();
  isa_ = static_cast<int>(isa);
  nr_ = static_cast<std::size_t>(kernels_for(isa).nr);
  const std::size_t np = ceil_div(N, nr_);
  floats_ = np * nr_ * K + kBSlack;
  std::size_t got = 0;
  float* const p = take_storage((floats_ * sizeof(float) + 63) / 64 * 64, got);
  data_.reset(p, [got](float* q) { leave_storage(q, got); });
  const std::size_t tasks = pool && pool->size() > 1 ? std::min(np, static_cast<std::size_t>(pool->size()) * 4) : 1;
  auto pack = [&](std::size_t t, int) {
    for (std::size_t q = part_begin(np, tasks, t); q < part_begin(np, tasks, t + 1); ++q)
      pack_b_panel(B + q * nr_, ldb, K, std::min(nr_, N - q * nr_), nr_, p + q * nr_ * K);
  };
  if (tasks > 1)
    pool->parallel_for(tasks, pack);
  else
    pack(0, 0);
  std::fill(p + np * nr_ * K, p + floats_, 0.0f);
}

void gemm_chain_cols(const float* A, std::size_t lda, const PackedB& B, std::size_t col_begin, std::size_t col_end,
                     float* C, std::size_t ldc, std::size_t M, std::size_t k_begin, std::size_t k_end,
                     ThreadPool* pool) {
  if (B.nr_ == 0 || col_begin % B.nr_ != 0 || col_end > B.N_ || col_begin > col_end)
    throw std::invalid_argument("gemm_chain_cols: the column range is not whole panels of the packed matrix");
  const std::size_t N = col_end - col_begin;
  const detail::GemmIsa isa = detail::gemm_isa();
  if (M == 0 || N == 0 || k_end <= k_begin || M <= kGemvMaxRows || B.isa_ != static_cast<int>(isa))
    return gemm_chain(A, lda, B.src_ + col_begin, B.ldb_, C, ldc, M, N, k_begin, k_end, pool);
  if (k_end > B.K_) throw std::out_of_range("gemm_chain: k_end beyond the packed matrix's rows");
  gemm_run(kernels_for(isa), A + k_begin, lda, nullptr, 0, C, ldc, M, N, k_end - k_begin, pool,
           B.data_.get() + (col_begin / B.nr_) * B.nr_ * B.K_ + k_begin * B.nr_, B.nr_ * B.K_);
}

void gemm_chain(const float* A, std::size_t lda, const PackedB& B, float* C, std::size_t ldc, std::size_t M,
                std::size_t k_begin, std::size_t k_end, ThreadPool* pool) {
  gemm_chain_cols(A, lda, B, 0, B.cols(), C, ldc, M, k_begin, k_end, pool);
}

}  // namespace driftlab::cpu
