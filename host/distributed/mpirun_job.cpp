// One `mpirun` of this same binary, with a limit (mpirun_job.h).
#include "host/distributed/mpirun_job.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "host/common/cli_args.h"
#include "host/common/remove_tree.h"
#include "host/common/signals.h"
#include "host/distributed/allreduce_mpi.h"

extern char** environ;

namespace driftlab::mpirun {

int mpi_algorithm_id(const std::string& name) {
  for (const auto& a : kMpiAlgorithms)
    if (name == a.name) return a.id;
  return -1;
}

std::vector<std::string> parse_algorithms(std::string_view v) {
  std::vector<std::string> out;
  for (const std::string& item : split_list(v, "--mpi-algorithm")) {
    if (item == "all") {
      for (const auto& a : kMpiAlgorithms) out.push_back(a.name);
    } else if (mpi_algorithm_id(item) >= 0) {
      out.push_back(item);
    } else {
      throw UsageError("--mpi-algorithm: unknown algorithm '" + item +
                       "' (default, linear, recursive_doubling, ring, segmented_ring, rabenseifner, all)");
    }
  }
  refuse_repeats(out, "--mpi-algorithm");
  return out;
}

std::string job_text(const Job& job) {
  return "mpirun -np " + std::to_string(job.ranks) + (job.algorithm == "default" ? "" : " (" + job.algorithm + ")");
}

namespace {

// --- one mpirun, with a limit ---------------------------------------------------------------

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name) {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/driftlab-" + name + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a temporary folder in " + tmpl + ": " + std::strerror(errno));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;  // the result, the log, and a temporary a killed rank may have left
    std::filesystem::remove_all(path, ec);
  }
};

// The running mpirun's process group: a stop signal to driftlab (signals.h) takes it down too
// (it runs in a group of its own, so the terminal's Ctrl-C does not reach it).  Then the handler
// that was there before runs (the signal, raised again, is delivered when this one returns): a
// caller's own cleanup, e.g. `driftlab report`'s staging folder, still happens; with none, the
// process dies of the signal as it would have.
volatile sig_atomic_t g_child_group = 0;
char g_dir[4200];  // the temporary folder (result, log, Open MPI's session folder), removed on a signal
void (*g_before[NSIG])(int) = {};  // each signal's handler before ChildGuard's
void kill_child_and_die(int sig) {
  if (g_child_group > 0) {
    const pid_t group = static_cast<pid_t>(g_child_group);
    ::kill(-group, SIGTERM);  // mpirun then ends its ranks
    // An mpirun signalled while it starts its ranks can hang after they are gone (seen with Open
    // MPI 4.1): up to a second for it to exit, then SIGKILL, as the timeout does.
    for (int i = 0; i < 100 && ::waitpid(group, nullptr, WNOHANG) == 0; ++i) {
      const struct timespec ten_ms = {0, 10 * 1000 * 1000};
      ::nanosleep(&ten_ms, nullptr);
    }
    ::kill(-group, SIGKILL);
  }
  if (g_dir[0]) signal_safe::remove_tree_at(AT_FDCWD, g_dir);
  chain_to_before(sig, kill_child_and_die, g_before);
}
struct ChildGuard {
  ChildGuard(pid_t pid, const std::string& dir) {
    if (dir.size() < sizeof g_dir) std::snprintf(g_dir, sizeof g_dir, "%s", dir.c_str());
    g_child_group = pid;
    n = chain_cleanup_handler(kill_child_and_die, g_before, old);  // nohup's SIGHUP stays ignored
  }
  ~ChildGuard() {
    for (int i = 0; i < n; ++i) ::signal(old[i].first, old[i].second);
    g_child_group = 0;
    g_dir[0] = 0;
  }
  std::pair<int, void (*)(int)> old[kStopCount];
  int n = 0;
};

std::string last_line(const std::string& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (std::any_of(line.begin(), line.end(), [](unsigned char c) { return std::isalpha(c); })) last = line;  // not a ---- rule
  return last;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t k = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (k <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe) to hand to mpirun");
  return std::string(buf, static_cast<std::size_t>(k));
}

}  // namespace

std::string mpirun_path_problem() {
  const std::string path = allreduce::mpirun_path();
  const char* env = std::getenv("DRIFTLAB_MPIRUN");
  const std::string from = env && *env ? " (DRIFTLAB_MPIRUN)" : " (install Open MPI: scripts/setup.sh)";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return errno == ENOENT || errno == ENOTDIR ? "mpirun not found at " + path + from
                                               : "mpirun at " + path + from + ": " + std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return "mpirun at " + path + from + " is a folder, not a program";
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0)
    return "mpirun at " + path + from + " is not executable";
  return "";
}

std::string why_no_mpirun() {
  if (!allreduce::mpi_built()) return allreduce::mpi_missing_reason();
  if (std::string why = mpirun_path_problem(); !why.empty()) return why;
#if defined(__SANITIZE_THREAD__)
  return "this driftlab is built with ThreadSanitizer, and Open MPI's ranks are not (its progress threads report "
         "races of their own)";
#else
  return "";
#endif
}

std::string run_job(const Job& job) {
  const std::string mpirun = allreduce::mpirun_path();
  if (const std::string why = mpirun_path_problem(); !why.empty()) throw std::runtime_error(why);
  TempDir dir(job.name);
  std::vector<std::string> args = {mpirun};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  for (const char* s : {"--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "--mca",
                        "btl_vader_single_copy_mechanism", "none"})
    args.push_back(s);
  if (const int id = mpi_algorithm_id(job.algorithm); id > 0) {
    for (const char* s : {"--mca", "coll_tuned_use_dynamic_rules", "1", "--mca", "coll_tuned_allreduce_algorithm"})
      args.push_back(s);
    args.push_back(std::to_string(id));
  }
  args.push_back("-np");
  args.push_back(std::to_string(job.ranks));
  args.push_back(self_exe());
  args.insert(args.end(), job.args.begin(), job.args.end());
  args.push_back(job.result_flag);
  args.push_back(dir.path + "/result");
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  const std::string log = dir.path + "/log";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);  // its own group: a timeout kills every rank
  posix_spawnattr_setpgroup(&at, 0);
  // Open MPI keeps its session folder in $TMPDIR: inside ours, so that a job killed with driftlab
  // (a signal, the timeout) leaves none behind in the user's $TMPDIR.
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "TMPDIR=", 7) != 0) env_text.emplace_back(*e);
  env_text.push_back("TMPDIR=" + dir.path);
  std::vector<char*> envp;
  for (auto& s : env_text) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, mpirun.c_str(), &fa, &at, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) throw std::runtime_error("cannot start " + mpirun + ": " + std::strerror(rc));

  const ChildGuard guard(pid, dir.path);
  const std::string what = job_text(job);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(job.timeout_s);
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw std::runtime_error(what + ": waitpid failed: " + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      throw std::runtime_error(what + " did not finish within --timeout " + std::to_string(static_cast<long>(job.timeout_s)) +
                               " s; killed (a longer run needs a larger --timeout)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // mpirun is gone; what it left in its group (a rank or helper it did not reap) goes with it.  Safe:
  // the group's number is not handed to a new process while any member holds it.
  ::kill(-pid, SIGKILL);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string last = last_line(log);
    throw std::runtime_error(what + " failed (" +
                             (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status))) +
                             ")" + (last.empty() ? std::string() : ": " + last));
  }
  std::ifstream in(dir.path + "/result", std::ios::binary);
  if (!in) throw std::runtime_error(what + " wrote no result (a rank ended early?)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace driftlab::mpirun
