// `driftlab report`'s measuring steps (report.cpp's table runs them in order): each runs a
// command's experiment, writes its JSON into the staging folder and its headline table.
#include <algorithm>
#include <sstream>
#include <vector>

#include "host/backends/backend.h"
#include "host/backends/gpu.h"
#include "host/backends/model_backend.h"
#include "host/common/cli_args.h"
#include "host/commands/allreduce_command.h"
#include "host/commands/predict_command.h"
#include "host/commands/sum_command.h"
#include "host/commands/trace_command.h"
#include "host/io/data.h"
#include "host/io/json.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/report/report_run.h"
#include "host/scenarios/tp_scenario.h"
#include "kernels/common/float_bits.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/thread_pool.h"

namespace driftlab::report_parts {

namespace {

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

}  // namespace

// 1. machine
void ReportRun::machine(const Progress&) {
  date = iso_date();
  cpu_name = cpu_model();
  cpu_kernels = cpu::isa_name(cpu::isa_level());
  threads = o.threads ? o.threads : cpu::ThreadPool::hardware_threads();
  {
    std::ostringstream s;
    JsonWriter j(s);
    j.begin_object().field("cpu", cpu_name).field("threads", threads).field("cpu_kernels", cpu_kernels).key("gpu");
    gpu_status().usable ? j.value(gpu_status().name) : j.null();
    j.field("gpu_note", gpu_status().usable ? std::string() : gpu_status().reason)
        .field("date", date)
        .field("driftlab_version", "0.1")
        .field("quick", o.quick)
        .field("backend", backend)
        .end_object();
    save_text(dir / "machine.json", s.str());
  }
}

// 2. summation drift across n and distributions
void ReportRun::sum_drift(const Progress&) {
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
}

// 3. atomic results against the exact sum, many runs
void ReportRun::ulp_histogram(const Progress&) {
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
}

// 4. batch invariance
void ReportRun::batch_inv(const Progress&) {
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
}

// 5. predict of the default model, many calls, inference
void ReportRun::predict(const Progress&) {
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
    h.predict += md_row({"variant", "distinct", "fraction of elements differing", "max ULP (f32 -> bf16)", "argmax flips"});
    h.predict += md_row({"---", "---", "---", "---", "---"});
    for (const auto& r : rep.rows)
      if (r.before)
        h.predict += md_row({info(r.variant).name,
                             std::to_string(r.before->distinct_outputs) + " -> " + std::to_string(r.drift.distinct_outputs),
                             sig(r.before->ratio_non_equal) + " -> " + sig(r.drift.ratio_non_equal),
                             ulp_text(r.before->max_ulp) + " -> " + ulp_text(r.drift.max_ulp),
                             std::to_string(r.before->argmax_flips) + " -> " + std::to_string(r.drift.argmax_flips)});
  }
}

// 6. where the bits start to move: driftlab trace on the batch-invariance model -- tree and
// invariant, row 0 alone against inside a batch of 64, and float32 against bf16 storage.
void ReportRun::trace(const Progress&) {
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
                     "output: fraction of elements differing"});
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
}

// 6b. the all-reduce across rank counts (issue 23): the same gradient shards over 1, 2, 3, 4 and 8
// ranks, on Open MPI when this build has it and mpirun runs, else simulated (the section says why).
// The ranks run on the CPU whatever the backend.
void ReportRun::allreduce(const Progress&) {
  AllreduceArgs a;
  a.ranks = {1, 2, 3, 4, 8};
  a.shards = 8;
  a.n = o.quick ? 4096 : 65536;
  a.runs = o.quick ? 1 : 3;
  a.timeout_s = 60;
  const AllreduceAcrossRanks x = allreduce_across_ranks(a);
  const AllreduceReport& r = x.mpi ? *x.mpi : x.simulated;
  std::ostringstream s;
  write_allreduce_json(r, s);
  save_text(dir / "allreduce.json", s.str());
  h.allreduce = std::to_string(a.shards) + " gradient shards of " + std::to_string(a.n) + " " + dist_name(a.dist) +
                " floats (seed " + std::to_string(a.seed) + ") all-reduced over " + join(a.ranks, ", ") + " ranks, " +
                (x.mpi ? "on Open MPI (one mpirun per rank count, oversubscribed), " + std::to_string(a.runs) +
                             " run(s) each"
                       : "simulated in one process (no Open MPI execution: " + x.mpi_why + ")") +
                "\n\n";
  h.allreduce += md_row({"variant", "determinism", "distinct across rank counts", "max ULP across rank counts",
                         "error ULP", "equals the exact sum", "equals its simulation", "median ms", "cost vs mpi"});
  h.allreduce += md_row({"---", "---", "---", "---", "---", "---", "---", "---", "---"});
  for (const auto& row : r.rows)
    h.allreduce += md_row({allreduce::info(row.variant).name, allreduce::info(row.variant).determinism,
                           std::to_string(row.ranks_distinct), ulp_text(row.ranks_max_ulp), ulp_text(row.error_ulp),
                           row.equals_exact ? "yes" : "no",
                           row.sim_equal ? std::to_string(*row.sim_equal) + " of " + std::to_string(row.configs) : "-",
                           row.median_ms ? sig(*row.median_ms, 4) : "-",
                           row.cost_vs_mpi ? sig(*row.cost_vs_mpi, 3) + "x" : "-"});
}

// 6c. tensor parallelism across TP sizes (issue 23): predict with every dense layer's K split over
// 1, 2, 3, 4 and 8 ranks (the scenario tp_ranks' model and input), on Open MPI when this build has
// it and mpirun runs, else simulated (the section says why).  The ranks run on the CPU.
void ReportRun::tp(const Progress&) {
  const TpAcrossSizes x = tp_across_sizes(o.quick);
  const TpReport& r = x.mpi ? *x.mpi : x.simulated;
  std::ostringstream s;
  write_tp_json(r, s);
  save_text(dir / "tp.json", s.str());
  h.tp = "The " + r.model + " MLP (init seed " + std::to_string(r.init_seed) + "), batch " + std::to_string(r.batch) +
         ", every dense layer's K split over " + join(r.tp, ", ") + " ranks and the partial outputs all-reduced, " +
         (x.mpi ? std::string("on Open MPI (one mpirun per TP size, oversubscribed)")
                : "simulated in one process (no Open MPI execution: " + x.mpi_why + ")") +
         "\n\n";
  h.tp += md_row({"tp-variant", "determinism", "distinct across TP sizes", "max ULP across TP sizes",
                  "max rel. error vs float64", "equals its simulation", "equals the single process"});
  h.tp += md_row({"---", "---", "---", "---", "---", "---", "---"});
  const std::size_t execs = r.tp.size() * std::max<std::size_t>(1, r.algorithms.size());
  for (const auto& row : r.rows)
    h.tp += md_row({tp::info(row.variant).name, tp::info(row.variant).determinism,
                    std::to_string(row.drift.distinct_outputs), ulp_text(row.drift.max_ulp), sig(row.ref_max_rel_err, 3),
                    row.sim_equal ? std::to_string(*row.sim_equal) + " of " + std::to_string(execs) : "-",
                    row.equals_single ? (*row.equals_single ? "yes" : "no") : "-"});
}

// 7. scenarios
void ReportRun::scenarios(const Progress&) {
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
}

}  // namespace driftlab::report_parts
