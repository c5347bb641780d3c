// Backends that run one attention-decode step (every variant), its inputs, and the float64
// reference every variant is measured against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/backends/backend.h"
#include "kernels/common/attention_variant.h"

namespace driftlab {

// One decode step on the host (layout: kernels/common/attention_order.h).
struct AttentionInput {
  std::size_t B = 0, H = 0, d = 0;
  std::vector<std::size_t> kv_len;  // [B], each >= 1
  std::vector<float> q, K, V;
  std::size_t kv_floats() const;    // floats in K (= in V)
};

// q, K, V standard normal from `seed` (q times `q_scale`: large logits for the stability tests).
AttentionInput make_attention_input(std::size_t B, std::size_t H, std::size_t d, const std::vector<std::size_t>& kv_len,
                                    std::uint64_t seed, float q_scale = 1.0f);
// Sequence `from_b` of `src` copied into sequence `to_b` of `dst` (same H, d and length there).
void copy_sequence(const AttentionInput& src, std::size_t from_b, AttentionInput& dst, std::size_t to_b);

// out [B][H][d] in float64: exact scores, max-shifted exp, one division.
std::vector<double> attention_reference(const AttentionInput& in);

struct AttentionCall {
  AttentionVariant variant = AttentionVariant::single;
  std::size_t split_size = 256;                // fixed_split's chunk
  std::optional<std::uint64_t> schedule_seed;  // cpu: seeded shuffle model of atomic's adds
};

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;
  virtual std::string name() const = 0;
  virtual std::string device() const = 0;
  virtual std::string atomic_note(bool shuffle) const = 0;
  virtual int num_sms() const = 0;  // the SM count split_count plans with (cpu: the nominal one)
  virtual void set_input(const AttentionInput& in) = 0;  // copies or uploads once
  // One call: out [B][H][d]; returns its time in ms (CUDA: device time, cudaEvents; CPU: wall).
  virtual double run(const AttentionCall& c, float* out) = 0;
};

std::unique_ptr<AttentionBackend> make_cpu_attention_backend(int threads);
std::unique_ptr<AttentionBackend> make_cuda_attention_backend();  // throws BackendError without a GPU

}  // namespace driftlab
