#!/usr/bin/env python3
"""The Python side reads the binary's variant tables (ctest Variants.PythonListsEqualTheTables).

    check_variants.py DRIFTLAB_EXE

plots/variants.json must be byte for byte what `driftlab variants --json` prints (regenerate it
with that command after editing kernels/common/*_variant.h), and the lists that plots/plot.py,
plots/plot_attention.py and scripts/gpu_check_summary.py build from it must equal the binary's
tables: names, backends, levels, colours, markers and legend order.  Standard library only.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
failed = 0


def check(ok, what, detail=""):
    global failed
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    failed += 0 if ok else 1


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv):
    if len(argv) != 2:
        print("usage: check_variants.py DRIFTLAB_EXE", file=sys.stderr)
        return 2
    p = subprocess.run([argv[1], "variants", "--json"], capture_output=True)
    check(p.returncode == 0 and not p.stderr, "driftlab variants --json exits 0, silent on stderr", p.stderr.decode())
    committed = (ROOT / "plots" / "variants.json").read_bytes()
    check(p.stdout == committed, "plots/variants.json is the binary's output",
          "regenerate it: driftlab variants --json > plots/variants.json")
    doc = json.loads(p.stdout)
    tables = {op: doc[op] for op in ("sum", "dense", "attention")}
    check(all(tables.values()), "every table has rows", str({k: len(v) for k, v in tables.items()}))

    plain = subprocess.run([argv[1], "variants"], capture_output=True, text=True)
    check(plain.returncode == 0 and all(f"  {r['name']} " in plain.stdout and r["level"] in plain.stdout
                                        for rows in tables.values() for r in rows),
          "driftlab variants prints every name and level", plain.stdout[-500:])

    # plot.py: one style per name; a name in both sum and dense must be drawn alike
    plot = load("plot", ROOT / "plots" / "plot.py")
    shared = {}
    for r in tables["sum"] + tables["dense"]:
        style = (r["colour"], r["marker"], r["plot_order"])
        check(shared.setdefault(r["name"], style) == style, f"sum and dense draw '{r['name']}' alike",
              f"{shared[r['name']]} against {style}")
        check(plot.COLOURS.get(r["name"]) == r["colour"], f"plot.py colour of {r['name']}",
              f"{plot.COLOURS.get(r['name'])} against {r['colour']}")
        check(plot.MARKERS.get(r["name"], "") == r["marker"], f"plot.py marker of {r['name']}",
              f"{plot.MARKERS.get(r['name'])} against {r['marker']}")
    orders = [o for _, _, o in shared.values() if o is not None and o >= 0] + \
             [o for _, _, o in plot.BASELINES.values() if o is not None]
    check(len(orders) == len(set(orders)), "no two names of sum, dense and the baselines share a plot_order",
          str(sorted(orders)))
    ordered = sorted([(o, n) for n, (_, _, o) in shared.items() if o is not None] +
                     [(o, n) for n, (_, _, o) in plot.BASELINES.items() if o is not None])
    check(plot.ORDER == [n for _, n in ordered], "plot.py ORDER is the tables' plot_order with the baselines",
          f"{plot.ORDER} against {ordered}")
    check(not set(plot.BASELINES) & set(shared), "plot.py's baselines are not variants", str(set(plot.BASELINES) & set(shared)))

    att = load("plot_attention", ROOT / "plots" / "plot_attention.py")
    want = [r["name"] for r in sorted(tables["attention"], key=lambda r: r["plot_order"])]
    check(att.ORDER == want, "plot_attention.py ORDER is the attention table's", f"{att.ORDER} against {want}")
    check(att.STYLE == {r["name"]: (r["colour"], r["marker"]) for r in tables["attention"]},
          "plot_attention.py STYLE is the attention table's", str(att.STYLE))

    # The all-reduce's figure (plot.py's allreduce_ranks) draws the allreduce table's styles and order.
    ar = doc.get("allreduce") or []
    check(bool(ar), "the allreduce table has rows")
    check(plot.ALLREDUCE_STYLES == {r["name"]: (r["colour"], r["marker"]) for r in ar},
          "plot.py ALLREDUCE_STYLES is the allreduce table's", str(plot.ALLREDUCE_STYLES))
    check(plot.ALLREDUCE_ORDER == [r["name"] for r in sorted(ar, key=lambda r: r["plot_order"])],
          "plot.py ALLREDUCE_ORDER is the allreduce table's plot_order", str(plot.ALLREDUCE_ORDER))

    # The TP figure (plot.py's tp_ranks) draws the tp table's styles and order.
    tpt = doc.get("tp") or []
    check([r["name"] for r in tpt] == ["mpi", "ring", "exact", "invariant"], "the tp table lists predict --tp's variants",
          str([r["name"] for r in tpt]))
    check(plot.TP_STYLES == {r["name"]: (r["colour"], r["marker"]) for r in tpt},
          "plot.py TP_STYLES is the tp table's", str(plot.TP_STYLES))
    check(plot.TP_ORDER == [r["name"] for r in sorted(tpt, key=lambda r: r["plot_order"])],
          "plot.py TP_ORDER is the tp table's plot_order", str(plot.TP_ORDER))

    summary = load("gpu_check_summary", ROOT / "scripts" / "gpu_check_summary.py")
    for op, rows in tables.items():
        for be in ("cpu", "cuda"):
            want = [r["name"] for r in rows if be in r["backends"]]
            check(summary.on(op, be) == want, f"gpu_check_summary: {op} variants on {be}", f"{summary.on(op, be)} against {want}")
        for r in rows:
            check(summary.VARIANTS[op][r["name"]]["level"] == r["level"] and r["level"] in summary.LEVELS,
                  f"gpu_check_summary: level of {op} {r['name']}", r["level"])
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
