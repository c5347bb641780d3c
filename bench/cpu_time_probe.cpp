// One thread, thread CPU time: dense `invariant` (gemm_chain) against OpenBLAS's sgemm (one
// thread), and dense `atomic` against `tree` (no pool), interleaved call by call, medians.
// Thread CPU time does not count the time the thread waits for a core, so the ratios hold on a
// machine that other jobs load (driftlab_bench's wall-clock ratios do not: docs/perf-notes.md);
// what it cannot show is the sharing of caches and memory with those jobs, or two-thread effects.
//
//   driftlab_cpu_probe gemm|dense B K N [repetitions]
#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp_env.h"
#include "host/common/signals.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/isa.h"
#include "host/common/memory_bound.h"

extern "C" void openblas_set_num_threads(int);

namespace {

double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

bool parse(const char* s, std::size_t& v) {
  if (*s < '0' || *s > '9') return false;  // digits only: no sign, space or "0x" (strtoull takes them)
  char* end = nullptr;
  const unsigned long long x = std::strtoull(s, &end, 10);
  if (!*s || *end || x == 0 || x > (1u << 20)) return false;
  v = static_cast<std::size_t>(x);
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int run(const std::string& mode, std::size_t B, std::size_t K, std::size_t N, std::size_t reps);

int main(int argc, char** argv) {
  using namespace driftlab;
  cpu::set_default_fp_env();  // whatever this process inherited (kernels/cpu/fp_env.h)
  install_stop_line("driftlab_cpu_probe");  // a signal: one line, exit 1 (signals.h)
  if (const auto isa_error = cpu::isa_env_error()) {  // DRIFTLAB_ISA, checked before any work
    std::fprintf(stderr, "driftlab_cpu_probe: %s\n", isa_error->c_str());
    return 2;
  }
  std::size_t B = 0, K = 0, N = 0, reps = 5;
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((argc != 5 && argc != 6) || (mode != "gemm" && mode != "dense") || !parse(argv[2], B) || !parse(argv[3], K) ||
      !parse(argv[4], N) || (argc == 6 && !parse(argv[5], reps))) {
    std::fprintf(stderr, "usage: driftlab_cpu_probe gemm|dense B K N [repetitions] (sizes 1..2^20)\n");
    return 2;
  }
  // The one memory bound of every driftlab binary (memory_bound.h), before anything is allocated.
  const double floats = static_cast<double>(B) * K + static_cast<double>(K) * N + N + 2.0 * static_cast<double>(B) * N;
  if (const auto refusal = memory_refusal(4 * floats, "driftlab_cpu_probe " + mode + " " + argv[2] + " " + argv[3] + " " + argv[4])) {
    std::fprintf(stderr, "%s\n", refusal->c_str());
    return 2;
  }
  try {
    return run(mode, B, K, N, reps);
  } catch (const std::bad_alloc&) {  // the last resort: memory taken by others since the check
    std::fprintf(stderr, "driftlab_cpu_probe: out of memory for B=%zu K=%zu N=%zu\n", B, K, N);
    return 1;
  }
}

int run(const std::string& mode, std::size_t B, std::size_t K, std::size_t N, std::size_t reps) {
  using namespace driftlab;
  std::vector<float> x(B * K), W(K * N), b(N), y(B * N), y2(B * N);
  std::mt19937 g(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto* v : {&x, &W, &b})
    for (float& e : *v) e = u(g);
  openblas_set_num_threads(1);
  const cpu::DenseContext ctx{};  // no pool: the calling thread alone
  auto first = [&] {
    if (mode == "gemm")
      cpu::gemm_chain(x.data(), K, W.data(), N, y.data(), N, B, N, 0, K, nullptr);
    else
      cpu::dense(DenseVariant::atomic, x.data(), W.data(), b.data(), y.data(), B, K, N, dense::Activation::linear, ctx);
  };
  auto second = [&] {
    if (mode == "gemm")
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(B), static_cast<int>(N),
                  static_cast<int>(K), 1.0f, x.data(), static_cast<int>(K), W.data(), static_cast<int>(N), 0.0f,
                  y2.data(), static_cast<int>(N));
    else
      cpu::dense(DenseVariant::tree, x.data(), W.data(), b.data(), y2.data(), B, K, N, dense::Activation::linear, ctx);
  };
  std::vector<double> t1, t2;
  for (std::size_t r = 0; r <= reps; ++r) {  // the first pair warms up
    const double a = thread_seconds();
    first();
    const double m = thread_seconds();
    second();
    const double e = thread_seconds();
    if (r > 0) {
      t1.push_back(m - a);
      t2.push_back(e - m);
    }
  }
  const double m1 = median(t1), m2 = median(t2), flops = 2.0 * static_cast<double>(B) * K * N;
  const char* n1 = mode == "gemm" ? "invariant" : "atomic";
  const char* n2 = mode == "gemm" ? "openblas" : "tree";
  std::printf("%s B=%zu K=%zu N=%zu isa=%s: %s %.2f ms (%.1f GFLOP/s), %s %.2f ms (%.1f GFLOP/s), %s speed / %s speed %.3f\n",
              mode.c_str(), B, K, N, cpu::isa_name(cpu::detail::gemm_isa()), n1, m1 * 1e3, flops / m1 * 1e-9,
              n2, m2 * 1e3, flops / m2 * 1e-9, n1, n2, m2 / m1);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {  // the line is the result: /dev/full, a closed pipe
    std::fprintf(stderr, "driftlab_cpu_probe: cannot write to standard output: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}
