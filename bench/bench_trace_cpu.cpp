// What `driftlab trace` costs (issue 11: at most 2x the two predict calls it compares), as pairs
// of benchmarks on one prepared trace (TraceRun, host/commands/trace_command.h):
//   trace/cpu/<shape>/<compare>/<variant>/batch:<B>/plain    the two plain predict calls
//   trace/cpu/<shape>/<compare>/<variant>/batch:<B>/traced   the two traced calls and the comparison
// The ratio traced / plain is the cost; run both in one process with interleaved repetitions:
//   driftlab_bench --benchmark_filter='^trace/' --benchmark_repetitions=5
//                  --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// (for compare batch:A,B, <B> is "A,B").  Each trace is built once, the first time one of its two
// benchmarks runs, and both time the same sides on the same backends.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_common.h"
#include "host/commands/trace_command.h"

namespace driftlab::bench {
namespace {

struct TraceCase {
  const char* shape;    // --layers
  const char* compare;  // --compare KIND:A,B
  const char* variant;  // --variant ("" with variant:A,B)
  const char* batch;    // --batch ("" with batch:A,B)
  bool training;        // --training --dropout 0.2 --dropout-seed 3
};

// The article's tiny model, where a plain call is well under a microsecond at batch 1 (the fixed
// costs of tracing show), and the wide one, where the layers dominate.
constexpr TraceCase kCases[] = {
    {"10,20,10", "variant:tree,invariant", "", "1", false},
    {"10,20,10", "dtype:f32,bf16", "invariant", "1", false},
    {"10,20,10", "batch:1,64", "tree", "", false},
    {"10,20,10", "dtype:f32,bf16", "invariant", "64", false},
    {"10,20,10", "dtype:f32,bf16", "invariant", "64", true},
    {"10,20,10", "runs:0,1", "atomic", "64", true},
    {"784,4096,4096,10", "batch:1,64", "tree", "", false},
    {"784,4096,4096,10", "dtype:f32,bf16", "invariant", "64", false},
};

std::string shape_text(std::string s) {
  for (char& c : s)
    if (c == ',') c = '-';
  return s;
}

std::string case_name(const TraceCase& c) {
  const std::string_view cmp = c.compare;
  const std::string batch = *c.batch ? c.batch : std::string(cmp.substr(cmp.find(':') + 1));
  return "trace/cpu/" + shape_text(c.shape) + "/" + c.compare + "/" + (*c.variant ? c.variant : "-") + "/batch:" + batch +
         (c.training ? "/training" : "");
}

TraceRun& cached_run(const TraceCase& c) {
  static std::map<std::string, std::unique_ptr<TraceRun>> cache;
  std::unique_ptr<TraceRun>& r = cache[case_name(c)];
  if (!r) {
    std::vector<std::string> args = {"--backend", "cpu", "--layers", c.shape, "--init-seed", "1", "--compare", c.compare};
    if (*c.variant) args.insert(args.end(), {"--variant", c.variant});
    if (*c.batch) args.insert(args.end(), {"--batch", c.batch});
    if (c.training) args.insert(args.end(), {"--dropout", "0.2", "--training", "--dropout-seed", "3"});
    const std::vector<std::string_view> views(args.begin(), args.end());
    r = std::make_unique<TraceRun>(parse_trace_args(views));
  }
  return *r;
}

void run_plain(benchmark::State& s, const TraceCase& c) {
  TraceRun& r = cached_run(c);
  for (auto _ : s) r.plain();
}

void run_traced(benchmark::State& s, const TraceCase& c) {
  TraceRun& r = cached_run(c);
  TraceReport rep = r.header();
  for (auto _ : s) {
    r.traced(rep);
    benchmark::DoNotOptimize(rep.rows.data());
  }
  s.counters["stages"] = static_cast<double>(rep.rows.size());
}

}  // namespace

void register_cpu_trace_benchmarks() {
  for (const TraceCase& c : kCases) {
    const std::string name = case_name(c);
    for (const bool traced : {false, true}) {
      auto* b = register_cpu(name + (traced ? "/traced" : "/plain"),
                                             [c, traced](benchmark::State& s) { traced ? run_traced(s, c) : run_plain(s, c); });
      b->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
  }
}

}  // namespace driftlab::bench
