#include <chrono>
#include <fstream>

#include "host/backends/backend.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/sum.h"

namespace driftlab {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

std::string cpu_device(std::size_t threads) {
  return cpu_model() + ", " + std::to_string(threads) + " threads, " + cpu::isa_name(cpu::isa_level()) + " kernels";
}

namespace {

class CpuBackend final : public SumBackend {
 public:
  explicit CpuBackend(const CpuOptions& o) : opts_(o), pool_(o.threads) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override { return cpu_device(static_cast<std::size_t>(pool_.size())); }
  bool has(SumVariant v) const override { return !cuda_only(v); }
  std::string atomic_note() const override {
    if (opts_.shuffle_seed)
      return "atomic order: MODEL -- block completions replayed in a seeded random order (shuffle:" +
             std::to_string(*opts_.shuffle_seed) + "), reproducible";
    return "atomic order: real atomic adds racing on " + std::to_string(pool_.size()) +
           " threads -- depends on thread timing";
  }
  void set_input(const HostArray& input) override { input_ = &input; }

  SumRun run(SumVariant v, std::uint64_t run_index) override {
    if (!input_) throw BackendError("cpu backend: no input set");
    cpu::SumContext ctx{&pool_, std::nullopt};
    if (opts_.shuffle_seed) ctx.shuffle_seed = mix_seed(*opts_.shuffle_seed, run_index);
    SumRun r;
    const auto t0 = std::chrono::steady_clock::now();
    const auto* u16 = input_->u16.data();
    const std::size_t n = input_->size();
    switch (input_->dtype) {
      case DType::f32: r.bits = to_bits(cpu::sum(v, input_->f32.data(), n, ctx)); break;
      case DType::f64: r.bits = to_bits(cpu::sum(v, input_->f64.data(), n, ctx)); break;
      // 16-bit inputs: a float32 result (the bits of a float).
      case DType::bf16: r.bits = to_bits(cpu::sum_half(v, reinterpret_cast<const bf16*>(u16), n, ctx)); break;
      case DType::f16: r.bits = to_bits(cpu::sum_half(v, reinterpret_cast<const f16*>(u16), n, ctx)); break;
    }
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

  std::string vendor() const override { return "read_probe"; }
  double vendor_run_ms() override {
    const cpu::SumContext ctx{&pool_, std::nullopt};
    const auto t0 = std::chrono::steady_clock::now();
    const auto* u16 = input_->u16.data();
    volatile std::uint64_t sink =
        input_->dtype == DType::f32    ? cpu::read_probe(input_->f32.data(), input_->f32.size(), ctx)
        : input_->dtype == DType::f64  ? cpu::read_probe(input_->f64.data(), input_->f64.size(), ctx)
        : input_->dtype == DType::bf16 ? cpu::read_probe_half(reinterpret_cast<const bf16*>(u16), input_->u16.size(), ctx)
                                       : cpu::read_probe_half(reinterpret_cast<const f16*>(u16), input_->u16.size(), ctx);
    (void)sink;
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  CpuOptions opts_;
  cpu::ThreadPool pool_;
  const HostArray* input_ = nullptr;
};

}  // namespace

std::unique_ptr<SumBackend> make_cpu_backend(const CpuOptions& opts) { return std::make_unique<CpuBackend>(opts); }

#if !DRIFTLAB_HAVE_CUDA
std::unique_ptr<SumBackend> make_cuda_backend() {
  throw BackendError("--backend cuda: this driftlab was built without CUDA (configure with -DDRIFTLAB_CUDA=ON)");
}
#endif

}  // namespace driftlab
