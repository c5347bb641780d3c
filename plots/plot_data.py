"""The report's JSON files as plots/plot.py reads them (docs/report-files.md): each file's parser and
validator, the variant styles from variants.json, and the device/date labels of the titles.
Imported by plot.py (run as a script from this folder); standard library only."""
from __future__ import annotations

import json
import math
import re
import statistics
import sys
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
        "cpu_kernels": string(doc.get("cpu_kernels"), where + ": cpu_kernels", allow_null=True),
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
            if m.get("cpu_kernels") and "kernels" not in cpu:
                cpu += f", {m['cpu_kernels']} kernels"
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
