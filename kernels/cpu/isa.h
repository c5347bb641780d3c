// The instruction-set ceiling every CPU dispatcher obeys (gemm_chain, the exact sum's window
// path): DRIFTLAB_ISA=avx512|avx2|scalar, read once per process.  Unset means no ceiling (the
// best the CPU runs).  It lets one AVX-512 machine measure and test the AVX2 and scalar paths;
// every path gives the same bits, so the ceiling changes speed only.
#pragma once

namespace driftlab::cpu {

// 0 = scalar, 1 = avx2, 2 = avx512 (the order of detail::GemmIsa and detail::ExactSimd).
// A value other than the three names: one line on stderr and exit status 1.
int isa_ceiling();

}  // namespace driftlab::cpu
