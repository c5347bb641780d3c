// `driftlab report`: the flags, the table of steps (name, estimated seconds, run function) and the
// run that checks DIR, runs the steps in order and publishes their files.  The steps and the
// files they share are in report_run.h (one file per responsibility, listed there).
#include "host/report/report.h"

#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "host/backends/backend.h"
#include "host/backends/gpu.h"
#include "host/common/cli_args.h"
#include "host/io/atomic_file.h"
#include "host/io/input_file.h"
#include "host/io/json_read.h"
#include "host/report/report_run.h"
#include "host/scenarios/scenarios.h"

namespace driftlab {

const char* const kReportHelp = R"(usage: driftlab report [--out DIR] [--quick] [--backend cpu|cuda|auto] [--threads T]
                       [--bench-json FILE] [--keras FILE]

Runs the drift experiments (summation across n and distributions, atomic results against the
exact sum, batch invariance, predict, the article's scenarios) and the benchmarks on the backend
at hand; writes their JSON under DIR (default driftlab-report), renders the figures into
DIR/plots with plots/plot.py (matplotlib; scripts/setup.sh installs it) and writes DIR/REPORT.md
with the headline tables, the figures and a description of the machine.

  --quick   a small run: under a minute on 2 CPU cores (30-45 s on a 2-core Xeon)
  (full)    sized for a GPU machine: several minutes there, longer on a CPU; it says how long
  --bench-json FILE
            take the benchmarks from FILE (driftlab_bench's JSON, e.g. from the GPU check)
            instead of timing them again
  --keras FILE  the Keras cross-check (scripts/keras_check.py --out FILE) to set beside the
            scenarios' verdicts; default DIR/keras_check.json when that file exists
)";

std::string report_bench_filter(const std::string& be, bool quick) {
  // Figures draw uniform f32/f64 input (16-bit sums have their own names: sum/<be>/bf16|f16/...).
  if (!quick) return "^sum/" + be + "/(f32|f64)/uniform/|^(dense|predict)/" + be + "/";
  const bool cuda = be == "cuda";
  const std::string sum_base = cuda ? "d2d_copy|cub|thrust" : "read_probe|serial", dense_base = cuda ? "cublas" : "openblas";
  return "^sum/" + be + "/f32/uniform/(" + sum_base + "|atomic_element|atomic|tree|exact)/"
         "(1024|4096|16384|65536|262144|1048576|4194304)/|"
         "^dense/" + be + "/(" + dense_base + "|atomic|tree|invariant)/B:(1|4|16|64|256|1024)/K:10/|"
         "^dense/" + be + "/(" + dense_base + "|atomic|tree|invariant)/B:(1|16)/K:4096/|"
         "^predict/" + be + "/10-20-10/.*/batch:(1|64|4096)/";
}

using namespace report_parts;

namespace {

// The steps in order: name, planned seconds (quick; full on the cpu backend; full on cuda) and
// what runs.  Quick and full-CPU seconds as measured on the 2-core development VM; the full GPU
// run is an estimate (no GPU run has timed it yet).  (predict includes the bf16 model's runs of
// issue 11: about 2 s quick, 10 s full on the CPU; trace: three comparisons on the
// batch-invariance model, about 1 s quick, 5 s full on the CPU; the all-reduce: five mpirun
// launches, about 3 s whatever the size, which the scenarios' all-reduce row spends again;
// tensor parallelism: five more mpirun launches of predict --tp, about 2-3 s, spent again by the
// scenarios' tp_ranks row.)
struct Step {
  const char* name;
  double quick, cpu, cuda;
  void (ReportRun::*run)(const Progress&);
};
constexpr Step kSteps[] = {
    {"machine description", 0.2, 0.2, 0.2, &ReportRun::machine},
    {"summation drift across n and distributions", 2, 8, 30, &ReportRun::sum_drift},
    {"atomic results against the exact sum (histogram)", 1, 8, 20, &ReportRun::ulp_histogram},
    {"batch invariance", 2, 6, 10, &ReportRun::batch_inv},
    {"predict", 2.5, 11, 4, &ReportRun::predict},
    {"where the bits start to move (trace)", 1, 5, 5, &ReportRun::trace},
    {"the all-reduce across rank counts", 3, 3.5, 3.5, &ReportRun::allreduce},
    {"tensor parallelism across TP sizes", 3, 3.5, 3.5, &ReportRun::tp},
    {"the article's scenarios", 16, 126, 36, &ReportRun::scenarios},
    {"benchmarks (driftlab_bench)", 5, 320, 240, &ReportRun::benchmarks},
    {"figures (plots/plot.py)", 8, 11, 11, &ReportRun::figures},
    {"REPORT.md", 0.2, 0.2, 0.2, &ReportRun::report_md},
};

}  // namespace

int run_report(const ReportOptions& o, std::ostream& out, std::ostream& progress) {
  const bool cuda = use_cuda(o.backend);
  if (o.backend == "cuda" && !gpu_status().usable) throw BackendError("--backend cuda: " + gpu_status().reason);
  const std::string backend = cuda ? "cuda" : "cpu";
  const fs::path out_dir(o.out);
  // Everything that can refuse the report is checked before DIR is created: a refused report
  // leaves no DIR behind, and says why in one line on stderr.
  if (!o.bench_json.empty()) {
    // driftlab_bench's JSON, or refused now: a file of another shape failed the figures step at
    // the end of the run (after the work, the report left incomplete).
    const std::string where = "--bench-json " + shown_path(o.bench_json) + ": ";
    JsonValue doc;
    try {
      doc = parse_json(read_input_file(o.bench_json, "--bench-json", std::uint64_t(1) << 30, true));
    } catch (const JsonError& e) {
      throw std::runtime_error(where + e.what());
    }
    const JsonValue* b = doc.find("benchmarks");
    if (!doc.is(JsonValue::Kind::object) || !b || !b->is(JsonValue::Kind::array))
      throw std::runtime_error(where + "not driftlab_bench's JSON (no \"benchmarks\" list)");
  }
  {
    std::error_code ec;
    if (fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec))
      throw FileWriteError("--out " + shown_path(o.out) + ": is a file, not a folder");
    if (fs::exists(out_dir / "incomplete", ec) && !fs::is_directory(out_dir / "incomplete", ec))
      throw FileWriteError("--out " + shown_path(o.out) + ": " + shown_path((out_dir / "incomplete").string()) +
                           " is a file, not a folder (an incomplete report goes there)");
  }
  // A target that cannot be replaced by a file is refused before anything runs.
  for (const char* f : {"REPORT.md", "machine.json", "sum_drift.json", "ulp_hist.json", "batch_invariance.json",
                        "predict.json", "predict_bf16.json", "trace_tree_batch.json", "trace_invariant_batch.json",
                        "trace_bf16.json", "allreduce.json", "tp.json", "scenarios.json", "bench.json", "bench.log", "plots.log",
                        "plot_trace.log"})
    if (fs::is_directory(out_dir / f)) throw FileWriteError("report: " + (out_dir / f).string() + ": is a folder");
  if (fs::exists(out_dir / "plots") && !fs::is_directory(out_dir / "plots"))
    throw FileWriteError("report: " + (out_dir / "plots").string() + ": is a file, not a folder");
  // The Keras cross-check beside the scenarios: --keras FILE, else DIR/keras_check.json when it
  // exists.  Read before anything runs, so a bad file stops the report at once.
  const fs::path kpath = o.keras.empty() ? out_dir / "keras_check.json" : fs::path(o.keras);
  std::optional<KerasCheck> k;
  if (!o.keras.empty() || fs::exists(kpath)) k = load_keras_check(kpath.string());
  const OutFolder folder(out_dir, o.out);  // DIR, created now (and removed again if the report fails)
  Staging staging(out_dir, o.out);

  // What the steps share (where every file is written: the staging folder, published at the end).
  ReportRun run{.o = o, .cuda = cuda, .backend = backend, .dir = staging.path(), .kpath = kpath, .k = std::move(k)};
  const std::string& bench_note = run.bench_note;
  const std::string& plot_note = run.plot_note;
  const Headlines& h = run.h;

  std::vector<std::pair<std::string, double>> plan;
  for (const Step& st : kSteps) plan.emplace_back(st.name, o.quick ? st.quick : cuda ? st.cuda : st.cpu);
  Progress prog(progress, plan);
  if (!o.quick)
    progress << "full report on " << backend << ": expect about " << mmss(prog.planned())
             << " (use --quick for a 2-minute run)\n";
  for (std::size_t i = 0; i < std::size(kSteps); ++i) {
    prog.start(i);
    (run.*kSteps[i].run)(prog);
  }

  // Publish: into DIR when everything was produced, else into DIR/incomplete, DIR left as it was.
  const bool complete = plot_note.empty() && bench_note.empty();
  const fs::path into = complete ? out_dir : out_dir / "incomplete";
  staging.publish(into);
  if (o.summary_only) {
    out << "\ndriftlab quick report (" << backend << ", " << mmss(prog.elapsed()) << "); files in " << into.string()
        << "/ (REPORT.md, JSON, plots)\n\n"
        << h.sum << "\n" << h.predict << "\n" << h.batch << "\n" << h.trace << "\n";
    for (const auto& line : {h.scenarios}) out << line;
  } else {
    out << "report written to " << (into / "REPORT.md").string() << " in " << mmss(prog.elapsed()) << "\n";
  }
  if (!complete) {
    if (!plot_note.empty()) out << plot_note << "\n";
    if (!bench_note.empty()) out << bench_note << "\n";
    throw std::runtime_error("report incomplete (" + std::string(!bench_note.empty() ? "benchmarks" : "figures") +
                             "): its files are in " + into.string() + "/; the files in " + out_dir.string() +
                             "/ were left as they were");
  }
  return 0;
}

int report_main(std::span<const std::string_view> args, std::ostream& out) {
  ReportOptions o;
  ArgReader r(args);
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      out << kReportHelp;
      return 0;
    } else if (f == "--out") {
      o.out = parse_path(r.value(), "--out");
    } else if (f == "--quick") {
      o.quick = r.bool_value();
    } else if (f == "--backend") {
      o.backend = parse_backend(r.value());
    } else if (f == "--threads") {
      o.threads = parse_threads(r.value());
    } else if (f == "--bench-json") {
      o.bench_json = parse_path(r.value(), "--bench-json");
    } else if (f == "--keras") {
      o.keras = parse_path(r.value(), "--keras");
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab report --help)");
    }
  }
  return run_report(o, out, std::cerr);
}

}  // namespace driftlab
