// `driftlab allreduce`: the executions (one mpirun per rank count and setting, or the simulation),
// the metrics over them, and the command's entry point.  Its flags and help are in
// allreduce_args.cpp, its table and JSON in allreduce_output.cpp, the mpirun launcher in
// host/distributed/mpirun_job.h.
#include "host/commands/allreduce_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/mpirun_job.h"
#include "host/io/atomic_file.h"
#include "host/io/json.h"
#include "host/common/cli_args.h"
#include "kernels/common/allreduce_order.h"
#include "host/metrics/metrics.h"

namespace driftlab {

using allreduce::Variant;

namespace {

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

// One execution on Open MPI: P ranks of this binary as --mpi-worker, rank 0's result read back.
allreduce::WorkerFile launch(const AllreduceArgs& a, std::size_t P, const std::string& algorithm, std::size_t C,
                             std::size_t F, const std::vector<Variant>& variants) {
  std::string vlist;
  for (const Variant v : variants) vlist += std::string(vlist.empty() ? "" : ",") + allreduce::info(v).name;
  mpirun::Job job;
  job.name = "allreduce";
  job.ranks = P;
  job.algorithm = algorithm;
  job.timeout_s = a.timeout_s;
  job.result_flag = "--mpi-out";
  job.args = {"allreduce", "--mpi-worker", "--n", std::to_string(a.n), "--shards", std::to_string(a.shards),
              "--dist", std::string(dist_name(a.dist)), "--seed", std::to_string(a.seed), "--runs", std::to_string(a.runs),
              "--channels", std::to_string(C), "--fusion", std::to_string(F), "--ranks", std::to_string(P),
              "--variant", vlist};
  allreduce::WorkerFile f = allreduce::decode_worker_file(mpirun::run_job(job));
  if (f.ranks != P || f.n != a.n || f.results.size() != variants.size())
    throw std::runtime_error(mpirun::job_text(job) + ": its result does not match the request");
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
    if (const std::string why = mpirun::mpirun_path_problem(); !why.empty()) throw std::runtime_error(why);
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

AllreduceAcrossRanks allreduce_across_ranks(const AllreduceArgs& a) {
  AllreduceAcrossRanks r;
  AllreduceArgs s = a;
  s.simulate = true;
  s.variant = "all";
  s.algorithms = {"default"};
  r.simulated = run_allreduce(s);
  AllreduceArgs m = s;
  m.simulate = false;
  r.mpi_why = mpirun::why_no_mpirun();
  if (r.mpi_why.empty()) {
    try {
      r.mpi = run_allreduce(m);
    } catch (const std::exception& e) {
      r.mpi_why = e.what();
    }
  }
  return r;
}

int allreduce_main(std::span<const std::string_view> args, std::ostream& out) {
  const AllreduceArgs a = parse_allreduce_args(args);
  if (a.help) {
    out << kAllreduceHelp;
    return 0;
  }
  if (a.mpi_worker || (!a.simulate && allreduce::under_mpirun())) {
    if (!allreduce::mpi_built()) throw std::runtime_error(allreduce::mpi_missing_reason());
    if (!allreduce::under_mpirun())
      throw UsageError("--mpi-worker is internal: `driftlab allreduce --ranks LIST` starts its ranks under mpirun itself");
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
