// The CUDA backend: uploads the input once, sizes scratch outside the timed region, times each
// run with cudaEvents around the launches.
#include <cuda_runtime_api.h>

#include "host/backends/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/sum.cuh"
#include "host/backends/gpu.h"

namespace driftlab {
namespace {

using cuda::DeviceBuffer;

class CudaBackend final : public SumBackend {
 public:
  std::string name() const override { return "cuda"; }
  std::string device() const override { return gpu_status().name; }
  bool has(SumVariant v) const override { return cuda::has_sum_variant(v); }
  std::string atomic_note() const override {
    return "atomic order: float atomics on the GPU -- the order is whatever the memory system serialises";
  }

  void set_input(const HostArray& input) override {
    dtype_ = input.dtype;
    n_ = input.size();
    const std::size_t bytes = n_ * dtype_size(dtype_);
    std::size_t free_bytes = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
    if (bytes > free_bytes)
      throw BackendError("n = " + std::to_string(n_) + " needs " + std::to_string(bytes >> 20) + " MiB on the GPU; " +
                         std::to_string(free_bytes >> 20) + " MiB are free");
    d_in_ = DeviceBuffer(bytes);
    if (bytes) CUDA_CHECK(cudaMemcpy(d_in_.get(), input.data(), bytes, cudaMemcpyHostToDevice));
    d_out_ = DeviceBuffer(sizeof(double));
    std::size_t temp = 0;
    for (const auto& i : kSumVariants)
      if (has(i.variant)) temp = std::max(temp, temp_bytes(i.variant));
    d_temp_ = DeviceBuffer(temp);
  }

  SumRun run(SumVariant v, std::uint64_t) override {
    if (!has(v)) throw BackendError(std::string("variant '") + info(v).name + "' is not a cuda variant");
    SumRun r;
    events_.record_start();
    switch (dtype_) {
      case DType::f32:
        CUDA_CHECK(cuda::sum<float>(v, static_cast<const float*>(d_in_.get()), n_, static_cast<float*>(d_out_.get()),
                                    d_temp_.get(), d_temp_.bytes(), nullptr));
        break;
      case DType::f64:
        CUDA_CHECK(cuda::sum<double>(v, static_cast<const double*>(d_in_.get()), n_, static_cast<double*>(d_out_.get()),
                                     d_temp_.get(), d_temp_.bytes(), nullptr));
        break;
      case DType::bf16:  // 16-bit input, float32 result
        CUDA_CHECK(cuda::sum_half<bf16>(v, static_cast<const bf16*>(d_in_.get()), n_, static_cast<float*>(d_out_.get()),
                                        d_temp_.get(), d_temp_.bytes(), nullptr));
        break;
      case DType::f16:
        CUDA_CHECK(cuda::sum_half<f16>(v, static_cast<const f16*>(d_in_.get()), n_, static_cast<float*>(d_out_.get()),
                                       d_temp_.get(), d_temp_.bytes(), nullptr));
        break;
    }
    events_.record_stop();
    const float ms = events_.ms();
    r.ms = ms;
    if (dtype_ != DType::f64) {  // f32, and the float32 result of a 16-bit input
      std::uint32_t b = 0;
      CUDA_CHECK(cudaMemcpy(&b, d_out_.get(), sizeof b, cudaMemcpyDeviceToHost));
      r.bits = b;
    } else {
      CUDA_CHECK(cudaMemcpy(&r.bits, d_out_.get(), sizeof r.bits, cudaMemcpyDeviceToHost));
    }
    return r;
  }

  std::string vendor() const override { return "cub"; }
  std::size_t temp_bytes(SumVariant v) const {
    switch (dtype_) {
      case DType::f32: return cuda::sum_temp_bytes<float>(v, n_);
      case DType::f64: return cuda::sum_temp_bytes<double>(v, n_);
      case DType::bf16: return cuda::sum_half_temp_bytes<bf16>(v, n_);
      case DType::f16: return cuda::sum_half_temp_bytes<f16>(v, n_);
    }
    return 0;
  }
  double vendor_run_ms() override { return run(SumVariant::cub, 0).ms; }

 private:
  cuda::EventPair events_;  // around the timed launches
  DType dtype_ = DType::f32;
  std::size_t n_ = 0;
  DeviceBuffer d_in_, d_out_, d_temp_;
};

}  // namespace

std::unique_ptr<SumBackend> make_cuda_backend() {
  const GpuStatus& s = gpu_status();
  if (!s.usable) throw BackendError("--backend cuda: " + s.reason);
  try {
    return std::make_unique<CudaBackend>();
  } catch (const cuda::CudaError& e) {
    throw BackendError(std::string("--backend cuda: ") + e.what());
  }
}

}  // namespace driftlab
