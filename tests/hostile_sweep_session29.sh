#!/usr/bin/env bash
# Session 29 hostile sweep (docs/bad-input-session29.md): what the session built, tried as a
# hostile user would.
# 1. The exact sum's per-worker accumulators, now made on a worker's first tile and merged only
#    for the workers that ran (kernels/cpu/sum.cpp): float64, float32 and bf16 inputs of 0 to 3
#    tiles (some workers get none), ones whose terms land in the highest and lowest bins, signed
#    zeros, specials, each at DRIFTLAB_ISA=avx512, avx2 and scalar with 1 and 2 threads against an
#    independent oracle; the Python exact_sum on small arrays against math.fsum, and its memory
#    over 200,000 calls.
# 2. trace's sign_changes (kernels/cpu/bit_compare.h): driftlab.compare against a NumPy count on
#    arrays of NaNs, infinities, signed zeros and subnormals at every level; the table's note only
#    when a row has sign changes; the JSON field; the Keras trace table's column.
# 3. Bad inputs around them: compare on mismatched shapes and dtypes, a 0-d array, trace --json
#    over an existing file with a bad flag, SIGINT during a trace.
# Not in CI (BitCompare.*, Trace.Dtype*, ExactSum.*, tests/python/test_api.py hold the
# essentials); run after a build in ./build (and ./scripts/setup.sh --python for the Python parts):
#   tests/hostile_sweep_session29.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

case64() {  # NAME DESC PYTHON
  make64 "$1" "$3" || { fail=$((fail + 1)); echo "FAIL $2: could not make the input"; return; }
  exact_sum_case "$1" "$2" f64
}
case32() {  # NAME DESC PYTHON DTYPE
  make_exact "$1" "$3" "$4" 29 || { fail=$((fail + 1)); echo "FAIL $2: could not make the input"; return; }
  exact_sum_case "$1" "$2" "$4"
}

# --- 1. exact sums of few tiles, and bins at the layout's ends
case64 e0 "f64 n = 0 (+0.0)" 'np.zeros(0)'
case64 e1 "f64 n = 1, -0.0 (-0.0)" 'np.array([-0.0])'
case64 e2 "f64 n = 1, 2^-1074" 'np.array([2.0 ** -1074])'
case64 e3 "f64 n = 1024 uniform" 'rng.random(1024)'
case64 e4 "f64 one tile less one" 'rng.random(T - 1) - 0.5'
case64 e5 "f64 one tile and one term (the second worker's only term)" 'np.concatenate([rng.random(T), [1e300]])'
case64 e6 "f64 the top bins: max, -max and 1 in the last of 3 tiles" \
  'np.concatenate([rng.random(2 * T + 5), [np.finfo(np.float64).max, -np.finfo(np.float64).max, 1.0]])'
case64 e7 "f64 the top bins kept: 0.75 max + 0.2 max (tiles apart)" \
  'np.concatenate([[0.75 * np.finfo(np.float64).max], np.zeros(T), [0.2 * np.finfo(np.float64).max]])'
case64 e8 "f64 subnormals in one tile, 1.0 in the next (the lowest bins)" \
  'np.concatenate([rng.integers(1, 1 << 50, T).astype(np.float64) * 2.0 ** -1074, [1.0]])'
case64 e9 "f64 -0.0 over 2 tiles and a term (-0.0 only without it)" 'np.full(2 * T + 1, -0.0)'
case64 e10 "f64 NaN as the last tile's only term" 'np.concatenate([rng.random(T), [np.nan]])'
case32 s0 "f32 n = 0 (+0.0)" 'np.zeros(0)' f32
case32 s1 "f32 n = 1, -0.0 (-0.0)" 'np.array([-0.0])' f32
case32 s2 "f32 n = 1024 of 24-bit significands" 'sig(1024) * 2.0 ** -20' f32
case32 s3 "f32 one tile and one term" 'np.concatenate([sig(T) * 2.0 ** -30, [3.0e38]])' f32
case32 s4 "f32 max, max, -max over 3 tiles (max)" \
  'np.concatenate([[3.4028234663852886e38], np.zeros(T), [3.4028234663852886e38], np.zeros(T), [-3.4028234663852886e38]])' f32
case32 s5 "f32 subnormals, one tile less one" 'rng.integers(1, 1 << 23, T - 1) * 2.0 ** -149' f32
case32 b0 "bf16 n = 1024" 'sig8(1024) * 2.0 ** -4' bf16
case32 b1 "bf16 one tile and one term" 'np.concatenate([sig8(T) * 2.0 ** -10, [2.0 ** 100]])' bf16
case32 b2 "bf16 n = 0 (+0.0)" 'np.zeros(0)' bf16

if "$PY" -c "import driftlab" 2>/dev/null; then
  for isa in avx512 avx2 scalar; do
    want 0 0 "python: exact_sum == math.fsum on 300 small arrays (n 0-5000), DRIFTLAB_ISA=$isa" -- env DRIFTLAB_ISA=$isa "$PY" -c '
import math, numpy as np, driftlab
rng = np.random.default_rng(29)
for k in range(300):
    n = int(rng.integers(0, 5000))
    x = rng.standard_normal(n) * 2.0 ** rng.integers(-60, 61, n)
    if k % 4 == 0: x = np.concatenate([x, -x[::-1], [2.0 ** -1070]])
    a, b = driftlab.exact_sum(x), math.fsum(x)
    assert np.float64(a).tobytes() == np.float64(b).tobytes(), (k, n, a, b)
    f = x.astype(np.float32)
    a32 = driftlab.exact_sum(f)
    b32 = np.float32(math.fsum(f.astype(np.float64)))  # a float32 sum of < 2^29 terms is exact in fsum
    assert a32.dtype == np.float32 and (np.isinf(b32) or a32.tobytes() == b32.tobytes()), (k, n, a32, b32)'
  done
  want 0 0 "python: 200,000 small exact sums grow memory by < 8 MB" -- "$PY" -c '
import resource, numpy as np, driftlab
x64, x32 = np.random.default_rng(1).random(1000), np.random.default_rng(2).random(70000).astype(np.float32)
for _ in range(2000): driftlab.exact_sum(x64); driftlab.exact_sum(x32)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(100000): driftlab.exact_sum(x64); driftlab.exact_sum(x32)
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0
assert grew < 8192, f"max RSS grew {grew} KB"'
else
  echo "skip python (no driftlab package: ./scripts/setup.sh --python)"
fi

# --- 2. sign_changes
if "$PY" -c "import driftlab" 2>/dev/null; then
  for isa in avx512 avx2 scalar; do
    want 0 0 "python: compare's sign_changes == a NumPy count, 400 adversarial pairs, DRIFTLAB_ISA=$isa" -- env DRIFTLAB_ISA=$isa "$PY" -c '
import numpy as np, driftlab
rng = np.random.default_rng(3)
special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, -3e38, 1.0, -1.0], np.float32)
total = 0
for k in range(400):
    n = int(rng.integers(1, 300))
    a = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    b = a.copy()
    pick = rng.random(n)
    b[pick < 0.2] = -b[pick < 0.2]
    m = pick > 0.8
    b[m] = special[rng.integers(0, special.size, int(m.sum()))]
    m = rng.random(n) < 0.1
    a[m] = special[rng.integers(0, special.size, int(m.sum()))]
    ok = ~np.isnan(a) & ~np.isnan(b)
    want = int(np.count_nonzero(ok & (np.sign(a) != np.sign(b))))
    c = driftlab.compare(a.reshape(1, -1) if k % 2 else a, b.reshape(1, -1) if k % 2 else b)
    assert c["sign_changes"] == want, (k, c["sign_changes"], want)
    total += want
assert total > 5000, total'
  done
  want 0 0 "python: compare of float16 and bfloat16-widened arrays counts sign changes" -- "$PY" -c '
import numpy as np, driftlab
a = np.array([1.0, -2.0, 0.0, -0.0, 5.0], np.float16)
b = np.array([-1.0, -2.0, 3.0, 0.0, 5.0], np.float16)
c = driftlab.compare(a, b)
assert c["sign_changes"] == 2 and c["differ"] == 3, c'
  want 1 any "python: compare of shapes (3,) and (4,) is one ValueError" -- "$PY" -c '
import numpy as np, driftlab
driftlab.compare(np.zeros(3, np.float32), np.zeros(4, np.float32))'
  has "  the exception names the shapes" err.txt "differ in shape"
  want 0 0 "python: compare of 0-d arrays" -- "$PY" -c '
import numpy as np, driftlab
c = driftlab.compare(np.array(-1.0, np.float32), np.array(1.0, np.float32))
assert c["sign_changes"] == 1 and c["elements"] == 1, c'
  want 1 any "python: compare of NumPy scalars (not arrays) is one TypeError" -- "$PY" -c '
import numpy as np, driftlab
driftlab.compare(np.float32(-1.0), np.float32(1.0))'
  has "  it says how to make an array" err.txt "np.asarray(a, dtype=np.float32)"
  want 1 any "python: compare of float32 against float64 is one exception" -- "$PY" -c '
import numpy as np, driftlab
driftlab.compare(np.zeros(3, np.float32), np.zeros(3, np.float64))'
  has "  a TypeError or ValueError" err.txt "Error"
  want 0 0 "python: keras_trace's table prints the column and the note (no TensorFlow needed)" -- "$PY" -c '
import io
from driftlab.keras_trace import print_table
row = lambda name, s: {"layer": name, "class": "Dense", "elements": 10, "max_ulp": 953267991 if s else 3,
                       "sign_changes": s, "frac_differ": 0.5, "max_rel_diff": 1e-4}
r = {"model": "m", "origin": "o", "compare": "dtype", "training": False, "framework": "tf", "a": {"label": "A"},
     "b": {"label": "B"}, "rows": [row("d0", 0), row("d1", 2)], "first_divergence": None,
     "final_matches_predict": True, "predict_ms": 1.0, "trace_ms": 1.0, "timing_reps": 1}
out = io.StringIO(); print_table(r, out); t = out.getvalue()
head = [l for l in t.splitlines() if l.startswith("layer")][0]
assert "max_ulp  sign_changes  frac_differ" in head, head
assert "ULPs are counted" in t, t
r["rows"] = [row("d0", 0)]
out = io.StringIO(); print_table(r, out)
assert "ULPs are counted" not in out.getvalue()'
fi
M=(--backend cpu --layers 64,128,10 --init-seed 4)
want 0 0 "trace dtype:f32,bf16: the sign_changes column" -- "$DL" trace "${M[@]}" --batch 16 --compare dtype:f32,bf16 --json d.json
has "  the column" out.txt "sign_changes"
has "  the note under the table" out.txt "ULPs are counted"
"$PY" -c "import json; r = json.load(open('d.json'))['rows']; assert all(isinstance(x['sign_changes'], int) for x in r) and any(x['sign_changes'] for x in r)" \
  && ok "  JSON: every row has an integer sign_changes, some nonzero" || bad "  JSON" "$(head -c 300 d.json)"
want 0 0 "trace runs:0,1 tree (same bits): no note" -- "$DL" trace "${M[@]}" --batch 16 --variant tree --compare runs:0,1
hasnt "  no note" out.txt "ULPs are counted"
want 0 0 "trace batch:1,64 atomic seeded: rows, sign_changes counted" -- "$DL" trace "${M[@]}" --variant atomic --schedule shuffle:3 --compare batch:1,64 --json a.json
"$PY" -c "import json; r = json.load(open('a.json')); assert all('sign_changes' in x for x in r['rows'])" \
  && ok "  JSON rows carry sign_changes" || bad "  JSON" "$(head -c 300 a.json)"

# --- 3. bad inputs
echo '{"keep": 1}' >keep.json
want 2 1 "trace with a bad --compare and an existing --json" -- "$DL" trace "${M[@]}" --compare sign:1,2 --json keep.json
same "  keep.json unchanged" keep.json '{"keep": 1}'
want 2 1 "trace --compare dtype:f32,f32" -- "$DL" trace "${M[@]}" --compare dtype:f32,f32 --json keep.json
same "  keep.json unchanged" keep.json '{"keep": 1}'
timeout --preserve-status -s INT 2 "$DL" trace --backend cpu --layers 784,4096,4096,4096,10 --init-seed 1 --batch 256 \
  --compare dtype:f32,bf16 --json keep.json >out.txt 2>err.txt
rc=$?
[ "$rc" -ne 0 ] && [ "$(wc -l <err.txt)" -eq 1 ] && ok "SIGINT during a wide dtype trace: rc=$rc, one line" || bad "SIGINT" "rc=$rc $(cat err.txt)"
same "  keep.json unchanged" keep.json '{"keep": 1}'
want 2 1 "sum --variant exact --n -1" -- "$DL" sum --backend cpu --variant exact --n -1
want 2 1 "sum --variant exact --n 0x10" -- "$DL" sum --backend cpu --variant exact --n 0x10
want 2 1 "sum --variant exact --threads 4097" -- "$DL" sum --backend cpu --variant exact --n 100 --threads 4097
want 0 0 "sum --variant exact --threads 0 (every hardware thread)" -- "$DL" sum --backend cpu --variant exact --n 100 --threads 0
want 0 0 "sum --variant exact --threads 64 on n = 1000 (63 workers idle)" -- "$DL" sum --backend cpu --variant exact --n 1000 --threads 64 --runs 3

echo "pass $pass fail $fail"
[ "$fail" -eq 0 ]
