#include "kernels/cpu/gemv_half.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/common/half.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/simd.h"

// The passes are gemm.cpp's GEMV passes with the loads of B replaced by widening loads: C[r][j0, j1)
// starts at +0.0f and takes, per pass, the fmas of up to eight consecutive k in order; B's rows
// stream from memory in order.  The chain per element is the same whatever the pass grouping.

// GCC 12's AVX-512 intrinsics (conversions, extracts, reductions) start from _mm512_undefined_*
// and warn that it "is used uninitialized": a known false positive of the header, silenced here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace driftlab::cpu {
namespace {

template <HalfKind Kind> inline float widen1(std::uint16_t h) {
  if constexpr (Kind == HalfKind::bf16) return bf16_to_f32(h);
  else return f16_to_f32(h);
}

// Scalar columns [j0, j1) for one pass of `steps` k from k0: the chain, literally.
template <HalfKind Kind>
void cols_scalar(const float* A, std::size_t lda, const std::uint16_t* B, std::size_t ldb, float* C, std::size_t ldc,
                 std::size_t M, std::size_t j0, std::size_t j1, std::size_t k0, std::size_t steps) {
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t j = j0; j < j1; ++j) {
      float c = C[r * ldc + j];
      for (std::size_t s = 0; s < steps; ++s) c = std::fma(A[r * lda + k0 + s], widen1<Kind>(B[(k0 + s) * ldb + j]), c);
      C[r * ldc + j] = c;
    }
}

// Kernel: rows M, columns [j0, j1) of C, k in [0, K) (A and B already offset to k_begin).
using Kernel = void (*)(const float* A, std::size_t lda, const std::uint16_t* B, std::size_t ldb, float* C,
                        std::size_t ldc, std::size_t M, std::size_t j0, std::size_t j1, std::size_t K);

template <HalfKind Kind>
void gemv_scalar(const float* A, std::size_t lda, const std::uint16_t* B, std::size_t ldb, float* C, std::size_t ldc,
                 std::size_t M, std::size_t j0, std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  for (std::size_t k = 0; k < K; k += 4) cols_scalar<Kind>(A, lda, B, ldb, C, ldc, M, j0, j1, k, std::min<std::size_t>(4, K - k));
}

#if DRIFTLAB_X86

// ---- AVX2 + FMA (f16: + F16C): 8 columns per vector ----
template <HalfKind Kind> __attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 load8(const std::uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (Kind == HalfKind::bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  else return _mm256_cvtph_ps(h);
}

template <HalfKind Kind, int Steps>
__attribute__((target("avx2,fma,f16c"))) void pass_avx2(const float* A, std::size_t lda, const std::uint16_t* B,
                                                         std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                         std::size_t j0, std::size_t j1, std::size_t k) {
  __m256 a[kGemvMaxRows][8];
  for (std::size_t r = 0; r < M; ++r)
    for (int s = 0; s < Steps; ++s) a[r][s] = _mm256_broadcast_ss(A + r * lda + k + s);
  const std::uint16_t* b = B + k * ldb;
  std::size_t j = j0;
  for (; j + 8 <= j1; j += 8) {
    __m256 w[8];
    for (int s = 0; s < Steps; ++s) w[s] = load8<Kind>(b + s * ldb + j);
    for (std::size_t r = 0; r < M; ++r) {
      __m256 c = _mm256_loadu_ps(C + r * ldc + j);
      for (int s = 0; s < Steps; ++s) c = _mm256_fmadd_ps(a[r][s], w[s], c);
      _mm256_storeu_ps(C + r * ldc + j, c);
    }
  }
  if (j < j1) cols_scalar<Kind>(A, lda, B, ldb, C, ldc, M, j, j1, k, Steps);
}

template <HalfKind Kind>
__attribute__((target("avx2,fma,f16c"))) void gemv_avx2(const float* A, std::size_t lda, const std::uint16_t* B,
                                                         std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                         std::size_t j0, std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  std::size_t k = 0;
  for (; k + 8 <= K; k += 8) pass_avx2<Kind, 8>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
  if (k + 4 <= K) {
    pass_avx2<Kind, 4>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
    k += 4;
  }
  for (; k < K; ++k) pass_avx2<Kind, 1>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
}

// ---- AVX-512: 16 columns per vector ----
template <HalfKind Kind> __attribute__((target("avx512f"), always_inline)) inline __m512 load16(const std::uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (Kind == HalfKind::bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}

template <HalfKind Kind, int Steps>
__attribute__((target("avx512f"))) void pass_avx512(const float* A, std::size_t lda, const std::uint16_t* B,
                                                    std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                    std::size_t j0, std::size_t j1, std::size_t k) {
  __m512 a[kGemvMaxRows][8];
  for (std::size_t r = 0; r < M; ++r)
    for (int s = 0; s < Steps; ++s) a[r][s] = _mm512_set1_ps(A[r * lda + k + s]);
  const std::uint16_t* b = B + k * ldb;
  std::size_t j = j0;
  for (; j + 16 <= j1; j += 16) {
    __m512 w[8];
    for (int s = 0; s < Steps; ++s) w[s] = load16<Kind>(b + s * ldb + j);
    for (std::size_t r = 0; r < M; ++r) {
      __m512 c = _mm512_loadu_ps(C + r * ldc + j);
      for (int s = 0; s < Steps; ++s) c = _mm512_fmadd_ps(a[r][s], w[s], c);
      _mm512_storeu_ps(C + r * ldc + j, c);
    }
  }
  if (j < j1) cols_scalar<Kind>(A, lda, B, ldb, C, ldc, M, j, j1, k, Steps);
}

template <HalfKind Kind>
__attribute__((target("avx512f"))) void gemv_avx512(const float* A, std::size_t lda, const std::uint16_t* B,
                                                    std::size_t ldb, float* C, std::size_t ldc, std::size_t M,
                                                    std::size_t j0, std::size_t j1, std::size_t K) {
  for (std::size_t r = 0; r < M; ++r) std::fill(C + r * ldc + j0, C + r * ldc + j1, 0.0f);
  std::size_t k = 0;
  for (; k + 8 <= K; k += 8) pass_avx512<Kind, 8>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
  if (k + 4 <= K) {
    pass_avx512<Kind, 4>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
    k += 4;
  }
  for (; k < K; ++k) pass_avx512<Kind, 1>(A, lda, B, ldb, C, ldc, M, j0, j1, k);
}

#endif  // DRIFTLAB_X86

template <HalfKind Kind> Kernel kernel_for() {
  int level = static_cast<int>(detail::gemm_isa());
  level = std::min(level, static_cast<int>(detail::half_isa_level()));  // avx2 there means AVX2 and F16C
#if DRIFTLAB_X86
  if (level == static_cast<int>(detail::GemmIsa::avx512)) {
    detail::note_path(detail::IsaFamily::half, Isa::avx512);
    return &gemv_avx512<Kind>;
  }
  if (level == static_cast<int>(detail::GemmIsa::avx2)) {
    detail::note_path(detail::IsaFamily::half, Isa::avx2);
    return &gemv_avx2<Kind>;
  }
#endif
  detail::note_path(detail::IsaFamily::half, Isa::scalar);
  return &gemv_scalar<Kind>;
}

}  // namespace

void gemv_chain_half(HalfKind kind, const float* A, std::size_t lda, const std::uint16_t* B, std::size_t ldb, float* C,
                     std::size_t ldc, std::size_t M, std::size_t N, std::size_t k_begin, std::size_t k_end,
                     ThreadPool* pool) {
  if (M > kGemvMaxRows) throw std::invalid_argument("gemv_chain_half: more rows than the GEMV path takes");
  if (M == 0 || N == 0) return;
  const std::size_t K = k_end > k_begin ? k_end - k_begin : 0;
  const Kernel kernel = kind == HalfKind::bf16 ? kernel_for<HalfKind::bf16>() : kernel_for<HalfKind::f16>();
  A += k_begin;
  B += k_begin * ldb;
  detail::gemv_split(M, N, K, pool, [&](std::size_t j0, std::size_t j1) {
    kernel(A, lda, B, ldb, C, ldc, M, j0, j1, K);  // K = 0: C = +0.0, the empty chain
  });
}

}  // namespace driftlab::cpu
