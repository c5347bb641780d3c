// The orders of driftlab's all-reduce variants, written down once: the in-process simulation
// (host/commands/allreduce_sim.cpp) and the Open MPI execution (host/mpi/allreduce_mpi.cpp)
// both call these functions, so an MPI run and its simulation give the same bits.
//
// Data.  M shards, each a vector of n floats (gradients of M micro-batches): the same global
// data for every rank count P.  The shards are split over the P ranks in contiguous groups:
// rank r holds shards [r*M/P, (r+1)*M/P) (integer division; with M < P some ranks hold none).
// Each rank first adds its shards element by element, in shard order, starting from -0.0 (the
// exact identity of IEEE addition; a rank with no shards contributes -0.0):
//     x_r[i] = ((-0.0 + s_first[i]) + s_first+1[i]) + ... + s_last[i].
// Then the all-reduce combines the P rank partials x_0[i] ... x_{P-1}[i] of every element i.
//
// Fusion.  Frameworks fuse gradients into buckets (PyTorch DDP's bucket_cap_mb).  With fusion
// size F the n elements are all-reduced as ceil(n/F) separate buffers of F elements (the last
// shorter); element i sits at position i mod F of a buffer of count min(F, n - F*floor(i/F)).
// Only `ring`'s order depends on the position and the buffer size.
//
// Variants (the determinism level of each, as CUB states its levels):
//   mpi    MPI_Allreduce(MPI_FLOAT, MPI_SUM).  Order: Open MPI's choice (its tuned component
//          picks linear, recursive doubling, ring, segmented ring or Rabenseifner by message
//          size and rank count, or --mpi-algorithm forces one).  Not written here: it is
//          measured, never simulated.  Determinism: run to run for one rank count, algorithm
//          and message size; the bits move with any of them.
//   ring   NCCL's ring (reduce-scatter, then all-gather), modelled on NCCL 2.x's runRing with
//          the Simple protocol: for a buffer of `count` elements, C channels, P ranks,
//          chunk size S (kRingChunk) and alignment A (kRingAlign):
//            loop L covers [L*C*P*S, (L+1)*C*P*S);  in it
//            real = roundUp(min(S, ceil((count - L*C*P*S) / (C*P))), A);
//            element i at offset o = i - L*C*P*S belongs to channel o / (P*real) and to chunk
//            k = (o mod (P*real)) / real.
//          Chunk k's reduce-scatter starts at rank k+1 and walks the ring: the element's
//          value is  ((x_{k+1} + x_{k+2}) + ... ) + x_k  (indices mod P), finished at rank k;
//          the all-gather only copies.  So the order depends on the element's position, the
//          buffer (fusion) size, the channel count and P: the drift NCCL's maintainers describe.
//          Determinism: run to run for one rank count, channel count and buffer size.
//   tree   Reduce to root 0 along a fixed binomial tree, then broadcast (copies only):
//            for s = 1, 2, 4, ... < P:  for every r with r mod 2s == 0 and r + s < P:
//                                         x_r = x_r + x_{r+s}
//          the result is x_0.  Determinism: run to run and across channel counts and buffer
//          sizes, for one rank count; P still changes the tree, hence the bits.
//   exact  The exact sum of the element's M shard values rounded once to nearest-even: bitwise
//          what `driftlab sum --variant exact` gives for those M values.  Determinism: any rank
//          count, algorithm, channel count, fusion size and device.  How, per buffer (fusion):
//          the buffer is cut into blocks of kExactBlock = 64 consecutive elements (the last one
//          shorter when the buffer's count is not a multiple of 64), h = ceil(log2 M).
//          1. Block pass: every rank reduces, per block, one byte with MPI_MAX: block_byte(v)
//             over its values v of the block's elements: max(biased exponent, 1) for a finite
//             nonzero v, 0 for +-0.0, Inf and NaN.  E = the maximum over all the block's values
//             of all M shards (1/64 byte per element).
//          2. Narrow pass: a window of W1 = 31 - h bits whose lowest bit weighs 2^lsb1 units of
//             the smallest subnormal u = 2^-149, lsb1 = max(0, E - 1 + 24 - W1).  Every finite
//             value of the block whose bits all lie at or above lsb1 is an integer multiple of
//             2^lsb1 u below 2^W1 in magnitude; each rank adds its values' multiples into one
//             int32 per element (M of them stay below 2^31, so no sum of any subset overflows).
//             An element for which a rank holds an Inf or NaN, or a value with a bit below lsb1
//             (its values span more binades than W1 relative to its block's maximum), is
//             escaped by that rank: one bit per element in an escape bitmap.  The ranks combine
//             the int32s with MPI_SUM and the bitmaps (ceil(count/8) bytes) with MPI_BOR.
//          3. Wide pass (only when some element escaped): for the escaped elements, in buffer
//             order, first the element's own byte Ee (block_byte, MPI_MAX over ranks: the
//             maximum over its M values), then the same as pass 2 with int64s: W2 = 63 - h,
//             lsb2 = max(0, Ee - 1 + 24 - W2); an escaped element with an Inf or NaN, or a value
//             with a bit below lsb2 (its own values span more binades than W2), is flagged by the
//             rank that holds it; a count of flagged elements rides as one more int64 in the same
//             MPI_SUM.
//          4. Fallback (only when the count is nonzero): a byte per escaped element (1:
//             flagged) combined with MPI_BOR, and for the flagged elements every rank fills
//             exact.h's full accumulator (255 int64 bins and IEEE flags), combined with MPI_SUM
//             and MPI_BOR and rounded by exact::finalize.
//          An element's integer from pass 2 (not escaped) or 3 (escaped, not flagged) is the
//          exact sum in units of 2^lsb u: integer addition is associative, so every algorithm,
//          rank count and order gives the same integer.  A nonzero one is rounded once
//          (round_fixed below) to the float nearest-even.
//          5. Zero pass (only when some such integer is 0): for those elements, one byte
//             (1: the rank holds a value other than -0.0) with MPI_MAX; the result is -0.0 when
//             every value was -0.0, else +0.0 (IEEE's sign of an exact zero sum under round to
//             nearest).
//          Which passes run and which elements they carry depend only on combined results, so
//          every rank makes the same collectives.  The same integers come out of every
//          combination order, so the simulation may add them in ring, tree or linear order:
//          it does, and the tests check that it does not matter.  Bytes per element handed to
//          MPI: 4 + 1/8 + 1/64 (against mpi's 4), plus 1 + 8 per escaped element (and 1 more when
//          some is flagged), 255 * 8 + 4 per flagged element and 1 per zero-sum element.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "kernels/common/exact.h"
#include "kernels/common/float_bits.h"

namespace driftlab::allreduce {

// --- data layout -------------------------------------------------------------------------

struct ShardRange {
  std::size_t first, count;
};
// Rank r's contiguous group of the M shards.
inline ShardRange rank_shards(std::size_t M, std::size_t P, std::size_t r) {
  const std::size_t b = r * M / P, e = (r + 1) * M / P;
  return {b, e - b};
}

// One rank's partial of element i: its shards added in shard order from -0.0.
// shards[k] points at shard k's n floats.
inline float local_sum(const float* const* shards, ShardRange g, std::size_t i) {
  float acc = -0.0f;
  for (std::size_t k = g.first; k < g.first + g.count; ++k) acc = acc + shards[k][i];
  return acc;
}

// The buffer an element sits in under fusion size F (0: one buffer of all n elements).
struct Bucket {
  std::size_t start, count;
};
inline Bucket bucket_of(std::size_t i, std::size_t n, std::size_t F) {
  if (F == 0 || F >= n) return {0, n};
  const std::size_t start = i / F * F;
  return {start, std::min(F, n - start)};
}

// --- ring ---------------------------------------------------------------------------------

// NCCL's Simple protocol: a step is 512 KiB, a chunk ALLREDUCE_CHUNKSTEPS = 4 steps = 2 MiB,
// 2^19 floats; chunks are rounded up to 512 threads * 8 bytes = 1024 floats.
inline constexpr std::size_t kRingChunk = std::size_t(1) << 19;
inline constexpr std::size_t kRingAlign = 1024;

struct RingPlace {
  std::size_t channel;
  std::size_t chunk;  // the ring position that finishes the element; its reduction starts at chunk+1
};
// Where offset o of a buffer of `count` elements falls, for P ranks and C channels.
inline RingPlace ring_place(std::size_t o, std::size_t count, std::size_t P, std::size_t C,
                            std::size_t chunk = kRingChunk, std::size_t align = kRingAlign) {
  const std::size_t loop = C * P * chunk;
  const std::size_t grid = o / loop * loop;
  const std::size_t rest = count - grid;
  std::size_t real = std::min(chunk, (rest + C * P - 1) / (C * P));
  real = (real + align - 1) / align * align;
  const std::size_t off = o - grid;
  return {off / (P * real), off % (P * real) / real};
}

// The ring's value of one element from the P rank partials v[0..P-1] (any type with +: float,
// or the exact variant's int32 and int64 integers), for the chunk that finishes at rank k.
template <class T> T ring_combine(const T* v, std::size_t P, std::size_t k) {
  T acc = v[(k + 1) % P];
  for (std::size_t j = 2; j <= P; ++j) acc = acc + v[(k + j) % P];
  return acc;
}

// --- tree ---------------------------------------------------------------------------------

// The binomial tree to root 0.  v is overwritten (v[0] is the result).
template <class T> T tree_combine(T* v, std::size_t P) {
  for (std::size_t s = 1; s < P; s *= 2)
    for (std::size_t r = 0; r + s < P; r += 2 * s) v[r] = v[r] + v[r + s];
  return v[0];
}

// --- exact --------------------------------------------------------------------------------

inline constexpr std::size_t kMaxShards = std::size_t(1) << 20;  // keeps W2 >= 43 bits (W1 >= 11)
inline constexpr std::size_t kExactBlock = 64;                    // elements per block byte

// Pass 1's byte: max(biased exponent, 1) for a finite nonzero x; 0 for +-0.0, Inf and NaN.
inline std::uint8_t block_byte(float x) {
  const std::uint32_t b = to_bits(x);
  const std::uint32_t e = (b >> 23) & 0xffu;
  if (e == 0xffu || (b & 0x7fffffffu) == 0) return 0;
  return static_cast<std::uint8_t>(e ? e : 1u);
}
// False for -0.0 only (pass 5's byte).
inline bool not_neg_zero(float x) { return to_bits(x) != 0x80000000u; }

inline int ceil_log2(std::size_t M) {
  int h = 0;
  while ((std::size_t(1) << h) < M) ++h;
  return h;
}
inline int window_bits(std::size_t M) { return 63 - ceil_log2(M); }         // W2 (int64)
inline int narrow_window_bits(std::size_t M) { return 31 - ceil_log2(M); }  // W1 (int32)
// The weight (a power of two in units u) of the window's lowest bit, for a block byte E in 0..254.
inline int window_lsb(std::uint8_t E, int W) { return std::max(0, static_cast<int>(E) - 1 + 24 - W); }

// Adds finite x as a multiple of 2^lsb u to acc (std::int32_t in pass 2, std::int64_t in pass 3);
// false (and acc untouched) when x has bits below lsb.  x must be finite with block_byte(x) <= the
// byte E (the block's, or in pass 3 the element's) and lsb = window_lsb(E, W) for acc's W.
template <class Int> bool add_fixed(Int& acc, float x, int lsb) {
  const exact::TermF32 t = exact::decode(x);
  if (t.m == 0) return true;
  const int pos = static_cast<int>(t.bin > 1 ? t.bin : 1) - 1;  // the significand's weight: 2^pos u
  const int shift = pos - lsb;
  const std::int64_t mag = t.m < 0 ? -static_cast<std::int64_t>(t.m) : t.m;
  std::int64_t v;
  if (shift >= 0) {
    v = mag << shift;
  } else {
    if (-shift >= 25 || (mag & ((std::int64_t(1) << -shift) - 1)) != 0) return false;
    v = mag >> -shift;
  }
  acc += static_cast<Int>(t.m < 0 ? -v : v);
  return true;
}

// Adds one of a rank's values of an element to its pass-2 int32: false when the rank escapes the
// element (x is an Inf or NaN, or has a bit below lsb1).
inline bool narrow_add(std::int32_t& acc, float x, int lsb1) {
  return !exact::is_special(x) && add_fixed(acc, x, lsb1);
}
// The same for pass 3's int64: false when the rank flags the element.
inline bool wide_add(std::int64_t& acc, float x, int lsb2) {
  return !exact::is_special(x) && add_fixed(acc, x, lsb2);
}

// v * 2^lsb u rounded once to the nearest float, ties to even (v != 0): exact::finalize's
// rounding, computed through a double.  |v| is first cut to 53 bits by rounding to odd (the bits
// shifted out are ORed into the lowest kept bit), which is exact in a double; scaling by a power
// of two is exact; the one rounding to float is then correct, because 53 >= 2 * 24 + 2 bits
// (rounding to odd first makes a second rounding innocuous: Boldo & Melquiond, 2008).
inline float round_fixed(std::int64_t v, int lsb) {
  const bool neg = v < 0;
  const std::uint64_t a = neg ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  const int k = std::max(0, 64 - std::countl_zero(a) - 53);
  const std::uint64_t t = (a >> k) | ((a & ((std::uint64_t(1) << k) - 1)) != 0 ? 1u : 0u);
  // 2^(k + lsb - 149): k + lsb is at most 11 + 234 (int64)
  // or 0 + 266 (int32), so the exponent stays in double's normal range.
  const double scale = from_bits<double>(static_cast<std::uint64_t>(k + lsb - 149 + 1023) << 52);
  const float r = static_cast<float>(static_cast<double>(t) * scale);
  return neg ? -r : r;
}

// The result of an element whose combined integer v (pass 2 or 3) is not 0.  v == 0 takes pass 5:
// zero_result(whether any value was not -0.0).
inline float fixed_result(std::int64_t v, int lsb) { return round_fixed(v, lsb); }
inline float zero_result(bool any_not_neg_zero) { return any_not_neg_zero ? 0.0f : -0.0f; }

// Pass 4: the full accumulator of one flagged element (what every rank fills and the ranks add).
inline constexpr int kFallbackBins = 255;  // bins 0..254: every finite float's exponent
struct Fallback {
  std::int64_t bins[exact::Layout<float>::kBins] = {};
  std::uint32_t flags = 0;
};
inline void fallback_add(Fallback& f, float x) {
  f.flags |= exact::term_flags(x);
  if (!exact::is_special(x)) exact::add_term(f.bins, x);
}
inline float fallback_result(const Fallback& f) { return exact::finalize<float>(f.bins, f.flags); }

}  // namespace driftlab::allreduce
