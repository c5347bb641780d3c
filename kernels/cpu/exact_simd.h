// Vectorized float32 tile of the exact sum (x86-64 AVX2, chosen at run time).
//
// Per tile: a window of exponents [lo, hi] with hi - lo = 16, lo >= 1, placed two binades above
// the largest exponent among the tile's first 512 terms.  Terms in the window, and zeros, are summed in 16 double
// lanes: a term is a multiple of 2^(lo-150) below 2^(hi-126), so a lane's sum of at most 2^12
// terms stays below 2^(hi-lo+36) <= 2^52 grid steps -- every addition is exact.  The lane sums,
// scaled to integers, go to bin lo.  Other terms (subnormals, specials, terms more than 16 binades
// below hi) take the scalar packed path of exact.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace driftlab::cpu::detail {

// True when this CPU runs the AVX2 path (and the scalar path was not forced).
bool exact_simd_available();
// Tests use this to check the scalar path on a machine with AVX2.
void force_scalar_exact(bool on);

// Adds the tile's window terms to bins (Layout<float>), its other terms to packed (the caller
// folds packed), and its kSeen / kNotNegZero flags.  count <= 65536.
void exact_tile_f32_avx2(const float* x, std::size_t count, std::int64_t* bins, std::uint64_t* packed,
                         std::uint32_t& flags);

}  // namespace driftlab::cpu::detail
