// Backends run one summation variant on an input they hold, and say what they are.
// The CPU backend is the reference every other backend is compared with.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "host/io/array.h"
#include "kernels/common/sum_variant.h"

namespace driftlab {

struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SumRun {
  std::uint64_t bits = 0;  // the result's IEEE bits (float: low 32)
  double ms = 0;           // time of this run (GPU: cudaEvents around the launches)
};

class SumBackend {
 public:
  virtual ~SumBackend() = default;
  virtual std::string name() const = 0;    // "cpu" or "cuda"
  virtual std::string device() const = 0;  // what it runs on
  virtual bool has(SumVariant v) const = 0;
  // How the atomic variants' order arises here: real threads, a seeded model, or the GPU.
  virtual std::string atomic_note() const = 0;
  // Takes (copies or uploads) the input once; runs reuse it.
  virtual void set_input(const HostArray& input) = 0;
  // One run of `v`; `run_index` picks the schedule of a seeded shuffle model.
  virtual SumRun run(SumVariant v, std::uint64_t run_index) = 0;
  // The vendor baseline every cost is also given against: the streaming read probe on the CPU
  // (the memory system's ceiling for any sum), CUB's DeviceReduce on CUDA.  One timed run, in ms.
  virtual std::string vendor() const = 0;
  virtual double vendor_run_ms() = 0;
};

struct CpuOptions {
  int threads = 0;                            // 0: every hardware thread
  std::optional<std::uint64_t> shuffle_seed;  // --schedule shuffle:SEED
};

std::unique_ptr<SumBackend> make_cpu_backend(const CpuOptions& opts);
// Throws BackendError with the reason when CUDA is not built in or no GPU is usable.
std::unique_ptr<SumBackend> make_cuda_backend();

std::string cpu_model();
// Every CPU backend's device(): "MODEL, N threads, LEVEL kernels", LEVEL the instruction set its
// kernels run (kernels/cpu/isa.h: the CPU's best, capped by DRIFTLAB_ISA), so that a timing
// names the code that made it.
std::string cpu_device(std::size_t threads);

}  // namespace driftlab
