"""Where a Keras model's bits first move: every layer's output under two configurations, compared.

    python -m driftlab.keras_trace MODEL.keras INPUT.npy --compare batch:1,64 [--row R] [--json FILE] [--figure DIR]
    driftlab.keras_trace(model_or_path, x, compare="batch:1,64")

The Keras counterpart of `driftlab trace`: the model (a Keras 3 `.keras` file or a model object,
functional or Sequential; nested models are flattened, each layer named outer/inner) is rebuilt as
a functional model that outputs every layer's output, run under configuration A and B, and each
layer's outputs are compared with driftlab.compare (the C++ comparison `driftlab trace` uses):
max_ulp, sign_changes, frac_differ, max_rel_diff, and the first layer whose bits differ -- "none"
when none do.

comparisons (--compare KIND:A,B):
  batch:A,B          row R inside a batch of A rows against inside a batch of B rows (batch:1,64:
                     alone against among 64); consecutive input rows holding row R, predict with
                     batch_size = the batch; only row R's outputs are compared
  runs:A,B           predict call A against call B on the whole input (with --training, the model
                     called with training=True: dropout draws a mask per call)
  determinism:A,B    tf.config.experimental.enable_op_determinism() off or on (each side in a fresh process)
  threads:A,B        TensorFlow intra-op threads A against B (0: TensorFlow's default; fresh processes)
  onednn:A,B         TF_ENABLE_ONEDNN_OPTS on or off (fresh processes)

The last layer's output of each side is checked against the plain model.predict of the same call
(final_matches_predict): exposing every layer must not change the model's own bits.
time: the two plain predict calls against the two traced calls (every layer exposed) and the
comparison, each after a warm-up; medians of --reps interleaved repetitions (default 3).
--figure DIR: the max ULP per layer, the first divergence circled (keras_trace_ulp.png and .svg),
drawn as `driftlab trace`'s figure (plots/plot_trace.py).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

KINDS = ("batch", "runs", "determinism", "threads", "onednn")
_FRESH = ("determinism", "threads", "onednn")  # each side in a fresh process


class UsageError(ValueError):
    """A bad argument: one line, exit 2 on the command line."""


class FileError(ValueError):
    """A model or input file that is missing or cannot be read: one line, exit 1 (as the command line's
    files)."""


# --- parsing --------------------------------------------------------------------------------------

def _count(s, what, lo=0, hi=1 << 40):
    if not s.isdigit():
        raise UsageError(f"{what}: expected a non-negative integer, got '{s}'")
    v = int(s)
    if not lo <= v <= hi:
        raise UsageError(f"{what}: expected {lo} to {hi}, got '{s}'")
    return v


def parse_compare(text):
    """'KIND:A,B' -> (kind, a, b), the sides checked; UsageError with one line otherwise."""
    bad = f"--compare: expected KIND:A,B with KIND {', '.join(KINDS)}, got '{text}'"
    if not isinstance(text, str) or text.count(":") != 1:
        raise UsageError(bad)
    kind, sides = text.split(":")
    if kind not in KINDS or sides.count(",") != 1:
        raise UsageError(bad)
    a, b = sides.split(",")
    what = f"--compare {kind}"
    if kind == "batch":
        for s in (a, b):
            _count(s, what + " (batch sizes)", 1, 1 << 20)
    elif kind == "runs":
        for s in (a, b):
            _count(s, what + " (call numbers)", 0, 1000)
    elif kind == "threads":
        for s in (a, b):
            _count(s, what, 0, 4096)
    else:  # determinism, onednn
        for s in (a, b):
            if s not in ("on", "off"):
                raise UsageError(f"{what}: expected on or off, got '{s}'")
    return kind, a, b


# --- the model with every layer's output exposed ----------------------------------------------------

def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras  # noqa: F401 -- Keras 3 (with TensorFlow: scripts/setup.sh --keras)
    except ImportError as e:
        raise RuntimeError(f"keras_trace needs Keras 3 and TensorFlow ({e}); scripts/setup.sh --keras installs them")
    return keras


def load_model(model):
    keras = _keras()
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileError(f"MODEL {path}: no such file")
        if not path.endswith(".keras"):
            raise UsageError(f"MODEL {path}: expected a Keras 3 .keras file")
        try:
            return keras.models.load_model(path, compile=False), path
        except Exception as e:  # noqa: BLE001 -- any loader failure is one line
            raise FileError(f"MODEL {path}: cannot load ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    if not isinstance(model, keras.Model):
        raise UsageError(f"model: expected a keras.Model or a .keras path, got {type(model).__name__}")
    return model, "(model object)"


def _graph(model):
    """The Functional graph a model runs through (a Sequential's is built on first use)."""
    from keras.src.models.functional import Functional
    from keras.src.models.sequential import Sequential
    if isinstance(model, Sequential):
        return model._functional
    if isinstance(model, Functional):
        return model
    return None


def build_probe(model, x):
    """(probe, names, classes, final): a functional model outputting every layer's output (nested
    models flattened, in the order they run), the layers' names and classes, and which of the
    probe's outputs are the model's own outputs."""
    keras = _keras()
    from keras.src import tree
    if not model.built or (_graph(model) is None and hasattr(model, "_functional")):
        model(x[:1])  # builds a Sequential given without an Input
    graph = _graph(model)
    if graph is None:
        raise UsageError(f"model {model.name}: a subclassed model ({type(model).__name__}) has no layer graph to "
                         "expose; keras_trace takes functional and Sequential models (nested ones are flattened)")
    if len(graph.inputs) != 1:
        raise UsageError(f"model {model.name}: keras_trace takes models with one input, this one has {len(graph.inputs)}")
    src = graph.inputs[0]
    inp = keras.Input(shape=tuple(src.shape[1:]), dtype=src.dtype, name="keras_trace_input")
    outputs, names, classes, seen, used = [], [], [], set(), {}

    def record(name, op, y):
        for i, t in enumerate(tree.flatten(y)):
            if id(t) in seen or not hasattr(t, "dtype"):
                continue
            seen.add(id(t))
            n = name if i == 0 else f"{name}:{i}"
            used[n] = used.get(n, 0) + 1
            outputs.append(t)
            names.append(n if used[n] == 1 else f"{n}#{used[n] - 1}")  # a shared layer's later calls
            classes.append(type(op).__name__)

    def run(g, inputs, prefix):
        def operation_fn(op):
            def call(*args, **kwargs):
                inner = _graph(op) if isinstance(op, keras.Model) else None
                if inner is not None:  # nested model: its layers, flattened under its name
                    y = run(inner, list(args)[:1] if len(args) else list(kwargs.values())[:1], f"{prefix}{op.name}/")
                    y = y[0] if isinstance(y, (list, tuple)) and len(y) == 1 else y
                else:
                    y = op(*args, **kwargs)
                    record(prefix + op.name, op, y)
                return y
            return call
        return g._run_through_graph(inputs, operation_fn=operation_fn)

    final = tree.flatten(run(graph, [inp], ""))
    final_index = []
    for t in final:
        if id(t) not in seen:
            record("output", None, t)
        final_index.append(next(i for i, o in enumerate(outputs) if o is t))
    probe = keras.Model(inp, outputs, name=f"{model.name}_keras_trace")
    return probe, names, classes, final_index


# --- running one side -------------------------------------------------------------------------------

def _as_list(y):
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def _predict(m, x, training):
    if training:  # predict() has no training flag: a direct call, as Keras's training=True
        return _as_list(m(x, training=True))
    return _as_list(m.predict(x, batch_size=len(x), verbose=0))


class _Side:
    """One configuration: its input rows, its calls, its outputs and times."""

    def __init__(self, label, x, position, calls):
        self.label, self.x, self.position, self.calls = label, x, position, calls
        self.outputs = None       # every layer's output (row `position` or all rows)
        self.plain = None         # the plain predict's outputs of the compared call
        self.plain_ms, self.trace_ms = [], []


def _run_side(model, probe, final_index, side, training, reps):
    """Warm-up calls, then the calls up to the compared one, each a plain and a traced call (timed),
    then more timed pairs until there are `reps`; keeps the compared call's outputs."""
    _predict(model, side.x, training)  # warm-up (tracing of the predict function)
    _predict(probe, side.x, training)
    call = 0
    while call <= side.calls[-1] or len(side.plain_ms) < reps:
        t0 = time.perf_counter()
        plain = _predict(model, side.x, training)
        t1 = time.perf_counter()
        traced = _predict(probe, side.x, training)
        t2 = time.perf_counter()
        side.plain_ms.append(1e3 * (t1 - t0))
        side.trace_ms.append(1e3 * (t2 - t1))
        if call == side.calls[-1]:
            side.plain, side.outputs = plain, traced
        call += 1
    # With training=True the plain and the traced call draw different dropout masks: not comparable.
    side.final_matches = None if training else all(
        np.array_equal(np.asarray(p).view(np.uint8), np.asarray(side.outputs[i]).view(np.uint8))
        for p, i in zip(side.plain, final_index))


def _worker(spec_path):
    """A fresh process's side (determinism, threads, onednn): the environment was set by the parent."""
    spec = json.load(open(spec_path))
    keras = _keras()
    import tensorflow as tf
    if spec["kind"] == "threads":
        tf.config.threading.set_intra_op_parallelism_threads(int(spec["value"]))
    if spec["kind"] == "determinism" and spec["value"] == "on":
        tf.config.experimental.enable_op_determinism()
    model, _ = load_model(spec["model"])
    x = np.load(spec["input"])
    probe, names, classes, final_index = build_probe(model, x)
    side = _Side(spec["label"], x, None, [0])
    _run_side(model, probe, final_index, side, spec["training"], spec["reps"])
    arrays = {f"o{i}": a for i, a in enumerate(side.outputs)}
    np.savez(spec["out"], **arrays)
    json.dump({"names": names, "plain_ms": side.plain_ms, "trace_ms": side.trace_ms,
               "final_matches": side.final_matches, "tf": tf.__version__, "keras": keras.__version__,
               "intra_op": tf.config.threading.get_intra_op_parallelism_threads()},
              open(spec["out"] + ".json", "w"))


def _fresh_side(kind, value, label, model_path, x_path, training, reps, tmp):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if kind == "onednn":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if value == "on" else "0"
    out = os.path.join(tmp, f"side_{label.replace(' ', '_')}.npz")
    spec = os.path.join(tmp, f"spec_{label.replace(' ', '_')}.json")
    json.dump({"kind": kind, "value": value, "label": label, "model": model_path, "input": x_path,
               "training": training, "reps": reps, "out": out}, open(spec, "w"))
    p = subprocess.run([sys.executable, "-m", "driftlab.keras_trace", "--side-worker", spec], env=env,
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"keras_trace: the {label} side's process failed (exit {p.returncode}): {last}")
    info = json.load(open(out + ".json"))
    with np.load(out) as z:
        outputs = [z[f"o{i}"] for i in range(len(info["names"]))]
    side = _Side(label, None, None, [0])
    side.outputs, side.plain_ms, side.trace_ms = outputs, info["plain_ms"], info["trace_ms"]
    side.final_matches, side.info = info["final_matches"], info
    return side


# --- the comparison and its report --------------------------------------------------------------------

def _row_values(a):
    a = np.ascontiguousarray(a)
    if a.dtype == np.float64:
        return None  # driftlab.compare compares float32 (and widened 16-bit) values only
    if a.dtype.kind not in "fV" and str(a.dtype) != "bfloat16":
        return None
    return a


def keras_trace(model, x, compare="batch:1,64", row=0, training=False, reps=3, json_path=None, verbose=False,
                figure=None):
    """Runs `model` (a keras.Model or a .keras path) on `x` under the two sides of `compare` and
    compares every layer's output.  Returns a dict shaped like `driftlab trace --json`: rows (one per
    layer: name, class, shape, elements, max_ulp, sign_changes, frac_differ, max_rel_diff), first_divergence
    (None: every layer has the same bits), final_matches_predict, predict_ms, trace_ms, sides a and b.
    json_path: also write it there (atomically).  verbose: print the table.  figure: a folder for
    the figure (keras_trace_ulp.png and .svg, as `driftlab trace`'s; needs matplotlib)."""
    import driftlab
    kind, va, vb = parse_compare(compare)
    if isinstance(x, (str, os.PathLike)):
        x = np.load(os.fspath(x))
    if not isinstance(x, np.ndarray):
        raise UsageError(f"x: expected a NumPy array or a .npy path, got {type(x).__name__}")
    if x.ndim < 2:
        raise UsageError(f"x: expected an array of rows [B x ...], got shape {x.shape}")
    row = _count(str(row), "--row", 0, (1 << 20) - 1)
    if row and kind != "batch":
        raise UsageError("--row applies to --compare batch:A,B")
    reps = _count(str(reps), "--reps", 1, 100)
    m, origin = load_model(model)
    keras = _keras()
    tf_version = __import__("tensorflow").__version__ if "tensorflow" in sys.modules else "?"
    t_start = time.perf_counter()

    if kind in _FRESH:
        with tempfile.TemporaryDirectory(prefix="keras_trace_") as tmp:
            model_path = origin if origin.endswith(".keras") else os.path.join(tmp, "model.keras")
            if model_path != origin:
                m.save(model_path)
            x_path = os.path.join(tmp, "x.npy")
            np.save(x_path, x)
            labels = {"threads": lambda v: "TensorFlow's default intra-op threads" if v == "0" else f"{v} intra-op thread{'' if v == '1' else 's'}",
                      "onednn": lambda v: f"oneDNN {v} (TF_ENABLE_ONEDNN_OPTS={1 if v == 'on' else 0})",
                      "determinism": lambda v: f"op determinism {v}"}[kind]
            sides = [_fresh_side(kind, v, labels(v) + (" (A)" if s == 0 else " (B)"), model_path, x_path, training,
                                 reps, tmp) for s, v in enumerate((va, vb))]
            for s in sides:
                s.label = s.label[:-4]
        _, names, classes, _ = build_probe(m, x)
        if sides[0].info["names"] != names or sides[1].info["names"] != names:
            raise RuntimeError("keras_trace: the sides' processes named the layers differently")
        positions = [None, None]
    else:
        probe, names, classes, final_index = build_probe(m, x)
        if kind == "batch":
            sizes = [int(va), int(vb)]
            need = max(sizes + [row + 1])
            if len(x) < need:
                raise UsageError(f"x: has {len(x)} rows; --compare {compare} with --row {row} needs {need}")
            sides = []
            for B in sizes:
                start = 0 if row < B else row + 1 - B  # the batch holds row R
                sides.append(_Side(f"batch {B} (row {row} at position {row - start})", x[start:start + B], row - start, [0]))
        else:  # runs
            sides = [_Side(f"call {c}", x, None, [int(c)]) for c in (va, vb)]
        for s in sides:
            _run_side(m, probe, final_index, s, training, reps)
        positions = [s.position for s in sides]

    rows, first = [], None
    t0 = time.perf_counter()
    for i, name in enumerate(names):
        a, b = sides[0].outputs[i], sides[1].outputs[i]
        if positions[0] is not None:
            a, b = a[positions[0]], b[positions[1]]
        ra, rb = _row_values(a), _row_values(b)
        r = {"layer": name, "index": i, "class": classes[i], "shape": list(a.shape), "dtype": str(a.dtype),
             "elements": int(a.size), "max_ulp": None, "sign_changes": None, "frac_differ": None,
             "max_rel_diff": None}
        if ra is None or rb is None or ra.shape != rb.shape:
            r["note"] = f"not compared ({a.dtype})"
        else:
            c = driftlab.compare(ra, rb)
            r.update(max_ulp=c["max_ulp"], sign_changes=c["sign_changes"], frac_differ=c["frac_differ"],
                     max_rel_diff=c["max_rel_diff"])
            f = c["first_difference"]
            if f is not None and first is None:
                first = {"layer": name, "index_layer": i, "element": f["index"], "position": list(f["position"]),
                         "a": f["a_text"], "b": f["b_text"], "a_bits": f["a_bits"], "b_bits": f["b_bits"], "ulp": f["ulp"]}
        rows.append(r)
    compare_ms = 1e3 * (time.perf_counter() - t0)

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])

    predict_ms = sum(median(s.plain_ms) for s in sides)
    trace_ms = sum(median(s.trace_ms) for s in sides) + compare_ms
    if tf_version == "?" and "tensorflow" in sys.modules:
        tf_version = sys.modules["tensorflow"].__version__
    report = {
        "command": "keras_trace", "model": m.name, "origin": origin, "compare": f"{kind}:{va},{vb}",
        "row": row if kind == "batch" else None, "training": bool(training),
        "framework": f"TensorFlow {tf_version}, Keras {keras.__version__}", "ulp_unit": "f32",
        "a": {"label": sides[0].label}, "b": {"label": sides[1].label},
        "rows": rows, "first_divergence": first,
        "final_matches_predict": None if training else bool(sides[0].final_matches and sides[1].final_matches),
        "predict_ms": predict_ms, "trace_ms": trace_ms, "compare_ms": compare_ms, "timing_reps": reps,
        "wall_s": time.perf_counter() - t_start,
    }
    if figure:  # the figure first: matplotlib is likelier to fail than a JSON write
        report["figure"] = write_figure(report, os.fspath(figure))
    if json_path:
        _write_json_atomically(json_path, report)
    if verbose:
        print_table(report)
    return report


def write_figure(report, out_dir):
    """The figure of `driftlab trace` (plots/plot_trace.py) for a keras_trace report: max ULP between
    A and B at every layer, in run order, the first divergence circled.  Writes
    OUT_DIR/keras_trace_ulp.png and .svg (each to a temporary name, then renamed); returns the PNG's path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    rows = report["rows"]
    xs = list(range(len(rows)))
    ys = [float("nan") if r["max_ulp"] is None else r["max_ulp"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(rows) + 2), 4.8), layout="constrained")
    line, = ax.plot(xs, ys, "-o", label=f'{report["compare"]} ({report["framework"]})', zorder=3, alpha=0.85)
    f = report["first_divergence"]
    if f:
        ax.plot([f["index_layer"]], [ys[f["index_layer"]]], "o", ms=14, mfc="none", mec=line.get_color(), mew=2,
                zorder=4)
    ax.set_xticks(xs, [r["layer"] for r in rows], rotation=30, ha="right")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=-0.2)  # 0 ULP (the same bits) sits on the axis
    ax.set_ylabel("max ULP distance, side A vs side B")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylim(top=max(10.0, ax.get_ylim()[1] * 4))
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    ax.set_title(f"driftlab keras_trace: max ULP per layer (circled: the first bits that differ)\nmodel "
                 f"{report['model']}", fontsize=10)
    for ext in ("png", "svg"):
        final = os.path.join(out_dir, f"keras_trace_ulp.{ext}")
        tmp = os.path.join(out_dir, f".keras_trace_ulp.tmp.{ext}")
        fig.savefig(tmp, bbox_inches="tight", pad_inches=0.15, format=ext,
                    metadata={"Software": None} if ext == "png" else {"Date": None, "Creator": None})
        os.replace(tmp, final)
    plt.close(fig)
    return os.path.join(out_dir, "keras_trace_ulp.png")


def _write_json_atomically(path, obj):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".keras_trace_", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _sig(v, digits=3):
    return "-" if v is None else f"{v:.{digits}g}"


def print_table(r, out=sys.stdout):
    w = max([5] + [len(x["layer"]) for x in r["rows"]]) + 2
    out.write(f"driftlab keras_trace: model {r['model']} ({r['origin']}), compare {r['compare']}"
              f"{', training=True' if r['training'] else ''}\n{r['framework']}; max_ulp in float32 ULPs "
              "(16-bit values compared widened to float32)\n")
    out.write(f"A: {r['a']['label']}\nB: {r['b']['label']}\n\n")
    out.write(f"{'layer':<{w}}{'class':<22}{'elements':>10}{'max_ulp':>12}{'sign_changes':>14}{'frac_differ':>13}"
              f"{'max_rel_diff':>14}\n")
    for x in r["rows"]:
        ulp = "-" if x["frac_differ"] is None else ("nan" if x["max_ulp"] is None else str(x["max_ulp"]))
        changes = "-" if x["sign_changes"] is None else str(x["sign_changes"])
        out.write(f"{x['layer']:<{w}}{x['class']:<22}{x['elements']:>10}{ulp:>12}{changes:>14}{_sig(x['frac_differ']):>13}"
                  f"{_sig(x['max_rel_diff']):>14}{'  ' + x['note'] if 'note' in x else ''}\n")
    if any(x["sign_changes"] for x in r["rows"]):
        out.write("\nsign_changes: elements whose sign (negative, zero, positive) differs in A and B.  ULPs are counted\n"
                  "from zero and through it (0 and 1e-4 are 9.5e8 ULPs apart, 1e-8 and -1e-8 1.7e9), so a row with\n"
                  "sign changes can owe its max_ulp to one value at or near zero: read max_rel_diff there.\n")
    f = r["first_divergence"]
    out.write("\n")
    if f is None:
        out.write("first divergence: none -- every layer's output has the same bits in A and B\n")
    else:
        ulp = "nan" if f["ulp"] is None else str(f["ulp"])
        out.write(f"first divergence: layer {f['layer']} (layer {f['index_layer']} in run order), element "
                  f"{f['element']} {tuple(f['position'])}: A = {f['a']} ({f['a_bits']}), B = {f['b']} ({f['b_bits']}), "
                  f"{ulp} ulp\n")
    fm = r["final_matches_predict"]
    out.write("the last layer's outputs are bitwise the plain predict's: " +
              ("not checked (training=True: each call draws its own dropout mask)" if fm is None else "yes" if fm else "NO") + "\n")
    ratio = r["trace_ms"] / r["predict_ms"] if r["predict_ms"] > 0 else 0
    out.write(f"time (medians of {r['timing_reps']}): the two plain predict calls {_sig(r['predict_ms'])} ms; the two "
              f"traced calls and the comparison {_sig(r['trace_ms'])} ms ({_sig(ratio)}x)\n")


USAGE = ("usage: python -m driftlab.keras_trace MODEL.keras INPUT.npy --compare KIND:A,B [--row R] [--training] "
         "[--reps N] [--json FILE] [--figure DIR]")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--side-worker":
        _worker(argv[1])
        return 0
    # TensorFlow writes its start-up lines to stderr from C++ whatever TF_CPP_MIN_LOG_LEVEL says: they
    # go to a scratch file, so that a failure is exactly one line on the real stderr.
    real_stderr = os.dup(2)
    _REAL_STDERR[0] = real_stderr
    scratch = tempfile.TemporaryFile()
    os.dup2(scratch.fileno(), 2)
    try:
        return _main(argv)
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)
        os.close(real_stderr)
        scratch.close()


def _fail(line, code):
    os.write(_REAL_STDERR[0], (f"keras_trace: {line}\n").encode())
    return code


_REAL_STDERR = [2]


def _main(argv):
    try:
        if not argv:
            raise UsageError(USAGE + " (--help: every option)")
        if argv[0] in ("-h", "--help"):
            print(USAGE + "\n\n" + __doc__.split("\n\n", 2)[2])
            return 0
        pos, opts, i = [], {"compare": None, "row": "0", "reps": "3", "json": None, "figure": None, "training": False}, 0
        seen = set()  # a flag is given once, as driftlab's own commands take them (cli_args.h)
        while i < len(argv):
            a = argv[i]
            if a.startswith("--"):
                if a in seen:
                    raise UsageError(f"{a} given twice")
                seen.add(a)
            if a == "--training":
                opts["training"] = True
            elif a.startswith("--") and a[2:] in ("compare", "row", "reps", "json", "figure"):
                if i + 1 >= len(argv):
                    raise UsageError(f"{a}: needs a value")
                opts[a[2:]] = argv[i + 1]
                i += 1
            elif a.startswith("--"):
                raise UsageError(f"unknown option '{a}' ({USAGE})")
            else:
                pos.append(a)
            i += 1
        if len(pos) != 2:
            raise UsageError(USAGE)
        if opts["compare"] is None:
            raise UsageError("--compare KIND:A,B is required")
        parse_compare(opts["compare"])
        if not os.path.isfile(pos[1]):
            raise FileError(f"INPUT {pos[1]}: no such file")
        if opts["json"] is not None:
            d = os.path.dirname(os.path.abspath(opts["json"]))
            if not os.path.isdir(d):
                raise UsageError(f"--json {opts['json']}: no such folder")
        if opts["figure"] is not None:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise UsageError("--figure needs matplotlib (scripts/setup.sh installs it into .venv)")
            if os.path.exists(opts["figure"]) and not os.path.isdir(opts["figure"]):
                raise UsageError(f"--figure {opts['figure']}: not a folder")
        try:
            x = np.load(pos[1])
        except Exception as e:  # noqa: BLE001
            raise FileError(f"INPUT {pos[1]}: not a .npy array ({type(e).__name__})")
        keras_trace(pos[0], x, compare=opts["compare"], row=opts["row"], training=opts["training"],
                    reps=opts["reps"], json_path=opts["json"], verbose=True, figure=opts["figure"])
        return 0
    except UsageError as e:
        return _fail(str(e).splitlines()[0] if str(e) else "bad arguments", 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 1)
    except Exception as e:  # noqa: BLE001 -- the one-line promise
        return _fail(str(e).splitlines()[0] if str(e) else type(e).__name__, 1)


class _CallableModule(types.ModuleType):
    """driftlab.keras_trace is this module and the function: driftlab.keras_trace(model, x, ...)."""

    def __call__(self, *args, **kwargs):
        return keras_trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
