// One tile of the tree order (kernels/common/sum_order.h steps 2-3) and the read probe's tile, at
// each level of the ISA dispatcher (isa.h).  Used by sum.cpp's tree and atomic variants.
//
// Every form adds the same IEEE additions in the same order as order::reduce_tile (lane j adds
// elements j, j + kLanes, j + 2*kLanes, ... in increasing rows, lanes independent until the halving
// combine), so every level and form gives the same bits; only the speed differs.  Two vector forms:
// - blocked (data in cache): passes over blocks of lanes that fit in registers, each pass keeping
//   its block in registers across every full row and storing it once; its loads are aligned to
//   the vector width at any input alignment (a rotation of which register holds which lanes);
// - stream (data from memory): one linear pass in address order, a cache line a step, the lane
//   sums in an L1-resident array: the access pattern the hardware prefetchers follow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernels/common/half.h"
#include "kernels/cpu/isa.h"

namespace driftlab::cpu::detail {

// Steps 2-3 for one tile of count <= kTileItems elements; 16-bit inputs are widened to float.
// stream: the stream form at the vector levels (above).  The callers ask for it when the whole
// input is at least stream_threshold_bytes(); on data in cache the blocked form is faster
// (docs/perf-notes.md, session 21).
float tree_tile(const float* x, std::size_t count, Isa level, bool stream);
double tree_tile(const double* x, std::size_t count, Isa level, bool stream);
float tree_tile(const bf16* x, std::size_t count, Isa level, bool stream);
float tree_tile(const f16* x, std::size_t count, Isa level, bool stream);

// The size from which an input streams from memory: half the last-level cache one core shares
// (sysfs, else sysconf, else 32 MiB), read once; an input of at least this many bytes streams.
// Half, not all: on the Zen 4 EPYC (32 MiB L3 by sysfs) the tree's stream form was already
// 1.5-1.7x faster at 32 MiB, and at 16 MiB level with the blocked form (f32; bf16 at AVX-512 1.05-1.1x
// slower) or 3x faster (bf16 at AVX2, whose blocked passes read 2 cache lines a row) (bench
// tune/cpu/stream_form/, docs/perf-notes.md, session 27): an input the size of the cache does not
// stay in it between calls.  force_stream_threshold is a test hook (nullopt: no override; 0: every
// input streams; SIZE_MAX: none does), so that tests run the same sums in both forms.
std::size_t stream_threshold_bytes();
void force_stream_threshold(std::optional<std::size_t> bytes);
// The size in bytes of the highest cache level that a sysfs cache folder (cpu0's:
// /sys/devices/system/cpu/cpu0/cache) lists among index4, index3, index2 ("32768K", "1M", "512"),
// or 0 when none can be read.  Exposed for its test.
std::size_t cache_bytes_from_sysfs(const char* dir);

// OR of `words` 32-bit words at bytes (the read probe's tile: every byte read once, no arithmetic).
// stream: the whole input is at least stream_threshold_bytes() (the read's fastest form from
// memory can differ from the one for cached data: sum_tile.cpp).
std::uint32_t probe_tile(const unsigned char* bytes, std::size_t words, Isa level, bool stream);

}  // namespace driftlab::cpu::detail
