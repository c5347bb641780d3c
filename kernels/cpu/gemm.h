// Batch-invariant dense-layer product: every element of C is one fused multiply-add chain in
// increasing k, so its bits depend on k_begin and k_end alone -- not on M, the row's position in
// the batch, the blocking, the vector width (AVX-512, AVX2+FMA or scalar) or the thread count.
//
// The chain is also the natural order of a GEMM microkernel (each C element lives in one vector
// lane and walks k in order), so determinism here costs little speed: the kernel packs B into
// column panels and A into row panels, blocks k (a later k block continues each element's chain
// from its partial value in C), and parallelizes over blocks of C only.
#pragma once

#include <cstddef>

#include "thread_pool.h"

namespace driftlab::cpu {

// C[i*ldc + j] = the fused multiply-add chain over k in [k_begin, k_end), in increasing k:
//   acc = +0.0f; for k = k_begin .. k_end-1: acc = fma(A[i*lda + k], B[k*ldb + j], acc); C[i*ldc + j] = acc;
// A is M x (>= k_end) row-major, B is (>= k_end) x N row-major (Keras kernel layout), C is M x N.
// Every element is bitwise that chain whatever M, the row's position, the blocking, the vector
// width or the thread count: the order depends on k_begin and k_end alone.  k_end <= k_begin is
// the empty chain (C = +0.0).  C must not overlap A or B.  pool may be null (the calling thread
// does everything); k is never split across threads.
void gemm_chain(const float* A, std::size_t lda, const float* B, std::size_t ldb, float* C, std::size_t ldc,
                std::size_t M, std::size_t N, std::size_t k_begin, std::size_t k_end, ThreadPool* pool);

namespace detail {

enum class GemmIsa { scalar, avx2, avx512 };

// Caps the instruction set gemm_chain uses (tests run every level on one machine); the default
// cap is avx512, i.e. the best the CPU runs.
void force_gemm_isa(GemmIsa cap);
// The level gemm_chain uses now: the best this CPU runs (avx512: avx512f; avx2: avx2 and fma),
// capped by force_gemm_isa.
GemmIsa gemm_isa();
const char* gemm_isa_name(GemmIsa level);

}  // namespace detail
}  // namespace driftlab::cpu
