#include "host/commands/sum_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <span>
#include <sstream>
#include <vector>

#include "host/backends/backend.h"
#include "host/common/cli_args.h"
#include "host/common/memory_bound.h"
#include "kernels/common/float_bits.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/sum.h"
#include "host/backends/gpu.h"
#include "host/io/atomic_file.h"
#include "host/io/json.h"
#include "host/common/progress.h"
#include "host/io/npy.h"
#include "host/commands/row_json.h"
#include "host/commands/variants_command.h"

namespace driftlab {
namespace {

// The help's "determinism levels" lines, from the table.
std::string sum_levels() {
  std::string s;
  for (const auto& i : kSumVariants) {
    const std::string name = i.name;  // in a column of 16, or followed by two spaces when longer
    s += "  " + name + std::string(name.size() < 14 ? 16 - name.size() : 2, ' ') + i.help + "\n";
  }
  return s;
}

}  // namespace

const std::string kSumHelp = std::string(R"(usage: driftlab sum [options]

Sums one input R times with each variant and measures how the result drifts.

options:
  --n N                 number of elements (decimal or 2^K; default 2^22; 0 is valid)
  --variant NAME|all    )") + variant_choices(kSumVariants) + R"(, or all
                        (default: all the backend has)
  --backend cpu|cuda|auto
                        auto (default) picks cuda when a GPU is usable, else cpu
  --runs R              runs per variant (default 20); drift is measured over these
  --dtype f32|f64|bf16|f16
                        element type (default f32).  f32/f64: the result has the input's type.
                        bf16/f16: the input is stored in the 16-bit type (generated inputs are
                        drawn in float32, then rounded to nearest even; a float32 .npy is
                        converted the same way); every variant widens each element and adds in
                        float32 in its own order, so the result is float32.  A '<V2' .npy (how
                        ml_dtypes saves bfloat16) is read only with --dtype bf16
  --dist uniform|normal|illcond
                        uniform [0,1), standard normal, or ill-conditioned: heavy
                        cancellation, exact sum tiny against the terms (default uniform)
  --seed S              seed of the input distribution (default 1)
  --input FILE.npy      sum a 1-D NumPy array instead of a distribution: float32, float64,
                        float16 ('<f2'), or bfloat16 ('<V2' from ml_dtypes, with --dtype bf16)
  --threads T           cpu backend: worker threads (default: every hardware thread)
  --schedule shuffle:SEED
                        cpu backend: replay block completions of the atomic variants in a
                        seeded random order -- a reproducible MODEL of a GPU's scheduler --
                        instead of racing real threads (refused when --variant runs no atomic one)
  --json FILE           also write the rows as JSON
  --help                this text

determinism levels:
)" + sum_levels() + R"(
metrics (over the R runs): distinct_outputs, ratio_non_equal (runs differing from run 0),
max_ulp (between any two runs), vs_max (max |1 - s/s_exact|), max_abs_diff, error_ulp (run 0
vs exact), result (run 0, round-trip text), result_bits, median_ms, gbps, cost_vs_atomic,
cost_vs_vendor (median time relative to the read probe on cpu, CUB on cuda).
)";

SumArgs parse_sum_args(std::span<const std::string_view> argv) {
  SumArgs a;
  ArgReader r(argv);
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") {
      a.help = true;
    } else if (f == "--n") {
      a.n = parse_count(r.value(), "--n");
      a.n_given = true;
    } else if (f == "--variant") {
      a.variant = r.value();
      if (a.variant != "all" && !parse_sum_variant(a.variant))
        throw UsageError("--variant: unknown variant '" + a.variant + "' (" + variant_names(kSumVariants) + ", all)");
    } else if (f == "--backend") {
      a.backend = parse_backend(r.value());
    } else if (f == "--runs") {
      a.runs = parse_count(r.value(), "--runs");
      if (a.runs < 1 || a.runs > 1000000) throw UsageError("--runs: expected 1 to 1000000");
    } else if (f == "--dtype") {
      const std::string_view v = r.value();
      if (v == "f32") a.dtype = DType::f32;
      else if (v == "f64") a.dtype = DType::f64;
      else if (v == "bf16") a.dtype = DType::bf16;
      else if (v == "f16") a.dtype = DType::f16;
      else throw UsageError("--dtype: expected f32, f64, bf16 or f16, got '" + std::string(v) + "'");
      a.dtype_given = true;
    } else if (f == "--dist") {
      a.dist = parse_dist_flag(r.value());
    } else if (f == "--seed") {
      a.seed = parse_count(r.value(), "--seed");
    } else if (f == "--input") {
      a.input = parse_path(r.value(), "--input");
    } else if (f == "--threads") {
      a.threads = parse_threads(r.value());
    } else if (f == "--schedule") {
      const std::string_view v = r.value();
      if (v.substr(0, 8) != "shuffle:")
        throw UsageError("--schedule: expected shuffle:SEED, got '" + std::string(v) + "'");
      a.shuffle_seed = parse_count(v.substr(8), "--schedule shuffle:SEED");
    } else if (f == "--json") {
      a.json = parse_path(r.value(), "--json");
    } else {
      throw UsageError("unknown option '" + std::string(f) + "' (see driftlab sum --help)");
    }
  }
  if (a.input && a.n_given) throw UsageError("--n and --input cannot be used together");
  std::vector<SumVariant> chosen;  // empty: all
  if (a.variant != "all") chosen.push_back(*parse_sum_variant(a.variant));
  check_flag_applies(a.shuffle_seed.has_value(), "--schedule", std::span<const SumVariant>(chosen), kSumVariants, races,
                     "no atomic adds to reorder");
  return a;
}

namespace {

// The one memory bound (memory_bound.h): physical memory capped by ulimit -v / -d.
std::size_t physical_memory_bytes() { return usable_memory_bytes(); }

// Rounds a float32 array to the 16-bit type (nearest even, cpu/half_convert.h).
HostArray narrow_array(const HostArray& x, DType to) {
  HostArray h;
  h.dtype = to;
  h.shape = x.shape;
  h.u16.resize(x.f32.size());
  if (to == DType::bf16) cpu::narrow_bf16(x.f32.data(), h.u16.data(), x.f32.size());
  else cpu::narrow_f16(x.f32.data(), h.u16.data(), x.f32.size());
  return h;
}

HostArray load_input(const SumArgs& a, std::string& conversion) {
  if (a.input) {
    // A '<V2' file is bfloat16 only when --dtype bf16 says so (npy.h: it cannot be told apart).
    HostArray x = npy::read(*a.input, npy::ReadOptions{a.dtype_given && a.dtype == DType::bf16});
    if (x.shape.size() != 1) {
      std::string s;
      for (std::size_t i = 0; i < x.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(x.shape[i]);
      throw UsageError("--input " + *a.input + ": expected a 1-D array, got shape (" + s + ")");
    }
    if (a.dtype_given && is_half(a.dtype) && x.dtype == DType::f32) {
      conversion = std::string("float32 file rounded to ") + dtype_name(a.dtype) + " (nearest even)";
      return narrow_array(x, a.dtype);
    }
    if (a.dtype_given && x.dtype != a.dtype)
      throw UsageError("--input " + *a.input + " holds " + dtype_name(x.dtype) + " but --dtype says " +
                       dtype_name(a.dtype) +
                       (is_half(a.dtype) && x.dtype == DType::f64
                            ? " (only a float32 file is rounded to 16 bits: from float64 it would round twice)"
                            : ""));
    return x;
  }
  const std::size_t mem = physical_memory_bytes();
  // A 16-bit input is generated in float32 first: 2 + 4 bytes an element at the peak.
  const std::size_t item = is_half(a.dtype) ? 6 : dtype_size(a.dtype);
  if (a.n > (mem / item) / 10 * 7)  // the input plus working room must fit in memory
    throw UsageError("--n " + std::to_string(a.n) + ": needs " + std::to_string(a.n / (1 << 20) * item) +
                     " MiB, more than this machine's memory allows (" + std::to_string(mem >> 20) + " MiB)");
  if (is_half(a.dtype))
    conversion = std::string("generated in float32, rounded to ") + dtype_name(a.dtype) + " (nearest even)";
  return make_input(a.dist, a.dtype, a.n, a.seed);
}

template <class T> T from_run(const SumRun& r) {
  return from_bits<T>(static_cast<typename FloatBits<T>::UInt>(r.bits));
}

template <class T>
SumRow measure(SumBackend& b, SumVariant v, std::size_t runs, T exact, std::size_t bytes) {
  b.run(v, runs);  // warm-up (first touch, module load), not counted
  std::vector<T> results;
  std::vector<double> ms;
  results.reserve(runs);
  ms.reserve(runs);
  LoopProgress progress(std::string("driftlab sum: ") + info(v).name + " runs", runs);
  for (std::size_t r = 0; r < runs; ++r) {
    progress.step(r);
    const SumRun s = b.run(v, r);
    results.push_back(from_run<T>(s));
    ms.push_back(s.ms);
  }
  SumRow row{v, drift<T>(results, exact), median(ms), 0, std::nullopt, {}, std::nullopt};
  for (const T r : results) row.ulp_from_exact.push_back(ordered_int(r) - ordered_int(exact));
  row.gbps = row.median_ms > 0 ? static_cast<double>(bytes) / (row.median_ms * 1e-3) / 1e9 : 0;
  return row;
}

}  // namespace

SumReport run_sum(const SumArgs& a) {
  std::unique_ptr<SumBackend> backend;
  const bool cuda = use_cuda(a.backend);
  if (cuda) {
    if (a.shuffle_seed) throw UsageError("--schedule models a GPU scheduler on the cpu backend; use --backend cpu");
    if (a.threads) throw UsageError("--threads applies to the cpu backend; use --backend cpu");
    backend = make_cuda_backend();
  } else {
    backend = make_cpu_backend(CpuOptions{a.threads, a.shuffle_seed});
  }

  std::vector<SumVariant> variants;
  if (a.variant == "all") {
    for (const auto& i : kSumVariants)
      if (backend->has(i.variant)) variants.push_back(i.variant);
  } else {
    const SumVariant v = *parse_sum_variant(a.variant);
    if (!backend->has(v))
      throw UsageError(unavailable(info(v), backend->name()));
    variants.push_back(v);
  }

  std::string conversion;
  const HostArray x = load_input(a, conversion);
  backend->set_input(x);

  SumReport rep;
  rep.backend = backend->name();
  rep.device = backend->device();
  rep.atomic_note = backend->atomic_note();
  rep.dtype = x.dtype;
  rep.n = x.size();
  rep.runs = a.runs;
  rep.input = a.input ? *a.input : std::string(dist_name(a.dist)) + " (seed " + std::to_string(a.seed) + ")";
  rep.dist = a.input ? "file" : dist_name(a.dist);
  rep.conversion = conversion;

  cpu::ThreadPool pool(a.threads);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const std::size_t bytes = x.size() * dtype_size(x.dtype);
  for (const SumVariant v : variants) {
    if (x.dtype == DType::f32) {
      const float exact = cpu::sum_exact(x.f32.data(), x.f32.size(), ctx);
      rep.exact_bits = to_bits(exact);
      rep.rows.push_back(measure<float>(*backend, v, a.runs, exact, bytes));
    } else if (is_half(x.dtype)) {  // the exact sum of the 16-bit values, rounded once to float32
      const float exact =
          x.dtype == DType::bf16
              ? cpu::sum_half(SumVariant::exact, reinterpret_cast<const bf16*>(x.u16.data()), x.u16.size(), ctx)
              : cpu::sum_half(SumVariant::exact, reinterpret_cast<const f16*>(x.u16.data()), x.u16.size(), ctx);
      rep.exact_bits = to_bits(exact);
      rep.rows.push_back(measure<float>(*backend, v, a.runs, exact, bytes));
    } else {
      const double exact = cpu::sum_exact(x.f64.data(), x.f64.size(), ctx);
      rep.exact_bits = to_bits(exact);
      rep.rows.push_back(measure<double>(*backend, v, a.runs, exact, bytes));
    }
  }
  const auto atomic = std::find_if(rep.rows.begin(), rep.rows.end(),
                                   [](const SumRow& r) { return r.variant == SumVariant::atomic; });
  if (a.variant == "all" && atomic != rep.rows.end() && atomic->median_ms > 0)
    for (auto& r : rep.rows) r.cost_vs_atomic = r.median_ms / atomic->median_ms;
  std::vector<double> vendor_ms;  // the vendor baseline, timed as the variants are
  for (std::size_t r = 0; r < a.runs; ++r) vendor_ms.push_back(backend->vendor_run_ms());
  rep.vendor = backend->vendor();
  if (const double v = median(vendor_ms); v > 0)
    for (auto& r : rep.rows) r.cost_vs_vendor = r.median_ms / v;
  return rep;
}

namespace {
// The result's type: the input's, or float32 for a 16-bit input (float32 accumulation).
DType result_dtype(DType d) { return is_half(d) ? DType::f32 : d; }
std::size_t result_size(const SumReport& r) { return dtype_size(result_dtype(r.dtype)); }

std::string value_text(const SumReport& r, std::uint64_t bits) {
  return result_dtype(r.dtype) == DType::f32 ? round_trip(from_bits<float>(static_cast<std::uint32_t>(bits)))
                               : round_trip(from_bits<double>(bits));
}
}  // namespace

void print_sum_table(const SumReport& r, std::ostream& out) {
  out << "driftlab sum: n=" << r.n << " " << dtype_name(r.dtype) << ", input " << r.input << ", " << r.runs
      << " runs per variant\n";
  if (is_half(r.dtype))
    out << "input stored as " << dtype_name(r.dtype)
        << (r.conversion.empty() ? std::string() : ", " + r.conversion)
        << "; every variant adds the widened values in float32: results are float32\n";
  out
      << "backend " << r.backend << ": " << r.device << "\n"
      << r.atomic_note << "\n"
      << "exact sum: " << value_text(r, r.exact_bits) << " (" << hex_bits(r.exact_bits, result_size(r))
      << ")\n\n";
  // The ULP columns widen to their longest entry (a float64 sum's ULPs run to 19 digits), so that
  // neighbouring numbers never run together.
  int ulp_w = 9, err_w = 10;
  for (const auto& row : r.rows) {
    ulp_w = std::max(ulp_w, static_cast<int>(ulp_text(row.drift.max_ulp).size()) + 2);
    err_w = std::max(err_w, static_cast<int>(ulp_text(row.drift.error_ulp).size()) + 2);
  }
  out << std::left << std::setw(16) << "variant" << std::setw(40) << "determinism" << std::right << std::setw(9)
      << "distinct" << std::setw(10) << "non_equal" << std::setw(ulp_w) << "max_ulp" << std::setw(err_w) << "error_ulp"
      << std::setw(10) << "vs_max" << std::setw(26) << "result" << std::setw(11) << "median_ms" << std::setw(10)
      << "GB/s" << std::setw(9) << "cost" << std::setw(11) << "vs_vendor" << "\n";
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    out << std::left << std::setw(16) << info(row.variant).name << std::setw(40) << info(row.variant).determinism
        << std::right << std::setw(9) << d.distinct_outputs << std::setw(10) << sig(d.ratio_non_equal, 2)
        << std::setw(ulp_w) << ulp_text(d.max_ulp) << std::setw(err_w) << ulp_text(d.error_ulp) << std::setw(10)
        << sig(d.vs_max, 2) << std::setw(26) << value_text(r, d.result_bits) << std::setw(11)
        << sig(row.median_ms, 4) << std::setw(10) << sig(row.gbps, 3) << std::setw(9)
        << (row.cost_vs_atomic ? sig(*row.cost_vs_atomic, 3) + "x" : std::string("-")) << std::setw(11)
        << (row.cost_vs_vendor ? sig(*row.cost_vs_vendor, 3) + "x" : std::string("-")) << "\n";
  }
  out << "\ncost = median time relative to atomic; vs_vendor = relative to " << r.vendor
      << ".  distinct = distinct bit patterns over the runs.\n";
}

void write_sum_json(const SumReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "sum").key("rows").begin_array();
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    row_header(j.begin_object(), r.backend, r.device, info(row.variant))
        .field("dtype", dtype_name(r.dtype))
        .field("n", static_cast<std::uint64_t>(r.n))
        .field("runs", static_cast<std::uint64_t>(r.runs))
        .field("dist", r.dist)
        .field("input", r.input)
        .field("atomic_note", r.atomic_note);
    j.key("conversion");  // how a 16-bit input was made: rounded from float32, or null
    r.conversion.empty() ? j.null() : j.value(r.conversion);
    drift_fields(j, d);
    j.field("vs_max", d.vs_max).field("max_abs_diff", d.max_abs_diff).key("error_ulp");
    j.value_or_null(d.error_ulp, kUnorderedUlp);
    j.field("result", value_text(r, d.result_bits))
        .field("result_bits", hex_bits(d.result_bits, result_size(r)))
        .field("result_dtype", dtype_name(result_dtype(r.dtype)))
        .field("exact", value_text(r, r.exact_bits))
        .field("median_ms", row.median_ms)
        .field("gbps", row.gbps);
    cost_fields(j, row.cost_vs_atomic, r.vendor, row.cost_vs_vendor).end_object();
  }
  j.end_array().end_object();
}

int sum_main(std::span<const std::string_view> args, std::ostream& out) {
  const SumArgs a = parse_sum_args(args);
  if (a.help) {
    out << kSumHelp;
    return 0;
  }
  if (a.json) check_output_path(*a.json, "--json");  // before the work, not after it
  const SumReport rep = run_sum(a);
  print_sum_table(rep, out);
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_sum_json(rep, f); });
  return 0;
}

}  // namespace driftlab
