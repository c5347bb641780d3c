#include "kernels/cpu/fp_env.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define DRIFTLAB_FP_ENV_X86 1
#endif

namespace driftlab::cpu {

namespace {
#if DRIFTLAB_FP_ENV_X86
constexpr unsigned kCsrDefault = 0x1f80u;  // every exception masked, round to nearest, no FTZ/DAZ
constexpr unsigned kCsrFlags = 0x3fu;
constexpr unsigned kCsrMasks = 0x1f80u;  // the six exception mask bits
// The x87 control word's default (glibc's _FPU_DEFAULT): every exception masked, extended precision,
// round to nearest.  long double arithmetic (none in driftlab's kernels) would use it.
constexpr unsigned short kX87Default = 0x037f;
#endif
}  // namespace

bool fp_env_is_default() {
  if (std::fegetround() != FE_TONEAREST) return false;
#if DRIFTLAB_FP_ENV_X86
  if ((_mm_getcsr() & ~kCsrFlags) != kCsrDefault) return false;
  unsigned short cw = 0;
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  return cw == kX87Default;
#else
  return true;
#endif
}

bool fp_exceptions_masked() {
#if DRIFTLAB_FP_ENV_X86
  return (_mm_getcsr() & kCsrMasks) == kCsrMasks;
#else
  return true;  // no vector tile traps off x86 (exact_simd.cpp builds none)
#endif
}

void set_default_fp_env() {
  std::fesetenv(FE_DFL_ENV);
#if DRIFTLAB_FP_ENV_X86
  _mm_setcsr(kCsrDefault);  // FE_DFL_ENV's FTZ/DAZ handling has varied between C libraries
#endif
}

DefaultFpEnv::DefaultFpEnv() {
  std::fegetenv(&saved_);
  set_default_fp_env();
}

DefaultFpEnv::~DefaultFpEnv() { std::fesetenv(&saved_); }

}  // namespace driftlab::cpu
