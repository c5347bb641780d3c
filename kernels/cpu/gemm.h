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
#include <functional>
#include <memory>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/thread_pool.h"

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

// B packed once (a layer's weights): column panels of the microkernel's width over all rows, as
// gemm_chain packs B on every call otherwise.  It keeps a pointer to its source and the ISA it
// was packed for: the source must outlive it and must not change under it (a cache that owns one
// repacks when the weights change), and gemm_chain falls back to the source when the ISA in use
// differs.  The packing never changes a result, only who pays for it.
class PackedB {
 public:
  PackedB() = default;
  // For gemm_isa() now; with a pool, the panels are packed in parallel.
  PackedB(const float* B, std::size_t ldb, std::size_t K, std::size_t N, ThreadPool* pool = nullptr);
  bool empty() const { return !data_; }
  const float* source() const { return src_; }
  std::size_t ldb() const { return ldb_; }
  std::size_t rows() const { return K_; }
  std::size_t cols() const { return N_; }
  std::size_t bytes() const { return floats_ * sizeof(float); }
  // Width of a packed panel: a column range that starts at a multiple of it is a set of whole panels.
  std::size_t panel_cols() const { return nr_; }

 private:
  friend void gemm_chain_cols(const float*, std::size_t, const PackedB&, std::size_t, std::size_t, float*,
                              std::size_t, std::size_t, std::size_t, std::size_t, ThreadPool*);
  std::shared_ptr<float> data_;
  const float* src_ = nullptr;
  std::size_t ldb_ = 0, K_ = 0, N_ = 0, nr_ = 0, floats_ = 0;
  int isa_ = -1;
};

// gemm_chain with B = the packed matrix's source (N = its columns), bitwise the same result.
void gemm_chain(const float* A, std::size_t lda, const PackedB& B, float* C, std::size_t ldc, std::size_t M,
                std::size_t k_begin, std::size_t k_end, ThreadPool* pool);

// The same for B's columns [col_begin, col_end) only (C points at the first of them); col_begin is a
// multiple of B.panel_cols() (std::invalid_argument otherwise).
void gemm_chain_cols(const float* A, std::size_t lda, const PackedB& B, std::size_t col_begin, std::size_t col_end,
                     float* C, std::size_t ldc, std::size_t M, std::size_t k_begin, std::size_t k_end,
                     ThreadPool* pool);

// Rows up to this many take the GEMV path: B streamed row by row straight from memory (no
// packing), four k steps per pass over the outputs, each output still one chain in increasing k.
constexpr std::size_t kGemvMaxRows = 4;

// Products of fewer multiply-adds (M * N * K) than this run on the calling thread: below it the
// pool's hand-off costs more than it gives.  Every dense variant follows it (dense.cpp's atomic too).
inline constexpr std::size_t kSerialFmas = std::size_t{1} << 18;

namespace detail {

using GemmIsa = Isa;  // the one dispatcher's levels (isa.h)

// Caps the instruction set gemm_chain uses (tests run every level on one machine), below
// isa_level(); the default cap is avx512, i.e. no cap.
inline void force_gemm_isa(GemmIsa cap) { force_isa(IsaFamily::gemm, cap); }
// The level gemm_chain uses now: isa_level() capped by force_gemm_isa.  Throws
// std::invalid_argument on a bad DRIFTLAB_ISA.
inline GemmIsa gemm_isa() { return isa_level(IsaFamily::gemm); }

// The GEMV path's split over threads (gemm_chain's and gemv_half.h's): column chunks [j0, j1) of
// whole 16-column groups, small enough that M rows of outputs stay in L1 while B streams past, at
// least one per thread; run(j0, j1) on each, on the pool when M * N * K is large enough.
void gemv_split(std::size_t M, std::size_t N, std::size_t K, ThreadPool* pool,
                const std::function<void(std::size_t, std::size_t)>& run);

}  // namespace detail
}  // namespace driftlab::cpu
