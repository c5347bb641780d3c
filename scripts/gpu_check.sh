#!/usr/bin/env bash
# driftlab's GPU check: one command that proves the CUDA backend on a GPU machine and fits one
# device call (under 6 minutes on an H200 with 16 cores; every step has a time limit inside an
# overall one, so it always ends, summarises and packs).
#
#   scripts/gpu_check.sh [--bin DIR] OUTDIR              the check on a GPU (backend cuda)
#   scripts/gpu_check.sh --rehearse [--bin DIR] OUTDIR   the same steps on the CPU, small sizes
#                                                        (CI runs it: under 5 minutes on 2 cores)
#
# --bin DIR holds driftlab, driftlab_bench and driftlab_tests (default: kit/bin of this
# repository when it exists -- scripts/build_gpu_kit.sh makes it -- else build/).
# Steps: machine; tests (every test, the GPU tests active; the plot check); summation benchmarks
# (f32 every size on uniform input, f32 2^28 on ill-conditioned input, f64 2^27, with cub and
# d2d_copy as baselines); `driftlab sum --variant all` (>= 100 runs on ill-conditioned input);
# dense and predict benchmarks (4096^3 and batch 1..4096, cublasSgemm FP32 the baseline);
# `driftlab predict` (seeded weights, 3 processes; the wide model with the batch sweep); attention
# decode benchmarks and `driftlab attention` (its batch sweep); the full
# `driftlab report` with those benchmarks reused, never timed twice (it runs the scenarios);
# then scripts/gpu_check_summary.py, which fails on any miss.  Each step's part of the summary
# is printed as it ends, the whole summary again last.
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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
for exe in driftlab driftlab_bench driftlab_tests; do
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
# The CUDA runtime and cuBLAS come from the machine (never bundled): its toolkit's lib64 first.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

if [ "$mode" = device ]; then
  be=cuda; budget=345; jobs=4
  sum_filter='^sum/cuda/f32/uniform/[a-z_0-9]+/[0-9]+/|^sum/cuda/f32/illcond/[a-z_0-9]+/268435456/|^sum/cuda/f64/uniform/(atomic|tree|exact|cub|thrust|d2d_copy)/134217728/|^sum/cuda/bf16/uniform/(tree|exact|cub|thrust|d2d_copy)/268435456/'
  dense_filter='^dense/cuda/|^predict/cuda/'
  bench_args=(--benchmark_min_time=0.1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
  test_filter='*'
  sum_runs=(--n 2^28 --runs 20); drift_runs=(--n 2^24 --runs 100); f64_runs=(--n 2^24 --runs 100)
  predict_default=(--runs 40 --processes 3); predict_wide=(--layers 784,4096,4096,10 --batch 64 --runs 100)
  report_args=()
  attention_filter='^attention/cuda/|^drift/cuda/'; attention_runs=(--runs 20)  # and drift metrics: host vs device
else
  be=cpu; budget=280; jobs=1
  sum_filter='^sum/cpu/f32/uniform/(read_probe|atomic_element|atomic|tree|exact)/(16384|1048576)/|^sum/cpu/f64/uniform/(read_probe|tree|exact)/1048576/|^sum/cpu/bf16/uniform/(read_probe|tree|exact)/1048576/'
  dense_filter='^dense/cpu/(openblas|atomic|tree|invariant)/B:(1|64)/K:10/|^dense/cpu/(openblas|atomic|tree|invariant)/B:1/K:4096/|^predict/cpu/10-20-10/[a-z]+/batch:(1|64)/|^dense/cpu/invariant/B:1024/K:1024/N:1024/'
  bench_args=(--benchmark_min_time=0.02 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
  test_filter='CudaSum.*:CudaHalfSum.*:DenseCuda.*:Bench.*'   # the GPU tests skip here; the step and its parsing run
  sum_runs=(--n 2^16 --runs 10); drift_runs=(--n 2^16 --runs 20); f64_runs=(--n 2^14 --runs 20)
  predict_default=(--runs 5 --processes 2); predict_wide=(--layers 64,256,256,10 --batch 16 --runs 5)
  report_args=(--quick)
  attention_filter='^attention/cpu/(read_probe|split_count|fixed_split)/B:(1|8)/H:8/d:128/L:1024/'; attention_runs=(--runs 3)
fi

t0=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t0) )); }
step() { echo; echo "== [$(( $(date +%s) - t0 ))s, $(left)s left] $*"; }
# limit SECONDS CMD...: runs CMD with at most SECONDS, and never past the overall budget.
limit() {
  local s=$1; shift
  local l; l=$(left)
  [ "$l" -lt "$s" ] && s=$l
  if [ "$s" -le 5 ]; then echo "gpu_check: no time left for: $*"; return 124; fi
  timeout --kill-after=5 "$s" "$@"
}
show() { "$py" "$summary" --mode "$mode" --only "$1" "$w" || true; }  # this step's part of the summary
note_rc() { local rc=$1 what=$2; [ "$rc" -eq 0 ] || echo "gpu_check: $what exited with status $rc" | tee -a "$w/step_errors.txt"; }

step "machine ($mode, backend $be, binaries in $bin)"
{ date -u; uname -a; echo "cores: $(nproc)"; } >"$w/machine.txt" 2>&1
if [ "$mode" = device ]; then
  nvidia-smi >>"$w/machine.txt" 2>&1; note_rc $? "nvidia-smi"
fi
cat "$w/machine.txt"
readelf -d "$bin/driftlab_bench" 2>/dev/null | grep -E "NEEDED|RPATH|RUNPATH" >"$w/needed_libs.txt" || true
if [ "$mode" = rehearse ] && "$bin/driftlab_bench" --benchmark_list_tests 2>/dev/null | grep -q '^sum/cuda/'; then
  # The device's filters against the names this build registers: a filter that selects nothing
  # fails CI here, not on the first GPU run.
  "$bin/driftlab_bench" --benchmark_list_tests \
    --benchmark_filter='^sum/cuda/f32/uniform/[a-z_0-9]+/[0-9]+/|^sum/cuda/f32/illcond/[a-z_0-9]+/268435456/|^sum/cuda/f64/uniform/(atomic|tree|exact|cub|thrust|d2d_copy)/134217728/|^sum/cuda/bf16/uniform/(tree|exact|cub|thrust|d2d_copy)/268435456/|^dense/cuda/|^predict/cuda/' \
    >"$w/device_bench_list.txt" 2>/dev/null
fi

step "tests ($([ "$mode" = device ] && echo "every test, GPU tests active, $jobs shards" || echo "GPU tests and the benchmark list: $test_filter"))"
mkdir -p "$w/tests"
pids=()
for ((i = 0; i < jobs; i++)); do  # gtest shards side by side, each with its own scratch folder
  mkdir -p "$w/tests/tmp$i"
  (export DRIFTLAB_EXE="$bin/driftlab" DRIFTLAB_BENCH_EXE="$bin/driftlab_bench" DRIFTLAB_TEST_TMP="$w/tests/tmp$i" \
          DRIFTLAB_SOURCE_DIR="$root" \
          GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i
   limit 150 "$bin/driftlab_tests" --gtest_filter="$test_filter" --gtest_output="json:$w/tests/tests_$i.json" \
     >"$w/tests/tests_$i.log" 2>&1) &
  pids+=($!)
done
# the plot check beside them (the tests are mostly GPU- or single-thread-bound)
limit 120 "$py" "$tests_dir/check_plots.py" "$tests_dir/fixtures/report" "$w/tests/plots-check" >"$w/tests/check_plots.log" 2>&1
note_rc $? "check_plots.py"
for ((i = 0; i < jobs; i++)); do wait "${pids[$i]}"; note_rc $? "driftlab_tests shard $i"; done
rm -rf "$w/tests"/tmp* "$w/tests/plots-check"
show tests

step "summation benchmarks"
limit 110 "$bin/driftlab_bench" --benchmark_filter="$sum_filter" "${bench_args[@]}" \
  --benchmark_out="$w/bench_sum.json" --benchmark_out_format=json >"$w/bench_sum.log" 2>&1
note_rc $? "driftlab_bench (sum)"
show bench_sum

step "driftlab sum --variant all"
limit 40 "$bin/driftlab" sum --variant all --backend "$be" "${sum_runs[@]}" --json "$w/sum_f32.json" >"$w/sum_f32.txt" 2>&1
note_rc $? "driftlab sum (f32 uniform)"
limit 40 "$bin/driftlab" sum --variant all --backend "$be" --dist illcond "${drift_runs[@]}" --json "$w/sum_illcond.json" >"$w/sum_illcond.txt" 2>&1
note_rc $? "driftlab sum (f32 illcond)"
limit 40 "$bin/driftlab" sum --variant all --backend "$be" --dtype f64 --dist illcond "${f64_runs[@]}" --json "$w/sum_f64_illcond.json" >"$w/sum_f64_illcond.txt" 2>&1
note_rc $? "driftlab sum (f64 illcond)"
limit 40 "$bin/driftlab" sum --variant all --backend "$be" --dtype bf16 --dist illcond "${drift_runs[@]}" --json "$w/sum_bf16_illcond.json" >"$w/sum_bf16_illcond.txt" 2>&1
note_rc $? "driftlab sum (bf16 illcond)"
show sum

step "dense and predict benchmarks"
limit 100 "$bin/driftlab_bench" --benchmark_filter="$dense_filter" "${bench_args[@]}" \
  --benchmark_out="$w/bench_dense.json" --benchmark_out_format=json >"$w/bench_dense.log" 2>&1
note_rc $? "driftlab_bench (dense)"
show bench_dense

step "driftlab predict (seeded weights across processes; the wide model's batch sweep)"
limit 40 "$bin/driftlab" predict --backend "$be" --init-seed 1 "${predict_default[@]}" --json "$w/predict_default.json" >"$w/predict_default.txt" 2>&1
note_rc $? "driftlab predict (default model)"
limit 60 "$bin/driftlab" predict --backend "$be" --init-seed 1 "${predict_wide[@]}" --batch-sweep 1,7,64,513 --json "$w/predict_wide.json" >"$w/predict_wide.txt" 2>&1
note_rc $? "driftlab predict (wide model)"
show predict

step "driftlab report (the benchmarks above reused; the article's scenarios run here)"
"$py" - "$w/bench_sum.json" "$w/bench_dense.json" "$w/bench_all.json" <<'EOF'
import json, sys
docs = []
for p in sys.argv[1:3]:
    try:
        with open(p) as f:
            docs.append(json.load(f))
    except (OSError, ValueError) as e:
        print(f"gpu_check: cannot merge {p}: {e}")
if docs:
    merged = {"context": docs[0].get("context", {}), "benchmarks": [b for d in docs for b in d.get("benchmarks", [])]}
    with open(sys.argv[3], "w") as f:
        json.dump(merged, f, indent=1)
EOF
limit 150 "$bin/driftlab" report --backend "$be" "${report_args[@]}" --bench-json "$w/bench_all.json" --out "$w/report" >"$w/report.log" 2>&1
note_rc $? "driftlab report"
rm -f "$w/bench_all.json"  # the same entries are in report/bench.json
tail -3 "$w/report.log"
show report

step "attention decode (issue 12): benchmarks against the copy/probe, and driftlab attention; drift metrics host vs device (issue 13)"
limit 45 "$bin/driftlab_bench" --benchmark_filter="$attention_filter" "${bench_args[@]}" \
  --benchmark_out="$w/bench_attention.json" --benchmark_out_format=json >"$w/bench_attention.log" 2>&1
note_rc $? "driftlab_bench (attention)"
limit 40 "$bin/driftlab" attention --backend "$be" "${attention_runs[@]}" --json "$w/attention.json" >"$w/attention.txt" 2>&1
note_rc $? "driftlab attention"
tail -12 "$w/attention.txt"

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
