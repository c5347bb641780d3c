// `driftlab report`'s steps that run other programs: driftlab_bench (or the --bench-json it was
// given) and the figures (plots/plot.py, plots/plot_trace.py).
#include <string>
#include <vector>

#include "host/io/input_file.h"
#include "host/report/report_run.h"

namespace driftlab::report_parts {

// 8. benchmarks
void ReportRun::benchmarks(const Progress&) {
  const fs::path bench = fs::path(self_dir()) / "driftlab_bench";
  const std::string filter = report_bench_filter(backend, o.quick), min_time = o.quick ? "0.05" : "0.3";
  if (!o.bench_json.empty()) {  // timed once already (the GPU check): reuse, never time twice
    // Checked up front (a regular, non-empty file); read through the same check again here.
    save_text(dir / "bench.json", read_input_file(o.bench_json, "--bench-json", std::uint64_t(1) << 30, true));
  } else if (!fs::exists(bench)) {
    bench_note = "driftlab_bench was not found next to driftlab (" + bench.string() + "); no benchmarks ran.";
  } else {
    // The benchmark writes a hidden file beside bench.json, renamed over it only when the run
    // succeeded: a failed run leaves the previous bench.json as it was.
    const fs::path bench_tmp = dir / ".bench.json.tmp";
    std::vector<std::string> args = {bench.string(), "--benchmark_filter=" + filter, "--benchmark_min_time=" + min_time,
                                     "--benchmark_out=" + bench_tmp.string(), "--benchmark_out_format=json"};
    if (!o.quick) args.insert(args.end(), {"--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"});
    const int rc = run_program(args, (dir / "bench.log").string());
    bench_note = rc == 0 ? "" : "driftlab_bench exited with status " + std::to_string(rc) + " (see bench.log).";
    std::error_code ec;
    if (rc == 0 && (!fs::is_regular_file(bench_tmp, ec) || fs::file_size(bench_tmp, ec) == 0))
      bench_note = "driftlab_bench exited with status 0 but wrote no bench.json (see bench.log).";
    if (bench_note.empty()) fs::rename(bench_tmp, dir / "bench.json");  // throws, with the paths, on failure
    fs::remove(bench_tmp, ec);
  }
}

// 9. figures
void ReportRun::figures(const Progress&) {
  // plots/plot.py one folder above the binary (the GPU kit: kit/bin/driftlab, kit/plots/plot.py),
  // else in the source tree it was built from.
  const fs::path beside = fs::path(self_dir()).parent_path() / "plots" / "plot.py";
  const fs::path source(DRIFTLAB_SOURCE_DIR);
  const fs::path script = fs::exists(beside) ? beside : source / "plots" / "plot.py";
  const fs::path venv_python = source / ".venv" / "bin" / "python";
  const std::string python = fs::exists(venv_python) ? venv_python.string() : "python3";
  const int rc = run_program({python, script.string(), "--in", dir.string(), "--out",
                              (dir / "plots").string()},
                             (dir / "plots.log").string());
  if (rc != 0)
    plot_note = "The figures could not be drawn (" + python + " plots/plot.py exited with " + std::to_string(rc) +
                "; see plots.log; scripts/setup.sh installs matplotlib).";
  // The trace figure: plots/plot_trace.py beside plot.py, over the trace JSON of step 6.
  std::vector<std::string> targs = {python, (script.parent_path() / "plot_trace.py").string(), (dir / "plots").string()};
  for (const fs::path& f : trace_files) targs.push_back(f.string());
  const int trc = run_program(targs, (dir / "plot_trace.log").string());
  if (trc != 0 && plot_note.empty())
    plot_note = "The trace figure could not be drawn (" + python + " plots/plot_trace.py exited with " +
                std::to_string(trc) + "; see plot_trace.log).";
}

}  // namespace driftlab::report_parts
