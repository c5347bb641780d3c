#!/usr/bin/env bash
# Session 17 hostile sweep (docs/bad-input-session17.md): the f32 exact sum's flag-checked lanes
# (kernels/cpu/exact_simd.cpp: double lanes kept over a tile, a block kept when no add raised
# inexact; AVX-512 splits a wide tile's terms into hi and lo lanes), tried through the command
# line as a hostile user would.
# Every input is a float32 .npy built to sit on an edge of the new code: blocks whose lanes turn
# inexact (a term off the lanes' grid, one too large for them), lanes that take an Inf or NaN,
# lanes whose total is below 2^-149's grid or near 2^138, lanes whose sum is inexact, zeros of
# both signs, subnormals, tile and block boundaries.  Each is summed with `--variant exact` at
# DRIFTLAB_ISA=avx512, avx2 and scalar, with 1 and 2 threads: every run must exit 0 and print the
# bits of an independent oracle (tests/kat/make_kat.py's exact_sum: Python fractions, rounded
# once).  Then bad files and flags: one stderr line, the documented exit status, an existing
# --json unchanged.
# Not in CI (ExactSum.FlagCheckedLanesKeepRedoAndFlushEachBlock holds the essentials); run after a
# build in ./build:
#   tests/hostile_sweep_session17.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

# make NAME PYTHON-EXPR: sweep_lib.sh's make_exact (float32, seed 17): NAME.npy holds the float32
# array the expression gives, NAME.want the oracle's bits.
make() { make_exact "$1" "$2" f32 17; }

# exact NAME DESC: the six runs and the oracle.
exact() { exact_sum_case "$1" "$2" f32; }

ODD='np.ldexp(np.float32((1 << 23) + 1), -83)'  # 2^-60 (1 + 2^-23): off a lane's grid
ONE='np.ldexp(sig(2 * T * 3), -24)'               # [0.5, 1): one window
WIDE='sig(2 * T * 3) * np.exp2(rng.integers(-44, -4, 2 * T * 3))'  # 2^-21 .. 2^19: split lanes
# --- lanes kept, and blocks redone
make one "paired($ONE)"
exact one "one window, paired streams (the sum is +0): every block kept"
make redone "(lambda x: [put(x, a, $ODD * (1 if a % 2 else -4)) for a in (3000, Q + 700, T + 2 * Q + 5, 2 * T + 3 * Q + 9999, 3 * T - 1)] and x)(paired($ONE))"
exact redone "five blocks made inexact by 2^-60 (1 + 2^-23) terms"
make firstblock "(lambda x: put(x, 0, $ODD) is None or x)(paired($ONE))"
exact firstblock "the tile's first term off the grid (its first block redone)"
make everyblock "(lambda x: [put(x, a, $ODD) for a in range(0, 3 * T, 2 * Q + 128)] and x)(paired($ONE))"
exact everyblock "one off-grid term every few blocks (the backoff)"
make wide "paired($WIDE)"
exact wide "2^-21 .. 2^19 paired (hi and lo lanes at AVX-512)"
make widebad "(lambda x: (put(x, 2 * Q + 1234, $ODD), put(x, T + 77, np.ldexp(np.float32((1 << 23) + 3), 22)), put(x, T + 4000, -np.ldexp(np.float32((1 << 23) + 3), 22))) and x)(paired($WIDE))"
exact widebad "wide: a lo part off every grid, a hi part too wide (blocks redone)"
make integers "paired(rng.integers(1, 1 << 24, 2 * T * 3) * np.where(rng.random(2 * T * 3) < 0.5, -1, 1)) + np.float32(0)"
exact integers "integers 1 .. 2^24 of both signs, paired (two windows: split lanes)"
# --- data of every day
make uniform "rng.random(1 << 20, dtype=np.float32)"
exact uniform "uniform [0,1) 2^20"
make normal "rng.standard_normal(1 << 20).astype(np.float32)"
exact normal "standard normal 2^20"
make illcond "(lambda h: np.concatenate([h, (-h.astype(np.float64) + 1e-3 * rng.standard_normal(h.size)).astype(np.float32)])[rng.permutation(2 * h.size)])(np.ldexp(rng.standard_normal(1 << 18), rng.integers(-20, 21, 1 << 18)).astype(np.float32))"
exact illcond "the benchmark's illcond recipe, 2^19"
make relu "np.where(rng.random(1 << 18) < 0.9, 0, rng.standard_normal(1 << 18)).astype(np.float32)"
exact relu "90% zeros (ReLU-like), 2^18"
make randbits "(lambda r: np.where((r & 0x7f800000) == 0x7f800000, r ^ 0x00800000, r).astype(np.uint32).view(np.float32))(rng.integers(0, 1 << 32, 1 << 18, dtype=np.uint64))"
exact randbits "random finite bit patterns, 2^18 (wider than every window)"
# --- specials, zeros, the lanes' range
make inf "put(paired($ONE), T + 2 * Q + 4000, np.inf)"
exact inf "+Inf in a kept block"
make infs "(lambda x: (put(x, Q + 3000, np.inf), put(x, 2 * T + 3 * Q + 100, -np.inf)) and x)(paired($ONE))"
exact infs "+Inf and -Inf in two tiles (NaN)"
make nan "put(paired($ONE), 5, np.uint32(0x7fc00123).view(np.float32))"
exact nan "a NaN with a payload in the first block"
make wideinf "put(paired($WIDE), 2 * T + Q + 5000, -np.inf)"
exact wideinf "-Inf in a wide tile's split lanes"
make tiny "(lambda x: [put(x, a, np.ldexp(np.float32(rng.integers(1, 1 << 23)), -149)) for a in range(1000, 3 * T, 4099)] and x)(paired(np.ldexp(sig(2 * T * 3), -147)))"
exact tiny "lanes near 2^-118 (their ulp under 2^-149) and subnormals"
make big "np.concatenate([(lambda h: np.concatenate([h, -h, np.zeros(2 * Q)]))(np.ldexp(np.abs(sig(Q)), 104)) for _ in range(3)] + [[1.5]])"
exact big "lanes near 2^138 (2^127 terms), cancelling, and a 1.5"
make overflow "np.full(1 << 17, 3e38, dtype=np.float32)"
exact overflow "3e38 x 2^17 (the exact sum overflows: +Inf)"
make inexactsum "np.concatenate([np.concatenate([np.ldexp(sig(Q), 37), np.ldexp(sig(Q), -44), np.zeros(2 * Q)]) for _ in range(3)])"
exact inexactsum "each lane exact, their sum not (lanes taken one by one)"
make negzero "np.full(100000, -0.0)"
exact negzero "100000 x -0 (the sum is -0)"
make zeros "np.where(np.arange(100000) % 2 == 0, -0.0, 0.0)"
exact zeros "-0 and +0 alternating (the sum is +0)"
make subn "np.ldexp(rng.integers(1, 1 << 23, 1 << 17).astype(np.float64), -149) * np.where(rng.random(1 << 17) < 0.5, -1, 1)"
exact subn "subnormals only, both signs"
# --- sizes at tile and block edges
for n in 1 511 512 2047 2048 65535 65536 65537 131077 262143; do
  make "n$n" "np.ldexp(sig($n), -24)"
  exact "n$n" "n = $n, terms in [0.5, 1)"
done

# --- bad files and flags (one stderr line; a bad file is exit 1, a bad flag exit 2; --json kept)
echo '{"keep": 1}' >keep.json
head -c 100 uniform.npy >cut.npy
want 1 1 "a float32 .npy cut inside its data" -- "$DL" sum --input cut.npy --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
"$PY" -c "import numpy as np; np.save('be.npy', np.load('normal.npy').astype('>f4'))"
cp normal.want be.want
exact be "the normal input as a big-endian float32 .npy (read byte-swapped)"
"$PY" -c "import numpy as np; np.save('two.npy', np.ones((4, 4), dtype='<f4', order='F'))"
want 2 1 "a 2-D .npy (the command line decides the shape: exit 2)" -- "$DL" sum --input two.npy --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
"$PY" -c "import numpy as np; np.save('f8.npy', np.ones(10))"
want 2 1 "a float64 .npy with --dtype f32" -- "$DL" sum --input f8.npy --dtype f32 --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
want 0 any "a float32 .npy with --dtype bf16 (documented: rounded to bf16)" -- "$DL" sum --input uniform.npy --dtype bf16 --variant exact
has "  the conversion is said" out.txt "rounded to bf16"
want 2 1 "--threads 4097" -- "$DL" sum --input uniform.npy --variant exact --threads 4097
want 2 1 "--runs -1" -- "$DL" sum --input uniform.npy --variant exact --runs -1
DRIFTLAB_ISA=sse2 want 2 1 "DRIFTLAB_ISA=sse2" -- "$DL" sum --input uniform.npy --variant exact
want 1 1 "--input a missing file" -- "$DL" sum --input missing.npy --variant exact
make empty "np.zeros(0)"
exact empty "an empty array (the sum is +0)"

echo
echo "session 17 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
