// Summation on the CPU: serial, atomic_element, atomic, tree and exact, side by side.
// Compiled with -ffp-contract=off (see CMakeLists.txt): every addition is one rounded addition.
#include "kernels/cpu/sum.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common/exact.h"
#include "kernels/common/rng.h"
#include "kernels/common/sum_order.h"
#include "kernels/cpu/exact_f64.h"
#include "kernels/cpu/exact_simd.h"
#include "kernels/cpu/fp_env.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/sum_tile.h"

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

// The ISA level of the tree, atomic and probe tiles (isa.h), read on the caller's thread: a bad
// DRIFTLAB_ISA throws there.  Every level gives the same bits (sum_tile.h).
Isa sum_isa() { return detail::isa_level(detail::IsaFamily::sum); }

// One tile of the tree order (sum_order.h steps 2-3), at the given ISA level.
// A tile's partial in the written order, a NaN made canonical (sum_order.h, step 5).
// stream: the input streams from memory (tree_tile's stream form; the same additions).
template <class S> auto tile_sum(const S* x, std::size_t count, Isa isa, bool stream) {
  return order::canonical_nan(detail::tree_tile(x, count, isa, stream));
}

// Whether an input of n elements of S streams from memory: at least stream_threshold_bytes()
// (sum_tile.h), with no overflow at the test hook's SIZE_MAX.
template <class S> bool from_memory(std::size_t n) {
  const std::size_t t = detail::stream_threshold_bytes();
  return n >= t / sizeof(S) + (t % sizeof(S) != 0);
}

// Tree levels above the tiles: reduce the partials as if they were the input (step 4).
template <class T> T reduce_levels(std::vector<T> level, Isa isa) {
  while (level.size() > 1) {
    std::vector<T> next(order::num_tiles(level.size()));
    for (std::size_t t = 0; t < next.size(); ++t)
      next[t] = tile_sum(level.data() + t * kTileItems, tile_count(level.size(), t), isa, false);
    level.swap(next);
  }
  return level[0];
}

// Per-worker accumulators, each made (zeroed) on its worker's first tile, on that worker's thread:
// a sum of one tile zeroes one worker's bins, not every worker's, and the merge reads only the
// workers that ran.  A worker touches only its own slot.
template <class W> class WorkerSlots {
 public:
  explicit WorkerSlots(int workers) : slots_(static_cast<std::size_t>(workers)) {}
  W& at(int w) {
    auto& slot = slots_[static_cast<std::size_t>(w)];
    if (!slot) slot = std::make_unique<W>();
    return *slot;
  }
  template <class Fn> void for_each(Fn&& fn) {
    for (auto& slot : slots_)
      if (slot) fn(*slot);
  }

 private:
  std::vector<std::unique_ptr<W>> slots_;
};

// into[b] += from[b] for b < count, the zero bins skipped (most are).
void add_bins(std::int64_t* into, const std::int64_t* from, int count) {
  exact::for_each_nonzero_bin(from, count, [into](int b, std::int64_t v) { into[b] += v; });
}

// The workers' bins added into the first one's (integers: any order gives the same bins), or
// zeros when no worker ran (n == 0).  add_worker(w, into) adds w's bins into `into` and returns
// it, or, given nullptr (the first worker), returns w's own bins to add the others to.
template <class W, class Add> std::int64_t* merge_workers(WorkerSlots<W>& slots, std::vector<std::int64_t>& zeros,
                                                          int count, Add&& add_worker) {
  std::int64_t* bins = nullptr;
  slots.for_each([&](W& w) { bins = add_worker(w, bins); });
  if (!bins) {
    zeros.assign(static_cast<std::size_t>(count), 0);
    bins = zeros.data();
  }
  return bins;
}

// --- exact: per-worker wide bins.  float terms go through packed bins (exact.h), several copies
// so that consecutive terms of one exponent do not wait on each other's store, folded into one
// copy of the wide bins; double terms are added to the wide bins directly (two copies).
constexpr int kCopies = 4;
static_assert(kTileItems / kCopies <= exact::kPackedMaxTerms, "a tile must fit the packed bins' headroom");

template <class T> struct ExactWorker;
template <> struct ExactWorker<float> {
  static constexpr int kBinCopies = 1;
  std::int64_t bins[kBinCopies][exact::Layout<float>::kBins] = {};
  std::uint64_t packed[kCopies][exact::kPackedBinsF32] = {};
  std::uint32_t flags = 0;
};
template <> struct ExactWorker<double> {
  static constexpr int kBinCopies = 2;
  std::int64_t bins[kBinCopies][exact::Layout<double>::kBins] = {};
  std::uint32_t flags = 0;
};

void exact_tile(const float* x, std::size_t count, ExactWorker<float>& w, detail::ExactSimd level) {
  if (!fp_exceptions_masked()) level = detail::ExactSimd::scalar;  // exact_simd.h: no trap
  bool vectorized = false;  // the vector tile took it (it may leave a tile to the packed bins below)
  if (level == detail::ExactSimd::avx512) {
    detail::note_path(detail::IsaFamily::exact, Isa::avx512);
    vectorized = detail::exact_tile_f32_avx512(x, count, w.bins[0], w.packed[0], w.flags);
  } else if (level == detail::ExactSimd::avx2) {
    detail::note_path(detail::IsaFamily::exact, Isa::avx2);
    vectorized = detail::exact_tile_f32_avx2(x, count, w.bins[0], w.packed[0], w.flags);
  } else {
    detail::note_path(detail::IsaFamily::exact, Isa::scalar);
  }
  if (vectorized) {
    detail::note_form(detail::TileForm::vector);
    exact::fold_packed(w.packed[0], w.bins[0], w.flags);
    std::fill(std::begin(w.packed[0]), std::end(w.packed[0]), 0);
    return;
  }
  if (level != detail::ExactSimd::scalar) detail::note_form(detail::TileForm::scalar);
  std::size_t i = 0;
  for (; i + kCopies <= count; i += kCopies)
    for (int c = 0; c < kCopies; ++c) exact::add_packed(w.packed[c], x[i + c]);
  for (; i < count; ++i) exact::add_packed(w.packed[0], x[i]);
  for (auto& p : w.packed) {
    exact::fold_packed(p, w.bins[0], w.flags);
    std::fill(std::begin(p), std::end(p), 0);
  }
}

void exact_tile(const double* x, std::size_t count, ExactWorker<double>& w, detail::ExactSimd level) {
  if (!fp_exceptions_masked()) level = detail::ExactSimd::scalar;  // exact_simd.h: no trap
  // The vector tile (exact_f64.h) when the tile's sample fits its window; else the loop below.
  bool vectorized = false;
  if (level == Isa::avx512) {  // the float64 window (exact_f64.h)
    detail::note_path(detail::IsaFamily::exact, Isa::avx512);
    vectorized = detail::exact_tile_f64_avx512(x, count, w.bins[0], w.bins[1], w.flags);
  } else if (level == Isa::avx2) {
    detail::note_path(detail::IsaFamily::exact, Isa::avx2);
    vectorized = detail::exact_tile_f64_avx2(x, count, w.bins[0], w.bins[1], w.flags);
  } else {
    detail::note_path(detail::IsaFamily::exact, Isa::scalar);
  }
  if (vectorized) {
    detail::note_form(detail::TileForm::vector);
    return;
  }
  if (level != detail::ExactSimd::scalar) detail::note_form(detail::TileForm::scalar);
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
  const Isa isa = sum_isa();
  const bool stream = from_memory<T>(n);
  if (ctx.shuffle_seed) {
    std::vector<T> partials(order::num_tiles(n));
    for_each_tile(ctx, n, [&](std::size_t t, int) {
      partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t), isa, stream);
    });
    T acc = T(0);
    for (std::uint32_t t : permutation(partials.size(), *ctx.shuffle_seed)) acc += partials[t];
    return acc;
  }
  std::atomic<T> acc{T(0)};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    acc.fetch_add(tile_sum(x + t * kTileItems, tile_count(n, t), isa, stream), std::memory_order_relaxed);
  });
  return acc.load();
}

template <class T> T sum_tree(const T* x, std::size_t n, const SumContext& ctx) {
  const Isa isa = sum_isa();
  const bool stream = from_memory<T>(n);
  if (n == 0) return T(0);
  std::vector<T> partials(order::num_tiles(n));
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t), isa, stream);
  });
  return reduce_levels(std::move(partials), isa);
}

template <class T> T sum_exact(const T* x, std::size_t n, const SumContext& ctx) {
  if (n >= exact::Layout<T>::kMaxTermsPerBin)
    throw std::length_error("exact sum: n is beyond the accumulator's headroom");
  using W = ExactWorker<T>;
  constexpr int kBins = exact::Layout<T>::kBins;
  WorkerSlots<W> per_worker(workers(ctx));
  const detail::ExactSimd level = detail::exact_simd_level();  // on the caller's thread (DRIFTLAB_ISA)
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    exact_tile(x + t * kTileItems, tile_count(n, t), per_worker.at(w), level);
  });
  std::uint32_t flags = 0;
  std::vector<std::int64_t> zeros;
  const std::int64_t* bins = merge_workers(per_worker, zeros, kBins, [&](W& w, std::int64_t* into) {
    flags |= w.flags;
    const int first = into ? 0 : 1;  // the first worker's copy 0 is the sum's bins
    if (!into) into = w.bins[0];
    for (int c = first; c < W::kBinCopies; ++c) add_bins(into, w.bins[c], kBins);
    return into;
  });
  T result = exact::finalize<T>(bins, flags);
  // An exact zero is -0.0 only if every term was -0.0.  The vectorized path does not track that
  // flag per term (it would cost the hot loop two instructions), so settle it here, rarely.
  if (result == T(0) && (flags & exact::kSeen) && !(flags & exact::kNotNegZero)) {
    const auto neg_zero = to_bits(T(-0.0));
    if (std::any_of(x, x + n, [&](T v) { return to_bits(v) != neg_zero; }))
      result = exact::finalize<T>(bins, flags | exact::kNotNegZero);
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

// The probe's tile (sum_tile.h): OR every 32-bit word, at the same ISA level as the tree's tile,
// in its fastest form for data from memory or in cache (the tree's stream threshold).
template <class T> std::uint64_t read_probe(const T* x, std::size_t n, const SumContext& ctx) {
  const Isa isa = sum_isa();
  const bool stream = from_memory<T>(n);
  std::vector<std::uint64_t> per_worker(static_cast<std::size_t>(workers(ctx)), 0);
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(x + t * kTileItems);
    per_worker[static_cast<std::size_t>(w)] |= detail::probe_tile(bytes, tile_count(n, t) * (sizeof(T) / 4), isa, stream);
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
template <class S> std::vector<float> tile_partials_half(const S* x, std::size_t n, const SumContext& ctx, Isa isa) {
  std::vector<float> partials(order::num_tiles(n));
  const bool stream = from_memory<S>(n);
  for_each_tile(ctx, n, [&](std::size_t t, int) { partials[t] = tile_sum(x + t * kTileItems, tile_count(n, t), isa, stream); });
  return partials;
}

template <class S> float atomic_half(const S* x, std::size_t n, const SumContext& ctx) {
  const Isa isa = sum_isa();
  const bool stream = from_memory<S>(n);
  if (ctx.shuffle_seed) {
    const std::vector<float> partials = tile_partials_half(x, n, ctx, isa);
    float acc = 0.0f;
    for (std::uint32_t t : permutation(partials.size(), *ctx.shuffle_seed)) acc += partials[t];
    return acc;
  }
  std::atomic<float> acc{0.0f};
  for_each_tile(ctx, n, [&](std::size_t t, int) {
    acc.fetch_add(tile_sum(x + t * kTileItems, tile_count(n, t), isa, stream), std::memory_order_relaxed);
  });
  return acc.load();
}

template <class S> float tree_half(const S* x, std::size_t n, const SumContext& ctx) {
  const Isa isa = sum_isa();
  if (n == 0) return 0.0f;
  return reduce_levels(tile_partials_half(x, n, ctx, isa), isa);
}

// --- exact on 16-bit inputs, straight from the 16-bit bits (no float32 buffer).  A 16-bit value is
// (sign, exponent e, fraction f): its magnitude is M * 2^(max(e,1) - bias - F) with M = f plus the
// hidden bit when e != 0.  Packed bins indexed by the value's top bits (sign and exponent: 512
// for bf16, 64 for f16) count the terms (bits 32..63) and sum the fractions (bits 0..31); folding
// adds count * hidden + fractions, signed and scaled, into the float bins of exact.h, where the
// same value lands as it would through widening -- so the same bits, from finalize.
template <class S> struct Half16;
template <> struct Half16<bf16> {  // 8 exponent bits: the float bin is the exponent itself
  static constexpr int kFracBits = 7, kExpMax = 0xff, kPacked = 512;
  static int bin(int e) { return e; }
  static constexpr int kScale = 16;  // M in units of the float bin's 2^-23 steps
};
template <> struct Half16<f16> {  // 5 exponent bits: max(e,1) - 25 = (bin - 1) - 149
  static constexpr int kFracBits = 10, kExpMax = 0x1f, kPacked = 64;
  static int bin(int e) { return (e > 1 ? e : 1) + 125; }
  static constexpr int kScale = 0;
};
constexpr int kHalfCopies = 8;         // consecutive terms go to 8 copies: no store-to-load chain
constexpr int kHalfFoldTiles = 256;    // a copy's fractions stay below 2^32 over 256 tiles

template <class S> struct ExactHalfWorker {
  std::uint64_t packed[kHalfCopies][Half16<S>::kPacked] = {};
  std::int64_t bins[exact::Layout<float>::kBins] = {};
  std::uint64_t fpacked[exact::kPackedBinsF32] = {};  // the float windows' terms outside them
  std::uint32_t flags = 0;
  int tiles = 0;
  bool track_neg_zero = true;  // false once a tile took the windows, which skip kNotNegZero
  void fold() {
    using H = Half16<S>;
    for (int idx = 0; idx < H::kPacked; ++idx) {
      std::uint64_t count = 0, fractions = 0;
      for (auto& copy : packed) {
        count += copy[idx] >> 32;
        fractions += copy[idx] & 0xffffffffu;
        copy[idx] = 0;
      }
      if (!count) continue;
      const int e = idx & H::kExpMax;
      const bool negative = idx >> (15 - H::kFracBits);
      flags |= exact::kSeen;
      if (!(negative && e == 0 && fractions == 0)) flags |= exact::kNotNegZero;  // else: only -0.0 terms
      if (e == H::kExpMax) {  // Inf has a zero fraction, NaN does not
        flags |= fractions ? exact::kNaN : (negative ? exact::kNegInf : exact::kPosInf);
        continue;
      }
      const auto m = static_cast<std::int64_t>((fractions + (e ? count << H::kFracBits : 0)) << H::kScale);
      bins[H::bin(e)] += negative ? -m : m;
    }
    tiles = 0;
  }
};

void exact_tile_half_avx512(const bf16* x, std::size_t count, ExactHalfWorker<bf16>& w) {
  // The float windows on bf16 bits when the tile's range suits them, else the int64 groups.
  detail::note_form(detail::TileForm::vector);
  if (detail::exact_tile_bf16_windows_avx512(x, count, w.bins, w.fpacked, w.flags)) {
    exact::fold_packed(w.fpacked, w.bins, w.flags);
    std::fill(std::begin(w.fpacked), std::end(w.fpacked), 0);
    w.track_neg_zero = false;
    return;
  }
  detail::exact_tile_bf16_avx512(reinterpret_cast<const std::uint16_t*>(x), count, w.bins, w.flags);
}
void exact_tile_half_avx512(const f16* x, std::size_t count, ExactHalfWorker<f16>& w) {
  detail::note_form(detail::TileForm::vector);
  detail::exact_tile_f16_avx512(reinterpret_cast<const std::uint16_t*>(x), count, w.bins, w.flags);
  w.track_neg_zero = false;  // the split lanes skip kNotNegZero
}
static_assert(kTileItems <= detail::kF16SplitMaxTerms, "an f16 tile must fit the split lanes' int32 headroom");

// One tile: AVX-512 reads the 16-bit bits (exact_simd.h); AVX2 reads bf16 bits through the float
// windows and f16 in split float32 lanes; else (or when the windows do not fit) the packed bins below.  All add the same
// exact value to the bins, so every level gives the same bits.
template <class S> void exact_tile_half(const S* x, std::size_t count, ExactHalfWorker<S>& w, Isa level) {
  if (!fp_exceptions_masked()) level = Isa::scalar;  // exact_simd.h: no trap
  constexpr detail::IsaFamily kExact = detail::IsaFamily::exact;
  if (level == Isa::avx512) {
    detail::note_path(kExact, Isa::avx512);
    return exact_tile_half_avx512(x, count, w);
  }
  if (level == Isa::scalar) detail::note_path(kExact, Isa::scalar);
  if constexpr (std::is_same_v<S, bf16>)
    if (level == Isa::avx2) {  // bf16 bits through the AVX2 windows, no buffer
      detail::note_path(kExact, Isa::avx2);
      if (detail::exact_tile_bf16_windows_avx2(x, count, w.bins, w.fpacked, w.flags)) {
        detail::note_form(detail::TileForm::vector);
        exact::fold_packed(w.fpacked, w.bins, w.flags);
        std::fill(std::begin(w.fpacked), std::end(w.fpacked), 0);
        w.track_neg_zero = false;
        return;
      }
    }
  if constexpr (std::is_same_v<S, f16>)
    if (level == Isa::avx2) {
      detail::note_path(kExact, Isa::avx2);
      if (detail::exact_tile_f16_avx2(reinterpret_cast<const std::uint16_t*>(x), count, w.bins, w.flags)) {
        detail::note_form(detail::TileForm::vector);
        w.track_neg_zero = false;  // f16 in split float32 lanes, no buffer, no kNotNegZero (a tile with Inf or NaN: its flags only)
        return;
      }
    }
  if (level != Isa::scalar) detail::note_form(detail::TileForm::scalar);
  constexpr int F = Half16<S>::kFracBits;
  constexpr std::uint64_t kOne = std::uint64_t(1) << 32, kFrac = (1u << F) - 1;
  std::size_t i = 0;
  for (; i + kHalfCopies <= count; i += kHalfCopies)
    for (int c = 0; c < kHalfCopies; ++c) {
      const std::uint32_t b = x[i + c].bits;
      w.packed[c][b >> F] += kOne + (b & kFrac);
    }
  for (; i < count; ++i) w.packed[0][x[i].bits >> F] += kOne + (x[i].bits & kFrac);
  if (++w.tiles == kHalfFoldTiles) w.fold();
}

template <class S> float exact_half(const S* x, std::size_t n, const SumContext& ctx) {
  if (n >= exact::Layout<float>::kMaxTermsPerBin)
    throw std::length_error("exact sum: n is beyond the accumulator's headroom");
  constexpr int kBins = exact::Layout<float>::kBins;
  WorkerSlots<ExactHalfWorker<S>> per_worker(workers(ctx));
  const Isa level = detail::exact_simd_level();  // on the caller's thread (DRIFTLAB_ISA)
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    exact_tile_half(x + t * kTileItems, tile_count(n, t), per_worker.at(w), level);
  });
  std::uint32_t flags = 0;
  bool rescan = false;
  std::vector<std::int64_t> zeros;
  const std::int64_t* bins = merge_workers(per_worker, zeros, kBins, [&](ExactHalfWorker<S>& w, std::int64_t* into) {
    w.fold();
    flags |= w.flags;
    rescan |= !w.track_neg_zero;
    if (!into) return w.bins;  // the first worker's bins are the sum's bins
    add_bins(into, w.bins, kBins);
    return into;
  });
  float result = exact::finalize<float>(bins, flags);
  // As sum_exact: an exact zero is -0.0 only if every term was -0.0 (0x8000 in both formats); the
  // float windows do not track that, so settle it here, rarely.
  if (rescan && result == 0.0f && (flags & exact::kSeen) && !(flags & exact::kNotNegZero)) {
    if (std::any_of(x, x + n, [](S v) { return v.bits != 0x8000u; }))
      result = exact::finalize<float>(bins, flags | exact::kNotNegZero);
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
  const Isa isa = sum_isa();
  const bool stream = from_memory<S>(n);
  std::vector<std::uint64_t> per_worker(static_cast<std::size_t>(workers(ctx)), 0);
  for_each_tile(ctx, n, [&](std::size_t t, int w) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(x + t * kTileItems);
    const std::size_t c = tile_count(n, t);
    std::uint64_t r = detail::probe_tile(bytes, c / 2, isa, stream);  // whole 32-bit words
    if (c % 2) r |= x[t * kTileItems + c - 1].bits;  // an odd tile's last 16-bit value
    per_worker[static_cast<std::size_t>(w)] |= r;
  });
  std::uint64_t r = 0;
  for (std::uint64_t a : per_worker) r |= a;
  return r;
}

template <class T> T detail::reduce_partials(std::vector<T> partials) {
  if (partials.empty()) throw std::invalid_argument("reduce_partials: no partials");
  return reduce_levels(std::move(partials), sum_isa());
}
template float detail::reduce_partials<float>(std::vector<float>);
template double detail::reduce_partials<double>(std::vector<double>);

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
