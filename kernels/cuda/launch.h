// Per-device launch facts, asked of the driver once and kept (host code, for the .cu files): the
// SM count, and a kernel's opt-in to more than the default 48 KiB of dynamic shared memory.  Not
// asked again on every launch: launches run inside timed regions, where host time counts.
// Neither changes an order: the SM count sizes grids (sum) and picks between kernels that run
// the same chains (dense's skinny::launch and rows_fit).
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace driftlab::cuda {

inline constexpr int kMaxDevices = 64;
inline constexpr std::size_t kDefaultDynamicSmem = 48 * 1024;

// `ask(device)` for the current device, asked once per device and kept in `cache`: a positive value,
// or 0 when it cannot be read (the failed query's error is cleared, so that the launch after it
// reports its own).  `ask` returns 0 on failure.
template <class Ask> int once_per_device(std::atomic<int> (&cache)[kMaxDevices], Ask ask) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) {
    (void)cudaGetLastError();
    return 0;
  }
  if (const int kept = cache[device].load(std::memory_order_relaxed); kept > 0) return kept;
  const int value = ask(device);
  if (value < 1) {
    (void)cudaGetLastError();
    return 0;
  }
  cache[device].store(value, std::memory_order_relaxed);
  return value;
}

// An attribute of the current device, asked once per device and kept; 0 when it cannot be read.
template <cudaDeviceAttr kAttr> int device_attribute() {
  static std::atomic<int> cached[kMaxDevices] = {};
  return once_per_device(cached, [](int device) {
    int value = 0;
    return cudaDeviceGetAttribute(&value, kAttr, device) == cudaSuccess ? value : 0;
  });
}

// The current device's SM count; 0 when it cannot be read.
inline int sm_count() { return device_attribute<cudaDevAttrMultiProcessorCount>(); }

// The current device's most dynamic shared memory a block can opt in to (227 KiB on H100/H200,
// 163 KiB on A100, about 99 KiB on sm_86/89/120); 0 when it cannot be read.
inline std::size_t max_dynamic_smem() {
  return static_cast<std::size_t>(device_attribute<cudaDevAttrMaxSharedMemoryPerBlockOptin>());
}

// Lets `kernel` (a __global__ function) use `bytes` of dynamic shared memory on the current device:
// nothing at or under the default 48 KiB; above it, cudaFuncSetAttribute once per kernel, device and
// new maximum, under a lock (so that two threads never leave a smaller maximum than the one kept).
inline cudaError_t allow_dynamic_smem(const void* kernel, std::size_t bytes) {
  if (bytes <= kDefaultDynamicSmem) return cudaSuccess;
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  struct Allowed {
    const void* kernel;
    int device;
    std::size_t bytes;
  };
  static std::mutex mu;
  static std::vector<Allowed> allowed;
  const std::lock_guard<std::mutex> lock(mu);
  Allowed* found = nullptr;
  for (Allowed& a : allowed)
    if (a.kernel == kernel && a.device == device) found = &a;
  if (found && found->bytes >= bytes) return cudaSuccess;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e != cudaSuccess) return e;
  if (found)
    found->bytes = bytes;
  else
    allowed.push_back({kernel, device, bytes});
  return cudaSuccess;
}
template <class... Args> cudaError_t allow_dynamic_smem(void (*kernel)(Args...), std::size_t bytes) {
  return allow_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
}

// How many blocks of `kernel` (launched with `threads` and `smem` bytes of dynamic shared memory,
// already allowed) an SM of the current device holds, at most `wanted`: asked of the occupancy
// calculator once per device (once_per_device, `cache`: one per kernel and launch shape); `wanted`
// when it cannot be read.  A kernel sized for sm_90's 228 KiB of shared memory an SM holds fewer blocks on
// sm_80 (164 KiB) and sm_86/89/120 (100 KiB): a grid of `wanted` x SMs would run a second, partial wave.
inline int resident_blocks(std::atomic<int> (&cache)[kMaxDevices], const void* kernel, int threads, std::size_t smem,
                           int wanted) {
  const int blocks = once_per_device(cache, [&](int) {
    int value = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&value, kernel, threads, smem) == cudaSuccess ? value : 0;
  });
  return blocks < 1 ? wanted : (blocks < wanted ? blocks : wanted);
}

}  // namespace driftlab::cuda
