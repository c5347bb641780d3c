#!/usr/bin/env python3
"""Checks plots/plot_trace.py on real `driftlab trace` JSON.

    python tests/check_plot_trace.py DRIFTLAB OUTDIR

Runs DRIFTLAB trace twice on a small model (tree, which diverges between batch 1 and 64, and
invariant, which does not), draws the figure into OUTDIR and checks the PNG and SVG are real;
then that a JSON that is not trace's is refused with one line and exit 1.
"""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PLOT = Path(__file__).resolve().parent.parent / "plots" / "plot_trace.py"


def main(argv) -> int:
    exe, out = argv[1], Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for v in ("tree", "invariant"):
        j = out / f"trace_{v}.json"
        subprocess.run([exe, "trace", "--backend", "cpu", "--layers", "128,256,64,10", "--init-seed", "3",
                        "--variant", v, "--compare", "batch:1,64", "--json", str(j)], check=True,
                       stdout=subprocess.DEVNULL)
        files.append(str(j))
    r = subprocess.run([sys.executable, str(PLOT), str(out / "fig")] + files, capture_output=True, text=True)
    failures = []
    if r.returncode != 0:
        failures.append(f"plot_trace.py failed: {r.stderr}")
    png = out / "fig" / "trace_ulp.png"
    if not png.exists() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        failures.append("trace_ulp.png is not a PNG")
    try:
        ET.parse(out / "fig" / "trace_ulp.svg")
    except (OSError, ET.ParseError) as e:
        failures.append(f"trace_ulp.svg: {e}")
    bad = out / "not_trace.json"
    bad.write_text('{"command": "predict", "rows": []}')
    r = subprocess.run([sys.executable, str(PLOT), str(out / "fig2"), str(bad)], capture_output=True, text=True)
    if r.returncode != 1 or r.stderr.count("\n") != 1 or "not the JSON of `driftlab trace`" not in r.stderr:
        failures.append(f"a predict JSON: exit {r.returncode}, stderr {r.stderr!r}")
    for f in failures:
        print("FAIL", f)
    print("passed" if not failures else f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
