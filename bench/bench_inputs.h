// Benchmark inputs made on the device (benchmarks only; `driftlab sum --dist ...` and the tests keep
// host/io/data.cpp's make_input).  The same laws as make_input, different values:
//   uniform  f32: 24 random bits / 2^24 in [0, 1); f64: 53 bits / 2^53
//   normal   Box-Muller in double, rounded to the type
//   illcond  half the elements N(0,1) * 2^k, k uniform in [-20, 20]; the other half their
//            negations (as stored) plus 1e-3 * N(0,1); an odd n's last element 1e-3 * N(0,1);
//            positions permuted by a keyed bijection of [0, n) (a Feistel network, cycle-walked)
//            in place of make_input's whole-array shuffle
//   bf16/f16 generated in float32, then rounded to nearest even (common/half.h, as make_input)
// Every element is a pure function of (seed, position): counter-based SplitMix64 hashes, one
// launch, no host array, no host-to-device copy.  Never all zeros.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace driftlab::bench {

enum class GenType { f32, f64, bf16, f16 };
enum class GenDist { uniform, normal, illcond };

// Fills n elements of type t at d_dst; returns the launch's error (asynchronous on `stream`).
cudaError_t device_fill(void* d_dst, GenType t, GenDist dist, std::size_t n, std::uint64_t seed,
                        cudaStream_t stream = nullptr);

}  // namespace driftlab::bench
