// The orders of tensor-parallel (TP) inference, written down once: `driftlab predict --tp P` runs
// the MLP with each dense layer's K split over P ranks and the partial outputs all-reduced.  The
// in-process simulation (host/distributed/tp_sim.cpp) and the Open MPI execution
// (host/distributed/tp_mpi.cpp) both follow this header, and the all-reduces themselves are
// allreduce_order.h's (the same code: allreduce::simulate and allreduce::allreduce_once).
//
// One dense layer y = act(x W + b), x [B x K] row-major, W [K x N], b [N] (dense_order.h), on P
// ranks.  Every rank holds the whole x (the previous layer's full output) and the whole W; it
// computes only its part of the K sum.  The chain is dense_order.h's:
//     chain(i, j, k0, k1):  acc = +0.0f; for k = k0 .. k1-1: acc = fma(x[i][k], W[k][j], acc)
//
// mpi, ring, exact (the split depends on P):
//   rank r's K range is [r*K/P, (r+1)*K/P) (integer division: contiguous, possibly empty), and its
//   partial of output (i, j) is p_r[i][j] = chain(i, j, r*K/P, (r+1)*K/P) (+0.0 when empty).
//   The B*N partials of every rank are one vector, all-reduced as allreduce_order.h's data with
//   M = P shards, one per rank (rank r holds shard r; its local sum -0.0 + p_r is p_r bit for bit):
//     mpi    MPI_Allreduce(MPI_FLOAT, MPI_SUM): Open MPI's order.  Measured, never simulated.
//            Determinism: run to run for one P; the bits move with P.
//     ring   allreduce_order.h's ring, one channel, one buffer of B*N elements.  Determinism: run
//            to run for one P; P changes both the partials and their order.
//     exact  allreduce_order.h's exact all-reduce of the P partials: each output's s = the exact
//            sum of p_0 .. p_{P-1} rounded once.  Determinism: any MPI algorithm for one P; the
//            partials themselves are rounded sums that depend on P, so the bits still move with P.
// invariant (the split does not depend on P):
//   K is cut into chunks of kTpChunk = 256 (a constant, whatever P): chunk c covers
//   [c*256, min(K, (c+1)*256)), C = ceil(K / 256) chunks (1 when K <= 256).  Chunk c's partial is
//   q_c[i][j] = chain(i, j, chunk c), one fma chain.  Chunks go to ranks in contiguous groups
//   (allreduce_order.h's rank_shards with M = C: rank r holds chunks [r*C/P, (r+1)*C/P)), and the
//   chunk partials are combined by the exact all-reduce with each chunk partial a shard (M = C):
//   s = the exact sum of q_0 .. q_{C-1} rounded once, whichever rank holds which chunk.
//   Determinism: any P, any MPI algorithm, any device: the same bits at TP 1, 2, 3, 4, 8, ..., and
//   the same as one process evaluating this order (invariant_dense below).
//
// Then, for every variant: y[i][j] = act(s + b[j]) (one rounded addition), on every rank, and the
// next layer starts from the full y.  Inference only (no dropout), float32 storage.
//
// NCCL mapping of invariant (docs/distributed.md): the chunk partials' exact sum is the exact
// all-reduce's integer passes, i.e. ncclAllReduce on ncclInt32 (narrow window) and ncclInt64 (wide
// window, fallback bins) limbs with ncclSum, and ncclMax on the block exponent bytes.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/common/allreduce_order.h"
#include "kernels/common/dense_order.h"
#include "kernels/common/hd.h"

namespace driftlab::tp {

inline constexpr std::size_t kTpChunk = 256;

struct KRange {
  std::size_t begin, end;
};

// mpi, ring, exact: rank r's contiguous K range for P ranks.
inline KRange rank_k_range(std::size_t K, std::size_t P, std::size_t r) { return {r * K / P, (r + 1) * K / P}; }

// invariant: the chunk count of K, and chunk c's K range.
inline std::size_t chunk_count(std::size_t K) { return K <= kTpChunk ? 1 : (K + kTpChunk - 1) / kTpChunk; }
inline KRange chunk_range(std::size_t K, std::size_t c) {
  const std::size_t b = c * kTpChunk, e = b + kTpChunk;
  return {b < K ? b : K, e < K ? e : K};
}

// One chain: the partial of output (i, j) over [k0, k1).
inline float chain(const float* x, const float* W, std::size_t K, std::size_t N, std::size_t i, std::size_t j,
                   KRange r) {
  float acc = 0.0f;
  for (std::size_t k = r.begin; k < r.end; ++k) acc = dense::fma(x[i * K + k], W[k * N + j], acc);
  return acc;
}

// Every output's partial [B x N] over range r into p: chain(i, j, r) for every (i, j), its steps
// interleaved across j (k outer, j inner) so that W is read row by row; each output's chain is
// still one fma per k in increasing k from +0.0, so the bits are chain's.
inline void partials(const float* x, const float* W, std::size_t B, std::size_t K, std::size_t N, KRange r, float* p) {
  for (std::size_t i = 0; i < B; ++i) {
    float* acc = p + i * N;
    for (std::size_t j = 0; j < N; ++j) acc[j] = 0.0f;
    for (std::size_t k = r.begin; k < r.end; ++k) {
      const float xk = x[i * K + k];
      const float* w = W + k * N;
      for (std::size_t j = 0; j < N; ++j) acc[j] = dense::fma(xk, w[j], acc[j]);
    }
  }
}

// y = act(s + b[j]) in place over s [B x N].
inline void finish(float* s, const float* b, std::size_t B, std::size_t N, dense::Activation act) {
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < N; ++j) s[i * N + j] = dense::activate(dense::add(s[i * N + j], b[j]), act);
}

// The invariant order in one process, the reference the TP executions equal bit for bit: every
// chunk partial, their exact sum rounded once (exact.h's full accumulator: allreduce_order.h's
// Fallback, exact for any values), then + b and act.  y [B x N].
inline void invariant_dense(const float* x, const float* W, const float* b, std::size_t B, std::size_t K,
                            std::size_t N, dense::Activation act, float* y) {
  const std::size_t C = chunk_count(K);
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      allreduce::Fallback f;
      for (std::size_t c = 0; c < C; ++c) allreduce::fallback_add(f, chain(x, W, K, N, i, j, chunk_range(K, c)));
      y[i * N + j] = allreduce::fallback_result(f);
    }
  finish(y, b, B, N, act);
}

}  // namespace driftlab::tp
