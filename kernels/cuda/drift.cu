// Run-against-run drift on the device (see drift.cuh). Every pass is a Thrust algorithm over a
// counting iterator with a functor built from kernels/common/output_compare.h; no float is
// accumulated in a data-dependent order (the sums are integer, the maxima order-free), so the
// result does not depend on how Thrust splits the work.
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <algorithm>

#include "kernels/common/output_compare.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/drift.cuh"

namespace driftlab::cuda {
namespace {

using namespace driftlab::compare;
using Index = std::uint64_t;

struct Differ {  // elements whose bits differ from run 0, and the run's hash
  std::uint64_t differing;
  Hash128 hash;
};
struct DifferOf {
  const float* y;
  const float* first;  // null for run 0
  __host__ __device__ Differ operator()(Index i) const {
    const std::uint32_t b = to_bits(y[i]);
    return {first && b != to_bits(first[i]) ? 1u : 0u, hash_element(i, b)};
  }
};
struct DifferPlus {
  __host__ __device__ Differ operator()(const Differ& x, const Differ& y) const {
    return {x.differing + y.differing, hash_plus(x.hash, y.hash)};
  }
};

struct RangeUpdate {
  const float* y;
  float *lo, *hi;
  std::uint8_t* seen;
  __host__ __device__ void operator()(Index i) const { range_add(y[i], lo[i], hi[i], seen[i]); }
};
struct RangeOf {
  const float *lo, *hi;
  const std::uint8_t* seen;
  __host__ __device__ RangeMetrics operator()(Index i) const { return range_metrics(lo[i], hi[i], seen[i]); }
};
struct RangeMax {
  __host__ __device__ RangeMetrics operator()(const RangeMetrics& x, const RangeMetrics& y) const {
    return range_max(x, y);
  }
};

// One thread per row: the row's argmax against run 0's (rows are short next to the output).
struct ArgmaxFirst {
  const float* y;
  Index N;
  std::uint64_t* argmax0;
  __host__ __device__ void operator()(Index r) const { argmax0[r] = argmax_row(y + r * N, N); }
};
struct ArgmaxFlip {
  const float* y;
  Index N;
  const std::uint64_t* argmax0;
  std::uint8_t* flipped;
  __host__ __device__ void operator()(Index r) const {
    if (!flipped[r] && argmax_row(y + r * N, N) != argmax0[r]) flipped[r] = 1;
  }
};
struct ToCount {
  __host__ __device__ std::uint64_t operator()(std::uint8_t f) const { return f; }
};
struct Plus64 {
  __host__ __device__ std::uint64_t operator()(std::uint64_t x, std::uint64_t y) const { return x + y; }
};

}  // namespace

DeviceOutputDrift::DeviceOutputDrift(std::size_t B, std::size_t N, cudaStream_t stream)
    : B_(B), N_(N), stream_(stream) {
  const std::size_t n = B * N;
  first_.ensure(n * sizeof(float), sizeof(float));
  lo_.ensure(n * sizeof(float), sizeof(float));
  hi_.ensure(n * sizeof(float), sizeof(float));
  seen_.ensure(n);
  flipped_.ensure(B);
  argmax0_.ensure(B * sizeof(std::uint64_t), sizeof(std::uint64_t));
}

void DeviceOutputDrift::add(const float* d_y) {
  const Index n = static_cast<Index>(B_) * N_;
  const auto policy = thrust::cuda::par.on(stream_);
  const thrust::counting_iterator<Index> first(0);
  const bool run0 = runs_ == 0;
  float* d_first = first_.as<float>();
  std::uint8_t* d_seen = seen_.as<std::uint8_t>();
  std::uint8_t* d_flipped = flipped_.as<std::uint8_t>();
  std::uint64_t* d_argmax0 = argmax0_.as<std::uint64_t>();
  float* d_lo = lo_.as<float>();
  float* d_hi = hi_.as<float>();
  if (run0) {
    CUDA_CHECK(cudaMemcpyAsync(d_first, d_y, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    CUDA_CHECK(cudaMemsetAsync(d_seen, 0, std::max<Index>(n, 1), stream_));
    CUDA_CHECK(cudaMemsetAsync(d_flipped, 0, std::max<std::size_t>(B_, 1), stream_));
    if (N_ > 0) thrust::for_each(policy, first, first + B_, ArgmaxFirst{d_y, N_, d_argmax0});
  } else if (N_ > 0) {
    thrust::for_each(policy, first, first + B_, ArgmaxFlip{d_y, N_, d_argmax0, d_flipped});
  }
  thrust::for_each(policy, first, first + n, RangeUpdate{d_y, d_lo, d_hi, d_seen});
  // transform_reduce returns to the host: the only numbers that come back for this run.
  const Differ d = thrust::transform_reduce(policy, first, first + n, DifferOf{d_y, run0 ? nullptr : d_first},
                                            Differ{0, Hash128{}}, DifferPlus{});
  CUDA_CHECK(cudaGetLastError());
  differing_ += d.differing;
  const std::pair<std::uint64_t, std::uint64_t> h{d.hash.a, d.hash.b ^ n};
  const auto at = std::lower_bound(hashes_.begin(), hashes_.end(), h);
  if (at == hashes_.end() || *at != h) hashes_.insert(at, h);
  ++runs_;
}

DeviceDriftResult DeviceOutputDrift::result() const {
  DeviceDriftResult r;
  r.runs = runs_;
  if (runs_ == 0) return r;
  const Index n = static_cast<Index>(B_) * N_;
  const auto policy = thrust::cuda::par.on(stream_);
  const thrust::counting_iterator<Index> first(0);
  const std::uint8_t* d_flipped = flipped_.as<std::uint8_t>();
  const RangeMetrics m = thrust::transform_reduce(
      policy, first, first + n, RangeOf{lo_.as<float>(), hi_.as<float>(), seen_.as<std::uint8_t>()}, RangeMetrics{},
      RangeMax{});
  r.distinct_outputs = hashes_.size();
  r.differing = differing_;
  r.max_ulp = m.max_ulp;
  r.max_abs_diff = m.mixed ? static_cast<double>(NAN) : m.max_abs_diff;
  r.argmax_flips = N_ > 0 ? static_cast<std::size_t>(thrust::transform_reduce(
                                policy, d_flipped, d_flipped + B_, ToCount{}, std::uint64_t(0), Plus64{}))
                          : 0;
  CUDA_CHECK(cudaGetLastError());
  return r;
}

}  // namespace driftlab::cuda
