#!/usr/bin/env bash
# driftlab's GPU check: on a machine with an NVIDIA GPU and the CUDA toolkit (no network needed)
#   1. configures and builds with CUDA for the GPU it finds,
#   2. runs every test with the GPU tests active,
#   3. runs the summation benchmarks (CUDA at 2^28 with cub and a copy as baselines; CPU at 2^26
#      with the read probe) and `driftlab sum --variant all` on the GPU,
#   3c. writes the full `driftlab report` (JSON, figures, REPORT.md) under OUTDIR/report,
#   3b. runs the dense benchmarks (4096^3 with cublasSgemm FP32 as the baseline; predict at batch
#      1, 64, 4096) and `driftlab predict` / `driftlab scenarios` on the GPU,
#   4. writes logs and JSON under OUTDIR and prints a summary table last.
# Sized for an H200 with 16 cores: about 5-7 minutes.  GoogleTest/Google Benchmark are taken from
# the system, or from .deps/ (scripts/pack_gpu_deps.sh) when the machine lacks them.
# usage: scripts/gpu_check.sh OUTDIR
set -uo pipefail
out=${1:?usage: scripts/gpu_check.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
build="$root/build-gpu"
export PATH="/usr/local/cuda/bin:$PATH"
t0=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - t0 ))s] $*"; }
status=0

step "GPU"
nvidia-smi | tee "$out/nvidia-smi.txt"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
arch="${cap:-90}-real"
prefix=()
[ -d "$root/.deps" ] && prefix=("-DCMAKE_PREFIX_PATH=$root/.deps")

step "configure and build (CUDA architectures $arch)"
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDRIFTLAB_CUDA=ON \
         -DCMAKE_CUDA_ARCHITECTURES="$arch" "${prefix[@]}" &&
       cmake --build "$build" -j "$(nproc)"; } >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "gpu_check: build failed (log: $out/build.log)"
  exit 1
fi
tail -3 "$out/build.log"

step "tests (GPU tests active)"
ctest --test-dir "$build" --output-on-failure -j 4 --timeout 300 >"$out/ctest.log" 2>&1 || status=1
grep -E "tests passed|tests failed|Failed|\*\*\*" "$out/ctest.log" | tail -15
grep -E "Skipped|SKIPPED" "$out/ctest.log" | head -5

step "summation benchmarks"
"$build/driftlab_bench" \
  --benchmark_filter='^sum/cuda/f32/uniform/.*/268435456$|^sum/cuda/f64/uniform/(tree|exact|cub|d2d_copy)/134217728$|^sum/cpu/f32/uniform/(read_probe|atomic|tree|exact)/67108864$' \
  --benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/bench_sum.json" --benchmark_out_format=json >"$out/bench_sum.log" 2>&1 || status=1
tail -25 "$out/bench_sum.log"

step "driftlab sum --variant all on the GPU"
"$build/driftlab" sum --variant all --backend cuda --n 2^28 --runs 20 --json "$out/sum_cuda_f32.json" \
  | tee "$out/sum_cuda_f32.txt" || status=1
"$build/driftlab" sum --variant all --backend cuda --n 2^24 --dist illcond --runs 100 \
  --json "$out/sum_cuda_illcond.json" | tee "$out/sum_cuda_illcond.txt" || status=1
"$build/driftlab" sum --variant all --backend cuda --n 2^24 --dtype f64 --dist illcond --runs 50 \
  --json "$out/sum_cuda_f64_illcond.json" >"$out/sum_cuda_f64_illcond.txt" || status=1

step "dense and predict benchmarks"
"$build/driftlab_bench" \
  --benchmark_filter='^dense/cuda/|^predict/cuda/' \
  --benchmark_min_time=0.2 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/bench_dense.json" --benchmark_out_format=json >"$out/bench_dense.log" 2>&1 || status=1
tail -30 "$out/bench_dense.log"

step "driftlab predict and scenarios on the GPU"
"$build/driftlab" predict --backend cuda --runs 20 --processes 3 --json "$out/predict_default.json" \
  | tee "$out/predict_default.txt" || status=1
"$build/driftlab" predict --backend cuda --layers 784,4096,4096,10 --init-seed 1 --batch 64 --runs 20 \
  --batch-sweep 1,7,64,513 --json "$out/predict_wide.json" | tee "$out/predict_wide.txt" || status=1
"$build/driftlab" scenarios --backend cuda --json "$out/scenarios.json" | tee "$out/scenarios.txt" || status=1

step "the full report (JSON, figures, REPORT.md)"
"$build/driftlab" report --backend cuda --out "$out/report" 2>&1 | tail -5 || status=1

step "summary"
python3 "$root/scripts/gpu_check_summary.py" "$out" || status=1
echo "gpu_check: done in $(( $(date +%s) - t0 ))s, status $status, files in $out"
exit $status
