// The one CPU instruction-set dispatcher (after highway's hwy/targets.h): one enum, one CPUID
// detection, one reading of DRIFTLAB_ISA, one name function.  Every CPU kernel with vector paths
// (gemm, gemv_half, half_convert, the sum's tree/atomic/probe tiles, the exact sum's windows,
// bit_compare, attention) asks isa_level() which path to run.  Every path gives the same bits, so
// the level changes speed only; DRIFTLAB_ISA=avx512|avx2|scalar caps it, so one AVX-512 machine
// measures and tests the AVX2 and scalar paths too.  Unset (or empty) means no cap.
#pragma once

// DRIFTLAB_X86: 1 where the x86 vector paths are compiled (x86-64 with GCC or Clang, which take
// per-function target attributes); 0 elsewhere (scalar only).  The kernels' sources include
// simd.h, which adds the intrinsics.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DRIFTLAB_X86 1
#else
#define DRIFTLAB_X86 0
#endif

#include <optional>
#include <string>

namespace driftlab::cpu {

// Ordered: a level runs every path of the levels below it.
//   avx512: AVX-512 F, DQ and VL (and everything avx2 needs);
//   avx2:   AVX2, FMA, F16C and POPCNT;
//   scalar: baseline x86-64 (SSE2) or any other CPU.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa level);  // "scalar", "avx2", "avx512"

// Parses a DRIFTLAB_ISA value; nullopt for anything but the three names.
std::optional<Isa> parse_isa(const char* text);

// The best level this CPU (and its OS) runs, detected once.
Isa isa_detected();

// Whether CPUID's vendor string is "GenuineIntel", read once (false off x86).  For speed tuning
// only (the exact sum's prefetch distance, exact_simd.h), never for which path or which bits.
bool cpu_is_intel();

// DRIFTLAB_ISA, read once per process: the one-line message for a bad value, nullopt when it is
// unset or valid.  The programs call this at startup, before any work, and exit 2 on a message.
std::optional<std::string> isa_env_error();

// The level the kernels run: the lower of isa_detected() and DRIFTLAB_ISA.  A bad DRIFTLAB_ISA
// throws std::invalid_argument with isa_env_error()'s message (never exits the process).
Isa isa_level();

namespace detail {
// Test hooks: each kernel family can be capped below isa_level() on its own, so the tests run
// every path on one machine (and cross the levels of two families, as gemv_half's tests do).
// The default cap is avx512 (no cap).  A family's level is min(isa_level(), its cap).  allreduce:
// the MPI exact all-reduce's local passes (host/distributed/allreduce_exact_local.h), whose paths
// are scalar and AVX2 only (avx512 runs the AVX2 path, and notes avx2).
enum class IsaFamily { gemm, half, exact, sum, compare, attention, allreduce, count };
void force_isa(IsaFamily family, Isa cap);
Isa isa_level(IsaFamily family);

// Which level's path each family ran, for tests.  Every path gives the same bits, so a dispatcher
// that takes another level's path is invisible in every result: a lower one only costs speed, a
// higher one crashes only on a CPU without it (tests/check_isa_emulated.py).  Each dispatcher
// notes the level whose path it took (the exact sum's float tiles: the level's tile was called,
// whether or not it then gives the tile to the scalar bins); tests reset the marks, run a family
// under a cap and read back that only that level's path ran.  A relaxed load a call, and an
// atomic OR the first time a level is noted after a reset.  driftlab_bench reads them too: each
// CPU benchmark is labelled with the levels it ran (bench/bench_common.h's register_cpu).
void note_path(IsaFamily family, Isa path);
unsigned paths_run(IsaFamily family);  // bit 1 << level for each level noted since reset_paths()
void reset_paths();                    // clears the forms' marks too

// A speed-only choice within one level, noted the same way: the sum's tiles run a stream form or a
// blocked form where their level has both (sum_tile.h: the tree's at avx512 and avx2, the probe's
// at avx512), picked by the input's size against stream_threshold_bytes().  The scalar tiles and
// the AVX2 probe have one form and note none.  The exact sum's tiles at a vector level either keep
// a tile in their vector form (`vector`: the float windows, bf16's windows or int64 groups, f16's
// split lanes, f64's window) or hand it to the scalar code (`scalar`: float and bf16's packed bins,
// f64's term-by-term loop) when its exponents span more binades than the windows cover
// (exact_simd.h, exact_f64.h); the scalar level notes neither.
enum class TileForm { blocked = 0, stream = 1, vector = 2, scalar = 3 };
void note_form(TileForm form);
unsigned forms_run();  // bit 1 << form for each form noted since reset_paths()
}  // namespace detail

}  // namespace driftlab::cpu
