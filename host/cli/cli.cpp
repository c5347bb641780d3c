#include "host/cli/cli.h"
#include "host/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kernels/cpu/fp_env.h"
#include "host/commands/allreduce_command.h"
#include "host/commands/attention_command.h"
#include "host/backends/backend.h"
#include "host/common/cli_args.h"
#include "kernels/cpu/isa.h"
#include "host/commands/predict_command.h"
#include "host/report/report.h"
#include "host/scenarios/scenarios.h"
#include "host/commands/sum_command.h"
#include "host/commands/trace_command.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/commands/variants_command.h"

namespace driftlab {
namespace {

const char* const kHelp = R"(usage: driftlab [COMMAND [options]]

driftlab measures floating-point nondeterminism in reductions: why a model's predict can give
different bits each time, and what it costs to stop it.

With no command, driftlab runs the quick report (`report --quick`, under a minute on 2 cores)
and prints its headline tables; the files go to ./driftlab-report/.

commands:
  scenarios the article's claims (dropout at predict time, seeds, inference mode, weight init,
            parallel reductions, batch size, threads), each run for real, with measured verdicts;
            --keras FILE sets real TensorFlow/Keras verdicts beside them (scripts/keras_check.py)
  sum       sum one input many times with each variant (atomic, tree, exact, ...) and report
            drift (distinct results, ULPs, error vs the exact sum) and speed side by side
  predict   run a Keras-like MLP's predict many times (in one process and in separate
            processes) with each dense variant: drift, argmax flips, cost, batch invariance
  attention one split-KV attention-decode step per variant (split_count, atomic, fixed_split,
            single): drift, error vs float64, GB/s, and whether a sequence's bits depend on its batch
  allreduce the all-reduce of M gradient shards over P ranks on Open MPI (mpi, ring, tree, exact):
            how the bits move with the rank count, algorithm, channels and fusion size, and an exact
            all-reduce whose bits do not; --simulate evaluates the orders at any rank count, no MPI
  trace     the same model under two configurations (batch sizes, runs, threads, variants,
            backends), every layer's stages compared: the first layer and stage whose bits differ
  variants  the variant tables: names, determinism levels, backends (--json for plots/ and scripts/)
  report    run the drift experiments and the benchmarks, write JSON, figures and REPORT.md
  help      this text

Run 'driftlab COMMAND --help' for a command's options.
)";

// The error as one line a terminal shows as it is: control bytes (a newline or an escape
// sequence inside a user's value) become \xNN.
std::string one_line(const std::string& s) {
  std::string r;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(u));
      r += hex;
    } else {
      r += c;
    }
  }
  return r;
}

}  // namespace

namespace {
int dispatch(const std::vector<std::string_view>& args, std::ostream& out, std::ostream& err) {
  {
    if (args.empty()) {  // the main job: the quick report's headline tables
      ReportOptions o;
      o.quick = true;
      o.summary_only = true;
      return run_report(o, out, err);
    }
    if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
      out << kHelp;
      return 0;
    }
    const std::string_view cmd = args[0];
    const std::span<const std::string_view> rest(args.data() + 1, args.size() - 1);
    if (cmd == "sum") return sum_main(rest, out);
    if (cmd == "predict") return predict_main(rest, out);
    if (cmd == "scenarios") return scenarios_main(rest, out);
    if (cmd == "report") return report_main(rest, out);
    if (cmd == "attention") return attention_main(rest, out);
    if (cmd == "trace") return trace_main(rest, out);
    if (cmd == "allreduce") return allreduce_main(rest, out);
    if (cmd == "variants") return variants_main(rest, out);
    throw UsageError("unknown command '" + std::string(cmd) + "' (see driftlab --help)");
  }
}
}  // namespace

bool standard_fds_open() {
  bool out_open = true;
  for (const int fd : {0, 1, 2}) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    if (fd == 1) out_open = false;
    // Hold the slot, so no file the command opens (a --json temporary) becomes "standard output".
    const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) ::close(null);
  }
  return out_open;
}

namespace {
// The table is the command's result: when it cannot be written (/dev/full, a closed pipe), the
// command failed.
int flushed(int code, std::ostream& out) {
  errno = 0;
  out.flush();
  if (!out) {
    const int err = errno;
    throw std::runtime_error(std::string("cannot write to standard output") + (err ? std::string(": ") + std::strerror(err) : ""));
  }
  return code;
}

// write_file_atomic's last check (set_before_commit): a file replaces an old one only once the
// table printed so far has reached standard output.
std::ostream* g_table = nullptr;
void table_written() {
  if (g_table) flushed(0, *g_table);
}
struct TableCheck {
  explicit TableCheck(std::ostream& out) {
    g_table = &out;
    set_before_commit(table_written);
  }
  ~TableCheck() {
    set_before_commit(nullptr);
    g_table = nullptr;
  }
};
}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  // The default floating-point environment, whatever this process inherited (kernels/cpu/fp_env.h).
  cpu::set_default_fp_env();
  std::vector<std::string_view> args(argv + 1, argv + argc);
  // DRIFTLAB_ISA is read and checked once, here, before any work: a bad value is one line and
  // exit 2, with no file touched (the kernels would throw the same message later).
  if (const auto isa_error = cpu::isa_env_error()) {
    err << "driftlab: " << *isa_error << "\n";
    return 2;
  }
  try {
    const TableCheck table_check(out);
    return flushed(dispatch(args, out, err), out);
  } catch (const UsageError& e) {
    // Under a user's own mpirun every rank reads the same command line: rank 0 says it, once.  The
    // others wait before they fail: the first rank to exit non-zero makes mpirun end the job, and
    // rank 0 could be killed before its line is out (seen on 2 busy cores).
    if (allreduce::mpirun_rank() == 0) err << "driftlab: " << one_line(e.what()) << "\n";
    else std::this_thread::sleep_for(std::chrono::seconds(2));
    return 2;
  } catch (const std::bad_alloc&) {
    // Each command refuses what cannot fit up front, naming its flag; this is the last resort.
    err << "driftlab: out of memory (try smaller sizes; see the command's --help)\n";
    return 1;
  } catch (const std::exception& e) {
    err << "driftlab: " << one_line(e.what()) << "\n";
    return 1;
  } catch (...) {
    err << "driftlab: unexpected error\n";
    return 1;
  }
}


}  // namespace driftlab
