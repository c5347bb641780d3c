#!/usr/bin/env bash
# Session 10 hostile sweep (docs/bad-input-session10.md): the surfaces this session touched --
# invariant_tc's benchmarks, the small-batch kernel's new routes (16-bit layers of even N, small
# grids) reached through `driftlab predict` -- tried as a hostile user on a machine without a GPU.
# Each case states the exit status it wants and whether stderr must be exactly one line.  Not in
# CI (its cases are in the unit tests or are the existing validation's); run after a build in ./build.
#   tests/hostile_sweep_session10.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...
# the benchmark binary: invariant_tc's names, bad flags around them
want 0 any "bench: invariant_tc listed" -- "$BENCH" --benchmark_list_tests --benchmark_filter=invariant_tc
grep -q '^dense/cuda/invariant_tc/B:4096/K:4096/N:4096/dtype:bf16' out.txt && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL invariant_tc 4096 not listed"; }
want 0 any "bench: invariant_tc without a GPU: skipped with the reason, JSON written" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_out=tc.json --benchmark_out_format=json
grep -q '"error_message": "no usable GPU' tc.json && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL tc.json lacks the skip reason"; }
want 2 1 "bench: --benchmark_repetitions=-1" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_repetitions=-1
want 2 1 "bench: --benchmark_repetitions=abc" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_repetitions=abc
want 2 1 "bench: --benchmark_min_time=-3" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_min_time=-3
want 2 1 "bench: --benchmark_min_time=1e999" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_min_time=1e999
want 2 1 "bench: an unknown flag" -- "$BENCH" --benchmark_filter=invariant_tc --tc=yes
want 2 1 "bench: an unbalanced filter regex" -- "$BENCH" "--benchmark_filter=invariant_tc(("
echo keep >kept.json
want 1 1 "bench: --benchmark_out into a missing folder" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_out=nodir/x.json
want 1 1 "bench: --benchmark_out is a folder" -- "$BENCH" --benchmark_filter=invariant_tc --benchmark_out=.
[ "$(cat kept.json)" = keep ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL kept.json changed"; }
# predict on the new 16-bit routes (the CPU backend here; the CUDA backend says why it cannot)
want 0 any "predict bf16, last layer N=10 (even: W by 4 bytes on a GPU)" -- "$DL" predict --dtype bf16 --layers 64,48,10 --batch 64 --runs 2 --init-seed 3 --json p1.json
want 0 any "predict f16, odd last layer N=9 (the tiles on a GPU)" -- "$DL" predict --dtype f16 --layers 64,48,9 --batch 7 --runs 2 --init-seed 3
want 0 any "predict bf16, N=2, batch 128 (mid batch)" -- "$DL" predict --dtype bf16 --layers 32,2 --batch 128 --runs 2 --init-seed 3 --dropout 0
want 0 any "predict f32, batch sweep over the small-grid launches" -- "$DL" predict --layers 64,1024,10 --batch 64 --runs 2 --init-seed 3 --batch-sweep 1,7,64,65,128
want 1 1 "predict --backend cuda without a GPU" -- "$DL" predict --backend cuda --dtype bf16 --layers 64,48,10 --batch 64 --runs 2
want 2 1 "predict --dtype bf15" -- "$DL" predict --dtype bf15 --layers 64,48,10
want 2 1 "predict --layers with a 0" -- "$DL" predict --dtype bf16 --layers 64,0,10
want 2 1 "predict --layers 64,,10" -- "$DL" predict --dtype bf16 --layers 64,,10
want 2 1 "predict --variant invariant_tc (not a variant: benchmark-only)" -- "$DL" predict --variant invariant_tc
want 2 1 "predict --batch 0" -- "$DL" predict --dtype bf16 --batch 0
want 2 1 "predict --batch -64" -- "$DL" predict --dtype bf16 --batch -64
want 2 1 "predict --batch 1e3" -- "$DL" predict --dtype bf16 --batch 1e3
want 2 1 "predict --batch 99999999999999999999" -- "$DL" predict --dtype bf16 --batch 99999999999999999999
want 2 1 "predict --split-k 0" -- "$DL" predict --dtype bf16 --split-k 0
want 2 1 "predict --split-k 33" -- "$DL" predict --dtype bf16 --split-k 33
want 2 1 "predict --threads -1" -- "$DL" predict --threads -1
want 2 1 "predict --batch-sweep 1,,7" -- "$DL" predict --batch-sweep 1,,7
want 2 1 "dense: an unknown variant in sum" -- "$DL" sum --variant invariant_tc
echo keep >p2.json
want 2 1 "predict --json kept on a bad flag" -- "$DL" predict --dtype bf16 --batch 0 --json p2.json
[ "$(cat p2.json)" = keep ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL p2.json changed"; }
want 1 1 "predict --json into a missing folder" -- "$DL" predict --dtype bf16 --layers 16,10 --runs 1 --json nodir/p.json
# a killed run leaves no half-written output
( "$DL" predict --layers 784,4096,4096,10 --batch 64 --runs 50 --json big.json >/dev/null 2>big.err & p=$!; sleep 2; kill -TERM $p; wait $p; echo $? >big.rc )
[ ! -e big.json ] && [ "$(wc -l <big.err)" -le 1 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL a killed predict left big.json or several lines"; }
echo "session 10 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
