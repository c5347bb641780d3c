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

# --- Verdict rules: the Python twin of host/scenarios/verdicts.cpp (docs/verdicts.md) -----------------
# Each takes counts (and, for some, the name of the wide model) and returns (opening, text); the
# text starts with the opening.  A count of 0 means "not measured" (a distinct count is at least 1
# whenever something was measured).


def rel(ppb):
    return f"{ppb * 1e-9:.2g}"


def v_dropout_call(as_written, training_true):
    if as_written > 1:
        return "holds", f"holds: {as_written} distinct outputs from repeated calls as written"
    if training_true > 1:
        return ("does not hold", "does not hold as written: calls without a training argument run in inference "
                "mode and gave identical bits; the outputs vary only with training=True "
                "(a new dropout mask each call)")
    return "does not hold", "does not hold: identical bits with and without training=True"


def v_predict(predict):
    if predict > 1:
        return "holds", f"holds: {predict} distinct outputs from model.predict calls"
    return ("does not hold", "does not hold: model.predict takes no training argument and always runs in inference "
            "mode (no dropout): its calls gave identical bits")


def v_constant_within(as_written, training_true):
    if as_written == 1:
        return "holds", ("holds as written: calls without a training argument run in inference mode (no dropout), so "
                         "every call gave identical bits" +
                         ("; with training=True each call drew a new mask" if training_true > 1 else ""))
    return "does not hold", f"does not hold: {as_written} distinct outputs from calls as written"


def v_same_across(as_written, training_true):
    if as_written == 1 and training_true <= 1:
        return "holds", "holds: every fresh process gave the same bits, with and without dropout"
    if as_written == 1:
        return ("holds only when", "holds only when dropout is off: the weights repeat across processes, the "
                "first dropout mask does not")
    return ("does not hold", f"does not hold: {as_written} distinct outputs across processes even without "
            "dropout (the weights differ)")


def v_outside_graph(input, weights):
    if input == 1 and weights == 1:
        return "holds", "holds: with both seeds the NumPy input and the weights repeated in every fresh process"
    if input == 1:
        return ("does not hold", "does not hold: np.random.seed fixed the NumPy input (1 distinct across fresh "
                "processes), but the weights, seeded outside the TensorFlow graph from a source neither seed fixes, "
                f"still differed ({weights} distinct)")
    return "does not hold", f"does not hold: {input} distinct inputs across processes despite np.random.seed"


def v_disables(training_false, training_true):
    if training_false == 1:
        return "holds", ("holds: calls with training=False gave identical bits" +
                         ("; with training=True the outputs vary (dropout on)" if training_true > 1 else ""))
    return "does not hold", f"does not hold: {training_false} distinct outputs with training=False"


def v_inference(deterministic, atomic, wide="the wide model"):
    if deterministic == 1:
        return "holds", ("holds for the article's model: its training=False calls gave identical bits" +
                         ("; not for kernels that add partial sums with atomics in a changing order: "
                          f"{atomic} distinct outputs on {wide}"
                          if atomic > 1 else ""))
    return "does not hold", f"does not hold: {deterministic} distinct outputs with training=False and no seed"


def v_remnant(distinct):
    if distinct > 1:
        return "holds", f"holds: {distinct} distinct outputs with training=False"
    if distinct == 1:
        return ("does not hold", "does not hold in the TensorFlow/Keras measured: identical bits from every "
                "training=False and model.predict call")
    # 0: nothing measured it; the opening must not read as a refutation.
    return ("not tested", "not tested here: driftlab's model has no dropout on its training=False path by "
            "construction, so only real TensorFlow can test this claim (scripts/keras_check.py, then --keras)")


def v_init(unseeded, seeded):
    if unseeded > 1 and seeded <= 1:
        return "holds", f"holds: {unseeded} distinct outputs from unseeded processes; a seed made them repeat"
    if unseeded > 1:
        return "holds", f"holds: {unseeded} distinct outputs from unseeded processes; seeded ones differ too ({seeded})"
    return "does not hold", "does not hold: unseeded processes gave the same bits"


def v_restored(restored, rebuilt):
    if restored == 1 and rebuilt > 1:
        return "holds", ("holds: weights restored from a saved file gave identical bits in every fresh process; "
                         f"rebuilt without a seed, {rebuilt} distinct outputs")
    if restored > 1:
        return "does not hold", f"does not hold: {restored} distinct outputs from the restored weights"
    return "does not hold", "does not hold: unseeded rebuilds gave the same bits too"


def v_lesser(backend_flips, dropout_flips, weights_flips, backend_rel_ppb, dropout_rel_ppb, weights_rel_ppb,
             wide="the wide model"):
    what = (f"the backend moved the outputs by {rel(backend_rel_ppb)} relative and changed {backend_flips} "
            f"argmax; dropout (training=True): {rel(dropout_rel_ppb)} relative, {dropout_flips} argmax changed; other "
            f"weights: {rel(weights_rel_ppb)} relative, {weights_flips} argmax changed")
    if backend_rel_ppb < min(dropout_rel_ppb, weights_rel_ppb) and backend_flips <= min(dropout_flips, weights_flips):
        return "holds", f"holds on {wide}: {what}"
    return "does not hold", f"does not hold on {wide}: {what}"


def v_drift(max_ulp, model_max_ulp, argmax_flips, wide="the wide model"):
    if max_ulp > 0:
        return "holds", (f"holds: drift of up to {max_ulp} ULP between real runs, "
                         f"{argmax_flips} prediction(s) (argmax) changed")
    if model_max_ulp > 0:
        return ("holds only when", "holds only when the accumulation order changes between runs: up to "
                f"{model_max_ulp} ULP under the seeded GPU-scheduler model (atomics, {wide}); the real runs counted "
                "here, of the fixed-order kernels, did not drift (real 2-core atomic races depend on timing: reported "
                "beside this, not counted)")
    return "does not hold", "does not hold here: identical bits in every real run"


def v_batch(splitk, invariant):
    if splitk > 1 and invariant == 1:
        return ("holds only when", "holds only when the reduction is split by batch shape (split-K): the "
                "batch-invariant kernel kept row 0's bits")
    if splitk > 1 or invariant > 1:
        return "holds", f"holds: row 0 took {max(splitk, invariant)} distinct values across batch sizes"
    return "does not hold", "does not hold: row 0 kept its bits at every batch size"


def v_split_kv(splitkv, invariant):
    if splitkv > 1 and invariant == 1:
        return ("holds only when", "holds only when the KV cache is split by the batch (split-KV): the "
                "batch-invariant variants kept sequence 0's bits")
    if splitkv > 1 or invariant > 1:
        return "holds", f"holds: sequence 0 took {max(splitkv, invariant)} distinct values across batches"
    return "does not hold", "does not hold: sequence 0 kept its bits in every batch"


def v_threads(kernels, atomic):
    if kernels > 1:
        return "holds", f"holds: {kernels} distinct outputs across thread counts"
    if atomic > 1:
        return ("holds only when", "holds only when the kernels accumulate with atomics: fixed-order kernels "
                "kept the bits")
    return "does not hold", "does not hold: every kernel counted gave the same bits at every thread count tried"


def v_ranks(order, exact):
    if order > 1 and exact == 1:
        return ("holds only when", "holds only when the all-reduce adds the ranks' partial sums in an order that "
                "follows the rank count: the exact all-reduce kept every element's bits at every rank count")
    if order > 1 or exact > 1:
        return "holds", f"holds: the all-reduced vector took {max(order, exact)} distinct values across rank counts"
    return "does not hold", "does not hold: the all-reduce gave the same bits at every rank count"


def v_tp(order, invariant):
    if order > 1 and invariant == 1:
        return ("holds only when", "holds only when each GPU's share of a layer's sum follows the TP size: the "
                "invariant split (fixed K chunks, combined exactly) kept every output's bits at every TP size")
    if order > 1 or invariant > 1:
        return "holds", f"holds: predict's output took {max(order, invariant)} distinct values across TP sizes"
    return "does not hold", "does not hold: predict gave the same bits at every TP size"


def v_changes(distinct, max_ulp):
    if distinct > 1:
        return "holds", f"holds: {distinct} distinct outputs, up to {max_ulp} ULP apart"
    return "does not hold", "does not hold: identical bits"


def v_method_param(predict_takes_training, distinct):
    if distinct > 1:
        return "does not hold", f"does not hold: {distinct} distinct outputs with training=False"
    if predict_takes_training >= 1:
        return "holds", "holds: training=False is a parameter of model.predict and of the model call, and gave identical bits"
    return ("holds only when", "holds only when the method is the model call: model(x, training=False) gave "
            "identical bits; model.predict has no training parameter (TypeError) and always runs in inference mode")


WIDE_RULES = {"inference", "lesser", "drift"}  # their text names the wide model
RULES = {
    "dropout_call": (v_dropout_call, ["as_written", "training_true"]),
    "predict": (v_predict, ["predict"]),
    "constant_within": (v_constant_within, ["as_written", "training_true"]),
    "same_across": (v_same_across, ["as_written", "training_true"]),
    "outside_graph": (v_outside_graph, ["input", "weights"]),
    "disables": (v_disables, ["training_false", "training_true"]),
    "inference": (v_inference, ["deterministic", "atomic"]),
    "remnant": (v_remnant, ["distinct"]),
    "init": (v_init, ["unseeded", "seeded"]),
    "restored": (v_restored, ["restored", "rebuilt"]),
    "lesser": (v_lesser, ["backend_flips", "dropout_flips", "weights_flips", "backend_rel_ppb", "dropout_rel_ppb",
                          "weights_rel_ppb"]),
    "drift": (v_drift, ["max_ulp", "model_max_ulp", "argmax_flips"]),
    "batch": (v_batch, ["splitk", "invariant"]),
    "split_kv": (v_split_kv, ["splitkv", "invariant"]),
    "threads": (v_threads, ["kernels", "atomic"]),
    "ranks": (v_ranks, ["order", "exact"]),
    "tp": (v_tp, ["order", "invariant"]),
    "changes": (v_changes, ["distinct", "max_ulp"]),
    "method_param": (v_method_param, ["predict_takes_training", "distinct"]),
}


def verdict(rule, counts, wide=None):
    fn, names = RULES[rule]
    args = [int(counts[n]) for n in names]
    if wide and rule in WIDE_RULES:
        return fn(*args, wide=wide)
    return fn(*args)


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


def small_model(tf):
    return tf.keras.models.Sequential([
        tf.keras.layers.Dense(20, activation='relu'),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(10)
    ])


def worker(params):
    """One fresh process: params['kind'] is 'small' (the article's model), 'save' / 'load' (the
    article's model saved to and restored from a weights file) or 'wide'."""
    if params.get("threads"):
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(int(params["threads"]))
    import numpy as np
    import tensorflow as tf
    if os.environ.get("TF_USE_LEGACY_KERAS") == "1":
        import tf_keras
        out = {"keras_version": "tf_keras " + tf_keras.__version__}
    else:
        import keras
        out = {"keras_version": "keras " + keras.__version__}
    fixed = np.random.default_rng(2024).random((1, 10)).astype(np.float32)
    if params["kind"] == "small":
        mode = params["seeds"]
        if mode in ("article", "article+python"):  # Example 2, as written
            tf.random.set_seed(42)
            np.random.seed(42)
        if mode == "article+python":  # ... plus Python's own `random`
            import random
            random.seed(42)
        if mode in ("keras", "init7"):
            import keras
            keras.utils.set_random_seed(42 if mode == "keras" else 7)
        input_data = np.random.rand(1, 10).astype(np.float32)
        out["input"] = digest(input_data)
        model = small_model(tf)
        calls = int(params["calls"])
        out["as_written"] = [digest(model(input_data).numpy()) for _ in range(calls)]
        out["training_true"] = [digest(model(input_data, training=True).numpy()) for _ in range(calls)]
        out["predict"] = [digest(model.predict(input_data, verbose=0)) for _ in range(calls)]
        out["training_false"] = [digest(model(input_data, training=False).numpy()) for _ in range(4 * calls)]
        try:  # the Conclusion: training=False "in the method parameters" of predict
            model.predict(input_data, training=False, verbose=0)
            out["predict_training_kwarg"] = "accepted"
        except TypeError as e:
            out["predict_training_kwarg"] = "TypeError: " + str(e)
        out["fixed_input"] = digest(model(fixed, training=False).numpy())
        out["weights"] = hashlib.sha256(b"".join(bits(w).tobytes() for w in model.get_weights())).hexdigest()[:16]
    elif params["kind"] in ("save", "load"):
        model = small_model(tf)  # no seed
        model(fixed, training=False)  # builds the weights
        if params["kind"] == "save":
            model.save_weights(params["path"])
        else:
            model.load_weights(params["path"])
        out["fixed_input"] = digest(model(fixed, training=False).numpy())
    else:
        import keras
        if params.get("op_determinism"):
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(3)
        layers = params["layers"]

        def build():
            stack = [tf.keras.Input((layers[0],))]
            for i, n in enumerate(layers[1:]):
                last = i + 2 == len(layers)
                stack.append(tf.keras.layers.Dense(n, activation=None if last else 'relu'))
                if not last:
                    stack.append(tf.keras.layers.Dropout(0.5))
            return tf.keras.models.Sequential(stack)
        model = build()
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
        if params.get("extras"):
            # not in the article: the same 32 rows through model.predict in batches of 1 and of 32
            out["predict_b1_bits"] = [int(v) for v in bits(model.predict(x[:32], batch_size=1, verbose=0)).ravel()]
            out["predict_b32_bits"] = [int(v) for v in bits(model.predict(x[:32], batch_size=32, verbose=0)).ravel()]
            # Explanation 3's "less significant contributor": dropout on, and other weights
            out["dropout_bits"] = [int(v) for v in bits(model(x[:64], training=True).numpy()).ravel()]
            keras.utils.set_random_seed(4)
            out["weights4_bits"] = [int(v) for v in bits(build()(x[:64], training=False).numpy()).ravel()]
    print("KERAS_CHECK_RESULT " + json.dumps(out))


def child(params, timeout, env_extra=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.update(env_extra or {})
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(params)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("KERAS_CHECK_RESULT "):
            return json.loads(line[len("KERAS_CHECK_RESULT "):])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"child {params} {env_extra or ''} failed (exit {p.returncode}): {tail}")


def distinct(xs):
    return len(set(xs))


def as_f32(b):
    import numpy as np
    return np.array(b, dtype=np.uint32).view(np.float32)


def effect(ref, other, cols=10):
    """(argmax flips, max |difference| relative to max |ref| in parts per billion) of two outputs."""
    import numpy as np
    a, b = as_f32(ref).reshape(-1, cols), as_f32(other).reshape(-1, cols)
    flips = int((a.argmax(1) != b.argmax(1)).sum())
    scale = float(np.max(np.abs(a.astype(np.float64)))) or 1.0
    return flips, int(np.ceil(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale * 1e9))


def measure(a, log, legacy):
    import tempfile
    P, C, timeout = a.processes, a.calls, a.child_timeout
    tmp = tempfile.mkdtemp(prefix="keras_check_")
    wpath = os.path.join(tmp, "article.weights.h5")
    # Fresh processes, a.jobs at a time (each one is mostly TensorFlow's import).
    plan = [({"kind": "small", "seeds": seeds, "calls": C}, env, (seeds, i))
            for seeds, n, env in (("none", P, None), ("article", P, None), ("article+python", 2, None),
                                  ("keras", P, None), ("init7", P, None))
            for i in range(n)]
    if legacy:  # the article's seeds under tf_keras (Keras 2)
        plan += [({"kind": "small", "seeds": "article", "calls": C}, {"TF_USE_LEGACY_KERAS": "1"}, ("legacy", i))
                 for i in range(P)]
    log(f"  {len(plan)} fresh processes with the article's model, {a.jobs} at a time")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            results = list(pool.map(lambda p: child(p[0], timeout, p[1]), plan))
        small = {}
        for (_, _, (seeds, _)), r in zip(plan, results):
            small.setdefault(seeds, []).append(r)
        log(f"  the article's model saved unseeded, then restored in {P} fresh processes")
        saved = child({"kind": "save", "path": wpath}, timeout)
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            loaded = list(pool.map(lambda _: child({"kind": "load", "path": wpath}, timeout), range(P)))
    finally:
        for f in os.listdir(tmp):
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)
    wide = {}
    on, off = {}, {"TF_ENABLE_ONEDNN_OPTS": "0"}
    for tag, threads, env, extra in (("t1", 1, on, {}), ("t2", 2, on, {"extras": True}), ("t2b", 2, on, {}),
                                     ("off_t1", 1, off, {}), ("off_t2", 2, off, {}),
                                     ("det_call", 2, on, {"op_determinism": True}),
                                     ("det_env", 2, {"TF_DETERMINISTIC_OPS": "1"}, {})):
        log(f"  process: wide model {a.layers}, intra-op threads {threads} {env or ''} {extra or ''}")
        wide[tag] = child(dict({"kind": "wide", "layers": a.layers, "threads": threads, "calls": C}, **extra), timeout,
                          env)

    def within(ps, key):  # largest distinct count within any one process
        return max(distinct(p[key]) for p in ps)

    def across(ps, key):  # distinct first outputs across processes
        return distinct([p[key][0] if isinstance(p[key], list) else p[key] for p in ps])

    w = {k: as_f32(v["call0_bits"]) for k, v in wide.items()}
    wname = "the " + "-".join(str(v) for v in a.layers) + " model"
    sc = []

    def add(key, source, rule, ran, counts, extra=None):
        opening, text = verdict(rule, counts, wname)
        numbers = dict(counts)
        numbers.update(extra or {})
        sc.append({"key": key, "source": source, "rule": rule, "ran": ran, "numbers": numbers,
                   "verdict": opening, "verdict_text": text})

    none, art, ker = small["none"], small["article"], small["keras"]
    kwarg = none[0]["predict_training_kwarg"]
    add("example1", "Example 1", "dropout_call",
        f"Example 1 as written (model(input_data), no training argument), {C} calls; then {C} calls with training=True",
        {"as_written": within(none, "as_written"), "training_true": within(none, "training_true")})
    add("predict_dropout", "Explanation 1", "predict",
        f"model.predict(input_data) {C} times, no seed; model.predict(input_data, training=False): {kwarg}",
        {"predict": within(none, "predict")},
        {"predict_takes_training": int(kwarg == "accepted")})
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
        if key == "article":
            add("example2_outside_graph", "Example 2", "outside_graph",
                f"{what}; Example 2 in {len(ps)} fresh processes: the input np.random.rand(1, 10) and the weights",
                {"input": across(ps, "input"), "weights": across(ps, "weights")})
    add("example3_disables", "Example 3", "disables",
        f"model(input_data, training=False) {4 * C} times and model(input_data, training=True) {C} times, no seed",
        {"training_false": within(none, "training_false"), "training_true": within(none, "training_true")})
    add("example3", "Example 3", "inference",
        f"Example 3 as written: model(input_data, training=False), {4 * C} calls, no seed (TensorFlow's own CPU "
        "kernels; it has no atomic kernels to count)",
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
    add("restored", "Explanation 2", "restored",
        f"the article's model built unseeded, model.save_weights, then model.load_weights in {P} fresh processes "
        "(one fixed input, training=False); beside it the unseeded rebuilds of the init row",
        {"restored": distinct([r["fixed_input"] for r in loaded]), "rebuilt": across(none, "fixed_input")},
        {"restored_equals_saved": int(all(r["fixed_input"] == saved["fixed_input"] for r in loaded))})
    # Explanation 3's "less significant contributor": the largest backend effect measured (threads,
    # oneDNN on/off, predict's batch size) against dropout on and against other weights.
    t2 = wide["t2"]
    cand = [effect(t2["call0_bits"], wide[k]["call0_bits"]) for k in ("t1", "t2b", "off_t1", "off_t2")]
    cand.append(effect(t2["predict_b32_bits"], t2["predict_b1_bits"]))
    bf, br = max(c[0] for c in cand), max(c[1] for c in cand)
    df, dr = effect(t2["call0_bits"], t2["dropout_bits"])
    wf, wr = effect(t2["call0_bits"], t2["weights4_bits"])
    add("lesser", "Explanation 3", "lesser",
        f"{wname}, batch 64, training=False: the backend (intra-op threads 1 vs 2, oneDNN on vs off, predict batch "
        "1 vs 32; the largest effect) against training=True (dropout) and against set_random_seed(4)'s weights",
        {"backend_flips": bf, "dropout_flips": df, "weights_flips": wf, "backend_rel_ppb": br,
         "dropout_rel_ppb": dr, "weights_rel_ppb": wr})
    add("drift", "Explanation 3", "drift",
        f"{wname}, batch 64, training=False, {C} calls in each of 7 processes (oneDNN on: threads 1, 2, 2; oneDNN "
        "off: 1, 2; op determinism: 2 ways), and across the two default 2-thread processes",
        {"max_ulp": max(max(v["max_ulp"] for v in wide.values()), max_ulp(w["t2"], w["t2b"])), "model_max_ulp": 0,
         "argmax_flips": sum(v["argmax_flips"] for v in wide.values())},
        {"distinct_within_process": max(v["distinct"] for v in wide.values()),
         "max_ulp_across_processes": max_ulp(w["t2"], w["t2b"])})
    add("batch", "not in the article", "batch",
        f"{wname}, row 0 inside batches of 1, 7, 64, 513, training=False",
        {"splitk": max(v["batch_distinct"] for v in wide.values()), "invariant": 0},
        {"batch_max_ulp": max(v["batch_max_ulp"] for v in wide.values())})
    on_d = distinct([digest(w["t1"]), digest(w["t2"])])
    off_d = distinct([digest(w["off_t1"]), digest(w["off_t2"])])
    add("threads", "not in the article", "threads",
        f"{wname}, batch 64, intra-op threads 1 vs 2 (fresh processes), with oneDNN on (the default) and off "
        "(TF_ENABLE_ONEDNN_OPTS=0)",
        {"kernels": max(on_d, off_d), "atomic": 0},
        {"threads_max_ulp_onednn_on": max_ulp(w["t1"], w["t2"]),
         "threads_max_ulp_onednn_off": max_ulp(w["off_t1"], w["off_t2"]),
         "distinct_onednn_on": on_d, "distinct_onednn_off": off_d,
         "intra_op_threads_seen": [wide["t1"]["intra_op_threads"], wide["t2"]["intra_op_threads"]]})
    add("conclusion_training_false", "Conclusion", "method_param",
        f"model.predict(input_data, training=False): {kwarg}; model(input_data, training=False) {4 * C} times",
        {"predict_takes_training": int(kwarg == "accepted"), "distinct": within(none, "training_false")})
    # Not in the article, and measured only here (driftlab has no oneDNN, no op-determinism switch).
    pb1, pb32 = as_f32(t2["predict_b1_bits"]), as_f32(t2["predict_b32_bits"])
    add("predict_batch", "not in the article", "changes",
        f"{wname}: the same 32 rows through model.predict(x, batch_size=1) and model.predict(x, batch_size=32)",
        {"distinct": distinct([digest(pb1), digest(pb32)]), "max_ulp": max_ulp(pb1, pb32)},
        {"argmax_flips": effect(t2["predict_b32_bits"], t2["predict_b1_bits"])[0]})
    add("onednn", "not in the article", "changes",
        f"{wname}, batch 64, training=False: oneDNN on (default) vs TF_ENABLE_ONEDNN_OPTS=0, at 1 and at 2 threads",
        {"distinct": max(distinct([digest(w["t1"]), digest(w["off_t1"])]), distinct([digest(w["t2"]), digest(w["off_t2"])])),
         "max_ulp": max(max_ulp(w["t1"], w["off_t1"]), max_ulp(w["t2"], w["off_t2"]))})
    dc, de = wide["det_call"], wide["det_env"]
    add("op_determinism", "not in the article", "changes",
        f"{wname}: tf.config.experimental.enable_op_determinism() in one process, TF_DETERMINISTIC_OPS=1 in "
        "another (2 threads): row 0 inside batches of 1, 7, 64, 513",
        {"distinct": max(dc["batch_distinct"], de["batch_distinct"]), "max_ulp": max(dc["batch_max_ulp"], de["batch_max_ulp"])},
        {"max_ulp_vs_default_call": max_ulp(w["t2"], w["det_call"]), "max_ulp_vs_default_env": max_ulp(w["t2"], w["det_env"]),
         "distinct_within_process": max(dc["distinct"], de["distinct"])})
    if legacy:
        lg = small["legacy"]
        add("legacy_seeds", "not in the article", "same_across",
            f"TF_USE_LEGACY_KERAS=1 ({lg[0]['keras_version']}): tf.random.set_seed(42); np.random.seed(42); "
            f"Example 2's first call in {len(lg)} fresh processes, as written and with training=True",
            {"as_written": across(lg, "as_written"), "training_true": across(lg, "training_true")},
            {"distinct_weights": across(lg, "weights")})
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
        import tf_keras
        legacy = tf_keras.__version__
    except ImportError:
        legacy = None
        log("keras_check: tf_keras is not installed: the legacy-Keras row is left out (scripts/setup.sh --keras)")
    try:
        scenarios = measure(a, log, legacy)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"keras_check: {e}", file=sys.stderr)
        return 1
    doc = {"tool": "keras_check", "tensorflow": tf.__version__, "keras": keras.__version__,
           "tf_keras": legacy or "not installed", "onednn": "on (default) unless a row says TF_ENABLE_ONEDNN_OPTS=0",
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
