// CUDA plumbing written once, for the kernels' hosts, the backends and the benchmarks: device
// memory freed on every path (an exception included), and a pair of events that times the work
// recorded between them.  Host code (no kernels); every call checked (cuda_check.h).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace driftlab::cuda {

// Device memory that frees itself.  Never a null pointer once allocated: a request of 0 bytes
// takes `min_bytes` (1 unless the caller says more), so kernels can be handed it.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) { ensure(bytes); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }

  // Holds at least `bytes` (allocating max(bytes, min_bytes)); reallocates, losing the contents,
  // only when it holds fewer.
  void ensure(std::size_t bytes, std::size_t min_bytes = 1) {
    if (p_ && bytes <= bytes_) return;
    release();
    CUDA_CHECK(cudaMalloc(&p_, std::max(bytes, min_bytes)));
    bytes_ = bytes;
  }
  template <class T> void upload(const std::vector<T>& v, std::size_t min_bytes = 1) {
    ensure(v.size() * sizeof(T), min_bytes);
    if (!v.empty()) CUDA_CHECK(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  void* get() const { return p_; }
  template <class T> T* as() const { return static_cast<T*>(p_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void release() noexcept {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// Two CUDA events, destroyed on every path.  record_start / record_stop on a stream, then ms()
// waits for the stop and returns the milliseconds between them.
class EventPair {
 public:
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start_));
    if (const cudaError_t e = cudaEventCreate(&stop_); e != cudaSuccess) {
      cudaEventDestroy(start_);
      CUDA_CHECK(e);
    }
  }
  ~EventPair() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  void record_start(cudaStream_t s = nullptr) { CUDA_CHECK(cudaEventRecord(start_, s)); }
  void record_stop(cudaStream_t s = nullptr) { CUDA_CHECK(cudaEventRecord(stop_, s)); }
  float ms() const {
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }
  double seconds() const { return ms() * 1e-3; }

 private:
  cudaEvent_t start_{}, stop_{};
};

}  // namespace driftlab::cuda
