"""driftlab.keras_trace on four real Keras models, each saved as .keras here (ctest:
Python.KerasTraceEndToEnd).

usage: test_keras_trace.py WORKDIR
Exit 0: passed; 1: a check failed; 77: skipped (the driftlab package or TensorFlow is not installed:
scripts/setup.sh --python --keras).
  - batch:1,64 on the article's model (10-20-10 with Dropout, as scripts/keras_check.py builds it), the
    same layers on 784 inputs (784-256-10), a small CNN with BatchNormalization and a small Transformer block (MultiHeadAttention,
    LayerNormalization), through `python -m driftlab.keras_trace`: the first divergent layer is the one
    an independent oracle finds (a plain keras.Model per layer, predict at batch 1 and 64, row 0's
    bits), every layer's "differs" agrees with it, at least one model names a layer, the last layer is
    bitwise the plain predict's, and the cost is at most 3x the two plain predict calls;
  - "none" when A and B are the same configuration (batch:64,64; runs:0,0);
  - runs:0,1 with training=True: the first divergence is the Dropout layer (a new mask per call);
  - determinism:off,on, threads:1,2 and onednn:on,off (fresh processes) on the article's model;
  - the figure (--figure DIR) is a PNG; bad arguments: exit 2 and exactly one line on stderr (a missing
    or unreadable file: exit 1).
"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import driftlab
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: F401
    import keras
except ImportError as e:
    print(f"SKIP: keras_trace needs the driftlab package and TensorFlow in {sys.executable} ({e}); "
          "scripts/setup.sh --python --keras installs them")
    sys.exit(77)

WORK = sys.argv[1]
os.makedirs(WORK, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "driftlab.keras_trace", *args], capture_output=True, text=True,
                          timeout=900)


keras.utils.set_random_seed(24)
rng = np.random.default_rng(24)


def article():  # scripts/keras_check.py's small_model, with its input shape
    return keras.Sequential([keras.Input((10,)), keras.layers.Dense(20, activation="relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(10)], name="article")


def article_wide():  # the article's layers at scripts/keras_check.py's wide input width (784), narrower inside
    return keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(10)], name="article_wide")


def cnn():
    i = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(16, 3, padding="same")(i)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Flatten()(h)
    m = keras.Model(i, keras.layers.Dense(10)(h), name="cnn")
    for layer in m.layers:  # moving statistics away from 0 and 1, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.standard_normal(layer.moving_mean.shape).astype("float32") * 0.1)
            layer.moving_variance.assign(rng.random(layer.moving_variance.shape).astype("float32") + 0.5)
    return m


def transformer():
    i = keras.Input((16, 64))
    a = keras.layers.MultiHeadAttention(4, 16)(i, i)
    h = keras.layers.LayerNormalization()(keras.layers.Add()([i, a]))
    f = keras.layers.Dense(128, activation="relu")(h)
    f = keras.layers.Dense(64)(f)
    h = keras.layers.LayerNormalization()(keras.layers.Add()([h, f]))
    return keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(h)), name="transformer")


models = {"article": (article(), rng.random((64, 10)).astype(np.float32)),
          "article_wide": (article_wide(), rng.random((64, 784)).astype(np.float32)),
          "cnn": (cnn(), rng.random((64, 16, 16, 3)).astype(np.float32)),
          "transformer": (transformer(), rng.standard_normal((64, 16, 64)).astype(np.float32))}
paths = {}
for name, (m, x) in models.items():
    paths[name] = (os.path.join(WORK, name + ".keras"), os.path.join(WORK, name + "_x.npy"))
    m.save(paths[name][0])
    np.save(paths[name][1], x)


def oracle(m, x):
    """Per top-level layer: does row 0's output differ between batch 1 and batch 64 (plain Keras)?"""
    differs = {}
    for layer in m.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        sub = keras.Model(m.inputs, layer.output)
        a = sub.predict(x[:1], batch_size=1, verbose=0)
        b = sub.predict(x[:64], batch_size=64, verbose=0)[:1]
        differs[layer.name] = not np.array_equal(a.view(np.uint32), b.view(np.uint32))
    return differs


def consistent(r, what):
    """The first divergence is the first row that differs; rows after a difference are rows."""
    first_row = next((x["layer"] for x in r["rows"] if x["frac_differ"]), None)
    got = r["first_divergence"]["layer"] if r["first_divergence"] else None
    check(got == first_row, f"{what}: first divergence {got} but the first differing row is {first_row}")
    return got


named = 0
for name, (m, x) in models.items():
    mp, xp = paths[name]
    jp = os.path.join(WORK, name + "_batch.json")
    fig = os.path.join(WORK, name + "_figure")
    p = run_cli(mp, xp, "--compare", "batch:1,64", "--json", jp, "--reps", "5", "--figure", fig)
    print(p.stdout)
    check(p.returncode == 0 and p.stderr == "", f"{name}: exit {p.returncode}, stderr {p.stderr!r}")
    if p.returncode != 0:
        continue
    r = json.load(open(jp))
    png = os.path.join(fig, "keras_trace_ulp.png")
    check(os.path.isfile(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", f"{name}: no PNG figure at {png}")
    got = consistent(r, name)
    want = oracle(keras.models.load_model(mp), x)
    first_want = next((k for k, v in want.items() if v), None)
    check(got == first_want, f"{name}: keras_trace's first divergence {got}, the oracle's {first_want}")
    rows = {x["layer"]: x for x in r["rows"]}
    check(set(want) <= set(rows), f"{name}: layers {sorted(set(want) - set(rows))} missing from the rows")
    for layer, d in want.items():
        if layer in rows:
            check(bool(rows[layer]["frac_differ"]) == d, f"{name}: layer {layer} differs={d} by the oracle, "
                                                         f"keras_trace says frac_differ={rows[layer]['frac_differ']}")
    check(r["final_matches_predict"] is True, f"{name}: the traced last layer is not bitwise the plain predict's")
    text = "first divergence: none" if got is None else f"first divergence: layer {got} "
    check(text in p.stdout, f"{name}: the table lacks '{text}'")
    named += got is not None
    ratio = r["trace_ms"] / r["predict_ms"]
    print(f"cost {name} batch:1,64: plain predict x2 {r['predict_ms']:.1f} ms, traced x2 + compare "
          f"{r['trace_ms']:.1f} ms ({ratio:.2f}x); whole keras_trace call {r['wall_s']:.2f} s")
    check(ratio <= 3, f"{name}: keras_trace costs {ratio:.2f}x the two plain predict calls (target <= 3x)")
check(named >= 1, "no model named a first divergent layer at batch:1,64: the naming path went untested")

# A and B the same configuration: "none".
for name, kind in (("transformer", "batch:64,64"), ("article", "runs:0,0")):
    m, x = models[name]
    r = driftlab.keras_trace(m, x, compare=kind, reps=1)  # a model object, through the Python API
    consistent(r, f"{name} {kind}")
    check(r["first_divergence"] is None and all(x["frac_differ"] == 0 for x in r["rows"]),
          f"{name} {kind}: A and B are the same configuration, yet {r['first_divergence']}")

# Dropout at predict time (the article's claim): a new mask per call, from the Dropout layer on.
m, x = models["article"]
r = driftlab.keras_trace(m, x, compare="runs:0,1", training=True, reps=1)
dropout = [x.name for x in m.layers if isinstance(x, keras.layers.Dropout)][0]
check(consistent(r, "article runs:0,1 training") == dropout,
      f"article runs:0,1 training=True: first divergence {r['first_divergence']}, expected the layer {dropout}")
check(r["rows"][0]["frac_differ"] == 0, "article runs:0,1 training=True: the first Dense cannot depend on dropout")

# The fresh-process kinds, on the article's model file.
for kind in ("determinism:off,on", "threads:1,2", "onednn:on,off"):
    r = driftlab.keras_trace(paths["article"][0], x, compare=kind, reps=1)
    got = consistent(r, f"article {kind}")
    check(len(r["rows"]) == 3 and r["final_matches_predict"] is True, f"article {kind}: {r}")
    print(f"article {kind}: first divergence {got or 'none'} ({r['a']['label']} vs {r['b']['label']})")

# Bad arguments: exit 2, one line on stderr, no JSON written.
mp, xp = paths["article"]
bad_json = os.path.join(WORK, "never.json")
for args, part, code in (([mp, xp, "--compare", "batch:1"], "--compare: expected KIND:A,B", 2),
                         ([mp, xp, "--compare", "sideways:1,2"], "--compare: expected KIND:A,B", 2),
                         ([mp, xp, "--compare", "batch:0,64"], "batch sizes", 2),
                         ([mp, xp, "--compare", "onednn:yes,no"], "expected on or off", 2),
                         ([mp, xp, "--compare", "batch:1,65", "--json", bad_json], "needs 65", 2),
                         ([mp, xp, "--compare", "runs:0,1", "--row", "3"], "--row applies", 2),
                         ([xp, xp, "--compare", "batch:1,64"], "expected a Keras 3 .keras file", 2),
                         ([mp, xp], "--compare KIND:A,B is required", 2),
                         ([mp, xp, "--compare", "batch:1,64", "--bogus"], "unknown option", 2),
                         ([mp, xp, "--compare", "batch:1,64", "--reps", "1", "--reps", "2"], "--reps given twice", 2),
                         ([mp, xp, "--training", "--compare", "batch:1,64", "--training"], "--training given twice", 2),
                         ([], "usage:", 2),
                         # a file that is missing or cannot be read: 1, as the command line's files
                         ([os.path.join(WORK, "missing.keras"), xp, "--compare", "batch:1,64"], "no such file", 1),
                         ([mp, os.path.join(WORK, "missing.npy"), "--compare", "batch:1,64"], "no such file", 1)):
    p = run_cli(*args)
    lines = p.stderr.splitlines()
    check(p.returncode == code and len(lines) == 1 and part in p.stderr,
          f"keras_trace {' '.join(args)}: exit {p.returncode}, stderr {p.stderr!r} (expected {code} and one line "
          f"with {part!r})")
check(not os.path.exists(bad_json), "a refused run wrote its JSON")
corrupt = os.path.join(WORK, "corrupt.keras")
open(corrupt, "wb").write(b"not a zip")
p = run_cli(corrupt, xp, "--compare", "batch:1,64")
check(p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "cannot load" in p.stderr,
      f"a corrupt .keras file: exit {p.returncode}, stderr {p.stderr!r}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all keras_trace checks passed")
