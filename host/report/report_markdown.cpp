// `driftlab report`'s markdown: the headline tables' rows and REPORT.md, assembled from the
// steps' headlines and the figures that were drawn.
#include <sstream>

#include "host/backends/gpu.h"
#include "host/report/report_run.h"

namespace driftlab::report_parts {

std::string md_row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) {
    s += ' ';
    for (const char ch : c) {
      if (ch == '|') s += '\\';  // a '|' inside a cell would end it
      s += ch;
    }
    s += " |";
  }
  return s + "\n";
}

// 10. REPORT.md
void ReportRun::report_md(const Progress& prog) {
  std::ostringstream md;
  md << "# driftlab report\n\n"
     << (o.quick ? "A quick run" : "A full run") << " on " << backend << ", " << date << ", in " << mmss(prog.elapsed())
     << ". Every number below was measured in this run; the JSON it came from is beside this file "
        "(docs/report-files.md says what each holds).\n\n"
     << "## Machine\n\n- CPU: " << cpu_name << ", " << threads << " threads, " << cpu_kernels
     << " kernels (the instruction set of the CPU code: the best this CPU runs, capped by DRIFTLAB_ISA)\n- GPU: "
     << (gpu_status().usable ? gpu_status().name : "none (" + gpu_status().reason + ")") << "\n\n"
     << "## Summation: drift and its price\n\n" << h.sum << "\n"
     << "## predict\n\n" << h.predict << "\n"
     << "## Batch invariance\n\n" << h.batch << "\n"
     << "## Where the bits start to move\n\n" << h.trace << "\n"
     << "## The all-reduce across rank counts\n\n" << h.allreduce << "\n"
     << "## Tensor parallelism across TP sizes\n\n" << h.tp << "\n"
     << "## The article's claims\n\n" << h.scenarios << "\n"
     << "## Figures\n\n";
  if (!plot_note.empty()) md << plot_note << "\n\n";
  if (!bench_note.empty()) md << bench_note << "\n\n";
  for (const char* f : {"sum_throughput", "cost_of_determinism", "drift_vs_n", "ulp_histogram", "dense_gflops",
                        "batch_invariance", "bf16_rounding", "trace_ulp", "allreduce_ranks", "tp_ranks"})
    if (fs::exists(dir / "plots" / (std::string(f) + ".png")))
      md << "![" << f << "](plots/" << f << ".png)\n\n";
  save_text(dir / "REPORT.md", md.str());
}

}  // namespace driftlab::report_parts
