// `driftlab predict --tp`: its flags and refusals, the runs (one mpirun per TP size, or the
// simulation alone) and the entry point; the table and JSON: predict_tp_output.cpp.
#include "host/commands/predict_tp.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "host/common/cli_args.h"
#include "host/common/memory_bound.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/mpirun_job.h"
#include "host/distributed/tp_mpi.h"
#include "host/io/atomic_file.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "kernels/common/tp_order.h"

namespace driftlab {

bool parse_tp_flag(std::string_view f, ArgReader& r, PredictArgs& a) {
  if (f == "--tp") {
    a.tp = parse_list(r.value(), "--tp", 1, 4096);
  } else if (f == "--tp-variant") {
    a.tp_variant = r.value();
    a.tp_variant_given = true;
    if (a.tp_variant != "all") {
      const std::vector<std::string> names = split_list(a.tp_variant, "--tp-variant");
      if (std::find(names.begin(), names.end(), "all") != names.end())
        throw UsageError("--tp-variant: all stands alone, not in a list");
      refuse_repeats(names, "--tp-variant");
    }
    if (!tp::parse_tp_variants(a.tp_variant, false))
      throw UsageError("--tp-variant: unknown variant in '" + a.tp_variant + "' (mpi, ring, exact, invariant, all, or a list)");
  } else if (f == "--simulate") {
    a.simulate = r.bool_value();
  } else if (f == "--timeout") {
    const auto t = parse_count(r.value(), "--timeout");
    if (t < 1 || t > 86400) throw UsageError("--timeout: expected 1 to 86400 seconds");
    a.tp_timeout_s = static_cast<double>(t);
    a.timeout_given = true;
  } else if (f == "--mpi-algorithm") {
    a.tp_algorithms = mpirun::parse_algorithms(r.value());
    a.algorithms_given = true;
  } else if (f == "--tp-worker") {
    a.tp_worker = r.bool_value();
  } else if (f == "--tp-out") {
    a.tp_out = parse_path(r.value(), "--tp-out");
  } else {
    return false;
  }
  return true;
}

void check_tp_flags(const PredictArgs& a) {
  if (a.help) return;
  if (a.tp.empty()) {
    if (a.tp_variant_given || a.simulate || a.timeout_given || a.tp_worker || a.tp_out || a.algorithms_given)
      throw UsageError("--tp-variant, --simulate, --timeout and --mpi-algorithm go with --tp LIST (tensor parallelism)");
    return;
  }
  // One refusal per flag that does not combine with --tp: TP runs the f32 model's inference on
  // the CPU, one rank per process, every rank in its own order.
  const struct {
    bool given;
    const char* flag;
  } refused[] = {{a.processes != 1, "--processes"},   {!a.batch_sweep.empty(), "--batch-sweep"},
                 {a.training, "--training"},          {a.dropout_seed.has_value(), "--dropout-seed"},
                 {a.variant != "all", "--variant"},   {a.split_k != 0, "--split-k"},
                 {a.shuffle_seed.has_value(), "--schedule"}, {a.threads != 0, "--threads"},
                 {a.save_output.has_value(), "--save-output"}, {a.backend == "cuda", "--backend cuda"},
                 {a.dtype != DType::f32, "--dtype bf16/f16"}};
  for (const auto& x : refused)
    if (x.given)
      throw UsageError(std::string(x.flag) + " does not combine with --tp (tensor parallelism runs the f32 model's "
                       "inference on the cpu; see driftlab predict --help)");
  const std::size_t most = *std::max_element(a.tp.begin(), a.tp.end());
  if (!a.simulate && !a.tp_worker && most > 256)
    throw UsageError("--tp: MPI executions take 1 to 256 ranks (--simulate takes up to 4096)");
  if (a.simulate && a.algorithms_given)
    throw UsageError("--mpi-algorithm chooses Open MPI's algorithm; --simulate runs no MPI");
  if (a.simulate && a.tp_variant_given && a.tp_variant.find("mpi") != std::string::npos)
    throw UsageError("--tp-variant mpi: Open MPI's order is measured, not simulated (drop --simulate)");
}

namespace {

std::string variant_list(const std::vector<tp::TpVariant>& vs) {
  std::string s;
  for (const auto v : vs) s += std::string(s.empty() ? "" : ",") + tp::info(v).name;
  return s;
}

// The first element where a and b differ bitwise, or a.size().
std::size_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  std::size_t i = 0;
  while (i < a.size() && std::memcmp(&a[i], &b[i], sizeof(float)) == 0) ++i;
  return i;
}

}  // namespace

TpReport run_predict_tp(const PredictArgs& a) {
  const std::vector<tp::TpVariant> variants = *tp::parse_tp_variants(a.tp_variant, a.simulate);
  if (!a.simulate && !allreduce::mpi_built()) throw std::runtime_error(allreduce::mpi_missing_reason());
  PredictArgs seeded = a;  // every rank of every job builds the same model
  seeded.init_seed = a.init_seed ? *a.init_seed : entropy_seed();
  const Model m = build_model(seeded, *seeded.init_seed);
  std::size_t B = 0;
  const std::vector<float> x = build_input(seeded, m, B);
  const std::size_t N = m.outputs();
  // Every layer's all-reduce holds max(P, chunks) vectors of B * N partials (the simulation all at
  // once), and a copy: refused up front when that cannot fit, naming the flags.
  double shards = static_cast<double>(*std::max_element(a.tp.begin(), a.tp.end())), widest = 0;
  for (const Layer& l : m.layers) {
    shards = std::max(shards, static_cast<double>(tp::chunk_count(l.K)));
    widest = std::max(widest, static_cast<double>(l.N));
  }
  if (const auto refusal = memory_refusal(8.0 * shards * static_cast<double>(B) * widest, "--tp x --batch x --layers"))
    throw UsageError(*refusal);

  TpReport rep;
  rep.mode = a.simulate ? "simulate" : "mpi";
  rep.model = m.shape_text();
  rep.origin = m.origin;
  rep.init_seed = *seeded.init_seed;
  rep.batch = B;
  rep.outputs = N;
  rep.runs = a.runs;
  rep.tp = a.tp;
  if (!a.simulate) rep.algorithms = a.tp_algorithms;
  const bool has_invariant = std::find(variants.begin(), variants.end(), tp::TpVariant::invariant) != variants.end();
  const std::vector<float> single = has_invariant ? tp::invariant_forward(m, x, B) : std::vector<float>{};
  const std::vector<double> ref = reference_forward(m, x.data(), B, {});

  std::vector<OutputDriftStream> drift(variants.size(), OutputDriftStream(B, N));
  rep.rows.resize(variants.size());
  std::vector<std::size_t> sim_equal(variants.size(), 0);
  auto record = [&](std::size_t k, const std::vector<float>& out) {
    TpRow& row = rep.rows[k];
    drift[k].add(out);
    row.ref_max_rel_err = std::max(row.ref_max_rel_err, max_rel_err(out, ref));
    if (row.variant == tp::TpVariant::invariant)
      row.equals_single = row.equals_single.value_or(true) && first_difference(out, single) == out.size();
  };
  for (std::size_t k = 0; k < variants.size(); ++k) rep.rows[k].variant = variants[k];

  for (const std::size_t P : a.tp) {
    if (a.simulate) {
      for (std::size_t k = 0; k < variants.size(); ++k) record(k, tp::simulate_tp(variants[k], m, x, B, P));
      continue;
    }
    // The simulation does not depend on the MPI algorithm: once per TP size.
    std::vector<std::vector<float>> sims(variants.size());
    for (std::size_t k = 0; k < variants.size(); ++k)
      if (variants[k] != tp::TpVariant::mpi) sims[k] = tp::simulate_tp(variants[k], m, x, B, P);
    for (const std::string& alg : a.tp_algorithms) {
      mpirun::Job job;
      job.name = "predict-tp";
      job.ranks = P;
      job.algorithm = alg;
      job.args = {"predict"};
      for (const auto& s : to_argv(seeded)) job.args.push_back(s);
      for (const std::string& s : {std::string("--tp"), std::to_string(P), std::string("--tp-variant"), variant_list(variants),
                                   std::string("--tp-worker")})
        job.args.push_back(s);
      job.result_flag = "--tp-out";
      job.timeout_s = a.tp_timeout_s;
      const tp::TpFile f = tp::decode_tp_file(mpirun::run_job(job));
      if (f.ranks != P || f.n != B * N || f.results.size() != variants.size())
        throw std::runtime_error(mpirun::job_text(job) + ": its result does not match the request");
      for (std::size_t k = 0; k < variants.size(); ++k) {
        const tp::TpResult& res = f.results[k];
        if (res.variant != variants[k]) throw std::runtime_error(mpirun::job_text(job) + ": its result does not match the request");
        record(k, res.out);
        rep.rows[k].median_ms.push_back(res.median_ms);
        rep.rows[k].runs_non_equal += res.runs_non_equal;
        if (res.variant == tp::TpVariant::mpi) continue;
        const std::size_t i = first_difference(sims[k], res.out);
        if (i == sims[k].size()) ++sim_equal[k];
        else
          rep.mismatches.push_back(std::string(tp::info(res.variant).name) + " at " + mpirun::job_text(job) + ": element " +
                                   std::to_string(i) + " differs from its simulation");
      }
    }
  }
  for (std::size_t k = 0; k < variants.size(); ++k) {
    rep.rows[k].drift = drift[k].result();
    if (!a.simulate && variants[k] != tp::TpVariant::mpi) rep.rows[k].sim_equal = sim_equal[k];
  }
  return rep;
}

int predict_tp_main(const PredictArgs& a, std::ostream& out) {
  const std::vector<tp::TpVariant> variants = *tp::parse_tp_variants(a.tp_variant, a.simulate);
  if (a.tp_worker || (!a.simulate && allreduce::under_mpirun())) {
    if (!allreduce::mpi_built()) throw std::runtime_error(allreduce::mpi_missing_reason());
    if (!allreduce::under_mpirun())
      throw UsageError("--tp-worker is internal: `driftlab predict --tp LIST` starts its ranks under mpirun itself");
    // Refusals every rank reaches alike, before MPI_Init (no MPI_Abort and its banner); run_cli
    // has rank 0 alone print a refused command line.
    if (a.tp.size() != 1) throw UsageError("--tp: one rank count under mpirun (the job's size)");
    if (a.tp[0] != allreduce::mpirun_world_size())
      throw UsageError("--tp " + std::to_string(a.tp[0]) + " but mpirun started " +
                       std::to_string(allreduce::mpirun_world_size()) + " ranks (mpirun -np P driftlab predict --tp P)");
    if (!a.tp_worker && (a.json || a.algorithms_given))
      throw UsageError("--json and --mpi-algorithm: under your own mpirun rank 0 prints one table; `driftlab predict --tp "
                       "LIST` launches mpirun itself and writes JSON");
    if (!a.init_seed && !a.weights)
      throw UsageError("--tp under your own mpirun needs --init-seed S or --weights FILE (every rank builds the same model)");
    const Model m = build_model(a, a.init_seed.value_or(0));
    std::size_t B = 0;
    const std::vector<float> x = build_input(a, m, B);
    tp::TpWorkerArgs w{variants, a.runs, a.tp[0], a.tp_out.value_or("")};
    return tp::run_tp_worker(w, m, x, B, out);
  }
  if (a.json) check_output_path(*a.json, "--json");  // before the work, not after it
  const TpReport rep = run_predict_tp(a);
  print_tp_table(rep, out);
  if (!rep.mismatches.empty())
    throw std::runtime_error(std::to_string(rep.mismatches.size()) + " MPI execution(s) differ from their simulation; first: " +
                             rep.mismatches[0]);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_tp_json(rep, f); });
  return 0;
}

}  // namespace driftlab
