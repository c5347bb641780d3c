#!/usr/bin/env python3
"""Mutation check of the written orders: do the known-answer tests notice a one-line change?

For each mutant below: replace one line of an order header (kernels/common/*_order.h, half.h,
exact.h, dropout.h, philox.h) or of a CPU kernel, rebuild only the known-answer test binary in a
build directory of its own (build-mutation: CPU only, incremental, ccache), run the known-answer
tests, restore the file, and record whether the mutant was killed (a test failed) or survived.
The sources are restored on every exit (finally, SIGINT, SIGTERM, SIGHUP); a backup left by a run
that was killed outright (SIGKILL) is put back at the next start.

  scripts/mutation_check.py                 # every mutant; prints a Markdown table
  scripts/mutation_check.py --only H1,H7    # some of them
  scripts/mutation_check.py --list          # the mutants, nothing built
Exit status: 0 when every mutant was killed, 1 when one survived or the unmutated tests fail,
2 for a bad command line.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build-mutation"
BACKUP = BUILD / "mutation-backup"
TARGET = "driftlab_kat_tests"

# (id, file, the line's text as it is, what it becomes, what the change means)
MUTANTS = [
    ("H1", "kernels/common/sum_order.h",
     "inline constexpr std::size_t kLanes = 1024;", "inline constexpr std::size_t kLanes = 512;",
     "sum tree: 512 lanes instead of 1024"),
    ("H2", "kernels/common/sum_order.h",
     "template <class T> DL_HD T identity() { return T(-0.0); }",
     "template <class T> DL_HD T identity() { return T(0.0); }",
     "sum tree: lanes start at +0.0 instead of -0.0"),
    ("H3", "kernels/common/sum_order.h",
     "  return add(l0, l1);", "  return add(add(a[0], a[1]), add(a[2], a[3]));",
     "sum tree: the in-thread halvings pair lanes (0,1),(2,3) instead of (0,2),(1,3) (GPU-only function)"),
    ("H4", "kernels/common/sum_order.h",
     "  for (std::size_t j = 0; j < rest; ++j) lanes[j] = add(lanes[j], row[j]);",
     "  for (std::size_t j = 0; j < rest; ++j) lanes[kLanes - rest + j] = add(lanes[kLanes - rest + j], row[j]);",
     "sum tree: a short last row goes to the last lanes"),
    ("H5", "kernels/common/dense_order.h",
     "  for (std::size_t stride = 1; stride < S; stride *= 2)",
     "  for (std::size_t s = 1; s < S; ++s) v[0] = add(v[0], v[s]); for (std::size_t stride = S; stride < S; stride *= 2)",
     "dense tree: partials combined left to right instead of by the pairwise tree (GPU-only function)"),
    ("H6", "kernels/common/dense_order.h",
     "DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return (K + S - 1) / S; }",
     "DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return K / S + 1; }",
     "dense split-K: slice length K/S + 1 instead of ceil(K/S)"),
    ("H7", "kernels/common/attention_order.h",
     "DL_HD float finish(float acc, float l) { return l == 0.0f ? 0.0f : div(acc, l); }",
     "DL_HD float finish(float acc, float l) { return l == 0.0f ? 0.0f : mul(acc, div(1.0f, l)); }",
     "attention finish: acc * (1/l) instead of acc / l (issue 25's survivor)"),
    ("H8", "kernels/common/attention_order.h",
     "DL_HD float merge_value(float a, float b, const MergeFactors& f) { return add(mul(a, f.ca), mul(b, f.cb)); }",
     "DL_HD float merge_value(float a, float b, const MergeFactors& f) { return fma(a, f.ca, mul(b, f.cb)); }",
     "attention merge: the first product fused into the add"),
    ("H9", "kernels/common/attention_order.h",
     "  r = fma(k, 2.12194440e-4f, r);", "  // r = fma(k, 2.12194440e-4f, r);",
     "attention exp: Cody-Waite's second constant dropped"),
    ("H10", "kernels/common/attention_order.h",
     "  for (std::size_t i = 0; i < d; ++i) dot = fma(q[i], k[i], dot);",
     "  for (std::size_t i = 0; i < d; ++i) dot = add(mul(q[i], k[i]), dot);",
     "attention score: mul + add instead of the fma chain (GPU-only function)"),
    ("H11", "kernels/common/attention_order.h",
     "inline constexpr std::size_t kTile = 32;         // tokens per tile (one per lane of a warp)",
     "inline constexpr std::size_t kTile = 16;         // tokens per tile (one per lane of a warp)",
     "attention online softmax: the running max is updated every 16 tokens instead of 32"),
    ("H12", "kernels/common/exact.h",
     "    if (round && (sticky || (keep & 1u))) ++keep;", "    if (round) ++keep;",
     "exact sum: ties away from zero instead of to even"),
    ("H13", "kernels/common/exact.h",
     "    return from_bits<T>(all_neg_zero ? sign_bit : U(0));", "    return from_bits<T>(U(0));",
     "exact sum: an exact zero is always +0.0"),
    ("H14", "kernels/common/half.h",
     "  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);",
     "  return static_cast<std::uint16_t>((u + 0x8000u) >> 16);",
     "bf16 narrowing: ties away from zero instead of to even"),
    ("H15", "kernels/common/half.h",
     "    const std::uint32_t r = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;",
     "    const std::uint32_t r = (a - 0x38000000u + 0x1000u) >> 13;",
     "f16 narrowing: ties away from zero instead of to even"),
    ("H16", "kernels/common/dropout.h",
     "      (static_cast<std::uint32_t>(call >> 32) & 0xffffu) | (layer << 16),",
     "      (static_cast<std::uint32_t>(call >> 32) & 0xffffu) | (layer << 15),",
     "dropout: the layer packed at bit 15 of the counter instead of 16"),
    ("H17", "kernels/common/philox.h",
     "    k1 += kW1;", "    k1 += kW0;",
     "Philox: the second key word bumped by the first Weyl constant"),
    ("K1", "kernels/cpu/gemm.cpp",
     "      for (std::size_t s = 0; s < steps; ++s) c = std::fma(A[r * lda + k0 + s], B[(k0 + s) * ldb + j], c);",
     "      for (std::size_t s = 0; s < steps; ++s) c = A[r * lda + k0 + s] * B[(k0 + s) * ldb + j] + c;",
     "cpu dense chain (scalar GEMV): mul + add instead of fma"),
    ("K2", "kernels/cpu/sum_tile.cpp",
     "  for (std::size_t r = 0; r < full_rows; ++r) {",
     "  for (std::size_t r = full_rows; r-- > 0;) {",
     "cpu sum tree, the scalar tile (every leaf type): a tile's rows added last to first"),
    ("K3", "kernels/cpu/attention.cpp",
     "      for (std::size_t i = 0; i < d; ++i) acc[i] = std::fma(p, v[i], acc[i]);",
     "      for (std::size_t i = 0; i < d; ++i) acc[i] = p * v[i] + acc[i];",
     "cpu attention (all ISA levels): mul + add instead of fma into acc"),
]


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def restore_leftovers():
    """Puts back the files of a run that ended without restoring them (SIGKILL, power loss)."""
    if not BACKUP.is_dir():
        return
    for saved in BACKUP.rglob("*"):
        if saved.is_file():
            dst = ROOT / saved.relative_to(BACKUP)
            shutil.copyfile(saved, dst)
            print("mutation_check: restored %s from an interrupted run" % dst.relative_to(ROOT), file=sys.stderr)
            saved.unlink()


def run(cmd, log):
    """Runs cmd in a process group of its own; on an interruption the whole group (make and its
    compilers too) is ended before the sources are restored."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait()
            raise


def configure():
    if (BUILD / "CMakeCache.txt").exists():
        return 0
    cmd = ["cmake", "-S", ".", "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release", "-DDRIFTLAB_CUDA=OFF",
           "-DDRIFTLAB_BUILD_BENCH=OFF"]
    if shutil.which("ccache"):
        cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    return run(cmd, BUILD / "configure.log")


def build(jobs):
    return run(["cmake", "--build", str(BUILD), "-j", str(jobs), "--target", TARGET], BUILD / "build.log")


def test(gtest_filter):
    """(passed, names of the failing tests)."""
    log = BUILD / "test.log"
    rc = run([str(BUILD / TARGET), "--gtest_filter=" + gtest_filter, "--gtest_brief=1"], log)
    failed = sorted(set(re.findall(r"\[  FAILED  \] (\S+?)[, ]", log.read_text(errors="replace") + " ")))
    return rc == 0, [f for f in failed if "." in f]


def apply(path, old, new):
    text = path.read_text()
    lines = text.split("\n")
    hits = [i for i, l in enumerate(lines) if l == old]
    if len(hits) != 1:
        raise SystemExit("mutation_check: %s: the line to mutate occurs %d times (the source changed?):\n  %s"
                         % (path.relative_to(ROOT), len(hits), old))
    lines[hits[0]] = new
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--filter", default="KnownAnswers.*", help="gtest filter (default: KnownAnswers.*)")
    args = ap.parse_args()
    chosen = MUTANTS
    if args.only:
        ids = args.only.split(",")
        unknown = [i for i in ids if i not in {m[0] for m in MUTANTS}]
        if unknown:
            print("mutation_check: unknown mutant %s" % ",".join(unknown), file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m[0] in ids]
    if args.list:
        for mid, f, _, _, what in chosen:
            print("%-4s %-34s %s" % (mid, f, what))
        return 0

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    BUILD.mkdir(exist_ok=True)
    restore_leftovers()
    if configure() != 0:
        print("mutation_check: cmake configure failed (see %s)" % BUILD, file=sys.stderr)
        return 1
    t0 = time.time()
    if build(args.jobs) != 0:
        print("mutation_check: the unmutated build fails (see %s)" % (BUILD / "build.log"), file=sys.stderr)
        return 1
    ok, failed = test(args.filter)
    if not ok:
        print("mutation_check: the unmutated tests fail (%s); nothing to measure" % " ".join(failed), file=sys.stderr)
        return 1
    print("mutation_check: baseline built and passing (%.0f s)" % (time.time() - t0), file=sys.stderr)

    rows = []
    for mid, rel, old, new, what in chosen:
        path = ROOT / rel
        backup = BACKUP / rel
        t = time.time()
        mutated = apply(path, old, new)
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, backup)
        try:
            path.write_text(mutated)
            if build(args.jobs) != 0:
                verdict, by = "killed (does not compile)", []
            else:
                ok, failed = test(args.filter)
                verdict, by = ("SURVIVED", []) if ok else ("killed", failed)
        finally:
            shutil.copyfile(backup, path)  # a new mtime: the next build recompiles what it touched
            backup.unlink()
        rows.append((mid, rel, what, verdict, by))
        print("mutation_check: %-4s %-9s %s (%.0f s)" % (mid, verdict.split()[0], ", ".join(by), time.time() - t),
              file=sys.stderr)

    print("| id | file | mutant | result | failing tests |")
    print("|---|---|---|---|---|")
    for mid, rel, what, verdict, by in rows:
        print("| %s | `%s` | %s | %s | %s |" % (mid, rel, what, verdict, ", ".join("`%s`" % b for b in by)))
    survivors = [r[0] for r in rows if r[3] == "SURVIVED"]
    print("\n%d mutants, %d killed, %d survived%s" % (len(rows), len(rows) - len(survivors), len(survivors),
                                                    (": " + ", ".join(survivors)) if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as e:
        print("mutation_check: interrupted (%s); sources restored" % e, file=sys.stderr)
        sys.exit(1)
