// `driftlab predict`: runs the model per dense variant (in this process or in --processes
// children), collects the drift, times, reference error and batch sweep into a PredictReport.
// Flags: predict_args.cpp; model setup: predict_model.cpp; the child protocol:
// predict_children.cpp; the table and JSON: predict_output.cpp.
#include "host/commands/predict_command.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/common/cli_args.h"
#include "kernels/common/rng.h"
#include "host/io/atomic_file.h"
#include "host/io/data.h"
#include "host/io/input_file.h"
#include "host/io/json.h"
#include "host/model/model.h"
#include "host/backends/model_backend.h"
#include "host/io/npy.h"
#include "host/commands/predict_runs.h"
#include "host/commands/predict_tp.h"
#include "host/commands/variants_command.h"

namespace driftlab {
namespace {

std::vector<DenseVariant> pick_variants(const PredictArgs& a, const ModelBackend& b) {
  std::vector<DenseVariant> vs;
  if (a.variant == "all") {
    for (const auto& i : kDenseVariants)
      if (b.has(i.variant)) vs.push_back(i.variant);
    return vs;
  }
  const DenseVariant v = *parse_dense_variant(a.variant);
  if (!b.has(v))
    throw UsageError(unavailable(info(v), b.name()));
  return {v};
}

}  // namespace

void run_local(const PredictArgs& a, RunSink& sink) {
  auto backend = pick_backend(a);
  const Model model = build_model(a, a.init_seed ? *a.init_seed : entropy_seed());
  std::size_t B = 0;
  const std::vector<float> x = build_input(a, model, B);
  backend->set_model(model);
  const std::uint64_t dropout_seed = a.dropout_seed ? *a.dropout_seed : entropy_seed();

  sink.begin(LocalInfo{backend->name(), backend->device(), backend->atomic_note(a.shuffle_seed.has_value()),
                       model.shape_text(), model.origin, B, model.outputs()});
  for (const DenseVariant v : pick_variants(a, *backend)) {
    std::vector<std::size_t> slices;
    if (splits_k(v))
      for (const auto& l : model.layers) slices.push_back(a.split_k ? a.split_k : dense::split_k(B, l.K, l.N));
    sink.variant(v, slices);
    PredictCall c{v, a.training, dropout_seed, 0, a.split_k, std::nullopt};
    std::vector<float> out(B * model.outputs()), first, pre;
    const bool half = model.dtype != DType::f32;
    if (half) {
      pre.resize(out.size());
      c.pre_round = pre.data();
    }
    c.call = std::uint64_t(1) << 40;  // warm-up on a call number no run uses
    backend->predict(c, x.data(), B, out.data());
    // CUDA, one process: outputs are compared with run 0's on the device; only run 0 comes back
    // (for the reference error and --save-output).
    // (16-bit outputs always come back: their drift is counted on the host, before and after rounding.)
    const auto tracker = sink.wants_device_drift() && !half ? backend->track_outputs(B, model.outputs()) : nullptr;
    for (std::size_t r = 0; r < a.runs; ++r) {
      c.call = r;
      if (a.shuffle_seed) c.schedule_seed = mix_seed(*a.shuffle_seed, r);
      c.output_to_host = !tracker || r == 0;
      const double ms = backend->predict(c, x.data(), B, out.data());
      if (tracker) tracker->add_last_output();
      if (r == 0) first = out;
      if (half) sink.run_before(pre);
      if (c.output_to_host) sink.run(out, ms);
      else sink.run_on_device(ms);
    }
    if (tracker) sink.device_drift(tracker->result());
    std::vector<DropoutMask> masks;
    if (a.training && model.dropout > 0)
      for (std::size_t li = 0; li + 1 < model.layers.size(); ++li)
        masks.push_back(dropout_mask(B * model.layers[li].N, model.dropout, dropout_seed, 0, static_cast<std::uint32_t>(li)));
    sink.end_variant(max_rel_err(first, reference_forward(model, x.data(), B, masks)));
  }
  // The vendor baseline of cost_vs_vendor: the same inference, same threads, as many calls.
  const std::string vendor = backend->vendor();
  std::vector<float> out(B * model.outputs());
  backend->vendor_predict(x.data(), B, out.data());  // warm-up
  for (std::size_t r = 0; r < a.runs; ++r) sink.vendor(vendor, backend->vendor_predict(x.data(), B, out.data()));
}

namespace {

// The ULP unit of a 16-bit model's outputs.
std::uint64_t (*ulp16_of(DType d))(float, float) { return d == DType::bf16 ? &ulp_distance_bf16 : &ulp_distance_f16; }

// Row 0 of x inside batches of each size (the other rows random, seeded by the size).
void batch_sweep(const PredictArgs& a, PredictReport& rep) {
  auto backend = pick_backend(a);
  const Model model = build_model(a, a.init_seed ? *a.init_seed : entropy_seed());
  std::size_t B = 0;
  const std::vector<float> x = build_input(a, model, B);
  backend->set_model(model);
  const std::size_t K = model.inputs(), N = model.outputs();
  const std::uint64_t dropout_seed = a.dropout_seed ? *a.dropout_seed : entropy_seed();
  for (auto& row : rep.rows) {
    OutputDriftStream row0(1, N);
    for (const std::size_t bs : a.batch_sweep) {
      std::vector<float> xb = make_input(Dist::uniform, DType::f32, bs * K, a.seed + 1000003 * bs).f32;
      round_values(xb, model.dtype);
      std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(K), xb.begin());
      std::vector<float> out(bs * N);
      PredictCall c{row.variant, a.training, dropout_seed, 0, a.split_k,
                    a.shuffle_seed ? std::optional<std::uint64_t>(*a.shuffle_seed) : std::nullopt};
      backend->predict(c, xb.data(), bs, out.data());
      row0.add(std::span<const float>(out.data(), N));
    }
    const OutputDrift d = row0.result();
    row.batch_distinct = d.distinct_outputs;
    row.batch_max_ulp = a.dtype == DType::f32 ? d.max_ulp : row0.max_ulp_by(ulp16_of(a.dtype));
  }
}


}  // namespace

PredictReport run_predict(const PredictArgs& a) {
  if (a.save_output) check_output_path(*a.save_output, "--save-output");
  if (a.json) check_output_path(*a.json, "--json");
  if (a.save_output && a.json) {  // FILE, or FILE.<variant>.npy for each variant of --variant all
    std::vector<std::string> saved = {*a.save_output};
    if (a.variant == "all")
      for (const auto& v : kDenseVariants) saved.push_back(variant_path(*a.save_output, v.name));
    for (const std::string& p : saved)
      if (same_output(p, *a.json))
        throw UsageError("--json and --save-output name the same file (" + shown_path(p) + "): one would replace the other");
  }
  Collector c(static_cast<std::uint64_t>(a.runs) * a.processes * (a.variant == "all" ? std::size(kDenseVariants) : 1),
              a.processes == 1, a.dtype != DType::f32);
  if (a.processes > 1) run_children(a, c);
  else run_local(a, c);
  const LocalInfo& first = c.info();

  PredictReport rep;
  rep.backend = first.backend;
  rep.device = first.device;
  rep.atomic_note = first.atomic_note;
  rep.model = first.model;
  rep.origin = first.origin;
  rep.batch = first.B;
  rep.outputs = first.N;
  rep.runs = a.runs;
  rep.processes = a.processes;
  rep.training = a.training;
  rep.batch_sweep = a.batch_sweep;
  rep.dtype = a.dtype;
  rep.seeds = std::string("init ") + (a.init_seed ? std::to_string(*a.init_seed) : "unseeded") + ", dropout " +
              (a.dropout_seed ? std::to_string(*a.dropout_seed) : "unseeded") + ", input " + std::to_string(a.seed);
  for (const VariantState& v : c.variants()) {
    PredictRow row;
    row.variant = v.variant;
    row.slices = v.slices;
    row.drift = v.device ? *v.device : v.drift->result();
    if (row.drift.runs != a.runs * a.processes) throw std::runtime_error("child processes returned too few runs");
    if (v.before) {  // a 16-bit model: ULPs of its type after the rounding, float32 ULPs before
      row.drift.max_ulp = v.drift->max_ulp_by(ulp16_of(a.dtype));
      row.before = v.before->result();
      if (row.before->runs != row.drift.runs) throw std::runtime_error("child processes returned too few runs");
    }
    row.ref_max_rel_err = v.ref_err;
    row.median_ms = median(v.ms);
    row.samples_per_s = row.median_ms > 0 ? static_cast<double>(first.B) / (row.median_ms * 1e-3) : 0;
    rep.rows.push_back(std::move(row));
  }
  const auto atomic = std::find_if(rep.rows.begin(), rep.rows.end(),
                                   [](const PredictRow& r) { return r.variant == DenseVariant::atomic; });
  if (a.variant == "all" && atomic != rep.rows.end() && atomic->median_ms > 0)
    for (auto& r : rep.rows) r.cost_vs_atomic = r.median_ms / atomic->median_ms;
  rep.vendor = c.vendor_name();
  if (const double v = c.vendor_ms().empty() ? 0.0 : median(c.vendor_ms()); v > 0)
    for (auto& r : rep.rows) r.cost_vs_vendor = r.median_ms / v;
  if (!a.batch_sweep.empty()) batch_sweep(a, rep);

  if (a.save_output) {
    // Every variant's file checked before the first is written: a folder in the way of the third
    // must not leave the first two replaced.
    const auto path_of = [&](const VariantState& v) {
      return c.variants().size() > 1 ? variant_path(*a.save_output, info(v.variant).name) : *a.save_output;
    };
    for (const VariantState& v : c.variants()) check_output_path(path_of(v), "--save-output");
    for (const VariantState& v : c.variants())
      npy::write_output(path_of(v), {first.B, first.N}, v.drift->first(), "--save-output");
  }
  return rep;
}

int predict_main(std::span<const std::string_view> args, std::ostream& out) {
  const PredictArgs a = parse_predict_args(args);
  if (a.help) {
    out << kPredictHelp;
    return 0;
  }
  if (!a.tp.empty()) return predict_tp_main(a, out);  // tensor parallelism: predict_tp.cpp
  if (const char* fd = std::getenv(kChildFdEnv)) return child_main(a, fd);  // a child of --processes
  // --save-output's files and --json are replaced together or not at all (atomic_file.h): a --json
  // that fails after the .npy files were written must not leave them replaced.
  OutputGroup outputs;
  const PredictReport rep = run_predict(a);
  print_predict_table(rep, out);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_predict_json(rep, f); });
  outputs.commit();
  return 0;
}

}  // namespace driftlab
