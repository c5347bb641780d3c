#include "host/backends/openblas_kernels.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

namespace driftlab {
namespace {

// Set for the restarted process only: the family OpenBLAS had chosen.  Read once and unset, so
// that nothing this process starts inherits it.
constexpr const char* kChoseEnv = "DRIFTLAB_OPENBLAS_CHOSE";

std::string& restarted_from() {
  static std::string chose = [] {
    std::string c;
    if (const char* v = std::getenv(kChoseEnv)) {
      for (const char* p = v; *p && c.size() < 32; ++p)  // a short printable name, whatever the variable held
        if (*p > ' ' && *p < 127) c += *p;
      unsetenv(kChoseEnv);
    }
    return c;
  }();
  return chose;
}

}  // namespace

bool openblas_core_is_old(const std::string& core) {
  return core == "Prescott" || core == "Core2" || core == "Nehalem" || core == "Sandybridge";
}

void restart_with_best_openblas_kernels(char** argv) {
  (void)restarted_from();  // read (and unset) before anything can start a child
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  const std::string core = openblas_get_corename();
  if (!openblas_core_is_old(core)) return;
  const char* best = __builtin_cpu_supports("avx512f") ? "SkylakeX" : (__builtin_cpu_supports("avx2") ? "Haswell" : nullptr);
  if (!best) return;
  setenv("OPENBLAS_CORETYPE", best, 1);
  setenv(kChoseEnv, core.c_str(), 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // execv failed: run on with the kernels OpenBLAS chose
  unsetenv(kChoseEnv);
}

void set_openblas_threads(int n) {
  static std::atomic<int> checked{0};  // the most threads whose room was found (OpenBLAS keeps its threads)
  const auto limited = [](int resource) {
    struct rlimit rl {};
    return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
  };
  if (n > checked.load() && (limited(RLIMIT_AS) || limited(RLIMIT_DATA))) {
    const std::size_t bytes = static_cast<std::size_t>(n) * kOpenBlasThreadBytes;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      throw std::runtime_error("OpenBLAS with " + std::to_string(n) + " thread" + (n == 1 ? "" : "s") + " needs about " +
                               std::to_string(bytes >> 20) +
                               " MiB of address space that the process's limit (ulimit -v or -d) does not leave; "
                               "raise the limit" + (n > 1 ? " or give fewer --threads" : ""));
    munmap(p, bytes);
    checked.store(n);
  }
  openblas_set_num_threads(n);
}

std::string openblas_core_name() { return openblas_get_corename(); }

std::string openblas_core() {
  std::string core = openblas_get_corename();
  if (const std::string& chose = restarted_from(); !chose.empty() && std::getenv("OPENBLAS_CORETYPE"))
    core += " (OPENBLAS_CORETYPE set by driftlab; OpenBLAS chose " + chose + " for this CPU)";
  return core;
}

}  // namespace driftlab
