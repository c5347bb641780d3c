#!/usr/bin/env bash
# Session 11 hostile sweep (docs/bad-input-session11.md): the surfaces this session touched --
# scripts/mutation_check.py's command line and its lock, and the commands whose CUDA kernels now
# carve shared memory by the headers' layouts (attention at head dims around the 48 KiB opt-in,
# predict at 33-64 rows) -- tried as a hostile user on a machine without a GPU.  Each case states
# the exit status it wants and whether stderr must be exactly one line.  Not in CI (the mutation
# check's cases would build nothing, but a mistake could start a 30-minute run); run after a build
# in ./build.
#   tests/hostile_sweep_session11.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
MC="$ROOT/scripts/mutation_check.py"
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...
# scripts/mutation_check.py: every bad command line ends before anything is built or mutated
want 2 1 "mutation_check --only '' (was: every mutant, a 30-minute run)" -- python3 "$MC" --only ''
want 2 1 "mutation_check --only ' '" -- python3 "$MC" --only ' '
want 2 1 "mutation_check --only D1,,D2" -- python3 "$MC" --only D1,,D2
want 2 1 "mutation_check --only ,D1" -- python3 "$MC" --only ,D1
want 2 1 "mutation_check --only D99" -- python3 "$MC" --only D99
want 2 1 "mutation_check --only d1 (ids are case-sensitive)" -- python3 "$MC" --only d1
want 2 1 "mutation_check --only without a value" -- python3 "$MC" --only
want 2 1 "mutation_check --jobs 0" -- python3 "$MC" --jobs 0 --only D1
want 2 1 "mutation_check --jobs -3" -- python3 "$MC" --jobs -3 --only D1
want 2 1 "mutation_check --jobs x" -- python3 "$MC" --jobs x --only D1
want 2 1 "mutation_check --jobs 1e3" -- python3 "$MC" --jobs 1e3 --only D1
want 2 1 "mutation_check --jobs 999" -- python3 "$MC" --jobs 999 --only D1
want 2 1 "mutation_check --filter without a value" -- python3 "$MC" --filter
want 2 1 "mutation_check an unknown flag" -- python3 "$MC" --bogus
want 2 1 "mutation_check a stray argument" -- python3 "$MC" --list extra
want 0 any "mutation_check --list --only D5,H1: two rows" -- python3 "$MC" --list --only D5,H1
[ "$(wc -l <out.txt)" -eq 2 ] && grep -q '^D5 *replay' out.txt && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL --list rows"; }
want 0 any "mutation_check --list: 57 mutants, 34 in the replay group (the catalog grew after session 11)" -- python3 "$MC" --list
[ "$(wc -l <out.txt)" -eq 57 ] && [ "$(awk '$2 == "replay"' out.txt | wc -l)" -eq 34 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL --list counts"; }
want 0 any "mutation_check --help" -- python3 "$MC" --help
# a second run while one holds the lock: refused, nothing mutated
mkdir -p "$ROOT/build-mutation"
flock "$ROOT/build-mutation/mutation.lock" sleep 8 &
holder=$!
sleep 1
before=$(cd "$ROOT" && git diff --stat -- kernels | md5sum)
want 1 1 "mutation_check while another run holds the lock" -- python3 "$MC" --only D1
after=$(cd "$ROOT" && git diff --stat -- kernels | md5sum)
[ "$before" = "$after" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL the refused run changed kernels/"; }
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
# attention at the head dims around the shared-memory opt-in (CPU backend here; CUDA says why not)
for d in 1 3 92 93 96 128 255 256; do
  want 0 any "attention --head-dim $d (cpu)" -- "$DL" attention --backend cpu --head-dim "$d" --heads 2 --batch 2 --runs 2
done
want 2 1 "attention --head-dim 257 (over the kernel's 256)" -- "$DL" attention --backend cpu --head-dim 257
want 2 1 "attention --head-dim 0" -- "$DL" attention --backend cpu --head-dim 0
want 2 1 "attention --head-dim -128" -- "$DL" attention --backend cpu --head-dim -128
want 1 1 "attention --backend cuda --head-dim 128 without a GPU" -- "$DL" attention --backend cuda --head-dim 128
# predict at 33-64 rows (the skinny kernel's opted-in shared memory on a GPU)
want 0 any "predict --batch 33, f32" -- "$DL" predict --layers 64,128,10 --batch 33 --runs 2 --init-seed 5
want 0 any "predict --batch 64, bf16" -- "$DL" predict --dtype bf16 --layers 64,128,10 --batch 64 --runs 2 --init-seed 5
want 1 1 "predict --backend cuda --batch 48 without a GPU" -- "$DL" predict --backend cuda --batch 48
echo "session 11 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
