// How the CUDA benchmarks keep inputs out of the L2 cache: they rotate through copies of the
// input laid out in one pool, enough that one pass over the pool moves more than twice the L2
// (an H200's is 60 MB: below about 2^24 bytes a fixed cap on the number of copies left every
// timed call reading from cache).  Header-only, so the tests check it without a GPU.
#pragma once

#include <algorithm>
#include <cstddef>

namespace driftlab::bench {

inline constexpr std::size_t kRotationAlign = 256;  // each copy starts on a 256-byte boundary

inline std::size_t rotation_stride(std::size_t bytes) {
  return (std::max<std::size_t>(bytes, 1) + kRotationAlign - 1) / kRotationAlign * kRotationAlign;
}

// Copies such that copies * bytes > 2 * l2_bytes (at least 1).
inline std::size_t rotation_copies(std::size_t bytes, std::size_t l2_bytes) {
  return 2 * l2_bytes / std::max<std::size_t>(bytes, 1) + 1;
}

}  // namespace driftlab::bench
