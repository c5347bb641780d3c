#include "host/backends/openblas_kernels.h"

#include <unistd.h>

#include <cstdlib>

extern "C" char* openblas_get_corename(void);

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

std::string openblas_core() {
  std::string core = openblas_get_corename();
  if (const std::string& chose = restarted_from(); !chose.empty() && std::getenv("OPENBLAS_CORETYPE"))
    core += " (OPENBLAS_CORETYPE set by driftlab; OpenBLAS chose " + chose + " for this CPU)";
  return core;
}

}  // namespace driftlab
