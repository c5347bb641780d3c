#!/usr/bin/env bash
# Session 20 hostile sweep (docs/bad-input-session20.md): the tree and atomic tiles' linear touch
# (kernels/cpu/sum_tile.cpp), which runs only when the input is larger than the last-level cache
# (kernels/cpu/sum_tile.h: touch_threshold_bytes), so the unit tests reach it only through a test
# hook.  Here `driftlab sum` meets it for real: sizes just under and over the threshold, odd
# tails, every dtype and a 2^26 input, at DRIFTLAB_ISA=avx512, avx2 (touch) and scalar (the plain
# form, no touch), 1 and 2 threads.  Every run must exit 0 and give the same result_bits: tree
# always (and one distinct output over its runs), atomic under a seeded schedule (--schedule
# shuffle:5: each run replays its own seeded order, so the runs differ from each other, and every
# level and thread count must give the same first result, distinct count and max ulp).  Then
# scripts/mutation_check.py's new --check-lines on bad command lines.  Not in CI; run after a
# build in ./build:
#   tests/hostile_sweep_session20.sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DL=${DL:-$ROOT/build/driftlab}
PY=${PY:-python3}
MC="$ROOT/scripts/mutation_check.py"
. "$ROOT/tests/sweep_lib.sh"  # scratch folder, counts, want RC LINES DESC -- CMD...

L3=$(cat /sys/devices/system/cpu/cpu0/cache/index3/size 2>/dev/null || echo unknown)
echo "last-level cache (sysfs cpu0 index3): $L3 -- inputs larger than this take the touch"

for v in tree atomic; do
  X=(); [ $v = atomic ] && X=(--schedule shuffle:5)
  sum_case "$v f32 uniform n=2^23 (32 MiB: at the threshold here, no touch)" $v --n 8388608 "${X[@]}"
  sum_case "$v f32 uniform n=2^23+1 (a 1-element last tile, touch)" $v --n 8388609 "${X[@]}"
  sum_case "$v f32 illcond n=2^23+65535 (a short last tile)" $v --n 8454143 --dist illcond "${X[@]}"
  sum_case "$v f32 normal n=2^24+1029 (a short last row)" $v --n 16778245 --dist normal "${X[@]}"
  sum_case "$v f32 illcond n=2^26" $v --n 2^26 --dist illcond "${X[@]}"
  sum_case "$v f64 uniform n=2^22+1" $v --n 4194305 --dtype f64 "${X[@]}"
  sum_case "$v f64 illcond n=2^25-3" $v --n 33554429 --dtype f64 --dist illcond "${X[@]}"
  sum_case "$v bf16 illcond n=2^24+1" $v --n 16777217 --dtype bf16 --dist illcond "${X[@]}"
  sum_case "$v f16 normal n=2^26-1" $v --n 67108863 --dtype f16 --dist normal "${X[@]}"
done
sum_case "tree f32 seed 9 n=3*2^23+7" tree --n 25165831 --seed 9 --dist normal

# mutation_check.py --check-lines: bad command lines end before anything is read.
want 0 0 "mutation_check --check-lines" -- python3 "$MC" --check-lines
want 0 0 "mutation_check --check-lines --only K3,K4" -- python3 "$MC" --check-lines --only K3,K4
want 2 1 "mutation_check --check-lines --only K99" -- python3 "$MC" --check-lines --only K99
want 2 1 "mutation_check --check-lines --only ''" -- python3 "$MC" --check-lines --only ''
want 2 1 "mutation_check --check-lines extra" -- python3 "$MC" --check-lines extra
want 2 1 "mutation_check --check-lines=yes" -- python3 "$MC" --check-lines=yes
want 2 1 "mutation_check --check-line (a prefix is not taken)" -- python3 "$MC" --check-line
# A stale line: a copy of the script whose K3 line no longer matches; exit 1, one line naming it.
sed 's|acc\[i\] = std::fma(p\[t\], v\[t \* d + i\], acc\[i\]);",|acc[i] = std::fma(p[t], v[t*d + i], acc[i]);",|' "$MC" > "$ROOT/scripts/.mc_stale_probe.py"
want 1 1 "mutation_check --check-lines on a stale K3" -- python3 "$ROOT/scripts/.mc_stale_probe.py" --check-lines
has "the stale message names K3" err.txt "K3 (kernels/cpu/attention.cpp"
rm -f "$ROOT/scripts/.mc_stale_probe.py"
# Bad sizes near the new code: one line, exit 2.
want 2 1 "sum --n 2^64" -- "$DL" sum --backend cpu --n 2^64 --variant tree
want 2 1 "sum --n -1" -- "$DL" sum --backend cpu --n -1 --variant tree
want 2 1 "sum --n 1e9x" -- "$DL" sum --backend cpu --n 1e9x --variant tree
want 2 1 "sum --threads 100000" -- "$DL" sum --backend cpu --n 1000 --threads 100000 --variant tree

echo "session 20 sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
