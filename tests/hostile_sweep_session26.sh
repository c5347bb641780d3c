#!/usr/bin/env bash
# Session 26 hostile sweep (docs/bad-input-session26.md): what the session built, tried as a
# hostile user would.
# 1. Every CPU row's device names the instruction set its kernels ran ("..., LEVEL kernels"):
#    in sum, predict, attention and trace, in text and JSON, under each DRIFTLAB_ISA and a bad one;
#    on QEMU's emulated CPUs (when installed) a DRIFTLAB_ISA above the CPU names the CPU's level.
# 2. The report's machine.json (cpu_kernels) and REPORT.md; the plot script on a machine.json
#    without the field (older reports) and with a wrong type.
# 3. Dispatch.* (which level's path each family ran) under each DRIFTLAB_ISA, a bad one, and on
#    the emulated CPUs.
# Not in CI (Dispatch.* and the tests of each command hold the essentials); run after a build in
# ./build:
#   tests/hostile_sweep_session26.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
TESTS=${TESTS:-$ROOT/build/driftlab_tests}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

best=$(best_isa)
echo "this CPU by /proc/cpuinfo: $best"
devices() {  # every row's device in a JSON file, one a line
  "$PY" -c "import json,sys; [print(r.get('device')) for r in json.load(open(sys.argv[1]))['rows']]" "$1"
}
all_end() {  # DESC FILE SUFFIX: every row's device in FILE ends with SUFFIX
  local bad
  bad=$(devices "$2" | grep -vc -- "$3\$")
  if [ "$bad" = 0 ] && [ -n "$(devices "$2")" ]; then pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"
  else fail=$((fail + 1)); printf 'FAIL %-70s (%s rows without "%s")\n' "$1" "$bad" "$3"; devices "$2" | head -2; fi
}

# --- 1. the device names the kernels' level
for isa in "" avx512 avx2 scalar; do
  want_level=$isa
  [ -z "$isa" ] && want_level=$best
  [ "$isa" = avx512 ] && want_level=$best
  [ "$isa" = avx2 ] && [ "$best" = scalar ] && want_level=scalar
  tag=${isa:-unset}
  want 0 0 "sum, DRIFTLAB_ISA=$tag" -- env DRIFTLAB_ISA="$isa" "$DL" sum --backend cpu --n 100000 --runs 2 --json "sum_$tag.json"
  all_end "  every sum row: '$want_level kernels'" "sum_$tag.json" ", $want_level kernels"
  has "  the table says it" out.txt "$want_level kernels"
  want 0 0 "predict, DRIFTLAB_ISA=$tag" -- env DRIFTLAB_ISA="$isa" "$DL" predict --backend cpu --layers 32,64,10 --batch 8 --runs 2 --json "pred_$tag.json"
  all_end "  every predict row: '$want_level kernels'" "pred_$tag.json" ", $want_level kernels"
  want 0 0 "attention, DRIFTLAB_ISA=$tag" -- env DRIFTLAB_ISA="$isa" "$DL" attention --backend cpu --batch 2 --heads 2 --head-dim 64 --kv-len 200 --runs 2 --batch-sweep off --json "att_$tag.json"
  all_end "  every attention row: '$want_level kernels'" "att_$tag.json" ", $want_level kernels"
done
want 0 0 "trace, DRIFTLAB_ISA=avx2" -- env DRIFTLAB_ISA=avx2 "$DL" trace --backend cpu --layers 32,64,10 --init-seed 2 --compare batch:1,7 --json trace.json
tl=$([ "$best" = scalar ] && echo scalar || echo avx2)
has "  trace's JSON names '$tl kernels'" trace.json "$tl kernels"
for bad in AVX2 "avx2 " avx sse2 "$(printf 'avx\n2')" "$(head -c 300 /dev/zero | tr '\0' a)"; do
  want 2 1 "DRIFTLAB_ISA='$(printf %q "$bad" | cut -c1-20)': refused before any work" -- env DRIFTLAB_ISA="$bad" "$DL" sum --backend cpu --n 1000 --json bad.json
done
[ ! -e bad.json ] && { pass=$((pass + 1)); echo "ok   no bad.json written"; } || { fail=$((fail + 1)); echo "FAIL bad.json written"; }
echo '{"keep": 1}' >keep.json
want 2 1 "DRIFTLAB_ISA=bogus with an existing --json" -- env DRIFTLAB_ISA=bogus "$DL" predict --backend cpu --json keep.json
same "  keep.json unchanged" keep.json '{"keep": 1}'
want 2 1 "DRIFTLAB_ISA=bogus, attention" -- env DRIFTLAB_ISA=bogus "$DL" attention --backend cpu
want 2 1 "DRIFTLAB_ISA=bogus, trace" -- env DRIFTLAB_ISA=bogus "$DL" trace --backend cpu

# --- 2. the report and the plot script
want 0 any "report --quick, DRIFTLAB_ISA=scalar" -- env DRIFTLAB_ISA=scalar "$DL" report --quick --backend cpu --out rep_scalar
has "  machine.json: cpu_kernels scalar" rep_scalar/machine.json '"cpu_kernels": "scalar"'
has "  REPORT.md: scalar kernels" rep_scalar/REPORT.md ", scalar kernels (the instruction set"
has "  sum_drift.json rows: scalar kernels" rep_scalar/sum_drift.json "scalar kernels"
"$PY" - rep_scalar/machine.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
del d["cpu_kernels"]
json.dump(d, open("machine_old.json", "w"))
d["cpu_kernels"] = 5
json.dump(d, open("machine_badtype.json", "w"))
EOF
mkdir -p old bad
cp -r rep_scalar/. old/ && cp machine_old.json old/machine.json
cp -r rep_scalar/. bad/ && cp machine_badtype.json bad/machine.json
want 0 any "plots from a report whose machine.json has no cpu_kernels (older reports)" -- "$PY" "$ROOT/plots/plot.py" --in old --out old_figs
want 1 1 "plots from a machine.json whose cpu_kernels is a number" -- "$PY" "$ROOT/plots/plot.py" --in bad --out bad_figs
has "  the line names the field" err.txt "cpu_kernels"

# --- 3. Dispatch.* under each DRIFTLAB_ISA
for isa in "" avx512 avx2 scalar; do
  want 0 any "Dispatch.*, DRIFTLAB_ISA=${isa:-unset}" -- env DRIFTLAB_ISA="$isa" "$TESTS" --gtest_filter='Dispatch.*'
  hasnt "  none skipped" out.txt "[  SKIPPED ]"
done
want 0 any "Dispatch.*, DRIFTLAB_ISA=bogus: skipped with the reason" -- env DRIFTLAB_ISA=bogus "$TESTS" --gtest_filter='Dispatch.EachFamily*'
has "  the reason" out.txt "bad DRIFTLAB_ISA"

if command -v qemu-x86_64 >/dev/null; then  # $HAS, $IVY: sweep_lib.sh
  for cpu in HAS IVY; do
    Q=${!cpu}
    lvl=$([ $cpu = HAS ] && echo avx2 || echo scalar)
    want 0 0 "$cpu: sum, DRIFTLAB_ISA=avx512 above the CPU" -- env DRIFTLAB_ISA=avx512 $Q "$DL" sum --backend cpu --n 100000 --runs 2 --json "q_$cpu.json"
    all_end "  $cpu: every row names '$lvl kernels'" "q_$cpu.json" ", $lvl kernels"
    want 0 any "$cpu: Dispatch.*" -- $Q "$TESTS" --gtest_filter='Dispatch.*'
    hasnt "  $cpu: none failed (Dispatch.* has grown since session 26)" out.txt "[  FAILED  ]"
  done
else
  echo "skip the emulated CPUs: qemu-x86_64 is not installed (scripts/setup.sh installs it)"
fi

echo "session 26 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
