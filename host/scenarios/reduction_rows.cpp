// The scenario rows on parallel reductions (scenario_rows.h): run-to-run drift and the backend as "a
// less significant contributor" (Explanation 3), and, not in the article, the batch size, the
// thread count, decode attention's split, a bf16 model's output rounding and the rank count.
#include "host/scenarios/scenario_rows.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "host/io/array.h"
#include "host/metrics/metrics.h"
#include "host/scenarios/allreduce_scenario.h"
#include "host/scenarios/attention_scenario.h"
#include "host/scenarios/tp_scenario.h"

namespace driftlab::scenario_rows {

// Parallel reductions: drift of real runs, and of atomics under the scheduler model on the CPU.
void Scenarios::drift_and_lesser() {
  PredictArgs a = run.base();
  a.runs = calls;
  a.layers = o.wide;
  a.batch = 64;
  a.init_seed = 3;
  a.variant = "all";
  const auto rep = run.predict(a, "parallel reductions: every kernel, wide model, real runs");
  const auto atomic = only_row(rep, DenseVariant::atomic);
  std::size_t fixed = 1, fixed_flips = 0;
  std::uint64_t fixed_ulp = 0;
  for (const auto v : {DenseVariant::tree, DenseVariant::invariant}) {
    const auto& d = only_row(rep, v).drift;
    fixed = std::max(fixed, d.distinct_outputs);
    fixed_ulp = std::max(fixed_ulp, d.max_ulp);
    fixed_flips = std::max(fixed_flips, d.argmax_flips);
  }
  std::optional<OutputDrift> model;
  if (cpu_backend) {  // real 2-core races are rare and timing-dependent: the seeded GPU-scheduler model counts
    a.variant = "atomic";
    a.shuffle_seed = 5;
    model = only_row(run.predict(a, "parallel reductions: atomic under the seeded scheduler model"), DenseVariant::atomic).drift;
  }
  // The verdict's real count: on the CPU the fixed-order kernels (stable), on a GPU every kernel.
  const std::uint64_t real_ulp = cpu_backend ? fixed_ulp : std::max(fixed_ulp, atomic.drift.max_ulp);
  const std::size_t real_flips = cpu_backend ? fixed_flips : std::max(fixed_flips, atomic.drift.argmax_flips);
  add({.key = "drift",
       .ran = wide + ", batch 64, training=False, " + n(calls) + " calls, " + rep.backend + ", every kernel" +
                (cpu_backend ? "; atomic also under the seeded GPU-scheduler model" : ""),
       .measured = "tree and invariant (real runs): " + n(fixed) + " distinct, max " + std::to_string(fixed_ulp) +
                " ULP; atomic (real runs): " + n(atomic.drift.distinct_outputs) + " distinct of " + n(calls) + ", max " +
                std::to_string(atomic.drift.max_ulp) + " ULP, argmax changed in " + n(atomic.drift.argmax_flips) +
                " of 64 rows" + (cpu_backend ? " (2-core races depend on timing: reported, not counted)" : "") +
                (model ? "; atomic under the seeded GPU-scheduler MODEL: " + n(model->distinct_outputs) + " distinct, up to " +
                std::to_string(model->max_ulp) + " ULP, max |diff| " + g2(model->max_abs_diff) +
                ", argmax changed in " + n(model->argmax_flips) + " of 64 rows"
                : std::string()),
       .numbers = {{"max_ulp", double(real_ulp)},
                {"model_max_ulp", double(model ? model->max_ulp : 0)},
                {"argmax_flips", double(real_flips)},
                {"distinct_fixed_order", double(fixed)},
                {"real_atomic_distinct", double(atomic.drift.distinct_outputs)},
                {"real_atomic_max_ulp", double(atomic.drift.max_ulp)},
                {"model_atomic_distinct", double(model ? model->distinct_outputs : 0)},
                {"model_argmax_flips", double(model ? model->argmax_flips : 0)}}});
  // Explanation 3's "less significant contributor": the accumulation order's effect (atomics
  // under the seeded model on the CPU, real atomics on a GPU) against dropout on and against
  // other weights, on the same wide model, batch 64.
  PredictArgs t = run.base();
  t.layers = o.wide;
  t.batch = 64;
  t.init_seed = 3;
  t.variant = "tree";
  const auto y0 = one_output(run, t, tmp, "ref", "less significant: the reference output (tree)");
  t.training = true;
  t.dropout_seed = 1;
  const auto yd = one_output(run, t, tmp, "dropout", "less significant: training=True (dropout seed 1)");
  t.training = false;
  t.init_seed = 4;
  const auto yw = one_output(run, t, tmp, "weights", "less significant: other weights (init seed 4)");
  const OutputDrift& bd = model ? *model : atomic.drift;
  const std::size_t br = effect(y0, y0, 64, bd.max_abs_diff).second;  // the order's own max |diff|, scaled
  const auto [df, dr] = effect(y0, yd, 64);
  const auto [wf, wr] = effect(y0, yw, 64);
  add({.key = "lesser",
       .ran = wide + ", batch 64, init seed 3, training=False: the accumulation order (atomics, " +
                (model ? std::string("under the seeded GPU-scheduler model") : "real runs") + ", " + n(calls) +
                " calls) against training=True (dropout seed 1) and against init seed 4's weights",
       .measured = "argmax changed in " + n(bd.argmax_flips) + " / " + n(df) + " / " + n(wf) +
                " of 64 rows; max |diff| relative to max |output|: " + rel(double(br)) + " / " + rel(double(dr)) + " / " +
                rel(double(wr)) + " (order / dropout / weights)",
       .numbers = {{"backend_flips", double(bd.argmax_flips)},
                {"dropout_flips", double(df)},
                {"weights_flips", double(wf)},
                {"backend_rel_ppb", double(br)},
                {"dropout_rel_ppb", double(dr)},
                {"weights_rel_ppb", double(wr)}}});
}

// Batch size: the same row in batches of different sizes.
void Scenarios::batch() {
  PredictArgs a = run.base();
  a.runs = 1;
  a.layers = o.wide;
  a.init_seed = 3;
  a.batch_sweep = {1, 7, 64, 513};
  a.variant = "all";
  const auto rep = run.predict(a, "row 0 inside batches of 1, 7, 64, 513");
  std::size_t splitk = 1;
  std::uint64_t splitk_ulp = 0;
  std::string per;
  for (const auto& row : rep.rows) {
    per += (per.empty() ? "" : ", ") + std::string(info(row.variant).name) + " " + n(*row.batch_distinct) + " (" +
           std::to_string(*row.batch_max_ulp) + " ULP)";
    if (row.variant != DenseVariant::invariant) {
      splitk = std::max(splitk, *row.batch_distinct);
      splitk_ulp = std::max(splitk_ulp, *row.batch_max_ulp);
    }
  }
  const auto inv = only_row(rep, DenseVariant::invariant);
  add({.key = "batch",
       .ran = rep.model + ", row 0 in batches of 1, 7, 64, 513, training=False, " + rep.backend,
       .measured = "distinct row-0 outputs across batch sizes: " + per,
       .numbers = {{"splitk", double(splitk)}, {"invariant", double(*inv.batch_distinct)}, {"batch_max_ulp", double(splitk_ulp)}}});
}

// Thread count: the CPU backend with 1 and 2 worker threads, the outputs compared bitwise.
void Scenarios::threads() {
  std::map<std::string, std::vector<std::vector<float>>> outs;  // variant -> outputs at 1, 2 threads
  std::string model;
  for (const int t : {1, 2}) {
    PredictArgs a = run.base();
    a.backend = "cpu";
    a.threads = t;
    a.runs = 1;
    a.layers = o.wide;
    a.batch = 64;
    a.init_seed = 3;
    a.variant = "all";
    // "t" + a named string, never + a temporary: GCC 12 at -O3 misreads the latter (-Wrestrict, GCC PR 105329).
    const std::string count = std::to_string(t);
    a.save_output = (tmp / ("t" + count + ".npy")).string();
    const auto rep = run.predict(a, "thread count: cpu backend, " + std::to_string(t) + " thread(s)");
    model = rep.model;
    for (const auto& row : rep.rows) {
      const std::string name = info(row.variant).name;
      outs[name].push_back(take_npy((tmp / ("t" + count + "." + name + ".npy")).string()));
    }
  }
  std::size_t kernels = 1, atomic = 1;
  std::uint64_t worst = 0;
  std::string per;
  for (const auto& [name, o2] : outs) {
    const OutputDrift d = output_drift(o2, 64, o2[0].size() / 64);
    per += (per.empty() ? "" : ", ") + name + " " + n(d.distinct_outputs) + " (" + std::to_string(d.max_ulp) + " ULP)";
    if (name == "atomic") atomic = d.distinct_outputs;
    else kernels = std::max(kernels, d.distinct_outputs);
    if (name != "atomic") worst = std::max(worst, d.max_ulp);
  }
  add({.key = "threads",
       .ran = model + ", batch 64, training=False, cpu backend with 1 and 2 threads, real runs",
       .measured = "distinct outputs across thread counts: " + per +
                " (the atomic kernel's count depends on whether a real 2-core race happened: reported, not counted)",
       .numbers = {{"kernels", double(kernels)}, {"atomic", 0.0}, {"threads_max_ulp", double(worst)},
                {"real_atomic_distinct", double(atomic)}}});
}

// Not in the article: the same question for LLM decode attention (issue 12), whose split is
// chosen from the batch; sequence 0 in batches of other sizes and beside other KV lengths.
void Scenarios::attention() {
  if (progress) *progress << "  running: attention decode, sequence 0 across batches\n" << std::flush;
  add(attention_batch_scenario(0, o.backend, o.threads, o.quick));
}

// Not in the article: the 16-bit output (issue 11).  The same runs of a bf16 model measured
// before the last rounding (the last layer's float32 output) and after it (the stored bf16),
// beside the float32 model under the same schedules.  Every layer split 8 ways, as a GPU
// splits K for small batches, so that every layer's atomics can move bits.
void Scenarios::bf16() {
  PredictArgs a = run.base();
  a.runs = 2 * calls;
  a.layers = o.wide;
  a.batch = 64;
  a.init_seed = 3;
  a.split_k = 8;
  a.variant = "atomic";
  a.dtype = DType::bf16;
  const PredictRow real = only_row(run.predict(a, "bf16 model, atomic kernels, real runs"), DenseVariant::atomic);
  std::optional<PredictRow> model;
  if (cpu_backend) {  // 2-core races are rare and timing-dependent: the seeded scheduler model counts
    a.shuffle_seed = 5;
    model = only_row(run.predict(a, "bf16 model, atomic kernels under the seeded scheduler model"), DenseVariant::atomic);
  }
  const PredictRow& m = model ? *model : real;
  a.dtype = DType::f32;
  const PredictRow f32 = only_row(run.predict(a, "the same float32 model and schedules"), DenseVariant::atomic);
  auto words = [](const PredictRow& r) {
    const OutputDrift& b = *r.before;
    const OutputDrift& d = r.drift;
    return n(b.distinct_outputs) + " -> " + n(d.distinct_outputs) + " distinct outputs, fraction of elements differing from run 0 " +
           g2(b.ratio_non_equal) + " -> " + g2(d.ratio_non_equal) + ", max " + std::to_string(b.max_ulp) +
           " float32 ULP -> " + std::to_string(d.max_ulp) + " bf16 ULP, argmax changed in " + n(b.argmax_flips) +
           " -> " + n(d.argmax_flips) + " of 64 rows";
  };
  add({.key = "bf16_rounding",
       .ran = "a bf16 " + join(o.wide, "-") + " model (weights and input rounded once, every layer's output rounded), "
                "batch 64, training=False, split-K 8 on every layer, " + n(a.runs) + " calls, atomic kernels on " +
                (cpu_backend ? "cpu, real runs and the seeded scheduler model" : "cuda") +
                "; beside it the float32 model under the same schedules",
       .measured = "before -> after the final rounding to bf16: " + std::string(model ? "under the seeded GPU-scheduler MODEL " : "") +
                words(m) +
                (model ? "; real runs (timing-dependent on 2 cores: reported, not counted) " + words(real) : std::string()) +
                ". The float32 model: " + n(f32.drift.distinct_outputs) + " distinct outputs, max " +
                std::to_string(f32.drift.max_ulp) + " ULP",
       .numbers = {{"max_ulp", double(model ? 0 : real.drift.max_ulp)},
                {"model_max_ulp", double(model ? model->drift.max_ulp : 0)},
                {"argmax_flips", double(m.drift.argmax_flips)},
                {"distinct_before", double(m.before->distinct_outputs)},
                {"distinct_after", double(m.drift.distinct_outputs)},
                {"frac_differ_before", m.before->ratio_non_equal},
                {"frac_differ_after", m.drift.ratio_non_equal},
                {"argmax_flips_before", double(m.before->argmax_flips)},
                {"max_ulp_f32_before", double(m.before->max_ulp)},
                {"f32_model_distinct", double(f32.drift.distinct_outputs)},
                {"f32_model_max_ulp", double(f32.drift.max_ulp)},
                {"real_distinct_after", double(real.drift.distinct_outputs)},
                {"real_max_ulp_after", double(real.drift.max_ulp)}}});
}

// Not in the article: the same question one level up, where data-parallel training and
// tensor-parallel inference meet it (issue 23): the all-reduce over 1, 2, 3, 4 and 8 ranks.
void Scenarios::ranks() {
  if (progress) *progress << "  running: all-reduce across rank counts (simulated; Open MPI when it runs)\n" << std::flush;
  add(allreduce_ranks_scenario(o.quick));
  if (progress) *progress << "  running: predict across TP sizes (simulated; Open MPI when it runs)\n" << std::flush;
  add(tp_ranks_scenario(o.quick));
}

}  // namespace driftlab::scenario_rows
