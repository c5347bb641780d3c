// driftlab's Python module (nanobind): the same C++ code as the command line, called on NumPy
// arrays in place.  python/driftlab/__init__.py checks the arrays (dtype, shape, C order) and
// calls these; here they are taken without a copy (noconvert: nanobind never converts silently),
// the GIL is released around the kernels, and a bad flag value is refused by the command line's
// own parsers, so the messages are the command line's (UsageError -> ValueError).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "host/io/array.h"
#include "host/common/cli_args.h"
#include "kernels/common/dense_variant.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/sum_variant.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/fp_env.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/thread_pool.h"
#include "host/metrics/metrics.h"
#include "host/model/model.h"
#include "host/commands/predict_command.h"
#include "host/commands/sum_command.h"
#include "host/commands/trace_command.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace driftlab::python {
namespace {

// Arrays as the package passes them: read-only, on the CPU, C order, any dtype (checked here).
using In = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

// One pool per thread count, made on first use and kept (a pool costs thread starts; a call on a
// 1000-element array must not).  A pool runs one parallel_for at a time: `use` serialises callers
// that released the GIL.
struct PoolSlot {
  explicit PoolSlot(int threads) : pool(threads) {}
  std::mutex use;
  cpu::ThreadPool pool;
};
PoolSlot& pool_for(int threads) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<PoolSlot>> pools;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = pools[threads];
  if (!slot) slot = std::make_unique<PoolSlot>(threads);
  return *slot;
}

// The dtype of an array as the command line names it; `kind` says which 16-bit type a uint16 view
// holds (the package passes float16 and ml_dtypes.bfloat16 arrays as their uint16 bits).
DType dtype_of(const In& x, std::string_view kind, const char* what) {
  if (x.dtype() == nb::dtype<float>()) return DType::f32;
  if (x.dtype() == nb::dtype<double>()) return DType::f64;
  if (x.dtype() == nb::dtype<std::uint16_t>() && kind == "bf16") return DType::bf16;
  if (x.dtype() == nb::dtype<std::uint16_t>() && kind == "f16") return DType::f16;
  throw nb::type_error((std::string(what) + ": unsupported dtype (float32, float64, float16 or ml_dtypes.bfloat16)").c_str());
}

template <class T> nb::object values_array(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T, nb::ndim<1>>(heap->data(), {heap->size()}, owner));
}

nb::object ulp_or_none(std::uint64_t u) { return u == kUnorderedUlp ? nb::none() : nb::cast(u); }

template <class R>
nb::dict sum_result(SumVariant v, DType dt, std::size_t n, std::vector<R>&& results, R exact, int pool_threads) {
  const Drift d = drift<R>(std::span<const R>(results), exact);
  const std::size_t bytes = sizeof(R);
  nb::dict r;
  r["variant"] = info(v).name;
  r["determinism"] = info(v).determinism;
  r["dtype"] = dtype_name(dt);
  r["result_dtype"] = sizeof(R) == 4 ? "f32" : "f64";
  r["n"] = n;
  r["runs"] = results.size();
  r["threads"] = pool_threads;
  r["result"] = d.result;
  r["result_bits"] = hex_bits(d.result_bits, bytes);
  r["exact"] = static_cast<double>(exact);
  r["exact_bits"] = hex_bits(static_cast<std::uint64_t>(to_bits(exact)), bytes);
  r["distinct_outputs"] = d.distinct_outputs;
  r["ratio_non_equal"] = d.ratio_non_equal;
  r["max_ulp"] = ulp_or_none(d.max_ulp);
  r["vs_max"] = d.vs_max;
  r["max_abs_diff"] = d.max_abs_diff;
  r["error_ulp"] = ulp_or_none(d.error_ulp);
  r["results"] = values_array(std::move(results));
  return r;
}

// driftlab.sum: `runs` runs of one variant, the drift metrics of `driftlab sum` over them.
nb::dict py_sum(const In& x, std::string_view kind, const std::string& variant, const std::string& runs,
                const std::string& threads) {
  const cpu::DefaultFpEnv fp_env;  // the default for this call, the caller's after (fp_env.h)
  const std::string_view argv[] = {"--variant", variant, "--runs", runs, "--threads", threads};
  const SumArgs a = parse_sum_args(argv);
  if (a.variant == "all")
    throw UsageError("variant: 'all' is the command line's table; give one of serial, atomic_element, atomic, tree, exact");
  const SumVariant v = *parse_sum_variant(a.variant);
  if (cuda_only(v))
    throw UsageError("variant '" + a.variant + "' is not available on the cpu backend (" + a.variant + " is CUDA only)");
  const DType dt = dtype_of(x, kind, "x");
  const std::size_t n = x.size();
  PoolSlot& ps = pool_for(a.threads);
  // The runs and the exact sum with the GIL released; the result dict built after it is back.
  auto run_all = [&](auto exact_fn, auto one) {
    using R = decltype(exact_fn(std::declval<const cpu::SumContext&>()));
    std::vector<R> results;
    R exact{};
    {
      nb::gil_scoped_release unlocked;
      std::lock_guard<std::mutex> lock(ps.use);
      const cpu::SumContext ctx{&ps.pool, std::nullopt};
      exact = exact_fn(ctx);
      results.reserve(a.runs);
      for (std::size_t r = 0; r < a.runs; ++r) results.push_back(one(ctx));
    }
    return sum_result<R>(v, dt, n, std::move(results), exact, ps.pool.size());
  };
  switch (dt) {
    case DType::f32: {
      const auto* p = static_cast<const float*>(x.data());
      return run_all([&](const cpu::SumContext& c) { return cpu::sum_exact(p, n, c); },
                     [&](const cpu::SumContext& c) { return cpu::sum(v, p, n, c); });
    }
    case DType::f64: {
      const auto* p = static_cast<const double*>(x.data());
      return run_all([&](const cpu::SumContext& c) { return cpu::sum_exact(p, n, c); },
                     [&](const cpu::SumContext& c) { return cpu::sum(v, p, n, c); });
    }
    case DType::bf16: {
      const auto* p = static_cast<const bf16*>(x.data());
      return run_all([&](const cpu::SumContext& c) { return cpu::sum_half(SumVariant::exact, p, n, c); },
                     [&](const cpu::SumContext& c) { return cpu::sum_half(v, p, n, c); });
    }
    case DType::f16: {
      const auto* p = static_cast<const f16*>(x.data());
      return run_all([&](const cpu::SumContext& c) { return cpu::sum_half(SumVariant::exact, p, n, c); },
                     [&](const cpu::SumContext& c) { return cpu::sum_half(v, p, n, c); });
    }
  }
  throw std::logic_error("sum: unknown dtype");
}

// driftlab.exact_sum: the correctly rounded sum (float32 for 16-bit inputs, as `driftlab sum`).
double py_exact_sum(const In& x, std::string_view kind) {
  const cpu::DefaultFpEnv fp_env;  // the default for this call, the caller's after (fp_env.h)
  const DType dt = dtype_of(x, kind, "x");
  const std::size_t n = x.size();
  PoolSlot& ps = pool_for(0);
  nb::gil_scoped_release unlocked;
  std::lock_guard<std::mutex> lock(ps.use);
  const cpu::SumContext ctx{&ps.pool, std::nullopt};
  switch (dt) {
    case DType::f32: return cpu::sum_exact(static_cast<const float*>(x.data()), n, ctx);
    case DType::f64: return cpu::sum_exact(static_cast<const double*>(x.data()), n, ctx);
    case DType::bf16: return cpu::sum_half(SumVariant::exact, static_cast<const bf16*>(x.data()), n, ctx);
    case DType::f16: return cpu::sum_half(SumVariant::exact, static_cast<const f16*>(x.data()), n, ctx);
  }
  throw std::logic_error("exact_sum: unknown dtype");
}

// driftlab.compare: `driftlab trace`'s per-stage comparison (compare_stage) of two float32 arrays.
nb::dict py_compare(const In& a, const In& b) {
  const cpu::DefaultFpEnv fp_env;  // the default for this call, the caller's after (fp_env.h)
  if (a.dtype() != nb::dtype<float>() || b.dtype() != nb::dtype<float>())
    throw nb::type_error("compare: expected float32 arrays");
  if (a.size() != b.size()) throw UsageError("compare: the two arrays differ in size");
  const auto* pa = static_cast<const float*>(a.data());
  const auto* pb = static_cast<const float*>(b.data());
  StageDiff d;
  {
    nb::gil_scoped_release unlocked;
    d = compare_stage(std::span<const float>(pa, a.size()), std::span<const float>(pb, b.size()));
  }
  nb::dict r;
  r["elements"] = d.elements;
  r["differ"] = d.differ;
  r["max_ulp"] = ulp_or_none(d.max_ulp);
  r["sign_changes"] = d.sign_changes;
  r["frac_differ"] = d.frac_differ;
  r["max_rel_diff"] = d.max_rel_diff;
  if (d.first_index) {
    const float fa = pa[*d.first_index], fb = pb[*d.first_index];
    nb::dict f;
    f["index"] = *d.first_index;
    f["a"] = static_cast<double>(fa);
    f["b"] = static_cast<double>(fb);
    f["a_text"] = round_trip(fa);
    f["b_text"] = round_trip(fb);
    f["a_bits"] = hex_bits(std::bit_cast<std::uint32_t>(fa), 4);
    f["b_bits"] = hex_bits(std::bit_cast<std::uint32_t>(fb), 4);
    f["ulp"] = ulp_or_none(ulp_distance(fa, fb));
    r["first_difference"] = f;
  } else {
    r["first_difference"] = nb::none();
  }
  return r;
}

// driftlab.dense: y [B x N] = act(x [B x K] . W [K x N] + b), one dense variant on the CPU backend:
// cpu::dense, the call predict's CPU backend makes for each layer.
nb::object py_dense(const In& x, const In& W, const In& b, const std::string& variant, const std::string& act,
                    const std::string& threads) {
  const cpu::DefaultFpEnv fp_env;  // the default for this call, the caller's after (fp_env.h)
  const std::string_view argv[] = {"--variant", variant, "--threads", threads, "--backend", "cpu"};
  const PredictArgs a = parse_predict_args(argv);
  if (a.variant == "all")
    throw UsageError("variant: 'all' is the command line's table; give one of atomic, tree, invariant");
  const DenseVariant v = *parse_dense_variant(a.variant);
  if (v == DenseVariant::cublas)
    throw UsageError("variant 'cublas' is not available on the cpu backend (cublas is CUDA only)");
  dense::Activation activation;
  try {
    activation = parse_activation(act);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("act: ") + e.what());
  }
  for (const auto& [arr, name] : {std::pair{&x, "x"}, std::pair{&W, "W"}, std::pair{&b, "b"}})
    if (arr->dtype() != nb::dtype<float>()) throw nb::type_error((std::string(name) + ": expected float32").c_str());
  if (W.ndim() != 2) throw UsageError("W: expected shape (K, N)");
  const std::size_t K = W.shape(0), N = W.shape(1);
  const std::size_t B = x.ndim() == 2 ? x.shape(0) : 1;
  const std::string model = std::to_string(K) + "-" + std::to_string(N);
  if (x.ndim() < 1 || x.ndim() > 2 || x.shape(x.ndim() - 1) != K)
    throw UsageError("x: expected shape [B x " + std::to_string(K) + "] for a " + model + " model");
  if (B == 0) throw UsageError("x: no rows");
  if (b.ndim() != 1 || b.shape(0) != N) throw UsageError("b: expected shape (" + std::to_string(N) + ",) for a " + model + " model");
  std::vector<float> y(B * N);
  PoolSlot& ps = pool_for(a.threads);
  {
    nb::gil_scoped_release unlocked;
    std::lock_guard<std::mutex> lock(ps.use);
    cpu::DenseContext ctx{&ps.pool, std::nullopt, 0};
    cpu::dense(v, static_cast<const float*>(x.data()), static_cast<const float*>(W.data()),
               static_cast<const float*>(b.data()), y.data(), B, K, N, activation, ctx);
  }
  auto* heap = new std::vector<float>(std::move(y));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>(heap->data(), {B, N}, owner));
}

}  // namespace
}  // namespace driftlab::python

NB_MODULE(_driftlab, m) {
  using namespace driftlab::python;
  m.doc() = "driftlab's C++ kernels and metrics (use the `driftlab` package, which checks arrays first)";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const driftlab::UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("_sum", &py_sum, "x"_a.noconvert(), "kind"_a, "variant"_a, "runs"_a, "threads"_a);
  m.def("_exact_sum", &py_exact_sum, "x"_a.noconvert(), "kind"_a);
  m.def("_compare", &py_compare, "a"_a.noconvert(), "b"_a.noconvert());
  m.def("_dense", &py_dense, "x"_a.noconvert(), "W"_a.noconvert(), "b"_a.noconvert(), "variant"_a, "act"_a, "threads"_a);
}
