#!/usr/bin/env python3
"""One include style (every project include is the path from the repository root), and the
host folders form layers: a file may include headers of its own folder and of folders
below it, never above (no upward arrow, hence no circle).  The order, top first, is the one
host/CMakeLists.txt and docs/layout.md describe.  A folder not listed fails the test, so a new
folder takes its place in the order on purpose.  Also: cli/ holds main and the dispatch only.

usage: check_layers.py REPO_ROOT      (exit 0: layered; 1: an arrow upward, named)"""
import os
import re
import sys

ORDER = ["cli", "report", "scenarios", "commands", "distributed", "backends", "model", "metrics", "io", "common"]
CLI_FILES = {"main.cpp", "cli.cpp", "cli.h", "openblas_guard.cpp"}


def check(root):
    host = os.path.join(root, "host")
    folders = sorted(d for d in os.listdir(host) if os.path.isdir(os.path.join(host, d)))
    errors = [f"host/{d}/ has no place in the layer order of tests/check_layers.py" for d in folders if d not in ORDER]
    where = {}
    for d in folders:
        for f in os.listdir(os.path.join(host, d)):
            if f in where:
                errors.append(f"{f} is in host/{where[f]}/ and host/{d}/ (bare includes would be ambiguous)")
            where[f] = d
    for f, d in sorted(where.items()):
        with open(os.path.join(host, d, f), encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                b = os.path.basename(m.group(1))
                to = where.get(b)
                if to and to != d and d in ORDER and to in ORDER and ORDER.index(to) < ORDER.index(d):
                    errors.append(f"host/{d}/{f}:{n} includes host/{to}/{b}: an arrow upward ({d} is below {to})")
    # One include style: a project include is the path from the repository root.
    tops = ("host/", "kernels/", "bench/", "tests/", "python/")
    for top in ("host", "kernels", "bench", "tests", "python"):
        for dp, _, fn in os.walk(os.path.join(root, top)):
            for f in fn:
                if not f.endswith((".h", ".cpp", ".cu", ".cuh")):
                    continue
                path = os.path.join(dp, f)
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                        if m and not m.group(1).startswith(tops):
                            errors.append(f"{os.path.relpath(path, root)}:{n}: #include \"{m.group(1)}\" is not the path from the repository root")
    extra = sorted(set(os.listdir(os.path.join(host, "cli"))) - CLI_FILES)
    errors += [f"host/cli/{f}: cli/ holds main and the dispatch only" for f in extra]
    return errors


def self_test():
    # The checker must be able to fail: an upward include in a scratch tree is named.
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        for d in ORDER:
            os.makedirs(os.path.join(t, "host", d))
        open(os.path.join(t, "host", "cli", "cli.cpp"), "w").write('#include "host/io/a.h"\n')
        open(os.path.join(t, "host", "io", "a.h"), "w").write('#include "host/commands/b.h"\n')
        open(os.path.join(t, "host", "commands", "b.h"), "w").write("\n")
        errs = check(t)
        assert len(errs) == 1 and "host/io/a.h:1 includes host/commands/b.h" in errs[0], errs
        open(os.path.join(t, "host", "commands", "b.h"), "w").write('#include "a.h"\n')
        errs = check(t)
        assert any("is not the path from the repository root" in e for e in errs), errs


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    self_test()
    errs = check(sys.argv[1])
    for e in errs:
        print(e)
    if errs:
        sys.exit(1)
    print(f"host/: {len(ORDER)} layers, no include upward")
