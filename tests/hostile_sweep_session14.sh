#!/usr/bin/env bash
# Session 14 hostile sweep (docs/bad-input-session14.md): the surfaces this session touched -- the
# fourth verdict opening ("not tested") as the --keras reader takes it, the scenarios' printed and
# JSON rows, and the benchmark-only dense/cuda/invariant_1block -- tried as a hostile user on a
# machine without a GPU.  Each case states the exit status it wants and whether stderr must be
# exactly one line; the file cases also check that no file changed.  Not in CI (Scenarios.* and
# Keras.* hold the essentials); run after a build in ./build:  tests/hostile_sweep_session14.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
BENCH=${BENCH:-$ROOT/build/driftlab_bench}
PY=${PY:-python3}
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...
FIX=$ROOT/tests/fixtures/keras_check.json

# mutate NAME KEY PYTHON: a copy of the recorded cross-check with row KEY changed by PYTHON (r: the row)
SCEN=("$DL" scenarios --quick --backend cpu)

# --- the reader: "not tested" only where the rule gives it, spelled exactly
mutate nt_ok.json remnant_dropout 'r["numbers"]["distinct"] = 0; r["verdict"] = "not tested"; r["verdict_text"] = "not tested here"'
want 0 any "--keras: remnant at count 0 saying 'not tested' is read" -- "${SCEN[@]}" --keras nt_ok.json --json ok.json
has "  its row's Keras verdict is 'not tested'" ok.json '"verdict": "not tested"'
mutate nt_count1.json remnant_dropout 'r["verdict"] = "not tested"'
want 1 1 "--keras: 'not tested' beside a count of 1" -- "${SCEN[@]}" --keras nt_count1.json
has "  the line names the rule's verdict" err.txt "rule remnant gives 'does not hold'"
for key in example1 predict_dropout example2_within_article example3 restored init lesser drift batch threads conclusion_training_false; do
  mutate "nt_$key.json" "$key" 'r["verdict"] = "not tested"'
  want 1 1 "--keras: 'not tested' on $key (its rule never gives it)" -- "${SCEN[@]}" --keras "nt_$key.json"
done
for v in "Not tested" "NOT TESTED" "not tested " " not tested" "not-tested" "untested" "not_tested" "not tested\n" ""; do
  mutate spelled.json remnant_dropout "r['numbers']['distinct'] = 0; r['verdict'] = '''$v'''"
  want 1 1 "--keras: remnant's verdict spelled '$(printf %s "$v" | head -c 20)'" -- "${SCEN[@]}" --keras spelled.json
done
mutate nt_count0_doesnot.json remnant_dropout 'r["numbers"]["distinct"] = 0'
want 1 1 "--keras: count 0 still saying 'does not hold' (the old opening)" -- "${SCEN[@]}" --keras nt_count0_doesnot.json
has "  the line names 'not tested'" err.txt "gives 'not tested'"
mutate neg.json remnant_dropout 'r["numbers"]["distinct"] = -1; r["verdict"] = "not tested"'
want 1 1 "--keras: a negative count beside 'not tested'" -- "${SCEN[@]}" --keras neg.json
mutate frac.json remnant_dropout 'r["numbers"]["distinct"] = 0.5; r["verdict"] = "not tested"'
want 1 1 "--keras: a count of 0.5 beside 'not tested'" -- "${SCEN[@]}" --keras frac.json
mutate nonum.json remnant_dropout 'r["numbers"] = {}; r["verdict"] = "not tested"'
want 1 1 "--keras: no count at all beside 'not tested'" -- "${SCEN[@]}" --keras nonum.json
mutate numtype.json remnant_dropout 'r["verdict"] = 0'
want 1 1 "--keras: a verdict that is a number" -- "${SCEN[@]}" --keras numtype.json
mutate numnull.json remnant_dropout 'r["verdict"] = None'
want 1 1 "--keras: a verdict that is null" -- "${SCEN[@]}" --keras numnull.json

# --- an existing --json kept when the --keras file is refused; replaced when it is read
echo old >kept.json
want 1 1 "--keras refused: an existing --json is not touched" -- "${SCEN[@]}" --keras nt_count1.json --json kept.json
same "  kept.json unchanged" kept.json old
want 0 any "--keras read: --json replaced" -- "${SCEN[@]}" --keras nt_ok.json --json kept.json
has "  kept.json now holds the rows" kept.json '"remnant_dropout"'

# --- what a reader sees: the printed row and the report's table
want 0 any "scenarios with the recorded cross-check: printed" -- "${SCEN[@]}" --keras "$FIX"
has "  remnant's driftlab column says NOT TESTED" out.txt "NOT TESTED"
has "  its Keras explanation is 'keras alone', not a disagreement" out.txt "keras alone:       driftlab's model cannot test"
want 0 any "scenarios without a cross-check: printed" -- "${SCEN[@]}"
has "  remnant's verdict opens 'not tested here'" out.txt "driftlab verdict:  not tested here"
want 0 any "report --quick with the recorded cross-check" -- "$DL" report --quick --backend cpu --out rep --keras "$FIX"
has "  REPORT.md's remnant row opens 'not tested here'" rep/REPORT.md "| not tested here: driftlab's model"

# --- the Python twin (scripts/keras_check.py) gives the same openings on the shared cases
want 0 any "keras_check.py --self-test (shared verdict cases)" -- "$PY" "$ROOT/scripts/keras_check.py" --self-test "$ROOT/tests/fixtures/verdict_cases.json"

# --- the benchmark-only one-block dense kernel, without a GPU
want 0 any "bench: invariant_1block without a GPU: skipped, not a crash" -- "$BENCH" --benchmark_filter=dense/cuda/invariant_1block --benchmark_min_time=0.01
has "  its line names the reason" out.txt "ERROR OCCURRED: 'no usable GPU"
want 0 any "bench: listing invariant_1block" -- "$BENCH" --benchmark_list_tests --benchmark_filter=invariant_1block
has "  listed at 4096^3" out.txt "dense/cuda/invariant_1block/B:4096/K:4096/N:4096/manual_time"
want 2 1 "bench: invariant_1block with min_time '0.01s'" -- "$BENCH" --benchmark_filter=invariant_1block --benchmark_min_time=0.01s
want 2 1 "bench: invariant_1block with repetitions -1" -- "$BENCH" --benchmark_filter=invariant_1block --benchmark_repetitions=-1
echo '{"k":1}' >b.json
want 2 1 "bench: a bad flag after --benchmark_out: the file kept" -- "$BENCH" --benchmark_filter=invariant_1block --benchmark_out=b.json --bogus
same "  b.json unchanged" b.json '{"k":1}'

echo "session 14 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
