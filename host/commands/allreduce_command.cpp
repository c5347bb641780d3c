#include "host/commands/allreduce_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "host/distributed/allreduce_mpi.h"
#include "host/io/atomic_file.h"
#include "host/common/cli_args.h"
#include "kernels/common/allreduce_order.h"
#include "host/io/json.h"
#include "host/common/memory_bound.h"
#include "host/metrics/metrics.h"

extern char** environ;

namespace driftlab {

using allreduce::Variant;

const char* const kAllreduceHelp = R"(usage: driftlab allreduce [options]
       mpirun -np P [--hostfile FILE] driftlab allreduce [options]   (rank 0 prints)

All-reduces M gradient shards of n floats over P ranks with each variant, on Open MPI (one mpirun
per rank count, launched by driftlab) or simulated in one process (--simulate), and measures how
the result moves with the rank count, the MPI algorithm, the channel count and the fusion size.
The shards are the same global data for every rank count, split over the ranks in contiguous
groups; each rank adds its shards in order, then the all-reduce combines the ranks
(kernels/common/allreduce_order.h writes every order down).

options:
  --n N                 floats per shard (decimal or 2^K; default 2^16, or 2^22/M when smaller)
  --shards M            gradient shards (default 8, or the largest --ranks value when larger)
  --ranks LIST          rank counts, e.g. 1,2,3,4,8 (default); MPI: 1 to 256, --simulate: 1 to 65536
  --variant NAME|all    mpi, ring, tree, exact, a comma-separated list, or all (default)
  --dist uniform|normal|illcond
                        the shards' distribution (default uniform)
  --seed S              seed of the shards (default 1)
  --runs R              runs per execution (default 3): run-to-run drift and the median time
  --channels LIST       ring channel counts, 1 to 64 (default 1)
  --fusion LIST         buffer sizes in floats: the n floats are all-reduced as buffers of this
                        many (0, the default: one buffer)
  --mpi-algorithm LIST  default (Open MPI's choice), linear, recursive_doubling, ring,
                        segmented_ring, rabenseifner, or all; forced through the MCA parameters
                        coll_tuned_use_dynamic_rules=1 coll_tuned_allreduce_algorithm=N, for every
                        collective of the execution (exact's integer collectives included)
  --simulate            evaluate the orders in one process, no MPI (mpi is then not run)
  --timeout SECONDS     limit for each mpirun (default 120); past it the job is killed
  --json FILE           also write the rows as JSON
  --help                this text

determinism levels:
  mpi    run to run for one rank count, algorithm and message size (Open MPI's order)
  ring   run to run for one rank count, channel count and buffer size (NCCL's ring order)
  tree   run to run for one rank count (a fixed binomial tree to rank 0, then broadcast)
  exact  any rank count, algorithm, channel count and buffer size: the exact sum of each
         element's M shard values rounded once (bitwise `driftlab sum --variant exact`)

metrics: distinct = distinct result vectors over every execution; ranks_distinct and ranks_max_ulp
over the rank counts; max_ulp over every execution; error_ulp = largest distance of an element
from the exact sum; sim = MPI executions bitwise equal to their simulation; median_ms (slowest
rank); bytes = most bytes one rank hands to MPI per all-reduce; cost = median time / mpi's.
Bad input: one line on stderr, exit 2 (command line) or 1 (MPI missing, mpirun failed or timed out).
)";

namespace {

struct Algorithm {
  const char* name;
  int id;  // coll_tuned_allreduce_algorithm (Open MPI 4.1); 0: Open MPI's own decision
};
constexpr Algorithm kAlgorithms[] = {{"default", 0},        {"linear", 1},         {"recursive_doubling", 3},
                                     {"ring", 4},           {"segmented_ring", 5}, {"rabenseifner", 6}};

int algorithm_id(const std::string& name) {
  for (const auto& a : kAlgorithms)
    if (name == a.name) return a.id;
  return -1;
}

std::vector<std::string> parse_algorithms(std::string_view v) {
  std::vector<std::string> out;
  std::stringstream ss{std::string(v)};
  for (std::string item; std::getline(ss, item, ',');) {
    if (item == "all") {
      for (const auto& a : kAlgorithms) out.push_back(a.name);
      continue;
    }
    if (algorithm_id(item) < 0)
      throw UsageError("--mpi-algorithm: unknown algorithm '" + item +
                       "' (default, linear, recursive_doubling, ring, segmented_ring, rabenseifner, all)");
    out.push_back(item);
  }
  if (out.empty()) throw UsageError("--mpi-algorithm: expected a comma-separated list");
  return out;
}

std::vector<Variant> chosen_variants(const AllreduceArgs& a) {
  std::vector<Variant> v;
  if (a.variant == "all") {
    for (const auto& i : allreduce::kVariants)
      if (!(a.simulate && i.variant == Variant::mpi)) v.push_back(i.variant);
  } else {
    std::stringstream ss{a.variant};
    for (std::string item; std::getline(ss, item, ',');) {
      const Variant x = *allreduce::parse_variant(item);
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    }
  }
  return v;
}

}  // namespace

AllreduceArgs parse_allreduce_args(std::span<const std::string_view> argv) {
  AllreduceArgs a;
  ArgReader r(argv);
  bool n_given = false, algorithms_given = false;
  std::string ranks_text;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      a.help = true;
    } else if (f == "--n") {
      a.n = parse_count(r.value(), "--n");
      if (a.n < 1 || a.n > (std::size_t(1) << 28)) throw UsageError("--n: expected 1 to 2^28");
      n_given = true;
    } else if (f == "--shards") {
      a.shards = parse_count(r.value(), "--shards");
      if (a.shards < 1 || a.shards > allreduce::kMaxShards) throw UsageError("--shards: expected 1 to 2^20");
      a.shards_given = true;
    } else if (f == "--ranks") {
      ranks_text = r.value();
      a.ranks = parse_list(ranks_text, "--ranks", 1, 65536);
    } else if (f == "--variant") {
      a.variant = r.value();
      std::stringstream ss{a.variant};
      for (std::string item; std::getline(ss, item, ',');)
        if (a.variant != "all" && !allreduce::parse_variant(item))
          throw UsageError("--variant: unknown variant '" + item + "' (mpi, ring, tree, exact, all, or a list)");
      if (a.variant.empty() || a.variant.back() == ',') throw UsageError("--variant: expected a name or a list");
    } else if (f == "--dist") {
      a.dist = parse_dist_flag(r.value());
    } else if (f == "--seed") {
      a.seed = parse_count(r.value(), "--seed");
    } else if (f == "--runs") {
      a.runs = parse_count(r.value(), "--runs");
      if (a.runs < 1 || a.runs > 100000) throw UsageError("--runs: expected 1 to 100000");
    } else if (f == "--channels") {
      a.channels = parse_list(r.value(), "--channels", 1, 64);
    } else if (f == "--fusion") {
      a.fusion = parse_list(r.value(), "--fusion", 0, std::size_t(1) << 28);
    } else if (f == "--mpi-algorithm") {
      a.algorithms = parse_algorithms(r.value());
      algorithms_given = true;
    } else if (f == "--simulate") {
      a.simulate = r.bool_value();
    } else if (f == "--timeout") {
      const auto t = parse_count(r.value(), "--timeout");
      if (t < 1 || t > 86400) throw UsageError("--timeout: expected 1 to 86400 seconds");
      a.timeout_s = static_cast<double>(t);
    } else if (f == "--json") {
      a.json = parse_path(r.value(), "--json");
    } else if (f == "--mpi-worker") {
      a.mpi_worker = r.bool_value();
    } else if (f == "--mpi-out") {
      a.mpi_out = parse_path(r.value(), "--mpi-out");
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab allreduce --help)");
    }
  }
  if (a.help) return a;
  const std::size_t max_ranks = *std::max_element(a.ranks.begin(), a.ranks.end());
  if (!a.simulate && !a.mpi_worker && max_ranks > 256)
    throw UsageError("--ranks: MPI executions take 1 to 256 ranks (--simulate takes up to 65536)");
  if (a.simulate && algorithms_given)
    throw UsageError("--mpi-algorithm chooses Open MPI's algorithm; --simulate runs no MPI");
  if (a.simulate && a.variant.find("mpi") != std::string::npos)
    throw UsageError("--variant mpi: Open MPI's order is measured, not simulated (drop --simulate)");
  if (!a.shards_given && max_ranks > a.shards) a.shards = std::min(max_ranks, allreduce::kMaxShards);
  if (!n_given) a.n = std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(1) << 16, (std::size_t(1) << 22) / a.shards));
  // The shards, plus room: every rank of an execution holds the whole data on one machine.
  if (const auto refusal = memory_refusal(4.0 * static_cast<double>(a.n) * static_cast<double>(a.shards) * 3, "--n x --shards"))
    throw UsageError(*refusal);
  if (!a.simulate && a.n > (std::size_t(1) << 26)) throw UsageError("--n: MPI executions take at most 2^26 floats per shard");
  return a;
}

namespace {

// --- one mpirun, with a limit ---------------------------------------------------------------

struct TempDir {
  std::string path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/driftlab-allreduce-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a temporary folder in " + tmpl + ": " + std::strerror(errno));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;  // the result, the log, and a temporary a killed rank may have left
    std::filesystem::remove_all(path, ec);
  }
};

// The running mpirun's process group: a SIGINT, SIGTERM or SIGHUP to driftlab takes it down too
// (it runs in a group of its own, so the terminal's Ctrl-C does not reach it).
volatile sig_atomic_t g_child_group = 0;
char g_dir[3][4200];  // the temporary folder, its log and its result, removed on a signal
void kill_child_and_die(int sig) {
  if (g_child_group > 0) ::kill(-static_cast<pid_t>(g_child_group), SIGTERM);  // mpirun then ends its ranks
  ::unlink(g_dir[1]);
  ::unlink(g_dir[2]);
  ::rmdir(g_dir[0]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}
struct ChildGuard {
  ChildGuard(pid_t pid, const std::string& dir) {
    const std::string names[3] = {dir, dir + "/log", dir + "/result"};
    for (int i = 0; i < 3; ++i) std::snprintf(g_dir[i], sizeof g_dir[i], "%s", names[i].c_str());
    g_child_group = pid;
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) old[n++] = {sig, ::signal(sig, kill_child_and_die)};
  }
  ~ChildGuard() {
    for (int i = 0; i < n; ++i) ::signal(old[i].first, old[i].second);
    g_child_group = 0;
    for (auto& d : g_dir) d[0] = 0;
  }
  std::pair<int, void (*)(int)> old[3];
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

allreduce::WorkerFile launch(const AllreduceArgs& a, std::size_t P, const std::string& algorithm, std::size_t C,
                             std::size_t F, const std::vector<Variant>& variants) {
  const std::string mpirun = allreduce::mpirun_path();
  if (::access(mpirun.c_str(), X_OK) != 0)
    throw std::runtime_error("mpirun not found at " + mpirun + " (install Open MPI: scripts/setup.sh)");
  TempDir dir;
  std::vector<std::string> args = {mpirun};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  for (const char* s : {"--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "--mca",
                        "btl_vader_single_copy_mechanism", "none"})
    args.push_back(s);
  if (const int id = algorithm_id(algorithm); id > 0) {
    for (const char* s : {"--mca", "coll_tuned_use_dynamic_rules", "1", "--mca", "coll_tuned_allreduce_algorithm"})
      args.push_back(s);
    args.push_back(std::to_string(id));
  }
  std::string vlist;
  for (const Variant v : variants) vlist += std::string(vlist.empty() ? "" : ",") + allreduce::info(v).name;
  for (const std::string& s :
       {std::string("-np"), std::to_string(P), self_exe(), std::string("allreduce"), std::string("--mpi-worker"),
        std::string("--mpi-out"), dir.path + "/result", std::string("--n"), std::to_string(a.n), std::string("--shards"),
        std::to_string(a.shards), std::string("--dist"), std::string(dist_name(a.dist)), std::string("--seed"),
        std::to_string(a.seed), std::string("--runs"), std::to_string(a.runs), std::string("--channels"),
        std::to_string(C), std::string("--fusion"), std::to_string(F), std::string("--ranks"), std::to_string(P),
        std::string("--variant"), vlist})
    args.push_back(s);
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
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, mpirun.c_str(), &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) throw std::runtime_error("cannot start " + mpirun + ": " + std::strerror(rc));

  const ChildGuard guard(pid, dir.path);
  const std::string what = "mpirun -np " + std::to_string(P) + (algorithm == "default" ? "" : " (" + algorithm + ")");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.timeout_s);
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
      throw std::runtime_error(what + " did not finish within --timeout " + std::to_string(static_cast<long>(a.timeout_s)) +
                               " s; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
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
  allreduce::WorkerFile f = allreduce::decode_worker_file(ss.str());
  if (f.ranks != P || f.n != a.n || f.results.size() != variants.size())
    throw std::runtime_error(what + ": its result does not match the request");
  return f;
}

// --- metrics over executions ----------------------------------------------------------------

struct Spread {  // per element, the smallest and largest ordered integer seen
  std::vector<std::int64_t> lo, hi;
  bool nan = false;
  void add(const std::vector<float>& v) {
    if (lo.empty()) {
      lo.assign(v.size(), std::numeric_limits<std::int64_t>::max());
      hi.assign(v.size(), std::numeric_limits<std::int64_t>::min());
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != v[i]) { nan = true; continue; }
      const std::int64_t o = ordered_int(v[i]);
      lo[i] = std::min(lo[i], o);
      hi[i] = std::max(hi[i], o);
    }
  }
  std::uint64_t max_ulp() const {
    std::uint64_t m = 0;
    for (std::size_t i = 0; i < lo.size(); ++i)
      if (lo[i] <= hi[i]) m = std::max(m, static_cast<std::uint64_t>(hi[i] - lo[i]));
    return m;
  }
};

struct Acc {
  AllreduceRow row;
  std::set<std::string> all, ranks;
  Spread all_spread, ranks_spread;
  std::vector<double> ms;
  std::size_t sim_equal = 0, sim_checked = 0;
  bool equals_exact = true;
};

std::string key(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)); }

void record(Acc& acc, const std::vector<float>& out, const std::vector<float>& exact, bool first_setting) {
  acc.row.configs++;
  acc.all.insert(key(out));
  acc.all_spread.add(out);
  if (first_setting) {
    acc.ranks.insert(key(out));
    acc.ranks_spread.add(out);
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    acc.row.error_ulp = std::max(acc.row.error_ulp, ulp_distance(out[i], exact[i]));
    if (std::memcmp(&out[i], &exact[i], sizeof(float)) != 0) acc.equals_exact = false;
  }
}

std::string setting_text(std::size_t P, const std::string& algorithm, std::size_t C, std::size_t F) {
  return std::to_string(P) + " ranks, " + algorithm + ", " + std::to_string(C) + " channels, fusion " + std::to_string(F);
}

}  // namespace

AllreduceReport run_allreduce(const AllreduceArgs& a) {
  AllreduceReport rep;
  rep.args = a;
  rep.mode = a.simulate ? "simulate" : "mpi";
  const std::vector<Variant> variants = chosen_variants(a);
  if (!a.simulate) {
    if (!allreduce::mpi_built()) throw std::runtime_error(allreduce::mpi_missing_reason());
    const std::string mpirun = allreduce::mpirun_path();
    if (::access(mpirun.c_str(), X_OK) != 0)
      throw std::runtime_error("mpirun not found at " + mpirun + " (install Open MPI: scripts/setup.sh)");
  }
  const allreduce::Data d = allreduce::make_data(a.dist, a.n, a.shards, a.seed);
  const std::vector<float> exact = allreduce::exact_reference(d);
  rep.exact_fallback = allreduce::exact_fallback_count(d);
  std::map<Variant, Acc> accs;
  for (const Variant v : variants) accs[v].row.variant = v;

  const std::vector<std::string> algorithms = a.simulate ? std::vector<std::string>{"-"} : a.algorithms;
  for (const std::size_t P : a.ranks)
    for (const auto& alg : algorithms)
      for (const std::size_t C : a.channels)
        for (const std::size_t F : a.fusion) {
          const bool first = alg == algorithms[0] && C == a.channels[0] && F == a.fusion[0];
          const allreduce::SimConfig cfg{P, C, F, allreduce::IntOrder::ring};
          if (a.simulate) {
            for (const Variant v : variants) record(accs[v], allreduce::simulate(v, d, cfg), exact, first);
            continue;
          }
          const allreduce::WorkerFile f = launch(a, P, alg, C, F, variants);
          for (const auto& res : f.results) {
            Acc& acc = accs[res.variant];
            record(acc, res.out, exact, first);
            acc.ms.push_back(res.median_ms);
            acc.row.runs_non_equal += res.runs_non_equal;
            acc.row.payload_bytes = std::max(acc.row.payload_bytes, res.payload_bytes);
            if (res.variant == Variant::mpi) continue;
            const auto sim = allreduce::simulate(res.variant, d, cfg);
            acc.sim_checked++;
            if (std::memcmp(sim.data(), res.out.data(), sim.size() * sizeof(float)) == 0) {
              acc.sim_equal++;
            } else {
              std::size_t i = 0;
              while (std::memcmp(&sim[i], &res.out[i], sizeof(float)) == 0) ++i;
              rep.mismatches.push_back(std::string(allreduce::info(res.variant).name) + " at " +
                                       setting_text(P, alg, C, F) + ": element " + std::to_string(i) +
                                       " differs from its simulation");
            }
          }
        }
  for (const Variant v : variants) {
    Acc& acc = accs[v];
    AllreduceRow& row = acc.row;
    row.distinct_outputs = acc.all.size();
    row.ranks_distinct = acc.ranks.size();
    row.ranks_max_ulp = acc.ranks_spread.max_ulp();
    row.max_ulp = acc.all_spread.max_ulp();
    row.equals_exact = acc.equals_exact;
    if (!a.simulate) {
      row.median_ms = median(acc.ms);
      if (v != Variant::mpi) row.sim_equal = acc.sim_equal;
    }
    rep.rows.push_back(row);
  }
  const auto mpi = std::find_if(rep.rows.begin(), rep.rows.end(), [](const AllreduceRow& r) { return r.variant == Variant::mpi; });
  if (mpi != rep.rows.end() && mpi->median_ms && *mpi->median_ms > 0)
    for (auto& r : rep.rows)
      if (r.median_ms) r.cost_vs_mpi = *r.median_ms / *mpi->median_ms;
  return rep;
}

void print_allreduce_table(const AllreduceReport& r, std::ostream& out) {
  const AllreduceArgs& a = r.args;
  out << "driftlab allreduce (" << (r.mode == "mpi" ? "Open MPI" : "simulated in one process") << "): " << a.shards
      << " shards of n=" << a.n << " floats, " << dist_name(a.dist) << " (seed " << a.seed << "); ranks "
      << join(a.ranks) << "; channels " << join(a.channels) << "; fusion " << join(a.fusion);
  if (r.mode == "mpi") {
    out << "; algorithms ";
    for (std::size_t i = 0; i < a.algorithms.size(); ++i) out << (i ? "," : "") << a.algorithms[i];
    out << "; " << a.runs << " runs each";
  }
  out << "\nexact: " << r.exact_fallback << " of " << a.n << " elements take the fallback (values spanning more binades than one int64 holds)\n\n";
  out << std::left << std::setw(8) << "variant" << std::setw(46) << "determinism" << std::right << std::setw(7) << "execs"
      << std::setw(9) << "distinct" << std::setw(13) << "ranks_dist" << std::setw(14) << "ranks_max_ulp" << std::setw(9)
      << "max_ulp" << std::setw(10) << "error_ulp" << std::setw(7) << "exact" << std::setw(8) << "sim" << std::setw(11)
      << "median_ms" << std::setw(12) << "bytes" << std::setw(8) << "cost" << "\n";
  for (const auto& row : r.rows) {
    out << std::left << std::setw(8) << allreduce::info(row.variant).name << std::setw(46)
        << allreduce::info(row.variant).determinism << std::right << std::setw(7) << row.configs << std::setw(9)
        << row.distinct_outputs << std::setw(13) << row.ranks_distinct << std::setw(14) << ulp_text(row.ranks_max_ulp)
        << std::setw(9) << ulp_text(row.max_ulp) << std::setw(10) << ulp_text(row.error_ulp) << std::setw(7)
        << (row.equals_exact ? "yes" : "no") << std::setw(8)
        << (row.sim_equal ? std::to_string(*row.sim_equal) + "/" + std::to_string(row.configs) : std::string("-"))
        << std::setw(11) << (row.median_ms ? sig(*row.median_ms, 4) : std::string("-")) << std::setw(12)
        << (r.mode == "mpi" ? std::to_string(row.payload_bytes) : std::string("-")) << std::setw(8)
        << (row.cost_vs_mpi ? sig(*row.cost_vs_mpi, 3) + "x" : std::string("-")) << "\n";
  }
  out << "\ndistinct = distinct result vectors over every execution; ranks_* over the rank counts; exact = every\n"
         "element bitwise equal to the exact sum of its M values; sim = MPI executions bitwise equal to the\n"
         "simulation of their order; bytes = most bytes one rank hands to MPI per all-reduce.\n";
  for (const auto& m : r.mismatches) out << "MISMATCH: " << m << "\n";
}

void write_allreduce_json(const AllreduceReport& r, std::ostream& out) {
  const AllreduceArgs& a = r.args;
  JsonWriter j(out);
  j.begin_object().field("command", "allreduce").key("rows").begin_array();
  for (const auto& row : r.rows) {
    j.begin_object()
        .field("variant", allreduce::info(row.variant).name)
        .field("determinism", allreduce::info(row.variant).determinism)
        .field("mode", r.mode)
        .field("n", static_cast<std::uint64_t>(a.n))
        .field("shards", static_cast<std::uint64_t>(a.shards))
        .field("dist", dist_name(a.dist))
        .field("seed", a.seed)
        .field("runs", static_cast<std::uint64_t>(a.runs));
    j.key("ranks").begin_array();
    for (const auto p : a.ranks) j.value(static_cast<std::uint64_t>(p));
    j.end_array().key("channels").begin_array();
    for (const auto c : a.channels) j.value(static_cast<std::uint64_t>(c));
    j.end_array().key("fusion").begin_array();
    for (const auto f : a.fusion) j.value(static_cast<std::uint64_t>(f));
    j.end_array().key("mpi_algorithms").begin_array();
    if (r.mode == "mpi")
      for (const auto& s : a.algorithms) j.value(s);
    j.end_array()
        .field("executions", static_cast<std::uint64_t>(row.configs))
        .field("distinct_outputs", static_cast<std::uint64_t>(row.distinct_outputs))
        .field("ranks_distinct", static_cast<std::uint64_t>(row.ranks_distinct))
        .field("ranks_max_ulp", row.ranks_max_ulp)
        .field("max_ulp", row.max_ulp)
        .field("error_ulp", row.error_ulp)
        .field("equals_exact", row.equals_exact)
        .field("exact_fallback_elements", static_cast<std::uint64_t>(r.exact_fallback))
        .field("runs_non_equal", static_cast<std::uint64_t>(row.runs_non_equal));
    j.key("matches_simulation");
    row.sim_equal ? j.value(static_cast<std::uint64_t>(*row.sim_equal)) : j.null();
    j.key("median_ms");
    j.value_or_null(row.median_ms);
    j.key("payload_bytes");
    r.mode == "mpi" ? j.value(row.payload_bytes) : j.null();
    j.key("cost_vs_mpi");
    j.value_or_null(row.cost_vs_mpi);
    j.end_object();
  }
  j.end_array().end_object();
}

int allreduce_main(std::span<const std::string_view> args, std::ostream& out) {
  const AllreduceArgs a = parse_allreduce_args(args);
  if (a.help) {
    out << kAllreduceHelp;
    return 0;
  }
  if (a.mpi_worker || (!a.simulate && allreduce::under_mpirun())) {
    if (!allreduce::mpi_built()) throw std::runtime_error(allreduce::mpi_missing_reason());
    allreduce::WorkerArgs w;
    w.dist = a.dist;
    w.n = a.n;
    w.shards = a.shards;
    w.runs = a.runs;
    w.channels = a.channels[0];
    w.fusion = a.fusion[0];
    w.seed = a.seed;
    w.variants = chosen_variants(a);
    if (a.mpi_out) w.out = *a.mpi_out;
    return allreduce::run_worker(w, out);
  }
  if (a.json) check_output_path(*a.json, "--json");  // before the work, not after it
  const AllreduceReport rep = run_allreduce(a);
  print_allreduce_table(rep, out);
  if (!rep.mismatches.empty())
    throw std::runtime_error(std::to_string(rep.mismatches.size()) + " MPI execution(s) differ from their simulation; first: " +
                             rep.mismatches[0]);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_allreduce_json(rep, f); });
  return 0;
}

}  // namespace driftlab
