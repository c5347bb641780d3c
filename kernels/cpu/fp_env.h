// The floating-point environment driftlab computes in: IEEE 754's default -- round to nearest
// even, every exception masked (no trap), and on x86 no flush-to-zero or denormals-are-zero (MXCSR
// 0x1f80 plus the flags).  Every order written in kernels/common assumes it, and the CUDA kernels
// (which round to nearest by their _rn intrinsics) are only the CPU twins' bitwise equals under it.
//
// A process can inherit another: a library loaded before main (LD_PRELOAD) that called
// feenableexcept or fesetround, or a host program that set flush-to-zero before it called the
// Python module.  Unmasked inexact would end the first float addition in SIGFPE; another rounding
// mode or FTZ would change the bits silently.  So:
//   - every binary's main (through run_cli for driftlab) calls set_default_fp_env() first;
//   - every ThreadPool worker calls it when it starts (a thread inherits its creator's env);
//   - the Python module, which runs inside the user's process, holds a DefaultFpEnv for each call
//     and gives the caller its own environment back afterwards.
#pragma once

#include <cfenv>

namespace driftlab::cpu {

// Whether the calling thread's environment is the default above (rounding, masks, FTZ/DAZ; the
// raised flags do not matter).
bool fp_env_is_default();
// Puts the default in place on the calling thread (flags cleared).
void set_default_fp_env();
// Whether every exception is masked on the calling thread (no trap), whatever the rest.
bool fp_exceptions_masked();

// The default for a scope; the caller's environment (and its raised flags) restored at the end.
class DefaultFpEnv {
 public:
  DefaultFpEnv();
  ~DefaultFpEnv();
  DefaultFpEnv(const DefaultFpEnv&) = delete;
  DefaultFpEnv& operator=(const DefaultFpEnv&) = delete;

 private:
  std::fenv_t saved_;
};

}  // namespace driftlab::cpu
