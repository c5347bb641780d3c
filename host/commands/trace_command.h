// `driftlab trace`: the same model and input under two configurations, every layer's output
// compared at every stage (matmul, bias_act, dropout, round), and the first layer and stage whose
// bits differ -- where the drift starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/backends/model_backend.h"
#include "host/commands/predict_command.h"

namespace driftlab {

// What the two sides of a comparison differ in (dtype: the storage type, f32, bf16 or f16, whose
// 16-bit side adds a `round` TraceStage).
enum class TraceKind { batch, runs, threads, variant, backend, dtype };

struct TraceArgs {
  PredictArgs model;        // the model, input and run flags, parsed by predict's parser
  TraceKind kind = TraceKind::batch;
  std::string a, b;         // the two sides as written after KIND:
  std::string variant = "tree";
  std::size_t row = 0;      // batch: the row compared (alone vs inside the batch)
  std::optional<std::string> json;
  bool help = false;
};

TraceArgs parse_trace_args(std::span<const std::string_view> args);  // throws UsageError
extern const std::string kTraceHelp;

// One layer's stage, side A against side B.
struct StageDiff {
  std::size_t layer = 0;
  TraceStage stage{};
  std::size_t elements = 0;
  std::size_t differ = 0;        // elements whose bits differ
  std::size_t sign_changes = 0;  // elements whose sign (-, 0, +) differs (their ULPs count from or through 0)
  std::uint64_t max_ulp = 0;     // kUnorderedUlp when exactly one of a pair is NaN
  double frac_differ = 0;        // elements whose bits differ / elements
  double max_rel_diff = 0;       // max |a - b| / max |a| (the layer's scale; max |b| if A is all 0)
  std::optional<std::size_t> first_index;  // the first element whose bits differ
};
StageDiff compare_stage(std::span<const float> a, std::span<const float> b);

struct Divergence {
  std::size_t layer = 0;
  TraceStage stage{};
  std::size_t index = 0;  // element of the compared [rows x N] (batch: row R's N elements)
  std::size_t width = 0;  // N, to name the row and column
  float a = 0, b = 0;
};

struct TraceSide {
  std::string label;                 // "batch 1", "call 0", "tree", "cpu", "2 threads"
  std::string backend, device;
  std::string variant;
  std::size_t batch = 0;
  std::vector<std::size_t> slices;   // split-K S per layer (atomic, tree)
};

struct TraceReport {
  std::string model, origin, compare, variant, seeds;
  std::string dtype = "f32";         // both sides' (--dtype), or "A vs B" (dtype:A,B)
  std::string ulp_unit = "f32";      // max_ulp's unit: float32 ULPs, 16-bit values widened
  std::optional<std::size_t> row;    // batch: the row compared
  TraceSide a, b;
  std::vector<StageDiff> rows;       // per layer, per stage, in order
  std::optional<Divergence> first;
  std::vector<float> final_a, final_b;  // the last layer's last stage of each side, as compared
  // Wall times, each the median over timing_reps interleaved repetitions (1 for calls of 20 ms and up):
  double predict_ms = 0;             // one plain predict call per side, summed
  double trace_ms = 0;               // the two traced calls and the comparison
  std::size_t timing_reps = 0;
};

// The warm-up call's number: predict's, one no compared call uses (--compare runs:A,B refuses it).
inline constexpr std::uint64_t kWarmupCall = std::uint64_t(1) << 40;

// A trace set up: model, input, both sides' backends, each warmed up (a plain and a traced call).
// run_trace times plain() against traced(); bench/bench_trace_cpu.cpp times the same two calls.
class TraceRun {
 public:
  explicit TraceRun(const TraceArgs& args);  // throws UsageError, BackendError
  ~TraceRun();
  TraceRun(const TraceRun&) = delete;
  TraceRun& operator=(const TraceRun&) = delete;
  void plain();                    // the two plain predict calls
  void traced(TraceReport& rep);   // the two traced calls and the comparison: rep's rows, first, final_a/b
  const TraceReport& header() const;  // model, sides, seeds; no rows, no times
 private:
  struct State;
  std::unique_ptr<State> st_;
};

TraceReport run_trace(const TraceArgs& args);
void print_trace_table(const TraceReport& r, std::ostream& out);
void write_trace_json(const TraceReport& r, std::ostream& out);

int trace_main(std::span<const std::string_view> args, std::ostream& out);

}  // namespace driftlab
