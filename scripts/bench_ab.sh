#!/bin/bash
# A/B two driftlab_bench binaries: old, new, old, new ... (ROUNDS rounds), each run interleaved
# with 3 repetitions, then per benchmark the median over rounds of each binary's median and the
# ratio new / old (rows above 1.05 marked).  Two binaries cannot share one Google Benchmark run,
# so alternating them is the fair comparison on a machine whose load moves.
#   scripts/bench_ab.sh OLD_BIN NEW_BIN FILTER [ROUNDS] [OUTDIR]
set -euo pipefail
if [ $# -lt 3 ]; then echo "usage: scripts/bench_ab.sh OLD_BIN NEW_BIN FILTER [ROUNDS] [OUTDIR]" >&2; exit 2; fi
OLD=$1 NEW=$2 F=$3 R=${4:-2} OUT=${5:-bench-ab}
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "bench_ab: $b is not an executable" >&2; exit 2; }; done
mkdir -p "$OUT"
for r in $(seq 1 "$R"); do
  for who in old new; do
    BIN=$OLD; [ $who = new ] && BIN=$NEW
    "$BIN" --benchmark_filter="$F" --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \
      --benchmark_report_aggregates_only=true --benchmark_out="$OUT/$who-$r.json" --benchmark_out_format=json >/dev/null
    echo "$who round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  done
done
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
t = {"old": {}, "new": {}}
for who in t:
    for f in glob.glob(f"{out}/{who}-*.json"):
        for b in json.load(open(f))["benchmarks"]:
            if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
                t[who].setdefault(b["run_name"].rsplit("/real_time", 1)[0], []).append(b["real_time"])
rows = sorted((statistics.median(t["new"][k]) / statistics.median(t["old"][k]), k,
               statistics.median(t["old"][k]), statistics.median(t["new"][k])) for k in set(t["old"]) & set(t["new"]))
if not rows:
    sys.exit("bench_ab: no benchmark ran in both binaries (check the filter)")
print("| benchmark | old ms | new ms | new / old |\n| --- | --- | --- | --- |")
for r, k, o, n in sorted(rows, key=lambda x: x[1]):
    print(f"| `{k}` | {o:.4g} | {n:.4g} | {r:.3f}{' **slower**' if r > 1.05 else ''} |")
print(f"\n{len(rows)} benchmarks; median new / old {statistics.median(r[0] for r in rows):.3f}; above 1.05: {sum(r[0] > 1.05 for r in rows)}")
PY
