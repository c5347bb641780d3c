#!/usr/bin/env python3
"""Prints the GPU check's summary table from the files scripts/gpu_check.sh wrote (stdlib only)."""
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"  (missing {os.path.basename(path)}: {e})")
        return None


def main(out):
    ok = True
    print("=" * 78)
    print("driftlab GPU check summary")
    try:
        with open(os.path.join(out, "ctest.log")) as f:
            log = f.read()
        m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", log)
        skipped = len(re.findall(r"\*\*\*Skipped|Not Run|Disabled", log))
        if m:
            print(f"tests: {int(m.group(3)) - int(m.group(2))}/{m.group(3)} passed, "
                  f"{m.group(2)} failed, {skipped} skipped")
            ok &= m.group(2) == "0"
        else:
            print("tests: no ctest result line found")
            ok = False
    except OSError:
        print("tests: ctest.log missing")
        ok = False

    bench = load(os.path.join(out, "bench_sum.json"))
    if bench:
        ctx = bench.get("context", {})
        print(f"bench host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs, {ctx.get('date', '')}")
        rates = {}
        for b in bench.get("benchmarks", []):
            if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
                continue
            name = b["run_name"] if "run_name" in b else b["name"]
            rates[name] = b.get("bytes_per_second", 0) / 1e9
        targets = {  # variant: (baseline variant, minimum ratio) per the summation issue
            "tree": ("cub", 0.95), "exact": ("cub", 0.80)}
        cpu_targets = {"tree": ("read_probe", 0.90), "atomic": ("tree", 0.95), "exact": ("tree", 0.50)}
        print(f"{'benchmark (median)':44} {'GB/s':>8} {'ratio':>8}  target")
        for name in sorted(rates):
            parts = name.split("/")
            if len(parts) < 6:
                continue
            backend, dtype, dist, variant, n = parts[1], parts[2], parts[3], parts[4], parts[5]
            t = (targets if backend == "cuda" else cpu_targets).get(variant)
            ratio, target = "", ""
            if t:
                base = f"sum/{backend}/{dtype}/{dist}/{t[0]}/{n}"
                if base in rates and rates[base] > 0:
                    r = rates[name] / rates[base]
                    met = r >= t[1]
                    ok &= met or dtype != "f32"
                    ratio = f"{r:.3f}"
                    target = f">= {t[1]:.2f} x {t[0]}: {'met' if met else 'MISSED'}"
            print(f"{name:44} {rates[name]:8.1f} {ratio:>8}  {target}")

    for fname in ("sum_cuda_f32.json", "sum_cuda_illcond.json", "sum_cuda_f64_illcond.json"):
        doc = load(os.path.join(out, fname))
        if not doc:
            ok = False
            continue
        rows = doc.get("rows", [])
        if rows:
            r0 = rows[0]
            print(f"\ndriftlab sum ({fname}): {r0['dtype']} n={r0['n']} runs={r0['runs']} on {r0['device']}")
        print(f"  {'variant':15} {'distinct':>8} {'max_ulp':>8} {'error_ulp':>9} {'GB/s':>8} {'cost':>7}")
        for r in rows:
            cost = r.get("cost_vs_atomic")
            cost = f"{float(cost):.2f}x" if cost not in (None, "nan") else "-"
            print(f"  {r['variant']:15} {r['distinct_outputs']:>8} {str(r['max_ulp']):>8} "
                  f"{str(r['error_ulp']):>9} {float(r['gbps']):8.1f} {cost:>7}")
            if r["variant"] in ("tree", "exact", "cub") and r["distinct_outputs"] != 1:
                print(f"  !! {r['variant']} gave {r['distinct_outputs']} distinct outputs")
                ok = False
    dense = load(os.path.join(out, "bench_dense.json"))
    if dense:
        rates = {}
        for b in dense.get("benchmarks", []):
            if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"])
            rates[name] = (b["FLOP/s"] / 1e9 if b.get("FLOP/s") else None), b.get("items_per_second")
        print(f"\n{'dense / predict benchmark (median)':52} {'GFLOP/s':>9} {'samples/s':>11}  vs cublas")
        for name in sorted(rates):
            gflops, items = rates[name]
            ratio = ""
            if name.startswith("dense/cuda/") and gflops:
                shape = name.split("/", 3)[3] if name.count("/") >= 3 else ""
                base = rates.get(f"dense/cuda/cublas/{shape}", (None, None))[0]
                if base:
                    ratio = f"{gflops / base:.3f}"
                    if "invariant" in name and "B:4096" in name:
                        met = gflops / base >= 0.80
                        ratio += f" (>= 0.80: {'met' if met else 'MISSED'})"
            print(f"{name:52} {gflops or 0:9.1f} {items or 0:11.4g}  {ratio}")

    for fname in ("predict_default.json", "predict_wide.json"):
        doc = load(os.path.join(out, fname))
        if not doc:
            ok = False
            continue
        rows = doc.get("rows", [])
        if rows:
            r0 = rows[0]
            print(f"\ndriftlab predict ({fname}): model {r0['model']} batch {r0['batch']} "
                  f"{r0['runs']} runs x {r0['processes']} processes")
        for r in rows:
            extra = f" batch_distinct={r['batch_distinct']}" if "batch_distinct" in r else ""
            print(f"  {r['variant']:10} distinct={r['distinct_outputs']:<4} max_ulp={str(r['max_ulp']):<6} "
                  f"argmax_flips={r['argmax_flips']:<3} samples/s={float(r['samples_per_s']):.4g}{extra}")
            if r["variant"] in ("tree", "invariant") and r["distinct_outputs"] != 1:
                ok = False
            if r["variant"] == "invariant" and r.get("batch_distinct", 1) != 1:
                ok = False

    doc = load(os.path.join(out, "scenarios.json"))
    if doc:
        print("\nscenarios:")
        for r in doc.get("rows", []):
            print(f"  {r['id']}. {r['verdict']:16} {r['verdict_text'][:90]}")
    else:
        ok = False

    print("=" * 78)
    print("GPU check:", "OK" if ok else "PROBLEMS (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
