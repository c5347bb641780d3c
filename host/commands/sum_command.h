// `driftlab sum`: run summation variants many times on one input and measure their drift.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/io/array.h"
#include "kernels/common/sum_variant.h"
#include "host/io/data.h"
#include "host/metrics/metrics.h"

namespace driftlab {

struct SumArgs {
  std::size_t n = std::size_t(1) << 22;
  bool n_given = false;
  std::string variant = "all";
  std::string backend = "auto";  // cpu, cuda, auto (cuda when a GPU is usable)
  std::size_t runs = 20;
  DType dtype = DType::f32;
  bool dtype_given = false;
  Dist dist = Dist::uniform;
  std::uint64_t seed = 1;
  std::optional<std::string> input;  // .npy file
  int threads = 0;
  std::optional<std::uint64_t> shuffle_seed;
  std::optional<std::string> json;
  bool help = false;
};

SumArgs parse_sum_args(std::span<const std::string_view> args);  // throws UsageError
extern const std::string kSumHelp;

struct SumRow {
  SumVariant variant;
  Drift drift;
  double median_ms = 0;
  double gbps = 0;
  std::optional<double> cost_vs_atomic;  // median time / atomic's, with --variant all
  std::vector<std::int64_t> ulp_from_exact;  // per run: ordered(result) - ordered(exact)
  std::optional<double> cost_vs_vendor;  // median time / the vendor baseline's (SumReport::vendor)
};

struct SumReport {
  std::string backend, device, atomic_note;
  DType dtype = DType::f32;
  std::size_t n = 0, runs = 0;
  std::string input;  // distribution and seed, or the file
  std::string dist;   // uniform, normal, illcond, or "file"
  std::string conversion;  // 16-bit input made from float32 by rounding (nearest even): how; else ""
  std::uint64_t exact_bits = 0;
  std::string vendor;  // the baseline of cost_vs_vendor: read_probe (cpu) or cub (cuda)
  std::vector<SumRow> rows;
};

SumReport run_sum(const SumArgs& args);
void print_sum_table(const SumReport& r, std::ostream& out);
void write_sum_json(const SumReport& r, std::ostream& out);

// Entry point: parses, runs, prints; errors propagate as exceptions (the CLI reports them).
int sum_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
