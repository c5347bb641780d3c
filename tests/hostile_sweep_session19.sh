#!/usr/bin/env bash
# Session 19 hostile sweep (docs/bad-input-session19.md): the CPU attention decode's new tile code
# (kernels/cpu/attention.cpp: step d with the accumulators in vector registers, in groups of 8, 4
# and 1 vectors; an AVX2 8x8 transpose of K tiles), tried through `driftlab attention` as a hostile
# user would.  Head dims on every group size and on the plain loop (1, 7, 8, 16, 33, 48, 64, 96,
# 112, 128, 200, 256), KV lengths on and off the 32-token tile (1, 31, 32, 33, 100, 257), split
# sizes, 1 and 2 threads: at DRIFTLAB_ISA=avx512, avx2 and scalar every run must exit 0, each
# deterministic variant (single, fixed_split) must give one distinct output over its runs, and the
# three levels and both thread counts must print the same ref_max_rel_err and batch_max_ulp for it
# (a proxy for equal bits: the command line does not print the outputs;
# Attention.CpuFollowsTheWrittenOrderBitForBitAtEveryVectorWidth compares every bit).  Then bad
# flags: one stderr line, exit 2, an existing --json unchanged.  Not in CI; run after a build in
# ./build:
#   tests/hostile_sweep_session19.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

# case DESC ARGS...: `attention ARGS --variant all` at every level and thread count; the
# deterministic variants' figures (ref_max_rel_err, batch_max_ulp) must agree across all six runs.
case_() {
  local desc=$1 isa t bad=0 first="" got; shift
  for isa in avx512 avx2 scalar; do
    for t in 1 2; do
      DRIFTLAB_ISA=$isa timeout 120 "$DL" attention --backend cpu --threads "$t" --runs 3 "$@" \
        --json "r.$isa.$t.json" >out.txt 2>err.txt || { bad=1; echo "     $isa/$t: exit $? $(head -1 err.txt)"; continue; }
      got=$("$PY" - "r.$isa.$t.json" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
out = []
for r in rows:
    if r["variant"] in ("single", "fixed_split"):
        assert r["distinct_outputs"] == 1, r
        out.append("%s %r %r" % (r["variant"], r["ref_max_rel_err"], r.get("batch_max_ulp")))
print(";".join(out))
PYEOF
) || { bad=1; echo "     $isa/$t: a deterministic variant drifted or the JSON is unreadable"; continue; }
      if [ -z "$first" ]; then first=$got
      elif [ "$got" != "$first" ]; then bad=1; echo "     $isa/$t: $got (avx512/1: $first)"; fi
    done
  done
  if [ "$bad" -eq 0 ]; then pass=$((pass + 1)); printf 'ok   %-70s\n' "$desc"
  else fail=$((fail + 1)); printf 'FAIL %-70s\n' "$desc"; fi
}

S=(--batch 2 --heads 2)
for d in 1 7 8 16 33 48 64 96 112 128 200 256; do
  case_ "head dim $d, KV 100 and 257, split 64" "${S[@]}" --head-dim "$d" --kv-lens 100,257 --split-size 64 --batch-sweep 1,2
done
for L in 1 31 32 33; do
  case_ "head dim 128, KV $L (short tiles)" "${S[@]}" --head-dim 128 --kv-len "$L" --split-size 32 --batch-sweep off
done
case_ "head dim 64, split size 1 (a chunk a token)" "${S[@]}" --head-dim 64 --kv-len 70 --split-size 1 --batch-sweep off
case_ "head dim 112, split size 33 (chunks off the tile)" "${S[@]}" --head-dim 112 --kv-len 300 --split-size 33 --batch-sweep off
case_ "head dim 48, other KV lengths 1 and 600" --heads 3 --head-dim 48 --kv-len 90 --other-kv-lens 1,600 --batch-sweep 1,3
case_ "head dim 256, seed 7, 4 sequences" --batch 4 --heads 1 --head-dim 256 --kv-len 65 --seed 7 --batch-sweep off

for bad in "--head-dim 0" "--head-dim 257" "--head-dim 12x" "--kv-len 0" "--split-size 0" "--kv-lens 5,0" \
           "--threads -1" "--runs 0" "--variant fast" "--batch-sweep 0"; do
  echo '{"keep": true}' > keep.json
  # shellcheck disable=SC2086
  want 2 1 "attention $bad" -- "$DL" attention --backend cpu $bad --json keep.json
  same "attention $bad leaves --json alone" keep.json '{"keep": true}'
done
echo '{"keep": true}' > keep.json
want 2 1 "DRIFTLAB_ISA=avx1024 attention" -- env DRIFTLAB_ISA=avx1024 "$DL" attention --backend cpu --kv-len 40 --json keep.json
same "a bad DRIFTLAB_ISA leaves --json alone" keep.json '{"keep": true}'
# --threads 0 is every hardware thread (as the help says), not an error: it runs and writes.
want 0 0 "attention --threads 0 (every hardware thread)" -- "$DL" attention --backend cpu --threads 0 --kv-len 40 --batch-sweep off --json t0.json
has "attention --threads 0 wrote its rows" t0.json '"variant": "fixed_split"'

echo "session 19 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
