// Dense layers on the CPU: atomic, tree and invariant.  Every partial product is a fused
// multiply-add chain in increasing k (gemm_chain), so the only thing that differs between the
// variants is how the chains are cut and combined -- which is the point.
#include "dense.h"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "../common/rng.h"
#include "gemm.h"

namespace driftlab::cpu {
namespace {

using dense::activate;

constexpr std::size_t kRowBlock = 64;  // rows per atomic task: a task is (slice, row block)

void bias_act(const float* acc, const float* b, float* y, std::size_t B, std::size_t N, dense::Activation act) {
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < N; ++j) y[i * N + j] = activate(dense::add(acc[i * N + j], b[j]), act);
}

// x [rows x K] times W's k range into out (the chain of gemm.h), from the packed W when there is one.
void chain(const float* x, const float* W, float* out, std::size_t rows, std::size_t K, std::size_t N,
           std::size_t k_begin, std::size_t k_end, const PackedB* packed, ThreadPool* pool) {
  if (packed)
    gemm_chain(x, K, *packed, out, N, rows, k_begin, k_end, pool);
  else
    gemm_chain(x, K, W, N, out, N, rows, N, k_begin, k_end, pool);
}

// Partials p_s [S][B][N] of every slice (each a gemm_chain over the slice's k range).
std::vector<float> slice_partials(const float* x, const float* W, std::size_t B, std::size_t K, std::size_t N,
                                  std::size_t S, const DenseContext& ctx) {
  std::vector<float> p(S * B * N);
  for (std::size_t s = 0; s < S; ++s)
    chain(x, W, p.data() + s * B * N, B, K, N, dense::slice_begin(K, S, s), dense::slice_end(K, S, s), ctx.packed_W,
          ctx.pool);
  return p;
}

void dense_invariant(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                     std::size_t N, dense::Activation act, const DenseContext& ctx) {
  chain(x, W, y, B, K, N, 0, K, ctx.packed_W, ctx.pool);
  bias_act(y, b, y, B, N, act);
}

void dense_tree(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                std::size_t N, std::size_t S, dense::Activation act, const DenseContext& ctx) {
  std::vector<float> p = slice_partials(x, W, B, K, N, S, ctx);
  // dense_order.h's pairwise tree, a whole plane at a time: every element sees the same additions
  // in the same order as dense::tree_combine, and the planes vectorize.
  const std::size_t plane = B * N;
  for (std::size_t stride = 1; stride < S; stride *= 2)
    for (std::size_t s = 0; s + stride < S; s += 2 * stride) {
      float* dst = p.data() + s * plane;
      const float* src = p.data() + (s + stride) * plane;
      for (std::size_t e = 0; e < plane; ++e) dst[e] = dense::add(dst[e], src[e]);
    }
  bias_act(p.data(), b, y, B, N, act);
}

void dense_atomic(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                  std::size_t N, std::size_t S, dense::Activation act, const DenseContext& ctx) {
  for (std::size_t i = 0; i < B; ++i) std::copy(b, b + N, y + i * N);
  const std::size_t row_blocks = (B + kRowBlock - 1) / kRowBlock;
  const std::size_t tasks = S * row_blocks;
  auto partial = [&](std::size_t task, float* out) {  // out: the block's rows, [rows x N]
    const std::size_t s = task / row_blocks, r0 = (task % row_blocks) * kRowBlock;
    const std::size_t rows = std::min(kRowBlock, B - r0);
    chain(x + r0 * K, W, out, rows, K, N, dense::slice_begin(K, S, s), dense::slice_end(K, S, s), ctx.packed_W,
          nullptr);
    return std::make_pair(r0, rows);
  };
  if (ctx.shuffle_seed) {  // the model: every task's partial, then adds in a seeded order
    std::vector<float> parts(tasks * kRowBlock * N);
    auto run = [&](std::size_t t, int) { partial(t, parts.data() + t * kRowBlock * N); };
    if (ctx.pool) ctx.pool->parallel_for(tasks, run);
    else for (std::size_t t = 0; t < tasks; ++t) run(t, 0);
    std::vector<std::size_t> order(tasks);
    std::iota(order.begin(), order.end(), std::size_t(0));
    SplitMix64 g(*ctx.shuffle_seed);
    for (std::size_t i = tasks; i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
    for (const std::size_t t : order) {
      const std::size_t r0 = (t % row_blocks) * kRowBlock, rows = std::min(kRowBlock, B - r0);
      const float* part = parts.data() + t * kRowBlock * N;
      for (std::size_t e = 0; e < rows * N; ++e) y[r0 * N + e] = dense::add(y[r0 * N + e], part[e]);
    }
  } else {  // real atomics: each task adds its block as soon as it is done, racing the others
    const int workers = ctx.pool ? ctx.pool->size() : 1;
    std::vector<std::vector<float>> scratch(static_cast<std::size_t>(workers), std::vector<float>(kRowBlock * N));
    auto run = [&](std::size_t t, int w) {
      float* part = scratch[static_cast<std::size_t>(w)].data();
      const auto [r0, rows] = partial(t, part);
      for (std::size_t e = 0; e < rows * N; ++e)
        std::atomic_ref<float>(y[r0 * N + e]).fetch_add(part[e], std::memory_order_relaxed);
    };
    if (ctx.pool) ctx.pool->parallel_for(tasks, run);
    else for (std::size_t t = 0; t < tasks; ++t) run(t, 0);
  }
  for (std::size_t e = 0; e < B * N; ++e) y[e] = activate(y[e], act);
}

}  // namespace

std::size_t dense_slices(std::size_t B, std::size_t K, std::size_t N, const DenseContext& ctx) {
  if (ctx.split_k) {
    if (ctx.split_k > dense::kMaxSlices) throw std::invalid_argument("split-K: S must be 1 to 32");
    return ctx.split_k;
  }
  return dense::split_k(B, K, N);
}

void dense(DenseVariant v, const float* x, const float* W, const float* b, float* y, std::size_t B,
           std::size_t K, std::size_t N, dense::Activation act, const DenseContext& ctx) {
  if (ctx.packed_W && (ctx.packed_W->source() != W || ctx.packed_W->rows() != K || ctx.packed_W->cols() != N ||
                       ctx.packed_W->ldb() != N))
    throw std::invalid_argument("dense: the packed W was packed from another matrix");
  switch (v) {
    case DenseVariant::invariant: return dense_invariant(x, W, b, y, B, K, N, act, ctx);
    case DenseVariant::tree: return dense_tree(x, W, b, y, B, K, N, dense_slices(B, K, N, ctx), act, ctx);
    case DenseVariant::atomic: return dense_atomic(x, W, b, y, B, K, N, dense_slices(B, K, N, ctx), act, ctx);
    case DenseVariant::cublas: break;
  }
  throw std::invalid_argument("variant 'cublas' needs the cuda backend");
}

}  // namespace driftlab::cpu
