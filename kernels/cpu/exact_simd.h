// Vectorized float32 tile of the exact sum (x86-64 AVX2 or AVX-512, chosen at run time).
//
// Per tile: a window of exponents [lo, hi] with hi - lo = 16, lo >= 1, placed two binades above
// the largest exponent among the tile's first 512 terms.  Terms in the window, and zeros, are
// summed in double lanes: a term is a multiple of 2^(lo-150) below 2^(hi-126), so a lane's sum
// of at most 2^12 terms stays below 2^(hi-lo+36) <= 2^52 grid steps -- every addition is exact.
// The lane sums, scaled to integers, go to bins lo and lo+32.  Other terms (subnormals, specials,
// terms more than 16 binades below hi) take the scalar packed path of exact.h.  A poor window
// guess costs speed, never exactness.
#pragma once

#include <cstddef>
#include <cstdint>

namespace driftlab::cpu::detail {

enum class ExactSimd { scalar, avx2, avx512 };

// The best level this CPU runs, capped by force_exact_simd.
ExactSimd exact_simd_level();
// Caps the level (tests check every level against the scalar path on one machine).
void force_exact_simd(ExactSimd cap);
const char* exact_simd_name(ExactSimd level);

// Adds the tile's window terms to bins (Layout<float>), its other terms to packed (the caller
// folds packed), and kSeen.  It does not track kNotNegZero for window terms: that flag only
// matters when the exact sum is zero, and sum_exact then rescans the input.  count <= 65536.
// Returns false, having done nothing, when the tile's sample says most terms would miss the window
// (inputs spanning many binades): the caller then takes the scalar packed path for the tile.
bool exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                         std::uint32_t& flags);
bool exact_tile_f32_avx512(const float* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                           std::uint32_t& flags);

}  // namespace driftlab::cpu::detail
