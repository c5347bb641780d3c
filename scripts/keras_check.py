#!/usr/bin/env python3
"""Cross-check of `driftlab scenarios` on real TensorFlow/Keras.

Runs each scenario's counterpart on the TensorFlow/Keras installed in this Python (the project's
.venv after `scripts/setup.sh --keras`), every cross-process case in a fresh child process with a
clean environment, and writes JSON: the versions, per scenario the counts it measured and a
verdict computed from them by the same rules as driftlab's C++ (docs/verdicts.md; both
implementations are tested on tests/fixtures/verdict_cases.json).

usage: keras_check.py [--out FILE] [--processes P] [--calls C] [--layers 784,4096,4096,10] [--jobs J]
       keras_check.py --self-test tests/fixtures/verdict_cases.json   (no TensorFlow needed)
Exit: 0 written; 1 TensorFlow missing or a child failed; 2 bad command line.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import time

# --- Verdict rules: the Python twin of host/commands/scenarios.cpp (docs/verdicts.md) -------------------
# Each takes counts and returns (opening, text); the text starts with the opening.  A count of 0
# means "not measured" (a distinct count is at least 1 whenever something was measured).


def v_dropout_call(as_written, training_true):
    if as_written > 1:
        return "holds", f"holds: {as_written} distinct outputs from repeated calls as written"
    if training_true > 1:
        return ("holds only when", "holds only when training=True is passed: as written (inference mode) the calls "
                f"gave identical bits; with training=True {training_true} distinct outputs")
    return "does not hold", "does not hold: identical bits with and without training=True"


def v_constant_within(as_written, training_true):
    if as_written == 1 and training_true <= 1:
        return "holds", "holds: identical bits from every call, with and without dropout"
    if as_written == 1:
        return ("holds only when", "holds only when the calls run in inference mode (as written, no training "
                f"argument): with training=True each call drew a new mask ({training_true} distinct outputs)")
    return "does not hold", f"does not hold: {as_written} distinct outputs from calls as written"


def v_same_across(as_written, training_true):
    if as_written == 1 and training_true <= 1:
        return "holds", "holds: every fresh process gave the same bits, with and without dropout"
    if as_written == 1:
        return ("holds only when", "holds only when dropout is off: the weights repeat across processes, the "
                f"first dropout mask does not ({training_true} distinct outputs)")
    return ("does not hold", f"does not hold: {as_written} distinct outputs across processes even without "
            "dropout (the weights differ)")


def v_inference(deterministic, atomic):
    if deterministic == 1 and atomic <= 1:
        return "holds", "holds: identical bits from every call with every kernel measured"
    if deterministic == 1:
        return ("holds only when", "holds only when the kernels are deterministic: atomic kernels gave "
                f"{atomic} distinct outputs")
    return "does not hold", f"does not hold: {deterministic} distinct outputs with dropout off"


def v_remnant(distinct):
    if distinct > 1:
        return "holds", f"holds: {distinct} distinct outputs with training=False"
    return "does not hold", "does not hold in the version measured: identical bits from every training=False call"


def v_init(unseeded, seeded):
    if unseeded > 1 and seeded <= 1:
        return "holds", f"holds: {unseeded} distinct outputs from unseeded processes; a seed made them repeat"
    if unseeded > 1:
        return "holds", f"holds: {unseeded} distinct outputs from unseeded processes; seeded ones differ too ({seeded})"
    return "does not hold", "does not hold: unseeded processes gave the same bits"


def v_drift(max_ulp, model_max_ulp, argmax_flips):
    if max_ulp > 0:
        return "holds", (f"holds: drift of up to {max_ulp} ULP between runs, "
                         f"{argmax_flips} prediction(s) (argmax) changed")
    if model_max_ulp > 0:
        return ("holds only when", "holds only when the accumulation order changes between runs (atomics under a "
                f"reordering scheduler: up to {model_max_ulp} ULP under the scheduler model); real runs here gave "
                "identical bits")
    return "does not hold", "does not hold here: identical bits in every run"


def v_batch(splitk, invariant):
    if splitk > 1 and invariant == 1:
        return ("holds only when", "holds only when the reduction is split by batch shape (split-K): the "
                "batch-invariant kernel kept row 0's bits")
    if splitk > 1 or invariant > 1:
        return "holds", f"holds: row 0 took {max(splitk, invariant)} distinct values across batch sizes"
    return "does not hold", "does not hold: row 0 kept its bits at every batch size"


def v_threads(kernels, atomic):
    if kernels > 1:
        return "holds", f"holds: {kernels} distinct outputs across thread counts"
    if atomic > 1:
        return ("holds only when", "holds only when the kernels accumulate with atomics: fixed-order kernels "
                "kept the bits")
    return "does not hold", "does not hold: the same bits at every thread count"


RULES = {
    "dropout_call": (v_dropout_call, ["as_written", "training_true"]),
    "constant_within": (v_constant_within, ["as_written", "training_true"]),
    "same_across": (v_same_across, ["as_written", "training_true"]),
    "inference": (v_inference, ["deterministic", "atomic"]),
    "remnant": (v_remnant, ["distinct"]),
    "init": (v_init, ["unseeded", "seeded"]),
    "drift": (v_drift, ["max_ulp", "model_max_ulp", "argmax_flips"]),
    "batch": (v_batch, ["splitk", "invariant"]),
    "threads": (v_threads, ["kernels", "atomic"]),
}


def verdict(rule, counts):
    fn, names = RULES[rule]
    return fn(*[int(counts[n]) for n in names])


def self_test(path):
    with open(path) as f:
        cases = json.load(f)["cases"]
    bad = 0
    for c in cases:
        opening, text = verdict(c["rule"], c["counts"])
        if opening != c["opening"] or not text.startswith(opening):
            print(f"FAIL {c['rule']} {c['counts']}: {opening!r} ({text!r}), expected {c['opening']!r}")
            bad += 1
    print(f"keras_check self-test: {len(cases) - bad} of {len(cases)} verdict cases agree")
    return 1 if bad else 0


# --- Measurements (run in fresh child processes) --------------------------------------------


def bits(a):
    import numpy as np
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def digest(a):
    return hashlib.sha256(bits(a).tobytes()).hexdigest()[:16]


def ordered(u):
    import numpy as np
    u = u.astype(np.int64)
    return np.where(u & 0x80000000, 0x80000000 - (u & 0x7FFFFFFF), 0x80000000 + u)  # ULP order of float32 bits


def max_ulp(a, b):
    import numpy as np
    return int(np.max(np.abs(ordered(bits(a)) - ordered(bits(b))))) if bits(a).size else 0


def worker(params):
    """One fresh process: params['kind'] is 'small' (the article's model) or 'wide'."""
    if params.get("threads"):
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(int(params["threads"]))
    import numpy as np
    import tensorflow as tf
    import keras
    out = {}
    if params["kind"] == "small":
        mode = params["seeds"]
        if mode in ("article", "article+python"):  # Example 2, as written
            tf.random.set_seed(42)
            np.random.seed(42)
        if mode == "article+python":  # ... plus Python's own `random`
            import random
            random.seed(42)
        if mode == "keras":
            keras.utils.set_random_seed(42)
        if mode == "init7":
            keras.utils.set_random_seed(7)
        input_data = np.random.rand(1, 10).astype(np.float32)
        model = tf.keras.models.Sequential([
            tf.keras.layers.Dense(20, activation='relu'),
            tf.keras.layers.Dropout(0.5),
            tf.keras.layers.Dense(10)
        ])
        calls = int(params["calls"])
        out["as_written"] = [digest(model(input_data).numpy()) for _ in range(calls)]
        out["training_true"] = [digest(model(input_data, training=True).numpy()) for _ in range(calls)]
        out["predict"] = [digest(model.predict(input_data, verbose=0)) for _ in range(calls)]
        out["training_false"] = [digest(model(input_data, training=False).numpy()) for _ in range(4 * calls)]
        fixed = np.random.default_rng(2024).random((1, 10)).astype(np.float32)
        out["fixed_input"] = digest(model(fixed, training=False).numpy())
        out["weights"] = hashlib.sha256(b"".join(bits(w).tobytes() for w in model.get_weights())).hexdigest()[:16]
    else:
        keras.utils.set_random_seed(3)
        layers = params["layers"]
        stack = [tf.keras.Input((layers[0],))]
        for i, n in enumerate(layers[1:]):
            last = i + 2 == len(layers)
            stack.append(tf.keras.layers.Dense(n, activation=None if last else 'relu'))
            if not last:
                stack.append(tf.keras.layers.Dropout(0.5))
        model = tf.keras.models.Sequential(stack)
        x = np.random.default_rng(5).random((513, layers[0])).astype(np.float32)
        runs = [model(x[:64], training=False).numpy() for _ in range(int(params["calls"]))]
        out["distinct"] = len({digest(r) for r in runs})
        out["max_ulp"] = max(max_ulp(runs[0], r) for r in runs)
        out["argmax_flips"] = int(sum((r.argmax(1) != runs[0].argmax(1)).sum() for r in runs))
        rows = [model(x[:b], training=False).numpy()[0] for b in (1, 7, 64, 513)]
        out["batch_distinct"] = len({digest(r) for r in rows})
        out["batch_max_ulp"] = max(max_ulp(rows[0], r) for r in rows)
        out["call0_bits"] = [int(v) for v in bits(runs[0]).ravel()]
        out["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    print("KERAS_CHECK_RESULT " + json.dumps(out))


def child(params, timeout):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(params)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("KERAS_CHECK_RESULT "):
            return json.loads(line[len("KERAS_CHECK_RESULT "):])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"child {params} failed (exit {p.returncode}): {tail}")


def distinct(xs):
    return len(set(xs))


def measure(a, log):
    P, C, timeout = a.processes, a.calls, a.child_timeout
    # The article's model: fresh processes, a.jobs at a time (each one is mostly TensorFlow's import).
    plan = [(seeds, i) for seeds, n in (("none", P), ("article", P), ("article+python", 2), ("keras", P), ("init7", P))
            for i in range(n)]
    log(f"  {len(plan)} fresh processes with the article's model, {a.jobs} at a time")
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        results = list(pool.map(lambda p: child({"kind": "small", "seeds": p[0], "calls": C}, timeout), plan))
    small = {}
    for (seeds, _), r in zip(plan, results):
        small.setdefault(seeds, []).append(r)
    wide = {}
    for tag, threads in (("t1", 1), ("t2", 2), ("t2b", 2)):
        log(f"  process: wide model {a.layers}, intra-op threads {threads}")
        wide[tag] = child({"kind": "wide", "layers": a.layers, "threads": threads, "calls": C}, timeout)

    def within(ps, key):  # largest distinct count within any one process
        return max(distinct(p[key]) for p in ps)

    def across(ps, key):  # distinct first outputs across processes
        return distinct([p[key][0] if isinstance(p[key], list) else p[key] for p in ps])

    import numpy as np
    t1, t2, t2b = (np.array(wide[k]["call0_bits"], dtype=np.uint32).view(np.float32) for k in ("t1", "t2", "t2b"))
    sc = []

    def add(key, source, rule, ran, counts, extra=None):
        opening, text = verdict(rule, counts)
        numbers = dict(counts)
        numbers.update(extra or {})
        sc.append({"key": key, "source": source, "rule": rule, "ran": ran, "numbers": numbers,
                   "verdict": opening, "verdict_text": text})

    none, art, ker = small["none"], small["article"], small["keras"]
    add("example1", "Example 1", "dropout_call",
        f"Example 1 as written (model(input_data), no training argument), {C} calls; then {C} calls with training=True",
        {"as_written": within(none, "as_written"), "training_true": within(none, "training_true")})
    add("predict_dropout", "Explanation 1", "dropout_call",
        f"model.predict(input_data) {C} times; model(input_data, training=True) {C} times",
        {"as_written": within(none, "predict"), "training_true": within(none, "training_true")})
    for key, ps, what in (("article", art, "tf.random.set_seed(42); np.random.seed(42)"),
                          ("keras_seed", ker, "keras.utils.set_random_seed(42)")):
        src = "Example 2" if key == "article" else "not in the article"
        add(f"example2_within_{key}", src, "constant_within",
            f"{what}; Example 2: {C} calls as written, {C} with training=True, in one process",
            {"as_written": within(ps, "as_written"), "training_true": within(ps, "training_true")})
        add(f"example2_across_{key}", src, "same_across",
            f"{what}; Example 2's first call in {len(ps)} fresh processes, as written and with training=True",
            {"as_written": across(ps, "as_written"), "training_true": across(ps, "training_true")},
            {"distinct_weights": across(ps, "weights")})
    add("example3", "Example 3", "inference",
        f"model(input_data, training=False), {4 * C} calls, no seed (TensorFlow's own CPU kernels)",
        {"deterministic": within(none, "training_false"), "atomic": 0})
    add("remnant_dropout", "Explanation 1", "remnant",
        f"model(x, training=False) {4 * C} times and model.predict(x) {C} times, no seed",
        {"distinct": max(within(none, "training_false"), within(none, "predict"))})
    add("init", "Explanation 2", "init",
        f"the article's model built in {P} fresh processes, unseeded vs keras.utils.set_random_seed(7); "
        "one fixed input, training=False",
        {"unseeded": across(none, "fixed_input"), "seeded": across(small["init7"], "fixed_input")},
        {"article_seeds_distinct": across(art, "fixed_input"),
         "article_seeds_plus_python_random_distinct": across(small["article+python"], "fixed_input")})
    add("drift", "Explanation 3", "drift",
        f"wide model {a.layers}, batch 64, training=False, {C} calls in each of 3 processes (intra-op threads 1, 2, 2)",
        {"max_ulp": max(max(w["max_ulp"] for w in wide.values()), max_ulp(t2, t2b)), "model_max_ulp": 0,
         "argmax_flips": sum(w["argmax_flips"] for w in wide.values())},
        {"distinct_within_process": max(w["distinct"] for w in wide.values()),
         "max_ulp_across_processes": max_ulp(t2, t2b)})
    add("batch", "not in the article", "batch",
        f"wide model {a.layers}, row 0 inside batches of 1, 7, 64, 513, training=False",
        {"splitk": max(w["batch_distinct"] for w in wide.values()), "invariant": 0},
        {"batch_max_ulp": max(w["batch_max_ulp"] for w in wide.values())})
    add("threads", "not in the article", "threads",
        f"wide model {a.layers}, batch 64, intra-op threads 1 vs 2 (fresh processes)",
        {"kernels": distinct([digest(t1), digest(t2)]), "atomic": 0},
        {"threads_max_ulp": max_ulp(t1, t2),
         "intra_op_threads_seen": [wide["t1"]["intra_op_threads"], wide["t2"]["intra_op_threads"]]})
    return sc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default="keras_check.json")
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--layers", default="784,4096,4096,10")
    ap.add_argument("--child-timeout", type=float, default=180)
    ap.add_argument("--jobs", type=int, default=2, help="fresh processes of the article's model run at a time")
    ap.add_argument("--self-test")
    ap.add_argument("--worker")
    a = ap.parse_args()
    if a.worker:
        worker(json.loads(a.worker))
        return 0
    if a.self_test:
        return self_test(a.self_test)
    try:
        a.layers = [int(v) for v in a.layers.split(",")]
        if len(a.layers) < 2 or min(a.layers) < 1 or a.processes < 2 or a.calls < 2 or a.jobs < 1:
            raise ValueError
    except ValueError:
        print("keras_check: --layers needs 2+ positive sizes, --processes and --calls at least 2, --jobs at least 1", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the versions only: no start-up notices
    try:
        import tensorflow as tf
        import keras
        import numpy as np
    except ImportError as e:
        print(f"keras_check: TensorFlow is not installed here ({e}); run scripts/setup.sh --keras", file=sys.stderr)
        return 1
    t0 = time.time()
    log = lambda s: print(s, file=sys.stderr, flush=True)
    try:
        scenarios = measure(a, log)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"keras_check: {e}", file=sys.stderr)
        return 1
    doc = {"tool": "keras_check", "tensorflow": tf.__version__, "keras": keras.__version__,
           "numpy": np.__version__, "python": sys.version.split()[0], "processes": a.processes, "calls": a.calls,
           "layers": a.layers, "seconds": round(time.time() - t0, 1), "scenarios": scenarios}
    tmp = a.out + ".tmp"  # written whole, then renamed over --out: no partial file
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.out)
    except OSError as e:
        print(f"keras_check: --out {a.out}: {e.strerror}", file=sys.stderr)
        return 1
    for s in scenarios:
        log(f"  {s['key']:28s} {s['verdict_text']}")
    log(f"keras_check: wrote {a.out} (TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"{doc['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
