#!/usr/bin/env bash
# Session 24 hostile sweep (docs/bad-input-session24.md): what the session built, tried as a
# hostile user would.
# 1. scripts/mutation_sweep.py's command line: every bad one is one stderr line and exit status 2
#    (the --list forms build nothing).
# 2. The bug class the sweep found (a schedule that loses, repeats or negates a warp or tile
#    hides inside an error bound): through `driftlab sum`, small integers in a .npy sum to their
#    integer sum exactly with every variant, f32 / f64 / bf16 / f16, 1 and 2 threads, real threads
#    and seeded schedules, at every ISA level.
# 3. Bad --schedule values near it: one line, exit status 2, an existing --json unchanged.
# Not in CI (the SumCpu/HalfSumCpu small-integer tests hold the essentials); run after a build in
# ./build (needs numpy: ./.venv from scripts/setup.sh, or PY=...):
#   tests/hostile_sweep_session24.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...
MS="$ROOT/scripts/mutation_sweep.py"

# --- 1. the sweep's command line
want 2 1 "mutation_sweep: no file" -- "$MS"
want 2 1 "mutation_sweep: no --filter" -- "$MS" kernels/cpu/sum.cpp
want 2 1 "mutation_sweep: --ops foo" -- "$MS" kernels/cpu/sum.cpp --ops foo --list
want 2 1 "mutation_sweep: --lines 5" -- "$MS" kernels/cpu/sum.cpp --lines 5 --list
want 2 1 "mutation_sweep: --lines 9-3" -- "$MS" kernels/cpu/sum.cpp --lines 9-3 --list
want 2 1 "mutation_sweep: --lines 0-3" -- "$MS" kernels/cpu/sum.cpp --lines 0-3 --list
want 2 1 "mutation_sweep: a file outside the repository" -- "$MS" /etc/passwd --list
want 2 1 "mutation_sweep: not a C++ source" -- "$MS" "$ROOT/README.md" --list
want 2 1 "mutation_sweep: no such file" -- "$MS" nope.cpp --list
want 2 1 "mutation_sweep: a folder" -- "$MS" "$ROOT/kernels" --list
want 2 1 "mutation_sweep: --only S0" -- "$MS" "$ROOT/kernels/cpu/sum.cpp" --only S0 --list
want 2 1 "mutation_sweep: --only ''" -- "$MS" "$ROOT/kernels/cpu/sum.cpp" --only '' --list
want 2 1 "mutation_sweep: --jobs 0" -- "$MS" kernels/cpu/sum.cpp --jobs 0 --filter x
want 2 1 "mutation_sweep: --timeout x" -- "$MS" kernels/cpu/sum.cpp --timeout x --filter x
want 2 1 "mutation_sweep: --target 'a;b'" -- "$MS" kernels/cpu/sum.cpp --target 'a;b' --filter x
want 2 1 "mutation_sweep: --lines with two files" -- "$MS" "$ROOT/kernels/cpu/sum.cpp" "$ROOT/kernels/cpu/sum_tile.cpp" --lines 1-5 --list
want 2 1 "mutation_sweep: --bogus" -- "$MS" kernels/cpu/sum.cpp --bogus
want 2 1 "mutation_sweep: --sanitize thread" -- "$MS" kernels/cpu/sum.cpp --sanitize thread --filter x
want 0 1 "mutation_sweep: the same file twice is listed once" -- "$MS" "$ROOT/kernels/cpu/dense_half.cpp" "$ROOT/kernels/cpu/dense_half.cpp" --list
n1=$(wc -l <out.txt)
"$MS" "$ROOT/kernels/cpu/dense_half.cpp" --list >once.txt 2>/dev/null
[ "$n1" -eq "$(wc -l <once.txt)" ] && { pass=$((pass + 1)); echo "ok   the twice-named file's mutants are the once-named file's ($n1)"; } || { fail=$((fail + 1)); echo "FAIL $n1 mutants for a file named twice"; }

# --- 2. small integers sum exactly under every schedule, dtype, thread count and level
"$PY" - <<'EOF' || exit 1
import numpy as np
rng = np.random.default_rng(24)
x = rng.integers(0, 16, 5 * 65536 + 33).astype(np.float32)  # the last warp one element
np.save("ints32.npy", x)
np.save("ints64.npy", x.astype(np.float64))
open("ints.want", "w").write("%d" % int(x.astype(np.int64).sum()))
EOF
want_sum=$(cat ints.want)
for dt in f32 f64 bf16 f16; do
  file=ints32.npy; [ "$dt" = f64 ] && file=ints64.npy
  for sched in none shuffle:1 shuffle:977; do
    for t in 1 2; do
      isa=avx512; [ "$t" = 2 ] && isa=avx2; [ "$sched" = shuffle:977 ] && [ "$t" = 1 ] && isa=scalar
      args=(sum --backend cpu --dtype "$dt" --input "$file" --runs 3 --threads "$t" --json r.json)
      [ "$sched" != none ] && args+=(--schedule "$sched")
      DRIFTLAB_ISA=$isa timeout 120 "$DL" "${args[@]}" >out.txt 2>err.txt
      rc=$?
      bad=$("$PY" -c "
import json, sys
rows = json.load(open('r.json'))['rows']
want = float($want_sum)
off = [r['variant'] + '=' + repr(r['result']) for r in rows if float(r['result']) != want]
print(' '.join(off) if off or len(rows) < 5 else '')" 2>&1)
      if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
        pass=$((pass + 1)); printf 'ok   %-70s\n' "ints $dt $sched threads=$t $isa: every variant = $want_sum"
      else
        fail=$((fail + 1)); printf 'FAIL %-70s rc=%d %s\n' "ints $dt $sched threads=$t $isa" "$rc" "$bad"
      fi
      rm -f r.json
    done
  done
done

# --- 3. bad schedules: one line, exit 2, the existing --json unchanged
echo '{"keep": 1}' >keep.json
for s in "shuffle:" "shuffle:-1" "shuffle:x" "random:1" "shuffle:18446744073709551616" "shuffle:1:2"; do
  want 2 1 "sum --schedule '$s'" -- "$DL" sum --backend cpu --input ints32.npy --schedule "$s" --json keep.json
  same "  keep.json unchanged after --schedule '$s'" keep.json '{"keep": 1}'
done

echo "session 24 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
