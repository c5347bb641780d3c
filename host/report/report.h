// `driftlab report`: runs the drift experiments and the benchmarks on the backend at hand, writes
// their JSON (docs/report-files.md), renders the figures (plots/plot.py) and writes REPORT.md.
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace driftlab {

struct ReportOptions {
  std::string out = "driftlab-report";
  std::string backend = "auto";
  bool quick = false;  // within 2 minutes on 2 cores
  int threads = 0;
  bool summary_only = false;  // print the headline tables, not the file list (driftlab with no args)
  std::string bench_json;     // reuse this driftlab_bench JSON instead of timing again (--bench-json)
  std::string keras;           // the Keras cross-check's JSON; empty: DIR/keras_check.json when it exists
};

// The --benchmark_filter the report runs driftlab_bench with: only `backend`'s benchmarks.
std::string report_bench_filter(const std::string& backend, bool quick);

int run_report(const ReportOptions& o, std::ostream& out, std::ostream& progress);
int report_main(std::span<const std::string_view> args, std::ostream& out);
extern const char* const kReportHelp;

}  // namespace driftlab
