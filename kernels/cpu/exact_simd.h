// Vectorized float32 tile of the exact sum (x86-64 AVX2 or AVX-512, chosen at run time).
//
// Per tile (AVX-512): W (1 to 4) consecutive windows of 16 binades each, [lo + 16w, lo + 16w + 15],
// lo >= 1, the top one ending two binades above the largest exponent among the tile's first 512
// terms; W is the fewest that leave at most 1/64 of those sampled terms outside, so inputs spanning
// many binades (illcond) stay on the vector path.  A term's window is (|bits| - (lo << 23)) >> 27,
// one shift; its value goes to that window's double lanes by a masked add.  Window w's terms are
// multiples of 2^(lo_w-150) below 2^(lo_w-110), so a lane's sum of at most 2^12 terms stays below
// 2^52 grid steps -- every addition is exact.  Each window's lane sums, scaled to integers, go to
// bins lo_w and lo_w+32.
// Per tile (AVX2): the same choice with W (1 to 3) windows of 24 binades, so illcond needs two
// windows instead of three.  A term's window comes from W + 1 compares of |bits| with the window
// starts; window w's terms are below 2^(lo_w-150+47), so a double lane is flushed to an int64 lane
// every 16 terms (below 2^51 grid steps, where adding 1.5 * 2^52 converts it exactly).
// Other terms (subnormals, specials, terms outside every window) take the scalar packed path of
// exact.h.  A poor window guess costs speed, never exactness.
// Both levels read a tile as four quarter streams side by side (one stream kept too few lines in
// flight), in blocks of 128 (AVX-512) or 64 (AVX2) terms per stream.  A fast block adds every term
// unmasked to one set of double lanes while tracking the block's largest and smallest nonzero
// |bits|; it is kept when every nonzero term lies in one window, else the block is redone term by
// term as above (and the next 1, 2, 4 .. 64 blocks skip the try; when the sample already needs
// more than one window, the first try waits 64 blocks).  A block that misses one window takes the
// split span when the sample allows (exact_simd.cpp): y = x * 2^k, hi = round(y) in int32 lanes,
// lo = y - hi in double lanes.  At AVX2 a span block goes in unmasked and is kept only when it
// raised no MXCSR flag (a term off the span's grid is inexact, one too large overflows a probe),
// else it is redone with a range check per term.
// float tiles and bf16 tiles (both levels; bf16 at AVX-512 in one-window tiles only) first try
// flag-checked lanes, when MXCSR is the default but for its flags (bf16: a block's terms into
// float32 lanes of 8 terms, then those into the double lanes, under the same flags): every term of a block goes unmasked into double lanes that are kept over the whole tile,
// and the block is kept when none of its adds raised inexact -- each lane then holds the exact
// sum of its terms, whatever their exponents; else the lanes go back to where the block found
// them and the block is taken as below (the next 1, 2, 4 .. 64 blocks skip the try).  In a tile of
// more than one window (AVX-512 only) each term d is split first, lo = d - round(d, 2^-15) by
// VREDUCEPD and hi = d - lo, both exact, into two sets of lanes: hi sums are multiples of 2^-15 and
// lo sums are below 2^-5 (2^11 terms a lane), so a lane keeps 53 bits for inputs that span about
// 60 binades around 1.  At the tile's end the lanes (exact doubles, multiples of 2^-149) are summed
// into one vector when that raises no inexact, else taken one by one, each as its significand at
// its own ulp's bin.  A lane that took an Inf or NaN is not finite at the end (finite lanes cannot
// overflow): the special then decides the sum and a scan of the tile gives its flags.  6 vector
// uops per 16 terms at AVX-512 (12 split), against the windows' fast block's 10 and the span's 15.
// bf16 tiles (both levels) first try a float32 fast block: 8 terms a float32 lane, exact while the
// block's exponents lie within 13 binades and under 251 (two terms a 32-bit word, widened by a
// shift and a mask); a block whose smallest terms lie lower is redone with a floor, those terms to
// the packed bins (one-window tiles only, with the same backoff); else the double lanes' block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/half.h"
#include "kernels/cpu/isa.h"

namespace driftlab::cpu::detail {

using ExactSimd = Isa;  // the one dispatcher's levels (isa.h)

// The level the exact sum uses: isa_level() capped by force_exact_simd.
inline ExactSimd exact_simd_level() { return isa_level(IsaFamily::exact); }
// Caps the level (tests check every level against the scalar path on one machine).
inline void force_exact_simd(ExactSimd cap) { force_isa(IsaFamily::exact, cap); }

// How far ahead of its reads, in bytes, the exact sum's loops prefetch (software prefetch): 2048
// on Intel CPUs, where the hardware prefetchers alone kept too few lines in flight (measured on the
// Xeon, sessions 15-17: up to twice the time without it); 0 elsewhere (AMD), where those early
// lines cost time instead (measured on Zen 4 at 2^26 with 2 threads: f32 0.86-0.92x the time
// without them, bf16 0.82-0.88x, AVX-512 and AVX2; docs/perf-notes.md).  0 leaves the prefetch a
// touch of the line being read.  Detected once from CPUID's vendor (cpu_is_intel, isa.h); it
// changes speed, never bits.
// (The f16 split lanes at AVX-512 prefetch 2 KiB ahead everywhere: faster on Zen 4 too.)
std::size_t exact_prefetch_bytes();
// Test hook: sets it (tests run both distances and compare the bits).
void force_exact_prefetch_bytes(std::size_t bytes);

// Whether an AVX-512 float tile of more than one window tries the split flag-checked lanes
// (exact_simd.cpp) even when the span covers it: true on Intel, where they beat the span (measured
// on the Xeon, session 17: illcond 0.80x the time); false elsewhere (AMD), where the span is faster
// (Zen 4 double-pumps the 512-bit conversions and VREDUCEPD: one illcond tile 0.85x the time with
// the span), so the split lanes there take only the tiles the span does not cover.  Detected once
// from CPUID's vendor (cpu_is_intel, isa.h); it changes speed, never bits.
bool exact_split_lanes_first();
// Test hook: sets it (tests run both and compare the bits).
void force_exact_split_lanes_first(bool on);

// Whether the vector tiles take their flag-checked paths (the lanes, and AVX2's span) where MXCSR
// allows: always, but for tests, which turn them off to reach the masked paths (the fast blocks,
// the windows, the masked span) that otherwise run only for blocks the flags refused, or under a
// caller's MXCSR that is not the default.
bool exact_flag_paths();
void force_exact_flag_paths(bool on);

// The vector tiles below add terms in double or float lanes and redo a block whose adds were not
// exact, so they raise and discard inexact (and the span's probe, overflow): with an exception
// unmasked on the calling thread (a library caller's feenableexcept; fp_env.h's
// fp_exceptions_masked) that would be a SIGFPE from a sum whose result is exact, so the exact sum
// then takes its scalar path, integer arithmetic only: the same bits.
// Adds the tile's window terms to bins (Layout<float>), its other terms to packed (the caller
// folds packed), and kSeen.  It does not track kNotNegZero for window terms: that flag only
// matters when the exact sum is zero, and sum_exact then rescans the input.  count <= 65536.
// Returns false, having done nothing, when the tile's sample says more than an eighth of the terms
// would miss even four windows (over 64 binades): the caller then takes the scalar packed path.
bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                         std::uint32_t& flags);
bool exact_tile_f32_avx512(const float* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                           std::uint32_t& flags);

// 16-bit inputs (bf16, f16) straight from their bits, no float32 buffer: adds every finite term
// of the tile to bins (Layout<float>) exactly, in int64 lanes per group of 32 binades (bf16's 8-bit
// exponent picks its group and shift directly; f16's 5-bit exponent needs one group), and the
// tile's flags (kSeen, kNotNegZero, Inf, NaN) to flags.  AVX-512 only; call it at that level.
void exact_tile_bf16_avx512(const std::uint16_t* x, std::size_t count, std::int64_t* bins, std::uint32_t& flags);
// bf16 through the float windows above, its bits widened by a shift in registers (no buffer): as
// exact_tile_f32_avx512 (packed takes the terms outside the windows; no kNotNegZero; false when the
// windows are not worth it).
bool exact_tile_bf16_windows_avx512(const bf16* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                                    std::uint32_t& flags);
// bf16 through the AVX2 float windows, its bits widened by a shift in registers (no buffer): as
// exact_tile_f32_avx2 (packed takes the terms outside the windows; no kNotNegZero; false when the
// windows are not worth it).
bool exact_tile_bf16_windows_avx2(const bf16* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                                  std::uint32_t& flags);
// f16 in split float32 lanes (every f16 is a multiple of 2^-24 below 2^16; each term split at
// 2^-4 into a hi and a lo part, both added exactly; exact_simd.cpp): the tile's exact sum to bins
// and its flags, but not kNotNegZero (the caller settles a zero sum); a tile with an Inf or NaN adds
// its flags only, no bins (the special decides the sum: exact.h's round_limbs).  Tiles of at most
// kF16SplitMaxTerms terms take the lanes (the int32 lanes' headroom); beyond it the rest is slow.
inline constexpr std::size_t kF16SplitMaxTerms = 65536;
void exact_tile_f16_avx512(const std::uint16_t* x, std::size_t count, std::int64_t* bins, std::uint32_t& flags);
// f16 at AVX2 (F16C) in split float32 lanes, as exact_tile_f16_avx512 (a tile with an Inf or NaN
// adds its flags, no bins; no kNotNegZero); false, having changed nothing, only where AVX2 is not
// compiled in.
bool exact_tile_f16_avx2(const std::uint16_t* x, std::size_t count, std::int64_t* bins, std::uint32_t& flags);

}  // namespace driftlab::cpu::detail
