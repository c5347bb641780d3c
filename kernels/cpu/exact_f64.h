// The exact sum's float64 vector tile (x86-64 AVX2 or AVX-512, chosen at run time).
//
// Per tile: one window of binades [lo, lo + W - 1] (biased exponents, lo >= 52), its top two
// binades above the largest finite exponent among the tile's first 512 terms; W = 30 when that
// leaves at most 1/64 of the sampled nonzero terms outside, else W = 60 when it leaves at most an
// eighth (illcond's normal values times 2^-20 .. 2^20), else the tile is not worth it.  A term in the
// window (or a zero) is scaled by 2^(1075 - lo) to an integer y below 2^(52 + W) and cut exactly
// into parts on coarser grids (W = 30: a multiple of 2^32 and the rest; W = 60: of 2^62, of 2^31,
// and the rest), each part over its grid step converted to an int64 lane; at the tile's end each
// part's lanes go to exact.h's Layout<double> bins as 26-bit chunks (bin b counts units of
// 2^(b - 1075)).  Every other term (subnormals, Inf, NaN, terms outside the window, the last < 32
// or < 16 terms) is added by exact.h's add_term to scalar_bins, its flags to flags.  Integers only,
// so the bins' total is the scalar loop's: the same bits at every level.  Like the float tiles
// (exact_simd.h) it does not track kNotNegZero (sum_exact rescans when the sum is zero), and it
// needs the caller's FP exceptions masked (AVX2 raises and discards inexact).  AVX2 takes the
// 60-binade form only when MXCSR rounds to nearest.  count <= 65536.  Returns false, having done
// nothing, when the tile is not worth it: the caller then takes the scalar loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace driftlab::cpu::detail {

inline constexpr int kF64WindowBinades = 30;

bool exact_tile_f64_avx512(const double* x, std::size_t count, std::int64_t* bins, std::int64_t* scalar_bins,
                           std::uint32_t& flags);
bool exact_tile_f64_avx2(const double* x, std::size_t count, std::int64_t* bins, std::int64_t* scalar_bins,
                         std::uint32_t& flags);

}  // namespace driftlab::cpu::detail
