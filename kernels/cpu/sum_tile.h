// One tile of the tree order (kernels/common/sum_order.h steps 2-3) and the read probe's tile, at
// each level of the ISA dispatcher (isa.h).  Used by sum.cpp's tree and atomic variants.
//
// The vector paths walk a tile in passes over blocks of lanes that fit in registers: lane j only
// ever adds elements j, j + kLanes, j + 2*kLanes, ... (rows in increasing order), lanes are
// independent until the halving combine, so a pass keeps a block of lanes in registers across
// every full row of the tile and stores them once.  The additions are the same IEEE additions in
// the same order as order::reduce_tile, so every level gives the same bits; only the speed differs
// (no load-add-store of the lane sums through L1 per element, as the plain form has).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernels/common/half.h"
#include "kernels/cpu/isa.h"

namespace driftlab::cpu::detail {

// Steps 2-3 for one tile of count <= kTileItems elements; 16-bit inputs are widened to float.
// touch: read one byte of each of the tile's cache lines, in address order, before the vector
// passes (a linear stream the hardware prefetchers follow; the passes then find the tile in L2).
// It changes no addition.  The callers ask for it when the whole input is larger than
// touch_threshold_bytes(): on data in cache it only costs (docs/perf-notes.md, session 20).
float tree_tile(const float* x, std::size_t count, Isa level, bool touch);
double tree_tile(const double* x, std::size_t count, Isa level, bool touch);
float tree_tile(const bf16* x, std::size_t count, Isa level, bool touch);
float tree_tile(const f16* x, std::size_t count, Isa level, bool touch);

// The size above which an input streams from memory: the last-level cache one core shares (sysfs,
// else sysconf, else 32 MiB), read once.  force_touch_threshold is a test hook (nullopt: no
// override), so that tests run the same sums with and without the touch.
std::size_t touch_threshold_bytes();
void force_touch_threshold(std::optional<std::size_t> bytes);

// OR of `words` 32-bit words at bytes (the read probe's tile: every byte read once, no arithmetic).
std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words, Isa level);

}  // namespace driftlab::cpu::detail
