// The tree order's tile and the read probe's tile at each ISA level (see sum_tile.h).
// Compiled with -ffp-contract=off like the rest: every addition is one rounded addition.
#include "kernels/cpu/sum_tile.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "kernels/common/sum_order.h"
#include "kernels/cpu/simd.h"

namespace driftlab::cpu::detail {
namespace {

using order::kLanes;

// ---- the plain form (the scalar level and every non-x86 build) ----
float widen1(float x) { return x; }
double widen1(double x) { return x; }
float widen1(bf16 x) { return widen(x); }
float widen1(f16 x) { return widen(x); }

template <class S> using Acc = decltype(widen1(S{}));

// The written order's own plain form (sum_order.h), widening 16-bit leaves as they are added.
template <class S> Acc<S> tree_tile_plain(const S* x, std::size_t count) {
  return order::reduce_tile<Acc<S>>(x, count, [](S v) { return widen1(v); });
}

// 16 OR accumulators: compilers turn it into plain vector loads at the baseline width.
std::uint32_t probe_tile_plain(const unsigned char* bytes, std::size_t words) {
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

#if DRIFTLAB_X86
// GCC 12's AVX-512 headers trip a false -Wmaybe-uninitialized (see half_convert.cpp).
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The identity of addition in the storage type: widened, -0.0 (x + -0.0 == x bit for bit, NaN
// payloads included), so a vector lane filled with it adds nothing.
inline float neg_zero(float) { return -0.0f; }
inline double neg_zero(double) { return -0.0; }
inline bf16 neg_zero(bf16) { return bf16{0x8000}; }
inline f16 neg_zero(f16) { return f16{0x8000}; }

// out[lo, lo + n) = src[0, n); every other element of out the identity.  The edge vectors of a
// rotated block (below) are built in it, so that nothing outside the tile's full rows is read.
template <std::size_t W, class S> inline void edge_vector(S (&out)[W], std::size_t lo, const S* src, std::size_t n) {
  for (std::size_t i = 0; i < W; ++i) out[i] = neg_zero(S{});
  std::memcpy(out + lo, src, n * sizeof(S));
}

// The register-blocked form.  L loads W input elements widened into one vector V of the
// accumulation type (acc = acc + load: the lane sum is the left operand, as in reduce_tile);
// NV vectors are one block of W * NV lanes, held in registers across every full row.  Written once
// as a macro and expanded inside each level's `#pragma GCC target` region, so that the intrinsics
// and the template share that level's target.
//
// Loads are aligned to the vector's width whatever x's alignment (a std::vector's data is 16 bytes
// past a page, for one): a tile that starts m elements past a vector boundary is read in vectors
// that start m lanes early, so vector v of block j0 holds lanes j0 + v*W - m ... j0 + v*W - m + W - 1.
// Each lane still adds its own column, row by row, and nothing else.  Block 0's first vector starts
// m lanes before the row, on the previous row's last m lanes (kLanes - m ... kLanes - 1): those
// lanes add the identity at row 0, row r - 1 at step r, and the last full row in one extra step,
// in which the vector's other lanes add the identity.  So every lane sees the identity, its column
// in increasing rows, and identities: the same bits.  (Split loads, a vector across two cache
// lines, made cached f32 and f64 tiles up to 1.2x slower at AVX-512 on a Zen 4: perf-notes,
// session 21.)
#define DRIFTLAB_TREE_TILE_BLOCKED                                                                   \
  template <class L, int NV, class S> Acc<S> tree_tile_blocked(const S* x, std::size_t count) {     \
    using T = Acc<S>;                                                                                \
    using V = typename L::V;                                                                         \
    constexpr std::size_t W = L::W;                                                                  \
    constexpr std::size_t kBlock = W * NV;                                                           \
    static_assert(kLanes % kBlock == 0, "a block divides the lanes");                                \
    const std::size_t full_rows = count / kLanes;                                                    \
    if (full_rows == 0) return tree_tile_plain(x, count); /* one short row: no vector pass */        \
    alignas(64) T buf[W + kLanes];                                                                   \
    T* const lanes = buf + W; /* buf[W - m, W): block 0's wrapped lanes before they are moved */      \
    const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(x);                                 \
    const std::size_t m = addr % sizeof(S) ? 0 : addr % (W * sizeof(S)) / sizeof(S);                \
    for (std::size_t j0 = 0; j0 < kLanes; j0 += kBlock) {                                            \
      V acc[NV];                                                                                     \
      _Pragma("GCC unroll 32") for (int v = 0; v < NV; ++v) acc[v] = L::identity();                 \
      const bool wraps = j0 == 0 && m != 0;                                                          \
      std::size_t r = 0;                                                                             \
      if (wraps) { /* row 0: vector 0's first m lanes have no previous row */                       \
        S first[W];                                                                                  \
        edge_vector(first, m, x, W - m);                                                             \
        acc[0] = acc[0] + L::load(first);                                                            \
        _Pragma("GCC unroll 32") for (int v = 1; v < NV; ++v) acc[v] = acc[v] + L::load(x + v * W - m); \
        r = 1;                                                                                       \
      }                                                                                              \
      const S* p = x + (r * kLanes + j0 - m);                                                        \
      for (; r < full_rows; ++r, p += kLanes) {                                                      \
        _Pragma("GCC unroll 32") for (int v = 0; v < NV; ++v) acc[v] = acc[v] + L::load(p + v * W); \
      }                                                                                              \
      if (wraps) { /* the last full row's last m lanes */                                           \
        S last[W];                                                                                   \
        edge_vector(last, 0, x + full_rows * kLanes - m, m);                                         \
        acc[0] = acc[0] + L::load(last);                                                             \
      }                                                                                              \
      _Pragma("GCC unroll 32") for (int v = 0; v < NV; ++v)                                         \
          std::memcpy(lanes + j0 + v * W - m, &acc[v], sizeof(V));                                   \
    }                                                                                                \
    std::memcpy(lanes + kLanes - m, lanes - m, m * sizeof(T)); /* the wrapped lanes to their place */ \
    const std::size_t rest = count - full_rows * kLanes; /* the short last row */                   \
    const S* row = x + full_rows * kLanes;                                                           \
    for (std::size_t j = 0; j < rest; ++j) lanes[j] = order::add(lanes[j], widen1(row[j]));          \
    return order::lanes_tree(lanes);                                                                 \
  }

#if defined(__clang__)  // clang has no GCC target pragmas: the same target as an attribute
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
namespace a512 {
DRIFTLAB_TREE_TILE_BLOCKED
struct F32 {
  using V = __m512;
  static constexpr std::size_t W = 16;
  static V identity() { return _mm512_set1_ps(-0.0f); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
};
struct F64 {
  using V = __m512d;
  static constexpr std::size_t W = 8;
  static V identity() { return _mm512_set1_pd(-0.0); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
};
struct Bf16 {
  using V = __m512;
  static constexpr std::size_t W = 16;
  static V identity() { return _mm512_set1_ps(-0.0f); }
  static V load(const bf16* p) {  // bits << 16: exact, as half.h's bf16_to_f32
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
};
struct F16 {
  using V = __m512;
  static constexpr std::size_t W = 16;
  static V identity() { return _mm512_set1_ps(-0.0f); }
  static V load(const f16* p) {  // as half_convert's widen_f16 (tested bitwise against half.h)
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
// 32 zmm hold 512 float lanes (the adds take the row from memory, no temporaries); the widening
// loads need temporaries, so the 16-bit paths take half that.
float tree_tile(const float* x, std::size_t c) { return tree_tile_blocked<F32, 32>(x, c); }
double tree_tile(const double* x, std::size_t c) { return tree_tile_blocked<F64, 32>(x, c); }
float tree_tile(const bf16* x, std::size_t c) { return tree_tile_blocked<Bf16, 16>(x, c); }
float tree_tile(const f16* x, std::size_t c) { return tree_tile_blocked<F16, 16>(x, c); }

std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  std::size_t i = 0;
  for (; i + 64 <= words; i += 64)
    for (int k = 0; k < 4; ++k) acc[k] = _mm512_or_si512(acc[k], _mm512_loadu_si512(bytes + 4 * i + 64 * k));
  const __m512i all = _mm512_or_si512(_mm512_or_si512(acc[0], acc[1]), _mm512_or_si512(acc[2], acc[3]));
  alignas(64) std::uint32_t w[16];
  _mm512_store_si512(w, all);
  std::uint32_t r = probe_tile_plain(bytes + 4 * i, words - i);
  for (std::uint32_t v : w) r |= v;
  return r;
}
}  // namespace a512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)  // clang has no GCC target pragmas: the same target as an attribute
#pragma clang attribute push(__attribute__((target("avx2,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,f16c")
#endif
namespace a2 {
DRIFTLAB_TREE_TILE_BLOCKED
struct F32 {
  using V = __m256;
  static constexpr std::size_t W = 8;
  static V identity() { return _mm256_set1_ps(-0.0f); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
};
struct F64 {
  using V = __m256d;
  static constexpr std::size_t W = 4;
  static V identity() { return _mm256_set1_pd(-0.0); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
};
struct Bf16 {
  using V = __m256;
  static constexpr std::size_t W = 8;
  static V identity() { return _mm256_set1_ps(-0.0f); }
  static V load(const bf16* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
};
struct F16 {
  using V = __m256;
  static constexpr std::size_t W = 8;
  static V identity() { return _mm256_set1_ps(-0.0f); }
  static V load(const f16* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
};
// 16 ymm hold 128 float lanes; the 16-bit paths take half that.
float tree_tile(const float* x, std::size_t c) { return tree_tile_blocked<F32, 16>(x, c); }
double tree_tile(const double* x, std::size_t c) { return tree_tile_blocked<F64, 16>(x, c); }
float tree_tile(const bf16* x, std::size_t c) { return tree_tile_blocked<Bf16, 8>(x, c); }
float tree_tile(const f16* x, std::size_t c) { return tree_tile_blocked<F16, 8>(x, c); }

// The streaming form, for inputs larger than the last-level cache: one pass over the tile in
// address order, a cache line a step, each lane's sum loaded from and stored back to an array
// that stays in L1 (4 KiB of float, 8 KiB of double lanes).  Element i goes to lane i % kLanes, so
// lane j adds x[j], x[j + kLanes], ... in increasing rows and then the short last row's element j,
// which comes last in address order too: reduce_tile's additions, in its order.  Why it exists: the
// blocked passes above read 64 rows 4 KiB apart (one page each), which the hardware prefetchers
// do not follow from memory; a linear walk with one step loop is what they follow.  256-bit
// vectors at the AVX-512 level too: on the Zen 4 EPYC, 512-bit ones ran this loop 1.18x slower on
// one thread and 0.91-1.03x its time on two (docs/perf-notes.md, session 21).
template <class L, class S> Acc<S> tree_tile_stream(const S* x, std::size_t count) {
  using T = Acc<S>;
  using V = typename L::V;
  constexpr std::size_t W = L::W;
  constexpr std::size_t kStep = 64 / sizeof(S);  // the elements of one cache line's width
  static_assert(kStep % W == 0 && kLanes % kStep == 0, "a step is whole vectors, the lanes whole steps");
  alignas(64) T lanes[kLanes];
  for (std::size_t j = 0; j < kLanes; j += W) {
    const V id = L::identity();
    std::memcpy(lanes + j, &id, sizeof(V));
  }
  const std::size_t steps_end = count - count % kStep;
  std::size_t i = 0;
#pragma GCC unroll 1
  for (; i < steps_end; i += kStep) {
    T* const a = lanes + (i & (kLanes - 1));
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kStep; v += W) {
      V s;
      std::memcpy(&s, a + v, sizeof(V));
      s = s + L::load(x + i + v);
      std::memcpy(a + v, &s, sizeof(V));
    }
  }
  for (; i < count; ++i) lanes[i & (kLanes - 1)] = order::add(lanes[i & (kLanes - 1)], widen1(x[i]));  // < one line
  return order::lanes_tree(lanes);
}
float tree_tile_stream(const float* x, std::size_t c) { return tree_tile_stream<F32>(x, c); }
double tree_tile_stream(const double* x, std::size_t c) { return tree_tile_stream<F64>(x, c); }
float tree_tile_stream(const bf16* x, std::size_t c) { return tree_tile_stream<Bf16>(x, c); }
float tree_tile_stream(const f16* x, std::size_t c) { return tree_tile_stream<F16>(x, c); }

std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  std::size_t i = 0;
  for (; i + 32 <= words; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_or_si256(acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + 4 * i + 32 * k)));
  const __m256i all = _mm256_or_si256(_mm256_or_si256(acc[0], acc[1]), _mm256_or_si256(acc[2], acc[3]));
  alignas(32) std::uint32_t w[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w), all);
  std::uint32_t r = probe_tile_plain(bytes + 4 * i, words - i);
  for (std::uint32_t v : w) r |= v;
  return r;
}
}  // namespace a2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#pragma GCC diagnostic pop
#endif

template <class S> Acc<S> dispatch(const S* x, std::size_t count, Isa level, bool stream) {
  constexpr IsaFamily kSum = IsaFamily::sum;
#if DRIFTLAB_X86
  switch (level) {  // the stream form: 256-bit at both vector levels (sum_tile.h)
    case Isa::avx512:
      note_path(kSum, Isa::avx512);
      if (stream) {
        note_form(TileForm::stream);
        return a2::tree_tile_stream(x, count);
      }
      note_form(TileForm::blocked);
      return a512::tree_tile(x, count);
    case Isa::avx2:
      note_path(kSum, Isa::avx2);
      if (stream) {
        note_form(TileForm::stream);
        return a2::tree_tile_stream(x, count);
      }
      note_form(TileForm::blocked);
      return a2::tree_tile(x, count);
    case Isa::scalar: break;
  }
#else
  (void)level;
#endif
  (void)stream;  // the plain form walks the tile row by row, in address order
  note_path(kSum, Isa::scalar);
  return tree_tile_plain(x, count);
}

// The last-level cache this process's first CPU shares, in bytes, read once: sysfs first (a VM's
// sysconf can report the whole chip's L3, 320 MiB on the Zen 4 EPYC where sysfs says the 32 MiB
// that one core shares), then sysconf, then 32 MiB.
std::size_t last_level_cache_bytes() {
  static const std::size_t bytes = [] {
    if (const std::size_t v = cache_bytes_from_sysfs("/sys/devices/system/cpu/cpu0/cache")) return v;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (const long v = sysconf(_SC_LEVEL3_CACHE_SIZE); v > 0) return static_cast<std::size_t>(v);
#endif
    return std::size_t{32} << 20;
  }();
  return bytes;
}

// The test hook's override (force_stream_threshold).
std::atomic<bool> g_forced{false};
std::atomic<std::size_t> g_forced_bytes{0};

}  // namespace

std::size_t cache_bytes_from_sysfs(const char* dir) {
  for (int index = 4; index >= 2; --index) {  // the highest level sysfs lists: L3, or L2 where there is none
    char path[256];
    if (std::snprintf(path, sizeof path, "%s/index%d/size", dir, index) >= static_cast<int>(sizeof path)) return 0;
    if (std::FILE* f = std::fopen(path, "r")) {
      unsigned long long v = 0;
      char unit = 0;
      const int got = std::fscanf(f, "%llu%c", &v, &unit);
      std::fclose(f);
      if (got >= 1 && v > 0 && v < (1ull << 40))
        return static_cast<std::size_t>(v) * (unit == 'K' ? 1024u : unit == 'M' ? 1024u * 1024u : 1u);
    }
  }
  return 0;
}

std::size_t stream_threshold_bytes() {
  return g_forced.load(std::memory_order_relaxed) ? g_forced_bytes.load(std::memory_order_relaxed)
                                                  : last_level_cache_bytes() / 2;
}

void force_stream_threshold(std::optional<std::size_t> bytes) {
  g_forced_bytes.store(bytes.value_or(0), std::memory_order_relaxed);
  g_forced.store(bytes.has_value(), std::memory_order_relaxed);
}

float tree_tile(const float* x, std::size_t count, Isa level, bool stream) { return dispatch(x, count, level, stream); }
double tree_tile(const double* x, std::size_t count, Isa level, bool stream) { return dispatch(x, count, level, stream); }
float tree_tile(const bf16* x, std::size_t count, Isa level, bool stream) { return dispatch(x, count, level, stream); }
float tree_tile(const f16* x, std::size_t count, Isa level, bool stream) { return dispatch(x, count, level, stream); }

std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words, Isa level, bool stream) {
#if DRIFTLAB_X86
  switch (level) {
    // The probe is the ceiling, so it reads as fast as this build knows how.  From memory that is
    // 256-bit loads at the AVX-512 level too: on the Zen 4 EPYC they streamed 4-12% faster than
    // 512-bit loads, which are 1.1-1.15x faster on data in L2 and L3 (docs/perf-notes.md, session 21).
    case Isa::avx512:
      note_path(IsaFamily::sum, Isa::avx512);
      if (stream) {
        note_form(TileForm::stream);
        return a2::probe_tile(bytes, words);
      }
      note_form(TileForm::blocked);
      return a512::probe_tile(bytes, words);
    case Isa::avx2:
      note_path(IsaFamily::sum, Isa::avx2);
      return a2::probe_tile(bytes, words);
    case Isa::scalar: break;
  }
#else
  (void)level;
  (void)stream;
#endif
  note_path(IsaFamily::sum, Isa::scalar);
  return probe_tile_plain(bytes, words);
}

}  // namespace driftlab::cpu::detail
