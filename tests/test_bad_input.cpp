// The bad-input suite: every class of hostile input found in issue 9, run through the real
// binary as a user runs it.  Each case checks the exit code (2 for a bad command line, 1 for
// anything else), exactly one line on stderr, no hang (a timeout), and that the folder it ran in
// is left exactly as it was (same names, same bytes): no lost file, no partial file, no stray
// temporary.  Plus the promises behind it: children compute bitwise what one process computes,
// a worker's exception reaches the caller, memory does not grow with --runs.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "host/metrics/metrics.h"
#include "host/io/npy.h"
#include "host/io/npz.h"
#include "host/io/atomic_file.h"
#include "host/commands/predict_command.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/mpirun_job.h"
#include "tests/mpi_skip.h"
#include "host/scenarios/scenarios.h"

namespace driftlab {
namespace {

namespace fs = std::filesystem;

// Address-space limits and peak-RSS comparisons measure the sanitizer runtime, not driftlab.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A fresh folder per case; the command runs inside it.
fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(DRIFTLAB_TEST_TMP) / "bad_input" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Every entry below `dir`: its relative name -> its bytes (or its kind, for non-files).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> s;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(e.path(), dir).string();
    if (e.is_fifo()) s[name] = "<fifo>";
    else if (e.is_directory()) s[name] = "<dir>";
    else s[name] = read_text(e.path());
  }
  return s;
}

struct ProcessResult {
  int code = -1;  // exit status; -1: killed (a hang ends in timeout's kill)
  std::string out, err;
  long max_rss_kib = 0;
};

// Runs `shell` (a /bin/sh line, $DL is the driftlab binary) in `dir` under a 120 s timeout.
ProcessResult run_in(const fs::path& dir, const std::string& shell) {
  const fs::path out = dir.string() + ".stdout", err = dir.string() + ".stderr";
  const std::string line = "cd '" + dir.string() + "' && DL='" + DRIFTLAB_EXE + "' && " + shell + " >'" +
                           out.string() + "' 2>'" + err.string() + "'";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/usr/bin/timeout", "timeout", "-s", "KILL", "120", "/bin/sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  ProcessResult r;
  r.code = WIFEXITED(status) && WEXITSTATUS(status) != 137 && WEXITSTATUS(status) != 124 ? WEXITSTATUS(status) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  r.max_rss_kib = ru.ru_maxrss;
  return r;
}

// The promise for any binary (driftlab_bench, driftlab_cpu_probe too): exit `code`, one stderr
// line that starts with `prefix` and mentions `needle`, and the folder unchanged.
void expect_refused_by(const std::string& name, const std::string& shell, int code, const std::string& needle,
                       const std::function<void(const fs::path&)>& setup = {}, const char* prefix = "") {
  SCOPED_TRACE(name + ": " + shell);
  const fs::path dir = fresh_dir(name);
  if (setup) setup(dir);
  const auto before = snapshot(dir);
  const ProcessResult r = run_in(dir, shell);
  EXPECT_EQ(r.code, code) << "stderr: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr is not exactly one line: " << r.err;
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(snapshot(dir), before) << "the folder changed";
}

// The promise: exit `code`, one stderr line that mentions `needle` (from driftlab), and the
// folder unchanged.
void expect_refused(const std::string& name, const std::string& shell, int code, const std::string& needle,
                    const std::function<void(const fs::path&)>& setup = {}) {
  expect_refused_by(name, shell, code, needle, setup, "driftlab");
}

TEST(BadInput, ThreadsHaveOneParserAndOneBound) {
  for (const char* cmd : {"sum --n 10", "predict", "scenarios", "report"}) {
    expect_refused("threads_big", std::string("$DL ") + cmd + " --threads 100000", 2, "--threads: expected 0");
    expect_refused("threads_wrap", std::string("$DL ") + cmd + " --threads 4294967297", 2, "--threads: expected 0");
    expect_refused("threads_text", std::string("$DL ") + cmd + " --threads many", 2, "--threads");
  }
}

TEST(BadInput, ThreadsThatCannotBeCreatedEndInOneLineNotAHang) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
  // 4096 threads of 8 MiB stacks in a 1 GiB address space: creation fails part way.
  expect_refused("threads_cannot_start", "ulimit -v 1048576; $DL sum --backend cpu --n 1000 --runs 1 --threads 4096", 1,
                 "cannot start 4096 worker threads");
}

TEST(BadInput, ThreadPoolHandsAWorkersExceptionToTheCaller) {
  cpu::ThreadPool pool(3);
  for (int round = 0; round < 3; ++round) {  // and stays usable afterwards
    EXPECT_THROW(pool.parallel_for(64, [](std::size_t t, int) {
      if (t == 17) throw std::runtime_error("task 17");
    }), std::runtime_error);
    std::atomic<int> n{0};
    pool.parallel_for(64, [&](std::size_t, int) { ++n; });
    EXPECT_EQ(n.load(), 64);
  }
}

TEST(BadInput, StrictFlagValues) {
  expect_refused("training_word", "$DL predict --training=maybe", 2, "--training: expected true or false");
  expect_refused("quick_word", "$DL scenarios --quick=yes", 2, "--quick: expected true or false");
  expect_refused("help_value", "$DL sum --help=false", 2, "--help takes no value");
  expect_refused("help_value_predict", "$DL predict --help=maybe", 2, "--help takes no value");
  expect_refused("dropout_rounds_to_one", "$DL predict --dropout 0.99999999999", 2, "rounds to 1");
  expect_refused("dropout_rounds_to_zero", "$DL predict --dropout 1e-50", 2, "rounds to 0");
  // The fuzzer's first finding: a newline inside a value, echoed in the message, made two lines.
  expect_refused("newline_in_value", "$DL predict --dropout \"$(printf ',1\\nX')\"", 2, "',1\\x0aX'");
  expect_refused("escape_in_value", "$DL sum --variant \"$(printf '\\033[2J')\"", 2, "\\x1b[2J");
  expect_refused("dropout_nan", "$DL predict --dropout nan", 2, "--dropout");
  expect_refused("dropout_negative", "$DL predict --dropout -0.1", 2, "--dropout");
  expect_refused("act_count_weights", "$DL predict --backend cpu --weights w.npz --act relu,relu,relu", 2, "--act",
                 [](const fs::path& d) {
                   HostArray W{DType::f32, {3, 2}, std::vector<float>(6, 1.0f), {}, {}}, b{DType::f32, {2}, {0, 0}, {}, {}};
                   npz::write((d / "w.npz").string(), {{"W0", W}, {"b0", b}}, false);
                 });
  expect_refused("act_count_layers", "$DL predict --backend cpu --act relu,relu,relu", 2, "--act");
  // --training=false means inference, not training.
  const fs::path d = fresh_dir("training_false");
  const ProcessResult r = run_in(d, "$DL predict --backend cpu --runs 1 --variant tree --training=false --init-seed 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("inference (training=False)"), std::string::npos) << r.out;
}

TEST(BadInput, InternalFlagsAreNotACommandLine) {
  expect_refused("child_out", "$DL predict --child-out victim.txt", 2, "unknown option '--child-out'",
                 [](const fs::path& d) { std::ofstream(d / "victim.txt") << "keep me"; });
  expect_refused("child_env", "DRIFTLAB_PREDICT_CHILD_FD=3 $DL predict --runs 1", 2, "DRIFTLAB_PREDICT_CHILD_FD");
  expect_refused("child_env_file", "DRIFTLAB_PREDICT_CHILD_FD=3 $DL predict --runs 1 3>>victim.txt", 2,
                 "DRIFTLAB_PREDICT_CHILD_FD", [](const fs::path& d) { std::ofstream(d / "victim.txt") << "keep me"; });
}

TEST(BadInput, OutputsAreNeverLostOrPartial) {
  auto old_file = [](const char* name) {
    return [name](const fs::path& d) { std::ofstream(d / name) << "the user's old file"; };
  };
  // A write that fails part way (the file size limit; SIGXFSZ ignored so write() reports EFBIG):
  // the old file stays as it was and no temporary file remains.
  expect_refused("save_output_efbig",
                 "trap '' XFSZ; ulimit -f 1; $DL predict --backend cpu --runs 1 --batch 200 --variant tree "
                 "--save-output out.npy",
                 1, "out.npy", old_file("out.npy"));
  expect_refused("json_efbig", "trap '' XFSZ; ulimit -f 1; $DL sum --backend cpu --n 1000 --runs 2 --json out.json", 1,
                 "--json out.json", old_file("out.json"));
  // Targets that are not a file are refused before any work, and left alone.
  expect_refused("json_dev_full", "$DL sum --backend cpu --n 10 --runs 1 --json /dev/full", 1, "not a regular file");
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  expect_refused("json_folder", "$DL sum --backend cpu --n 10 --runs 1 --json sub/", 1, "is a folder",
                 [](const fs::path& d) { fs::create_directory(d / "sub"); });
  expect_refused("json_no_folder", "$DL predict --backend cpu --runs 1 --json missing/out.json", 1, "missing");
  expect_refused("json_too_long", "$DL sum --backend cpu --n 10 --runs 1 --json " + std::string(300, 'x') + ".json", 1,
                 "--json");
  expect_refused("save_output_fifo", "$DL predict --backend cpu --runs 1 --save-output pipe.npy", 1,
                 "not a regular file", [](const fs::path& d) { mkfifo((d / "pipe.npy").c_str(), 0644); });
  expect_refused("report_out_empty", "$DL report --out ''", 2, "--out", old_file("REPORT.md"));
  expect_refused("report_out_file", "$DL report --quick --out REPORT.md", 1, "REPORT.md", old_file("REPORT.md"));
}

// A REPORT.md that cannot be written fails the report (it used to be reported as success), now
// before anything runs: one line, exit 1, the folder left alone.
TEST(BadInput, EndToEndReportThatCannotWriteReportMdFails) {
  const fs::path d = fresh_dir("report_md");
  fs::create_directories(d / "out" / "REPORT.md");  // a folder where the file must go
  const ProcessResult r = run_in(d, "$DL report --quick --out out");
  EXPECT_EQ(r.code, 1) << r.err;
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_NE(last.find("REPORT.md: is a folder"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_directory(d / "out" / "REPORT.md"));
}

// A report that could not produce everything (here: --bench-json entries the figures cannot read) changes no
// file of its folder: what it did produce goes to DIR/incomplete/, and it says so.  A quick report
// (~20 s): "EndToEnd" keeps it out of the sanitizer runs.
TEST(BadInput, EndToEndIncompleteReportLeavesTheFolderAsItWas) {
  // (An empty --bench-json, or one that is not JSON or has no "benchmarks" list, is refused up front
  // now; one whose entries are malformed stops the figures instead.)
  const fs::path d = fresh_dir("report_incomplete");
  fs::create_directories(d / "out" / "plots");
  std::ofstream(d / "out" / "REPORT.md") << "the user's old report";
  std::ofstream(d / "out" / "predict.json") << "{}";
  std::ofstream(d / "bad.json") << "{\"benchmarks\": [5]}";
  fs::create_directories(d / "out" / ".report-999999999" / "plots");  // a killed report's, long gone
  const ProcessResult r = run_in(d, "$DL report --quick --backend cpu --bench-json bad.json --out out");
  EXPECT_EQ(r.code, 1) << r.err;
  // The reason is the last stderr line (the lines before it are the progress).
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_NE(last.find("driftlab: report incomplete"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(d / "out" / "REPORT.md"), "the user's old report");
  EXPECT_EQ(read_text(d / "out" / "predict.json"), "{}");
  EXPECT_FALSE(fs::exists(d / "out" / "trace_bf16.json"));
  EXPECT_TRUE(fs::exists(d / "out" / "incomplete" / "predict.json"));
  EXPECT_NE(read_text(d / "out" / "incomplete" / "REPORT.md").find("could not be drawn"), std::string::npos);
  for (const auto& e : fs::directory_iterator(d / "out"))  // no staging folder left behind
    EXPECT_NE(e.path().filename().string().rfind(".report-", 0), 0u) << e.path();
}

TEST(BadInput, DerivedPathsStayInTheUsersFolder) {
  const fs::path d = fresh_dir("derived_paths");
  fs::create_directories(d / "out.npy.d");
  std::ofstream(d / "out.tree.npy") << "the user's file";
  const ProcessResult r = run_in(d, "$DL predict --backend cpu --runs 1 --save-output out.npy.d/run --variant all");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* v : {"atomic", "tree", "invariant"})
    EXPECT_TRUE(fs::exists(d / "out.npy.d" / (std::string("run.") + v + ".npy"))) << v;
  EXPECT_EQ(read_text(d / "out.tree.npy"), "the user's file");
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d / "out.npy.d")) entries += e.is_regular_file();
  EXPECT_EQ(entries, 3u) << "no temporary file may remain";
}

TEST(BadInput, InputsThatAreNotRegularFilesAreRefusedNotRead) {
  auto fifo = [](const fs::path& d) { mkfifo((d / "pipe").c_str(), 0644); };
  expect_refused("input_fifo_predict", "$DL predict --backend cpu --input pipe", 1, "not a regular file", fifo);
  expect_refused("input_fifo_sum", "$DL sum --backend cpu --input pipe", 1, "not a regular file", fifo);
  expect_refused("weights_fifo", "$DL predict --backend cpu --weights pipe", 1, "not a regular file", fifo);
  expect_refused("input_dev_zero", "$DL sum --backend cpu --input /dev/zero", 1, "not a regular file");
  expect_refused("input_folder", "$DL sum --backend cpu --input .", 1, "folder");
  // The magic string is checked first: a large file that is not .npy is refused after 6 bytes.
  expect_refused("input_not_npy", "$DL sum --backend cpu --input big.bin", 1, "not a .npy file",
                 [](const fs::path& d) { fs::resize_file((std::ofstream(d / "big.bin"), d / "big.bin"), 1ull << 26); });
}

TEST(BadInput, MemoryIsRefusedUpFrontWithTheFlagsName) {
  expect_refused("layers_too_big", "$DL predict --backend cpu --layers 16777216,16777216 --runs 1", 2, "--layers");
  expect_refused("batch_too_big", "$DL predict --backend cpu --layers 10,16777216,10 --batch 1048576 --runs 1", 2,
                 "MiB");
  expect_refused("n_too_big", "$DL sum --backend cpu --n 2^50", 2, "--n");
}

TEST(BadInput, PredictMemoryDoesNotGrowWithRuns) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's quarantine holds freed memory, so peak RSS measures it";
  // 1024 x 10 floats a run: keeping every run of 3 variants would take 3 x 40 KiB x 1500 = 175 MiB.
  const fs::path d = fresh_dir("streaming");
  const ProcessResult few = run_in(d, "$DL predict --backend cpu --batch 1024 --runs 15 --init-seed 1 --threads 1");
  const ProcessResult many = run_in(d, "$DL predict --backend cpu --batch 1024 --runs 1500 --init-seed 1 --threads 1");
  ASSERT_EQ(few.code, 0) << few.err;
  ASSERT_EQ(many.code, 0) << many.err;
  EXPECT_LT(many.max_rss_kib, few.max_rss_kib + 16 * 1024)
      << "peak RSS " << few.max_rss_kib << " KiB at 15 runs, " << many.max_rss_kib << " KiB at 1500 runs";
}

// The old protocol left a folder under /tmp behind; the pipe leaves nothing to leave.
TEST(BadInput, AFailingChildGivesOneLine) {
  expect_refused("child_fails", "$DL predict --backend cpu --processes 2 --input bad.npy", 1,
                 "predict child process 0 failed: bad.npy: not a .npy file",
                 [](const fs::path& d) { std::ofstream(d / "bad.npy") << "not numpy"; });
}

// --processes 2 computes bit for bit what one process computes: the same parameters reach the
// children (the dropout rate as a hex float), for rates that six decimals would change.
TEST(BadInput, ChildrenComputeExactlyWhatTheParentWould) {
  const fs::path d = fresh_dir("children_bitwise");
  for (const char* rate : {"0.3333333", "0.0000004", "0.9999999", "0.5"})
    for (const char* seed : {"3", "12345678901"})
      for (const char* variant : {"tree", "invariant", "atomic --schedule shuffle:5"}) {
        const std::string flags = std::string("--backend cpu --runs 2 --batch 3 --layers 10,20,20,10 --training ") +
                                  "--init-seed 1 --dropout " + rate + " --dropout-seed " + seed + " --variant " + variant;
        SCOPED_TRACE(flags);
        const ProcessResult one = run_in(d, "$DL predict " + flags + " --save-output one.npy --json one.json");
        const ProcessResult two = run_in(d, "$DL predict " + flags + " --processes 2 --save-output two.npy --json two.json");
        ASSERT_EQ(one.code, 0) << one.err;
        ASSERT_EQ(two.code, 0) << two.err;
        EXPECT_EQ(read_text(d / "one.npy"), read_text(d / "two.npy"));
        // Each child repeats the parent's sequence of masks: as many distinct outputs in 2 x 2 runs as in 2.
        auto distinct = [](const std::string& json) {
          const auto at = json.find("\"distinct_outputs\": ");
          return at == std::string::npos ? std::string("missing") : json.substr(at, json.find(',', at) - at);
        };
        EXPECT_EQ(distinct(read_text(d / "one.json")), distinct(read_text(d / "two.json")));
      }
}

// 16-bit models (issue 11): the dtype flags refuse what they do not know in one line, and children
// of a bf16/f16 predict compute bit for bit what one process computes (the dtype reaches them).
TEST(BadInput, DtypeFlags) {
  expect_refused("dtype_bf17", "$DL predict --dtype bf17", 2, "--dtype: expected f32, bf16 or f16, got 'bf17'");
  expect_refused("dtype_f64", "$DL predict --dtype f64", 2, "--dtype: expected f32, bf16 or f16, got 'f64'");
  expect_refused("dtype_empty", "$DL predict --dtype ''", 2, "--dtype");
  expect_refused("trace_dtype_same", "$DL trace --compare dtype:f32,f32", 2, "the two sides must differ in dtype");
  expect_refused("trace_dtype_unknown", "$DL trace --compare dtype:f32,bf17", 2, "expected f32, bf16 or f16, got 'bf17'");
  expect_refused("trace_dtype_one_side", "$DL trace --compare dtype:bf16", 2, "--compare: expected KIND:A,B");
  expect_refused("trace_dtype_both", "$DL trace --compare dtype:f32,bf16 --dtype f16", 2,
                 "--dtype and --compare dtype:A,B cannot be used together");
  expect_refused("trace_dtype_bad_flag", "$DL trace --compare batch:1,4 --dtype half", 2, "--dtype");
}

TEST(BadInput, HalfChildrenComputeExactlyWhatTheParentWould) {
  const fs::path d = fresh_dir("children_half");
  for (const char* dtype : {"bf16", "f16"})
    for (const char* variant : {"tree", "atomic --schedule shuffle:5"}) {
      const std::string flags = std::string("--backend cpu --runs 2 --batch 3 --layers 10,20,20,10 --training ") +
                                "--init-seed 1 --dropout-seed 3 --dtype " + dtype + " --variant " + variant;
      SCOPED_TRACE(flags);
      const ProcessResult one = run_in(d, "$DL predict " + flags + " --save-output one.npy --json one.json");
      const ProcessResult two = run_in(d, "$DL predict " + flags + " --processes 2 --save-output two.npy --json two.json");
      ASSERT_EQ(one.code, 0) << one.err;
      ASSERT_EQ(two.code, 0) << two.err;
      EXPECT_EQ(read_text(d / "one.npy"), read_text(d / "two.npy"));
      const std::string j1 = read_text(d / "one.json"), j2 = read_text(d / "two.json");
      EXPECT_NE(j2.find(std::string("\"dtype\": \"") + dtype + "\""), std::string::npos) << j2;
      EXPECT_NE(j2.find("\"before_rounding\""), std::string::npos) << j2;
      auto field = [](const std::string& json, const std::string& key, std::size_t from = 0) {
        const auto at = json.find("\"" + key + "\": ", from);
        return at == std::string::npos ? std::string("missing") : json.substr(at, json.find_first_of(",}", at) - at);
      };
      EXPECT_EQ(field(j1, "distinct_outputs"), field(j2, "distinct_outputs"));
      const auto b1 = j1.find("before_rounding"), b2 = j2.find("before_rounding");
      EXPECT_EQ(field(j1, "distinct_outputs", b1), field(j2, "distinct_outputs", b2));
    }
}

TEST(BadInput, NanAndInfAreReportedNotHidden) {
  EXPECT_TRUE(std::isnan(max_rel_err({NAN, NAN}, {1.0, 2.0})));
  EXPECT_TRUE(std::isnan(max_rel_err({NAN, NAN}, {NAN, NAN}))) << "an all-NaN output is no perfect match";
  EXPECT_TRUE(std::isinf(max_rel_err({INFINITY, 1.0f}, {1.0, 1.0})));
  EXPECT_EQ(max_rel_err({INFINITY, 1.0f}, {INFINITY, 1.0}), 0.0);
  const OutputDrift mixed = output_drift({{1.0f, 2.0f}, {NAN, 2.0f}}, 1, 2);
  EXPECT_TRUE(std::isnan(mixed.max_abs_diff));
  EXPECT_EQ(mixed.max_ulp, kUnorderedUlp);
  const OutputDrift inf = output_drift({{1.0f, INFINITY}, {1.0f, 3.0f}}, 1, 2);
  EXPECT_TRUE(std::isinf(inf.max_abs_diff));
  const OutputDrift same_inf = output_drift({{INFINITY}, {INFINITY}}, 1, 1);
  EXPECT_EQ(same_inf.max_abs_diff, 0.0);

  // Through the command line: NaN weights give ref_max_rel_err "nan", not 0.
  const fs::path d = fresh_dir("nan_weights");
  HostArray W{DType::f32, {10, 2}, std::vector<float>(20, NAN), {}, {}}, b{DType::f32, {2}, {0, 0}, {}, {}};
  npz::write((d / "w.npz").string(), {{"W0", W}, {"b0", b}}, false);
  const ProcessResult r = run_in(d, "$DL predict --backend cpu --weights w.npz --runs 2 --variant tree --json out.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(read_text(d / "out.json").find("\"ref_max_rel_err\": \"nan\""), std::string::npos) << read_text(d / "out.json");
}

TEST(BadInput, EmptyShapeWithAHugeAxisIsAValidEmptyArray) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 0), }";
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string image = "\x93NUMPY\x01";
  image += '\0';
  image += static_cast<char>(header.size() & 0xff);
  image += static_cast<char>(header.size() >> 8);
  image += header;
  const HostArray a = npy::parse(std::as_bytes(std::span<const char>(image.data(), image.size())));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{std::size_t(1) << 62, 0}));
}

#ifdef DRIFTLAB_BENCH_EXE
TEST(BadInput, BenchFailsWhenItMeasuresNothingOrCannotWrite) {
  const fs::path d = fresh_dir("bench");
  ProcessResult r = run_in(d, std::string("'") + DRIFTLAB_BENCH_EXE + "' --benchmark_filter=no_such_benchmark");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no_such_benchmark"), std::string::npos) << r.err;
  r = run_in(d, std::string("'") + DRIFTLAB_BENCH_EXE +
                    "' --benchmark_filter=sum/cpu/f32/serial/1024/ --benchmark_min_time=0.01 --benchmark_out=missing/b.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing/b.json"), std::string::npos) << r.err;
  r = run_in(d, std::string("'") + DRIFTLAB_BENCH_EXE +
                    "' --benchmark_filter=sum/cpu/f32/serial/1024/ --benchmark_min_time=0.01 --benchmark_out=/dev/full");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--benchmark_out /dev/full"), std::string::npos) << r.err;
}

// Issue 20, class 1: --benchmark_out is written as every driftlab output is (a temporary renamed
// over it): a filter that matches nothing, or SIGINT mid-run, leaves the old file as it was.
TEST(BadInput, BenchOutputIsKeptWhenNothingRanOrTheRunWasStopped) {
  const std::string bench = std::string("'") + DRIFTLAB_BENCH_EXE + "'";
  auto old = [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"k\":1}\n"; };
  expect_refused_by("bench_nomatch", bench + " --benchmark_filter=nomatch --benchmark_out=b.json", 1, "nomatch", old);
  expect_refused_by("bench_bad_flag", bench + " --benchmark_out b.json", 2, "unrecognized argument '--benchmark_out'", old);
  // A flag given twice: Google Benchmark took the last (--benchmark_out=b.json then another file
  // wrote the other); refused like driftlab's own.
  expect_refused_by("bench_twice", bench + " --benchmark_filter=nomatch --benchmark_out=b.json --benchmark_out=c.json", 2,
                    "--benchmark_out given twice", old);
  expect_refused_by("bench_twice_filter", bench + " --benchmark_filter=a --benchmark_filter=b --benchmark_out=b.json", 2,
                    "--benchmark_filter given twice", old);
  const fs::path d = fresh_dir("bench_sigint");
  old(d);
  const auto before = snapshot(d);
  // env --default-signal: sh starts a background job with SIGINT ignored, and an ignored signal stays ignored.
  const ProcessResult r = run_in(d, "{ env --default-signal=INT " + bench + " --benchmark_filter=sum/cpu --benchmark_min_time=0.05 --benchmark_out=b.json & "
                                            "sleep 2; kill -INT $!; wait $!; }");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(snapshot(d), before) << "the old --benchmark_out file or a temporary changed";
}

// A CPU benchmark whose input does not fit the address space (session 27): std::bad_alloc ended
// the process in std::terminate's abort (exit 134, two lines, the temporary left behind).  Now that
// benchmark is skipped with the reason, the others run, and the process fails with one line.
TEST(BadInput, BenchOutOfMemoryIsOneLineAndKeepsTheOldOutput) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
  const std::string bench = std::string("'") + DRIFTLAB_BENCH_EXE + "'";
  auto old = [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"k\":1}\n"; };
  // 2^26 floats (256 MiB) under a 300 MB address space; the 1024-element benchmark still runs.
  expect_refused_by("bench_oom",
                    "{ ulimit -v 300000; " + bench +
                        " --benchmark_filter='^sum/cpu/f32/uniform/tree/(1024|67108864)/' --benchmark_min_time=0.01 "
                        "--benchmark_out=b.json >out.txt; rc=$?; grep -q 'tree/1024/real_time ' out.txt || rc=9; rm out.txt; exit $rc; }",
                    1, "sum/cpu/f32/uniform/tree: out of memory", old, "driftlab_bench: ");
  // The OpenBLAS baseline without the room for its threads: an error row and exit 0 before; a run
  // without its baseline is a failed run.  (Two threads or more need 512 MiB, which 400 MB does not leave.)
  if (std::thread::hardware_concurrency() < 2) return;
  expect_refused_by("bench_openblas_room",
                    "{ ulimit -v 400000; " + bench +
                        " --benchmark_filter='^dense/cpu/(openblas|tree)/B:1/K:10/' --benchmark_min_time=0.01 "
                        "--benchmark_out=b.json >/dev/null; }",
                    1, "dense/cpu/openblas: OpenBLAS with ", old, "driftlab_bench: ");
}
#endif

// Issue 20, class 2: driftlab_cpu_probe has the one memory bound, up front.
TEST(BadInput, CpuProbeRefusesWhatCannotFit) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
  const std::string probe = (fs::path(DRIFTLAB_EXE).parent_path() / "driftlab_cpu_probe").string();
  if (!fs::exists(probe)) GTEST_SKIP() << "driftlab_cpu_probe not built";
  expect_refused_by("probe_mem", "ulimit -v 4000000; '" + probe + "' gemm 1048576 1048576 1 1", 2, "needs about");
}

// Issue 20, class 3: attention's memory bound names its own flags; --json is checked before the
// run; --other-kv-lens at batch 1 is refused; memory does not grow with --runs.
TEST(BadInput, AttentionBoundsItsMemoryAndChecksItsOutputFirst) {
  expect_refused("attn_huge", "$DL attention --backend cpu --batch 4000 --heads 16 --head-dim 256 --kv-len 16777216", 2,
                 "attention --batch 4000 --heads 16");
  expect_refused("attn_json_first", "$DL attention --backend cpu --json missing/out.json", 1, "--json missing/out.json");
  expect_refused("attn_other_b1", "$DL attention --backend cpu --batch 1 --other-kv-lens 5", 2, "--other-kv-lens");
  if (kSanitized) return;
  const fs::path d = fresh_dir("attn_runs");
  const std::string cmd = "$DL attention --backend cpu --batch 16 --heads 64 --head-dim 256 --kv-len 1 --batch-sweep off --runs ";
  const ProcessResult few = run_in(d, cmd + "2"), many = run_in(d, cmd + "300");
  ASSERT_EQ(few.code, 0) << few.err;
  ASSERT_EQ(many.code, 0) << many.err;
  // 300 kept outputs would be 300 x 1 MiB; streamed, the peak stays within a few MiB.
  EXPECT_LT(many.max_rss_kib, few.max_rss_kib + 40 * 1024) << few.max_rss_kib << " vs " << many.max_rss_kib;
}

// Issue 20, classes 5 and 6: a refused or killed report leaves DIR exactly as it was.
TEST(BadInput, ReportRefusesBeforeItCreatesAnythingAndCleansUpWhenKilled) {
  expect_refused("report_bench_missing", "$DL report --quick --backend cpu --bench-json missing.json --out out", 1,
                 "--bench-json missing.json");
  // Not driftlab_bench's JSON: refused before the work (it failed the figures step at the end of the run).
  expect_refused("report_bench_not_json", "$DL report --quick --backend cpu --bench-json b.json --out out", 1,
                 "--bench-json b.json: invalid JSON", [](const fs::path& d) { std::ofstream(d / "b.json") << "not json"; });
  expect_refused("report_bench_no_list", "$DL report --quick --backend cpu --bench-json b.json --out out", 1,
                 "no \"benchmarks\" list", [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"benchmarks\": 5}"; });
  expect_refused("report_bench_empty", "$DL report --quick --backend cpu --bench-json empty.json --out out", 1,
                 "the file is empty", [](const fs::path& d) { std::ofstream(d / "empty.json"); });
  expect_refused("report_incomplete_file", "$DL report --quick --backend cpu --out out", 1, "incomplete is a file",
                 [](const fs::path& d) {
                   fs::create_directory(d / "out");
                   std::ofstream(d / "out" / "incomplete") << "mine";
                 });
  if (getuid() == 0 && fs::exists("/usr/bin/setpriv")) {  // a read-only --out names the user's folder
    expect_refused("report_read_only",
                   "{ mkdir -p ro; chmod 555 ro; setpriv --reuid=65534 --regid=65534 --clear-groups $DL report --quick "
                   "--backend cpu --out ro; rc=$?; chmod 755 ro; exit $rc; }",
                   1, "--out ro: cannot write into it", [](const fs::path& d) { fs::create_directory(d / "ro"); });
  }
  for (const char* sig : {"INT", "TERM"}) {
    SCOPED_TRACE(sig);
    const fs::path d = fresh_dir(std::string("report_killed_") + sig);
    fs::create_directory(d / "out");
    std::ofstream(d / "out" / "REPORT.md") << "the user's old report";
    const auto before = snapshot(d);
    // env --default-signal: sh starts a background job with SIGINT ignored, and an ignored signal stays ignored.
    const ProcessResult r = run_in(d, std::string("{ env --default-signal=INT $DL report --quick --backend cpu --out out & sleep 4; kill -") + sig +
                                          " $!; wait $!; env --default-signal=INT $DL report --quick --backend cpu --out fresh & sleep 3; kill -" +
                                          sig + " $!; wait $!; }");
    EXPECT_EQ(snapshot(d), before) << "a killed report left something behind";
  }
}

// A scenarios run (alone or inside a report) keeps its files in $TMPDIR/driftlab-scenarios-PID:
// removed when a SIGINT or SIGTERM ends it, and a folder left by a SIGKILLed run (its PID gone)
// removed by the next run.
TEST(BadInput, ScenariosKilledLeaveNoTemporaryFolder) {
  for (const char* sig : {"INT", "TERM"}) {
    SCOPED_TRACE(sig);
    const fs::path d = fresh_dir(std::string("scenarios_killed_") + sig);
    fs::create_directories(d / "tmp" / "driftlab-scenarios-999999999");  // a PID no process has
    std::ofstream(d / "tmp" / "driftlab-scenarios-999999999" / "restored.npz") << "left by a SIGKILL";
    // Waits (up to 60 s) for the run's own folder, not a fixed time: a loaded machine was slower than 2 s.
    const ProcessResult r = run_in(d, std::string("{ TMPDIR=\"$PWD/tmp\" env --default-signal=INT $DL scenarios --quick --backend cpu & "
                                                  "i=0; while [ $i -lt 1200 ] && ! ls tmp | grep -v 999999999 | grep -q driftlab-scenarios-; "
                                                  "do sleep 0.05; i=$((i+1)); done; "
                                                  "ls tmp > seen.txt; kill -") + sig + " $!; wait $!; }");
    const std::string seen = read_text(d / "seen.txt");
    EXPECT_NE(seen.find("driftlab-scenarios-"), std::string::npos) << "the run had not made its folder: " << seen;
    EXPECT_EQ(seen.find("999999999"), std::string::npos) << "the dead run's folder was kept: " << seen;
    EXPECT_TRUE(fs::is_empty(d / "tmp")) << "a killed scenarios run left its folder behind";
  }
}

// Issue 20, classes 7, 8, 11: --keras goes through the one input-file check and is read strictly.
TEST(BadInput, KerasFileIsARegularFileReadStrictly) {
  expect_refused("keras_zero", "$DL scenarios --keras /dev/zero", 1, "not a regular file");
  expect_refused("keras_fifo", "$DL scenarios --keras pipe", 1, "not a regular file",
                 [](const fs::path& d) { mkfifo((d / "pipe").c_str(), 0644); });
  expect_refused("keras_folder", "$DL scenarios --keras sub", 1, "is a folder",
                 [](const fs::path& d) { fs::create_directory(d / "sub"); });
  expect_refused("keras_empty_path", "$DL scenarios --keras ''", 2, "--keras");
  const std::string fixture = read_text(fs::path(DRIFTLAB_SOURCE_DIR) / "tests" / "fixtures" / "keras_check.json");
  auto variant = [&](std::string from, std::string to) {
    return [=](const fs::path& d) {
      std::string t = fixture;
      const auto at = t.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      t.replace(at, from.size(), to);
      std::ofstream(d / "k.json") << t;
    };
  };
  expect_refused("keras_inf", "$DL scenarios --keras k.json", 1, "expected a whole number",
                 variant("\"training_true\": 5", "\"training_true\": 1e999"));
  expect_refused("keras_fraction", "$DL scenarios --keras k.json", 1, "expected a whole number",
                 variant("\"training_true\": 5", "\"training_true\": 1.9"));
  expect_refused("keras_key", "$DL scenarios --keras k.json", 1, "not one of driftlab's scenarios",
                 variant("\"key\": \"example1\"", "\"key\": \"no_such_key\""));
  // An escape sequence in a verdict_text is kept as text, never sent raw to a terminal.
  const fs::path d = fresh_dir("keras_escape");
  variant("\"verdict_text\": \"", "\"verdict_text\": \"\\u001b[2J")(d);  // the first row's text
  const KerasCheck k = load_keras_check((d / "k.json").string());
  int shown = 0;
  for (const auto& [key, row] : k.rows) {
    EXPECT_EQ(row.verdict_text.find('\x1b'), std::string::npos) << key;
    shown += row.verdict_text.find("\\x1b[2J") != std::string::npos;
  }
  EXPECT_EQ(shown, 1) << "the escape is kept as the text \\x1b in the row it was written into";
}

// Issue 20, class 7: results that would silently change meaning are read as meant, or refused.
TEST(BadInput, InputsKeepTheirMeaning) {
  // '>V2': a void record has no byte order; NumPy reads the bytes as '|V2', and so does driftlab.
  const fs::path d = fresh_dir("big_void");
  auto npy_v2 = [&](const char* name, const char* descr) {
    std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (2,), }";
    dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
    dict += '\n';
    std::string file = std::string("\x93NUMPY\x01\x00", 8);
    file += static_cast<char>(dict.size() & 0xff);
    file += static_cast<char>(dict.size() >> 8);
    file += dict;
    file += std::string("\x80\x3f\x00\x40", 4);  // bf16 1.0 and 2.0, as ml_dtypes writes them
    std::ofstream(d / name, std::ios::binary) << file;
  };
  npy_v2("big.npy", ">V2");
  npy_v2("little.npy", "<V2");
  const ProcessResult big = run_in(d, "$DL sum --backend cpu --input big.npy --dtype bf16 --runs 1 --variant serial");
  const ProcessResult little = run_in(d, "$DL sum --backend cpu --input little.npy --dtype bf16 --runs 1 --variant serial");
  ASSERT_EQ(big.code, 0) << big.err;
  EXPECT_NE(big.out.find("exact sum: 3 "), std::string::npos) << big.out;
  EXPECT_NE(little.out.find("exact sum: 3 "), std::string::npos) << little.out;
  // A float32 weight that float16 cannot hold is refused, not turned into inf.
  auto big_weight = [](const fs::path& p) {
    HostArray W{DType::f32, {2, 2}, {1.0f, 1e6f, 0.5f, 0.25f}, {}, {}}, b{DType::f32, {2}, {0, 0}, {}, {}};
    npz::write((p / "w.npz").string(), {{"W0", W}, {"b0", b}}, false);
  };
  expect_refused("f16_overflow", "$DL predict --backend cpu --weights w.npz --dtype f16 --runs 1", 2, "overflows f16",
                 big_weight);
  expect_refused("f16_overflow_trace", "$DL trace --backend cpu --weights w.npz --compare dtype:f32,f16", 2,
                 "overflows f16", big_weight);
  expect_refused("act_empty", "$DL predict --act ''", 2, "--act: expected relu or linear");
  // A bf16 ('<V2') model cannot be dtype-traced: the advice names what works, not --dtype bf16.
  auto bf16_model = [](const fs::path& p) {
    HostArray W{DType::bf16, {2, 2}, {}, {}, {0x3f80, 0x3f00, 0x3e80, 0x4000}}, b{DType::bf16, {2}, {}, {}, {0, 0}};
    npz::write((p / "bf.npz").string(), {{"W0", W}, {"b0", b}}, false);
  };
  expect_refused("bf16_trace_dtype", "$DL trace --backend cpu --weights bf.npz --compare dtype:f32,bf16", 2,
                 "save the model as float32", bf16_model);
}

// Issue 20, class 11: a value wider than its column never runs into its neighbour.
TEST(BadInput, PredictTableColumnsNeverCollide) {
  PredictReport r;
  r.backend = "cpu";
  r.runs = 1;
  PredictRow row;
  row.variant = DenseVariant::tree;
  row.median_ms = 123456.789;
  row.samples_per_s = 2.148e6;
  row.cost_vs_atomic = 0.00823456;
  row.cost_vs_vendor = 123456.0;
  row.ref_max_rel_err = 1.234e-300;
  row.drift.max_abs_diff = -1.5e-300;
  row.batch_distinct = 123456789012;
  row.batch_max_ulp = 123456789012;
  r.batch_sweep = {1, 2};
  r.rows = {row};
  std::ostringstream out;
  print_predict_table(r, out);
  const std::string t = out.str();
  for (const char* glued : {"e+060.", "0.00823x1", "e-300-", "012123"})
    EXPECT_EQ(t.find(glued), std::string::npos) << glued << " in\n" << t;
  EXPECT_NE(t.find("2.148e+06 0.00823x"), std::string::npos) << t;
}

// Issue 20, classes 7 and 9: one rule for every output path.
TEST(BadInput, OutputPathsFollowOneRule) {
  // A valid 254-byte file name works (its temporary name stays within 255 bytes).
  const fs::path d = fresh_dir("long_name");
  const std::string name(249, 'x');
  ProcessResult r = run_in(d, "$DL sum --backend cpu --n 10 --runs 1 --json " + name + ".json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(d / (name + ".json")));
  // A symlinked --json is followed: the file it names is replaced, the link stays a link.
  const fs::path l = fresh_dir("symlink_json");
  std::ofstream(l / "real.json") << "old";
  fs::create_symlink("real.json", l / "link.json");
  r = run_in(l, "$DL sum --backend cpu --n 10 --runs 1 --json link.json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(l / "link.json"));
  EXPECT_NE(read_text(l / "real.json").find("\"command\""), std::string::npos);
  // A link to a device is refused as the device is.
  expect_refused("symlink_dev", "$DL attention --backend cpu --json null.json", 1, "not a regular file",
                 [](const fs::path& p) { fs::create_symlink("/dev/null", p / "null.json"); });
  expect_refused("empty_input", "$DL sum --input ''", 2, "--input: expected a file name");
  expect_refused("empty_json", "$DL trace --compare batch:1,2 --json ''", 2, "--json: expected a file name");
  if (getuid() == 0 && fs::exists("/usr/bin/setpriv")) {  // root writes anywhere: ask as nobody
    expect_refused("unwritable", "{ chmod 555 .; setpriv --reuid=65534 --regid=65534 --clear-groups $DL sum --backend cpu "
                   "--n 10 --runs 1 --json out.json; rc=$?; chmod 755 .; exit $rc; }", 1, "cannot write into");
  }
}

// Session 12's hostile pass (docs/bad-input-session12.md): a write that fails for a resource
// (`ulimit -f`, a full device, a closed pipe) or a stop in the middle of one changes no file and
// leaves no temporary; two outputs naming one file are refused; OpenBLAS under `ulimit -v` does
// not hang.
TEST(BadInput, WriteFailuresAndStopsChangeNoFile) {
  auto old_json = [](const fs::path& d) { std::ofstream(d / "existing.json") << "{\"old\":1}\n"; };
  // SIGXFSZ ended the process with no line and a partial hidden file: now EFBIG, one line.
  expect_refused("ulimit_f_json", "{ ulimit -f 1; $DL sum --backend cpu --n 1000 --runs 2 --json existing.json >/dev/null; }", 1,
                 "File too large", old_json);
  expect_refused("ulimit_f_npy",
                 "{ ulimit -f 1; $DL predict --backend cpu --runs 1 --batch 200 --variant tree --save-output o.npy >/dev/null; }", 1,
                 "File too large");
  // Session 13: predict's outputs are replaced together.  The .npy files fit under `ulimit -f 1`, the
  // --json after them does not: the .npy files written first are not kept either.
  expect_refused("ulimit_f_json_after_npy",
                 "{ ulimit -f 1; $DL predict --backend cpu --runs 1 --batch 2 --variant all --save-output o.npy "
                 "--json existing.json >/dev/null; }",
                 1, "File too large", [](const fs::path& d) {
                   std::ofstream(d / "existing.json") << "{\"old\":1}\n";
                   std::ofstream(d / "o.tree.npy") << "OLD";
                   std::ofstream(d / "o.invariant.npy") << "OLD";
                 });
  // Nor when the table cannot be written after them (a full device).
  expect_refused("dev_full_npy",
                 "{ $DL predict --backend cpu --runs 1 --batch 2 --variant tree --save-output o.npy >/dev/full; }", 1,
                 "cannot write to standard output", [](const fs::path& d) { std::ofstream(d / "o.npy") << "OLD"; });
  // The table could not be written (a full device): the JSON written before it is not kept.
  expect_refused("dev_full_json", "{ $DL sum --backend cpu --n 1000 --runs 2 --json existing.json >/dev/full; }", 1,
                 "cannot write to standard output", old_json);
  // A closed pipe (the reader's end closed before driftlab starts: no race): SIGPIPE ended the
  // process with no line and the JSON replaced.
  expect_refused("closed_pipe",
                 "python3 -c 'import os, subprocess, sys; r, w = os.pipe(); os.close(r); "
                 "sys.exit(subprocess.run(sys.argv[1:], stdout=w).returncode)' "
                 "$DL sum --backend cpu --n 1000 --runs 2 --json existing.json",
                 1, "cannot write to standard output: Broken pipe", old_json);
  // --json and --save-output naming one file (also FILE.<variant>.npy of --variant all): exit 2.
  expect_refused("same_file", "$DL predict --backend cpu --runs 1 --variant tree --json same.out --save-output same.out", 2,
                 "name the same file");
  expect_refused("same_variant_file", "$DL predict --backend cpu --runs 1 --json o.tree.npy --save-output o.npy", 2,
                 "name the same file");
  // Every variant's --save-output file is checked before the first is written.
  expect_refused("variant_file_folder", "$DL predict --backend cpu --runs 1 --save-output o.npy", 1, "is a folder",
                 [](const fs::path& d) {
                   std::ofstream(d / "o.atomic.npy") << "OLD";
                   fs::create_directories(d / "o.tree.npy");
                 });
  // A stop while a 200 MB output is being written: one line, the old file kept, no temporary left.
  // One thread: OpenBLAS's own threads (the vendor baseline) are not instrumented, and ThreadSanitizer
  // reports their writes into the output as a race.
  expect_refused("stop_mid_write",
                 "{ $DL predict --backend cpu --threads 1 --runs 1 --variant invariant --layers 10,1000 --batch 50000 "
                 "--init-seed 1 --save-output out.npy >/dev/null & p=$!; i=0; "
                 "while [ $i -lt 4000 ] && ! ls -A | grep -q '^[.]out[.]npy[.]tmp'; do sleep 0.005; i=$((i+1)); done; "
                 "kill -TERM $p; wait $p; }",
                 1, "stopped by SIGTERM", [](const fs::path& d) { std::ofstream(d / "out.npy") << "OLD"; });
  // driftlab_cpu_probe's result line is its output: a full device is a failure.
  const fs::path probe = fs::path(DRIFTLAB_EXE).parent_path() / "driftlab_cpu_probe";
  if (fs::exists(probe)) {
    expect_refused_by("probe_dev_full", "{ '" + probe.string() + "' dense 4 4 4 2 >/dev/full; }", 1,
                      "cannot write to standard output");
    expect_refused_by("probe_plus", "'" + probe.string() + "' dense +4 4 4 2", 2, "usage");
  }
  // OpenBLAS 0.3.21's threads under `ulimit -v` retried a failed 128 MiB allocation forever and the
  // process hung at exit (even `sum`): now it ends, with its result or one line.  Not under a
  // sanitizer (their shadow memory needs the address space).
  if (!kSanitized) {
    for (const char* cmd : {"sum --n 4 --runs 1", "predict --runs 1"})
      for (const char* limit : {"300000", "600000", "800000", "1000000", "1300000"}) {
        SCOPED_TRACE(std::string(cmd) + " under ulimit -v " + limit);
        const fs::path d = fresh_dir("ulimit_v");
        const ProcessResult r = run_in(d, std::string("{ ulimit -v ") + limit + "; timeout -s KILL 60 $DL " + cmd +
                                              " --backend cpu; }");
        EXPECT_TRUE(r.code == 0 || r.code == 1) << "exit " << r.code << ": " << r.err;
        if (r.code == 1) {
          EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        }
      }
  }
}

// OutputGroup (atomic_file.h): the files written while a group is open replace their targets only
// at commit(), together; a group that ends uncommitted leaves every target and no temporary.
TEST(BadInput, OutputGroupReplacesAllOrNone) {
  const fs::path d = fresh_dir("output_group");
  std::ofstream(d / "a") << "old a";
  const auto before = snapshot(d);
  {
    OutputGroup g;
    write_file_atomic((d / "a").string(), "new a", "");
    write_file_atomic((d / "b").string(), "new b", "");
    EXPECT_EQ(read_text(d / "a"), "old a");  // written, not yet in place
    EXPECT_FALSE(fs::exists(d / "b"));
    EXPECT_THROW(write_file_atomic((d / "no_folder" / "c").string(), "c", ""), FileWriteError);
  }  // not committed: as if nothing ran
  EXPECT_EQ(snapshot(d), before);
  {
    OutputGroup g;
    write_file_atomic((d / "a").string(), "new a", "");
    write_file_atomic((d / "b").string(), "new b", "");
    EXPECT_THROW(OutputGroup{}, std::logic_error);  // groups do not nest
    g.commit();
    write_file_atomic((d / "c").string(), "c", "");  // after commit: replaced at once
    EXPECT_EQ(read_text(d / "c"), "c");
  }
  EXPECT_EQ(read_text(d / "a"), "new a");
  EXPECT_EQ(read_text(d / "b"), "new b");
  EXPECT_EQ(snapshot(d).size(), 3u);  // a, b, c and no temporary
}

// cuBLAS is loaded when the cublas baseline first runs (cublas_loader.h), not by the loader before
// main: linked, its 540 MB libcublasLt made every command fail under `ulimit -v` 600000 (exit 127 from
// the loader, or a crash in its constructor) and cost 226 MB resident for `--help`.
TEST(BadInput, CpuCommandsDoNotLoadCublas) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
  const fs::path d = fresh_dir("no_cublas_at_start");
  ProcessResult r = run_in(d, "{ ulimit -v 200000; $DL --help; }");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_in(d, "{ ulimit -v 300000; $DL sum --backend cpu --n 1000 --runs 2 --threads 1; }");
  EXPECT_EQ(r.code, 0) << r.err;
}

// Issue 20, classes 10 and 12: -h everywhere; a table that cannot be written is a failure; OpenBLAS
// under a process limit of 1.
TEST(BadInput, HelpTableAndProcessLimit) {
  const fs::path d = fresh_dir("dash_h");
  for (const char* cmd : {"sum", "predict", "trace", "attention", "scenarios", "report"}) {
    const ProcessResult r = run_in(d, std::string("$DL ") + cmd + " -h");
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_EQ(r.out.rfind(std::string("usage: driftlab ") + cmd, 0), 0u) << cmd;
  }
  expect_refused("dev_full", "{ $DL sum --backend cpu --n 10 --runs 1 >/dev/full; }", 1, "cannot write to standard output");
  expect_refused("stdout_closed", "{ $DL sum --backend cpu --n 10 --runs 1 --json out.json >&-; }", 1, "standard output");
  // Not under a sanitizer: LeakSanitizer and TSan start threads of their own at exit, which a process
  // limit of 1 refuses (the Release build of CI's step 1 runs this case).
  if (!kSanitized && getuid() == 0 && fs::exists("/usr/bin/setpriv") && fs::exists("/bin/bash")) {
    const ProcessResult r = run_in(d, "setpriv --reuid=65534 --regid=65534 --clear-groups /bin/bash -c \"ulimit -u 1; exec $DL --help\"");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("usage: driftlab", 0), 0u) << r.err;
  }
}

// ---- DRIFTLAB_ISA (issue 20 item 4/5, issue 22's one dispatcher): read and checked once at startup,
// before any work; a bad value is one line and exit 2 with the folder unchanged, for every command
// (report included: no staging folder, no DIR) and for the benchmark binaries.
TEST(BadInput, BadIsaIsRefusedBeforeAnyWork) {
  const std::string isa = "DRIFTLAB_ISA=garbage ";
  expect_refused("isa_sum", isa + "$DL sum --backend cpu --variant tree --n 1000 --json s.json", 2, "DRIFTLAB_ISA");
  expect_refused("isa_attention", isa + "$DL attention --backend cpu --json a.json", 2, "DRIFTLAB_ISA");
  expect_refused("isa_report", isa + "$DL report --quick --out rep", 2, "DRIFTLAB_ISA");
  expect_refused("isa_report_existing", isa + "$DL report --quick --out rep", 2, "DRIFTLAB_ISA",
                 [](const fs::path& d) {
                   fs::create_directories(d / "rep");
                   std::ofstream(d / "rep" / "REPORT.md") << "old\n";
                 });
  expect_refused("isa_avx", "DRIFTLAB_ISA=avx $DL sum --backend cpu --n 10", 2, "got 'avx'");
  expect_refused("isa_case", "DRIFTLAB_ISA=AVX2 $DL sum --backend cpu --n 10", 2, "got 'AVX2'");
#ifdef DRIFTLAB_BENCH_EXE
  const std::string bench = std::string("'") + DRIFTLAB_BENCH_EXE + "'";
  expect_refused("isa_bench", isa + bench + " --benchmark_filter=sum/cpu/f32/uniform/tree/1024/ --benchmark_out=b.json", 2,
                 "DRIFTLAB_ISA", [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"k\":1}\n"; });
#endif
}

// ---- Session 7's hostile pass (docs/bad-input-session7.md).

// A 3-4-2 model in w.npz: what --weights reads.
void write_small_model(const fs::path& d) {
  HostArray W0{DType::f32, {3, 4}, std::vector<float>(12, 0.25f), {}, {}}, b0{DType::f32, {4}, std::vector<float>(4, 0.0f), {}, {}};
  HostArray W1{DType::f32, {4, 2}, std::vector<float>(8, -0.5f), {}, {}}, b1{DType::f32, {2}, {0.125f, 0.0f}, {}, {}};
  npz::write((d / "w.npz").string(), {{"W0", W0}, {"b0", b0}, {"W1", W1}, {"b1", b1}}, false);
}

// --weights sets the layer sizes: a --layers beside it was ignored silently; now it is refused by
// every command that reads --weights (predict, predict --tp, trace), even when it names the file's
// own shape.  What a parent hands its children (--processes, --tp's ranks) no longer carries a
// --layers beside --weights, so they still run.
TEST(BadInput, LayersAndWeightsAreRefusedTogether) {
  const char* needle = "--layers and --weights cannot be used together";
  expect_refused("weights_layers_predict", "$DL predict --backend cpu --weights w.npz --layers 4,4 --json out.json", 2, needle,
                 write_small_model);
  expect_refused("weights_layers_same_shape", "$DL predict --backend cpu --layers 3,4,2 --weights w.npz", 2, needle,
                 write_small_model);
  expect_refused("weights_layers_tp", "$DL predict --tp 1,2 --simulate --weights w.npz --layers 4,4", 2, needle,
                 write_small_model);
  expect_refused("weights_layers_trace", "$DL trace --compare runs:0,1 --backend cpu --weights w.npz --layers 4,4", 2, needle,
                 write_small_model);
  const fs::path d = fresh_dir("weights_children");
  write_small_model(d);
  ProcessResult r = run_in(d, "$DL predict --backend cpu --weights w.npz --processes 2 --runs 1 --variant tree");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3-4-2"), std::string::npos) << r.out;
  r = run_in(d, "$DL predict --tp 1,2 --simulate --weights w.npz --runs 1");
  EXPECT_EQ(r.code, 0) << r.err;
  if (testing::mpi_skip_reason().empty()) {  // the ranks get the parent's flags
    r = run_in(d, "$DL predict --tp 1,2 --weights w.npz --runs 1");
    EXPECT_EQ(r.code, 0) << r.err;
  }
}

// A flag given twice is refused by every command (cli_args.h's ArgReader): the last one counted,
// silently, so "--runs 5 ... --runs 500" ran 500.  --init-seed beside --weights is refused (the file
// sets the weights, the seed was accepted and unused); the children and ranks of --weights get no seed.
TEST(BadInput, FlagGivenTwiceAndUnusedSeedAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"sum --n 1000 --n 2000 --backend cpu", "--n given twice"},
      {"sum --runs=2 --runs 3 --backend cpu", "--runs given twice"},
      {"sum -h --help", "--help given twice"},
      {"predict --backend cpu --backend cpu", "--backend given twice"},
      {"predict --init-seed 1 --init-seed 1", "--init-seed given twice"},
      {"trace --compare runs:0,1 --batch 2 --batch 3", "--batch given twice"},
      {"attention --heads 1 --heads 2", "--heads given twice"},
      {"allreduce --simulate --ranks 2 --ranks 3", "--ranks given twice"},
      {"variants --json=true", "--json given twice"},
      {"scenarios --threads 1 --threads 2", "--threads given twice"},
      {"report --quick --quick", "--quick given twice"},
      {"predict --backend cpu --weights w.npz --init-seed 3", "--init-seed and --weights cannot be used together"},
      {"predict --tp 1,2 --simulate --init-seed 3 --weights w.npz", "--init-seed and --weights cannot be used together"},
      {"trace --compare runs:0,1 --backend cpu --weights w.npz --init-seed 3", "--init-seed and --weights cannot be used together"}};
  int i = 0;
  for (const auto& [args, needle] : cases)
    expect_refused("twice_" + std::to_string(i++), std::string("$DL ") + args + " --json out.json", 2, needle,
                   [](const fs::path& d) {
                     std::ofstream(d / "out.json") << "{\"mine\":1}\n";
                     write_small_model(d);
                   });
}

// One rule for every list flag (cli_args.h: split_list, refuse_repeats): an empty entry is refused
// anywhere (a trailing comma was accepted, a leading one refused); an entry given twice is refused
// where each entry chooses a run (--tp 2,2 ran TP 2 twice, --variant ring,ring dropped one silently),
// and kept where entries describe one model or batch (--layers, --act, --kv-lens).
TEST(BadInput, ListFlagsFollowOneRule) {
  const std::pair<const char*, const char*> twice[] = {
      {"predict --tp 2,2 --simulate", "--tp: 2 appears twice"},
      {"predict --tp 2,2^1 --simulate", "--tp: 2 appears twice"},
      {"allreduce --ranks 2,2 --simulate", "--ranks: 2 appears twice"},
      {"allreduce --channels 1,2,1 --simulate", "--channels: 1 appears twice"},
      {"allreduce --fusion 0,0 --simulate", "--fusion: 0 appears twice"},
      {"allreduce --variant ring,ring --simulate", "--variant: ring appears twice"},
      {"allreduce --mpi-algorithm all,ring", "--mpi-algorithm: ring appears twice"},
      {"predict --tp 2 --mpi-algorithm ring,ring", "--mpi-algorithm: ring appears twice"},
      {"predict --tp 2 --simulate --tp-variant exact,exact", "--tp-variant: exact appears twice"},
      {"predict --batch-sweep 1,7,7", "--batch-sweep: 7 appears twice"},
      {"attention --batch-sweep 2,2", "--batch-sweep: 2 appears twice"},
      {"attention --batch 2 --other-kv-lens 4,4", "--other-kv-lens: 4 appears twice"},
      {"predict --tp 1, --simulate", "--tp: an empty entry in '1,'"},
      {"allreduce --ranks 1,,2 --simulate", "--ranks: an empty entry"},
      {"allreduce --mpi-algorithm ring,", "--mpi-algorithm: an empty entry"},
      {"predict --tp 2 --simulate --tp-variant ring,", "--tp-variant: an empty entry"},
      {"predict --layers 10,20,", "--layers: an empty entry"},
      {"predict --act relu,", "--act: an empty entry"},
      {"attention --kv-lens 4,", "--kv-lens: an empty entry"},
      {"allreduce --variant all,ring --simulate", "--variant: all stands alone"},
      {"predict --tp 2 --simulate --tp-variant ring,all", "--tp-variant: all stands alone"}};
  int i = 0;
  for (const auto& [args, needle] : twice)
    expect_refused("list_" + std::to_string(i++), std::string("$DL ") + args + " --json out.json", 2, needle,
                   [](const fs::path& d) { std::ofstream(d / "out.json") << "{\"mine\":1}\n"; });
  // Repetition that means something is kept.
  const fs::path d = fresh_dir("list_repeats_kept");
  for (const char* ok : {"predict --backend cpu --runs 1 --variant tree --init-seed 1 --layers 10,10,10 --act relu,relu",
                         "attention --backend cpu --runs 1 --variant fixed_split --heads 1 --head-dim 4 --kv-lens 8,8 --batch-sweep off"}) {
    const ProcessResult r = run_in(d, std::string("$DL ") + ok);
    EXPECT_EQ(r.code, 0) << ok << ": " << r.err;
  }
}

// DRIFTLAB_MPIRUN that names something driftlab cannot run says what it is (it said "not found" for
// a file without an execute bit): one line, exit 1, --json unchanged, for allreduce and predict --tp.
TEST(BadInput, MpirunThatCannotRunSaysWhy) {
  if (!allreduce::mpi_built()) GTEST_SKIP() << "built without MPI: " << allreduce::mpi_missing_reason();
  auto setup = [](const fs::path& d) {
    std::ofstream(d / "out.json") << "{\"mine\":1}\n";
    std::ofstream(d / "mpirun") << "#!/bin/sh\nexit 0\n";  // no execute bit
    fs::create_directory(d / "folder");
  };
  for (const char* cmd : {"allreduce --ranks 2 --n 100 --runs 1", "predict --tp 2 --runs 1 --init-seed 1"}) {
    const std::string c = std::string(" $DL ") + cmd + " --json out.json";
    expect_refused("mpirun_not_x", "DRIFTLAB_MPIRUN=\"$PWD/mpirun\"" + c, 1, "/mpirun (DRIFTLAB_MPIRUN) is not executable", setup);
    expect_refused("mpirun_folder", "DRIFTLAB_MPIRUN=\"$PWD/folder\"" + c, 1, "is a folder, not a program", setup);
    expect_refused("mpirun_missing", "DRIFTLAB_MPIRUN=\"$PWD/none\"" + c, 1, "mpirun not found at", setup);
  }
}

// A DRIFTLAB_MPIRUN that misbehaves: hangs, fails with escape bytes in its last line, writes garbage
// where the result goes, or leaves a process behind when it exits.  One line, exit 1, the folder as
// it was, and nothing of the job left running (a stray in mpirun's group outlived it before).
TEST(BadInput, HostileMpirunIsOneLineAndLeavesNothingRunning) {
  if (!allreduce::mpi_built()) GTEST_SKIP() << "built without MPI: " << allreduce::mpi_missing_reason();
  const fs::path pid_file = fs::path(DRIFTLAB_TEST_TMP) / "bad_input" / "stray.pid";
  fs::remove(pid_file);
  auto script = [](const std::string& body) {
    return [body](const fs::path& d) {
      std::ofstream(d / "out.json") << "{\"mine\":1}\n";
      std::ofstream(d / "m.sh") << "#!/bin/sh\n" << body << "\n";
      fs::permissions(d / "m.sh", fs::perms::owner_all);
    };
  };
  const std::string last = "for a; do last=$a; done; ";
  const struct {
    const char* name;
    std::string body, needle;
  } cases[] = {
      {"mpirun_hangs", "sleep 1000", "did not finish within --timeout 2 s; killed"},
      {"mpirun_fails", "printf 'x\\nBOOM \\033[2J\\n' >&2; exit 3", "failed (exit 3): BOOM \\x1b[2J"},
      {"mpirun_garbage", last + "head -c 5000 /dev/urandom > \"$last\"", "not an MPI result file"},
      {"mpirun_stray", "sleep 1000 & echo $! > '" + pid_file.string() + "'; exit 0", "wrote no result"}};
  for (const auto& c : cases)
    for (const char* cmd : {"allreduce --ranks 2 --n 100 --runs 1", "predict --tp 2 --runs 1 --init-seed 1"})
      expect_refused(c.name, std::string("DRIFTLAB_MPIRUN=\"$PWD/m.sh\" $DL ") + cmd + " --timeout 2 --json out.json", 1, c.needle,
                     script(c.body));
  // The stray sleep of the last run is gone (reaped by init after the kill: allow it a moment).
  const pid_t stray = static_cast<pid_t>(std::stol(read_text(pid_file)));
  bool alive = true;
  for (int i = 0; i < 100 && alive; ++i) {
    alive = ::kill(stray, 0) == 0 && read_text("/proc/" + std::to_string(stray) + "/stat").find(") Z") == std::string::npos;
    if (alive) ::usleep(20000);
  }
  EXPECT_FALSE(alive) << "the process mpirun left behind is still running (pid " << stray << ")";
  if (alive) ::kill(stray, SIGKILL);
}

// A signal ignored when driftlab starts stays ignored (signals.h): under nohup a SIGHUP ended an
// allreduce or predict --tp while an mpirun ran (its cleanup handler replaced SIG_IGN, then died of
// the signal it chained to).  A SIGTERM still ends it, with nothing left behind: not even Open MPI's
// session folder, which a killed mpirun left in $TMPDIR (4 runs in 5; it now lives in driftlab's),
// and with the one line of every signal.
TEST(BadInput, IgnoredSignalsStayIgnored) {
  if (const std::string why = testing::mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const fs::path d = fresh_dir("nohup_allreduce");
  ProcessResult r = run_in(d, "{ (trap '' HUP; exec $DL allreduce --ranks 1,2,3,4 --n 1000 --runs 300 --json out.json) & "
                              "sleep 1.5; kill -HUP $!; wait $!; }");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(d / "out.json")) << "the run did not finish";
  const fs::path t = fresh_dir("term_allreduce");
  std::ofstream(t / "out.json") << "mine";
  fs::create_directory(t / "tmp");
  const auto before = snapshot(t);
  r = run_in(t, "{ (trap '' HUP; TMPDIR=\"$PWD/tmp\" exec $DL allreduce --ranks 1,2,3,4,8 --runs 2000 --json out.json) & "
                "sleep 1.2; kill -TERM $!; wait $!; }");
  EXPECT_EQ(r.code, 1) << r.err;  // one line and exit 1 (signals.h), after the cleanup
  EXPECT_EQ(r.err, "driftlab: stopped by SIGTERM\n");
  const auto after = snapshot(t);
  std::string names;  // the names only: Open MPI's session files are binary
  for (const auto& [name, bytes] : after) names += name + " ";
  EXPECT_TRUE(after == before) << "the folder changed; it holds: " << names;
}

// The promise for signals (host/common/signals.h): SIGINT, SIGTERM or SIGHUP ends driftlab,
// driftlab_bench and driftlab_cpu_probe with one line on stderr and exit 1, after the cleanup
// handlers ran (the bench's old --benchmark_out is kept; Google Benchmark's context lines come
// before its one line).  The predict run is in a process group of
// its own and the signal goes to the whole group, as a terminal's Ctrl-C does: its child processes
// get it too and add no line.  (Under a shell, a background job starts with SIGINT ignored, which
// stays ignored: env --default-signal.)
TEST(BadInput, SignalsEndInOneLineAndExitOne) {
  const std::string probe = (fs::path(DRIFTLAB_EXE).parent_path() / "driftlab_cpu_probe").string();
  struct Case {
    std::string name, cmd, sig, line;
  };
  std::vector<Case> cases = {
      {"sig_sum", "$DL sum --backend cpu --n 4000000 --runs 100000 --variant tree --json out.json", "INT",
       "driftlab: stopped by SIGINT"},
      {"sig_predict_children", "$DL predict --backend cpu --processes 3 --runs 100000 --batch 64 --json out.json", "INT",
       "driftlab: stopped by SIGINT"},
      {"sig_sum_hup", "$DL sum --backend cpu --n 4000000 --runs 100000 --variant exact", "HUP",
       "driftlab: stopped by SIGHUP"},
      // Session 13: every signal whose default ends a process silently (signals.h's kStopSignals).
      {"sig_sum_usr1", "$DL sum --backend cpu --n 4000000 --runs 100000 --variant tree --json out.json", "USR1",
       "driftlab: stopped by SIGUSR1"},
      {"sig_predict_quit", "$DL predict --backend cpu --runs 100000 --batch 64 --save-output out.json", "QUIT",
       "driftlab: stopped by SIGQUIT"},
      // scenarios' temporary folder (TMPDIR=tmp, inside the snapshot) is removed on SIGALRM too
      {"sig_scenarios_alrm", "env TMPDIR=\"$PWD/tmp\" $DL scenarios --backend cpu --json out.json", "ALRM",
       "driftlab: stopped by SIGALRM"},
  };
#ifdef DRIFTLAB_BENCH_EXE
  cases.push_back({"sig_bench", std::string("'") + DRIFTLAB_BENCH_EXE + "' --benchmark_filter=sum/cpu --benchmark_min_time=0.05 --benchmark_out=b.json",
                   "TERM", "driftlab_bench: stopped by SIGTERM"});
#endif
  if (fs::exists(probe)) cases.push_back({"sig_probe", "'" + probe + "' gemm 256 256 256 1000000", "TERM", "driftlab_cpu_probe: stopped by SIGTERM"});
  for (const Case& c : cases) {
    const fs::path d = fresh_dir(c.name);
    std::ofstream(d / "out.json") << "mine";
    std::ofstream(d / "b.json") << "{\"k\":1}";
    fs::create_directories(d / "tmp");
    const auto before = snapshot(d);
    const ProcessResult r = run_in(d, "{ setsid env --default-signal=INT,QUIT " + c.cmd + " >/dev/null & sleep 1.5; kill -" +
                                          c.sig + " -$!; wait $!; }");
    EXPECT_EQ(r.code, 1) << c.name << ": " << r.err;
    // driftlab_bench's stderr opens with Google Benchmark's context (the machine, the load): the
    // one line is its last, and the only one of driftlab_bench's own.
    const std::string err = c.name == "sig_bench" ? r.err.substr(std::min(r.err.size(), r.err.rfind("\ndriftlab_bench: ") + 1)) : r.err;
    EXPECT_EQ(err, c.line + "\n") << c.name << ": " << r.err;
    EXPECT_EQ(snapshot(d), before) << c.name << ": a file changed";
  }
  // The CPU time limit is a resource: its soft limit's SIGXCPU ended the run with a core dump and no
  // line.  (`ulimit -t` alone sets the hard limit too, whose SIGKILL no program can catch.)
  expect_refused("sig_xcpu", "{ ulimit -S -t 1; $DL sum --backend cpu --n 4000000 --runs 100000 --json out.json >/dev/null; }", 1,
                   "stopped by SIGXCPU (the CPU time limit)", [](const fs::path& d) { std::ofstream(d / "out.json") << "mine"; });
}

// An Open MPI variable left behind in a shell is not an mpirun job: a usage error is still said.  It
// made driftlab act as a rank other than 0 and exit 2 with no line.
TEST(BadInput, LeftoverMpiVariablesAreNotAJob) {
  expect_refused("ompi_rank_left", "OMPI_COMM_WORLD_RANK=1 $DL sum --bogus", 2, "--bogus");
  expect_refused("ompi_rank_size_left", "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 $DL sum --n x", 2, "--n");
  expect_refused("ompi_rank_garbage", "OMPI_COMM_WORLD_RANK=1x OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=1x $DL sum --n x", 2, "--n");
}

// A $TMPDIR that does not exist is an error, not a folder to make: scenarios made it (and its
// parents) and ran; mpirun's jobs (mkdtemp) already refused it.
TEST(BadInput, MissingTmpdirIsAnErrorNotMade) {
  expect_refused("tmpdir_missing", "TMPDIR=\"$PWD/none/deeper\" $DL scenarios --quick --backend cpu --json out.json", 1,
                 "cannot make the temporary folder", [](const fs::path& d) { std::ofstream(d / "out.json") << "mine"; });
}

#ifdef DRIFTLAB_BENCH_EXE
// Google Benchmark's own flags keep the promise too: a bad value is one line and exit 2, never its
// usage text with exit 0 (a bad format) or a silent default (a bad number, a bad boolean).
TEST(BadInput, BenchFlagValuesAreChecked) {
  const std::string bench = std::string("'") + DRIFTLAB_BENCH_EXE + "' --benchmark_filter=sum/cpu/f32/uniform/tree/1024/ ";
  const std::pair<const char*, const char*> cases[] = {
      {"--benchmark_out_format=bogus", "console, json or csv"},  {"--benchmark_format=", "console, json or csv"},
      {"--benchmark_min_time=0.01s", "no 's' suffix"},           {"--benchmark_min_time=-1", "positive"},
      {"--benchmark_repetitions=abc", "whole number"},           {"--benchmark_repetitions=0", "whole number"},
      {"--benchmark_list_tests=maybe", "true or false"},         {"--benchmark_time_unit=xs", "ns, us, ms or s"},
      {"--benchmark_color=purple", "auto, true or false"},       {"--v=-1", "whole number"}};
  int i = 0;
  for (const auto& [flag, needle] : cases)
    expect_refused("bench_flag_" + std::to_string(i++), bench + flag + " --benchmark_out=b.json", 2, needle,
                   [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"k\":1}\n"; });
  // a filter Google Benchmark cannot compile (it said so and ran nothing: exit 1, as if no name matched)
  for (const char* filter : {"'--benchmark_filter=sum/cpu/f32/uniform/tree/(1024'", "'--benchmark_filter=-[a-'"})
    expect_refused("bench_flag_" + std::to_string(i++),
                   std::string("'") + DRIFTLAB_BENCH_EXE + "' " + filter + " --benchmark_out=b.json", 2,
                   "extended regular expression", [](const fs::path& d) { std::ofstream(d / "b.json") << "{\"k\":1}\n"; });
}
#endif

}  // namespace
}  // namespace driftlab
