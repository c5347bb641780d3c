// The CUDA attention backend: the input uploaded once, scratch sized outside the timed region,
// each run timed with cudaEvents around the launches.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "host/backends/attention_backend.h"
#include "kernels/common/attention_order.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/launch.h"
#include "host/backends/gpu.h"

namespace driftlab {
namespace {

// Scratch and inputs: at least 4 bytes allocated, whatever the request.
struct DeviceBytes : cuda::DeviceBuffer {
  void ensure(std::size_t n) { DeviceBuffer::ensure(n, 4); }
  template <class T> void upload(const std::vector<T>& v) { DeviceBuffer::upload(v, 4); }
};

class CudaAttentionBackend final : public AttentionBackend {
 public:
  CudaAttentionBackend() {
    sms_ = cuda::sm_count();  // the current device's, as the sum and dense launches read it
    if (sms_ < 1) throw std::runtime_error("CUDA: the current device's SM count could not be read");
  }
  std::string name() const override { return "cuda"; }
  std::string device() const override { return gpu_status().name; }
  std::string atomic_note(bool) const override {
    return "atomic order: float atomics on the GPU -- the order is whatever the memory system serialises";
  }
  int num_sms() const override { return sms_; }
  void set_input(const AttentionInput& in) override {
    check_shared_memory(in.d);
    in_ = &in;
    q_.upload(in.q);
    K_.upload(in.K);
    V_.upload(in.V);
    std::vector<unsigned long long> len(in.B), off(in.B);
    unsigned long long o = 0;
    for (std::size_t b = 0; b < in.B; ++b) {
      len[b] = in.kv_len[b];
      off[b] = o;
      o += in.kv_len[b];
    }
    len_.upload(len);
    off_.upload(off);
    out_.ensure(in.B * in.H * in.d * sizeof(float));
  }
  double run(const AttentionCall& c, float* out) override {
    const std::size_t max_len = *std::max_element(in_->kv_len.begin(), in_->kv_len.end());
    cuda::AttentionDeviceArgs a;
    a.d_q = q_.as<float>();
    a.d_K = K_.as<float>();
    a.d_V = V_.as<float>();
    a.d_kv_len = len_.as<unsigned long long>();
    a.d_kv_off = off_.as<unsigned long long>();
    a.B = in_->B;
    a.H = in_->H;
    a.d = in_->d;
    a.chunk = attention::plan_chunk(c.variant, in_->B, in_->H, in_->d, max_len, c.split_size, sms_);
    a.max_chunks = 1;
    for (const std::size_t L : in_->kv_len) a.max_chunks = std::max(a.max_chunks, attention::num_chunks(a.chunk, L));
    const std::size_t temp = cuda::attention_temp_bytes(c.variant, a.B, a.H, a.d, a.max_chunks);
    temp_.ensure(temp);
    events_.record_start();
    CUDA_CHECK(cuda::attention(c.variant, a, out_.as<float>(), temp_.get(), temp_.bytes(), nullptr));
    events_.record_stop();
    const float ms = events_.ms();
    CUDA_CHECK(cudaMemcpy(out, out_.get(), in_->B * in_->H * in_->d * sizeof(float), cudaMemcpyDeviceToHost));
    return ms;
  }

 private:
  // The block's shared memory (attention::block::smem) grows with d: 133 KiB at d = 256, more than
  // GPUs of compute capability 8.6, 8.9 and 12.0 let a block have (about 99 KiB).  Said before any
  // upload, with the largest d this GPU takes, rather than as the opt-in's bare CUDA error.
  static void check_shared_memory(std::size_t d) {
    const std::size_t limit = cuda::max_dynamic_smem();
    if (limit == 0 || d == 0 || d > attention::kMaxHeadDim || d <= attention::block::max_head_dim(limit)) return;
    throw std::runtime_error("attention: head dim " + std::to_string(d) + " needs " +
                             std::to_string(attention::block::smem(d).end * sizeof(float)) +
                             " bytes of shared memory a block; this GPU allows " + std::to_string(limit) + " (head dims up to " +
                             std::to_string(attention::block::max_head_dim(limit)) + "; --backend cpu has no such limit)");
  }
  int sms_ = 0;
  cuda::EventPair events_;  // around the timed launches
  const AttentionInput* in_ = nullptr;
  DeviceBytes q_, K_, V_, len_, off_, out_, temp_;
};

}  // namespace

std::unique_ptr<AttentionBackend> make_cuda_attention_backend() {
  const GpuStatus& s = gpu_status();
  if (!s.usable) throw BackendError("--backend cuda: " + s.reason);
  try {
    return std::make_unique<CudaAttentionBackend>();
  } catch (const cuda::CudaError& e) {
    throw BackendError(std::string("--backend cuda: ") + e.what());
  }
}

}  // namespace driftlab
