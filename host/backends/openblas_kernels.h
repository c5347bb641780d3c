// Which of OpenBLAS's kernel families runs the CPU vendor baseline (predict's vs_vendor, the
// benchmark's dense/cpu/openblas), and a fair one on CPUs OpenBLAS does not know.
//
// OpenBLAS picks its kernels by CPU model; Debian's 0.3.21 does not know newer Xeons (Sapphire
// Rapids reads as "Intel(R) Xeon(R) Processor") and falls back to its SSE3 "Prescott" kernels, a
// baseline about 7x too slow to compare with honestly.  OpenBLAS reads OPENBLAS_CORETYPE only when
// it loads, so the process starts again with it set to the best family the CPU runs (SkylakeX with
// AVX-512, Haswell with AVX2).  The restart is said in the run's context (openblas_core()), never as
// a line of its own on stderr: a run that then fails must still end in exactly one line there.
// Children and MPI ranks inherit OPENBLAS_CORETYPE, so they run the parent's family and never restart.
#pragma once

#include <cstddef>
#include <string>

namespace driftlab {

// Starts the process again (execv of /proc/self/exe with argv) when OpenBLAS chose one of its
// SSE-era families and the CPU has AVX2 or AVX-512 and OPENBLAS_CORETYPE is not set; otherwise, or
// when execv fails, returns and the process runs on as it is.  Call first thing in main.
void restart_with_best_openblas_kernels(char** argv);

// The family OpenBLAS runs: "Haswell", or "SkylakeX (OPENBLAS_CORETYPE set by driftlab; OpenBLAS
// chose Prescott for this CPU)" in a process the call above restarted.
std::string openblas_core();
// The family alone ("SkylakeX"), as a table's footer names the vendor.
std::string openblas_core_name();

// openblas_set_num_threads(n), when the process's limits leave room for n OpenBLAS threads: under
// a finite address-space or data limit (`ulimit -v`, `ulimit -d`) each thread needs about
// kOpenBlasThreadBytes (its 128 MiB buffer, and the 128 MiB glibc maps to align a new malloc arena),
// and OpenBLAS 0.3.21 does not
// fail when it cannot have them: the thread retries forever and the call (or the exit) hangs.  So
// the room is tried first (a mapping of n x kOpenBlasThreadBytes, unmapped at once), and its
// absence is a std::runtime_error that names the limit.  Without such limits: no check.
inline constexpr std::size_t kOpenBlasThreadBytes = std::size_t(256) << 20;
void set_openblas_threads(int n);

// The SSE-era families that restart_with_best_openblas_kernels replaces ("Prescott", "Core2",
// "Nehalem", "Sandybridge"); the tests hold the benchmark's context and predict's vendor to it.
bool openblas_core_is_old(const std::string& core);

}  // namespace driftlab
