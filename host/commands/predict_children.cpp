// The parent/child pipe protocol of `driftlab predict --processes P`: the child streams its sink
// calls (predict_runs.h) through a pipe, the parent checks every size before it uses it and
// replays them into its Collector; a failed child is reported in one line.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "host/common/cli_args.h"
#include "host/commands/predict_runs.h"

extern char** environ;

namespace driftlab {
namespace {

// --- The parent/child protocol: the child streams its sink calls through a pipe whose write end
// is the descriptor named by kChildFdEnv.  Only the parent sets that variable (there is no
// command-line flag for it), and the child checks that the descriptor is a pipe.
constexpr int kChildFd = 3;
enum class Tag : std::uint8_t { begin = 1, variant = 2, run = 3, end_variant = 4, done = 5, vendor = 6, run_before = 7 };

class ChildWriter : public RunSink {
 public:
  explicit ChildWriter(std::FILE* f) : f_(f) { put_raw("DLPR", 4); }
  void begin(const LocalInfo& i) override {
    put(Tag::begin);
    for (const auto* s : {&i.backend, &i.device, &i.atomic_note, &i.model, &i.origin}) put_str(*s);
    put<std::uint64_t>(i.B);
    put<std::uint64_t>(i.N);
  }
  void variant(DenseVariant v, const std::vector<std::size_t>& slices) override {
    put(Tag::variant);
    put<std::int32_t>(static_cast<std::int32_t>(v));
    put<std::uint64_t>(slices.size());
    for (auto s : slices) put<std::uint64_t>(s);
  }
  void run(std::span<const float> output, double ms) override {
    put(Tag::run);
    put<double>(ms);
    put_raw(output.data(), output.size() * sizeof(float));
  }
  void run_before(std::span<const float> output) override {
    put(Tag::run_before);
    put_raw(output.data(), output.size() * sizeof(float));
  }
  void end_variant(double ref_err) override {
    put(Tag::end_variant);
    put<double>(ref_err);
  }
  void vendor(const std::string& name, double ms) override {
    put(Tag::vendor);
    put_str(name);
    put<double>(ms);
  }
  void finish() {
    put(Tag::done);
    if (std::fflush(f_) != 0) throw std::runtime_error("cannot write the results to the parent process");
  }

 private:
  void put_raw(const void* p, std::size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) throw std::runtime_error("cannot write the results to the parent process");
  }
  template <class T> void put(const T& v) { put_raw(&v, sizeof v); }
  void put_str(const std::string& s) {
    put<std::uint64_t>(s.size());
    put_raw(s.data(), s.size());
  }
  std::FILE* f_;
};

struct ChildStreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Replays a child's stream into `sink`; every size is checked before it is used.
void replay_child(std::FILE* f, RunSink& sink) {
  auto raw = [&](void* p, std::size_t n) {
    if (n && std::fread(p, 1, n, f) != n) throw ChildStreamError("its results ended early");
  };
  auto get = [&]<class T>(T v) {
    raw(&v, sizeof v);
    return v;
  };
  auto get_str = [&] {
    const auto n = get(std::uint64_t{});
    if (n > (1u << 16)) throw ChildStreamError("its results are corrupt");
    std::string s(n, '\0');
    raw(s.data(), n);
    return s;
  };
  char magic[4] = {};
  raw(magic, 4);
  if (std::memcmp(magic, "DLPR", 4) != 0) throw ChildStreamError("its results are corrupt");
  std::size_t count = 0;
  std::vector<float> out;
  for (;;) {
    const Tag t = get(Tag{});
    if (t == Tag::done) return;
    if (t == Tag::begin) {
      LocalInfo i;
      for (auto* s : {&i.backend, &i.device, &i.atomic_note, &i.model, &i.origin}) *s = get_str();
      i.B = get(std::uint64_t{});
      i.N = get(std::uint64_t{});
      if (i.B == 0 || i.N == 0 || i.B > (std::uint64_t(1) << 20) || i.N > (std::uint64_t(1) << 24) || i.B * i.N > (std::uint64_t(1) << 32))
        throw ChildStreamError("its results are corrupt (sizes)");
      count = i.B * i.N;
      out.assign(count, 0.0f);
      sink.begin(i);
    } else if (t == Tag::variant) {
      const auto v = get(std::int32_t{});
      if (v < 0 || v >= static_cast<std::int32_t>(std::size(kDenseVariants))) throw ChildStreamError("its results are corrupt (variant)");
      const auto n = get(std::uint64_t{});
      if (n > 4096) throw ChildStreamError("its results are corrupt (slices)");
      std::vector<std::size_t> slices(n);
      for (auto& s : slices) s = get(std::uint64_t{});
      sink.variant(static_cast<DenseVariant>(v), slices);
    } else if (t == Tag::run) {
      if (!count) throw ChildStreamError("its results are corrupt (a run before the sizes)");
      const double ms = get(double{});
      raw(out.data(), count * sizeof(float));
      sink.run(out, ms);
    } else if (t == Tag::run_before) {
      if (!count) throw ChildStreamError("its results are corrupt (a run before the sizes)");
      raw(out.data(), count * sizeof(float));
      sink.run_before(out);
    } else if (t == Tag::end_variant) {
      sink.end_variant(get(double{}));
    } else if (t == Tag::vendor) {
      const std::string name = get_str();
      sink.vendor(name, get(double{}));
    } else {
      throw ChildStreamError("its results are corrupt (tag)");
    }
  }
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

// The first line of what a failed child wrote on stderr, without its "driftlab: " prefix.
std::string child_message(std::FILE* err) {
  std::string text;
  std::rewind(err);
  for (int c; (c = std::fgetc(err)) != EOF && c != '\n' && text.size() < 500;) text += static_cast<char>(c);
  if (text.starts_with("driftlab: ")) text = text.substr(10);
  return text;
}

}  // namespace

// Runs `processes` children of this program, one after another, and streams their results into
// `sink`.  A child's stderr goes to an unlinked temporary file, so a failure is reported in one
// line by the parent; nothing is left on disk.
void run_children(const PredictArgs& a, RunSink& sink) {
  const std::string exe = self_exe();
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with(std::string(kChildFdEnv) + "=")) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildFdEnv) + "=" + std::to_string(kChildFd));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {exe, "predict"};
  for (auto& s : to_argv(a)) args.push_back(s);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  for (std::size_t p = 0; p < a.processes; ++p) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe for a child process");
    // The descriptors the child gets by dup2 are moved above 2 and kChildFd first, so that no
    // dup2 in the child overwrites the source of another.
    auto high = [](int& fd) {
      const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
      if (moved >= 0) {
        close(fd);
        fd = moved;
      }
    };
    high(fds[1]);
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> err(std::tmpfile(), &std::fclose);
    if (!err) {
      close(fds[0]);
      close(fds[1]);
      throw std::runtime_error("cannot create a temporary file for a child process's messages");
    }
    int err_fd = fileno(err.get());
    if (err_fd <= kChildFd) err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 10);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], kChildFd);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err_fd != fileno(err.get())) close(err_fd);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot start a child process: " + std::string(std::strerror(rc)));
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(fdopen(fds[0], "rb"), &std::fclose);
    std::string stream_error;
    try {
      if (!in) throw ChildStreamError("cannot read its results");
      replay_child(in.get(), sink);
    } catch (const ChildStreamError& e) {
      stream_error = e.what();
    } catch (...) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw;
    }
    in.reset();
    // The read end is closed: a child still writing gets EPIPE and ends, so this wait is bounded.
    int status = 0;
    waitpid(pid, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok || !stream_error.empty()) {
      std::string why = child_message(err.get());
      if (why.empty())
        why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
              : !ok               ? "exit status " + std::to_string(WEXITSTATUS(status))
                                  : stream_error;
      throw std::runtime_error("predict child process " + std::to_string(p) + " failed: " + why);
    }
  }
}

// The child's side: the descriptor must be the pipe its parent made.
int child_main(const PredictArgs& a, const char* fd_text) {
  const std::string v(fd_text);
  unsetenv(kChildFdEnv);
  struct stat st {};
  if (v != std::to_string(kChildFd) || fstat(kChildFd, &st) != 0 || !S_ISFIFO(st.st_mode))
    throw UsageError(std::string(kChildFdEnv) + " is set by driftlab predict --processes for its own children; unset it");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(fdopen(kChildFd, "wb"), &std::fclose);
  if (!f) throw std::runtime_error("cannot open the pipe to the parent process");
  PredictArgs local = a;
  local.processes = 1;
  ChildWriter w(f.get());
  run_local(local, w);
  w.finish();
  return 0;
}

}  // namespace driftlab
