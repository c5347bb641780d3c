// Dense layers on the CPU: atomic, tree and invariant.  Every partial product is a fused
// multiply-add chain in increasing k (gemm_chain), so the only thing that differs between the
// variants is how the chains are cut and combined -- which is the point.
#include "kernels/cpu/dense.h"

#include <algorithm>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <vector>

#include "kernels/common/rng.h"
#include "kernels/cpu/gemm.h"

namespace driftlab::cpu {
namespace {

using dense::activate;

constexpr std::size_t kRowBlock = 64;  // rows per atomic task: a task is (slice, row block)

void bias_act(const float* acc, const float* b, float* y, std::size_t B, std::size_t N, dense::Activation act) {
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t j = 0; j < N; ++j) y[i * N + j] = activate(dense::add(acc[i * N + j], b[j]), act);
}

// x [rows x K] times columns [c0, c0 + cols) of W's k range into out [rows x cols] at stride ldo
// (the chain of gemm.h), unpacked: a GEMV over the 16-bit W when there is one (gemv_half.h, the
// same chains), else gemm_chain over the float32 W.
void chain_unpacked(const float* x, const float* W, std::size_t c0, std::size_t cols, float* out, std::size_t ldo,
                    std::size_t rows, std::size_t K, std::size_t N, std::size_t k_begin, std::size_t k_end,
                    const DenseContext& ctx, ThreadPool* pool) {
  if (ctx.W16 && rows <= kGemvMaxRows)
    gemv_chain_half(ctx.W16_kind, x, K, ctx.W16 + c0, N, out, ldo, rows, cols, k_begin, k_end, pool);
  else
    gemm_chain(x, K, W + c0, N, out, ldo, rows, cols, k_begin, k_end, pool);
}

// x [rows x K] times W's k range into out (the chain of gemm.h), from the packed W when there is one.
void chain(const float* x, const float* W, float* out, std::size_t rows, std::size_t K, std::size_t N,
           std::size_t k_begin, std::size_t k_end, const DenseContext& ctx) {
  if (ctx.packed_W)
    gemm_chain(x, K, *ctx.packed_W, out, N, rows, k_begin, k_end, ctx.pool);
  else
    chain_unpacked(x, W, 0, N, out, N, rows, K, N, k_begin, k_end, ctx, ctx.pool);
}

// Scratch for the partials of slices 1..S-1 (slice 0's goes to y): per thread, it only grows, so
// a call does not pay for allocating and zeroing S planes.
std::vector<float>& partials_scratch(std::size_t floats) {
  thread_local std::vector<float> v;
  if (v.size() < floats) v.resize(floats);
  return v;
}

void dense_invariant(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                     std::size_t N, dense::Activation act, const DenseContext& ctx) {
  chain(x, W, y, B, K, N, 0, K, ctx);
  if (ctx.matmul_out) std::copy(y, y + B * N, ctx.matmul_out);
  bias_act(y, b, y, B, N, act);
}

void dense_tree(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                std::size_t N, std::size_t S, dense::Activation act, const DenseContext& ctx) {
  // Partial p_s of slice s (a gemm_chain over its k range): p_0 in y, the others in scratch.
  const std::size_t plane = B * N;
  float* const rest = S > 1 ? partials_scratch((S - 1) * plane).data() : nullptr;
  auto partial = [&](std::size_t s) { return s == 0 ? y : rest + (s - 1) * plane; };
  for (std::size_t s = 0; s < S; ++s)
    chain(x, W, partial(s), B, K, N, dense::slice_begin(K, S, s), dense::slice_end(K, S, s), ctx);
  // dense_order.h's pairwise tree, a whole plane at a time: every element sees the same additions
  // in the same order as dense::tree_combine, and the planes vectorize.
  for (std::size_t stride = 1; stride < S; stride *= 2)
    for (std::size_t s = 0; s + stride < S; s += 2 * stride) {
      float* dst = partial(s);
      const float* src = partial(s + stride);
      for (std::size_t e = 0; e < plane; ++e) dst[e] = dense::add(dst[e], src[e]);
    }
  if (ctx.matmul_out) std::copy(y, y + plane, ctx.matmul_out);
  bias_act(y, b, y, B, N, act);
}

// split-K the way a GPU does it efficiently: a task is (slice, output tile); it computes its tile's
// partial privately (a gemm_chain over the slice, from W packed once per call) and adds the tile to
// y once, atomically as a whole: under the tile's lock, with plain vectorizable adds.  That is the
// CPU's cheap counterpart of a GPU's fire-and-forget atomicAdd per element (x86 has no float atomic
// add; a compare-and-swap loop per element cost ~2.4 ms per million adds, a fifth of a 1024^3
// layer).  What stays nondeterministic is the point: the order in which the slices reach a tile is
// the threads' race.  Tiles are whole packed panels wide, so no task packs W.
// A layer under kSerialFmas multiply-adds runs its tasks on the calling thread, as gemm_chain does
// for tree and invariant: the pool's hand-off (microseconds) would otherwise be most of atomic's
// time on a small layer, and "cost vs atomic" would price determinism against that overhead.  Its
// tasks are the same (the seeded model's order does not change); it does not race there.
void dense_atomic(const float* x, const float* W, const float* b, float* y, std::size_t B, std::size_t K,
                  std::size_t N, std::size_t S, dense::Activation act, const DenseContext& ctx) {
  ThreadPool* const pool = B * N * K >= kSerialFmas ? ctx.pool : nullptr;  // the tasks' runner
  for (std::size_t i = 0; i < B; ++i) std::copy(b, b + N, y + i * N);
  std::optional<PackedB> own;
  const PackedB* packed = ctx.packed_W;
  if (!packed && B > kGemvMaxRows) packed = &own.emplace(W, N, K, N, pool);  // small B streams W unpacked
  // The tiles balance the threads that run them: the pool's, or one on the calling thread.  The
  // seeded model keeps the pool's tiling at every size (its order of adds is a function of it).
  ThreadPool* const tiler = ctx.shuffle_seed ? ctx.pool : pool;
  const std::size_t threads = tiler ? static_cast<std::size_t>(tiler->size()) : 1;
  const std::size_t row_blocks = (B + kRowBlock - 1) / kRowBlock;
  // Column blocks of whole panels, enough tasks to balance the threads (4 per thread).
  const std::size_t align = packed ? packed->panel_cols() : 16;
  const std::size_t want_cb = std::max<std::size_t>(1, (threads * 4 + S * row_blocks - 1) / (S * row_blocks));
  const std::size_t width = std::max(align, ((N + want_cb - 1) / want_cb + align - 1) / align * align);
  const std::size_t col_blocks = (N + width - 1) / width;
  const std::size_t tiles = row_blocks * col_blocks, tasks = S * tiles;
  struct Tile {
    std::size_t r0, rows, c0, cols;
  };
  auto tile_of = [&](std::size_t task) {
    const std::size_t t = task % tiles;
    const std::size_t r0 = (t / col_blocks) * kRowBlock, c0 = (t % col_blocks) * width;
    return Tile{r0, std::min(kRowBlock, B - r0), c0, std::min(width, N - c0)};
  };
  auto partial = [&](std::size_t task, float* out) {  // out: the tile, [rows x cols] at stride cols
    const std::size_t s = task / tiles;
    const Tile tl = tile_of(task);
    if (packed)
      gemm_chain_cols(x + tl.r0 * K, K, *packed, tl.c0, tl.c0 + tl.cols, out, tl.cols, tl.rows,
                      dense::slice_begin(K, S, s), dense::slice_end(K, S, s), nullptr);
    else
      chain_unpacked(x + tl.r0 * K, W, tl.c0, tl.cols, out, tl.cols, tl.rows, K, N, dense::slice_begin(K, S, s),
                     dense::slice_end(K, S, s), ctx, nullptr);
    return tl;
  };
  const std::size_t tile_floats = kRowBlock * width;
  if (ctx.shuffle_seed) {  // the model: every task's partial, then adds in a seeded order
    std::vector<float> parts(tasks * tile_floats);
    auto run = [&](std::size_t t, int) { partial(t, parts.data() + t * tile_floats); };
    if (pool) pool->parallel_for(tasks, run);
    else for (std::size_t t = 0; t < tasks; ++t) run(t, 0);
    std::vector<std::size_t> order(tasks);
    std::iota(order.begin(), order.end(), std::size_t(0));
    SplitMix64 g(*ctx.shuffle_seed);
    for (std::size_t i = tasks; i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
    for (const std::size_t t : order) {
      const Tile tl = tile_of(t);
      const float* part = parts.data() + t * tile_floats;
      for (std::size_t i = 0; i < tl.rows; ++i)
        for (std::size_t j = 0; j < tl.cols; ++j) {
          float& dst = y[(tl.r0 + i) * N + tl.c0 + j];
          dst = dense::add(dst, part[i * tl.cols + j]);
        }
    }
  } else {  // real races: each task adds its tile (under its lock) as soon as it is done
    auto add_tile = [&](const Tile& tl, const float* part) {
      for (std::size_t i = 0; i < tl.rows; ++i) {
        float* dst = y + (tl.r0 + i) * N + tl.c0;
        const float* src = part + i * tl.cols;
        for (std::size_t j = 0; j < tl.cols; ++j) dst[j] = dense::add(dst[j], src[j]);
      }
    };
    if (!pool) {  // one thread: the tasks in order, one scratch tile, nothing to lock
      float* part = partials_scratch(tile_floats).data();
      for (std::size_t t = 0; t < tasks; ++t) add_tile(partial(t, part), part);
    } else {
      std::vector<std::vector<float>> scratch(static_cast<std::size_t>(pool->size()), std::vector<float>(tile_floats));
      std::vector<std::mutex> tile_lock(tiles);
      pool->parallel_for(tasks, [&](std::size_t t, int w) {
        float* part = scratch[static_cast<std::size_t>(w)].data();
        const Tile tl = partial(t, part);
        const std::lock_guard<std::mutex> hold(tile_lock[t % tiles]);
        add_tile(tl, part);
      });
    }
  }
  if (ctx.matmul_out) std::copy(y, y + B * N, ctx.matmul_out);
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
