// The pieces of one `driftlab report` run, shared by the report's files (not used outside
// host/report/):
//   report.cpp           the flags, the table of steps (name, estimated seconds, run function)
//                        and the run: checks, steps in order, publish
//   report_steps.cpp     the measuring steps: each writes its JSON and its headline table
//   report_tools.cpp     the steps that run other programs: driftlab_bench and the plot scripts
//   report_markdown.cpp  the headline tables' rows and REPORT.md
//   report_files.cpp     DIR and its staging folder, atomic writes, cleanup on a signal
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "host/report/report.h"
#include "host/scenarios/scenarios.h"

namespace driftlab::report_parts {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string mmss(double seconds);  // 75 -> "1:15"

// Progress: the step, the elapsed time and what remains (from each step's planned weight).
class Progress {
 public:
  Progress(std::ostream& out, std::vector<std::pair<std::string, double>> steps);
  void start(std::size_t i);
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  double planned() const { return total_; }

 private:
  std::ostream& out_;
  std::vector<std::pair<std::string, double>> steps_;
  Clock::time_point t0_;
  double total_ = 0;
};

std::string iso_date();
std::string self_dir();  // the folder of this program's binary

// Runs a program, its output to `log`; returns the exit status (-1 if it could not start).  A
// A stop signal (signals.h) to the report (once a Staging folder is armed) stops it too.
int run_program(const std::vector<std::string>& args, const std::string& log);

// Every report file is replaced atomically (atomic_file.h): a failed write is an error and
// leaves the old file as it was.
void save_text(const fs::path& p, const std::string& text);

// DIR for the report: created when missing (and removed again, if still empty, when the report
// fails or is killed); errors name --out.  A folder the user cannot write into is found here.
class OutFolder {
 public:
  OutFolder(const fs::path& dir, const std::string& flag_value);
  ~OutFolder();
  OutFolder(const OutFolder&) = delete;
  OutFolder& operator=(const OutFolder&) = delete;

 private:
  fs::path dir_;
  bool created_ = false;
};

// Every file of a report is written into a folder of its own inside DIR (.report-<pid>) and moved
// into DIR only when the whole report succeeded: a report that stops on an error, is killed, or
// could not produce its benchmarks or figures leaves DIR's files as they were.  (In the last case
// the finished files are kept in DIR/incomplete/ and the report says so.)
class Staging {
 public:
  Staging(const fs::path& dir, const std::string& flag_value);
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& path() const { return stage_; }

  // The report's files into `into` (DIR, or DIR/incomplete), all or none: every target is checked
  // first (none may be a folder where a file goes, or a file where a folder goes), then each file
  // is renamed over its target (atomic per file), REPORT.md last.
  void publish(const fs::path& into);

 private:
  fs::path stage_;
};

// --- The headline tables (REPORT.md and the terminal summary) ----------------------------------
struct Headlines {
  std::string sum, predict, batch, trace, allreduce, tp, scenarios, bench;
};

std::string md_row(const std::vector<std::string>& cells);

// One report run: what the steps share, and the steps themselves (report.cpp's table lists them
// in order).
struct ReportRun {
  const ReportOptions& o;
  bool cuda = false;
  std::string backend{};          // "cpu" or "cuda"
  fs::path dir{};                 // where every file is written (the staging folder); published at the end
  fs::path kpath{};               // the Keras cross-check's file (--keras, else DIR/keras_check.json)
  std::optional<KerasCheck> k{};  // ... when there is one

  // What the steps share: the machine's description, the headline tables, the trace files the
  // figures read, and why the benchmarks or the figures are missing (empty: they are not).
  std::string date{}, cpu_name{}, cpu_kernels{};
  int threads = 0;
  Headlines h{};
  std::vector<fs::path> trace_files{};
  std::string bench_note{}, plot_note{};

  void machine(const Progress&);        // report_steps.cpp
  void sum_drift(const Progress&);
  void ulp_histogram(const Progress&);
  void batch_inv(const Progress&);
  void predict(const Progress&);
  void trace(const Progress&);
  void allreduce(const Progress&);
  void tp(const Progress&);
  void scenarios(const Progress&);
  void benchmarks(const Progress&);     // report_tools.cpp
  void figures(const Progress&);
  void report_md(const Progress& prog);  // report_markdown.cpp
};

}  // namespace driftlab::report_parts
