#!/usr/bin/env python3
"""Checks plots/plot.py on a report folder (the fixture in tests/fixtures/report under ctest).

    python tests/check_plots.py DIR OUTDIR

Runs plot.py with this interpreter (it needs matplotlib: use the project's .venv) on DIR into
OUTDIR and checks that every figure exists as a real PNG and SVG and is listed in figures.json;
then checks the failure and partial paths on altered copies of DIR in a temporary folder: a
malformed bench.json (exit 1 with a message naming the file), a folder holding only
ulp_hist.json (the other figures skipped with notes, exit 0), bench.json with iteration entries
only, and an empty folder (exit 1). Prints 'N passed, M failed' last; exit status 1 on any failure.
"""
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PLOT = Path(__file__).resolve().parent.parent / "plots" / "plot.py"
FIGURES = ["sum_throughput", "cost_of_determinism", "drift_vs_n", "ulp_histogram", "dense_gflops",
           "batch_invariance", "bf16_rounding", "allreduce_ranks", "tp_ranks"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

passed = 0
failed = 0


def check(ok: bool, what: str, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    return ok


def run_plot(indir: Path, outdir: Path):
    r = subprocess.run([sys.executable, str(PLOT), "--in", str(indir), "--out", str(outdir)],
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


def png_problem(path: Path):
    """None if path is a plausible PNG figure, else what is wrong."""
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if data[:8] != PNG_SIGNATURE:
        return f"first 8 bytes {data[:8]!r} are not the PNG signature"
    if len(data) <= 1024:
        return f"only {len(data)} bytes"
    if data[12:16] != b"IHDR":
        return "first chunk is not IHDR"
    width, height = struct.unpack(">II", data[16:24])
    if not (300 <= width <= 6000 and 200 <= height <= 6000):
        return f"implausible size {width} x {height} px"
    return None


def svg_problem(path: Path):
    if not path.is_file():
        return "missing"
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return f"does not parse as XML: {e}"
    if not root.tag.endswith("svg"):
        return f"root element is {root.tag!r}, not svg"
    return None


def check_outputs(outdir: Path, names, label: str):
    for name in names:
        p = png_problem(outdir / f"{name}.png")
        check(p is None, f"{label}: {name}.png is a PNG figure", p or "")
        p = svg_problem(outdir / f"{name}.svg")
        check(p is None, f"{label}: {name}.svg is an SVG", p or "")
    listing = outdir / "figures.json"
    try:
        figs = json.loads(listing.read_text())
    except (OSError, ValueError) as e:
        check(False, f"{label}: figures.json readable", str(e))
        return
    ok = isinstance(figs, list) and all(isinstance(f, dict) and {"name", "title", "png", "svg"} <= set(f) for f in figs)
    if not check(ok, f"{label}: figures.json is a list of {{name, title, png, svg}}", repr(figs)[:200]):
        return
    listed = {f["name"]: f for f in figs}
    check(set(listed) == set(names), f"{label}: figures.json lists exactly the figures drawn",
          f"listed {sorted(listed)}, expected {sorted(names)}")
    for f in figs:
        good = (outdir / f["png"]).is_file() and (outdir / f["svg"]).is_file() and f["title"].strip()
        check(bool(good), f"{label}: figures.json entry {f['name']} names existing files and a title", repr(f))


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: check_plots.py DIR OUTDIR", file=sys.stderr)
        return 2
    indir, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    if outdir.exists():
        shutil.rmtree(outdir)

    # 1. The full fixture: all six figures.
    rc, out, err = run_plot(indir, outdir)
    check(rc == 0, "plot.py exits 0 on the fixture", f"exit {rc}; stderr: {err.strip()[-2000:]}")
    # (matplotlib itself may say on stderr that it builds its font cache; only plot.py's notes count)
    notes = [l for l in err.splitlines() if l.startswith("plot.py:") or "Traceback" in l or "Warning" in l]
    check(not notes, "plot.py skips nothing and warns of nothing on the complete fixture", "\n".join(notes)[-2000:])
    check_outputs(outdir, FIGURES, "fixture")

    with tempfile.TemporaryDirectory(prefix="driftlab-plots-") as tmp:
        tmp = Path(tmp)

        # 2. A malformed file: exit nonzero, a message that names the file, and no figures.
        bad = tmp / "malformed"
        shutil.copytree(indir, bad)
        text = (bad / "bench.json").read_text()
        (bad / "bench.json").write_text(text[: len(text) // 2])  # cut mid-way
        rc, out, err = run_plot(bad, tmp / "malformed-out")
        check(rc != 0, "plot.py exits nonzero on a truncated bench.json", f"exit {rc}")
        check("bench.json" in err and "malformed" in err.lower(),
              "the message names bench.json and says it is malformed", err.strip()[-500:])
        check("Traceback" not in err, "the message is one clear line, not a traceback", err.strip()[-500:])
        check(not list((tmp / "malformed-out").glob("*.png")), "nothing is drawn from a malformed report")

        # 2b. Valid JSON of the wrong shape.
        wrong = tmp / "wrong-shape"
        shutil.copytree(indir, wrong)
        (wrong / "batch_invariance.json").write_text('{"sizes": [1, 2], "variants": {"tree": [0]}}\n')
        rc, out, err = run_plot(wrong, tmp / "wrong-out")
        check(rc != 0 and "batch_invariance.json" in err and "Traceback" not in err,
              "plot.py exits nonzero naming batch_invariance.json when a list has the wrong length",
              f"exit {rc}; {err.strip()[-500:]}")

        # 3. Only one file: its figure is drawn, the others are skipped with notes, exit 0.
        part = tmp / "partial"
        part.mkdir()
        shutil.copy(indir / "ulp_hist.json", part / "ulp_hist.json")
        rc, out, err = run_plot(part, tmp / "partial-out")
        check(rc == 0, "plot.py exits 0 with only ulp_hist.json", f"exit {rc}; {err.strip()[-500:]}")
        for skipped in ("bench.json", "sum_drift.json", "batch_invariance.json"):
            check(skipped in err, f"a note on stderr says {skipped} is missing", err.strip()[-500:])
        check_outputs(tmp / "partial-out", ["ulp_histogram"], "only ulp_hist.json")

        # 4. bench.json with iteration entries only (no aggregates): the bench figures still draw.
        it = tmp / "iterations"
        it.mkdir()
        doc = json.loads((indir / "bench.json").read_text())
        for e in doc["benchmarks"]:
            if e.get("run_type") == "aggregate":
                e["run_type"] = "iteration"
                e["name"] = e["run_name"]
                e.pop("aggregate_name", None)
        doc["benchmarks"] = [e for e in doc["benchmarks"] if "stddev" not in e["name"]]
        (it / "bench.json").write_text(json.dumps(doc))
        rc, out, err = run_plot(it, tmp / "iterations-out")
        check(rc == 0, "plot.py exits 0 on bench.json with iteration entries only", f"exit {rc}; {err.strip()[-500:]}")
        check_outputs(tmp / "iterations-out", ["sum_throughput", "cost_of_determinism", "dense_gflops"],
                      "iteration entries only")

        # 5. Nothing to draw: exit nonzero with a message.
        empty = tmp / "empty"
        empty.mkdir()
        rc, out, err = run_plot(empty, tmp / "empty-out")
        check(rc != 0 and "nothing to draw" in err, "plot.py exits nonzero on a folder with no report files",
              f"exit {rc}; {err.strip()[-500:]}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
