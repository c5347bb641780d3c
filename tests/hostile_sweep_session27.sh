#!/usr/bin/env bash
# Session 27 hostile sweep (docs/bad-input-session27.md): what the session built, tried as a
# hostile user would.
# 1. driftlab_bench labels every CPU benchmark with the kernels it ran ("kernels=LEVEL", and the
#    tiled sums' form: "form=stream" or "form=blocked"): under
#    each DRIFTLAB_ISA, in JSON and in the console table; a bad DRIFTLAB_ISA is refused before an
#    existing --benchmark_out is touched.
# 2. The tune/cpu/stream_form benchmarks: listed, run at the smallest size at every level, a bad
#    filter, a stop signal with an existing --benchmark_out, a tight address-space limit.
# 3. The stream threshold at half the last-level cache: sums just below, at and above it (and at
#    the old threshold) give the same bits at every level and thread count.
# 4. The MPI exact all-reduce's local passes (now their own ISA family): one output, equal to the
#    exact sum and to its simulation, under every DRIFTLAB_ISA (when Open MPI is there).
# Not in CI (Bench.EveryCpuBenchmarkNamesTheKernelsItRan, Dispatch.* and the SumCpu tests hold the
# essentials); run after a build in ./build:
#   tests/hostile_sweep_session27.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PY=${PY:-python3}
[ -x "$ROOT/.venv/bin/python" ] && PY=${PY_OVERRIDE:-$ROOT/.venv/bin/python}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

best=$(best_isa)
echo "this CPU by /proc/cpuinfo: $best"
labels() {  # FILE LEVEL: every row of ours says kernels=LEVEL (and the tiled sums their form);
            # only OpenBLAS and the plain loops have none
  "$PY" - "$1" "$2" <<'EOF'
import json, re, sys
rows = json.load(open(sys.argv[1]))["benchmarks"]
lvl = sys.argv[2]
plain = {"sum/cpu/f32/uniform/serial", "sum/cpu/f32/uniform/atomic_element", "dense/cpu/openblas"}
wrong = []
for r in rows:
    name, label = r["name"], r.get("label")
    if any(name.startswith(p + "/") for p in plain):
        ok = label is None
    else:
        tiled = name.startswith(("tune/", "attention/cpu/read_probe/")) or re.match(r"sum/cpu/[a-z0-9]+/[a-z]+/(tree|atomic|read_probe)/", name)
        probe = "probe" in name
        form = "" if not tiled or lvl == "scalar" or (probe and lvl == "avx2") else " form=stream" if "/stream/" in name else " form=blocked"
        if re.match(r"sum/cpu/[a-z0-9]+/[a-z]+/exact/", name) and lvl != "scalar":
            form = " form=vector"  # session 28: the exact sum's tiles note their form too
        ok = label == "kernels=" + lvl + form
    if not ok:
        wrong.append(name + " " + str(label))
print(len(rows), "rows;", len(wrong), "wrong:", wrong[:3])
sys.exit(1 if wrong or not rows else 0)
EOF
}
F='^(sum/cpu/(f32|f16)/uniform/[a-z_]+/4096/|dense/cpu/[a-z]+/B:4/K:10/|attention/cpu/[a-z_]+/B:2/|tune/cpu/stream_form/[a-z0-9]+/[a-z]+/[a-z]+/(1048576|2097152)/)'

# --- 1. the labels
for isa in "" avx512 avx2 scalar; do
  lvl=$isa
  [ -z "$isa" ] && lvl=$best
  [ "$isa" = avx512 ] && lvl=$best
  [ "$isa" = avx2 ] && [ "$best" = scalar ] && lvl=scalar
  want 0 0 "bench, DRIFTLAB_ISA=${isa:-unset}" -- env DRIFTLAB_ISA="$isa" "$BENCH" --benchmark_filter="$F" --benchmark_min_time=0.001 --benchmark_out="b_${isa:-unset}.json"
  if labels "b_${isa:-unset}.json" "$lvl" >lab.txt; then ok "  every row: kernels=$lvl ($(head -c 40 lab.txt))"; else bad "  labels" "$(cat lab.txt)"; fi
  has "  the console table shows it" out.txt "kernels=$lvl"
done
want 0 0 "bench --benchmark_format=csv carries the label column" -- "$BENCH" --benchmark_filter='^sum/cpu/f32/uniform/tree/1024/' --benchmark_min_time=0.001 --benchmark_format=csv
form=" form=blocked"; [ "$best" = scalar ] && form=""
has "  csv: kernels=$best$form" out.txt "\"kernels=$best$form\""
want 0 0 "bench: the OpenBLAS baseline alone (no label, no error)" -- "$BENCH" --benchmark_filter='^dense/cpu/openblas/B:1/K:10/' --benchmark_min_time=0.001
hasnt "  no kernels= on the baseline" out.txt "kernels="
want 1 1 "bench: the OpenBLAS baseline without room for its threads (ulimit -v 400000)" -- bash -c "ulimit -v 400000; \"\$1\" --benchmark_filter='^dense/cpu/(openblas|tree)/B:1/K:10/' --benchmark_min_time=0.001" _ "$BENCH"
has "  the line names the baseline and the reason" err.txt "driftlab_bench: dense/cpu/openblas: OpenBLAS with "
echo '{"keep": 1}' >keep.json
for v in AVX2 "avx2 " sse2 "$(printf 'avx\n2')" ""; do
  [ -z "$v" ] && continue
  want 2 1 "bench, DRIFTLAB_ISA='$(printf %q "$v" | cut -c1-16)' with an existing --benchmark_out" -- env DRIFTLAB_ISA="$v" "$BENCH" --benchmark_filter='^tune/' --benchmark_out=keep.json
  same "  keep.json unchanged" keep.json '{"keep": 1}'
done
ls -a | grep -q '\.tmp-' && bad "no temporary left" "$(ls -a | grep tmp)" || ok "no temporary left behind"

# --- 2. the tune benchmarks
want 0 0 "bench --benchmark_list_tests lists the tune family" -- "$BENCH" --benchmark_list_tests
n=$(grep -c '^tune/cpu/stream_form/' out.txt)
[ "$n" = 126 ] && ok "  126 tune benchmarks (f32 sum and probe, bf16 sum; 2 forms; 21 sizes)" || bad "  tune count" "$n (want 126)"
for isa in avx512 avx2 scalar; do
  want 0 0 "tune at 4 MiB, DRIFTLAB_ISA=$isa" -- env DRIFTLAB_ISA="$isa" "$BENCH" --benchmark_filter='^tune/cpu/stream_form/(f32/[a-z]+/[a-z]+/1048576|bf16/sum/[a-z]+/2097152)/' --benchmark_min_time=0.001 --benchmark_format=json
  "$PY" -c '
import json, sys
rows = json.load(open("out.txt"))["benchmarks"]
assert len(rows) == 6, len(rows)
for r in rows:
    assert not r.get("error_occurred"), r
    assert r["threshold_MiB"] > 0, r
print(rows[0]["threshold_MiB"])' >thr.txt 2>&1 && ok "  6 rows, no error, threshold_MiB $(cat thr.txt)" || bad "  tune rows" "$(tail -1 thr.txt)"
done
want 2 1 "bench --benchmark_filter='tune/(' (a bad expression)" -- "$BENCH" --benchmark_filter='tune/('
want 1 1 "bench --benchmark_filter='^tune/cpu/stream_form/f64/' (matches nothing)" -- "$BENCH" --benchmark_filter='^tune/cpu/stream_form/f64/'
echo '{"keep": 2}' >keep2.json
# (env --default-signal: a background job of a script starts with SIGINT ignored, and it stays ignored)
env --default-signal=INT "$BENCH" --benchmark_filter='^tune/cpu/stream_form/f32/sum/' --benchmark_out=keep2.json >out.txt 2>err.txt &
pid=$!
sleep 3
kill -INT $pid
wait $pid
rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <err.txt)" = 1 ] && ok "SIGINT during a tune run: exit 1, one line ($(head -c 50 err.txt))" || bad "SIGINT during a tune run" "rc=$rc, $(wc -l <err.txt) lines"
same "  keep2.json unchanged" keep2.json '{"keep": 2}'
ls -a | grep -q '\.tmp-' && bad "  no temporary left" "$(ls -a | grep tmp)" || ok "  no temporary left behind"
want 1 1 "tune at 256 MiB under ulimit -v 300000 (the input cannot be made)" -- bash -c "ulimit -v 300000; \"\$1\" --benchmark_filter='^tune/cpu/stream_form/f32/sum/blocked/(1048576|67108864)/' --benchmark_min_time=0.01 --benchmark_out=keep2.json" _ "$BENCH"
has "  the line: out of memory" err.txt "driftlab_bench: tune/cpu/stream_form/f32/sum/blocked: out of memory"
has "  the 4 MiB benchmark still ran" out.txt "blocked/1048576/real_time "
same "  keep2.json unchanged" keep2.json '{"keep": 2}'
ls -a | grep -q '\.tmp-' && bad "  no temporary left" "$(ls -a | grep tmp)" || ok "  no temporary left behind"
want 1 1 "sum/cpu bf16 2^26 and f64 2^26 under ulimit -v 250000: one line for both" -- bash -c "ulimit -v 250000; \"\$1\" --benchmark_filter='^sum/cpu/(bf16|f64)/uniform/tree/67108864/' --benchmark_min_time=0.01" _ "$BENCH"
has "  (and 1 more)" err.txt "(and 1 more)"
want 0 0 "tune under DRIFTLAB_ISA=scalar: both forms run the one scalar form" -- env DRIFTLAB_ISA=scalar "$BENCH" --benchmark_filter='^tune/cpu/stream_form/f32/sum/[a-z]+/1048576/' --benchmark_min_time=0.001
hasnt "  no form= at the scalar level" out.txt "form="

# --- 3. sums across the stream threshold (half the 32 MiB L3 here: 16 MiB), every level and 1-2 threads
sum_case "tree f32 n = 2^22 (16 MiB, at the new threshold: blocked)" tree --n 4194304 --dist normal
sum_case "tree f32 n = 2^22 + 1 (just above: stream, a 1-element last tile)" tree --n 4194305 --dist illcond
sum_case "tree f32 n = 3 * 2^21 (24 MiB: stream now)" tree --n 6291456 --dist uniform
sum_case "tree f32 n = 2^23 (32 MiB, the old threshold: stream now)" tree --n 8388608 --dist normal
sum_case "tree f64 n = 2^21 + 3 (16 MiB + 24 bytes)" tree --n 2097155 --dtype f64 --dist illcond
sum_case "tree bf16 n = 2^23 + 7 (16 MiB + 14 bytes)" tree --n 8388615 --dtype bf16 --dist normal
sum_case "tree f16 n = 2^24 (32 MiB)" tree --n 16777216 --dtype f16 --dist uniform
sum_case "atomic f32 n = 2^22 + 1, --schedule shuffle:5" atomic --n 4194305 --schedule shuffle:5

# --- 4. the MPI exact all-reduce under each DRIFTLAB_ISA
if command -v mpirun >/dev/null && ! "$DL" allreduce --variant exact --ranks 1 --runs 1 2>&1 | grep -q "without MPI"; then
  for isa in avx512 avx2 scalar; do
    want 0 0 "allreduce exact, MPI, DRIFTLAB_ISA=$isa" -- env DRIFTLAB_ISA="$isa" "$DL" allreduce --variant exact --ranks 1,2,3 --n 4099 --dist illcond --runs 2 --json "ar_$isa.json"
    "$PY" -c '
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["rows"] if x["mode"] == "mpi"][0]
assert r["distinct_outputs"] == 1 and r["equals_exact"] and r["matches_simulation"] == r["executions"], r
print(r["executions"])' "ar_$isa.json" >ar.txt 2>&1 && ok "  one output, the exact sum, equal to its simulation in $(cat ar.txt) executions" || bad "  allreduce row" "$(tail -1 ar.txt)"
  done
  want 2 1 "allreduce, DRIFTLAB_ISA=avx1024" -- env DRIFTLAB_ISA=avx1024 "$DL" allreduce --variant exact --ranks 2
  if [ -x "$ROOT/build/driftlab_bench_mpi" ]; then
    # mpirun adds its own report of a rank's exit status; ours is the first line, and no rank aborts
    want 1 any "driftlab_bench_mpi, DRIFTLAB_BENCH_ALLREDUCE_N=4000000000 (does not fit)" -- env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DRIFTLAB_BENCH_ALLREDUCE_N=4000000000 mpirun -np 2 --oversubscribe "$ROOT/build/driftlab_bench_mpi"
    [ "$(head -1 err.txt)" = "driftlab_bench_mpi: out of memory making 2 shards of 4000000000 floats (DRIFTLAB_BENCH_ALLREDUCE_N)" ] && ok "  its one line first" || bad "  its one line first" "$(head -1 err.txt)"
    hasnt "  no rank aborted" err.txt "Signal: Aborted"
    [ "$(grep -c driftlab_bench_mpi: err.txt)" = 1 ] && ok "  one line of ours (rank 0's)" || bad "  lines of ours" "$(grep -c driftlab_bench_mpi: err.txt)"
  fi
else
  echo "skip the MPI all-reduce: Open MPI is not installed or driftlab was built without it"
fi

echo "session 27 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
