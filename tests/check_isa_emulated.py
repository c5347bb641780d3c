#!/usr/bin/env python3
"""ctest EndToEnd.IsaEmulatedCpus: the run-time ISA dispatch on CPUs this machine is not.

driftlab picks its CPU kernels' level (avx512, avx2, scalar) from CPUID at run time and promises
the same bits on every path.  Forcing a lower level (DRIFTLAB_ISA, the tests' family caps) checks
the bits, but not that a CPU without AVX-512 or AVX2 is detected as such and never reaches an
instruction it lacks.  QEMU's user-mode emulator (qemu-x86_64, TCG) runs the real binaries on a
named CPU model, reports that model's features through CPUID, and stops an instruction outside
them with SIGILL (AVX-512 is never emulated; AVX2 and FMA only where the model has them):

  Haswell    AVX2, FMA, F16C, no AVX-512          -> avx2
  IvyBridge  AVX and F16C, no AVX2, FMA or AVX-512 -> scalar

On each, in parallel: (1) the kernel tests (every family at the detected level, the same bits as
the lower levels, Isa.DetectionGivesTheLevelTheRunnerExpects with DRIFTLAB_EXPECT_ISA, and
Dispatch.*: each family ran its detected level's path, not another's), and
(2) driftlab itself: sums of ill-conditioned input (f32, f64, bf16, f16), predict outputs (f32,
bf16, f16; batch 1 and 64: the GEMV and the tiled paths) and attention outputs (head dims
64 and 80), whose deterministic variants' bits must equal this machine's native run.

Exits 77 (ctest: skipped, with the reason) where qemu-x86_64 is missing or the host is not
x86-64; scripts/setup.sh installs QEMU (Debian: qemu-user).

usage: check_isa_emulated.py DRIFTLAB_TESTS DRIFTLAB WORK_DIR
"""
import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import sys
import time

if len(sys.argv) != 4:
    print("usage: check_isa_emulated.py DRIFTLAB_TESTS DRIFTLAB WORK_DIR", file=sys.stderr)
    sys.exit(2)
tests_exe, driftlab, work = sys.argv[1:4]
for exe in (tests_exe, driftlab):
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        print(f"check_isa_emulated.py: '{exe}' is not an executable file", file=sys.stderr)
        sys.exit(2)

qemu = shutil.which("qemu-x86_64")
if platform.machine() not in ("x86_64", "AMD64"):
    print(f"SKIPPED: emulated x86-64 CPUs are checked on x86-64 hosts (this one: {platform.machine()})")
    sys.exit(77)
if not qemu:
    print("SKIPPED: qemu-x86_64 is not installed (Debian: qemu-user; scripts/setup.sh installs it)")
    sys.exit(77)

# -feature: those TCG does not emulate (QEMU warns once per thread otherwise); none is an ISA level's.
MODELS = [
    ("Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm", "avx2"),
    ("IvyBridge,-x2apic,-tsc-deadline", "scalar"),
]

# Every CPU kernel family's tests at the detected level, less the slow ones whose paths others here
# cover or that test schedules and accuracy rather than the ISA paths (the semantics are tested
# natively at every forced level): about 60-70 s a model on 2 cores, both at once (session 25; the
# whole filter took 87 and 102 s).
FILTER = ":".join([
    "Isa.*", "Dispatch.*", "SumCpu.*", "HalfSumCpu.*", "ExactSum.*", "SumOrder.*", "HalfH.*", "Levels/*", "BitCompare.*",
    "Gemm.*", "Dense.*", "DenseHalf/*", "GemvHalf.*", "Attention.*", "KnownAnswers.*",
]) + "-" + ":".join([
    "Attention.SplitCountChangesBitsWithTheBatch", "Attention.FixedSplitAndSingleAreBitwiseBatchInvariant",
    "Attention.EveryVariantIsWithinTheStatedBoundOfFloat64", "Attention.ExpOfTheOrderIsWithinFourUlpsOfFloat64",
    "Gemm.LargeShapeMatchesTheChainBitwise", "Gemm.PackedBMatchesTheChainBitwise",
    "HalfH.NarrowEqualsTheNearestEvenReferenceOnADenseSetOfFloats",
    "Dense.SmallAtomicLayersRunOnTheCallingThreadInSliceOrder", "Dense.SeededSchedulesMoveAtomicButNotTree",
    "Dense.TreeChangesBitsAcrossBatchSizesBecauseSDoes",
    "SumCpu.ExactOverManyTilesMatchesAnIntegerOracle", "SumCpu.TreeTileGivesTheSameBitsAtEveryAlignment",
    "SumCpu.ShuffleSchedulesMoveAtomicsNotTreeOrExactF32", "SumCpu.ShuffleSchedulesMoveAtomicsNotTreeOrExactF64",
    "ExactSum.PairsMatchHardwareAddition",
])

SUM_DETERMINISTIC = ("serial", "tree", "exact")
PREDICT_DETERMINISTIC = ("tree", "invariant")
SUMS = [(dtype, n) for dtype in ("f32", "f64", "bf16", "f16") for n in (200003,)]
PREDICTS = [(dtype, batch) for dtype in ("f32", "bf16", "f16") for batch in (1, 64)]
ATTENTION_DETERMINISTIC = ("split_count", "fixed_split", "single")
ATTENTIONS = [64, 80]  # head dims: whole vectors at every level, and a tail past 16 lanes


def run(cmd, env, timeout):
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t


def driftlab_runs(prefix, out, env):
    """driftlab's sums and predicts under prefix (a QEMU command or nothing): {what: bits}."""
    os.makedirs(out, exist_ok=True)
    bits = {}
    for dtype, n in SUMS:
        js = os.path.join(out, f"sum_{dtype}.json")
        p, _ = run(prefix + [driftlab, "sum", "--backend", "cpu", "--dtype", dtype, "--dist", "illcond", "--n", str(n),
                             "--runs", "2", "--variant", "all", "--json", js], env, 600)
        if p.returncode != 0:
            raise RuntimeError(f"driftlab sum --dtype {dtype} exited {p.returncode}: {p.stderr.strip()[-400:]}")
        for row in json.load(open(js))["rows"]:
            if row["variant"] in SUM_DETERMINISTIC:
                bits[f"sum {dtype} illcond n={n} {row['variant']}"] = row["result_bits"]
    for dtype, batch in PREDICTS:
        stem = os.path.join(out, f"predict_{dtype}_{batch}.npy")
        p, _ = run(prefix + [driftlab, "predict", "--backend", "cpu", "--dtype", dtype, "--layers", "300,256,130,10",
                             "--init-seed", "5", "--batch", str(batch), "--runs", "2", "--variant", "all",
                             "--save-output", stem], env, 600)
        if p.returncode != 0:
            raise RuntimeError(f"driftlab predict --dtype {dtype} --batch {batch} exited {p.returncode}: "
                               f"{p.stderr.strip()[-400:]}")
        for v in PREDICT_DETERMINISTIC:
            with open(stem[:-4] + f".{v}.npy", "rb") as f:
                bits[f"predict {dtype} batch {batch} {v}"] = f.read().hex()
    for d in ATTENTIONS:
        stem = os.path.join(out, f"attention_{d}.npy")
        p, _ = run(prefix + [driftlab, "attention", "--backend", "cpu", "--batch", "3", "--heads", "2", "--head-dim",
                             str(d), "--kv-lens", "300,17,1100", "--runs", "2", "--batch-sweep", "off", "--variant",
                             "all", "--save-output", stem], env, 600)
        if p.returncode != 0:
            raise RuntimeError(f"driftlab attention --head-dim {d} exited {p.returncode}: {p.stderr.strip()[-400:]}")
        for v in ATTENTION_DETERMINISTIC:
            with open(stem[:-4] + f".{v}.npy", "rb") as f:
                bits[f"attention head dim {d} {v}"] = f.read().hex()
    return bits


def emulated(model, level, native):
    cpu = [qemu, "-cpu", model]
    env = dict(os.environ, DRIFTLAB_EXPECT_ISA=level)
    env.pop("DRIFTLAB_ISA", None)
    lines = []
    p, secs = run(cpu + [tests_exe, f"--gtest_filter={FILTER}"], env, 1200)
    out = p.stdout.splitlines()
    summary = [l for l in out if l.startswith("[  PASSED  ]") or l.startswith("[  FAILED  ]")]
    if p.returncode != 0:
        runs = [l for l in out if l.startswith("[ RUN      ]")]
        failed = [l for l in out if l.startswith("[  FAILED  ]") and "(" in l]
        why = (f"signal {-p.returncode}" + (" (SIGILL: an instruction this CPU lacks)" if p.returncode == -4 else "")
               + (f" in {runs[-1][13:]}" if runs else "")) if p.returncode < 0 else "; ".join(failed[:8])
        tail = "\n".join(out[-30:]) + "\n" + p.stderr.strip()[-1500:]
        return False, [f"{model.split(',')[0]} ({level}): the kernel tests FAILED (exit {p.returncode}, {secs:.0f} s): "
                       f"{why}", tail]
    lines.append(f"{model.split(',')[0]} ({level}): kernel tests pass ({'; '.join(summary)}; {secs:.0f} s)")
    t = time.monotonic()
    try:
        got = driftlab_runs(cpu, os.path.join(work, model.split(",")[0]), env)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        return False, lines + [f"{model.split(',')[0]} ({level}): {e}"]
    differ = [k for k in native if got.get(k) != native[k]]
    if differ:
        return False, lines + [f"{model.split(',')[0]} ({level}): bits differ from the native run in {len(differ)} of "
                               f"{len(native)}: " + "; ".join(differ[:6])]
    lines.append(f"{model.split(',')[0]} ({level}): driftlab's {len(native)} deterministic results (sums: "
                 f"{', '.join(SUM_DETERMINISTIC)}; predict: {', '.join(PREDICT_DETERMINISTIC)}; attention: "
                 f"{', '.join(ATTENTION_DETERMINISTIC)}) bitwise equal to the native run ({time.monotonic() - t:.0f} s)")
    return True, lines


def main():
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ)
    env.pop("DRIFTLAB_ISA", None)
    native = driftlab_runs([], os.path.join(work, "native"), env)
    print(f"native: {len(native)} deterministic results")
    ok = True
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(MODELS)) as pool:
        for passed, lines in pool.map(lambda m: emulated(*m, native), MODELS):
            ok &= passed
            print("\n".join(lines))
    print("EndToEnd.IsaEmulatedCpus: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
        print(f"check_isa_emulated.py: {e}", file=sys.stderr)
        sys.exit(1)
