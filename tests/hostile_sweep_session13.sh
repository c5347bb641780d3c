#!/usr/bin/env bash
# Session 13 hostile sweep (docs/bad-input-session13.md): the surfaces this session touched --
# every stop signal (signals.h's kStopSignals), predict's outputs replaced together (OutputGroup),
# Open MPI variables left in a shell, and cuBLAS loaded on first use (the address-space limits
# every command now runs under) -- tried as a hostile user on a machine without a GPU.  Each case
# states the exit status it wants and whether stderr must be exactly one line; the file cases also
# check that no file changed.  Not in CI (BadInput.* holds the essentials); run after a build in
# ./build:  tests/hostile_sweep_session13.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PROBE=${PROBE:-$ROOT/build/driftlab_cpu_probe}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

no_temps() {  # no_temps DESC: no hidden temporary left in the scratch folder
  if ls -A | grep -q '\.tmp-'; then fail=$((fail + 1)); printf 'FAIL %-70s (%s)\n' "$1" "$(ls -A | grep '\.tmp-' | head -1)"
  else pass=$((pass + 1)); printf 'ok   %-70s\n' "$1"; fi
}
stopped() {  # stopped SIG DESC -- CMD...: started in its own group, signalled after 1.5 s
  local sig=$1 desc=$2; shift 3
  want 1 1 "$desc" -- bash -c 'setsid env --default-signal=INT,QUIT "$@" >/dev/null & sleep 1.5; kill -'"$sig"' -$!; wait $!' _ "$@"
  grep -q "stopped by SIG$sig" err.txt || { fail=$((fail + 1)); echo "FAIL   its line does not name SIG$sig: $(cat err.txt)"; }
}

# --- every stop signal, on each binary; an existing --json kept, no temporary left
for sig in INT TERM HUP QUIT USR1 USR2 ALRM VTALRM PROF XCPU PWR; do
  echo old >out.json
  stopped "$sig" "sum stopped by SIG$sig" -- "$DL" sum --backend cpu --n 4000000 --runs 100000 --json out.json
  same "  sum's --json kept after SIG$sig" out.json old
done
for sig in USR1 ALRM PWR; do
  echo old >o.npy
  stopped "$sig" "predict --save-output stopped by SIG$sig" -- "$DL" predict --backend cpu --layers 784,4096,4096,10 --runs 100000 --save-output o.npy
  same "  predict's --save-output kept after SIG$sig" o.npy old
  stopped "$sig" "predict --processes 2 stopped by SIG$sig" -- "$DL" predict --backend cpu --processes 2 --layers 784,4096,4096,10 --runs 100000
  stopped "$sig" "trace stopped by SIG$sig" -- "$DL" trace --backend cpu --layers 784,8192,8192,10 --compare batch:1,8192
  stopped "$sig" "attention stopped by SIG$sig" -- "$DL" attention --backend cpu --batch 16 --kv-len 16384 --runs 10000
  echo '{"k":1}' >b.json
  want 1 any "driftlab_bench stopped by SIG$sig" -- bash -c 'setsid "$1" --benchmark_filter=sum/cpu --benchmark_min_time=0.05 --benchmark_out=b.json >/dev/null & sleep 1.5; kill -'"$sig"' -$!; wait $!' _ "$BENCH"
  tail -1 err.txt | grep -q "driftlab_bench: stopped by SIG$sig" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   bench's last line: $(tail -1 err.txt)"; }
  same "  bench's --benchmark_out kept after SIG$sig" b.json '{"k":1}'
  stopped "$sig" "probe stopped by SIG$sig" -- "$PROBE" gemm 256 256 256 1000000
done
mkdir -p tmp
stopped USR2 "scenarios stopped by SIGUSR2" -- env TMPDIR="$PWD/tmp" "$DL" scenarios --backend cpu
[ -z "$(ls -A tmp)" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   scenarios left $(ls tmp)"; }
# the report's progress lines go to stderr as it runs (progress.h): its last line is the stop's
want 1 any "report stopped by SIGVTALRM" -- bash -c 'setsid "$1" report --quick --backend cpu --out rep >/dev/null & sleep 1.5; kill -VTALRM -$!; wait $!' _ "$DL"
[ "$(tail -1 err.txt)" = "driftlab: stopped by SIGVTALRM" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   report's last line: $(tail -1 err.txt)"; }
[ ! -e rep ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   report left rep/"; }
# an ignored signal stays ignored (nohup): SIGUSR1 ignored by the parent shell does not stop the run
want 0 any "SIGUSR1 ignored before the start stays ignored" -- bash -c 'trap "" USR1; "$1" sum --backend cpu --n 100000 --runs 300 & p=$!; sleep 0.5; kill -USR1 $p; wait $p' _ "$DL"
# the soft CPU time limit: SIGXCPU, one line
want 1 1 "ulimit -S -t 1: stopped by SIGXCPU" -- bash -c 'ulimit -S -t 1; "$1" sum --backend cpu --n 4000000 --runs 100000 >/dev/null' _ "$DL"

# --- predict's outputs replaced together
echo OLDJ >j.json; echo OLDN >o.tree.npy; echo OLDN >o.atomic.npy
want 1 1 "ulimit -f 1: the --json after the .npy files does not fit" -- bash -c 'ulimit -f 1; "$1" predict --backend cpu --runs 1 --batch 2 --variant all --save-output o.npy --json j.json >/dev/null' _ "$DL"
same "  --json kept" j.json OLDJ; same "  o.tree.npy kept" o.tree.npy OLDN; same "  o.atomic.npy kept" o.atomic.npy OLDN; no_temps "  no temporary left"
want 1 1 "a full standard output after the .npy files" -- bash -c '"$1" predict --backend cpu --runs 1 --batch 2 --variant all --save-output o.npy --json j.json >/dev/full' _ "$DL"
same "  --json kept" j.json OLDJ; same "  o.tree.npy kept" o.tree.npy OLDN; no_temps "  no temporary left"
want 1 1 "a closed standard output" -- bash -c '"$1" predict --backend cpu --runs 1 --batch 2 --save-output o.tree.npy --json j.json >&-' _ "$DL"
same "  --json kept" j.json OLDJ; same "  o.tree.npy kept" o.tree.npy OLDN
mkdir -p sub; echo OLDJ >sub/j.json
want 0 0 "--json and --save-output in two folders, both replaced" -- "$DL" predict --backend cpu --runs 1 --batch 2 --variant tree --save-output o.tree.npy --json sub/j.json
[ "$(head -c 6 o.tree.npy | tail -c 5)" = "NUMPY" ] && grep -q '"command"' sub/j.json && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   both outputs replaced"; }
no_temps "  no temporary left after a success"
ln -sf real.npy link.npy; echo OLDR >real.npy; echo OLDJ >j.json
want 1 1 "a symlinked --save-output, the table failing after it" -- bash -c '"$1" predict --backend cpu --runs 1 --batch 2 --variant tree --save-output link.npy --json j.json >/dev/full' _ "$DL"
same "  the link's file kept" real.npy OLDR; [ -L link.npy ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL   link replaced"; }
want 2 1 "--json naming a variant's file (the group refuses before any work)" -- "$DL" predict --backend cpu --runs 1 --json x.invariant.npy --save-output x.npy
want 1 1 "a --save-output folder not writable (found before the work)" -- bash -c 'mkdir -p ro; chmod 555 ro; setpriv --reuid=65534 --regid=65534 --clear-groups "$1" predict --backend cpu --runs 1 --save-output ro/o.npy; rc=$?; chmod 755 ro; exit $rc' _ "$DL"
echo OLDJ >j.json
stopped TERM "a stop while the group's .npy files wait for --json" -- "$DL" predict --backend cpu --threads 1 --runs 1 --layers 10,1000 --batch 50000 --variant all --save-output o.npy --json j.json
same "  --json kept" j.json OLDJ; no_temps "  no temporary left after the stop"

# --- Open MPI variables left in a shell are not a job
want 2 1 "OMPI_COMM_WORLD_RANK=1 alone: the usage error is said" -- env OMPI_COMM_WORLD_RANK=1 "$DL" sum --bogus
want 2 1 "OMPI_COMM_WORLD_RANK=1 and SIZE=2 without PMIX_RANK" -- env OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 "$DL" sum --n x
want 2 1 "RANK=5 SIZE=2 PMIX_RANK=5 (a rank past the size)" -- env OMPI_COMM_WORLD_RANK=5 OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=5 "$DL" sum --n x
want 2 1 "RANK=-1 SIZE=2 PMIX_RANK=-1" -- env OMPI_COMM_WORLD_RANK=-1 OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=-1 "$DL" sum --n x
want 2 1 "RANK=1 SIZE=2 PMIX_RANK=0 (disagreeing)" -- env OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=0 "$DL" sum --n x
want 2 1 "RANK='' SIZE='' PMIX_RANK=''" -- env OMPI_COMM_WORLD_RANK= OMPI_COMM_WORLD_SIZE= PMIX_RANK= "$DL" sum --n x
want 2 1 "RANK=99999999999999999999 (overflow)" -- env OMPI_COMM_WORLD_RANK=99999999999999999999 OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=99999999999999999999 "$DL" sum --n x
want 0 any "OMPI_COMM_WORLD_SIZE=2 alone: sum still runs" -- env OMPI_COMM_WORLD_SIZE=2 "$DL" sum --backend cpu --n 1000 --runs 2
want 0 any "OMPI_COMM_WORLD_SIZE=2 alone: allreduce --simulate runs" -- env OMPI_COMM_WORLD_SIZE=2 "$DL" allreduce --simulate --ranks 4 --n 1000 --runs 2

# --- cuBLAS loaded on first use: every CPU command under address-space limits
for v in 200000 300000 600000; do
  want 0 any "ulimit -v $v: driftlab --help" -- bash -c "ulimit -v $v; \"\$1\" --help >/dev/null" _ "$DL"
  want 0 any "ulimit -v $v: sum --threads 1" -- bash -c "ulimit -v $v; \"\$1\" sum --backend cpu --n 100000 --runs 2 --threads 1" _ "$DL"
  want 0 any "ulimit -v $v: variants" -- bash -c "ulimit -v $v; \"\$1\" variants" _ "$DL"
  want 0 any "ulimit -v $v: driftlab_bench --benchmark_list_tests" -- bash -c "ulimit -v $v; \"\$1\" --benchmark_list_tests >/dev/null" _ "$BENCH"
done
want 1 1 "ulimit -v 300000: predict with 2 OpenBLAS threads (their 512 MiB)" -- bash -c 'ulimit -v 300000; "$1" predict --backend cpu --runs 1' _ "$DL"
want 0 any "ulimit -v 400000: predict --threads 1" -- bash -c 'ulimit -v 400000; "$1" predict --backend cpu --runs 1 --threads 1' _ "$DL"
want 1 1 "ulimit -v 300000: predict --backend cuda (no GPU: one line)" -- bash -c 'ulimit -v 300000; "$1" predict --backend cuda --runs 1' _ "$DL"
want 1 1 "predict --backend cuda without a GPU" -- "$DL" predict --backend cuda --runs 1
want 1 1 "predict --backend cuda --variant cublas without a GPU" -- "$DL" predict --backend cuda --variant cublas --runs 1
want 0 any "LD_LIBRARY_PATH of garbage: a CPU run" -- env LD_LIBRARY_PATH=/nonexistent:/dev/null "$DL" sum --backend cpu --n 1000 --runs 2
want 0 any "the cublas benchmark without a GPU: skipped, not a crash" -- "$BENCH" '--benchmark_filter=dense/cuda/cublas/B:64/' --benchmark_min_time=0.01

echo "session 13 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
