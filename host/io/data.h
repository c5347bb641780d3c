// Input distributions, seeded and platform-independent (SplitMix64; normal via Box-Muller).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "host/io/array.h"

namespace driftlab {

enum class Dist { uniform, normal, illcond };

const char* dist_name(Dist d);
std::optional<Dist> parse_dist(std::string_view s);
// The --dist flag of every command: the Dist, or a UsageError in one line naming the three.
Dist parse_dist_flag(std::string_view s);

// uniform: [0, 1).  normal: standard normal.  illcond: heavy cancellation -- half the terms are
// N(0,1) * 2^k with k uniform in [-20, 20], the other half their negations each perturbed by a
// N(0,1) * 1e-3 term, shuffled; the exact sum is tiny against sum |x| (condition number ~1e8+).
// bf16/f16: generated as float32 (the same values as DType::f32), then rounded to nearest even.
HostArray make_input(Dist dist, DType dtype, std::size_t n, std::uint64_t seed);

}  // namespace driftlab
