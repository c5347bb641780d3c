#!/usr/bin/env bash
# Session 28 hostile sweep (docs/bad-input-session28.md): what the session built, tried as a
# hostile user would.
# 1. The float64 exact sum's vector tile (kernels/cpu/exact_f64.h): .npy inputs made to hit its
#    windows' edges, the lanes' headroom, cancellation, the top and bottom of the range, specials,
#    zeros and tails, each summed at DRIFTLAB_ISA=avx512, avx2 and scalar with 1 and 2 threads,
#    against an independent oracle (Python's Fraction, rounded once by float()).
# 2. The Python package's exact_sum on float64 arrays against math.fsum, at every level.
# 3. The exact sum's tile form in driftlab_bench's labels (form=vector / form=scalar) under each
#    DRIFTLAB_ISA, and driftlab sum's table with float64 ULP counts (no column runs into another),
#    as the attention and allreduce tables now keep a space too.
# 4. Bad inputs around them: a float32 file read as f64, a truncated file, a stop signal and an
#    address-space limit during a large f64 exact sum, with an existing --json kept.
# Not in CI (ExactSum.F64Windows*, Dispatch.ExactTiles*, Cli.SumTable* hold the essentials); run
# after a build in ./build (and ./scripts/setup.sh --python for part 2):
#   tests/hostile_sweep_session28.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

best=$(best_isa)
echo "this CPU by /proc/cpuinfo: $best"

case64() {  # NAME DESC PYTHON
  make64 "$1" "$3" || { fail=$((fail + 1)); echo "FAIL $2: could not make the input"; return; }
  exact_sum_case "$1" "$2" f64
}

# --- 1. the float64 exact sum's tile against the oracle
case64 u1 "f64 uniform [0,1), 1e6 (30-binade window)" 'rng.random(1_000_000)'
case64 u2 "f64 uniform signed, 3 tiles + 17" 'rng.random(3 * T + 17) - 0.5'
case64 ill "f64 illcond-like (60-binade window), 2 tiles + 5" \
  'np.concatenate([(v := rng.standard_normal(T + 2) * 2.0 ** rng.integers(-20, 21, T + 2)), -v + 1e-3 * rng.standard_normal(T + 2), [1e-3]])'
case64 canc "f64 full significands over 28 binades, then their halves negated (sum 2^-1000)" \
  'np.concatenate([(v := (1 + rng.random(T)) * 2.0 ** (3 - np.arange(T) % 28) * rng.choice([-1, 1], T)), -(h := np.frombuffer((v.view(np.uint64) & ~np.uint64((1 << 26) - 1)).tobytes(), dtype=np.float64)), -(v - h), [2.0 ** -1000]])'
case64 canc60 "f64 the same over 57 binades (60-binade window, sum 2^-1000)" \
  'np.concatenate([(v := (1 + rng.random(T)) * 2.0 ** (3 - np.arange(T) % 57) * rng.choice([-1, 1], T)), -(h := np.frombuffer((v.view(np.uint64) & ~np.uint64((1 << 26) - 1)).tobytes(), dtype=np.float64)), -(v - h), [2.0 ** -1000]])'
case64 edges "f64 a sample of 1.0, then each window edge and one binade past it" \
  'np.concatenate([np.ones(512), np.tile([2.0 ** -27, (2 - 2.0 ** -52) * 2.0 ** -28, (2 - 2.0 ** -52) * 4, 8.0, -2.0 ** -27, -8.0], 20000)])'
case64 head "f64 the lanes headroom: tiles of the largest in-window term" \
  'np.tile(np.concatenate([np.ones(512), np.full(T - 512, (2 - 2.0 ** -52) * 4)]), 3)'
case64 top "f64 near 2^1000, alternating signs (the highest window)" \
  'np.concatenate([1.5 * 2.0 ** (967 + np.arange(512) % 28), (2 - 2.0 ** -52) * 2.0 ** 995 * (-1.0) ** np.arange(T), [2.0 ** 996, 2.0 ** -40]])'
case64 ovf "f64 three times the largest double (+Inf)" 'np.full(3, np.finfo(np.float64).max)'
case64 ovf2 "f64 max, max, -max (max, no overflow)" 'np.array([np.finfo(np.float64).max] * 2 + [-np.finfo(np.float64).max])'
case64 sub "f64 subnormals only, 2 tiles" 'rng.integers(1, 1 << 40, 2 * T).astype(np.float64) * 2.0 ** -1074'
case64 tiny "f64 exponents 3..62 (below every window)" '(1 + rng.random(T + 9)) * 2.0 ** (-1020 + np.arange(T + 9) % 60)'
case64 wide "f64 200 binades (no window: the scalar loop)" '1.5 * 2.0 ** (np.arange(T + 3) * 37 % 200 - 100)'
case64 nz "f64 all -0.0 (-0.0)" 'np.full(70000, -0.0)'
case64 mz "f64 +0.0 and one -0.0 (+0.0)" 'np.where(np.arange(70000) == 3, -0.0, 0.0)'
case64 nan "f64 a NaN among window terms" 'np.where(np.arange(T + 77) == 40001, np.nan, rng.random(T + 77))'
case64 infs "f64 +Inf and -Inf (NaN)" 'np.where(np.arange(T + 77) == 40001, np.inf, np.where(np.arange(T + 77) == 50001, -np.inf, rng.random(T + 77)))'
case64 inf "f64 one -Inf (-Inf)" 'np.where(np.arange(T + 77) == 70, -np.inf, rng.random(T + 77))'
case64 tie "f64 1 + 2^-53 + tail of zeros (a tie: 1.0)" 'np.concatenate([[1.0, 2.0 ** -53], np.zeros(T)])'
case64 tie2 "f64 1 + 3 * 2^-53 split over tiles (a tie up)" 'np.concatenate([[1.0], np.zeros(T), [2.0 ** -53], np.zeros(T), [2.0 ** -52]])'
for n in 1 15 17 33; do case64 "t$n" "f64 tail only, n = $n" "rng.random($n) * 1e10 - 5e9"; done
case64 bits "f64 random finite bit patterns, 100003 (overflows)" \
  '(lambda b: b[np.isfinite(b)])(rng.integers(0, 1 << 63, 100003, dtype=np.int64).view(np.float64) * rng.choice([-1.0, 1.0], 100003))'

# --- 2. the Python package against math.fsum
if "$PY" -c "import driftlab" 2>/dev/null; then
  for isa in avx512 avx2 scalar; do
    want 0 0 "python: exact_sum(float64) == math.fsum, 60 arrays, DRIFTLAB_ISA=$isa" -- env DRIFTLAB_ISA=$isa "$PY" -c '
import math, numpy as np, driftlab
rng = np.random.default_rng(5)
for k in range(60):
    n = int(rng.integers(1, 300000))
    x = rng.standard_normal(n) * 2.0 ** rng.integers(-40, 41, n) if k % 3 else rng.random(n)
    if k % 5 == 0: x = np.concatenate([x, -x[::-1]])  # cancels exactly: fsum gives 0.0
    a, b = driftlab.exact_sum(x), math.fsum(x)
    assert a.dtype == np.float64 and np.float64(a).tobytes() == np.float64(b).tobytes(), (k, n, a, b)'
  done
  want 0 0 "python: a strided float64 view is one ValueError; its contiguous copy sums as fsum" -- "$PY" -c '
import math, numpy as np, driftlab
x = np.random.default_rng(7).standard_normal(200001) * 1e6
for v in (x[::3], x[::-1]):
    try:
        driftlab.exact_sum(v)
        raise SystemExit("accepted a strided view")
    except ValueError as e:
        assert "ascontiguousarray" in str(e), e
    c = np.ascontiguousarray(v)
    assert np.float64(driftlab.exact_sum(c)).tobytes() == np.float64(math.fsum(c)).tobytes()'
  want 0 0 "python: exact_sum(float64) of [], [nan, 1], [inf, -inf], [-0.0, -0.0]" -- "$PY" -c '
import math, numpy as np, driftlab
assert np.float64(driftlab.exact_sum(np.array([], np.float64))).tobytes() == np.float64(0.0).tobytes()
assert math.isnan(driftlab.exact_sum(np.array([np.nan, 1.0])))
assert math.isnan(driftlab.exact_sum(np.array([np.inf, -np.inf] + [1.0] * 70000)))
assert np.float64(driftlab.exact_sum(np.array([-0.0] * 70001))).tobytes() == np.float64(-0.0).tobytes()'
else
  echo "skip python (no driftlab package: ./scripts/setup.sh --python)"
fi

# --- 3. labels and tables
F='^sum/cpu/(f64|f32)/uniform/exact/(1024|65536)/'
for isa in "" avx2 scalar; do
  lvl=${isa:-$best}
  [ "$isa" = avx2 ] && [ "$best" = scalar ] && lvl=scalar
  want 0 0 "bench, exact rows, DRIFTLAB_ISA=${isa:-unset}" -- env DRIFTLAB_ISA="$isa" "$BENCH" --benchmark_filter="$F" --benchmark_min_time=0.001 --benchmark_format=json
  n=$("$PY" -c "import json,sys; print(sum(1 for r in json.load(open('out.txt'))['benchmarks'] if r.get('label') == sys.argv[1]))" \
      "kernels=$lvl$([ "$lvl" = scalar ] || echo ' form=vector')")
  [ "$n" = 4 ] && ok "  4 of 4 rows: kernels=$lvl$([ "$lvl" = scalar ] || echo ' form=vector')" || bad "  labels" "$n of 4"
done
"$PY" -c "import numpy as np; np.save('wide.npy', 1.5 * 2.0 ** (np.arange(200000) * 37 % 200 - 100))"
want 0 0 "driftlab sum f64 illcond --variant all: the table" -- "$DL" sum --backend cpu --dtype f64 --dist illcond --n 300007 --runs 3 --schedule shuffle:2
"$PY" - out.txt <<'EOF' && ok "  every row ends in 10 separate numeric fields" || bad "  table" "$(cat tab.txt)"
import sys
lines = open(sys.argv[1]).read().split("\n")
head = [i for i, l in enumerate(lines) if l.startswith("variant ")][0]
rows = [l.split() for l in lines[head + 1:] if l.split() and l.split()[0] in ("serial", "atomic_element", "atomic", "tree", "exact")]
bad = [r for r in rows if any(not c.replace(".", "").replace("e-", "").replace("e+", "").replace("x", "").replace("-", "").isdigit() for c in r[-10:-5] + r[-4:])]
open("tab.txt", "w").write(str(bad[:2]))
sys.exit(1 if bad or len(rows) != 5 else 0)
EOF
want 0 0 "driftlab attention (default shape): the table" -- "$DL" attention --backend cpu --runs 3
has "  header and rows" out.txt "fixed_split"

# --- 4. bad inputs
"$PY" -c "import numpy as np; np.save('f32.npy', np.ones(1000, np.float32))"
want 2 1 "f64 exact on a float32 .npy" -- "$DL" sum --backend cpu --input f32.npy --dtype f64 --variant exact
head -c 100 u1.npy >trunc.npy
want 1 1 "f64 exact on a truncated .npy" -- "$DL" sum --backend cpu --input trunc.npy --dtype f64 --variant exact
echo '{"keep": 1}' >keep.json
want 2 1 "f64 exact, 2^27, address space 1.2 GB: refused up front (existing --json kept)" -- bash -c "ulimit -v 1200000; \"\$1\" sum --backend cpu --dtype f64 --variant exact --n 134217728 --runs 2 --json keep.json" _ "$DL"
same "  keep.json unchanged" keep.json '{"keep": 1}'
timeout --preserve-status -s INT 3 "$DL" sum --backend cpu --dtype f64 --variant exact --dist illcond --n 100000000 --runs 50 --json keep.json >out.txt 2>err.txt
rc=$?
[ "$rc" -ne 0 ] && [ "$(wc -l <err.txt)" -eq 1 ] && ok "SIGINT during a long f64 exact sum: rc=$rc, one line" || bad "SIGINT" "rc=$rc $(cat err.txt)"
same "  keep.json unchanged" keep.json '{"keep": 1}'

echo "pass $pass fail $fail"
[ "$fail" -eq 0 ]
