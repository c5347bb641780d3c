// One `mpirun` of this same binary, launched by driftlab: P ranks on this machine (as root and
// with more ranks than cores where needed), a time limit, the job in a process group of its own
// (a timeout, or a SIGINT/SIGTERM/SIGHUP to driftlab, takes every rank down), the ranks' output
// in a log whose last line goes into the error; what is left in the group when mpirun exits is
// killed, and Open MPI's session folder ($TMPDIR for mpirun) is inside the job's temporary folder,
// so nothing outlives the job.  Rank 0 writes its result to a file the launcher names and reads back.  `driftlab allreduce` runs one job per rank count and setting; any
// command that runs its own ranks (e.g. predict --tp) can do the same.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace driftlab::mpirun {

// Open MPI's all-reduce algorithms that `--mca coll_tuned_allreduce_algorithm N` forces.
struct MpiAlgorithm {
  const char* name;
  int id;  // coll_tuned_allreduce_algorithm (Open MPI 4.1); 0: Open MPI's own decision
};
inline constexpr MpiAlgorithm kMpiAlgorithms[] = {{"default", 0},        {"linear", 1},         {"recursive_doubling", 3},
                                                  {"ring", 4},           {"segmented_ring", 5}, {"rabenseifner", 6}};
int mpi_algorithm_id(const std::string& name);  // -1: not a kMpiAlgorithms name
// --mpi-algorithm LIST (allreduce and predict --tp): kMpiAlgorithms names or all, each once
// (split_list and refuse_repeats: "all,ring" names ring twice); throws UsageError.
std::vector<std::string> parse_algorithms(std::string_view v);

struct Job {
  std::string name = "allreduce";  // names the temporary folder: $TMPDIR/driftlab-<name>-XXXXXX
  std::size_t ranks = 1;           // mpirun -np
  // A kMpiAlgorithms name: anything but "default" is forced for every collective of the job
  // (coll_tuned_use_dynamic_rules=1 coll_tuned_allreduce_algorithm=N).
  std::string algorithm = "default";
  // Every rank runs this binary with these arguments, then `result_flag PATH`: rank 0 writes
  // its result to PATH.
  std::vector<std::string> args;
  std::string result_flag = "--mpi-out";
  double timeout_s = 120;  // past it the job is killed (SIGTERM, then SIGKILL half a second later)
};

// "mpirun -np P", and " (algorithm)" when one is forced: how errors name the job.
std::string job_text(const Job& job);

// Runs the job; returns the bytes rank 0 wrote.  Throws std::runtime_error with one line when
// mpirun is missing or cannot start, the job fails ("mpirun -np P (algorithm) failed (exit 1):
// <the log's last line>"), outlives its timeout, or leaves no result.  The temporary folder
// (result and log) is removed in every case.
std::string run_job(const Job& job);

// Empty when the mpirun driftlab would start (allreduce::mpirun_path(), DRIFTLAB_MPIRUN when set) is
// a program it may run; else why not, as one line: not found, a folder, or not executable.
std::string mpirun_path_problem();

// Empty when this driftlab can run its own ranks here (built with MPI, mpirun executable, not a
// ThreadSanitizer build, whose checks Open MPI's progress threads would trip); else why not, as
// one line.  The scenario rows and report steps that run Open MPI when it runs ask this first.
std::string why_no_mpirun();

}  // namespace driftlab::mpirun
