#!/usr/bin/env bash
# Session 21 hostile sweep (docs/bad-input-session21.md): the tree and atomic tiles' stream form
# (kernels/cpu/sum_tile.cpp: one linear pass, element i to lane i % kLanes), which replaced
# session 20's touch and runs only when the input is larger than the last-level cache
# (kernels/cpu/sum_tile.h: stream_threshold_bytes), and the read probe's 256-bit form from memory.
# Here `driftlab sum` meets them for real: sizes at and over the threshold, tails shorter than a
# cache line, every dtype, inputs from .npy files (their data lands at any offset the reader gives
# it), at DRIFTLAB_ISA=avx512, avx2 (stream) and scalar (the plain form), 1 and 2 threads.  Every
# run must exit 0 and give the same result_bits: tree always (and one distinct output over its
# runs), atomic under a seeded schedule (the same first result, distinct count and max ulp at
# every level and thread count).  Then bad inputs near the new code.  Not in CI; run after a
# build in ./build (needs numpy):
#   tests/hostile_sweep_session21.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

L3=$(cat /sys/devices/system/cpu/cpu0/cache/index3/size 2>/dev/null || echo unknown)
echo "last-level cache (sysfs cpu0 index3): $L3 -- inputs larger than this take the stream form"

for v in tree atomic; do
  X=(); [ $v = atomic ] && X=(--schedule shuffle:5)
  sum_case "$v f32 uniform n=2^23 (32 MiB: at the threshold here, blocked)" $v --n 8388608 "${X[@]}"
  sum_case "$v f32 uniform n=2^23+1 (a 1-element last tile, stream)" $v --n 8388609 "${X[@]}"
  sum_case "$v f32 illcond n=2^23+15 (a last tile shorter than a line)" $v --n 8388623 --dist illcond "${X[@]}"
  sum_case "$v f32 normal n=2^24+1029 (a short last row)" $v --n 16778245 --dist normal "${X[@]}"
  sum_case "$v f64 uniform n=2^22+7 (a tail of 7 doubles)" $v --n 4194311 --dtype f64 "${X[@]}"
  sum_case "$v f64 illcond n=2^26" $v --n 2^26 --dtype f64 --dist illcond "${X[@]}"
  sum_case "$v bf16 illcond n=2^24+31 (a tail of 31 halves)" $v --n 16777247 --dtype bf16 --dist illcond "${X[@]}"
  sum_case "$v f16 normal n=2^25-1" $v --n 33554431 --dtype f16 --dist normal "${X[@]}"
done

# Inputs from files: the reader's buffer, whatever its alignment; -0.0 everywhere but one +0.0
# (a lane that adds +0.0 where the order adds the identity turns the sum +0.0 too early: the
# result must be +0.0 exactly once, at the one +0.0) and specials in the last lanes of a row.
"$PY" - <<'PYEOF'
import numpy as np
n = (1 << 23) + 1000
z = np.full(n, -0.0, dtype=np.float32); np.save("negzero.npy", z)
z[(1 << 22) + 1023] = 0.0; np.save("onepos.npy", z)
r = np.random.default_rng(3).standard_normal(n).astype(np.float32)
r[1023::1024] *= 1e30; np.save("bigcols.npy", r)
s = r.copy(); s[5 * 1024 + 1023] = np.inf; np.save("inf.npy", s)
s[7 * 1024 + 1022] = -np.inf; np.save("nan.npy", s)
np.save("f64.npy", np.random.default_rng(4).standard_normal((1 << 22) + 3))
np.save("f16.npy", np.random.default_rng(5).standard_normal((1 << 24) + 5).astype(np.float16))
PYEOF
sum_case "tree f32 .npy all -0.0 (sum -0.0)" tree --input negzero.npy
has "the all -0.0 sum is -0.0 (0x80000000)" r.json '"result_bits": "0x80000000"'
sum_case "tree f32 .npy -0.0 but one +0.0 (sum +0.0)" tree --input onepos.npy
has "one +0.0 makes it +0.0 (0x00000000)" r.json '"result_bits": "0x00000000"'
sum_case "tree f32 .npy 1e30 in every row's last lane" tree --input bigcols.npy
sum_case "atomic f32 .npy 1e30 in every row's last lane" atomic --input bigcols.npy --schedule shuffle:5
sum_case "tree f32 .npy +inf in a last lane" tree --input inf.npy
has "+inf sums to +inf" r.json '"result_bits": "0x7f800000"'
sum_case "tree f32 .npy +inf and -inf (NaN)" tree --input nan.npy
has "inf - inf is the canonical NaN" r.json '"result_bits": "0x7fc00000"'
sum_case "tree f64 .npy n=2^22+3" tree --input f64.npy
sum_case "tree f16 .npy n=2^24+5" tree --input f16.npy --dtype f16

# Bad inputs near the new code: one line, exit 2 (command line) or 1 (a file).
want 0 0 "sum --n 2^26 --threads 0 (every hardware thread: runs)" -- "$DL" sum --backend cpu --n 2^26 --threads 0 --variant tree
want 2 1 "sum --n 2^26 --threads -2" -- "$DL" sum --backend cpu --n 2^26 --threads -2 --variant tree
want 2 1 "sum --n 2^26 --runs 0" -- "$DL" sum --backend cpu --n 2^26 --runs 0 --variant tree
want 2 1 "sum --n 2^26 --variant stream (not a variant)" -- "$DL" sum --backend cpu --n 2^26 --variant stream
printf 'x' > short.npy
want 1 1 "sum --input a 1-byte .npy" -- "$DL" sum --backend cpu --input short.npy --variant tree
head -c 200 negzero.npy > cut.npy
want 1 1 "sum --input a .npy cut after its header" -- "$DL" sum --backend cpu --input cut.npy --variant tree
DRIFTLAB_ISA=avx1024 want 2 1 "DRIFTLAB_ISA=avx1024" -- "$DL" sum --backend cpu --n 2^24 --variant tree
want 1 1 "sum --json into a folder that does not exist" -- "$DL" sum --backend cpu --n 2^24 --variant tree --json nodir/r.json

echo "session 21 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
