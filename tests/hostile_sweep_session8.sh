#!/usr/bin/env bash
# Session 8 hostile sweep (docs/bad-input-session8.md): a flag given twice, --init-seed beside
# --weights, driftlab_bench repeats.  Not in CI (BadInput.FlagGivenTwice* and BadInput.Bench* are).
#   tests/hostile_sweep_session8.sh     (after a build in ./build; .venv from scripts/setup.sh)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
W=$(mktemp -d)
"$ROOT/.venv/bin/python" -c "import numpy as np; np.savez(\"$W/w.npz\", W0=np.full((3,4),0.25,np.float32), b0=np.zeros(4,np.float32), W1=np.full((4,2),-0.5,np.float32), b1=np.array([0.125,0],np.float32))"
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
n=0
run() {  # name, expected exit, needle, command...
  local name=$1 want=$2 needle=$3; shift 3
  n=$((n+1))
  printf '{"mine":1}\n' > out.json
  local before; before=$(sha1sum out.json)
  timeout 120 "$@" > o.txt 2> e.txt; local rc=$?
  local lines; lines=$(wc -l < e.txt)
  local after; after=$(sha1sum out.json)
  local ok=ok
  [ "$rc" = "$want" ] || ok=BAD
  [ "$want" = 0 ] || { [ "$lines" = 1 ] || ok=BAD; grep -qF -- "$needle" e.txt || ok=BAD; [ "$before" = "$after" ] || ok=BAD; }
  printf '%-3s %-4s rc=%s lines=%s %-28s %s\n' "$n" "$ok" "$rc" "$lines" "$name" "$(head -c 150 e.txt | tr '\n' ' ')"
}
run sum_n_twice 2 "--n given twice" $DL sum --n 1 --n 2 --json out.json
run sum_n_same_value 2 "--n given twice" $DL sum --n=1 --n=1 --json out.json
run sum_runs_mixed 2 "--runs given twice" $DL sum --runs 2 --runs=3 --json out.json
run sum_h_h 2 "--help given twice" $DL sum -h -h
run sum_h_help 2 "--help given twice" $DL sum -h --help
run sum_help_help 2 "--help given twice" $DL sum --help --help
run sum_case 2 "unknown option '--N'" $DL sum --n 1 --N 2 --json out.json
run sum_empty_second 2 "--n given twice" $DL sum --n=1 --n= --json out.json
run sum_far_apart 2 "--runs given twice" $DL sum --runs 3 --threads 1 --variant tree --runs 3 --json out.json
run sum_variant_twice 2 "--variant given twice" $DL sum --variant tree --variant exact --json out.json
run sum_dist_twice 2 "--dist given twice" $DL sum --dist normal --dist=normal --json out.json
run sum_json_twice 2 "--json given twice" $DL sum --n 8 --json out.json --json out.json
run predict_batch 2 "--batch given twice" $DL predict --batch 1 --batch 2 --json out.json
run predict_dropout 2 "--dropout given twice" $DL predict --dropout 0.5 --dropout 0.5 --json out.json
run predict_seed_weights 2 "--init-seed and --weights cannot be used together" $DL predict --backend cpu --init-seed 1 --weights w.npz --json out.json
run predict_weights_seed 2 "--init-seed and --weights cannot be used together" $DL predict --backend cpu --weights w.npz --init-seed=0 --json out.json
run predict_tp_seed_weights 2 "--init-seed and --weights cannot be used together" $DL predict --tp 2 --simulate --weights w.npz --init-seed 4 --json out.json
run trace_compare_twice 2 "--compare given twice" $DL trace --compare runs:0,1 --compare batch:1,2 --json out.json
run trace_seed_weights 2 "--init-seed and --weights cannot be used together" $DL trace --weights w.npz --init-seed 1 --compare runs:0,1 --json out.json
run trace_row_twice 2 "--row given twice" $DL trace --compare batch:1,8 --row 1 --row 1 --json out.json
run attention_batch 2 "--batch given twice" $DL attention --batch 1 --batch 1 --json out.json
run attention_kvlens 2 "--kv-lens given twice" $DL attention --kv-lens 4,4 --kv-lens 4 --json out.json
run allreduce_ranks 2 "--ranks given twice" $DL allreduce --simulate --ranks 2 --ranks=2 --json out.json
run variants_json 2 "--json given twice" $DL variants --json --json
run scenarios_quick 2 "--quick given twice" $DL scenarios --quick --quick=false --json out.json
run report_out 2 "--out given twice" $DL report --quick --out a --out b
run report_same_out 2 "--out given twice" $DL report --out d --out d
run bench_filter_same 2 "--benchmark_filter given twice" $BENCH --benchmark_filter=a --benchmark_filter=a
run bench_bad_then_twice 2 "expected a whole number" $BENCH --benchmark_repetitions=2 --benchmark_repetitions=abc
run bench_list_twice 2 "--benchmark_list_tests given twice" $BENCH --benchmark_list_tests --benchmark_list_tests=false
run bench_out_twice 2 "--benchmark_out given twice" $BENCH --benchmark_filter=nomatch --benchmark_out=out.json --benchmark_out=out.json
run bench_v_twice 2 "--v given twice" $BENCH --v=1 --v=2
# what must still work
run predict_weights_children 0 "" $DL predict --backend cpu --weights w.npz --processes 2 --runs 1 --variant tree
run predict_weights_tp_sim 0 "" $DL predict --tp 1,2 --simulate --weights w.npz --runs 1
run predict_unseeded_children 0 "" $DL predict --backend cpu --processes 2 --runs 1 --variant tree
run predict_seeded_children 0 "" $DL predict --backend cpu --init-seed 5 --processes 2 --runs 1 --variant tree
run sum_bool_once 0 "" $DL sum --n 64 --runs 2 --backend cpu
run bench_once 0 "" $BENCH --benchmark_filter=sum/cpu/f32/uniform/tree/1024/ --benchmark_min_time=0.01
