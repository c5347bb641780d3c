// Summation on the CPU: serial, atomic_element, atomic, tree and exact, side by side.
// Compiled with -ffp-contract=off (see CMakeLists.txt): every addition is one rounded addition.
#include "sum.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/exact.h"
#include "../common/rng.h"
#include "../common/sum_order.h"
#include "exact_simd.h"
#include "half_convert.h"

namespace driftlab::cpu {
namespace {

using order::kTileItems;

// Runs fn(tile, worker) over the tiles of n elements on the pool (or inline).
template <class Fn> void for_each_tile(const SumContext& ctx, std::size_t n, Fn&& fn) {
  const std::size_t tiles = order::num_tiles(n);
  if (ctx.pool) {
    ctx.pool->parallel_for(tiles, [&](std::size_t t, int w) { fn(t, w); });
  } else {
    for (std::size_t t = 0; t < tiles; ++t) fn(t, 0);
  }
}

int workers(const SumContext& ctx) { return ctx.pool ? ctx.pool->size() : 1; }

std::size_t tile_count(std::size_t n, std::size_t t) { return std::min(kTileItems, n - t * kTileItems); }

// A seeded Fisher-Yates permutation of 0..count-1.
std::vector<std::uint32_t> permutation(std::size_t count, std::uint64_t seed) {
  std::vector<std::uint32_t> p(count);
  std::iota(p.begin(), p.end(), 0u);
  SplitMix64 g(seed);
  for (std::size_t i = count; i > 1; --i) std::swap(p[i - 1], p[g.below(i)]);
  return p;
}

// One tile of the tree order (sum_order.h).  Built twice, for AVX2 and for baseline x86-64, and
// picked at load time: each lane's additions are the same IEEE additions at any vector width, so
// both clones give the same bits; only the speed differs.
// Not under ThreadSanitizer: the clones' resolver runs during relocation, before the TSan
// runtime is up, and its instrumented code crashes there.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define DRIFTLAB_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DRIFTLAB_CLONES
#endif
DRIFTLAB_CLONES float tile_sum(const float* x, std::size_t count) { return order::reduce_tile(x, count); }
DRIFTLAB_CLONES double tile_sum(const double* x, std::size_t count) { return order::reduce_tile(x, count); }

// Tree levels above the tiles: reduce the partials as if they were the input (step 4).
template <class T> T reduce_levels(std::vector<T> level) {
  while (level.size() > 1) {
    std::vector<T> next(order::num_tiles(level.size()));
    for (std::size_t t = 0; t < next.size(); ++t)
      next[t] = tile_sum(level.data() + t * kTileItems, tile_count(level.size(), t));
    level.swap(next);
  }
  return level[0];
}

// --- exact: per-worker wide bins.  float terms go through packed bins (exact.h), several copies
// so that consecutive terms of one exponent do not wait on each other's store; double terms are
// added to the wide bins directly (two copies).
constexpr int kCopies = 4;
static_assert(kTileItems / kCopies <= exact::kPackedMaxTerms, "a tile must fit the packed bins' headroom");

template <class T> struct ExactWorker {
  std::int64_t bins[kCopies][exact::Layout<T>::kBins] = {};
  std::uint64_t packed[kCopies][exact::kPackedBinsF32] = {};  // float only
  std::uint32_t flags = 0;
};

void exact_tile(const float* x, std::size_t count, ExactWorker<float>& w, detail::ExactSimd level) {
  const bool vectorized =
      (level == detail::ExactSimd::avx512 && detail::exact_tile_f32_avx512(x, count, w.bins[0], w.packed[0], w.flags)) ||
      (level == detail::ExactSimd::avx2 && detail::exact_tile_f32_avx2(x, count, w.bins[0], w.packed[0], w.flags));
  if (vectorized) {
    exact::fold_packed(w.packed[0], w.bins[0], w.flags);
    std::fill(std::begin(w.packed[0]), std::end(w.packed[0]), 0);
    return;
  }
  std::size_t i = 0;
  for (; i + kCopies <= count; i += kCopies)
    for (int c = 0; c < kCopies; ++c) exact::add_packed(w.packed[c], x[i + c]);
  for (; i < count; ++i) exact::add_packed(w.packed[0], x[i]);
  for (auto& p : w.packed) {
    exact::fold_packed(p, w.bins[0], w.flags);
    std::fill(std::begin(p), std::end(p), 0);
  }
}

void exact_tile(const double* x, std::size_t count, ExactWorker<double>& w, detail::ExactSimd) {
  using U = std::uint64_t;
  constexpr U kNegZero = U(1) << 63;
  U not_neg_zero = 0;  // OR of (bits ^ -0.0): nonzero once any term is not -0.0
  bool special = false;
  for (std::size_t i = 0; i < count; ++i) {
    const double v = x[i];
    not_neg_zero |= to_bits(v) ^ kNegZero;
    special |= exact::is_special(v);
    exact::add_term(w.bins[i % 2], v);  // specials add garbage to the Inf/NaN bins; the flags win
  }
  if (count) w.flags |= exact::kSeen;
  if (not_neg_zero) w.flags |= exact::kNotNegZero;
  if (special)
    for (std::size_t k = 0; k < count; ++k) w.flags |= exact::term_flags(x[k]);
}

}  // namespace

template <class T> T sum_serial(const T* x, std::size_t n) { return std::accumulate(x, x + n, T(0)); }

template <class T> T sum_atomic_element(const T* x, std::size_t n, const SumContext& ctx) {
  if (ctx.shuffle_seed) {
    constexpr std::size_t kWarp = 32;
    const std::size_t warps = (n + kWarp - 1) / kWarp;
    T acc = T(0);
    for (std::uint32_t w : permutation(warps, *ctx.shuffle_seed))
      for (std::size_t i = w * kWarp, end = std::min(n, i + kWarp); i < end; ++i) acc += x[i];
    return acc;
  }
  std::atomic<T> acc{T(0)};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    const T* tile = x + t * kTileItems;
    for (std::size_t i = 0, c = tile_count(n, t); i < c; ++i) acc.fetch_add(tile[i], std::memory_order_relaxed);
  });
  return acc.load();
}

template <class T> T sum_atomic(const T* x, std::size_t n, const SumContext& ctx) {
  if (ctx.shuffle_seed) {
    std::vector<T> partials(order::num_tiles(n));
    for_each_tile(ctx, n, [&](std::size_t t, int) {
      partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t));
    });
    T acc = T(0);
    for (std::uint32_t t : permutation(partials.size(), *ctx.shuffle_seed)) acc += partials[t];
    return acc;
  }
  std::atomic<T> acc{T(0)};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    acc.fetch_add(tile_sum(x + t * kTileItems, tile_count(n, t)), std::memory_order_relaxed);
  });
  return acc.load();
}

template <class T> T sum_tree(const T* x, std::size_t n, const SumContext& ctx) {
  if (n == 0) return T(0);
  std::vector<T> partials(order::num_tiles(n));
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t));
  });
  return reduce_levels(std::move(partials));
}

template <class T> T sum_exact(const T* x, std::size_t n, const SumContext& ctx) {
  if (n >= exact::Layout<T>::kMaxTermsPerBin)
    throw std::length_error("exact sum: n is beyond the accumulator's headroom");
  std::vector<ExactWorker<T>> per_worker(static_cast<std::size_t>(workers(ctx)));
  const detail::ExactSimd level = detail::exact_simd_level();  // on the caller's thread (DRIFTLAB_ISA)
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    exact_tile(x + t * kTileItems, tile_count(n, t), per_worker[static_cast<std::size_t>(w)], level);
  });
  std::vector<std::int64_t> bins(exact::Layout<T>::kBins, 0);
  std::uint32_t flags = 0;
  for (const auto& w : per_worker) {
    flags |= w.flags;
    for (int c = 0; c < kCopies; ++c)
      for (int b = 0; b < exact::Layout<T>::kBins; ++b) bins[b] += w.bins[c][b];
  }
  T result = exact::finalize<T>(bins.data(), flags);
  // An exact zero is -0.0 only if every term was -0.0.  The vectorized path does not track that
  // flag per term (it would cost the hot loop two instructions), so settle it here, rarely.
  if (result == T(0) && (flags & exact::kSeen) && !(flags & exact::kNotNegZero)) {
    const auto neg_zero = to_bits(T(-0.0));
    if (std::any_of(x, x + n, [&](T v) { return to_bits(v) != neg_zero; }))
      result = exact::finalize<T>(bins.data(), flags | exact::kNotNegZero);
  }
  return result;
}

template <class T> T sum(SumVariant v, const T* x, std::size_t n, const SumContext& ctx) {
  switch (v) {
    case SumVariant::serial: return sum_serial(x, n);
    case SumVariant::atomic_element: return sum_atomic_element(x, n, ctx);
    case SumVariant::atomic: return sum_atomic(x, n, ctx);
    case SumVariant::tree: return sum_tree(x, n, ctx);
    case SumVariant::exact: return sum_exact(x, n, ctx);
    case SumVariant::cub:
    case SumVariant::thrust: break;
  }
  throw std::invalid_argument(std::string("variant '") + info(v).name + "' needs the cuda backend");
}

namespace {
// The probe's tile: OR every 32-bit word into 16 accumulators (vectorized; AVX2 when present).
// Words are read with memcpy (no aliasing games); compilers turn it into plain vector loads.
DRIFTLAB_CLONES std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words) {
  constexpr std::size_t kAcc = 16;
  std::uint32_t acc[kAcc] = {};
  auto word = [&](std::size_t i) {
    std::uint32_t v;
    std::memcpy(&v, bytes + 4 * i, 4);
    return v;
  };
  std::size_t i = 0;
  for (; i + kAcc <= words; i += kAcc)
    for (std::size_t k = 0; k < kAcc; ++k) acc[k] |= word(i + k);
  for (; i < words; ++i) acc[0] |= word(i);
  std::uint32_t r = 0;
  for (std::uint32_t a : acc) r |= a;
  return r;
}
}  // namespace

template <class T> std::uint64_t read_probe(const T* x, std::size_t n, const SumContext& ctx) {
  std::vector<std::uint64_t> per_worker(static_cast<std::size_t>(workers(ctx)), 0);
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(x + t * kTileItems);
    per_worker[static_cast<std::size_t>(w)] |= probe_tile(bytes, tile_count(n, t) * (sizeof(T) / 4));
  });
  std::uint64_t r = 0;
  for (std::uint64_t a : per_worker) r |= a;
  return r;
}

// ---- 16-bit inputs: widen a tile into this thread's float buffer, then the float code ----
namespace {
void widen_into(const bf16* x, std::size_t n, float* out) { widen(x, out, n); }
void widen_into(const f16* x, std::size_t n, float* out) { widen(x, out, n); }

// This thread's buffer of one tile's widened values.
float* tile_buffer() {
  thread_local std::vector<float> buf(kTileItems);
  return buf.data();
}

// One tile of the tree order on widened values, a row (kLanes values) widened at a time into an
// L1-resident buffer: the same additions in the same order as order::reduce_tile on the widened
// tile, so the same bits, without a trip through L2.  Clones as tile_sum.
template <class S> [[gnu::always_inline]] inline float tile_sum_rows(const S* x, std::size_t count) {
  alignas(64) float lanes[order::kLanes];
  alignas(64) float row[order::kLanes];
  for (std::size_t j = 0; j < order::kLanes; ++j) lanes[j] = order::identity<float>();
  const std::size_t full_rows = count / order::kLanes;
  for (std::size_t r = 0; r < full_rows; ++r) {
    widen_into(x + r * order::kLanes, order::kLanes, row);
    for (std::size_t j = 0; j < order::kLanes; ++j) lanes[j] = order::add(lanes[j], row[j]);
  }
  const std::size_t rest = count - full_rows * order::kLanes;
  widen_into(x + full_rows * order::kLanes, rest, row);
  for (std::size_t j = 0; j < rest; ++j) lanes[j] = order::add(lanes[j], row[j]);
  return order::lanes_tree(lanes);
}
DRIFTLAB_CLONES float tile_sum(const bf16* x, std::size_t count) { return tile_sum_rows(x, count); }
DRIFTLAB_CLONES float tile_sum(const f16* x, std::size_t count) { return tile_sum_rows(x, count); }

template <class S> float serial_half(const S* x, std::size_t n) {
  float acc = 0.0f;  // ((0 + w(x0)) + w(x1)) + ...: widening chunk by chunk keeps the order
  float* buf = tile_buffer();
  for (std::size_t begin = 0; begin < n; begin += kTileItems) {
    const std::size_t count = std::min(kTileItems, n - begin);
    widen_into(x + begin, count, buf);
    for (std::size_t i = 0; i < count; ++i) acc += buf[i];
  }
  return acc;
}

template <class S> float atomic_element_half(const S* x, std::size_t n, const SumContext& ctx) {
  if (ctx.shuffle_seed) {
    constexpr std::size_t kWarp = 32;
    const std::size_t warps = (n + kWarp - 1) / kWarp;
    float acc = 0.0f;
    for (std::uint32_t w : permutation(warps, *ctx.shuffle_seed))
      for (std::size_t i = w * kWarp, end = std::min(n, i + kWarp); i < end; ++i) acc += widen(x[i]);
    return acc;
  }
  std::atomic<float> acc{0.0f};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    float* buf = tile_buffer();
    const std::size_t c = tile_count(n, t);
    widen_into(x + t * kTileItems, c, buf);
    for (std::size_t i = 0; i < c; ++i) acc.fetch_add(buf[i], std::memory_order_relaxed);
  });
  return acc.load();
}

// The tree order's tile partials (sum_order.h steps 2-3) of the widened input.
template <class S> std::vector<float> tile_partials_half(const S* x, std::size_t n, const SumContext& ctx) {
  std::vector<float> partials(order::num_tiles(n));
  for_each_tile(ctx, n, [&](std::size_t t, int) { partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t)); });
  return partials;
}

template <class S> float atomic_half(const S* x, std::size_t n, const SumContext& ctx) {
  if (ctx.shuffle_seed) {
    const std::vector<float> partials = tile_partials_half(x, n, ctx);
    float acc = 0.0f;
    for (std::uint32_t t : permutation(partials.size(), *ctx.shuffle_seed)) acc += partials[t];
    return acc;
  }
  std::atomic<float> acc{0.0f};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    acc.fetch_add(tile_sum(x + t * kTileItems, tile_count(n, t)), std::memory_order_relaxed);
  });
  return acc.load();
}

template <class S> float tree_half(const S* x, std::size_t n, const SumContext& ctx) {
  if (n == 0) return 0.0f;
  return reduce_levels(tile_partials_half(x, n, ctx));
}

template <class S> float exact_half(const S* x, std::size_t n, const SumContext& ctx) {
  if (n >= exact::Layout<float>::kMaxTermsPerBin)
    throw std::length_error("exact sum: n is beyond the accumulator's headroom");
  std::vector<ExactWorker<float>> per_worker(static_cast<std::size_t>(workers(ctx)));
  const detail::ExactSimd level = detail::exact_simd_level();
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    float* buf = tile_buffer();
    const std::size_t c = tile_count(n, t);
    widen_into(x + t * kTileItems, c, buf);
    exact_tile(buf, c, per_worker[static_cast<std::size_t>(w)], level);
  });
  std::vector<std::int64_t> bins(exact::Layout<float>::kBins, 0);
  std::uint32_t flags = 0;
  for (const auto& w : per_worker) {
    flags |= w.flags;
    for (int c = 0; c < kCopies; ++c)
      for (int b = 0; b < exact::Layout<float>::kBins; ++b) bins[b] += w.bins[c][b];
  }
  float result = exact::finalize<float>(bins.data(), flags);
  // As sum_exact: an exact zero is -0.0 only if every term was -0.0 (bit pattern 0x8000 in both
  // 16-bit formats).
  if (result == 0.0f && (flags & exact::kSeen) && !(flags & exact::kNotNegZero)) {
    if (std::any_of(x, x + n, [](S v) { return v.bits != 0x8000u; }))
      result = exact::finalize<float>(bins.data(), flags | exact::kNotNegZero);
  }
  return result;
}
}  // namespace

template <class S> float sum_half(SumVariant v, const S* x, std::size_t n, const SumContext& ctx) {
  switch (v) {
    case SumVariant::serial: return serial_half(x, n);
    case SumVariant::atomic_element: return atomic_element_half(x, n, ctx);
    case SumVariant::atomic: return atomic_half(x, n, ctx);
    case SumVariant::tree: return tree_half(x, n, ctx);
    case SumVariant::exact: return exact_half(x, n, ctx);
    case SumVariant::cub:
    case SumVariant::thrust: break;
  }
  throw std::invalid_argument(std::string("variant '") + info(v).name + "' needs the cuda backend");
}

template <class S> std::uint64_t read_probe_half(const S* x, std::size_t n, const SumContext& ctx) {
  std::vector<std::uint64_t> per_worker(static_cast<std::size_t>(workers(ctx)), 0);
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(x + t * kTileItems);
    const std::size_t c = tile_count(n, t);
    std::uint64_t r = probe_tile(bytes, c / 2);  // whole 32-bit words
    if (c % 2) r |= x[t * kTileItems + c - 1].bits;  // an odd tile's last 16-bit value
    per_worker[static_cast<std::size_t>(w)] |= r;
  });
  std::uint64_t r = 0;
  for (std::uint64_t a : per_worker) r |= a;
  return r;
}

template float sum_half<bf16>(SumVariant, const bf16*, std::size_t, const SumContext&);
template float sum_half<f16>(SumVariant, const f16*, std::size_t, const SumContext&);
template std::uint64_t read_probe_half<bf16>(const bf16*, std::size_t, const SumContext&);
template std::uint64_t read_probe_half<f16>(const f16*, std::size_t, const SumContext&);

#define DRIFTLAB_INSTANTIATE(T)                                                       \
  template T sum_serial<T>(const T*, std::size_t);                                    \
  template T sum_atomic_element<T>(const T*, std::size_t, const SumContext&);         \
  template T sum_atomic<T>(const T*, std::size_t, const SumContext&);                 \
  template T sum_tree<T>(const T*, std::size_t, const SumContext&);                   \
  template T sum_exact<T>(const T*, std::size_t, const SumContext&);                  \
  template T sum<T>(SumVariant, const T*, std::size_t, const SumContext&);            \
  template std::uint64_t read_probe<T>(const T*, std::size_t, const SumContext&);
DRIFTLAB_INSTANTIATE(float)
DRIFTLAB_INSTANTIATE(double)
#undef DRIFTLAB_INSTANTIATE

}  // namespace driftlab::cpu
