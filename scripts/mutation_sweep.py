#!/usr/bin/env python3
"""Operator sweep: which one-operator changes to a source file do the tests not notice?

scripts/mutation_check.py runs a written catalog of mutants.  This script makes them: for every
code line of the files named, every operator it knows (arithmetic and comparison operators, shifts,
logic, compound assignments, min/max, vector add/sub/min/max/and/or intrinsics, true/false and
small integer literals) is changed once, the test binary is rebuilt and the gtest filter run.  A
mutant whose object file comes out byte-identical to the unmutated one is "same object" (the
compiler proved it equivalent) and is not tested.

It works on a copy: a git worktree of HEAD under build-sweep/src (uncommitted changes are not in
it), built in build-sweep/build (CPU only, ccache when there is one; build-sweep/build-asan with
--sanitize), so the working tree is never touched and the copy is reused by the next sweep.

  scripts/mutation_sweep.py kernels/cpu/sum_tile.cpp --filter 'SumCpu.*:HalfSumCpu.*'
  scripts/mutation_sweep.py kernels/cpu/half_convert.cpp --filter 'Levels*' --list
  scripts/mutation_sweep.py FILE --filter F --lines 40-120 --ops cmp,arith
  scripts/mutation_sweep.py FILE --filter F --only S6,S10   # rerun an earlier sweep's survivors

Prints a Markdown table of the survivors and the counts.  Exit status: 0 when no mutant survived,
1 when one did or the unmutated tests fail, 2 for a bad command line.  A survivor is a question,
not a verdict: it is a missing test or an equivalent mutant (one that changes speed, not bits), and
only reading it tells which.
"""
import argparse
import hashlib
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_check import Interrupted, run, start_run  # noqa: E402  (one runner and one lock for both)

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build-sweep"
SRC = WORK / "src"
BUILD = WORK / "build"

# (kind, pattern, replacement).  Patterns match in the code part of a line (comments and string
# literals blanked); each match is one mutant.  Binary operators need spaces around them, as the
# project's style writes them, which keeps templates, pointers and unary minus out.
OPS = [
    ("arith", r"(?<=\s)\+(?=\s)", "-"),
    ("arith", r"(?<=\s)-(?=\s)", "+"),
    ("arith", r"(?<=\s)\*(?=\s)", "/"),
    ("arith", r"(?<=\s)/(?=\s)", "*"),
    ("arith", r"\+=", "-="),
    ("arith", r"-=", "+="),
    ("arith", r"(?<=\s)%(?=\s)", "*"),
    ("cmp", r"(?<=\s)<(?=\s)", "<="),
    ("cmp", r"(?<=\s)<=(?=\s)", "<"),
    ("cmp", r"(?<=\s)>(?=\s)", ">="),
    ("cmp", r"(?<=\s)>=(?=\s)", ">"),
    ("cmp", r"(?<=\s)==(?=\s)", "!="),
    ("cmp", r"(?<=\s)!=(?=\s)", "=="),
    ("logic", r"(?<=\s)&&(?=\s)", "||"),
    ("logic", r"(?<=\s)\|\|(?=\s)", "&&"),
    ("bits", r"(?<=\s)<<(?=\s)", ">>"),
    ("bits", r"(?<=\s)>>(?=\s)", "<<"),
    ("bits", r"(?<=\s)&(?=\s)", "|"),
    ("bits", r"(?<=\s)\|(?=\s)", "&"),
    ("bits", r"(?<=\s)\^(?=\s)", "|"),
    ("minmax", r"\bstd::min\b", "std::max"),
    ("minmax", r"\bstd::max\b", "std::min"),
    ("vec", r"(?<=_mm)(\d*_)add_", r"\1sub_"),
    ("vec", r"(?<=_mm)(\d*_)sub_", r"\1add_"),
    ("vec", r"(?<=_mm)(\d*_)min_", r"\1max_"),
    ("vec", r"(?<=_mm)(\d*_)max_", r"\1min_"),
    ("vec", r"(?<=_mm)(\d*_)and_", r"\1or_"),
    ("vec", r"(?<=_mm)(\d*_)or_", r"\1and_"),
    ("bool", r"\btrue\b", "false"),
    ("bool", r"\bfalse\b", "true"),
    ("const", r"(?<![\w.])([1-9]\d{0,3})(?![\w.'])", None),  # n -> n + 1 (1-9999; not 0, not floats)
]
KINDS = sorted({k for k, _, _ in OPS})


def code_part(line):
    """The line with string/char literals and comments blanked (same length, so offsets hold)."""
    out, i, n = list(line), 0, len(line)
    while i < n:
        c = line[i]
        if line.startswith("//", i):
            for j in range(i, n):
                out[j] = " "
            break
        if c in "\"'":
            j = i + 1
            while j < n and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
            continue
        i += 1
    return "".join(out)


def mutants_of(rel, text, kinds, lo, hi):
    """[(id, rel, line number, old line, new line, kind)] for one file."""
    found, in_block = [], False
    for no, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        # Block comments: this project writes them only as whole lines.
        if in_block:
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped
            continue
        if not stripped or stripped.startswith("#") or stripped.startswith("static_assert"):
            continue
        if not lo <= no <= hi:
            continue
        code = code_part(line)
        for kind, pat, rep in OPS:
            if kind not in kinds:
                continue
            for m in re.finditer(pat, code):
                if rep is None:
                    new = str(int(m.group(1)) + 1)
                else:
                    new = m.expand(rep)
                mutated = line[:m.start()] + new + line[m.end():]
                found.append((rel, no, line, mutated, kind))
    return [("S%d" % (i + 1),) + f for i, f in enumerate(found)]


def prepare(jobs, target, sanitize):
    """The worktree at HEAD and its build; 0 on success."""
    WORK.mkdir(exist_ok=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    if not (SRC / ".git").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        if run(["git", "worktree", "add", "--detach", str(SRC), head], WORK / "worktree.log", ROOT) != 0:
            return 1
    else:
        # Put back anything a killed sweep left mutated, then move to HEAD.
        if run(["git", "checkout", "-f", "--detach", head], WORK / "worktree.log", SRC) != 0:
            return 1
    if not (BUILD / "CMakeCache.txt").exists():
        cmd = ["cmake", "-S", str(SRC), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release", "-DDRIFTLAB_CUDA=OFF",
               "-DDRIFTLAB_BUILD_BENCH=OFF", "-DDRIFTLAB_SANITIZE=" + (sanitize or "")]
        if shutil.which("ccache"):
            cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        if run(cmd, WORK / "configure.log", SRC) != 0:
            return 1
    return build(jobs, target)


def build(jobs, target):
    return run(["cmake", "--build", str(BUILD), "-j", str(jobs), "--target", target], WORK / "build.log", SRC)


def objects_of(rel):
    name = Path(rel).name + ".o"
    return sorted(p for p in BUILD.rglob(name) if p.is_file())


def digest(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def test(target, gtest_filter, timeout):
    log = WORK / "test.log"
    cmd = ["timeout", "-s", "KILL", str(timeout), str(BUILD / target), "--gtest_filter=" + gtest_filter,
           "--gtest_brief=1"]
    rc = run(cmd, log, SRC)
    failed = sorted(set(re.findall(r"\[  FAILED  \] (\S+?)[, ]", log.read_text(errors="replace") + " ")))
    if rc == 0:
        return True, []
    return False, [f for f in failed if "." in f] or (["(timed out)"] if rc in (137, -9) else ["(exit %d)" % rc])


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        print("mutation_sweep: %s (see --help)" % message, file=sys.stderr)
        sys.exit(2)


def positive(text, top):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: %r" % text)
    if not 1 <= n <= top:
        raise argparse.ArgumentTypeError("%d is not in 1-%d" % (n, top))
    return n


def line_range(text):
    m = re.fullmatch(r"(\d+)-(\d+)", text)
    if not m or int(m.group(1)) > int(m.group(2)) or int(m.group(1)) < 1:
        raise argparse.ArgumentTypeError("not a line range A-B with 1 <= A <= B: %r" % text)
    return int(m.group(1)), int(m.group(2))


def main():
    ap = OneLineParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("files", nargs="+", help="source files, relative to the repository root")
    ap.add_argument("--filter", help="gtest filter of the tests that judge (required unless --list)")
    ap.add_argument("--target", default="driftlab_tests", help="test binary (default driftlab_tests)")
    ap.add_argument("--ops", default=",".join(KINDS), help="operator kinds: " + ",".join(KINDS) + " (default all)")
    ap.add_argument("--lines", type=line_range, help="only lines A-B (one file only)")
    ap.add_argument("--only", help="comma-separated ids of an earlier sweep with the same files, --ops and --lines "
                                   "(a survivor list, rerun after a new test)")
    ap.add_argument("--sanitize", choices=["address,undefined"],
                    help="judge with a sanitized build (build-sweep/build-asan): a survivor that writes or "
                         "reads out of bounds is killed there")
    ap.add_argument("--list", action="store_true", help="print the mutants; nothing built")
    ap.add_argument("--jobs", type=lambda t: positive(t, 256), default=2, help="build jobs (default 2)")
    ap.add_argument("--timeout", type=lambda t: positive(t, 3600),
                    help="seconds a mutant's tests may run before they count as failing (default: 10 + 4x the "
                         "unmutated run)")
    args = ap.parse_args()
    kinds = set(args.ops.split(","))
    if not kinds <= set(KINDS):
        ap.error("unknown operator kind %s" % ", ".join(sorted(kinds - set(KINDS))))
    if args.lines and len(args.files) > 1:
        ap.error("--lines needs exactly one file")
    if not args.list and not args.filter:
        ap.error("--filter is required")
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.target):
        ap.error("bad --target %r" % args.target)
    lo, hi = args.lines or (1, 1 << 30)
    mutants = []
    for rel in dict.fromkeys(args.files):  # a file named twice is swept once
        path = (ROOT / rel).resolve()
        if not path.is_file() or ROOT not in path.parents:
            ap.error("not a file in the repository: %s" % rel)
        if path.suffix not in (".cpp", ".h", ".cc", ".hpp"):
            ap.error("not a C++ source: %s" % rel)
        rel = str(path.relative_to(ROOT))
        found = mutants_of(rel, path.read_text(), kinds, lo, hi)
        mutants += found
    mutants = [("S%d" % (i + 1),) + m[1:] for i, m in enumerate(mutants)]
    if args.only is not None:
        ids = args.only.split(",")
        unknown = [i for i in ids if i not in {m[0] for m in mutants}]
        if unknown:
            ap.error("unknown mutant %s" % ", ".join(repr(i) for i in unknown))
        mutants = [m for m in mutants if m[0] in ids]
    if args.list:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the listing quietly
        for mid, rel, no, _old, new, kind in mutants:
            print("%-5s %s:%d [%s] %s" % (mid, rel, no, kind, new.strip()))
        print("mutation_sweep: %d mutants" % len(mutants), file=sys.stderr)
        return 0

    global BUILD
    if args.sanitize:
        BUILD = WORK / "build-asan"
    lock = start_run(WORK / "sweep.lock", "mutation_sweep: another sweep holds %s")
    if lock is None:
        return 1
    t0 = time.time()
    try:
        if prepare(args.jobs, args.target, args.sanitize) != 0:
            print("mutation_sweep: the unmutated copy does not build (see %s)" % WORK, file=sys.stderr)
            return 1
        for rel in sorted({m[1] for m in mutants}):
            if (SRC / rel).read_text() != (ROOT / rel).read_text():
                print("mutation_sweep: note: %s has uncommitted changes; the sweep mutates HEAD's version" % rel,
                      file=sys.stderr)
        t1 = time.time()
        ok, failed = test(args.target, args.filter, args.timeout or 3600)
        ran = re.findall(r"\[==========\] (\d+) tests? from", (WORK / "test.log").read_text(errors="replace"))
        if ok and (not ran or int(ran[0]) == 0):
            print("mutation_sweep: --filter %r runs no test of %s" % (args.filter, args.target), file=sys.stderr)
            return 1
        timeout = args.timeout or int(10 + 4 * (time.time() - t1))
        if not ok:
            print("mutation_sweep: the unmutated tests fail (%s)" % " ".join(failed), file=sys.stderr)
            return 1
        base = {rel: digest(objects_of(rel)) for rel in {m[1] for m in mutants}}
        for rel in base:
            if not objects_of(rel):
                print("mutation_sweep: %s is not compiled into its own object; every mutant is tested" % rel,
                      file=sys.stderr)
        print("mutation_sweep: baseline built and passing (%.0f s); %d mutants" % (time.time() - t0, len(mutants)),
              file=sys.stderr)
        counts = {"killed": 0, "no compile": 0, "same object": 0, "SURVIVED": 0}
        survivors = []
        for mid, rel, no, old, new, kind in mutants:
            t = time.time()
            path = SRC / rel
            text = path.read_text()
            lines = text.split("\n")
            assert lines[no - 1] == old
            lines[no - 1] = new
            try:
                path.write_text("\n".join(lines))
                if build(args.jobs, args.target) != 0:
                    verdict, by = "no compile", []
                elif objects_of(rel) and digest(objects_of(rel)) == base[rel]:
                    verdict, by = "same object", []
                else:
                    ok, by = test(args.target, args.filter, timeout)
                    verdict = "SURVIVED" if ok else "killed"
            finally:
                path.write_text(text)
            counts[verdict] += 1
            if verdict == "SURVIVED":
                survivors.append((mid, rel, no, kind, new.strip()))
            print("mutation_sweep: %-5s %s:%d %-11s %s (%.0f s)" % (mid, rel, no, verdict, " ".join(by[:3]),
                                                                 time.time() - t), file=sys.stderr, flush=True)
        build(args.jobs, args.target)  # leave the copy built unmutated
    except Interrupted as e:
        print("mutation_sweep: interrupted (%s); the mutated file was put back (a killed sweep's is, at the next start)" % e, file=sys.stderr)
        return 1
    print("| id | line | kind | the mutated line |")
    print("|---|---|---|---|")
    for mid, rel, no, kind, new in survivors:
        print("| %s | %s:%d | %s | `%s` |" % (mid, rel, no, kind, new.replace("|", "\\|")))
    print()
    print("%d mutants: %s (%.0f s)" % (len(mutants), ", ".join("%s %d" % kv for kv in counts.items()),
                                       time.time() - t0))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
