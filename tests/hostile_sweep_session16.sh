#!/usr/bin/env bash
# Session 16 hostile sweep (docs/bad-input-session16.md): the bf16 exact sum's new float32 fast
# blocks and f16's flags-only tiles (kernels/cpu/exact_simd.cpp), tried through the command line
# as a hostile user would.
# Every input is a bf16 .npy ('<V2', ml_dtypes' layout) or an f16 one built to sit on an edge of
# the new code:
# a float32 lane at and past its 13 binades, terms under the block's floor, the overflow guard at
# the top of the range, specials inside fast blocks, zeros of both signs, subnormals, tile and
# block boundaries.  Each is summed with `--variant exact` at DRIFTLAB_ISA=avx512, avx2 and scalar,
# with 1 and 2 threads: every run must exit 0, print the same result bits, and equal an
# independent oracle (tests/kat/make_kat.py's exact_sum: Python fractions, rounded once).  Then
# bad files and flags: one stderr line, the documented exit status, an existing --json unchanged.
# Not in CI (HalfSumCpu.* holds the essentials); run after a build in ./build:
#   tests/hostile_sweep_session16.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

# make NAME PYTHON-EXPR: NAME.npy holds the uint16 bits the expression gives (a NumPy array, with
# np, rng = np.random.default_rng(16) and edge(T, d) in scope), saved as '<V2'; NAME.want its oracle.
make() {
  "$PY" - "$ROOT" "$1" "$2" "${3:-bf16}" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/kat")
import make_kat as K
name, expr, dt = sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(16)

def edge(T, d, n=8192):
    # HalfSumCpu.ExactFloat32FastBlocksAtTheirEdges' tile: +B / -B halves, a sample at T, one small
    # term d binades under B in streams 0-1
    b = lambda e, s: (e << 7) | (s - 128)
    eb = min(T + 2, 254)
    x = np.array([b(T, 255) if i % 4096 < 512 else b(eb, 255) for i in range(n)], dtype=np.uint16)
    x[n // 2:] |= 0x8000
    x[1024] = b(eb - d, 130 if d > 16 else 129)
    return x

bits = np.asarray(eval(expr), dtype=np.uint16).ravel()
with open(name + ".npy", "wb") as f:
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % ("<V2" if dt == "bf16" else "<f2", bits.size)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + bits.astype("<u2").tobytes())
v = K.exact_sum(K.widen([int(u) for u in bits], dt), K.F32)
open(name + ".want", "w").write("nan" if np.isnan(v) else "0x%08x" % K.f32_bits(v))
EOF
}

# exact NAME DESC [DTYPE]: the six runs and the oracle.
exact() { exact_sum_case "$1" "$2" "${3:-bf16}"; }

# --- the float32 fast block's own edges (the unit test's tiles, through the CLI)
for T in 14 127 245 252; do
  for d in 12 13 14 17; do
    [ $(( (T + 2 > 254 ? 254 : T + 2) - d )) -ge 1 ] || continue
    make "edge_${T}_$d" "edge($T, $d)"
    exact "edge_${T}_$d" "edge tile T=$T d=$d (a lane at / past 13 binades)"
  done
done
# --- data the fast blocks see every day, and its neighbours
make uniform "rng.random(1 << 20, dtype=np.float32).view(np.uint32) >> 16"
exact uniform "uniform [0,1) 2^20 (truncated to bf16)"
make normal "(rng.standard_normal(1 << 20).astype(np.float32).view(np.uint32) >> 16)"
exact normal "standard normal 2^20"
make relu "np.where(rng.random(1 << 18) < 0.99, 0, rng.standard_normal(1 << 18).astype(np.float32).view(np.uint32) >> 16)"
exact relu "99% zeros (ReLU-like), 2^18"
make smalls "np.where(rng.random(1 << 18) < 0.05, 0x3580, 0x3f80 + (rng.integers(0, 128, 1 << 18)))"
exact smalls "5% of terms 2^-20 under 1.x (the floor's backoff path)"
make illcond "(np.ldexp(rng.standard_normal(1 << 18), rng.integers(-20, 21, 1 << 18)).astype(np.float32).view(np.uint32) >> 16)"
exact illcond "2^+-20 times normal (many windows), 2^18"
make randbits "(lambda r: np.where((r & 0x7f80) == 0x7f80, r ^ 0x0080, r))(rng.integers(0, 65536, 1 << 18))"
exact randbits "random finite bit patterns, 2^18"
# --- signs, zeros, subnormals, specials inside fast blocks
make negzero "np.full(100000, 0x8000)"
exact negzero "100000 x -0 (the sum is -0)"
make zeros "np.where(np.arange(100000) % 2 == 0, 0x8000, 0x0000)"
exact zeros "-0 and +0 alternating (the sum is +0)"
make subn "rng.integers(1, 128, 1 << 16) | np.where(rng.random(1 << 16) < 0.5, 0x8000, 0)"
exact subn "subnormals only, both signs"
make inf "np.where(np.arange(1 << 16) == 40000, 0x7f80, 0x3f80)"
exact inf "+Inf inside a fast block of ones"
make infs "np.where(np.arange(1 << 16) == 40000, 0x7f80, np.where(np.arange(1 << 16) == 50000, 0xff80, 0x3f80))"
exact infs "+Inf and -Inf in one tile (NaN)"
make nan "np.where(np.arange(1 << 16) == 123, 0x7fc1, 0x3f80)"
exact nan "a NaN with a payload among ones"
make top "np.concatenate([np.full(4096, 0x7f7f), np.full(4096, 0xff7f)])"
exact top "bf16's largest finite, +-, cancelling (float32 lanes would overflow)"
make top2 "np.concatenate([np.full(4096, 0x7e80), np.full(4095, 0xfe80), [0x3f80]])"
exact top2 "2^126 terms (exponent 253), +- cancelling, and a 1"
# --- f16 tiles with Inf or NaN: their flags only, no bins (special_flags_f16_avx512)
make f16inf "np.where(np.arange(1 << 17) == 70000, 0x7c00, 0x3c00 + rng.integers(0, 1024, 1 << 17))" f16
exact f16inf "f16: +Inf in the second tile's vector loop" f16
make f16infs "np.where(np.arange(1 << 17) == 100, 0xfc00, np.where(np.arange(1 << 17) == 70000, 0x7c00, 0x3c00))" f16
exact f16infs "f16: -Inf in tile 0, +Inf in tile 1 (NaN)" f16
make f16nan "np.where(np.arange(65536 + 40) == 65536 + 35, 0x7e01, 0xbc00)" f16
exact f16nan "f16: a NaN in the last tile's tail, -1 elsewhere" f16
make f16ovf "(np.ldexp(rng.standard_normal(1 << 18), rng.integers(-20, 21, 1 << 18)).astype(np.float16).view(np.uint16))" f16
exact f16ovf "f16: illcond-like, a third overflowed to +-Inf" f16
make f16big "np.concatenate([np.full(40000, 0x7bff), np.full(40000, 0xfbff), [0x3c00]])" f16
exact f16big "f16: 65504 and -65504 x 40000 and a 1 (finite: every bin counts)" f16
make f16neg "np.where(np.arange(4096) == 4000, 0xfc00, 0x8000)" f16
exact f16neg "f16: -0 everywhere and one -Inf" f16
# --- sizes at tile and block edges
for n in 1 2 31 33 511 513 65535 65536 65537 262143; do
  make "n$n" "0x3f80 + rng.integers(0, 128, $n)"
  exact "n$n" "n = $n, terms in [1, 2)"
done

# --- bad files and flags (one stderr line; a bad file is exit 1, a bad flag exit 2; --json kept)
echo '{"keep": 1}' >keep.json
printf '\x93NUMPY\x01\x00' >trunc.npy
want 1 1 "a truncated .npy" -- "$DL" sum --input trunc.npy --dtype bf16 --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
head -c 100 uniform.npy >cut.npy
want 1 1 "a .npy cut inside its data" -- "$DL" sum --input cut.npy --dtype bf16 --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
want 1 1 "a '<V2' .npy without --dtype bf16" -- "$DL" sum --input uniform.npy --variant exact --json keep.json
same "  --json unchanged" keep.json '{"keep": 1}'
want 2 1 "--dtype bf17" -- "$DL" sum --input uniform.npy --dtype bf17 --variant exact
want 2 1 "--variant exactly" -- "$DL" sum --input uniform.npy --dtype bf16 --variant exactly
DRIFTLAB_ISA=avx1024 want 2 1 "DRIFTLAB_ISA=avx1024" -- "$DL" sum --input uniform.npy --dtype bf16 --variant exact
want 1 1 "--input a folder" -- "$DL" sum --input . --dtype bf16 --variant exact
make empty "np.zeros(0)"
exact empty "an empty array (the sum is +0)"

echo
echo "session 16 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
