#!/usr/bin/env bash
# driftlab's GPU check: one command that proves the CUDA backend on a GPU machine and fits one
# device call (a plan of <= 300 s, so under 6 minutes on an H200 with the machine's start; every
# step has a hard time limit inside an overall one, so it always ends, summarises and packs, and
# every step that completed brings its results back even when a later one fails).
#
#   scripts/gpu_check.sh [--bin DIR] OUTDIR              the check on a GPU (backend cuda)
#   scripts/gpu_check.sh --rehearse [--bin DIR] OUTDIR   the same steps on the CPU, small sizes
#                                                        (CI runs it: under 5 minutes on 2 cores)
#
# --bin DIR holds driftlab, driftlab_bench, driftlab_tests and driftlab_kat_tests (default: kit/bin
# of this repository when it exists -- scripts/build_gpu_kit.sh makes it -- else build/).
# Steps, ordered by value (each its own process and JSON, so a cut step loses only itself):
#   preflight   GPU, driver, glibc, `ldd` of every binary and cuBLAS (loaded on first use: not in ldd's
#               list); a missing libcudart/libcublas/libcublasLt .so.13 looked up in the image's
#               Python nvidia/*/lib folders (LD_LIBRARY_PATH set)
#   tests_gpu   the GPU bitwise tests (sum tree/exact f32 f64 bf16 f16, dense tree/invariant,
#               attention fixed_split/single, drift) in 4 gtest shards, and the CUDA known
#               answers (driftlab_kat_tests, KnownAnswersCuda.*) beside them
#   bench_sum_headline / bench_dense_headline   sum f32 2^28 tree, exact vs cub (uniform and
#               ill-conditioned); dense 4096^3 invariant vs cublasSgemm FP32
#   bench_attention, bench_sum (f64, bf16, a trimmed size sweep), bench_dense (B 1, 64, 4096, bf16,
#               predict), bench_drift, then `driftlab sum/predict/attention` (drift over runs),
#               `driftlab report --quick` (the benchmarks reused); the plot check runs beside the tests
# Before running it prints its plan: per step, benchmarks x repetitions x min_time and the
# estimated seconds; a plan over the budget (device 300 s) fails at once.  Benchmarks stream
# their JSON to BENCH.stream.json (line-buffered), so a step cut by its limit (SIGTERM) still
# gives the summary what finished.  Then scripts/gpu_check_summary.py fails on any miss.
# OUTDIR receives at most 4 files: summary.md, summary.json, results.tar.gz (every log, JSON and
# figure) and gpu_check.log (this output).  Exit status 0 only when every check passed.
set -uo pipefail
usage="usage: scripts/gpu_check.sh [--rehearse] [--bin DIR] OUTDIR"
mode=device
bin=""
outdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) mode=rehearse ;;
    --bin) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; bin=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "gpu_check: unknown option '$1' ($usage)" >&2; exit 2 ;;
    *) [ -z "$outdir" ] || { echo "$usage" >&2; exit 2; }; outdir=$1 ;;
  esac
  shift
done
[ -n "$outdir" ] || { echo "$usage" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)   # scripts/ of the repository or of the kit
root=$(cd "$here/.." && pwd)
if [ -z "$bin" ]; then
  if [ -x "$root/kit/bin/driftlab" ]; then bin="$root/kit/bin"; elif [ -x "$root/bin/driftlab" ]; then bin="$root/bin"; else bin="$root/build"; fi
fi
bin=$(cd "$bin" 2>/dev/null && pwd) || { echo "gpu_check: no binary folder '$bin'" >&2; exit 2; }
for exe in driftlab driftlab_bench driftlab_tests driftlab_kat_tests; do
  [ -x "$bin/$exe" ] || { echo "gpu_check: $bin/$exe is missing (build it, or scripts/build_gpu_kit.sh)" >&2; exit 2; }
done
mkdir -p "$outdir" || exit 1
out=$(cd "$outdir" && pwd)
# Everything but the four files is written to a work folder outside OUTDIR and packed at the end.
w=$(mktemp -d "${TMPDIR:-/tmp}/driftlab-gpu-check.XXXXXX") || exit 1
rm -f "$out/summary.md" "$out/summary.json" "$out/results.tar.gz" "$out/gpu_check.log"
exec > >(tee "$out/gpu_check.log") 2>&1
tee_pid=$!

if [ -n "${DRIFTLAB_PYTHON:-}" ]; then py=$DRIFTLAB_PYTHON
elif [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"
else py=python3; fi
summary="$here/gpu_check_summary.py"
tests_dir="$root/tests"   # check_plots.py and its fixture (in the repository and in the kit)
export PYTHONUNBUFFERED=1
# The CUDA runtime and cuBLAS come from the machine (never bundled): its toolkit's lib64 first;
# the preflight step adds the image's Python nvidia/*/lib folders when that is not enough.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

# The device's benchmark filters (also listed in the rehearsal, which checks them and the plan).
# exact_prev: the previous f32 exact kernel, measured beside exact on uniform input (issue 18: the
# GPU decides; uniform only, so that the device plan stays within its 300 s)
d_sum_head='^sum/cuda/f32/uniform/(tree|exact|exact_prev|cub|d2d_copy)/268435456/|^sum/cuda/f32/illcond/(tree|exact|cub)/268435456/'
d_dense_head='^dense/cuda/(cublas|invariant|invariant_prev|invariant_1block)/B:4096/K:4096/N:4096/manual_time'
d_attention='^attention/cuda/'
# the rest of the sum: the other f32 variants at 2^28, a sweep of 3 sizes for the figures, f64 2^27, bf16 2^28
d_sum_rest='^sum/cuda/f32/uniform/(atomic_element|atomic|thrust)/268435456/|^sum/cuda/f32/uniform/(atomic|tree|exact|cub|d2d_copy)/(65536|1048576|16777216)/|^sum/cuda/f64/uniform/(atomic|tree|exact|cub|thrust|d2d_copy)/134217728/|^sum/cuda/bf16/uniform/(tree|exact|cub|thrust|d2d_copy)/268435456/'
d_dense_rest='^dense/cuda/[a-z]+/B:(1|64)/K:4096/N:4096/manual_time|^dense/cuda/(atomic|tree)/B:4096/K:4096/N:4096/manual_time|^dense/cuda/(cublas|invariant|invariant_tc)/B:4096/K:4096/N:4096/dtype:bf16/|^predict/cuda/784-4096-4096-10/(atomic|invariant)/(dtype:bf16/)?batch:64/'
d_drift='^drift/cuda/'
d_plan_limit=300
# The device's fixed estimates (seconds): the tests step, the 7 CLI commands in their order, the
# report.  The device run and the rehearsal's check of the device plan both read these.
d_test_est=75
d_cli_est=(10 8 8 8 10 40 10)
d_report_est=35  # its all-reduce and TP steps are simulations in the kit (built without MPI): 0.1 s each
# Each benchmark step: NAME|FILTER|REPETITIONS|MIN_TIME|OVERHEAD (estimated seconds per
# repetition besides 1.6 x min_time: Google Benchmark's trial runs, each with its own set-up).
d_bench_steps=(
  "bench_sum_headline|$d_sum_head|3|0.1|0.1"
  "bench_dense_headline|$d_dense_head|3|0.05|0.4"
  "bench_attention|$d_attention|2|0.05|0.1"
  "bench_sum|$d_sum_rest|3|0.05|0.1"
  "bench_dense|$d_dense_rest|3|0.05|0.4"
  "bench_drift|$d_drift|1|0.1|1.5"
)
if [ "$mode" = device ]; then
  be=cuda; budget=330; plan_limit=$d_plan_limit; jobs=4
  bench_steps=("${d_bench_steps[@]}")
  # the GPU bitwise tests (and the other GPU tests); the CPU tests run in CI
  # (their host side dominates: make_input's ill-conditioned inputs up to 2^26 elements, ~30 s a test)
  test_filter='CudaSum.*:CudaHalfSum.*:DenseCuda.*:DenseHalf/*.Cuda*:AttentionCuda.*:DriftCuda.*'; test_est=$d_test_est
  kat_filter='KnownAnswersCuda.*'  # the CPU known answers run in CI
  # 100 runs at 2^22: atomic_element's one-address atomics cost ~n x 2-10 ns a call
  sum_runs=(--n 2^26 --runs 20); drift_runs=(--n 2^22 --runs 100); f64_runs=(--n 2^22 --runs 100)
  predict_default=(--runs 40 --processes 3); predict_wide=(--layers 784,4096,4096,10 --batch 64 --runs 20)
  attention_runs=(--runs 20)
  cli_est=("${d_cli_est[@]}"); report_est=$d_report_est
else
  be=cpu; budget=280; plan_limit=250; jobs=1
  bench_steps=(
    "bench_sum_headline|^sum/cpu/f32/uniform/(read_probe|tree|exact)/1048576/|3|0.02|0.05"
    "bench_dense_headline|^dense/cpu/invariant/B:1024/K:1024/N:1024/|3|0.02|0.1"
    "bench_attention|^attention/cpu/(read_probe|split_count|fixed_split)/B:(1|8)/H:8/d:128/L:1024/|3|0.02|0.05"
    "bench_sum|^sum/cpu/f32/uniform/(read_probe|atomic_element|atomic|tree|exact)/(16384|1048576)/|^sum/cpu/f64/uniform/(read_probe|tree|exact)/1048576/|^sum/cpu/bf16/uniform/(read_probe|tree|exact)/1048576/|3|0.02|0.05"
    "bench_dense|^dense/cpu/(openblas|atomic|tree|invariant)/B:(1|64)/K:10/|^dense/cpu/(openblas|atomic|tree|invariant)/B:1/K:4096/|^predict/cpu/10-20-10/[a-z]+/batch:(1|64)/|3|0.02|0.05"
  )
  test_filter='CudaSum.*:CudaHalfSum.*:DenseCuda.*:DenseHalf/*.Cuda*:AttentionCuda.*:DriftCuda.*:Bench.*'; test_est=40
  kat_filter='KnownAnswersCuda.*'  # they skip here (no GPU): the rehearsal proves the binary, filter and JSON
  sum_runs=(--n 2^16 --runs 10); drift_runs=(--n 2^16 --runs 20); f64_runs=(--n 2^14 --runs 20)
  predict_default=(--runs 5 --processes 2); predict_wide=(--layers 64,256,256,10 --batch 16 --runs 5)
  attention_runs=(--runs 3)
  cli_est=(5 5 5 5 5 10 5); report_est=100
fi

t0=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t0) )); }
step() { echo; echo "== [$(( $(date +%s) - t0 ))s, $(left)s left] $*"; }
# limit SECONDS CMD...: runs CMD with at most SECONDS (SIGTERM, then SIGKILL 5 s later), and
# never past the overall budget (10 s kept for the summary and the packing).
limit() {
  local s=$1; shift
  local l; l=$(( $(left) - 10 ))
  [ "$l" -lt "$s" ] && s=$l
  if [ "$s" -le 3 ]; then echo "gpu_check: no time left for: $*"; return 124; fi
  timeout -s TERM --kill-after=5 "$s" "$@"
}
hard() { echo $(( $1 * 3 / 2 + 10 )); }  # a step's hard limit from its estimate
show() { "$py" "$summary" --mode "$mode" --only "$1" "$w" || true; }  # this step's part of the summary
note_rc() { local rc=$1 what=$2; [ "$rc" -eq 0 ] || echo "gpu_check: $what exited with status $rc$([ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo ' (cut by its time limit)')" | tee -a "$w/step_errors.txt"; }
linebuf=()
command -v stdbuf >/dev/null && linebuf=(stdbuf -oL)  # the JSON stream written line by line

# plan_of STEPS...: prints the plan table, sets plan_total (seconds).  The fixed steps' estimates
# are given; a benchmark step's is 3 s of start plus benchmarks x repetitions x (1.6 x min_time
# + overhead), its benchmarks counted by listing the filter.
# parse LINE: sets name, filter (which may hold '|'), reps, mt (min_time), oh (overhead).
parse() {
  local rest=$1
  name=${rest%%|*}; oh=${rest##*|}; rest=${rest%|*}; mt=${rest##*|}; rest=${rest%|*}; reps=${rest##*|}
  filter=${rest%|*}; filter=${filter#*|}
}
plan_of() {
  local total=$(( 5 + test_est )) line count est
  printf '  %-22s %s\n' "preflight" "5 s" "tests_gpu" "$test_est s ($jobs shards, filter $test_filter)"
  for line in "$@"; do
    parse "$line"
    count=$("$bin/driftlab_bench" --benchmark_list_tests --benchmark_filter="$filter" 2>/dev/null | grep -c .)
    est=$(awk -v c="$count" -v r="$reps" -v m="$mt" -v o="$oh" 'BEGIN { printf "%d", 3 + c * r * (1.6 * m + o) + 0.999 }')
    printf '  %-22s %3d benchmarks x %d repetitions x min_time %ss: %d s\n' "$name" "$count" "$reps" "$mt" "$est"
    [ "$count" -gt 0 ] || echo "  (the filter of $name selects no benchmark)"
    total=$(( total + est ))
  done
  local cli=0 e; for e in "${cli_est[@]}"; do cli=$(( cli + e )); done
  printf '  %-22s %s\n' "driftlab sum/predict/attention" "$cli s (7 commands)" "report" "$report_est s"
  plan_total=$(( total + cli + report_est ))
  echo "  total: ${plan_total} s (at most $plan_limit s; hard limit of the whole check ${budget} s)"
}
# bench_step LINE: one benchmark group, its own process and JSON.
bench_step() {
  local est
  parse "$1"
  est=$(awk -v c="${counts[$name]}" -v r="$reps" -v m="$mt" -v o="$oh" 'BEGIN { printf "%d", 3 + c * r * (1.6 * m + o) + 0.999 }')
  step "$name: ${counts[$name]} benchmarks x $reps x ${mt}s, estimated ${est}s, limit $(hard "$est")s"
  limit "$(hard "$est")" "${linebuf[@]}" "$bin/driftlab_bench" --benchmark_filter="$filter" \
    --benchmark_min_time="$mt" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_format=json --benchmark_out="$w/$name.json" --benchmark_out_format=json \
    >"$w/$name.stream.json" 2>"$w/$name.log"
  local rc=$?
  note_rc $rc "driftlab_bench ($name)"
  [ "$rc" -eq 0 ] && [ -s "$w/$name.json" ] && rm -f "$w/$name.stream.json"  # kept only for a cut step
}

step "preflight: machine, GPU, driver, glibc, the libraries every binary loads"
{ date -u; uname -a; echo "cores: $(nproc)"; echo "glibc: $(ldd --version 2>&1 | head -1)"; } >"$w/machine.txt" 2>&1
[ -f "$bin/../MANIFEST.txt" ] && grep -E "^(commit|built|newest glibc)" "$bin/../MANIFEST.txt" >>"$w/machine.txt"
if [ "$mode" = device ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$w/machine.txt" 2>&1
  nvidia-smi >>"$w/machine.txt" 2>&1; note_rc $? "nvidia-smi"
fi
cat "$w/machine.txt"
# cuBLAS is loaded when the cublas baseline first runs (kernels/cuda/cublas_loader.h), so ldd does not
# list it: it is looked for as dlopen from the kit's binaries would (their RPATH, LD_LIBRARY_PATH, the
# loader's cache, the default folders).
lazy_libs="libcublas.so.13 libcublasLt.so.13"
dlopen_finds() {
  local d
  for d in "$bin/lib" /usr/local/cuda/lib $(echo "${LD_LIBRARY_PATH:-}" | tr ':' ' ') /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib; do
    [ -e "$d/$1" ] && return 0
  done
  { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q "^[[:space:]]*$1 "
}
missing_libs() { { for exe in "$bin"/driftlab "$bin"/driftlab_bench "$bin"/driftlab_tests "$bin"/driftlab_kat_tests; do ldd "$exe" 2>&1; done |
                   awk '/not found/ { print $1 }'
                   for lib in $lazy_libs; do dlopen_finds "$lib" || echo "$lib"; done; } | sort -u; }
miss=$(missing_libs)
if [ -n "$miss" ]; then
  echo "not found: $(echo $miss); looking in the image's Python nvidia/*/lib folders"
  for p in python3 /opt/torch/.venv/bin/python3 "$py"; do
    command -v "$p" >/dev/null || continue
    "$p" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null
  done | sort -u | while read -r sp; do
    [ -d "$sp" ] || continue
    for d in "$sp"/nvidia/*/lib "$sp"/nvidia/*/lib64 "$sp"/torch/lib; do [ -d "$d" ] && echo "$d"; done
  done >"$w/lib_candidates.txt"
  for lib in $miss; do
    d=$(while read -r c; do [ -e "$c/$lib" ] && { echo "$c"; break; }; done <"$w/lib_candidates.txt")
    if [ -n "$d" ]; then echo "  $lib: $d"; export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  done
  miss=$(missing_libs)
fi
{ for exe in driftlab driftlab_bench driftlab_tests driftlab_kat_tests; do echo "ldd $exe:"; ldd "$bin/$exe" 2>&1 | sed 's/^/  /'; done
  for lib in $lazy_libs; do dlopen_finds "$lib" && echo "$lib (loaded on first use): found" || echo "$lib (loaded on first use): not found"; done
} >"$w/needed_libs.txt"
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >>"$w/needed_libs.txt"
cat "$w/needed_libs.txt"
[ -z "$miss" ] || note_rc 1 "preflight: still not found: $(echo $miss)"

step "plan ($mode, backend $be, binaries in $bin)"
declare -A counts
for line in "${bench_steps[@]}"; do
  parse "$line"
  counts[$name]=$("$bin/driftlab_bench" --benchmark_list_tests --benchmark_filter="$filter" 2>/dev/null | grep -c .)
done
plan_of "${bench_steps[@]}" | tee "$w/plan.txt"
plan_total=$(awk '/^  total:/ { print $2 }' "$w/plan.txt")
if [ "$plan_total" -gt "$plan_limit" ]; then
  echo "gpu_check: the plan (${plan_total} s) is over its ${plan_limit} s (the check runs on; trim it)" | tee -a "$w/step_errors.txt"
fi
if [ "$mode" = rehearse ] && "$bin/driftlab_bench" --benchmark_list_tests 2>/dev/null | grep '^sum/cuda/' >/dev/null; then  # not grep -q: SIGPIPE fails the pipe
  # The device's filters and plan against the names this build registers: a filter that selects
  # nothing, or a plan over 300 s, fails CI here, not on the first GPU run.
  "$bin/driftlab_bench" --benchmark_list_tests \
    --benchmark_filter="$d_sum_head|$d_dense_head|$d_attention|$d_sum_rest|$d_dense_rest|$d_drift" \
    >"$w/device_bench_list.txt" 2>/dev/null
  echo "the device's plan:"
  ( mode=device; test_est=$d_test_est; jobs=4; test_filter='(GPU tests)'; cli_est=("${d_cli_est[@]}"); report_est=$d_report_est
    plan_limit=$d_plan_limit; budget=330; plan_of "${d_bench_steps[@]}" ) | tee "$w/device_plan.txt"
  dtotal=$(awk '/^  total:/ { print $2 }' "$w/device_plan.txt")
  if [ "$dtotal" -gt "$d_plan_limit" ] || grep -q "selects no benchmark" "$w/device_plan.txt"; then
    echo "gpu_check: the device's plan (${dtotal} s) is over ${d_plan_limit} s or a filter selects nothing" | tee -a "$w/step_errors.txt"
  fi
fi

step "tests_gpu ($([ "$mode" = device ] && echo "the GPU tests active" || echo "the GPU tests skip here"), $jobs shards: $test_filter, and $kat_filter; limit $(hard "$test_est")s)"
mkdir -p "$w/tests"
pids=()
for ((i = 0; i < jobs; i++)); do  # gtest shards side by side, each with its own scratch folder
  mkdir -p "$w/tests/tmp$i"
  (export DRIFTLAB_EXE="$bin/driftlab" DRIFTLAB_BENCH_EXE="$bin/driftlab_bench" DRIFTLAB_TEST_TMP="$w/tests/tmp$i" \
          DRIFTLAB_SOURCE_DIR="$root" \
          GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i
   limit "$(hard "$test_est")" "$bin/driftlab_tests" --gtest_filter="$test_filter" --gtest_output="json:$w/tests/tests_$i.json" \
     >"$w/tests/tests_$i.log" 2>&1) &
  pids+=($!)
done
# the CUDA known answers (tests/fixtures/kat/kat.json, computed without the C++ code): a process of
# their own beside the shards, seconds of work (they skip without a GPU)
mkdir -p "$w/tests/tmp_kat"
(export DRIFTLAB_EXE="$bin/driftlab" DRIFTLAB_TEST_TMP="$w/tests/tmp_kat" DRIFTLAB_SOURCE_DIR="$root"
 limit "$(hard "$test_est")" "$bin/driftlab_kat_tests" --gtest_filter="$kat_filter" --gtest_output="json:$w/tests/kat.json" \
   >"$w/tests/kat.log" 2>&1) &
kat_pid=$!
# the plot check beside them (CPU only; the tests are mostly GPU- or single-thread-bound)
limit "$([ "$mode" = device ] && echo 60 || echo 120)" "$py" "$tests_dir/check_plots.py" "$tests_dir/fixtures/report" \
  "$w/tests/plots-check" >"$w/tests/check_plots.log" 2>&1
note_rc $? "check_plots.py"
rm -rf "$w/tests/plots-check"
for ((i = 0; i < jobs; i++)); do wait "${pids[$i]}"; note_rc $? "driftlab_tests shard $i"; done
wait "$kat_pid"; note_rc $? "driftlab_kat_tests"
echo "$jobs" >"$w/tests/shards.txt"  # the summary fails on any shard without its JSON (and on a missing kat.json)
rm -rf "$w/tests"/tmp*
show tests

for line in "${bench_steps[@]}"; do
  bench_step "$line"
  case "${line%%|*}" in
    bench_sum_headline|bench_sum) show bench_sum ;;
    bench_dense_headline|bench_dense) show bench_dense ;;
    bench_attention) show attention ;;
    bench_drift) show drift ;;
  esac
done

step "driftlab sum --variant all, predict, attention (drift over runs)"
limit "$(hard "${cli_est[0]}")" "$bin/driftlab" sum --variant all --backend "$be" "${sum_runs[@]}" --json "$w/sum_f32.json" >"$w/sum_f32.txt" 2>&1
note_rc $? "driftlab sum (f32 uniform)"
limit "$(hard "${cli_est[1]}")" "$bin/driftlab" sum --variant all --backend "$be" --dist illcond "${drift_runs[@]}" --json "$w/sum_illcond.json" >"$w/sum_illcond.txt" 2>&1
note_rc $? "driftlab sum (f32 illcond)"
limit "$(hard "${cli_est[2]}")" "$bin/driftlab" sum --variant all --backend "$be" --dtype f64 --dist illcond "${f64_runs[@]}" --json "$w/sum_f64_illcond.json" >"$w/sum_f64_illcond.txt" 2>&1
note_rc $? "driftlab sum (f64 illcond)"
limit "$(hard "${cli_est[3]}")" "$bin/driftlab" sum --variant all --backend "$be" --dtype bf16 --dist illcond "${drift_runs[@]}" --json "$w/sum_bf16_illcond.json" >"$w/sum_bf16_illcond.txt" 2>&1
note_rc $? "driftlab sum (bf16 illcond)"
show sum
limit "$(hard "${cli_est[4]}")" "$bin/driftlab" predict --backend "$be" --init-seed 1 "${predict_default[@]}" --json "$w/predict_default.json" >"$w/predict_default.txt" 2>&1
note_rc $? "driftlab predict (default model)"
limit "$(hard "${cli_est[5]}")" "$bin/driftlab" predict --backend "$be" --init-seed 1 "${predict_wide[@]}" --batch-sweep 1,7,64,513 --json "$w/predict_wide.json" >"$w/predict_wide.txt" 2>&1
note_rc $? "driftlab predict (wide model)"
show predict
limit "$(hard "${cli_est[6]}")" "$bin/driftlab" attention --backend "$be" "${attention_runs[@]}" --json "$w/attention.json" >"$w/attention.txt" 2>&1
note_rc $? "driftlab attention"
show attention

step "driftlab report --quick (the benchmarks above reused)"
"$py" "$summary" --merge-bench "$w/bench_all.json" "$w" || echo "gpu_check: no benchmark JSON to merge"
limit "$(hard "$report_est")" "$bin/driftlab" report --backend "$be" --quick --bench-json "$w/bench_all.json" --out "$w/report" >"$w/report.log" 2>&1
note_rc $? "driftlab report"
rm -f "$w/bench_all.json"  # the same entries are in report/bench.json
tail -3 "$w/report.log"
show report

step "summary"
"$py" "$summary" --mode "$mode" "$w" --md "$out/summary.md" --json "$out/summary.json" >"$w/summary.txt" 2>&1
status=$?
[ -s "$out/summary.md" ] || { echo "gpu_check: the summary wrote nothing"; cat "$w/summary.txt"; status=1; }

step "pack"
tar -czf "$out/results.tar.gz" -C "$w" . || { echo "gpu_check: packing failed"; status=1; }
rm -rf "$w"
nfiles=$(find "$out" -type f | wc -l)
big=$(find "$out" -type f -size +16M | wc -l)
ls -l "$out"
if [ "$nfiles" -gt 8 ] || [ "$big" -gt 0 ]; then
  echo "gpu_check: OUTDIR holds $nfiles files ($big over 16 MiB): more than a device call returns"
  status=1
fi

echo
cat "$out/summary.md"
echo
echo "gpu_check ($mode): $([ $status -eq 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - t0 ))s; files in $out"
exec >&- 2>&-
wait "$tee_pid" 2>/dev/null  # gpu_check.log complete before the call collects OUTDIR
exit $status
