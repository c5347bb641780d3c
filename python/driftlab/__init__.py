"""driftlab from Python: the same C++ kernels and drift metrics as the `driftlab` command line.

    import numpy as np, driftlab
    x = np.random.rand(1 << 20).astype(np.float32)
    driftlab.sum(x, variant="atomic", runs=20)["distinct_outputs"]   # how many different bit patterns
    driftlab.exact_sum(x)                                             # the correctly rounded sum
    driftlab.compare(a, b)                                            # where two outputs first differ
    driftlab.dense(x2d, W, b, variant="invariant")                    # a batch-invariant dense layer
    driftlab.keras_trace(model, x, compare="batch:1,64")              # a Keras model's first divergent layer

Arrays are read in place, never copied silently: they must be C-contiguous NumPy arrays (or CPU
tensors of another library, read through DLPack without a copy) of the right dtype
(np.ascontiguousarray makes one).  Errors are ValueError (a bad value, with the
command line's message) or TypeError (a bad dtype).  The CPU backend only.
"""

import numpy as np

from . import _driftlab

__all__ = ["sum", "exact_sum", "compare", "dense", "keras_trace", "SUM_VARIANTS", "DENSE_VARIANTS"]

SUM_VARIANTS = ("serial", "atomic_element", "atomic", "tree", "exact")  # CPU variants (cub, thrust: CUDA only)
DENSE_VARIANTS = ("atomic", "tree", "invariant")                       # CPU variants (cublas: CUDA only)

try:  # bfloat16 arrays are ml_dtypes'; without it, float16/32/64 still work
    import ml_dtypes as _ml_dtypes
    _BF16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    _BF16 = None

_ACCEPTED = "accepted: float16, float32, float64 and ml_dtypes.bfloat16"


def _array(x, name):
    """x as the C++ side reads it: a C-contiguous ndarray (never copied here)."""
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        try:  # a CPU tensor of another library (PyTorch, JAX, ...): a view of its memory, no copy
            x = np.from_dlpack(x)
        except (BufferError, TypeError, RuntimeError) as e:
            raise TypeError(f"{name}: cannot read it through DLPack ({e}); give a NumPy array")
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
            raise TypeError(f"{name}: expected a NumPy array, got {type(x).__name__} "
                            f"(np.asarray({name}, dtype=np.float32) makes one)")
        raise TypeError(f"{name}: expected a NumPy array, got {type(x).__name__}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (np.ascontiguousarray({name}) makes a copy; "
                         "driftlab does not copy silently)")
    return x


def _float_view(x, name):
    """(array the C++ side takes, kind): 16-bit types as their uint16 bits, a view (no copy)."""
    if x.dtype in (np.float32, np.float64):
        if x.dtype.byteorder == ">":
            raise TypeError(f"{name}: unsupported dtype '{x.dtype.str}' ({_ACCEPTED}, little-endian)")
        return x, ""
    if x.dtype == np.float16:
        return x.view(np.uint16), "f16"
    if _BF16 is not None and x.dtype == _BF16:
        return x.view(np.uint16), "bf16"
    raise TypeError(f"{name}: unsupported dtype '{x.dtype.str}' ({_ACCEPTED})")


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _int(v, name):
    """An integer argument as the command line's text; a bool, float or string is a TypeError
    (str(v) would let "2" or 2.0 through)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__} {v!r}")
    return str(int(v))


def _str(v, name):
    """A name argument (variant, act); anything but a str is a TypeError (str(v) would turn None
    into the variant 'None')."""
    if not isinstance(v, str):
        raise TypeError(f"{name}: expected a string, got {type(v).__name__} {v!r}")
    return v


def sum(x, variant="tree", runs=1, threads=0):
    """Sums the 1-D array x `runs` times with one variant; the drift metrics of `driftlab sum`.

    variant: serial, atomic_element, atomic, tree or exact (their determinism levels:
    `driftlab sum --help`).  threads: worker threads (0: every hardware thread).
    float16 and bfloat16 inputs are widened and added in float32 (the result is float32).
    Returns a dict: result and result_bits (run 0), exact and exact_bits, distinct_outputs,
    ratio_non_equal, max_ulp, error_ulp, vs_max, max_abs_diff (as `driftlab sum --json`), results
    (every run's value, a NumPy array), variant, determinism, dtype, n, runs, threads.
    """
    x = _array(x, "x")
    if x.ndim != 1:
        raise ValueError(f"x: expected a 1-D array, got shape {_shape_text(x.shape)}")
    view, kind = _float_view(x, "x")
    return _driftlab._sum(view, kind, _str(variant, "variant"), _int(runs, "runs"), _int(threads, "threads"))


def exact_sum(x):
    """The exact sum of x, rounded once to nearest-even: float32 for float32, float16 and
    bfloat16 inputs (16-bit values are summed exactly and rounded to float32), float64 for float64."""
    x = _array(x, "x")
    view, kind = _float_view(x.reshape(-1), "x")
    s = _driftlab._exact_sum(view, kind)
    return np.float64(s) if x.dtype == np.float64 else np.float32(s)


def compare(a, b):
    """`driftlab trace`'s comparison of two float32 arrays of the same shape, element by element by bits.

    Returns a dict: elements, differ (elements whose bits differ), frac_differ, max_ulp (float32
    ULPs; None when exactly one of a pair is NaN), sign_changes (elements whose sign -- negative,
    zero, positive -- differs: their ULPs count from or through zero, so one ReLU that switched or
    one value near zero that changed sign makes max_ulp huge), max_rel_diff (max |a - b| / max |a|),
    and
    first_difference: None, or the first differing element's index (flat), position (a tuple),
    a and b (values, round-trip text, IEEE bits) and their ULP distance.
    float16 and bfloat16 arrays are widened to float32 first (a copy; widening is exact).
    """
    a = _array(a, "a")
    b = _array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"compare: a and b differ in shape: {_shape_text(a.shape)} and {_shape_text(b.shape)}")
    if a.dtype != b.dtype:
        raise TypeError(f"compare: a and b differ in dtype: {a.dtype} and {b.dtype}")
    if a.dtype != np.float32:
        _float_view(a, "a")  # refuses what is not a float type
        if a.dtype == np.float64:
            raise TypeError("compare: float64 arrays are not compared (driftlab trace compares float32; "
                            "a.astype(np.float32) would round)")
        a, b = a.astype(np.float32), b.astype(np.float32)
    r = _driftlab._compare(a.reshape(-1), b.reshape(-1))
    f = r["first_difference"]
    if f is not None and a.ndim > 1:
        f["position"] = tuple(int(i) for i in np.unravel_index(f["index"], a.shape))
    elif f is not None:
        f["position"] = (f["index"],)
    return r


def dense(x, W, b, variant="invariant", act="linear", threads=0):
    """y = act(x . W + b) with one of driftlab's dense variants on the CPU backend (the call
    `driftlab predict` makes per layer).  x [B x K] (or [K]: one row), W [K x N], b [N], float32.

    variant: atomic (split-K, atomic adds: no determinism), tree (split-K, fixed tree: run to
    run, not batch-invariant), invariant (one fma chain per output: batch-invariant); cublas is
    CUDA only.  act: linear or relu.  Returns y [B x N] float32 (a new array); for a 1-D x [K],
    y [N], as NumPy's x @ W + b.
    """
    x = _array(x, "x")
    W = _array(W, "W")
    b = _array(b, "b")
    for arr, name in ((x, "x"), (W, "W"), (b, "b")):
        if arr.dtype != np.float32:
            raise TypeError(f"{name}: unsupported dtype '{arr.dtype.str}' (accepted: float32)")
    y = _driftlab._dense(x, W, b, _str(variant, "variant"), _str(act, "act"), _int(threads, "threads"))
    return y.reshape(-1) if x.ndim == 1 else y  # one row in, one row out (NumPy's shape)


def __getattr__(name):
    """driftlab.keras_trace, imported on first use (it is also `python -m driftlab.keras_trace`):
    a callable module, driftlab.keras_trace(model, x, compare="batch:1,64")."""
    if name == "keras_trace":
        import importlib
        return importlib.import_module(".keras_trace", __name__)
    raise AttributeError(f"module 'driftlab' has no attribute '{name}'")
