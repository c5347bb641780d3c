#include "host/report/report.h"

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
#include <chrono>
#include <csignal>
#include <cstring>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "host/io/atomic_file.h"
#include "host/backends/backend.h"
#include "host/common/cli_args.h"
#include "kernels/common/float_bits.h"
#include "kernels/cpu/thread_pool.h"
#include "host/io/data.h"
#include "host/backends/gpu.h"
#include "host/io/input_file.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "host/commands/predict_command.h"
#include "host/scenarios/scenarios.h"
#include "host/commands/sum_command.h"
#include "host/commands/trace_command.h"

extern char** environ;

namespace driftlab {

const char* const kReportHelp = R"(usage: driftlab report [--out DIR] [--quick] [--backend cpu|cuda|auto] [--threads T]
                       [--bench-json FILE] [--keras FILE]

Runs the drift experiments (summation across n and distributions, atomic results against the
exact sum, batch invariance, predict, the article's scenarios) and the benchmarks on the backend
at hand; writes their JSON under DIR (default driftlab-report), renders the figures into
DIR/plots with plots/plot.py (matplotlib; scripts/setup.sh installs it) and writes DIR/REPORT.md
with the headline tables, the figures and a description of the machine.

  --quick   a small run: about 2 minutes on 2 CPU cores
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

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string mmss(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  std::ostringstream o;
  o << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return o.str();
}

// Progress: the step, the elapsed time and what remains (from each step's planned weight).
class Progress {
 public:
  Progress(std::ostream& out, std::vector<std::pair<std::string, double>> steps)
      : out_(out), steps_(std::move(steps)), t0_(Clock::now()) {
    for (const auto& s : steps_) total_ += s.second;
  }
  void start(std::size_t i) {
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
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  double planned() const { return total_; }

 private:
  std::ostream& out_;
  std::vector<std::pair<std::string, double>> steps_;
  Clock::time_point t0_;
  double total_ = 0;
};

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

// Runs a program, its output to `log`; returns the exit status (-1 if it could not start).
volatile sig_atomic_t g_child = 0;  // the child run_program waits for (the signal handler stops it)

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

struct BatchInvariance {
  std::string model, device, backend;
  std::vector<std::size_t> sizes;
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> variants;
};

// Row 0 of one input inside batches of each size: its largest ULP distance from the batch-1 output.
BatchInvariance batch_invariance(ModelBackend& backend, const std::vector<std::size_t>& layers,
                                 const std::vector<std::size_t>& sizes) {
  BatchInvariance r;
  const Model m = make_model(layers, 0.0f, 3);
  backend.set_model(m);
  r.model = m.shape_text();
  r.device = backend.device();
  r.backend = backend.name();
  r.sizes = sizes;
  const std::size_t K = m.inputs(), N = m.outputs();
  const std::vector<float> row0 = make_input(Dist::uniform, DType::f32, K, 1).f32;
  for (const auto& i : kDenseVariants) {
    if (!backend.has(i.variant)) continue;
    std::vector<float> base;
    std::vector<std::uint64_t> dist;
    for (const std::size_t bs : sizes) {
      std::vector<float> x = make_input(Dist::uniform, DType::f32, bs * K, 1000 + bs).f32;
      std::copy(row0.begin(), row0.end(), x.begin());
      std::vector<float> y(bs * N);
      backend.predict({i.variant, false, 0, 0, 0, std::nullopt}, x.data(), bs, y.data());
      if (base.empty()) base.assign(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(N));
      std::uint64_t worst = 0;
      for (std::size_t j = 0; j < N; ++j) worst = std::max(worst, ulp_distance(y[j], base[j]));
      dist.push_back(worst);
    }
    r.variants.emplace_back(i.name, dist);
  }
  return r;
}

// Every report file is replaced atomically (atomic_file.h): a failed write is an error and
// leaves the old file as it was.
void save_text(const fs::path& p, const std::string& text) { write_file_atomic(p.string(), text, "report"); }

// --- Cleanup on SIGINT, SIGTERM, SIGHUP --------------------------------------------------------
// A killed report leaves DIR exactly as it was: the handler stops the child it waits for, removes
// the staging folder (async-signal-safe calls only: openat, getdents64, unlinkat) and DIR when
// this report created it, then dies of the signal as it would have.
char g_stage[4096], g_created[4096];

void remove_tree_at(int parent, const char* name, int depth) {
  if (depth > 8) return;
  const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    ::unlinkat(parent, name, 0);
    return;
  }
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
      if (d->d_type == DT_DIR) remove_tree_at(fd, d->d_name, depth + 1);
      else ::unlinkat(fd, d->d_name, 0);
    }
  }
  ::close(fd);
  ::unlinkat(parent, name, AT_REMOVEDIR);
}

void on_signal(int sig) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), SIGTERM);
  if (g_stage[0]) remove_tree_at(AT_FDCWD, g_stage, 0);
  if (g_created[0]) ::rmdir(g_created);  // only when empty: DIR as it was (absent)
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void copy_name(char (&to)[4096], const std::string& from) {
  const std::size_t n = from.size() < sizeof to - 1 ? from.size() : 0;  // too long: not cleaned up
  std::memcpy(to, from.data(), n);
  to[n] = 0;
}

void signal_cleanup_arm(const std::string& stage) {
  copy_name(g_stage, stage);
  if (!stage.empty())
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_signal);
}

// DIR for the report: created when missing (and removed again, if still empty, when the report
// fails or is killed); errors name --out.  A folder the user cannot write into is found here.
class OutFolder {
 public:
  OutFolder(const fs::path& dir, const std::string& flag_value) : dir_(dir) {
    std::error_code ec;
    created_ = !fs::exists(dir, ec);
    if (!fs::create_directories(dir, ec) && ec)
      throw FileWriteError("--out " + shown_path(flag_value) + ": cannot create the folder: " + ec.message());
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      throw FileWriteError("--out " + shown_path(flag_value) + ": cannot write into it: " + std::strerror(errno));
    if (created_) copy_name(g_created, dir.string());
  }
  ~OutFolder() {
    g_created[0] = 0;
    std::error_code ec;
    if (created_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
  }
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
  Staging(const fs::path& dir, const std::string& flag_value) : stage_(dir / (".report-" + std::to_string(getpid()))) {
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
  ~Staging() {
    signal_cleanup_arm("");
    std::error_code ec;
    fs::remove_all(stage_, ec);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& path() const { return stage_; }

  // The report's files into `into` (DIR, or DIR/incomplete), all or none: every target is checked
  // first (none may be a folder where a file goes, or a file where a folder goes), then each file
  // is renamed over its target (atomic per file), REPORT.md last.
  void publish(const fs::path& into) {
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

 private:
  fs::path stage_;
};

// --- The headline tables (REPORT.md and the terminal summary) ----------------------------------
struct Headlines {
  std::string sum, predict, batch, trace, scenarios, bench;
};

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

}  // namespace

int run_report(const ReportOptions& o, std::ostream& out, std::ostream& progress) {
  const bool cuda = use_cuda(o.backend);
  if (o.backend == "cuda" && !gpu_status().usable) throw BackendError("--backend cuda: " + gpu_status().reason);
  const std::string backend = cuda ? "cuda" : "cpu";
  const fs::path out_dir(o.out);
  // Everything that can refuse the report is checked before DIR is created: a refused report
  // leaves no DIR behind, and says why in one line on stderr.
  if (!o.bench_json.empty()) check_input_file(o.bench_json, "--bench-json", std::uint64_t(1) << 30, true);
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
                        "trace_bf16.json", "scenarios.json", "bench.json", "bench.log", "plots.log", "plot_trace.log"})
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
  const fs::path& dir = staging.path();  // where every file is written; published at the end

  // What the steps share: the machine's description, the headline tables, the trace files the
  // figures read, and why the benchmarks or the figures are missing (empty: they are not).
  std::string date, cpu_name;
  int threads = 0;
  Headlines h;
  std::vector<fs::path> trace_files;
  std::string bench_note, plot_note;

  // 1. machine
  const auto machine = [&](const Progress&) {
    date = iso_date();
    cpu_name = cpu_model();
    threads = o.threads ? o.threads : cpu::ThreadPool::hardware_threads();
    {
      std::ostringstream s;
      JsonWriter j(s);
      j.begin_object().field("cpu", cpu_name).field("threads", threads).key("gpu");
      gpu_status().usable ? j.value(gpu_status().name) : j.null();
      j.field("gpu_note", gpu_status().usable ? std::string() : gpu_status().reason)
          .field("date", date)
          .field("driftlab_version", "0.1")
          .field("quick", o.quick)
          .field("backend", backend)
          .end_object();
      save_text(dir / "machine.json", s.str());
    }
  };

  // 2. summation drift across n and distributions
  const auto sum_drift = [&](const Progress&) {
    std::vector<SumReport> sums;
    {
      std::vector<std::size_t> ns;
      for (int e = 10; e <= (o.quick ? 20 : (cuda ? 26 : 24)); e += 2) ns.push_back(std::size_t(1) << e);
      for (const Dist d : {Dist::uniform, Dist::illcond})
        for (const std::size_t n : ns) {
          SumArgs a;
          a.n = n;
          a.n_given = true;
          a.backend = backend;
          a.runs = o.quick ? 8 : 30;
          a.dist = d;
          a.threads = cuda ? 0 : o.threads;
          if (!cuda) a.shuffle_seed = 7;  // reproducible drift on 2 cores: the scheduler model
          sums.push_back(run_sum(a));
        }
      std::ostringstream s;
      JsonWriter j(s);
      j.begin_object().field("command", "sum_sweep").key("rows").begin_array();
      for (const auto& rep : sums) {
        std::ostringstream one;
        write_sum_json(rep, one);
        // Re-use write_sum_json's rows: cut out its array body.
        const std::string t = one.str();
        const auto b = t.find('['), e = t.rfind(']');
        if (b != std::string::npos && e > b + 1) {
          std::string body = t.substr(b + 1, e - b - 1);
          while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
          s << (&rep == &sums.front() ? "" : ",") << body;
        }
      }
      j.end_array().end_object();
      save_text(dir / "sum_drift.json", s.str());
      // Headline: the illcond rows at the largest n.
      const SumReport& top = sums.back();
      h.sum = "Summation, n = " + std::to_string(top.n) + " f32, ill-conditioned input, " + std::to_string(top.runs) +
              " runs on " + top.backend + " (" + top.atomic_note + ")\n\n";
      h.sum += md_row({"variant", "determinism", "distinct", "max ULP", "error ULP", "GB/s", "cost vs atomic",
                       "cost vs " + top.vendor});
      h.sum += md_row({"---", "---", "---", "---", "---", "---", "---", "---"});
      for (const auto& r : top.rows)
        h.sum += md_row({info(r.variant).name, info(r.variant).determinism, std::to_string(r.drift.distinct_outputs),
                         std::to_string(r.drift.max_ulp), std::to_string(r.drift.error_ulp), sig(r.gbps),
                         r.cost_vs_atomic ? sig(*r.cost_vs_atomic) + "x" : "-",
                         r.cost_vs_vendor ? sig(*r.cost_vs_vendor) + "x" : "-"});
    }
  };

  // 3. atomic results against the exact sum, many runs
  const auto ulp_histogram = [&](const Progress&) {
    SumArgs a;
    a.n = o.quick ? (std::size_t(1) << 16) : (std::size_t(1) << 22);
    a.n_given = true;
    a.backend = backend;
    a.runs = o.quick ? 200 : 1000;
    a.dist = Dist::normal;  // moderate cancellation: errors of a few to a few hundred ULP, a readable histogram
    a.threads = cuda ? 0 : o.threads;
    if (!cuda) a.shuffle_seed = 11;
    std::ostringstream s;
    JsonWriter j(s);
    SumReport rep;
    j.begin_object().field("command", "ulp_histogram");
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> series;
    for (const char* v : {"atomic", "atomic_element"}) {
      a.variant = v;
      rep = run_sum(a);
      series.emplace_back(v, rep.rows.at(0).ulp_from_exact);
    }
    j.field("backend", rep.backend).field("device", rep.device).field("dtype", dtype_name(rep.dtype))
        .field("n", static_cast<std::uint64_t>(rep.n)).field("dist", "normal")
        .field("runs", static_cast<std::uint64_t>(rep.runs)).field("schedule", rep.atomic_note).key("variants")
        .begin_object();
    for (const auto& [name, v] : series) {
      j.key(name).begin_array();
      for (const auto u : v) j.value(u);
      j.end_array();
    }
    j.end_object().end_object();
    save_text(dir / "ulp_hist.json", s.str());
  };

  // 4. batch invariance
  const auto batch_inv = [&](const Progress&) {
    auto mb = cuda ? make_cuda_model_backend() : make_cpu_model_backend(o.threads);
    std::vector<std::size_t> sizes;
    for (std::size_t b = 1; b <= (o.quick ? 256u : 4096u); b *= 2) sizes.push_back(b);
    const BatchInvariance bi =
        batch_invariance(*mb, o.quick ? std::vector<std::size_t>{256, 1024, 10} : std::vector<std::size_t>{784, 4096, 4096, 10}, sizes);
    std::ostringstream s;
    JsonWriter j(s);
    j.begin_object().field("command", "batch_invariance").field("backend", bi.backend).field("device", bi.device)
        .field("model", bi.model).key("sizes").begin_array();
    for (auto z : bi.sizes) j.value(static_cast<std::uint64_t>(z));
    j.end_array().key("variants").begin_object();
    for (const auto& [name, v] : bi.variants) {
      j.key(name).begin_array();
      for (auto u : v) j.value(u);
      j.end_array();
    }
    j.end_object().end_object();
    save_text(dir / "batch_invariance.json", s.str());
    h.batch = "Row 0 of a " + bi.model + " model inside batches of 1 to " + std::to_string(sizes.back()) +
              ": the largest ULP distance from its batch-1 output, on " + bi.backend + "\n\n";
    std::vector<std::string> head = {"variant"}, sep = {"---"};
    for (auto z : sizes) head.push_back("B=" + std::to_string(z)), sep.push_back("---");
    h.batch += md_row(head) + md_row(sep);
    for (const auto& [name, v] : bi.variants) {
      std::vector<std::string> cells = {name};
      for (auto u : v) cells.push_back(std::to_string(u));
      h.batch += md_row(cells);
    }
  };

  // 5. predict of the default model, many calls, inference
  const auto predict = [&](const Progress&) {
    {
      PredictArgs a;
      a.backend = backend;
      a.threads = cuda ? 0 : o.threads;
      a.runs = o.quick ? 10 : 50;
      a.batch = 64;
      a.init_seed = 1;
      const PredictReport rep = run_predict(a);
      std::ostringstream s;
      write_predict_json(rep, s);
      save_text(dir / "predict.json", s.str());
      h.predict = "predict of the " + rep.model + " model, batch " + std::to_string(rep.batch) + ", " +
                  std::to_string(rep.runs) + " calls, inference, on " + rep.backend + "\n\n";
      h.predict += md_row({"variant", "determinism", "distinct", "max ULP", "argmax flips", "samples/s", "cost vs atomic",
                           "cost vs " + rep.vendor});
      h.predict += md_row({"---", "---", "---", "---", "---", "---", "---", "---"});
      for (const auto& r : rep.rows)
        h.predict += md_row({info(r.variant).name, info(r.variant).determinism, std::to_string(r.drift.distinct_outputs),
                             std::to_string(r.drift.max_ulp), std::to_string(r.drift.argmax_flips), sig(r.samples_per_s),
                             r.cost_vs_atomic ? sig(*r.cost_vs_atomic) + "x" : "-",
                             r.cost_vs_vendor ? sig(*r.cost_vs_vendor) + "x" : "-"});
    }
    {  // The same question in bf16 (issue 11): the drift of the same runs before and after the final
       // rounding to bf16, every variant, every layer split 8 ways (plots: bf16_rounding).
      PredictArgs a;
      a.backend = backend;
      a.threads = cuda ? 0 : o.threads;
      a.runs = o.quick ? 10 : 50;
      a.batch = 64;
      a.init_seed = 3;
      a.split_k = 8;
      a.dtype = DType::bf16;
      a.layers = o.quick ? std::vector<std::size_t>{256, 1024, 1024, 10} : std::vector<std::size_t>{784, 4096, 4096, 10};
      if (!cuda) a.shuffle_seed = 7;  // reproducible drift on 2 cores: the scheduler model
      const PredictReport rep = run_predict(a);
      std::ostringstream s;
      write_predict_json(rep, s);
      save_text(dir / "predict_bf16.json", s.str());
      h.predict += "\nThe same question with bf16 storage (float32 accumulation), model " + rep.model + ", batch " +
                   std::to_string(rep.batch) + ", split-K 8 on every layer, " + std::to_string(rep.runs) +
                   " calls: the last layer's float32 output before the rounding -> the stored bf16 output\n\n";
      h.predict += md_row({"variant", "distinct", "elements differing", "max ULP (f32 -> bf16)", "argmax flips"});
      h.predict += md_row({"---", "---", "---", "---", "---"});
      for (const auto& r : rep.rows)
        if (r.before)
          h.predict += md_row({info(r.variant).name,
                               std::to_string(r.before->distinct_outputs) + " -> " + std::to_string(r.drift.distinct_outputs),
                               sig(r.before->ratio_non_equal) + " -> " + sig(r.drift.ratio_non_equal),
                               ulp_text(r.before->max_ulp) + " -> " + ulp_text(r.drift.max_ulp),
                               std::to_string(r.before->argmax_flips) + " -> " + std::to_string(r.drift.argmax_flips)});
    }
  };

  // 6. where the bits start to move: driftlab trace on the batch-invariance model -- tree and
  // invariant, row 0 alone against inside a batch of 64, and float32 against bf16 storage.
  const auto trace = [&](const Progress&) {
    const std::string layers = o.quick ? "256,1024,1024,10" : "784,4096,4096,10";
    struct TraceCase {
      const char* file;
      std::vector<std::string> flags;
    };
    const TraceCase cases[] = {
        {"trace_tree_batch.json", {"--variant", "tree", "--compare", "batch:1,64"}},
        {"trace_invariant_batch.json", {"--variant", "invariant", "--compare", "batch:1,64"}},
        {"trace_bf16.json", {"--variant", "invariant", "--batch", "64", "--compare", "dtype:f32,bf16"}},
    };
    h.trace = "driftlab trace on the " + std::string(o.quick ? "256-1024-1024-10" : "784-4096-4096-10") +
              " model (init seed 1) on " + backend +
              ": every layer's output compared at every stage, and the first layer and stage whose bits differ\n\n";
    h.trace += md_row({"compare", "variant", "first divergence", "output: max ULP", "output: max |diff| / scale",
                       "output: elements differing"});
    h.trace += md_row({"---", "---", "---", "---", "---", "---"});
    for (const TraceCase& c : cases) {
      std::vector<std::string> args = {"--backend", backend, "--layers", layers, "--init-seed", "1"};
      if (!cuda) args.insert(args.end(), {"--threads", std::to_string(o.threads)});
      args.insert(args.end(), c.flags.begin(), c.flags.end());
      const std::vector<std::string_view> views(args.begin(), args.end());
      const TraceReport r = run_trace(parse_trace_args(views));
      std::ostringstream s;
      write_trace_json(r, s);
      save_text(dir / c.file, s.str());
      trace_files.push_back(dir / c.file);
      const StageDiff& last = r.rows.back();
      const std::string first =
          r.first ? "layer " + std::to_string(r.first->layer) + ", " + stage_name(r.first->stage) : "none: the same bits";
      h.trace += md_row({r.compare, r.variant, first, ulp_text(last.max_ulp) + " (" + r.ulp_unit + ")",
                         sig(last.max_rel_diff), sig(last.frac_differ)});
    }
  };

  // 7. scenarios
  const auto scenarios = [&](const Progress&) {
    ScenarioOptions so;
    so.backend = backend;
    so.threads = cuda ? 0 : o.threads;
    so.quick = o.quick;
    if (o.quick) so.wide = {256, 1024, 1024, 10};
    auto rs = run_scenarios(so, nullptr);
    if (k) attach_keras(rs, *k);
    std::ostringstream s;
    write_scenarios_json(rs, s, k ? &*k : nullptr);
    save_text(dir / "scenarios.json", s.str());
    h.scenarios = scenarios_markdown(rs, k ? &*k : nullptr);
    if (!k)
      h.scenarios += "\nNo Keras cross-check beside these (scripts/keras_check.py --out " + kpath.string() +
                     " adds one).\n";
  };

  // 8. benchmarks
  const auto benchmarks = [&](const Progress&) {
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
  };

  // 9. figures
  const auto figures = [&](const Progress&) {
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
  };

  // 10. REPORT.md
  const auto report_md = [&](const Progress& prog) {
    std::ostringstream md;
    md << "# driftlab report\n\n"
       << (o.quick ? "A quick run" : "A full run") << " on " << backend << ", " << date << ", in " << mmss(prog.elapsed())
       << ". Every number below was measured in this run; the JSON it came from is beside this file "
          "(docs/report-files.md says what each holds).\n\n"
       << "## Machine\n\n- CPU: " << cpu_name << ", " << threads << " threads\n- GPU: "
       << (gpu_status().usable ? gpu_status().name : "none (" + gpu_status().reason + ")") << "\n\n"
       << "## Summation: drift and its price\n\n" << h.sum << "\n"
       << "## predict\n\n" << h.predict << "\n"
       << "## Batch invariance\n\n" << h.batch << "\n"
       << "## Where the bits start to move\n\n" << h.trace << "\n"
       << "## The article's claims\n\n" << h.scenarios << "\n"
       << "## Figures\n\n";
    if (!plot_note.empty()) md << plot_note << "\n\n";
    if (!bench_note.empty()) md << bench_note << "\n\n";
    for (const char* f : {"sum_throughput", "cost_of_determinism", "drift_vs_n", "ulp_histogram", "dense_gflops",
                          "batch_invariance", "bf16_rounding", "trace_ulp"})
      if (fs::exists(dir / "plots" / (std::string(f) + ".png")))
        md << "![" << f << "](plots/" << f << ".png)\n\n";
    save_text(dir / "REPORT.md", md.str());
  };

  // The steps in order: name, planned seconds (quick; full on the cpu backend; full on cuda) and
  // what runs.  Quick and full-CPU seconds as measured on the 2-core development VM; the full GPU
  // run is an estimate (no GPU run has timed it yet).  (predict includes the bf16 model's runs of
  // issue 11: about 2 s quick, 10 s full on the CPU; trace: three comparisons on the
  // batch-invariance model, about 1 s quick, 5 s full on the CPU.)
  struct Step {
    const char* name;
    double quick, cpu, cuda;
    std::function<void(const Progress&)> run;
  };
  const Step steps[] = {
      {"machine description", 0.2, 0.2, 0.2, machine},
      {"summation drift across n and distributions", 2, 8, 30, sum_drift},
      {"atomic results against the exact sum (histogram)", 1, 8, 20, ulp_histogram},
      {"batch invariance", 2, 6, 10, batch_inv},
      {"predict", 2.5, 11, 4, predict},
      {"where the bits start to move (trace)", 1, 5, 5, trace},
      {"the article's scenarios", 10, 120, 30, scenarios},
      {"benchmarks (driftlab_bench)", 5, 320, 240, benchmarks},
      {"figures (plots/plot.py)", 8, 11, 11, figures},
      {"REPORT.md", 0.2, 0.2, 0.2, report_md},
  };
  std::vector<std::pair<std::string, double>> plan;
  for (const Step& st : steps) plan.emplace_back(st.name, o.quick ? st.quick : cuda ? st.cuda : st.cpu);
  Progress prog(progress, plan);
  if (!o.quick)
    progress << "full report on " << backend << ": expect about " << mmss(prog.planned())
             << " (use --quick for a 2-minute run)\n";
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    prog.start(i);
    steps[i].run(prog);
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
