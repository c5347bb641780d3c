"""The Python package against the command line, on the same inputs (ctest: Python.ApiEndToEnd).

usage: test_api.py DRIFTLAB_BINARY WORKDIR
Exit 0: every check passed; 1: a check failed; 77: skipped (the package is not installed in this
Python: scripts/setup.sh --python installs it).
  - driftlab.sum / exact_sum bitwise equal to `driftlab sum --json` (f32, f64, f16, bf16; serial,
    tree, exact; sizes around the tile), and tree's bits the same at 1 and 2 threads;
  - driftlab.dense bitwise equal to `driftlab predict --save-output` (a one-layer and a two-layer
    model chained, batches 1, 3 and 64, atomic at one thread, tree, invariant);
  - driftlab.compare equal to `driftlab trace --json`'s rows and first divergence (batch:1,64);
  - bad inputs: ValueError / TypeError with the command line's message;
  - the GIL is released during a long call; a call's overhead on a 1000-element array (< 20 us).
"""
import json
import os
import subprocess
import sys
import threading
import time

try:
    import numpy as np
    import ml_dtypes
    import driftlab
except ImportError as e:
    print(f"SKIP: the driftlab Python package is not installed in {sys.executable} ({e}); "
          "scripts/setup.sh --python installs it")
    sys.exit(77)

BIN, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def cli(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        raise RuntimeError(f"driftlab {' '.join(args)} failed: {p.stderr.strip()}")
    return p


def cli_error(*args, code=2):
    """The command line's one-line error, without the 'driftlab: ' prefix (exit 2: a usage error,
    1: a bad file)."""
    p = cli(*args, ok=False)
    check(p.returncode == code, f"driftlab {' '.join(args)}: exit {p.returncode}, expected {code}")
    line = p.stderr.strip()
    return line[len("driftlab: "):] if line.startswith("driftlab: ") else line


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


print("driftlab package:", driftlab.__file__)
rng = np.random.default_rng(20261204)

# --- sum and exact_sum against `driftlab sum --json` ------------------------------------------
for dtype in ("f32", "f64", "f16", "bf16"):
    for n in (0, 1, 33, 65537, 200003):
        x64 = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)
        x = {"f32": x64.astype(np.float32), "f64": x64, "f16": x64.astype(np.float16),
             "bf16": x64.astype(ml_dtypes.bfloat16)}[dtype]
        path = os.path.join(WORK, f"sum_{dtype}_{n}.npy")
        np.save(path, x)
        for variant in ("serial", "tree", "exact"):
            out = os.path.join(WORK, "sum.json")
            extra = ["--dtype", "bf16"] if dtype == "bf16" else []
            cli("sum", "--input", path, "--variant", variant, "--runs", "3", "--threads", "2", "--backend", "cpu",
                "--json", out, *extra)
            row = json.load(open(out))["rows"][0]
            py = driftlab.sum(x, variant=variant, runs=3, threads=2)
            what = f"sum {dtype} n={n} {variant}"
            check(py["result_bits"] == row["result_bits"], f"{what}: result_bits {py['result_bits']} vs {row['result_bits']}")
            check(py["distinct_outputs"] == row["distinct_outputs"], f"{what}: distinct_outputs")
            check(py["max_ulp"] == row["max_ulp"] and py["error_ulp"] == row["error_ulp"], f"{what}: max_ulp/error_ulp")
            check(py["result_dtype"] == row["result_dtype"] and py["dtype"] == row["dtype"], f"{what}: dtypes")
            exact = (np.float64 if row["result_dtype"] == "f64" else np.float32)(row["exact"])  # round-trip text
            check(py["exact"] == exact, f"{what}: exact {py['exact']} vs {row['exact']}")
            check(driftlab.exact_sum(x) == exact and driftlab.exact_sum(x).dtype == exact.dtype, f"{what}: exact_sum")
            check(np.all(bits(py["results"]) == bits(py["results"][:1])), f"{what}: deterministic runs differ")
        one = driftlab.sum(x, variant="tree", threads=1)["result_bits"]
        check(one == driftlab.sum(x, variant="tree", threads=2)["result_bits"], f"sum {dtype} n={n}: tree at 1 vs 2 threads")
print("sum: checked against the command line")

# --- dense against `driftlab predict --save-output` -------------------------------------------
K, H, N = 1000, 24, 8
W0 = rng.standard_normal((K, H)).astype(np.float32)
b0 = rng.standard_normal(H).astype(np.float32)
W1 = rng.standard_normal((H, N)).astype(np.float32)
b1 = rng.standard_normal(N).astype(np.float32)
np.savez(os.path.join(WORK, "one.npz"), W0=W0, b0=b0)
np.savez(os.path.join(WORK, "two.npz"), W0=W0, b0=b0, W1=W1, b1=b1)
X = rng.random((64, K)).astype(np.float32)
for B in (1, 3, 64):
    xpath = os.path.join(WORK, f"x{B}.npy")
    np.save(xpath, X[:B])
    for variant, threads in (("atomic", "1"), ("tree", "2"), ("invariant", "2")):
        y = os.path.join(WORK, "y.npy")
        for model, acts in (("one", "relu"), ("two", "relu,linear")):
            cli("predict", "--weights", os.path.join(WORK, model + ".npz"), "--act", acts, "--dropout", "0",
                "--input", xpath, "--variant", variant, "--runs", "1", "--threads", threads, "--backend", "cpu",
                "--save-output", y)
            want = np.load(y)
            got = driftlab.dense(X[:B], W0, b0, variant=variant, act="relu", threads=int(threads))
            if model == "two":
                got = driftlab.dense(got, W1, b1, variant=variant, act="linear", threads=int(threads))
            check(got.shape == want.shape and np.array_equal(bits(got), bits(want)),
                  f"dense {model} B={B} {variant}: differs from predict's output")
print("dense: checked against driftlab predict")

# --- compare against `driftlab trace --json` --------------------------------------------------
np.save(os.path.join(WORK, "x64.npy"), X)
# A zero bias: the layer's output (bias_act) has the matmul's bits, so trace's first divergence
# (at the matmul stage) is also the first difference of the outputs driftlab.compare sees.
np.savez(os.path.join(WORK, "zero.npz"), W0=W0, b0=np.zeros(H, np.float32))
tj = os.path.join(WORK, "trace.json")
cli("trace", "--weights", os.path.join(WORK, "zero.npz"), "--act", "linear", "--dropout", "0", "--input",
    os.path.join(WORK, "x64.npy"), "--variant", "tree", "--compare", "batch:1,64", "--backend", "cpu", "--json", tj)
trace = json.load(open(tj))
last = trace["rows"][-1]  # layer 0, bias_act: the layer's output
check(last["stage"] == "bias_act", f"trace's last row is {last}")
alone = driftlab.dense(X[:1], W0, np.zeros(H, np.float32), variant="tree", act="linear")
among = driftlab.dense(X, W0, np.zeros(H, np.float32), variant="tree", act="linear")[:1]
c = driftlab.compare(alone, among)
check(c["max_ulp"] == last["max_ulp"] and c["sign_changes"] == last["sign_changes"] and c["frac_differ"] == last["frac_differ"]
      and c["max_rel_diff"] == last["max_rel_diff"] and c["elements"] == last["elements"],
      f"compare {c} vs trace's row {last}")
check(c["differ"] > 0, "compare: tree at batch 1 and 64 should differ on this model (K = 1000)")
first, f = trace["first_divergence"], c["first_difference"]
check(first is not None and f is not None and f["index"] == first["index"] and f["a_bits"] == first["a_bits"]
      and f["b_bits"] == first["b_bits"] and f["a_text"] == first["a"], f"compare's first difference {f} vs trace's {first}")
check(driftlab.compare(alone, alone)["first_difference"] is None, "compare: equal arrays have no first difference")
neg = np.array([0.0, 1.0, np.nan], np.float32)
c2 = driftlab.compare(neg, np.array([-0.0, 1.0, 2.0], np.float32))
check(c2["differ"] == 2 and c2["max_ulp"] is None and c2["first_difference"]["index"] == 0 and c2["sign_changes"] == 0,
      f"compare: -0 vs +0 differs in bits (no sign change), one NaN has no ULP distance: {c2}")
c3 = driftlab.compare(np.array([1e-8, -2.0, 3.0, 0.0], np.float32), np.array([-1e-8, -2.0, 3.5, 1e-4], np.float32))
check(c3["sign_changes"] == 2 and c3["max_ulp"] == 2 * int(np.float32(1e-8).view(np.uint32)),
      f"compare: 1e-8 against -1e-8 and 0 against 1e-4 are sign changes, ULPs counted through zero: {c3}")
print("compare: checked against driftlab trace")

# --- the caller's floating-point environment (kernels/cpu/fp_env.h) ---------------------------
# A call computes in IEEE's default whatever the caller set (upward rounding here would change the
# serial and tree bits), and gives the caller its own environment back.
import ctypes
import ctypes.util

libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
FE_TONEAREST, FE_UPWARD = 0x000, 0x800  # x86-64 glibc
xs = rng.standard_normal(100003).astype(np.float32)
env_want = [driftlab.sum(xs, variant=v, threads=2)["result_bits"] for v in ("serial", "tree", "exact")]
env_want.append(bits(driftlab.dense(X[:3], W0, b0, variant="invariant", act="relu", threads=2)).tobytes())
check(libm.fesetround(FE_UPWARD) == 0 and libm.fegetround() == FE_UPWARD, "fesetround(FE_UPWARD) did not take")
try:
    env_got = [driftlab.sum(xs, variant=v, threads=2)["result_bits"] for v in ("serial", "tree", "exact")]
    env_got.append(bits(driftlab.dense(X[:3], W0, b0, variant="invariant", act="relu", threads=2)).tobytes())
    after = libm.fegetround()
finally:
    libm.fesetround(FE_TONEAREST)
check(env_got == env_want, "a call under the caller's upward rounding gave other bits than under the default")
check(after == FE_UPWARD, f"the caller's rounding mode is not back after a call: {after:#x}")
print("floating-point environment: the default inside a call, the caller's after")

# --- bad inputs: the command line's messages --------------------------------------------------
x = rng.random(1000).astype(np.float32)
np.save(os.path.join(WORK, "x.npy"), x)
xp = os.path.join(WORK, "x.npy")


def raises(exc, fn, message=None, contains=None):
    try:
        fn()
    except exc as e:
        if message is not None:
            check(str(e) == message, f"message {str(e)!r}, expected the command line's {message!r}")
        if contains is not None:
            check(contains in str(e), f"message {str(e)!r} lacks {contains!r}")
        return
    except Exception as e:  # noqa: BLE001 -- the wrong exception is the failure reported
        check(False, f"expected {exc.__name__}, got {type(e).__name__}: {e}")
        return
    check(False, f"expected {exc.__name__}, nothing raised")


raises(ValueError, lambda: driftlab.sum(x, variant="foo"), cli_error("sum", "--input", xp, "--variant", "foo"))
raises(ValueError, lambda: driftlab.sum(x, variant="cub"),
       cli_error("sum", "--input", xp, "--variant", "cub", "--backend", "cpu"))
raises(ValueError, lambda: driftlab.sum(x, runs=0), cli_error("sum", "--input", xp, "--runs", "0"))
raises(ValueError, lambda: driftlab.sum(x, threads=-1), cli_error("sum", "--input", xp, "--threads", "-1"))
raises(ValueError, lambda: driftlab.sum(x, variant="all"))
for bad in ("2", 2.0, True, None):  # integers only: str() would pass "2" and 2.0 would read as text
    raises(TypeError, lambda: driftlab.sum(x, threads=bad), contains="threads: expected an integer")
    raises(TypeError, lambda: driftlab.sum(x, runs=bad), contains="runs: expected an integer")
    raises(TypeError, lambda: driftlab.dense(X[:2], W0, b0, threads=bad), contains="threads: expected an integer")
y1 = driftlab.dense(X[0], W0, b0)  # a 1-D x is one row, and gives a 1-D y, as NumPy's x @ W + b
check(y1.shape == (W0.shape[1],), f"1-D x gave shape {y1.shape}")
check(np.array_equal(bits(y1), bits(driftlab.dense(X[:1], W0, b0)[0])), "1-D x: the first row's bits")
for bad in (None, 1, b"tree"):  # names are strings: str() turned None into the variant 'None'
    raises(TypeError, lambda: driftlab.sum(x, variant=bad), contains="variant: expected a string")
    raises(TypeError, lambda: driftlab.dense(X[:2], W0, b0, variant=bad), contains="variant: expected a string")
    raises(TypeError, lambda: driftlab.dense(X[:2], W0, b0, act=bad), contains="act: expected a string")
check(driftlab.sum(x, runs=np.int64(2), threads=np.int32(1))["runs"] == 2, "NumPy integers are integers")
m2 = os.path.join(WORK, "m2.npy")
np.save(m2, np.ones((2, 3), np.float32))
shape_msg = cli_error("sum", "--input", m2)  # "--input FILE: expected a 1-D array, got shape (2, 3)"
raises(ValueError, lambda: driftlab.sum(np.ones((2, 3), np.float32)), "x" + shape_msg[shape_msg.index(":"):])
i4 = os.path.join(WORK, "i4.npy")
np.save(i4, np.arange(5, dtype=np.int32))
dtype_msg = cli_error("sum", "--input", i4, code=1)  # "FILE: unsupported dtype '<i4' (accepted: ...)"
check("unsupported dtype '<i4'" in dtype_msg, f"the command line's dtype message changed: {dtype_msg}")
raises(TypeError, lambda: driftlab.sum(np.arange(5, dtype=np.int32)), contains="x: unsupported dtype '<i4'")
raises(TypeError, lambda: driftlab.exact_sum(np.arange(5, dtype=np.int32)), contains="unsupported dtype '<i4'")
raises(TypeError, lambda: driftlab.sum([1.0, 2.0]))
raises(ValueError, lambda: driftlab.sum(np.ones(10, np.float32)[::2]), contains="C-contiguous")
raises(ValueError, lambda: driftlab.dense(X[:2], W0, b0, variant="nope"),
       cli_error("predict", "--weights", os.path.join(WORK, "one.npz"), "--variant", "nope"))
raises(ValueError, lambda: driftlab.dense(X[:2], W0, b0, variant="cublas"),
       "variant 'cublas' is not available on the cpu backend (cublas is CUDA only)")
bad_k = os.path.join(WORK, "bad_k.npy")
np.save(bad_k, X[:2, :7])
k_msg = cli_error("predict", "--weights", os.path.join(WORK, "one.npz"), "--input", bad_k, "--backend", "cpu")
raises(ValueError, lambda: driftlab.dense(X[:2, :7].copy(), W0, b0), "x" + k_msg[k_msg.index(":", len("--input ")):])
raises(ValueError, lambda: driftlab.dense(X[:2], W0, b0[:3]), contains="b: expected shape")
raises(TypeError, lambda: driftlab.dense(X[:2].astype(np.float64), W0, b0), contains="x: unsupported dtype '<f8'")
raises(ValueError, lambda: driftlab.dense(X[:2], W0, b0, act="tanh"), contains="unknown activation 'tanh'")
raises(ValueError, lambda: driftlab.compare(x, x[:10]), contains="differ in shape")
raises(TypeError, lambda: driftlab.compare(x.astype(np.float64), x.astype(np.float64)), contains="float64")


class Tensor:  # another library's CPU tensor: only the DLPack protocol
    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


check(driftlab.sum(Tensor(x), variant="tree")["result_bits"] == driftlab.sum(x, variant="tree")["result_bits"],
      "sum through DLPack differs")
check(np.array_equal(bits(driftlab.dense(Tensor(X[:3]), Tensor(W0), Tensor(b0), variant="tree")),
                     bits(driftlab.dense(X[:3], W0, b0, variant="tree"))), "dense through DLPack differs")
print("bad inputs: checked")

# --- the GIL is released during a long call ---------------------------------------------------
big = rng.random(1 << 24).astype(np.float32)
window = {}
# Enough runs for a call of about 0.4 s on this machine (one run of 2^24 is 5 ms on an AVX-512 Xeon,
# and a fixed 4 runs left no window to count in).
t0 = time.perf_counter()
driftlab.sum(big, variant="exact", runs=1, threads=1)
gil_runs = max(4, min(1000, int(0.4 / max(time.perf_counter() - t0, 1e-4)) + 1))


def worker():
    window["start"] = time.perf_counter()
    driftlab.sum(big, variant="exact", runs=gil_runs, threads=1)
    window["end"] = time.perf_counter()


t = threading.Thread(target=worker)
stamps = []
t.start()
while t.is_alive():
    stamps.append(time.perf_counter())
t.join()
lo, hi = window["start"] + 0.01, window["end"] - 0.01
inside = sum(1 for s in stamps if lo < s < hi)
print(f"GIL: the call took {1e3 * (window['end'] - window['start']):.0f} ms; this thread ran {inside} loop "
      "iterations meanwhile")
check(hi > lo and inside > 1000, f"GIL: only {inside} iterations ran beside a {hi - lo:.3f} s call: is the GIL held?")

# --- overhead on a 1000-element array ---------------------------------------------------------
small = rng.random(1000).astype(np.float32)


def per_call_us(fn, calls=3000):
    best = float("inf")
    for _ in range(3):  # the best of three medians: the machine may be shared
        times = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            fn()
            times.append(time.perf_counter_ns() - t0)
        best = min(best, sorted(times)[len(times) // 2] / 1e3)
    return best


small16 = small.astype(np.float16)
figures = {
    "sum(x, variant='tree') f32": per_call_us(lambda: driftlab.sum(small, variant="tree")),
    "sum(x, variant='serial') f32": per_call_us(lambda: driftlab.sum(small, variant="serial")),
    "exact_sum(x) f32": per_call_us(lambda: driftlab.exact_sum(small)),
    "exact_sum(x) f16": per_call_us(lambda: driftlab.exact_sum(small16)),
    "compare(x, x) f32": per_call_us(lambda: driftlab.compare(small, small)),
    "np.sum(x) (for scale)": per_call_us(lambda: np.sum(small)),
}
for k, v in figures.items():
    print(f"overhead: {k}: {v:.2f} us per call (median of 3000, best of 3)")
for k in ("sum(x, variant='tree') f32", "exact_sum(x) f32", "compare(x, x) f32"):
    check(figures[k] < 20, f"overhead: {k} takes {figures[k]:.1f} us per call, the target is < 20 us")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all Python API checks passed")
