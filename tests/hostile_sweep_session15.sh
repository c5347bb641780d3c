#!/usr/bin/env bash
# Session 15 hostile sweep (docs/bad-input-session15.md): the surfaces this session touched -- the
# drift verdict's new wording (both twins), the CUDA entry points' refusals as the command line and
# the benchmark binary reach them on a machine without a GPU, --split-k beside every variant, and
# the GPU check's own arguments -- tried as a hostile user.  Each case states the exit status it
# wants and whether stderr must be exactly one line; the file cases also check that no file
# changed.  Not in CI (Scenarios.*, Keras.*, CudaSumArgs.*, DenseCudaArgs.* hold the essentials);
# run after a build in ./build:  tests/hostile_sweep_session15.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PY=${PY:-python3}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...
FIX=$ROOT/tests/fixtures/keras_check.json
NEW="the real runs counted here, of the fixed-order kernels, did not drift"

SCEN=("$DL" scenarios --quick --backend cpu)

# --- the drift verdict's wording, as printed, in the JSON and in the Python twin
want 0 any "scenarios: printed" -- "${SCEN[@]}" --json scen.json
has "  the drift verdict says which real runs it counted" out.txt "$NEW"
hasnt "  the old 'no real run counted here drifted' is gone" out.txt "no real run counted here drifted"
has "  the JSON row says the same" scen.json "$NEW"
"$PY" - "$ROOT/scripts" scen.json >twin.txt 2>&1 <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import keras_check
r = [x for x in json.load(open(sys.argv[2]))["rows"] if x["key"] == "drift"][0]
v, text = keras_check.verdict("drift", r["numbers"], wide="the 256-1024-1024-10 model")
print("opening", v == r["verdict"])
print("twin-text", text == r["verdict_text"])
EOF
has "  the Python twin gives the same opening" twin.txt "opening True"
has "  ... and the same closing clause" twin.txt "twin-text True"
# the --keras reader on the drift row: a Keras verdict its rule does not give is refused
mutate drift_bad.json drift 'r["verdict"] = "holds only when"'
want 1 1 "--keras: Keras drift row 'holds only when' at 0 ULP and no model" -- "${SCEN[@]}" --keras drift_bad.json
mutate drift_neg.json drift 'r["numbers"]["max_ulp"] = -3'
want 1 1 "--keras: Keras drift row with a negative ULP" -- "${SCEN[@]}" --keras drift_neg.json
mutate drift_str.json drift 'r["numbers"]["max_ulp"] = "0"'
want 1 1 "--keras: Keras drift row with a ULP that is a string" -- "${SCEN[@]}" --keras drift_str.json
echo old >kept.json
want 1 1 "--keras refused: an existing --json is not touched" -- "${SCEN[@]}" --keras drift_bad.json --json kept.json
same "  kept.json unchanged" kept.json old

# --- the CUDA paths on a machine without a GPU: one line, exit 1, no file changed
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "skip: a GPU is here; the no-GPU cases below would run for real"
else
  echo keep >k.json; echo keep >k.npy
  want 1 1 "sum --backend cuda" -- "$DL" sum --backend cuda --n 1000 --json k.json
  same "  k.json unchanged" k.json keep
  want 1 1 "sum --backend cuda --variant exact --dtype bf16" -- "$DL" sum --backend cuda --variant exact --dtype bf16 --n 4097
  want 1 1 "predict --backend cuda --variant invariant --save-output" -- "$DL" predict --backend cuda --variant invariant --save-output k.npy
  same "  k.npy unchanged" k.npy keep
  want 1 1 "predict --backend cuda --dtype bf16 --split-k 8" -- "$DL" predict --backend cuda --dtype bf16 --variant tree --split-k 8
  want 1 1 "attention --backend cuda" -- "$DL" attention --backend cuda
  want 1 1 "trace --backend cuda" -- "$DL" trace --backend cuda --compare batch:1,64
  want 1 1 "report --backend cuda" -- "$DL" report --quick --backend cuda --out rep_cuda
  [ ! -e rep_cuda ] && { pass=$((pass + 1)); echo "ok     no rep_cuda folder left"; } || { fail=$((fail + 1)); echo "FAIL   rep_cuda left behind"; }
  want 2 1 "predict --variant cublas --backend cpu" -- "$DL" predict --variant cublas --backend cpu
  # the benchmark binary: GPU benchmarks skip with the reason and the JSON is still written
  want 0 any "bench: sum/cuda exact and exact_prev without a GPU" -- "$BENCH" --benchmark_filter='^sum/cuda/f32/uniform/(exact|exact_prev)/1048576/' --benchmark_min_time=0.01 --benchmark_out=b.json
  has "  b.json names the reason" b.json "error_message"
  want 0 any "bench: dense/cuda invariant_tc and invariant_1block without a GPU" -- "$BENCH" --benchmark_filter='^dense/cuda/(invariant_tc|invariant_1block)/' --benchmark_min_time=0.01 --benchmark_out=d.json
  has "  d.json names the reason" d.json "error_message"
fi

# --- --split-k beside every variant
for v in "0" "33" "-1" "2^6" "1e1" " 4" "4 " "0x4" "4.0" "" "99999999999999999999"; do
  want 2 1 "predict --split-k '$v'" -- "$DL" predict --variant tree --split-k "$v"
done
want 0 0 "predict --split-k 2^5 (32) with tree" -- "$DL" predict --variant tree --split-k 2^5 --runs 2
want 2 1 "predict --split-k 4 with invariant (refused since session 25: it splits nothing)" -- "$DL" predict --variant invariant --split-k 4 --runs 2
want 0 0 "predict --split-k 1 with atomic" -- "$DL" predict --variant atomic --split-k 1 --runs 2

# --- the GPU check's own arguments
want 2 1 "gpu_check.sh with no OUTDIR" -- "$ROOT/scripts/gpu_check.sh"
want 2 1 "gpu_check.sh with two OUTDIRs" -- "$ROOT/scripts/gpu_check.sh" a b
want 2 1 "gpu_check.sh --bin with no folder" -- "$ROOT/scripts/gpu_check.sh" out --bin
want 2 1 "gpu_check.sh --bin a missing folder" -- "$ROOT/scripts/gpu_check.sh" --bin /nonexistent out
want 2 1 "gpu_check.sh --bin a folder without the binaries" -- "$ROOT/scripts/gpu_check.sh" --bin /tmp out
want 2 1 "gpu_check.sh --frobnicate" -- "$ROOT/scripts/gpu_check.sh" --frobnicate out
echo file >afile
want 1 1 "gpu_check.sh OUTDIR that is a file" -- "$ROOT/scripts/gpu_check.sh" --bin "$ROOT/build" afile
same "  afile unchanged" afile file

echo "session 15 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
