// driftlab_bench: every summation variant with its baselines in one binary, one run, so every
// ratio (tree vs read probe, exact vs tree, tree vs cub) can be read off one JSON file.
#include <benchmark/benchmark.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <initializer_list>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include <cstdio>
#include <exception>
#include <fstream>
#include <new>
#include <iostream>
#include <iterator>

#include "kernels/cpu/fp_env.h"
#include "bench/bench_common.h"
#include "host/common/signals.h"
#include "host/io/atomic_file.h"
#include "kernels/cpu/isa.h"
#include "host/io/input_file.h"
#include "host/io/data.h"
#include "host/io/json_read.h"
#include "host/backends/openblas_kernels.h"

namespace driftlab::bench {

const HostArray& cached_input(DType d, Dist dist, std::size_t n) {
  static std::map<std::tuple<int, int, std::size_t>, HostArray> cache;
  auto key = std::make_tuple(static_cast<int>(d), static_cast<int>(dist), n);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_input(dist, d, n, 12345)).first;
  return it->second;
}

namespace {
std::string g_first_failure;  // "NAME: what" of the first CPU benchmark that threw
std::size_t g_failures = 0;
}  // namespace

void note_failure(const std::string& benchmark, const char* what) {
  if (g_failures++ == 0) g_first_failure = benchmark + ": " + what;
}

std::string kernels_label() {
  unsigned ran = 0;
  for (int f = 0; f < static_cast<int>(cpu::detail::IsaFamily::count); ++f)
    ran |= cpu::detail::paths_run(static_cast<cpu::detail::IsaFamily>(f));
  std::string label;
  for (const cpu::Isa level : {cpu::Isa::avx512, cpu::Isa::avx2, cpu::Isa::scalar})
    if (ran & (1u << static_cast<unsigned>(level))) label += (label.empty() ? "kernels=" : "+") + std::string(cpu::isa_name(level));
  // The sum tiles' form, where their level has two: "stream" when the input's tiles streamed (the
  // tree's level of tile partials, a few KiB in cache, is then still read blocked), else "blocked".
  const unsigned forms = cpu::detail::forms_run();
  auto has = [&](cpu::detail::TileForm f) { return (forms & 1u << static_cast<int>(f)) != 0; };
  if (has(cpu::detail::TileForm::stream)) label += " form=stream";
  else if (has(cpu::detail::TileForm::blocked)) label += " form=blocked";
  // The exact sum's tiles: kept in the level's vector form, handed to the scalar code, or both.
  const bool vec = has(cpu::detail::TileForm::vector), scal = has(cpu::detail::TileForm::scalar);
  if (vec || scal) label += vec && scal ? " form=vector+scalar" : vec ? " form=vector" : " form=scalar";
  return label;
}

}  // namespace driftlab::bench

// --benchmark_out gets driftlab's output treatment (atomic_file.h): Google Benchmark writes a
// temporary file in the target's folder, renamed over the target only when benchmarks ran and the
// file was written; a filter that matches nothing, a failure or a stop signal (signals.h)
// leaves an existing file as it was and no temporary behind.
namespace {

char g_tmp[4096];  // the temporary's name, for the signal handler

void (*g_before[NSIG])(int) = {};  // each signal's handler before ours: the stop line (signals.h)

void remove_tmp_and_die(int sig) {
  if (g_tmp[0]) ::unlink(g_tmp);
  driftlab::chain_to_before(sig, remove_tmp_and_die, g_before);  // one line and exit 1
}

// The last resort for an exception no benchmark body caught (register_cpu and the CUDA bodies'
// guarded() catch theirs): one line and exit 1, never std::terminate's abort.
[[noreturn]] void one_line_terminate() {
  std::string what = "an unexpected error";
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = driftlab::bench::failure_text(x);
    } catch (...) {
    }
  }
  if (g_tmp[0]) ::unlink(g_tmp);
  std::fprintf(stderr, "driftlab_bench: %s\n", what.c_str());
  std::_Exit(1);
}

[[noreturn]] void die(const std::string& line) {
  if (g_tmp[0]) ::unlink(g_tmp);
  std::fprintf(stderr, "driftlab_bench: %s\n", line.c_str());
  std::exit(1);
}

}  // namespace

// Google Benchmark 1.7 answers a bad flag value in its own ways: a bad format prints its usage and
// exits 0, a bad number prints a warning and runs with the default, a bad boolean counts as true.
// driftlab_bench checks the values first, so a bad one is one line and exit 2, like driftlab's flags.
static std::string bad_benchmark_flag(const std::string& arg) {
  const auto eq = arg.find('=');
  const std::string name = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
  const bool has_value = eq != std::string::npos;
  auto one_of = [&](std::initializer_list<const char*> ok) {
    for (const char* o : ok)
      if (value == o) return true;
    return false;
  };
  auto number = [&](double lo, bool whole) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    return !value.empty() && end && *end == 0 && errno == 0 && std::isfinite(v) && v >= lo &&
           (!whole || (v == std::floor(v) && v <= 2147483647.0));
  };
  std::string expected;
  if (name == "--benchmark_list_tests" || name == "--benchmark_enable_random_interleaving" ||
      name == "--benchmark_report_aggregates_only" || name == "--benchmark_display_aggregates_only" ||
      name == "--benchmark_counters_tabular") {
    if (has_value && !one_of({"true", "false", "1", "0", "yes", "no", "on", "off"})) expected = "true or false";
  } else if (name == "--benchmark_format" || name == "--benchmark_out_format") {
    if (!one_of({"console", "json", "csv"})) expected = "console, json or csv";
  } else if (name == "--benchmark_color") {
    if (has_value && !one_of({"auto", "true", "false", "yes", "no", "on", "off", "1", "0"})) expected = "auto, true or false";
  } else if (name == "--benchmark_time_unit") {
    if (!one_of({"ns", "us", "ms", "s"})) expected = "ns, us, ms or s";
  } else if (name == "--benchmark_min_time") {
    if (!number(1e-9, false)) expected = "a positive number of seconds (this Google Benchmark takes no 's' suffix)";
  } else if (name == "--benchmark_min_warmup_time") {
    if (!number(0, false)) expected = "a non-negative number of seconds";
  } else if (name == "--benchmark_repetitions") {
    if (!number(1, true)) expected = "a whole number from 1 to 2^31 - 1";
  } else if (name == "--v") {
    if (!number(0, true)) expected = "a whole number from 0 to 2^31 - 1";
  } else if (name == "--benchmark_filter") {
    // compiled as Google Benchmark 1.7 compiles it (a leading '-' negates; "all" is "."), which
    // otherwise prints "Could not compile benchmark re" and runs nothing: exit 1, not a usage error
    const std::string spec = !value.empty() && value[0] == '-' ? value.substr(1) : value;
    if (!value.empty() && value != "all") {
      try {
        const std::regex re(spec, std::regex_constants::extended);
      } catch (const std::regex_error& e) {
        expected = std::string("an extended regular expression (") + e.what() + ")";
      }
    }
  }
  if (expected.empty()) return "";
  return name + ": expected " + expected + ", got '" + driftlab::shown_path(value) + "'";
}

int main(int argc, char** argv) {
  driftlab::cpu::set_default_fp_env();  // whatever this process inherited (kernels/cpu/fp_env.h)
  // DRIFTLAB_ISA caps every CPU kernel (kernels/cpu/isa.h): checked before any work or output.
  if (const auto isa_error = driftlab::cpu::isa_env_error()) {
    std::fprintf(stderr, "driftlab_bench: %s\n", isa_error->c_str());
    return 2;
  }
  std::set<std::string> seen;  // a flag given twice is refused, as driftlab's (Google Benchmark took the last)
  for (int i = 1; i < argc; ++i) {
    if (const std::string bad = bad_benchmark_flag(argv[i]); !bad.empty()) {
      std::fprintf(stderr, "driftlab_bench: %s\n", bad.c_str());
      return 2;
    }
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && !seen.insert(a.substr(0, a.find('='))).second) {
      std::fprintf(stderr, "driftlab_bench: %s given twice\n", driftlab::shown_path(a.substr(0, a.find('='))).c_str());
      return 2;
    }
  }
  driftlab::restart_with_best_openblas_kernels(argv);  // the fair CPU baseline (openblas_kernels.h)
  driftlab::install_stop_line("driftlab_bench");  // a signal: one line, exit 1 (signals.h)
  std::set_terminate(one_line_terminate);
  std::string out_file, tmp_arg;
  int out_index = -1;
  bool out_format_json = true;  // Google Benchmark's default for --benchmark_out
  std::string filter = ".";     // Google Benchmark's default
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--benchmark_out=", 0) == 0) out_file = a.substr(16), out_index = i;
    if (a.rfind("--benchmark_out_format=", 0) == 0) out_format_json = a.substr(23) == "json";
    if (a.rfind("--benchmark_filter=", 0) == 0) filter = a.substr(19);
  }
  if (out_index >= 0) {
    try {
      driftlab::check_output_path(out_file, "--benchmark_out");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "driftlab_bench: %s\n", e.what());
      return 1;
    }
    const std::string target = driftlab::resolved_output(out_file);
    const std::string base = driftlab::file_name(target);
    std::string tmp = driftlab::parent_folder(target) + "/." + (base.size() + 12 <= 255 ? base : std::string("driftlab")) +
                      ".tmp-XXXXXX";
    if (tmp.size() >= sizeof g_tmp) die("--benchmark_out " + out_file + ": the path is too long");
    std::memcpy(g_tmp, tmp.c_str(), tmp.size() + 1);
    driftlab::chain_cleanup_handler(remove_tmp_and_die, g_before);  // an ignored one stays ignored
    const int fd = ::mkstemp(g_tmp);
    if (fd < 0) {
      g_tmp[0] = 0;
      die("--benchmark_out " + out_file + ": cannot write: " + std::strerror(errno));
    }
    ::close(fd);
    tmp_arg = std::string("--benchmark_out=") + g_tmp;
    argv[out_index] = tmp_arg.data();
  }
  benchmark::AddCustomContext("driftlab_isa", driftlab::cpu::isa_name(driftlab::cpu::isa_level()));
  benchmark::AddCustomContext("openblas_core", driftlab::openblas_core());
  driftlab::bench::register_cpu_sum_benchmarks();
  driftlab::bench::register_cuda_sum_benchmarks();
  driftlab::bench::register_cpu_dense_benchmarks();
  driftlab::bench::register_cuda_dense_benchmarks();
  driftlab::bench::register_cpu_trace_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (argc > 1) {  // what Initialize left is not a flag it knows: a bad command line, one line, exit 2
    if (g_tmp[0]) ::unlink(g_tmp);
    std::fprintf(stderr, "driftlab_bench: unrecognized argument '%s'%s (see --help)\n", driftlab::shown_path(argv[1]).c_str(),
                 argc > 2 ? " and more" : "");
    return 2;
  }
  // Google Benchmark writes its context (the machine, "***WARNING***" lines) and its "Failed to
  // match" to std::cerr: sent to standard output with the table, so that stderr holds only a
  // failure's one line (this file's die(), in C stdio, which this does not touch).
  std::streambuf* const cerr_buf = std::cerr.rdbuf(std::cout.rdbuf());
  const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
  std::cerr.rdbuf(cerr_buf);
  benchmark::Shutdown();
  // Google Benchmark exits 0 when the filter matches nothing; a caller (driftlab report) must see
  // a failure, and the old output must stay.
  if (ran == 0) die("no benchmark matches --benchmark_filter=" + driftlab::shown_path(filter) + " (see --benchmark_list_tests)");
  // A CPU benchmark that threw (bench_common.h's register_cpu): the run failed, whatever else ran.
  if (driftlab::bench::g_failures)
    die(driftlab::bench::g_first_failure +
        (driftlab::bench::g_failures > 1 ? " (and " + std::to_string(driftlab::bench::g_failures - 1) + " more)" : ""));
  // The console table is a result too (/dev/full, a closed pipe: SIGPIPE is a failed write here, signals.h).
  std::fflush(stdout);
  std::cout.flush();
  if (!std::cout || std::ferror(stdout)) die("cannot write to standard output");
  if (out_index >= 0) {
    struct stat st {};
    if (::stat(g_tmp, &st) != 0 || st.st_size == 0) die("--benchmark_out " + out_file + ": nothing was written");
    // Google Benchmark does not say when its file write failed (a full disk, `ulimit -f`): a file
    // that does not parse is never renamed over the old one.
    if (out_format_json) {
      std::ifstream f(g_tmp, std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      try {
        (void)driftlab::parse_json(text);
      } catch (const std::exception& e) {
        die("--benchmark_out " + out_file + ": the file was not written whole (" + e.what() + ")");
      }
    }
    const std::string target = driftlab::resolved_output(out_file);
    struct stat old {};
    mode_t mode = 0;
    if (::stat(target.c_str(), &old) == 0) {
      mode = old.st_mode & 07777;
    } else {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      mode = 0666 & ~mask;
    }
    ::chmod(g_tmp, mode);
    if (::rename(g_tmp, target.c_str()) != 0) die("--benchmark_out " + out_file + ": cannot write: " + std::strerror(errno));
    g_tmp[0] = 0;
  }
  return 0;
}
