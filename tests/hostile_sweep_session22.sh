#!/usr/bin/env bash
# Session 22 hostile sweep (docs/bad-input-session22.md): the exact sum's AVX-512 flag-checked
# blocks in a loop of their own (kernels/cpu/exact_simd.cpp: flag_blocks512 runs blocks while their
# adds stay exact and hands the first inexact one back to the window paths) and its software
# prefetch by vendor (exact_prefetch_bytes: none on AMD, 2 KiB ahead on Intel), tried through the
# command line as a hostile user would.
# First `driftlab sum --variant exact` on generated inputs from memory and in cache, every dtype,
# at DRIFTLAB_ISA=avx512, avx2 and scalar, 1 and 2 threads: the same bits everywhere and one
# distinct output.  Then float32 and bf16 .npy files built to sit on the new loop's edges (a block
# made inexact first, last, in a row, everywhere; at the end of a quarter stream; a tile too short
# for the loop; ties, subnormals, Inf and NaN in a lane), each against an independent oracle
# (tests/kat/make_kat.py's exact_sum: Python fractions, rounded once).  Then bad inputs near the
# exact sum: one stderr line, the documented exit status, an existing --json unchanged.
# Not in CI (ExactSum.FlagCheckedLanesKeepRedoAndFlushEachBlock, Bf16FlagCheckedLanesKeepRedoAndFlush
# and PrefetchDistanceChangesNoBits hold the essentials); run after a build in ./build (needs numpy):
#   tests/hostile_sweep_session22.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

grep -m1 vendor_id /proc/cpuinfo | sed 's/^/cpu: /'

# --- generated inputs: the same bits at every level and thread count
sum_case "exact f32 uniform n=2^26 (from memory: every block kept)" exact --n 2^26
sum_case "exact f32 normal n=2^25+3" exact --n 33554435 --dist normal
sum_case "exact f32 illcond n=2^24+17 (hi and lo lanes at AVX-512)" exact --n 16777233 --dist illcond
sum_case "exact f32 uniform n=2^20+511 (in cache; a tail under a block)" exact --n 1049087
sum_case "exact bf16 uniform n=2^26+31" exact --n 67108895 --dtype bf16
sum_case "exact bf16 illcond n=2^24+5" exact --n 16777221 --dtype bf16 --dist illcond
sum_case "exact f16 normal n=2^25-1 (its own 2 KiB prefetch)" exact --n 33554431 --dtype f16 --dist normal
sum_case "exact f64 uniform n=2^22+7 (the scalar path)" exact --n 4194311 --dtype f64

# make NAME PYTHON-EXPR [DTYPE]: sweep_lib.sh's make_exact with this sweep's seed.
make() { make_exact "$1" "$2" "${3:-f32}" 22; }
exact() { exact_sum_case "$1" "$2" "${3:-f32}"; }

ODD='np.ldexp(np.float32((1 << 23) + 1), -83)'  # 2^-60 (1 + 2^-23): off a lane's grid
ONE='np.ldexp(sig(2 * T * 3), -24)'               # [0.5, 1): one window
WIDE='sig(2 * T * 3) * np.exp2(rng.integers(-44, -4, 2 * T * 3))'  # 2^-21 .. 2^19: hi and lo lanes
# --- float32: where the loop stops and is entered again
make kept "paired($ONE)"
exact kept "one window, paired (the sum is +0): the loop runs every block to the end"
make first "(lambda x: put(x, 0, $ODD) is None or x)(paired($ONE))"
exact first "the first block inexact (the loop stops at once)"
make laststream "(lambda x: [put(x, a, $ODD * 3) for a in (Q - 1, T + Q - 1, 2 * T + 3 * Q - 1)] and x)(paired($ONE))"
exact laststream "the last block of a quarter stream inexact (stop = q - 128)"
make lastblock "(lambda x: put(x, 3 * T - 1, -$ODD) is None or x)(paired($ONE))"
exact lastblock "the very last term of the input off the grid"
make inarow "(lambda x: [put(x, a, $ODD) for a in range(T + 200, T + 200 + 128 * 90, 128)] and x)(paired($ONE))"
exact inarow "90 inexact blocks in a row (the backoff doubles to 64), then clean again"
make every "(lambda x: [put(x, a, $ODD) for a in range(5, 3 * T, 128)] and x)(paired($ONE))"
exact every "every block inexact (no block ever kept)"
make widebad "(lambda x: [put(x, a, $ODD) for a in (7, Q + 3000, 2 * T + 2 * Q + 64)] and x)(paired($WIDE))"
exact widebad "hi and lo lanes (2^-21 .. 2^19) with three blocks redone"
make tail "np.concatenate([paired($ONE), np.float32([0.75, -0.5, 2.0**-30] * 1365 + [0.25, 2.0**-60])])"
exact tail "3 tiles and a tail of 4097 terms (the tail's blocks outside the loop)"
make short "np.float32([0.5, 2.0**-40, -0.25] * 170)"
exact short "a tile of 510 terms (q = 0: the loop never entered)"
make tie "(lambda x: (put(x, 9000, 1.0), put(x, T + 9000, 2.0**-24)) and x)(paired($ONE))"
exact tie "1 + 2^-24 among paired terms (a tie: to even, 1.0)"
make tie2 "(lambda x: (put(x, 9000, 1.0), put(x, T + 9000, 2.0**-24), put(x, 2 * T + 5, 2.0**-70)) and x)(paired($ONE))"
exact tie2 "1 + 2^-24 + 2^-70 (past the tie: up, 1 + 2^-23)"
make subn "paired(np.ldexp(sig(2 * T * 3), -149 - 23 + 20))"
exact subn "lanes of subnormals and tiny normals near 2^-129"
make inf "(lambda x: put(x, T + 2 * Q + 77, np.inf) is None or x)(paired($ONE))"
exact inf "+Inf in a kept block"
make nan "(lambda x: (put(x, 100, np.inf), put(x, 2 * T + 3 * Q + 5, -np.inf)) and x)(paired($ONE))"
exact nan "+Inf and -Inf in two tiles (NaN)"
make big "(lambda x: [put(x, a, np.float32(3.0e38) * (1 if a % 2 else -1)) for a in (50, 51, T + 9, T + 10)] and x)(paired($ONE))"
exact big "terms near FLT_MAX that cancel (a lane past float range, exact in double)"
# --- bf16 (its float32 lanes of 8 terms inside the flag-checked blocks)
make b_kept "paired(np.ldexp(sig8(2 * T * 3), -8))" bf16
exact b_kept "bf16 [0.5, 1) paired: every block kept" bf16
make b_redone "(lambda x: [put(x, a, np.float32(np.ldexp(129.0, -47)) * (1 if a % 2 else -2)) for a in (5, Q + 300, T + 2 * Q + 77, 2 * T + 3 * Q + 4000)] and x)(paired(np.ldexp(sig8(2 * T * 3), -8)))" bf16
exact b_redone "bf16 blocks made inexact by 2^-40 (1 + 2^-7) terms" bf16
make b_over "(lambda x: [x.__setitem__(T + j, np.float32(np.ldexp(1.5, 127))) or x.__setitem__(T + Q + j, 0) or x.__setitem__(T + 2 * Q + j, -np.float32(np.ldexp(1.5, 127))) or x.__setitem__(T + 3 * Q + j, 0) for j in (0, 32, 64, 96)] and x)(paired(np.ldexp(sig8(2 * T * 3), -8)))" bf16
exact b_over "bf16: four 1.5 * 2^127 in one float32 lane (overflow: the block redone)" bf16
make b_nan "(lambda x: put(x, 2 * T + 1, np.nan) is None or x)(paired(np.ldexp(sig8(2 * T * 3), -8)))" bf16
exact b_nan "bf16 NaN in a block" bf16

# --- bad inputs near the exact sum: one line, exit 2 (command line) or 1 (a file or a signal)
echo '{"mine": 1}' > keep.json
want 2 1 "sum --variant exact --n 2^40 (more memory than the machine)" -- "$DL" sum --backend cpu --variant exact --n 2^40 --json keep.json
same "keep.json unchanged after a refused run" keep.json '{"mine": 1}'
want 2 1 "sum --variant exact --dtype f8" -- "$DL" sum --backend cpu --variant exact --dtype f8 --n 100
want 2 1 "sum --variant Exact (names are lower case)" -- "$DL" sum --backend cpu --variant Exact --n 100
want 2 1 "sum --variant exact --threads 100000" -- "$DL" sum --backend cpu --variant exact --threads 100000 --n 100
DRIFTLAB_ISA=AVX512 want 2 1 "DRIFTLAB_ISA=AVX512 (upper case)" -- "$DL" sum --backend cpu --variant exact --n 100
DRIFTLAB_ISA= want 0 0 "DRIFTLAB_ISA= (empty: no cap, runs)" -- "$DL" sum --backend cpu --variant exact --n 100
"$PY" -c "import numpy as np; np.save('ints.npy', np.arange(1000, dtype=np.int32)); np.save('two.npy', np.ones((4, 5), dtype=np.float32))"
want 1 1 "sum --variant exact --input an int32 .npy" -- "$DL" sum --backend cpu --variant exact --input ints.npy
want 0 0 "sum --variant exact --input a float32 .npy --dtype bf16 (rounded, and said)" -- "$DL" sum --backend cpu --variant exact --input kept.npy --dtype bf16
has "the rounding is said on stdout" out.txt "float32 file rounded to bf16"
want 1 1 "sum --variant exact --input a folder" -- "$DL" sum --backend cpu --variant exact --input .
want 1 1 "sum --variant exact --input /dev/null" -- "$DL" sum --backend cpu --variant exact --input /dev/null
want 1 1 "sum --variant exact: SIGTERM in the middle of 400 runs" -- bash -c '"$1" sum --backend cpu --variant exact --n 2^26 --runs 400 >/dev/null & sleep 3; kill -TERM $!; wait $!' _ "$DL"

# The sum table's columns on a 3-term input (median_ms and GB/s ran together: "0.034660.000173").
want 0 0 "sum --variant exact --n 3 (microseconds: the table's narrowest numbers)" -- "$DL" sum --backend cpu --variant exact --n 3
if "$PY" -c 'import sys; bad = [t for l in open("out.txt") for t in l.split() if t.count(".") > 1]; sys.exit(1 if bad else 0)'; then
  pass=$((pass + 1)); printf 'ok   %-70s\n' "every number of the table stands apart"
else fail=$((fail + 1)); printf 'FAIL %-70s\n' "two numbers run together in the table"; fi

echo "session 22 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
