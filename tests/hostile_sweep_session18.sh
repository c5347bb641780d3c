#!/usr/bin/env bash
# Session 18 hostile sweep (docs/bad-input-session18.md): the f16 exact sum's split float32 lanes
# (kernels/cpu/exact_simd.cpp: each term split at 2^-4 into hi and lo, 16 terms a float32 lane
# between flushes into int32 lanes; AVX-512 splits by VREDUCEPS, AVX2 by a magic add under MXCSR's
# rounding), and bf16's flag-checked lanes (float32 lanes of 8 terms, then the tile's double
# lanes, kept when no add raised inexact), tried through the command line as a hostile user would.
# Every input is a float16 .npy built to sit on an edge of the new code: lanes at their headroom
# (15 x 65504 and a 1/16, whole tiles of +-65504), lo parts at their largest, Inf and NaN in the
# first and in a later flush, signed zeros over whole steps, subnormals, step (32) and flush (512)
# and tile (65536) boundaries.  Each is summed with `--variant exact` at DRIFTLAB_ISA=avx512, avx2
# and scalar, with 1 and 2 threads: every run must exit 0 and print the bits of an independent
# oracle (tests/kat/make_kat.py's exact_sum: Python fractions, rounded once to float32).  Then bad
# files and flags: one stderr line, the documented exit status, an existing --json unchanged.
# Not in CI (HalfSumCpu.F16SplitLanesAtTheirEdges holds the essentials); run after a build in
# ./build:
#   tests/hostile_sweep_session18.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

# make NAME PYTHON-EXPR: NAME.npy holds the float16 array the expression gives (np, rng =
# np.random.default_rng(18), T = 65536, MAX = 65504 and f16(bits) in scope); NAME.want holds the
# oracle's bits.
make() {
  "$PY" - "$ROOT" "$1" "$2" "${DTYPE:-f16}" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/kat")
import make_kat as K
name, expr = sys.argv[2], sys.argv[3]
DTYPE = sys.argv[4] if len(sys.argv) > 4 else "f16"
rng = np.random.default_rng(18)
T, MAX = 65536, 65504.0

def f16(bits):
    return np.asarray(bits, dtype=np.uint16).view(np.float16)

np.seterr(all="ignore")  # the illcond recipe overflows float16 on purpose
x = np.asarray(eval(expr)).ravel()
if DTYPE == "bf16":
    import ml_dtypes
    x = x.astype(np.float32).astype(ml_dtypes.bfloat16)
elif x.dtype != np.float16:
    x = x.astype(np.float16)
np.save(name + ".npy", x)
v = K.exact_sum([float(u) for u in x], K.F32)
open(name + ".want", "w").write("nan" if np.isnan(v) else "0x%08x" % K.f32_bits(v))
EOF
}

# exact NAME DESC: the six runs and the oracle.
exact() { exact_sum_case "$1" "$2" "${DTYPE:-f16}"; }

# --- the lanes at their headroom
make headroom "np.where((np.arange(3 * T) // 32) % 16 == 15, 1 / 16, np.where(np.arange(3 * T) % T < T // 2, MAX, -MAX))"
exact headroom "15 x 65504 and a 1/16 a lane a flush, the bigs cancelling (sum 768)"
make maxes "np.full(3 * T, MAX)"
exact maxes "three tiles of +65504 (int32 lanes at 2048 x 65504 x 16)"
make minmaxes "np.concatenate([np.full(2 * T, -MAX), [2.0 ** -24]])"
exact minmaxes "two tiles of -65504 and a 2^-24"
make mixedmax "np.where(rng.random(3 * T) < 0.5, MAX, -MAX)"
exact mixedmax "+-65504 at random"
make lobig "np.tile(f16([0x0001, 0x2bff, 0x8001, 0xabff, 0x3c01, 0xbc01, 0x2a00, 0xaa00]), 8192)"
exact lobig "lo parts at their largest, cancelling (sum +0)"
make lobig2 "np.tile(f16([0x0001, 0x2bff, 0x2bff, 0x3c01, 0x2a00, 0x2e00, 0x0003, 0x03ff]), 8192)"
exact lobig2 "lo parts at their largest, one sign"
make ties "np.tile(np.array([1 / 32, 3 / 32, 5 / 32, -7 / 32]), 20000)"
exact ties "terms on the split's ties (round half to even)"
# --- data of every day
make uniform "rng.random(1 << 20)"
exact uniform "uniform [0,1) 2^20, rounded to float16"
make normal "rng.standard_normal(1 << 20)"
exact normal "standard normal 2^20"
make illcond "(lambda h: np.concatenate([h, -h + 1e-3 * rng.standard_normal(h.size)])[rng.permutation(2 * h.size)])(np.ldexp(rng.standard_normal(1 << 18), rng.integers(-20, 21, 1 << 18)))"
exact illcond "the benchmark's illcond recipe, 2^19 (overflows to +-Inf: NaN)"
make illfinite "(lambda h: np.concatenate([h, -h + 1e-3 * rng.standard_normal(h.size)])[rng.permutation(2 * h.size)])(np.ldexp(rng.standard_normal(1 << 18), rng.integers(-20, 12, 1 << 18)))"
exact illfinite "illcond within float16's range, 2^19"
make randbits "(lambda r: f16(np.where((r & 0x7c00) == 0x7c00, r ^ 0x0400, r)))(rng.integers(0, 1 << 16, 1 << 18))"
exact randbits "random finite bit patterns, 2^18"
make allbits "(lambda r: f16(r[(r & 0x7c00) != 0x7c00]))(np.arange(1 << 16))"
exact allbits "every finite float16 pattern once (sum +0)"
make relu "np.where(rng.random(1 << 18) < 0.9, 0, rng.standard_normal(1 << 18))"
exact relu "90% zeros (ReLU-like), 2^18"
# --- specials and zeros
make inffirst "np.concatenate([[np.inf], rng.random(5000)])"
exact inffirst "+Inf as the first term"
make inflater "(lambda x: (x.__setitem__(4000, -np.inf), x)[1])(rng.random(5000))"
exact inflater "-Inf in a later flush"
make inftail "(lambda x: (x.__setitem__(4999, np.inf), x)[1])(rng.random(5000))"
exact inftail "+Inf in the tail (the last < 32 terms)"
make nan "(lambda x: (x.__setitem__(700, f16([0x7e01])[0]), x)[1])(rng.random(5000))"
exact nan "a NaN with a payload"
make infs "(lambda x: (x.__setitem__(10, np.inf), x.__setitem__(T + 3000, -np.inf), x)[1])(rng.random(2 * T))"
exact infs "+Inf and -Inf in two tiles (NaN)"
make overflow "np.full(1 << 12, MAX)"
exact overflow "4096 x 65504 (the float32 result stays finite)"
make negzero "np.full(100000, -0.0)"
exact negzero "100000 x -0 (the sum is -0)"
make zeros "np.where(np.arange(100000) == 77777, 0.0, -0.0)"
exact zeros "-0 and one +0 in a later tile (the sum is +0)"
make cancel "np.where(np.arange(4096) % 2 == 0, 1.0, -1.0)"
exact cancel "1 and -1 alternating (the sum is +0)"
make subn "f16(rng.integers(1, 1 << 10, 1 << 17) | np.where(rng.random(1 << 17) < 0.5, 0x8000, 0))"
exact subn "subnormals only, both signs"
# --- sizes at step, flush and tile edges
for n in 1 31 32 33 511 512 513 65535 65536 65537; do
  make "n$n" "rng.standard_normal($n) * 100"
  exact "n$n" "n = $n, normal x 100"
done

# --- bf16 (ml_dtypes' '<V2', --dtype bf16): its tiles now take the flag-checked lanes
# (float32 lanes of 8 terms, then the tile's double lanes)
export DTYPE=bf16
make b_uniform "rng.random(1 << 20)"
exact b_uniform "bf16: uniform [0,1) 2^20"
make b_normal "rng.standard_normal(1 << 20)"
exact b_normal "bf16: standard normal 2^20"
make b_over "(lambda x: (x.__setitem__(slice(T, T + 64, 16), 2.0 ** 127 * 1.5), x.__setitem__(slice(T + 2 * 16384, T + 2 * 16384 + 64, 16), -2.0 ** 127 * 1.5), x)[2])(rng.random(3 * T))"
exact b_over "bf16: a float32 lane overflowing, cancelled in another lane"
make b_tiny "np.concatenate([rng.random(T), rng.random(T) * 2.0 ** -60, rng.random(T)])"
exact b_tiny "bf16: a tile of 2^-60-scaled terms between two of [0,1)"
make b_subn "np.ldexp(rng.standard_normal(3 * T), -122) + np.where(np.arange(3 * T) % 4099 == 0, 2.0 ** -140, 0)"
exact b_subn "bf16: lanes near 2^-122 with subnormals"
make b_inf "(lambda x: (x.__setitem__(12345, np.inf), x.__setitem__(2 * T + 7, -np.inf), x)[2])(rng.random(3 * T))"
exact b_inf "bf16: +Inf and -Inf in two tiles (NaN)"
make b_negzero "np.full(100000, -0.0)"
exact b_negzero "bf16: 100000 x -0 (the sum is -0)"
unset DTYPE

# --- bad files and flags (one stderr line; a bad file is exit 1, a bad flag exit 2; --json kept)
echo '{"keep": 1}' >keep.json
head -c 100 uniform.npy >cut.npy
want 1 1 "a float16 .npy cut inside its data" -- "$DL" sum --input cut.npy --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
"$PY" -c "import numpy as np; np.save('be.npy', np.load('normal.npy').astype('>f2'))"
cp normal.want be.want
exact be "the normal input as a big-endian float16 .npy (read byte-swapped)"
"$PY" -c "import numpy as np; np.save('two.npy', np.ones((4, 4), dtype='<f2'))"
want 2 1 "a 2-D float16 .npy (the command line decides the shape: exit 2)" -- "$DL" sum --input two.npy --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
want 2 1 "--runs 0" -- "$DL" sum --input uniform.npy --variant exact --runs 0
want 2 1 "--variant exact2" -- "$DL" sum --input uniform.npy --variant exact2
DRIFTLAB_ISA=avx1024 want 2 1 "DRIFTLAB_ISA=avx1024" -- "$DL" sum --input uniform.npy --variant exact
want 1 1 "--input a folder" -- "$DL" sum --input . --variant exact
make empty "np.zeros(0)"
exact empty "an empty array (the sum is +0)"

echo
echo "session 18 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
