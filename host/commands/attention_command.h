// `driftlab attention`: one split-KV attention-decode step run many times per variant; drift of the
// whole output, error against float64, speed (GB/s of K and V), and row 0's bits across batch sizes
// and across the KV lengths of the other sequences in the batch.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/common/attention_variant.h"
#include "host/metrics/metrics.h"

namespace driftlab {

struct AttentionArgs {
  std::size_t batch = 4, heads = 8, head_dim = 128;
  std::vector<std::size_t> kv_lens;  // empty: every sequence kv_len long
  std::size_t kv_len = 1024;
  std::size_t split_size = 256;
  std::string variant = "all";
  std::size_t runs = 5;
  std::vector<std::size_t> batch_sweep = {1, 2, 3, 4, 8, 16};  // empty: no sweep
  std::vector<std::size_t> other_kv_lens;  // empty: {1, 4 * L_0} (capped)
  std::string backend = "auto";
  int threads = 0;
  std::optional<std::uint64_t> shuffle_seed;
  std::optional<std::string> json, save_output;
  std::uint64_t seed = 1;
  bool help = false;
  std::vector<std::size_t> lens() const;  // the KV length of every sequence
};

AttentionArgs parse_attention_args(std::span<const std::string_view> args);  // throws UsageError
extern const std::string kAttentionHelp;

// One point of the batch sweep: row 0 (sequence 0) inside a batch of `batch` sequences whose other
// sequences have KV length `other_kv_len`.
struct SweepPoint {
  std::size_t batch = 1, other_kv_len = 0, chunk = 0;
  std::uint64_t ulp_vs_first = 0;  // row 0's largest ULP distance from the sweep's first point
};

struct AttentionRow {
  AttentionVariant variant{};
  std::size_t chunk = 0;  // C at the command's batch (0: single)
  OutputDrift drift;
  double ref_max_rel_err = 0;
  double median_ms = 0, gbps = 0;
  std::optional<double> cost_vs_atomic;
  std::optional<std::size_t> batch_distinct;
  std::optional<std::uint64_t> batch_max_ulp;
  std::vector<SweepPoint> sweep;
  std::vector<float> first_output;  // run 0's output [B x H x D], kept only for --save-output
};

struct AttentionReport {
  std::string backend, device, atomic_note;
  int num_sms = 0;
  std::size_t batch = 0, heads = 0, head_dim = 0, runs = 0, split_size = 0;
  std::vector<std::size_t> kv_lens, batch_sweep, other_kv_lens;
  double kv_bytes = 0;
  double sweep_kv_bytes = 0;  // K and V of the batch sweep's largest point (0: no sweep)
  std::vector<AttentionRow> rows;
};

AttentionReport run_attention(const AttentionArgs& a);
void print_attention_table(const AttentionReport& r, std::ostream& out);
void write_attention_json(const AttentionReport& r, std::ostream& out);

int attention_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
