#!/usr/bin/env bash
# Session 25 hostile sweep (docs/bad-input-session25.md): what the session built, tried as a
# hostile user would.
# 1. A flag that changes only some variants (--split-k, --schedule, attention's --split-size),
#    given when no chosen variant would feel it: one stderr line, exit status 2, an existing
#    --json / --save-output unchanged; in any flag order; accepted with a variant it changes.
# 2. The emulated CPUs (QEMU user mode, when installed): driftlab, driftlab_bench and the probe on
#    an AVX2-only Haswell and a pre-AVX2 IvyBridge -- a DRIFTLAB_ISA above the CPU, bad input
#    there, the bits of a sum and a predict against the native run -- and the check script's own
#    command line.
# Not in CI (Cli.FlagsThatChangeNoChosenVariantAreRefused and EndToEnd.IsaEmulatedCpus hold the
# essentials); run after a build in ./build:
#   tests/hostile_sweep_session25.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PROBE=${PROBE:-$ROOT/build/driftlab_cpu_probe}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

# --- 1. inert flags refused
echo '{"keep": 1}' >keep.json
printf 'keep' >keep.tree.npy
for v in invariant cublas; do
  want 2 1 "predict --variant $v --split-k 4" -- "$DL" predict --variant "$v" --split-k 4 --json keep.json
  same "  keep.json unchanged" keep.json '{"keep": 1}'
done
for v in tree invariant cublas; do
  want 2 1 "predict --variant $v --schedule shuffle:3" -- "$DL" predict --variant "$v" --schedule shuffle:3 --json keep.json
done
want 2 1 "predict --split-k 4 before --variant invariant" -- "$DL" predict --split-k 4 --variant invariant
want 2 1 "predict --variant invariant --save-output keep.npy --split-k 2" -- "$DL" predict --variant invariant --split-k 2 --save-output keep.npy
same "  keep.tree.npy unchanged" keep.tree.npy 'keep'
want 2 1 "predict --variant invariant --variant atomic --split-k 4 (twice: refused)" -- "$DL" predict --variant invariant --variant atomic --split-k 4
has "  the line says --variant twice" err.txt "--variant given twice"
want 2 1 "predict --tp 2 --split-k 2 (--tp's own refusal first)" -- "$DL" predict --tp 2 --simulate --split-k 2
want 2 1 "predict --variant bogus --split-k 2 (unknown variant)" -- "$DL" predict --variant bogus --split-k 2
want 2 1 "predict --variant invariant --split-k 0 (range first)" -- "$DL" predict --variant invariant --split-k 0
for v in serial tree exact; do
  for dt in f32 bf16; do
    want 2 1 "sum --variant $v --dtype $dt --schedule shuffle:9" -- "$DL" sum --variant "$v" --dtype "$dt" --schedule shuffle:9 --json keep.json
  done
done
same "  keep.json unchanged after the sums" keep.json '{"keep": 1}'
want 2 1 "sum --variant cub --schedule shuffle:1 (CUDA-only, no atomics)" -- "$DL" sum --variant cub --schedule shuffle:1
want 2 1 "sum --variant thrust --schedule shuffle:1" -- "$DL" sum --variant thrust --schedule shuffle:1
for v in split_count fixed_split single; do
  want 2 1 "attention --variant $v --schedule shuffle:2" -- "$DL" attention --variant "$v" --schedule shuffle:2 --json keep.json
done
for v in split_count atomic single; do
  want 2 1 "attention --variant $v --split-size 64" -- "$DL" attention --variant "$v" --split-size 64 --json keep.json
done
want 2 1 "attention --variant single --split-size 0 (range first)" -- "$DL" attention --variant single --split-size 0
same "  keep.json unchanged after attention" keep.json '{"keep": 1}'
want 2 1 "trace --compare runs:0,1 --schedule shuffle:1 (tree, the default)" -- "$DL" trace --compare runs:0,1 --schedule shuffle:1 --json keep.json
want 2 1 "trace --compare variant:invariant,invariant --split-k 2" -- "$DL" trace --compare variant:invariant,invariant --split-k 2
want 2 1 "trace --compare variant:tree,invariant --schedule shuffle:1" -- "$DL" trace --compare variant:tree,invariant --schedule shuffle:1
want 2 1 "trace --compare batch:1,4 --variant cublas --split-k 3" -- "$DL" trace --compare batch:1,4 --variant cublas --split-k 3
same "  keep.json unchanged after trace" keep.json '{"keep": 1}'
want 0 0 "trace --compare variant:tree,invariant --split-k 3 (tree splits)" -- "$DL" trace --compare variant:tree,invariant --split-k 3 --init-seed 1
want 0 0 "trace --compare variant:atomic,tree --schedule shuffle:2" -- "$DL" trace --compare variant:atomic,tree --schedule shuffle:2 --init-seed 1
want 0 0 "sum --schedule shuffle:3 (all variants)" -- "$DL" sum --backend cpu --n 5000 --runs 2 --schedule shuffle:3
want 0 0 "attention --split-size 16 (all variants)" -- "$DL" attention --backend cpu --batch 2 --heads 1 --head-dim 8 --kv-len 70 --split-size 16 --runs 1 --batch-sweep off
want 0 0 "predict --split-k 32 --schedule shuffle:4 (all variants)" -- "$DL" predict --split-k 32 --schedule shuffle:4 --runs 2

# attention --save-output (new this session): refused up front, nothing replaced
A=(attention --backend cpu --batch 2 --heads 1 --head-dim 8 --kv-len 64 --runs 1 --batch-sweep off)
want 2 1 "attention --save-output = --json" -- "$DL" "${A[@]}" --variant atomic --save-output keep.json --json keep.json
same "  keep.json unchanged" keep.json '{"keep": 1}'
want 1 1 "attention --save-output in a missing folder" -- "$DL" "${A[@]}" --save-output nofolder/x.npy
want 1 1 "attention --save-output a folder" -- "$DL" "${A[@]}" --variant single --save-output "$W"
printf 'keep' >sv.atomic.npy; mkdir -p sv.single.npy
want 1 1 "attention --save-output sv.npy, sv.single.npy a folder" -- "$DL" "${A[@]}" --save-output sv.npy
same "  sv.atomic.npy unchanged (checked before any is written)" sv.atomic.npy 'keep'
want 2 1 "attention --save-output '' (empty path)" -- "$DL" "${A[@]}" --save-output ''

# --- 2. emulated CPUs
CHECK="$ROOT/tests/check_isa_emulated.py"
want 2 1 "check_isa_emulated.py: no arguments" -- "$PY" "$CHECK"
want 2 1 "check_isa_emulated.py: a missing test binary" -- "$PY" "$CHECK" /nope "$DL" emu
want 2 1 "check_isa_emulated.py: a folder as driftlab" -- "$PY" "$CHECK" "$DL" "$ROOT" emu
want 1 1 "check_isa_emulated.py: WORK_DIR is a file" -- "$PY" "$CHECK" "$ROOT/build/driftlab_tests" "$DL" keep.json
same "  keep.json unchanged" keep.json '{"keep": 1}'
if command -v qemu-x86_64 >/dev/null; then  # $HAS, $IVY: sweep_lib.sh
  for cpu in HAS IVY; do
    Q=${!cpu}
    want 0 0 "$cpu: DRIFTLAB_ISA=avx512 above the CPU: capped, runs" -- env DRIFTLAB_ISA=avx512 $Q "$DL" sum --backend cpu --n 100000 --runs 2 --variant exact
    want 2 1 "$cpu: DRIFTLAB_ISA=avx1024" -- env DRIFTLAB_ISA=avx1024 $Q "$DL" sum --n 10
    want 2 1 "$cpu: sum --variant tree --schedule shuffle:1" -- $Q "$DL" sum --variant tree --schedule shuffle:1
    want 1 1 "$cpu: sum --input missing.npy" -- $Q "$DL" sum --input missing.npy
    want 0 0 "$cpu: driftlab_bench one sum benchmark" -- $Q "$BENCH" --benchmark_filter='^sum/cpu/f32/uniform/exact/65536/' --benchmark_min_time=0.01
    want 2 1 "$cpu: driftlab_bench --bogus-flag" -- $Q "$BENCH" --bogus-flag
    want 0 any "$cpu: driftlab_cpu_probe gemm 8 64 64 1" -- $Q "$PROBE" gemm 8 64 64 1
    want 2 1 "$cpu: driftlab_cpu_probe gemm 0 64 64" -- $Q "$PROBE" gemm 0 64 64
    want 0 0 "$cpu: attention, every variant" -- $Q "$DL" attention --backend cpu --batch 2 --heads 2 --head-dim 64 --kv-len 300 --runs 2 --batch-sweep 1,2 --save-output "att_$cpu.npy"
    want 0 0 "$cpu: trace batch:1,7 invariant" -- $Q "$DL" trace --backend cpu --layers 64,96,10 --init-seed 2 --variant invariant --compare batch:1,7
    has "  $cpu: trace finds no divergence" out.txt "first divergence: none"
  done
  want 0 0 "native attention, the same shape" -- "$DL" attention --backend cpu --batch 2 --heads 2 --head-dim 64 --kv-len 300 --runs 2 --batch-sweep 1,2 --save-output att_native.npy
  for v in split_count fixed_split single; do
    for cpu in HAS IVY; do
      if cmp -s "att_$cpu.$v.npy" "att_native.$v.npy"; then pass=$((pass + 1)); echo "ok   attention $v: $cpu's output bits = native"
      else fail=$((fail + 1)); echo "FAIL attention $v: $cpu's output differs from native"; fi
    done
  done
else
  echo "skip the emulated CPUs: qemu-x86_64 is not installed (scripts/setup.sh installs it)"
fi

echo "session 25 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
