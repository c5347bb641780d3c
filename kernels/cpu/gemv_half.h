// The GEMV path of gemm.h (M <= kGemvMaxRows) with B stored as 16-bit patterns (bf16 or IEEE f16),
// widened in registers: batch-1 inference of a 16-bit model streams 2 bytes per weight instead of
// a widened float32 copy's 4.
//
// Order: exactly gemm_chain's -- every C element starts at +0.0f and takes one fma per k in
// increasing k over [k_begin, k_end), in float32, with B's widened value (widening is exact:
// half.h, the same bits as cpu::widen).  So for every input, every ISA level and thread count:
//   gemv_chain_half(kind, A, B16, ...) == gemm_chain(A, widen(B16), ...)   bit for bit
// (tests/test_gemv_half.cpp forces every level).  Levels: AVX-512 (bf16: zero-extend and shift;
// f16: vcvtph2ps), AVX2+FMA (bf16 the same on 8 lanes; f16 F16C), scalar (half.h, std::fma); the
// level is the lower of gemm.h's (gemm_isa) and half_convert.h's (half_isa_level).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace driftlab::cpu {

enum class HalfKind { bf16, f16 };

// C[i*ldc + j] (i < M, j < N) = the chain over k in [k_begin, k_end) of A[i*lda + k] and
// widen(B[k*ldb + j]).  M <= kGemvMaxRows (std::invalid_argument otherwise).  pool may be null.
void gemv_chain_half(HalfKind kind, const float* A, std::size_t lda, const std::uint16_t* B, std::size_t ldb, float* C,
                     std::size_t ldc, std::size_t M, std::size_t N, std::size_t k_begin, std::size_t k_end,
                     ThreadPool* pool);

}  // namespace driftlab::cpu
