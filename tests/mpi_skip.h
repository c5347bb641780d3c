// Why a test that runs the real mpirun cannot run here, or "" when it can (shared by the
// all-reduce, TP and bad-input tests).
#pragma once

#include <cstdlib>
#include <string>

#include "host/distributed/mpirun_job.h"

namespace driftlab::testing {

// mpirun::why_no_mpirun: no MPI, no usable mpirun, or ThreadSanitizer (Open MPI's progress threads
// report races of their own; the mpirun tests run unsanitized and under AddressSanitizer).  Under
// AddressSanitizer, Open MPI leaks at exit by design (LeakSanitizer: ompi_op_base_op_select and its
// unloaded components), which makes every sanitized rank exit 1: leak checks off for the ranks
// (mpirun hands its environment to local ranks); every other AddressSanitizer/UBSan check stays on.
inline std::string mpi_skip_reason() {
  if (std::string why = mpirun::why_no_mpirun(); !why.empty()) return why;
#if defined(__SANITIZE_ADDRESS__)
  const char* old = std::getenv("ASAN_OPTIONS");
  const std::string opts = old ? old : "";
  if (opts.find("detect_leaks=0") == std::string::npos)
    ::setenv("ASAN_OPTIONS", (opts.empty() ? std::string("detect_leaks=0") : opts + ":detect_leaks=0").c_str(), 1);
#endif
  return "";
}

}  // namespace driftlab::testing
