// The instruction-set ceiling every CPU dispatcher obeys (gemm_chain, the exact sum's window
// path): DRIFTLAB_ISA=avx512|avx2|scalar, read once per process.  Unset means no ceiling (the
// best the CPU runs).  It lets one AVX-512 machine measure and test the AVX2 and scalar paths;
// every path gives the same bits, so the ceiling changes speed only.
#pragma once

// DRIFTLAB_X86: 1 where the x86 vector paths are compiled (x86-64 with GCC or Clang, which take
// per-function target attributes), with the intrinsics included; 0 elsewhere (scalar only).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DRIFTLAB_X86 1
#else
#define DRIFTLAB_X86 0
#endif

namespace driftlab::cpu {

// 0 = scalar, 1 = avx2, 2 = avx512 (the order of detail::GemmIsa and detail::ExactSimd).
// A value other than the three names: one line on stderr and exit status 1.
int isa_ceiling();

}  // namespace driftlab::cpu
