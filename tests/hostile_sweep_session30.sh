#!/usr/bin/env bash
# Session 30 hostile sweep (docs/bad-input-session30.md): the CPU pool whose waiting threads now
# spin about 100 us before they sleep (kernels/cpu/thread_pool.h), tried as a hostile user would.
# 1. Bits: the deterministic sums (tree, exact; f32 and f64), attention (single, fixed_split) and
#    predict (invariant, child processes included) give the same bits with 1, 2, 3, 8 and 64
#    threads, and pinned to one CPU (taskset: more threads than CPUs, so the pool does not spin).
# 2. Pinned to one CPU with 2 threads, a run of many small parallel calls is not slowed by a
#    spinning thread taking the only CPU (within 3x of 1 thread).
# 3. Bad inputs around it: --threads out of range or malformed, threads that cannot be started
#    (address space), SIGINT and SIGTERM while the workers spin, memory over 20x more --runs.
# Not in CI (ThreadPool.* holds the essentials); run after a build in ./build:
#   tests/hostile_sweep_session30.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

bits() {  # the sum's result_bits from r.json
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"][0]["result_bits"])' "$1"
}

# --- 1. the same bits at every thread count, and pinned to one CPU
for spec in "f32 tree 3000000" "f32 exact 3000000" "f64 tree 1000000" "f64 exact 1000000" "f32 tree 262144"; do
  set -- $spec
  ref=""
  good=1
  for t in 1 2 3 8 64 pin2; do
    if [ $t = pin2 ]; then
      taskset -c 0 "$DL" sum --backend cpu --dtype $1 --variant $2 --n $3 --runs 3 --threads 2 --json r.json >/dev/null 2>err.txt || good=0
    else
      "$DL" sum --backend cpu --dtype $1 --variant $2 --n $3 --runs 3 --threads $t --json r.json >/dev/null 2>err.txt || good=0
    fi
    b=$(bits r.json 2>/dev/null)
    [ -z "$ref" ] && ref=$b
    [ "$b" = "$ref" ] || { good=0; echo "     threads $t: $b, not $ref"; }
  done
  [ $good = 1 ] && ok "sum $1 $2 n=$3: the same bits at 1/2/3/8/64 threads and pinned ($ref)" || bad "sum $1 $2 n=$3" "bits differ or a run failed"
done

for v in single fixed_split; do
  good=1
  for t in 1 2 3 8 pin2; do
    if [ $t = pin2 ]; then
      taskset -c 0 "$DL" attention --backend cpu --variant $v --batch 3 --runs 3 --threads 2 --save-output a_$t.npy >/dev/null 2>err.txt || good=0
    else
      "$DL" attention --backend cpu --variant $v --batch 3 --runs 3 --threads $t --save-output a_$t.npy >/dev/null 2>err.txt || good=0
    fi
    cmp -s a_1.npy a_$t.npy || { good=0; echo "     threads $t differs"; }
  done
  [ $good = 1 ] && ok "attention $v: the same output file at 1/2/3/8 threads and pinned" || bad "attention $v" "outputs differ or a run failed"
done

# A model big enough that its layers run on the pool (2^18 multiply-adds and more), seeded (an
# unseeded init differs per process by design: the article's point), 2 child processes.
for v in invariant tree; do
  for t in 1 2 3 8; do
    "$DL" predict --backend cpu --variant $v --layers 784,512,512,10 --batch 16 --init-seed 7 \
      --runs 4 --processes 2 --threads $t --json p.json --save-output p_$t.npy >/dev/null 2>err.txt
    d=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"][0]["distinct_outputs"])' p.json 2>/dev/null)
    if [ "$d" = 1 ] && cmp -s p_1.npy p_$t.npy; then
      ok "predict $v, 784-512-512-10 batch 16, 2 child processes, $t threads: 1 distinct, = 1 thread's"
    else
      bad "predict $v threads $t" "distinct_outputs=$d $(head -c 200 err.txt)"
    fi
  done
done

# --- 2. pinned to one CPU: no spinning thread takes it (the pool does not spin there)
t1=$( { /usr/bin/time -f %e taskset -c 0 "$DL" sum --backend cpu --variant tree --n 262144 --runs 3000 --threads 1 >/dev/null; } 2>&1 | tail -1)
t2=$( { /usr/bin/time -f %e taskset -c 0 "$DL" sum --backend cpu --variant tree --n 262144 --runs 3000 --threads 2 >/dev/null; } 2>&1 | tail -1)
if "$PY" -c "import sys; sys.exit(0 if float('$t2') <= 3 * float('$t1') + 0.5 else 1)" 2>/dev/null; then
  ok "pinned to one CPU, 3000 sums of 2^18: 2 threads ${t2}s, 1 thread ${t1}s (within 3x)"
else
  bad "pinned to one CPU, 2 threads" "${t2}s against ${t1}s at 1 thread"
fi

# --- 3. bad inputs
want 2 1 "sum --threads -1" -- "$DL" sum --backend cpu --n 1000 --threads -1
want 2 1 "sum --threads 4097" -- "$DL" sum --backend cpu --n 1000 --threads 4097
want 2 1 "sum --threads 2x" -- "$DL" sum --backend cpu --n 1000 --threads 2x
want 2 1 "sum --threads ''" -- "$DL" sum --backend cpu --n 1000 --threads ''
want 2 1 "sum --threads 1e3" -- "$DL" sum --backend cpu --n 1000 --threads 1e3
want 2 1 "sum --threads 99999999999999999999" -- "$DL" sum --backend cpu --n 1000 --threads 99999999999999999999
want 2 1 "attention --threads -3" -- "$DL" attention --backend cpu --threads -3
want 2 1 "predict --threads 5000" -- "$DL" predict --backend cpu --threads 5000
want 0 0 "sum --threads 4096 (allowed: 4095 workers, none spins)" -- "$DL" sum --backend cpu --n 300000 --variant tree --runs 2 --threads 4096
want 1 1 "sum --threads 4000 under ulimit -v 3000000 (thread stacks do not fit)" -- bash -c 'ulimit -v 3000000; "$1" sum --backend cpu --n 300000 --variant tree --threads 4000' _ "$DL"
echo keep > keep.json
want 1 1 "predict --threads 4000 under ulimit -v 3000000: existing --json kept" -- bash -c 'ulimit -v 3000000; "$1" predict --backend cpu --threads 4000 --json keep.json' _ "$DL"
same "  ... keep.json unchanged" keep.json keep
# Signals while the workers spin: many small parallel sums back to back.
want 1 1 "sum: SIGINT during 10^6 parallel sums of 2^18 (workers spinning)" -- timeout --preserve-status -s INT 3 "$DL" sum --backend cpu --variant tree --n 262144 --runs 1000000 --threads 2
want 1 1 "sum: SIGTERM during 10^6 parallel sums of 2^18" -- timeout --preserve-status -s TERM 3 "$DL" sum --backend cpu --variant exact --n 262144 --runs 1000000 --threads 2
want 2 1 "attention --runs 1000000 (above its 10000)" -- "$DL" attention --backend cpu --batch 1 --runs 1000000 --threads 2
want 1 1 "attention: SIGINT during 10000 runs at batch 1 (workers spinning)" -- timeout --preserve-status -s INT 2 "$DL" attention --backend cpu --batch 1 --runs 10000 --kv-len 65536 --threads 2
echo keep > keep2.json
want 1 1 "sum: SIGINT with --json over an existing file" -- timeout --preserve-status -s INT 3 "$DL" sum --backend cpu --variant tree --n 262144 --runs 1000000 --threads 2 --json keep2.json
same "  ... keep2.json unchanged" keep2.json keep
# Memory does not grow with --runs.
m1=$( { /usr/bin/time -f %M "$DL" sum --backend cpu --variant tree --n 262144 --runs 100 --threads 2 >/dev/null; } 2>&1 | tail -1)
m2=$( { /usr/bin/time -f %M "$DL" sum --backend cpu --variant tree --n 262144 --runs 2000 --threads 2 >/dev/null; } 2>&1 | tail -1)
if [ -n "$m1" ] && [ -n "$m2" ] && [ "$m2" -le $((m1 + 4096)) ]; then
  ok "sum --runs 100 -> 2000: peak RSS ${m1} -> ${m2} KB"
else
  bad "sum --runs 2000 memory" "${m1} -> ${m2} KB"
fi

echo
echo "hostile sweep, session 30: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
