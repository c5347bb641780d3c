#!/usr/bin/env python3
"""Draw driftlab's figures from the JSON files of `driftlab report` (docs/report-files.md).

    python plots/plot.py --in DIR --out OUTDIR

Reads only DIR/bench.json, sum_drift.json, ulp_hist.json, batch_invariance.json,
predict_bf16.json, allreduce.json and machine.json; writes OUTDIR/<figure>.png and .svg for every figure its data allows, and
OUTDIR/figures.json listing them ([{"name", "title", "png", "svg"}], file names relative to
OUTDIR). A missing file (or a file without the data a figure needs) skips those figures with a
one-line note on stderr. Exit status 0 when at least one figure was drawn; 1 with a message when
a file is malformed (nothing is written then) or nothing at all could be drawn.

Standard library + matplotlib (Agg backend) + numpy only; no network.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import textwrap
from pathlib import Path

PROG = "plot.py"
FILES = ("bench.json", "sum_drift.json", "ulp_hist.json", "batch_invariance.json", "machine.json", "predict_bf16.json",
         "allreduce.json", "tp.json")

# One colour and marker per variant, the same in every figure, and the legend order: from the
# variant tables (variants.json beside this file, written by `driftlab variants --json`; a test
# checks it against the binary).  Baselines are not variants: black and dashed, listed here.
BASELINES = {"openblas": ("#000000", "P", 80), "read_probe": ("#000000", "", None), "d2d_copy": ("#000000", "", None)}


def variant_styles():
    """(COLOURS, MARKERS, ORDER) of the sum and dense tables and the baselines above."""
    try:
        tables = json.loads((Path(__file__).resolve().parent / "variants.json").read_text())
        rows = [(r["name"], r["colour"], r["marker"], r["plot_order"]) for op in ("sum", "dense") for r in tables[op]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{PROG}: variants.json beside plot.py cannot be read ({e}); regenerate it with "
              "`driftlab variants --json > plots/variants.json`", file=sys.stderr)
        sys.exit(1)
    rows += [(name, c, m, o) for name, (c, m, o) in BASELINES.items()]
    colours = {name: c for name, c, _, _ in rows}
    markers = {name: m for name, _, m, _ in rows if m}
    ordered = {name: o for name, _, _, o in rows if o is not None and o >= 0}  # null: after these, by name
    order = sorted(ordered, key=ordered.get)
    return colours, markers, order


COLOURS, MARKERS, ORDER = variant_styles()


def allreduce_styles(table="allreduce"):
    """{name: (colour, marker)} and the legend order of the all-reduce table, or of the tp table
    (each its own figure)."""
    try:
        rows = json.loads((Path(__file__).resolve().parent / "variants.json").read_text())[table]
        styles = {r["name"]: (r["colour"], r["marker"]) for r in rows}
        order = [r["name"] for r in sorted(rows, key=lambda r: r["plot_order"])]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{PROG}: variants.json beside plot.py has no readable {table} table ({e}); regenerate it with "
              "`driftlab variants --json > plots/variants.json`", file=sys.stderr)
        sys.exit(1)
    return styles, order


ALLREDUCE_STYLES, ALLREDUCE_ORDER = allreduce_styles()
TP_STYLES, TP_ORDER = allreduce_styles("tp")
DIST_STYLES = ["-", "--", ":", "-."]
BACKEND_ORDER = ["cpu", "cuda"]
DTYPE_NAMES = {"f32": "float32", "f64": "float64", "bf16": "bfloat16", "f16": "float16"}


class Malformed(Exception):
    """A report file that cannot be read as documented."""


def note(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)


def order_key(name: str):
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def backend_key(name: str):
    return (BACKEND_ORDER.index(name) if name in BACKEND_ORDER else len(BACKEND_ORDER), name)


# ---------------------------------------------------------------------------------------------
# Reading and validating

def read_json(path: Path):
    """The parsed file, or None when it does not exist. Raises Malformed on bad JSON."""
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Malformed(f"{path}: cannot read: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Malformed(f"{path}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def number(v, where: str, allow_null: bool = False):
    """A JSON number, or one of the strings "inf", "-inf", "nan" (docs/report-files.md)."""
    if v is None and allow_null:
        return None
    if isinstance(v, bool):
        raise Malformed(f"{where}: expected a number, got {v!r}")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v in ("inf", "-inf", "nan"):
        return float(v)
    raise Malformed(f"{where}: expected a number, got {v!r}")


def integer(v, where: str, allow_null: bool = False):
    if v is None and allow_null:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise Malformed(f"{where}: expected an integer{' or null' if allow_null else ''}, got {v!r}")
    return int(v)


def string(v, where: str, allow_null: bool = False):
    if v is None and allow_null:
        return None
    if not isinstance(v, str):
        raise Malformed(f"{where}: expected a string, got {v!r}")
    return v


def need(obj, key: str, where: str):
    if not isinstance(obj, dict):
        raise Malformed(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise Malformed(f"{where}: missing key {key!r}")
    return obj[key]


TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Name components Google Benchmark appends that are not part of driftlab's names.
GB_SUFFIX = re.compile(r"^(real_time|manual_time|process_time|threads:\d+|iterations:\d+|repeats:\d+|"
                       r"min_time:.*|min_warmup_time:.*)$")


def parse_bench(doc, path: Path):
    """{("sum", backend, dtype, variant, n) or ("dense", backend, variant, B, K, N):
        {"time_s", "bytes_per_second" (or None), "flops" (or None)}} and the context."""
    where = str(path)
    benchmarks = need(doc, "benchmarks", where)
    if not isinstance(benchmarks, list):
        raise Malformed(f"{where}: 'benchmarks' must be a list")
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise Malformed(f"{where}: 'context' must be an object")
    medians: dict = {}
    iterations: dict = {}
    for i, e in enumerate(benchmarks):
        w = f"{where}: benchmarks[{i}]"
        if not isinstance(e, dict):
            raise Malformed(f"{w}: expected an object")
        name = string(need(e, "name", w), w + ".name")
        if e.get("error_occurred"):
            continue
        agg = e.get("aggregate_name")
        run_type = e.get("run_type", "aggregate" if agg else "iteration")
        if run_type == "aggregate" and agg != "median":
            continue
        run_name = e.get("run_name")
        if not isinstance(run_name, str):
            run_name = name[: -len("_" + agg)] if agg and name.endswith("_" + agg) else name
        parts = [p for p in run_name.split("/") if not GB_SUFFIX.match(p)]
        key = bench_key(parts)
        if key is None:
            continue  # predict/..., other benchmarks: not drawn
        unit = e.get("time_unit", "ns")
        if unit not in TIME_UNITS:
            raise Malformed(f"{w} ({name}): unknown time_unit {unit!r}")
        t = number(need(e, "real_time", w), f"{w} ({name}).real_time") * TIME_UNITS[unit]
        value = {
            "time_s": t,
            "bytes_per_second": number(e["bytes_per_second"], f"{w}.bytes_per_second") if "bytes_per_second" in e else None,
            "flops": number(e["FLOP/s"], f"{w}.FLOP/s") if "FLOP/s" in e else None,
        }
        if run_type == "aggregate":
            medians.setdefault(key, value)
        else:
            iterations.setdefault(key, []).append(value)
    out = dict(medians)
    for key, values in iterations.items():
        if key in out:
            continue
        merged = {}
        for field in ("time_s", "bytes_per_second", "flops"):
            xs = [v[field] for v in values if v[field] is not None]
            merged[field] = statistics.median(xs) if xs else None
        out[key] = merged
    # Fill rates a counter did not give from the time (the names say how much work a run is).
    for key, v in out.items():
        if not (v["time_s"] > 0 and math.isfinite(v["time_s"])):
            continue
        if key[0] == "sum" and v["bytes_per_second"] is None:
            width = {"f64": 8, "bf16": 2, "f16": 2}.get(key[2], 4)
            moved = 2 if key[3] == "d2d_copy" else 1
            v["bytes_per_second"] = moved * width * key[4] / v["time_s"]
        if key[0] == "dense" and v["flops"] is None:
            _, _, _, b, k, n = key
            v["flops"] = 2.0 * b * k * n / v["time_s"]
    return out, context


def bench_key(parts):
    # sum/<backend>/<dtype>/<dist>/<variant>/<n>: the figures draw the uniform input (every size)
    if len(parts) == 6 and parts[0] == "sum" and parts[5].isdigit():
        if parts[3] != "uniform":
            return None
        return ("sum", parts[1], parts[2], parts[4], int(parts[5]))
    if len(parts) == 6 and parts[0] == "dense":
        dims = {}
        for p in parts[3:]:
            m = re.fullmatch(r"([BKN]):(\d+)", p)
            if not m:
                return None
            dims[m.group(1)] = int(m.group(2))
        if set(dims) == {"B", "K", "N"}:
            return ("dense", parts[1], parts[2], dims["B"], dims["K"], dims["N"])
    return None


def parse_sum_drift(doc, path: Path):
    where = str(path)
    rows = need(doc, "rows", where)
    if not isinstance(rows, list):
        raise Malformed(f"{where}: 'rows' must be a list")
    out = []
    for i, r in enumerate(rows):
        w = f"{where}: rows[{i}]"
        if not isinstance(r, dict):
            raise Malformed(f"{w}: expected an object")
        out.append({
            "backend": string(need(r, "backend", w), w + ".backend"),
            "device": string(r.get("device"), w + ".device", allow_null=True),
            "variant": string(need(r, "variant", w), w + ".variant"),
            "dtype": string(r.get("dtype", "f32"), w + ".dtype"),
            "dist": string(r.get("dist", "unknown"), w + ".dist"),
            "n": integer(need(r, "n", w), w + ".n"),
            "runs": integer(r.get("runs"), w + ".runs", allow_null=True),
            "distinct": integer(need(r, "distinct_outputs", w), w + ".distinct_outputs"),
            "max_ulp": integer(need(r, "max_ulp", w), w + ".max_ulp", allow_null=True),
        })
    return out


def parse_ulp_hist(doc, path: Path):
    where = str(path)
    variants = need(doc, "variants", where)
    if not isinstance(variants, dict):
        raise Malformed(f"{where}: 'variants' must be an object of lists")
    out = {}
    for v, xs in variants.items():
        if not isinstance(xs, list):
            raise Malformed(f"{where}: variants.{v} must be a list")
        out[v] = [integer(x, f"{where}: variants.{v}[{j}]", allow_null=True) for j, x in enumerate(xs)]
    return {
        "variants": out,
        "backend": string(doc.get("backend"), where + ": backend", allow_null=True),
        "device": string(doc.get("device"), where + ": device", allow_null=True),
        "dtype": string(doc.get("dtype"), where + ": dtype", allow_null=True),
        "n": integer(doc.get("n"), where + ": n", allow_null=True),
        "dist": string(doc.get("dist"), where + ": dist", allow_null=True),
        "runs": integer(doc.get("runs"), where + ": runs", allow_null=True),
        "schedule": string(doc.get("schedule"), where + ": schedule", allow_null=True),
    }


def parse_batch_invariance(doc, path: Path):
    where = str(path)
    sizes = need(doc, "sizes", where)
    if not isinstance(sizes, list):
        raise Malformed(f"{where}: 'sizes' must be a list")
    sizes = [integer(s, f"{where}: sizes[{j}]") for j, s in enumerate(sizes)]
    if any(s < 1 for s in sizes):
        raise Malformed(f"{where}: sizes must be positive batch sizes")
    variants = need(doc, "variants", where)
    if not isinstance(variants, dict):
        raise Malformed(f"{where}: 'variants' must be an object of lists")
    out = {}
    for v, xs in variants.items():
        if not isinstance(xs, list) or len(xs) != len(sizes):
            raise Malformed(f"{where}: variants.{v} must be a list as long as 'sizes' ({len(sizes)})")
        out[v] = [integer(x, f"{where}: variants.{v}[{j}]", allow_null=True) for j, x in enumerate(xs)]
    return {
        "sizes": sizes,
        "variants": out,
        "backend": string(doc.get("backend"), where + ": backend", allow_null=True),
        "device": string(doc.get("device"), where + ": device", allow_null=True),
        "model": string(doc.get("model"), where + ": model", allow_null=True),
    }


def parse_machine(doc, path: Path):
    where = str(path)
    if not isinstance(doc, dict):
        raise Malformed(f"{where}: expected a JSON object")
    threads = doc.get("threads")
    return {
        "cpu": string(doc.get("cpu"), where + ": cpu", allow_null=True),
        "threads": integer(threads, where + ": threads", allow_null=True),
        "gpu": string(doc.get("gpu"), where + ": gpu", allow_null=True),
        "date": string(doc.get("date"), where + ": date", allow_null=True),
    }


def parse_predict_bf16(doc, path: Path):
    """`driftlab predict --dtype bf16 --json`: per variant, the drift of the same runs before the
    final rounding (the last layer's float32 output) and after it (the stored bf16 output)."""
    where = str(path)
    rows = need(doc, "rows", where)
    if not isinstance(rows, list) or not rows:
        raise Malformed(f"{where}: 'rows' must be a non-empty list")
    out = []
    for i, r in enumerate(rows):
        w = f"{where}: rows[{i}]"
        b = need(r, "before_rounding", w)

        def drift(o, wo):
            return {"distinct": integer(need(o, "distinct_outputs", wo), wo + ".distinct_outputs"),
                    "frac": number(need(o, "ratio_non_equal", wo), wo + ".ratio_non_equal"),
                    "argmax": integer(need(o, "argmax_flips", wo), wo + ".argmax_flips"),
                    "max_ulp": integer(need(o, "max_ulp", wo), wo + ".max_ulp", allow_null=True)}
        out.append({
            "variant": string(need(r, "variant", w), w + ".variant"),
            "dtype": string(need(r, "dtype", w), w + ".dtype"),
            "backend": string(need(r, "backend", w), w + ".backend"),
            "device": string(r.get("device"), w + ".device", allow_null=True),
            "model": string(r.get("model"), w + ".model", allow_null=True),
            "batch": integer(need(r, "batch", w), w + ".batch"),
            "runs": integer(need(r, "runs", w), w + ".runs") * integer(r.get("processes", 1), w + ".processes"),
            "slices": string(r.get("slices", "-"), w + ".slices"),
            "after": drift(r, w),
            "before": drift(b, w + ".before_rounding"),
        })
    return out


def parse_allreduce(doc, path: Path):
    """`driftlab allreduce --json`: one row per variant with its distinct results and largest ULP
    distance across the rank counts it ran (ranks_distinct, ranks_max_ulp)."""
    where = str(path)
    rows = need(doc, "rows", where)
    if not isinstance(rows, list) or not rows:
        raise Malformed(f"{where}: 'rows' must be a non-empty list")
    out = []
    for i, r in enumerate(rows):
        w = f"{where}: rows[{i}]"
        ranks = need(r, "ranks", w)
        if not isinstance(ranks, list) or not ranks:
            raise Malformed(f"{w}: 'ranks' must be a non-empty list")
        out.append({
            "variant": string(need(r, "variant", w), w + ".variant"),
            "mode": string(need(r, "mode", w), w + ".mode"),
            "n": integer(need(r, "n", w), w + ".n"),
            "shards": integer(need(r, "shards", w), w + ".shards"),
            "dist": string(need(r, "dist", w), w + ".dist"),
            "ranks": [integer(x, f"{w}.ranks[{j}]") for j, x in enumerate(ranks)],
            "ranks_distinct": integer(need(r, "ranks_distinct", w), w + ".ranks_distinct"),
            "ranks_max_ulp": integer(need(r, "ranks_max_ulp", w), w + ".ranks_max_ulp"),
            "error_ulp": integer(need(r, "error_ulp", w), w + ".error_ulp"),
            "matches_simulation": integer(r.get("matches_simulation"), w + ".matches_simulation", allow_null=True),
            "executions": integer(need(r, "executions", w), w + ".executions"),
        })
    return out


def parse_tp(doc, path: Path):
    """`driftlab predict --tp LIST --json`: one row per tp-variant with its distinct outputs and
    largest ULP distance across the TP sizes it ran (tp_distinct, tp_max_ulp)."""
    where = str(path)
    rows = need(doc, "rows", where)
    if not isinstance(rows, list) or not rows:
        raise Malformed(f"{where}: 'rows' must be a non-empty list")
    out = []
    for i, r in enumerate(rows):
        w = f"{where}: rows[{i}]"
        sizes = need(r, "tp", w)
        if not isinstance(sizes, list) or not sizes:
            raise Malformed(f"{w}: 'tp' must be a non-empty list")
        out.append({
            "tp_variant": string(need(r, "tp_variant", w), w + ".tp_variant"),
            "mode": string(need(r, "mode", w), w + ".mode"),
            "model": string(need(r, "model", w), w + ".model"),
            "batch": integer(need(r, "batch", w), w + ".batch"),
            "tp": [integer(x, f"{w}.tp[{j}]") for j, x in enumerate(sizes)],
            "tp_distinct": integer(need(r, "tp_distinct", w), w + ".tp_distinct"),
            "tp_max_ulp": integer(need(r, "tp_max_ulp", w), w + ".tp_max_ulp"),
        })
    return out


PARSERS = {"bench.json": parse_bench, "sum_drift.json": parse_sum_drift, "ulp_hist.json": parse_ulp_hist,
           "batch_invariance.json": parse_batch_invariance, "machine.json": parse_machine,
           "predict_bf16.json": parse_predict_bf16, "allreduce.json": parse_allreduce, "tp.json": parse_tp}


def load_all(indir: Path) -> dict:
    data = {}
    for f in FILES:
        doc = read_json(indir / f)
        data[f] = None if doc is None else PARSERS[f](doc, indir / f)
    return data


# ---------------------------------------------------------------------------------------------
# Device and date for the titles

class Labels:
    def __init__(self, data: dict):
        self.machine = data["machine.json"] or {}
        bench = data["bench.json"]
        self.context = bench[1] if bench else {}
        self.seen: dict = {}  # backend -> device, from the rows that name one
        for r in data["sum_drift.json"] or []:
            if r["device"]:
                self.seen.setdefault(r["backend"], r["device"])
        for f in ("ulp_hist.json", "batch_invariance.json"):
            d = data[f]
            if d and d["backend"] and d["device"]:
                self.seen.setdefault(d["backend"], d["device"])

    def device(self, backend: str) -> str:
        m = self.machine
        if backend == "cpu" and m.get("cpu"):
            cpu = m["cpu"]
            if m.get("threads") and "thread" not in cpu:
                cpu += f", {m['threads']} threads"
            return cpu
        if backend == "cuda" and m.get("gpu"):
            return m["gpu"]
        if backend in self.seen:
            return self.seen[backend]
        if backend == "cpu" and self.context.get("host_name"):
            cpus = self.context.get("num_cpus")
            return f"host {self.context['host_name']}" + (f", {cpus} CPUs" if cpus else "")
        return f"{backend} (device not recorded)"

    def date(self) -> str:
        for d in (self.machine.get("date"), self.context.get("date")):
            if isinstance(d, str) and d:
                return d[:10] if re.match(r"\d{4}-\d{2}-\d{2}", d) else d
        return "date not recorded"

    def stamp(self, devices) -> str:
        devices = [d for d in dict.fromkeys(devices) if d]
        return "  |  ".join(devices + [self.date()])


# ---------------------------------------------------------------------------------------------
# Drawing helpers

def setup_matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "legend.fontsize": 10,
        "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13,
        "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
        "axes.spines.top": False, "axes.spines.right": False,
        "lines.linewidth": 1.8, "lines.markersize": 6,
        "savefig.dpi": 150, "svg.hashsalt": "driftlab", "svg.fonttype": "path",
    })
    return plt


def good(v) -> bool:
    """A positive finite number (rates and times that can go on a log axis)."""
    return v is not None and math.isfinite(v) and v > 0


def spans_decades(values, factor: float = 10.0) -> bool:
    pos = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return bool(pos) and max(pos) / min(pos) >= factor


def pow2_label(v: float) -> str:
    k = math.log2(v) if v > 0 else float("nan")
    if math.isfinite(k) and abs(k - round(k)) < 1e-9:
        return f"$2^{{{int(round(k))}}}$"
    return f"{v:g}"


def pow2_axis(ax, values, axis: str = "x", max_ticks: int = 9):
    """Log base-2 axis with a tick at the values drawn (thinned to at most max_ticks)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    vals = sorted({v for v in values if v > 0})
    step = max(1, math.ceil(len(vals) / max_ticks))
    ticks = vals[::step]
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    a.set_major_locator(FixedLocator(ticks))
    a.set_minor_locator(NullLocator())
    if all(v >= 1 and float(v).is_integer() and v <= 4096 for v in ticks):
        a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        a.set_major_formatter(FuncFormatter(lambda v, _: pow2_label(v)))
    if len(vals) >= 1:
        lo, hi = vals[0], vals[-1]
        (ax.set_xlim if axis == "x" else ax.set_ylim)(lo / 2 ** 0.4, hi * 2 ** 0.4)


def number_label(v: float) -> str:
    """0.05, 2, 1,000, 50,000, then 10^6, 2×10^6 and up: short labels for tick marks."""
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e6:
        return f"{v:,.0f}" if a >= 1 and float(v).is_integer() else f"{v:g}"
    k = math.floor(math.log10(a) + 1e-9)
    m = v / 10 ** k
    return (f"$10^{{{k}}}$" if abs(m - 1) < 1e-9 else f"${m:g}\\times10^{{{k}}}$") if m > 0 else f"$-{-m:g}\\times10^{{{k}}}$"


def log_y(ax, values):
    """Log y. Over less than ~3 decades, ticks at 1, 2, 5 x 10^k so that values can be read off;
    over more, one tick per decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_yscale("log")
    pos = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    few = bool(pos) and max(pos) / min(pos) < 1000
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if few else (1.0,)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number_label(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def symlog_y(ax, values):
    from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator
    ax.set_yscale("symlog", linthresh=1, linscale=0.5)
    ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number_label(v)))
    finite = [v for v in values if v is not None]
    top = max(finite) if finite else 1
    ax.set_ylim(-0.3 if min(finite or [0]) >= 0 else None, max(2.0, top * 2.5))


def nice_width(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... ULP at least raw: integer histogram bins."""
    w = 1
    while True:
        for m in (1, 2, 5):
            if w * m >= raw:
                return w * m
        w *= 10


def style_of(variant: str, **kw):
    d = {"color": COLOURS.get(variant, None), "marker": MARKERS.get(variant, "o")}
    d.update(kw)
    return d


def grid_axes(plt, nrows: int, ncols: int, panel_w: float = 6.0, panel_h: float = 4.3, extra_h: float = 1.4, **kw):
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(8.0, panel_w * ncols), panel_h * nrows + extra_h),
                             layout="constrained", squeeze=False, **kw)
    return fig, axes


def title(fig, main: str, stamp: str, extra: str | None = None) -> str:
    """The figure's title: what it shows, then device(s) and date, then an optional note; wrapped
    to the figure's width. Returns the one-line title for figures.json."""
    chars = max(40, int(fig.get_figwidth() * 10.5))
    lines = []
    for part in [main, stamp] + ([extra] if extra else []):
        lines += textwrap.wrap(part, chars) if "\n" not in part else part.split("\n")
    fig.suptitle("\n".join(lines), fontsize=12.5)
    plain = re.sub(r"\$([^$]*)\$", lambda m: re.sub(r"[{}\\]", "", m.group(1)), f"{main} -- {stamp}")
    return plain


def legend_below(fig, axes_list, ncol: int = 4, title_text: str | None = None, extra_handles=(), sort: bool = True):
    handles, labels, seen = [], [], set()
    for ax in axes_list:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in seen and not l.startswith("_"):
                seen.add(l)
                handles.append(h)
                labels.append(l)
    # variants in their usual order first, then baselines and reference lines
    def rank(item):
        word = re.split(r"[ :]", item[1])[0]
        return (0, ORDER.index(word)) if word in ORDER and word not in ("openblas", "cublas") else (1, 0)
    pairs = sorted(zip(handles, labels), key=rank) if sort else list(zip(handles, labels))
    handles, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    for h in extra_handles:
        handles.append(h)
        labels.append(h.get_label())
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)),
                   title=title_text, frameon=False)


def save(fig, plt, out: Path, name: str, title_text: str, drawn: list):
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    # bbox_inches="tight": the legend below the axes must never be clipped at the edges.
    fig.savefig(png, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    fig.savefig(svg, metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    drawn.append({"name": name, "title": title_text, "png": png.name, "svg": svg.name})


# ---------------------------------------------------------------------------------------------
# The figures. Each returns None when drawn, or the reason it was skipped.

def fig_sum_throughput(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    sums = {k: v for k, v in bench.items() if k[0] == "sum" and k[2] == "f32"
            and good(v["bytes_per_second"])}
    if not sums:
        return "bench.json has no f32 sum/<backend>/f32/uniform/<variant>/<n> entries"
    backends = sorted({k[1] for k in sums}, key=backend_key)
    fig, axes = grid_axes(plt, 1, len(backends))
    for ax, be in zip(axes[0], backends):
        series: dict = {}
        for (_, b, _, variant, n), v in sums.items():
            if b == be:
                series.setdefault(variant, []).append((n, v["bytes_per_second"] / 1e9))
        all_n, all_y = [], []
        for variant in sorted(series, key=order_key):
            pts = sorted(series[variant])
            ns = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            if variant == "read_probe":
                ax.plot(ns, ys, linestyle="--", color="black", linewidth=1.6, marker="o", markersize=4,
                        markerfacecolor="none", label="read_probe (streaming read: the bandwidth reference)")
            elif variant == "d2d_copy":
                ys = [y / 2 for y in ys]
                ax.plot(ns, ys, linestyle="--", color="black", linewidth=1.6, marker="o", markersize=4,
                        markerfacecolor="none", label="d2d_copy read rate (bytes/s / 2)")
            else:
                ax.plot(ns, ys, label=variant, **style_of(variant))
            all_n += ns
            all_y += ys
        pow2_axis(ax, all_n)
        log_y(ax, all_y)
        ax.set_xlabel("n (float32 elements, 4 bytes each)")
        ax.set_ylabel("throughput (GB/s, 1 GB = 10$^9$ bytes)")
        ax.set_title(f"{be}: {labels.device(be)}")
    t = title(fig, "Summation throughput, float32 only: median GB/s of input read against n",
              labels.stamp(labels.device(b) for b in backends))
    legend_below(fig, axes[0], ncol=4)
    save(fig, plt, out, "sum_throughput", t, drawn)


def fig_cost_of_determinism(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    sums = {k: v for k, v in bench.items() if k[0] == "sum" and k[2] == "f32" and good(v["time_s"])}
    backends = sorted({k[1] for k in sums if k[3] == "atomic"}, key=backend_key)
    if not backends:
        return "bench.json has no f32 sum/<backend>/f32/uniform/atomic/<n> entries to compare against"
    fig, axes = grid_axes(plt, 1, len(backends))
    for ax, be in zip(axes[0], backends):
        atomic = {k[4]: v["time_s"] for k, v in sums.items() if k[1] == be and k[3] == "atomic"}
        series: dict = {}
        for (_, b, _, variant, n), v in sums.items():
            if b == be and n in atomic and variant not in ("atomic", "read_probe", "d2d_copy"):
                series.setdefault(variant, []).append((n, v["time_s"] / atomic[n]))
        ax.axhline(1.0, color=COLOURS["atomic"], linewidth=2.2, label="atomic = 1 (the reference)")
        all_y = [1.0]
        for variant in sorted(series, key=order_key):
            pts = sorted(series[variant])
            ys = [p[1] for p in pts]
            all_y += ys
            ax.plot([p[0] for p in pts], ys, label=variant, **style_of(variant))
        pow2_axis(ax, list(atomic))
        if spans_decades(all_y, 8):
            log_y(ax, all_y)
        ax.set_xlabel("n (float32 elements)")
        ax.set_ylabel("median time / atomic's median time (×)")
        ax.set_title(f"{be}: {labels.device(be)}")
    t = title(fig, "Cost of determinism: each variant's median time relative to atomic at the same n (float32)",
              labels.stamp(labels.device(b) for b in backends),
              "above 1 = slower than atomic")
    legend_below(fig, axes[0], ncol=4)
    save(fig, plt, out, "cost_of_determinism", t, drawn)


def fig_drift_vs_n(plt, data, labels: Labels, out: Path, drawn: list):
    from matplotlib.lines import Line2D
    rows = [r for r in data["sum_drift.json"] if r["variant"] in ("atomic", "atomic_element", "tree", "exact")]
    if not any(r["variant"] in ("atomic", "atomic_element") for r in rows):
        return "sum_drift.json has no atomic or atomic_element rows"
    backends = sorted({r["backend"] for r in rows}, key=backend_key)
    known = ["uniform", "normal", "illcond", "file"]
    dists = sorted(dict.fromkeys(r["dist"] for r in rows),
                   key=lambda d: (known.index(d) if d in known else len(known), d))
    dstyle = {d: DIST_STYLES[i % len(DIST_STYLES)] for i, d in enumerate(dists)}
    dtypes = sorted({r["dtype"] for r in rows})
    runs = sorted({r["runs"] for r in rows if r["runs"]})
    fig, axes = grid_axes(plt, len(backends), 2, panel_h=4.2)
    for (ax_d, ax_u), be in zip(axes, backends):
        groups: dict = {}
        for r in rows:
            if r["backend"] == be:
                groups.setdefault((r["variant"], r["dist"], r["dtype"]), {})[r["n"]] = r  # last row wins
        all_n, all_d, all_u = [], [], []
        for (variant, dist, dtype) in sorted(groups, key=lambda g: (order_key(g[0]), dists.index(g[1]), g[2])):
            pts = sorted(groups[(variant, dist, dtype)].items())
            ns = [n for n, _ in pts]
            thin = variant in ("tree", "exact")
            kw = style_of(variant, linestyle=dstyle[dist], label=variant,
                          markerfacecolor="none" if variant == "exact" else None,
                          markersize=8 if variant == "exact" else 6, linewidth=1.3 if thin else 1.9)
            ax_d.plot(ns, [r["distinct"] for _, r in pts], **kw)
            ulp = [(n, r["max_ulp"]) for n, r in pts if r["max_ulp"] is not None]
            ax_u.plot([p[0] for p in ulp], [p[1] for p in ulp], **kw)
            all_n += ns
            all_d += [r["distinct"] for _, r in pts]
            all_u += [p[1] for p in ulp]
        for ax in (ax_d, ax_u):
            pow2_axis(ax, all_n)
            ax.set_xlabel("n (" + "/".join(DTYPE_NAMES.get(d, d) for d in dtypes) + " elements)")
        if runs and max(all_d) >= max(runs) * 0.5:
            ax_d.axhline(max(runs), color="0.5", linestyle=(0, (1, 2)), linewidth=1.2, zorder=0,
                         label=f"every run different ({max(runs)} runs)" if len(runs) == 1 else "_nolegend_")
        if spans_decades(all_d):
            log_y(ax_d, all_d + list(runs))
        ax_d.set_ylim(bottom=0.8 if spans_decades(all_d) else 0)
        run_txt = f"of {runs[0]} runs" if len(runs) == 1 else "over the runs"
        ax_d.set_ylabel(f"distinct outputs ({run_txt}, count)")
        ax_d.set_title(f"{be}: {labels.device(be)}\ndistinct bit patterns")
        symlog_y(ax_u, all_u)
        ax_u.set_ylabel("max ULP distance between runs (ULP)")
        ax_u.set_title(f"{be}: {labels.device(be)}\nlargest spread between any two runs")
    extra = []
    if len(dists) > 1:
        extra = [Line2D([], [], color="0.35", linestyle=dstyle[d], label=f"line style: {d} input") for d in dists]
    legend_below(fig, [a for row in axes for a in row], ncol=4 if len(dists) <= 2 else 5,
                 title_text="colour = variant" + (", line style = input distribution" if len(dists) > 1 else ""),
                 extra_handles=extra)
    devs = [labels.device(b) for b in backends]
    t = title(fig, "Drift against n: how many different results, and how far apart (atomic variants; tree and exact for contrast)",
              labels.stamp(devs), f"{run_txt.replace('of ', '')} per point; symlog ULP axis (0 is drawn)")
    save(fig, plt, out, "drift_vs_n", t, drawn)


def fig_ulp_histogram(plt, data, labels: Labels, out: Path, drawn: list):
    h = data["ulp_hist.json"]
    variants = {v: [x for x in xs if x is not None] for v, xs in h["variants"].items()}
    variants = {v: xs for v, xs in variants.items() if xs}
    if not variants:
        return "ulp_hist.json has no runs"
    names = sorted(variants, key=lambda v: (["atomic", "atomic_element"].index(v)
                                            if v in ("atomic", "atomic_element") else 2, v))
    fig, axes = grid_axes(plt, 1, len(names), panel_w=6.2, panel_h=4.2, extra_h=1.6)
    for ax, v in zip(axes[0], names):
        xs = variants[v]
        lo, hi = min(xs), max(xs)
        width = nice_width((hi - lo + 1) / 30)
        first = (lo // width) * width  # bins [k*w, (k+1)*w - 1], edges half-way between integers
        edges = [first - 0.5 + width * i for i in range((hi - first) // width + 2)]
        ax.hist(xs, bins=edges, color=COLOURS.get(v, "C0"), edgecolor="white", linewidth=0.5,
                label=f"{v}: {len(xs)} runs")
        ax.axvline(0, color="black", linestyle="--", linewidth=1.2, label="0 ULP = the exact sum")
        ax.set_xlim(min(edges[0], -0.5) - width, max(edges[-1], 0.5) + width)
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(nbins=9, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("signed distance from the exact sum (ULP, result − exact)")
        ax.set_ylabel(f"runs per {width}-ULP bin (count)" if width > 1 else "runs per ULP value (count)")
        distinct = len(set(xs))
        dropped = len(h["variants"][v]) - len(xs)
        unordered = f" (+{dropped} NaN, not shown)" if dropped else ""
        ax.set_title(f"{v}: {len(xs)} runs{unordered}, {distinct} distinct, range [{lo}, {hi}] ULP,\n"
                     f"median {statistics.median(xs):g} ULP, bin width {width} ULP")
    dtype = DTYPE_NAMES.get(h["dtype"], h["dtype"] or "?")
    n = h["n"]
    n_txt = f"n = {n:,}" + (f" ($2^{{{int(math.log2(n))}}}$)" if n and n & (n - 1) == 0 else "") if n else "n = ?"
    runs = h["runs"] or max(len(xs) for xs in variants.values())
    main = f"Atomic sums against the exact sum: {runs} runs, {n_txt}, {dtype}, {h['dist'] or '?'} input"
    dev = h["device"] or labels.device(h["backend"] or "cpu")
    sched = "schedule: " + h["schedule"] if h["schedule"] else None
    t = title(fig, main, labels.stamp([dev]), sched)
    legend_below(fig, axes[0], ncol=4, sort=False)
    save(fig, plt, out, "ulp_histogram", t, drawn)


def fig_dense_gflops(plt, data, labels: Labels, out: Path, drawn: list):
    bench = data["bench.json"][0]
    dense = {k: v for k, v in bench.items() if k[0] == "dense" and good(v["flops"])}
    if not dense:
        return "bench.json has no dense/<backend>/<variant>/B:<b>/K:<k>/N:<n> entries"
    backends = sorted({k[1] for k in dense}, key=backend_key)
    shapes = sorted({(k[4], k[5]) for k in dense}, key=lambda s: (s[0] * s[1], s))
    panels = [(be, s) for be in backends for s in shapes if any(k[1] == be and (k[4], k[5]) == s for k in dense)]
    ncols = max(sum(1 for p in panels if p[0] == be) for be in backends)
    fig, axes = grid_axes(plt, len(backends), ncols, panel_w=5.4, panel_h=4.0)
    for row, be in zip(axes, backends):
        mine = [s for b, s in panels if b == be]
        for ax in row[len(mine):]:
            ax.set_visible(False)
        for ax, (K, N) in zip(row, mine):
            series: dict = {}
            for (_, b, variant, B, k, n), v in dense.items():
                if b == be and (k, n) == (K, N):
                    series.setdefault(variant, []).append((B, v["flops"] / 1e9))
            all_b, all_y = [], []
            for variant in sorted(series, key=order_key):
                pts = sorted(series[variant])
                all_b += [p[0] for p in pts]
                all_y += [p[1] for p in pts]
                if variant in ("openblas", "cublas"):
                    lab = "openblas sgemm (cpu baseline)" if variant == "openblas" else "cublasSgemm FP32 (cuda baseline)"
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", label=lab,
                            **style_of(variant))
                else:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], label=variant, **style_of(variant))
            pow2_axis(ax, all_b)
            log_y(ax, all_y)
            ax.set_xlabel("batch size B (rows of x)")
            ax.set_ylabel("GFLOP/s (10$^9$ FLOP/s, 2·B·K·N per call)")
            ax.set_title(f"{be}, K × N = {K} × {N}\n{labels.device(be)}")
    has_baseline = any(k[2] in ("openblas", "cublas") for k in dense)
    t = title(fig, "Dense layer y = act(xW + b): median GFLOP/s against batch size",
              labels.stamp(labels.device(b) for b in backends),
              "vendor baselines dashed" if has_baseline else "no vendor baseline in bench.json")
    legend_below(fig, [a for row in axes for a in row], ncol=5)
    save(fig, plt, out, "dense_gflops", t, drawn)


def fig_batch_invariance(plt, data, labels: Labels, out: Path, drawn: list):
    b = data["batch_invariance.json"]
    if not b["sizes"] or not b["variants"]:
        return "batch_invariance.json has no sizes or no variants"
    sizes = b["sizes"]
    fig, axes = grid_axes(plt, 1, 1, panel_w=8.5, panel_h=4.8, extra_h=1.2)
    ax = axes[0][0]
    all_y = []
    names = sorted(b["variants"], key=order_key)
    # invariant last and hollow, so that it stays visible when it lies on 0 with others
    names = [v for v in names if v != "invariant"] + [v for v in names if v == "invariant"]
    # Equal values (0 ULP, most often) would hide one another: each variant's points are nudged
    # sideways by a small fraction of a doubling, the same for every batch size.
    dodge = {v: 2 ** (0.07 * (i - (len(names) - 1) / 2)) for i, v in enumerate(names)}
    for v in names:
        pts = [(s * dodge[v], y) for s, y in zip(sizes, b["variants"][v]) if y is not None]
        ys = [p[1] for p in pts]
        all_y += ys
        kw = style_of(v, label=v)
        if v == "cublas":
            kw.update(linestyle="--", label="cublas (vendor baseline)")
        if v == "invariant":
            kw.update(markerfacecolor="none", markersize=10, markeredgewidth=1.8, linewidth=2.6, zorder=5)
        ax.plot([p[0] for p in pts], ys, **kw)
    pow2_axis(ax, sizes, max_ticks=13)
    symlog_y(ax, all_y)
    ax.set_xlabel("batch size (rows; row 0 is the same input in every batch; variants nudged apart sideways)")
    ax.set_ylabel("max ULP distance of row 0 from its batch-1 output (ULP)")
    inv = b["variants"].get("invariant")
    sub = None
    if inv is not None:
        vals = [y for y in inv if y is not None]
        if vals and all(y == 0 for y in vals):
            sub = "invariant stays at 0 ULP at every batch size: row 0's bits do not depend on its batch"
        elif vals:
            sub = f"note: invariant reaches {max(vals)} ULP -- it is expected to stay at 0"
    model = f", model {b['model']}" if b["model"] else ""
    dev = b["device"] or labels.device(b["backend"] or "cpu")
    t = title(fig, f"Batch invariance: row 0's output inside batches of many sizes{model}",
              labels.stamp([dev]), sub)
    legend_below(fig, [ax], ncol=5)
    save(fig, plt, out, "batch_invariance", t, drawn)


def fig_bf16_rounding(plt, data, labels: Labels, out: Path, drawn: list):
    """The same runs of a bf16 model, before and after the final rounding to bf16 (issue 11):
    distinct outputs, elements that differ from run 0, rows whose argmax changed."""
    rows = sorted(data["predict_bf16.json"], key=lambda r: order_key(r["variant"]))
    panels = [("distinct", "distinct outputs over the runs"), ("frac", "fraction of elements ≠ run 0"),
              ("argmax", "rows whose argmax changed")]
    fig, axes = grid_axes(plt, 1, len(panels), panel_w=4.2, panel_h=4.0, extra_h=1.6)
    names = [r["variant"] for r in rows]
    width = 0.38
    for ax, (k, ylabel) in zip(axes[0], panels):
        before = [r["before"][k] for r in rows]
        after = [r["after"][k] for r in rows]
        xs = range(len(rows))
        b1 = ax.bar([x - width / 2 for x in xs], before, width, color="#9e9e9e", label="float32, before rounding")
        b2 = ax.bar([x + width / 2 for x in xs], after, width, color="#1f77b4", label=f"{rows[0]['dtype']}, stored output")
        for bars in (b1, b2):
            ax.bar_label(bars, labels=[number_label(v) if k != "frac" else f"{v:.2g}" for v in bars.datavalues],
                         fontsize=7, padding=2)
        ax.set_xticks(list(xs), names)
        ax.set_ylabel(ylabel)
        top = max(before + after)
        ax.set_ylim(0, (top if top > 0 else (1 if k != "frac" else 0.01)) * 1.18)  # all zero: an axis from 0 up
        ax.grid(True, axis="y", alpha=0.3)
    r0 = rows[0]
    dev = r0["device"] or labels.device(r0["backend"])
    ulps = ", ".join(f"{r['variant']} {r['before']['max_ulp']} f32 ULP → {r['after']['max_ulp']} {r['dtype']} ULP"
                     for r in rows)
    t = title(fig, f"What rounding the output to {r0['dtype']} does to drift: model {r0['model']}, batch {r0['batch']}, "
                   f"{r0['runs']} runs, split-K {r0['slices']}", labels.stamp([dev]), "max ULP: " + ulps)
    legend_below(fig, [axes[0][0]], ncol=2, sort=False)
    save(fig, plt, out, "bf16_rounding", t, drawn)


def fig_allreduce_ranks(plt, data, labels: Labels, out: Path, drawn: list):
    """The same gradient shards all-reduced over several rank counts: per variant, the distinct
    results across the rank counts and the largest ULP distance of one element between two."""
    order = {v: i for i, v in enumerate(ALLREDUCE_ORDER)}
    rows = sorted(data["allreduce.json"], key=lambda r: (order.get(r["variant"], len(order)), r["variant"]))
    panels = [("ranks_distinct", "distinct results across rank counts"),
              ("ranks_max_ulp", "max ULP between two rank counts")]
    fig, axes = grid_axes(plt, 1, len(panels), panel_w=4.6, panel_h=4.0, extra_h=1.4)
    names = [r["variant"] for r in rows]
    xs = list(range(len(rows)))
    for ax, (k, ylabel) in zip(axes[0], panels):
        vals = [r[k] for r in rows]
        bars = ax.bar(xs, vals, 0.6, color=[ALLREDUCE_STYLES.get(v, ("#7f7f7f", ""))[0] for v in names])
        ax.bar_label(bars, labels=[number_label(v) for v in vals], fontsize=9, padding=2)
        ax.set_xticks(xs, names)
        ax.set_ylabel(ylabel)
        top = max(vals)
        ax.set_ylim(0, (top if top > 0 else 1) * 1.18)
        ax.yaxis.get_major_locator().set_params(integer=True)  # counts and ULPs: whole numbers
        ax.grid(True, axis="y", alpha=0.3)
    r0 = rows[0]
    how = "on Open MPI (one mpirun per rank count)" if r0["mode"] == "mpi" else "simulated in one process"
    ranks = ", ".join(str(p) for p in r0["ranks"])
    exact = [r for r in rows if r["variant"] == "exact"]
    sub = None
    if exact and exact[0]["ranks_distinct"] == 1:
        sub = "exact: one result at every rank count, the exact sum of each element's shard values rounded once"
    elif exact:
        sub = f"note: exact gave {exact[0]['ranks_distinct']} results -- it is expected to give 1"
    t = title(fig, f"The number of ranks changes the bits: {r0['shards']} shards of {r0['n']} {r0['dist']} floats "
                   f"all-reduced over {ranks} ranks, {how}", labels.stamp([labels.device("cpu")]), sub)
    save(fig, plt, out, "allreduce_ranks", t, drawn)


def fig_tp_ranks(plt, data, labels: Labels, out: Path, drawn: list):
    """predict with every dense layer's K split over several TP sizes: per tp-variant, the distinct
    outputs across the TP sizes and the largest ULP distance of one element between two."""
    order = {v: i for i, v in enumerate(TP_ORDER)}
    rows = sorted(data["tp.json"], key=lambda r: (order.get(r["tp_variant"], len(order)), r["tp_variant"]))
    panels = [("tp_distinct", "distinct outputs across TP sizes"),
              ("tp_max_ulp", "max ULP between two TP sizes")]
    fig, axes = grid_axes(plt, 1, len(panels), panel_w=4.6, panel_h=4.0, extra_h=1.4)
    names = [r["tp_variant"] for r in rows]
    xs = list(range(len(rows)))
    for ax, (k, ylabel) in zip(axes[0], panels):
        vals = [r[k] for r in rows]
        bars = ax.bar(xs, vals, 0.6, color=[TP_STYLES.get(v, ("#7f7f7f", ""))[0] for v in names])
        ax.bar_label(bars, labels=[number_label(v) for v in vals], fontsize=9, padding=2)
        ax.set_xticks(xs, names)
        ax.set_ylabel(ylabel)
        top = max(vals)
        ax.set_ylim(0, (top if top > 0 else 1) * 1.18)
        ax.yaxis.get_major_locator().set_params(integer=True)  # counts and ULPs: whole numbers
        ax.grid(True, axis="y", alpha=0.3)
    r0 = rows[0]
    how = "on Open MPI (one mpirun per TP size)" if r0["mode"] == "mpi" else "simulated in one process"
    sizes = ", ".join(str(p) for p in r0["tp"])
    inv = [r for r in rows if r["tp_variant"] == "invariant"]
    sub = None
    if inv and inv[0]["tp_distinct"] == 1:
        sub = "invariant: one output at every TP size (K cut into fixed chunks whatever the TP size, combined exactly)"
    elif inv:
        sub = f"note: invariant gave {inv[0]['tp_distinct']} outputs -- it is expected to give 1"
    t = title(fig, f"Splitting a layer over more GPUs changes predict's output: model {r0['model']}, batch {r0['batch']}, "
                   f"K split over {sizes} ranks, {how}", labels.stamp([labels.device("cpu")]), sub)
    save(fig, plt, out, "tp_ranks", t, drawn)


FIGURES = [
    ("sum_throughput", "bench.json", fig_sum_throughput),
    ("cost_of_determinism", "bench.json", fig_cost_of_determinism),
    ("drift_vs_n", "sum_drift.json", fig_drift_vs_n),
    ("ulp_histogram", "ulp_hist.json", fig_ulp_histogram),
    ("dense_gflops", "bench.json", fig_dense_gflops),
    ("batch_invariance", "batch_invariance.json", fig_batch_invariance),
    ("bf16_rounding", "predict_bf16.json", fig_bf16_rounding),
    ("allreduce_ranks", "allreduce.json", fig_allreduce_ranks),
    ("tp_ranks", "tp.json", fig_tp_ranks),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("--in", dest="indir", required=True, type=Path, help="folder with the report's JSON files")
    ap.add_argument("--out", dest="outdir", required=True, type=Path, help="folder for the figures (created)")
    args = ap.parse_args(argv)
    if not args.indir.is_dir():
        note(f"error: --in {args.indir}: no such folder")
        return 1
    try:
        data = load_all(args.indir)
    except Malformed as e:
        note(f"error: malformed report file: {e}")
        return 1
    if all(data[f] is None for f in FILES):
        note(f"error: nothing to draw: none of {', '.join(FILES)} is in {args.indir}")
        return 1
    if data["machine.json"] is None:
        note("no machine.json: device and date taken from the other files")
    missing = {}
    for name, f, _ in FIGURES:
        if data[f] is None:
            missing.setdefault(f, []).append(name)
    for f, names in missing.items():
        note(f"no {f} in {args.indir}: skipping {', '.join(names)}")
    try:
        plt = setup_matplotlib()
    except ImportError as e:
        note(f"error: matplotlib is not available to {sys.executable} ({e}); use the project's "
             "virtualenv: python3 -m venv .venv && .venv/bin/pip install matplotlib==3.9.2")
        return 1
    labels = Labels(data)
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        note(f"error: --out {args.outdir}: {e}")
        return 1
    drawn: list = []
    for name, f, draw in FIGURES:
        if data[f] is None:
            continue
        why = draw(plt, data, labels, args.outdir, drawn)
        if why:
            note(f"{why}: skipping {name}")
    if not drawn:
        note(f"error: no figure could be drawn from {args.indir}")
        return 1
    (args.outdir / "figures.json").write_text(json.dumps(drawn, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{PROG}: {len(drawn)} figure(s) in {args.outdir}: {', '.join(d['name'] for d in drawn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
