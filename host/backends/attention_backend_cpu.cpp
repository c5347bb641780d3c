#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "host/backends/attention_backend.h"
#include "kernels/common/rng.h"
#include "kernels/cpu/attention.h"

namespace driftlab {

std::size_t AttentionInput::kv_floats() const {
  std::size_t tokens = 0;
  for (const std::size_t L : kv_len) tokens += L;
  return tokens * H * d;
}

AttentionInput make_attention_input(std::size_t B, std::size_t H, std::size_t d, const std::vector<std::size_t>& kv_len,
                                    std::uint64_t seed, float q_scale) {
  if (kv_len.size() != B) throw std::invalid_argument("attention input: one KV length per sequence");
  AttentionInput in{B, H, d, kv_len, {}, {}, {}};
  SplitMix64 g(seed);
  auto normal = [&] {
    const double u1 = 1.0 - g.uniform01(), u2 = g.uniform01();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  };
  in.q.resize(B * H * d);
  for (auto& v : in.q) v = q_scale * normal();
  in.K.resize(in.kv_floats());
  in.V.resize(in.kv_floats());
  for (auto& v : in.K) v = normal();
  for (auto& v : in.V) v = normal();
  return in;
}

namespace {
std::size_t seq_offset(const AttentionInput& in, std::size_t b) {  // in floats
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < b; ++i) tokens += in.kv_len[i];
  return tokens * in.H * in.d;
}
}  // namespace

void copy_sequence(const AttentionInput& src, std::size_t from_b, AttentionInput& dst, std::size_t to_b) {
  if (src.H != dst.H || src.d != dst.d || src.kv_len[from_b] != dst.kv_len[to_b])
    throw std::invalid_argument("copy_sequence: shapes differ");
  const std::size_t hd = src.H * src.d, kv = src.kv_len[from_b] * hd;
  std::copy_n(src.q.begin() + static_cast<std::ptrdiff_t>(from_b * hd), hd, dst.q.begin() + static_cast<std::ptrdiff_t>(to_b * hd));
  const auto so = static_cast<std::ptrdiff_t>(seq_offset(src, from_b)), doff = static_cast<std::ptrdiff_t>(seq_offset(dst, to_b));
  std::copy_n(src.K.begin() + so, kv, dst.K.begin() + doff);
  std::copy_n(src.V.begin() + so, kv, dst.V.begin() + doff);
}

std::vector<double> attention_reference(const AttentionInput& in) {
  const std::size_t d = in.d;
  std::vector<double> out(in.B * in.H * d);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (std::size_t b = 0; b < in.B; ++b) {
    const std::size_t L = in.kv_len[b], off = seq_offset(in, b);
    for (std::size_t h = 0; h < in.H; ++h) {
      const float* q = in.q.data() + (b * in.H + h) * d;
      const float* K = in.K.data() + off + h * L * d;
      const float* V = in.V.data() + off + h * L * d;
      std::vector<double> s(L);
      double m = -INFINITY;
      for (std::size_t t = 0; t < L; ++t) {
        double dot = 0;
        for (std::size_t i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * K[t * d + i];
        s[t] = dot * scale;
        m = std::max(m, s[t]);
      }
      double l = 0;
      std::vector<double> acc(d, 0.0);
      for (std::size_t t = 0; t < L; ++t) {
        const double p = std::exp(s[t] - m);
        l += p;
        for (std::size_t i = 0; i < d; ++i) acc[i] += p * V[t * d + i];
      }
      for (std::size_t i = 0; i < d; ++i) out[(b * in.H + h) * d + i] = acc[i] / l;
    }
  }
  return out;
}

namespace {

class CpuAttentionBackend final : public AttentionBackend {
 public:
  explicit CpuAttentionBackend(int threads) : pool_(threads) {}
  std::string name() const override { return "cpu"; }
  std::string device() const override { return cpu_device(static_cast<std::size_t>(pool_.size())); }
  std::string atomic_note(bool shuffle) const override {
    return shuffle ? "atomic order: MODEL -- chunk contributions added in a seeded random order per run, reproducible"
                   : "atomic order: real atomic adds racing on " + std::to_string(pool_.size()) +
                         " threads -- depends on thread timing";
  }
  int num_sms() const override { return attention::kNominalSms; }
  void set_input(const AttentionInput& in) override { in_ = &in; }
  double run(const AttentionCall& c, float* out) override {
    const cpu::AttentionProblem p{in_->q.data(), in_->K.data(), in_->V.data(), in_->B, in_->H, in_->d, in_->kv_len.data()};
    const cpu::AttentionContext ctx{&pool_, c.schedule_seed, c.split_size, attention::kNominalSms};
    const auto t0 = std::chrono::steady_clock::now();
    cpu::attention(c.variant, p, out, ctx);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  cpu::ThreadPool pool_;
  const AttentionInput* in_ = nullptr;
};

}  // namespace

std::unique_ptr<AttentionBackend> make_cpu_attention_backend(int threads) {
  return std::make_unique<CpuAttentionBackend>(threads);
}

#if !DRIFTLAB_HAVE_CUDA
std::unique_ptr<AttentionBackend> make_cuda_attention_backend() {
  throw BackendError("--backend cuda: this driftlab was built without CUDA (configure with -DDRIFTLAB_CUDA=ON)");
}
#endif

}  // namespace driftlab
