// `driftlab report`'s files and processes: DIR and its staging folder (published all or none),
// atomic writes, the programs it runs, and the cleanup when the report is killed (report_run.h).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <sstream>

#include "host/common/cli_args.h"
#include "host/common/remove_tree.h"
#include "host/common/signals.h"
#include "host/io/atomic_file.h"
#include "host/io/input_file.h"
#include "host/report/report_run.h"

extern char** environ;

namespace driftlab::report_parts {

std::string mmss(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  std::ostringstream o;
  o << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return o.str();
}

Progress::Progress(std::ostream& out, std::vector<std::pair<std::string, double>> steps)
    : out_(out), steps_(std::move(steps)), t0_(Clock::now()) {
  for (const auto& s : steps_) total_ += s.second;
}

void Progress::start(std::size_t i) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
  double left = 0;
  for (std::size_t k = i; k < steps_.size(); ++k) left += steps_[k].second;
  // Once a tenth of the plan is done, scale what is left by how fast the run has gone so far.
  const double done_plan = total_ - left;
  if (done_plan >= 0.1 * total_ && elapsed > 0) left *= std::clamp(elapsed / done_plan, 0.25, 4.0);
  out_ << "[" << i + 1 << "/" << steps_.size() << "] " << steps_[i].first << "  (elapsed " << mmss(elapsed)
       << ", about " << mmss(left) << " left)\n"
       << std::flush;
}

std::string iso_date() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string self_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  return fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path().string();
}

namespace {
volatile sig_atomic_t g_child = 0;  // the child run_program waits for (the signal handler stops it)
}  // namespace

int run_program(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, a[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  g_child = pid;  // stopped by on_signal if the report is killed meanwhile
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {
// --- Cleanup on a stop signal (signals.h) --------------------------------------------------------
// A killed report leaves DIR exactly as it was: the handler stops the child it waits for, removes
// the staging folder (async-signal-safe calls only: openat, getdents64, unlinkat) and DIR when
// this report created it, then chains to the handler before it (signals.h: one line, exit 1), or
// dies of the signal when there was none.
char g_stage[4096], g_created[4096];
void (*g_before[NSIG])(int) = {};  // each signal's handler before on_signal

void on_signal(int sig) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), SIGTERM);
  if (g_stage[0]) signal_safe::remove_tree_at(AT_FDCWD, g_stage);
  if (g_created[0]) ::rmdir(g_created);  // only when empty: DIR as it was (absent)
  chain_to_before(sig, on_signal, g_before);
}

void copy_name(char (&to)[4096], const std::string& from) {
  const std::size_t n = from.size() < sizeof to - 1 ? from.size() : 0;  // too long: not cleaned up
  std::memcpy(to, from.data(), n);
  to[n] = 0;
}

void signal_cleanup_arm(const std::string& stage) {
  copy_name(g_stage, stage);
  if (!stage.empty()) chain_cleanup_handler(on_signal, g_before);  // an ignored one stays ignored
}

}  // namespace

void save_text(const fs::path& p, const std::string& text) { write_file_atomic(p.string(), text, "report"); }

OutFolder::OutFolder(const fs::path& dir, const std::string& flag_value) : dir_(dir) {
  std::error_code ec;
  created_ = !fs::exists(dir, ec);
  if (!fs::create_directories(dir, ec) && ec)
    throw FileWriteError("--out " + shown_path(flag_value) + ": cannot create the folder: " + ec.message());
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw FileWriteError("--out " + shown_path(flag_value) + ": cannot write into it: " + std::strerror(errno));
  if (created_) copy_name(g_created, dir.string());
}

OutFolder::~OutFolder() {
  g_created[0] = 0;
  std::error_code ec;
  if (created_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
}

Staging::Staging(const fs::path& dir, const std::string& flag_value) : stage_(dir / (".report-" + std::to_string(getpid()))) {
  // A report that was killed left its folder behind: removed once its process is gone.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".report-", 0) != 0 || name.find_first_not_of("0123456789", 8) != std::string::npos) continue;
    if (!fs::exists("/proc/" + name.substr(8), ec)) fs::remove_all(e.path(), ec);
  }
  fs::remove_all(stage_, ec);
  // Errors name the user's folder, not the staging folder inside it.
  if (!fs::create_directories(stage_ / "plots", ec) && ec)
    throw FileWriteError("--out " + shown_path(flag_value) + ": cannot write into it: " + ec.message());
  signal_cleanup_arm(stage_.string());
}

Staging::~Staging() {
  signal_cleanup_arm("");
  std::error_code ec;
  fs::remove_all(stage_, ec);
}

void Staging::publish(const fs::path& into) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(stage_))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), stage_));
  std::stable_partition(files.begin(), files.end(), [](const fs::path& f) { return f != "REPORT.md"; });
  for (const fs::path& f : files) {
    const fs::path target = resolved_output((into / f).string());
    std::error_code ec;
    if (fs::is_directory(target, ec)) throw FileWriteError("report: " + target.string() + ": is a folder");
    if (fs::exists(target, ec) && !fs::is_regular_file(target, ec))
      throw FileWriteError("report: " + target.string() + ": exists and is not a regular file; refusing to replace it");
    for (fs::path up = target.parent_path(); up != into && !up.empty(); up = up.parent_path())
      if (fs::exists(up, ec) && !fs::is_directory(up, ec))
        throw FileWriteError("report: " + up.string() + ": is a file, not a folder");
  }
  for (const fs::path& f : files) {
    fs::create_directories((into / f).parent_path());
    // The rule of every output (atomic_file.h): a symbolic link is followed, the link kept.
    fs::rename(stage_ / f, resolved_output((into / f).string()));
  }
}

}  // namespace driftlab::report_parts
